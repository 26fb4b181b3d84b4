//! The dashboard, end to end: the real `baton serve --http` on a temporary home, plain HTTP
//! requests for the API's security and bad input, and a real headless Chromium (Debian's
//! `chromium`, driven over the DevTools protocol) for the page itself: every page loads with no
//! console error, a TASK dropped into the inbox shows on the open page within 2 s, a hostile
//! title stays text, and a screenshot of the overview is kept in `target/dashboard-test/`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod support;
#[path = "support/cdp.rs"]
mod cdp;
#[path = "support/http.rs"]
mod http;

use support::state::Backend;
use support::Home;

/// A running `baton serve --http` on a free loopback port; SIGTERM on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Serve {
    fn start(home: &Home) -> Serve {
        Self::start_on(home, free_port())
    }

    fn start_on(home: &Home, port: u16) -> Serve {
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = home.root.join(format!("serve-{port}-{}.log", std::process::id()));
        let child = home
            .cmd(&["serve", "--http", &addr.to_string()])
            .env("BATON_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let s = Serve { child, addr, log };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http::request(addr, "GET", "/healthz", None, &[], b"").map(|r| r.status).ok() != Some(200) {
            assert!(Instant::now() < deadline, "serve --http did not answer /healthz within 60 s: {}", s.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
        s
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn get(&self, path: &str, key: Option<&str>) -> http::Reply {
        let auth = key.map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        http::request(self.addr, "GET", path, None, &headers, b"").unwrap()
    }

    fn post(&self, path: &str, key: Option<&str>, body: &[u8]) -> http::Reply {
        let auth = key.map(|k| format!("Bearer {k}"));
        let mut headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
        headers.push(("Content-Type", "application/json"));
        http::request(self.addr, "POST", path, None, &headers, body).unwrap()
    }

    fn stop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A new dashboard key for `home` (`baton key rotate`; the old one stops working).
fn rotate_key(home: &Home) -> String {
    let out = home.ok(&["key", "rotate"]);
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("bk_") && key.len() > 40, "{key}");
    key
}

fn task(id: &str, title: &str, plugin: &str) -> String {
    json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-01T00:00:00Z",
           "from": "Test-Agent", "title": title, "plugin": plugin, "action": "echo", "params": {"message": "hi"}})
    .to_string()
}

fn drop_task(home: &Home, id: &str, title: &str, plugin: &str) {
    home.drop_file(format!("20260101T000000Z__TASK__{id}__Test-Agent.json"), task(id, title, plugin));
}

fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn handoff(s: &Serve, key: &str, id: &str) -> Value {
    s.get(&format!("/api/handoffs/{id}"), Some(key)).json()
}

