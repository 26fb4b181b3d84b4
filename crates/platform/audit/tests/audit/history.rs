//! Claims checked against history (issue 82, point 4): in a git work tree, a claimed output
//! that is missing now but a commit deleted is a false claim with `"status": "deleted"`, the
//! commit (`deleted_in`) and its `date`; a renamed one is `moved`; without git the report
//! says so once. The history is made by the test.

use std::path::Path;
use std::process::Command;

use crate::common::*;
use baton_audit::*;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const PLAN: &str = "# Plan\n\n- [x] Create `src/gone.rs`\n- [x] Create `src/old_name.rs`\n- [x] Create `src/never.rs`\n- [ ] Create `src/open.rs`\n";

#[test]
fn a_claimed_file_a_commit_deleted_is_a_deleted_false_claim() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(&repo, "PLAN.md", PLAN);
    write(&repo, "src/gone.rs", REAL_TS);
    write(&repo, "src/old_name.rs", REAL_TS);
    write(&repo, "src/open.rs", REAL_TS);
    git(&repo, &["init", "-q"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-qm", "the plan's files"]);
    git(&repo, &["rm", "-q", "src/gone.rs", "src/open.rs"]);
    git(&repo, &["commit", "-qm", "delete two"]);
    let deleted_in = git(&repo, &["rev-parse", "--short", "HEAD"]);
    git(&repo, &["mv", "src/old_name.rs", "src/new_name.rs"]);
    git(&repo, &["commit", "-qm", "rename"]);
    let mut report = run(&[], &[&repo], None, 0);
    let mut json = serde_json::to_value(report.cli_view()).unwrap();
    let found = moved::check(&moved::missing_in_json(&json), std::slice::from_ref(&repo));
    found.apply_json(&mut json);
    found.apply_report(&mut report);
    assert_eq!(found.note, "moved checked with git history: 1 renamed, 1 deleted");
    let fc = json["false_claims"].as_array().unwrap();
    let row = |p: &str| fc.iter().find(|f| f["path"] == p).cloned();
    // ticked, deleted by a commit and never restored: a false claim history proves
    let gone = row("src/gone.rs").unwrap();
    assert_eq!(gone["status"], "deleted");
    assert_eq!(gone["deleted_in"], deleted_in.as_str());
    assert!(gone["date"].as_str().unwrap().starts_with("20"), "{gone}");
    // renamed later: moved, not a false claim
    assert!(row("src/old_name.rs").is_none());
    // never in history: still a plain missing false claim
    assert_eq!(row("src/never.rs").unwrap()["status"], "missing");
    // an open task's deleted file claims nothing: missing, not deleted
    let plan = &json["plans"][0];
    let d = plan["deliverables"].as_array().unwrap().iter().find(|d| d["path"] == "src/open.rs").unwrap();
    assert_eq!(d["status"], "missing");
    // the stored report carries the same verdicts (the alert reads its false claims)
    let stored: Vec<(&str, Status, Option<&str>)> =
        report.false_claims.iter().map(|f| (f.path.as_str(), f.status, f.deleted_in.as_deref())).collect();
    assert_eq!(
        stored,
        [("src/gone.rs", Status::Deleted, Some(deleted_in.as_str())), ("src/never.rs", Status::Missing, None)]
    );
    assert_eq!(deliverable(&report.plans[0], "src/gone.rs").status, Status::Deleted);
}

#[test]
fn without_git_history_is_skipped_and_said_once() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(&repo, "PLAN.md", PLAN);
    // a second plan in a folder of its own: still one note, naming both folders
    write(&repo, "docs/PLAN.md", PLAN);
    let report = run(&[], &[&repo], None, 0);
    let mut json = serde_json::to_value(report.cli_view()).unwrap();
    let found = moved::check(&moved::missing_in_json(&json), std::slice::from_ref(&repo));
    found.apply_json(&mut json);
    // one note for the whole audit, however many claims are missing
    let note = json["moved"].as_str().unwrap();
    assert!(note.starts_with("moved not checked"), "{note}");
    assert_eq!(note.matches("not in a git work tree").count(), 1, "{note}");
    assert!(json["false_claims"].as_array().unwrap().iter().all(|f| f["status"] == "missing"));
}

#[test]
fn folders_outside_git_are_named_a_few_and_the_rest_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    // eight plans in eight folders, none in a work tree: with the repository itself nine
    // folders, five named, four counted, on one line
    for i in 0..8 {
        write(&repo, &format!("p{i}/PLAN.md"), PLAN);
    }
    let report = run(&[], &[&repo], None, 0);
    let mut json = serde_json::to_value(report.cli_view()).unwrap();
    let found = moved::check(&moved::missing_in_json(&json), std::slice::from_ref(&repo));
    found.apply_json(&mut json);
    let note = json["moved"].as_str().unwrap();
    assert!(note.ends_with(" and 4 more folder(s)"), "{note}");
    assert_eq!(note.matches(&*repo.display().to_string()).count(), 5, "{note}");
    assert!(!note.contains('\n'), "{note}");
}
