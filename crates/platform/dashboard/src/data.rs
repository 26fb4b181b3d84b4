//! What each page shows, read from the ledger and the home's folders. Plain functions over a
//! `Ledger` (its [`baton_ledger::read::StatsStore`] side: no SQL here, so the pages read a
//! PostgreSQL ledger as they read the SQLite file) so the API handlers stay thin; they run on
//! the blocking pool.
use baton_sync::Locked;
use std::collections::{BTreeMap, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use baton_handoff::names::{Entry, classify};
use baton_home::health::Health;
use baton_ledger::Ledger;
use serde_json::{Value, json};

use crate::{App, AuditSummary, DashboardError};

/// A handoff to another agent with no RETURN after this long is stale.
pub(crate) const STALE_AFTER_SECS: i64 = 3600;
/// At most this many rows in a list.
const LIST_LIMIT: i64 = 200;

/// What is worth keeping between requests: parsed audit reports (never rewritten, so their
/// file name is their identity) and the task counts.
#[derive(Default)]
pub(crate) struct Caches {
    reports: HashMap<PathBuf, AuditSummary>,
    /// Tasks by (state, plugin, error code): when computed, how long it took, the rows.
    facets: Option<(std::time::Instant, std::time::Duration, Vec<Facet>)>,
}

/// One (state, plugin, error code) and its number of tasks.
pub(crate) type Facet = (String, Option<String>, Option<String>, u64);

/// The counts by state, plugin and error code (the overview's "tasks by state", the task
/// list's filter choices) take a scan of every task: about 2 s at a million tasks. They are
/// kept and computed again only after ten times as long as the last computation took (at
/// least a second), so a page open on a large ledger does not keep the one connection busy.
pub(crate) fn facets(app: &App, ledger: &Ledger) -> Res<(Vec<Facet>, std::time::SystemTime)> {
    use std::time::{Duration, Instant, SystemTime};
    let fresh = |at: &Instant, took: &Duration| at.elapsed() < (*took * 10).max(Duration::from_secs(1));
    if let Some((at, took, rows)) = app.caches.locked().facets.as_ref()
        && fresh(at, took)
    {
        return Ok((rows.clone(), SystemTime::now() - at.elapsed()));
    }
    let started = Instant::now();
    let rows = db(ledger.stats().task_facets())?;
    app.caches.locked().facets = Some((started, started.elapsed(), rows.clone()));
    Ok((rows, SystemTime::now() - started.elapsed()))
}

/// An action (retry, …) changed what the counts say: the next read computes them again.
pub(crate) fn forget_counts(app: &App) {
    app.caches.locked().facets = None;
}

/// When the counts were taken, as RFC 3339.
pub(crate) fn stamp(t: std::time::SystemTime) -> String {
    baton_handoff::stamp::rfc3339(time::OffsetDateTime::from(t))
}

type Res<T> = Result<T, DashboardError>;

fn db<T>(r: baton_ledger::Result<T>) -> Res<T> {
    Ok(r?)
}

/// What sits in each agent's `01_inbox/` (candidates only: no temp, dot or swap files): work
/// waiting (TASKs, and files not yet read), and unread mail (RETURNs the agent has not taken
/// yet). Only work counts as "waiting in inboxes" and as `baton_queue_depth`: a RETURN sitting
/// in an agent's inbox is an answer nobody has read, not a queue.
#[derive(Debug, Default)]
pub(crate) struct Inboxes {
    pub waiting: BTreeMap<String, u64>,
    pub unread: BTreeMap<String, u64>,
}

/// Whether an inbox file is a RETURN: by its name (`…__RETURN__…`) when the name says, else by
/// its body read in its dialect (up to the configured size; an unreadable file counts as work).
fn is_return(path: &Path, name: &str, max_bytes: u64) -> bool {
    if let Some(parts) = baton_handoff::names::parse_file_name(name) {
        return parts.kind.eq_ignore_ascii_case("RETURN");
    }
    if name.contains("__RETURN__") {
        return true;
    }
    if name.contains("__TASK__") {
        return false;
    }
    let small = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= max_bytes);
    small
        && std::fs::read(path)
            .ok()
            .and_then(|b| baton_handoff::dialect::read(name, &b).ok())
            .is_some_and(|seen| seen.kind == baton_handoff::dialect::Kind::Return)
}

