//! The Markdown handoff dialect: a trigger file titled by its first heading, with sender,
//! recipient, date and id from its header lines (`**Source Agent:** …`). A Markdown file is
//! always readable (any bytes: lossy UTF-8); checked: it reads as Markdown, with a title, and
//! every time it reports is RFC 3339.
#![no_main]
use baton_handoff::{dialect, stamp};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 4] = [
    "20260120T003500Z__HANDOFF__GAS-Transfer-Implementation.md",
    "webhook-review-20260118.md",
    "20260118T070951Z__RETURN__Review__Cursor.markdown",
    "NOTES.MD",
];

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("handoff_markdown", data.len(), || {
        // The input's length picks the name, so a real file seeded whole is read whole.
        let (pick, body) = (data.len(), data);
        let name = NAMES[pick % NAMES.len()];
        let seen = dialect::read(name, body).expect("a Markdown file is always readable");
        assert_eq!(seen.dialect, dialect::Dialect::Markdown);
        assert!(!seen.title.is_empty());
        if let Some(t) = &seen.created_at {
            assert!(stamp::parse_rfc3339(t).is_some(), "created_at {t:?} is not RFC 3339");
        }
        baton_fuzz::check_send_command(&seen, "body.md");
    });
});
