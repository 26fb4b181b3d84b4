//! `baton status`: queue depth, recent executions, the agents and their open handoffs,
//! other tools' mailboxes, paused plugins; every file baton could not read is counted and named.
use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use baton_home::{Config, Paths};

use crate::Ctx;
use crate::text::esc;

/// Whether another process holds an exclusive `flock` on `file` (tested with a shared,
/// non-blocking lock, released at once).
fn locked(file: &Path) -> bool {
    use rustix::fs::{FlockOperation, flock};
    let Ok(f) = std::fs::File::open(file) else { return false };
    match flock(&f, FlockOperation::NonBlockingLockShared) {
        Ok(()) => {
            let _ = flock(&f, FlockOperation::Unlock);
            false
        }
        Err(_) => true,
    }
}

/// TASKs in `inbox` for each of `plugins` (paused by hand: the pipeline leaves them there).
fn held_for(inbox: &Path, plugins: &[String]) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    if plugins.is_empty() {
        return out;
    }
    for e in std::fs::read_dir(inbox).into_iter().flatten().flatten() {
        let Ok(bytes) = std::fs::read(e.path()) else { continue };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else { continue };
        if let Some(p) = v.get("plugin").and_then(Value::as_str).filter(|p| plugins.iter().any(|q| q == p)) {
            *out.entry(p.to_string()).or_insert(0) += 1;
        }
    }
    out
}

/// The names of the candidate handoffs waiting in baton's inbox, and how many claims are in
/// progress.
fn queue(paths: &Paths, cfg: &Config) -> (Vec<std::ffi::OsString>, usize) {
    let count = |dir: &Path, pred: &dyn Fn(&std::fs::DirEntry) -> bool| {
        std::fs::read_dir(dir).map(|d| d.flatten().filter(|e| pred(e)).count()).unwrap_or(0)
    };
    use std::os::unix::ffi::OsStrExt;
    let waiting = std::fs::read_dir(paths.inbox(&cfg.agent))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| baton_handoff::names::classify(n.as_bytes()) != baton_handoff::names::Entry::Ignored)
        .collect();
    let claims_root = paths.agent(&cfg.agent).join(".claims");
    // Claim files are `<claim id>~<name>`; a long name's `<claim id>.name` beside it is not one.
    let claimed = std::fs::read_dir(&claims_root)
        .map(|d| {
            d.flatten()
                .filter(|e| e.path().is_dir())
                .map(|e| count(&e.path(), &|c| c.file_name().as_bytes().contains(&b'~')))
                .sum()
        })
        .unwrap_or(0);
    (waiting, claimed)
}

/// Everything `baton status` reports, gathered once and then printed as JSON or text.
struct Report {
    /// The shared ledger's server and hosts (PostgreSQL), else `None` (SQLite).
    shared: Option<Value>,
    waiting: usize,
    /// Of those waiting, the files another host claimed or filed (PostgreSQL).
    elsewhere: Vec<Value>,
    claimed: usize,
    counts: Vec<(String, u64)>,
    /// TASKs that asked back and wait for an answer, each with its open request.
    asking: Vec<(baton_ledger::TaskRow, baton_pipeline::asking::Request)>,
    recent: Vec<baton_ledger::TaskRow>,
    open: Vec<baton_ledger::Observed>,
    paused: Vec<Value>,
    held: std::collections::BTreeMap<String, usize>,
    /// The live `serve` of this home, if any, and whether one holds `serve.lock` (PostgreSQL).
    serving: Option<baton_pipeline::claims::Owner>,
    pg_serving: bool,
    serve_json: Value,
    /// Claims left by stopped processes.
    stopped: Vec<Value>,
    held_by_stopped: usize,
    refused: Vec<baton_ledger::Refusal>,
    tree: baton_home::tree::Report,
    rejected: Value,
    ignored: Vec<Value>,
    mailboxes: Vec<baton_mailbox::report::Mailbox>,
    /// Deliveries noticed, not seen, while their recipients' transcripts moved on; and why
    /// receipts stop at `noticed`, if they do.
    unseen: (Vec<Value>, Option<String>),
    unmatched: Vec<baton_mailbox::detect::Unmatched>,
    state_dir: std::path::PathBuf,
    inbox: std::path::PathBuf,
}

