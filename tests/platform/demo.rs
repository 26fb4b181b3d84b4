//! `baton demo`, the README's first command, run as the real binary: every sample it drops is
//! answered as the README says (echo completed, the broken file rejected, the TASK for another
//! agent routed to it), the audit writes its report, and the Spotify part answers
//! `playlists-for-track` and `plan` from a generated export and WAV folder (no ffmpeg).
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::support;
use support::BIN;

/// Every RETURN in an agent's inbox.
fn returns(inbox: &Path) -> Vec<Value> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(inbox).unwrap().flatten() {
        if e.file_name().to_string_lossy().contains("__RETURN__") {
            out.push(serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap());
        }
    }
    out
}

#[test]
fn the_demo_answers_every_sample_and_the_spotify_steps() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("demo");
    let out = Command::new(BIN)
        .args(["demo", "--dir"])
        .arg(&home)
        .env("BATON_LOG", "warn")
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "baton demo failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));

    let claude = returns(&home.join("handoffs/Claude-Code-Agent/01_inbox"));
    let re =
        |title: &str| claude.iter().find(|r| r["title"] == title).unwrap_or_else(|| panic!("no {title:?}: {claude:?}"));
    assert_eq!(claude.len(), 2, "{claude:?}");
    let echo = re("Re: Echo hello");
    assert_eq!(
        (echo["status"].as_str(), echo["result"]["message"].as_str()),
        (Some("completed"), Some("hello from the demo")),
        "{echo}"
    );
    assert_eq!(
        re("Re: Review PR 42")["result"]["routed_to"],
        "Cursor-Agent",
        "the TASK for another agent is routed, not run"
    );
    assert!(
        home.join("handoffs/Cursor-Agent/01_inbox")
            .read_dir()
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains("Review-PR-42"))
    );
    let broken = returns(&home.join("handoffs/Codex-Agent/01_inbox"));
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert_eq!(broken[0]["status"], "rejected", "{}", broken[0]);
    let reports: Vec<_> = std::fs::read_dir(home.join("reports"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "md"))
        .collect();
    assert_eq!(reports.len(), 1, "one audit report");

    let spotify = returns(&home.join("handoffs/Spotify-Demo/01_inbox"));
    let by_action = |action: &str| -> &Value {
        spotify
            .iter()
            .find(|r| r["title"].as_str().is_some_and(|t| t.ends_with(&format!("spotify {action}"))))
            .unwrap_or_else(|| panic!("no RETURN for {action}: {spotify:?}"))
    };
    for action in ["import", "link-local", "playlists-for-track", "plan"] {
        assert_eq!(by_action(action)["status"], "completed", "{}", by_action(action));
    }
    let found = &by_action("playlists-for-track")["result"];
    assert_eq!(found["track"]["title"], "Alpha Song", "{found}");
    assert!(!found["playlists"].as_array().unwrap().is_empty(), "{found}");
    let plan = &by_action("plan")["result"];
    assert!(!plan["moves"].as_array().unwrap().is_empty(), "the plan moves the demo's files: {plan}");
    assert!(plan["plan_id"].is_string(), "{plan}");
    assert!(stdout.contains("spotify plan"), "the demo prints what came back: {stdout}");
}

#[test]
fn the_demo_refuses_a_folder_that_already_holds_something() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(home.join("baton.toml"), "agent = \"baton\"\n").unwrap();
    let out = Command::new(BIN).args(["demo", "--dir"]).arg(&home).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&home.display().to_string()) && err.contains("not empty"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&home).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left, ["baton.toml"], "nothing was added to the folder");
    assert_eq!(std::fs::read_to_string(home.join("baton.toml")).unwrap(), "agent = \"baton\"\n");
}