#[test]
fn the_api_wants_the_key_refuses_foreign_hosts_and_answers_bad_input_with_4xx() {
    let home = Home::init(&[], "");
    // The Library page measures coverage against the alert's threshold when one is set.
    let toml = home.root.join("baton.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("\n# fp_coverage_min = 0.8\n"));
    std::fs::write(&toml, text.replace("\n# fp_coverage_min = 0.8\n", "\nfp_coverage_min = 0.95\n")).unwrap();
    let key = rotate_key(&home);
    let s = Serve::start(&home);
    assert_eq!(s.get("/api/library", Some(&key)).json()["coverage"]["threshold"], 0.95);
    // /healthz and /readyz are open (a supervisor holds no key); every data route wants the
    // key, in the header only.
    assert_eq!(s.get("/healthz", None).json()["status"], "ok");
    let ready = s.get("/readyz", None);
    assert_eq!(ready.status, 200, "/readyz without a key: {}", ready.text());
    assert_eq!(ready.json()["checks"]["state"]["ok"], true, "{}", ready.text());
    for path in ["/api/overview", "/api/handoffs", "/api/plugins", "/api/audits", "/api/library", "/api/alerts", "/metrics"] {
        assert_eq!(s.get(path, None).status, 401, "{path} without a key");
        assert_eq!(s.get(path, Some("bk_wrong")).status, 401, "{path} with a wrong key");
        let ok = s.get(path, Some(&key));
        assert_eq!(ok.status, 200, "{path}: {}", ok.text());
        assert!(ok.header("content-security-policy").is_some_and(|c| c.contains("default-src 'self'")), "{path}");
    }
    assert_eq!(s.get(&format!("/api/overview?key={key}"), None).status, 401, "a key in the query string is not taken");
    let cookie = format!("key={key}");
    assert_eq!(http::request(s.addr, "GET", "/api/overview", None, &[("Cookie", &cookie)], b"").unwrap().status, 401, "nor in a cookie");
    // A foreign Host (DNS rebinding) is refused before anything else, key or not.
    let auth = format!("Bearer {key}");
    for host in ["evil.example:80", "evil.example", &format!("attacker.test:{}", s.addr.port()), "127.0.0.1:1"] {
        let r = http::request(s.addr, "GET", "/api/overview", Some(host), &[("Authorization", &auth)], b"").unwrap();
        assert_eq!(r.status, 421, "Host {host}");
        assert_eq!(http::request(s.addr, "GET", "/healthz", Some(host), &[], b"").unwrap().status, 421);
    }
    let localhost = format!("localhost:{}", s.addr.port());
    assert_eq!(http::request(s.addr, "GET", "/api/overview", Some(&localhost), &[("Authorization", &auth)], b"").unwrap().status, 200);
    // A foreign Origin is refused too.
    let r = http::request(s.addr, "POST", "/api/audit/run", None, &[("Authorization", &auth), ("Origin", "http://evil.example")], b"").unwrap();
    assert_eq!(r.status, 403);

    // Bad input: clear 4xx JSON errors.
    let r = s.get("/api/handoffs/NO-SUCH-ID", Some(&key));
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (404, Some("not_found")));
    assert_eq!(s.post("/api/handoffs/NO-SUCH-ID/retry", Some(&key), b"").status, 404);
    assert_eq!(s.post("/api/plugins/no-such-plugin/pause", Some(&key), b"").status, 404);
    assert_eq!(s.post("/api/alerts/no-such-alert/ack", Some(&key), b"").status, 404);
    let r = s.post("/api/plugins/echo/pause", Some(&key), b"{not json");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("bad_request")));
    assert_eq!(s.post("/api/plugins/echo/pause", Some(&key), b"[1,2]").status, 400, "a body must be an object");
    let big = vec![b' '; 64 * 1024];
    let r = s.post("/api/plugins/echo/pause", Some(&key), &big);
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(s.get("/api/handoffs?q=a&q=b", Some(&key)).status, 400, "a repeated parameter");
    assert_eq!(s.get("/no/such/route", Some(&key)).status, 404);
    assert_eq!(s.get("/api/plugins/echo/pause", Some(&key)).status, 405);
    let long = "x".repeat(300);
    assert_eq!(s.get(&format!("/api/handoffs/{long}"), Some(&key)).status, 400);
    let r = http::request(s.addr, "GET", "/api/overview", None, &[("Authorization", "Basic Zm9vOmJhcg==")], b"").unwrap();
    assert_eq!(r.status, 401);
    // Garbage on the socket does not take the server down.
    {
        use std::io::Write;
        let mut raw = std::net::TcpStream::connect(s.addr).unwrap();
        raw.write_all(b"\x00\x01GARBAGE\r\n\r\n").unwrap();
    }
    // Still serving, and nothing was paused by the refused requests.
    assert_eq!(s.get("/healthz", None).status, 200);
    let plugins = s.get("/api/plugins", Some(&key)).json();
    let echo = plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").expect("echo is listed").clone();
    assert_eq!(echo["paused"], false);
    assert!(echo["version"].is_string() && echo["wit"].as_str().unwrap().starts_with("baton:plugin@"), "{echo}");
    assert!(echo["budget"]["time_ms"].as_u64().unwrap() > 0);

    // The live feed: the page's Origin only, and the token as the first message.
    let ws_url = format!("ws://{}/api/live", s.addr);
    let no_origin = tungstenite::connect(ws_url.as_str());
    assert!(no_origin.is_err(), "a WebSocket without the dashboard's Origin is refused");
    let live = |first: &str| {
        use tungstenite::client::IntoClientRequest;
        let mut req = ws_url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("Origin", format!("http://{}", s.addr).parse().unwrap());
        let (mut ws, _) = tungstenite::connect(req).unwrap();
        ws.send(tungstenite::Message::Text(first.into())).unwrap();
        ws.read().unwrap()
    };
    match live("bt_not-a-token") {
        tungstenite::Message::Close(Some(f)) => assert_eq!(u16::from(f.code), 4401),
        other => panic!("a wrong token must close the feed: {other:?}"),
    }
    let hello = live(&json!({"token": key}).to_string());
    let hello: Value = serde_json::from_str(hello.to_text().unwrap()).unwrap();
    assert_eq!(hello["type"], "hello");
    let log = s.log_text();
    assert!(!log.contains(&key), "the key must never be logged");
}