/// `baton status [--json]`. Exit 1: the shared ledger does not answer.
/// `limit`: the most items each list shows (`None`: every one; JSON keeps every item unless one
/// is given).
pub fn status(ctx: &Ctx, as_json: bool, limit: Option<usize>) -> Result<i32> {
    crate::home_check::require(&ctx.home)?;
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    let mut ledger = match open_ledger(ctx)? {
        Ok(l) => l,
        // A shared ledger that does not answer: said plainly, and the exit status says so.
        Err(e) => {
            if as_json {
                let out = json!({"ledger": {"backend": "postgres", "server": ctx.location.shown(), "reachable": false, "error": e.to_string()}});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("ledger: {} UNAVAILABLE: claiming is paused until it answers ({e})", ctx.location.shown());
            }
            return Ok(1);
        }
    };
    let r = gather(ctx, &cfg, &paths, &mut ledger)?;
    if as_json {
        let mut out = r.json(ctx, cfg.handoffs.stale_after);
        if let Some(n) = limit {
            for list in ["open_handoffs", "unseen", "recent"] {
                if let Some(items) = out[list].as_array_mut() {
                    items.truncate(n);
                }
            }
            out["limit"] = json!(n);
        }
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        r.print(ctx, cfg.handoffs.stale_after, limit);
    }
    // The process ends here: a hundred thousand entries are not freed one by one first.
    std::mem::forget(r);
    Ok(0)
}

/// The ledger, read-only in spirit: a command that reads never creates a state. A missing one
/// that this home served from is gone, and said so; one never made yet reads as empty, from
/// memory. `Err` inside: a shared ledger that does not answer now.
fn open_ledger(ctx: &Ctx) -> Result<Result<baton_ledger::Ledger, baton_ledger::LedgerError>> {
    let missing = match &ctx.location {
        baton_ledger::Location::Sqlite(path) => {
            std::fs::symlink_metadata(path).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        }
        _ => false,
    };
    if missing && baton_ledger::guard::marker_path(&ctx.home, &ctx.state).exists() {
        anyhow::bail!(
            "no state at {}: this home served from it before, and `baton status` reads the state and never creates \
             one. Put the file back (with its -wal file); `baton serve` says what it finds there",
            ctx.state.display()
        );
    }
    let opened = if missing {
        // Nothing is created where the state belongs: an empty one in memory answers.
        baton_home::state::connect(&baton_ledger::Location::Sqlite(":memory:".into()))
    } else {
        ctx.connect()
    };
    match opened {
        Ok(l) => Ok(Ok(l)),
        Err(e) if e.is_transient() => Ok(Err(e)),
        Err(e) => Err(e.into()),
    }
}

/// On PostgreSQL the claims are rows (nothing in `.claims/`): the server and its hosts, the
/// claim rows held in all, and this machine's (its host id in `<state dir>/host-id`).
fn shared_claims(
    ledger: &mut baton_ledger::Ledger,
    state_dir: &Path,
) -> Result<(Option<Value>, Option<usize>, Option<(String, usize)>)> {
    let Some(pg) = ledger.postgres() else { return Ok((None, None, None)) };
    let hosts = pg.hosts().unwrap_or_default();
    let held = pg.claims_in_progress()?;
    let of = |h: &str| held.iter().find(|(o, _)| o == h).map_or(0, |(_, n)| *n);
    let held_rows = held.iter().map(|(_, n)| *n as usize).sum::<usize>();
    let own = std::fs::read_to_string(state_dir.join("host-id"))
        .ok()
        .map(|host| (host.trim().to_string(), of(host.trim()) as usize));
    let shared = json!({
        "backend": "postgres", "server": pg.server(), "reachable": true,
        "hosts": hosts.iter().map(|(h, age)| json!({"host": h, "heartbeat_age_secs": age, "in_progress": of(h)})).collect::<Vec<_>>(),
    });
    Ok((Some(shared), Some(held_rows), own))
}

/// On PostgreSQL, of the inbox's `waiting` files, those another host claimed (running there)
/// or filed (the sync service has yet to move them here): not this host's to run. A copy
/// another host filed is filed here, unrun, [`baton_pipeline::STRAY_LEASES`] leases
/// after.
fn left_for_others(
    ledger: &mut baton_ledger::Ledger,
    waiting: &[std::ffi::OsString],
    own_host: Option<&str>,
) -> Result<Vec<Value>> {
    let Some(pg) = ledger.postgres() else { return Ok(Vec::new()) };
    let names: Vec<String> = waiting.iter().filter_map(|n| n.to_str().map(str::to_string)).collect();
    Ok(pg
        .claims_of_files(&names)?
        .into_iter()
        .filter(|c| Some(c.owner.as_str()) != own_host)
        .map(|c| json!({"file": c.file_name, "host": c.owner, "filed_secs_ago": c.filed_secs}))
        .collect())
}

