//! Where the state lives (the ledger, and the catalog beside it): a SQLite file (a path) or a
//! PostgreSQL server (a `postgres://` URL), as given by `--state`, `$BATON_STATE` or
//! `state = …` in baton.toml.
//!
//! The rules for a URL, checked here before anything connects:
//! - a password inside it is refused (it would be visible in `ps` and in shell history); the
//!   password comes from `$PGPASSWORD` or the password file (`$PGPASSFILE`, else `~/.pgpass`),
//!   as with libpq;
//! - a server that is not on this machine (not loopback, not a Unix socket) requires
//!   `sslmode=verify-full`;
//! - it is only ever shown with any password hidden ([`PgUrl::shown`]).
use std::path::{Path, PathBuf};
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    #[error(
        "the state URL {0} contains a password, which would be visible in `ps` and your shell history; \
         remove it and put it in ~/.pgpass (or the file $PGPASSFILE names, mode 0600: host:port:database:user:password) \
         or in $PGPASSWORD"
    )]
    Password(String),
    #[error(
        "the state URL {0} names a server that is not on this machine: add `sslmode=verify-full` so that the \
         connection is encrypted and the server's certificate is checked"
    )]
    NeedsTls(String),
    #[error("the state URL {url} is not a valid PostgreSQL URL: {message}")]
    Invalid { url: String, message: String },
}

/// Where the state lives.
#[derive(Debug, Clone)]
pub enum Location {
    Sqlite(PathBuf),
    Postgres(PgUrl),
}

impl Location {
    /// A `postgres://` or `postgresql://` URL, or else a path to a SQLite file.
    pub fn parse(s: &str) -> Result<Self, LocationError> {
        if is_url(s) { Ok(Location::Postgres(PgUrl::parse(s)?)) } else { Ok(Location::Sqlite(PathBuf::from(s))) }
    }

    /// This machine's own SQLite file beside the ledger: the ledger itself for SQLite; for
    /// PostgreSQL `<home>/state/fp.sqlite` (the fingerprint library describes this machine's
    /// files; the catalog is on the server with the ledger). Lock files and the cache go beside it.
    pub fn local_file(&self, home: &Path) -> PathBuf {
        match self {
            Location::Sqlite(p) => p.clone(),
            Location::Postgres(_) => home.join("state").join("fp.sqlite"),
        }
    }

    /// For logs and messages: a path, or a URL with any password hidden.
    pub fn shown(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(u) => u.shown().to_string(),
        }
    }
}

