//! The dashboard's key and tokens.
//!
//! The key (`bk_…`, 256 random bits) is made by `baton init` or `baton key rotate` and shown
//! once; only its SHA-256 is stored, in `<state dir>/dashboard-key` (mode 0600). Tokens live
//! in memory only: a one-time token (`baton dashboard`, through the Unix socket; 2 minutes)
//! is traded by the page for a session token (12 hours), and both are kept as hashes.
//! Comparisons are constant-time; neither the key nor a token is ever logged.
//!
//! So that a session survives a reload and a `serve` restart, the trade also sets a cookie
//! ([`Auth::cookie`]): HttpOnly (no script reads it), SameSite=Strict (no other site's page
//! sends it), scoped to `Path=/api/session` (no other route ever sees it, so it cannot act on
//! anything: a write still needs the session token in the `Authorization` header), and expiring
//! with the session. It holds no secret, only its expiry and a nonce, signed with HMAC-SHA256
//! under a key derived from the key file: a restart keeps it valid, `baton key rotate` ends it,
//! and the key itself never leaves the machine.
//!
//! A second, read-only key (`bk_ro_…`, `baton key rotate --read-only`, its hash in
//! `<state dir>/dashboard-key-read`) lets someone look without acting: it, and the sessions and
//! cookies traded for it, pass every read and get 403 `read_only` on every write (retry, pause,
//! resume, acknowledge, run an audit). It is a key of its own so that handing it out never
//! hands out the full key, and rotating it leaves the full key working.
use baton_sync::Locked;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::DashboardError;

const KEY_FILE: &str = "dashboard-key";
/// The read-only key's hash, beside the full key's.
const READ_KEY_FILE: &str = "dashboard-key-read";
const ONE_TIME_TTL: Duration = Duration::from_secs(120);
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The session cookie's name and the one route it is sent to.
pub(crate) const COOKIE: &str = "baton_session";
pub(crate) const COOKIE_PATH: &str = "/api/session";
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

/// Where the read-only key's hash is kept: beside the full key's.
pub fn read_key_file(state: &Path) -> PathBuf {
    state.parent().unwrap_or(Path::new(".")).join(READ_KEY_FILE)
}

/// Makes a new key, stores its hash (replacing an older one only with `replace`) and returns
/// it, to be shown once. `None`: a key exists and `replace` is false.
pub fn make_key(state: &Path, replace: bool) -> Result<Option<String>, DashboardError> {
    let file = key_file(state);
    if !replace && file.exists() {
        return Ok(None);
    }
    write_key(&file, "bk_").map(Some)
}

/// Makes a new read-only key (replacing the one before; the full key is untouched) and returns
/// it, to be shown once.
pub fn make_read_only_key(state: &Path) -> Result<String, DashboardError> {
    write_key(&read_key_file(state), "bk_ro_")
}

/// A new random key whose SHA-256 replaces `file` (mode 0600, written whole or not at all).
fn write_key(file: &Path, prefix: &str) -> Result<String, DashboardError> {
    let dir = file.parent().unwrap_or(Path::new("."));
    baton_fs::ensure_dir(dir).map_err(|e| DashboardError::io(dir, e))?;
    let key = random_secret(prefix);
    let name = file.file_name().map_or_else(|| KEY_FILE.into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| DashboardError::io(&tmp, e))?;
        f.write_all(format!("sha256:{}\n", hex::encode(digest(&key))).as_bytes())
            .map_err(|e| DashboardError::io(&tmp, e))?;
        f.sync_all().map_err(|e| DashboardError::io(&tmp, e))?;
    }
    std::fs::rename(&tmp, file).map_err(|e| DashboardError::io(file, e))?;
    Ok(key)
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
    ReadOnlySession,
}

/// Checks the keys and keeps the tokens.
pub(crate) struct Auth {
    file: PathBuf,
    read_file: PathBuf,
    tokens: Mutex<HashMap<[u8; 32], (Kind, Instant)>>,
}

/// What a credential turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Who {
    Key,
    Session,
    OneTime,
    ReadOnlyKey,
    ReadOnlySession,
}

impl Who {
    /// A credential that may look but not act.
    pub fn read_only(self) -> bool {
        matches!(self, Who::ReadOnlyKey | Who::ReadOnlySession)
    }

