//! Decoding in worker processes: untrusted media is parsed where a crash cannot take the host
//! down.
//!
//! symphonia allocates what a damaged header claims (an MP4 `co64` box claiming 0xFFFFFFFF
//! entries asks for 32 GiB) and an allocation failure aborts the process, which no
//! `catch_unwind` can stop. So the host never decodes or reads tags itself: [`Workers`] keeps a
//! small pool of persistent child processes, each running [`serve_stdio`] behind a hidden
//! command ([`WORKER_COMMAND`]) of the host's own binary.
//!
//! - The host opens each file itself (for plugins: beneath the grant) and hands the descriptor
//!   over a Unix socket (`SCM_RIGHTS`). Workers never open paths; the path they get only
//!   labels errors and gives the format hint.
//! - One file per request; the reply is the fingerprint and tags (a few KB), never audio.
//! - Each call has a deadline: the smaller of the per-file limit (`[fp] file_timeout_ms`) and
//!   the calling task's remaining time. When it passes, the worker is killed. A worker that
//!   dies (abort, stack overflow, the kernel's OOM killer) or overruns the per-file limit makes
//!   the file `corrupt` with the reason; a task budget that runs out first is
//!   [`FpError::TaskTimeout`] instead, which says nothing about the file.
//! - A worker limits its own address space and core dumps (`limit_resources`) and dies with
//!   its parent.
use baton_sync::Locked;
use std::fs::File;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage, SendFlags,
};
use serde::{Deserialize, Serialize};

use crate::error::{FpError, Result};
use baton_signal::decode::{AudioInfo, Tags};
use baton_signal::fingerprint::FileFingerprint;

/// The hidden first argument that turns a binary linking baton-fp into a worker: its `main`
/// calls [`serve_stdio`] when `argv[1]` is this.
pub const WORKER_COMMAND: &str = "__fp-worker";

/// A deep request ([`Workers::scan_file`] with `deep`) gets this many times the per-file limit.
pub const DEEP_TIMEOUT_FACTOR: u32 = 6;

/// The per-file limit when the configuration sets none (`[fp] file_timeout_ms`).
pub const DEFAULT_FILE_TIMEOUT: Duration = Duration::from_secs(10);

/// A worker's address-space limit: decoding 120 s of audio needs a few tens of MB, so a
/// header that claims gigabytes fails inside the worker instead of pressing on the machine.
const WORKER_ADDRESS_SPACE: u64 = 1 << 30;

/// Longest path label sent with a request (the label only names the file in messages).
const MAX_LABEL: usize = 4096;

/// Largest reply accepted from a worker (a fingerprint of 120 s is about 10 KB; the deep
/// prints of a 30-minute track about 1.2 MB).
const MAX_REPLY: usize = 4 << 20;

/// What a worker is asked to do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Fingerprint = 1,
    Tags = 2,
    /// The whole track: the prefix print plus the deep prints ([`baton_signal::deep`]).
    Deep = 3,
}

/// A worker's answer to one request.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Fingerprint {
        duration: f64,
        fingerprint: Vec<u32>,
        info: AudioInfo,
        tags: Tags,
    },
    Deep {
        duration: f64,
        fingerprint: Vec<u32>,
        deep: Vec<Vec<u32>>,
        info: AudioInfo,
        tags: Tags,
    },
    Tags {
        info: AudioInfo,
        tags: Tags,
    },
    /// The file could not be fingerprinted; `tags` are what could still be read of it.
    Failed {
        kind: String,
        detail: String,
        tags: Option<(AudioInfo, Tags)>,
    },
}

/// How to start workers.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The program to run as `EXE __fp-worker` (normally this very program).
    pub exe: PathBuf,
    /// Most workers alive at once; callers beyond that wait for one.
    pub workers: usize,
    /// The per-file limit.
    pub file_timeout: Duration,
}

impl WorkerConfig {
    /// Workers that run this program (which must offer [`WORKER_COMMAND`]).
    pub fn this_program(workers: usize, file_timeout: Duration) -> Self {
        // Without /proc, fall back to the name it was started by.
        let exe = std::env::current_exe().unwrap_or_else(|_| {
            std::env::args_os().next().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("baton"))
        });
        WorkerConfig { exe, workers: workers.max(1), file_timeout }
    }
}

/// The outcome of [`Workers::fingerprint_or_tags`]: the fingerprint, or why not with whatever
/// tags could still be read.
pub type ScanResult = std::result::Result<FileFingerprint, (FpError, Option<(AudioInfo, Tags)>)>;

