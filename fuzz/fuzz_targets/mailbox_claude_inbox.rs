//! Claude Code agent-team mailboxes: an inbox file (`<team>/inboxes/<agent>.json`, a JSON array
//! of messages) and a team's `config.json` roster, as `baton status` reads them. Checked:
//! nothing is lost silently (every entry of an array is a message or counted as skipped), every
//! message has a title; and what baton's one write (`deliver`) appends to a valid inbox reads
//! back as the last message, with the earlier ones unchanged.
#![no_main]
use baton_mailbox::claude;
use baton_mailbox::deliver::{self, Outgoing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("mailbox_claude_inbox", data.len(), || {
        let _ = claude::parse_roster(data);
        let Ok((messages, skipped)) = claude::parse_inbox(data) else { return };
        if let Ok(serde_json::Value::Array(items)) = serde_json::from_slice::<serde_json::Value>(data) {
            assert_eq!(messages.len() + skipped, items.len(), "entries neither read nor counted");
        }
        let dir = tempdir();
        let inbox = dir.join("agent.json");
        std::fs::write(&inbox, data).expect("a temp file");
        let text = String::from_utf8_lossy(data.get(..64).unwrap_or(data)).into_owned();
        let out = Outgoing {
            from: "baton".into(),
            text: text.clone(),
            summary: None,
            timestamp: "2026-02-22T16:25:22.959Z".into(),
        };
        if deliver::deliver(&inbox, &out).is_ok() {
            let after = std::fs::read(&inbox).expect("the inbox");
            let (back, _) = claude::parse_inbox(&after).expect("an inbox baton appended to reads back");
            assert_eq!(back.len(), messages.len() + 1, "one message appended");
            assert_eq!(&back[..messages.len()], &messages[..], "earlier messages changed");
            let last = back.last().expect("the appended message");
            assert_eq!((last.from.as_str(), last.text.as_str()), ("baton", text.as_str()));
        }
        let _ = std::fs::remove_dir_all(&dir);
    });
});

/// A fresh folder for one input (the inbox and its lock directory).
fn tempdir() -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "baton-fuzz-mailbox-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("a temp folder");
    dir
}
