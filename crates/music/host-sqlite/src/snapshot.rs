//! The work behind `baton:plugin/sqlite`, on host types: a consistent private copy of a granted
//! SQLite database, opened read-only behind an authorizer.
//!
//! Why a copy: the databases plugins read (djay's `MediaLibrary.db`) are open in another program
//! that keeps writing them, in WAL mode. Opening the original would take locks that program
//! sees, and could run a checkpoint or recovery that writes to it. So [`Snapshots::open`]
//! copies the `.db` with its `-wal` and `-shm` into a private folder (0700) and checks that none
//! of the three changed while it copied (device, inode, size and mtime before and after); on a
//! change it copies again, up to [`TRIES`] times, then answers `busy`. The original is only
//! ever opened for reading, beneath the grant (`baton_host_fp::locate` splits the guest path,
//! `cap-primitives` resolves it so no `..` or symlink leads out).
//!
//! The copy is opened with `SQLITE_OPEN_READ_ONLY` (its `-wal` is read through the copied
//! `-shm`, which SQLite may rebuild: the folder is ours). Every statement passes an authorizer
//! that allows reads only (see [`authorize`]): no `ATTACH`, no pragma outside a read-only list,
//! no function that touches files or loads code, no write, no transaction control; and it must
//! be one statement that SQLite itself calls read-only. A progress handler stops a query when
//! the task's time runs out.
//!
//! Memory: SQLite builds values in the host's memory, beyond the task's meter, and by default
//! lets one string or blob reach 1 GB (`randomblob(1e9)`), times up to 2,000 columns. So each
//! copy's connection caps a value and the SQL text ([`MAX_VALUE_BYTES`], [`MAX_SQL_BYTES`]),
//! forbids attached databases outright, and everything SQLite allocates for a task's snapshots
//! is charged to that task's own budget ([`Limits::memory_bytes`], see [`crate::budget`]),
//! never to a limit the ledger shares; a row is copied out value by value, stopping at the
//! call's cap. Sorts and temporary tables stay in memory (`temp_store = MEMORY`), within that
//! budget: a read-only query writes no temporary files.
//!
//! Copies are removed when the snapshot is dropped (with the task's store at the latest); a
//! folder left by a process that died is swept when the next host starts. A task holds at most
//! [`Limits::snapshots_per_task`] snapshots, and all copies of the host together at most
//! [`Limits::copy_bytes`].
use baton_sync::Locked;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::budget::{Budget, Charging};
use baton_runtime::Grant;
use baton_runtime::grants::GrantDir;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};

/// Most rows one `query` returns.
pub const MAX_ROWS: u32 = 10_000;
/// Most bytes (values as the plugin receives them) one `query` returns: a call that would go
/// over stops early with `more` set, so the plugin pages on.
pub const MAX_CALL_BYTES: usize = 16 << 20;
/// Longest string or blob SQLite may build for a snapshot's query (`SQLITE_LIMIT_LENGTH`).
pub const MAX_VALUE_BYTES: i32 = MAX_CALL_BYTES as i32;
/// Longest SQL text of one query.
pub const MAX_SQL_BYTES: i32 = 1 << 20;
/// Default of [`Limits::memory_bytes`]: SQLite memory of one task's snapshots together.
pub const DEFAULT_MEMORY_BYTES: usize = 256 << 20;
/// Page cache of a snapshot's connection (KiB, as `PRAGMA cache_size = -N`).
const CACHE_KIB: i64 = 8 << 10;
/// Copies of a changing database before `busy`.
pub const TRIES: usize = 3;
/// Prefix of the private folders, followed by the owning process id.
const DIR_PREFIX: &str = "snap-";
/// Read-only pragmas a plugin may run (schema discovery). Any other pragma is denied.
const PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "user_version",
    "application_id",
    "page_count",
    "page_size",
    "encoding",
];
/// Of those, the ones that take an argument (a table or index name); the others must have none
/// (`PRAGMA user_version = 5` writes).
const PRAGMAS_WITH_ARGUMENT: &[&str] =
    &["table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"];
/// Functions that read or write files or load code (some exist only in builds with extensions;
/// denied by name whatever the build).
const FUNCTIONS_DENIED: &[&str] = &[
    "load_extension",
    "readfile",
    "writefile",
    "edit",
    "fts3_tokenizer",
    "zipfile",
    "sqlar_uncompress",
    "sqlar_compress",
];

