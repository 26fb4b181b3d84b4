//! Benchmark: audit 1,000 plans promising 20,000 deliverables (a quarter each free-form
//! Markdown, spec-kit, Kiro, Cursor) in a generated monorepo, and compare with a naive
//! `find | grep -Fxf` existence check of the same 20,000 paths.
//!
//! `cargo run --release -p baton-audit --example bench -- [RUNS] [DIR]`
//! (RUNS defaults to 7; DIR defaults to a temporary folder, removed afterwards; with
//! `BENCH_REUSE=1` a tree already generated in DIR is reused).
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use baton_audit::*;

const PLANS: usize = 1000;
const PER_PLAN: usize = 20;
const GROUPS: [&str; 4] = ["Core", "Api", "Dashboard", "Storage"];
const REAL: &str = "import json\nimport logging\n\nlog = logging.getLogger(__name__)\n\n\ndef handle(event):\n    data = json.loads(event)\n    log.info(\"event %s\", data.get(\"id\"))\n    return data\n";
const STUB: &str = "class Placeholder:\n    pass\n";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Present,
    Stub,
    Missing,
    Ambiguous,
}

fn kind(j: usize) -> Kind {
    match j {
        0..=13 | 19 => Kind::Present,
        14 | 15 => Kind::Stub,
        16 | 17 => Kind::Missing,
        _ => Kind::Ambiguous,
    }
}

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    if let Some(d) = p.parent() {
        fs::create_dir_all(d).unwrap();
    }
    fs::write(p, content).unwrap();
}

