//! The TLS set-up of a `sslmode=verify-full` URL: the trusted roots and the rustls
//! configuration, built once per URL ([`crate::location::PgUrl`] keeps it) and used by
//! [`crate::connect`].
//!
//! The trusted roots follow libpq's `sslrootcert`:
//! - `sslrootcert=/path/ca.pem`: only the certificates in that PEM file;
//! - `sslrootcert=system`: the operating system's trust store;
//! - not given: `~/.postgresql/root.crt` when it exists (libpq's default), else the system's
//!   trust store.
//!
//! The system's store is read with `rustls-native-certs` rather than compiling in Mozilla's
//! list (`webpki-roots`) on purpose: a self-hosted database server usually has a certificate
//! from a private or company CA that an administrator installed into the system store, which a
//! frozen built-in list would never trust; and the system store is updated with the system.
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// A URL's TLS set-up, built once per URL: the rustls configuration and, for messages, where
/// its roots came from.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) config: Arc<rustls::ClientConfig>,
    pub(crate) roots: String,
}

/// Why a URL's TLS set-up could not be built. Each message names the roots' source and the
/// fix (the URL's `sslrootcert=`), since only this module knows where the roots were looked for.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "sslmode=verify-full: no trusted root certificates found in the system's store{}; name the CA's PEM file with \
         `sslrootcert=/path/to/ca.pem` in the state URL",
        if why.is_empty() { String::new() } else { format!(" ({})", why.join("; ")) }
    )]
    NoSystemRoots { why: Vec<String> },
    #[error("TLS set-up: {0}")]
    Setup(#[source] rustls::Error),
    #[error("sslrootcert file {}: {source}; name a PEM file holding the CA's certificate", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("sslrootcert file {}: not a PEM certificate ({detail:?}); name a PEM file holding the CA's certificate", path.display())]
    NotPem { path: PathBuf, detail: rustls::pki_types::pem::Error },
    #[error(
        "sslrootcert file {}: a certificate rustls cannot use ({source}); name a PEM file holding the CA's certificate",
        path.display()
    )]
    Unusable { path: PathBuf, source: rustls::Error },
    #[error("sslrootcert file {}: no certificate in it; name a PEM file holding the CA's certificate", path.display())]
    Empty { path: PathBuf },
}

/// Builds the TLS configuration for `sslrootcert` (`None`: not given).
pub(crate) fn tls_config(rootcert: Option<&str>) -> Result<Tls, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    let default_file = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql").join("root.crt"));
    let file = match rootcert {
        Some("system") => None,
        Some(path) => Some(PathBuf::from(path)),
        None => default_file.filter(|f| f.is_file()),
    };
    let roots = match &file {
        Some(path) => {
            let n = add_pem_file(&mut store, path)?;
            format!("{n} certificate(s) from {}", path.display())
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            let (added, _) = store.add_parsable_certificates(found.certs);
            if added == 0 {
                let why = found.errors.iter().map(|e| e.to_string()).collect();
                return Err(TlsError::NoSystemRoots { why });
            }
            format!("the system's {added} trusted roots")
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Setup)?
        .with_root_certificates(store)
        .with_no_client_auth();
    Ok(Tls { config: Arc::new(config), roots })
}

/// Adds the certificates of a PEM file to `store`; returns how many.
fn add_pem_file(store: &mut rustls::RootCertStore, path: &Path) -> Result<usize, TlsError> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let path_buf = || path.to_path_buf();
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read { path: path_buf(), source })?;
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|detail| TlsError::NotPem { path: path_buf(), detail })?;
        store.add(cert).map_err(|source| TlsError::Unusable { path: path_buf(), source })?;
        n += 1;
    }
    if n == 0 {
        return Err(TlsError::Empty { path: path_buf() });
    }
    Ok(n)
}

/// One URL's [`Tls`], built on first use: the roots are read once per parsed URL (and its
/// clones), so a URL parsed again reads them again; a failure is kept too, shared (`Arc`)
/// between the sessions that meet it.
#[derive(Clone, Default)]
pub(crate) struct Cache(Arc<OnceLock<Result<Tls, Arc<TlsError>>>>);

impl Cache {
    pub(crate) fn get(&self, rootcert: Option<&str>) -> Result<Tls, Arc<TlsError>> {
        self.0.get_or_init(|| tls_config(rootcert).map_err(Arc::new)).clone()
    }
}