/// Why a call failed, before it is converted to the WIT `sqlite-error`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SqlError {
    #[error("denied: {0}")]
    Denied(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error("busy: {0}")]
    Busy(String),
    #[error("io: {0}")]
    Io(String),
    /// A fault on the host's side that may pass (the state disk full or failing while the copy
    /// is written): the plugin reads it as `io`, and if the task then fails, the attempt does
    /// not count and it runs again (`StoreState::host_fault`).
    #[error("io: {0}")]
    HostFault(String),
    /// The task's time budget ran out: the call traps and the task fails `timeout`.
    #[error("the task's time ran out")]
    TaskTimeout,
}

/// An error of the host's own disk (where copies are made): a fault that may pass (full, I/O
/// error, quota, read-only for a while) is [`SqlError::HostFault`], any other is `Io`.
fn host_side(what: String, e: &std::io::Error) -> SqlError {
    // ENOSPC, EIO, EDQUOT, EROFS: the same faults the pipeline pauses on for its own folders.
    if matches!(e.raw_os_error(), Some(28 | 5 | 122 | 30)) { SqlError::HostFault(what) } else { SqlError::Io(what) }
}

/// One SQL value, as the plugin sends and receives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// What the value costs the plugin once lowered (payload plus the variant's slot).
    fn weight(&self) -> usize {
        16 + match self {
            Value::Text(s) => s.len(),
            Value::Blob(b) => b.len(),
            _ => 0,
        }
    }
}

/// One page of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
    pub more: bool,
    /// What the page weighs (see [`MAX_CALL_BYTES`]); charged to the task's memory meter.
    pub bytes: usize,
}

/// Limits on the snapshots of one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Snapshots one task may hold at once.
    pub snapshots_per_task: usize,
    /// Bytes of all copies of this host together.
    pub copy_bytes: u64,
    /// SQLite memory of one task's snapshots together (page cache, sorts, temporary tables,
    /// values being built): a query over it fails `out of memory`, and nothing else notices.
    pub memory_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { snapshots_per_task: 4, copy_bytes: 2 << 30, memory_bytes: DEFAULT_MEMORY_BYTES }
    }
}

/// What the live snapshots of a host use.
#[derive(Default)]
struct Usage {
    bytes: u64,
    /// Snapshots each task holds, and the budget they share.
    per_task: HashMap<String, (usize, Arc<Budget>)>,
}

/// A task's claim on the host's limits: one snapshot, and the bytes of its copy. Given back
/// when dropped.
struct Lease {
    usage: Arc<Mutex<Usage>>,
    task: String,
    bytes: u64,
    budget: Arc<Budget>,
}

impl Lease {
    /// Sets the bytes of the copy; refused when all copies would go over `limit`.
    fn resize(&mut self, bytes: u64, limit: u64, guest: &str) -> Result<(), SqlError> {
        let mut u = self.usage.locked();
        let others = u.bytes - self.bytes;
        if others.saturating_add(bytes) > limit {
            return Err(SqlError::Io(format!(
                "{guest}: a copy of {} MiB does not fit: snapshots may use {} MiB of temporary copies in all, and {} MiB are in use; drop other snapshots first, or raise [sqlite] copy_mb in baton.toml",
                mib(bytes),
                mib(limit),
                mib(others)
            )));
        }
        u.bytes = others + bytes;
        self.bytes = bytes;
        Ok(())
    }
}

fn mib(b: u64) -> u64 {
    b.div_ceil(1 << 20)
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut u = self.usage.locked();
        u.bytes -= self.bytes;
        if let Some((n, _)) = u.per_task.get_mut(&self.task) {
            *n -= 1;
            if *n == 0 {
                u.per_task.remove(&self.task);
            }
        }
    }
}

/// The snapshot service of one host process: where copies go, and the limits.
pub struct Snapshots {
    root: PathBuf,
    limits: Limits,
    usage: Arc<Mutex<Usage>>,
}

