//! What every end-to-end test needs: a baton home in a temporary folder made by the real
//! `baton init`, and ways to run the real binary on it and read what it wrote.
#![allow(dead_code)] // each test target uses its own subset

pub mod audio;
pub mod cdp;
pub mod djay_fixture;
pub mod http;
pub mod pg;
pub mod renamed_repo;
pub mod spotify;
pub mod state;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_baton-e2e");

/// The program a [`Home`] runs: [`BIN`], or `$BATON_BIN` for a benchmark that drives a release
/// build through these tests (bench/README.md; `baton-host` is found beside it).
pub fn bin() -> std::ffi::OsString {
    std::env::var_os("BATON_BIN").unwrap_or_else(|| BIN.into())
}

/// The real files in the steering repository's `shared/realworld/` (exports, djay blobs,
/// Rekordbox XML, plans, handoff trees), read in place and never copied into this repository.
/// `$BATON_REALWORLD` overrides the location; a missing folder fails the test with the fix,
/// so CI cannot pass by skipping the real-world corpus.
pub fn realworld() -> PathBuf {
    let dir = match std::env::var_os("BATON_REALWORLD") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/realworld"),
    };
    assert!(
        dir.is_dir(),
        "the real-world corpus is not at {}: check out the project beside `shared/`, or set BATON_REALWORLD",
        dir.display()
    );
    dir.canonicalize().expect("canonical realworld path")
}

pub struct Home {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    /// `$XDG_CACHE_HOME` of this home's commands.
    cache: PathBuf,
    /// The ledger's URL when this run keeps it on PostgreSQL (see [`test_state`]), passed to
    /// every command as `$BATON_STATE` (an explicit `--state` still wins).
    pub state: Option<String>,
}

/// `BATON_TEST_STATE=postgres` runs a test target against the PostgreSQL ledger: one private
/// server for the whole test process (started on first use, stopped by an exit hook, since a
/// `static` is never dropped), and a database of its own for every home. Unset or `sqlite`:
/// the embedded default. Anything else is refused, so a typo cannot quietly test SQLite.
fn test_state() -> Option<String> {
    static PG: OnceLock<Option<pg::Pg>> = OnceLock::new();
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    match std::env::var("BATON_TEST_STATE").as_deref() {
        Err(_) | Ok("") | Ok("sqlite") => return None,
        Ok("postgres") => {}
        Ok(other) => panic!("BATON_TEST_STATE={other}: use `postgres` or `sqlite`"),
    }
    let pg = PG
        .get_or_init(|| {
            let pg = pg::Pg::start();
            if pg.is_some() {
                extern "C" fn stop() {
                    if let Some(Some(pg)) = PG.get() {
                        pg.shutdown();
                    }
                }
                // SAFETY: registering a plain `extern "C" fn` with no captured state.
                unsafe { libc::atexit(stop) };
            }
            pg
        })
        .as_ref()?;
    let db = format!("home_{}", NEXT.fetch_add(1, Ordering::Relaxed));
    pg.create_db(&db);
    Some(pg.url(&db))
}

/// The compiled-component cache the homes of one test run share, as one user's homes do: a
/// plugin is compiled once per run instead of once per test (a cold `baton init` compiles
/// every bundled plugin, seconds of CPU). It starts empty on a fresh checkout. Tests about
/// the cache itself use [`Home::init_own_cache`].
fn shared_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("shared-xdg-cache")
}

impl Home {
    /// `baton init`, then fast settle/retry/reconcile settings, `settings` replacing top-level
    /// `key = value` lines of baton.toml, and `extra` appended to it.
    pub fn init(settings: &[(&str, &str)], extra: &str) -> Self {
        Self::init_with(settings, extra, false, test_state())
    }

    /// As [`Home::init`], with every command's ledger at `state` (a `postgres://` URL; `None`:
    /// the SQLite file), whatever `BATON_TEST_STATE` says: for tests that run one scenario on
    /// both backends (see [`state::Backend`]).
    pub fn init_on(state: Option<&str>, settings: &[(&str, &str)], extra: &str) -> Self {
        Self::init_with(settings, extra, false, state.map(str::to_string))
    }

    /// As [`Home::init`], with a compiled-component cache of its own (for tests that count
    /// what is in the cache).
    pub fn init_own_cache(settings: &[(&str, &str)], extra: &str) -> Self {
        Self::init_with(settings, extra, true, test_state())
    }

    fn init_with(settings: &[(&str, &str)], extra: &str, own_cache: bool, state: Option<String>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("home");
        let cache = if own_cache { dir.path().join("xdg-cache") } else { shared_cache() };
        let h = Home { _dir: dir, root, cache, state };
        h.ok(&["init"]);
        let toml_path = h.root.join("baton.toml");
        let mut toml = std::fs::read_to_string(&toml_path).unwrap();
        let mut all: Vec<(&str, &str)> =
            vec![("settle_ms", "100"), ("reconcile_secs", "1"), ("base_ms", "20"), ("cap_ms", "100")];
        all.extend_from_slice(settings);
        for (k, v) in all {
            let start = toml.find(&format!("\n{k} = ")).unwrap_or_else(|| panic!("no {k} in baton.toml")) + 1;
            let end = start + toml[start..].find('\n').unwrap();
            toml.replace_range(start..end, &format!("{k} = {v}"));
        }
        toml.push_str(extra);
        std::fs::write(&toml_path, toml).unwrap();
        h
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.arg("--home").arg(&self.root).args(args).env_remove("BATON_FAILPOINT").env("BATON_LOG", "warn");
        // The compiled-component cache is per user: shared by the run's homes (see `shared_cache`).
        c.env("XDG_CACHE_HOME", self.cache_root());
        match &self.state {
            Some(url) => c.env("BATON_STATE", url),
            None => c.env_remove("BATON_STATE"),
        };
        c
    }