pub(crate) fn inboxes(app: &App) -> Inboxes {
    let mut out = Inboxes::default();
    for e in std::fs::read_dir(&app.paths.handoffs).into_iter().flatten().flatten() {
        let Some(agent) = e.file_name().to_str().map(str::to_string) else { continue };
        if agent.starts_with('.') || !e.path().is_dir() {
            continue;
        }
        let (mut work, mut mail) = (0, 0);
        for f in std::fs::read_dir(e.path().join("01_inbox")).into_iter().flatten().flatten() {
            let name = f.file_name();
            if classify(name.as_bytes()) == Entry::Ignored {
                continue;
            }
            if is_return(&f.path(), &name.to_string_lossy(), app.cfg.max_file_bytes) {
                mail += 1;
            } else {
                work += 1;
            }
        }
        out.waiting.insert(agent.clone(), work);
        out.unread.insert(agent, mail);
    }
    out
}

fn now_secs() -> i64 {
    baton_handoff::stamp::now().unix_timestamp()
}

fn age_secs(ts: &str) -> Option<i64> {
    baton_handoff::stamp::parse_rfc3339(ts).map(|t| now_secs() - t.unix_timestamp())
}

/// The agents table (the same function of the same reading as `baton status`'s `agents[]`:
/// [`crate::agents::table`]), with each agent's work waiting in its inbox; and a search over
/// baton's tasks and the handoffs between agents by id, title or agent.
pub(crate) fn handoffs(app: &App, ledger: &Ledger, agent: Option<&str>, q: Option<&str>) -> Res<Value> {
    let inboxes = inboxes(app);
    // The user's agents' own tree, in every dialect, and the other tools' mailboxes.
    let tree = baton_home::tree::scan(
        &app.paths.handoffs,
        &app.cfg.agent,
        app.cfg.handoffs.stale_after,
        app.cfg.max_file_bytes,
        Some(&app.paths.cache()),
    );
    let mut boxes = read_mailboxes(app);
    if let Ok(b) = &mut boxes {
        baton_mailbox::record::acknowledgements(ledger, b).map_err(|e| DashboardError::Mailbox(e.to_string()))?;
    }
    let read = boxes.as_ref().map(Vec::as_slice).unwrap_or_default();
    let mut agents = crate::agents::table(&tree, read, app.cfg.handoffs.stale_after);
    for a in &mut agents {
        let waiting = a["agent"].as_str().and_then(|n| inboxes.waiting.get(n)).copied();
        a["inbox"] = serde_json::json!(waiting);
    }
    let like = q.filter(|q| !q.is_empty()).map(like_pattern);
    let agent = agent.filter(|a| !a.is_empty());
    let mut items = Vec::new();
    for t in db(ledger.stats().task_page(agent, like.as_deref(), LIST_LIMIT + 1))? {
        items.push(json!({
            "id": t.id, "title": t.title, "from": t.sender, "to": "baton", "reply_to": t.reply_to, "plugin": t.plugin,
            "action": t.action, "state": t.state, "error_code": t.error_code, "at": t.claimed_at,
            "finished_at": t.finished_at, "kind": "task",
        }));
    }
    for o in db(ledger.stats().observed_page(agent, like.as_deref(), LIST_LIMIT + 1))? {
        let o2 = o.observed;
        items.push(json!({
            "id": o2.id, "title": o2.title, "from": o2.sender, "to": o2.recipient.unwrap_or(o2.agent), "kind": "between_agents",
            "state": if o.answered { "answered" } else { "open" }, "at": o2.created_at,
        }));
    }
    items.sort_by(|a, b| b["at"].as_str().cmp(&a["at"].as_str()));
    // Says so when it stops short: the Tasks page pages through all of baton's tasks.
    let truncated = items.len() > LIST_LIMIT as usize;
    items.truncate(LIST_LIMIT as usize);
    // The user's agents' own tree, in every dialect, as `baton status --json` shows it.
    Ok(json!({
        "agents": agents, "items": items, "truncated": truncated, "limit": LIST_LIMIT,
        "stale_after_secs": app.cfg.handoffs.stale_after.as_secs(), "between_agents": tree.to_json(),
        "mailboxes": mailboxes_json(app, &boxes),
    }))
}

/// Other agents' mailboxes (`[mailboxes]`), read (reads only; their indexes kept beside the
/// state); `Err`: the settings are wrong, and why.
fn read_mailboxes(app: &App) -> Result<Vec<baton_mailbox::report::Mailbox>, baton_mailbox::MailboxError> {
    let boxes = baton_mailbox::settings::parse(app.cfg.sections.get(baton_mailbox::settings::SECTION))?;
    Ok(baton_mailbox::report::read_all_indexed(&boxes, &app.paths.home, app.paths.state.parent()))
}