/// A pool of persistent decoding workers. Shared by reference between threads.
pub struct Workers {
    config: WorkerConfig,
    slots: Mutex<Slots>,
    freed: Condvar,
}

struct Slots {
    idle: Vec<Worker>,
    busy: usize,
}

struct Worker {
    child: Child,
    sock: UnixStream,
}

impl Worker {
    /// Kills the worker (if it still runs) and says how it ended.
    fn end(mut self) -> String {
        let _ = self.child.kill();
        match self.child.wait() {
            Ok(status) => match (status.signal(), status.code()) {
                (Some(sig), _) => format!("killed by {}", signal_name(sig)),
                (None, Some(code)) => format!("exited with code {code}"),
                _ => status.to_string(),
            },
            Err(e) => format!("cannot be waited for: {e}"),
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        6 => "SIGABRT (an abort, e.g. a failed allocation)".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV (e.g. a stack overflow)".into(),
        7 => "SIGBUS".into(),
        4 => "SIGILL".into(),
        n => format!("signal {n}"),
    }
}

/// A worker taken from the pool; returned to it when dropped, unless [`Lease::discard`]ed.
struct Lease<'a> {
    pool: &'a Workers,
    worker: Option<Worker>,
}

impl Lease<'_> {
    fn get(&mut self) -> &mut Worker {
        self.worker.as_mut().expect("a lease holds a worker until it is dropped")
    }

    /// Ends the leased worker and says how it ended.
    fn discard(&mut self) -> String {
        self.worker.take().map(Worker::end).unwrap_or_default()
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        let mut slots = self.pool.lock();
        if let Some(w) = self.worker.take() {
            slots.idle.push(w);
        }
        slots.busy -= 1;
        self.pool.freed.notify_one();
    }
}

enum ReadFail {
    Timeout,
    Closed,
    /// A reply over [`MAX_REPLY`]: the worker is not trusted to be well any more.
    TooLarge(usize),
}

impl Workers {
    /// A pool; workers start on first use.
    pub fn new(config: WorkerConfig) -> Self {
        Workers { config, slots: Mutex::new(Slots { idle: Vec::new(), busy: 0 }), freed: Condvar::new() }
    }

    /// Most workers alive at once.
    pub fn size(&self) -> usize {
        self.config.workers.max(1)
    }

