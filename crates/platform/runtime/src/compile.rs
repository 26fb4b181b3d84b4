//! Compiling a component to native code in a worker process, with memory and time limits.
//!
//! Cranelift's memory and time grow with what a component contains, not with its size on
//! disk: a 7.5 MB component can take gigabytes and minutes. A compile inside the host would
//! take the host (and every other plugin's tasks) down with it, so the host re-executes its own
//! program with the hidden [`WORKER_COMMAND`], hands it the component on standard input, and
//! reads the compiled code from its standard output. Meanwhile it watches the worker's resident
//! memory and CPU time and kills it over [`CompileLimits`] (`[plugins] compile_mb`,
//! `compile_s`): rlimits alone do not hold on macOS, so they are only a second line on Linux.
//!
//! Where no worker program was named ([`use_worker`]; library tests), the compile runs
//! in-process, still off the async threads, without limits.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The hidden subcommand of the host's own program that compiles one component.
pub const WORKER_COMMAND: &str = "__compile-worker";

/// Exit code of a worker whose input wasmtime refused (not a limit).
const INVALID: i32 = 3;

/// How much a compile may take. The defaults let a 20 MB componentize-py component (CPython
/// and its standard library) compile with three times headroom on 2 cores (bench/README.md,
/// "Compile limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// The worker's resident memory.
    pub memory_bytes: u64,
    /// The worker's CPU time, all threads together. Wall time is capped at three times this
    /// (plus 5 s), for a worker starved of CPU or stuck.
    pub cpu: Duration,
}

impl CompileLimits {
    pub const DEFAULT_MB: u64 = 2048;
    pub const DEFAULT_SECS: u64 = 120;
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits { memory_bytes: Self::DEFAULT_MB << 20, cpu: Duration::from_secs(Self::DEFAULT_SECS) }
    }
}

/// Why a compile did not give code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    #[error(
        "exceeded the compile memory limit of {limit_mb} MB (the compiler passed it; stopped): raise `compile_mb` \
         under [plugins] in baton.toml to compile this component"
    )]
    Memory { limit_mb: u64 },
    #[error(
        "exceeded the compile time limit of {limit_s} s ({what}; stopped): raise `compile_s` under [plugins] in \
         baton.toml to compile this component"
    )]
    Time { limit_s: u64, what: &'static str },
    /// wasmtime refused the bytes (not a limit).
    #[error("{0}")]
    Invalid(String),
    #[error("the compile worker failed: {0}")]
    Worker(String),
}

/// What one worker compile took (for the benchmarks and the log).
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileStats {
    pub peak_rss_bytes: u64,
    pub cpu: Duration,
    pub wall: Duration,
}

static WORKER: OnceLock<PathBuf> = OnceLock::new();

/// Names the program that offers [`WORKER_COMMAND`] (the host's own executable). Set once per
/// process, by the binary's `main`: which program can compile is a property of the process,
/// not of one runtime, and a library test's executable has no such command.
pub fn use_worker(program: PathBuf) {
    let _ = WORKER.set(program);
}

pub(crate) fn worker_program() -> Option<&'static Path> {
    WORKER.get().map(PathBuf::as_path)
}

