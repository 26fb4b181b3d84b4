//! The dashboard, end to end: the real `baton serve --http` on a temporary home, plain HTTP
//! requests for the API's security and bad input, and a real headless Chromium (Debian's
//! `chromium`, driven over the DevTools protocol) for the page itself: every page loads with no
//! console error, a TASK dropped into the inbox shows on the open page within 2 s, a hostile
//! title stays text, and a screenshot of the overview is kept in `target/dashboard-test/`.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use crate::support::cdp;
use crate::support::http;

use support::Home;
use support::state::Backend;

/// A running `baton serve --http` on a free loopback port; SIGTERM on drop.
pub(crate) struct Serve {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Serve {
    pub(crate) fn start(home: &Home) -> Serve {
        Self::start_on(home, free_port())
    }

    pub(crate) fn start_on(home: &Home, port: u16) -> Serve {
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

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn get(&self, path: &str, key: Option<&str>) -> http::Reply {
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
pub(crate) fn rotate_key(home: &Home) -> String {
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
    // key, in the header only. /readyz says 503, with the reason, until serve's first pass
    // ended: /healthz answers as soon as the server listens, and under load that pass can
    // come seconds later (CI's 4 test threads saw it).
    assert_eq!(s.get("/healthz", None).json()["status"], "ok");
    let mut ready = s.get("/readyz", None);
    if ready.status != 200 {
        assert_eq!(ready.status, 503, "{}", ready.text());
        let reason = ready.json()["checks"]["watcher"]["reason"].as_str().map(str::to_string);
        assert!(reason.is_some_and(|r| r.contains("starting")), "{}", ready.text());
    }
    wait_until(Duration::from_secs(30), "/readyz without a key to say ready", || {
        ready = s.get("/readyz", None);
        ready.status == 200
    });
    assert_eq!(ready.json()["checks"]["watcher"]["reason"], Value::Null, "{}", ready.text());
    assert_eq!(ready.json()["checks"]["state"]["ok"], true, "{}", ready.text());
    for path in
        ["/api/overview", "/api/handoffs", "/api/plugins", "/api/audits", "/api/library", "/api/alerts", "/metrics"]
    {
        assert_eq!(s.get(path, None).status, 401, "{path} without a key");
        assert_eq!(s.get(path, Some("bk_wrong")).status, 401, "{path} with a wrong key");
        let ok = s.get(path, Some(&key));
        assert_eq!(ok.status, 200, "{path}: {}", ok.text());
        assert!(ok.header("content-security-policy").is_some_and(|c| c.contains("default-src 'self'")), "{path}");
    }
    assert_eq!(s.get(&format!("/api/overview?key={key}"), None).status, 401, "a key in the query string is not taken");
    let cookie = format!("key={key}");
    assert_eq!(
        http::request(s.addr, "GET", "/api/overview", None, &[("Cookie", &cookie)], b"").unwrap().status,
        401,
        "nor in a cookie"
    );
    // A foreign Host (DNS rebinding) is refused before anything else, key or not.
    let auth = format!("Bearer {key}");
    for host in ["evil.example:80", "evil.example", &format!("attacker.test:{}", s.addr.port()), "127.0.0.1:1"] {
        let r = http::request(s.addr, "GET", "/api/overview", Some(host), &[("Authorization", &auth)], b"").unwrap();
        assert_eq!(r.status, 421, "Host {host}");
        assert_eq!(http::request(s.addr, "GET", "/healthz", Some(host), &[], b"").unwrap().status, 421);
    }
    let localhost = format!("localhost:{}", s.addr.port());
    assert_eq!(
        http::request(s.addr, "GET", "/api/overview", Some(&localhost), &[("Authorization", &auth)], b"")
            .unwrap()
            .status,
        200
    );
    // A foreign Origin is refused too.
    let r = http::request(
        s.addr,
        "POST",
        "/api/audit/run",
        None,
        &[("Authorization", &auth), ("Origin", "http://evil.example")],
        b"",
    )
    .unwrap();
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
    let r =
        http::request(s.addr, "GET", "/api/overview", None, &[("Authorization", "Basic Zm9vOmJhcg==")], b"").unwrap();
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
    let echo =
        plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").expect("echo is listed").clone();
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
    wait_until(Duration::from_secs(20), "the failed handoff", || {
        handoff(&s, &key, "RETRY-ME")["task"]["state"] == "rejected"
    });
    let failed_dir = home.dir("baton", "03_failed");
    let in_failed = || {
        std::fs::read_dir(&failed_dir).unwrap().flatten().any(|e| {
            e.file_name().to_string_lossy().contains("RETRY-ME")
                && !e.file_name().to_string_lossy().ends_with(".error.json")
        })
    };
    assert!(in_failed());
    let before = handoff(&s, &key, "RETRY-ME");
    // Refused for its plugin: unchanged it is refused again, so the page offers "edit and
    // retry" (the `baton retry --params` command), not a Retry button; the API still takes it.
    assert_eq!(
        (before["retryable"].as_bool(), before["edit_to_retry"].as_str()),
        (Some(false), Some("unknown_plugin")),
        "{before}"
    );
    let events_before = before["events"].as_array().unwrap().len();
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
    // A TASK for a plugin paused by hand waits in the inbox, counted by `status`.
    drop_task(&home, "WHILE-PAUSED", "while paused", "echo");
    wait_until(Duration::from_secs(20), "the held TASK in status", || {
        home.json(&["status", "--json"])["queue"]["held_paused"]["echo"] == 1
    });
    assert!(handoff(&s, &key, "WHILE-PAUSED")["task"].is_null(), "held, not claimed");
    let metrics = s.get("/metrics", Some(&key)).text();
    let parsed = baton_stats::metrics::parse(&metrics)
        .unwrap_or_else(|e| panic!("/metrics is not Prometheus text ({e}): {metrics}"));
    assert_eq!(
        parsed.value("baton_plugin_paused", &[("plugin", "echo"), ("reason", "hand")]),
        Some(1.0),
        "paused, and why: {metrics}"
    );
    assert!(parsed.value("baton_queue_depth", &[("agent", "baton")]).is_some(), "{metrics}");
    // Resume from the CLI (it writes the ledger the running serve reads each pass).
    let out = home.ok(&["plugin", "resume", "echo"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("resumed echo"));
    drop_task(&home, "AFTER-RESUME", "after resume", "echo");
    wait_until(Duration::from_secs(20), "the resumed run", || {
        handoff(&s, &key, "AFTER-RESUME")["task"]["state"] == "completed"
    });
    wait_until(Duration::from_secs(20), "the held TASK's run", || {
        handoff(&s, &key, "WHILE-PAUSED")["task"]["state"] == "completed"
    });
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
    let count = |p: &baton_stats::metrics::Parsed, status: &str, plugin: &str| {
        p.value("baton_handoffs_total", &[("status", status), ("plugin", plugin)])
    };
    let mut text = String::new();
    wait_until(Duration::from_secs(30), "the answers in /metrics", || {
        text = s.get("/metrics", Some(&key)).text();
        let p = baton_stats::metrics::parse(&text)
            .unwrap_or_else(|e| panic!("/metrics is not Prometheus text ({e}): {text}"));
        count(&p, "completed", "echo") == Some(3.0) && count(&p, "rejected", "unknown") == Some(1.0)
    });
    let p = baton_stats::metrics::parse(&text).unwrap();
    assert_eq!(count(&p, "failed", "echo"), Some(0.0), "{text}");
    assert_eq!(p.value("baton_task_duration_seconds_count", &[]), Some(3.0), "the three echo runs: {text}");
    // The same numbers as the ledger's own summary tables give.
    let installed = ["echo", "audit"].iter().map(|s| s.to_string()).collect();
    let direct = baton_stats::metrics_text(
        b.ledger(&home).stats(),
        &baton_stats::MetricsInput { installed, ..Default::default() },
    )
    .unwrap();
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
        assert_eq!(
            (w["events"].as_u64(), w["completed"].as_u64(), w["rejected"].as_u64(), w["failed"].as_u64()),
            (Some(4), Some(3), Some(1), Some(0)),
            "{w}"
        );
        assert!(w["drop_to_return_ms"]["p50"].as_f64().is_some_and(|v| v > 0.0), "{w}");
        assert_eq!(w["run_ms"]["count"].as_u64(), Some(3), "{w}");
    }

    // The handoff pages read the same ledger.
    let list = s.get("/api/handoffs?q=OK-", Some(&key)).json();
    let mut ids: Vec<&str> = list["items"].as_array().unwrap().iter().filter_map(|i| i["id"].as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["OK-0", "OK-1", "OK-2"], "{list}");
    // The task list and its filters read the same ledger (the SQL of either backend).
    // (`q=OK`: the ids' beginning on SQLite, where a word of `q` begins a word of the task, and a
    // part of them on PostgreSQL; "NOPE" is neither.)
    let t = s.get("/api/tasks?state=completed,rejected&q=OK&per_page=2", Some(&key)).json();
    assert_eq!(
        (t["total"].as_u64(), t["items"].as_array().unwrap().len(), t["pages"].as_u64()),
        (Some(3), 2, Some(2)),
        "{t}"
    );
    let t = s.get("/api/tasks?plugin=echo&state=completed", Some(&key)).json();
    assert_eq!((t["total"].as_u64(), t["retryable"].as_u64()), (Some(3), Some(0)), "{t}");
    let t = s.get("/api/tasks?code=unknown_plugin", Some(&key)).json();
    assert_eq!(
        (t["total"].as_u64(), t["retryable"].as_u64(), t["items"][0]["id"].as_str()),
        (Some(1), Some(1), Some("NOPE")),
        "{t}"
    );
    assert_eq!(t["facets"]["state"]["completed"], 3, "{t}");
    let one = handoff(&s, &key, "OK-1");
    assert_eq!(
        (one["task"]["state"].as_str(), one["task"]["title"].as_str()),
        (Some("completed"), Some("fine 1")),
        "{one}"
    );
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
    assert!(
        audits["latest"]["plans"].as_array().unwrap().iter().any(|p| p["path"] == ghost.to_str().unwrap()),
        "{audits}"
    );
    assert!(!audits["latest"].to_string().contains("\"/plans/"), "no sandbox path: {audits}");

    // An alert: echo paused after failures (its health as the pipeline writes it then) fires
    // plugin_paused; acknowledged; resolved when the dashboard resumes it.
    let pause = r#"INSERT INTO plugin_health(plugin, health) VALUES ('echo', '{"consecutive_failures":2,"paused_until":"2999-01-01T00:00:00Z"}')
                   ON CONFLICT(plugin) DO UPDATE SET health = excluded.health"#;
    b.sql(&home, pause, pause);
    let paused = |s: &Serve| {
        let all = s.get("/api/alerts", Some(&key)).json();
        all["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["rule"] == "plugin_paused" && a["labels"]["plugin"] == "echo")
            .cloned()
    };
    wait_until(Duration::from_secs(20), "the plugin_paused alert", || {
        paused(&s).is_some_and(|a| a["state"] == "firing")
    });
    let alert = paused(&s).unwrap();
    assert!(alert["acked_at"].is_null(), "{alert}");
    let id = alert["id"].as_str().unwrap();
    assert_eq!(s.post(&format!("/api/alerts/{id}/ack"), None, b"").status, 401);
    let acked = s.post(&format!("/api/alerts/{id}/ack"), Some(&key), b"");
    assert_eq!(acked.status, 200, "{}", acked.text());
    assert!(acked.json()["acked_at"].is_string());
    let now = paused(&s).unwrap();
    assert_eq!(
        (now["state"].as_str(), now["firing"].as_u64(), now["acked_at"].clone()),
        (Some("firing"), Some(1), acked.json()["acked_at"].clone())
    );
    assert_eq!(s.post("/api/plugins/echo/resume", Some(&key), b"{}").status, 200);
    wait_until(Duration::from_secs(20), "the alert to resolve", || {
        paused(&s).is_some_and(|a| a["state"] == "resolved")
    });
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

/// `q` in the task list finds tasks by their text (issue 51): the params a TASK carried, the
/// error its plugin failed with and its RETURN's summary, written by a real `serve --once`;
/// the id, title and agents as before; and text that looks like query syntax is only text.
fn the_task_list_searches_params_errors_and_summaries(b: &Backend) {
    let home = b.home(&[], "");
    let key = rotate_key(&home);
    let wasm = home.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&wasm, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    home.ok(&["plugin", "install", wasm.to_str().unwrap()]);
    // "boom" is in one's params, in another's error (the echo plugin has no such action), and in
    // neither's id, title or agent.
    drop_custom(&home, "SEARCH-PARAMS", "Test-Agent", "echo", "echo", json!({"message": "a big boom here"}));
    drop_custom(&home, "SEARCH-ACTION", "Test-Agent", "echo", "boom", json!({"message": "quiet"}));
    drop_custom(&home, "SEARCH-TRAP", "Test-Agent", "testkit", "panic", json!({}));
    drop_custom(&home, "SEARCH-QUIET", "Other-Agent", "echo", "echo", json!({"message": "nothing to see"}));
    home.ok(&["serve", "--once"]);
    let s = Serve::start(&home);
    let find = |q: &str| -> Vec<String> {
        let r = s.get(&format!("/api/tasks?q={}", encode(q)), Some(&key));
        assert_eq!(r.status, 200, "q={q:?}: {}", r.text());
        let v = r.json();
        let ids: Vec<String> =
            v["items"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(v["total"].as_u64(), Some(ids.len() as u64), "{v}");
        assert_eq!(v["total_exact"], true, "{v}");
        let mut ids = ids;
        ids.sort();
        ids
    };
    // `serve` indexes what `serve --once` recorded when it has nothing else to do (a search
    // reads so few unindexed tasks directly and leaves them to it): soon none is left.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = s.get("/api/tasks?q=boom", Some(&key)).json();
        if v["unindexed"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "serve did not index the tasks: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let trap = handoff(&s, &key, "SEARCH-TRAP")["task"].clone();
    assert_eq!(trap["state"], "failed", "{trap}");
    assert!(trap["error_message"].as_str().unwrap().contains("testkit panics on purpose"), "{trap}");

    assert_eq!(find("boom"), ["SEARCH-ACTION", "SEARCH-PARAMS"], "by params and by error");
    assert_eq!(find("panics purpose"), ["SEARCH-TRAP"], "by the plugin's own failure, every word");
    assert!(find("panics nowhere").is_empty());
    // Echo's RETURN summary ("echoed N bytes of params") is in no TASK.
    assert_eq!(find("echoed"), ["SEARCH-PARAMS", "SEARCH-QUIET"], "by RETURN summary");
    assert_eq!(find("see"), ["SEARCH-QUIET"]);
    // The id's beginning, the agent.
    assert_eq!(find("SEARCH-TR"), ["SEARCH-TRAP"]);
    assert_eq!(find("Other-Agent"), ["SEARCH-QUIET"]);
    if matches!(b, Backend::Sqlite) {
        // Names are words on SQLite: a part from inside one is not found (PostgreSQL: LIKE).
        assert!(find("ARCH-TRAP").is_empty());
    } else {
        assert_eq!(find("ARCH-TRAP"), ["SEARCH-TRAP"]);
    }
    // Combined with the other filters, and counted for a bulk retry.
    let failed = s.get("/api/tasks?q=boom&state=failed,rejected", Some(&key)).json();
    assert_eq!(failed["items"][0]["id"], "SEARCH-ACTION", "{failed}");
    assert_eq!((failed["total"].as_u64(), failed["retryable"].as_u64()), (Some(1), Some(1)), "{failed}");
    // Query syntax of either backend is text: never a 500.
    for q in ["\"boom", "boom OR quiet", "NEAR(boom)", "boom*", "message:boom", "a & !b | c:*", "%", "_", "\\", "'"] {
        find(q);
    }
    assert_eq!(find("\"boom"), ["SEARCH-ACTION", "SEARCH-PARAMS"]);
}

/// `q` percent-encoded for a URL's query.
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_task_list_searches_params_errors_and_summaries_on_sqlite() {
    the_task_list_searches_params_errors_and_summaries(&Backend::Sqlite);
}

#[test]
fn the_task_list_searches_params_errors_and_summaries_on_postgres() {
    let Some(b) = Backend::postgres("search") else { return };
    the_task_list_searches_params_errors_and_summaries(&b);
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
    wait_until(Duration::from_secs(20), "the answer", || {
        handoff(&first, &key, "TWO-SERVES")["task"]["state"] == "completed"
    });
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
    wait_until(Duration::from_secs(20), "the answer in the new folder", || {
        home.returns("Test-Agent").contains_key("AFTER-MOVE")
    });
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
    wait_until(Duration::from_secs(20), "the hostile TASK's answer", || {
        handoff(&s, &key, "XSS-1")["task"]["state"] == "completed"
    });

    // `baton dashboard --print`: a one-time link through the Unix socket.
    let out = home.ok(&["dashboard", "--print"]);
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(link.starts_with(&format!("http://{}/#token=bt_", s.addr)), "{link}");
    use std::os::unix::fs::PermissionsExt;
    let sock = home.root.join("state/dashboard.sock");
    assert_eq!(std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777, 0o600);

    let mut b = cdp::Browser::launch();
    b.goto(&link);
    assert!(
        b.wait_for("document.querySelector('#conn').dataset.state === 'live'", Duration::from_secs(10)),
        "the live feed connects"
    );
    assert_eq!(b.eval("location.hash"), "#/overview", "the token leaves the address bar");
    // The one-time link does not work twice.
    let token = link.split("#token=").nth(1).unwrap();
    let r = http::request(s.addr, "GET", "/api/overview", None, &[("Authorization", &format!("Bearer {token}"))], b"")
        .unwrap();
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
    assert!(
        b.wait_for(
            "document.querySelector('#page').textContent.includes('<img src=x onerror=alert(1)>')",
            Duration::from_secs(10)
        ),
        "the title shows as text"
    );
    assert_eq!(b.eval("document.querySelectorAll('#page img').length"), 0);
    b.eval("location.hash = '#/handoff/XSS-1'");
    assert!(b.wait_for(
        "document.querySelector('#page').textContent.includes('<img src=x onerror=alert(1)>')",
        Duration::from_secs(10)
    ));
    assert_eq!(b.eval("document.querySelectorAll('img').length"), 0);
    b.pump(Duration::from_millis(300));
    assert!(b.dialogs.is_empty(), "no script ran: {:?}", b.dialogs);

    // A TASK dropped into the inbox shows on the open page within 2 s, with no reload.
    b.eval("location.hash = '#/handoffs'");
    assert!(b.wait_for("document.querySelector('#page').textContent.includes('Agents')", Duration::from_secs(10)));
    b.eval("window.__sameDocument = true");
    let dropped = Instant::now();
    drop_task(&home, "LIVE-1", "live update check", "echo");
    assert!(
        b.wait_for("document.querySelector('#page').textContent.includes('live update check')", Duration::from_secs(2)),
        "the new TASK did not show within 2 s"
    );
    let took = dropped.elapsed();
    assert_eq!(b.eval("window.__sameDocument === true"), true, "no reload");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert!(b.dialogs.is_empty(), "{:?}", b.dialogs);
    eprintln!("dashboard: a dropped TASK showed on the open page after {took:?}");

    // The serve goes away: the page says so.
    s.stop();
    assert!(
        b.wait_for("document.querySelector('#conn').dataset.state === 'disconnected'", Duration::from_secs(5)),
        "the page shows it is disconnected"
    );
    assert!(b.eval("document.querySelector('#conn').textContent").as_str().unwrap().contains("disconnected"));
    let log = s.log_text();
    assert!(!log.contains(&key) && !log.contains(token), "neither the key nor a token is logged");
}

// ---- running baton day to day (the dashboard on par with Sidekiq and Oban Web) -------------

/// A home with a fresh key, and its `serve --http`.
fn started(settings: &[(&str, &str)]) -> (Home, String, Serve) {
    let home = Home::init(settings, "");
    let key = rotate_key(&home);
    let s = Serve::start(&home);
    (home, key, s)
}

/// A TASK with its own action and params, dropped by `from`.
fn drop_custom(home: &Home, id: &str, from: &str, plugin: &str, action: &str, params: Value) {
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-01T00:00:00Z",
                      "from": from, "title": format!("task {id}"), "plugin": plugin, "action": action, "params": params});
    home.drop_file(format!("20260101T000000Z__TASK__{id}__{from}.json"), body.to_string());
}

/// Chromium on the dashboard, signed in through `baton dashboard --print`'s one-time link.
fn signed_in(home: &Home) -> cdp::Browser {
    let out = home.ok(&["dashboard", "--print"]);
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut b = cdp::Browser::launch();
    b.goto(&link);
    assert!(
        b.wait_for("document.querySelector('#conn').dataset.state === 'live'", Duration::from_secs(10)),
        "signed in: {:?}",
        b.errors
    );
    b
}

/// Opens `#/{route}` and waits for the page to show `text`.
fn show(b: &mut cdp::Browser, route: &str, text: &str) {
    b.eval(&format!("location.hash = {}", json!(format!("#/{route}"))));
    let check = format!("document.querySelector('#page').textContent.includes({})", json!(text));
    assert!(
        b.wait_for(&check, Duration::from_secs(10)),
        "#/{route} shows {text:?}; it shows {:?}; errors {:?}",
        b.eval("document.querySelector('#page').textContent"),
        b.errors
    );
}

/// The rows of the table that follows the heading `title` on the page, as text cells.
fn rows_after(b: &mut cdp::Browser, title: &str) -> Vec<Vec<String>> {
    let js = format!(
        "(() => {{ const h = [...document.querySelectorAll('#page h2, #page h3')].find(e => e.textContent === {});
            let t = h && h.nextElementSibling; while (t && t.tagName !== 'TABLE' && !/^H[23]$/.test(t.tagName)) t = t.nextElementSibling;
            if (!t || t.tagName !== 'TABLE') return null;
            return [...t.querySelectorAll('tbody tr')].map(r => [...r.cells].map(c => c.textContent)); }})()",
        json!(title)
    );
    serde_json::from_value(b.eval(&js)).unwrap_or_default()
}

fn screenshot(b: &mut cdp::Browser, name: &str) {
    b.pump(Duration::from_millis(150));
    let shot = output_dir().join(format!("{name}.png"));
    b.screenshot(&shot);
    assert!(std::fs::metadata(&shot).unwrap().len() > 5_000, "a real screenshot in {}", shot.display());
}

fn settled(s: &Serve, key: &str, ids: &[&str]) {
    wait_until(Duration::from_secs(30), "the answers", || {
        ids.iter().all(|id| {
            matches!(handoff(s, key, id)["task"]["state"].as_str(), Some("completed" | "failed" | "rejected"))
        })
    });
}

#[test]
fn the_overview_shows_tasks_by_state() {
    let (home, key, s) = started(&[]);
    drop_task(&home, "BY-STATE-1", "one", "echo");
    drop_task(&home, "BY-STATE-2", "two", "echo");
    drop_task(&home, "BY-STATE-3", "three", "no-such-plugin");
    settled(&s, &key, &["BY-STATE-1", "BY-STATE-2", "BY-STATE-3"]);
    let ov = s.get("/api/overview", Some(&key)).json();
    assert_eq!(
        (ov["counts"]["completed"].as_u64(), ov["counts"]["rejected"].as_u64(), ov["counts"]["failed"].as_u64()),
        (Some(2), Some(1), Some(0)),
        "{ov}"
    );
    let mut b = signed_in(&home);
    show(&mut b, "overview", "Tasks by state");
    let rows = rows_after(&mut b, "Tasks by state");
    for (state, n) in [("completed", "2"), ("rejected", "1"), ("failed", "0")] {
        assert!(rows.iter().any(|r| r[0] == state && r[1] == n), "{state} {n} in {rows:?}");
    }
    screenshot(&mut b, "overview-by-state");

    // "Waiting in inboxes" is work: the three RETURNs in Test-Agent's inbox are unread mail;
    // a TASK waiting for another agent (and one in a loose name, read by its body) is work.
    let cursor = home.root.join("handoffs/Cursor-Agent/01_inbox");
    std::fs::create_dir_all(&cursor).unwrap();
    std::fs::write(
        cursor.join("20260101T000000Z__TASK__Review__Test-Agent.json"),
        task("FOR-CURSOR", "review this", "echo").replace("\"plugin\":\"echo\",", "\"to\":\"Cursor-Agent\","),
    )
    .unwrap();
    std::fs::write(cursor.join("loose-answer.json"), json!({"type": "return", "in_reply_to": "X", "from": "Test-Agent", "to": "Cursor-Agent", "status": "completed", "summary": "done"}).to_string()).unwrap();
    let waiting = |b: &mut cdp::Browser, id: &str| b.eval(&format!("document.querySelector('#{id}').textContent"));
    show(&mut b, "handoffs", "Agents");
    show(&mut b, "overview", "Tasks by state");
    assert!(
        b.wait_for("document.querySelector('#waiting').textContent === '1'", Duration::from_secs(5)),
        "waiting: {}",
        waiting(&mut b, "waiting")
    );
    assert_eq!(waiting(&mut b, "unread"), "4", "three RETURNs from baton and one loose answer are unread mail");
    let depth = rows_after(&mut b, "Queue depth");
    assert!(depth.iter().any(|r| r == &["Test-Agent", "0", "3"]), "{depth:?}");
    assert!(depth.iter().any(|r| r == &["Cursor-Agent", "1", "1"]), "{depth:?}");
    let metrics = baton_stats::metrics::parse(&s.get("/metrics", Some(&key)).text()).unwrap();
    assert_eq!(metrics.value("baton_queue_depth", &[("agent", "Test-Agent")]), Some(0.0));
    assert_eq!(metrics.value("baton_queue_depth", &[("agent", "Cursor-Agent")]), Some(1.0));
    screenshot(&mut b, "overview-mail");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

#[test]
fn the_task_list_filters_pages_colours_and_retries_the_filtered_failures() {
    let (home, key, s) = started(&[]);
    // 230 completed tasks from one agent (more than the old 200-row cap), two kinds of
    // failure from another.
    for i in 0..230 {
        drop_custom(&home, &format!("MANY-{i:03}"), "Bulk-Agent", "echo", "echo", json!({"n": i}));
    }
    for i in 0..3 {
        drop_custom(&home, &format!("NOPLUG-{i}"), "Other-Agent", "no-such-plugin", "echo", json!({}));
    }
    drop_custom(&home, "BADACT-0", "Other-Agent", "echo", "nope", json!({}));
    // And failures that may succeed when run again: a plugin that panics.
    let wasm = home.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&wasm, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    home.ok(&["plugin", "install", wasm.to_str().unwrap()]);
    for i in 0..3 {
        drop_custom(&home, &format!("PANIC-{i}"), "Other-Agent", "testkit", "panic", json!({}));
    }
    let mut ids: Vec<String> = (0..3).flat_map(|i| [format!("NOPLUG-{i}"), format!("PANIC-{i}")]).collect();
    ids.push("BADACT-0".into());
    ids.push("MANY-229".into());
    settled(&s, &key, &ids.iter().map(String::as_str).collect::<Vec<_>>());
    wait_until(Duration::from_secs(30), "all 237 tasks", || s.get("/api/tasks", Some(&key)).json()["total"] == 237);
    let code_of = |id: &str| handoff(&s, &key, id)["task"]["error_code"].as_str().unwrap().to_string();
    let (noplug, badact, panicked) = (code_of("NOPLUG-0"), code_of("BADACT-0"), code_of("PANIC-0"));
    assert_ne!(noplug, badact);
    assert!(!baton_handoff::codes::fails_unchanged(&panicked), "{panicked}");

    // The API: totals, pages, newest first, combinable filters; bad values are 400.
    let all = s.get("/api/tasks?per_page=100&page=3", Some(&key)).json();
    assert_eq!(
        (all["total"].as_u64(), all["pages"].as_u64(), all["items"].as_array().unwrap().len()),
        (Some(237), Some(3), 37),
        "{all}"
    );
    let first = s.get("/api/tasks", Some(&key)).json();
    // RFC 3339 times with trimmed fractions (`.14Z` is `.140Z`) do not sort as strings.
    let parse = |t: &str| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).unwrap();
    let at: Vec<&str> = first["items"].as_array().unwrap().iter().map(|i| i["claimed_at"].as_str().unwrap()).collect();
    assert!(at.windows(2).all(|w| parse(w[0]) >= parse(w[1])), "newest first: {at:?}");
    let f = s.get(&format!("/api/tasks?agent=Other-Agent&code={noplug}"), Some(&key)).json();
    assert_eq!((f["total"].as_u64(), f["retryable"].as_u64()), (Some(3), Some(3)), "{f}");
    assert_eq!(s.get("/api/tasks?plugin=echo&agent=Other-Agent", Some(&key)).json()["total"], 1);
    assert_eq!(s.get("/api/tasks?state=completed&agent=Other-Agent", Some(&key)).json()["total"], 0);
    for bad in ["state=bogus", "page=0", "per_page=100000", "page=x"] {
        assert_eq!(s.get(&format!("/api/tasks?{bad}"), Some(&key)).status, 400, "{bad}");
    }
    assert_eq!(s.get("/api/tasks", None).status, 401);

    // The old list says where it stops.
    let list = s.get("/api/handoffs", Some(&key)).json();
    assert_eq!((list["items"].as_array().unwrap().len(), list["truncated"].as_bool()), (200, Some(true)));

    let mut b = signed_in(&home);
    show(&mut b, "handoffs", "Showing the newest 200 only");
    show(&mut b, "tasks", "Showing 1\u{2013}50 of 237 tasks");
    assert!(b.eval("document.querySelector('#page').textContent.includes('page 1 of 5')").as_bool().unwrap());
    // Colour by state: completed and failed rows look different.
    let bg = |b: &mut cdp::Browser, state: &str| {
        b.eval(&format!("(() => {{ const e = document.querySelector('#page .state-{state}'); return e ? getComputedStyle(e).backgroundColor : null; }})()"))
    };
    let done = bg(&mut b, "completed");
    assert!(done.is_string(), "a completed badge");
    // Older pages: through the pager, reflected in the URL.
    b.eval("document.querySelector('#older').click()");
    assert!(b.wait_for("location.hash === '#/tasks?page=2'", Duration::from_secs(5)), "{}", b.eval("location.hash"));
    show(&mut b, "tasks?page=2", "Showing 51\u{2013}100 of 237 tasks");
    // The filters: chosen in the form, combined, put in the URL.
    show(&mut b, "tasks", "Showing 1\u{2013}50");
    b.eval(&format!(
        "(() => {{ const f = document.querySelector('form.filters'); f.elements.agent.value = 'Other-Agent'; f.elements.code.value = {}; f.requestSubmit(); }})()",
        json!(noplug)
    ));
    let want_hash = format!("#/tasks?code={noplug}&agent=Other-Agent");
    assert!(
        b.wait_for(&format!("location.hash === {}", json!(want_hash)), Duration::from_secs(5)),
        "{}",
        b.eval("location.hash")
    );
    show(&mut b, &want_hash[2..], "Showing 1\u{2013}3 of 3 tasks");
    let rows = rows_after(&mut b, "Tasks");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(
        rows.iter().all(|r| r[0].starts_with("NOPLUG-") && r[4] == noplug),
        "an error column with the code: {rows:?}"
    );
    let failed = bg(&mut b, "rejected");
    assert!(failed.is_string() && failed != done, "failures are coloured apart: {failed} vs {done}");
    screenshot(&mut b, "tasks");

    // Bulk retry of these failures: refused for what they are (no such plugin), retried unchanged
    // they would be refused again: none is retried, all are named with the way to edit them.
    b.eval("document.querySelector('#retry-all').click()");
    assert!(b.wait_for("!!document.querySelector('#left-out')", Duration::from_secs(5)));
    let text = b.eval("document.querySelector('#left-out').textContent").as_str().unwrap().to_string();
    assert!(text.starts_with("3 left out") && text.contains(&noplug) && text.contains("baton retry NOPLUG-"), "{text}");
    assert_eq!(b.eval("!!document.querySelector('#confirm-retry')"), false, "nothing offered to retry");
    let dry = json!({"code": noplug, "agent": "Other-Agent", "dry_run": true}).to_string();
    let r = s.post("/api/tasks/retry", Some(&key), dry.as_bytes()).json();
    assert_eq!((r["matched"].as_u64(), r["left_out"].as_array().map(Vec::len)), (Some(0), Some(3)), "{r}");
    assert_eq!(r["left_out"][0]["code"], noplug.as_str(), "{r}");

    // The failures a retry may mend: the confirmation says how many, then all move.
    let want_hash = format!("#/tasks?code={panicked}&agent=Other-Agent");
    show(&mut b, &want_hash[2..], "Showing 1\u{2013}3 of 3 tasks");
    b.eval("document.querySelector('#retry-all').click()");
    assert!(b.wait_for("!!document.querySelector('#confirm-text')", Duration::from_secs(5)));
    let text = b.eval("document.querySelector('#confirm-text').textContent");
    assert!(text.as_str().unwrap().starts_with("Retry 3 failed tasks"), "{text}");
    screenshot(&mut b, "tasks-bulk-retry");
    // Without the key, or with a stale count, nothing moves.
    let body = json!({"code": panicked, "agent": "Other-Agent", "expect": 3}).to_string();
    assert_eq!(s.post("/api/tasks/retry", None, body.as_bytes()).status, 401);
    let stale = json!({"code": panicked, "agent": "Other-Agent", "expect": 2}).to_string();
    let r = s.post("/api/tasks/retry", Some(&key), stale.as_bytes());
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (409, Some("count_changed")), "{}", r.text());
    assert_eq!(s.post("/api/tasks/retry", Some(&key), b"{}").status, 400, "`expect` is required");
    let dry = json!({"code": panicked, "agent": "Other-Agent", "dry_run": true}).to_string();
    let r = s.post("/api/tasks/retry", Some(&key), dry.as_bytes());
    assert_eq!((r.status, r.json()["matched"].as_u64()), (200, Some(3)), "{}", r.text());
    let events = |id: &str| {
        handoff(&s, &key, id)["events"].as_array().unwrap().iter().filter(|e| e["event"] == "retry_requested").count()
    };
    assert_eq!(events("PANIC-0"), 0);
    b.eval("document.querySelector('#confirm-retry').click()");
    wait_until(Duration::from_secs(20), "the three retries", || (0..3).all(|i| events(&format!("PANIC-{i}")) == 1));
    assert_eq!(events("BADACT-0"), 0, "a failure outside the filters is left alone");
    assert_eq!(events("NOPLUG-0"), 0, "a failure that fails unchanged is left alone");
    assert!(b.wait_for(
        "document.querySelector('#toast') && document.querySelector('#toast').textContent.includes('Retried 3 of 3')",
        Duration::from_secs(5)
    ));
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert!(b.dialogs.is_empty(), "{:?}", b.dialogs);
}

#[test]
fn the_task_page_shows_the_params_and_the_returns_result_summary_and_artifacts() {
    let (home, key, s) = started(&[]);
    drop_custom(&home, "PARAMS-1", "Test-Agent", "echo", "echo", json!({"colour": "teal", "n": 42}));
    drop_custom(&home, "AUDIT-1", "Test-Agent", "audit", "audit", json!({"force": true, "followup_agent": null}));
    settled(&s, &key, &["PARAMS-1", "AUDIT-1"]);
    let h = handoff(&s, &key, "AUDIT-1");
    let artifacts = h["return"]["artifacts"].as_array().unwrap_or_else(|| panic!("{h}")).clone();
    assert!(!artifacts.is_empty(), "{h}");
    let mut b = signed_in(&home);
    // Waits for this page's own title: the page shown before it may hold "RETURN" too.
    show(&mut b, "handoff/PARAMS-1", "Handoff PARAMS-1");
    assert!(b.wait_for(
        "!!document.querySelector('#params') && !!document.querySelector('#result')",
        Duration::from_secs(10)
    ));
    let params: Value =
        serde_json::from_str(b.eval("document.querySelector('#params').textContent").as_str().unwrap()).unwrap();
    assert_eq!(params, json!({"colour": "teal", "n": 42}));
    let result: Value =
        serde_json::from_str(b.eval("document.querySelector('#result').textContent").as_str().unwrap()).unwrap();
    assert_eq!(result, json!({"colour": "teal", "n": 42}), "echo's result is its params");
    assert!(b.eval("document.querySelector('#summary').textContent").as_str().unwrap().starts_with("echoed"));
    screenshot(&mut b, "task");
    // Waits for text only this page has: the page before it also has an "Artifacts" heading.
    show(&mut b, "handoff/AUDIT-1", "Handoff AUDIT-1");
    let listed: Vec<String> =
        serde_json::from_value(b.eval("[...document.querySelectorAll('#artifacts li')].map(l => l.textContent)"))
            .unwrap();
    assert_eq!(listed.len(), artifacts.len());
    assert!(listed.iter().any(|a| a.contains("PLANS_AUDIT_REPORT_")), "{listed:?}");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

#[test]
fn a_session_survives_a_reload_and_a_serve_restart_and_deep_links_work() {
    let (home, key, mut s) = started(&[]);
    drop_task(&home, "DEEP-1", "a deep link", "echo");
    settled(&s, &key, &["DEEP-1"]);
    // The cookie the trade sets: signed, HttpOnly, SameSite=Strict, scoped, expiring.
    let auth = format!("Bearer {key}");
    let r = http::request(s.addr, "POST", "/api/session", None, &[("Authorization", &auth)], b"").unwrap();
    let set = r.header("set-cookie").unwrap_or_else(|| panic!("no cookie: {:?}", r.headers)).to_string();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/api/session", "Max-Age="] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains(&key[3..]), "the key never leaves the machine");
    let cookie = set.split(';').next().unwrap().to_string();
    let origin = format!("http://{}", s.addr);
    let by_cookie = |s: &Serve, cookie: &str, origin: Option<&str>| {
        let mut h = vec![("Cookie", cookie)];
        if let Some(o) = origin {
            h.push(("Origin", o));
        }
        http::request(s.addr, "POST", "/api/session", None, &h, b"").unwrap()
    };
    let traded = by_cookie(&s, &cookie, Some(&origin));
    assert_eq!(traded.status, 200, "{}", traded.text());
    assert_eq!(s.get("/api/overview", Some(traded.json()["token"].as_str().unwrap())).status, 200);
    assert_eq!(by_cookie(&s, &cookie, None).status, 401, "the cookie only with the page's Origin");
    assert_eq!(by_cookie(&s, &cookie, Some("http://evil.example")).status, 403);
    assert_eq!(by_cookie(&s, &cookie.replace("v1.", "v1.9"), Some(&origin)).status, 401, "a changed cookie");
    assert_eq!(
        http::request(s.addr, "GET", "/api/overview", None, &[("Cookie", &cookie)], b"").unwrap().status,
        401,
        "the cookie is no API credential"
    );

    let mut b = signed_in(&home);
    assert_eq!(b.eval("document.cookie"), "", "script cannot read the cookie");
    show(&mut b, "handoff/DEEP-1", "a deep link");
    // A reload keeps the session and the page.
    b.call("Page.reload", json!({}));
    assert!(b.wait_for("document.readyState === 'complete'", Duration::from_secs(10)));
    assert!(
        b.wait_for("document.querySelector('#page').textContent.includes('a deep link')", Duration::from_secs(10)),
        "after a reload: {}",
        b.eval("document.body.textContent")
    );
    assert_eq!(b.eval("document.querySelector('#login').hidden"), true);
    // A serve restart (same port) too: the page signs in again by itself.
    let port = s.addr.port();
    s.stop();
    assert!(b.wait_for("document.querySelector('#conn').dataset.state === 'disconnected'", Duration::from_secs(5)));
    let s = Serve::start_on(&home, port);
    assert!(
        b.wait_for("document.querySelector('#conn').dataset.state === 'live'", Duration::from_secs(15)),
        "reconnected after the restart"
    );
    show(&mut b, "tasks?state=completed", "Showing 1\u{2013}1 of 1 tasks");
    assert_eq!(b.eval("document.querySelector('#login').hidden"), true);
    // A deep link opened in a new page of the same browser works at once.
    b.goto(&format!("http://{}/#/handoff/DEEP-1", s.addr));
    assert!(
        b.wait_for("document.querySelector('#page').textContent.includes('a deep link')", Duration::from_secs(10)),
        "deep link: {}",
        b.eval("document.body.textContent")
    );
    screenshot(&mut b, "task-after-restart");
    // A deep link in a one-time link.
    let out = home.ok(&["dashboard", "--print"]);
    let link = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let mut fresh = cdp::Browser::launch();
    fresh.goto(&format!("{link}&next=/handoff/DEEP-1"));
    assert!(
        fresh.wait_for("document.querySelector('#page').textContent.includes('a deep link')", Duration::from_secs(10)),
        "{}",
        fresh.eval("document.body.textContent")
    );
    assert_eq!(fresh.eval("location.hash"), "#/handoff/DEEP-1");
    // Signing out clears the cookie: a reload asks to sign in again.
    fresh.eval("document.querySelector('#sign-out').click()");
    assert!(fresh.wait_for("document.querySelector('#login').hidden === false", Duration::from_secs(5)));
    fresh.call("Page.reload", json!({}));
    assert!(fresh.wait_for("document.readyState === 'complete'", Duration::from_secs(10)));
    fresh.pump(Duration::from_millis(500));
    assert_eq!(fresh.eval("document.querySelector('#login').hidden"), false, "signed out stays signed out");
    // A rotated key ends every session cookie.
    rotate_key(&home);
    assert_eq!(by_cookie(&s, &cookie, Some(&origin)).status, 401);
    assert!(
        b.errors.iter().all(|e| e.contains("401") || e.contains("ERR_CONNECTION_REFUSED") || e.contains("WebSocket")),
        "{:?}",
        b.errors
    );
    assert!(!s.log_text().contains(&key));
}

#[test]
fn audits_keep_a_history_per_plans_set_and_an_empty_plans_folder_says_so() {
    let home = Home::init(&[], "");
    let key = rotate_key(&home);
    std::fs::write(home.root.join("plans/GHOST_PLAN.md"), "# Ghost plan\n\n- [x] Create `src/ghost.py`\n").unwrap();
    let s = Serve::start(&home);
    wait_until(Duration::from_secs(30), "serve's own audit", || {
        s.get("/api/audits", Some(&key)).json()["latest"]["plans"].as_array().is_some_and(|p| !p.is_empty())
    });
    // `baton audit` of two other folders writes into the same reports folder, later.
    let other = home.root.join("other-plans");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("OTHER_PLAN.md"), "# Other plan\n\n- [ ] Create `b.txt`\n").unwrap();
    let empty = home.root.join("empty-plans");
    std::fs::create_dir_all(&empty).unwrap();
    std::thread::sleep(Duration::from_millis(1100)); // report names have second precision
    home.ok(&["audit", "--plans", other.to_str().unwrap(), "--force"]);
    std::thread::sleep(Duration::from_millis(1100));
    home.ok(&["audit", "--plans", empty.to_str().unwrap(), "--force"]);
    let a = s.get("/api/audits", Some(&key)).json();
    assert_eq!(a["sets"].as_array().map(Vec::len), Some(3), "{a}");
    let ghost = home.root.join("plans/GHOST_PLAN.md");
    let plans: Vec<&str> = a["latest"]["plans"].as_array().unwrap().iter().filter_map(|p| p["path"].as_str()).collect();
    assert_eq!(plans, [ghost.to_str().unwrap()], "serve's own set by default, not the newest CLI run: {a}");
    assert!(
        a["history"].as_array().unwrap().iter().all(|h| h["expected"] == 1),
        "no other set's report in this history: {a}"
    );

    let mut b = signed_in(&home);
    show(&mut b, "audits", "Ghost plan");
    let options: Vec<String> =
        serde_json::from_value(b.eval("[...document.querySelectorAll('#plans-set option')].map(o => o.textContent)"))
            .unwrap();
    assert_eq!(options.len(), 3, "{options:?}");
    screenshot(&mut b, "audits");
    b.eval(&format!(
        "(() => {{ const s = document.querySelector('#plans-set'); s.value = [...s.options].find(o => o.textContent.startsWith({})).value; s.dispatchEvent(new Event('change')); }})()",
        json!(empty.to_str().unwrap())
    ));
    assert!(
        b.wait_for("!!document.querySelector('#no-plans')", Duration::from_secs(10)),
        "{}",
        b.eval("document.querySelector('#page').textContent")
    );
    let text = b.eval("document.querySelector('#no-plans').textContent");
    assert!(text.as_str().unwrap().starts_with("No plans found in"), "{text}");
    assert!(b.eval("location.hash").as_str().unwrap().starts_with("#/audits?set="), "the set is in the URL");
    screenshot(&mut b, "audits-empty-set");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

#[test]
fn metrics_say_what_is_paused_and_why_what_waits_between_agents_what_fires_and_how_the_process_is() {
    let home = Home::init(&[("eval_secs", "1")], "");
    let key = rotate_key(&home);
    // A plan ticking off a file that does not exist: the audit_false_claims alert fires.
    std::fs::write(home.root.join("plans/GHOST_PLAN.md"), "# Ghost plan\n\n- [x] Create `src/ghost.py`\n").unwrap();
    let s = Serve::start(&home);
    assert_eq!(s.get("/metrics", None).status, 401, "/metrics keeps its key");
    // A TASK from one agent to another (old: stale), which baton sees but does not run.
    let cursor = home.root.join("handoffs/Cursor-Agent/01_inbox");
    std::fs::create_dir_all(&cursor).unwrap();
    let between = json!({"schema": "baton.handoff/v1", "id": "TO-CURSOR", "kind": "task", "created_at": "2026-01-01T00:00:00Z",
                         "from": "Test-Agent", "to": "Cursor-Agent", "title": "review"});
    std::fs::write(cursor.join("20260101T000000Z__TASK__Review__Test-Agent.json"), between.to_string()).unwrap();
    drop_task(&home, "M-1", "one", "echo");
    settled(&s, &key, &["M-1"]);
    assert_eq!(s.post("/api/plugins/echo/pause", Some(&key), b"{}").status, 200);
    let scrape = || {
        let text = s.get("/metrics", Some(&key)).text();
        baton_stats::metrics::parse(&text).unwrap_or_else(|e| panic!("/metrics is not Prometheus text ({e}): {text}"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let p = loop {
        let p = scrape();
        if p.value("baton_alerts_firing", &[("rule", "audit_false_claims")]) == Some(1.0)
            && p.value("baton_handoffs_between_agents_open", &[("agent", "Cursor-Agent")]) == Some(1.0)
        {
            break p;
        }
        assert!(Instant::now() < deadline, "no alert or observed handoff: {}", s.get("/metrics", Some(&key)).text());
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(p.value("baton_alerts_firing", &[("rule", "fp_coverage")]), Some(0.0), "every rule has its series");
    assert_eq!(p.value("baton_plugin_paused", &[("plugin", "echo"), ("reason", "hand")]), Some(1.0));
    assert_eq!(p.value("baton_plugin_paused", &[("plugin", "audit")]), Some(0.0));
    assert_eq!(
        p.value("baton_handoffs_between_agents_stale", &[("agent", "Cursor-Agent")]),
        Some(1.0),
        "created in January: stale"
    );
    assert_eq!(p.value("baton_unread_returns", &[("agent", "Test-Agent")]), Some(1.0), "M-1's RETURN");
    assert_eq!(p.value("baton_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let last = p.value("baton_last_pass_timestamp_seconds", &[]).expect("last pass time");
    assert!(last <= now + 1.0 && last > now - 60.0, "{last} vs {now}");
    let start = p.value("process_start_time_seconds", &[]).expect("process start");
    assert!(start <= now + 1.0 && start > now - 600.0, "{start} vs {now}");
    assert!(p.value("process_resident_memory_bytes", &[]).is_some_and(|v| v > 1e6));
    assert!(p.value("process_open_fds", &[]).is_some_and(|v| v > 3.0));
    assert!(p.value("process_cpu_seconds_total", &[]).is_some_and(|v| v > 0.0));
    assert_eq!(p.types.get("process_cpu_seconds_total").map(String::as_str), Some("counter"));
    // Drop-to-RETURN and run time, by plugin: M-1 ran echo; the rejected TASK ran nothing.
    drop_task(&home, "M-2", "no plugin", "no-such-plugin");
    settled(&s, &key, &["M-2"]);
    let p = scrape();
    assert_eq!(p.value("baton_drop_to_return_seconds_count", &[("plugin", "echo")]), Some(1.0));
    assert_eq!(
        p.value("baton_drop_to_return_seconds_count", &[("plugin", "unknown")]),
        Some(1.0),
        "a TASK for no installed plugin"
    );
    assert_eq!(p.value("baton_drop_to_return_seconds_bucket", &[("plugin", "echo"), ("le", "+Inf")]), Some(1.0));
    assert!(p.value("baton_drop_to_return_seconds_sum", &[("plugin", "echo")]).is_some_and(|v| v > 0.0));
    assert_eq!(p.value("baton_task_run_seconds_count", &[("plugin", "echo")]), Some(1.0));
    assert_eq!(p.value("baton_task_run_seconds_count", &[("plugin", "unknown")]), Some(0.0));
    assert_eq!(
        p.value("baton_task_run_seconds_count", &[("plugin", "audit")]),
        p.value("baton_handoffs_total", &[("status", "completed"), ("plugin", "audit")])
    );
}

#[test]
fn the_library_lists_each_groups_duplicates_as_a_list() {
    let home = Home::init(&[], "");
    let music = home.root.join("music");
    let samples = support::audio::synth(7, 30.0, 22050);
    for name in ["keep.wav", "copy-1.wav", "copy-2.wav"] {
        support::audio::write_wav(&music.join(name), &samples, 22050);
    }
    home.ok(&["fp", "scan", music.to_str().unwrap()]);
    let _s = Serve::start(&home);
    let mut b = signed_in(&home);
    show(&mut b, "library", "Duplicate groups");
    assert!(
        b.wait_for("document.querySelectorAll('#page ul.dups li').length === 2", Duration::from_secs(10)),
        "{}",
        b.eval("document.querySelector('#page').innerHTML")
    );
    let items: Vec<String> =
        serde_json::from_value(b.eval("[...document.querySelectorAll('#page ul.dups li')].map(l => l.textContent)"))
            .unwrap();
    assert!(items.iter().all(|i| i.ends_with(".wav") && !i.contains('\n')), "one duplicate per item: {items:?}");
    screenshot(&mut b, "library");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

// ---- the dashboard finds things, and shows the agents' mailboxes ----

/// Every rejection, parsed or not (an unknown plugin, bad JSON, a file over `max_file_bytes`, a
/// name that is not UTF-8, a file that names an id but is no valid TASK), is a row of the
/// rejected list with its file and reason, and the list's total is `baton status --json`'s
/// `rejections.total`; the page shows the same rows.
#[test]
fn every_rejection_is_a_row_of_the_rejected_list_with_its_file_and_reason_as_status_counts_them() {
    use std::os::unix::ffi::OsStrExt;
    let (home, key, s) = started(&[("max_file_bytes", "4096")]);
    drop_task(&home, "REJ-PLUGIN", "no such plugin", "no-such-plugin");
    let bad_json = "20260101T000000Z__TASK__Bad-Json__Test-Agent.json";
    home.drop_file(bad_json, "{ this is not json");
    let too_big = "20260101T000000Z__TASK__Too-Big__Test-Agent.json";
    home.drop_file(too_big, format!("{{\"pad\": \"{}\"}}", "x".repeat(8000)));
    home.drop_file(
        std::ffi::OsStr::from_bytes(b"20260101T000000Z__TASK__Bad-\xff-Name__Test-Agent.json"),
        task("REJ-NAME", "bad name", "echo"),
    );
    let no_kind = "20260101T000000Z__TASK__No-Kind__Test-Agent.json";
    home.drop_file(
        no_kind,
        json!({"schema": "baton.handoff/v1", "id": "REJ-NOKIND", "created_at": "2026-01-01T00:00:00Z",
               "from": "Test-Agent", "title": "No kind", "plugin": "echo", "action": "echo", "params": {}})
        .to_string(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while home.json(&["status", "--json"])["rejections"]["total"] != 5 {
        let st = home.json(&["status", "--json"]);
        assert!(Instant::now() < deadline, "five rejections in status: {:#}", st["rejections"]);
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = home.json(&["status", "--json"]);
    let list = s.get("/api/tasks?state=rejected", Some(&key)).json();
    assert_eq!(list["total"], status["rejections"]["total"], "{list}");
    assert_eq!(list["facets"]["state"]["rejected"], 5, "{}", list["facets"]);
    assert_eq!(s.get("/api/overview", Some(&key)).json()["counts"]["rejected"], 5);
    let items = list["items"].as_array().unwrap();
    let mut codes: Vec<&str> = items.iter().map(|i| i["error_code"].as_str().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, ["invalid", "invalid", "invalid_name", "too_large", "unknown_plugin"], "{list}");
    for i in items {
        assert_eq!(i["state"], "rejected", "{i}");
        assert!(i["reason"].as_str().is_some_and(|r| r.len() > 10), "a reason: {i}");
        assert!(i["file"].as_str().is_some_and(|f| f.contains("__TASK__")), "its file: {i}");
    }
    let by_file = |f: &str| items.iter().find(|i| i["file"] == f).unwrap_or_else(|| panic!("{f} in {list}"));
    assert!(by_file(too_big)["reason"].as_str().unwrap().contains("4096 byte cap"));
    assert_eq!(by_file(no_kind)["error_code"], "invalid");
    let parsed = items.iter().find(|i| i["id"] == "REJ-PLUGIN").unwrap();
    assert_eq!((parsed["plugin"].as_str(), parsed["from"].as_str()), (Some("no-such-plugin"), Some("Test-Agent")));
    // Free text finds a rejection by its reason; the filters narrow it as elsewhere.
    let found = s.get("/api/tasks?state=rejected&q=byte%20cap", Some(&key)).json();
    assert_eq!((found["total"].as_u64(), found["items"][0]["file"].as_str()), (Some(1), Some(too_big)), "{found}");
    let coded = s.get("/api/tasks?state=rejected&code=invalid&per_page=1&page=2", Some(&key)).json();
    assert_eq!((coded["total"].as_u64(), coded["items"].as_array().map(Vec::len)), (Some(2), Some(1)), "{coded}");
    // "Any state" lists what the facets count: the files that never parsed are in it too (they
    // have no ledger row), and a search finds them by file name.
    let any = s.get("/api/tasks", Some(&key)).json();
    let facets: u64 = any["facets"]["state"].as_object().unwrap().values().filter_map(Value::as_u64).sum();
    assert_eq!(any["total"].as_u64(), Some(facets), "{any}");
    assert_eq!(any["items"].as_array().map(Vec::len), Some(facets as usize), "{any}");
    let named = s.get("/api/tasks?q=Bad-Json", Some(&key)).json();
    assert_eq!((named["total"].as_u64(), named["items"][0]["file"].as_str()), (Some(1), Some(bad_json)), "{named}");
    // A rejection that never parsed opens on its task page (its history is under its claim).
    let unparsed = by_file(bad_json)["id"].as_str().unwrap().to_string();
    assert_eq!(s.get(&format!("/api/handoffs/{unparsed}"), Some(&key)).status, 200, "{unparsed}");
    let mut b = signed_in(&home);
    show(&mut b, "tasks?state=rejected", "Showing 1\u{2013}5 of 5 tasks");
    let rows = b.eval("[...document.querySelectorAll('#page tbody tr')].map(r => r.textContent)");
    let rows: Vec<String> = serde_json::from_value(rows).unwrap();
    assert_eq!(rows.len(), 5, "{rows:?}");
    assert!(rows.iter().any(|r| r.contains(bad_json) && r.contains("not")), "{rows:?}");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

/// A plugin's crash on the task page: the error message with the plugin's stderr lines (a Rust
/// panic's message, then the trap) is one `<pre>`, line by line, shown once: the record, the
/// RETURN, the history and the plugin log do not repeat it.
#[test]
fn a_traceback_is_shown_preformatted_once_on_the_task_page() {
    let (home, key, s) = started(&[]);
    let wasm = home.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&wasm, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    home.ok(&["plugin", "install", wasm.to_str().unwrap()]);
    drop_custom(&home, "TRACE-1", "Test-Agent", "testkit", "panic", json!({}));
    settled(&s, &key, &["TRACE-1"]);
    let message = handoff(&s, &key, "TRACE-1")["task"]["error_message"].as_str().unwrap().to_string();
    assert!(message.contains("testkit panics on purpose") && message.lines().count() > 1, "{message}");
    let mut b = signed_in(&home);
    show(&mut b, "handoff/TRACE-1", "Handoff TRACE-1");
    assert!(b.wait_for("!!document.querySelector('pre#error')", Duration::from_secs(10)));
    let pre = b.eval("document.querySelector('pre#error').textContent").as_str().unwrap().to_string();
    assert_eq!(pre, message, "the message as written, every line");
    let white_space = b.eval("getComputedStyle(document.querySelector('pre#error')).whiteSpace");
    assert_eq!(white_space, "pre", "its lines and indentation kept");
    let page = b.eval("document.querySelector('#page').textContent").as_str().unwrap().to_string();
    assert_eq!(page.matches("testkit panics on purpose").count(), 1, "shown once: {page}");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

/// The agents table and `baton status` are one function of one reading: for a real tree,
/// `/api/handoffs` `agents` and `status --json` `agents` hold the same agents with the same
/// counts, and the page's Agents table shows them.
#[test]
fn the_agents_table_and_status_report_the_same_numbers_for_one_tree() {
    let (home, key, s) = started(&[]);
    copy_tree(
        &support::realworld().join("handoffs/vibevessel/agents/agent-triggers/Codex-MM1"),
        &home.root.join("handoffs/Codex-MM1"),
    );
    let counts = |agents: &Value| -> Vec<(String, Value)> {
        let mut v: Vec<(String, Value)> = agents
            .as_array()
            .unwrap()
            .iter()
            .map(|a| (a["agent"].as_str().unwrap().to_string(), a["counts"].clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let status = counts(&home.json(&["status", "--json"])["agents"]);
    let dashboard = counts(&s.get("/api/handoffs", Some(&key)).json()["agents"]);
    assert_eq!(dashboard, status);
    let codex = status.iter().find(|(a, _)| a == "Codex-MM1").unwrap_or_else(|| panic!("{status:?}"));
    assert_eq!(
        codex.1,
        json!({"open": 1, "taken": 0, "answered": 0, "stale": 1, "unread": 1, "read": 0, "unreadable": 2})
    );
    let mut b = signed_in(&home);
    // Text only this page has: the overview before it lists Codex-MM1 too.
    show(&mut b, "handoffs", "folder or mailbox");
    let rows = rows_after(&mut b, "Agents");
    let row = rows.iter().find(|r| r[0] == "Codex-MM1").unwrap_or_else(|| panic!("{rows:?}"));
    // open, taken, answered, stale, unread, read, unreadable
    assert_eq!(row[3..].to_vec(), ["1", "0", "0", "1", "1", "0", "2"], "{row:?}");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// `baton key rotate --read-only`: a key that can look but not act. It (and the session traded
/// for it) reads every route; retry, pause and bulk retry get 403 `read_only` with a clear
/// message and change nothing; the full key keeps working, and a new read-only key ends the old.
#[test]
fn a_read_only_key_can_look_but_not_retry_pause_or_change_anything() {
    let (home, key, s) = started(&[]);
    let out = home.ok(&["key", "rotate", "--read-only"]);
    let ro = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(ro.starts_with("bk_ro_") && ro.len() > 40, "{ro}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("read-only"));
    drop_task(&home, "RO-1", "for a retry", "no-such-plugin");
    wait_until(Duration::from_secs(20), "the rejection", || handoff(&s, &key, "RO-1")["task"]["state"] == "rejected");
    for path in ["/api/overview", "/api/tasks?state=rejected", "/api/handoffs/RO-1", "/api/plugins", "/metrics"] {
        assert_eq!(s.get(path, Some(&ro)).status, 200, "{path} with the read-only key");
    }
    let events = handoff(&s, &key, "RO-1")["events"].as_array().unwrap().len();
    let session = s.post("/api/session", Some(&ro), b"").json();
    assert_eq!(session["read_only"], true, "{session}");
    let token = session["token"].as_str().unwrap().to_string();
    for who in [&ro, &token] {
        for (path, body) in [
            ("/api/handoffs/RO-1/retry", ""),
            ("/api/plugins/echo/pause", ""),
            ("/api/tasks/retry", r#"{"state": "rejected", "expect": 1}"#),
        ] {
            let r = s.post(path, Some(who), body.as_bytes());
            assert_eq!(r.status, 403, "{path}: {}", r.text());
            assert_eq!(r.json()["error"]["code"], "read_only", "{path}");
            assert!(r.json()["error"]["message"].as_str().unwrap().contains("can look"), "{}", r.text());
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(handoff(&s, &key, "RO-1")["events"].as_array().unwrap().len(), events, "nothing was retried");
    let plugins = s.get("/api/plugins", Some(&key)).json();
    assert_eq!(plugins["plugins"].as_array().unwrap().iter().find(|p| p["name"] == "echo").unwrap()["paused"], false);
    // The full key still acts; a new read-only key ends the old one.
    let full = s.post("/api/session", Some(&key), b"").json();
    assert_eq!(full["read_only"], false);
    let paused = s.post("/api/plugins/echo/pause", Some(&key), b"");
    assert_eq!(paused.status, 200, "{}", paused.text());
    let ro2 = String::from_utf8(home.ok(&["key", "rotate", "--read-only"]).stdout).unwrap().trim().to_string();
    assert_eq!(s.get("/api/overview", Some(&ro)).status, 401, "the old read-only key");
    assert_eq!(s.get("/api/overview", Some(&ro2)).status, 200);
    assert_eq!(s.get("/api/overview", Some(&key)).status, 200, "the full key keeps working");
}

/// The team page: a Claude Code team from `[mailboxes]` (its roster in `config.json`), each
/// agent's inbox with its unread and read counts and its messages, an unread one past the
/// stale age flagged; the API holds what `baton status --json` holds for the same inboxes.
#[test]
fn the_team_page_shows_each_agents_inbox_and_flags_stale_deliveries() {
    const LEAD: &str = r#"[
  {"from": "worker", "text": "Done with the parser.", "summary": "Parser done", "timestamp": "2026-02-22T16:20:01.123Z", "read": true},
  {"from": "worker", "text": "Please review the lexer.", "summary": "Review the lexer", "timestamp": "2026-02-22T16:25:22.959Z", "read": false}
]"#;
    const WORKER: &str = r#"[{"from": "team-lead", "text": "Write the parser", "summary": "Write the parser", "timestamp": "2026-02-22T16:00:00.000Z", "read": true}]"#;
    const CONFIG: &str = r#"{"name": "alpha", "leadAgentId": "team-lead@alpha", "members": [
  {"agentId": "team-lead@alpha", "name": "team-lead", "agentType": "team-lead", "model": "opus", "cwd": "/src"},
  {"agentId": "worker@alpha", "name": "worker", "agentType": "general-purpose", "model": "haiku", "cwd": "/src"}]}"#;
    let home = Home::init(&[], "");
    let teams = home.root.parent().unwrap().join("teams");
    for (rel, text) in
        [("alpha/config.json", CONFIG), ("alpha/inboxes/team-lead.json", LEAD), ("alpha/inboxes/worker.json", WORKER)]
    {
        let p = teams.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
    }
    // The team's task list beside the teams folder, as Claude Code 2.1.x keeps it.
    let tasks = home.root.parent().unwrap().join("tasks/alpha");
    std::fs::create_dir_all(&tasks).unwrap();
    for (n, subject, status, owner, blocked_by) in [
        ("1", "Write the parser", "completed", "worker", vec![]),
        ("2", "Review the lexer", "in_progress", "team-lead", vec!["1"]),
    ] {
        let t = json!({"id": n, "subject": subject, "description": "", "status": status, "owner": owner,
                       "blocks": [], "blockedBy": blocked_by, "metadata": {}});
        std::fs::write(tasks.join(format!("{n}.json")), t.to_string()).unwrap();
    }
    std::fs::write(tasks.join(".highwatermark"), "2").unwrap();
    home.ok(&["mailbox", "add", "claude-team", teams.to_str().unwrap()]);
    // One message baton delivers itself: its receipt, beside the ones Claude Code wrote.
    home.ok(&[
        "send",
        "--from",
        "alpha/team-lead",
        "--to",
        "alpha/worker",
        "--title",
        "Take the tests",
        "--body",
        "Please.",
    ]);
    let key = rotate_key(&home);
    let s = Serve::start(&home);
    let d = s.get("/api/mailboxes", Some(&key)).json();
    let m = &d["mailboxes"][0];
    assert_eq!(m["kind"], "claude-team", "{d}");
    let inbox = |name: &str| m["inboxes"].as_array().unwrap().iter().find(|a| a["agent"] == name).cloned().unwrap();
    let lead = inbox("alpha/team-lead");
    assert_eq!((lead["counts"]["unread"].as_u64(), lead["counts"]["read"].as_u64()), (Some(1), Some(1)), "{lead}");
    assert_eq!(lead["unread"][0]["stale"], true, "unread since February: {lead}");
    assert_eq!(lead["read"][0]["stale"], false, "a read message is never stale");
    assert_eq!(inbox("alpha/worker")["counts"]["read"], 1);
    // The same inboxes as status --json shows them.
    let status = home.json(&["status", "--json"]);
    let in_status = status["agents"].as_array().unwrap().iter().find(|a| a["agent"] == "alpha/team-lead").unwrap();
    assert_eq!(in_status["counts"], lead["counts"]);
    let mut b = signed_in(&home);
    show(&mut b, "teams", "Review the lexer");
    let agents = rows_after(&mut b, "claude (claude-team)");
    let row = agents.iter().find(|r| r[0] == "alpha/team-lead").unwrap_or_else(|| panic!("{agents:?}"));
    assert_eq!(
        (row[1].as_str(), row[2].as_str(), row[3].as_str()),
        ("team-lead (lead) \u{b7} opus", "1", "1"),
        "{row:?}"
    );
    let messages = rows_after(&mut b, "Messages in claude");
    let review = messages.iter().find(|r| r[4] == "Review the lexer").unwrap_or_else(|| panic!("{messages:?}"));
    assert!(review[6].starts_with("stale"), "{review:?}");
    let done = messages.iter().find(|r| r[4] == "Parser done").unwrap();
    assert_eq!(done[6], "\u{2014}", "{done:?}");
    assert_eq!(b.eval("document.querySelectorAll('#page .stale').length"), 1);
    // Each message's delivery state: Claude Code's read flag is `noticed`, never `read`; the
    // one baton delivered is `written` until Claude Code takes it.
    let delivery = |title: &str| messages.iter().find(|r| r[4] == title).map(|r| r[2].clone());
    assert_eq!(delivery("Parser done").as_deref(), Some("noticed"), "{messages:?}");
    assert_eq!(delivery("Review the lexer").as_deref(), Some("written"), "{messages:?}");
    assert_eq!(delivery("Take the tests").as_deref(), Some("written"), "{messages:?}");
    // The team's tasks by status (in progress first), with owners and what blocks them.
    let tasks = rows_after(&mut b, "Tasks of alpha");
    assert_eq!(
        tasks,
        [
            ["alpha#2", "Review the lexer", "in progress", "team-lead", "#1", "\u{2014}"],
            ["alpha#1", "Write the parser", "completed", "worker", "\u{2014}", "\u{2014}"]
        ],
        "{tasks:?}"
    );
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

/// A conversation: a TASK between agents (Test-Agent asks Cursor-Agent), Cursor-Agent's RETURN
/// to it (`in_reply_to`), then a TASK to baton that carries the question's id as its
/// `correlation_id`, and baton's RETURN to it (`reply_to`). From baton's TASK the conversation
/// holds all four, oldest first, each with the link that joins it; the page lists them.
#[test]
fn a_conversation_holds_a_task_its_return_and_what_followed() {
    let (home, key, s) = started(&[]);
    let cursor = home.root.join("handoffs/Cursor-Agent/01_inbox");
    std::fs::create_dir_all(&cursor).unwrap();
    let ask = json!({"schema": "baton.handoff/v1", "id": "ASK-1", "kind": "task", "created_at": "2026-01-01T00:00:00Z",
                     "from": "Test-Agent", "to": "Cursor-Agent", "title": "which colour?"});
    std::fs::write(cursor.join("20260101T000000Z__TASK__Which-Colour__Test-Agent.json"), ask.to_string()).unwrap();
    let mine = home.root.join("handoffs/Test-Agent/01_inbox");
    std::fs::create_dir_all(&mine).unwrap();
    let answer = json!({"schema": "baton.handoff/v1", "id": "ANS-1", "kind": "return", "created_at": "2026-01-01T00:05:00Z",
                        "from": "Cursor-Agent", "to": "Test-Agent", "title": "Re: which colour?", "in_reply_to": "ASK-1",
                        "status": "completed", "summary": "teal"});
    std::fs::write(mine.join("20260101T000500Z__RETURN__Which-Colour__Cursor-Agent.json"), answer.to_string()).unwrap();
    let body = json!({"schema": "baton.handoff/v1", "id": "CONV-1", "kind": "task", "created_at": "2026-01-01T00:10:00Z",
                      "from": "Test-Agent", "title": "paint it", "plugin": "echo", "action": "echo",
                      "params": {"colour": "teal"}, "correlation_id": "ASK-1"});
    home.drop_file("20260101T001000Z__TASK__Paint-It__Test-Agent.json", body.to_string());
    settled(&s, &key, &["CONV-1"]);
    let mut c = Value::Null;
    wait_until(Duration::from_secs(30), "the whole conversation", || {
        c = s.get("/api/conversations/CONV-1", Some(&key)).json();
        c["entries"].as_array().is_some_and(|e| e.len() >= 4)
    });
    let entries = c["entries"].as_array().unwrap();
    let find = |kind: &str, id: &str| {
        entries.iter().find(|e| e["kind"] == kind && e["id"] == id).unwrap_or_else(|| panic!("{kind} {id} in {c:#}"))
    };
    assert_eq!(find("task", "ASK-1")["link"], "correlation_id");
    assert_eq!(find("return", "ANS-1")["link"], "in_reply_to");
    assert_eq!(find("task", "CONV-1")["link"], "start");
    let baton_return = entries.iter().find(|e| e["kind"] == "return" && e["in_reply_to"] == "CONV-1").unwrap();
    assert_eq!((baton_return["link"].as_str(), baton_return["state"].as_str()), (Some("reply_to"), Some("completed")));
    let at: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap_or("")).collect();
    assert!(at.windows(2).all(|w| w[0] <= w[1]), "oldest first: {at:?}");
    assert_eq!(c["correlation_ids"], json!(["ASK-1"]));
    assert_eq!(s.get("/api/conversations/NO-SUCH-ID", Some(&key)).status, 404);
    let mut b = signed_in(&home);
    show(&mut b, "handoff/CONV-1", "The whole conversation");
    b.eval("document.querySelector('#conversation-link').click()");
    show(&mut b, "conversation/CONV-1", "Conversation CONV-1");
    let rows = rows_after(&mut b, "Conversation CONV-1");
    assert_eq!(rows.len(), entries.len(), "{rows:?}");
    assert!(rows.iter().any(|r| r[2] == "ASK-1" && r[7] == "correlation_id"), "{rows:?}");
    assert!(b.errors.is_empty(), "{:?}", b.errors);
}

/// Issue 77: a TASK one agent sent another, answered before `serve` ran (so `serve` never saw
/// its file land): its task page and its conversation say what `baton show` says, the TASK
/// with its body, the RETURN with its status and summary, answered and not yet acknowledged.
#[test]
fn an_answered_task_between_agents_reads_the_same_on_its_page_in_show_and_in_its_conversation() {
    let home = Home::init(&[], "");
    let sent = home.json(&[
        "send",
        "--from",
        "Claude",
        "--to",
        "Cursor",
        "--new-agent",
        "--title",
        "which colour",
        "--body",
        "pick one",
        "--json",
    ]);
    let id = sent["id"].as_str().unwrap().to_string();
    let out = home
        .cmd(&["reply", &id, "--status", "completed", "--summary", "teal"])
        .env("BATON_AGENT", "Cursor")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = home.json(&["show", &id, "--json"]);
    let state = shown["state"].as_str().unwrap().to_string();
    assert_eq!(state, "answered (completed), not yet acknowledged", "{shown}");

    let key = rotate_key(&home);
    let s = Serve::start(&home);
    let d = handoff(&s, &key, &id);
    assert_eq!(d["between"]["state"], state.as_str(), "{d}");
    assert_eq!((d["between"]["from"].as_str(), d["between"]["to"].as_str()), (Some("Claude"), Some("Cursor")), "{d}");
    assert_eq!(
        (d["return"]["status"].as_str(), d["return"]["summary"].as_str()),
        (Some("completed"), Some("teal")),
        "{d}"
    );
    let c = s.get(&format!("/api/conversations/{id}"), Some(&key));
    assert_eq!(c.status, 200, "{}", c.text());
    let c = c.json();
    let kinds: Vec<(&str, &str)> = c["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["from"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("task", "Claude"), ("return", "Cursor")], "{c}");

    let mut b = signed_in(&home);
    show(&mut b, &format!("handoff/{id}"), "not yet acknowledged");
    let page = b.eval("document.querySelector('#page').textContent").as_str().unwrap_or_default().to_string();
    assert!(page.contains("pick one") && page.contains("teal"), "{page}");
    assert!(!page.contains("No RETURN yet") && !page.contains("no longer in baton's folders"), "{page}");
    b.eval("document.querySelector('#conversation-link').click()");
    show(&mut b, &format!("conversation/{id}"), "which colour");
    assert!(b.errors.is_empty(), "{:?}", b.errors);

    // Acknowledged by its sender: every view says so.
    let ret = d["return"]["file"].as_str().unwrap();
    let ret_id: Value = serde_json::from_slice(&std::fs::read(ret).unwrap()).unwrap();
    let out = home.cmd(&["ack", ret_id["id"].as_str().unwrap()]).env("BATON_AGENT", "Claude").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let state = home.json(&["show", &id, "--json"])["state"].as_str().unwrap().to_string();
    assert_eq!(state, "answered (completed), acknowledged");
    assert_eq!(handoff(&s, &key, &id)["between"]["state"], state.as_str());
}
