//! The PostgreSQL ledger's throughput: echo handoffs per second drained by one host
//! on SQLite, one host on PostgreSQL, and two hosts on PostgreSQL, rounds interleaved in one run
//! so the machine's noise falls on all three alike. Also what each handoff costs the database
//! server, read from `pg_stat_database` around each drain: transactions, and the time the server
//! spent executing statements (`active_time`, PostgreSQL 14+), per handoff.
//!
//! "Two hosts" are two homes (two state folders, so two host ids and two `serve.lock`s) on one
//! handoffs tree and one database: a perfectly synced folder, where every file is seen by both
//! hosts at once and every claim is contested. That is the worst case for the database; a real
//! sync service delivers files to the other host later, after most are already claimed.
//!
//! The server is a private one (tests/support/pg.rs: Unix socket, `fsync=on`), on the same disk.
//!
//! cargo build --release -p baton-app --example pg_bench --bin baton --bin baton-host
//! target/release/examples/pg_bench target/release/baton [N=5000] [ROUNDS=3]
#![allow(clippy::disallowed_methods)] // benchmarks make their trees with `create_dir_all` (clippy.toml)
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/support/pg.rs"]
mod pg;

#[path = "home.rs"]
mod home;
use home::{count_returns, drop_tasks, median};

/// One drain's figures.
struct Drain {
    rate: f64,
    /// Per handoff, on the database server (None on SQLite).
    commits: Option<f64>,
    server_ms: Option<f64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: pg_bench BATON_BIN [N] [ROUNDS]";
    let bin = PathBuf::from(args.get(1).expect(usage));
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(3);
    let server = pg::Pg::start().expect("PostgreSQL is needed (./x setup)");
    let variants: [(&str, bool, usize); 3] =
        [("sqlite, 1 host", false, 1), ("postgres, 1 host", true, 1), ("postgres, 2 hosts", true, 2)];
    let mut results: Vec<Vec<Drain>> = variants.iter().map(|_| Vec::new()).collect();
    println!(
        "## {n} echo TASKs dropped while the host(s) are stopped (SIGSTOP), drained after SIGCONT; {rounds} rounds"
    );
    for round in 0..rounds {
        for (v, (name, on_pg, hosts)) in variants.iter().enumerate() {
            let db = format!("bench_{round}_{v}");
            let url = on_pg.then(|| {
                server.create_db(&db);
                server.url(&db)
            });
            let d = drain(&bin, url.as_deref(), *hosts, n, on_pg.then_some((&server, db.as_str())));
            println!(
                "round {round} {name:<18} {:>7.0} handoffs/s{}",
                d.rate,
                match (d.commits, d.server_ms) {
                    (Some(c), Some(ms)) => format!("  ({c:.3} commits, {:.0} µs server time per handoff)", ms * 1000.0),
                    _ => String::new(),
                }
            );
            results[v].push(d);
        }
    }
    let base = median(&mut results[0].iter().map(|d| d.rate).collect::<Vec<_>>());
    println!("\n| setup | handoffs/s (median) | vs SQLite | commits / handoff | server time / handoff |");
    println!("|---|---:|---:|---:|---:|");
    for (v, (name, _, _)) in variants.iter().enumerate() {
        let rate = median(&mut results[v].iter().map(|d| d.rate).collect::<Vec<_>>());
        let of = |f: fn(&Drain) -> Option<f64>| {
            let mut xs: Vec<f64> = results[v].iter().filter_map(f).collect();
            if xs.is_empty() { None } else { Some(median(&mut xs)) }
        };
        println!(
            "| {name} | {rate:.0} | {:.2}× | {} | {} |",
            rate / base,
            of(|d| d.commits).map_or("–".into(), |c| format!("{c:.3}")),
            of(|d| d.server_ms).map_or("–".into(), |ms| format!("{:.0} µs", ms * 1000.0)),
        );
    }
}

