//! End-to-end tests of the `drive-sync` plugin: the real `baton` binary, real TASK
//! files through `baton run`, the real wasm component, a real catalog loaded with
//! `baton catalog import`, and a temporary folder standing in for the synced drive.
//!
//! Covers the seed's five production tests (lock first, 8 concurrent processes, lock timeout,
//! concurrency guard, pre-seeded duplicates with consolidate and undo), plus kill -9 during a
//! consolidate, a property rename and removal, and an edited sheet.
use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Home;

const TRACKS: &str = "key,title,artists,album,duration_ms\n\
t1,Blue Monday,New Order,Power Corruption & Lies,448000\n\
t2,=HYPERLINK(\"http://x\"),Mallory,Formula,1000\n\
t3,Windowlicker,Aphex Twin,,367000\n";
const PLAYLISTS: &str = "key,name,source,tracks\np1,Peak Time,spotify,t3;t1\np2,@home,spotify,t2\n";

/// A home whose drive-sync plugin may write `drive/` and read tracks and playlists, with
/// `settings` as its `[plugins.drive-sync.settings]` table.
fn home(settings: &str) -> (Home, PathBuf) {
    let h = Home::init(&[], "");
    let drive = h.root.parent().unwrap().join("drive");
    std::fs::create_dir_all(&drive).unwrap();
    write_config(&h, &drive, settings);
    for (c, body) in [("tracks", TRACKS), ("playlists", PLAYLISTS)] {
        let f = h.root.parent().unwrap().join(format!("{c}.csv"));
        std::fs::write(&f, body).unwrap();
        h.ok(&["catalog", "import", c, f.to_str().unwrap()]);
    }
    // Compile the installed components into this home's cache now (a read-only check, which
    // creates nothing), so the timed parts of the tests time the runs, not the compiler.
    assert_eq!(run(&h, "check", json!({}))["duplicates"], json!([]));
    assert!(top_dirs(&drive).is_empty());
    (h, drive)
}

fn write_config(h: &Home, drive: &Path, settings: &str) {
    write_config_reading(h, drive, settings, &["tracks", "playlists"]);
}

fn write_config_reading(h: &Home, drive: &Path, settings: &str, read: &[&str]) {
    let toml = h.root.join("baton.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    if let Some(i) = text.find("\n[plugins.drive-sync]") {
        text.truncate(i + 1);
    }
    text.push_str(&format!(
        "\n[plugins.drive-sync]\ngrants = {{ drive = {{ path = {:?}, writable = true }} }}\n\
         catalog = {{ read = {read:?}, write = [\"tracks\", \"playlists\"] }}\ntime_ms = 60000\n\
         \n[plugins.drive-sync.settings]\n{settings}\n",
        drive.to_str().unwrap()
    ));
    std::fs::write(&toml, text).unwrap();
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes a TASK for drive-sync outside the inbox; `baton run` runs it.
fn task(h: &Home, action: &str, params: Value) -> PathBuf {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let id = format!("DS-{}-{n}", std::process::id());
    let body = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": format!("drive-sync {action}"), "plugin": "drive-sync",
                      "action": action, "params": params});
    let dir = h.root.parent().unwrap().join("tasks");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join(format!("20260118T070951Z__TASK__{id}__Tester-Agent.json"));
    std::fs::write(&f, body.to_string()).unwrap();
    f
}

fn spawn(h: &Home, action: &str, params: Value) -> Child {
    let f = task(h, action, params);
    h.cmd(&["run", f.to_str().unwrap()]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

fn finish(c: Child) -> Value {
    let out = c.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    })
}

/// Runs one action to its RETURN; asserts `completed` and gives the result.
fn run(h: &Home, action: &str, params: Value) -> Value {
    let r = finish(spawn(h, action, params));
    assert_eq!(r["status"], "completed", "{action}: {r:#}");
    r["result"].clone()
}

/// Every file under `root` (relative path → sha256-free content), for byte-for-byte checks.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.insert(p.strip_prefix(root).unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap());
            }
        }
    }
    walk(root, root, &mut out);
    out
}

fn top_dirs(drive: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(drive)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && !n.starts_with('_'))
        .collect();
    v.sort();
    v
}

fn export(h: &Home, c: &str) -> Vec<u8> {
    h.ok(&["catalog", "export", c, "--csv"]).stdout
}