/// The mailboxes as `baton status --json` shows them: each mailbox with its teams and their
/// rosters, and every mailbox agent with its items by state (unread ones past the stale age in
/// `stale`).
fn mailboxes_json(app: &App, read: &Result<Vec<baton_mailbox::report::Mailbox>, baton_mailbox::MailboxError>) -> Value {
    let read = match read {
        Ok(r) => r,
        Err(e) => return json!({"error": e.to_string()}),
    };
    let now = time::OffsetDateTime::now_utc();
    let stale_after = app.cfg.handoffs.stale_after;
    json!({
        "mailboxes": read.iter().map(baton_mailbox::report::Mailbox::to_json).collect::<Vec<_>>(),
        "agents": read.iter().flat_map(|m| m.agents.iter().map(|a| a.to_json(now, stale_after))).collect::<Vec<_>>(),
    })
}

/// The team page: every configured mailbox (`[mailboxes]`) with its teams and rosters, and
/// under it each agent's inbox as `baton status --json` shows it (its messages by state, with
/// `counts`; an unread one older than the stale age is also in `stale`, and flagged `stale`;
/// an mcp_agent_mail message is `ack_required` until its agent acknowledged it). The mailboxes
/// are read without the ledger's lock, which is taken only to look up acknowledgements and
/// what Claude inbox agents' models were seen to receive (`counts.seen`).
pub(crate) fn teams(app: &App) -> Result<Value, DashboardError> {
    let mut read = match read_mailboxes(app) {
        Ok(r) => r,
        Err(e) => return Ok(json!({"error": e.to_string(), "mailboxes": []})),
    };
    let acks = read.iter().any(|m| m.agents.iter().any(|a| a.items.iter().any(|i| i.ack_required)));
    let claude = read.iter().any(|m| m.kind == baton_mailbox::Kind::ClaudeTeam);
    let mut delivery = std::collections::BTreeMap::new();
    if acks || claude {
        let ledger = app.db.locked();
        let mailbox_error = |e: baton_mailbox::receipt::StoreError| DashboardError::Mailbox(e.to_string());
        baton_mailbox::record::acknowledgements(&ledger, &mut read).map_err(mailbox_error)?;
        // `counts.seen`, as `baton status` gives each Claude inbox agent.
        baton_mailbox::record::count_seen(&ledger, &mut read).map_err(mailbox_error)?;
        delivery = baton_mailbox::record::delivery_states(&ledger, &read).map_err(mailbox_error)?;
    }
    let now = time::OffsetDateTime::now_utc();
    let stale_after = app.cfg.handoffs.stale_after;
    let mut mailboxes: Vec<Value> = read.iter().map(|m| m.to_json_with_inboxes(now, stale_after)).collect();
    // Each Claude inbox message's delivery state beside it (`written`, `noticed`, `seen`, …).
    for inbox in mailboxes.iter_mut().filter_map(|m| m["inboxes"].as_array_mut()).flatten() {
        for list in ["unread", "read", "stale"] {
            for item in inbox.get_mut(list).and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(d) = item["id"].as_str().and_then(|id| delivery.get(id)).copied() {
                    item["delivery"] = json!(d.as_str());
                }
            }
        }
    }
    Ok(json!({"mailboxes": mailboxes, "stale_after_secs": stale_after.as_secs()}))
}

/// Every state a task can be in, as the overview's "tasks by state" names them.
pub(crate) const STATES: [&str; 9] = [
    "claimed",
    "running",
    "retrying",
    "retry_requested",
    "input_required",
    "queued",
    "completed",
    "failed",
    "rejected",
];

/// The task list's filters, as the page's URL carries them (`#/tasks?state=failed&plugin=…`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct TaskQuery {
    /// One state or several, comma-separated (`failed,rejected`).
    pub state: Option<String>,
    pub plugin: Option<String>,
    /// The error code (`plugin_paused`, `unknown_plugin`, …).
    pub code: Option<String>,
    /// The sender or the reply-to agent.
    pub agent: Option<String>,
    /// Free text: a part of the id, title, sender or reply-to, or words of the task's params,
    /// error message, RETURN summary or result (see `baton_ledger::search`).
    pub q: Option<String>,
    /// 1-based.
    pub page: Option<u64>,
    pub per_page: Option<u64>,
}