    /// The per-file limit of this pool.
    pub fn file_timeout(&self) -> Duration {
        self.config.file_timeout
    }

    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.locked()
    }

    fn spawn(&self) -> Result<Worker> {
        let (host, child) =
            UnixStream::pair().map_err(|e| FpError::Worker(format!("cannot create a socket pair: {e}")))?;
        let child_end: OwnedFd = child.into();
        let proc = Command::new(&self.config.exe)
            .arg(WORKER_COMMAND)
            .stdin(Stdio::from(child_end))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // An abort prints one line ("memory allocation of … failed"), not a backtrace.
            .env_remove("RUST_BACKTRACE")
            .env_remove("RUST_LIB_BACKTRACE")
            .spawn()
            .map_err(|e| {
                FpError::Worker(format!("cannot start {} {WORKER_COMMAND}: {e}", self.config.exe.display()))
            })?;
        Ok(Worker { child: proc, sock: host })
    }

    /// A worker for one call: an idle one, a new one while under the cap, or the next one
    /// freed. Waiting stops at `task_deadline`.
    fn checkout(&self, label: &Path, task_deadline: Option<Instant>) -> Result<Lease<'_>> {
        let mut slots = self.lock();
        loop {
            if let Some(w) = slots.idle.pop() {
                slots.busy += 1;
                return Ok(Lease { pool: self, worker: Some(w) });
            }
            if slots.busy < self.config.workers.max(1) {
                slots.busy += 1;
                drop(slots);
                // A lease without a worker gives back its slot when dropped.
                let mut lease = Lease { pool: self, worker: None };
                lease.worker = Some(self.spawn()?);
                return Ok(lease);
            }
            slots = match task_deadline {
                None => baton_sync::recover(self.freed.wait(slots)),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Err(FpError::TaskTimeout { path: label.to_path_buf() });
                    }
                    baton_sync::recover(self.freed.wait_timeout(slots, left)).0
                }
            };
        }
    }

    fn call(&self, op: Op, file: File, label: &Path, task_deadline: Option<Instant>) -> Result<Reply> {
        let corrupt = |detail: String| FpError::Corrupt { path: label.to_path_buf(), detail };
        let mut lease = self.checkout(label, task_deadline)?;
        // a deep request decodes the whole track (up to 30 min, not 120 s) and fingerprints it
        // at 7 speeds: it gets DEEP_TIMEOUT_FACTOR times the per-file limit
        let limit =
            if op == Op::Deep { self.config.file_timeout * DEEP_TIMEOUT_FACTOR } else { self.config.file_timeout };
        let file_deadline = Instant::now() + limit;
        let (deadline, by_task) = match task_deadline {
            Some(t) if t < file_deadline => (t, true),
            _ => (file_deadline, false),
        };
        if send_request(&lease.get().sock, op, &file, label).is_err() {
            // An idle worker that died since its last call: start a fresh one, once.
            lease.discard();
            lease.worker = Some(self.spawn()?);
            send_request(&lease.get().sock, op, &file, label)
                .map_err(|e| FpError::Worker(format!("cannot send a file to a new worker: {e}")))?;
        }
        drop(file);
        match read_reply(&mut lease.get().sock, deadline) {
            Ok(body) => serde_json::from_slice(&body).map_err(|e| {
                lease.discard();
                corrupt(format!("the decoding worker sent an unreadable reply ({e})"))
            }),
            Err(ReadFail::Timeout) => {
                lease.discard();
                if by_task {
                    Err(FpError::TaskTimeout { path: label.to_path_buf() })
                } else {
                    Err(corrupt(format!(
                        "decoding took longer than the per-file limit of {} ms ([fp] file_timeout_ms{})",
                        limit.as_millis(),
                        if op == Op::Deep {
                            format!(" x {DEEP_TIMEOUT_FACTOR} for a deep scan")
                        } else {
                            String::new()
                        }
                    )))
                }
            }
            Err(ReadFail::Closed) => {
                let how = lease.discard();
                Err(corrupt(format!("the decoder crashed on it (worker {how})")))
            }
            Err(ReadFail::TooLarge(len)) => {
                lease.discard();
                Err(corrupt(format!("the decoding worker sent a reply of {len} bytes (at most {MAX_REPLY})")))
            }
        }
    }

    /// Fingerprints the first 120 s of the open `file` in a worker.
    pub fn fingerprint(&self, file: File, label: &Path, task_deadline: Option<Instant>) -> Result<FileFingerprint> {
        self.fingerprint_or_tags(file, label, task_deadline).map_err(|(e, _)| e)
    }

    /// Like [`Workers::fingerprint`], but a failure also brings the tags the worker could
    /// still read (a scan keeps them in the file's error row).
    pub fn fingerprint_or_tags(&self, file: File, label: &Path, task_deadline: Option<Instant>) -> ScanResult {
        self.scan_file(file, label, task_deadline, false).map(|(fp, _)| fp)
    }

    /// [`Workers::fingerprint_or_tags`], and with `deep` also the whole-track prints at
    /// [`baton_signal::deep::SPEEDS`] (the worker decodes up to [`baton_signal::deep::MAX_SECONDS`]).
    pub fn scan_file(
        &self,
        file: File,
        label: &Path,
        task_deadline: Option<Instant>,
        deep: bool,
    ) -> std::result::Result<(FileFingerprint, Option<Vec<Vec<u32>>>), (FpError, Option<(AudioInfo, Tags)>)> {
        let op = if deep { Op::Deep } else { Op::Fingerprint };
        let fp = |duration, fingerprint, info, tags| FileFingerprint {
            path: label.to_path_buf(),
            duration,
            fingerprint,
            info,
            tags,
        };
        match self.call(op, file, label, task_deadline) {
            Ok(Reply::Fingerprint { duration, fingerprint, info, tags }) if !deep => {
                Ok((fp(duration, fingerprint, info, tags), None))
            }
            Ok(Reply::Deep { duration, fingerprint, deep: prints, info, tags }) if deep => {
                if prints.len() != baton_signal::deep::SPEEDS.len() {
                    return Err((
                        FpError::Worker(format!(
                            "a worker sent {} deep prints, not {}",
                            prints.len(),
                            baton_signal::deep::SPEEDS.len()
                        )),
                        None,
                    ));
                }
                Ok((fp(duration, fingerprint, info, tags), Some(prints)))
            }
            Ok(Reply::Failed { kind, detail, tags }) => Err((from_parts(label, &kind, detail), tags)),
            Ok(_) => Err((FpError::Worker("a worker answered another request".into()), None)),
            Err(e) => Err((e, None)),
        }
    }

    /// Tags and stream facts of the open `file`, read in a worker.
    pub fn read_tags(&self, file: File, label: &Path, task_deadline: Option<Instant>) -> Result<(AudioInfo, Tags)> {
        match self.call(Op::Tags, file, label, task_deadline)? {
            Reply::Tags { info, tags } => Ok((info, tags)),
            Reply::Failed { kind, detail, .. } => Err(from_parts(label, &kind, detail)),
            Reply::Fingerprint { .. } | Reply::Deep { .. } => {
                Err(FpError::Worker("a worker answered another request".into()))
            }
        }
    }
}