    /// A credential the API takes (a one-time token is only ever traded for a session).
    pub fn is_api(self) -> bool {
        self != Who::OneTime
    }
}

impl Auth {
    /// `file`: the full key's hash ([`key_file`]); the read-only key's is beside it.
    pub fn new(file: PathBuf) -> Self {
        let read_file = file.with_file_name(READ_KEY_FILE);
        Auth { file, read_file, tokens: Mutex::new(HashMap::new()) }
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
        if let Some(stored) = stored_hash(&self.read_file)
            && same(&stored, &h)
        {
            return Some(Who::ReadOnlyKey);
        }
        let mut tokens = self.tokens.locked();
        let now = Instant::now();
        tokens.retain(|_, (_, until)| *until > now);
        let (kind, _) = *tokens.get(&h)?;
        match kind {
            Kind::Session => Some(Who::Session),
            Kind::ReadOnlySession => Some(Who::ReadOnlySession),
            Kind::OneTime => {
                tokens.remove(&h);
                Some(Who::OneTime)
            }
        }
    }

    fn mint(&self, kind: Kind, ttl: Duration) -> String {
        let token = random_secret("bt_");
        let mut tokens = self.tokens.locked();
        if tokens.len() >= MAX_TOKENS
            && let Some(oldest) = tokens.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k)
        {
            tokens.remove(&oldest);
        }
        tokens.insert(digest(&token), (kind, Instant::now() + ttl));
        token
    }

    /// The cookie-signing key: derived from the key file's contents (the key's hash, mode
    /// 0600), so it is the same after a restart and changes when the key is rotated. A
    /// read-only session's cookie is signed under both keys' hashes (the full one if any), so
    /// rotating either ends it. `None` without the key file: no cookie is issued or taken.
    fn cookie_key(&self, read_only: bool) -> Option<[u8; 32]> {
        let mut h = Sha256::new();
        if read_only {
            h.update(b"baton dashboard read-only session cookie v1\0");
            h.update(stored_hash(&self.read_file)?);
            h.update(stored_hash(&self.file).unwrap_or_default());
        } else {
            h.update(b"baton dashboard session cookie v1\0");
            h.update(stored_hash(&self.file)?);
        }
        Some(h.finalize().into())
    }

    fn mac(key: &[u8; 32], payload: &str) -> [u8; 32] {
        use hmac::{KeyInit, Mac};
        let mut m = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes a key of any length");
        m.update(payload.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// A `Set-Cookie` value for a new session (read-only or not), expiring with it (`None`: no
    /// key file).
    pub fn cookie(&self, now_unix: i64, read_only: bool) -> Option<String> {
        let key = self.cookie_key(read_only)?;
        let expires = now_unix + SESSION_TTL.as_secs() as i64;
        let nonce: [u8; 16] = rand::random();
        let payload = format!("{}.{expires}.{}", if read_only { "r1" } else { "v1" }, hex::encode(nonce));
        let value = format!("{payload}.{}", hex::encode(Self::mac(&key, &payload)));
        Some(format!(
            "{COOKIE}={value}; Max-Age={}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict",
            SESSION_TTL.as_secs()
        ))
    }

    /// A `Set-Cookie` value that removes the cookie (signing out).
    pub fn cookie_cleared() -> String {
        format!("{COOKIE}=; Max-Age=0; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict")
    }

    /// Whether a `Cookie` header carries a session cookie signed under the current keys and not
    /// yet expired: `Some(read_only)` for the first that does, `None` if none does.
    pub fn check_cookie(&self, header: &str, now_unix: i64) -> Option<bool> {
        header.split(';').filter_map(|c| c.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('='))).find_map(
            |value| {
                let (payload, mac) = value.rsplit_once('.')?;
                let mut parts = payload.split('.');
                let (Some(version), Some(expires), Some(_nonce), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return None;
                };
                let read_only = match version {
                    "v1" => false,
                    "r1" => true,
                    _ => return None,
                };
                let key = self.cookie_key(read_only)?;
                let mac = <[u8; 32]>::try_from(hex::decode(mac).ok()?).ok()?;
                (same(&Self::mac(&key, payload), &mac) && expires.parse::<i64>().is_ok_and(|e| e > now_unix))
                    .then_some(read_only)
            },
        )
    }

    /// Ends a session token (signing out).
    pub fn revoke(&self, secret: &str) {
        self.tokens.locked().remove(&digest(secret));
    }

    pub fn one_time(&self) -> String {
        self.mint(Kind::OneTime, ONE_TIME_TTL)
    }

    /// A session token: read-only when traded for the read-only key or its cookie.
    pub fn session(&self, read_only: bool) -> String {
        self.mint(if read_only { Kind::ReadOnlySession } else { Kind::Session }, SESSION_TTL)
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
        let s = auth.session(false);
        assert_eq!(auth.check(&s), Some(Who::Session));
        assert_eq!(auth.check(&s), Some(Who::Session));
        let new_key = make_key(&state, true).unwrap().unwrap();
        assert_eq!(auth.check(&key), None, "a rotated key is refused at once");
        assert_eq!(auth.check(&new_key), Some(Who::Key));
        // The read-only key: a key of its own; rotating it leaves the full key working.
        let ro = make_read_only_key(&state).unwrap();
        assert!(ro.starts_with("bk_ro_") && !std::fs::read_to_string(read_key_file(&state)).unwrap().contains(&ro));
        assert_eq!(auth.check(&ro), Some(Who::ReadOnlyKey));
        assert!(auth.check(&ro).is_some_and(Who::read_only) && !Who::Key.read_only());
        let ro_session = auth.session(true);
        assert_eq!(auth.check(&ro_session), Some(Who::ReadOnlySession));
        let ro2 = make_read_only_key(&state).unwrap();
        assert_eq!((auth.check(&ro), auth.check(&ro2)), (None, Some(Who::ReadOnlyKey)));
        assert_eq!(auth.check(&new_key), Some(Who::Key), "the full key keeps working");
    }

    #[test]
    fn the_session_cookie_is_signed_expires_and_ends_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state/baton.sqlite");
        let auth = Auth::new(key_file(&state));
        assert!(auth.cookie(1_000, false).is_none(), "no key file, no cookie");
        make_key(&state, false).unwrap().unwrap();
        let set = auth.cookie(1_000, false).unwrap();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/session", "Max-Age=43200"] {
            assert!(set.contains(attr), "{set}");
        }
        let pair = set.split(';').next().unwrap().to_string();
        let header = format!("other=1; {pair}");
        assert_eq!(auth.check_cookie(&header, 1_000), Some(false));
        assert!(
            Auth::new(key_file(&state)).check_cookie(&header, 2_000).is_some(),
            "another process (a restarted serve) takes it"
        );
        assert!(auth.check_cookie(&header, 1_000 + 12 * 3600).is_none(), "expired");
        let value = pair.strip_prefix("baton_session=").unwrap();
        let (payload, mac) = value.rsplit_once('.').unwrap();
        let later =
            payload.replacen("v1.43200", "v1.99999999", 1).replacen(&format!("v1.{}", 1_000 + 43200), "v1.99999999", 1);
        assert!(
            auth.check_cookie(&format!("baton_session={later}.{mac}"), 1_000).is_none(),
            "a changed expiry breaks the signature"
        );
        assert!(auth.check_cookie("baton_session=garbage", 1_000).is_none());
        assert!(auth.check_cookie(&format!("baton_session={payload}.{}", "00".repeat(32)), 1_000).is_none());
        // A read-only session's cookie says so, and cannot be made a full one by its version.
        make_read_only_key(&state).unwrap();
        let ro = auth.cookie(1_000, true).unwrap();
        let ro_pair = ro.split(';').next().unwrap().to_string();
        assert_eq!(auth.check_cookie(&ro_pair, 1_000), Some(true));
        assert!(auth.check_cookie(&ro_pair.replacen("=r1.", "=v1.", 1), 1_000).is_none(), "signed as read-only");
        make_read_only_key(&state).unwrap();
        assert!(auth.check_cookie(&ro_pair, 1_000).is_none(), "a rotated read-only key ends its cookies");
        assert_eq!(auth.check_cookie(&header, 1_000), Some(false), "and not the full key's");
        make_key(&state, true).unwrap().unwrap();
        assert!(auth.check_cookie(&header, 1_000).is_none(), "a rotated key ends every cookie");
    }
}