/// A consistent, read-only copy of one database. Dropping it closes the connection, then
/// removes the copy.
pub struct Snapshot {
    conn: Mutex<Connection>,
    /// Why the authorizer refused the statement being prepared.
    denial: Arc<Mutex<Option<String>>>,
    /// Set to stop the running query (its call was abandoned).
    cancel: Arc<AtomicBool>,
    deadline: Instant,
    guest: String,
    _dir: tempfile::TempDir,
    /// The task's SQLite memory budget, shared by its snapshots.
    budget: Arc<Budget>,
    _lease: Lease,
}

impl Snapshots {
    /// Copies go into folders under `root` (created 0700). Folders there left by processes
    /// that are gone are removed now.
    pub fn new(root: PathBuf, limits: Limits) -> Self {
        if !crate::budget::installed() {
            tracing::warn!(
                "SQLite started before baton could install its allocator: snapshot memory is not limited per task"
            );
        }
        let s = Snapshots { root, limits, usage: Arc::default() };
        let swept = s.sweep();
        if swept > 0 {
            tracing::info!(root = %s.root.display(), swept, "removed sqlite snapshot copies left by processes that died");
        }
        s
    }

    /// Removes the copy folders of processes that no longer run; returns how many.
    pub fn sweep(&self) -> usize {
        let Ok(rd) = std::fs::read_dir(&self.root) else { return 0 };
        let mut n = 0;
        for e in rd.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|s| s.strip_prefix(DIR_PREFIX))
                .and_then(|s| s.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            if pid as u32 == std::process::id() || process_alive(pid) {
                continue;
            }
            if std::fs::remove_dir_all(e.path()).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Opens a snapshot of the database at the guest path `guest` for the task `task`, within
    /// its `deadline`. `cancel` stops the copy when the call is abandoned.
    pub fn open(
        &self,
        grants: &[Grant],
        dirs: &[GrantDir],
        guest: &str,
        task: &str,
        deadline: Instant,
        cancel: &AtomicBool,
    ) -> Result<Snapshot, SqlError> {
        self.open_with(grants, dirs, guest, task, deadline, cancel, &mut |_| {})
    }

    /// [`Snapshots::open`], calling `between(try)` after each copy and before the check (tests
    /// change the original there).
    pub fn open_with(
        &self,
        grants: &[Grant],
        dirs: &[GrantDir],
        guest: &str,
        task: &str,
        deadline: Instant,
        cancel: &AtomicBool,
        between: &mut dyn FnMut(usize),
    ) -> Result<Snapshot, SqlError> {
        let (i, rel) = baton_host_fp::locate_at(grants, guest).map_err(|e| match e {
            baton_host_fp::ServiceError::Denied(m) => SqlError::Denied(m),
            other => SqlError::Io(format!("{other:?}")),
        })?;
        let mut lease = self.lease(task, guest)?;
        let dir = self.private_dir(guest)?;
        // The grant's folder as opened when the plugin was loaded, never its path resolved again.
        let Some(held) = dirs.get(i) else {
            return Err(SqlError::Io(format!("{guest}: the grant's folder is not open")));
        };
        let root: &File = &held.file;
        let rel = real_name(root, &held.real, &rel, guest)?;
        let copy = Copy { root, rel: &rel, guest, dest: dir.path(), deadline, cancel };
        copy.consistent(&mut lease, self.limits.copy_bytes, between)?;
        let db = dir.path().join(COPY_NAMES[0]);
        let snapshot = open_copy(&db, guest, deadline, dir, lease)?;
        tracing::debug!(task, guest, "sqlite snapshot opened");
        Ok(snapshot)
    }

    fn lease(&self, task: &str, guest: &str) -> Result<Lease, SqlError> {
        let mut u = self.usage.locked();
        let memory = self.limits.memory_bytes;
        let (n, budget) = u.per_task.entry(task.to_string()).or_insert_with(|| (0, Budget::new(memory)));
        if *n >= self.limits.snapshots_per_task {
            return Err(SqlError::Io(format!(
                "{guest}: this task already holds {} snapshots (at most {}); drop one before opening another",
                n, self.limits.snapshots_per_task
            )));
        }
        *n += 1;
        let budget = budget.clone();
        Ok(Lease { usage: self.usage.clone(), task: task.to_string(), bytes: 0, budget })
    }

    fn private_dir(&self, guest: &str) -> Result<tempfile::TempDir, SqlError> {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let io = |e: std::io::Error| {
            host_side(
                format!("{guest}: cannot make a private folder for the copy under {}: {e}", self.root.display()),
                &e,
            )
        };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.root).map_err(io)?;
        tempfile::Builder::new()
            .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(&self.root)
            .map_err(io)
    }
}