/// Opens `path` for a worker: without blocking on a FIFO or device, and only if it is a
/// regular file (checked on the descriptor, so a swap after the check cannot matter).
pub fn open_regular(path: &Path) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|e| FpError::Io { path: path.to_path_buf(), source: e })?;
    check_regular(&file, path)?;
    Ok(file)
}

/// Refuses a descriptor that is not a regular file (a FIFO, a device, a socket, a folder).
pub fn check_regular(file: &File, label: &Path) -> Result<()> {
    let meta = file.metadata().map_err(|e| FpError::Io { path: label.to_path_buf(), source: e })?;
    if meta.file_type().is_file() {
        Ok(())
    } else {
        Err(FpError::Unsupported {
            path: label.to_path_buf(),
            detail: "not a regular file (a FIFO, device or folder)".into(),
        })
    }
}

/// Rebuilds a worker's error on the host side.
fn from_parts(label: &Path, kind: &str, detail: String) -> FpError {
    let path = label.to_path_buf();
    match kind {
        "unsupported" => FpError::Unsupported { path, detail },
        "io" => FpError::Io { path, source: std::io::Error::other(detail) },
        _ => FpError::Corrupt { path, detail },
    }
}

/// A worker-side error as (kind, detail without the path).
fn to_parts(e: FpError) -> (String, String) {
    let kind = e.kind().to_string();
    let detail = match e {
        FpError::Unsupported { detail, .. } | FpError::Corrupt { detail, .. } | FpError::Move { detail, .. } => detail,
        FpError::Io { source, .. } => source.to_string(),
        other => other.to_string(),
    };
    (kind, detail)
}

fn send_request(sock: &UnixStream, op: Op, file: &File, label: &Path) -> std::io::Result<()> {
    let name = label.as_os_str().as_bytes();
    let name = &name[..name.len().min(MAX_LABEL)];
    let mut msg = Vec::with_capacity(5 + name.len());
    msg.push(op as u8);
    msg.extend_from_slice(&(name.len() as u32).to_le_bytes());
    msg.extend_from_slice(name);
    let fds = [file.as_fd()];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(std::io::Error::other("no room for the descriptor"));
    }
    // MSG_NOSIGNAL is Linux's; elsewhere std's ignored SIGPIPE turns a dead worker into EPIPE.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = SendFlags::NOSIGNAL;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = SendFlags::empty();
    let sent = rustix::net::sendmsg(sock, &[IoSlice::new(&msg)], &mut control, flags)?;
    // The descriptor went with the first byte; the rest of a long label follows plainly.
    (&*sock).write_all(&msg[sent..])
}

fn read_reply(sock: &mut UnixStream, deadline: Instant) -> std::result::Result<Vec<u8>, ReadFail> {
    let mut len = [0u8; 4];
    read_exact_by(sock, &mut len, deadline)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_REPLY {
        return Err(ReadFail::TooLarge(len));
    }
    let mut body = vec![0u8; len];
    read_exact_by(sock, &mut body, deadline)?;
    Ok(body)
}

fn read_exact_by(sock: &mut UnixStream, buf: &mut [u8], deadline: Instant) -> std::result::Result<(), ReadFail> {
    let mut n = 0;
    while n < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ReadFail::Timeout);
        }
        sock.set_read_timeout(Some(left.max(Duration::from_millis(1)))).map_err(|_| ReadFail::Closed)?;
        match sock.read(&mut buf[n..]) {
            Ok(0) => return Err(ReadFail::Closed),
            Ok(k) => n += k,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) => {}
            Err(_) => return Err(ReadFail::Closed),
        }
    }
    Ok(())
}

/// Caps the worker's address space and turns off core dumps.
///
/// A worker outlives its parent only as long as the file it is decoding: it sees its request
/// socket close and leaves its loop. Linux's parent-death signal is not used: it fires when the
/// *thread* that started the worker ends (a blocking-pool or scan thread going idle), not the
/// process, and killed workers in the middle of another thread's file, which was then reported
/// as one the decoder crashed on.
fn limit_resources() {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let _ = setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) });
    let _ =
        setrlimit(Resource::As, Rlimit { current: Some(WORKER_ADDRESS_SPACE), maximum: Some(WORKER_ADDRESS_SPACE) });
}

