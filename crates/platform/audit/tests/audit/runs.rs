//! Several audits in a row over one fixture: changes since the previous report, new gaps
//! (never emitted twice, emitted again after closing and coming back), unchanged-input
//! detection, report naming and loading, and bad input recorded instead of panicking.

use std::fs;
use std::path::Path;

use crate::common::*;
use baton_audit::*;

const PLAN: &str = "# Dashboard plan

| Component | Files | Status |
|---|---|---|
| Dashboard | `dashboard/service.py`, `dashboard/websocket_handler.py`, `dashboard/metrics_aggregator.py` | ✅ Complete |
| Logging | `logging/metrics_logger.py` | |
";

fn fixture(root: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let repo = root.join("repo");
    let plans = root.join("plans");
    write(&plans, "DASHBOARD_PLAN.md", PLAN);
    write(&repo, "dashboard/service.py", REAL_PY);
    write(&repo, "dashboard/metrics_aggregator.py", "def aggregate(samples):\n    pass\n");
    write(&repo, "logging/metrics_logger.py", REAL_PY);
    (plans, repo)
}

/// Audits with the latest report in `reports` as previous; emits (marks) every pending gap
/// and writes a report unless the inputs are unchanged. Returns the report and the keys
/// emitted.
fn cycle(plans: &Path, repo: &Path, reports: &Path, k: u64) -> (Report, Vec<String>, bool) {
    let previous = load_previous(reports);
    let mut r = run(&[plans], &[repo], previous.clone(), k);
    if inputs_unchanged(&r, previous.as_ref()) {
        return (r, vec![], false);
    }
    let mut emitted = Vec::new();
    for g in new_gaps(&r) {
        r.mark_emitted(&g.key, &format!("handoff-{k}-{}", g.path));
        emitted.push(g.path.clone());
    }
    write_reports(reports, &r).unwrap();
    (r, emitted, true)
}

fn group_completion(r: &Report, name: &str) -> f64 {
    r.plans[0].groups.iter().find(|g| g.name == name).unwrap().completion
}

#[test]
fn gaps_are_emitted_once_and_again_after_they_come_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = fixture(tmp.path());
    let reports = tmp.path().join("reports");

    // 1: first audit, every gap is new
    let (r1, e1, wrote) = cycle(&plans, &repo, &reports, 0);
    assert!(wrote);
    assert!(r1.changes.is_none());
    assert_eq!(e1, vec!["dashboard/websocket_handler.py", "dashboard/metrics_aggregator.py"]);
    assert!(r1.gaps.iter().all(|g| g.new));
    assert!((group_completion(&r1, "Dashboard") - 1.0 / 3.0).abs() < 1e-9);

    // 2: nothing changed: no report, nothing emitted
    let (r2, e2, wrote) = cycle(&plans, &repo, &reports, 60);
    assert!(!wrote && e2.is_empty());
    assert_eq!(r2.fingerprint, r1.fingerprint);
    assert_eq!(fs::read_dir(&reports).unwrap().count(), 2);

    // 3: the websocket handler is written; the stub is still a stub
    write(&repo, "dashboard/websocket_handler.py", REAL_PY);
    let (r3, e3, wrote) = cycle(&plans, &repo, &reports, 120);
    assert!(wrote);
    assert!(e3.is_empty(), "the stub's gap was emitted in run 1");
    assert_eq!(r3.gaps.len(), 1);
    assert!(!r3.gaps[0].new);
    assert_eq!(r3.gaps[0].emitted.as_deref(), Some("handoff-0-dashboard/metrics_aggregator.py"));
    assert_eq!(r3.gaps[0].first_seen, r1.generated_at);
    let ch = r3.changes.as_ref().unwrap();
    assert_eq!(ch.since, r1.generated_at);
    assert_eq!(ch.plans.len(), 1);
    let pc = &ch.plans[0];
    assert_eq!(
        (pc.before.map(|x| (x * 100.0).round()), pc.after.map(|x| (x * 100.0).round())),
        (Some(50.0), Some(75.0))
    );
    assert_eq!(pc.groups.len(), 1);
    assert_eq!(pc.groups[0].name, "Dashboard");
    assert_eq!(
        pc.deliverables,
        vec![DeliverableChange {
            path: "dashboard/websocket_handler.py".into(),
            group: "Dashboard".into(),
            before: Some(Status::Missing),
            after: Some(Status::Present)
        }]
    );
    let md = render_markdown(&r3);
    assert!(md.contains("  - Dashboard 33% → 67%"), "{md}");
    assert!(md.contains("`dashboard/websocket_handler.py` (Dashboard): missing → present"));

    // 4: the stub is filled in → no gaps; Dashboard 100%
    write(&repo, "dashboard/metrics_aggregator.py", REAL_PY);
    let (r4, e4, _) = cycle(&plans, &repo, &reports, 180);
    assert!(e4.is_empty() && r4.gaps.is_empty());
    assert_eq!(group_completion(&r4, "Dashboard"), 1.0);
    assert!(render_markdown(&r4).contains("  - Dashboard 67% → 100%"));

    // 5: the handler is deleted again → the same gap is new and emitted again
    fs::remove_file(repo.join("dashboard/websocket_handler.py")).unwrap();
    let (r5, e5, _) = cycle(&plans, &repo, &reports, 240);
    assert_eq!(e5, vec!["dashboard/websocket_handler.py"]);
    assert!(r5.gaps[0].new);
    assert_eq!(r5.gaps[0].first_seen, r5.generated_at);
    // it is a false claim too: the row says ✅ Complete
    assert_eq!(r5.false_claims.len(), 1);

    // 6: unchanged again → nothing
    let (_, e6, wrote) = cycle(&plans, &repo, &reports, 300);
    assert!(!wrote && e6.is_empty());
    // reports of runs 1, 3, 4, 5: .md + .json each
    assert_eq!(fs::read_dir(&reports).unwrap().count(), 8);
}

