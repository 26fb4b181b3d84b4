//! `baton service`, `baton completions` and `baton man`, run as the real binary with HOME and
//! XDG_CONFIG_HOME pointed at temporary folders: what is written, that it parses (the plist
//! with the `plist` crate, the unit with `systemd-analyze verify` where present), that it
//! holds no secret, and that `uninstall` removes only what `install` wrote.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support;
use support::{BIN, Home};

struct User {
    home: Home,
    user: tempfile::TempDir,
}

impl User {
    fn new() -> Self {
        User { home: Home::init(&[], ""), user: tempfile::tempdir().unwrap() }
    }
    fn service(&self, args: &[&str]) -> Output {
        let mut c = self.home.cmd(&["service"]);
        c.args(args)
            .env("HOME", self.user.path())
            .env("XDG_CONFIG_HOME", self.user.path().join("cfg"))
            // A secret in the environment must never reach the unit.
            .env("SPOTIFY_CLIENT_SECRET", "s3cr3t-do-not-copy");
        c.output().unwrap()
    }
    fn ok(&self, args: &[&str]) -> String {
        let out = self.service(args);
        assert!(
            out.status.success(),
            "baton service {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    fn unit(&self) -> PathBuf {
        self.user.path().join("cfg/systemd/user/baton.service")
    }
    fn plist(&self) -> PathBuf {
        self.user.path().join("Library/LaunchAgents/dev.baton.serve.plist")
    }
    fn log(&self) -> PathBuf {
        self.home.root.join("logs/serve.log")
    }
}

/// The program the unit runs: the host (`baton` hands `service install` to it, and the unit
/// starts it directly, without the front's hop).
fn real_exe() -> PathBuf {
    Path::new(&format!("{BIN}-host")).canonicalize().unwrap()
}

#[test]
fn the_systemd_unit_runs_serve_restarts_on_failure_and_uninstall_removes_only_it() {
    let u = User::new();
    // Something else of the user's in the same folder, which uninstall must keep.
    std::fs::create_dir_all(u.unit().parent().unwrap()).unwrap();
    let neighbour = u.unit().with_file_name("other.service");
    std::fs::write(&neighbour, "[Service]\nExecStart=/bin/true\n").unwrap();

    let out = u.ok(&["install", "--platform", "linux", "--no-load"]);
    assert!(out.contains("systemctl --user enable --now baton.service"), "says what to run: {out}");
    let unit = std::fs::read_to_string(u.unit()).unwrap();
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    let home = u.home.root.canonicalize().unwrap();
    assert_eq!(
        exec,
        format!(
            "ExecStart=\"{}\" --home \"{}\" --state \"{}\" serve",
            real_exe().display(),
            home.display(),
            home.join("state/baton.sqlite").display()
        )
    );
    for line in ["Restart=on-failure", "RestartSec=5", "WantedBy=default.target"] {
        assert!(unit.lines().any(|l| l == line), "{line} in\n{unit}");
    }
    assert!(
        unit.contains(&format!("StandardOutput=append:{}", u.log().canonicalize().unwrap_or(u.log()).display())),
        "{unit}"
    );
    assert!(u.log().parent().unwrap().is_dir(), "the log folder exists");
    assert!(!unit.contains("s3cr3t"), "no environment is copied");

    if Command::new("systemd-analyze").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let v = Command::new("systemd-analyze").arg("verify").arg(u.unit()).output().unwrap();
        let err = String::from_utf8_lossy(&v.stderr);
        // Outside a user session systemd may note the missing user manager; the unit itself must be clean.
        let about_unit: Vec<&str> = err.lines().filter(|l| l.contains("baton.service")).collect();
        assert!(about_unit.is_empty(), "systemd-analyze verify: {err}");
    }

    let status: serde_json::Value = serde_json::from_str(&u.ok(&["status", "--json"])).unwrap();
    assert_eq!(
        (status["installed"].as_bool(), status["written_by_baton"].as_bool()),
        (Some(true), Some(true)),
        "{status}"
    );

