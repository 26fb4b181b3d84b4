//! Transient faults pause and retry, never fail or repeat: the real `baton` binary
//! on temporary folders, with faults injected through the `failpoints` feature's `BATON_FAULT`
//! failpoint (see `baton_home::failpoint::fault`): a fault lasts while the test's flag file
//! exists, as a permission flip, a read-only remount or an I/O error lasts a few seconds on a
//! real machine (root ignores permission bits). Where a failpoint would only imitate the fault,
//! the fault is the real one: strace's syscall fault injection on a running `serve`, and an
//! inotify watch limit set in a user namespace of the test's own. Each test
//! asserts exactly one RETURN per TASK, agreeing with its record, once the fault has passed.
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support;
use support::Home;

const A: &str = "Claude-Code-Agent";

fn home() -> Home {
    Home::init_on(None, &[], "")
}

/// A home with the bundled `testkit` plugin installed, its `data` grant read-only, and `more`
/// appended to its `[plugins.testkit]` table.
fn with_testkit(more: &str) -> Home {
    let extra = format!("\n[plugins.testkit]\ngrants = {{ data = \"data\" }}\n{more}");
    let h = Home::init_on(None, &[], &extra);
    std::fs::create_dir_all(h.root.join("data")).unwrap();
    let src = h.root.parent().unwrap().join("testkit.wasm");
    std::fs::write(&src, baton_bundle::get("testkit").expect("testkit is bundled").wasm).unwrap();
    h.ok(&["plugin", "install", src.to_str().unwrap()]);
    h
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn task(id: &str) -> Value {
    json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
           "from": A, "title": format!("Echo {id}"), "plugin": "echo", "action": "echo", "params": {"n": id}})
}

fn drop_tasks(h: &Home, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        h.drop_file(format!("20260118T070951Z__TASK__T{i:05}__{A}.json"), task(id).to_string());
    }
}

fn ids(n: usize, prefix: &str) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

/// Kills a daemon however the test ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fault that lasts while its flag file exists.
struct Fault {
    flag: PathBuf,
    spec: String,
}

impl Fault {
    fn new(h: &Home, spec: &str) -> Self {
        let flag = h.root.parent().unwrap().join("fault-on");
        std::fs::write(&flag, b"").unwrap();
        Fault { flag, spec: spec.to_string() }
    }
    fn apply(&self, c: &mut std::process::Command) {
        c.env("BATON_FAULT", &self.spec).env("BATON_FAULT_WHILE", &self.flag);
    }
    fn pass(&self) {
        let _ = std::fs::remove_file(&self.flag);
    }
}

fn serve_with(h: &Home, fault: &Fault) -> Daemon {
    let mut c = h.cmd(&["serve"]);
    fault.apply(&mut c);
    let log = h.root.parent().unwrap().join("serve.log");
    c.env("BATON_LOG", "info").stdout(Stdio::null()).stderr(std::fs::File::create(log).unwrap());
    Daemon(c.spawn().unwrap())
}