#[test]
fn retry_pause_and_resume_need_the_key_and_do_what_they_say() {
    let home = Home::init(&[], "");
    let key = rotate_key(&home);
    let s = Serve::start(&home);
    // A TASK for a plugin that is not installed fails: that is what retry is for.
    drop_task(&home, "RETRY-ME", "needs a retry", "no-such-plugin");
    wait_until(Duration::from_secs(20), "the failed handoff", || handoff(&s, &key, "RETRY-ME")["task"]["state"] == "rejected");
    let failed_dir = home.dir("baton", "03_failed");
    let in_failed = || std::fs::read_dir(&failed_dir).unwrap().flatten().any(|e| e.file_name().to_string_lossy().contains("RETRY-ME") && !e.file_name().to_string_lossy().ends_with(".error.json"));
    assert!(in_failed());
    let events_before = handoff(&s, &key, "RETRY-ME")["events"].as_array().unwrap().len();
    // Without the key: refused, and nothing changes.
    assert_eq!(s.post("/api/handoffs/RETRY-ME/retry", None, b"").status, 401);
    assert_eq!(s.post("/api/handoffs/RETRY-ME/retry", Some("bk_wrong"), b"").status, 401);
    std::thread::sleep(Duration::from_millis(300));
    assert!(in_failed(), "a refused retry moves nothing");
    let after = handoff(&s, &key, "RETRY-ME");
    assert_eq!(after["events"].as_array().unwrap().len(), events_before, "a refused retry records nothing");
    // With the key: back into the inbox, run again, and its history says so.
    let r = s.post("/api/handoffs/RETRY-ME/retry", Some(&key), b"");
    assert_eq!(r.status, 200, "{}", r.text());
    wait_until(Duration::from_secs(20), "the retried run", || {
        let h = handoff(&s, &key, "RETRY-ME");
        let ev: Vec<&str> = h["events"].as_array().unwrap().iter().filter_map(|e| e["event"].as_str()).collect();
        let ran_again = ev.iter().rposition(|e| *e == "retry_requested").is_some_and(|i| i + 1 < ev.len());
        ran_again && h["task"]["state"] == "rejected"
    });

    // Pause by hand (dashboard): echo's TASKs are answered plugin_paused, until resumed.
    assert_eq!(s.post("/api/plugins/echo/pause", None, b"").status, 401);
    // The plugins page as it was just before (answers are shared between pages for a moment:
    // an action must not leave the old one to be served).
    let p = s.get("/api/plugins", Some(&key)).json();
    assert_eq!(p["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").unwrap()["paused"], false);
    let r = s.post("/api/plugins/echo/pause", Some(&key), b"{}");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["changed"], true);
    let p = s.get("/api/plugins", Some(&key)).json();
    let echo = p["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").unwrap().clone();
    assert_eq!((echo["paused"].as_bool(), echo["pause"]["by"].as_str()), (Some(true), Some("hand")));
    // A TASK for a plugin paused by hand waits in the inbox (issue 33), counted by `status`.
    drop_task(&home, "WHILE-PAUSED", "while paused", "echo");
    wait_until(Duration::from_secs(20), "the held TASK in status", || home.json(&["status", "--json"])["queue"]["held_paused"]["echo"] == 1);
    assert!(handoff(&s, &key, "WHILE-PAUSED")["task"].is_null(), "held, not claimed");
    let metrics = s.get("/metrics", Some(&key)).text();
    let parsed = baton_stats::metrics::parse(&metrics).unwrap_or_else(|e| panic!("/metrics is not Prometheus text ({e}): {metrics}"));
    assert_eq!(parsed.value("baton_plugin_paused", &[("plugin", "echo")]), Some(1.0), "{metrics}");
    assert!(parsed.value("baton_queue_depth", &[("agent", "baton")]).is_some(), "{metrics}");
    // Resume from the CLI (it writes the ledger the running serve reads each pass).
    let out = home.ok(&["plugin", "resume", "echo"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("resumed echo"));
    drop_task(&home, "AFTER-RESUME", "after resume", "echo");
    wait_until(Duration::from_secs(20), "the resumed run", || handoff(&s, &key, "AFTER-RESUME")["task"]["state"] == "completed");
    wait_until(Duration::from_secs(20), "the held TASK's run", || handoff(&s, &key, "WHILE-PAUSED")["task"]["state"] == "completed");
    // And pause from the CLI shows in the dashboard.
    home.ok(&["plugin", "pause", "echo"]);
    let p = s.get("/api/plugins", Some(&key)).json();
    assert_eq!(p["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").unwrap()["paused"], true);
    assert!(!home.run(&["plugin", "pause", "no-such-plugin"]).status.success());
    assert!(!s.log_text().contains(&key));
}

