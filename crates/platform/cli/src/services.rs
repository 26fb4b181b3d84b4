//! The composition root's wiring: which host interfaces a `baton` process plugs into its
//! plugins' runtime. The handoff engine (`baton-pipeline`) knows none of them; this binary
//! gives it the music library's three — fingerprints, the catalog and SQLite snapshots — each
//! from its own crate, configured from its own `baton.toml` section.
use std::time::Duration;

use baton_pipeline::config::{Config, Paths};
use baton_pipeline::{HostServices, PipelineError};
use baton_runtime::Runtime;

/// The music library's host interfaces.
pub struct Music;

impl HostServices for Music {
    fn wire(
        &self,
        runtime: &mut Runtime,
        cfg: &Config,
        paths: &Paths,
        location: &baton_ledger::Location,
    ) -> Result<(), PipelineError> {
        let state = location.local_file(&paths.home);
        // `baton fp scan` keeps its library in the same state database.
        runtime.add_host_interface(std::sync::Arc::new(baton_host_fp::FingerprintHost::new(
            fp_workers(cfg),
            Some(state.clone()),
        )))?;
        // The catalog lives with the ledger (`baton catalog`): in the same SQLite file, or on the
        // same PostgreSQL server. `audit_gaps` shows the latest report in the audit plugin's
        // `reports` grant.
        let reports = cfg
            .grants(&paths.home, baton_pipeline::audit::PLUGIN)
            .into_iter()
            .find(|g| g.name == "reports")
            .map_or_else(|| paths.home.join("reports"), |g| g.host_path);
        runtime.add_host_interface(std::sync::Arc::new(
            baton_host_catalog::CatalogHost::at(location.clone(), state).with_audit_reports(reports, audit_gaps()),
        ))?;
        // Read-only snapshots of granted SQLite files (djay's library); private copies in the cache.
        let limits = baton_host_sqlite::Limits {
            copy_bytes: cfg.sqlite.copy_mb << 20,
            memory_bytes: usize::try_from(cfg.sqlite.task_memory_mb << 20).unwrap_or(usize::MAX),
            ..Default::default()
        };
        runtime.add_host_interface(std::sync::Arc::new(baton_host_sqlite::SqliteHost::new(
            paths.cache().join("sqlite"),
            limits,
        )))?;
        Ok(())
    }
}

/// How decoding workers are started for this program: one per CPU, with `[fp]`'s limit.
pub fn fp_workers(cfg: &Config) -> baton_host_fp::WorkerConfig {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    baton_host_fp::WorkerConfig::this_program(cpus, Duration::from_millis(cfg.fp.file_timeout_ms))
}

/// The catalog's `audit_gaps` reader: the plans audit's own (the catalog knows no report format).
pub fn audit_gaps() -> baton_catalog::AuditGapsSource {
    std::sync::Arc::new(baton_audit::gaps::latest)
}
