// baton dashboard. Plain script, no build step. Every piece of data is rendered as text
// (createTextNode / textContent), never as HTML: titles, logs and paths are attacker-controlled.
// The session token lives in this variable only: no storage, no URL. What survives a reload or
// a restarted serve is an HttpOnly cookie this script cannot read, sent only to /api/session,
// which trades it for a new session token (resume()).
"use strict";
(function () {
  let session = null;
  let ws = null;
  let wsRetry = 0;
  let rendering = false;
  let pending = false;
  let lastRev = 0;
  // Set while a confirmation is open: live updates must not redraw it away.
  let hold = false;
  const search = { agent: "", q: "" };

  const $ = (sel) => document.querySelector(sel);

  // h("td", {class: "num"}, "text", childNode, ...): strings become text nodes.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") el.className = v;
      else if (k === "text") el.textContent = String(v);
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(el.dataset, v);
      else if (k === "href") el.setAttribute("href", v);
      else el.setAttribute(k, String(v));
    }
    for (const c of children.flat()) {
      if (c === undefined || c === null || c === false) continue;
      el.appendChild(typeof c === "object" ? c : document.createTextNode(String(c)));
    }
    return el;
  }

  const dash = "\u2014";
  // A length of time in its largest unit, never "2880 minutes": "2 days", "1.5 hours", "40 seconds".
  function span(secs) {
    for (const [unit, n] of [["day", 86400], ["hour", 3600], ["minute", 60]]) {
      if (secs >= n) {
        const v = Math.round((secs / n) * 10) / 10;
        return v + " " + unit + (v === 1 ? "" : "s");
      }
    }
    const v = Math.round(secs);
    return v + " second" + (v === 1 ? "" : "s");
  }
  // An RFC 3339 time as written, and how long ago it was beside it ("… (3 minutes ago)").
  function when(iso) {
    if (iso === null || iso === undefined || iso === "") return dash;
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return String(iso);
    const secs = (Date.now() - t) / 1000;
    return iso + " (" + (secs >= 0 ? span(secs) + " ago" : "in " + span(-secs)) + ")";
  }
  const fmtMs = (v) => (v === null || v === undefined ? dash : Number(v).toFixed(1) + " ms");
  const pct = (v) => (v === null || v === undefined ? dash : (100 * Number(v)).toFixed(1) + "%");
  const num = (v) => (v === null || v === undefined ? dash : String(v));

  function table(headers, rows, empty) {
    if (!rows.length) return h("p", { class: "muted" }, empty || "none");
    return h("table", {},
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { class: x.num ? "num" : null }, x.label || x)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) => h("td", { class: headers[i] && headers[i].num ? "num" : null }, c))))));
  }

  function bar(ratio) {
    const inner = h("span");
    inner.style.width = Math.max(0, Math.min(100, 100 * (Number(ratio) || 0))) + "%";
    return h("span", { class: "bar" }, inner);
  }

  function card(label, value, cls) {
    return h("div", { class: "card" }, h("div", { class: "v " + (cls || "") }, value), h("div", { class: "l" }, label));
  }

  function toast(text) {
    const old = $("#toast");
    if (old) old.remove();
    const t = h("div", { id: "toast", role: "status" }, text);
    document.body.appendChild(t);
    setTimeout(() => t.remove(), 3000);
  }

  async function api(method, path, body) {
    const opts = { method, headers: { Authorization: "Bearer " + session }, cache: "no-store" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let r = await fetch(path, opts);
    if (r.status === 401 && (await resume())) {
      opts.headers.Authorization = "Bearer " + session;
      r = await fetch(path, opts);
    }
    if (r.status === 401) {
      signOut("The session ended; sign in again.");
      throw new Error("unauthorized");
    }
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error((data.error && data.error.message) || r.status + " " + r.statusText);
    return data;
  }

  // ---- sign-in: a one-time token in the fragment, or the key typed in; then the cookie ----
  async function trade(secret) {
    const r = await fetch("/api/session", { method: "POST", headers: { Authorization: "Bearer " + secret }, cache: "no-store" });
    if (!r.ok) return false;
    const data = await r.json();
    session = data.token;
    return true;
  }

  // The session cookie (set by an earlier sign-in) for a new session token: after a reload, or
  // when a restarted serve no longer knows the old token. One attempt at a time.
  let resuming = null;
  function resume() {
    if (!resuming) {
      resuming = fetch("/api/session", { method: "POST", credentials: "same-origin", cache: "no-store" })
        .then(async (r) => {
          if (!r.ok) return false;
          session = (await r.json()).token;
          return true;
        })
        .catch(() => false)
        .finally(() => { resuming = null; });
    }
    return resuming;
  }

  function signOut(message) {
    session = null;
    $("#sign-out").hidden = true;
    if (ws) ws.close();
    $("#login").hidden = false;
    $("#page").replaceChildren();
    $("#login-error").textContent = message || "";
  }

  async function start() {
    // `#token=bt_…` opens the overview; `#token=bt_…&next=/tasks?state=failed` a deep link.
    const m = /^#token=([A-Za-z0-9_]+)(?:&next=([^#]*))?$/.exec(location.hash);
    if (m) {
      const next = m[2] ? decodeURIComponent(m[2]).replace(/^#?\/?/, "") : "overview";
      history.replaceState(null, "", location.pathname + "#/" + next);
      if (await trade(m[1])) return signedIn();
      if (await resume()) return signedIn();
      signOut("That link was already used or has expired; run `baton dashboard` again, or paste the key.");
      return;
    }
    if (await resume()) return signedIn();
    signOut("");
  }

  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const key = $("#key").value.trim();
    $("#key").value = "";
    if (key && (await trade(key))) return signedIn();
    $("#login-error").textContent = "That key was refused.";
  });

  // Signing out ends the session token and clears the cookie (a reload then asks again).
  $("#sign-out").addEventListener("click", async () => {
    const token = session;
    session = null;
    await fetch("/api/session", { method: "DELETE", headers: token ? { Authorization: "Bearer " + token } : {}, cache: "no-store" }).catch(() => {});
    signOut("Signed out.");
  });

  function signedIn() {
    $("#login").hidden = true;
    $("#sign-out").hidden = false;
    connect();
    route();
  }

  // ---- live feed ----
  function setConn(up) {
    const c = $("#conn");
    c.textContent = up ? "live" : "disconnected \u2014 reconnecting";
    c.className = "conn " + (up ? "up" : "down");
    c.dataset.state = up ? "live" : "disconnected";
  }

  function connect() {
    if (!session) return;
    const proto = location.protocol === "https:" ? "wss://" : "ws://";
    const sock = new WebSocket(proto + location.host + "/api/live");
    ws = sock;
    sock.onopen = () => sock.send(JSON.stringify({ token: session }));
    sock.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { return; }
      if (msg.type === "hello" || msg.type === "change") {
        wsRetry = 0;
        setConn(true);
        document.body.dataset.seq = String(msg.seq);
        if (msg.type === "change" || msg.rev !== lastRev) refresh();
        lastRev = msg.rev;
      }
    };
    sock.onclose = (ev) => {
      if (ws === sock) ws = null;
      setConn(false);
      if (ev.code === 4401) {
        resume().then((ok) => (ok ? connect() : signOut("The session ended; sign in again.")));
        return;
      }
      if (!session) return;
      wsRetry = Math.min(wsRetry + 1, 5);
      setTimeout(connect, 500 * wsRetry);
    };
    sock.onerror = () => {};
  }

  // ---- pages ----
  // `#/page/param?query`: the page, its parameter (a handoff id) and its filters.
  function current() {
    const hash = location.hash.replace(/^#\/?/, "");
    const qAt = hash.indexOf("?");
    const path = qAt < 0 ? hash : hash.slice(0, qAt);
    const query = new URLSearchParams(qAt < 0 ? "" : hash.slice(qAt + 1));
    const [page, ...rest] = path.split("/");
    return { page: page || "overview", param: rest.length ? decodeURIComponent(rest.join("/")) : null, query };
  }

  function route() {
    const { page } = current();
    for (const a of document.querySelectorAll("#nav a")) {
      a.classList.toggle("active", a.dataset.page === page || ((page === "handoff" || page === "conversation") && a.dataset.page === "tasks"));
    }
    hold = false;
    $("#page").replaceChildren();
    refresh();
  }

  async function refresh() {
    if (!session || hold) return;
    if (rendering) { pending = true; return; }
    rendering = true;
    try {
      const { page, param, query } = current();
      const render = pages[page] || pages.overview;
      const node = await render(param, query);
      const root = $("#page");
      const keep = root.querySelector("form.search");
      const focused = document.activeElement;
      root.replaceChildren(node);
      const form = node.querySelector("form.search");
      if (keep && form && keep.contains(focused)) { form.replaceWith(keep); }
      document.body.dataset.rendered = String((Number(document.body.dataset.rendered) || 0) + 1);
    } catch (e) {
      if (session) $("#page").replaceChildren(h("p", { class: "error" }, "Could not load: " + e.message));
    } finally {
      rendering = false;
      if (pending) { pending = false; refresh(); }
    }
  }

  async function action(method, path, done) {
    try {
      await api(method, path);
      toast(done);
    } catch (e) {
      toast("Refused: " + e.message);
    }
    refresh();
  }

  const pages = {
    async overview() {
      const o = await api("GET", "/api/overview");
      const wrap = h("div", {}, h("h2", {}, "Overview"));
      wrap.appendChild(h("div", { class: "cards" },
        card("waiting in inboxes", h("span", { id: "waiting" }, num(o.queue_total))),
        card("unread RETURNs (mail)", h("span", { id: "unread" }, num(o.unread_total))),
        card("ledger events", num(o.seq))));
      const windows = o.windows || [];
      if (windows.length) {
        wrap.appendChild(h("h2", {}, "By window"));
        wrap.appendChild(table(
          ["window", { label: "handoffs", num: 1 }, { label: "handoffs/s", num: 1 }, { label: "error rate", num: 1 },
           { label: "drop\u2192RETURN p50", num: 1 }, { label: "p95", num: 1 }, { label: "p99", num: 1 },
           { label: "run p50", num: 1 }, { label: "p95", num: 1 }, { label: "p99", num: 1 }],
          windows.map((w) => [w.window, num(w.events), Number(w.handoffs_per_sec || 0).toFixed(2), pct(w.error_rate),
            fmtMs(w.drop_to_return_ms && w.drop_to_return_ms.p50), fmtMs(w.drop_to_return_ms && w.drop_to_return_ms.p95), fmtMs(w.drop_to_return_ms && w.drop_to_return_ms.p99),
            fmtMs(w.run_ms && w.run_ms.p50), fmtMs(w.run_ms && w.run_ms.p95), fmtMs(w.run_ms && w.run_ms.p99)])));
        if (o.relative_error) wrap.appendChild(h("p", { class: "muted" }, "Percentiles from per-minute histograms, within " + pct(o.relative_error) + "."));
      }
      if (o.counts) {
        wrap.appendChild(h("h2", {}, "Tasks by state"));
        wrap.appendChild(table(["state", { label: "tasks", num: 1 }], Object.entries(o.counts).map(([k, v]) => [h("a", { href: "#/tasks?state=" + encodeURIComponent(k) }, h("span", { class: "state state-" + k }, k)), num(v)])));
        if (o.counts_at) wrap.appendChild(h("p", { class: "muted" }, "Counted at " + when(o.counts_at) + " (a large ledger is counted less often)."));
      }
      wrap.appendChild(h("h2", {}, "Queue depth"));
      wrap.appendChild(table(["agent", { label: "work waiting", num: 1 }, { label: "unread RETURNs", num: 1 }],
        Object.entries(o.queue_depth || {}).map(([k, v]) => [k, num(v), num((o.unread || {})[k] || 0)]), "no inboxes yet"));
      return wrap;
    },

    async handoffs() {
      const qs = new URLSearchParams();
      if (search.agent) qs.set("agent", search.agent);
      if (search.q) qs.set("q", search.q);
      const d = await api("GET", "/api/handoffs?" + qs.toString());
      const agentInput = h("input", { name: "agent", placeholder: "agent", "aria-label": "agent" });
      agentInput.value = search.agent;
      const qInput = h("input", { name: "q", placeholder: "id, title or agent", "aria-label": "search" });
      qInput.value = search.q;
      const form = h("form", { class: "search", onsubmit: (e) => { e.preventDefault(); search.agent = agentInput.value.trim(); search.q = qInput.value.trim(); refresh(); } },
        agentInput, qInput, h("button", { type: "submit" }, "Search"));
      return h("div", {},
        h("h2", {}, "Agents"),
        // The same table as `baton status`'s agents (one function computes both): the
        // handoffs tree's folders, then the mailboxes' agents.
        table(["agent", "folder or mailbox", { label: "work in inbox", num: 1 }, { label: "open", num: 1 }, { label: "taken", num: 1 }, { label: "answered", num: 1 }, { label: "stale", num: 1 }, { label: "unread", num: 1 }, { label: "read", num: 1 }, { label: "unreadable", num: 1 }],
          d.agents.map((a) => [h("a", { href: "#/handoffs", onclick: () => { search.agent = a.agent; refresh(); } }, a.agent), a.folder || a.mailbox || dash, num(a.inbox),
            num(a.counts.open), num(a.counts.taken), num(a.counts.answered), num(a.counts.stale), num(a.counts.unread), num(a.counts.read), num(a.counts.unreadable)]),
          "no agents yet"),
        h("p", { class: "muted" }, "Open: a handoff waiting in the agent's inbox. Taken: moved out of the inbox, no RETURN yet. Answered: a RETURN links to it. Unread and read: RETURNs and messages for the agent. Stale: open, taken or unread for longer than " + span(d.stale_after_secs) + "."),
        h("h2", {}, "Between agents"),
        table(["agent", "state", "file", "from", "to", "title", "age", "dialect"],
          d.between_agents.agents.flatMap((a) => ["open", "taken", "answered", "unread", "read", "unreadable"].flatMap((s) => a[s].map((e) =>
            [a.agent, s, e.place + "/" + e.file, num(e.from), num(e.to), e.title || e.reason, num(e.age), num(e.dialect)]))),
          "no handoffs in the agents' folders"),
        d.between_agents.ambiguous.length ? h("p", { class: "muted" }, "Ambiguous names (never guessed): " + d.between_agents.ambiguous.map((a) => a.name + " → " + a.folders.join(", ")).join("; ")) : h("span", {}),
        h("h2", {}, "Handoffs"), form,
        d.truncated ? h("p", { id: "truncated", class: "muted" }, "Showing the newest " + d.limit + " only; ", h("a", { href: "#/tasks" }, "Tasks"), " pages through all of baton's tasks.") : null,
        table(["id", "title", "from", "to", "state", "plugin", "at"],
          d.items.map((i) => [h("a", { href: "#/handoff/" + encodeURIComponent(i.id) }, i.id), i.title, i.from, num(i.to), i.state, num(i.plugin), i.at]),
          "no handoffs match"));
    },

    // Baton's tasks, newest first: filters by state, plugin, error code and agent (and free
    // text), all in the URL (#/tasks?state=failed&plugin=echo&page=2), paged with totals; and
    // a bulk retry of the failed ones matching, after a confirmation that says how many.
    async tasks(_, query) {
      const filters = ["state", "plugin", "code", "agent", "q"];
      const qs = new URLSearchParams();
      for (const f of filters) if (query.get(f)) qs.set(f, query.get(f));
      const page = Math.max(1, parseInt(query.get("page") || "1", 10) || 1);
      if (page > 1) qs.set("page", String(page));
      const d = await api("GET", "/api/tasks?" + qs.toString());
      const go = (changes) => {
        const next = new URLSearchParams(qs);
        for (const [k, v] of Object.entries(changes)) { if (v) next.set(k, v); else next.delete(k); }
        if (!("page" in changes)) next.delete("page");
        const text = next.toString();
        location.hash = "#/tasks" + (text ? "?" + text : "");
      };
      const choice = (name, label, counts) => {
        const sel = h("select", { name, "aria-label": label },
          h("option", { value: "" }, "any " + label),
          Object.entries(counts || {}).map(([k, n]) => h("option", { value: k }, k + " (" + n + ")")));
        const want = query.get(name) || "";
        if (want && !Array.from(sel.options).some((o) => o.value === want)) sel.appendChild(h("option", { value: want }, want + " (0)"));
        sel.value = want;
        return sel;
      };
      const state = choice("state", "state", d.facets.state);
      const plugin = choice("plugin", "plugin", d.facets.plugin);
      const code = choice("code", "error code", d.facets.code);
      const agent = h("input", { name: "agent", placeholder: "agent", "aria-label": "agent" });
      agent.value = query.get("agent") || "";
      const text = h("input", { name: "q", placeholder: "id or title", "aria-label": "search" });
      text.value = query.get("q") || "";
      const form = h("form", { class: "search filters", onsubmit: (e) => {
        e.preventDefault();
        go({ state: state.value, plugin: plugin.value, code: code.value, agent: agent.value.trim(), q: text.value.trim() });
      } }, state, plugin, code, agent, text, h("button", { type: "submit" }, "Filter"),
        filters.some((f) => query.get(f)) ? h("a", { href: "#/tasks", class: "clear" }, "clear filters") : null);
      for (const sel of [state, plugin, code]) sel.addEventListener("change", () => form.requestSubmit());

      const first = d.total ? (d.page - 1) * d.per_page + 1 : 0;
      const last = Math.min(d.total, d.page * d.per_page);
      // A search counts up to a cap (total_exact false): "10,001+", never as if exact.
      const atLeast = (n, exact) => n.toLocaleString("en-US") + (exact === false ? "+" : "");
      const pager = h("div", { class: "pager" },
        h("span", { id: "range" }, d.total ? "Showing " + first + "\u2013" + last + " of " + atLeast(d.total, d.total_exact) + " tasks" : "No tasks match"),
        d.unindexed ? h("span", { id: "unindexed", class: "muted" }, "(" + d.unindexed + " not indexed yet, searched directly)") : null,
        d.page > 1 ? h("a", { href: "#", id: "newer", onclick: (e) => { e.preventDefault(); go({ page: d.page > 2 ? String(d.page - 1) : "" }); } }, "\u2190 newer") : null,
        h("span", { class: "muted" }, "page " + d.page + " of " + d.pages + (d.total_exact === false ? "+" : "")),
        d.page < d.pages ? h("a", { href: "#", id: "older", onclick: (e) => { e.preventDefault(); go({ page: String(d.page + 1) }); } }, "older \u2192") : null);

      const wrap = h("div", {}, h("h2", {}, "Tasks"), form, pager);
      if (d.retryable) {
        // More than one bulk retry takes: it takes the newest retry_max, and says so. A search's
        // count may be "at least" (retryable_exact false): the button first asks the server how
        // many a retry would take (dry_run), and the confirmation names that number.
        // Refused for what they are (unknown_action, invalid_params, …): retried unchanged they
        // are refused again, so the bulk retry leaves them out, names them, and says how to edit
        // and retry each.
        const box = h("div", { id: "bulk" });
        const confirmFor = (count, leftOut) => {
          const n = Math.min(count, d.retry_max);
          const what = n < count ? "the newest " + n + " of " + count + " failed tasks" : n + " failed task" + (n === 1 ? "" : "s");
          const out = (leftOut || []).length
            ? h("p", { id: "left-out", class: "muted" }, leftOut.length + " left out: refused for what they are, they would be refused again unchanged (" +
                [...new Set(leftOut.map((x) => x.code))].join(", ") + "). Edit and retry each: " + leftOut.slice(0, 3).map((x) => x.fix).join("; ") +
                (leftOut.length > 3 ? "; \u2026" : ""))
            : null;
          if (!n) {
            box.replaceChildren(out || h("p", { class: "muted" }, "Nothing to retry."),
              h("button", { id: "cancel-retry", onclick: () => { hold = false; refresh(); } }, "Close"));
            return;
          }
          box.replaceChildren(
            h("span", { id: "confirm-text" }, "Retry " + what + " matching these filters? Each goes back into the inbox and runs again."), out,
            h("button", { id: "confirm-retry", class: "danger", onclick: async () => {
              hold = false;
              const body = { expect: n };
              for (const f of filters) if (query.get(f)) body[f] = query.get(f);
              try {
                const r = await api("POST", "/api/tasks/retry", body);
                toast("Retried " + r.retried + " of " + r.matched + " tasks");
              } catch (e) {
                toast("Refused: " + e.message);
              }
              refresh();
            } }, "Yes, retry " + n),
            h("button", { id: "cancel-retry", onclick: () => { hold = false; refresh(); } }, "Cancel"));
        };
        const shown = d.retryable_exact === false ? atLeast(d.retryable, false) : String(Math.min(d.retryable, d.retry_max));
        const ask = h("button", { id: "retry-all", onclick: async () => {
          hold = true;
          const body = { dry_run: true };
          for (const f of filters) if (query.get(f)) body[f] = query.get(f);
          try {
            const dry = await api("POST", "/api/tasks/retry", body);
            confirmFor(dry.matched, dry.left_out);
          } catch (e) {
            hold = false;
            toast("Could not count them: " + e.message);
          }
        } }, "Retry " + shown + " failed\u2026");
        box.appendChild(ask);
        wrap.appendChild(box);
      }
      // The rejected list holds files that never parsed too: each row says its file and why.
      const filed = d.items.some((t) => t.file);
      wrap.appendChild(table(["id", "title", "state", "plugin", "error", "from", "reply to", "claimed", { label: "took", num: 1 }].concat(filed ? ["file", "reason"] : []),
        d.items.map((t) => [
          h("a", { href: "#/handoff/" + encodeURIComponent(t.id) }, t.id), t.title,
          h("span", { class: "state state-" + t.state }, t.state),
          t.plugin ? t.plugin + (t.action ? " / " + t.action : "") : dash,
          t.error_code ? h("span", { class: "code", title: t.error_message || "" }, t.error_code) : dash,
          num(t.from), num(t.reply_to), when(t.claimed_at), fmtMs(t.duration_ms)].concat(filed ? [num(t.file), num(t.reason)] : [])),
        "no tasks match these filters"));
      return wrap;
    },

    async handoff(id) {
      const d = await api("GET", "/api/handoffs/" + encodeURIComponent(id));
      const wrap = h("div", {}, h("p", {}, h("a", { href: "#/tasks" }, "\u2190 all tasks")), h("h2", {}, "Handoff " + id));
      const t = d.task;
      if (t) {
        wrap.appendChild(table(["", ""], [
          ["title", t.title], ["from", t.sender], ["reply to", t.reply_to], ["plugin", (t.plugin || dash) + " / " + (t.action || dash)],
          ["state", t.state], ["attempts", num(t.attempts)], ["error", t.error_code ? t.error_code + (t.error_message ? " (below)" : "") : dash],
          ["RETURN", num(t.return_name)], ["claimed", when(t.claimed_at)], ["finished", when(t.finished_at)], ["took", fmtMs(t.duration_ms)],
        ]));
      }
      // A TASK one agent sent another (baton did not run it): where it stands, as `baton show` says.
      const b = d.between;
      if (b) {
        wrap.appendChild(table(["", ""], [
          ["title", num(b.title)], ["from", num(b.from)], ["to", num(b.to)], ["sent", when(b.created_at)],
          ["body", b.body === null || b.body === undefined ? dash : typeof b.body === "string" ? b.body : JSON.stringify(b.body)],
          ["state", h("span", { id: "between-state" }, b.state)], ["file", b.file]]));
      }
      // The error once, as written: a plugin's traceback (its stderr lines, then the trap) keeps
      // its lines and indentation. The tables above and below name its code only.
      const ret = d.return;
      const message = (t && t.error_message) || (ret && ret.error && ret.error.message) || "";
      // Elsewhere (the RETURN's summary and result, the history) the message is named, not repeated.
      const above = (v) => (typeof v === "string" && message && v.includes(message) ? v.split(message).join("(the error above)") : v);
      const json = (v) => JSON.stringify(v, (k, x) => above(x), 2);
      if (message) {
        wrap.appendChild(h("h2", {}, "Error"));
        wrap.appendChild(h("pre", { id: "error", class: "traceback" }, message));
      }
      wrap.appendChild(h("p", {}, h("a", { id: "conversation-link", href: "#/conversation/" + encodeURIComponent(id) }, "The whole conversation \u2192")));
      wrap.appendChild(h("h2", {}, "Params"));
      wrap.appendChild(d.params === null || d.params === undefined
        ? h("p", { class: "muted" }, b ? "The TASK has no params (a TASK between agents carries its title and body)." : "The TASK file is no longer in baton's folders.")
        : h("pre", { id: "params" }, JSON.stringify(d.params, null, 2)));
      wrap.appendChild(h("h2", {}, "RETURN"));
      if (ret) {
        wrap.appendChild(table(["", ""], [
          ["status", h("span", { class: "state state-" + ret.status }, num(ret.status))],
          ["summary", h("span", { id: "summary" }, num(above(ret.summary)))],
          ["error", ret.error && ret.error.code ? ret.error.code + (ret.error.message ? " (above)" : "") : dash],
          ["file", ret.file]]));
        wrap.appendChild(h("h3", {}, "Result"));
        wrap.appendChild(h("pre", { id: "result" }, json(ret.result === undefined ? null : ret.result)));
        wrap.appendChild(h("h3", {}, "Artifacts"));
        const arts = Array.isArray(ret.artifacts) ? ret.artifacts : [];
        wrap.appendChild(arts.length
          ? h("ul", { id: "artifacts" }, arts.map((a) => h("li", {}, typeof a === "string" ? a : JSON.stringify(a))))
          : h("p", { class: "muted" }, "no artifacts"));
      } else {
        wrap.appendChild(h("p", { class: "muted" }, t && t.return_name ? "The RETURN " + t.return_name + " is no longer in " + t.reply_to + "'s folders." : "No RETURN yet."));
      }
      if (d.edit_to_retry) {
        // Refused for what it is: unchanged it is refused again, so no Retry button; the fix.
        wrap.appendChild(h("p", { id: "edit-to-retry", class: "muted" }, "Refused as " + d.edit_to_retry + ": run again unchanged it is refused again. Edit and retry: ",
          h("code", {}, "baton retry " + id + " --params '" + JSON.stringify(d.params === undefined || d.params === null ? {} : d.params) + "'"),
          " (or fix the file in 03_failed/, then retry; --force runs it as it is)."));
      }
      if (d.retryable) {
        wrap.appendChild(h("button", { id: "retry", onclick: () => action("POST", "/api/handoffs/" + encodeURIComponent(id) + "/retry", "Moved back into the inbox") }, "Retry"));
      }
      wrap.appendChild(h("h2", {}, "History"));
      // An event's copy of the error message is the one shown above.
      const detail = (e) => (typeof e.detail === "string" ? above(e.detail) : JSON.stringify(e.detail, (k, v) => above(v)));
      wrap.appendChild(table(["at", "event", "detail"], d.events.map((e) => [when(e.at), e.event, detail(e)]), "no events"));
      wrap.appendChild(h("h2", {}, "Plugin log"));
      // stderr lines the error message already quotes are not repeated.
      const quoted = (l) => l.level === "stderr" && message && l.message.trim() && message.includes(l.message.trim());
      const logs = d.logs.filter((l) => !quoted(l));
      if (logs.length < d.logs.length) wrap.appendChild(h("p", { class: "muted" }, (d.logs.length - logs.length) + " stderr line(s) are in the error above."));
      wrap.appendChild(table(["at", "level", "message"], logs.map((l) => [when(l.at), l.level, l.message]), "no log lines"));
      if (d.observed.length) {
        wrap.appendChild(h("h2", {}, "Seen in agents' inboxes"));
        wrap.appendChild(table(["inbox", "kind", "file", "from", "to", "created"], d.observed.map((o) => [o.agent, o.kind, o.file_name, o.from, num(o.to), when(o.created_at)])));
      }
      return wrap;
    },

    // A TASK, its RETURN and what followed, oldest first, each with the link that joins it.
    async conversation(id) {
      const d = await api("GET", "/api/conversations/" + encodeURIComponent(id));
      const wrap = h("div", {}, h("p", {}, h("a", { href: "#/handoff/" + encodeURIComponent(id) }, "\u2190 handoff " + id)), h("h2", {}, "Conversation " + id));
      if (d.correlation_ids.length) wrap.appendChild(h("p", { class: "muted" }, "correlation id: " + d.correlation_ids.join(", ")));
      wrap.appendChild(table(["at", "kind", "id", "from", "to", "title", "state", "linked by"],
        d.entries.map((e) => [num(e.at), e.kind, e.kind === "task" ? h("a", { href: "#/handoff/" + encodeURIComponent(e.id) }, e.id) : num(e.id),
          num(e.from), num(e.to), num(e.summary || e.title), num(e.state), e.link]), "nothing"));
      if (d.truncated) wrap.appendChild(h("p", { class: "muted" }, "Showing the first " + d.limit + " handoffs only."));
      return wrap;
    },

    // The agents' mailboxes (`[mailboxes]`): each Claude Code team (or folder mailbox), each
    // agent's inbox with its counts, and its messages, those unread past the stale age flagged.
    async teams() {
      const d = await api("GET", "/api/mailboxes");
      const wrap = h("div", {}, h("h2", {}, "Teams"));
      if (d.error) wrap.appendChild(h("p", { class: "error" }, "[mailboxes] cannot be read: " + d.error));
      if (!d.mailboxes.length) {
        wrap.appendChild(h("p", { class: "muted" }, "No mailboxes configured: `baton mailbox add claude-team ~/.claude/teams` reads Claude Code's teams."));
        return wrap;
      }
      const states = ["unread", "read", "open", "done", "sent"];
      for (const m of d.mailboxes) {
        wrap.appendChild(h("h3", {}, m.name + " (" + m.kind + ")"));
        wrap.appendChild(h("p", { class: "muted" }, m.path + (m.zone ? " \u00b7 zone " + m.zone : "")));
        if (m.error) wrap.appendChild(h("p", { class: "error" }, m.error));
        // An mcp_agent_mail archive's agents: how many messages each still has to acknowledge.
        const acks = m.kind === "agent-mail";
        wrap.appendChild(table(["agent", "role", { label: "unread", num: 1 }, { label: "read", num: 1 }, { label: "open", num: 1 }, { label: "done", num: 1 }, { label: "sent", num: 1 }, { label: "stale", num: 1 }].concat(acks ? [{ label: "to acknowledge", num: 1 }] : []),
          m.inboxes.map((a) => [a.agent, a.member ? num(a.member.agent_type) + (a.member.lead ? " (lead)" : "") + (a.member.model ? " \u00b7 " + a.member.model : "") : dash,
            num(a.counts.unread), num(a.counts.read), num(a.counts.open), num(a.counts.done), num(a.counts.sent),
            a.counts.stale ? h("span", { class: "bad" }, String(a.counts.stale)) : "0"].concat(acks
            ? [a.counts.ack_required ? h("span", { class: "bad ack-required" }, String(a.counts.ack_required)) : "0"] : [])),
          "no inboxes"));
        // Each team's task list (Claude Code's ~/.claude/tasks/<team>/): by status, with owners
        // and what blocks what; files that are not tasks it could not read named.
        const order = ["in_progress", "pending", "completed", "deleted"];
        const rank = (t) => { const r = order.indexOf(t.status); return r < 0 ? order.length : r; };
        for (const t of (m.teams || []).filter((t) => (t.tasks && t.tasks.length) || (t.unreadable && t.unreadable.length))) {
          wrap.appendChild(h("h3", {}, "Tasks of " + t.team + (t.implicit ? " (session team)" : "")));
          wrap.appendChild(h("p", { class: "muted task-counts" }, Object.entries(t.counts || {}).map(([k, n]) => n + " " + k.replace("_", " ")).join(" \u00b7 ")));
          const tasks = t.tasks.slice().sort((a, b) => rank(a) - rank(b));
          wrap.appendChild(table(["task", "subject", "status", "owner", "blocked by", "blocks"],
            tasks.map((x) => [t.team + "#" + x.id, x.subject, h("span", { class: "task-" + x.status }, x.status.replace("_", " ")),
              num(x.owner), x.blocked_by.length ? x.blocked_by.map((b) => "#" + b).join(", ") : dash,
              x.blocks.length ? x.blocks.map((b) => "#" + b).join(", ") : dash]), "no tasks"));
          for (const u of t.unreadable || []) wrap.appendChild(h("p", { class: "error" }, "not read: " + u.file + ": " + u.reason));
        }
        const rows = m.inboxes.flatMap((a) => states.flatMap((s) => (a[s] || []).map((i) => [
          a.agent, s, i.delivery ? h("span", { class: "delivery-" + i.delivery }, i.delivery) : dash, num(i.from), i.title, when(i.created_at),
          i.stale ? h("span", { class: "bad stale" }, "stale: unread for " + Math.round(i.age_secs / 3600) + " h") : dash,
          i.ack_required ? h("span", { class: "bad ack-required", title: "baton ack " + i.id + " --agent " + a.agent }, "ack required") : dash])));
        wrap.appendChild(h("h3", {}, "Messages in " + m.name));
        wrap.appendChild(table(["agent", "state", "delivery", "from", "title", "sent", "stale", "acknowledgement"], rows, "no messages"));
        if (m.not_read && m.not_read.length) {
          wrap.appendChild(h("p", { class: "muted" }, m.not_read.length + " file(s) or folder(s) not read (baton status --json: mailboxes[].not_read)"));
        }
      }
      wrap.appendChild(h("p", { class: "muted" }, "Stale: unread for longer than " + span(d.stale_after_secs) + " ([handoffs] stale_after)."));
      return wrap;
    },

    async plugins() {
      const d = await api("GET", "/api/plugins");
      return h("div", {}, h("h2", {}, "Plugins"),
        table(["plugin", "version", "WIT", "budget", "health", "paused", ""],
          d.plugins.map((p) => [
            p.name, num(p.version), num(p.wit),
            p.budget.time_ms + " ms \u00b7 " + p.budget.memory_mb + " MB \u00b7 " + p.budget.output_kb + " KB",
            p.refused ? "refused: " + p.refused.reason : p.health.consecutive_failures ? p.health.consecutive_failures + " failures in a row: " + (p.health.last_error || "") : "ok",
            h("span", { class: p.paused ? "bad" : "ok" }, p.paused ? (p.pause.by === "hand" ? "paused by hand since " + p.pause.since : "paused until " + p.pause.until) : "no"),
            p.paused
              ? h("button", { dataset: { plugin: p.name, act: "resume" }, onclick: () => action("POST", "/api/plugins/" + encodeURIComponent(p.name) + "/resume", "Resumed " + p.name) }, "Resume")
              : h("button", { dataset: { plugin: p.name, act: "pause" }, onclick: () => action("POST", "/api/plugins/" + encodeURIComponent(p.name) + "/pause", "Paused " + p.name) }, "Pause"),
          ]), "no plugins installed"));
    },

    // One plans set at a time (#/audits?set=…): reports of other folders (a `baton audit`
    // of elsewhere) have their own history.
    async audits(_, query) {
      const want = query.get("set");
      const d = await api("GET", "/api/audits" + (want ? "?set=" + encodeURIComponent(want) : ""));
      const wrap = h("div", {}, h("h2", {}, "Audits"),
        h("button", { id: "run-audit", disabled: d.running ? "" : null, onclick: () => action("POST", "/api/audit/run", "Audit started") }, d.running ? "Audit running\u2026" : "Run an audit now"));
      const setName = (x) => (x.plans_dirs.length ? x.plans_dirs.join(", ") : "(no plans folder)") + (x.own ? " \u2014 serve's" : "");
      if (d.sets.length > 1) {
        const sel = h("select", { id: "plans-set", "aria-label": "plans set" },
          d.sets.map((x) => h("option", { value: x.key }, setName(x) + " (" + x.reports + " reports)")));
        sel.value = d.set || "";
        sel.addEventListener("change", () => { location.hash = "#/audits?set=" + encodeURIComponent(sel.value); });
        wrap.appendChild(h("p", {}, "Plans set: ", sel));
      }
      const l = d.latest;
      if (!l) {
        wrap.appendChild(h("p", { class: "muted" }, "No report yet in " + d.reports_dir + "."));
        return wrap;
      }
      wrap.appendChild(h("p", { id: "plans-dirs", class: "muted" }, "Plans: " + ((l.plans_dirs || []).join(", ") || dash)));
      if (!l.plans.length) {
        wrap.appendChild(h("p", { id: "no-plans", class: "bad" }, "No plans found in " + ((l.plans_dirs || []).join(", ") || "the plans folder") + " (the latest report, " + l.generated_at + ", audited no .md file)."));
      }
      wrap.appendChild(h("div", { class: "cards" },
        card("completion", pct(l.completion)), card("deliverables present", l.present + " / " + l.expected),
        card("false claims", num(l.false_claims.length), l.false_claims.length ? "bad" : "ok"), card("open gaps", num(l.gaps.length))));
      wrap.appendChild(h("p", { class: "muted" }, "Latest report " + l.generated_at + " (" + l.file + ")"));
      wrap.appendChild(h("h2", {}, "False claims"));
      wrap.appendChild(table(["plan", "deliverable", "status", "why"], l.false_claims.map((f) => [f.plan, f.path, f.status, num(f.reason)]), "none"));
      wrap.appendChild(h("h2", {}, "Plans"));
      wrap.appendChild(table(["plan", "tasks done", "", "verified", { label: "present", num: 1 }], l.plans.map((p) => [p.title || p.path, bar(p.completion), pct(p.completion) + " (" + (p.tasks_done || 0) + " / " + (p.tasks_total || 0) + ")", pct(p.verified || 0), p.present + " / " + p.expected])));
      wrap.appendChild(h("h2", {}, "Completion over time"));
      wrap.appendChild(table(["report", "completion", "", { label: "false claims", num: 1 }], d.history.slice().reverse().map((p) => [p.generated_at, bar(p.completion), pct(p.completion), num(p.false_claims)])));
      return wrap;
    },

    async library() {
      const d = await api("GET", "/api/library");
      const c = d.coverage;
      return h("div", {}, h("h2", {}, "Library"),
        h("div", { class: "cards" },
          card("fingerprint coverage", pct(c.ratio), c.ok ? "ok" : "bad"), card("threshold", pct(c.threshold)),
          card("fingerprinted / files", c.fingerprinted + " / " + c.files), card("failed", num(c.failed)),
          card("duplicate groups", num(d.duplicates.count))),
        h("h2", {}, "Duplicate groups"),
        table(["keep", "duplicates", { label: "score", num: 1 }], d.duplicates.groups.map((g) => [g.keeper, h("ul", { class: "dups" }, g.duplicates.map((x) => h("li", {}, x))), Number(g.score).toFixed(3)]), "no duplicates found"),
        h("h2", {}, "Catalog"),
        table(["collection", "owner", { label: "records", num: 1 }], d.catalog.map((x) => [x.name, x.owner, num(x.records)]), "empty catalog"));
    },

    async alerts() {
      const d = await api("GET", "/api/alerts");
      return h("div", {}, h("h2", {}, "Alerts"),
        table(["rule", "labels", "summary", "state", { label: "firings", num: 1 }, "since", "last seen", "acknowledged", ""],
          d.alerts.map((a) => [a.rule, Object.entries(a.labels || {}).map(([k, v]) => k + "=" + v).join(", "), a.summary,
            h("span", { class: a.state === "firing" ? "bad" : "ok" }, a.state), num(a.firing), when(a.started_at), when(a.last_seen_at), when(a.acked_at),
            a.state === "firing" && !a.acked_at ? h("button", { onclick: () => action("POST", "/api/alerts/" + encodeURIComponent(a.id) + "/ack", "Acknowledged") }, "Acknowledge") : ""]),
          "no alerts"));
    },
  };

  window.addEventListener("hashchange", () => { if (session) route(); });
  start();
})();