#[test]
fn sync_writes_marked_folders_with_sheets_identical_to_export_and_rewrites_only_what_changed() {
    let (h, drive) = home("");
    let r = run(&h, "sync", json!({}));
    assert_eq!(r["skipped"], Value::Null);
    assert_eq!(top_dirs(&drive), ["Playlists", "Tracks"]);
    for (c, name) in [("tracks", "Tracks"), ("playlists", "Playlists")] {
        let sheet = std::fs::read(drive.join(name).join(format!("{name}.csv"))).unwrap();
        assert_eq!(sheet, export(&h, c), "{c}: the sheet is byte-identical to `baton catalog export {c} --csv`");
        let marker: Value =
            serde_json::from_slice(&std::fs::read(drive.join(name).join(".baton-collection.json")).unwrap()).unwrap();
        assert_eq!(marker["collection"], c);
        assert!(marker["created_at"].is_string() && marker["schema_ids"].is_array(), "{marker}");
        let schema: Value =
            serde_json::from_slice(&std::fs::read(drive.join(name).join("schema.json")).unwrap()).unwrap();
        assert!(
            schema["properties"]
                .as_array()
                .unwrap()
                .iter()
                .all(|p| p["id"].is_string() && p["name"].is_string() && p["kind"].is_string())
        );
        let entry = r["collections"].as_array().unwrap().iter().find(|e| e["name"] == c).unwrap().clone();
        assert_eq!(
            (entry["written"].as_bool(), entry["folder"].as_str().map(|f| f.ends_with(&format!("/{name}")))),
            (Some(true), Some(true)),
            "{entry}"
        );
    }
    let text = std::fs::read_to_string(drive.join("Tracks/Tracks.csv")).unwrap();
    assert!(text.contains("'=HYPERLINK"), "a formula cell carries a leading quote: {text}");
    assert!(std::fs::read_to_string(drive.join("Playlists/Playlists.csv")).unwrap().contains("'@home"));
    assert!(
        text.contains("t3;t1")
            || std::fs::read_to_string(drive.join("Playlists/Playlists.csv")).unwrap().contains("t3;t1"),
        "relations hold the related keys"
    );
    // no temp files left
    assert!(tree(&drive).keys().all(|k| !k.ends_with(".tmp")));

    // nothing changed: nothing written
    let r = run(&h, "sync", json!({}));
    assert!(r["collections"].as_array().unwrap().iter().all(|e| e["written"] == false), "{r}");
    // a playlist renamed: playlists rewritten, tracks not (no link changed)
    let f = h.root.parent().unwrap().join("p.csv");
    std::fs::write(&f, "key,name\np1,Peak Time (edit)\n").unwrap();
    h.ok(&["catalog", "import", "playlists", f.to_str().unwrap()]);
    let r = run(&h, "sync", json!({}));
    let written: BTreeMap<String, bool> = r["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap().to_string(), e["written"].as_bool().unwrap()))
        .collect();
    assert_eq!(written, BTreeMap::from([("playlists".to_string(), true), ("tracks".to_string(), false)]), "{r}");
    assert_eq!(std::fs::read(drive.join("Playlists/Playlists.csv")).unwrap(), export(&h, "playlists"));
}

/// Seed test 1: lock first. A run paused inside the lock has created nothing; a second run
/// that starts meanwhile waits, then finds the first run's folders and creates none.
#[test]
fn lock_first_nothing_is_checked_or_created_before_the_lock() {
    let (h, drive) = home("pause_in_lock_ms = 2500");
    let locks = h.root.join("state/locks/drive-sync");
    let a = spawn(&h, "sync", json!({}));
    let start = Instant::now();
    while std::fs::read_dir(&locks).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "run A never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = spawn(&h, "sync", json!({}));
    std::thread::sleep(Duration::from_millis(1000));
    assert!(top_dirs(&drive).is_empty(), "inside A's pause, before any check: no folder exists yet");
    let (ra, rb) = (finish(a), finish(b));
    assert_eq!((ra["status"].as_str(), rb["status"].as_str()), (Some("completed"), Some("completed")));
    assert_eq!(rb["result"]["skipped"], Value::Null, "B waited for the lock: {rb:#}");
    assert_eq!(top_dirs(&drive), ["Playlists", "Tracks"], "exactly one folder per collection");
    let wrote =
        |r: &Value| r["result"]["collections"].as_array().unwrap().iter().filter(|e| e["written"] == true).count();
    assert_eq!(wrote(&ra) + wrote(&rb), 2, "each sheet written once, by the run that held the lock first");
}

/// Seed test 2: 8 `baton` processes sync one empty drive folder at once.
#[test]
fn eight_concurrent_processes_create_no_duplicate_folder() {
    let (h, drive) = home("");
    let kids: Vec<Child> = (0..8).map(|_| spawn(&h, "sync", json!({}))).collect();
    let results: Vec<Value> = kids.into_iter().map(finish).collect();
    for r in &results {
        assert_eq!(r["status"], "completed", "{r:#}");
    }
    assert_eq!(top_dirs(&drive), ["Playlists", "Tracks"], "0 duplicate folders");
    for (c, name) in [("tracks", "Tracks"), ("playlists", "Playlists")] {
        assert_eq!(std::fs::read(drive.join(name).join(format!("{name}.csv"))).unwrap(), export(&h, c), "{c} complete");
    }
    let check = run(&h, "check", json!({}));
    assert_eq!(check["duplicates"], json!([]), "{check}");
}

/// Seed test 3: a lock held elsewhere gives a clean skip within the timeout.
#[test]
fn a_lock_held_elsewhere_gives_a_clean_skip_within_the_timeout() {
    let (h, drive) = home("lock_timeout_ms = 1500");
    // hold the very lock file the plugin asks for, with a plain flock, from this process
    let name = drive.to_str().unwrap();
    let path = baton_runtime::lock_path(&h.root.join("state/locks"), "drive-sync", name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let f = std::fs::File::create(&path).unwrap();
    rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let t = Instant::now();
    let r = run(&h, "sync", json!({}));
    let took = t.elapsed();
    assert_eq!(r["skipped"], "another run in progress", "{r}");
    assert_eq!(r["collections"], json!([]));
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(10),
        "gave up after the 1.5 s timeout, not much later: {took:?}"
    );
    assert!(top_dirs(&drive).is_empty(), "a skipped run touches nothing");
    drop(f);
}

/// Seed test 4: a second run while one is in progress is skipped, and says so in its log.
#[test]
fn a_second_run_while_one_is_in_progress_is_skipped_and_logged() {
    let (h, drive) = home("pause_in_lock_ms = 4000\nlock_timeout_ms = 1000");
    let locks = h.root.join("state/locks/drive-sync");
    let a = spawn(&h, "sync", json!({}));
    let start = Instant::now();
    while std::fs::read_dir(&locks).map(|d| d.count()).unwrap_or(0) == 0 {
        assert!(start.elapsed() < Duration::from_secs(60), "run A never took the lock");
        std::thread::sleep(Duration::from_millis(20));
    }
    let rb = finish(spawn(&h, "sync", json!({})));
    assert_eq!(rb["status"], "completed");
    assert_eq!(rb["result"]["skipped"], "another run in progress");
    assert!(
        rb["summary"].as_str().unwrap().contains("another run in progress"),
        "the skip is said in the RETURN: {rb:#}"
    );
    let ra = finish(a);
    assert_eq!(ra["result"]["skipped"], Value::Null);
    assert_eq!(top_dirs(&drive), ["Playlists", "Tracks"]);
}

/// A pre-seeded tree: Tracks, Tracks (1), Tracks (2) with overlapping, identical and clashing
/// files, plus a conflicted copy.
fn seed_duplicates(drive: &Path) {
    let w = |rel: &str, body: &str| {
        let p = drive.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    w("Tracks/Tracks.csv", "_key,Title\nt1,A\n");
    w("Tracks/notes.txt", "mine");
    w("Tracks/Tracks (conflicted copy 2026-01-18).csv", "_key,Title\nt1,B\n");
    w("Tracks (1)/Tracks.csv", "_key,Title\nt1,A\n"); // identical
    w("Tracks (1)/cover.jpg", "jpeg bytes"); // only here
    w("Tracks (2)/Tracks.csv", "_key,Title\nt1,C\n"); // clashing
    w("Tracks (2)/notes.txt", "mine"); // identical
    w("Tracks (2)/sub/deep.txt", "deep"); // a folder only here
}

fn hashes(drive: &Path) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = tree(drive).into_values().collect();
    v.sort();
    v
}

/// Seed test 5: check reports; consolidate --execute leaves one folder with every byte kept
/// (canonical + trash); undo restores the tree byte for byte.
#[test]
fn existing_duplicates_are_reported_merged_without_loss_and_undone_byte_for_byte() {
    let (h, drive) = home("");
    seed_duplicates(&drive);
    let before = tree(&drive);
    let c = run(&h, "check", json!({}));
    let dups = c["duplicates"].as_array().unwrap();
    assert_eq!(dups.len(), 1, "{c:#}");
    assert_eq!(dups[0]["collection"], "tracks");
    assert_eq!(dups[0]["folders"].as_array().unwrap().len(), 3);
    assert!(
        c["conflict_copies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p.as_str().unwrap().ends_with("Tracks (conflicted copy 2026-01-18).csv")),
        "{c:#}"
    );
    assert_eq!(tree(&drive), before, "check is read-only");

    let dry = run(&h, "consolidate", json!({}));
    assert_eq!(dry["executed"], false);
    assert!(!dry["moves"].as_array().unwrap().is_empty());
    assert_eq!(tree(&drive), before, "a dry run moves nothing");

    let r = run(&h, "consolidate", json!({"execute": true}));
    assert_eq!(r["executed"], true);
    assert_eq!(top_dirs(&drive), ["Tracks"], "one folder left: {r:#}");
    assert_eq!(
        hashes(&drive),
        before.values().cloned().collect::<Vec<_>>().tap_sort(),
        "the multiset of file contents is unchanged"
    );
    assert_eq!(
        std::fs::read_to_string(drive.join("Tracks/Tracks (from Tracks (2)).csv")).unwrap(),
        "_key,Title\nt1,C\n"
    );
    assert_eq!(std::fs::read_to_string(drive.join("Tracks/cover.jpg")).unwrap(), "jpeg bytes");
    assert!(drive.join("Tracks/sub/deep.txt").is_file());
    assert!(
        tree(&drive).keys().any(|k| k.starts_with("_baton_trash/") && k.ends_with("Tracks (1)/Tracks.csv")),
        "the identical copy is in the trash"
    );
    for m in r["moves"].as_array().unwrap() {
        assert!(m["from"].is_string() && m["to"].is_string() && m["reason"].is_string(), "{m}");
    }

    let u = run(&h, "undo", json!({"batch": r["batch"]}));
    assert_eq!(u["batch"], r["batch"]);
    assert_eq!(u["skipped"], json!([]), "{u}");
    assert_eq!(tree(&drive), before, "undo restores the tree byte for byte");
    assert!(!drive.join("_baton_trash").exists() || tree(&drive.join("_baton_trash")).is_empty());
}

trait TapSort {
    fn tap_sort(self) -> Self;
}
impl TapSort for Vec<Vec<u8>> {
    fn tap_sort(mut self) -> Self {
        self.sort();
        self
    }
}

#[test]
fn kill_9_during_consolidate_then_a_rerun_completes_and_loses_nothing() {
    let (h, drive) = home("pause_in_lock_ms = 700");
    seed_duplicates(&drive);
    let before = hashes(&drive);
    let mut a = spawn(&h, "consolidate", json!({"execute": true}));
    // the pause falls inside the lock and between moves: kill once the first move is done
    let start = Instant::now();
    while !drive.join("Tracks/cover.jpg").exists() && !drive.join("_baton_trash").exists() {
        assert!(start.elapsed() < Duration::from_secs(30), "consolidate never started moving");
        std::thread::sleep(Duration::from_millis(10));
    }
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    assert_eq!(hashes(&drive), before, "every byte still somewhere after the kill");
    assert!(top_dirs(&drive).len() > 1, "the kill came mid-batch");
    write_config(&h, &drive, "");
    let r = run(&h, "consolidate", json!({"execute": true}));
    assert_eq!(r["executed"], true, "{r:#}");
    assert_eq!(top_dirs(&drive), ["Tracks"]);
    assert_eq!(hashes(&drive), before, "nothing lost");
    assert_eq!(run(&h, "check", json!({}))["duplicates"], json!([]));
}

#[test]
fn a_property_rename_and_a_removal_keep_every_value() {
    let (h, drive) = home("");
    run(&h, "sync", json!({}));
    h.ok(&["catalog", "property", "rename", "tracks", "album", "Record"]);
    h.ok(&["catalog", "property", "remove", "tracks", "duration_ms"]);
    let c = run(&h, "check", json!({}));
    let drift = &c["schema_drift"][0];
    assert_eq!(drift["collection"], "tracks", "{c:#}");
    assert_eq!(drift["removed"], json!(["duration_ms"]));
    assert_eq!(drift["renamed"], json!([{"id": "album", "from": "Album", "to": "Record"}]));
    let r = run(&h, "sync", json!({}));
    let t = r["collections"].as_array().unwrap().iter().find(|e| e["name"] == "tracks").unwrap();
    assert_eq!(t["written"], true);
    let sheet = std::fs::read(drive.join("Tracks/Tracks.csv")).unwrap();
    assert_eq!(sheet, export(&h, "tracks"));
    let text = String::from_utf8(sheet).unwrap();
    assert!(
        text.starts_with("_key,")
            && text.lines().next().unwrap().contains("Record")
            && !text.lines().next().unwrap().contains("Album"),
        "{text}"
    );
    assert!(text.contains("Power Corruption & Lies"), "renamed column keeps its values");
    let archived: Vec<(String, Vec<u8>)> = tree(&drive)
        .into_iter()
        .filter(|(k, _)| k.starts_with("_archive/tracks/duration_ms__") && k.ends_with(".csv"))
        .collect();
    assert_eq!(archived.len(), 1, "{:?}", tree(&drive).keys().collect::<Vec<_>>());
    let col = String::from_utf8(archived[0].1.clone()).unwrap();
    for v in ["t1,448000", "t2,1000", "t3,367000"] {
        assert!(col.contains(v), "the removed column keeps {v}: {col}");
    }
    // a renamed collection (its display name, in settings) renames its folder and sheet
    write_config(&h, &drive, "names = { tracks = \"Music Tracks\" }");
    run(&h, "sync", json!({}));
    assert_eq!(top_dirs(&drive), ["Music Tracks", "Playlists"]);
    assert_eq!(std::fs::read(drive.join("Music Tracks/Music Tracks.csv")).unwrap(), export(&h, "tracks"));
    assert!(!drive.join("Music Tracks/Tracks.csv").exists());
    let marker: Value =
        serde_json::from_slice(&std::fs::read(drive.join("Music Tracks/.baton-collection.json")).unwrap()).unwrap();
    assert_eq!(marker["collection"], "tracks");
}

#[test]
fn an_edited_sheet_is_preserved_reported_and_accepted_back() {
    let (h, drive) = home("");
    run(&h, "sync", json!({}));
    let path = drive.join("Tracks/Tracks.csv");
    let edited = std::fs::read_to_string(&path).unwrap().replace("Windowlicker", "Windowlicker (Remaster)");
    std::fs::write(&path, &edited).unwrap();
    let c = run(&h, "check", json!({}));
    let e = &c["edited"].as_array().unwrap()[0];
    assert_eq!(
        (e["collection"].as_str(), e["records"].as_u64(), e["cells"].as_u64()),
        (Some("tracks"), Some(1), Some(1)),
        "{c:#}"
    );
    // the catalog changes elsewhere: the sync rewrites the sheet, but keeps the edited one
    let f = h.root.parent().unwrap().join("t.csv");
    std::fs::write(&f, "key,album\nt1,\"Power, Corruption & Lies\"\n").unwrap();
    h.ok(&["catalog", "import", "tracks", f.to_str().unwrap()]);
    let r = run(&h, "sync", json!({}));
    assert_eq!(r["edits_found"], 1, "{r:#}");
    let kept: Vec<Vec<u8>> =
        tree(&drive).into_iter().filter(|(k, _)| k.starts_with("_archive/")).map(|(_, v)| v).collect();
    assert!(kept.iter().any(|v| v == edited.as_bytes()), "the edited sheet is kept in _archive/");
    // more edits: one in a sync-conflict copy only, one to a relation, one that the catalog
    // changed too
    let now = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        drive.join("Tracks/Tracks (conflicted copy 2026-01-18).csv"),
        now.replace("Blue Monday", "Blue Tuesday"),
    )
    .unwrap();
    std::fs::write(&path, now.replace(",Formula,", ",Formula X,")).unwrap();
    std::fs::write(&f, "key,album\nt2,Formula Y\n").unwrap();
    h.ok(&["catalog", "import", "tracks", f.to_str().unwrap()]);
    let pl = drive.join("Playlists/Playlists.csv");
    std::fs::write(&pl, std::fs::read_to_string(&pl).unwrap().replace("t3;t1", "t1")).unwrap();
    // accept-edits: a dry run, then for real; recorded in the catalog's history by drive-sync
    let dry = run(&h, "accept-edits", json!({}));
    assert_eq!(dry["executed"], false);
    assert_eq!(dry["applied"].as_array().unwrap().len(), 1, "{dry:#}");
    assert_eq!(dry["applied"][0]["key"], "t3");
    let conflicts = dry["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{dry:#}");
    assert_eq!(conflicts[0]["cell"]["key"], "t2");
    let refused = dry["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 2, "{dry:#}");
    assert!(
        refused.iter().any(|r| r["cell"]["key"] == "p1" && r["reason"].as_str().unwrap().contains("relation")),
        "{dry:#}"
    );
    assert!(
        refused.iter().any(|r| r["cell"]["key"] == "t1" && r["reason"].as_str().unwrap().contains("sync-conflict")),
        "{dry:#}"
    );
    let shown = String::from_utf8(h.ok(&["catalog", "show", "tracks"]).stdout).unwrap();
    assert!(!shown.contains("Remaster"), "a dry run writes nothing");
    let acc = run(&h, "accept-edits", json!({"execute": true}));
    assert_eq!(acc["executed"], true, "{acc:#}");
    assert_eq!(acc["applied"].as_array().unwrap().len(), 1);
    let shown = String::from_utf8(h.ok(&["catalog", "show", "tracks"]).stdout).unwrap();
    assert!(
        shown.contains("Formula Y") && !shown.contains("Formula X") && !shown.contains("Blue Tuesday"),
        "conflicts and refusals are not applied: {shown}"
    );
    let hist = h.json(&["catalog", "history", "tracks", "t3", "--json"]).to_string();
    assert!(hist.contains("drive-sync") && hist.contains("Remaster"), "{hist}");
    let u = run(&h, "undo", json!({"batch": acc["batch"]}));
    assert_eq!(u["restored"], 1, "{u}");
    let shown = String::from_utf8(h.ok(&["catalog", "show", "tracks"]).stdout).unwrap();
    assert!(!shown.contains("Remaster"), "undone: {shown}");
}

/// The host's read-only views are mirrored too when granted, and a sync never writes to them.
#[test]
fn granted_read_only_views_handoffs_and_audit_gaps_get_folders_too() {
    let (h, drive) = home("");
    write_config_reading(&h, &drive, "", &["tracks", "playlists", "handoffs", "audit_gaps"]);
    let r = run(&h, "sync", json!({}));
    let names: Vec<&str> = r["collections"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"handoffs") && names.contains(&"audit_gaps"), "{r:#}");
    assert_eq!(top_dirs(&drive), ["Audit Gaps", "Handoffs", "Playlists", "Tracks"]);
    let sheet = std::fs::read_to_string(drive.join("Handoffs/Handoffs.csv")).unwrap();
    assert!(sheet.starts_with("_key,"), "{sheet}");
    let marker: Value =
        serde_json::from_slice(&std::fs::read(drive.join("Audit Gaps/.baton-collection.json")).unwrap()).unwrap();
    assert_eq!(marker["collection"], "audit_gaps");
}

/// Every content in `before` is still somewhere in the drive (counted with multiplicity): in the
/// canonical folder, `_baton_trash/` or `_archive/`.
fn all_kept(before: &[Vec<u8>], drive: &Path) {
    let mut after = hashes(drive);
    for b in before {
        let i = after.iter().position(|a| a == b).unwrap_or_else(|| {
            panic!(
                "lost: {:?}; the drive now holds {:?}",
                String::from_utf8_lossy(b),
                tree(drive).keys().collect::<Vec<_>>()
            )
        });
        after.remove(i);
    }
}

/// `sync {"consolidate_first": true}` on a tree with `Tracks`, `Tracks (1)`, `Tracks (2)`:
/// merged first, then one folder written; nothing is lost, the sheet that baton did not write
/// included (kept in `_archive/` before it is replaced).
#[test]
fn sync_with_consolidate_first_merges_duplicates_then_writes_one_folder() {
    let (h, drive) = home("");
    seed_duplicates(&drive);
    let before = hashes(&drive);
    let r = run(&h, "sync", json!({"consolidate_first": true}));
    assert_eq!(r["skipped"], Value::Null, "{r:#}");
    assert_eq!(r["duplicates_found"], 0, "{r:#}");
    assert_eq!(top_dirs(&drive), ["Playlists", "Tracks"]);
    assert_eq!(std::fs::read(drive.join("Tracks/Tracks.csv")).unwrap(), export(&h, "tracks"));
    assert_eq!(
        std::fs::read_to_string(drive.join("Tracks/cover.jpg")).unwrap(),
        "jpeg bytes",
        "merged from Tracks (1)"
    );
    assert!(drive.join("Tracks/sub/deep.txt").is_file(), "merged from Tracks (2)");
    let replaced: Vec<String> =
        tree(&drive).into_keys().filter(|k| k.starts_with("_archive/tracks/Tracks__replaced__")).collect();
    assert_eq!(
        replaced.len(),
        1,
        "the sheet baton did not write is archived: {:?}",
        tree(&drive).keys().collect::<Vec<_>>()
    );
    all_kept(&before, &drive);
    let c = run(&h, "check", json!({}));
    assert_eq!(c["duplicates"], json!([]), "{c:#}");
    // without it, a duplicate is only reported
    let (h2, drive2) = home("");
    seed_duplicates(&drive2);
    let r = run(&h2, "sync", json!({}));
    assert_eq!(r["duplicates_found"], 1, "{r:#}");
    assert_eq!(top_dirs(&drive2), ["Playlists", "Tracks", "Tracks (1)", "Tracks (2)"]);
}

fn marker(drive: &Path, folder: &str, collection: &str, created_at: &str) {
    std::fs::create_dir_all(drive.join(folder)).unwrap();
    let m = json!({"collection": collection, "schema_ids": [], "created_at": created_at});
    std::fs::write(drive.join(folder).join(".baton-collection.json"), m.to_string()).unwrap();
}

/// Several folders with the same marker: the one whose marker was written first is canonical,
/// even when its name is the numbered one. The sync writes there only; consolidate merges the
/// other into it, and the next sync gives it the collection's name.
#[test]
fn the_folder_whose_marker_was_written_first_is_canonical() {
    let (h, drive) = home("");
    marker(&drive, "Tracks (1)", "tracks", "2026-01-01T00:00:00Z");
    marker(&drive, "Tracks", "tracks", "2026-02-01T00:00:00Z");
    std::fs::write(drive.join("Tracks/mine.txt"), "kept").unwrap();
    let r = run(&h, "sync", json!({}));
    let t = r["collections"].as_array().unwrap().iter().find(|e| e["name"] == "tracks").unwrap().clone();
    assert!(t["folder"].as_str().unwrap().ends_with("/Tracks (1)"), "{r:#}");
    assert_eq!(std::fs::read(drive.join("Tracks (1)/Tracks.csv")).unwrap(), export(&h, "tracks"));
    assert!(!drive.join("Tracks/Tracks.csv").exists(), "the later twin is not written");
    assert_eq!(r["duplicates_found"], 1, "{r:#}");
    let c = run(&h, "check", json!({}));
    assert_eq!(c["duplicates"][0]["canonical"].as_str().map(|s| s.ends_with("/Tracks (1)")), Some(true), "{c:#}");
    assert_eq!(c["duplicates"][0]["folders"].as_array().unwrap().len(), 2, "{c:#}");
    let m = run(&h, "consolidate", json!({"execute": true}));
    assert_eq!(m["executed"], true, "{m:#}");
    assert_eq!(top_dirs(&drive), ["Playlists", "Tracks (1)"]);
    assert_eq!(std::fs::read_to_string(drive.join("Tracks (1)/mine.txt")).unwrap(), "kept");
    run(&h, "sync", json!({}));
    assert_eq!(
        top_dirs(&drive),
        ["Playlists", "Tracks"],
        "the canonical folder takes the collection's name once it is free"
    );
    let kept: Value =
        serde_json::from_slice(&std::fs::read(drive.join("Tracks/.baton-collection.json")).unwrap()).unwrap();
    assert_eq!(kept["created_at"], "2026-01-01T00:00:00Z", "the first-written marker stays");
    assert_eq!(std::fs::read(drive.join("Tracks/Tracks.csv")).unwrap(), export(&h, "tracks"));
}

/// A sheet over the kv copy limit (`copy_max_bytes`, lowered here) keeps one hash per cell: an
/// edit is still found per record and column (its old value unknown), kept when the sheet is
/// rewritten, accepted back, and reported as a conflict once the catalog changed too.
#[test]
fn per_cell_hash_mode_finds_keeps_and_accepts_edits() {
    let (h, drive) = home("copy_max_bytes = 10");
    run(&h, "sync", json!({}));
    let path = drive.join("Tracks/Tracks.csv");
    let edited = std::fs::read_to_string(&path).unwrap().replace("Windowlicker", "Windowlicker (Remaster)");
    std::fs::write(&path, &edited).unwrap();
    let c = run(&h, "check", json!({}));
    let e = &c["edited"].as_array().unwrap()[0];
    assert_eq!(
        (e["collection"].as_str(), e["records"].as_u64(), e["cells"].as_u64()),
        (Some("tracks"), Some(1), Some(1)),
        "{c:#}"
    );
    let dry = run(&h, "accept-edits", json!({}));
    assert_eq!(dry["applied"].as_array().unwrap().len(), 1, "{dry:#}");
    assert_eq!(
        (dry["applied"][0]["key"].as_str(), dry["applied"][0]["to"].as_str()),
        (Some("t3"), Some("Windowlicker (Remaster)")),
        "{dry:#}"
    );
    let acc = run(&h, "accept-edits", json!({"execute": true}));
    assert_eq!(acc["executed"], true, "{acc:#}");
    assert!(
        String::from_utf8(h.ok(&["catalog", "show", "tracks"]).stdout).unwrap().contains("Windowlicker (Remaster)")
    );
    // the next sync writes the sheet again (the catalog changed); then an edit, and the
    // catalog changes the same record meanwhile: with no old value to compare, a conflict
    let r = run(&h, "sync", json!({}));
    assert_eq!(
        r["collections"].as_array().unwrap().iter().find(|e| e["name"] == "tracks").unwrap()["written"],
        true,
        "{r:#}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), export(&h, "tracks"));
    let now = std::fs::read_to_string(&path).unwrap();
    let edited = now.replace(",Formula,", ",Formula X,");
    std::fs::write(&path, &edited).unwrap();
    let f = h.root.parent().unwrap().join("t.csv");
    std::fs::write(&f, "key,album\nt2,Formula Y\n").unwrap();
    h.ok(&["catalog", "import", "tracks", f.to_str().unwrap()]);
    let dry = run(&h, "accept-edits", json!({}));
    let conflicts = dry["conflicts"].as_array().unwrap();
    assert_eq!(conflicts.len(), 1, "{dry:#}");
    assert_eq!(
        (conflicts[0]["cell"]["key"].as_str(), conflicts[0]["base_value"].clone()),
        (Some("t2"), Value::Null),
        "{dry:#}"
    );
    // the sync rewrites the sheet and keeps the edited one
    let r = run(&h, "sync", json!({}));
    assert_eq!(r["edits_found"], 1, "{r:#}");
    assert!(
        tree(&drive).into_iter().any(|(k, v)| k.starts_with("_archive/") && v == edited.as_bytes()),
        "the edited sheet is kept in _archive/"
    );
    assert_eq!(std::fs::read(&path).unwrap(), export(&h, "tracks"));
}

/// testkit with `name` in its `describe()` (see tests/catalog_plugin.rs), installed in `h`.
fn install_testkit(h: &Home) {
    let mut bytes = baton_bundle::get("testkit").expect("testkit is bundled").wasm.to_vec();
    let slot = b"@@testkit-name@@";
    let at = bytes.windows(slot.len()).position(|w| w == slot).expect("the name slot");
    let name = &mut bytes[at + slot.len()..at + slot.len() + 32];
    name.fill(0);
    name[..7].copy_from_slice(b"testkit");
    let src = h.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&src, bytes).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap(), "--json", "--yes"]);
}

