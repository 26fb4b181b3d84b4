//! The one way baton opens a session with a PostgreSQL server: the ledger, the catalog, the
//! advisory-lock sessions and `baton migrate` all call [`connect`], so TLS is set up (and
//! checked) in one place.
//!
//! A URL on this machine (a Unix socket, a loopback address) connects without TLS, as before.
//! A URL with `sslmode=verify-full` (required for any other server, see [`crate::location`])
//! connects with TLS through rustls (pure Rust, the `ring` provider: no OpenSSL to link, the
//! same on Linux and macOS), and refuses a server whose certificate does not chain to a trusted
//! root or does not name the host the URL names, as libpq's `verify-full` does.
//!
//! The trusted roots follow libpq's `sslrootcert` (see [`crate::tls`]).
use std::future::Future;
use std::pin::Pin;

use tokio_postgres::{Client, NoTls};

use crate::location::PgUrl;

/// The session's connection task: spawn it (on a tokio runtime); it ends with the session.
pub type Connection = Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// Why a session could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The trusted roots could not be loaded (the file and the fix are in the message).
    #[error(transparent)]
    Roots(std::sync::Arc<crate::tls::TlsError>),
    /// The server refused the TLS handshake's outcome: its certificate is not trusted or does
    /// not name the host.
    #[error(
        "{detail}: the server's certificate was refused; check that `sslrootcert=` names the CA that signed it \
         (now: {roots}) and that the host in the URL is a name the certificate carries"
    )]
    Certificate { roots: String, detail: String, source: tokio_postgres::Error },
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// This process could not do its part (start the runtime that drives sessions).
    #[error("{0}")]
    Local(String),
    /// The server took the connection but did not complete the session's start-up in time.
    #[error(
        "{server} accepted the connection but did not answer within {secs} s (the server is stopped or overloaded, \
         or the port is not PostgreSQL's); `connect_timeout=` in the URL sets the limit (twice its value)"
    )]
    NoAnswer { server: String, secs: f64 },
}

/// Opens one session with the server `url` names: TLS with certificate and host-name checks for
/// `sslmode=verify-full`, plain otherwise (a Unix socket or loopback). Must run inside a tokio
/// runtime only in that the returned [`Connection`] is to be spawned on one.
pub async fn connect(url: &PgUrl) -> Result<(Client, Connection), ConnectError> {
    // `connect_timeout` bounds only the TCP connect: a server that accepts the connection and
    // then never answers (stopped, wedged, a port forward to nothing) held the start-up
    // handshake, and `baton status` or a pass with it, for good. The whole session set-up is
    // bounded: twice `connect_timeout` (5 s unless the URL says otherwise).
    let limit = url.config().get_connect_timeout().copied().unwrap_or(std::time::Duration::from_secs(5)) * 2;
    match tokio::time::timeout(limit, connect_unbounded(url)).await {
        Ok(done) => done,
        Err(_) => Err(ConnectError::NoAnswer { server: url.shown().to_string(), secs: limit.as_secs_f64() }),
    }
}

/// Asks the server to cancel the statement running on the session `token` came from, over a
/// new connection made the way [`connect`] made that session (TLS for `sslmode=verify-full`).
/// Bounded like a connect: a server that does not answer leaves the statement running.
pub async fn cancel(url: &PgUrl, token: &tokio_postgres::CancelToken) -> Result<(), ConnectError> {
    let limit = url.config().get_connect_timeout().copied().unwrap_or(std::time::Duration::from_secs(5)) * 2;
    let ask = async {
        if !url.verify_full() {
            return token.cancel_query(NoTls).await.map_err(ConnectError::Postgres);
        }
        let tls = url.tls().map_err(ConnectError::Roots)?;
        token
            .cancel_query(tokio_postgres_rustls::MakeRustlsConnect::new((*tls.config).clone()))
            .await
            .map_err(ConnectError::Postgres)
    };
    match tokio::time::timeout(limit, ask).await {
        Ok(done) => done,
        Err(_) => Err(ConnectError::NoAnswer { server: url.shown().to_string(), secs: limit.as_secs_f64() }),
    }
}

async fn connect_unbounded(url: &PgUrl) -> Result<(Client, Connection), ConnectError> {
    if !url.verify_full() {
        let (client, connection) = url.config().connect(NoTls).await?;
        return Ok((client, Box::pin(connection)));
    }
    let tls = url.tls().map_err(ConnectError::Roots)?;
    let mut config = url.config().clone();
    config.ssl_mode(tokio_postgres::config::SslMode::Require);
    match config.connect(tokio_postgres_rustls::MakeRustlsConnect::new((*tls.config).clone())).await {
        Ok((client, connection)) => Ok((client, Box::pin(connection))),
        Err(e) if is_certificate_error(&e) => {
            Err(ConnectError::Certificate { roots: tls.roots.clone(), detail: chain(&e), source: e })
        }
        Err(e) => Err(ConnectError::Postgres(e)),
    }
}

/// An error and its causes, `a: b: c` (tokio-postgres shows only the first; rustls says why).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let m = s.to_string();
        if !out.contains(&m) {
            out.push_str(": ");
            out.push_str(&m);
        }
        source = s.source();
    }
    out
}

/// Whether a connection error is rustls refusing the server's certificate.
fn is_certificate_error(e: &tokio_postgres::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.get_ref().is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some_and(is_cert))
        {
            return true;
        }
        if s.downcast_ref::<rustls::Error>().is_some_and(is_cert) {
            return true;
        }
        source = s.source();
    }
    let m = e.to_string();
    m.contains("invalid peer certificate")
}

fn is_cert(e: &rustls::Error) -> bool {
    matches!(e, rustls::Error::InvalidCertificate(_))
}
