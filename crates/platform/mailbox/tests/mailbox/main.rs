//! The delivery lock against another process: a Python writer following Claude Code's
//! protocol (mkdir `<inbox>.lock`, read, append, temp file, rename, rmdir) and this crate's
//! [`baton_mailbox::deliver`] append 1,000 messages each into one inbox at once, while a
//! reader checks the file is valid JSON every time it looks. None may be lost.
use std::collections::HashSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use baton_mailbox::deliver::{Outgoing, deliver};
use serde_json::Value;

/// The other writer: the same protocol, written from the description in docs/mailboxes.md.
const PYTHON_WRITER: &str = r#"
import json, os, random, sys, time
inbox, n = sys.argv[1], int(sys.argv[2])
lock = inbox + ".lock"
folder = os.path.dirname(inbox)
for i in range(n):
    delay = 0.001
    while True:
        try:
            os.mkdir(lock)
            break
        except FileExistsError:
            try:
                if time.time() - os.stat(lock).st_mtime > 10:
                    os.rmdir(lock)
                    continue
            except FileNotFoundError:
                continue
            time.sleep(delay * (1 + random.random() / 2))
            delay = min(delay * 2, 0.05)
    try:
        try:
            with open(inbox) as f:
                items = json.load(f)
        except FileNotFoundError:
            items = []
        items.append({"from": "python", "text": "py %d" % i, "timestamp": "2026-02-22T16:25:22.959Z", "read": False})
        tmp = os.path.join(folder, ".py-%d-%d.tmp" % (os.getpid(), i))
        with open(tmp, "w") as f:
            # No fsync: Claude Code's own writer does not sync either.
            f.write(json.dumps(items))
        os.rename(tmp, inbox)
    finally:
        os.rmdir(lock)
"#;

#[test]
fn two_processes_append_two_thousand_messages_and_lose_none() {
    const N: usize = 1000;
    let d = tempfile::tempdir().unwrap();
    let inbox = d.path().join("worker.json");
    std::fs::write(&inbox, "[]").unwrap();
    let script = d.path().join("writer.py");
    std::fs::write(&script, PYTHON_WRITER).unwrap();
    let done = AtomicBool::new(false);
    let checks = AtomicUsize::new(0);
    std::thread::scope(|s| {
        // The reader: every read of the inbox is a whole JSON array.
        let reader = s.spawn(|| {
            let mut last = 0;
            while !done.load(Ordering::Relaxed) {
                let bytes = std::fs::read(&inbox).unwrap();
                let v: Vec<Value> = serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("the inbox was not valid JSON when read: {e}"));
                assert!(v.len() >= last, "the inbox shrank from {last} to {} messages", v.len());
                last = v.len();
                checks.fetch_add(1, Ordering::Relaxed);
                // Leave the two writers the CPU (a 2-core machine): a look every 2 ms is plenty.
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        let python = Command::new("python3").arg(&script).arg(&inbox).arg(N.to_string()).spawn().expect("python3 runs");
        for i in 0..N {
            let msg = Outgoing {
                from: "baton".into(),
                text: format!("rs {i}"),
                summary: None,
                timestamp: "2026-02-22T16:25:22.959Z".into(),
            };
            deliver(&inbox, &msg).unwrap();
        }
        let status = python.wait_with_output().unwrap().status;
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap();
        assert!(status.success(), "the Python writer failed: {status}");
    });
    let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&inbox).unwrap()).unwrap();
    let texts: HashSet<&str> = v.iter().filter_map(|m| m["text"].as_str()).collect();
    assert_eq!(v.len(), 2 * N, "messages lost or doubled");
    for i in 0..N {
        assert!(texts.contains(format!("rs {i}").as_str()), "rs {i} lost");
        assert!(texts.contains(format!("py {i}").as_str()), "py {i} lost");
    }
    assert!(checks.load(Ordering::Relaxed) > 10, "the reader looked too few times to mean anything");
    // Nothing left behind: no lock, no temp file.
    let left: Vec<String> =
        std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut left: Vec<&str> = left.iter().map(String::as_str).collect();
    left.sort();
    assert_eq!(left, vec!["worker.json", "writer.py"]);
}