/// The name SQLite itself would use: when the database is reached through a symlink, its
/// `-wal` and `-shm` sit beside the file it points to. That target must be inside the grant too.
/// The name inside the grant of the file `rel` names: `rel` itself, or for a symlink, where it
/// leads. Resolved once, beneath the grant's folder handle (`root`, really at `base`): the link
/// is opened there (it cannot leave the grant), and the name is read back from that open
/// file, so a link flipped meanwhile cannot point anywhere outside.
fn real_name(root: &File, base: &Path, rel: &Path, guest: &str) -> Result<PathBuf, SqlError> {
    match cap_primitives::fs::stat(root, rel, cap_primitives::fs::FollowSymlinks::No) {
        Ok(m) if m.is_symlink() => {}
        _ => return Ok(rel.to_path_buf()),
    }
    let denied = || SqlError::Denied(format!("{guest}: a symlink that leads outside the grant"));
    let mut opts = cap_primitives::fs::OpenOptions::new();
    {
        use cap_primitives::fs::OpenOptionsExt;
        opts.read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
    }
    let file = cap_primitives::fs::open(root, rel, &opts).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => denied(),
        _ => SqlError::Io(format!("{guest}: {e}")),
    })?;
    let real = baton_host_fp::path_of_open(&file).ok_or_else(denied)?;
    real.strip_prefix(base).map(Path::to_path_buf).map_err(|_| denied())
}

fn process_alive(pid: i32) -> bool {
    match rustix::process::Pid::from_raw(pid) {
        // EPERM: it runs, as another user.
        Some(p) => !matches!(rustix::process::test_kill_process(p), Err(rustix::io::Errno::SRCH)),
        None => false,
    }
}

/// The database and its two companions, as copied.
const COPY_NAMES: [&str; 3] = ["snapshot.db", "snapshot.db-wal", "snapshot.db-shm"];
const SUFFIXES: [&str; 3] = ["", "-wal", "-shm"];

/// What identifies a file's content for the consistency check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
}

impl Stamp {
    fn of(m: &cap_primitives::fs::Metadata) -> Stamp {
        use cap_primitives::fs::MetadataExt;
        Stamp { dev: m.dev(), ino: m.ino(), size: m.size(), mtime: (m.mtime(), m.mtime_nsec()) }
    }
}

/// One consistent copy of a database beneath a grant.
struct Copy<'a> {
    root: &'a File,
    rel: &'a Path,
    guest: &'a str,
    dest: &'a Path,
    deadline: Instant,
    cancel: &'a AtomicBool,
}