#[test]
fn a_gap_whose_emission_failed_stays_pending() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = fixture(tmp.path());
    let reports = tmp.path().join("reports");
    let r1 = run(&[&plans], &[&repo], None, 0);
    // no follow-up agent configured (or emit failed): nothing marked
    write_reports(&reports, &r1).unwrap();
    write(&repo, "unrelated.txt", "x");
    write(&plans, "DASHBOARD_PLAN.md", &format!("{PLAN}\nMore notes.\n"));
    let r2 = run(&[&plans], &[&repo], load_previous(&reports), 60);
    assert!(r2.gaps.iter().all(|g| !g.new));
    assert_eq!(new_gaps(&r2).len(), 2, "not yet emitted → still pending");
}

#[test]
fn fingerprint_follows_plans_and_named_files_only() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = fixture(tmp.path());
    let base = run(&[&plans], &[&repo], None, 0);
    let again = run(&[&plans], &[&repo], Some(base.clone()), 10);
    assert!(inputs_unchanged(&again, Some(&base)));
    assert!(!inputs_unchanged(&again, None));

    // a file no plan names: unchanged
    write(&repo, "docs/notes.md", REAL_MD);
    let r = run(&[&plans], &[&repo], None, 20);
    assert_eq!(r.fingerprint, base.fingerprint);

    // a named file grows: changed
    write(&repo, "logging/metrics_logger.py", &format!("{REAL_PY}\n# more\n"));
    let r = run(&[&plans], &[&repo], None, 30);
    assert_ne!(r.fingerprint, base.fingerprint);
    let grown = r.fingerprint.clone();

    // same size, new mtime: changed
    let f = fs::File::options().write(true).open(repo.join("logging/metrics_logger.py")).unwrap();
    f.set_modified(at(999_999)).unwrap();
    drop(f);
    let r = run(&[&plans], &[&repo], None, 40);
    assert_ne!(r.fingerprint, grown);
    let touched = r.fingerprint.clone();

    // plan text edited: changed
    write(&plans, "DASHBOARD_PLAN.md", &format!("{PLAN}\n"));
    let r = run(&[&plans], &[&repo], None, 50);
    assert_ne!(r.fingerprint, touched);
}

