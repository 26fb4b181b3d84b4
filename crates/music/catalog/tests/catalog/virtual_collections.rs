//! The read-only virtual collections over the host's own data, on real files: `handoffs` reads
//! the ledger in the same state database and `audit_gaps` the latest plans audit report. Both
//! page with cursors and filters like stored collections, refuse every write naming what keeps
//! them, and are visible to a plugin only when granted.
use baton_catalog::{Access, Catalog, CatalogError, Filter, Grants, PropertySpec, Quota, Record};
use baton_ledger::{Ledger, TaskRow, TaskState};
use serde_json::json;

fn plugin(name: &str, read: &[&str]) -> Access {
    Access::plugin(name, Grants { read: read.iter().map(|s| s.to_string()).collect(), write: vec![] }, Quota::DEFAULT)
}

fn task(id: &str, plugin: Option<&str>) -> TaskRow {
    TaskRow {
        id: id.into(),
        content_hash: "h".into(),
        claim: format!("c-{id}"),
        file_name: format!("{id}.json"),
        sender: "Claude-Code-Agent".into(),
        reply_to: "Claude-Code-Agent".into(),
        plugin: plugin.map(Into::into),
        action: plugin.map(|_| "echo".into()),
        title: format!("Title {id}"),
        state: TaskState::Claimed,
        error_code: None,
        error_message: None,
        attempts: 0,
        return_name: None,
        claimed_at: "2026-01-18T07:09:51Z".into(),
        finished_at: None,
        duration_ms: None,
    }
}

fn keys(page: &baton_catalog::Page) -> Vec<&str> {
    page.records.iter().map(|r| r.key.as_str()).collect()
}