impl Copy<'_> {
    fn rel(&self, suffix: &str) -> PathBuf {
        let mut s = self.rel.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    }

    fn io(&self, suffix: &str, e: std::io::Error) -> SqlError {
        let what = format!("{}{suffix}", self.guest);
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                SqlError::Denied(format!("{what}: {e} (it leads outside the grant, or may not be read)"))
            }
            std::io::ErrorKind::NotFound => SqlError::Io(format!("{what}: no such file")),
            _ => SqlError::Io(format!("{what}: {e}")),
        }
    }

    /// Opens one of the three files beneath the grant, read-only, without blocking, and only if
    /// it is a regular file. `None`: a companion that is not there.
    fn open(&self, suffix: &str) -> Result<Option<(File, Stamp)>, SqlError> {
        use cap_primitives::fs::OpenOptionsExt;
        let mut opts = cap_primitives::fs::OpenOptions::new();
        opts.read(true).custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
        let file = match cap_primitives::fs::open(self.root, &self.rel(suffix), &opts) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !suffix.is_empty() => return Ok(None),
            Err(e) => return Err(self.io(suffix, e)),
        };
        let meta = cap_primitives::fs::Metadata::from_file(&file).map_err(|e| self.io(suffix, e))?;
        if !meta.is_file() {
            return Err(SqlError::Invalid(format!("{}{suffix}: not a regular file", self.guest)));
        }
        Ok(Some((file, Stamp::of(&meta))))
    }

    /// The stamp of one file now, by path beneath the grant (`None`: not there).
    fn stamp(&self, suffix: &str) -> Result<Option<Stamp>, SqlError> {
        match cap_primitives::fs::stat(self.root, &self.rel(suffix), cap_primitives::fs::FollowSymlinks::Yes) {
            Ok(m) => Ok(Some(Stamp::of(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.io(suffix, e)),
        }
    }

    /// Copies until the three files stay the same during a whole copy, at most [`TRIES`] times.
    fn consistent(&self, lease: &mut Lease, limit: u64, between: &mut dyn FnMut(usize)) -> Result<(), SqlError> {
        for attempt in 1..=TRIES {
            let mut opened = Vec::with_capacity(3);
            for suffix in SUFFIXES {
                opened.push(self.open(suffix)?);
            }
            let total = opened.iter().flatten().map(|(_, s)| s.size).sum();
            lease.resize(total, limit, self.guest)?;
            for (i, f) in opened.iter_mut().enumerate() {
                let dest = self.dest.join(COPY_NAMES[i]);
                let _ = std::fs::remove_file(&dest);
                if let Some((file, _)) = f {
                    self.copy_file(file, &dest)?;
                }
            }
            between(attempt);
            let mut same = true;
            for (i, suffix) in SUFFIXES.into_iter().enumerate() {
                let before = opened[i].as_ref().map(|(_, s)| *s);
                // Same name, same file, same size and mtime; and the open file itself unchanged
                // (a file written in place keeps its inode).
                let now_open = match &opened[i] {
                    Some((f, _)) => {
                        Some(Stamp::of(&cap_primitives::fs::Metadata::from_file(f).map_err(|e| self.io(suffix, e))?))
                    }
                    None => None,
                };
                same &= self.stamp(suffix)? == before && now_open == before;
            }
            if same {
                return Ok(());
            }
            tracing::debug!(guest = self.guest, attempt, "the database changed while it was copied; copying again");
        }
        Err(SqlError::Busy(format!(
            "{}: the database kept changing while it was copied ({TRIES} tries); try again when the program that writes it is idle",
            self.guest
        )))
    }

    /// Copies one file in chunks, stopping when the task's time runs out or the call is
    /// abandoned.
    fn copy_file(&self, from: &mut File, dest: &Path) -> Result<(), SqlError> {
        use std::os::unix::fs::OpenOptionsExt;
        let io = |e: std::io::Error| SqlError::Io(format!("{}: copying: {e}", self.guest));
        // Writing the copy is the host's own disk: its faults are the host's, not the file's.
        let write = |e: std::io::Error| host_side(format!("{}: copying: {e}", self.guest), &e);
        let mut out = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(dest).map_err(write)?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            if Instant::now() >= self.deadline {
                return Err(SqlError::TaskTimeout);
            }
            if self.cancel.load(Ordering::Relaxed) {
                return Err(SqlError::Io(format!("{}: the call was abandoned", self.guest)));
            }
            let n = match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io(e)),
            };
            out.write_all(&buf[..n]).map_err(write)?;
        }
        Ok(())
    }
}

