//! The plans audit on real repositories: each `shared/realworld/plans/<repo>@<commit>`
//! tree is rebuilt from its TREE listing in a temporary folder (every file at its listed
//! size, filler content; a stub only where one is made on purpose), the real plan files are
//! copied in, and the real `baton audit --json` (through the real audit wasm plugin) is held to
//! verdicts written down after reading each plan by hand. The comments say why each
//! surprising verdict is right.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support;
use crate::support::renamed_repo;

use crate::support::BIN;

/// Files above this are never read by the audit (its stub read limit): written sparse.
const SPARSE_ABOVE: u64 = 64 * 1024;

/// Rebuilds `<plans>/<name>` in `dst`: every blob of `TREE-<commit>.txt` at its size, then the
/// plan files themselves over them.
fn rebuild(name: &str, dst: &Path) {
    let src = support::realworld().join("plans").join(name);
    let tree = std::fs::read_dir(&src)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("TREE-")))
        .unwrap_or_else(|| panic!("no TREE listing in {}", src.display()));
    let filler = b"filler content of the rebuilt tree, real enough to not be a stub\n";
    for line in std::fs::read_to_string(&tree).unwrap().lines() {
        let cols: Vec<&str> = line.splitn(4, '\t').collect();
        let [_mode, kind, size, path] = cols[..] else { panic!("bad TREE line {line:?}") };
        if kind != "blob" {
            continue;
        }
        // `BAD`: the listing could not size it (large media); any size will do
        let size: u64 = size.parse().unwrap_or(1024);
        let p = dst.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        if size > SPARSE_ABOVE {
            std::fs::File::create(&p).unwrap().set_len(size).unwrap();
        } else {
            let data: Vec<u8> = filler.iter().copied().cycle().take(size as usize).collect();
            std::fs::write(&p, data).unwrap();
        }
    }
    copy_plans(&src, &src, dst);
}

fn copy_plans(base: &Path, dir: &Path, dst: &Path) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_plans(base, &p, dst);
        } else if !e.file_name().to_string_lossy().starts_with("TREE-") {
            let to = dst.join(p.strip_prefix(base).unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&p, &to).unwrap();
        }
    }
}

struct Audit {
    v: Value,
    root: PathBuf,
}

impl Audit {
    fn run(home: &Path, root: &Path, plans: &[&str]) -> Audit {
        let mut cmd = Command::new(BIN);
        cmd.arg("--home").arg(home).arg("audit").arg("--json").arg("--force");
        cmd.arg("--repo").arg(root).arg("--out").arg(root.with_extension("reports"));
        for p in plans {
            cmd.arg("--plans").arg(root.join(p));
        }
        let out = cmd.env("BATON_LOG", "warn").output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Audit { v: serde_json::from_slice(&out.stdout).unwrap(), root: root.to_path_buf() }
    }

    fn plans(&self) -> &Vec<Value> {
        self.v["plans"].as_array().unwrap()
    }

    fn plan(&self, rel: &str) -> &Value {
        let want = self.root.join(rel);
        self.plans()
            .iter()
            .find(|p| Path::new(p["path"].as_str().unwrap()) == want)
            .unwrap_or_else(|| panic!("no plan {rel}"))
    }

