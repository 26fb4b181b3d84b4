//! The ledger on a real PostgreSQL server (a private one per test, see tests/support/pg.rs):
//! the same records as on SQLite, claims across hosts with leases, and a server restart.
#[path = "../../../../tests/support/pg.rs"]
mod pg;

use baton_ledger::postgres::ClaimOutcome;
use baton_ledger::{KvLimits, Ledger, LedgerError, Location, Observed, TaskRow, TaskState};

fn row(id: &str) -> TaskRow {
    TaskRow {
        id: id.into(),
        content_hash: "h".into(),
        claim: "c1".into(),
        file_name: "f.json".into(),
        sender: "a".into(),
        reply_to: "a".into(),
        plugin: Some("echo".into()),
        action: Some("echo".into()),
        title: "t".into(),
        state: TaskState::Claimed,
        error_code: None,
        error_message: None,
        attempts: 0,
        return_name: None,
        claimed_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        duration_ms: None,
    }
}

fn open(pg: &pg::Pg, db: &str) -> Ledger {
    Ledger::open_at(&Location::parse(&pg.url(db)).unwrap()).unwrap()
}

#[test]
fn records_kv_health_and_observed_handoffs_as_on_sqlite() {
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("l1");
    {
        let mut l = open(&pg, "l1");
        l.batch(|b| {
            b.insert_task(&row("t1"))?;
            b.start_attempt("t1", 1)?;
            b.event("t1", "x", "claimed", &serde_json::json!({"n": 1}))?;
            b.log("t1", "x", "info", "hello")?;
            b.event("t1", "y", "completed", &serde_json::json!({}))?;
            b.finish("t1", TaskState::Completed, None, Some("r.json"), "z", 1.5)
        })
        .unwrap();
        // A duplicate insert fails inside its batch and rolls back only that batch.
        let dup = l.batch(|b| {
            b.event("t1", "w", "never", &serde_json::json!({}))?;
            b.insert_task(&row("t1"))
        });
        assert!(dup.is_err());
    }
    // Two hosts open the same database (migrations are applied once).
    let mut l = open(&pg, "l1");
    let other = open(&pg, "l1");
    // A batch committed without waiting for its flush is seen by the other host at once.
    l.batch_unsynced(|b| b.event("t0", "x", "a2a_sent", &serde_json::json!({"n": 0}))).unwrap();
    let seen: Vec<_> = other.events("t0").unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(seen, ["a2a_sent"]);
    let t = l.task("t1").unwrap().unwrap();
    assert_eq!(
        (t.state.as_str(), t.attempts, t.return_name.as_deref(), t.duration_ms),
        ("completed", 1, Some("r.json"), Some(1.5))
    );
    let ev: Vec<_> = l.events("t1").unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(ev, ["claimed", "completed"], "the rolled-back batch left nothing");
    assert_eq!(l.events("t1").unwrap()[0].detail, serde_json::json!({"n": 1}));
    assert_eq!(l.logs("t1").unwrap()[0].message, "hello");
    assert_eq!(l.counts().unwrap(), vec![("completed".to_string(), 1)]);
    assert_eq!(l.recent(5).unwrap().len(), 1);

    // Poison-pill guard.
    assert_eq!(l.batch(|b| b.solo_begin("c")).unwrap(), 0);
    assert_eq!(l.deaths("c").unwrap(), 1);
    assert_eq!(l.batch(|b| b.solo_begin("c")).unwrap(), 1);
    l.batch(|b| b.solo_end("c")).unwrap();
    assert_eq!(l.deaths("c").unwrap(), 0);

    // kv quotas, counted by the trigger.
    let q = KvLimits { keys: 3, bytes: 100 };
    for k in ["a", "b", "c"] {
        l.kv_set_within("p", k, "0123456789", q).unwrap();
    }
    assert!(matches!(l.kv_set_within("p", "d", "x", q), Err(LedgerError::KvQuota(m)) if m.contains("3 keys")));
    l.kv_set_within("p", "a", "short", q).unwrap();
    assert!(
        matches!(l.kv_set_within("p", "b", &"x".repeat(90), q), Err(LedgerError::KvQuota(m)) if m.contains("100 bytes"))
    );
    assert_eq!(l.kv_get("p", "b").unwrap().as_deref(), Some("0123456789"));
    assert_eq!(l.kv_usage("p").unwrap(), (3, 3 + 5 + 10 + 10));
    l.kv_delete("p", "c").unwrap();
    assert_eq!(l.kv_usage("p").unwrap(), (2, 2 + 5 + 10));

    // Health and refusals.
    l.batch(|b| b.health_set("echo", "{}")).unwrap();
    assert_eq!(l.health_get("echo").unwrap().as_deref(), Some("{}"));
    l.refusal_set("/p/x.wasm", "x", "ab", "first", "t1").unwrap();
    l.refusal_set("/p/x.wasm", "x", "cd", "second", "t2").unwrap();
    assert_eq!(l.refusals().unwrap()[0].reason, "second");
    l.refusal_clear("/p/x.wasm").unwrap();
    assert!(l.refusals().unwrap().is_empty());

    // Observed handoffs.
    let task = Observed {
        agent: "cursor".into(),
        file_name: "t.json".into(),
        kind: "task".into(),
        id: "T1".into(),
        in_reply_to: None,
        sender: "claude".into(),
        recipient: Some("cursor".into()),
        title: "Review".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
    };
    l.batch(|b| {
        b.observe(&task, "now")?;
        b.observe(&task, "again")
    })
    .unwrap();
    assert!(l.is_observed("cursor", "t.json").unwrap());
    assert_eq!(l.open_handoffs().unwrap().len(), 1);
    let ret = Observed {
        kind: "return".into(),
        id: "R1".into(),
        in_reply_to: Some("T1".into()),
        file_name: "r.json".into(),
        agent: "claude".into(),
        ..task
    };
    l.batch(|b| b.observe(&ret, "now")).unwrap();
    assert!(l.open_handoffs().unwrap().is_empty());

    // `baton retry`.
    // `baton retry` records the content it moved back (an edited file runs under its id).
    l.request_retry("t1", "edited-content-hash").unwrap();
    let row = l.task("t1").unwrap().unwrap();
    assert_eq!(row.state, TaskState::RetryRequested);
    assert_eq!(row.content_hash, "edited-content-hash", "the content that runs next is the retried one");
}

