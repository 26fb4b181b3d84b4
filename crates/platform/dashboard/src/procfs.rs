//! The `process_*` metrics every Prometheus client library exports (CPU seconds, resident and
//! virtual memory, open and maximum file descriptors, start time), read from Linux's `/proc`
//! for the serve process itself. Elsewhere (macOS) they are left out rather than made up.
use std::fmt::Write;

/// Linux's USER_HZ: the unit of `/proc/self/stat`'s CPU times on every architecture baton
/// builds for.
const TICKS_PER_SEC: f64 = 100.0;

fn status_kb(status: &str, key: &str) -> Option<f64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kb: f64 = line[key.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024.0)
}

/// Appends the `process_*` families to `out` (nothing where `/proc` is missing).
pub(crate) fn write(out: &mut String) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else { return };
    // Fields after the command name (which may hold spaces and parentheses).
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else { return };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15, starttime 22.
    let field = |n: usize| f.get(n - 3).and_then(|v| v.parse::<f64>().ok());
    let mut put = |name: &str, kind: &str, help: &str, v: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
    };
    if let (Some(u), Some(s)) = (field(14), field(15)) {
        put(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            (u + s) / TICKS_PER_SEC,
        );
    }
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<f64>().ok())));
    if let (Some(start), Some(boot)) = (field(22), boot) {
        put(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
            boot + start / TICKS_PER_SEC,
        );
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(rss) = status_kb(&status, "VmRSS:") {
            put("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", rss);
        }
        if let Some(vm) = status_kb(&status, "VmSize:") {
            put("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", vm);
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        put("process_open_fds", "gauge", "Number of open file descriptors.", fds.count() as f64);
    }
    let max = std::fs::read_to_string("/proc/self/limits").ok().and_then(|l| {
        l.lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3)?.parse::<f64>().ok())
    });
    if let Some(max) = max {
        put("process_max_fds", "gauge", "Maximum number of open file descriptors.", max);
    }
}