/// `serve --http` answers TASKs; `/metrics`, `/api/overview`, the handoff pages and an alert
/// (fired, acknowledged, resolved) must say what happened, on either ledger.
fn the_dashboard_reports_what_happened(b: &Backend) {
    let home = b.home(&[("eval_secs", "1")], "");
    let key = rotate_key(&home);
    // A plan ticking off a file that does not exist: serve's start-up audit calls it a false claim.
    std::fs::write(home.root.join("plans/GHOST_PLAN.md"), "# Ghost plan\n\n- [x] Create `src/ghost.py`\n").unwrap();
    let s = Serve::start(&home);
    for i in 0..3 {
        drop_task(&home, &format!("OK-{i}"), &format!("fine {i}"), "echo");
    }
    drop_task(&home, "NOPE", "no such plugin", "no-such-plugin");
    let count = |p: &baton_stats::metrics::Parsed, status: &str, plugin: &str| p.value("baton_handoffs_total", &[("status", status), ("plugin", plugin)]);
    let mut text = String::new();
    wait_until(Duration::from_secs(30), "the answers in /metrics", || {
        text = s.get("/metrics", Some(&key)).text();
        let p = baton_stats::metrics::parse(&text).unwrap_or_else(|e| panic!("/metrics is not Prometheus text ({e}): {text}"));
        count(&p, "completed", "echo") == Some(3.0) && count(&p, "rejected", "unknown") == Some(1.0)
    });
    let p = baton_stats::metrics::parse(&text).unwrap();
    assert_eq!(count(&p, "failed", "echo"), Some(0.0), "{text}");
    assert_eq!(p.value("baton_task_duration_seconds_count", &[]), Some(3.0), "the three echo runs: {text}");
    // The same numbers as the ledger's own summary tables give.
    let installed = ["echo", "audit"].iter().map(|s| s.to_string()).collect();
    let direct = baton_stats::metrics_text(b.ledger(&home).stats(), &baton_stats::MetricsInput { installed, ..Default::default() }).unwrap();
    let direct = baton_stats::metrics::parse(&direct).unwrap();
    for (status, plugin) in [("completed", "echo"), ("rejected", "unknown"), ("failed", "echo")] {
        assert_eq!(count(&p, status, plugin), count(&direct, status, plugin), "{status} {plugin}");
    }

    let mut ov = Value::Null;
    wait_until(Duration::from_secs(10), "the live feed to see the events", || {
        ov = s.get("/api/overview", Some(&key)).json();
        ov["seq"].as_i64().is_some_and(|n| n > 0)
    });
    for w in ov["windows"].as_array().unwrap().iter().filter(|w| w["seconds"].as_u64().unwrap() >= 300) {
        assert_eq!((w["events"].as_u64(), w["completed"].as_u64(), w["rejected"].as_u64(), w["failed"].as_u64()), (Some(4), Some(3), Some(1), Some(0)), "{w}");
        assert!(w["drop_to_return_ms"]["p50"].as_f64().is_some_and(|v| v > 0.0), "{w}");
        assert_eq!(w["run_ms"]["count"].as_u64(), Some(3), "{w}");
    }

    // The handoff pages read the same ledger.
    let list = s.get("/api/handoffs?q=OK-", Some(&key)).json();
    let mut ids: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|i| i["id"].as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["OK-0", "OK-1", "OK-2"], "{list}");
    let one = handoff(&s, &key, "OK-1");
    assert_eq!((one["task"]["state"].as_str(), one["task"]["title"].as_str()), (Some("completed"), Some("fine 1")), "{one}");
    assert_eq!(s.get("/api/handoffs/NO-SUCH-ID", Some(&key)).status, 404);
    assert_eq!(s.get("/api/library", Some(&key)).status, 200, "the catalog where the ledger is");
    assert_eq!(s.get("/readyz", Some(&key)).json()["ready"], true);

    // The audits page names plans by their host paths, not the sandbox's `/plans/…`.
    let mut audits = Value::Null;
    wait_until(Duration::from_secs(30), "serve's audit report in /api/audits", || {
        audits = s.get("/api/audits", Some(&key)).json();
        audits["latest"]["false_claims"].as_array().is_some_and(|a| !a.is_empty())
    });
    let ghost = home.root.join("plans/GHOST_PLAN.md");
    let fc = &audits["latest"]["false_claims"][0];
    assert_eq!((fc["plan"].as_str(), fc["path"].as_str()), (ghost.to_str(), Some("src/ghost.py")), "{audits}");
    assert!(audits["latest"]["plans"].as_array().unwrap().iter().any(|p| p["path"] == ghost.to_str().unwrap()), "{audits}");
    assert!(!audits["latest"].to_string().contains("\"/plans/"), "no sandbox path: {audits}");

    // An alert: echo paused after failures (its health as the pipeline writes it then) fires
    // plugin_paused; acknowledged; resolved when the dashboard resumes it.
    let pause = r#"INSERT INTO plugin_health(plugin, health) VALUES ('echo', '{"consecutive_failures":2,"paused_until":"2999-01-01T00:00:00Z"}')
                   ON CONFLICT(plugin) DO UPDATE SET health = excluded.health"#;
    b.sql(&home, pause, pause);
    let paused = |s: &Serve| {
        let all = s.get("/api/alerts", Some(&key)).json();
        all["alerts"].as_array().unwrap().iter().find(|a| a["rule"] == "plugin_paused" && a["labels"]["plugin"] == "echo").cloned()
    };
    wait_until(Duration::from_secs(20), "the plugin_paused alert", || paused(&s).is_some_and(|a| a["state"] == "firing"));
    let alert = paused(&s).unwrap();
    assert!(alert["acked_at"].is_null(), "{alert}");
    let id = alert["id"].as_str().unwrap();
    assert_eq!(s.post(&format!("/api/alerts/{id}/ack"), None, b"").status, 401);
    let acked = s.post(&format!("/api/alerts/{id}/ack"), Some(&key), b"");
    assert_eq!(acked.status, 200, "{}", acked.text());
    assert!(acked.json()["acked_at"].is_string());
    let now = paused(&s).unwrap();
    assert_eq!((now["state"].as_str(), now["firing"].as_u64(), now["acked_at"].clone()), (Some("firing"), Some(1), acked.json()["acked_at"].clone()));
    assert_eq!(s.post("/api/plugins/echo/resume", Some(&key), b"{}").status, 200);
    wait_until(Duration::from_secs(20), "the alert to resolve", || paused(&s).is_some_and(|a| a["state"] == "resolved"));
    // A pause from the CLI writes the same ledger the dashboard reads.
    home.ok(&["plugin", "pause", "echo"]);
    let p = s.get("/api/plugins", Some(&key)).json();
    assert_eq!(p["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").unwrap()["paused"], true, "{p}");
    assert!(!s.log_text().contains(&key));
}

