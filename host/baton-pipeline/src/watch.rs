//! What wakes the pipeline: file-system events under the handoffs root (notify), a periodic
//! full reconcile as a safety net, and the next due retry. Every wake-up runs a full
//! reconcile of the inbox, so a dropped or coalesced event costs latency, never a handoff.
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::{Pipeline, PipelineError};

/// Runs until `shutdown` resolves.
pub async fn serve(pipeline: &mut Pipeline, shutdown: impl std::future::Future<Output = ()>) -> Result<(), PipelineError> {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Any event, an error or a rescan request: all mean "look again". A full channel
        // already holds a pending wake-up.
        if let Err(e) = &event {
            tracing::warn!("watcher: {e}; reconciling");
        }
        let _ = tx.try_send(());
    })?;
    let root = pipeline.paths().handoffs.clone();
    std::fs::create_dir_all(&root).map_err(|e| PipelineError::io(&root, e))?;
    watcher.watch(&root, RecursiveMode::Recursive)?;
    // Dropping a changed component into the plugins folder reloads it without a restart.
    let plugins_dir = pipeline.paths().plugins.clone();
    if plugins_dir.is_dir() {
        watcher.watch(&plugins_dir, RecursiveMode::NonRecursive)?;
    }
    // Plans folders: their own channel, so only plans changes (re)start the audit's quiet period.
    let (plans_tx, mut plans_rx) = mpsc::channel::<()>(1);
    let mut plans_watcher = notify::recommended_watcher(move |_event: notify::Result<notify::Event>| {
        let _ = plans_tx.try_send(());
    })?;
    let audit_cfg = pipeline.config().audit.clone();
    let mut schedule = audit_cfg.enabled.then(|| {
        for dir in pipeline.watched_plans() {
            if let Err(e) = plans_watcher.watch(&dir, RecursiveMode::Recursive) {
                tracing::warn!(dir = %dir.display(), "cannot watch plans folder: {e}");
            }
        }
        crate::audit::Schedule::new(
            Duration::from_secs(audit_cfg.debounce_secs),
            Duration::from_secs(audit_cfg.interval.max(1)),
        )
    });
    let reconcile = Duration::from_secs(pipeline.config().reconcile_secs.max(1));
    tracing::info!(root = %root.display(), agent = %pipeline.config().agent, "serving");
    tokio::pin!(shutdown);
    loop {
        pipeline.reload_plugins().await;
        let next = pipeline.tick().await?;
        if let Some(s) = schedule.as_mut().filter(|s| s.due().is_some_and(|d| d <= Instant::now())) {
            s.ran();
            run_audit(pipeline).await;
        }
        let audit_due = schedule.as_ref().and_then(|s| s.due());
        let deadline = [next, audit_due].into_iter().flatten().fold(Instant::now() + reconcile, Instant::min);
        tokio::select! {
            _ = &mut shutdown => break,
            _ = rx.recv() => {}
            _ = plans_rx.recv() => {
                if let Some(s) = schedule.as_mut() {
                    s.changed();
                }
            }
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Drains everything present (including retries and files still settling), runs the plans
/// audit once if enabled, then returns.
pub async fn once(pipeline: &mut Pipeline) -> Result<(), PipelineError> {
    while let Some(next) = pipeline.tick().await? {
        tokio::time::sleep_until(next.into()).await;
    }
    if pipeline.config().audit.enabled {
        run_audit(pipeline).await;
    }
    Ok(())
}

/// An automatic audit never stops the daemon: a failure is logged and retried next time.
async fn run_audit(pipeline: &Pipeline) {
    match pipeline.audit(None, false).await {
        Ok(Some(_)) | Ok(None) => {}
        Err(e) => tracing::error!("plans audit: {e}"),
    }
}
