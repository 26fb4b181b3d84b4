//! The plugins' runtime as a baton home builds it: the compiled-component cache, the compile
//! limits, the plugins' key-value store in the ledger, and (when serving) the folders no grant
//! may reach and the named locks of a shared PostgreSQL ledger. Every process that loads a
//! plugin builds it here, so a check and a load see the same sandbox.
use baton_sync::Locked;
use std::sync::Arc;

use crate::{Config, HomeError, Paths};
use baton_ledger::SharedLedger;

/// The plugins' key-value store, kept in the ledger's `kv` table.
pub struct LedgerKv(pub SharedLedger);

impl baton_runtime::KvStore for LedgerKv {
    fn get(&self, plugin: &str, key: &str) -> Option<String> {
        self.0.locked().kv_get(plugin, key).ok().flatten()
    }
    fn set(
        &self,
        plugin: &str,
        key: &str,
        value: &str,
        quota: &baton_runtime::KvQuota,
    ) -> Result<(), baton_runtime::KvError> {
        let limits = baton_ledger::KvLimits { keys: quota.keys, bytes: quota.bytes };
        // The fault tests' `kv_set` failpoint stands for SQLite's own answer on a full disk.
        let injected = crate::failpoint::fault("kv_set", plugin).map_err(|_| {
            use baton_ledger::rusqlite::{Error, ffi};
            let full = ffi::Error::new(ffi::SQLITE_FULL);
            baton_ledger::LedgerError::Sql(Error::SqliteFailure(full, Some("database or disk is full".into())))
        });
        match injected.and_then(|()| self.0.locked().kv_set_within(plugin, key, value, limits)) {
            Ok(()) => Ok(()),
            Err(baton_ledger::LedgerError::KvQuota(m)) => Err(baton_runtime::KvError::Quota(m)),
            // The state disk full, an I/O error, a busy database: the host's fault, a pause.
            Err(e) if e.is_transient() => {
                crate::ratelimit::warn_every("kv-set:passing", &format!("kv-set failed: {e}; the task waits"), plugin);
                Err(baton_runtime::KvError::Passing(e.to_string()))
            }
            Err(e) => {
                crate::ratelimit::warn_every(&format!("kv-set:{plugin}"), &format!("kv-set failed: {e}"), plugin);
                Err(baton_runtime::KvError::Failed(e.to_string()))
            }
        }
    }
    fn delete(&self, plugin: &str, key: &str) {
        if let Err(e) = self.0.locked().kv_delete(plugin, key) {
            crate::ratelimit::warn_every(
                &format!("kv-delete:{plugin}"),
                &format!("kv-delete of `{key}` failed: {e}"),
                plugin,
            );
        }
    }
}

/// The plugins' runtime as every baton process builds it, `serve` and the commands that load
/// plugins without serving (`baton plugin`, `init`'s bundled plugins, `call`'s list of
/// actions): the compiled-component cache (installing a plugin compiles it for the next
/// start), the `[plugins] compile_mb`/`compile_s` limits, and the plugins' kv in `ledger`.
/// It has the sandbox's own imports only: the composition root (the `baton` binary) adds the
/// host interfaces it serves ([`baton_runtime::Runtime::add_host_interface`]) before any
/// plugin is loaded, so that `describe` runs with the real host functions and a plugin cannot
/// tell a check from a load. The engine names none of them.
pub fn runtime(cfg: &Config, paths: &Paths, ledger: SharedLedger) -> Result<baton_runtime::Runtime, HomeError> {
    let mut runtime = baton_runtime::Runtime::new(
        baton_runtime::RuntimeConfig { cache_dir: Some(paths.cache()), lock_dir: paths.locks() },
        Arc::new(LedgerKv(ledger)),
    )?;
    runtime.set_compile_limits(cfg.plugins.compile_limits());
    Ok(runtime)
}

/// What a serving runtime has beyond [`runtime`]'s: the folders no grant may reach (baton's
/// own), and on a shared PostgreSQL ledger plugins' named locks that hold across every host
/// (advisory locks).
pub fn prepare_to_serve(runtime: &mut baton_runtime::Runtime, paths: &Paths, location: &baton_ledger::Location) {
    runtime.set_protected_dirs(crate::plugins::protected_dirs(paths));
    if let baton_ledger::Location::Postgres(url) = location {
        runtime.set_locks(Arc::new(crate::locks::SharedLocks(baton_ledger::advisory::AdvisoryLocks::new(url.clone()))));
    }
}
