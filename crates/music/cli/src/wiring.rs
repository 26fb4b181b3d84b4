//! The music library's part of a `baton` process: its three host interfaces (fingerprints,
//! the catalog, SQLite snapshots), each from its own crate and configured from its own
//! baton.toml section, and the checks of those sections and of the catalog's
//! `[plugins.NAME]` keys. The composition root (`crates/app`) plugs them into every runtime it
//! builds; the music commands open the same catalog the same way.
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use baton_cli::{Ctx, section};
use baton_home::config::{Config, ConfigError, Paths};
use baton_host_fp::FpSettings;
use baton_host_sqlite::SqliteSettings;
use baton_pipeline::PipelineError;
use baton_runtime::Runtime;

/// The top-level tables of baton.toml the music library reads.
pub const TABLES: [&str; 2] = [FpSettings::SECTION, SqliteSettings::SECTION];

/// Checks the music library's tables ([`TABLES`]) and the catalog's `[plugins.NAME]` keys
/// (`catalog`, `catalog_quota`), naming `file` and the fix. `tables` are every top-level table
/// the process reads (the music library's and the others'): any other is refused.
pub fn check_config(cfg: &Config, file: &Path, tables: &[&str]) -> Result<(), ConfigError> {
    use baton_host_catalog::grant;
    cfg.check_tables(file, tables)?;
    let refuse = |m: String| ConfigError::Section(format!("{}: {m}", file.display()));
    cfg.section::<FpSettings>(FpSettings::SECTION).map_err(|e| refuse(e.to_string()))?;
    cfg.section::<SqliteSettings>(SqliteSettings::SECTION).map_err(|e| refuse(e.to_string()))?;
    cfg.check_sections(file, grant::KEYS, |plugin, sections| grant::given(plugin, sections).map(drop))
}

/// Adds the three music host interfaces to `runtime`.
pub fn wire(
    runtime: &mut Runtime,
    cfg: &Config,
    paths: &Paths,
    location: &baton_ledger::Location,
) -> Result<(), PipelineError> {
    let state = location.local_file(&paths.home);
    // `baton fp scan` keeps its library in the same state database.
    runtime.add_host_interface(Arc::new(baton_host_fp::FingerprintHost::new(
        fp_workers(&section(cfg, FpSettings::SECTION)?),
        Some(state.clone()),
    )))?;
    // The catalog lives with the ledger (`baton catalog`): in the same SQLite file, or on the
    // same PostgreSQL server. `audit_gaps` shows the latest report in the audit plugin's
    // `reports` grant.
    runtime.add_host_interface(Arc::new(
        baton_host_catalog::CatalogHost::at(location.clone(), state)
            .with_audit_reports(reports_dir(cfg, &paths.home), audit_gaps())
            .with_handoffs(handoffs(location)),
    ))?;
    // Read-only snapshots of granted SQLite files (djay's library); private copies in the cache.
    let sqlite: SqliteSettings = section(cfg, SqliteSettings::SECTION)?;
    runtime.add_host_interface(Arc::new(baton_host_sqlite::SqliteHost::new(
        paths.cache().join("sqlite"),
        sqlite.limits(),
    )))?;
    Ok(())
}

/// How decoding workers are started for this program: one per CPU, with `[fp]`'s limit.
pub fn fp_workers(fp: &FpSettings) -> baton_host_fp::WorkerConfig {
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    baton_host_fp::WorkerConfig::this_program(cpus, Duration::from_millis(fp.file_timeout_ms))
}

/// The folder the plans audit writes its reports into: the audit plugin's `reports` grant in
/// baton.toml (as `baton serve` uses it), else `<home>/reports`.
pub fn reports_dir(cfg: &Config, home: &Path) -> PathBuf {
    cfg.grants(home, baton_pipeline::audit::PLUGIN)
        .into_iter()
        .find(|g| g.name == "reports")
        .map_or_else(|| home.join("reports"), |g| g.host_path)
}

/// [`reports_dir`] of `ctx`'s home. A baton.toml that does not load is reported by the
/// commands that need it; the catalog still opens, with `<home>/reports`.
pub fn reports_dir_of(ctx: &Ctx) -> PathBuf {
    ctx.config().map_or_else(|_| ctx.home.join("reports"), |cfg| reports_dir(&cfg, &ctx.home))
}

/// The catalog's `handoffs`: the ledger's TASKs, read through the ledger's own API.
pub fn handoffs(location: &baton_ledger::Location) -> Arc<dyn baton_catalog::HandoffsSource> {
    Arc::new(baton_catalog::LedgerHandoffs::at(location.clone()))
}

/// The catalog's `audit_gaps` reader: the plans audit's own (the catalog knows no report format).
pub fn audit_gaps() -> baton_catalog::AuditGapsSource {
    Arc::new(baton_audit::gaps::latest)
}

/// `plugin install --adopt-data`: the catalog's data under `plugin`'s name becomes
/// `identity`'s; returns the previous owner.
pub fn adopt_data(ctx: &Ctx, plugin: &str, identity: &str) -> anyhow::Result<Option<String>> {
    use anyhow::Context;
    let mut cat = baton_catalog::Catalog::open_at(&ctx.location, &ctx.state)
        .with_context(|| format!("open the catalog in {}", ctx.location.shown()))?;
    Ok(cat.adopt_owner(plugin, identity)?)
}
