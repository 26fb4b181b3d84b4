//! The handoff commands: `serve`, `run`, `status`, `show` (`retry` is in `retry.rs`).
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use baton_pipeline::{Config, Paths, watch};

use crate::Ctx;
use crate::text::esc;

/// Blocking-pool threads: a file operation a timed-out task left blocked keeps its thread, so
/// their number is capped (further blocking work queues instead of spawning threads).
const MAX_BLOCKING_THREADS: usize = 64;
/// On exit, threads still blocked (abandoned by timed-out tasks) are not waited for longer.
pub(crate) const SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

pub fn serve(ctx: &Ctx, once: bool, http: Option<String>, new_state: bool) -> Result<i32> {
    crate::home_check::require(&ctx.home)?;
    // A missing, empty or replaced state is never taken silently for a new one.
    let checked = baton_ledger::guard::check(&ctx.home, &ctx.location, new_state)?;
    if checked == baton_ledger::guard::Checked::Replaced {
        tracing::warn!(state = %ctx.state.display(), "--new-state: serving from a new state; the home records it from now on")
    }
    if new_state {
        baton_pipeline::losses::accept(&ctx.home, &ctx.location)
            .with_context(|| format!("recording that the state {} is taken as it is", ctx.state.display()))?;
    }
    // The same state, but without rows it had (its -wal deleted while serving): a TASK
    // answered then would run again. Stop with the reason (docs/faults.md).
    let served_before = baton_pipeline::losses::served_from_before(&ctx.home, &ctx.location)
        .with_context(|| format!("recording in {} which state serve runs from", ctx.home.display()))?;
    if checked == baton_ledger::guard::Checked::Same
        && !new_state
        && served_before
        && let Some(lost) = baton_pipeline::losses::check_home(&ctx.home, &ctx.location)?
    {
        anyhow::bail!(
            "the state {} has lost records: {} was answered and filed, but the state has no record of TASK `{}` \
             (its -wal file was probably deleted while serve ran). Serving on would run answered TASKs again if they \
             were dropped again. Put the -wal file back if you have it; to go on with this state as it is, on purpose, \
             run `baton serve --new-state` once",
            ctx.state.display(),
            lost.file.display(),
            lost.id
        );
    }
    // Replies an agent's `baton reply` was killed in the middle of (see agents::reply).
    if let Ok(tree) = crate::agents::Tree::open(ctx) {
        crate::agents::reply::repair_all(&tree.root);
    }
    let rt = runtime()?;
    let served = rt.block_on(async {
        // Register before anything slow, so a SIGTERM during start-up is a clean stop too.
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        // A pass held in a call to a silent PostgreSQL server is not polled for `shutdown`:
        // the signal also cuts such calls short, from a task of its own (docs/faults.md).
        let (mut term2, mut int2) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
        tokio::spawn(async move {
            tokio::select! {
                _ = term2.recv() => {}
                _ = int2.recv() => {}
            }
            baton_ledger::postgres::interrupt();
        });
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        };
        tokio::pin!(shutdown);
        let mut pipeline = tokio::select! {
            _ = &mut shutdown => return Ok(0),
            // A drain loads only the plugins its TASKs name; the daemon loads all and hot-reloads.
            p = async {
                if once {
                    baton_pipeline::open_on_demand_at(&ctx.home, &ctx.location, &crate::services::Music).await
                } else {
                    baton_pipeline::open_at(&ctx.home, &ctx.location, &crate::services::Music).await
                }
            } => p?,
        };
        // Alerts: evaluated every few seconds by `serve`, once after a drain.
        let rules: baton_stats::alerts::AlertsConfig =
            crate::services::section(pipeline.config(), crate::services::ALERTS)?;
        let alerts = if once {
            None
        } else {
            crate::alerts::spawn_alerts(
                pipeline.paths().clone(),
                pipeline.config().clone(),
                ctx.location.clone(),
                rules.clone(),
            )
        };
        // Mailboxes of other tools: their messages recorded as they come (a drain reads none).
        let _mailboxes = if once { None } else { crate::mailbox::spawn_observer(ctx.clone()) };
        // The dashboard runs beside the pipeline on this runtime, for as long as serve does.
        let http = http.or_else(|| pipeline.config().dashboard.http.clone()).filter(|_| !once);
        let liveness = std::sync::Arc::new(watch::Liveness::default());
        let _dashboard = match http {
            Some(addr) => {
                let dctx = baton_dashboard::Context {
                    cfg: pipeline.config().clone(),
                    paths: pipeline.paths().clone(),
                    location: ctx.location.clone(),
                    runtime: Some(pipeline.runtime().clone()),
                    auditor: Some(pipeline.auditor()),
                    liveness: Some(liveness.clone()),
                    extra: Some(crate::a2a::routes(
                        ctx,
                        pipeline.config(),
                        pipeline.paths(),
                        Some(pipeline.runtime().clone()),
                    )?),
                    facts: std::sync::Arc::new(crate::services::DashboardFacts::default()),
                };
                baton_dashboard::start(&addr, dctx).await?
            }
            None => None,
        };
        if once {
            let drained = tokio::select! {
                _ = &mut shutdown => None,
                r = watch::once(&mut pipeline) => Some(r),
            };
            match drained {
                Some(r) => r?,
                None => {
                    pipeline.stopped();
                    crate::stderr::line(
                        "WARN",
                        "stopped by a signal before the drain finished; what is left runs next time",
                        serde_json::Value::Null,
                    );
                    return Ok(0);
                }
            }
            let s = &pipeline.summary;
            crate::stderr::line(
                "INFO",
                &format!(
                    "drained: {} completed, {} failed, {} rejected, {} duplicates, {} replies filed",
                    s.completed, s.failed, s.rejected, s.duplicates, s.returns_filed
                ),
                serde_json::json!({"completed": s.completed, "failed": s.failed, "rejected": s.rejected,
                                   "duplicates": s.duplicates, "replies_filed": s.returns_filed}),
            );
            if rules.enabled {
                let mut alerting = crate::alerts::Alerting::new(
                    pipeline.paths().clone(),
                    pipeline.config().clone(),
                    ctx.location.clone(),
                    rules,
                );
                if let Err(e) = tokio::task::spawn_blocking(move || alerting.evaluate()).await? {
                    crate::stderr::line("WARN", &format!("alerts: {e}"), serde_json::Value::Null);
                }
            }
        } else {
            watch::serve(&mut pipeline, &liveness, shutdown).await?;
        }
        if let Some(a) = alerts {
            a.abort();
        }
        Ok(0)
    });
    // Always exit (after SIGTERM, or a drain): never hang on a thread a task left blocked.
    quiet_abandoned_tasks();
    rt.shutdown_timeout(SHUTDOWN_TIMEOUT);
    served
}