/// The installed plugins paused now (by hand, or after sandbox failures), with the TASKs held
/// in the inbox for those paused by hand (they wait there, unclaimed).
fn paused_plugins(
    ledger: &baton_ledger::Ledger,
    paths: &Paths,
    cfg: &Config,
) -> Result<(Vec<Value>, std::collections::BTreeMap<String, usize>)> {
    let now = baton_handoff::stamp::now();
    let mut paused = Vec::new();
    for p in baton_home::plugins::installed_files(paths) {
        let name = p.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        if let Some(h) = ledger.health_get(&name)? {
            let h = baton_home::health::Health::parse(Some(&h));
            if let Some(pause) = h.pause(now) {
                let (until, by_hand) = match pause {
                    baton_home::health::Pause::Failures { until } => (Some(until), None),
                    baton_home::health::Pause::Hand { since } => (None, Some(since)),
                };
                paused.push(json!({"plugin": name, "until": until, "paused_by_hand": by_hand, "failures": h.consecutive_failures, "last_error": h.last_error}));
            }
        }
    }
    let by_hand: Vec<String> = paused
        .iter()
        .filter(|p| !p["paused_by_hand"].is_null())
        .filter_map(|p| p["plugin"].as_str().map(str::to_string))
        .collect();
    let held = held_for(&paths.inbox(&cfg.agent), &by_hand);
    for p in paused.iter_mut() {
        let n = p["plugin"].as_str().and_then(|n| held.get(n)).copied().unwrap_or(0);
        p["held"] = json!(n);
    }
    Ok((paused, held))
}

fn gather(ctx: &Ctx, cfg: &Config, paths: &Paths, ledger: &mut baton_ledger::Ledger) -> Result<Report> {
    let state_dir = paths.state.parent().unwrap_or(Path::new(".")).to_path_buf();
    let (shared, held_rows, own_rows) = shared_claims(ledger, &state_dir)?;
    let (waiting, claimed) = queue(paths, cfg);
    let own_host = own_rows.as_ref().map(|(h, _)| h.clone());
    let elsewhere = left_for_others(ledger, &waiting, own_host.as_deref())?;
    let (paused, held) = paused_plugins(ledger, paths, cfg)?;
    // Which processes claim from this inbox: a running `serve`, and claims left by stopped ones.
    let owners = baton_pipeline::claims::owners(&paths.agent(&cfg.agent));
    let serving = owners.iter().find(|o| o.alive && o.is_serve()).cloned();
    // On PostgreSQL nothing is renamed into `.claims/`: this machine's claiming process holds
    // `<state dir>/serve.lock` instead.
    let pg_serving = shared.is_some() && locked(&state_dir.join("serve.lock"));
    let mut stopped: Vec<Value> = owners.iter().filter(|o| !o.alive && o.claims > 0).map(|o| json!(o)).collect();
    if let Some((host, n)) = own_rows.filter(|(_, n)| *n > 0 && !pg_serving) {
        stopped.push(json!({"host": host, "claims": n}));
    }
    let held_by_stopped = stopped.iter().map(|o| o["claims"].as_u64().unwrap_or(0) as usize).sum();
    let serve_json = json!({
        "running": serving.is_some() || pg_serving,
        "processes": owners.iter().filter(|o| o.alive).collect::<Vec<_>>(),
        "stopped": stopped,
    });
    // Installed files the host refused to load (identity, reserved name, …), still installed.
    let refused = ledger.refusals()?.into_iter().filter(|r| Path::new(&r.file).is_file()).collect();
    // Other agents' mailboxes: read, their new messages recorded in the ledger.
    let boxes = crate::mailboxes::configured(cfg)?;
    let mut mailboxes = crate::mailboxes::observe(ctx, ledger, &boxes)?;
    baton_mailbox::record::record_tasks(&ctx.home, ledger, &boxes)?;
    let unseen = crate::mailboxes::unseen(ctx, ledger, cfg, &boxes)?;
    // After the receipts' look above, so a message seen just now is counted.
    baton_mailbox::record::count_seen(ledger, &mut mailboxes)?;
    Ok(Report {
        shared,
        waiting: waiting.len(),
        elsewhere,
        claimed: held_rows.unwrap_or(claimed),
        counts: ledger.counts()?,
        asking: baton_pipeline::asking::waiting_for(ledger, None)?,
        recent: ledger.recent(20)?,
        open: ledger.open_handoffs()?,
        paused,
        held,
        serving,
        pg_serving,
        serve_json,
        stopped,
        held_by_stopped,
        refused,
        tree: crate::tracking::scan(paths, cfg),
        rejected: crate::tracking::rejections(paths, cfg),
        ignored: crate::tracking::ignored_in_inbox(paths, cfg),
        mailboxes,
        unseen,
        unmatched: baton_mailbox::detect::unmatched_in(&paths.handoffs, &ctx.home, &boxes),
        state_dir,
        inbox: paths.inbox(&cfg.agent),
    })
}

