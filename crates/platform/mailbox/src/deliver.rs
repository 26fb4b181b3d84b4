//! Delivery into a Claude Code inbox, under Claude Code's own lock. Claude Code (through the
//! `lockfile` package's protocol) takes `<agent>.json.lock` as a lock by creating that
//! directory with `mkdir`, which is atomic: whoever creates it holds the lock, everyone else
//! retries. A lock directory whose mtime is over [`STALE_LOCK`] old was left by a process that
//! died holding it and is removed. Under the lock the inbox is read, the message appended, the
//! whole array written to a temp file in the same folder and renamed over the inbox (a reader
//! never sees half a file), and the lock directory removed.
//!
//! The messages already there are kept byte for byte: the new one is spliced in before the
//! array's closing bracket, never by writing back a parsed copy. A parsed copy is not the same
//! file: a number past `u64` (a timestamp `1000…0152`) comes back as a rounded float, key order
//! and escapes change. Another agent's message is not baton's to rewrite (the fuzz target
//! `mailbox_claude_inbox` found the rounded number).
//!
//! An OS lock (`flock`) would be invisible to Claude Code: both would write at once and one
//! of the two messages would be lost.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::MailboxError;

/// A lock directory older than this (by mtime) is stale: its owner died.
pub const STALE_LOCK: Duration = Duration::from_secs(10);
/// How long a delivery waits for the lock before giving up.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// A message to append.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub from: String,
    pub text: String,
    pub summary: Option<String>,
    /// RFC 3339 with milliseconds, in UTC (`2026-02-22T16:25:22.959Z`), as Claude Code writes.
    pub timestamp: String,
}

/// The lock directory of an inbox file: `<agent>.json.lock`.
pub fn lock_path(inbox: &Path) -> PathBuf {
    let mut p = inbox.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// The lock, held while this value lives (dropping it removes the directory).
pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// Takes an inbox's lock: `mkdir <inbox>.lock`, retrying with backoff (1 ms doubling to
/// 50 ms, with jitter) until `timeout`; a lock directory over [`STALE_LOCK`] old is removed.
pub fn lock(inbox: &Path, timeout: Duration) -> Result<Lock, MailboxError> {
    let path = lock_path(inbox);
    let start = Instant::now();
    let mut delay = Duration::from_millis(1);
    loop {
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(Lock { path }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if is_stale(&path) {
                    // Another waiter may remove it first: either way it is gone, try again.
                    let _ = std::fs::remove_dir(&path);
                    continue;
                }
            }
            Err(e) => return Err(MailboxError::Io { path: path.display().to_string(), source: e }),
        }
        if start.elapsed() >= timeout {
            return Err(MailboxError::Locked { path: path.display().to_string(), waited: timeout });
        }
        let jitter = rand::random_range(0..=delay.as_micros() as u64 / 2);
        std::thread::sleep(delay + Duration::from_micros(jitter));
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

fn is_stale(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > STALE_LOCK)
}

/// Appends `msg` to the inbox at `inbox` (created as `[]` when missing; its folder must exist)
/// under the lock. Returns the number of messages in the inbox after the append.
///
/// An inbox that is not a JSON array is refused and left as it is: overwriting it would lose
/// what it holds.
pub fn deliver(inbox: &Path, msg: &Outgoing) -> Result<usize, MailboxError> {
    deliver_with(inbox, msg, LOCK_TIMEOUT)
}

/// [`deliver`] with its own lock timeout.
pub fn deliver_with(inbox: &Path, msg: &Outgoing, timeout: Duration) -> Result<usize, MailboxError> {
    append(inbox, msg, timeout, false).map(|(n, _)| n)
}

/// [`deliver_with`] for a delivery that may be made again (a re-run after a crash between the
/// append and its record): under the lock, a message with the same `from`, `timestamp` and
/// `text` already in the inbox (the same message id) is the one this delivery made, and
/// nothing is appended. Returns whether it appended.
pub fn deliver_once(inbox: &Path, msg: &Outgoing, timeout: Duration) -> Result<bool, MailboxError> {
    append(inbox, msg, timeout, true).map(|(_, appended)| appended)
}

/// Whether the inbox holds `msg` (the same `from`, `timestamp` and `text`), read without the
/// lock: Claude Code replaces the file by a rename, so a read sees one whole version. A
/// missing inbox, or one that is no JSON array, holds nothing; a file that cannot be read is
/// an error (not knowing is not "no").
pub fn holds(inbox: &Path, msg: &Outgoing) -> Result<bool, MailboxError> {
    let bytes = match std::fs::read(inbox) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(MailboxError::Io { path: inbox.display().to_string(), source }),
    };
    Ok(serde_json::from_slice::<Vec<Probe>>(&bytes).is_ok_and(|items| items.iter().any(|m| m.is(msg))))
}