/// Compiles `bytes` in a worker of `program`, under `limits`.
pub fn in_worker(program: &Path, limits: CompileLimits, bytes: &[u8]) -> Result<(Vec<u8>, CompileStats), CompileError> {
    let started = Instant::now();
    let mut child = Command::new(program)
        .arg(WORKER_COMMAND)
        .arg(limits.memory_bytes.to_string())
        .arg(limits.cpu.as_millis().to_string())
        .env_clear()
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CompileError::Worker(format!("cannot start {} {WORKER_COMMAND}: {e}", program.display())))?;
    let pid = child.id();
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(CompileError::Worker("no pipes to the worker".into()));
    };
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    // Compiled code is never larger than the memory the worker may use.
    let cap = limits.memory_bytes;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        (&mut stdout).take(cap + 1).read_to_end(&mut out)?;
        // Past the cap (refused below): drained, so the worker is never left blocked on a full pipe.
        std::io::copy(&mut stdout, &mut std::io::sink())?;
        Ok::<_, std::io::Error>(out)
    });
    let errors = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = (&mut stderr).take(64 << 10).read_to_string(&mut s);
        s
    });
    let wall_limit = limits.cpu * 3 + Duration::from_secs(5);
    let mut stats = CompileStats::default();
    let mut over: Option<CompileError> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) => {}
            Err(e) => {
                over = Some(CompileError::Worker(format!("waiting for the worker: {e}")));
                break None;
            }
        }
        if let Some(s) = usage(pid) {
            stats.peak_rss_bytes = stats.peak_rss_bytes.max(s.rss_bytes).max(s.peak_rss_bytes);
            stats.cpu = s.cpu;
        }
        if stats.peak_rss_bytes > limits.memory_bytes {
            over = Some(CompileError::Memory { limit_mb: limits.memory_bytes >> 20 });
        } else if stats.cpu > limits.cpu {
            over = Some(CompileError::Time { limit_s: limits.cpu.as_secs(), what: "CPU time" });
        } else if started.elapsed() > wall_limit {
            over = Some(CompileError::Time { limit_s: limits.cpu.as_secs(), what: "wall time, three times the limit" });
        }
        if over.is_some() {
            break None;
        }
        // Watched closely at first (most components compile in well under a second), then
        // every 20 ms.
        std::thread::sleep(if started.elapsed() < Duration::from_millis(200) {
            Duration::from_millis(2)
        } else {
            Duration::from_millis(20)
        });
    };
    if status.is_none() {
        let _ = child.kill();
    }
    let status = match status {
        Some(s) => s,
        None => child.wait().map_err(|e| CompileError::Worker(format!("waiting for the worker: {e}")))?,
    };
    stats.wall = started.elapsed();
    let _ = writer.join();
    let out = reader.join().map_err(|_| CompileError::Worker("reader thread panicked".into()))?;
    let said = errors.join().unwrap_or_default();
    if let Some(e) = over {
        tracing::warn!(
            peak_rss_mb = stats.peak_rss_bytes >> 20,
            cpu_ms = stats.cpu.as_millis() as u64,
            "compile stopped: {e}"
        );
        return Err(e);
    }
    if status.success() {
        let out = out.map_err(|e| CompileError::Worker(format!("reading its output: {e}")))?;
        if out.len() as u64 > cap {
            return Err(CompileError::Memory { limit_mb: limits.memory_bytes >> 20 });
        }
        tracing::debug!(
            peak_rss_mb = stats.peak_rss_bytes >> 20,
            cpu_ms = stats.cpu.as_millis() as u64,
            wall_ms = stats.wall.as_millis() as u64,
            "compiled in a worker"
        );
        return Ok((out, stats));
    }
    if status.code() == Some(INVALID) {
        return Err(CompileError::Invalid(said.trim().to_string()));
    }
    // Killed by the second line (Linux rlimits): the CPU limit sends SIGXCPU, a refused
    // allocation aborts.
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(libc::SIGXCPU) => Err(CompileError::Time { limit_s: limits.cpu.as_secs(), what: "CPU time" }),
        _ if said.contains("memory allocation") => Err(CompileError::Memory { limit_mb: limits.memory_bytes >> 20 }),
        _ => Err(CompileError::Worker(format!("{status}: {}", said.trim()))),
    }
}

struct Usage {
    rss_bytes: u64,
    peak_rss_bytes: u64,
    cpu: Duration,
}

/// The worker's resident memory and CPU time, from `/proc`.
#[cfg(target_os = "linux")]
fn usage(pid: u32) -> Option<Usage> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces and parentheses): state is the
    // first, utime the 12th, stime the 13th.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant.
    let hz = (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as u64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l[key.len()..].trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    Some(Usage {
        rss_bytes: kb("VmRSS:"),
        peak_rss_bytes: kb("VmHWM:"),
        cpu: Duration::from_nanos(ticks * 1_000_000_000 / hz),
    })
}