#[test]
fn report_names_take_a_suffix_and_the_latest_is_loaded() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = fixture(tmp.path());
    let reports = tmp.path().join("reports");
    let r = run(&[&plans], &[&repo], None, 0);
    let a = write_reports(&reports, &r).unwrap();
    assert_eq!(a.markdown.file_name().unwrap(), "PLANS_AUDIT_REPORT_20260118_101500.md");
    assert_eq!(a.json.file_name().unwrap(), "PLANS_AUDIT_REPORT_20260118_101500.json");
    let mut r2 = r.clone();
    r2.fingerprint = "second".into();
    let b = write_reports(&reports, &r2).unwrap();
    assert_eq!(b.markdown.file_name().unwrap(), "PLANS_AUDIT_REPORT_20260118_101500_2.md");
    let mut r10 = r.clone();
    for n in 3..=10 {
        r10.fingerprint = format!("run {n}");
        let p = write_reports(&reports, &r10).unwrap();
        assert_eq!(
            p.json.file_name().unwrap().to_string_lossy(),
            format!("PLANS_AUDIT_REPORT_20260118_101500_{n}.json")
        );
    }
    // _10 sorts after _9, and a corrupt newer file is skipped
    let (path, latest) = latest_report(&reports).unwrap();
    assert!(path.ends_with("PLANS_AUDIT_REPORT_20260118_101500_10.json"));
    assert_eq!(latest.fingerprint, "run 10");
    fs::write(reports.join("PLANS_AUDIT_REPORT_20270101_000000.json"), "{ not json").unwrap();
    assert_eq!(load_previous(&reports).unwrap().fingerprint, "run 10");
    // the JSON round-trips exactly
    let back: Report = serde_json::from_slice(&fs::read(&a.json).unwrap()).unwrap();
    assert_eq!(back, r);
    assert!(load_previous(&tmp.path().join("nope")).is_none());
}

#[test]
fn bad_input_is_recorded_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = fixture(tmp.path());
    fs::write(plans.join("BINARY_PLAN.md"), [0u8, 159, 146, 150, 0, 1]).unwrap();
    write(&plans, "weird/EMPTY_PLAN.md", "");
    write(&plans, "weird/junk.md", "---\ntodos: [[[{\n---\n| | |\n|-|\n```\n├── \n└──\n- [x]\n");
    write(&plans, "weird/PLANS_AUDIT_REPORT_20260101_000000.md", "| x | `never.py` | ✅ |\n");
    let missing = tmp.path().join("missing-dir");
    let r = run(&[&plans, &missing], &[&repo], None, 0);
    let errs: Vec<String> =
        r.errors.iter().map(|e| e.path.rsplit('/').next().unwrap().to_string() + ": " + &e.message).collect();
    assert_eq!(
        errs,
        vec!["missing-dir: plans folder does not exist or is not a folder", "BINARY_PLAN.md: not a text file"]
    );
    let names: Vec<&str> = r.plans.iter().map(|p| p.path.rsplit('/').next().unwrap()).collect();
    assert_eq!(names, vec!["DASHBOARD_PLAN.md", "EMPTY_PLAN.md", "junk.md"], "own reports are not plans");
    assert_eq!(r.plans[1].expected, 0);
    assert_eq!(r.plans[1].completion, 0.0);
    assert!(render_markdown(&r).contains("## Errors"));

    // a plan that cannot be read keeps its gaps open (not closed, not re-emitted later)
    let reports = tmp.path().join("reports");
    let mut first = run(&[&plans], &[&repo], None, 0);
    for g in new_gaps(&first) {
        first.mark_emitted(&g.key, "h1");
    }
    write_reports(&reports, &first).unwrap();
    fs::write(plans.join("DASHBOARD_PLAN.md"), [0u8, 1, 2]).unwrap();
    let second = run(&[&plans], &[&repo], load_previous(&reports), 60);
    assert_eq!(second.gaps.len(), 2);
    assert!(new_gaps(&second).is_empty());
    assert!(second.changes.unwrap().plans.is_empty());
}