    // Installing again (same binary) is a no-op that succeeds.
    u.ok(&["install", "--platform", "linux", "--no-load"]);
    std::fs::write(u.log(), "a log line\n").unwrap();
    u.ok(&["uninstall", "--no-load"]);
    assert!(!u.unit().exists());
    assert!(neighbour.exists(), "the user's other unit is kept");
    assert!(u.log().exists(), "the log is kept");
    assert!(!u.home.root.join("service.json").exists(), "the record is gone");
    let out = u.service(&["status"]);
    assert_eq!(out.status.code(), Some(1), "status says not installed");
}

#[test]
fn the_launchd_plist_parses_and_keeps_serve_alive_after_a_crash() {
    let u = User::new();
    u.ok(&["install", "--platform", "macos"]); // another system's files: written, never loaded
    let v = plist::Value::from_file(u.plist()).unwrap();
    let d = v.as_dictionary().unwrap();
    assert_eq!(d["Label"].as_string(), Some("dev.baton.serve"));
    let args: Vec<&str> = d["ProgramArguments"].as_array().unwrap().iter().map(|a| a.as_string().unwrap()).collect();
    let home = u.home.root.canonicalize().unwrap();
    let state = home.join("state/baton.sqlite");
    let exe = real_exe();
    assert_eq!(
        args,
        [exe.to_str().unwrap(), "--home", home.to_str().unwrap(), "--state", state.to_str().unwrap(), "serve"]
    );
    assert_eq!(d["RunAtLoad"].as_boolean(), Some(true));
    assert_eq!(d["KeepAlive"].as_dictionary().unwrap()["SuccessfulExit"].as_boolean(), Some(false));
    assert_eq!(d["StandardErrorPath"].as_string(), Some(home.join("logs/serve.log").to_str().unwrap()));
    assert!(!std::fs::read_to_string(u.plist()).unwrap().contains("s3cr3t"));
    assert!(d.get("EnvironmentVariables").is_none(), "no environment is copied");

    u.ok(&["uninstall"]);
    assert!(!u.plist().exists());
    assert!(u.plist().parent().unwrap().is_dir(), "LaunchAgents itself is kept");
}

#[test]
fn an_edited_or_foreign_unit_is_never_overwritten_or_removed() {
    let u = User::new();
    // A unit the user wrote: install refuses to replace it.
    std::fs::create_dir_all(u.unit().parent().unwrap()).unwrap();
    std::fs::write(u.unit(), "# mine\n").unwrap();
    let out = u.service(&["install", "--platform", "linux", "--no-load"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("was not written by"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(u.unit()).unwrap(), "# mine\n");

    // Ours, then edited by the user: uninstall leaves it and says why.
    std::fs::remove_file(u.unit()).unwrap();
    u.ok(&["install", "--platform", "linux", "--no-load"]);
    let edited = std::fs::read_to_string(u.unit()).unwrap().replace("RestartSec=5", "RestartSec=30");
    std::fs::write(u.unit(), &edited).unwrap();
    let out = u.service(&["uninstall", "--no-load"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("was changed since"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(u.unit()).unwrap(), edited);
}

#[test]
fn dry_run_prints_the_unit_and_writes_nothing() {
    let u = User::new();
    let out = u.ok(&["install", "--platform", "linux", "--dry-run"]);
    assert!(out.contains("Restart=on-failure") && out.contains("would write"), "{out}");
    assert!(!u.unit().exists() && !u.home.root.join("service.json").exists());
}

#[test]
fn completions_and_the_man_page_cover_every_command() {
    let run = |args: &[&str]| {
        let o = Command::new(BIN).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        for sub in ["serve", "service", "plugin", "completions"] {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
    }
    assert!(run(&["completions", "bash"]).contains("complete -F _baton"));
    let man = run(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH baton 1"), "{}", &man[..200.min(man.len())]);
    assert!(man.contains(".TH baton 1"));
    for sub in ["serve", "service", "audit", "fp"] {
        assert!(man.contains(sub), "the man page lacks {sub}");
    }
    let bad = Command::new(BIN).args(["completions", "tcsh"]).output().unwrap();
    assert!(!bad.status.success());
}