impl Report {
    fn json(&self, ctx: &Ctx, stale_after: std::time::Duration) -> Value {
        let stamp = baton_handoff::stamp::now();
        let age = |ts: &str| baton_handoff::stamp::parse_rfc3339(ts).map(|t| (stamp - t).whole_seconds()).unwrap_or(0);
        json!({
            // The dashboard's agents table is the same function of the same reading.
            "agents": baton_dashboard::agents::table(&self.tree, &self.mailboxes, stale_after),
            "mailboxes": self.mailboxes.iter().map(baton_mailbox::report::Mailbox::to_json).collect::<Vec<_>>(),
            "unmatched": crate::mailboxes::unmatched_json(&self.unmatched),
            "unread_returns": baton_mailbox::report::unread_returns(&self.mailboxes, stale_after),
            "unseen": self.unseen.0, "receipts_note": self.unseen.1,
            "ambiguous": self.tree.ambiguous.iter().map(|(n, f)| json!({"name": n, "folders": f})).collect::<Vec<_>>(),
            "handoffs": {"root": self.tree.root, "stale_after_secs": self.tree.stale_after.as_secs(), "totals": self.tree.totals()},
            "rejections": self.rejected,
            "queue": {
                "waiting": self.waiting, "left_for_other_hosts": self.elsewhere,
                "in_progress": self.claimed, "ignored": self.ignored,
                "held_by_stopped": self.held_by_stopped, "held_paused": self.held,
            },
            "serve": self.serve_json,
            "refused_plugins": self.refused,
            "counts": self.counts.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "input_required": self.asking.iter().map(|(t, r)| json!({
                "id": t.id, "title": t.title, "plugin": t.plugin, "request_id": r.request_id, "message": r.message,
                "to": r.to, "asked_at": r.asked_at, "expires_at": r.expires_at,
            })).collect::<Vec<_>>(),
            "recent": self.recent,
            "open_handoffs": self.open.iter().map(|o| json!({
                "id": o.id, "from": o.sender, "to": o.recipient, "title": o.title,
                "created_at": o.created_at, "age_secs": age(&o.created_at), "inbox": o.agent, "file": o.file_name,
            })).collect::<Vec<_>>(),
            "paused_plugins": self.paused,
            "ledger": self.shared.clone().unwrap_or_else(|| json!({"backend": "sqlite", "path": ctx.location.shown()})),
        })
    }

    fn print(&self, ctx: &Ctx, stale_after: std::time::Duration, limit: Option<usize>) {
        self.print_serving(ctx);
        self.print_plugins();
        if !self.asking.is_empty() {
            println!("\nwaiting for input (`baton answer ID --input JSON`):");
            for (t, r) in &self.asking {
                println!("  {:<28} `{}` asks {}: {}", esc(&t.id), esc(&r.request_id), esc(&r.to), esc(&r.message));
            }
        }
        if !self.recent.is_empty() {
            println!("\nrecent executions:");
            println!("  {:<28} {:<10} {:>9}  {:<18} title", "id", "state", "ms", "error");
            for r in &self.recent {
                println!(
                    "  {:<28} {:<10} {:>9.1}  {:<18} {}",
                    esc(&r.id),
                    r.state,
                    r.duration_ms.unwrap_or(0.0),
                    r.error_code.as_deref().unwrap_or("-"),
                    esc(&r.title)
                );
            }
        }
        println!("\n{}", crate::tracking::status_text(&self.tree, &self.rejected, limit));
        if !self.mailboxes.is_empty() {
            print!("{}", crate::mailboxes::text(&self.mailboxes, stale_after));
            print!(
                "{}",
                crate::mailboxes::unread_returns_text(&baton_mailbox::report::unread_returns(
                    &self.mailboxes,
                    stale_after
                ))
            );
        }
        for u in self.unseen.0.iter().take(limit.unwrap_or(usize::MAX)) {
            println!(
                "  UNSEEN  {} to {} (delivered {}): noticed, and its transcript moved on without it",
                u["id"], u["agent"], u["delivered_at"]
            );
        }
        if let Some(note) = &self.unseen.1 {
            println!("  {note}");
        }
        print!("{}", crate::mailboxes::unmatched_text(&self.unmatched));
    }