#[test]
fn handoffs_show_the_ledger_page_by_page_and_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let mut ledger = Ledger::open(&state).unwrap();
    ledger
        .batch(|b| {
            for id in ["T3", "T1", "T2"] {
                b.insert_task(&task(id, Some("echo")))?;
            }
            b.insert_task(&task("T4", None))?;
            b.start_attempt("T1", 1)?;
            b.finish("T1", TaskState::Completed, None, Some("r.json"), "2026-01-18T07:10:00Z", 12.0)?;
            b.start_attempt("T2", 2)?;
            b.finish("T2", TaskState::Failed, Some(("timeout", "took too long")), None, "2026-01-18T07:11:00Z", 30.0)
        })
        .unwrap();
    let mut cat = Catalog::open(&state).unwrap();
    // The app wires `handoffs` to the ledger (as `baton` does in its services).
    cat.set_handoffs(std::sync::Arc::new(baton_catalog::LedgerHandoffs::at(baton_ledger::Location::Sqlite(
        state.clone(),
    ))));
    let user = Access::user();

    let info = cat.collections(&user).unwrap();
    let h = info.iter().find(|c| c.name == "handoffs").expect("handoffs listed");
    assert!(h.read_only);
    assert_eq!(h.records, 4);

    let t2 = cat.get(&user, "handoffs", "T2", false).unwrap().expect("T2");
    assert_eq!(t2.props["status"], "failed");
    assert_eq!(t2.props["error_code"], "timeout");
    assert_eq!(t2.props["from"], "Claude-Code-Agent");
    assert_eq!(t2.props["to"], "echo");
    assert_eq!(t2.props["title"], "Title T2");
    assert_eq!(t2.props["created"], "2026-01-18T07:09:51Z");
    assert_eq!(t2.props["finished"], "2026-01-18T07:11:00Z");
    assert_eq!(t2.props["attempts"], 2);
    // The sequence is the ledger's row id: insertion order, not key order.
    let seq = |k: &str| cat.get(&user, "handoffs", k, false).unwrap().unwrap().props["seq"].as_i64().unwrap();
    assert!(seq("T3") < seq("T1") && seq("T1") < seq("T2") && seq("T2") < seq("T4"));
    assert_eq!(cat.get(&user, "handoffs", "T4", false).unwrap().unwrap().props["to"], "baton");
    assert!(cat.get(&user, "handoffs", "nope", false).unwrap().is_none());

    // Pages of two, by key, with a cursor; a filter; a `seq>N` query for a mirror.
    let p1 = cat.query(&user, "handoffs", &Filter::default(), false, None, 2).unwrap();
    assert_eq!(keys(&p1), ["T1", "T2"]);
    let p2 = cat.query(&user, "handoffs", &Filter::default(), false, p1.next.as_deref(), 2).unwrap();
    assert_eq!(keys(&p2), ["T3", "T4"]);
    assert!(p2.next.is_none());
    let done = cat.query(&user, "handoffs", &Filter::parse("status=completed").unwrap(), false, None, 10).unwrap();
    assert_eq!(keys(&done), ["T1"]);
    let since =
        cat.query(&user, "handoffs", &Filter::parse(&format!("seq>{}", seq("T1"))).unwrap(), false, None, 10).unwrap();
    assert_eq!(keys(&since), ["T2", "T4"]);

    // Read-only, whoever asks.
    let ro = |e: CatalogError| {
        let m = e.to_string();
        assert!(matches!(e, CatalogError::ReadOnly { .. }) && m.contains("handoffs") && m.contains("ledger"), "{m}");
    };
    ro(cat.upsert(&user, "handoffs", &[Record::new("T9", json!({"title": "x"}))]).unwrap_err());
    ro(cat.remove_property(&user, "handoffs", "title").unwrap_err());
    ro(cat.rename_property(&user, "handoffs", "title", "Name").unwrap_err());
    ro(cat.link(&user, "handoffs", "T1", "to", "T2", None, None).unwrap_err());
    let spec = PropertySpec {
        id: "note".into(),
        name: None,
        kind: baton_catalog::Kind::Text,
        target: None,
        inverse: None,
        integer: false,
    };
    ro(cat.ensure_collection(&user, "handoffs", &[spec]).unwrap_err());
    assert_eq!(
        cat.collections(&user).unwrap().iter().find(|c| c.name == "handoffs").unwrap().records,
        4,
        "nothing written"
    );

    // Visible to a plugin only when granted.
    let drive = plugin("drive_sync", &["handoffs"]);
    let other = plugin("djay", &["tracks"]);
    assert_eq!(cat.query(&drive, "handoffs", &Filter::default(), false, None, 10).unwrap().records.len(), 4);
    assert!(matches!(
        cat.query(&other, "handoffs", &Filter::default(), false, None, 10),
        Err(CatalogError::NotGranted { .. })
    ));
    assert!(matches!(cat.get(&other, "handoffs", "T1", false), Err(CatalogError::NotGranted { .. })));
    assert!(!cat.collections(&other).unwrap().iter().any(|c| c.name == "handoffs" || c.name == "audit_gaps"));
    assert!(cat.collections(&drive).unwrap().iter().any(|c| c.name == "handoffs"));
}

/// A report as the audit writes it (`baton.plans-audit/v1`): two open gaps, one of them a false
/// claim, and a false claim whose gap entry is missing.
fn report(generated_at: &str, unix: i64, gaps: &[(&str, &str, &str, bool)]) -> serde_json::Value {
    let gaps: Vec<_> = gaps
        .iter()
        .map(|(plan, path, status, claimed)| {
            json!({"key": format!("{plan}::{path}"), "plan": plan, "path": path, "group": "Core", "status": status,
                   "reason": null, "claimed_done": claimed, "first_seen": generated_at, "new": true, "emitted": null})
        })
        .collect();
    let false_claims: Vec<_> = gaps
        .iter()
        .filter(|g| g["claimed_done"] == true)
        .map(|g| json!({"plan": g["plan"], "path": g["path"], "status": g["status"], "reason": null}))
        .collect();
    json!({"schema": "baton.plans-audit/v1", "generated_at": generated_at, "generated_unix": unix, "fingerprint": "f",
           "plans_dirs": ["/plans"], "repo_dirs": [], "plans": [], "false_claims": false_claims, "gaps": gaps,
           "changes": null, "errors": []})
}