/// Rows on a page of the task list unless `per_page` says otherwise, and at most.
pub(crate) const PER_PAGE: u64 = 50;
pub(crate) const MAX_PER_PAGE: u64 = 500;
/// The states a task can be retried from.
pub(crate) const RETRYABLE: &str = "failed,rejected";

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn like_pattern(q: &str) -> String {
    format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// A task query the API refuses (a 400 with this message).
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("`{0}` is at most 256 characters")]
    TooLong(&'static str),
    #[error(
        "unknown state {0:?}: use claimed, running, retrying, input_required, queued, completed, failed, rejected or retry_requested (several: comma-separated)"
    )]
    UnknownState(String),
    #[error("`page` counts from 1")]
    PageZero,
    #[error("`per_page` is 1 to {MAX_PER_PAGE}")]
    PerPage,
}

impl TaskQuery {
    /// Checks the values (a clear message for each bad one).
    pub fn validate(&self) -> Result<(), QueryError> {
        for (name, v) in [
            ("state", &self.state),
            ("plugin", &self.plugin),
            ("code", &self.code),
            ("agent", &self.agent),
            ("q", &self.q),
        ] {
            if v.as_ref().is_some_and(|v| v.len() > 256) {
                return Err(QueryError::TooLong(name));
            }
        }
        if let Some(states) = nonempty(&self.state) {
            for s in states.split(',') {
                if baton_ledger::TaskState::parse(s.trim()).is_none() {
                    return Err(QueryError::UnknownState(s.to_string()));
                }
            }
        }
        if self.page == Some(0) {
            return Err(QueryError::PageZero);
        }
        if self.per_page.is_some_and(|n| n == 0 || n > MAX_PER_PAGE) {
            return Err(QueryError::PerPage);
        }
        Ok(())
    }

    fn states(&self) -> Option<String> {
        nonempty(&self.state).map(|s| s.split(',').map(str::trim).collect::<Vec<_>>().join(","))
    }

    /// The same filter narrowed to the tasks a retry can take (failed or rejected).
    pub fn retryable_states(&self) -> Option<String> {
        match self.states() {
            None => Some(RETRYABLE.to_string()),
            Some(s) => {
                let kept: Vec<&str> = s.split(',').filter(|s| RETRYABLE.split(',').any(|r| r == *s)).collect();
                (!kept.is_empty()).then(|| kept.join(","))
            }
        }
    }