/// From here on, a plugin task still running is abandoned (its claim stays and runs next
/// time, as after a crash). Its thread, blocked on the runtime that is shutting down, panics
/// with tokio's "context … is being shutdown" the next time its sandbox polls a timer: that
/// panic, with its backtrace, was printed for every task in flight on each SIGTERM although
/// nothing was wrong. Only that panic, only after this point, is kept off stderr (logged at
/// debug); any other panic is reported as before.
fn quiet_abandoned_tasks() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("");
        if message.contains("is being shutdown") {
            tracing::debug!("an abandoned task stopped with the runtime: {message}");
            return;
        }
        default(info)
    }));
}

pub fn run(ctx: &Ctx, file: &Path) -> Result<i32> {
    let rt = runtime()?;
    let r = rt.block_on(async {
        let mut pipeline = baton_pipeline::open_on_demand_at(&ctx.home, &ctx.location, &crate::services::Music).await?;
        let ret = pipeline.run_detached(file).await?;
        println!("{}", serde_json::to_string_pretty(&ret)?);
        Ok(if ret.status == baton_handoff::Status::Completed { 0 } else { 1 })
    });
    // Never wait for a thread a timed-out task left blocked in a file operation.
    rt.shutdown_timeout(SHUTDOWN_TIMEOUT);
    r
}

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

