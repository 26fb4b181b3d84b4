//! `baton` is a front (`baton_app::front`): it runs an agent's `send`, `wait`, `inbox`, `reply`
//! and `ack` itself and hands everything else to the host program beside it, by exec, with the
//! same arguments and standard input. These tests run a copy of the front with no host beside
//! it, which can only do what it runs itself, and compare what the two programs say.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::{BIN, Home};

/// A copy of the front alone in a folder of its own: no `-host` program beside it.
fn lone_front(dir: &Path) -> PathBuf {
    let lone = dir.join("baton-e2e");
    std::fs::copy(BIN, &lone).unwrap();
    lone
}

/// `home.cmd(args)` (its flags and environment) run by another program: the lone front, or
/// the host itself.
fn by(program: &Path, home: &Home, args: &[&str]) -> Command {
    let same = home.cmd(args);
    let mut other = Command::new(program);
    other.args(same.get_args());
    for (k, v) in same.get_envs() {
        match v {
            Some(v) => other.env(k, v),
            None => other.env_remove(k),
        };
    }
    other
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_front_alone_runs_an_agent_s_commands_and_says_what_it_needs_the_host_for() {
    let h = Home::init(&[], "");
    let dir = tempfile::tempdir().unwrap();
    let lone = lone_front(dir.path());

    // A TASK for an agent, its inbox listed, a reply, the RETURN acknowledged: all in the front.
    h.ok(&["send", "--from", "Lead", "--to", "Coder", "--new-agent", "--title", "Fix it"]);
    let out = by(&lone, &h, &["send", "--from", "Lead", "--to", "Coder", "--title", "Fix it too", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "the lone front sends to an agent: {}", text(&out));
    let id = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["id"].as_str().unwrap().to_string();
    let out = by(&lone, &h, &["inbox", "Coder", "--json"]).output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&id), "{}", text(&out));
    let out = by(&lone, &h, &["reply", &id, "--status", "completed", "--summary", "done"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let out = by(&lone, &h, &["wait", &id, "--timeout", "5", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["in_reply_to"], id.as_str());
    let out = by(&lone, &h, &["ack", &id]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));

    // Anything else needs the host, and the lone front says so, naming it and the fix.
    for args in [vec!["status"], vec!["--version"], vec!["send", "--help"]] {
        let out = by(&lone, &h, &args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let said = text(&out);
        assert!(
            said.contains("baton-e2e-host") && said.contains("cargo install --locked --path crates/app"),
            "{args:?}: {said}"
        );
    }

    // A plugin's actions are read by the plugin runtime the first time: that send is the
    // host's, and the lone front writes nothing before it hands it over.
    let inbox_before = std::fs::read_dir(h.inbox()).unwrap().count();
    let task = ["send", "--from", "Lead", "--plugin", "echo", "--action", "echo", "--params", "{\"i\":1}"];
    let out = by(&lone, &h, &task).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(std::fs::read_dir(h.inbox()).unwrap().count(), inbox_before, "nothing written");
    // Once the host has read them (and kept them), the front sends to the plugin itself.
    h.ok(&task);
    let out = by(&lone, &h, &task).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_dir(h.inbox()).unwrap().count(), inbox_before + 2);
}

#[test]
fn what_the_front_hands_over_the_host_answers_with_the_same_input() {
    let h = Home::init(&[], "");
    let host = PathBuf::from(format!("{BIN}-host"));
    // The same words and exit code from either program: a help, a typo, a version.
    for args in [vec!["--help"], vec!["send", "--help"], vec!["sedn"], vec!["--version"], vec!["status", "--json"]] {
        let front = h.run(&args);
        let direct = by(&host, &h, &args).output().unwrap();
        assert_eq!(front.status.code(), direct.status.code(), "{args:?}");
        assert_eq!(text(&front), text(&direct), "{args:?}");
    }
    // A first send to a plugin is handed over after the front has parsed the command line; its
    // params on standard input reach the host whole.
    let mut child = h
        .cmd(&["send", "--from", "Lead", "--plugin", "echo", "--action", "echo", "--params", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(br#"{"from_stdin": 7}"#).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let file = serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["file"].as_str().unwrap().to_string();
    let task: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    assert_eq!(task["params"]["from_stdin"], 7, "{task}");
}

#[test]
fn a_front_reached_by_a_symlink_hands_over_to_the_host_installed_with_it() {
    let h = Home::init(&[], "");
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("baton");
    std::os::unix::fs::symlink(std::path::absolute(BIN).unwrap(), &link).unwrap();
    let out = by(&link, &h, &["status", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok(), "{}", text(&out));
}
