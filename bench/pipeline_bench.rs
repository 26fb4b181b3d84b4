//! Handoff pipeline benchmark: end-to-end throughput with the `echo` plugin (durable: every
//! RETURN fsynced, every claim and filing synced, the ledger committed with synchronous=FULL),
//! and drop-to-RETURN latency at a fixed offered rate. The reference, measured in the same
//! run on the same files, is `bench/reference_glue.py` (a hand-glued polling script).
//!
//! cargo build --release -p baton-cli --example pipeline_bench --bin baton
//! target/release/examples/pipeline_bench target/release/baton[,/tmp/baton-before] [N] [RATE] [SECS]
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: pipeline_bench BATON_BIN[,OTHER_BIN...] [N] [RATE] [SECS]";
    // Several binaries (say, before and after a change) are measured in the same run, their
    // rounds interleaved, so that the machine's noise falls on all of them alike.
    let bins: Vec<PathBuf> = args.get(1).expect(usage).split(',').map(PathBuf::from).collect();
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let rate: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(100);
    let secs: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);
    let glue = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/reference_glue.py");

    println!("## throughput: {n} echo handoffs dropped while a warm `baton serve` is stopped (SIGSTOP), drained after SIGCONT");
    let mut baton_rates = vec![Vec::new(); bins.len()];
    let mut glue_rates = Vec::new();
    for round in 0..3 {
        for (b, bin) in bins.iter().enumerate() {
            let home = Home::new(bin);
            let mut child = home.serve();
            baton_rates[b].push(drain_rate(&home, child.id(), n));
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        let home = Home::new(&bins[0]);
        let mut glue = Command::new("python3").arg(&glue).arg(home.root.join("handoffs")).arg((n + 1).to_string()).spawn().unwrap();
        glue_rates.push(drain_rate(&home, glue.id(), n));
        assert!(glue.wait().unwrap().success());
        let rates: Vec<String> = bins.iter().zip(&baton_rates).map(|(bin, r)| format!("{} {:.0}/s", bin.display(), r[round])).collect();
        println!("round {round}: {}, reference glue {:.0}/s", rates.join(", "), glue_rates[round]);
    }
    let g = median(&mut glue_rates);
    for (bin, rates) in bins.iter().zip(&mut baton_rates) {
        let b = median(rates);
        println!("median: {} {b:.0} handoffs/s, reference {g:.0} handoffs/s, ratio {:.2}x", bin.display(), b / g);
    }

    println!("\n## latency: {rate}/s offered for {secs} s to a running `baton serve`, drop → RETURN visible (inotify)");
    for bin in &bins {
        print!("{}: ", bin.display());
        latency(bin, rate, secs);
    }
}

/// Drops `rate` tasks a second for `secs` seconds into a running daemon and prints the
/// drop-to-RETURN percentiles.
fn latency(bin: &Path, rate: u64, secs: u64) {
    let home = Home::new(bin);
    let mut child = home.serve();
    let reply = home.root.join("handoffs/Bench-Agent/01_inbox");
    std::fs::create_dir_all(&reply).unwrap();
    let (tx, rx) = mpsc::channel::<(Instant, PathBuf)>();
    let mut w = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if let Ok(e) = e {
            let now = Instant::now();
            if matches!(e.kind, notify::EventKind::Create(_)) {
                for p in e.paths {
                    let _ = tx.send((now, p));
                }
            }
        }
    }).unwrap();
    w.watch(&reply, RecursiveMode::NonRecursive).unwrap();
    // Warm up: the first task pays for plugin instantiation caches.
    home.drop_tasks(900_000..900_001);
    wait_returns(&rx, 1);
    let total = (rate * secs) as usize;
    let period = Duration::from_nanos(1_000_000_000 / rate);
    let mut dropped: HashMap<String, Instant> = HashMap::new();
    let start = Instant::now();
    for i in 0..total {
        let due = start + period * i as u32;
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        home.drop_tasks(i..i + 1);
        dropped.insert(format!("T{i:06}"), Instant::now());
    }
    let seen = wait_returns(&rx, total);
    let mut lat: Vec<f64> = seen
        .iter()
        .filter_map(|(t, p)| {
            let name = p.file_name()?.to_str()?;
            let slug = name.split("__").nth(2)?; // T000123-<nonce>
            let key = slug.split('-').next()?;
            Some(t.duration_since(*dropped.get(key)?).as_secs_f64() * 1e3)
        })
        .collect();
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
    assert_eq!(lat.len(), total, "every task's RETURN seen once");
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| lat[((lat.len() - 1) as f64 * p).round() as usize];
    println!("{} handoffs: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms", lat.len(), pct(0.5), pct(0.9), pct(0.99), pct(1.0));
}

