//! The plugins' named locks when the ledger is on PostgreSQL: the runtime's
//! [`baton_runtime::NamedLocks`] over the ledger's advisory locks
//! ([`baton_ledger::advisory::AdvisoryLocks`]), so a lock holds across every host sharing the
//! server, and a lock lost with its database session ends its task as `transient`.
use std::sync::Arc;
use std::time::Duration;

use baton_ledger::advisory::AdvisoryLocks;
use baton_runtime::{Acquiring, LockAlarm, LockError, NamedLocks};

pub struct SharedLocks(pub AdvisoryLocks);

impl NamedLocks for SharedLocks {
    fn acquire<'a>(
        &'a self,
        plugin: &'a str,
        owner: &'a str,
        name: &'a str,
        timeout: Duration,
        alarm: &'a Arc<LockAlarm>,
    ) -> Acquiring<'a> {
        let alarm = alarm.clone();
        let lock = name.to_string();
        Box::pin(async move {
            let on_lost = Box::new(move |why| alarm.raise(format!("lock `{lock}` lost: {why}")));
            self.0.acquire(plugin, owner, name, timeout, on_lost).await.map_err(|e| LockError::Other(Box::new(e)))
        })
    }

    fn release(&self, plugin: &str, owner: &str, name: &str) -> bool {
        self.0.release(plugin, owner, name)
    }

    fn release_owner(&self, plugin: &str, owner: &str) {
        self.0.release_owner(plugin, owner)
    }
}