/// Generates the repository; returns the full paths a naive checker would test.
fn generate(repo: &Path) -> Vec<String> {
    let mut naive = Vec::with_capacity(PLANS * PER_PLAN);
    for i in 0..PLANS {
        let proj = format!("p{i:04}");
        // files
        let mut lines: Vec<(usize, String, String, bool)> = Vec::new(); // j, group, path-as-written, ticked
        for j in 0..PER_PLAN {
            let group = GROUPS[j / 5];
            let gdir = group.to_lowercase();
            let file = format!("{gdir}_mod_{j}.py");
            let full_rel = format!("{proj}/src/{gdir}/{file}");
            let written = match kind(j) {
                Kind::Present | Kind::Stub | Kind::Missing if j % 3 == 0 || i % 4 != 0 => full_rel.clone(),
                Kind::Ambiguous => format!("shared_{j}.py"),
                _ => file.clone(),
            };
            match kind(j) {
                Kind::Present => write(repo, &full_rel, REAL),
                Kind::Stub => write(repo, &full_rel, STUB),
                Kind::Missing => {}
                Kind::Ambiguous => {
                    write(repo, &format!("{proj}/a/shared_{j}.py"), REAL);
                    write(repo, &format!("{proj}/b/shared_{j}.py"), REAL);
                }
            }
            naive.push(
                repo.join(if kind(j) == Kind::Ambiguous { format!("{proj}/a/shared_{j}.py") } else { full_rel })
                    .to_string_lossy()
                    .into_owned(),
            );
            lines.push((j, group.to_string(), written, j % 2 == 0));
        }
        // noise: files no plan names
        for n in 0..5 {
            write(repo, &format!("{proj}/tests/test_{n}.py"), REAL);
        }
        write(repo, &format!("{proj}/README.md"), "# Project\n\nSee docs.\n");
        let plan = match i % 4 {
            0 => {
                let mut s = format!("# Plan {i}\n\n## Deliverables\n\n| Component | Files | Status |\n|---|---|---|\n");
                for g in GROUPS {
                    let files: Vec<String> = lines.iter().filter(|l| l.1 == g).map(|l| format!("`{}`", l.2)).collect();
                    let ticked = if g == "Core" || g == "Api" { "✅ Complete" } else { "⏳ Pending" };
                    s.push_str(&format!("| {g} | {} | {ticked} |\n", files.join(", ")));
                }
                s.push_str("\n## Notes\n\nRun `python3 -m app` to start. Uses Node.js for the UI.\n");
                (format!("{proj}/docs/IMPLEMENTATION_PLAN.md"), s)
            }
            1 => {
                let mut s = format!("# Tasks: Feature {i}\n\n");
                for (k, g) in GROUPS.iter().enumerate() {
                    s.push_str(&format!("\n## Phase {}: {g}\n\n", k + 1));
                    for l in lines.iter().filter(|l| l.1 == *g) {
                        s.push_str(&format!(
                            "- [{}] T{:03} [P] [US{}] Implement {} in {}\n",
                            if l.3 { "x" } else { " " },
                            l.0 + 1,
                            k + 1,
                            g,
                            l.2
                        ));
                    }
                }
                s.push_str("\n## Dependencies\n\n- T001 before T002\n");
                (format!("{proj}/specs/{i:03}-feature/tasks.md"), s)
            }
            2 => {
                let mut s = String::from("# Implementation Plan\n\n");
                for (k, g) in GROUPS.iter().enumerate() {
                    s.push_str(&format!("- [ ] {}. {g}\n", k + 1));
                    for (m, l) in lines.iter().filter(|l| l.1 == *g).enumerate() {
                        s.push_str(&format!(
                            "- [{}] {}.{} Build part {}\n  - Write `{}`\n  - _Requirements: {}.{}_\n",
                            if l.3 { "x" } else { " " },
                            k + 1,
                            m + 1,
                            l.0,
                            l.2,
                            k + 1,
                            m + 1
                        ));
                    }
                    s.push('\n');
                }
                (format!("{proj}/.kiro/specs/feature-{i}/tasks.md"), s)
            }
            _ => {
                let mut s = format!("---\nname: Feature {i}\noverview: Build feature {i}\ntodos:\n");
                for l in &lines {
                    s.push_str(&format!(
                        "  - id: t{}\n    content: Implement {} in {}\n    status: {}\n",
                        l.0,
                        l.1,
                        l.2,
                        if l.3 { "completed" } else { "pending" }
                    ));
                }
                s.push_str("---\n\n# Feature\n\nSee the todos.\n");
                (format!("{proj}/.cursor/plans/feature-{i}.plan.md"), s)
            }
        };
        write(repo, &plan.0, &plan.1);
    }
    naive
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runs: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(7);
    let tmp;
    let base: PathBuf = match args.get(2) {
        Some(d) => PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_path_buf()
        }
    };
    let repo = base.join("repo");
    let reports = base.join("reports");
    let _ = fs::remove_dir_all(&reports);
    let list = base.join("deliverables.txt");
    let t = Instant::now();
    if std::env::var_os("BENCH_REUSE").is_some() && list.exists() {
        // reuse a tree generated by an earlier run with the same DIR
    } else {
        let _ = fs::remove_dir_all(&repo);
        let naive = generate(&repo);
        fs::write(&list, naive.join("\n") + "\n").unwrap();
    }
    let naive: Vec<String> = fs::read_to_string(&list).unwrap().lines().map(String::from).collect();
    let mut files = 0usize;
    repo::walk(&repo.to_string_lossy(), &mut Vec::new(), |_, _| files += 1);
    println!("generated {PLANS} plans, {} deliverables, {files} files in {}", naive.len(), ms(t.elapsed()));

    let input = AuditInput {
        plans_dirs: vec![],
        repo_dirs: vec![repo.clone()],
        previous: None,
        now: SystemTime::now(),
        mounts: vec![],
    };
    let mut audit_times = Vec::new();
    let mut full_times = Vec::new();
    let mut last = None;
    for k in 0..runs {
        let t = Instant::now();
        let r = audit(&input);
        let a = t.elapsed();
        let paths = write_reports(&reports, &r).unwrap();
        let f = t.elapsed();
        println!(
            "run {}: audit {}, audit + render + write reports {} ({} KB markdown)",
            k + 1,
            ms(a),
            ms(f),
            fs::metadata(&paths.markdown).unwrap().len() / 1024
        );
        audit_times.push(a);
        full_times.push(f);
        last = Some(r);
    }
    let r = last.unwrap();
    // repeat runs, as `baton serve` does them: the previous report is known, so files with an
    // unchanged size and mtime keep their verdict without being read
    let again = AuditInput { previous: Some(r.clone()), ..input.clone() };
    let mut repeat_times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let r2 = audit(&again);
        repeat_times.push(t.elapsed());
        assert!(inputs_unchanged(&r2, Some(&r)));
    }
    let mr = median(repeat_times);
    println!("repeat audit with the previous report (inputs unchanged): median {}", ms(mr));
    let count = |s: Status| r.plans.iter().flat_map(|p| &p.deliverables).filter(|d| d.status == s).count();
    let total: usize = r.plans.iter().map(|p| p.deliverables.len()).sum();
    println!(
        "checked: {} plans, {total} deliverables: {} present, {} stub, {} missing, {} ambiguous; {} false claims; {} errors",
        r.plans.len(),
        count(Status::Present),
        count(Status::Stub),
        count(Status::Missing),
        count(Status::Ambiguous),
        r.false_claims.len(),
        r.errors.len()
    );
    assert_eq!(r.plans.len(), PLANS);
    assert_eq!(total, PLANS * PER_PLAN);
    assert_eq!(
        (count(Status::Present), count(Status::Stub), count(Status::Missing), count(Status::Ambiguous)),
        (PLANS * 15, PLANS * 2, PLANS * 2, PLANS)
    );

    // naive baseline: exact existence checks of the same paths with find + grep
    let script = format!("find '{}' -type f | grep -cFxf '{}'", repo.display(), list.display());
    let mut base_times = Vec::new();
    let mut found = String::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = Command::new("sh").arg("-c").arg(&script).output().unwrap();
        base_times.push(t.elapsed());
        found = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    let loop_script =
        format!("n=0; while IFS= read -r p; do [ -f \"$p\" ] && n=$((n+1)); done < '{}'; echo $n", list.display());
    let mut loop_times = Vec::new();
    for _ in 0..runs.min(3) {
        let t = Instant::now();
        let _ = Command::new("bash").arg("-c").arg(&loop_script).output().unwrap();
        loop_times.push(t.elapsed());
    }
    let (ma, mf, mb, ml) = (median(audit_times), median(full_times), median(base_times), median(loop_times));
    println!("median of {runs}: audit {}, audit + reports {}", ms(ma), ms(mf));
    println!("baseline `{script}` → {found} found: median {}", ms(mb));
    println!("baseline bash `[ -f ]` loop over the list: median {}", ms(ml));
    println!(
        "ratio audit / find+grep: {:.2}x; audit+reports / find+grep: {:.2}x",
        ma.as_secs_f64() / mb.as_secs_f64(),
        mf.as_secs_f64() / mb.as_secs_f64()
    );
    println!("target < 2000 ms: {}", if mf < Duration::from_secs(2) { "met" } else { "NOT met" });
}