#[test]
fn one_claim_per_handoff_across_hosts_with_leases() {
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("claims");
    let mut a = open(&pg, "claims");
    let mut b = open(&pg, "claims");
    let (pa, pb) = (a.postgres().unwrap(), b.postgres().unwrap());
    pa.heartbeat("A", "a1").unwrap();
    pb.heartbeat("B", "b1").unwrap();
    let lease = 30.0;
    assert_eq!(pa.claim("A", "T1", "h", "ca", "t1.json", lease).unwrap(), ClaimOutcome::Won { claim_id: "ca".into() });
    assert_eq!(
        pb.claim("B", "T1", "h", "cb", "t1.json", lease).unwrap(),
        ClaimOutcome::Lost { owner: "A".into(), filed_secs: None }
    );
    // Another content under the same id is another claim (the ledger then refuses the id).
    assert!(matches!(pb.claim("B", "T1", "h2", "cb2", "t1b.json", lease).unwrap(), ClaimOutcome::Won { .. }));
    // A's next process (same host) gets its claim back under the same claim id.
    assert_eq!(
        pa.claim("A", "T1", "h", "ca-new", "t1.json", lease).unwrap(),
        ClaimOutcome::TakenOver { claim_id: "ca".into() }
    );
    assert_eq!(pa.held("A").unwrap().len(), 1);
    // Filed: a copy brought back is filed by the owner, and still lost for B, which learns since
    // when it is filed (the sync has yet to bring A's move to B's tree).
    pa.claim_filed("T1", "h").unwrap();
    assert!(pa.held("A").unwrap().is_empty());
    assert_eq!(pa.claim("A", "T1", "h", "x", "t1.json", lease).unwrap(), ClaimOutcome::Filed { claim_id: "ca".into() });
    let lost = pb.claim("B", "T1", "h", "x", "t1.json", lease).unwrap();
    assert!(matches!(&lost, ClaimOutcome::Lost { owner, filed_secs: Some(s) } if owner == "A" && *s <= 1), "{lost:?}");
    // A stops heartbeating: after the lease, B takes over A's claims (filed ones too).
    assert_eq!(
        pa.claim("A", "T2", "h", "ca2", "t2.json", lease).unwrap(),
        ClaimOutcome::Won { claim_id: "ca2".into() }
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    pb.heartbeat("B", "b1").unwrap();
    assert_eq!(
        pb.claim("B", "T2", "h", "cb2", "t2.json", 1.0).unwrap(),
        ClaimOutcome::TakenOver { claim_id: "ca2".into() }
    );
    assert_eq!(pb.claim("B", "T1", "h", "x", "t1.json", 1.0).unwrap(), ClaimOutcome::Filed { claim_id: "ca".into() });
    assert_eq!(
        pa.claim("A", "T2", "h", "y", "t2.json", 1.0).unwrap(),
        ClaimOutcome::Lost { owner: "B".into(), filed_secs: None }
    );
}

#[test]
fn a_server_restart_is_a_passing_error_and_the_next_call_reconnects() {
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("restart");
    let mut l = open(&pg, "restart");
    l.kv_set("p", "k", "v").unwrap();
    pg.stop();
    let e = l.kv_get("p", "k").unwrap_err();
    assert!(e.is_transient(), "{e}");
    let e = l.batch(|b| b.kv_set("p", "k", "w")).unwrap_err();
    assert!(e.is_transient(), "{e}");
    pg.start_again();
    assert_eq!(l.kv_get("p", "k").unwrap().as_deref(), Some("v"));
    l.batch(|b| b.kv_set("p", "k", "w")).unwrap();
    assert_eq!(l.kv_get("p", "k").unwrap().as_deref(), Some("w"));
}

/// The backend process serving `link`'s session (connecting it first).
fn backend_pid(link: &baton_store::link::Link) -> i32 {
    link.connect().unwrap();
    let guard = link.client();
    let client = guard.as_ref().expect("connected");
    link.wait(client.query_one("SELECT pg_backend_pid()", &[])).unwrap().get(0)
}

/// Waits (10 s at most) until the server counts `n` sessions with the database `db`: a session
/// ends shortly after its client is dropped, not at once.
fn await_sessions(pg: &pg::Pg, db: &str, n: usize) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = pg.psql("postgres", &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}'"));
        let now: usize = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        if now == n {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "{db}: {now} sessions, expected {n}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn links_to_one_server_share_a_pool_that_reuses_sessions_in_a_known_state_only() {
    use baton_store::link::Link;
    use baton_store::location::PgUrl;
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("pool");
    pg.create_db("pool2");
    let url = PgUrl::parse(&pg.url("pool")).unwrap();
    let a = Link::new(&url, "a").unwrap();
    let b = Link::new(&url, "b").unwrap();
    assert!(std::sync::Arc::ptr_eq(a.pool(), b.pool()), "one pool per server");
    let other = Link::new(&PgUrl::parse(&pg.url("pool2")).unwrap(), "other").unwrap();
    assert!(!std::sync::Arc::ptr_eq(a.pool(), other.pool()), "another database is another pool");
    let (pa, pb) = (backend_pid(&a), backend_pid(&b));
    assert_ne!(pa, pb, "two live links hold two sessions");

    // A link done with its session gives it back; the next link takes it, with the URL's
    // statement_timeout still set.
    drop(a);
    assert_eq!(b.pool().idle(), 1);
    let c = Link::new(&url, "c").unwrap();
    assert_eq!(backend_pid(&c), pa, "the idle session is reused");
    assert_eq!(b.pool().idle(), 0);
    {
        let guard = c.client();
        let row = c.wait(guard.as_ref().unwrap().query_one("SHOW statement_timeout", &[])).unwrap();
        assert_eq!(row.get::<_, String>(0), "30s");
    }

    // A session left in an unknown state is never given back: it ends with its link.
    c.discard();
    drop(c);
    assert_eq!(b.pool().idle(), 0);
    await_sessions(&pg, "pool", 1); // b's only

    // An idle session the server ended (a restart) is not handed out: the next link starts one.
    let d = Link::new(&url, "d").unwrap();
    let pd = backend_pid(&d);
    drop(d);
    assert_eq!(b.pool().idle(), 1);
    pg.stop();
    pg.start_again();
    let e = Link::new(&url, "e").unwrap();
    assert_ne!(backend_pid(&e), pd, "a new session after the restart");

    // With the last link gone, the pool and every session it kept end.
    drop((b, e, other));
    await_sessions(&pg, "pool", 0);
}