/// Candidate handoffs waiting in baton's inbox, and claims in progress.
fn queue(paths: &Paths, cfg: &Config) -> (usize, usize) {
    let count = |dir: &Path, pred: &dyn Fn(&std::fs::DirEntry) -> bool| {
        std::fs::read_dir(dir).map(|d| d.flatten().filter(|e| pred(e)).count()).unwrap_or(0)
    };
    use std::os::unix::ffi::OsStrExt;
    let waiting = count(&paths.inbox(&cfg.agent), &|e| {
        baton_handoff::names::classify(e.file_name().as_bytes()) != baton_handoff::names::Entry::Ignored
    });
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

pub fn status(ctx: &Ctx, as_json: bool) -> Result<i32> {
    crate::home_check::require(&ctx.home)?;
    let cfg = crate::services::load_config(&ctx.home)?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    // A read-only command never creates a state. A missing one that this home served from is
    // gone, and said so; one never made yet reads as empty, from memory.
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
        baton_ledger::Ledger::open(Path::new(":memory:"))
    } else {
        baton_ledger::Ledger::open_at(&ctx.location)
    };
    let mut ledger = match opened {
        Ok(l) => l,
        // A shared ledger that does not answer: said plainly, and the exit status says so.
        Err(e) if e.is_transient() => {
            if as_json {
                let out = json!({"ledger": {"backend": "postgres", "server": ctx.location.shown(), "reachable": false, "error": e.to_string()}});
                println!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                println!("ledger: {} UNAVAILABLE: claiming is paused until it answers ({e})", ctx.location.shown());
            }
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    // On PostgreSQL the claims are rows (nothing in `.claims/`): count those held, per host.
    let mut held_rows = None;
    // This machine's claims on a shared ledger: its host id (`<state dir>/host-id`) and the
    // claim rows it holds (held by a stopped process when no process holds `serve.lock`).
    let state_dir = paths.state.parent().unwrap_or(Path::new(".")).to_path_buf();
    let mut own_rows = None;
    let shared = match ledger.postgres() {
        Some(pg) => {
            let hosts = pg.hosts().unwrap_or_default();
            let held = pg.claims_in_progress()?;
            let of = |h: &str| held.iter().find(|(o, _)| o == h).map_or(0, |(_, n)| *n);
            held_rows = Some(held.iter().map(|(_, n)| *n as usize).sum::<usize>());
            if let Ok(host) = std::fs::read_to_string(state_dir.join("host-id")) {
                own_rows = Some((host.trim().to_string(), of(host.trim()) as usize));
            }
            Some(json!({
                "backend": "postgres", "server": pg.server(), "reachable": true,
                "hosts": hosts.iter().map(|(h, age)| json!({"host": h, "heartbeat_age_secs": age, "in_progress": of(h)})).collect::<Vec<_>>(),
            }))
        }
        None => None,
    };
    let (waiting, claimed) = queue(&paths, &cfg);
    let claimed = held_rows.unwrap_or(claimed);
    let counts = ledger.counts()?;
    let recent = ledger.recent(20)?;
    let open = ledger.open_handoffs()?;
    let now = baton_handoff::stamp::now();
    let age = |ts: &str| baton_handoff::stamp::parse_rfc3339(ts).map(|t| (now - t).whole_seconds()).unwrap_or(0);
    let mut paused = Vec::new();
    for p in baton_pipeline::plugins::installed_files(&paths) {
        let name = p.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        if let Some(h) = ledger.health_get(&name)? {
            let h = baton_pipeline::health::Health::parse(Some(&h));
            if let Some(pause) = h.pause(now) {
                let (until, by_hand) = match pause {
                    baton_pipeline::health::Pause::Failures { until } => (Some(until), None),
                    baton_pipeline::health::Pause::Hand { since } => (None, Some(since)),
                };
                paused.push(json!({"plugin": name, "until": until, "paused_by_hand": by_hand, "failures": h.consecutive_failures, "last_error": h.last_error}));
            }
        }
    }
    // TASKs held in the inbox for plugins paused by hand (they wait there, unclaimed).
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
    // Which processes claim from this inbox: a running `serve`, and claims left by stopped ones.
    let owners = baton_pipeline::claims::owners(&paths.agent(&cfg.agent));
    let serving: Vec<&baton_pipeline::claims::Owner> = owners.iter().filter(|o| o.alive && o.is_serve()).collect();
    let stopped: Vec<&baton_pipeline::claims::Owner> = owners.iter().filter(|o| !o.alive && o.claims > 0).collect();
    // On PostgreSQL nothing is renamed into `.claims/`: this machine's claiming process holds
    // `<state dir>/serve.lock` instead.
    let pg_serving = shared.is_some() && locked(&state_dir.join("serve.lock"));
    let mut stopped: Vec<Value> = stopped.iter().map(|o| json!(o)).collect();
    if let Some((host, n)) = own_rows.filter(|(_, n)| *n > 0 && !pg_serving) {
        stopped.push(json!({"host": host, "claims": n}));
    }
    let held_by_stopped: usize = stopped.iter().map(|o| o["claims"].as_u64().unwrap_or(0) as usize).sum();
    let serve_json = json!({
        "running": !serving.is_empty() || pg_serving,
        "processes": owners.iter().filter(|o| o.alive).collect::<Vec<_>>(),
        "stopped": stopped,
    });
    // Installed files the host refused to load (identity, reserved name, …), still installed.
    let refused: Vec<baton_ledger::Refusal> =
        ledger.refusals()?.into_iter().filter(|r| Path::new(&r.file).is_file()).collect();
    let tree = crate::tracking::scan(&paths, &cfg);
    let rejected = crate::tracking::rejections(&paths, &cfg);
    // Other agents' mailboxes: read, their new messages recorded in the ledger.
    let boxes = crate::mailbox::configured(&ctx.home)?;
    let mailboxes = crate::mailbox::observe(ctx, &mut ledger, &boxes)?;
    let unmatched = crate::mailbox::unmatched(&paths.handoffs, &ctx.home, &boxes);
    let stale_after = cfg.handoffs.stale_after;
    if as_json {
        let now = time::OffsetDateTime::now_utc();
        let mut agents = tree.agents_json();
        agents.extend(mailboxes.iter().flat_map(|m| m.agents.iter().map(|a| a.to_json(now, stale_after))));
        let out = json!({
            "agents": agents,
            "mailboxes": mailboxes.iter().map(baton_mailbox::report::Mailbox::to_json).collect::<Vec<_>>(),
            "unmatched": crate::mailbox::unmatched_json(&unmatched),
            "ambiguous": tree.ambiguous.iter().map(|(n, f)| json!({"name": n, "folders": f})).collect::<Vec<_>>(),
            "handoffs": {"root": tree.root, "stale_after_secs": tree.stale_after.as_secs(), "totals": tree.totals()},
            "rejections": rejected,
            "queue": {
                "waiting": waiting, "in_progress": claimed, "ignored": crate::tracking::ignored_in_inbox(&paths, &cfg),
                "held_by_stopped": held_by_stopped, "held_paused": held,
            },
            "serve": serve_json,
            "refused_plugins": refused,
            "counts": counts.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "recent": recent,
            "open_handoffs": open.iter().map(|o| json!({
                "id": o.id, "from": o.sender, "to": o.recipient, "title": o.title,
                "created_at": o.created_at, "age_secs": age(&o.created_at), "inbox": o.agent, "file": o.file_name,
            })).collect::<Vec<_>>(),
            "paused_plugins": paused,
            "ledger": shared.clone().unwrap_or_else(|| json!({"backend": "sqlite", "path": ctx.location.shown()})),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(0);
    }
    if let Some(l) = &shared {
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
    match serving.first() {
        None if pg_serving => {
            println!("serve: running on this machine (it holds {})", state_dir.join("serve.lock").display())
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
    println!("queue: {waiting} waiting in {}, {claimed} in progress", paths.inbox(&cfg.agent).display());
    for o in &stopped {
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
    for i in crate::tracking::ignored_in_inbox(&paths, &cfg) {
        println!("  IGNORED {}: {}", esc(i["file"].as_str().unwrap_or("?")), esc(i["reason"].as_str().unwrap_or("")));
    }
    let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("tasks: {}", if counts.is_empty() { "none yet".into() } else { counts.join(", ") });
    for p in &paused {
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
    for r in &refused {
        println!("REFUSED plugin {} ({}) since {}: {}", esc(&r.name), esc(&r.file), r.at, esc(&r.reason));
    }
    if !recent.is_empty() {
        println!("\nrecent executions:");
        println!("  {:<28} {:<10} {:>9}  {:<18} title", "id", "state", "ms", "error");
        for r in &recent {
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
    println!("\n{}", crate::tracking::status_text(&tree, &rejected));
    if !mailboxes.is_empty() {
        print!("{}", crate::mailbox::text(&mailboxes, stale_after));
    }
    print!("{}", crate::mailbox::unmatched_text(&unmatched));
    Ok(0)
}

/// `baton show ID`: what the ledger knows of a handoff (its row, history and plugin log) and
/// its body, for every id baton has seen: a TASK it ran, one agent sent another, a RETURN; a
/// file name finds a rejected or tracked file.
pub fn show(ctx: &Ctx, id: &str, as_json: bool) -> Result<i32> {
    let mut ledger = baton_ledger::Ledger::open_at(&ctx.location)?;
    // A message in a mailbox not seen yet: recorded now, so it is found below.
    if let Ok(boxes) = crate::mailbox::configured(&ctx.home) {
        crate::mailbox::observe(ctx, &mut ledger, &boxes)?;
    }
    let delivery = crate::mailbox::delivery(&mut ledger, id)?;
    let task = ledger.task(id)?;
    let events = ledger.events(id)?;
    let logs = ledger.logs(id)?;
    // The file itself, wherever it is now (an inbox, 02_processed/, 03_failed/): its body.
    let tree = crate::agents::Tree::open(ctx)?;
    let found = tree.find(id, None, &crate::agents::FOLDERS);
    if task.is_none() && events.is_empty() && found.is_none() {
        if let Some(code) = crate::tracking::show_file(ctx, id, as_json)? {
            return Ok(code);
        }
        bail!(
            "no handoff with id {id:?} in {} (ids are the `id` field of the JSON body), and no file of that name in 03_failed/ or an agent's folder",
            ctx.location.shown()
        );
    }
    let (file, body) = match &found {
        Some(f) => (Some(&f.path), Some(&f.body)),
        None => (None, None),
    };
    if as_json {
        let mut shown = json!({"task": task, "events": events, "logs": logs, "file": file, "body": body});
        if let Some(d) = delivery {
            shown["delivery"] = json!(d);
        }
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(0);
    }
    if let Some(d) = delivery {
        println!("{id}  delivery {d}");
    }
    if task.is_none()
        && let Some(f) = &found
    {
        let b = &f.body;
        let field = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        println!("{}  {:?}", field("id"), field("title"));
        println!(
            "  {} from {} to {}   in {}/{}",
            field("kind"),
            esc(&field("from")),
            esc(&field("to")),
            f.agent,
            f.folder
        );
    }
    if let Some(t) = &task {
        println!("{}  {:?}", t.id, t.title);
        println!(
            "  from {} → reply to {}   plugin {}/{}",
            esc(&t.sender),
            esc(&t.reply_to),
            esc(t.plugin.as_deref().unwrap_or("-")),
            esc(t.action.as_deref().unwrap_or("-"))
        );
        println!(
            "  state {}   attempts {}   {}",
            t.state,
            t.attempts,
            t.error_code.as_deref().map(|c| format!("error {c}")).unwrap_or_default()
        );
        if let Some(m) = &t.error_message {
            // A trap quotes the plugin's last stderr lines (a traceback): one line each.
            let mut lines = m.lines();
            println!("  error: {}", esc(lines.next().unwrap_or("")));
            for l in lines {
                println!("         {}", esc(l));
            }
        }
        if let Some(r) = &t.return_name {
            println!("  RETURN: {}", esc(r));
        }
    }
    println!("history:");
    for e in &events {
        let detail = if e.detail == Value::Object(Default::default()) { String::new() } else { e.detail.to_string() };
        println!("  {}  {:<16} {}", e.at, e.event, esc(&detail));
    }
    if !logs.is_empty() {
        println!("plugin log:");
        for l in &logs {
            println!("  {}  {:<8} {}", l.at, esc(&l.level), esc(&l.message));
        }
    }
    if let Some(f) = &found {
        println!("file: {}", esc(&f.path.to_string_lossy()));
        println!("body:");
        for line in serde_json::to_string_pretty(&f.body)?.lines() {
            println!("  {}", esc(line));
        }
    }
    Ok(0)
}