    /// The ledger's server, whether `serve` runs, the queue and the claims stopped processes hold.
    fn print_serving(&self, ctx: &Ctx) {
        if let Some(l) = &self.shared {
            let hosts: Vec<String> = l["hosts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|h| {
                    format!(
                        "{} (heartbeat {:.0}s ago, {} in progress)",
                        h["host"].as_str().unwrap_or("?"),
                        h["heartbeat_age_secs"].as_f64().unwrap_or(0.0),
                        h["in_progress"].as_u64().unwrap_or(0)
                    )
                })
                .collect();
            println!(
                "ledger: {} (PostgreSQL, reachable); hosts: {}",
                ctx.location.shown(),
                if hosts.is_empty() { "none yet".into() } else { hosts.join(", ") }
            );
        }
        match &self.serving {
            None if self.pg_serving => {
                println!("serve: running on this machine (it holds {})", self.state_dir.join("serve.lock").display())
            }
            Some(o) => println!(
                "serve: running (pid {}{}){}",
                o.pid.map_or("?".into(), |p| p.to_string()),
                o.started_at.as_deref().map(|t| format!(", since {t}")).unwrap_or_default(),
                if o.args.iter().any(|a| a == "--once") { ", draining once" } else { "" }
            ),
            None => println!(
                "serve: not running for this home; nothing is answered until `baton serve` runs (`baton service install` keeps it running)"
            ),
        }
        println!("queue: {} waiting in {}, {} in progress", self.waiting, self.inbox.display(), self.claimed);
        let filed = self.elsewhere.iter().filter(|c| !c["filed_secs_ago"].is_null()).count();
        if filed > 0 {
            println!(
                "  {filed} of them filed by another host already, waiting for the sync service to move them here (filed here, unrun, {} leases after)",
                baton_pipeline::STRAY_LEASES
            );
        }
        if self.elsewhere.len() > filed {
            println!("  {} of them claimed by another host and running there", self.elsewhere.len() - filed);
        }
        for o in &self.stopped {
            let who = match (o["pid"].as_u64(), o["instance"].as_str(), o["host"].as_str()) {
                (Some(pid), Some(instance), _) => format!("pid {pid}, {instance}"),
                (_, _, Some(host)) => format!("this machine's, host {host}"),
                _ => "?".into(),
            };
            println!(
                "  {} claim(s) held by a stopped process ({who}): the next `baton serve` takes them over and runs them",
                o["claims"]
            );
        }
        for i in &self.ignored {
            println!(
                "  IGNORED {}: {}",
                esc(i["file"].as_str().unwrap_or("?")),
                esc(i["reason"].as_str().unwrap_or(""))
            );
        }
    }

    /// The task counts, and the plugins paused or refused.
    fn print_plugins(&self) {
        let counts: Vec<String> = self.counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!("tasks: {}", if counts.is_empty() { "none yet".into() } else { counts.join(", ") });
        for p in &self.paused {
            match p["paused_by_hand"].as_str() {
                Some(since) => println!(
                    "PAUSED plugin {} by hand since {since}; {} TASK(s) held in the inbox until `baton plugin resume` lifts it",
                    p["plugin"], p["held"]
                ),
                None => println!(
                    "PAUSED plugin {} until {} after {} sandbox failures: {}",
                    p["plugin"],
                    p["until"],
                    p["failures"],
                    esc(&p["last_error"].to_string())
                ),
            }
        }
        for r in &self.refused {
            println!("REFUSED plugin {} ({}) since {}: {}", esc(&r.name), esc(&r.file), r.at, esc(&r.reason));
        }
    }
}