/// `statement_timeout` when the URL does not give one.
const DEFAULT_STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Whether `s` is a PostgreSQL URL rather than a path.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A checked PostgreSQL URL.
#[derive(Clone)]
pub struct PgUrl {
    shown: String,
    /// The URL as tokio-postgres reads it (`sslmode=verify-full` is ours to enforce).
    config: tokio_postgres::Config,
    verify_full: bool,
    /// `sslrootcert=` as given (a PEM file, or `system`), libpq's meaning.
    rootcert: Option<String>,
    /// `statement_timeout=` (seconds; baton's own parameter): how long the server may work on
    /// one statement, and with `connect_timeout` the longest one call of the ledger waits.
    statement_timeout: std::time::Duration,
    /// The TLS configuration, built on first use (reading the roots once per URL).
    tls: crate::tls::Cache,
}

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl PgUrl {
    pub fn parse(url: &str) -> Result<Self, LocationError> {
        let shown = redact(url);
        let invalid = |message: String| LocationError::Invalid { url: shown.clone(), message };
        // tokio-postgres knows sslmode disable/prefer/require; verify-full is checked here.
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut verify_full = false;
        let mut rootcert = None;
        let mut statement_timeout = DEFAULT_STATEMENT_TIMEOUT;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("sslmode", "verify-full")) => verify_full = true,
                Some(("sslmode", "verify-ca")) => {
                    return Err(invalid("use sslmode=verify-full (verify-ca does not check the host name)".into()));
                }
                Some(("password", _)) => return Err(LocationError::Password(shown)),
                Some(("sslrootcert", v)) => rootcert = Some(percent_decode(v)),
                Some(("statement_timeout", v)) => {
                    statement_timeout = v
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                        .map(std::time::Duration::from_secs_f64)
                        .ok_or_else(|| {
                            invalid(format!(
                                "statement_timeout={v}: give a number of seconds, more than 0 (default 30)"
                            ))
                        })?
                }
                _ => kept.push(pair),
            }
        }
        let rebuilt = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        let mut config = tokio_postgres::Config::from_str(&rebuilt).map_err(|e| invalid(e.to_string()))?;
        if config.get_password().is_some() {
            return Err(LocationError::Password(shown));
        }
        if config.get_hosts().is_empty() {
            config.host(std::env::var("PGHOST").as_deref().unwrap_or("/var/run/postgresql"));
        }
        let local = config.get_hosts().iter().all(|h| match h {
            tokio_postgres::config::Host::Unix(_) => true,
            tokio_postgres::config::Host::Tcp(name) => is_loopback(name),
        });
        if !local && !verify_full {
            return Err(LocationError::NeedsTls(shown));
        }
        if rootcert.is_some() && !verify_full {
            return Err(invalid("sslrootcert= is only used with sslmode=verify-full; add it".into()));
        }
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        if config.get_dbname().is_none()
            && let Ok(db) = std::env::var("PGDATABASE")
        {
            config.dbname(&db);
        }
        if let Some(pw) = password_from_env(&config) {
            config.password(pw);
        }
        config.application_name("baton");
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        // A lock session holds its advisory locks for as long as its connection lives, and the
        // claims' leases are renewed over one: a server or a link gone without a word (a host
        // powered off, a NAT forgetting the flow) must be noticed in about a minute, not after
        // the kernel's two idle hours. What the URL says itself wins.
        let given = |key: &str| kept.iter().any(|p| p.split_once('=').is_some_and(|(k, _)| k == key));
        if !given("keepalives_idle") {
            config.keepalives_idle(std::time::Duration::from_secs(30));
        }
        if !given("keepalives_interval") {
            config.keepalives_interval(std::time::Duration::from_secs(10));
        }
        if !given("keepalives_retries") {
            config.keepalives_retries(3);
        }
        Ok(PgUrl { shown, config, verify_full, rootcert, statement_timeout, tls: Default::default() })
    }

    /// How long the server may work on one statement (`SET statement_timeout` on every ledger
    /// session): `statement_timeout=` in the URL, in seconds, 30 unless given.
    pub fn statement_timeout(&self) -> std::time::Duration {
        self.statement_timeout
    }

    /// The longest one call of the ledger waits for the server's answer: `statement_timeout`
    /// plus `connect_timeout` (a round trip's allowance), 35 s by default. The server's own
    /// timeout normally ends a slow statement first, with its error; this deadline is for a
    /// server that answers nothing at all (stopped, wedged, a link gone silent).
    pub fn call_limit(&self) -> std::time::Duration {
        self.statement_timeout + self.config.get_connect_timeout().copied().unwrap_or(std::time::Duration::from_secs(5))
    }

    /// What tells one server (and session set-up) from another: two URLs with the same key
    /// share a [`crate::pool::Pool`]. Every setting a session depends on is in it; a password
    /// (never in the URL, see [`LocationError::Password`]) only as the config's redaction.
    pub fn key(&self) -> String {
        format!("{:?}|{:?}|{}|{:?}", self.config, self.statement_timeout, self.verify_full, self.rootcert)
    }

    /// The URL with any password hidden, for logs and messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    /// Whether the URL asked for `sslmode=verify-full` (a server not on this machine).
    pub fn verify_full(&self) -> bool {
        self.verify_full
    }

    /// `sslrootcert=` as given, if it was.
    pub fn rootcert(&self) -> Option<&str> {
        self.rootcert.as_deref()
    }

    /// The TLS configuration for this URL's `sslrootcert` (see [`crate::tls`]); the error
    /// names the roots' file and the fix.
    pub(crate) fn tls(&self) -> Result<crate::tls::Tls, std::sync::Arc<crate::tls::TlsError>> {
        self.tls.get(self.rootcert.as_deref())
    }
}

/// `%XX` escapes decoded (a path in a URL's query may carry them).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost") || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// `$PGPASSWORD`, else the first matching line of `$PGPASSFILE` (default `~/.pgpass`), as libpq
/// reads them (`host:port:database:user:password`, `*` matching anything).
fn password_from_env(config: &tokio_postgres::Config) -> Option<String> {
    if let Ok(pw) = std::env::var("PGPASSWORD") {
        return Some(pw);
    }
    let file = std::env::var_os("PGPASSFILE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let host = match config.get_hosts().first()? {
        tokio_postgres::config::Host::Tcp(h) => h.clone(),
        tokio_postgres::config::Host::Unix(_) => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    let db = config.get_dbname().unwrap_or(&user).to_string();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let fields = split_pgpass(line);
        if fields.len() != 5 {
            continue;
        }
        let ok = |field: &str, want: &str| field == "*" || field == want;
        if ok(&fields[0], &host) && ok(&fields[1], &port) && ok(&fields[2], &db) && ok(&fields[3], &user) {
            return Some(fields[4].clone());
        }
    }
    None
}

/// A `.pgpass` line's fields: `:` separates, `\` escapes.
fn split_pgpass(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.last_mut().unwrap_or(&mut String::new()).extend(chars.next()),
            ':' => out.push(String::new()),
            c => {
                if let Some(last) = out.last_mut() {
                    last.push(c);
                }
            }
        }
    }
    out
}