    /// Runs `f` with the ledger's filter for these values and `states`.
    pub fn with_filter<T>(&self, states: Option<&str>, f: impl FnOnce(&baton_ledger::read::TaskFilter<'_>) -> T) -> T {
        let filter = baton_ledger::read::TaskFilter {
            state: states,
            plugin: nonempty(&self.plugin),
            error_code: nonempty(&self.code),
            agent: nonempty(&self.agent),
            q: nonempty(&self.q),
        };
        f(&filter)
    }
}

fn task_json(t: &baton_ledger::TaskRow) -> Value {
    json!({
        "id": t.id, "title": t.title, "from": t.sender, "reply_to": t.reply_to, "plugin": t.plugin, "action": t.action,
        "state": t.state, "error_code": t.error_code, "error_message": t.error_message, "attempts": t.attempts,
        "claimed_at": t.claimed_at, "finished_at": t.finished_at, "duration_ms": t.duration_ms,
    })
}

/// One page of baton's tasks, filtered, newest first, with the total, how many of them a retry
/// would take, and the filters' choices (each with its count).
pub(crate) fn tasks(app: &App, ledger: &Ledger, q: &TaskQuery) -> Res<Value> {
    let per_page = q.per_page.unwrap_or(PER_PAGE).clamp(1, MAX_PER_PAGE);
    let page = q.page.unwrap_or(1).max(1);
    let offset = i64::try_from((page - 1).saturating_mul(per_page)).unwrap_or(i64::MAX);
    let states = q.states();
    let rejections = crate::rejections::read(&app.paths, &app.cfg.agent);
    let stats = ledger.stats();
    // The page (from the ledger unless it is of rejections) and the retryable count, in one
    // call when both come from the ledger: a search's matches are read once for both.
    let (list, retry) = match (states.as_deref() == Some("rejected"), q.retryable_states()) {
        (true, None) => (None, None),
        (true, Some(s)) => (None, Some(db(q.with_filter(Some(&s), |f| stats.task_list(f, 0, 0)))?)),
        (false, None) => {
            (Some(db(q.with_filter(states.as_deref(), |f| stats.task_list(f, offset, per_page as i64)))?), None)
        }
        (false, Some(s)) => {
            let both = q.with_filter(states.as_deref(), |f| stats.task_list_and_count(f, offset, per_page as i64, &s));
            let (list, retry) = db(both)?;
            (Some(list), Some(retry))
        }
    };
    let (mut items, mut total, total_exact, unindexed) = match list {
        Some(list) => {
            (list.rows.iter().map(task_json).collect::<Vec<_>>(), list.total, list.total_exact, list.unindexed)
        }
        None => {
            let (items, total) = rejected_page(ledger, q, &rejections, offset, per_page)?;
            (items, total, true, 0)
        }
    };
    // "Any state" holds the files that never parsed too (the ledger has no row for them, and
    // the facets count them under `rejected`): after the ledger's rows, so the list and its
    // facets agree, and a search finds them by file name and reason.
    if states.is_none() {
        let unparsed: Vec<crate::rejections::Record> =
            rejections.iter().filter(|r| r.task_id().is_none()).cloned().collect();
        let (extra, n) = rejected_page(ledger, q, &unparsed, 0, u64::MAX)?;
        let skip = usize::try_from((offset - i64::try_from(total).unwrap_or(i64::MAX)).max(0)).unwrap_or(0);
        let room = (per_page as usize).saturating_sub(items.len());
        items.extend(extra.into_iter().skip(skip).take(room));
        total += n;
    }
    let (retryable, retryable_exact) = retry.map_or((0, true), |l| (l.total, l.total_exact));
    let mut by_state: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_plugin: BTreeMap<String, u64> = BTreeMap::new();
    let mut by_code: BTreeMap<String, u64> = BTreeMap::new();
    let (facet_rows, counted_at) = facets(app, ledger)?;
    for (state, plugin, code, n) in facet_rows {
        *by_state.entry(state).or_default() += n;
        if let Some(p) = plugin {
            *by_plugin.entry(p).or_default() += n;
        }
        if let Some(c) = code {
            *by_code.entry(c).or_default() += n;
        }
    }
    // Rejected: every rejection, parsed or not, as the list shows them (see `rejected_page`).
    by_state.insert("rejected".into(), rejections.len() as u64);
    Ok(json!({
        "items": items,
        "total": total,
        // false: a search counted `total` matches and stopped (there are more); the page shows
        // "10,000+", never the number as exact.
        "total_exact": total_exact,
        // Tasks the search read directly, the index not holding their latest text yet.
        "unindexed": unindexed,
        "page": page,
        "per_page": per_page,
        "pages": total.div_ceil(per_page).max(1),
        "retryable": retryable,
        "retryable_exact": retryable_exact,
        "retry_max": MAX_BULK,
        "facets": {"state": by_state, "plugin": by_plugin, "code": by_code},
        "facets_at": stamp(counted_at),
    }))
}

/// One page of the rejected list: every rejection in `03_failed/` ([`crate::rejections`]), parsed
/// or not, newest first, so its total is `baton status`'s `rejections.total`. A rejection that
/// parsed as a TASK shows its ledger row (title, plugin, sender); one that did not shows its file
/// name. Each item has its `file` and `reason`; the filters match as on the other lists (`q`:
/// also the file and the reason).
fn rejected_page(
    ledger: &Ledger,
    q: &TaskQuery,
    rejections: &[crate::rejections::Record],
    offset: i64,
    per_page: u64,
) -> Res<(Vec<Value>, u64)> {
    let text = nonempty(&q.q).map(str::to_lowercase);
    let (plugin, code, agent) = (nonempty(&q.plugin), nonempty(&q.code), nonempty(&q.agent));
    let mut matched = Vec::new();
    for r in rejections {
        let row = match r.task_id() {
            Some(id) => db(ledger.task(id))?,
            None => None,
        };
        let mut v = match &row {
            Some(t) => task_json(t),
            None => json!({"id": r.key(), "title": crate::rejections::title(r.file()), "from": null, "reply_to": null,
                           "plugin": null, "action": null, "attempts": 0, "claimed_at": r.at(), "duration_ms": null}),
        };
        v["state"] = json!("rejected");
        v["error_code"] = json!(r.code());
        v["error_message"] = json!(r.reason());
        v["reason"] = json!(r.reason());
        v["file"] = json!(r.file());
        v["filed_as"] = json!(r.filed_as);
        v["finished_at"] = json!(r.at());
        v["return"] = r.record["return"].clone();
        let field = |k: &str| v[k].as_str().map(str::to_string);
        let keep = plugin.is_none_or(|p| field("plugin").as_deref() == Some(p))
            && code.is_none_or(|c| r.code() == c)
            && agent.is_none_or(|a| field("from").as_deref() == Some(a) || field("reply_to").as_deref() == Some(a))
            && text.as_ref().is_none_or(|t| {
                ["id", "title", "from", "reply_to", "file", "reason"]
                    .iter()
                    .any(|k| field(k).is_some_and(|s| s.to_lowercase().contains(t.as_str())))
            });
        if keep {
            matched.push(v);
        }
    }
    let total = matched.len() as u64;
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    Ok((matched.into_iter().skip(start).take(per_page as usize).collect(), total))
}

/// The most tasks one bulk retry takes (the confirmation names the number).
pub(crate) const MAX_BULK: i64 = 10_000;

/// What a bulk retry takes: the failed or rejected tasks matching the filters, newest first,
/// at most `limit` of them, except those refused for what they are (`unknown_action`,
/// `invalid_params`, …: run again unchanged they are refused again), which are left out and
/// named with their code, to be edited and retried one by one.
pub(crate) struct Bulk {
    pub ids: Vec<String>,
    pub left_out: Vec<(String, String)>,
}

pub(crate) fn retryable_ids(ledger: &Ledger, q: &TaskQuery, limit: i64) -> Res<Bulk> {
    let mut bulk = Bulk { ids: Vec::new(), left_out: Vec::new() };
    let Some(states) = q.retryable_states() else { return Ok(bulk) };
    let list = db(q.with_filter(Some(&states), |f| ledger.stats().task_list(f, 0, limit)))?;
    for t in list.rows {
        match t.error_code.filter(|c| baton_handoff::codes::fails_unchanged(c)) {
            Some(code) => bulk.left_out.push((t.id, code)),
            None => bulk.ids.push(t.id),
        }
    }
    Ok(bulk)
}

/// Per recipient: handoffs between agents with no RETURN yet, and how many of them are stale.
pub(crate) fn between_agents(ledger: &Ledger) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for o in ledger.open_handoffs().unwrap_or_default() {
        let stale = age_secs(&o.created_at).is_some_and(|a| a > STALE_AFTER_SECS);
        let row = out.entry(o.recipient.clone().unwrap_or_else(|| o.agent.clone())).or_default();
        row.0 += 1;
        row.1 += u64::from(stale);
    }
    out
}