/// A property another plugin adds to `tracks` becomes a new column at the next sync, with its
/// values; nothing is archived, the other columns keep theirs.
#[test]
fn a_new_property_adds_a_column() {
    let (h, drive) = home("");
    run(&h, "sync", json!({}));
    install_testkit(&h);
    let toml = h.root.join("baton.toml");
    let mut text = std::fs::read_to_string(&toml).unwrap();
    text.push_str("\n[plugins.testkit]\ncatalog = { write = [\"tracks\"] }\n");
    std::fs::write(&toml, text).unwrap();
    let body = json!({"schema": "baton.handoff/v1", "id": "TK-1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                      "from": "Tester-Agent", "title": "add a property", "plugin": "testkit", "action": "catalog",
                      "params": {"calls": [
                          {"op": "ensure", "collection": "tracks", "properties": [{"id": "testkit.mood", "name": "Mood", "kind": "select"}]},
                          {"op": "upsert", "collection": "tracks", "records": [{"key": "t1", "props": {"testkit.mood": "dark"}}]}]}});
    let f = h.root.parent().unwrap().join("20260118T070951Z__TASK__TK-1__Tester-Agent.json");
    std::fs::write(&f, body.to_string()).unwrap();
    let out = h.ok(&["run", f.to_str().unwrap()]);
    let ret: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ret["status"], "completed", "{ret:#}");
    assert!(ret["result"]["results"].as_array().unwrap().iter().all(|r| r.get("ok").is_some()), "{ret:#}");
    let before = std::fs::read_to_string(drive.join("Tracks/Tracks.csv")).unwrap();
    let r = run(&h, "sync", json!({}));
    let t = r["collections"].as_array().unwrap().iter().find(|e| e["name"] == "tracks").unwrap().clone();
    assert_eq!(t["written"], true, "{r:#}");
    let sheet = std::fs::read_to_string(drive.join("Tracks/Tracks.csv")).unwrap();
    assert_eq!(sheet.as_bytes(), export(&h, "tracks"));
    let header = sheet.lines().next().unwrap();
    assert_eq!(header, format!("{},Mood", before.lines().next().unwrap()), "one column added at the end");
    assert!(sheet.lines().any(|l| l.starts_with("t1,") && l.ends_with(",dark")), "{sheet}");
    for old in before.lines().skip(1) {
        let key = old.split(',').next().unwrap();
        let now = sheet.lines().find(|l| l.split(',').next() == Some(key)).unwrap();
        assert!(now.starts_with(old), "{key}: every old value kept: {old} / {now}");
    }
    assert!(!tree(&drive).keys().any(|k| k.starts_with("_archive/")), "nothing archived for an added column");
    let schema: Value = serde_json::from_slice(&std::fs::read(drive.join("Tracks/schema.json")).unwrap()).unwrap();
    assert!(
        schema["properties"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == "testkit.mood" && p["name"] == "Mood" && p["kind"] == "select"),
        "{schema}"
    );
}