/// Sets up `hosts` homes on one handoffs tree (and the ledger at `url`, or each on its own
/// SQLite file), warms them with one task each, stops them, drops `n` TASKs, and times the drain.
fn drain(bin: &Path, url: Option<&str>, hosts: usize, n: usize, stats: Option<(&pg::Pg, &str)>) -> Drain {
    let dir = tempfile::tempdir_in(std::env::var_os("BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir))
        .unwrap();
    let tree = dir.path().join("handoffs");
    let homes: Vec<PathBuf> = (0..hosts).map(|i| dir.path().join(format!("host{i}"))).collect();
    for home in &homes {
        baton(bin, home, url, &["init"]);
        let toml = home.join("baton.toml");
        let text = std::fs::read_to_string(&toml).unwrap().replace("enabled = true", "enabled = false").replacen(
            "handoffs = \"handoffs\"",
            &format!("handoffs = \"{}\"", tree.display()),
            1,
        );
        std::fs::write(toml, text).unwrap();
    }
    let inbox = tree.join("baton/01_inbox");
    let replies = tree.join("Bench-Agent/01_inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let mut children: Vec<Child> = homes.iter().map(|h| spawn(bin, h, url, &["serve"])).collect();
    // Warm-up: one task per host (each loads the echo plugin on its first task).
    drop_tasks(&inbox, dir.path(), 900_000..900_000 + hosts);
    wait_count(&replies, hosts);
    std::thread::sleep(Duration::from_millis(300));
    let signal = |c: &Child, sig: &str| {
        assert!(Command::new("kill").arg(sig).arg(c.id().to_string()).status().unwrap().success())
    };
    children.iter().for_each(|c| signal(c, "-STOP"));
    drop_tasks(&inbox, dir.path(), 0..n);
    let before = stats.map(|(s, db)| server_stats(s, db));
    let t = Instant::now();
    children.iter().for_each(|c| signal(c, "-CONT"));
    wait_count(&replies, n + hosts);
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let after = stats.map(|(s, db)| server_stats(s, db));
    for c in &mut children {
        let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
        let _ = c.wait();
    }
    // The figure counts only if the promise held: exactly one RETURN per TASK, none doubled.
    assert_eq!(count_returns(&replies), n + hosts, "a TASK was answered twice");
    let per = |i: usize| before.zip(after).map(|(b, a)| (a[i] - b[i]) / n as f64);
    Drain { rate, commits: per(0), server_ms: per(1) }
}

/// `[xact_commit, active_time ms]` of database `db`.
fn server_stats(server: &pg::Pg, db: &str) -> [f64; 2] {
    let out = server.psql("postgres", &format!("SELECT pg_stat_clear_snapshot(); SELECT xact_commit, active_time FROM pg_stat_database WHERE datname = '{db}'"));
    assert!(out.status.success(), "pg_stat_database: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = text.lines().last().unwrap_or_default();
    let mut it = row.split('|').map(|x| x.trim().parse::<f64>().unwrap_or(0.0));
    [it.next().unwrap_or(0.0), it.next().unwrap_or(0.0)]
}

fn command(bin: &Path, home: &Path, url: Option<&str>, args: &[&str]) -> Command {
    let mut c = Command::new(bin);
    c.arg("--home").arg(home);
    if let Some(u) = url {
        c.arg("--state").arg(u);
    }
    c.args(args).env("BATON_LOG", "warn").stdout(Stdio::null()).stderr(Stdio::null());
    c
}

fn baton(bin: &Path, home: &Path, url: Option<&str>, args: &[&str]) {
    assert!(command(bin, home, url, args).status().unwrap().success(), "baton {args:?}");
}

fn spawn(bin: &Path, home: &Path, url: Option<&str>, args: &[&str]) -> Child {
    command(bin, home, url, args).spawn().unwrap()
}

fn wait_count(replies: &Path, n: usize) {
    let start = Instant::now();
    while count_returns(replies) < n {
        assert!(start.elapsed() < Duration::from_secs(300), "only {} of {n} RETURNs", count_returns(replies));
        std::thread::sleep(Duration::from_millis(20));
    }
}