/// One handoff's history: its record, events, plugin log, and what other agents saw of it.
pub(crate) fn handoff(app: &App, ledger: &Ledger, id: &str) -> Res<Option<Value>> {
    let task = ledger.task(id)?;
    let (task_file, return_file) = match &task {
        Some(t) => (task_body(app, t), return_body(app, t)),
        None => (None, None),
    };
    let events = ledger.events(id)?;
    let logs = ledger.logs(id)?;
    let observed: Vec<Value> = db(ledger.stats().observed_of(id, 100))?
        .into_iter()
        .map(|(o, seen_at)| {
            json!({
                "agent": o.agent, "file_name": o.file_name, "kind": o.kind, "id": o.id, "in_reply_to": o.in_reply_to,
                "from": o.sender, "to": o.recipient, "title": o.title, "created_at": o.created_at, "seen_at": seen_at,
            })
        })
        .collect();
    // A TASK between agents: the ledger has no row for it, its file and RETURN are in the
    // agents' folders.
    let between = if task.is_none() { crate::between::find(app, ledger, id) } else { None };
    if task.is_none() && events.is_empty() && observed.is_empty() && between.is_none() {
        return Ok(None);
    }
    let (task_file, return_file) = match &between {
        Some(b) => (Some(b.task.clone()), b.ret.clone()),
        None => (task_file, return_file),
    };
    let failed = task
        .as_ref()
        .is_some_and(|t| matches!(t.state, baton_ledger::TaskState::Failed | baton_ledger::TaskState::Rejected));
    // Refused for what it is (`unknown_action`, `invalid_params`, ...): a retry is offered only
    // as an edit (`baton retry` refuses it unchanged too).
    let edit_to_retry =
        task.as_ref().and_then(|t| t.error_code.clone()).filter(|c| failed && baton_handoff::codes::fails_unchanged(c));
    let retryable = failed && edit_to_retry.is_none();
    Ok(Some(json!({
        "id": id, "task": task, "events": events, "logs": logs, "observed": observed, "retryable": retryable,
        "edit_to_retry": edit_to_retry, "between": between.as_ref().map(crate::between::Between::to_json),
        "params": task_file.as_ref().map(|(_, v)| v["params"].clone()),
        "task_file": task_file.as_ref().map(|(p, _)| p.display().to_string()),
        "return": return_file.map(|(p, v)| json!({
            "file": p.display().to_string(), "status": v["status"], "summary": v["summary"], "result": v["result"],
            "artifacts": v["artifacts"], "error": v["error"], "attempts": v["attempts"], "finished_at": v["finished_at"],
        })),
    })))
}