/// `baton … | head -1`: a reader that goes away ends the command quietly (SIGPIPE, as `cat`),
/// never a panic with exit 101. The pipe's read end is closed before baton starts, so its very
/// first write meets a closed pipe.
#[test]
fn a_closed_pipe_ends_a_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let mut fds = [0; 2];
    // SAFETY: a plain pipe(2) into a local array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: closing the read end we own; the write end is handed to the child below.
    unsafe { libc::close(fds[0]) };
    // SAFETY: fds[1] is an open descriptor that nothing else owns.
    let write_end =
        unsafe { std::process::Stdio::from(<std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1])) };
    let out = Command::new(BIN)
        .args(["completions", "bash"])
        .stdout(write_end)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(libc::SIGPIPE), "ended by SIGPIPE, not exit {:?}: {err}", out.status.code());
    assert!(!err.contains("panicked"), "{err}");
}

/// Logs on stderr: plain text when stderr is not a terminal (a pipe here, as under a service
/// manager or `2> log`), and a failed command's last word is JSON in `--log-format json` mode.
#[test]
fn logs_carry_no_colour_off_a_terminal_and_json_mode_reports_errors_as_json() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let init = Command::new(BIN).arg("--home").arg(&home).arg("init").env_remove("BATON_STATE").output().unwrap();
    assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
    let serve = Command::new(BIN)
        .arg("--home")
        .arg(&home)
        .args(["serve", "--once"])
        .env_remove("BATON_STATE")
        .env_remove("NO_COLOR")
        .env("BATON_LOG", "info")
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&serve.stderr);
    assert!(serve.status.success() && err.contains("INFO"), "serve logged something at info: {err}");
    assert!(!err.contains('\u{1b}'), "no escape codes on a pipe: {err:?}");

    let show = Command::new(BIN)
        .arg("--home")
        .arg(&home)
        .args(["--log-format", "json", "show", "NO-SUCH-ID"])
        .env_remove("BATON_STATE")
        .output()
        .unwrap();
    assert_eq!(show.status.code(), Some(2));
    let err = String::from_utf8_lossy(&show.stderr);
    let last = err.lines().last().unwrap_or_default();
    let line: Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("the error is not a JSON line ({e}): {err}"));
    assert_eq!(line["level"], "ERROR", "{line}");
    assert!(line["fields"]["message"].as_str().is_some_and(|m| m.contains("NO-SUCH-ID")), "{line}");
}

/// The `sh` blocks a `<!-- tested -->` line marks in the README and the book, in document order.
fn tested_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "<!-- tested -->" {
            continue;
        }
        let fence = lines.by_ref().find(|l| !l.trim().is_empty()).unwrap_or_default();
        assert_eq!(fence.trim(), "```sh", "a `tested` marker must sit right above a ```sh block");
        blocks.push(lines.by_ref().take_while(|l| l.trim() != "```").collect::<Vec<_>>().join("\n"));
    }
    blocks
}

/// Every command the documents mark as tested runs as written, against the real binary: each
/// document's blocks in order, as one script, from the repository root (where the examples are),
/// with `baton` on PATH (a link named so to the binary under test) and temp files in a folder of
/// the test's own.
#[test]
fn every_tested_block_in_the_docs_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut docs = vec![root.join("README.md")];
    docs.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    let bin_dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.path().join("baton")).unwrap();
    let path = format!("{}:{}", bin_dir.path().display(), std::env::var("PATH").unwrap_or_default());
    let mut ran = 0;
    for doc in docs {
        let blocks = tested_blocks(&std::fs::read_to_string(&doc).unwrap());
        if blocks.is_empty() {
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let script = format!(
            "set -euo pipefail\ntrap 'kill $(jobs -p) 2>/dev/null || true; wait' EXIT\n{}\n",
            blocks.join("\n")
        );
        let out = Command::new("timeout")
            .args(["120", "bash", "-c", &script])
            .current_dir(&root)
            .env("PATH", &path)
            .env("TMPDIR", tmp.path())
            .env("XDG_CACHE_HOME", tmp.path().join("cache"))
            .env("BATON_LOG", "warn")
            .env_remove("BATON_HOME")
            .env_remove("BATON_STATE")
            .env_remove("BATON_AGENT")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "the tested blocks of {} failed ({}):\n--- script\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            doc.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += blocks.len();
    }
    assert!(ran >= 4, "the README's tour alone marks 4 blocks as tested; found {ran} in all");
}