/// The worker's resident memory and CPU time, from `proc_pidinfo` (no rlimit on macOS bounds
/// resident memory, so this watch is the only line there).
#[cfg(target_os = "macos")]
#[allow(deprecated)] // libc's mach_timebase_info points at the mach2 crate; one call is not worth it
fn usage(pid: u32) -> Option<Usage> {
    let mut info: libc::proc_taskinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_taskinfo>() as libc::c_int;
    // SAFETY: `info` is a writable proc_taskinfo of `size` bytes, as PROC_PIDTASKINFO asks.
    let n = unsafe {
        libc::proc_pidinfo(
            pid as libc::c_int,
            libc::PROC_PIDTASKINFO,
            0,
            (&mut info as *mut libc::proc_taskinfo).cast(),
            size,
        )
    };
    if n != size {
        return None;
    }
    // pti_total_* are in Mach absolute time units.
    let mut tb = libc::mach_timebase_info { numer: 0, denom: 0 };
    // SAFETY: writes the two fields of `tb`.
    unsafe { libc::mach_timebase_info(&mut tb) };
    let units = info.pti_total_user + info.pti_total_system;
    let nanos = if tb.denom == 0 { units } else { units * tb.numer as u64 / tb.denom as u64 };
    Some(Usage { rss_bytes: info.pti_resident_size, peak_rss_bytes: 0, cpu: Duration::from_nanos(nanos) })
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn usage(_pid: u32) -> Option<Usage> {
    None
}

/// The worker: reads a component on standard input, writes its compiled code on standard
/// output. Arguments: the memory limit in bytes and the CPU limit in milliseconds (for the
/// rlimits, the second line). Returns the exit code.
pub fn worker_main(args: &[String]) -> i32 {
    let (Some(memory), Some(cpu_ms)) =
        (args.first().and_then(|a| a.parse::<u64>().ok()), args.get(1).and_then(|a| a.parse::<u64>().ok()))
    else {
        eprintln!("baton {WORKER_COMMAND}: started by baton itself, as `{WORKER_COMMAND} MEMORY_BYTES CPU_MS`");
        return 2;
    };
    second_line(memory, cpu_ms);
    dies_with_its_parent();
    // Other plugins' tasks come first: a compile is a background job.
    let _ = rustix::process::nice(10);
    let mut bytes = Vec::new();
    if let Err(e) = std::io::stdin().lock().read_to_end(&mut bytes) {
        eprintln!("baton {WORKER_COMMAND}: reading the component: {e}");
        return 2;
    }
    let engine = match crate::Runtime::compile_engine() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("baton {WORKER_COMMAND}: {e}");
            return 2;
        }
    };
    match engine.precompile_component(&bytes) {
        Ok(code) => match std::io::stdout().lock().write_all(&code) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("baton {WORKER_COMMAND}: writing the compiled code: {e}");
                2
            }
        },
        Err(e) => {
            eprintln!("{e:#}");
            INVALID
        }
    }
}

/// A worker whose `baton` died (kill -9 of serve) stops at once instead of compiling on
/// until its CPU limit: Linux delivers SIGKILL on the parent's death (`PR_SET_PDEATHSIG`);
/// everywhere (macOS has no such signal), a watch thread exits when the parent changes
/// (re-parented to init or a subreaper).
fn dies_with_its_parent() {
    let parent = rustix::process::getppid();
    #[cfg(target_os = "linux")]
    let _ = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(200));
            if rustix::process::getppid() != parent {
                std::process::exit(3);
            }
        }
    });
}

/// Rlimits on the worker itself: CPU time (SIGXCPU a second after the limit) and the data
/// segment (twice the memory limit plus 256 MiB: it counts address space, not resident
/// memory, so it only catches what the parent's sampling could miss). No core dumps.
fn second_line(memory: u64, cpu_ms: u64) {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let _ = setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) });
    let cpu = cpu_ms.div_ceil(1000) + 1;
    let _ = setrlimit(Resource::Cpu, Rlimit { current: Some(cpu), maximum: Some(cpu + 2) });
    #[cfg(target_os = "linux")]
    {
        let data = memory.saturating_mul(2).saturating_add(256 << 20);
        let _ = setrlimit(Resource::Data, Rlimit { current: Some(data), maximum: Some(data) });
    }
    #[cfg(not(target_os = "linux"))]
    let _ = memory;
}

#[cfg(test)]
mod tests {
    /// The worker compiles with an engine that reserves no instance pool; its code must load
    /// into the runtime's pooling engine, which it does only if the compile settings agree.
    #[test]
    fn the_workers_engine_compiles_for_the_runtimes_engine() {
        let runtime = crate::Runtime::engine(crate::EngineOptions::default()).unwrap();
        let worker = crate::Runtime::compile_engine().unwrap();
        let hash = |e: &wasmtime::Engine| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            e.precompile_compatibility_hash().hash(&mut h);
            h.finish()
        };
        assert_eq!(hash(&runtime), hash(&worker));
        let wasm = baton_bundle::get("echo").unwrap().wasm;
        let code = worker.precompile_component(wasm).unwrap();
        // SAFETY: produced just now by `precompile_component`.
        unsafe { wasmtime::component::Component::deserialize(&runtime, &code) }.unwrap();
    }
}
