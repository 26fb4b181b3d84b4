//! Opening the whole host, in one straight line: the config (with every check), this home's
//! paths and grants, the ledger where `--state` says (a SQLite file, or a PostgreSQL server:
//! claims are then rows), the runtime with every host interface, and the plugins; then
//! [`baton_pipeline::Pipeline::start`]. This machine's own SQLite file (the fingerprint
//! library, locks and cache beside it) is [`baton_ledger::Location::local_file`].
use std::sync::{Arc, Mutex};

use baton_cli::Ctx;
use baton_home::Paths;
use baton_ledger::SharedLedger;
use baton_pipeline::{Loading, Pipeline, PipelineError};

/// The pipeline of `ctx`'s home, its plugins loaded as `loading` says.
pub async fn pipeline(ctx: &Ctx, loading: Loading) -> Result<Pipeline, PipelineError> {
    let cfg = ctx.config()?;
    let paths = Paths::new(&ctx.home, &ctx.state, &cfg);
    cfg.check_grants(&paths)?;
    if let baton_ledger::Location::Postgres(url) = &ctx.location {
        tracing::info!(server = %url.shown(), local = %ctx.state.display(), "ledger on PostgreSQL");
    }
    let mut opened = ctx.connect()?;
    opened.checkpoint_in_background();
    let ledger: SharedLedger = Arc::new(Mutex::new(opened));
    let mut runtime = crate::wiring::runtime(&cfg, &paths, ledger.clone(), &ctx.location)?;
    baton_home::prepare_to_serve(&mut runtime, &paths, &ctx.location);
    Pipeline::start(cfg, paths, ledger, Arc::new(runtime), loading, Arc::new(crate::wiring::AuditReports)).await
}
