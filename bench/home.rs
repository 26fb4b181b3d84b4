//! A baton home for the benchmarks: `baton init` in a temporary folder (under `$BENCH_DIR` if
//! set) with the automatic audit off, echo TASKs dropped atomically, and RETURNs counted.
#![allow(dead_code)] // each benchmark uses its own part

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Home {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
    bin: PathBuf,
}

impl Home {
    pub fn new(bin: &Path) -> Self {
        let dir =
            tempfile::tempdir_in(std::env::var_os("BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir))
                .unwrap();
        let root = dir.path().join("home");
        let h = Home { _dir: dir, root, bin: bin.to_path_buf() };
        h.baton(&["init"]);
        // No audit during the benchmark: only handoffs.
        let toml = h.root.join("baton.toml");
        let text = std::fs::read_to_string(&toml).unwrap().replace("enabled = true", "enabled = false");
        std::fs::write(toml, text).unwrap();
        h
    }

    pub fn baton(&self, args: &[&str]) {
        let st = Command::new(&self.bin)
            .arg("--home")
            .arg(&self.root)
            .args(args)
            .env("BATON_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success(), "baton {args:?}");
    }

    /// `baton ARGS`' standard output (say, the key `baton key rotate` prints).
    pub fn output(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("--home")
            .arg(&self.root)
            .args(args)
            .env("BATON_LOG", "warn")
            .stderr(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "baton {args:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn drop_tasks(&self, range: std::ops::Range<usize>) {
        drop_tasks(&self.root.join("handoffs/baton/01_inbox"), &self.root, range);
    }

    pub fn serve(&self) -> std::process::Child {
        self.serve_with(&[])
    }

    pub fn serve_with(&self, args: &[&str]) -> std::process::Child {
        Command::new(&self.bin)
            .arg("--home")
            .arg(&self.root)
            .arg("serve")
            .args(args)
            .env("BATON_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    /// Waits until `n` RETURNs are in the reply inbox (polled every 20 ms: under 1% of a run).
    pub fn wait_count(&self, n: usize) {
        let start = Instant::now();
        while self.count_returns() < n {
            assert!(start.elapsed() < Duration::from_secs(120), "only {} of {n} RETURNs", self.count_returns());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn count_returns(&self) -> usize {
        count_returns(&self.root.join("handoffs/Bench-Agent/01_inbox"))
    }

    /// Warms the process up with one task, freezes it, drops `n` tasks, thaws it, and returns
    /// handoffs per second from the thaw to the last RETURN.
    pub fn drain_rate(&self, pid: u32, n: usize) -> f64 {
        self.drop_tasks(900_000..900_001);
        self.wait_count(1);
        let signal =
            |sig: &str| assert!(Command::new("kill").arg(sig).arg(pid.to_string()).status().unwrap().success());
        signal("-STOP");
        self.drop_tasks(0..n);
        let t = Instant::now();
        signal("-CONT");
        self.wait_count(n + 1);
        n as f64 / t.elapsed().as_secs_f64()
    }
}

/// Drops echo TASKs `range` from `Bench-Agent` into `inbox` atomically: written in `tmp_dir`
/// (same file system, outside the watched handoffs tree), then renamed in.
pub fn drop_tasks(inbox: &Path, tmp_dir: &Path, range: std::ops::Range<usize>) {
    for i in range {
        let body = serde_json::json!({"schema": "baton.handoff/v1", "id": format!("B{i:06}"), "kind": "task",
            "created_at": "2026-01-18T07:09:51Z", "from": "Bench-Agent", "title": format!("T{i:06}"),
            "plugin": "echo", "action": "echo", "params": {"i": i}});
        let tmp = tmp_dir.join(format!(".drop-{i}"));
        std::fs::write(&tmp, body.to_string()).unwrap();
        std::fs::rename(&tmp, inbox.join(format!("20260118T070951Z__TASK__T{i:06}__Bench-Agent.json"))).unwrap();
    }
}

/// The RETURNs in the reply inbox `dir`.
pub fn count_returns(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().contains("__RETURN__")).count())
        .unwrap_or(0)
}

pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}
