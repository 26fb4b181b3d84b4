//! The dashboard: a web page, a JSON API, a live feed and `/metrics`, served by `baton serve
//! --http ADDR` on the serve process's own tokio runtime (axum).
//!
//! Everything the page shows comes from the ledger (the state database) and the home's
//! folders, read through a connection of its own, so work done by a second `serve` process
//! shows too; the live feed follows the ledger's event sequence ([`live`]).
//!
//! Security, because the page shows handoff titles, plugin logs and paths, all of which an
//! attacker can write ([`guard`], [`auth`]): every endpoint but `/healthz`, `/readyz` (and the
//! static page itself, which holds no data) wants the key or a session token in the
//! `Authorization` header, never a cookie or a query string (the signed session cookie is sent
//! to `/api/session` only, to get a new session token after a reload or a restart); a `Host`
//! that is not loopback or the configured
//! address gets 421 (DNS rebinding); the WebSocket checks `Origin` and takes its token as the
//! first message; the page renders text with `textContent` under `default-src 'self'`. The key
//! and the tokens are never logged.
pub mod agents;
mod answers;
mod api;
pub mod auth;
mod between;
mod conversation;
mod data;
mod files;
mod guard;
mod live;
mod procfs;
pub mod rejections;
mod retry;
pub mod socket;
mod stats;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use baton_home::{Config, Paths};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(transparent)]
    Ledger(#[from] baton_ledger::LedgerError),
    #[error("dashboard address {0:?}: expected HOST:PORT, e.g. 127.0.0.1:7878")]
    Address(String),
    #[error("{0}")]
    Socket(String),
    #[error(transparent)]
    Stats(#[from] baton_stats::StatsError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The ledger's record of the mailboxes' acknowledgements could not be read.
    #[error("mailboxes: {0}")]
    Mailbox(String),
    /// The app was built without the music library (`NoFacts`).
    #[error("this baton has no music library")]
    NoLibrary,
    /// The music library (read by the app through [`Facts`]) could not be read.
    #[error(transparent)]
    Library(Box<dyn std::error::Error + Send + Sync>),
}

impl DashboardError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        DashboardError::Io { path: path.display().to_string(), source }
    }
}

/// What the dashboard reads and acts on: the serve process's configuration, folders and
/// plugins, and its auditor (for "run an audit now").
pub struct Context {
    pub cfg: Config,
    pub paths: Paths,
    /// Where the ledger is (`paths.state` is this machine's own SQLite file: on PostgreSQL the
    /// fingerprint library only).
    pub location: baton_ledger::Location,
    pub runtime: Option<Arc<baton_runtime::Runtime>>,
    pub auditor: Option<baton_pipeline::audit::Auditor>,
    /// The serve loop's own report (watch in place, loop turning), for `/readyz`.
    pub liveness: Option<Arc<baton_pipeline::watch::Liveness>>,
    /// Another protocol served on the same address under the same checks (A2A).
    pub extra: Option<Extra>,
    /// What it shows of the music library and the plans audit's reports.
    pub facts: Arc<dyn Facts>,
}

/// What the dashboard shows of libraries it does not link: the music library (fingerprint
/// coverage, duplicate groups, the catalog) and the plans audit's report format. The app
/// provides them, as it provides the pipeline's host interfaces, so the dashboard stays a
/// platform crate that depends on no music crate and not on the audit library. Each runs on
/// the blocking pool.
pub trait Facts: Send + Sync {
    /// This machine's fingerprint coverage (0 to 1) from the library in the local state file
    /// `state`; `None` when there is no library.
    fn fp_coverage(&self, state: &Path) -> Option<f64>;

    /// The music page: fingerprint coverage against `threshold`, duplicate groups and the
    /// catalog's collections, as JSON (`coverage`, `duplicates`, `catalog`).
    fn library(&self, location: &baton_ledger::Location, state: &Path, threshold: f64)
    -> Result<Value, DashboardError>;

    /// One plans-audit report file's bytes, for the audit page, with its detail (plans, false
    /// claims, gaps, errors, in host paths) when asked; `None`: not a report.
    fn audit_report(&self, bytes: &[u8], with_detail: bool) -> Option<AuditSummary>;
}

/// A plans-audit report as the audit page shows it.
#[derive(Debug, Clone)]
pub struct AuditSummary {
    /// The plans folders the report covers (host paths, sorted): its plans set.
    pub plans_dirs: Vec<String>,
    pub generated_at: String,
    pub present: usize,
    pub expected: usize,
    pub false_claims: usize,
    pub gaps: usize,
    /// `file`, `plans`, `false_claims`, `gaps` and `errors`, when asked for.
    pub detail: Option<Value>,
}

/// No music library and no audit format: the music page says so, and reports are not read.
pub struct NoFacts;