#[test]
fn audit_gaps_follow_the_latest_report_and_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let mut cat = Catalog::open(&dir.path().join("state.sqlite")).unwrap();
    let user = Access::user();
    // No reports folder configured, then an empty one: no records, still listed.
    assert_eq!(cat.collections(&user).unwrap().iter().find(|c| c.name == "audit_gaps").unwrap().records, 0);
    cat.set_audit_reports(Some(reports.clone()), std::sync::Arc::new(baton_audit::gaps::latest));
    assert!(cat.query(&user, "audit_gaps", &Filter::default(), false, None, 10).unwrap().records.is_empty());

    let first = report(
        "2026-01-18T07:00:00Z",
        1_768_719_600,
        &[
            ("PLAN.md", "src/a.py", "missing", true),
            ("PLAN.md", "src/b.py", "stub", false),
            ("OTHER.md", "x.rs", "ambiguous", false),
        ],
    );
    std::fs::write(reports.join("PLANS_AUDIT_REPORT_20260118_070000.json"), first.to_string()).unwrap();
    let all = cat.query(&user, "audit_gaps", &Filter::default(), false, None, 10).unwrap();
    assert_eq!(keys(&all), ["OTHER.md::x.rs", "PLAN.md::src/a.py", "PLAN.md::src/b.py"]);
    let a = &all.records[1];
    assert_eq!(
        (a.props["status"].as_str(), a.props["false_claim"].as_bool(), a.props["claimed_done"].as_bool()),
        (Some("missing"), Some(true), Some(true))
    );
    assert_eq!(all.records[2].props["false_claim"], false);
    assert_eq!(a.props["report"], "2026-01-18T07:00:00Z");
    let claims = cat.query(&user, "audit_gaps", &Filter::parse("false_claim=true").unwrap(), false, None, 10).unwrap();
    assert_eq!(keys(&claims), ["PLAN.md::src/a.py"]);
    let p1 = cat.query(&user, "audit_gaps", &Filter::default(), false, None, 2).unwrap();
    let p2 = cat.query(&user, "audit_gaps", &Filter::default(), false, p1.next.as_deref(), 2).unwrap();
    assert_eq!(
        (keys(&p1), keys(&p2), p2.next.clone()),
        (vec!["OTHER.md::x.rs", "PLAN.md::src/a.py"], vec!["PLAN.md::src/b.py"], None)
    );

    // A later report replaces the view: the closed gaps are gone.
    let second = report("2026-01-18T08:00:00Z", 1_768_723_200, &[("PLAN.md", "src/b.py", "stub", false)]);
    std::fs::write(reports.join("PLANS_AUDIT_REPORT_20260118_080000.json"), second.to_string()).unwrap();
    let all = cat.query(&user, "audit_gaps", &Filter::default(), false, None, 10).unwrap();
    assert_eq!(keys(&all), ["PLAN.md::src/b.py"]);
    assert_eq!(all.records[0].props["report"], "2026-01-18T08:00:00Z");
    assert_eq!(cat.collections(&user).unwrap().iter().find(|c| c.name == "audit_gaps").unwrap().records, 1);

    let e = cat.upsert(&user, "audit_gaps", &[Record::new("k", json!({}))]).unwrap_err().to_string();
    assert!(e.contains("audit_gaps") && e.contains("read-only") && e.contains("baton audit"), "{e}");
    let drive = plugin("drive_sync", &["audit_gaps"]);
    assert_eq!(cat.get(&drive, "audit_gaps", "PLAN.md::src/b.py", false).unwrap().unwrap().props["status"], "stub");
    assert!(matches!(
        cat.get(&plugin("x", &["handoffs"]), "audit_gaps", "PLAN.md::src/b.py", false),
        Err(CatalogError::NotGranted { .. })
    ));
}