/// Opens the copy read-only with the authorizer and the deadline installed.
fn open_copy(
    db: &Path,
    guest: &str,
    deadline: Instant,
    dir: tempfile::TempDir,
    lease: Lease,
) -> Result<Snapshot, SqlError> {
    let budget = lease.budget.clone();
    let charging = Charging::start(&budget);
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags)
        .map_err(|e| SqlError::Io(format!("{guest}: cannot open the copy: {e}")))?;
    let invalid = |e: rusqlite::Error| SqlError::Invalid(format!("{guest}: not an SQLite database ({e})"));
    // Defence in depth: no writes to the schema even through corruption tricks, and functions
    // in the file's own views and triggers run only when harmless.
    let _ = conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_DEFENSIVE, true);
    let _ = conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_TRUSTED_SCHEMA, false);
    // Memory: no string or blob, SQL text or row may outgrow what one call may return, so
    // `zeroblob(2e9)`, `randomblob(1e9)`, `printf('%.*c', 1e9, 'x')` or a `group_concat` over
    // an endless CTE fail `string or blob too big` instead of allocating gigabytes in the host
    // (SQLite's default is 1 GB per value, times up to 2,000 result columns).
    for (limit, value) in [
        (rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES),
        (rusqlite::limits::Limit::SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_BYTES),
        (rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED, 0),
    ] {
        conn.set_limit(limit, value)
            .map_err(|e| SqlError::Io(format!("{guest}: cannot limit the copy's connection: {e}")))?;
    }
    // Reading the schema is the check that this is a database at all.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).map_err(invalid)?;
    // Sorts and temporary b-trees in memory (charged to the task's budget), never in temporary
    // files no quota counts; a bounded page cache.
    conn.execute_batch(&format!("PRAGMA temp_store = MEMORY; PRAGMA cache_size = -{CACHE_KIB};"))
        .map_err(|e| SqlError::Io(format!("{guest}: cannot limit the copy's connection: {e}")))?;
    let denial: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = denial.clone();
    conn.authorizer(Some(move |ctx: AuthContext<'_>| match authorize(&ctx) {
        Ok(()) => Authorization::Allow,
        Err(why) => {
            *seen.locked() = Some(why);
            Authorization::Deny
        }
    }));
    let cancel = Arc::new(AtomicBool::new(false));
    let stop = cancel.clone();
    conn.progress_handler(10_000, Some(move || stop.load(Ordering::Relaxed) || Instant::now() >= deadline));
    drop(charging);
    Ok(Snapshot {
        conn: Mutex::new(conn),
        denial,
        cancel,
        deadline,
        guest: guest.to_string(),
        _dir: dir,
        budget,
        _lease: lease,
    })
}

/// Whether one step of a statement being prepared is a read. `Err` says what was refused.
pub fn authorize(ctx: &AuthContext<'_>) -> Result<(), String> {
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => Ok(()),
        AuthAction::Function { function_name } => {
            let f = function_name.to_ascii_lowercase();
            if FUNCTIONS_DENIED.contains(&f.as_str()) {
                Err(format!("the function {function_name}() is not allowed (it touches files or loads code)"))
            } else {
                Ok(())
            }
        }
        AuthAction::Pragma { pragma_name, pragma_value } => {
            let p = pragma_name.to_ascii_lowercase();
            let allowed = PRAGMAS.contains(&p.as_str())
                && (pragma_value.is_none() || PRAGMAS_WITH_ARGUMENT.contains(&p.as_str()));
            if allowed {
                Ok(())
            } else {
                Err(format!("PRAGMA {pragma_name} is not allowed (allowed: {})", PRAGMAS.join(", ")))
            }
        }
        AuthAction::Attach { .. } => Err("ATTACH is not allowed: a snapshot reads one database".into()),
        AuthAction::Detach { .. } => Err("DETACH is not allowed".into()),
        // CREATE, DROP and ALTER first write the schema table.
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if table_name.starts_with("sqlite_") =>
        {
            Err("changing the schema (CREATE, DROP, ALTER) is not allowed: the snapshot is read-only".into())
        }
        AuthAction::Insert { .. } => Err("INSERT is not allowed: the snapshot is read-only".into()),
        AuthAction::Update { .. } => Err("UPDATE is not allowed: the snapshot is read-only".into()),
        AuthAction::Delete { .. } => Err("DELETE is not allowed: the snapshot is read-only".into()),
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Err("transaction control is not allowed: a snapshot never changes, each query sees all of it".into())
        }
        other => Err(format!("{} is not allowed: the snapshot is read-only", kind_name(&other))),
    }
}