/// Warms the process up with one task, freezes it, drops `n` tasks, thaws it, and returns
/// handoffs per second from the thaw to the last RETURN.
fn drain_rate(home: &Home, pid: u32, n: usize) -> f64 {
    home.drop_tasks(900_000..900_001);
    home.wait_count(1);
    let signal = |sig: &str| assert!(Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap().success());
    signal("-STOP");
    home.drop_tasks(0..n);
    let t = Instant::now();
    signal("-CONT");
    home.wait_count(n + 1);
    n as f64 / t.elapsed().as_secs_f64()
}

fn wait_returns(rx: &mpsc::Receiver<(Instant, PathBuf)>, n: usize) -> Vec<(Instant, PathBuf)> {
    let mut out = Vec::new();
    while out.len() < n {
        let (t, p) = rx.recv_timeout(Duration::from_secs(30)).expect("RETURNs stopped arriving");
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.contains("__RETURN__") && !name.starts_with('.') {
            out.push((t, p));
        }
    }
    out
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

struct Home {
    _dir: tempfile::TempDir,
    root: PathBuf,
    bin: PathBuf,
}

impl Home {
    fn new(bin: &Path) -> Self {
        let dir = tempfile::tempdir_in(std::env::var_os("BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir)).unwrap();
        let root = dir.path().join("home");
        let h = Home { _dir: dir, root, bin: bin.to_path_buf() };
        h.baton(&["init"]);
        // No audit during the benchmark: only handoffs.
        let toml = h.root.join("baton.toml");
        let text = std::fs::read_to_string(&toml).unwrap().replace("enabled = true", "enabled = false");
        std::fs::write(toml, text).unwrap();
        h
    }

    fn baton(&self, args: &[&str]) {
        let st = Command::new(&self.bin).arg("--home").arg(&self.root).args(args).env("BATON_LOG", "warn")
            .stderr(Stdio::null()).status().unwrap();
        assert!(st.success(), "baton {args:?}");
    }

    fn drop_tasks(&self, range: std::ops::Range<usize>) {
        let inbox = self.root.join("handoffs/baton/01_inbox");
        for i in range {
            let body = serde_json::json!({"schema": "baton.handoff/v1", "id": format!("B{i:06}"), "kind": "task",
                "created_at": "2026-01-18T07:09:51Z", "from": "Bench-Agent", "title": format!("T{i:06}"),
                "plugin": "echo", "action": "echo", "params": {"i": i}});
            let tmp = self.root.join(format!(".drop-{i}"));
            std::fs::write(&tmp, body.to_string()).unwrap();
            std::fs::rename(&tmp, inbox.join(format!("20260118T070951Z__TASK__T{i:06}__Bench-Agent.json"))).unwrap();
        }
    }

    fn serve(&self) -> std::process::Child {
        Command::new(&self.bin).arg("--home").arg(&self.root).arg("serve").env("BATON_LOG", "warn")
            .stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap()
    }

    /// Waits until `n` RETURNs are in the reply inbox (polled every 20 ms: under 1% of a run).
    fn wait_count(&self, n: usize) {
        let start = Instant::now();
        while self.count_returns() < n {
            assert!(start.elapsed() < Duration::from_secs(120), "only {} of {n} RETURNs", self.count_returns());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count_returns(&self) -> usize {
        std::fs::read_dir(self.root.join("handoffs/Bench-Agent/01_inbox"))
            .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().contains("__RETURN__")).count())
            .unwrap_or(0)
    }
}
