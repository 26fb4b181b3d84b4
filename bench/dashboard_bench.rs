//! The dashboard's cost to the pipeline: a warm `baton serve` drains N echo TASKs
//! (dropped while it is stopped with SIGSTOP, timed from SIGCONT to the last RETURN) in three
//! set-ups, rounds interleaved so the machine's noise falls on all alike:
//!
//! - `plain`: `baton serve` with no HTTP;
//! - `http, 0 clients`: `baton serve --http`, nobody connected;
//! - `http, C clients`: C lightweight live clients, each doing what the page does: a session
//!   token from the key, the `/api/live` WebSocket (token first), and on every `change`
//!   message a refetch of its page's data (one request in flight per client, as in app.js).
//!
//! cargo build --release -p baton-app --example dashboard_bench --bin baton --bin baton-host
//! target/release/examples/dashboard_bench target/release/baton [N=5000] [ROUNDS=5] [CLIENTS=10]
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[path = "home.rs"]
mod home;
#[path = "../tests/support/http.rs"]
#[allow(dead_code)]
mod http;

use home::{Home, median};

/// What each client's page fetches on a change, in turn: the overview most, as users keep it open.
const PAGES: [&str; 5] = ["/api/overview", "/api/handoffs", "/api/overview", "/api/plugins", "/api/library"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = std::path::PathBuf::from(args.get(1).expect("usage: dashboard_bench BATON_BIN [N] [ROUNDS] [CLIENTS]"));
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5000);
    let rounds: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    let clients: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(10);
    let modes: [(&str, Option<usize>); 3] =
        [("plain", None), ("http, 0 clients", Some(0)), ("http, live clients", Some(clients))];
    let mut rates = vec![Vec::new(); modes.len()];
    let mut cpus = vec![Vec::new(); modes.len()];
    println!("## {n} echo handoffs drained by a warm serve; {clients} live clients in the third set-up");
    for round in 0..rounds {
        let mut line = Vec::new();
        // Rotate the order each round, so no set-up always runs first (or last) on a warm disk.
        for k in 0..modes.len() {
            let m = (k + round) % modes.len();
            let (name, live) = modes[m];
            let (rate, cpu_ms, fetches) = one(&bin, n, live);
            rates[m].push(rate);
            cpus[m].push(cpu_ms);
            line.push(format!(
                "{name} {rate:.0}/s, serve CPU {cpu_ms:.0} ms{}",
                live.filter(|c| *c > 0).map(|_| format!(" ({fetches} page fetches)")).unwrap_or_default()
            ));
        }
        println!("round {round}: {}", line.join(", "));
    }
    let meds: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
    let cpu: Vec<f64> = cpus.iter_mut().map(|r| median(r)).collect();
    for (((name, _), m), c) in modes.iter().zip(&meds).zip(&cpu) {
        println!(
            "median {name}: {m:.0} handoffs/s ({:.3}x plain); serve's CPU for the drain {c:.0} ms ({:.3}x plain)",
            m / meds[0],
            c / cpu[0]
        );
    }
}

/// CPU time (user + system) a process has used so far, in ms, from `/proc/PID/stat`.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) start at field 3; utime is 14, stime 15.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks * 1000.0 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// One drain; returns handoffs/s, the serve process's CPU ms during it (the live clients' page
/// fetches are served inside it), and how many page fetches the clients made.
fn one(bin: &std::path::Path, n: usize, live: Option<usize>) -> (f64, f64, usize) {
    let home = Home::new(bin);
    let Some(clients) = live else {
        let mut child = home.serve();
        let before = cpu_ms(child.id());
        let rate = home.drain_rate(child.id(), n);
        let cpu = cpu_ms(child.id()) - before;
        stop(&mut child);
        return (rate, cpu, 0);
    };
    let key = home.output(&["key", "rotate"]).trim().to_string();
    let addr: SocketAddr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut child = home.serve_with(&["--http", &addr.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http::request(addr, "GET", "/healthz", None, &[], b"").map(|r| r.status).ok() != Some(200) {
        assert!(Instant::now() < deadline, "serve --http did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(AtomicUsize::new(0));
    let fetches = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let (key, done, ready, fetches) = (key.clone(), done.clone(), ready.clone(), fetches.clone());
            std::thread::spawn(move || client(addr, &key, PAGES[i % PAGES.len()], &done, &ready, &fetches))
        })
        .collect();
    while ready.load(Ordering::SeqCst) < clients {
        std::thread::sleep(Duration::from_millis(10));
    }
    let before = fetches.load(Ordering::SeqCst);
    let cpu_before = cpu_ms(child.id());
    let rate = home.drain_rate(child.id(), n);
    let cpu = cpu_ms(child.id()) - cpu_before;
    let during = fetches.load(Ordering::SeqCst) - before;
    done.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    stop(&mut child);
    (rate, cpu, during)
}

fn stop(child: &mut std::process::Child) {
    let _ = std::process::Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let _ = child.wait();
}

/// A live client: session, WebSocket, and a refetch of `page` on every change until `done`.
fn client(addr: SocketAddr, key: &str, page: &str, done: &AtomicBool, ready: &AtomicUsize, fetches: &AtomicUsize) {
    use tungstenite::client::IntoClientRequest;
    let auth = format!("Bearer {key}");
    let session = http::request(
        addr,
        "POST",
        "/api/session",
        None,
        &[("Authorization", &auth), ("Content-Type", "application/json")],
        b"{}",
    )
    .unwrap()
    .json()["token"]
        .as_str()
        .expect("a session token")
        .to_string();
    let bearer = format!("Bearer {session}");
    let mut req = format!("ws://{addr}/api/live").into_client_request().unwrap();
    req.headers_mut().insert("Origin", format!("http://{addr}").parse().unwrap());
    let (mut ws, _) = tungstenite::connect(req).unwrap();
    ws.send(tungstenite::Message::Text(serde_json::json!({"token": session}).to_string().into())).unwrap();
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    }
    let fetch = |page: &str| {
        let r = http::request(addr, "GET", page, None, &[("Authorization", &bearer)], b"").unwrap();
        assert_eq!(r.status, 200, "{page}: {}", r.text());
    };
    let mut hello = false;
    while !done.load(Ordering::SeqCst) {
        match ws.read() {
            Ok(tungstenite::Message::Text(t)) => {
                let kind = serde_json::from_str::<serde_json::Value>(&t)
                    .ok()
                    .and_then(|v| v["type"].as_str().map(str::to_string));
                match kind.as_deref() {
                    Some("hello") if !hello => {
                        hello = true;
                        fetch(page);
                        ready.fetch_add(1, Ordering::SeqCst);
                    }
                    Some("change") => {
                        fetch(page);
                        fetches.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => panic!("live feed: {e}"),
        }
    }
}
