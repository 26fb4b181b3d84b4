//! The classes of false claims that were wrong, or missed, in plain folders: each in a plan
//! whose verdicts were checked by reading it (the comments say why), next to true false
//! claims that must stay found.

use crate::common::*;
use baton_audit::*;

fn status<'a>(p: &'a PlanReport, path: &str) -> Option<(&'a str, bool)> {
    p.deliverables.iter().find(|d| d.path == path).map(|d| (d.status.as_str(), d.claimed_done))
}

const KIRO: &str = "# Implementation Plan

- [x] 1. Harden the sync script
  - Move lock acquisition before folder checks in `gas-scripts/drive-to-notion/Code.js`
  - Move `gas-scripts/old/Helpers.js` to `gas-scripts/drive-to-notion/Helpers.js`
  - _Requirements: 1.1_

- [x] 2. Parser tests
  - `tests/parser_test.cpp`: covers the tokenizer and the error paths
  - _Leverage: `src/tokenizer.cpp`_

- [x] 3. Coverage gate (scripts/coverage_gate.sh)
  - Store the floor in `ci/coverage_floor.txt` (new file)

- [x] 4. Executor
  - Implement `src/exec.cpp` on top of `#include <stdexec/execution.hpp>`
  - Note: see the SDK header `sdk/include/pico/stdlib.h` for the pin map

- [x] 5. Editor integration
  - Implement `src/editor.ts`, a settings writer that updates `.vscode/settings.json`

- [x] 6. Docs
  - Update `docs/setup.md` (if exists)
  - Create `src/theme.css` (or inline styles in the component)
  - Create `src/auth.ts` (Implemented in `src/login/auth.ts`)

- [x] 7. Project files
  - **Files**: `.gitignore`, `LICENSE-MIT`, `Cargo.toml`
  - Create `fixtures/` with `sample.json`
";

#[test]
fn kiro_outputs_and_the_paths_that_are_not_claims() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    write(&repo, ".kiro/specs/sync/tasks.md", KIRO);
    write(&repo, "gas-scripts/drive-to-notion/Code.js", "");
    write(&repo, "gas-scripts/drive-to-notion/Helpers.js", REAL_TS);
    write(&repo, "src/tokenizer.cpp", REAL_TS);
    // a 6-byte data file with content is present
    write(&repo, "ci/coverage_floor.txt", "88.85\n");
    write(&repo, "src/exec.cpp", REAL_TS);
    write(&repo, "src/editor.ts", REAL_TS);
    write(&repo, "src/login/auth.ts", REAL_TS);
    write(&repo, ".gitignore", "target/\n");
    write(&repo, "LICENSE-MIT", "MIT License\n\nCopyright (c) the authors\n");
    // the root Cargo.toml and a crate's: the bare name is the repository root's
    write(&repo, "Cargo.toml", "[workspace]\nmembers = [\"crates/a\"]\n");
    write(&repo, "crates/a/Cargo.toml", "[package]\nname = \"a\"\n");
    write(&repo, "fixtures/sample.json", "{\"id\": 1}\n");
    let r = run(&[], &[&repo], None, 0);
    let p = plan(&r, "tasks.md");
    assert_eq!(p.format, PlanFormat::Kiro);
    assert!(p.unreadable.is_none());
    // the ticked task edits Code.js (code moves inside it): its output, here an empty file
    assert_eq!(status(p, "gas-scripts/drive-to-notion/Code.js"), Some(("stub", true)));
    // only the source of a file move is no output; its destination is
    assert_eq!(status(p, "gas-scripts/old/Helpers.js"), None);
    assert_eq!(status(p, "gas-scripts/drive-to-notion/Helpers.js"), Some(("present", true)));
    // a bullet that starts with the file it describes declares it: missing, a false claim
    assert_eq!(status(p, "tests/parser_test.cpp"), Some(("missing", true)));
    assert_eq!(status(p, "src/tokenizer.cpp"), None, "_Leverage: names code to reuse");
    // the title continued in parentheses, and a `(new file)` line
    assert_eq!(status(p, "scripts/coverage_gate.sh"), Some(("missing", true)));
    assert_eq!(status(p, "ci/coverage_floor.txt"), Some(("present", true)));
    // a system header of an #include and an SDK file cited in a note are no deliverables
    assert_eq!(status(p, "src/exec.cpp"), Some(("present", true)));
    assert_eq!(status(p, "stdexec/execution.hpp"), None);
    assert_eq!(status(p, "sdk/include/pico/stdlib.h"), None);
    // a file the code edits at run time, named in prose
    assert_eq!(status(p, ".vscode/settings.json"), None);
    // hedges and a redirect: the redirect's target is checked instead
    assert_eq!(status(p, "docs/setup.md"), None);
    assert_eq!(status(p, "src/theme.css"), None);
    assert_eq!(status(p, "src/auth.ts"), None);
    assert_eq!(status(p, "src/login/auth.ts"), Some(("present", true)));
    // a Files field names dotfiles and licence files; a bare Cargo.toml is the root's
    assert_eq!(status(p, ".gitignore"), Some(("present", true)));
    assert_eq!(status(p, "LICENSE-MIT"), Some(("present", true)));
    let cargo = p.deliverables.iter().find(|d| d.path == "Cargo.toml").unwrap();
    assert_eq!(cargo.status, Status::Present, "{:?}", cargo.candidates);
    assert_eq!(cargo.evidence.resolved.as_deref(), Some(format!("{}/Cargo.toml", s(&repo)).as_str()));
    // "`fixtures/` with `sample.json`" is fixtures/sample.json
    assert_eq!(status(p, "fixtures/sample.json"), Some(("present", true)));
    let fc: Vec<&str> = r.false_claims.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(fc, ["gas-scripts/drive-to-notion/Code.js", "tests/parser_test.cpp", "scripts/coverage_gate.sh"]);
}