fn kind_name(a: &AuthAction<'_>) -> String {
    let dbg = format!("{a:?}");
    let name = dbg.split([' ', '{', '(']).next().unwrap_or("this statement").to_string();
    // CreateTable → CREATE TABLE
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl Snapshot {
    /// The guest path it was opened from.
    pub fn guest(&self) -> &str {
        &self.guest
    }

    /// Stops the query running on this snapshot (its call was abandoned).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    /// Runs one read-only statement with positional `params`; at most `max_rows` (capped at
    /// [`MAX_ROWS`]) rows and about [`MAX_CALL_BYTES`] bytes.
    pub fn query(&self, sql: &str, params: &[Value], max_rows: u32) -> Result<Rows, SqlError> {
        let conn = self.conn.locked();
        let _charging = Charging::start(&self.budget);
        self.budget.take_refused();
        self.cancel.store(false, Ordering::Relaxed);
        *self.denial.locked() = None;
        let mut st = match conn.prepare(sql) {
            Ok(st) => st,
            Err(e) => return Err(self.prepare_error(e)),
        };
        // The authorizer saw every step; SQLite's own verdict closes what it cannot name
        // (VACUUM INTO writes a file and has no authorizer code of its own).
        if !st.readonly() {
            return Err(SqlError::Denied("only statements that read are allowed: the snapshot is read-only".into()));
        }
        if st.parameter_count() != params.len() {
            return Err(SqlError::Invalid(format!(
                "the statement has {} parameters and {} values were given",
                st.parameter_count(),
                params.len()
            )));
        }
        for (i, p) in params.iter().enumerate() {
            let v = match p {
                Value::Null => rusqlite::types::Value::Null,
                Value::Integer(i) => rusqlite::types::Value::Integer(*i),
                Value::Real(f) => rusqlite::types::Value::Real(*f),
                Value::Text(s) => rusqlite::types::Value::Text(s.clone()),
                Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
            };
            st.raw_bind_parameter(i + 1, v).map_err(|e| SqlError::Invalid(format!("parameter {}: {e}", i + 1)))?;
        }
        let columns: Vec<String> = st.column_names().into_iter().map(String::from).collect();
        let limit = max_rows.min(MAX_ROWS) as usize;
        let mut bytes = columns.iter().map(|c| c.len() + 16).sum::<usize>();
        let mut out = Vec::new();
        let mut more = false;
        let mut rows = st.raw_query();
        loop {
            let row = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return Err(self.step_error(e)),
            };
            if out.len() == limit {
                more = true;
                break;
            }
            let mut values = Vec::with_capacity(columns.len());
            let mut weight = 0;
            for i in 0..columns.len() {
                // Checked value by value: a row of many large columns stops at the first that
                // does not fit, before the next is copied.
                if bytes + weight > MAX_CALL_BYTES {
                    break;
                }
                let v = match row.get_ref(i).map_err(|e| SqlError::Invalid(e.to_string()))? {
                    rusqlite::types::ValueRef::Null => Value::Null,
                    rusqlite::types::ValueRef::Integer(i) => Value::Integer(i),
                    rusqlite::types::ValueRef::Real(f) => Value::Real(f),
                    rusqlite::types::ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                    rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                };
                weight += v.weight();
                values.push(v);
            }
            if bytes + weight > MAX_CALL_BYTES {
                if out.is_empty() {
                    return Err(SqlError::Invalid(format!(
                        "one row weighs {weight} bytes, over the {MAX_CALL_BYTES} bytes one query may return; select fewer or smaller columns"
                    )));
                }
                more = true;
                break;
            }
            bytes += weight;
            out.push(values);
        }
        Ok(Rows { columns, rows: out, more, bytes })
    }

    fn prepare_error(&self, e: rusqlite::Error) -> SqlError {
        if let Some(why) = self.denial.locked().take() {
            return SqlError::Denied(why);
        }
        match e {
            rusqlite::Error::MultipleStatement => SqlError::Invalid("one statement per query".into()),
            e => self.step_error(e),
        }
    }

    fn step_error(&self, e: rusqlite::Error) -> SqlError {
        if let rusqlite::Error::SqliteFailure(f, _) = &e {
            if f.code == rusqlite::ErrorCode::OperationInterrupted {
                return if Instant::now() >= self.deadline {
                    SqlError::TaskTimeout
                } else {
                    SqlError::Io("the query was abandoned".into())
                };
            }
            if f.code == rusqlite::ErrorCode::AuthorizationForStatementDenied {
                return SqlError::Denied("the statement is not allowed".into());
            }
            if self.budget.take_refused() || f.code == rusqlite::ErrorCode::OutOfMemory {
                return SqlError::Invalid(format!(
                    "out of memory: the query needs more than the {} MiB of SQLite memory this task's snapshots may use together (sorts and temporary tables included); narrow it, or raise [sqlite] task_memory_mb in baton.toml",
                    self.budget.limit() >> 20
                ));
            }
        }
        SqlError::Invalid(e.to_string())
    }
}

#[cfg(test)]
mod tests;