#[test]
fn unchanged_files_keep_their_verdict_without_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = fixture(tmp.path());
    let stub = repo.join("dashboard/metrics_aggregator.py");
    let r1 = run(&[&plans], &[&repo], None, 0);
    let d1 = r1.plans[0].deliverables.iter().find(|d| d.path.ends_with("metrics_aggregator.py")).unwrap();
    assert_eq!(d1.status, Status::Stub);
    let mtime = fs::metadata(&stub).unwrap().modified().unwrap();
    let size = fs::metadata(&stub).unwrap().len() as usize;

    // same size, same mtime, different content: the previous verdict is reused (the file is
    // not read; size + mtime is the change signal, as for the input fingerprint)
    let real = format!("{:<width$}", "x = sum([1, 2, 3, 4])\nprint(x)", width = size - 1) + "\n";
    assert_eq!(real.len(), size);
    fs::write(&stub, &real).unwrap();
    let f = fs::File::options().write(true).open(&stub).unwrap();
    f.set_modified(mtime).unwrap();
    drop(f);
    let r2 = run(&[&plans], &[&repo], Some(r1.clone()), 60);
    let d2 = r2.plans[0].deliverables.iter().find(|d| d.path.ends_with("metrics_aggregator.py")).unwrap();
    assert_eq!(d2.status, Status::Stub);
    assert_eq!(d2.reason, d1.reason);
    assert_eq!(r2.fingerprint, r1.fingerprint);

    // a new mtime: read again, now present
    let f = fs::File::options().write(true).open(&stub).unwrap();
    f.set_modified(at(10_000)).unwrap();
    drop(f);
    let r3 = run(&[&plans], &[&repo], Some(r2), 120);
    let d3 = r3.plans[0].deliverables.iter().find(|d| d.path.ends_with("metrics_aggregator.py")).unwrap();
    assert_eq!(d3.status, Status::Present);
}

/// A no-replace rename for the test: a hard link fails with `AlreadyExists` when the target
/// is taken, atomically (as `renameat2(RENAME_NOREPLACE)` does for the host).
fn link_rename(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::hard_link(from, to)?;
    fs::remove_file(from)
}

#[test]
fn reports_published_in_one_second_never_collide() {
    let tmp = tempfile::tempdir().unwrap();
    let (plans, repo) = fixture(tmp.path());
    let reports = tmp.path().join("reports");
    fs::create_dir_all(&reports).unwrap();
    // each audit wrote its report in a staging folder of its own, under the same name (one
    // second, and a staging folder holds no other report)
    let staged: Vec<Vec<std::path::PathBuf>> = (0..5)
        .map(|i| {
            let mut r = run(&[&plans], &[&repo], None, 0);
            r.fingerprint = format!("audit {i}");
            let p = write_reports(&tmp.path().join(format!("staging-{i}")), &r).unwrap();
            vec![p.markdown, p.json]
        })
        .collect();
    assert!(staged.iter().all(|s| s[1].file_name() == staged[0][1].file_name()), "one name for all five");
    // the five publish at once: every one gets its own number, none fails
    let published: Vec<Vec<(std::path::PathBuf, std::path::PathBuf)>> = std::thread::scope(|sc| {
        let hs: Vec<_> =
            staged.iter().map(|files| sc.spawn(|| publish(files, &reports, &link_rename).unwrap())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut names: Vec<String> =
        fs::read_dir(&reports).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let stamp = "PLANS_AUDIT_REPORT_20260118_101500";
    let mut want: Vec<String> = (1..=5)
        .flat_map(|n| {
            let stem = if n == 1 { stamp.to_string() } else { format!("{stamp}_{n}") };
            [format!("{stem}.json"), format!("{stem}.md")]
        })
        .collect();
    want.sort();
    assert_eq!(names, want);
    // each report's Markdown and JSON keep one number, and hold that audit's report
    for moves in &published {
        let (md, json) = (&moves[0].1, &moves[1].1);
        assert_eq!(md.file_stem(), json.file_stem());
        let r: Report = serde_json::from_slice(&fs::read(json).unwrap()).unwrap();
        assert!(fs::read_to_string(md).unwrap().contains(&r.fingerprint), "{}", md.display());
    }
    assert_eq!(numbered_name("PLANS_AUDIT_REPORT_20260118_101500_7.json", 1).unwrap(), format!("{stamp}.json"));
    assert_eq!(numbered_name("notes.md", 2), None);
}