#[test]
fn the_dashboard_reports_what_happened_on_sqlite() {
    the_dashboard_reports_what_happened(&Backend::Sqlite);
}

#[test]
fn the_dashboard_reports_what_happened_on_postgres() {
    let Some(b) = Backend::postgres("dashboard") else { return };
    the_dashboard_reports_what_happened(&b);
}

#[test]
fn a_second_serve_on_a_taken_port_warns_and_runs_without_http() {
    let home = Home::init(&[], "");
    let key = rotate_key(&home);
    let first = Serve::start(&home);
    let log = home.root.join("second.log");
    let mut second = home
        .cmd(&["serve", "--http", &first.addr.to_string()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("without HTTP") {
        let status = second.try_wait().unwrap();
        assert!(
            Instant::now() < deadline && status.is_none(),
            "no warning from the second serve (exit: {status:?}); its log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(second.try_wait().unwrap().is_none(), "the second serve keeps running");
    // Work done by either process shows in the first one's dashboard.
    drop_task(&home, "TWO-SERVES", "two serves", "echo");
    wait_until(Duration::from_secs(20), "the answer", || handoff(&first, &key, "TWO-SERVES")["task"]["state"] == "completed");
    unsafe { libc::kill(second.id() as i32, libc::SIGTERM) };
    second.wait().unwrap();
}

#[test]
fn readyz_reports_the_watch_and_serve_stops_clearly_when_the_handoffs_folder_is_moved_away() {
    // A reconcile every 10 minutes: within this test only the file watch can wake serve.
    let home = Home::init(&[("reconcile_secs", "600")], "");
    let key = rotate_key(&home);
    let mut s = Serve::start(&home);
    let ready = |s: &Serve| s.get("/readyz", Some(&key)).json();
    wait_until(Duration::from_secs(20), "a first pass", || ready(&s)["checks"]["watcher"]["ok"] == true);
    let r = ready(&s);
    assert_eq!((r["ready"].clone(), r["checks"]["watcher"]["watching"].clone()), (json!(true), json!(true)), "{r}");
    drop_task(&home, "BEFORE-MOVE", "before", "echo");
    wait_until(Duration::from_secs(20), "the first answer", || home.returns("Test-Agent").contains_key("BEFORE-MOVE"));

    // A sync client (or a user) moves the whole handoffs folder away. The watch, the claims
    // folder and the outbox went with it: serve says so and stops, rather than run blind.
    let handoffs = home.root.join("handoffs");
    std::fs::rename(&handoffs, home.root.join("handoffs.moved-away")).unwrap();
    let mut status = None;
    wait_until(Duration::from_secs(20), "serve to stop", || {
        status = s.child.try_wait().unwrap();
        status.is_some()
    });
    assert!(!status.unwrap().success(), "serve stops with an error: {}", s.log_text());
    assert!(s.log_text().contains("was moved, deleted or replaced while serve was running"), "{}", s.log_text());
    // Nothing it had was lost: the answered TASK and its RETURN are in the folder as moved.
    let moved = home.root.join("handoffs.moved-away");
    assert!(std::fs::read_dir(moved.join("Test-Agent/01_inbox")).unwrap().count() == 1);

    // Restarted (a service does this by itself), serve sets up the new folder and answers there.
    let s = Serve::start(&home);
    wait_until(Duration::from_secs(20), "ready again", || ready(&s)["ready"] == true);
    drop_task(&home, "AFTER-MOVE", "after", "echo");
    wait_until(Duration::from_secs(20), "the answer in the new folder", || home.returns("Test-Agent").contains_key("AFTER-MOVE"));
    // /readyz answers without the key, like /healthz: a supervisor holds none.
    assert_eq!(s.get("/readyz", None).json()["ready"], true);
}

/// Where the browser test leaves its screenshot: `target/dashboard-test/`.
fn output_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("dashboard-test")
}

#[test]
fn the_page_in_headless_chromium_loads_every_page_updates_live_and_keeps_titles_as_text() {
    let home = Home::init(&[], "");
    let key = rotate_key(&home);
    let mut s = Serve::start(&home);
    drop_task(&home, "XSS-1", "<img src=x onerror=alert(1)>", "echo");
    wait_until(Duration::from_secs(20), "the hostile TASK's answer", || handoff(&s, &key, "XSS-1")["task"]["state"] == "completed");

    // `baton dashboard --print`: a one-time link through the Unix socket.
    let out = home.ok(&["dashboard", "--print"]);
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(link.starts_with(&format!("http://{}/#token=bt_", s.addr)), "{link}");
    use std::os::unix::fs::PermissionsExt;
    let sock = home.root.join("state/dashboard.sock");
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);

    let mut b = cdp::Browser::launch();
    b.goto(&link);
    assert!(b.wait_for("document.querySelector('#conn').dataset.state === 'live'", Duration::from_secs(10)), "the live feed connects");
    assert_eq!(b.eval("location.hash"), "#/overview", "the token leaves the address bar");
    // The one-time link does not work twice.
    let token = link.split("#token=").nth(1).unwrap();
    let r = http::request(s.addr, "GET", "/api/overview", None, &[("Authorization", &format!("Bearer {token}"))], b"").unwrap();
    assert_eq!(r.status, 401, "a one-time token is not a session");

    let pages = [
        ("overview", "Queue depth"),
        ("handoffs", "Agents"),
        ("plugins", "echo"),
        ("audits", "Audits"),
        ("library", "fingerprint coverage"),
        ("alerts", "Alerts"),
    ];
    for (page, expect) in pages {
        b.eval(&format!("location.hash = '#/{page}'"));
        let check = format!("document.querySelector('#page').textContent.includes({})", json!(expect));
        assert!(b.wait_for(&check, Duration::from_secs(10)), "page {page} shows {expect:?}; errors: {:?}", b.errors);
        b.pump(Duration::from_millis(200));
        assert!(b.errors.is_empty(), "page {page}: {:?}", b.errors);
    }
    b.eval("location.hash = '#/overview'");
    assert!(b.wait_for("document.querySelector('#page').textContent.includes('Queue depth')", Duration::from_secs(10)));
    let shot = output_dir().join("overview.png");
    b.screenshot(&shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 5_000, "a real screenshot in {}", shot.display());

    // The hostile title is text: no element made of it, no dialog, no script.
    b.eval("location.hash = '#/handoffs'");
    assert!(b.wait_for("document.querySelector('#page').textContent.includes('<img src=x onerror=alert(1)>')", Duration::from_secs(10)), "the title shows as text");
    assert_eq!(b.eval("document.querySelectorAll('#page img').length"), 0);
    b.eval("location.hash = '#/handoff/XSS-1'");
    assert!(b.wait_for("document.querySelector('#page').textContent.includes('<img src=x onerror=alert(1)>')", Duration::from_secs(10)));
    assert_eq!(b.eval("document.querySelectorAll('img').length"), 0);
    b.pump(Duration::from_millis(300));
    assert!(b.dialogs.is_empty(), "no script ran: {:?}", b.dialogs);

    // A TASK dropped into the inbox shows on the open page within 2 s, with no reload.
    b.eval("location.hash = '#/handoffs'");
    assert!(b.wait_for("document.querySelector('#page').textContent.includes('Agents')", Duration::from_secs(10)));
    b.eval("window.__sameDocument = true");
    let dropped = Instant::now();
    drop_task(&home, "LIVE-1", "live update check", "echo");
    assert!(b.wait_for("document.querySelector('#page').textContent.includes('live update check')", Duration::from_secs(2)), "the new TASK did not show within 2 s");
    let took = dropped.elapsed();
    assert_eq!(b.eval("window.__sameDocument === true"), true, "no reload");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert!(b.dialogs.is_empty(), "{:?}", b.dialogs);
    eprintln!("dashboard: a dropped TASK showed on the open page after {took:?}");

    // The serve goes away: the page says so.
    s.stop();
    assert!(b.wait_for("document.querySelector('#conn').dataset.state === 'disconnected'", Duration::from_secs(5)), "the page shows it is disconnected");
    assert!(b.eval("document.querySelector('#conn').textContent").as_str().unwrap().contains("disconnected"));
    let log = s.log_text();
    assert!(!log.contains(&key) && !log.contains(token), "neither the key nor a token is logged");
}
