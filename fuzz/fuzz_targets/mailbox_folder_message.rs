//! Folder mailboxes' messages (`<agent>/inbox/*.json|.md|.txt`, `.done` copies), as `baton
//! status` reads them: one file may hold several messages. Checked: a file that reads gives at
//! least one message, and its date, when read from the body or the name, can be printed and says where it came from.
#![no_main]
use baton_mailbox::{Zone, folders, when};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NAMES: [&str; 5] =
    ["msg.json", "2026-01-18_0709_review.md", "20260118T070951Z-note.txt", "reply.md.done", "notes.TXT"];

fuzz_target!(|data: &[u8]| {
    static ZONE: OnceLock<Zone> = OnceLock::new();
    let zone = ZONE.get_or_init(|| Zone::named("Europe/Paris").expect("a bundled zone"));
    baton_fuzz::bounded("mailbox_folder_message", data.len(), || {
        // The input's length picks the name, so a real file seeded whole is read whole.
        let name = NAMES[data.len() % NAMES.len()];
        let Ok(messages) = folders::parse_message(name, data, zone) else { return };
        assert!(!messages.is_empty(), "{name}: read, but no message");
        for m in &messages {
            if let Some(t) = m.created_at {
                // Any year the text names is kept as written (`0000-01-18` is year 0); what
                // must hold is that `status` can print it.
                assert!(!when::rfc3339(t).is_empty(), "{name}: {t}");
                assert!(m.date_source.is_some(), "{name}: a date without its source");
            }
        }
    });
});
