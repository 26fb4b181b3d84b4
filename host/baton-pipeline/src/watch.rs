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
    let reconcile = Duration::from_secs(pipeline.config().reconcile_secs.max(1));
    tracing::info!(root = %root.display(), agent = %pipeline.config().agent, "serving");
    tokio::pin!(shutdown);
    loop {
        pipeline.reload_plugins().await;
        let next = pipeline.tick().await?;
        let deadline = next.unwrap_or_else(|| Instant::now() + reconcile).min(Instant::now() + reconcile);
        tokio::select! {
            _ = &mut shutdown => break,
            _ = rx.recv() => {}
            _ = tokio::time::sleep_until(deadline.into()) => {}
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Drains everything present (including retries and files still settling), then returns.
pub async fn once(pipeline: &mut Pipeline) -> Result<(), PipelineError> {
    while let Some(next) = pipeline.tick().await? {
        tokio::time::sleep_until(next.into()).await;
    }
    Ok(())
}