/// The TASK as it was dropped (for its `params`): in baton's own folders, by its file name.
pub(crate) fn task_body(app: &App, t: &baton_ledger::TaskRow) -> Option<(PathBuf, Value)> {
    if t.file_name.contains('/') || t.file_name.starts_with('.') {
        return None;
    }
    crate::files::find_in_agent(app, &app.cfg.agent, &[t.file_name.as_str()], |v| v["id"] == t.id.as_str())
}

/// The RETURN that answered it (its `result`, summary and artifacts): in the reply-to
/// agent's folders, where the agent may have filed it since.
pub(crate) fn return_body(app: &App, t: &baton_ledger::TaskRow) -> Option<(PathBuf, Value)> {
    let name = t.return_name.as_deref()?;
    if name.contains('/') || t.reply_to.contains('/') || t.reply_to.starts_with('.') {
        return None;
    }
    crate::files::find_in_agent(app, &t.reply_to, &[name], |v| v["in_reply_to"] == t.id.as_str())
}

/// Installed plugins: version, WIT world, budgets, health and pause; refused files too.
pub(crate) fn plugins(app: &App, ledger: &Ledger) -> Res<Value> {
    let now = baton_handoff::stamp::now();
    let mut names: Vec<String> = baton_home::plugins::installed_files(&app.paths)
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect();
    if let Some(rt) = &app.runtime {
        names.extend(rt.names());
    }
    names.sort();
    names.dedup();
    let refusals = ledger.refusals()?;
    let mut out = Vec::new();
    for name in names {
        let loaded = app.runtime.as_ref().and_then(|rt| rt.get(&name));
        let budget = app.cfg.task_budget(&name);
        let health = Health::parse(ledger.health_get(&name)?.as_deref());
        let pause = health.pause(now);
        out.push(json!({
            "name": name,
            "loaded": loaded.is_some(),
            "version": loaded.as_ref().map(|p| p.info.version.clone()),
            "wit": loaded.as_ref().map(|p| format!("baton:plugin@{}", p.world)),
            "description": loaded.as_ref().map(|p| p.info.description.clone()),
            "actions": loaded.as_ref().map(|p| p.info.actions.iter().map(|a| a.name.clone()).collect::<Vec<_>>()).unwrap_or_default(),
            "budget": {
                "time_ms": budget.time.as_millis() as u64,
                "memory_mb": budget.memory_bytes >> 20,
                "output_kb": budget.output_bytes >> 10,
            },
            "health": {
                "consecutive_failures": health.consecutive_failures,
                "last_error": health.last_error,
            },
            "paused": pause.is_some(),
            "pause": pause,
            "refused": refusals.iter().find(|r| r.name == name).map(|r| json!({"reason": r.reason, "at": r.at})),
        }));
    }
    Ok(json!({"plugins": out}))
}

/// The audit plugin's reports folder.
fn reports_dir(app: &App) -> PathBuf {
    app.cfg
        .grants(&app.paths.home, baton_pipeline::audit::PLUGIN)
        .into_iter()
        .find(|g| g.name == "reports")
        .map_or_else(|| app.paths.home.join("reports"), |g| g.host_path)
}

/// How many past reports "completion over time" shows.
const HISTORY: usize = 60;

fn summarize(app: &App, path: &Path, with_detail: bool) -> Option<AuditSummary> {
    let bytes = std::fs::read(path).ok()?;
    let mut r = app.facts.audit_report(&bytes, with_detail)?;
    if let Some(Value::Object(d)) = &mut r.detail {
        d.insert("file".into(), json!(path.display().to_string()));
    }
    Some(r)
}

/// How many report files are read to find the plans sets and their histories.
const SCAN: usize = 4 * HISTORY;

/// A plans set's key: its plans folders, one per line.
fn set_key(dirs: &[String]) -> String {
    dirs.join("\n")
}

/// The plans folders `serve` audits (the audit plugin's `plans` grants), as host paths.
fn own_plans(app: &App) -> Vec<String> {
    let mut dirs: Vec<String> = app
        .cfg
        .grants(&app.paths.home, baton_pipeline::audit::PLUGIN)
        .into_iter()
        .filter(|g| g.name == "plans")
        .map(|g| g.host_path.display().to_string())
        .collect();
    dirs.sort();
    dirs
}

