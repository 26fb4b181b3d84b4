//! Handoff pipeline benchmark: end-to-end throughput with the `echo` plugin (durable: every
//! RETURN fsynced, every claim and filing synced, the ledger committed with synchronous=FULL),
//! and drop-to-RETURN latency at a fixed offered rate. The reference, measured in the same
//! run on the same files, is `bench/reference_glue.py` (a hand-glued polling script).
//!
//! cargo build --release -p baton-app --example pipeline_bench --bin baton --bin baton-host
//! target/release/examples/pipeline_bench target/release/baton[,/tmp/baton-before] [N] [RATE] [SECS]
#![allow(clippy::disallowed_methods)] // benchmarks make their trees with `create_dir_all` (clippy.toml)
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

#[path = "home.rs"]
mod home;
use home::{Home, median};

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

    println!(
        "## throughput: {n} echo handoffs dropped while a warm `baton serve` is stopped (SIGSTOP), drained after SIGCONT"
    );
    let mut baton_rates = vec![Vec::new(); bins.len()];
    let mut glue_rates = Vec::new();
    for round in 0..3 {
        for (b, bin) in bins.iter().enumerate() {
            let home = Home::new(bin);
            let mut child = home.serve();
            baton_rates[b].push(home.drain_rate(child.id(), n));
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        let home = Home::new(&bins[0]);
        let mut glue = Command::new("python3")
            .arg(&glue)
            .arg(home.root.join("handoffs"))
            .arg((n + 1).to_string())
            .spawn()
            .unwrap();
        glue_rates.push(home.drain_rate(glue.id(), n));
        assert!(glue.wait().unwrap().success());
        let rates: Vec<String> =
            bins.iter().zip(&baton_rates).map(|(bin, r)| format!("{} {:.0}/s", bin.display(), r[round])).collect();
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
    })
    .unwrap();
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
    println!(
        "{} handoffs: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0)
    );
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