impl Facts for NoFacts {
    fn fp_coverage(&self, _: &Path) -> Option<f64> {
        None
    }
    fn library(&self, _: &baton_ledger::Location, _: &Path, _: f64) -> Result<Value, DashboardError> {
        Err(DashboardError::NoLibrary)
    }
    fn audit_report(&self, _: &[u8], _: bool) -> Option<AuditSummary> {
        None
    }
}

/// Routes another front end (A2A) serves beside the dashboard's, behind its `Host` check: `open`
/// routes need nothing more (an agent card is public), `keyed` ones want the key or a session
/// token like the JSON API. Each sets its own body limit (the dashboard's is 16 KB).
pub struct Extra {
    pub open: axum::Router,
    pub keyed: axum::Router,
}

/// Shared by every request.
pub(crate) struct App {
    pub cfg: Config,
    pub paths: Paths,
    pub location: baton_ledger::Location,
    pub runtime: Option<Arc<baton_runtime::Runtime>>,
    pub auditor: Option<baton_pipeline::audit::Auditor>,
    pub liveness: Option<Arc<baton_pipeline::watch::Liveness>>,
    /// The dashboard's own connection to the state database (reads and the few writes).
    pub db: Mutex<baton_ledger::Ledger>,
    pub auth: auth::Auth,
    pub hosts: guard::Hosts,
    pub live: tokio::sync::watch::Receiver<live::Version>,
    pub caches: Mutex<data::Caches>,
    pub answers: answers::Answers,
    pub audit_running: std::sync::atomic::AtomicBool,
    pub facts: Arc<dyn Facts>,
}

/// A running dashboard; dropping it stops the HTTP server, the live feed and the socket.
pub struct Running {
    pub addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    socket: Option<PathBuf>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Some(s) = &self.socket {
            let _ = std::fs::remove_file(s);
        }
    }
}

/// Parses `HOST:PORT` (`127.0.0.1:7878`, `[::1]:7878`, `localhost:7878`).
pub fn parse_addr(s: &str) -> Result<SocketAddr, DashboardError> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    match s.rsplit_once(':') {
        Some(("localhost", port)) => port
            .parse::<u16>()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .map_err(|_| DashboardError::Address(s.into())),
        Some(_) => s.to_socket_addrs().ok().and_then(|mut a| a.next()).ok_or_else(|| DashboardError::Address(s.into())),
        None => Err(DashboardError::Address(s.into())),
    }
}

/// Starts the dashboard on `addr`. A port already taken is not an error: serve warns and runs
/// without HTTP (`Ok(None)`).
pub async fn start(addr: &str, ctx: Context) -> Result<Option<Running>, DashboardError> {
    let sock_addr = parse_addr(addr)?;
    let listener = match tokio::net::TcpListener::bind(sock_addr).await {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(addr = %sock_addr, "dashboard not started, serving without HTTP: {e}");
            return Ok(None);
        }
    };
    let bound = listener.local_addr().map_err(|e| DashboardError::Io { path: addr.into(), source: e })?;
    if !bound.ip().is_loopback() {
        tracing::warn!(addr = %bound, "the dashboard listens beyond loopback; requests must still name this address as Host");
    }
    let configured_host = addr.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']']).to_ascii_lowercase());
    let hosts = guard::Hosts::new(bound.port(), configured_host);
    let db = baton_home::state::connect(&ctx.location)?;
    let (live_task, live_rx) = live::watcher(&ctx.location, &ctx.paths, &ctx.cfg)?;
    let auth = auth::Auth::new(auth::key_file(&ctx.paths.state));
    let app = Arc::new(App {
        cfg: ctx.cfg,
        paths: ctx.paths,
        location: ctx.location,
        runtime: ctx.runtime,
        auditor: ctx.auditor,
        liveness: ctx.liveness,
        db: Mutex::new(db),
        auth,
        hosts,
        live: live_rx,
        caches: Mutex::new(data::Caches::default()),
        answers: Default::default(),
        audit_running: Default::default(),
        facts: ctx.facts,
    });
    let extra = ctx.extra;
    let url = format!("http://{}/", page_host(bound));
    let socket_path = socket::path(&app.paths.state);
    let mut tasks = vec![live_task];
    let socket = match socket::serve(&socket_path, app.clone(), url.clone()) {
        Ok(t) => {
            tasks.push(t);
            Some(socket_path)
        }
        Err(e) => {
            tracing::warn!("`baton dashboard` cannot reach this serve: {e}");
            None
        }
    };
    let router = api::router(app, extra);
    tasks.push(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("dashboard server stopped: {e}");
        }
    }));
    tracing::info!(url = %url, "dashboard");
    Ok(Some(Running { addr: bound, tasks, socket }))
}

/// The host the page's URL names: the bound address, loopback for an unspecified one.
fn page_host(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) if v.ip().is_unspecified() => format!("127.0.0.1:{}", v.port()),
        SocketAddr::V6(v) if v.ip().is_unspecified() => format!("[::1]:{}", v.port()),
        other => other.to_string(),
    }
}