/// The audit reports, per plans set: a `baton audit` of other folders writes into the same
/// reports folder, and its reports must not interleave with serve's own history. `set` picks
/// one (its key, as listed in `sets`); by default serve's own plans set, else the newest. For
/// that set: the latest report's summary, false claims and plans, and completion over time.
pub(crate) fn audits(app: &App, set: Option<&str>) -> Res<Value> {
    let dir = reports_dir(app);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("PLANS_AUDIT_REPORT_") && n.ends_with(".json"))
        })
        .collect();
    files.sort_by_key(|p| audit_key(p));
    let recent: Vec<PathBuf> = files.iter().rev().take(SCAN).rev().cloned().collect();
    let mut caches = app.caches.locked();
    caches.reports.retain(|p, _| recent.contains(p));
    let mut all: Vec<(PathBuf, AuditSummary)> = Vec::new();
    for p in &recent {
        let cached = caches.reports.get(p).cloned();
        let Some(s) = cached.or_else(|| summarize(app, p, false)) else { continue };
        caches.reports.entry(p.clone()).or_insert_with(|| s.clone());
        all.push((p.clone(), s));
    }
    // The sets, newest report first.
    let mut sets: Vec<(String, Vec<String>, usize, String)> = Vec::new();
    for (_, s) in all.iter().rev() {
        let key = set_key(&s.plans_dirs);
        match sets.iter_mut().find(|x| x.0 == key) {
            Some(x) => x.2 += 1,
            None => sets.push((key, s.plans_dirs.clone(), 1, s.generated_at.clone())),
        }
    }
    let own = set_key(&own_plans(app));
    let chosen = set
        .filter(|k| sets.iter().any(|x| x.0 == *k))
        .map(str::to_string)
        .or_else(|| sets.iter().find(|x| x.0 == own).map(|x| x.0.clone()))
        .or_else(|| sets.first().map(|x| x.0.clone()));
    let mine: Vec<&(PathBuf, AuditSummary)> =
        all.iter().filter(|(_, s)| Some(set_key(&s.plans_dirs)) == chosen).collect();
    let mine: Vec<&(PathBuf, AuditSummary)> = mine.iter().rev().take(HISTORY).rev().copied().collect();
    let point = |s: &AuditSummary| {
        json!({"generated_at": s.generated_at, "present": s.present, "expected": s.expected,
               "completion": if s.expected == 0 { 0.0 } else { s.present as f64 / s.expected as f64 },
               "false_claims": s.false_claims, "gaps": s.gaps})
    };
    let latest = match mine.last() {
        Some((p, s)) => {
            let detailed = match s.detail.clone() {
                Some(d) => Some(d),
                None => summarize(app, p, true).and_then(|d| {
                    let detail = d.detail.clone();
                    caches.reports.insert(p.clone(), d);
                    detail
                }),
            };
            let mut v = point(s);
            if let (Some(o), Some(Value::Object(d))) = (v.as_object_mut(), detailed) {
                o.extend(d);
                o.insert("plans_dirs".into(), json!(s.plans_dirs));
            }
            Some(v)
        }
        None => None,
    };
    Ok(json!({
        "reports_dir": dir.display().to_string(),
        "set": chosen,
        "own_set": own,
        "sets": sets.iter().map(|(k, d, n, at)| json!({"key": k, "plans_dirs": d, "reports": n, "last_at": at, "own": *k == own})).collect::<Vec<_>>(),
        "latest": latest,
        "history": mine.iter().map(|(_, s)| point(s)).collect::<Vec<_>>(),
        "running": app.audit_running.load(std::sync::atomic::Ordering::Relaxed),
    }))
}

/// Report files sort by their time stamp, then their `_N` suffix.
fn audit_key(p: &Path) -> (String, u32) {
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let rest = stem.trim_start_matches("PLANS_AUDIT_REPORT_");
    let (ts, n) = if rest.len() > 15 { rest.split_at(15) } else { (rest, "") };
    (ts.to_string(), n.trim_start_matches('_').parse().unwrap_or(1))
}

/// The latest report's false claims, for `/metrics` (None: no report).
pub(crate) fn latest_false_claims(app: &App) -> Option<u64> {
    audits(app, None).ok()?["latest"]["false_claims"].as_array().map(|a| a.len() as u64)
}

/// Fingerprint coverage against `threshold`, duplicate groups and catalog counts (see
/// [`crate::Facts::library`]).
pub(crate) fn library(app: &App, threshold: f64) -> Res<Value> {
    app.facts.library(&app.location, &app.paths.state, threshold)
}

/// Whether an id names anything the ledger knows (for a clear 404).
pub(crate) fn task_exists(ledger: &Ledger, id: &str) -> Res<bool> {
    db(ledger.task(id)).map(|t| t.is_some())
}
