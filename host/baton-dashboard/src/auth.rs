//! The dashboard's key and tokens.
//!
//! The key (`bk_…`, 256 random bits) is made by `baton init` or `baton key rotate` and shown
//! once; only its SHA-256 is stored, in `<state dir>/dashboard-key` (mode 0600). Tokens live
//! in memory only: a one-time token (`baton dashboard`, through the Unix socket; 2 minutes)
//! is traded by the page for a session token (12 hours), and both are kept as hashes.
//! Comparisons are constant-time; neither the key nor a token is ever logged.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::DashboardError;

const KEY_FILE: &str = "dashboard-key";
const ONE_TIME_TTL: Duration = Duration::from_secs(120);
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// Tokens kept at most (oldest dropped first): a flood of requests cannot grow memory.
const MAX_TOKENS: usize = 4096;

/// Where the key's hash is kept: next to the state database.
pub fn key_file(state: &Path) -> PathBuf {
    state.parent().unwrap_or(Path::new(".")).join(KEY_FILE)
}

fn digest(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

fn random_secret(prefix: &str) -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// Makes a new key, stores its hash (replacing an older one only with `replace`) and returns
/// it, to be shown once. `None`: a key exists and `replace` is false.
pub fn make_key(state: &Path, replace: bool) -> Result<Option<String>, DashboardError> {
    let file = key_file(state);
    if !replace && file.exists() {
        return Ok(None);
    }
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| DashboardError::io(dir, e))?;
    let key = random_secret("bk_");
    let tmp = dir.join(format!(".{KEY_FILE}.{}.tmp", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(|e| DashboardError::io(&tmp, e))?;
        f.write_all(format!("sha256:{}\n", hex::encode(digest(&key))).as_bytes()).map_err(|e| DashboardError::io(&tmp, e))?;
        f.sync_all().map_err(|e| DashboardError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, &file).map_err(|e| DashboardError::io(&file, e))?;
    Ok(Some(key))
}

fn stored_hash(file: &Path) -> Option<[u8; 32]> {
    let text = std::fs::read_to_string(file).ok()?;
    let hex_part = text.trim().strip_prefix("sha256:")?;
    hex::decode(hex_part).ok()?.try_into().ok()
}

fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    OneTime,
    Session,
}

/// Checks the key and keeps the tokens.
pub(crate) struct Auth {
    file: PathBuf,
    tokens: Mutex<HashMap<[u8; 32], (Kind, Instant)>>,
}

/// What a credential turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Key,
    Session,
    OneTime,
}

impl Auth {
    pub fn new(file: PathBuf) -> Self {
        Auth { file, tokens: Mutex::new(HashMap::new()) }
    }

    /// The key (read from its file each time, so `baton key rotate` takes effect at once) or
    /// a live session token. A one-time token is consumed here.
    pub fn check(&self, secret: &str) -> Option<Who> {
        if secret.is_empty() || secret.len() > 256 {
            return None;
        }
        let h = digest(secret);
        if let Some(stored) = stored_hash(&self.file)
            && same(&stored, &h)
        {
            return Some(Who::Key);
        }
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        tokens.retain(|_, (_, until)| *until > now);
        let (kind, _) = *tokens.get(&h)?;
        match kind {
            Kind::Session => Some(Who::Session),
            Kind::OneTime => {
                tokens.remove(&h);
                Some(Who::OneTime)
            }
        }
    }

    fn mint(&self, kind: Kind, ttl: Duration) -> String {
        let token = random_secret("bt_");
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if tokens.len() >= MAX_TOKENS
            && let Some(oldest) = tokens.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k)
        {
            tokens.remove(&oldest);
        }
        tokens.insert(digest(&token), (kind, Instant::now() + ttl));
        token
    }

    pub fn one_time(&self) -> String {
        self.mint(Kind::OneTime, ONE_TIME_TTL)
    }

    pub fn session(&self) -> String {
        self.mint(Kind::Session, SESSION_TTL)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_stored_as_a_hash_and_tokens_trade_once() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/baton.sqlite");
        let key = make_key(&state, false).unwrap().unwrap();
        assert!(make_key(&state, false).unwrap().is_none(), "an existing key is kept");
        let stored = std::fs::read_to_string(key_file(&state)).unwrap();
        assert!(!stored.contains(&key) && stored.starts_with("sha256:"));
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(key_file(&state)).unwrap().permissions().mode() & 0o777, 0o600);
        let auth = Auth::new(key_file(&state));
        assert_eq!(auth.check(&key), Some(Who::Key));
        assert_eq!(auth.check("bk_wrong"), None);
        let once = auth.one_time();
        assert_eq!(auth.check(&once), Some(Who::OneTime));
        assert_eq!(auth.check(&once), None, "a one-time token works once");
        let s = auth.session();
        assert_eq!(auth.check(&s), Some(Who::Session));
        assert_eq!(auth.check(&s), Some(Who::Session));
        let new_key = make_key(&state, true).unwrap().unwrap();
        assert_eq!(auth.check(&key), None, "a rotated key is refused at once");
        assert_eq!(auth.check(&new_key), Some(Who::Key));
    }
}