/// The worker's main loop, on the socket the pool passed as standard input: one request (an
/// operation, a label and a descriptor) at a time, one reply each, until the host closes the
/// socket. Returns the process exit code.
pub fn serve_stdio() -> i32 {
    limit_resources();
    // decode::guard turns panics into per-file errors; the default hook would print them too.
    std::panic::set_hook(Box::new(|_| {}));
    let sock = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => UnixStream::from(fd),
        Err(e) => {
            eprintln!("baton {WORKER_COMMAND}: standard input is unusable: {e}");
            return 2;
        }
    };
    loop {
        let (op, file, label) = match recv_request(&sock) {
            Ok(Some(r)) => r,
            Ok(None) => return 0,
            Err(e) => {
                eprintln!(
                    "baton {WORKER_COMMAND}: {e} (this command is started by baton itself, with a socket as standard input)"
                );
                return 2;
            }
        };
        let reply = match (op, file) {
            (_, None) => Reply::Failed {
                kind: "io".into(),
                detail: "no file descriptor came with the request".into(),
                tags: None,
            },
            (Op::Tags, Some(f)) => match baton_signal::decode::read_tags_file(f, &label) {
                Ok((info, tags)) => Reply::Tags { info, tags },
                Err(e) => failed(e.into(), None),
            },
            (op @ (Op::Fingerprint | Op::Deep), Some(f)) => {
                let again = f.try_clone().ok();
                let done = if op == Op::Deep {
                    baton_signal::fingerprint::deep_open_file(f, &label).map(|(fp, deep)| Reply::Deep {
                        duration: fp.duration,
                        fingerprint: fp.fingerprint,
                        deep,
                        info: fp.info,
                        tags: fp.tags,
                    })
                } else {
                    baton_signal::fingerprint::fingerprint_open_file(f, &label).map(|fp| Reply::Fingerprint {
                        duration: fp.duration,
                        fingerprint: fp.fingerprint,
                        info: fp.info,
                        tags: fp.tags,
                    })
                };
                match done {
                    Ok(reply) => reply,
                    Err(e) => {
                        // Tags are still worth keeping for a file that does not decode.
                        let tags = again.and_then(|mut f| {
                            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0)).ok()?;
                            baton_signal::decode::read_tags_file(f, &label).ok()
                        });
                        failed(e.into(), tags)
                    }
                }
            }
        };
        let body = serde_json::to_vec(&reply).unwrap_or_else(|e| {
            serde_json::to_vec(&failed(FpError::Invalid(format!("cannot encode the reply: {e}")), None))
                .unwrap_or_default()
        });
        let mut out = &sock;
        if out.write_all(&(body.len() as u32).to_le_bytes()).and_then(|_| out.write_all(&body)).is_err() {
            return 0; // the host is gone
        }
    }
}

fn failed(e: FpError, tags: Option<(AudioInfo, Tags)>) -> Reply {
    let (kind, detail) = to_parts(e);
    Reply::Failed { kind, detail, tags }
}

type Request = (Op, Option<File>, PathBuf);

fn recv_request(sock: &UnixStream) -> std::io::Result<Option<Request>> {
    let mut head = [0u8; 5];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    // The worker never executes anything, so a descriptor without close-on-exec (macOS has no
    // MSG_CMSG_CLOEXEC) cannot leak.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let flags = RecvFlags::CMSG_CLOEXEC;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let flags = RecvFlags::empty();
    let got = rustix::net::recvmsg(sock, &mut [IoSliceMut::new(&mut head)], &mut control, flags)?;
    if got.bytes == 0 {
        return Ok(None);
    }
    let mut file = None;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = msg {
            for fd in fds {
                file.get_or_insert(File::from(fd));
            }
        }
    }
    (&*sock).read_exact(&mut head[got.bytes..])?;
    let op = match head[0] {
        1 => Op::Fingerprint,
        2 => Op::Tags,
        3 => Op::Deep,
        n => return Err(std::io::Error::other(format!("unknown request {n}"))),
    };
    let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
    if len > MAX_LABEL {
        return Err(std::io::Error::other("label too long"));
    }
    let mut name = vec![0u8; len];
    (&*sock).read_exact(&mut name)?;
    Ok(Some((op, file, PathBuf::from(std::ffi::OsString::from_vec(name)))))
}
