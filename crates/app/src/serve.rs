//! `baton serve` and `baton run`: the commands that open the whole host (config, state,
//! runtime with every host interface, plugins) and hand it to the pipeline; `serve` also runs
//! the alert loop, the mailbox observer and the dashboard with its A2A routes beside it.
use std::path::Path;

use anyhow::{Context, Result};

use baton_cli::rt::{SHUTDOWN_TIMEOUT, runtime};
use baton_cli::{Ctx, stderr};
use baton_pipeline::{Loading, watch};
use baton_stats::alerts::AlertsConfig;

pub fn serve(ctx: &Ctx, once: bool, http: Option<String>, new_state: bool) -> Result<i32> {
    baton_cli::home_check::require(&ctx.home)?;
    check_state(ctx, new_state)?;
    // Replies an agent's `baton reply` was killed in the middle of (see agents::reply).
    if let Ok(tree) = baton_agents::Tree::open(ctx) {
        baton_agents::reply::repair_all(&tree);
    }
    let rt = runtime()?;
    let served = rt.block_on(async {
        let mut shutdown = std::pin::pin!(signals()?);
        let mut pipeline = tokio::select! {
            _ = &mut shutdown => return Ok(0),
            // A drain loads only the plugins its TASKs name; the daemon loads all and hot-reloads.
            p = crate::open::pipeline(ctx, if once { Loading::OnDemand } else { Loading::AtStart }) => p?,
        };
        // Alerts: evaluated every few seconds by `serve`, once after a drain.
        let rules: AlertsConfig = baton_cli::section(pipeline.config(), crate::wiring::ALERTS)?;
        if once {
            return drain(ctx, &mut pipeline, shutdown.as_mut(), rules).await;
        }
        pipeline.keep_spares();
        crate::memory::trim_every(crate::memory::PERIOD);
        let alerts = crate::alerts::spawn_alerts(
            pipeline.paths().clone(),
            pipeline.config().clone(),
            ctx.location.clone(),
            rules,
        );
        // Mailboxes of other tools: their messages recorded as they come (a drain reads none).
        let _mailboxes = baton_agents::mailbox::spawn_observer(ctx.clone());
        // The dashboard runs beside the pipeline on this runtime, for as long as serve does.
        let liveness = std::sync::Arc::new(watch::Liveness::default());
        let _dashboard = match http.or_else(|| pipeline.config().dashboard.http.clone()) {
            Some(addr) => dashboard(ctx, &pipeline, &addr, &liveness).await?,
            None => None,
        };
        watch::serve(&mut pipeline, &liveness, shutdown).await?;
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

/// A missing, empty or replaced state is never taken silently for a new one; nor the same
/// state without rows it had (its -wal deleted while serving: a TASK answered then would run
/// again). Either stops serve with the reason and the fix (docs/faults.md), unless
/// `--new-state` says to go on.
fn check_state(ctx: &Ctx, new_state: bool) -> Result<()> {
    let checked = baton_ledger::guard::check(&ctx.home, &ctx.location, new_state)?;
    if checked == baton_ledger::guard::Checked::Replaced {
        tracing::warn!(state = %ctx.state.display(), "--new-state: serving from a new state; the home records it from now on")
    }
    if new_state {
        baton_home::losses::accept(&ctx.home, &ctx.location)
            .with_context(|| format!("recording that the state {} is taken as it is", ctx.state.display()))?;
    }
    let served_before = baton_home::losses::served_from_before(&ctx.home, &ctx.location)
        .with_context(|| format!("recording in {} which state serve runs from", ctx.home.display()))?;
    if checked == baton_ledger::guard::Checked::Same
        && !new_state
        && served_before
        && let Some(lost) = baton_home::losses::check_home(&ctx.home, &ctx.location)?
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
    Ok(())
}

/// SIGTERM or SIGINT, as one future. Registered before anything slow, so a signal during
/// start-up is a clean stop too. A pass held in a call to a silent PostgreSQL server is not
/// polled for it: the signal also cuts such calls short, from a task of its own (docs/faults.md).
fn signals() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let (mut term2, mut int2) = (signal(SignalKind::terminate())?, signal(SignalKind::interrupt())?);
    tokio::spawn(async move {
        tokio::select! {
            _ = term2.recv() => {}
            _ = int2.recv() => {}
        }
        baton_ledger::postgres::interrupt();
    });
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// The dashboard on `addr`, with the A2A routes and the music and audit facts of this binary.
async fn dashboard(
    ctx: &Ctx,
    pipeline: &baton_pipeline::Pipeline,
    addr: &str,
    liveness: &std::sync::Arc<watch::Liveness>,
) -> Result<Option<baton_dashboard::Running>> {
    let dctx = baton_dashboard::Context {
        cfg: pipeline.config().clone(),
        paths: pipeline.paths().clone(),
        location: ctx.location.clone(),
        runtime: Some(pipeline.runtime().clone()),
        auditor: Some(pipeline.auditor()),
        liveness: Some(liveness.clone()),
        extra: Some(baton_agents::a2a::routes(
            ctx,
            pipeline.config(),
            pipeline.paths(),
            Some(pipeline.runtime().clone()),
        )?),
        facts: std::sync::Arc::new(crate::wiring::DashboardFacts::default()),
    };
    Ok(baton_dashboard::start(addr, dctx).await?)
}

/// `serve --once`: everything present, then the summary on stderr and the alerts once.
async fn drain(
    ctx: &Ctx,
    pipeline: &mut baton_pipeline::Pipeline,
    shutdown: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    rules: AlertsConfig,
) -> Result<i32> {
    let drained = tokio::select! {
        _ = shutdown => None,
        r = watch::once(pipeline) => Some(r),
    };
    match drained {
        Some(r) => r?,
        None => {
            pipeline.stopped();
            stderr::line(
                "WARN",
                "stopped by a signal before the drain finished; what is left runs next time",
                serde_json::Value::Null,
            );
            return Ok(0);
        }
    }
    let s = &pipeline.summary;
    stderr::line(
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
            stderr::line("WARN", &format!("alerts: {e}"), serde_json::Value::Null);
        }
    }
    Ok(0)
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
        let mut pipeline = crate::open::pipeline(ctx, Loading::OnDemand).await?;
        let ret = pipeline.run_detached(file).await?;
        println!("{}", serde_json::to_string_pretty(&ret)?);
        Ok(if ret.status == baton_handoff::Status::Completed { 0 } else { 1 })
    });
    // Never wait for a thread a timed-out task left blocked in a file operation.
    rt.shutdown_timeout(SHUTDOWN_TIMEOUT);
    r
}
