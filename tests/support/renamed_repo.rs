//! A git repository for the `moved` tests (the CLI's audit in tests/realworld_audit.rs and
//! serve's automatic audits in tests/audit.rs): a file created and ticked in one commit, then
//! renamed in the next, beside a ticked file that never existed.
use std::path::{Path, PathBuf};
use std::process::Command;

/// A git repository whose spec-kit plan ticks `src/loader.py` (created in that commit, renamed
/// to `src/io/reader.py` in the next) and `src/writer.py` (never created).
pub fn renamed_repo(tmp: &Path) -> PathBuf {
    let repo = tmp.join("repo");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    std::fs::create_dir_all(repo.join("specs/001-x")).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    git(&["init", "-q"]);
    let code =
        "def load(path):\n    with open(path) as f:\n        return f.read()\n\n\ndef main():\n    print(load('x'))\n";
    std::fs::write(repo.join("src/loader.py"), code).unwrap();
    std::fs::write(
        repo.join("specs/001-x/tasks.md"),
        "# Tasks\n\n## Phase 1\n\n- [x] T001 Create the loader in src/loader.py\n- [x] T002 Create the writer in src/writer.py\n",
    )
    .unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-qm", "loader, ticked"]);
    std::fs::create_dir_all(repo.join("src/io")).unwrap();
    git(&["mv", "src/loader.py", "src/io/reader.py"]);
    git(&["commit", "-qm", "rename"]);

    repo
}
