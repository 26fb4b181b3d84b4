//! A baton home with the `spotify` plugin granted a folder of exports, for the tests that run
//! it on real files: files copied in from `realworld()` (under the names their users gave
//! them, with the modification times that order their exports), tasks run through
//! `baton serve --once`, and the catalog read back through the CLI.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::Home;

pub struct SpotifyHome {
    pub h: Home,
    /// The folder granted as `spotify` (the exports).
    pub spot: PathBuf,
    n: std::cell::Cell<u32>,
}

/// `toml` without the table `[name]` (and its sub-tables).
pub fn strip_table(toml: &str, name: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            let inner = t.trim_matches(|c| c == '[' || c == ']');
            skipping = inner == name || inner.starts_with(&format!("{name}."));
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

impl SpotifyHome {
    pub fn new() -> SpotifyHome {
        let grants = r#"
[plugins.spotify]
grants = { spotify = "spot", music = { path = "music", writable = true }, playlists = { path = "lists", writable = true } }
catalog = { read = ["files"], write = ["tracks", "artists", "playlists"] }
# These tests check what an import keeps, not how fast (that is a benchmark: bench/README.md);
# a whole real corpus under a loaded CI machine went past the default 30 s budget.
time_ms = 120000
"#;
        let h = Home::init(&[], "");
        let toml_path = h.root.join("baton.toml");
        let toml = std::fs::read_to_string(&toml_path).unwrap();
        std::fs::write(&toml_path, strip_table(&toml, "plugins.spotify") + grants).unwrap();
        for d in ["spot", "music", "lists"] {
            std::fs::create_dir_all(h.root.join(d)).unwrap();
        }
        let spot = h.root.join("spot");
        SpotifyHome { h, spot, n: std::cell::Cell::new(0) }
    }

    /// Copies `src` into the exports folder as `name`, made `age_days` ago.
    pub fn copy(&self, src: &Path, name: &str, age_days: u64) {
        let p = self.spot.join(name);
        std::fs::copy(src, &p).unwrap_or_else(|e| panic!("copying {}: {e}", src.display()));
        let f = std::fs::File::options().write(true).open(&p).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(age_days * 86400)).unwrap();
    }

    /// Runs one spotify task through `baton serve --once`; its RETURN.
    pub fn task_raw(&self, action: &str, params: Value) -> Value {
        self.n.set(self.n.get() + 1);
        let id = format!("RW-{:03}", self.n.get());
        let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                          "from": "Tester-Agent", "title": format!("spotify {action}"), "plugin": "spotify",
                          "action": action, "params": params});
        self.h.drop_file(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"), body.to_string());
        self.h.ok(&["serve", "--once"]);
        self.h.returns("Tester-Agent").remove(&id).unwrap_or_else(|| panic!("no RETURN for {action} ({id})")).remove(0)
    }

    /// As [`SpotifyHome::task_raw`], for a task that must complete: its result.
    pub fn task(&self, action: &str, params: Value) -> Value {
        let r = self.task_raw(action, params);
        assert_eq!(r["status"], "completed", "{action}: {r}");
        r["result"].clone()
    }

    /// Every record of a collection: key → properties.
    pub fn records(&self, collection: &str) -> BTreeMap<String, Value> {
        let v = self.h.json(&["catalog", "show", collection, "--json"]);
        v["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["key"].as_str().unwrap().to_string(), r["props"].clone()))
            .collect()
    }

    /// A Spotify playlist's tracks in playlist order, each with its added_at (None: unknown).
    pub fn members(&self, playlist: &str) -> Vec<(String, Option<String>)> {
        let links = self.h.json(&[
            "catalog",
            "links",
            "playlists",
            &format!("spotify:playlist:{playlist}"),
            "tracks",
            "--json",
        ]);
        links
            .as_array()
            .unwrap()
            .iter()
            .map(|l| (l["key"].as_str().unwrap().to_string(), l["added_at"].as_str().map(str::to_string)))
            .collect()
    }
}