/// The URL with the password (in the user part or a `password=` parameter) replaced by `***`.
pub fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
            let authority = match authority.rsplit_once('@') {
                Some((userinfo, hosts)) => match userinfo.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{hosts}"),
                    None => authority.to_string(),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{path}")
        }
        None => base.to_string(),
    };
    if let Some(q) = query {
        let pairs: Vec<String> = q
            .split('&')
            .map(|p| match p.split_once('=') {
                Some(("password", _)) => "password=***".to_string(),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_refused_and_never_shown() {
        for url in ["postgres://u:s3cret@localhost/db", "postgresql://localhost/db?user=u&password=s3cret"] {
            let e = Location::parse(url).unwrap_err();
            assert!(matches!(e, LocationError::Password(_)), "{e}");
            let msg = e.to_string();
            assert!(!msg.contains("s3cret") && msg.contains("***") && msg.contains("pgpass"), "{msg}");
        }
        assert_eq!(
            redact("postgres://u:pw@h:5432/db?sslmode=verify-full"),
            "postgres://u:***@h:5432/db?sslmode=verify-full"
        );
    }

    #[test]
    fn a_remote_server_needs_verify_full_and_local_ones_do_not() {
        let e = Location::parse("postgres://baton@db.example.org/baton").unwrap_err();
        assert!(matches!(e, LocationError::NeedsTls(_)), "{e}");
        assert!(e.to_string().contains("sslmode=verify-full"));
        assert!(
            Location::parse("postgres://baton@db.example.org/baton?sslmode=require").is_err(),
            "require does not check the certificate"
        );
        let ok = Location::parse("postgres://baton@db.example.org/baton?sslmode=verify-full").unwrap();
        assert!(matches!(&ok, Location::Postgres(u) if u.verify_full()));
        for local in [
            "postgres://baton@localhost/b",
            "postgres://baton@127.0.0.1:5433/b",
            "postgres://baton@[::1]/b",
            "postgres://baton@/b?host=/tmp/sock",
        ] {
            assert!(matches!(Location::parse(local), Ok(Location::Postgres(_))), "{local}");
        }
        assert!(matches!(Location::parse("/var/lib/baton/state.sqlite"), Ok(Location::Sqlite(_))));
    }

    #[test]
    fn sslrootcert_is_ours_to_read_and_needs_verify_full() {
        let u =
            PgUrl::parse("postgres://baton@db.example.org/b?sslmode=verify-full&sslrootcert=/etc/baton/my%20ca.pem")
                .unwrap();
        assert_eq!(u.rootcert(), Some("/etc/baton/my ca.pem"));
        let e = PgUrl::parse("postgres://baton@localhost/b?sslrootcert=/ca.pem").unwrap_err();
        assert!(e.to_string().contains("sslmode=verify-full"), "{e}");
        assert_eq!(PgUrl::parse("postgres://baton@localhost/b?sslmode=verify-full").unwrap().rootcert(), None);
    }

    #[test]
    fn every_call_is_bounded_by_statement_timeout_plus_connect_timeout() {
        use std::time::Duration;
        let u = PgUrl::parse("postgres://baton@localhost/b").unwrap();
        assert_eq!((u.statement_timeout(), u.call_limit()), (Duration::from_secs(30), Duration::from_secs(35)));
        let u = PgUrl::parse("postgres://baton@localhost/b?connect_timeout=1&statement_timeout=2.5").unwrap();
        assert_eq!((u.statement_timeout(), u.call_limit()), (Duration::from_millis(2500), Duration::from_millis(3500)));
        for bad in ["0", "-1", "abc", "inf", ""] {
            let e = PgUrl::parse(&format!("postgres://baton@localhost/b?statement_timeout={bad}")).unwrap_err();
            assert!(e.to_string().contains("statement_timeout=") && e.to_string().contains("seconds"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_silent_server_is_noticed_within_a_minute_unless_the_url_says_otherwise() {
        use std::time::Duration;
        let c = PgUrl::parse("postgres://baton@localhost/b").unwrap();
        let c = c.config();
        assert_eq!(
            (c.get_keepalives(), c.get_keepalives_idle(), c.get_keepalives_interval(), c.get_keepalives_retries()),
            (true, Duration::from_secs(30), Some(Duration::from_secs(10)), Some(3))
        );
        let c = PgUrl::parse("postgres://baton@localhost/b?keepalives_idle=600&keepalives_retries=9").unwrap();
        let c = c.config();
        assert_eq!((c.get_keepalives_idle(), c.get_keepalives_retries()), (Duration::from_secs(600), Some(9)));
    }

    #[test]
    fn pgpass_lines_split_on_unescaped_colons() {
        assert_eq!(split_pgpass(r"h:5432:db:u:pa\:ss"), ["h", "5432", "db", "u", "pa:ss"]);
    }
}