    /// (status, claimed_done) of `path` in plan `rel`; `None` when it is no deliverable.
    fn verdict(&self, rel: &str, path: &str) -> Option<(String, bool)> {
        self.plan(rel)["deliverables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["path"] == path)
            .map(|d| (d["status"].as_str().unwrap().to_string(), d["claimed_done"].as_bool().unwrap()))
    }

    fn false_claims(&self) -> BTreeSet<String> {
        self.v["false_claims"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap().to_string()).collect()
    }

    fn deliverables(&self) -> usize {
        self.plans().iter().map(|p| p["deliverables"].as_array().unwrap().len()).sum()
    }
}

fn v(status: &str, claimed: bool) -> Option<(String, bool)> {
    Some((status.to_string(), claimed))
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn real_plans_get_exact_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let init = Command::new(BIN).arg("--home").arg(&home).arg("init").env("BATON_LOG", "warn").output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let tree = |name: &str| {
        let root = tmp.path().join(name.replace('@', "-"));
        rebuild(name, &root);
        root
    };

    // --- spec-kit with bold ids (`- [x] **T001** …`), docling-rs: 116 deliverables, of which
    // the audit found none in four of its six plans before it read bold ids.
    let root = tree("carles-abarca__docling-rs@81de1675cc27");
    // on purpose: the ticked manual-test script is a placeholder, and the CLI's `mod.rs` is a
    // module root of `pub mod` lines (complete, not a stub)
    std::fs::write(root.join("scripts/test-cli-manual.sh"), "#!/bin/bash\n# TODO: write the manual test\n").unwrap();
    std::fs::write(root.join("src/cli/mod.rs"), "//! The CLI.\npub mod args;\npub mod converter;\n").unwrap();
    let a = Audit::run(&home, &root, &[]);
    assert!(a.v["unreadable"].as_array().unwrap().is_empty(), "{}", a.v["unreadable"]);
    assert_eq!(a.plans().iter().filter(|p| p["format"] == "spec-kit").count(), 6);
    let cli = "specs/005-create-a-cli/tasks.md";
    // `- [x] **T001** Add CLI dependencies to Cargo.toml: clap, …`: the bold id is read
    assert_eq!(a.verdict(cli, "Cargo.toml"), v("present", true));
    assert_eq!(a.verdict(cli, "src/cli/mod.rs"), v("present", false), "a module root is not a stub");
    // T006 is open: missing is a gap, not a false claim
    assert_eq!(a.verdict(cli, "tests/contract/contract_cli.rs"), v("missing", false));
    let manual = "specs/006-cli-manual-testing/tasks.md";
    // `### T001: ✅ Create scripts directory …` with `**File**: scripts/test-cli-manual.sh`:
    // the ✅ heading claims it, and it is the stub made above
    assert_eq!(a.verdict(manual, "scripts/test-cli-manual.sh"), v("stub", true));
    // `**File**: README.md or create scripts/README.md`: alternatives, neither promised
    assert_eq!(a.verdict(manual, "scripts/README.md"), None);
    assert_eq!(a.verdict(manual, "README.md"), None);
    let pdf = "specs/003-phase-3-pdf/tasks.md";
    // ticked, and at this commit the tests live flattened as tests/contract_pdf_backend.rs
    // etc.: the paths the plan names do not exist, which is what a false claim is
    assert_eq!(a.verdict(pdf, "tests/contract/pdf_backend.rs"), v("missing", true));
    // `pub mod datamodel;` … lib.rs named by T002's `**File**:` line exists
    assert_eq!(a.verdict("specs/001-vamos-a-empezar/tasks.md", "src/lib.rs"), v("present", false));
    assert_eq!(
        a.false_claims(),
        set(&[
            "scripts/test-cli-manual.sh",
            "src/backend/pdf/metadata.rs",
            "tests/contract/pdf_backend.rs",
            "tests/integration/pdf_encrypted.rs",
            "tests/integration/pdf_multipage.rs",
            "tests/integration/pdf_text_extraction.rs",
        ])
    );
    // no git history in the rebuilt tree: said so, never guessed
    assert!(a.v["moved"].as_str().unwrap().starts_with("moved not checked"), "{}", a.v["moved"]);

    // --- the Claude spec layout (`### T001: Title`, `**File(s)**:`), AgentChrome
    let root = tree("Nunley-Media-Group__AgentChrome@6643af043c4b");
    let a = Audit::run(&home, &root, &[]);
    assert_eq!(a.deliverables(), 44, "every File(s) line of the five plans");
    let tabs = "specs/bug-fix-tabs-create-background-121/tasks.md";
    assert_eq!(a.verdict(tabs, "src/tabs.rs"), v("present", false));
    assert_eq!(a.verdict(tabs, "tests/bdd.rs"), v("present", false));
    let session = "specs/feature-session-and-connection-management/tasks.md";
    // the acceptance boxes under T001 name `src/session.rs` too; only File(s) counts, and the
    // `{layer}/path/to/file` of the task-format template is no file
    assert_eq!(a.verdict(session, "src/session.rs"), v("present", false));
    assert!(
        a.plan(session)["deliverables"].as_array().unwrap().iter().all(|d| !d["path"].as_str().unwrap().contains('{'))
    );
    // nothing in these plans is ticked (the summary tables say `[ ]`; the ticked boxes are a
    // validation checklist that names no file): no false claim
    assert_eq!(a.false_claims(), set(&[]));
    assert!(a.v["unreadable"].as_array().unwrap().is_empty());

    // --- spec-kit at the commit that ticked tasks whose files did not exist yet (Spectra)
    let root = tree("liorfranko__Spectra@c783bcf7b18d");
    let a = Audit::run(&home, &root, &[]);
    let spec = "specs/002-projspec-claude-code/tasks.md";
    // T002 "Create pyproject.toml with hatchling …", ticked: no pyproject.toml in the tree
    assert_eq!(a.verdict(spec, "pyproject.toml"), v("missing", true));
    assert_eq!(a.verdict(spec, "src/projspec_cli/cli.py"), v("missing", true));
    // T016 "… in templates/spec-template.md": the repository keeps it in
    // .specify/templates/spec-template.md, found by suffix
    assert_eq!(a.verdict(spec, "templates/spec-template.md"), v("present", true));
    // T020 "Create agent-file-template.md (CLAUDE.md template) in templates/…": CLAUDE.md
    // describes the template, the deliverable is the full path beside it
    assert_eq!(a.verdict(spec, "CLAUDE.md"), None);
    assert_eq!(a.false_claims().len(), 27, "{:?}", a.false_claims());

    // --- spec-kit whose paths are relative to a plugin subfolder (Spectra, later commit)
    let root = tree("liorfranko__Spectra@b2792608bfc5");
    let a = Audit::run(&home, &root, &[]);
    // "(commands/implement.md)" lives at projspec/plugins/projspec/commands/implement.md
    assert_eq!(a.verdict("specs/009-split-implement-to-agent/tasks.md", "commands/implement.md"), v("present", true));
    assert_eq!(a.false_claims(), set(&[]));

    // --- Cursor plans in a sub-project (open-rpg/), with an archive folder
    let root = tree("AgentArtel__open-rpg-artel-studio@78677e76c2d2");
    let a = Audit::run(&home, &root, &["open-rpg/.cursor/plans"]);
    let sprint = "open-rpg/.cursor/plans/sprint_4_tasks_015-017_4107e843.plan.md";
    assert_eq!(a.plan(sprint)["format"], "cursor");
    // `main/player.ts` of a plan in open-rpg/.cursor/plans is open-rpg/main/player.ts, not one
    // of the two copies under open-rpg/docs/rpgjs-reference/
    assert_eq!(a.verdict(sprint, "main/player.ts"), v("present", true));
    let archived = "open-rpg/.cursor/plans/archive/phase_3_core_agent_system_sprint_dfb7901c.plan.md";
    assert_eq!(a.verdict(archived, "main/player.ts"), v("present", true), "also from the archive folder");
    // build output named by a done todo ("Start script: `node dist/server/main.mjs`") is not
    // held to: the argument of a command is what it runs, no deliverable and no false claim
    assert_eq!(a.verdict(sprint, "dist/server/main.mjs"), None);
    assert!(a.plan(sprint).get("skipped").is_none_or(|s| s.as_array().unwrap().is_empty()));
    // a bare `package.json` among 65 of them is the one of the plan's project root,
    // open-rpg/package.json (the nearest folder above the plan that has one), not a guess
    assert_eq!(a.verdict(sprint, "package.json"), v("present", true));
    assert_eq!(a.false_claims(), set(&[]));

    // --- generic plans without checkboxes (nelson): promises, no claims
    let root = tree("0xc14m1z__nelson@00c96cbeaed3");
    let a = Audit::run(&home, &root, &["docs/plans"]);
    assert!(a.plans().iter().all(|p| p["format"] == "markdown"));
    assert_eq!(a.verdict("IMPLEMENTATION_PLAN.md", "src/nelson/core/engine.py"), v("missing", false));
    assert_eq!(a.false_claims(), set(&[]));

    // --- an IMPLEMENTATION_PLAN.md of one newline: an empty plan, not an unreadable one
    let root = tree("0ceanlight__SnapFocus@ec6dba46189d");
    let a = Audit::run(&home, &root, &[]);
    assert_eq!(a.plan("IMPLEMENTATION_PLAN.md")["deliverables"], serde_json::json!([]));
    assert!(a.v["unreadable"].as_array().unwrap().is_empty());

    // --- bare module names in a small plan (mdlyricgetter): all present
    let root = tree("0x4D44__mdlyricgetter@e9ad53eed577");
    let a = Audit::run(&home, &root, &[]);
    assert_eq!(a.verdict("IMPLEMENTATION_PLAN.md", "scanner.rs"), v("present", false));
    assert_eq!(a.deliverables(), 8);
}

/// A file created and ticked in a plan, then renamed in a later commit, is `moved` (old → new
/// path), not a false claim; a ticked file that never existed stays one.
#[test]
fn a_file_renamed_after_it_was_ticked_is_moved_not_false() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let ok = |c: &mut Command| {
        let out = c.env("BATON_LOG", "warn").output().unwrap();
        assert!(out.status.success(), "{:?}: {}", c, String::from_utf8_lossy(&out.stderr));
        out
    };
    ok(Command::new(BIN).arg("--home").arg(&home).arg("init"));
    let repo = renamed_repo::renamed_repo(tmp.path());
    let out = ok(Command::new(BIN)
        .arg("--home")
        .arg(&home)
        .args(["audit", "--json", "--repo"])
        .arg(&repo)
        .arg("--out")
        .arg(tmp.path().join("out")));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ds = v["plans"][0]["deliverables"].as_array().unwrap();
    let d = ds.iter().find(|d| d["path"] == "src/loader.py").unwrap();
    assert_eq!(d["status"], "moved", "{d}");
    assert_eq!(d["moved_to"], repo.join("src/io/reader.py").to_str().unwrap());
    assert!(d["reason"].as_str().unwrap().contains("src/loader.py was renamed to src/io/reader.py"), "{d}");
    let fc: Vec<&str> = v["false_claims"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(fc, ["src/writer.py"], "never created: still a false claim");
    assert!(v["moved"].as_str().unwrap().starts_with("moved checked"), "{}", v["moved"]);
}
