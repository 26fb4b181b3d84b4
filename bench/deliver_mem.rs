//! Peak memory of delivering into a large Claude Code inbox (issue 78's soak: an inbox grows,
//! and `serve` delivers into it under the lock). Never run in CI.
//!
//!     CARGO_TARGET_DIR=target-rel cargo build --release -p baton-mailbox --example deliver_mem
//!     target-rel/release/examples/deliver_mem INBOX.json [N]
//!
//! Copies INBOX.json into a temporary folder, delivers N messages (default 10) into the copy one
//! after the other, and prints the process's peak resident memory (`VmHWM`) before and after,
//! and the median time of a delivery.
use std::time::Instant;

fn hwm_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let src = std::env::args().nth(1).expect("usage: deliver_mem INBOX.json [N]");
    let n: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("worker.json");
    std::fs::copy(&src, &inbox).unwrap();
    let size = std::fs::metadata(&inbox).unwrap().len();
    let before = hwm_kb();
    let mut times = Vec::new();
    for i in 0..n {
        let msg = baton_mailbox::deliver::Outgoing {
            from: "baton".into(),
            text: format!("RETURN {i}: done"),
            summary: None,
            timestamp: format!("2026-11-29T22:00:{:02}.000Z", i % 60),
        };
        let t = Instant::now();
        baton_mailbox::deliver::deliver_once(&inbox, &msg, baton_mailbox::deliver::LOCK_TIMEOUT).unwrap();
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "inbox {:.1} MB, {n} deliveries: peak RSS {:.1} MB before, {:.1} MB after; a delivery {:.1} ms (median)",
        size as f64 / 1e6,
        before as f64 / 1e3,
        hwm_kb() as f64 / 1e3,
        times[n / 2]
    );
}