/// A visitor's answers for JSON values it reads past: a list is walked and dropped, a number,
/// a bool or `null` is `$none`, as is what the visitor does not take otherwise.
macro_rules! read_past {
    ($t:ty, $none:expr) => {
        fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut s: S) -> Result<$t, S::Error> {
            while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok($none)
        }
        fn visit_bool<E>(self, _: bool) -> Result<$t, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$t, E> {
            Ok($none)
        }
        fn visit_u64<E>(self, _: u64) -> Result<$t, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$t, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<$t, E> {
            Ok($none)
        }
    };
}

/// What a delivery needs of a message already in an inbox: its `from`, `timestamp` and `text`
/// (to find a message delivered before), borrowed from the file's bytes where they hold no
/// escape. Anything else in it, and an entry that is no object, is read past, never kept: an
/// inbox grows to megabytes (Claude Code never removes a message), and parsed whole into
/// JSON values for each delivery it was ten times its size in memory, in `serve`, twice a
/// second.
#[derive(Default)]
struct Probe<'a> {
    from: Option<std::borrow::Cow<'a, str>>,
    timestamp: Option<std::borrow::Cow<'a, str>>,
    text: Option<std::borrow::Cow<'a, str>>,
}

impl Probe<'_> {
    fn is(&self, msg: &Outgoing) -> bool {
        self.from.as_deref() == Some(msg.from.as_str())
            && self.timestamp.as_deref() == Some(msg.timestamp.as_str())
            && self.text.as_deref() == Some(msg.text.as_str())
    }
}

impl<'de: 'a, 'a> serde::Deserialize<'de> for Probe<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probe<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Probe<'de>, M::Error> {
                let mut p = Probe::default();
                while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let slot = match key.as_ref() {
                        "from" => &mut p.from,
                        "timestamp" => &mut p.timestamp,
                        "text" => &mut p.text,
                        _ => {
                            m.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    // A field that is no string is no match (as `Value` compared it).
                    *slot = m.next_value::<Str<'de>>()?.0;
                }
                Ok(p)
            }
            read_past!(Probe<'de>, Probe::default());
            fn visit_str<E>(self, _: &str) -> Result<Probe<'de>, E> {
                Ok(Probe::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// A string, borrowed where it holds no escape; any other JSON value is `None`.
struct Str<'a>(Option<std::borrow::Cow<'a, str>>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, Visitor};
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Some(std::borrow::Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Some(std::borrow::Cow::Owned(v.to_string()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Some(std::borrow::Cow::Owned(v))))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Str<'de>, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Str(None))
            }
            read_past!(Str<'de>, Str(None));
        }
        d.deserialize_any(V)
    }
}

fn append(inbox: &Path, msg: &Outgoing, timeout: Duration, once: bool) -> Result<(usize, bool), MailboxError> {
    let dir = inbox
        .parent()
        .filter(|d| d.is_dir())
        .ok_or_else(|| MailboxError::NoInboxFolder(inbox.display().to_string()))?;
    let _lock = lock(inbox, timeout)?;
    let io = |source| MailboxError::Io { path: inbox.display().to_string(), source };
    let before = match std::fs::read(inbox) {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Vec::new(),
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(io(e)),
    };
    let items: Vec<Probe> = if before.is_empty() {
        Vec::new()
    } else {
        match serde_json::from_slice::<Vec<Probe>>(&before) {
            Ok(a) => a,
            // Said as before: what the file is, when it is valid JSON but no array.
            Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(&before).is_ok() => {
                return Err(MailboxError::NotAnInbox(inbox.display().to_string(), "not a JSON array".into()));
            }
            Err(e) => return Err(MailboxError::NotAnInbox(inbox.display().to_string(), e.to_string())),
        }
    };
    if once && items.iter().any(|m| m.is(msg)) {
        return Ok((items.len(), false));
    }
    let count = items.len();
    drop(items);
    let mut entry = json!({"from": msg.from, "text": msg.text, "timestamp": msg.timestamp, "read": false});
    if let Some(s) = &msg.summary {
        entry["summary"] = json!(s);
    }
    let bytes = spliced(&before, count > 0, &entry).map_err(|e| io(std::io::Error::other(e)))?;
    let name = inbox.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.baton-{}-{:08x}.tmp", std::process::id(), rand::random::<u32>()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, inbox)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok((count + 1, true))
}