fn serve_log(h: &Home) -> String {
    std::fs::read_to_string(h.root.parent().unwrap().join("serve.log")).unwrap_or_default()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every id answered once, `status`; originals filed where the status says; nothing held.
/// Once the fault passes, every TASK in `ids` is answered and no claim is left; then each has
/// exactly one `completed` RETURN (after a short settle, so a late duplicate would show).
fn pass_then_each_answered_once(h: &Home, fault: &Fault, ids: &[String]) {
    fault.pass();
    wait_until("every RETURN", Duration::from_secs(20), || h.returns(A).len() == ids.len() && claims_held(h) == 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_once(h, ids, "completed");
}

fn assert_once(h: &Home, ids: &[String], status: &str) {
    let returns = h.returns(A);
    for id in ids {
        let r = returns.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(r.len(), 1, "task {id}: {} RETURNs: {r:?}", r.len());
        assert_eq!(r[0]["status"], status, "{id}: {}", r[0]);
    }
    assert_eq!(returns.len(), ids.len(), "no RETURN for anything else");
    let filed = if status == "completed" { "02_processed" } else { "03_failed" };
    let originals = names(&h.dir("baton", filed)).into_iter().filter(|n| !n.ends_with(".error.json")).count();
    assert_eq!(originals, ids.len(), "{filed}: {:?}", names(&h.dir("baton", filed)));
    if status == "completed" {
        assert!(names(&h.dir("baton", "03_failed")).is_empty(), "03_failed: {:?}", names(&h.dir("baton", "03_failed")));
    }
    assert!(names(&h.inbox()).is_empty());
}

fn claims_held(h: &Home) -> usize {
    let root = h.dir("baton", ".claims");
    std::fs::read_dir(root)
        .map(|d| d.flatten().filter(|e| e.path().is_dir()).map(|e| names(&e.path()).len()).sum())
        .unwrap_or(0)
}

/// An attempt's RETURN is staged, its link into the reply inbox fails (EIO) and the item is
/// deferred; the TASK then succeeds on its next attempt. The first attempt's staged `failed`
/// RETURN used to be delivered for the second attempt's `completed` answer, and its
/// `.error.json` stayed in `03_failed/` without an original. Now the next attempt delivers
/// its own answer and the old records are moved aside into `.superseded/`, journaled.
#[test]
fn a_deferred_attempts_staged_return_is_never_delivered_for_a_later_answer() {
    let h = with_testkit("");
    let fault = Fault::new(&h, "link=EIO");
    let _d = serve_with(&h, &fault);
    let body = json!({"schema": "baton.handoff/v1", "id": "READ-1", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
        "from": A, "title": "Read it", "plugin": "testkit", "action": "read", "params": {"path": "/data/x.txt"}});
    h.drop_file(format!("20260118T070951Z__TASK__Read__{A}.json"), body.to_string());
    // The first attempt fails (no such file), stages its RETURN, cannot link it.
    let outbox = h.dir("baton", ".outbox");
    wait_until("the first attempt staged its RETURN", Duration::from_secs(20), || {
        names(&outbox).iter().any(|n| n.contains("__RETURN__"))
    });
    std::fs::write(h.root.join("data").join("x.txt"), "here now").unwrap();
    fault.pass();
    wait_until("a RETURN", Duration::from_secs(20), || !h.returns(A).is_empty());
    std::thread::sleep(Duration::from_millis(800));
    assert_once(&h, &["READ-1".to_string()], "completed");
    assert_eq!(h.returns(A)["READ-1"][0]["result"]["text"], "here now");
    let show = h.json(&["show", "READ-1", "--json"]);
    assert_eq!(show["task"]["state"], "completed", "{show}");
    let aside = names(&h.dir("baton", ".superseded"));
    assert!(aside.iter().any(|n| n.contains("__RETURN__")), "the first attempt's RETURN is kept aside: {aside:?}");
    assert!(aside.iter().any(|n| n.ends_with(".error.json")), "and its record: {aside:?}");
    let journal = std::fs::read_to_string(h.dir("baton", ".superseded").join("journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 2, "{journal}");
}

/// Killed after its RETURNs were delivered and marked `.sent`, before the ledger commit, then
/// restarted with the marks 8 days old (a restart a week later, a clock jump): the marks
/// still guard their claims, so no TASK gets a second RETURN. Marks whose claim is gone are
/// dropped, whatever their age.
#[test]
fn outbox_marks_live_as_long_as_their_claims_whatever_their_age() {
    use std::os::unix::process::ExitStatusExt;
    let h = home();
    let ids = ids(20, "OLD");
    drop_tasks(&h, &ids);
    let out = h.cmd(&["serve", "--once"]).env("BATON_FAILPOINT", "after_return").output().unwrap();
    assert_eq!(out.status.signal(), Some(9), "the failpoint killed the process");
    let outbox = h.dir("baton", ".outbox");
    let marks: Vec<String> = names(&outbox).into_iter().filter(|n| n.ends_with(".sent")).collect();
    // The failpoint fires after the first group of RETURNs; under load the 20 tasks can finish
    // in more than one group, so the first group may hold fewer than 20.
    assert!((1..=20).contains(&marks.len()), "{marks:?}");
    // A leftover mark of a claim filed long ago (a crash between filing and forgetting it).
    let stale = outbox.join("20250101T000000Z__RETURN__Gone-0123456789__baton.json.sent");
    std::fs::write(&stale, b"{}").unwrap();
    let week_ago = std::time::SystemTime::now() - Duration::from_secs(8 * 24 * 3600);
    for n in names(&outbox) {
        std::fs::File::options().write(true).open(outbox.join(n)).unwrap().set_modified(week_ago).unwrap();
    }
    h.ok(&["serve", "--once"]);
    assert_once(&h, &ids, "completed");
    assert!(!stale.exists(), "a mark no claim names is dropped");
    assert!(names(&outbox).is_empty(), "{:?}", names(&outbox));
}

/// A state that is deleted, emptied (0 bytes) or replaced by another database, where the
/// home served from one, stops `serve` with a clear message; `--new-state` accepts it.
#[test]
fn a_missing_empty_or_replaced_state_stops_serve_unless_new_state() {
    let h = home();
    let ids = ids(1, "ST");
    drop_tasks(&h, &ids);
    h.ok(&["serve", "--once"]);
    let state = h.root.join("state").join("baton.sqlite");
    assert!(state.exists());
    let kept = h.root.join("kept.sqlite");
    std::fs::rename(&state, &kept).unwrap();
    let _ = std::fs::remove_file(h.root.join("state").join("baton.sqlite-wal"));
    let _ = std::fs::remove_file(h.root.join("state").join("baton.sqlite-shm"));
    for (what, prepare) in [("missing", None), ("empty (0 bytes)", Some(&b""[..]))] {
        if let Some(bytes) = prepare {
            std::fs::write(&state, bytes).unwrap();
        }
        let out = h.run(&["serve", "--once"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{what}: serve must refuse");
        assert!(err.contains(&format!("is {what}")) && err.contains("--new-state"), "{what}: {err}");
        assert_eq!(
            std::fs::metadata(&state).map(|m| m.len()).ok(),
            prepare.map(|b| b.len() as u64),
            "{what}: nothing created"
        );
    }
    // A new database at that path (a deleted WAL that held everything looks the same).
    std::fs::remove_file(&state).unwrap();
    // A fresh database at that path (`baton status` no longer creates one).
    rusqlite::Connection::open(&state).unwrap().execute_batch("CREATE TABLE t(x)").unwrap();
    let out = h.run(&["serve", "--once"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("without its id"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The right file back: serve goes on, and the answered TASK dropped again is a duplicate.
    std::fs::remove_file(&state).unwrap();
    std::fs::rename(&kept, &state).unwrap();
    drop_tasks(&h, &ids);
    h.ok(&["serve", "--once"]);
    assert_eq!(h.returns(A)["ST000"].len(), 1, "answered once, not run again");
    // On purpose: --new-state, once.
    std::fs::remove_file(&state).unwrap();
    h.ok(&["serve", "--once", "--new-state"]);
    h.ok(&["serve", "--once"]);
}

/// The reply inbox unwritable (EACCES) and then `.outbox/` read-only (EROFS) for a while: the
/// TASKs that finish meanwhile wait with their claims, nothing is filed in `03_failed/`, the
/// warning names the folder that failed, and every RETURN is delivered once it passes.
#[test]
fn an_unwritable_reply_inbox_or_outbox_waits_and_delivers_once_writable() {
    for (spec, folder) in
        [("link=EACCES", format!("handoffs/{A}/01_inbox")), ("stage=EROFS", "handoffs/baton/.outbox".to_string())]
    {
        let h = home();
        let fault = Fault::new(&h, spec);
        let _d = serve_with(&h, &fault);
        let ids = ids(30, "D");
        drop_tasks(&h, &ids);
        wait_until("every claim held", Duration::from_secs(20), || {
            claims_held(&h) == 30 && names(&h.inbox()).is_empty()
        });
        std::thread::sleep(Duration::from_millis(1500));
        assert!(h.returns(A).is_empty(), "{spec}: nothing delivered while the fault lasts");
        assert!(names(&h.dir("baton", "03_failed")).is_empty(), "{spec}: a delivery error fails nothing");
        let log = serve_log(&h);
        assert!(log.contains(&folder), "{spec}: the warning names {folder}:\n{log}");
        assert!(
            log.lines().filter(|l| l.contains("will try again")).count() < 10,
            "{spec}: warnings are rate-limited:\n{log}"
        );
        pass_then_each_answered_once(&h, &fault, &ids);
    }
}

/// `03_failed/` unwritable while malformed files arrive: they wait, then each ends with one
/// RETURN (`rejected`, `invalid`) and a record that says the same.
#[test]
fn an_unwritable_failed_folder_gives_each_handoff_one_outcome() {
    let h = home();
    let fault = Fault::new(&h, "record=EACCES");
    let _d = serve_with(&h, &fault);
    for i in 0..10 {
        h.drop_file(
            format!("20260118T070951Z__TASK__Bad{i}__{A}.json"),
            format!("{{\"schema\": \"baton.handoff/v1\", \"id\": \"BAD{i}\"}}"),
        );
    }
    wait_until("every claim held", Duration::from_secs(20), || claims_held(&h) == 10);
    std::thread::sleep(Duration::from_millis(1200));
    assert!(h.returns(A).is_empty(), "nothing answered while the record cannot be written");
    fault.pass();
    wait_until("every RETURN", Duration::from_secs(30), || claims_held(&h) == 0);
    std::thread::sleep(Duration::from_millis(300));
    let returns = h.returns(A);
    let failed = h.dir("baton", "03_failed");
    let records: Vec<Value> = names(&failed)
        .iter()
        .filter(|n| n.ends_with(".error.json"))
        .map(|n| serde_json::from_slice(&std::fs::read(failed.join(n)).unwrap()).unwrap())
        .collect();
    assert_eq!(records.len(), 10);
    let all: Vec<&Value> = returns.values().flatten().collect();
    assert_eq!(all.len(), 10, "one RETURN each: {returns:?}");
    for r in all {
        assert_eq!(r["error"]["code"], "invalid", "{r}");
    }
    for record in &records {
        assert_eq!(record["code"], "invalid", "{record}");
        let file = h.dir(A, "01_inbox").join(record["return"].as_str().expect("the record names its RETURN"));
        let r: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(r["error"]["code"], record["code"], "the RETURN and the record agree");
    }
}

/// EIO on stat of a claimed file for a while is a pause, not a permanent `internal` rejection.
#[test]
fn an_io_error_on_a_claimed_file_is_a_pause() {
    let h = home();
    let fault = Fault::new(&h, "stat_claim=EIO");
    let _d = serve_with(&h, &fault);
    let ids = ids(5, "EIO");
    drop_tasks(&h, &ids);
    wait_until("every claim held", Duration::from_secs(20), || claims_held(&h) == 5);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(h.returns(A).is_empty() && names(&h.dir("baton", "03_failed")).is_empty());
    pass_then_each_answered_once(&h, &fault, &ids);
}

/// EIO while reading the handoffs root's identity (a `statx` that fails for a while) is a
/// pause, not "the handoffs folder was moved, deleted or replaced": serve stays up and
/// answers what was dropped meanwhile once it passes.
#[test]
fn an_io_error_reading_the_handoffs_root_is_a_pause_not_an_exit() {
    let h = home();
    let fault = Fault::new(&h, "root_stat=EIO");
    let mut d = serve_with(&h, &fault);
    let ids = ids(10, "ROOT");
    drop_tasks(&h, &ids);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.0.try_wait().unwrap().is_none(), "serve is still running:\n{}", serve_log(&h));
    pass_then_each_answered_once(&h, &fault, &ids);
    assert!(serve_log(&h).contains("cannot read the handoffs folder"), "{}", serve_log(&h));
}

/// No inotify instance (the per-user limit reached): serve falls back to reading the inboxes,
/// with one warning that says why and how to raise the limit, and answers everything.
#[test]
fn without_a_file_watch_serve_polls_and_says_how_to_raise_the_limit() {
    let h = Home::init_on(None, &[("reconcile_secs", "3600")], "");
    let fault = Fault::new(&h, "inotify=EMFILE");
    let _d = serve_with(&h, &fault);
    std::thread::sleep(Duration::from_millis(800));
    let ids = ids(5, "POLL");
    drop_tasks(&h, &ids);
    wait_until("every RETURN", Duration::from_secs(10), || h.returns(A).len() == 5 && claims_held(&h) == 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_once(&h, &ids, "completed");
    let log = serve_log(&h);
    assert_eq!(log.matches("max_user_instances").count(), 1, "one warning with the fix:\n{log}");
    // Polling, not spinning: an idle second costs little CPU.
    let cpu = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", _d.0.id())).unwrap();
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(1));
    let ticks = cpu() - before;
    assert!(ticks < 30, "an idle second without a watch took {ticks} clock ticks of CPU");
}

/// baton's `01_inbox/` as a symlink to another file system: refused at start with the reason,
/// instead of a drain that claims nothing and says "drained: 0 completed".
#[test]
fn an_inbox_linked_to_another_file_system_is_refused_at_start() {
    let h = home();
    let elsewhere = Path::new("/dev/shm").join(format!("baton-faults-{}", std::process::id()));
    if std::fs::create_dir_all(&elsewhere).is_err()
        || std::fs::metadata(&elsewhere).map(|m| std::os::unix::fs::MetadataExt::dev(&m)).ok()
            == std::fs::metadata(&h.root).map(|m| std::os::unix::fs::MetadataExt::dev(&m)).ok()
    {
        eprintln!("skipped: /dev/shm is not another file system here");
        return;
    }
    std::fs::remove_dir(h.inbox()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, h.inbox()).unwrap();
    std::fs::write(elsewhere.join(format!("20260118T070951Z__TASK__Link__{A}.json")), task("LINK").to_string())
        .unwrap();
    let out = h.run(&["serve", "--once"]);
    let _ = std::fs::remove_dir_all(&elsewhere);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("another file system") && err.contains("01_inbox"), "{err}");
}

/// `serve --once` waits out separate blips (here: `.outbox/` unwritable twice, 1.5 s each)
/// however many there are, and gives up only after `give_up_after` without progress, saying
/// what it waited for.
#[test]
fn serve_once_retries_for_give_up_after_not_a_count() {
    let h = Home::init_on(None, &[], "");
    let toml = h.root.join("baton.toml");
    let text = std::fs::read_to_string(&toml).unwrap().replace("give_up_after = \"10m\"", "give_up_after = \"4s\"");
    std::fs::write(&toml, text).unwrap();
    let ids = ids(10, "BLIP");
    drop_tasks(&h, &ids);
    let fault = Fault::new(&h, "stage=ENOSPC");
    let mut c = h.cmd(&["serve", "--once"]);
    fault.apply(&mut c);
    let child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    fault.pass();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_once(&h, &ids, "completed");
    // A fault that does not pass: the drain gives up after give_up_after, and says why.
    let more = ids.iter().map(|i| format!("{i}-2")).collect::<Vec<_>>();
    for (i, id) in more.iter().enumerate() {
        h.drop_file(format!("20260118T070951Z__TASK__M{i:05}__{A}.json"), task(id).to_string());
    }
    let fault = Fault::new(&h, "stage=ENOSPC");
    let mut c = h.cmd(&["serve", "--once"]);
    fault.apply(&mut c);
    let started = Instant::now();
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(4) && started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(err.contains("give_up_after"), "{err}");
    fault.pass();
    // Passes that fail (the state disk full) for longer than give_up_after: exit 2 then, not
    // after a count of growing pauses (8 of them took two minutes).
    let fault = Fault::new(&h, "pass=ENOSPC");
    let mut c = h.cmd(&["serve", "--once"]);
    fault.apply(&mut c);
    let started = Instant::now();
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());
    assert!(err.contains("give_up_after") && err.contains("No space left"), "{err}");
    fault.pass();
    h.ok(&["serve", "--once"]);
    let returns = h.returns(A);
    assert!(more.iter().all(|id| returns.get(id).map(Vec::len) == Some(1)), "answered once by the next drain");
}

/// EIO on the group's sync (`fdatasync`/`syncfs`): no RETURN is made visible after its sync
/// failed; the items are written again and answered once when syncs work again.
#[test]
fn a_failed_sync_never_makes_a_return_visible() {
    let h = home();
    let fault = Fault::new(&h, "sync=EIO");
    let _d = serve_with(&h, &fault);
    let ids = ids(20, "SYNC");
    drop_tasks(&h, &ids);
    wait_until("every claim held", Duration::from_secs(20), || claims_held(&h) == 20);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(h.returns(A).is_empty(), "nothing visible while syncs fail");
    let outbox = h.dir("baton", ".outbox");
    assert!(
        names(&outbox).iter().all(|n| n.starts_with(".baton-tmp")),
        "nothing named in the outbox either: {:?}",
        names(&outbox)
    );
    pass_then_each_answered_once(&h, &fault, &ids);
}

/// A handoff that names a key twice is refused as `invalid` (serde's last-one-wins would run
/// one meaning of a file that reads as another), and a TASK past its `deadline` is answered
/// `canceled` with that reason, not run.
#[test]
fn duplicate_keys_are_invalid_and_a_task_past_its_deadline_is_canceled() {
    let h = home();
    let dup = format!(
        r#"{{"schema": "baton.handoff/v1", "id": "DUP", "kind": "task", "created_at": "2026-01-18T07:09:51Z", "from": "{A}",
            "title": "Dup", "plugin": "echo", "plugin": "audit", "action": "echo", "params": {{}}}}"#
    );
    h.drop_file(format!("20260118T070951Z__TASK__Dup__{A}.json"), dup);
    let mut late = task("LATE");
    late["deadline"] = json!("2026-01-18T08:00:00Z");
    h.drop_file(format!("20260118T070951Z__TASK__Late__{A}.json"), late.to_string());
    let mut soon = task("SOON");
    soon["deadline"] = json!("2999-01-01T00:00:00Z");
    h.drop_file(format!("20260118T070951Z__TASK__Soon__{A}.json"), soon.to_string());
    h.ok(&["serve", "--once"]);
    let returns = h.returns(A);
    let dup_return = returns
        .values()
        .flatten()
        .find(|r| r["error"]["code"] == "invalid")
        .expect("a RETURN for the file with a key twice");
    assert_eq!(dup_return["status"], "rejected");
    assert!(dup_return["error"]["message"].as_str().unwrap().contains("duplicate key \"plugin\""), "{dup_return}");
    assert_eq!(returns["LATE"].len(), 1);
    assert_eq!(returns["LATE"][0]["status"], "canceled", "{}", returns["LATE"][0]);
    assert_eq!(returns["LATE"][0]["error"]["code"], "deadline_passed");
    assert!(returns["LATE"][0]["error"]["message"].as_str().unwrap().contains("2026-01-18T08:00:00Z"));
    assert!(returns["LATE"][0]["result"].get("n").is_none(), "not run");
    assert_eq!(returns["SOON"][0]["status"], "completed");
}

/// `plugins/` unreadable for a while: a plugin that was installed and loaded does not vanish
/// because a listing failed; TASKs that name it meanwhile run with the loaded component.
#[test]
fn a_failed_listing_of_plugins_keeps_the_loaded_plugins() {
    let h = home();
    let flag = h.root.parent().unwrap().join("fault-on");
    let _ = std::fs::remove_file(&flag);
    let fault = Fault { flag: flag.clone(), spec: "plugins_list=EACCES".into() };
    let _d = serve_with(&h, &fault);
    let first = ids(1, "BEFORE");
    drop_tasks(&h, &first);
    wait_until("the first RETURN", Duration::from_secs(20), || h.returns(A).len() == 1);
    std::fs::write(&flag, b"").unwrap(); // the fault starts now
    std::thread::sleep(Duration::from_millis(1500)); // a few passes (reconcile_secs = 1)
    let during: Vec<String> = ids(8, "DURING");
    for (i, id) in during.iter().enumerate() {
        h.drop_file(format!("20260118T070951Z__TASK__D{i:05}__{A}.json"), task(id).to_string());
    }
    wait_until("every RETURN", Duration::from_secs(20), || h.returns(A).len() == 9 && claims_held(&h) == 0);
    fault.pass();
    std::thread::sleep(Duration::from_millis(300));
    let all: Vec<String> = first.into_iter().chain(during).collect();
    assert_once(&h, &all, "completed");
}

/// SIGTERM with tasks in flight: a clean stop (exit 0), with no tokio shutdown panic or
/// backtrace on stderr; what was in flight runs next time.
#[test]
fn sigterm_with_tasks_in_flight_prints_no_panic() {
    let h = with_testkit("time_ms = 60000\n");
    for once in [false, true] {
        for i in 0..4 {
            let body = json!({"schema": "baton.handoff/v1", "id": format!("SLOW{once}{i}"), "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                "from": A, "title": "Slow", "plugin": "testkit", "action": "sleep", "params": {}});
            h.drop_file(format!("20260118T070951Z__TASK__Slow{i}__{A}.json"), body.to_string());
        }
        let args: &[&str] = if once { &["serve", "--once"] } else { &["serve"] };
        let child =
            h.cmd(args).env("RUST_BACKTRACE", "1").stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        wait_until("the tasks claimed", Duration::from_secs(30), || claims_held(&h) >= 4);
        std::thread::sleep(Duration::from_millis(700));
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(child.id() as i32).unwrap(),
            rustix::process::Signal::TERM,
        )
        .unwrap();
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "once={once}: {:?}\n{err}", out.status);
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "once={once}: a panic on stderr:\n{err}");
    }
}

/// A PostgreSQL "server" that accepts connections and never answers: `baton status` and
/// `baton serve --once` end with a message that says so, instead of waiting for good.
#[test]
fn a_postgres_server_that_never_answers_is_reported_not_waited_for() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = held.clone();
    std::thread::spawn(move || {
        for s in listener.incoming().flatten() {
            keep.lock().unwrap().push(s); // accepted, never answered
        }
    });
    let h = home();
    let url = format!("postgres://baton@127.0.0.1:{port}/baton?connect_timeout=1");
    for args in [&["status"][..], &["serve", "--once"][..]] {
        let started = Instant::now();
        let out = h.cmd(args).env("BATON_STATE", &url).output().unwrap();
        let err = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(started.elapsed() < Duration::from_secs(15), "{args:?}: took {:?}", started.elapsed());
        assert!(err.contains("did not answer"), "{args:?}: {err}");
    }
}

/// A TCP proxy to a private PostgreSQL server's socket that can go silent. Each connection's
/// start-up goes through (the session is established); what the client sends after it reaches
/// the server only until `silent` is set. From then on connections stay open and nothing more
/// is answered, as with a server SIGSTOPped or a link gone silent mid-session.
struct SilentProxy {
    port: u16,
    silent: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SilentProxy {
    fn start(socket: PathBuf) -> Self {
        use std::io::{Read, Write};
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = silent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = std::os::unix::net::UnixStream::connect(&socket) else { continue };
                let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                });
                let flag = flag.clone();
                std::thread::spawn(move || {
                    let (mut from_client, mut to_server) = (client, server);
                    // The start-up packet (after an SSL or GSS request, if any): a length that
                    // counts itself, then a protocol code.
                    loop {
                        let mut len = [0u8; 4];
                        if from_client.read_exact(&mut len).is_err() {
                            return;
                        }
                        let mut rest = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                        if from_client.read_exact(&mut rest).is_err()
                            || to_server.write_all(&len).and_then(|()| to_server.write_all(&rest)).is_err()
                        {
                            return;
                        }
                        let code = rest.get(..4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                        if !matches!(code, Some(80877103 | 80877104)) {
                            break;
                        }
                    }
                    let mut buf = [0u8; 8192];
                    loop {
                        match from_client.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(_) if flag.load(Ordering::SeqCst) => {} // swallowed: never answered
                            Ok(n) => {
                                if to_server.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to_server.shutdown(std::net::Shutdown::Write);
                });
            }
        });
        SilentProxy { port, silent }
    }

    fn go_silent(&self) {
        self.silent.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits at most `limit` for `child` to exit; kills it and fails the test if it does not.
fn exits_within(child: &mut Child, limit: Duration, what: &str, log: impl Fn() -> String) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still waiting after {limit:?}\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `baton ARGS`, which must fail within `limit` (it is killed at 30 s); its stdout and
/// stderr.
fn fails_within(h: &Home, args: &[&str], limit: Duration) -> String {
    let started = Instant::now();
    let mut child = h.cmd(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let st = exits_within(&mut child, Duration::from_secs(30), &format!("baton {args:?}"), String::new);
    let took = started.elapsed();
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut out).unwrap();
    assert!(!st.success(), "baton {args:?} succeeded: {out}");
    assert!(took < limit, "baton {args:?} took {took:?}: {out}");
    out
}

/// Sends SIGTERM to `serve`; it must exit 0 within `limit`.
fn stops_on_sigterm_within(serve: &mut Child, limit: Duration, log: impl Fn() -> String) {
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(serve.id() as i32).unwrap(),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let stopping = Instant::now();
    let st = exits_within(serve, Duration::from_secs(20), "serve after SIGTERM", &log);
    let took = stopping.elapsed();
    assert!(st.success(), "{st:?}\n{}", log());
    assert!(took < limit, "serve took {took:?} to stop on SIGTERM\n{}", log());
}

/// A PostgreSQL server that stops answering once sessions are established (the proxy above
/// swallows everything after the start-up): a `baton serve` held in a ledger call says so and
/// stops promptly on SIGTERM; `baton status` fails within its bound naming the server, instead
/// of waiting for good. `statement_timeout=2` and `connect_timeout=1`: each call waits at most
/// their sum, 3 s (docs/faults.md).
#[test]
fn a_postgres_server_that_stops_answering_mid_session_bounds_every_call() {
    let Some(pg) = support::pg::Pg::start() else { return };
    pg.create_db("silent");
    let proxy = SilentProxy::start(pg.socket_dir.join(".s.PGSQL.5432"));
    let url = format!("postgres://postgres@127.0.0.1:{}/silent?connect_timeout=1&statement_timeout=2", proxy.port);
    let h = Home::init_on(Some(&url), &[("reconcile_secs", "1")], "");
    h.ok(&["status"]);
    // serve answers through the proxy, then the server goes silent with a pass in a call.
    let log = h.root.parent().unwrap().join("serve.log");
    let mut serve = h
        .cmd(&["serve"])
        .env("BATON_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let serve_log = || std::fs::read_to_string(&log).unwrap_or_default();
    drop_tasks(&h, &["LIVE1".to_string()]);
    wait_until("the first RETURN, through the proxy", Duration::from_secs(30), || h.returns(A).len() == 1);
    proxy.go_silent();
    h.drop_file(format!("20260118T070951Z__TASK__Silent__{A}.json"), task("SILENT1").to_string());
    wait_until("serve says the server did not answer", Duration::from_secs(20), || {
        serve_log().contains("did not answer")
    });
    assert!(serve.try_wait().unwrap().is_none(), "a silent server is a pause, serve goes on:\n{}", serve_log());
    std::thread::sleep(Duration::from_millis(1200)); // into the next attempt's held call
    stops_on_sigterm_within(&mut serve, Duration::from_secs(8), serve_log);
    assert!(
        serve_log().contains(&format!("127.0.0.1:{}", proxy.port)),
        "the message names the server:\n{}",
        serve_log()
    );
    assert_eq!(h.returns(A).len(), 1, "nothing answered while the server was silent");
    // status: a fresh session, established, then nothing answered.
    let err = fails_within(&h, &["status"], Duration::from_secs(10));
    assert!(err.contains("did not answer within 3 s") && err.contains(&format!("127.0.0.1:{}", proxy.port)), "{err}");
    assert!(err.contains("statement_timeout="), "the message names the setting: {err}");
    // The catalog's session follows the same policy (`baton_store::link`): opening the catalog
    // on the silent server fails within the same bound, naming it (it used to wait for good).
    let err = fails_within(&h, &["catalog", "collections"], Duration::from_secs(10));
    assert!(err.contains("catalog database") && err.contains("did not answer within 3 s"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{}", proxy.port)), "{err}");
    // SIGTERM does not wait for a call's whole bound (here 61 s): a held call ends at once.
    let long = SilentProxy::start(pg.socket_dir.join(".s.PGSQL.5432"));
    let long_url = format!("postgres://postgres@127.0.0.1:{}/silent?connect_timeout=1&statement_timeout=60", long.port);
    let mut serve = h
        .cmd(&["serve"])
        .env("BATON_STATE", &long_url)
        .env("BATON_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_until("serve serving", Duration::from_secs(30), || serve_log().contains("serving"));
    long.go_silent();
    h.drop_file(format!("20260118T070951Z__TASK__Silent2__{A}.json"), task("SILENT2").to_string());
    std::thread::sleep(Duration::from_millis(1500)); // the pass is in a call the server never answers
    assert!(serve.try_wait().unwrap().is_none(), "{}", serve_log());
    stops_on_sigterm_within(&mut serve, Duration::from_secs(5), serve_log);
}

/// `ulimit -n 48` (macOS's default is 256): a drain of 300 TASKs answers each once, with no
/// error per task; a group holds at most a quarter of the limit open (docs/faults.md).
#[test]
fn a_low_descriptor_limit_is_a_pause_not_an_error_per_task() {
    let h = home();
    let ids = ids(300, "FD");
    drop_tasks(&h, &ids);
    let inner = h.cmd(&["serve", "--once"]);
    let mut c = std::process::Command::new("sh");
    c.arg("-c").arg("ulimit -n 48 && exec \"$0\" \"$@\"").arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("ERROR"), "{err}");
    assert_once(&h, &ids, "completed");
}

/// Killed after an attempt wrote its `.error.json` and before its RETURN was published; the
/// TASK then succeeds when run again: the earlier attempt's record does not stay behind in
/// `03_failed/` without its original (it is moved into `.superseded/`).
#[test]
fn a_crashed_attempts_record_does_not_outlive_a_later_answer() {
    use std::os::unix::process::ExitStatusExt;
    let h = with_testkit("");
    let body = json!({"schema": "baton.handoff/v1", "id": "READ-2", "kind": "task", "created_at": "2026-01-18T07:09:51Z",
        "from": A, "title": "Read it", "plugin": "testkit", "action": "read", "params": {"path": "/data/y.txt"}});
    h.drop_file(format!("20260118T070951Z__TASK__Read__{A}.json"), body.to_string());
    let out = h.cmd(&["serve", "--once"]).env("BATON_FAILPOINT", "after_group_sync").output().unwrap();
    assert_eq!(out.status.signal(), Some(9));
    assert!(
        names(&h.dir("baton", "03_failed")).iter().any(|n| n.ends_with(".error.json")),
        "the first attempt wrote its record"
    );
    std::fs::write(h.root.join("data").join("y.txt"), "now").unwrap();
    h.ok(&["serve", "--once"]);
    assert_once(&h, &["READ-2".to_string()], "completed");
    assert!(names(&h.dir("baton", ".superseded")).iter().any(|n| n.ends_with(".error.json")));
}

/// baton's `01_inbox/` unreadable for a while (EACCES on its listing): a pause, not exit 2.
#[test]
fn an_unreadable_inbox_is_a_pause_not_an_exit() {
    let h = home();
    let fault = Fault::new(&h, "inbox_list=EACCES");
    let mut d = serve_with(&h, &fault);
    let ids = ids(5, "INB");
    drop_tasks(&h, &ids);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.0.try_wait().unwrap().is_none(), "serve is still running:\n{}", serve_log(&h));
    assert!(h.returns(A).is_empty());
    pass_then_each_answered_once(&h, &fault, &ids);
}

/// EIO on the `stat` of an installed plugin's file for a while (a flaky disk under
/// `plugins/`): the plugin does not vanish. TASKs naming it meanwhile run with the loaded
/// component, none is answered `unknown_plugin`.
#[test]
fn a_failed_stat_of_a_plugin_file_keeps_the_plugin() {
    let h = home();
    let flag = h.root.parent().unwrap().join("fault-on");
    let _ = std::fs::remove_file(&flag);
    let fault = Fault { flag: flag.clone(), spec: "plugin_stat@echo.wasm=EIO".into() };
    let _d = serve_with(&h, &fault);
    let first = ids(1, "BEFORE");
    drop_tasks(&h, &first);
    wait_until("the first RETURN", Duration::from_secs(20), || h.returns(A).len() == 1);
    std::fs::write(&flag, b"").unwrap(); // the fault starts now
    std::thread::sleep(Duration::from_millis(1500)); // a few reload passes (reconcile_secs = 1)
    let during: Vec<String> = ids(8, "DURING");
    for (i, id) in during.iter().enumerate() {
        h.drop_file(format!("20260118T070951Z__TASK__D{i:05}__{A}.json"), task(id).to_string());
    }
    std::thread::sleep(Duration::from_millis(1500));
    fault.pass();
    wait_until("every RETURN", Duration::from_secs(20), || h.returns(A).len() == 9 && claims_held(&h) == 0);
    std::thread::sleep(Duration::from_millis(300));
    let all: Vec<String> = first.into_iter().chain(during).collect();
    assert_once(&h, &all, "completed");
}

/// The existence check of a reply inbox fails (EIO) and `mkdir` answers EEXIST: the inbox
/// exists, and the RETURN is delivered into it; nothing is filed `internal` for "File exists".
#[test]
fn eexist_after_a_failed_check_of_an_inbox_means_it_exists() {
    let h = home();
    std::fs::create_dir_all(h.dir(A, "01_inbox")).unwrap();
    let fault = Fault::new(&h, &format!("mkdir@{A}=EEXIST"));
    let _d = serve_with(&h, &fault);
    let ids = ids(6, "EEXIST");
    drop_tasks(&h, &ids);
    wait_until("every RETURN while the fault lasts", Duration::from_secs(20), || {
        h.returns(A).len() == ids.len() && claims_held(&h) == 0
    });
    fault.pass();
    std::thread::sleep(Duration::from_millis(300));
    assert_once(&h, &ids, "completed");
}

/// The state disk full for a while under a plugin's `kv-set` (SQLite's "database or disk is
/// full"): a host-side fault, so the attempt does not count and the TASK runs again once it
/// has passed. Before, the plugin trapped and every TASK ended `failed`, `trap`.
#[test]
fn a_host_call_failing_for_a_full_disk_is_a_pause_not_a_failure() {
    let h = with_testkit("");
    let fault = Fault::new(&h, "kv_set@testkit=ENOSPC");
    let _d = serve_with(&h, &fault);
    let ids = ids(4, "KV");
    for (i, id) in ids.iter().enumerate() {
        let t = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                       "from": A, "title": "kv", "plugin": "testkit", "action": "transient",
                       "params": {"key": id, "fails": 0}});
        h.drop_file(format!("20260118T070951Z__TASK__K{i:05}__{A}.json"), t.to_string());
    }
    wait_until("every claim held", Duration::from_secs(20), || claims_held(&h) == ids.len());
    std::thread::sleep(Duration::from_millis(2500));
    assert!(h.returns(A).is_empty(), "nothing is answered while the fault lasts: {:?}", h.returns(A));
    assert!(names(&h.dir("baton", "03_failed")).is_empty(), "{:?}", names(&h.dir("baton", "03_failed")));
    pass_then_each_answered_once(&h, &fault, &ids);
    for (id, r) in h.returns(A) {
        assert_eq!(r[0]["result"]["attempts_seen"], 1, "{id}: the failed writes saved nothing: {}", r[0]);
    }
}

/// The handoffs disk full when `serve` starts (its own folders cannot be made): serve waits,
/// says why, and answers what was dropped once space comes back. Before, it exited at once.
#[test]
fn a_full_handoffs_disk_at_start_is_a_pause_not_an_exit() {
    let h = home();
    let ids = ids(5, "FULL");
    drop_tasks(&h, &ids);
    let fault = Fault::new(&h, "start_folders=ENOSPC");
    let mut d = serve_with(&h, &fault);
    std::thread::sleep(Duration::from_millis(2000));
    assert!(d.0.try_wait().unwrap().is_none(), "serve is still running:\n{}", serve_log(&h));
    assert!(h.returns(A).is_empty());
    pass_then_each_answered_once(&h, &fault, &ids);
    let log = serve_log(&h);
    assert!(log.contains("No space left on device") && log.contains("will try again"), "{log}");
    assert!(log.matches("No space left on device").count() <= 2, "rate-limited: {log}");
}

/// The watcher failing every event for a while (a read fault on the folders it watches): each
/// error still means "look again", so everything is answered, but the warning goes through the
/// rate limiter: a line or two, not one per event.
#[test]
fn watcher_errors_are_rate_limited_not_a_flood() {
    let h = home();
    let fault = Fault::new(&h, "watch_event=EIO");
    let _d = serve_with(&h, &fault);
    std::thread::sleep(Duration::from_millis(500));
    let ids = ids(60, "FLOOD");
    drop_tasks(&h, &ids);
    wait_until("every RETURN while the fault lasts", Duration::from_secs(30), || {
        h.returns(A).len() == ids.len() && claims_held(&h) == 0
    });
    pass_then_each_answered_once(&h, &fault, &ids);
    let log = serve_log(&h);
    let lines = log.lines().filter(|l| l.contains("watcher: Input/output error")).count();
    assert!((1..=3).contains(&lines), "{lines} watcher warnings:\n{log}");
}

/// The state deleted under a running `serve` (moved away here, so the test can look at it):
/// serve stops with the reason instead of writing on into a file no path leads to, and
/// `baton status` says the state is missing instead of creating a new, empty one. Before
/// that, EIO on the state's `stat` is a pause, not a stop.
#[test]
fn a_state_deleted_under_serve_stops_it_and_status_creates_none() {
    let h = home();
    let fault = Fault::new(&h, "state_stat=EIO");
    let mut d = serve_with(&h, &fault);
    let ids = ids(3, "DEL");
    drop_tasks(&h, &ids);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.0.try_wait().unwrap().is_none(), "EIO on the state's stat is a pause:\n{}", serve_log(&h));
    pass_then_each_answered_once(&h, &fault, &ids);
    let state = h.root.join("state").join("baton.sqlite");
    std::fs::rename(&state, h.root.join("moved.sqlite")).unwrap();
    let status = exits_within(&mut d.0, Duration::from_secs(10), "serve after its state was deleted", || serve_log(&h));
    assert!(!status.success());
    let log = serve_log(&h);
    assert!(log.contains(&format!("the state {} was deleted while serve was running", state.display())), "{log}");
    let out = h.run(&["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no state at") && err.contains("served from it before"), "{err}");
    assert!(!state.exists(), "status created no state");
}

/// The state's `-wal` file deleted while serve runs, then kill -9: the rows it held are gone
/// (the state's id, checkpointed earlier, is not), and a TASK answered meanwhile, dropped
/// again, ran again. Now serve finds a TASK filed in `02_processed/` that the state has no
/// record of and stops at start with the reason; the TASK is not answered twice. `--new-state`
/// takes the state as it is, once, on purpose.
#[test]
fn a_state_that_lost_its_wal_is_refused_at_start() {
    let h = home();
    // A state with a history, its id and first row checkpointed into the main file.
    h.drop_file(format!("20260118T070950Z__TASK__OLD__{A}.json"), task("OLD").to_string());
    h.ok(&["serve", "--once"]);
    let none = Fault { flag: h.root.parent().unwrap().join("no-fault"), spec: String::new() };
    let mut d = serve_with(&h, &none);
    // Serve's background checkpoint would copy the new rows into the file within half a second;
    // a reader's open snapshot keeps them in the WAL alone, however slow the machine is.
    let reader = PinnedReader::start(&h.root.join("state").join("baton.sqlite"));
    let first = ids(1, "WAL");
    drop_tasks(&h, &first);
    wait_until("the RETURN", Duration::from_secs(20), || h.returns(A).len() == 2 && claims_held(&h) == 0);
    let wal = h.root.join("state").join("baton.sqlite-wal");
    assert!(wal.exists(), "serve writes through the WAL");
    std::fs::remove_file(&wal).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    d.0.kill().unwrap(); // SIGKILL: nothing checkpointed
    let _ = d.0.wait();
    drop(reader);
    drop_tasks(&h, &first); // the answered TASK, dropped again
    let out = h.run(&["serve", "--once"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "serve must refuse a state that lost rows: {err}");
    assert!(err.contains("has lost records") && err.contains("`WAL000`") && err.contains("--new-state"), "{err}");
    assert_eq!(h.returns(A)["WAL000"].len(), 1, "not answered twice");
    // On purpose: taken as it is, once; the next start does not hold the old filings against it.
    h.ok(&["serve", "--once", "--new-state"]);
    h.ok(&["serve", "--once"]);
}

/// Another process reading the ledger, its read transaction held open. SQLite checkpoints no
/// WAL frame past the snapshot of a reader, so whatever is committed after this started stays
/// in the WAL alone while it lives. Killed with SIGKILL when dropped: a reader that closed
/// its connection could checkpoint the rows into the file on its way out.
struct PinnedReader(Child);

impl PinnedReader {
    fn start(db: &Path) -> PinnedReader {
        const READ: &str = "import sqlite3, sys, time\n\
            c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
            c.execute('BEGIN')\n\
            c.execute('SELECT count(*) FROM sqlite_master').fetchone()\n\
            print('reading', flush=True)\n\
            time.sleep(120)\n";
        let mut c = std::process::Command::new("python3")
            .args(["-c", READ])
            .arg(db)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the reader");
        let mut line = String::new();
        let out = c.stdout.take().expect("piped");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
        assert_eq!(line.trim(), "reading", "the reader holds its snapshot");
        PinnedReader(c)
    }
}

impl Drop for PinnedReader {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A TASK file named for `id`, its own name (drop_tasks names files by index).
fn drop_task_named(h: &Home, id: &str) {
    h.drop_file(format!("20260118T070951Z__TASK__{id}__{A}.json"), task(id).to_string());
}

/// Each of `ids` answered once, `completed`, and filed; nothing else answered. The inbox
/// keeps only what baton ignores (`ignored` names).
fn each_answered_once_beside(h: &Home, ids: &[String], ignored: usize) {
    let returns = h.returns(A);
    for id in ids {
        let r = returns.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(r.len(), 1, "task {id}: {} RETURNs: {r:?}", r.len());
        assert_eq!(r[0]["status"], "completed", "{id}: {}", r[0]);
    }
    assert_eq!(returns.len(), ids.len(), "no RETURN for anything else");
    assert_eq!(names(&h.dir("baton", "02_processed")).len(), ids.len());
    assert_eq!(names(&h.inbox()).len(), ignored, "the inbox keeps the ignored names, and only them");
}

/// Issue 55, fault 8: "100,000 ignored names beside a trickle of TASKs". Every pass listed and
/// sorted the whole inbox, so each TASK cost a listing of all the names baton ignores. Events
/// drive the scan now: the inbox is listed at start, every `reconcile_secs` and after an event
/// that may have been lost, never per TASK. Counted without a clock: once serve listed the
/// inbox, every further listing fails (EIO), and TASKs dropped one by one are still each
/// answered exactly once, so no pass listed it. Before, each TASK's pass failed at the listing
/// and none was answered while the fault lasted. `/readyz` says how many listings there were.
#[test]
fn a_trickle_of_tasks_beside_20000_ignored_names_never_lists_the_inbox_per_task() {
    // A reconcile every 10 minutes: within this test only the file watch wakes serve.
    let h = Home::init_on(None, &[("reconcile_secs", "600")], "");
    let inbox = h.inbox();
    const IGNORED: usize = 20_000;
    for i in 0..IGNORED {
        let name = match i % 4 {
            0 => format!("note-{i:05}.txt"),
            1 => format!(".hidden-{i:05}.json"),
            2 => format!("20260118T070951Z__TASK__draft{i:05}__{A}.json.swp"),
            _ => format!("scratch-{i:05}.json.tmp"),
        };
        std::fs::write(inbox.join(name), b"").unwrap();
    }
    // The reply agent's inbox is there already: its folder appearing is a folder-level change,
    // which (rightly) asks for a listing.
    std::fs::create_dir_all(h.dir(A, "01_inbox")).unwrap();
    let fault = Fault::new(&h, "inbox_list=EIO");
    fault.pass(); // off until serve has listed the inbox
    let port = crate::dashboard::free_port();
    let mut c = h.cmd(&["serve", "--http", &format!("127.0.0.1:{port}")]);
    fault.apply(&mut c);
    let log = h.root.parent().unwrap().join("serve.log");
    c.env("BATON_LOG", "info").stdout(Stdio::null()).stderr(std::fs::File::create(log).unwrap());
    let _serve = Daemon(c.spawn().unwrap());

    let mut all = vec!["FIRST".to_string()];
    drop_task_named(&h, "FIRST");
    wait_until("the first RETURN", Duration::from_secs(30), || h.returns(A).contains_key("FIRST"));
    // From here on, a listing of the inbox fails.
    std::fs::write(&fault.flag, b"").unwrap();
    for id in ids(10, "TRICKLE") {
        drop_task_named(&h, &id);
        wait_until(&format!("{id}'s RETURN without a listing"), Duration::from_secs(20), || {
            h.returns(A).contains_key(&id)
        });
        all.push(id);
    }
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let ready = support::http::request(addr, "GET", "/readyz", None, &[], b"").unwrap();
    let listings = ready.json()["checks"]["watcher"]["inbox_listings"].as_u64();
    assert!(listings.is_some_and(|n| (1..=2).contains(&n)), "full listings: {listings:?}: {}", ready.text());
    fault.pass();
    std::thread::sleep(Duration::from_millis(300));
    each_answered_once_beside(&h, &all, IGNORED);
    assert!(!serve_log(&h).contains("Input/output error"), "a pass listed the inbox:\n{}", serve_log(&h));
}

/// A TASK whose event never came (the watch lost it without a word: the `watch_drop` fault
/// drops every event) is found by the periodic reconcile, which still lists the whole inbox
/// every `reconcile_secs` now that events drive the other passes; it is answered once.
#[test]
fn a_task_that_came_without_an_event_is_found_by_the_periodic_reconcile() {
    let h = Home::init_on(None, &[("reconcile_secs", "1")], "");
    for i in 0..100 {
        std::fs::write(h.inbox().join(format!("note-{i:03}.txt")), b"").unwrap();
    }
    let fault = Fault::new(&h, "watch_drop=EIO");
    let _serve = serve_with(&h, &fault);
    let mut all = Vec::new();
    for id in ["UNSEEN1", "UNSEEN2"] {
        drop_task_named(&h, id);
        wait_until(&format!("{id} found by the reconcile"), Duration::from_secs(30), || h.returns(A).contains_key(id));
        all.push(id.to_string());
    }
    fault.pass();
    std::thread::sleep(Duration::from_millis(300));
    each_answered_once_beside(&h, &all, 100);
}

/// `c` run under `prefix` (a program and its arguments before `c`'s own), with `c`'s
/// environment.
fn under(prefix: &[&str], c: &std::process::Command) -> std::process::Command {
    let mut w = std::process::Command::new(prefix[0]);
    w.args(&prefix[1..]).arg(c.get_program()).args(c.get_args());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => w.env(k, v),
            None => w.env_remove(k),
        };
    }
    w
}

/// EIO on every few `statx` calls of a running `serve` for a while (strace's fault injection,
/// attached to the live process, as a flaky disk does it): every TASK still gets exactly one
/// `completed` RETURN, none is filed `internal`. Before, the outbox's `.superseded/` was made
/// with `create_dir_all`, whose EEXIST after a failed `stat` failed 12-24 TASKs in 200 with
/// "…/.outbox: File exists (os error 17)", and a failed `stat` of a `.sent` mark read as "not
/// sent".
#[test]
fn eio_on_statx_for_a_while_is_a_pause_and_every_task_is_answered_once() {
    let h = home();
    let fault = Fault::new(&h, "none");
    fault.pass();
    let d = serve_with(&h, &fault);
    wait_until("serve's first pass", Duration::from_secs(20), || serve_log(&h).contains("serving"));
    let strace_log = h.root.parent().unwrap().join("strace.log");
    let mut strace = std::process::Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=statx", "-e", "inject=statx:error=EIO:when=2+3", "-o"])
        .arg(&strace_log)
        .args(["-p", &d.0.id().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("strace (./x setup installs it)");
    // Attached once it has traced a call (every thread of serve is polled by its loop).
    wait_until("strace attached", Duration::from_secs(10), || {
        std::fs::metadata(&strace_log).is_ok_and(|m| m.len() > 0)
    });
    let ids = ids(120, "STATX");
    drop_tasks(&h, &ids);
    // The fault lasts until half the TASKs are answered (or 12 s), then strace detaches.
    let start = Instant::now();
    while h.returns(A).len() < ids.len() / 2 && start.elapsed() < Duration::from_secs(12) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::process::Command::new("kill").args(["-INT", &strace.id().to_string()]).status();
    let _ = strace.wait();
    let injected = std::fs::read_to_string(&strace_log).unwrap_or_default().matches("(INJECTED)").count();
    assert!(injected > 10, "the fault was injected {injected} times: not a test of it");
    wait_until("every RETURN", Duration::from_secs(30), || h.returns(A).len() == ids.len() && claims_held(&h) == 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_once(&h, &ids, "completed");
    drop(d);
}

/// `serve` in a user namespace whose inotify watch limit is `limit` (`max_inotify_watches` is
/// per user namespace, so this machine's limit and the other tests are untouched).
fn serve_with_watch_limit(h: &Home, limit: u32) -> Daemon {
    let mut c = h.cmd(&["serve"]);
    c.env("BATON_LOG", "info");
    let script = format!("echo {limit} > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\"");
    let mut w = under(&["unshare", "--user", "--map-root-user", "sh", "-c", &script], &c);
    let log = h.root.parent().unwrap().join("serve.log");
    w.stdout(Stdio::null()).stderr(std::fs::File::create(log).unwrap());
    Daemon(w.spawn().unwrap())
}

/// A TASK dropped into baton's inbox is answered within `limit`, with `reconcile_secs` an hour
/// away: by a watch or the one-second read, never by the periodic reconcile.
fn answered_within(h: &Home, id: &str, limit: Duration) {
    let start = Instant::now();
    drop_tasks(h, &[id.to_string()]);
    wait_until(&format!("the RETURN of {id} (log:\n{})", serve_log(h)), limit, || h.returns(A).contains_key(id));
    eprintln!("{id} answered in {:?}", start.elapsed());
}

/// With room for two watches, baton's own inbox gets one before any other folder (the
/// plugins and plans folders included): a TASK is answered at once, and the one warning names
/// a folder that is not baton's inbox. Before, the watches went to other folders first and a
/// TASK waited for the reconcile pass.
#[test]
fn out_of_watches_batons_own_inbox_is_watched_first() {
    let h = Home::init_on(None, &[("reconcile_secs", "3600")], "");
    for agent in ["a-agent", "b-agent", "c-agent"] {
        std::fs::create_dir_all(h.dir(agent, "01_inbox")).unwrap();
    }
    let _d = serve_with_watch_limit(&h, 2);
    wait_until("serving", Duration::from_secs(20), || serve_log(&h).contains("serving"));
    std::thread::sleep(Duration::from_millis(300));
    answered_within(&h, "WATCH1", Duration::from_secs(3));
    answered_within(&h, "WATCH2", Duration::from_secs(3));
    let log = serve_log(&h);
    assert_eq!(log.matches("the file watches ran out").count(), 1, "one warning:\n{log}");
    assert!(log.contains("baton's own inbox is watched"), "{log}");
    let line = log.lines().find(|l| l.contains("the file watches ran out")).unwrap_or_default();
    let own = h.inbox().display().to_string();
    assert!(!line.contains(&format!("{own} ")) && !line.ends_with(&own), "the warning names another folder: {line}");
}

/// With no watch to spare at all, the warning says baton's own inbox is not watched either,
/// and that inbox is read every second (a TASK is answered within about a second), not every
/// `reconcile_secs`.
#[test]
fn out_of_watches_before_batons_own_inbox_it_is_read_every_second() {
    let h = Home::init_on(None, &[("reconcile_secs", "3600")], "");
    let _d = serve_with_watch_limit(&h, 0);
    wait_until("serving", Duration::from_secs(20), || serve_log(&h).contains("serving"));
    std::thread::sleep(Duration::from_millis(300));
    answered_within(&h, "POLL1", Duration::from_secs(4));
    answered_within(&h, "POLL2", Duration::from_secs(4));
    let log = serve_log(&h);
    assert_eq!(log.matches("the file watches ran out").count(), 1, "one warning:\n{log}");
    assert!(log.contains("not even baton's own inbox could be watched: it is read every second"), "{log}");
}

/// A home on a read-only mount (a bind mount remounted read-only in a user and mount namespace
/// of the test's own, so nothing else sees it): the commands that only read work, opening the
/// state read-only, and one that must write says why, once, with the fix. Before, every
/// command, `status` included, answered "unable to open database file" three times in a line.
#[test]
fn a_read_only_home_is_read_and_a_write_says_read_only_once_with_the_fix() {
    let h = Home::init(&[], "");
    drop_tasks(&h, &["RO-1".to_string()]);
    h.ok(&["serve", "--once"]);
    std::fs::create_dir_all(h.root.join("plans/src")).unwrap();
    std::fs::write(h.root.join("plans/src/real.py"), "def real():\n    return compute_the_real_thing(1, 2, 3)\n")
        .unwrap();
    std::fs::write(
        h.root.join("plans/GHOST_PLAN.md"),
        "# Ghost plan\n\n- [x] Create `src/ghost.py`\n- [x] Create `src/real.py`\n",
    )
    .unwrap();
    let reports = || std::fs::read_dir(h.root.join("reports")).map_or(0, |d| d.count());
    let reports_before = reports();
    let home = h.root.to_str().unwrap();
    let read_only = |args: &[&str]| {
        let c = h.cmd(args);
        let script =
            format!("mount --bind '{home}' '{home}' && mount -o remount,bind,ro '{home}' && exec \"$0\" \"$@\"");
        under(&["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", &script], &c).output().unwrap()
    };
    let status = read_only(&["status", "--json"]);
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["counts"]["completed"], 1, "{status}");
    let shown = read_only(&["show", "RO-1", "--json"]);
    assert!(shown.status.success(), "{}", String::from_utf8_lossy(&shown.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&shown.stdout).unwrap()["task"]["state"], "completed");
    assert!(read_only(&["inbox", A]).status.success());
    // A write: said once, with the fix.
    let paused = read_only(&["plugin", "pause", "echo"]);
    let err = String::from_utf8_lossy(&paused.stderr);
    assert!(!paused.status.success());
    assert!(err.contains("read-only file system") && err.contains("`--state PATH` or `BATON_STATE`"), "{err}");
    assert_eq!(err.matches("read-only file system").count(), 1, "{err}");
    // `audit --json` reads: the plans audited here, natively, with the folders the audit
    // plugin is granted, nothing written, and the answer says so.
    let audit = read_only(&["audit", "--json"]);
    let err = String::from_utf8_lossy(&audit.stderr);
    assert!(audit.status.success(), "{err}");
    let a: Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(a["written"], false, "{a}");
    assert!(a["not_written"].as_str().is_some_and(|w| w.contains("Read-only file system")), "{a}");
    let claims: Vec<&str> = a["false_claims"].as_array().unwrap().iter().filter_map(|c| c["path"].as_str()).collect();
    assert_eq!(claims, vec!["src/ghost.py"], "the ticked file that is not there, not the one that is: {a}");
    assert!(err.contains("audited without writing a report"), "{err}");
    assert_eq!(reports(), reports_before, "no report written");
    // The audit that writes its report refuses at once (it waited for a remount forever
    // before), naming what works.
    let audit = read_only(&["audit"]);
    let err = String::from_utf8_lossy(&audit.stderr);
    assert_eq!(audit.status.code(), Some(2), "{err}");
    assert!(err.contains("Read-only file system") && err.contains("--home") && err.contains("`audit --json`"), "{err}");
}