    /// `$XDG_CACHE_HOME` of this home's commands: compiled components are in `baton/` below.
    pub fn cache_root(&self) -> PathBuf {
        self.cache.clone()
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(out.status.success(), "baton {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_slice(&self.ok(args).stdout).unwrap()
    }

    pub fn dir(&self, agent: &str, sub: &str) -> PathBuf {
        self.root.join("handoffs").join(agent).join(sub)
    }

    pub fn inbox(&self) -> PathBuf {
        self.dir("baton", "01_inbox")
    }

    /// Drops a file into baton's inbox atomically (temp name outside it, then rename).
    pub fn drop_file(&self, name: impl AsRef<OsStr>, bytes: impl AsRef<[u8]>) {
        let tmp = self.root.join(".tmp-drop");
        std::fs::write(&tmp, bytes).unwrap();
        std::fs::rename(&tmp, self.inbox().join(name.as_ref())).unwrap();
    }

    /// Every RETURN in an agent's inbox, by `in_reply_to`.
    pub fn returns(&self, agent: &str) -> HashMap<String, Vec<Value>> {
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for e in std::fs::read_dir(self.dir(agent, "01_inbox")).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.contains("__RETURN__") || name.starts_with('.') {
                continue;
            }
            let v: Value = serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
            out.entry(v["in_reply_to"].as_str().unwrap().to_string()).or_default().push(v);
        }
        out
    }
}

/// `baton init` of a bare `home` (with `--state STATE` when given): tests that drive one
/// subcommand on homes of their own (`fp`, `catalog`) start from a real home, since every
/// command that reads a home refuses a folder that is not one.
pub fn init_home(home: &std::path::Path, state: Option<&std::path::Path>) {
    let mut c = Command::new(bin());
    c.arg("--home").arg(home);
    if let Some(s) = state {
        c.arg("--state").arg(s);
    }
    let out =
        c.arg("init").env_remove("BATON_STATE").env_remove("BATON_HOME").env("BATON_LOG", "warn").output().unwrap();
    assert!(out.status.success(), "baton init {}: {}", home.display(), String::from_utf8_lossy(&out.stderr));
}

/// Waits for `child` (a `baton serve --once`), polling its peak RSS (`VmHWM`, in KiB) every
/// 5 ms. Panics if it fails, or has not exited `limit` after `started` (it is killed then).
pub fn wait_measuring_peak_rss(child: &mut Child, started: Instant, limit: Duration) -> u64 {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file)
            && let Some(kb) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(st) = child.try_wait().unwrap() {
            assert!(st.success(), "serve --once failed: {st}");
            return peak;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("serve --once did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Claude Code's side of a team inbox: a Node process locking with `proper-lockfile`, the lock
/// library Claude Code's own inbox writes use (tests/claude-side/writer.js). `count` times it
/// marks every message not from `sender` read and appends one from `sender` (`"SENDER I"`),
/// `pause_ms` apart. `./x setup` installs its one dependency.
pub fn claude_side(inbox: &Path, count: usize, sender: &str, pause_ms: u64) -> Child {
    claude_code(&[inbox.as_os_str(), count.to_string().as_ref(), sender.as_ref(), pause_ms.to_string().as_ref()])
        .spawn()
        .expect("node runs (./x setup installs nodejs)")
}

/// tests/claude-side/writer.js with `args`, its output piped.
fn claude_code(args: &[&std::ffi::OsStr]) -> Command {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("claude-side");
    assert!(
        dir.join("node_modules/proper-lockfile").is_dir(),
        "proper-lockfile is not installed in {}: run `./x setup` (npm ci --prefix tests/claude-side)",
        dir.display()
    );
    let mut c = Command::new("node");
    c.arg(dir.join("writer.js")).args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    c
}

/// What Claude Code does to a team inbox, done as it does it (under its lock, the whole array
/// written back), by its side's Node process; waits for it and fails the test if it failed.
pub enum ClaudeCode<'a> {
    /// It takes the unread message with this text for its agent (sets `read`).
    Notices(&'a str),
    /// A teammate writes a message (`from`, `text`).
    Writes(&'a str, &'a str),
    /// It empties the inbox.
    Clears,
}

pub fn claude_code_does(inbox: &Path, what: ClaudeCode) {
    let i = inbox.as_os_str();
    let out = match what {
        ClaudeCode::Notices(text) => claude_code(&["--notice".as_ref(), i, text.as_ref()]).output(),
        ClaudeCode::Writes(from, text) => claude_code(&["--write".as_ref(), i, from.as_ref(), text.as_ref()]).output(),
        ClaudeCode::Clears => claude_code(&["--clear".as_ref(), i]).output(),
    }
    .expect("node runs (./x setup installs nodejs)");
    assert!(
        out.status.success(),
        "Claude Code's side failed on {}: {}",
        inbox.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