/// The inbox `before` (a JSON array, `has_items` when not empty; empty bytes for a missing
/// inbox) with `entry` appended: every byte up to the array's closing bracket kept as it was,
/// then the entry, indented two spaces as Claude Code writes its inboxes.
fn spliced(before: &[u8], has_items: bool, entry: &Value) -> serde_json::Result<Vec<u8>> {
    let entry = serde_json::to_string_pretty(entry)?.replace('\n', "\n  ");
    // Parsed as an array, so its last byte other than white space is the closing bracket.
    let close = before.iter().rposition(|&b| b == b']').filter(|_| has_items);
    let mut out = Vec::with_capacity(before.len() + entry.len() + 8);
    match close {
        Some(at) => {
            let kept = before[..at].trim_ascii_end();
            out.extend_from_slice(kept);
            out.extend_from_slice(b",\n  ");
        }
        None => out.extend_from_slice(b"[\n  "),
    }
    out.extend_from_slice(entry.as_bytes());
    out.extend_from_slice(b"\n]");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(n: usize) -> Outgoing {
        Outgoing {
            from: "baton".into(),
            text: format!("message {n}"),
            summary: Some(format!("m{n}")),
            timestamp: "2026-02-22T16:25:22.959Z".into(),
        }
    }

    #[test]
    fn appends_under_the_lock_and_leaves_no_lock_or_temp() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("worker.json");
        std::fs::write(
            &inbox,
            r#"[{"from":"lead","text":"hi","timestamp":"2026-01-01T00:00:00.000Z","read":true,"color":"blue"}]"#,
        )
        .unwrap();
        assert_eq!(deliver(&inbox, &msg(1)).unwrap(), 2);
        assert_eq!(deliver(&inbox, &msg(2)).unwrap(), 3);
        let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&inbox).unwrap()).unwrap();
        assert_eq!(v[0]["color"], "blue", "what was there is kept as it was");
        assert_eq!(
            v[1],
            json!({"from": "baton", "text": "message 1", "summary": "m1", "timestamp": "2026-02-22T16:25:22.959Z", "read": false})
        );
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["worker.json"]);
    }

    #[test]
    fn the_messages_already_there_are_kept_byte_for_byte() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("worker.json");
        // Key order, an escape, a number past u64 and a float that a parsed copy would each
        // write back differently.
        let before = "[ {\"text\": \"caf\\u00e9\", \"from\": \"lead\", \"timestamp\": 100000000000000000000000000000001,\n  \"read\": true, \"n\": 1.50} ]  \n";
        std::fs::write(&inbox, before).unwrap();
        assert_eq!(deliver(&inbox, &msg(1)).unwrap(), 2);
        let after = std::fs::read_to_string(&inbox).unwrap();
        let kept = before.trim_end().strip_suffix(']').unwrap().trim_end();
        assert!(after.starts_with(kept), "the earlier bytes changed:\n{after}");
        let v: Vec<Value> = serde_json::from_slice(after.as_bytes()).unwrap();
        assert_eq!((v.len(), &v[1]["text"]), (2, &json!("message 1")));
        assert_eq!(deliver(&inbox, &msg(2)).unwrap(), 3);
        assert!(std::fs::read_to_string(&inbox).unwrap().starts_with(&after[..after.len() - 2]));
    }

    /// The fuzz target's input (`tests/fixtures/fuzz/mailbox_claude_inbox/`): an inbox whose
    /// message has a 138-digit number as its timestamp. A parsed copy wrote it back as
    /// `9.999999999999999e137`: another agent's message changed by baton's append.
    #[test]
    fn fuzz_input_an_inbox_with_a_huge_number_is_appended_to_unchanged() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../tests/fixtures/fuzz/mailbox_claude_inbox");
        let mut seen = 0;
        for f in std::fs::read_dir(dir).unwrap() {
            let input = std::fs::read(f.unwrap().path()).unwrap();
            let d = tempfile::tempdir().unwrap();
            let inbox = d.path().join("agent.json");
            std::fs::write(&inbox, &input).unwrap();
            let (messages, _) = crate::claude::parse_inbox(&input).unwrap();
            assert_eq!(deliver(&inbox, &msg(1)).unwrap(), messages.len() + 1);
            let after = std::fs::read(&inbox).unwrap();
            let (back, _) = crate::claude::parse_inbox(&after).unwrap();
            assert_eq!(&back[..messages.len()], &messages[..], "earlier messages changed");
            seen += 1;
        }
        assert!(seen > 0, "no input in {dir}");
    }

    #[test]
    fn a_missing_inbox_is_created_and_a_broken_one_is_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("new.json");
        assert_eq!(deliver(&inbox, &msg(1)).unwrap(), 1);
        let broken = d.path().join("broken.json");
        std::fs::write(&broken, "{\"not\": \"an array\"}").unwrap();
        let e = deliver(&broken, &msg(1)).unwrap_err();
        assert!(e.to_string().contains("broken.json") && e.to_string().contains("not a JSON array"), "{e}");
        assert_eq!(std::fs::read_to_string(&broken).unwrap(), "{\"not\": \"an array\"}");
        assert!(!lock_path(&broken).exists(), "the lock is released on refusal");
        assert!(deliver(&d.path().join("nowhere").join("x.json"), &msg(1)).is_err());
    }

    /// The messages there are read only for what finds a delivery made before: entries that
    /// are no object, fields that are no string and escaped texts are read past or matched as
    /// `Value` matched them, and the count is every entry.
    #[test]
    fn a_delivery_made_again_is_found_among_entries_of_any_shape() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("odd.json");
        let m = Outgoing { text: "line one\n\"quoted\" é".into(), ..msg(7) };
        let there = serde_json::json!([
            1, "x", null, [1, {"from": m.from}], {"from": 5, "text": m.text, "timestamp": m.timestamp},
            {"from": m.from, "timestamp": m.timestamp, "text": m.text, "extra": {"deep": [1, 2.5e300]}}
        ]);
        std::fs::write(&inbox, serde_json::to_string(&there).unwrap()).unwrap();
        assert!(holds(&inbox, &m).unwrap(), "the escaped text matches");
        assert!(!deliver_once(&inbox, &m, LOCK_TIMEOUT).unwrap(), "delivered before: not again");
        let other = Outgoing { timestamp: "2026-02-22T16:25:22.960Z".into(), ..m.clone() };
        assert!(!holds(&inbox, &other).unwrap());
        assert_eq!(deliver(&inbox, &other).unwrap(), 7, "six entries there, whatever their shape, and this one");
    }

    #[test]
    fn a_held_lock_is_waited_for_and_a_stale_one_removed() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("w.json");
        std::fs::create_dir(lock_path(&inbox)).unwrap();
        let e = deliver_with(&inbox, &msg(1), Duration::from_millis(100)).unwrap_err();
        assert!(matches!(e, MailboxError::Locked { .. }), "{e}");
        assert!(!inbox.exists(), "nothing written without the lock");
        // The same lock, 11 s old: stale.
        let old = std::fs::File::open(lock_path(&inbox)).unwrap();
        old.set_modified(SystemTime::now() - Duration::from_secs(11)).unwrap();
        assert_eq!(deliver_with(&inbox, &msg(1), Duration::from_millis(100)).unwrap(), 1);
        assert!(!lock_path(&inbox).exists());
    }

    #[test]
    fn a_delivery_made_again_appends_once() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("w.json");
        assert!(!holds(&inbox, &msg(1)).unwrap());
        assert!(deliver_once(&inbox, &msg(1), LOCK_TIMEOUT).unwrap());
        assert!(holds(&inbox, &msg(1)).unwrap());
        // Claude Code marked it read meanwhile: still the same message.
        let mut v: Vec<Value> = serde_json::from_slice(&std::fs::read(&inbox).unwrap()).unwrap();
        v[0]["read"] = json!(true);
        std::fs::write(&inbox, serde_json::to_vec(&v).unwrap()).unwrap();
        assert!(!deliver_once(&inbox, &msg(1), LOCK_TIMEOUT).unwrap());
        assert!(deliver_once(&inbox, &msg(2), LOCK_TIMEOUT).unwrap());
        let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&inbox).unwrap()).unwrap();
        assert_eq!(v.len(), 2);
        assert!(!lock_path(&inbox).exists());
    }

    #[test]
    fn threads_appending_at_once_lose_nothing() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("w.json");
        std::thread::scope(|s| {
            for t in 0..4 {
                let inbox = &inbox;
                s.spawn(move || {
                    for n in 0..50 {
                        deliver(inbox, &msg(t * 1000 + n)).unwrap();
                    }
                });
            }
        });
        let v: Vec<Value> = serde_json::from_slice(&std::fs::read(&inbox).unwrap()).unwrap();
        assert_eq!(v.len(), 200);
    }
}
