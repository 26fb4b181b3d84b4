//! The loose JSON dialect: the handoffs the user's agents already write, read through the
//! dialect table (`source_agent`, `task_title`, `original_handoff.handoff_id`, …). Checked: a
//! loose read always names a sender or a recipient; every time it reports is RFC 3339; the
//! hint command is a `baton send` command and the kept facts are built without a panic.
#![no_main]
use baton_handoff::{dialect, stamp};
use libfuzzer_sys::fuzz_target;

/// File names in the shapes real trees use (the name gives the kind, title and time when the
/// body does not).
const NAMES: [&str; 5] = [
    "handoff.json",
    "20260118T070951Z__HANDOFF__Webhook-Review__Claude-MM1-Agent.json",
    "20260118T070951Z__RETURN__Webhook-Review__Cursor-Agent.json",
    "webhook-review-20260118.json",
    "2026-01-18 07:09:51_review.json",
];

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("handoff_loose_json", data.len(), || {
        // The input's length picks the name, so a real file seeded whole is read whole.
        let (pick, body) = (data.len(), data);
        let name = NAMES[pick % NAMES.len()];
        let Ok(seen) = dialect::read(name, body) else { return };
        assert_ne!(seen.dialect, dialect::Dialect::Markdown);
        if seen.dialect == dialect::Dialect::Loose {
            assert!(seen.from.is_some() || seen.to.is_some(), "a loose handoff with no agent: {seen:?}");
        }
        if let Some(t) = &seen.created_at {
            assert!(stamp::parse_rfc3339(t).is_some(), "created_at {t:?} is not RFC 3339");
        }
        assert!(!seen.title.is_empty() || seen.dialect == dialect::Dialect::V1, "{seen:?}");
        baton_fuzz::check_send_command(&seen, "body.json");
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
            let facts = dialect::facts(&v);
            assert!(facts.is_null() || facts.as_object().is_some_and(|o| o.len() <= 64));
        }
        for agent in [&seen.from, &seen.to].into_iter().flatten() {
            let _ = dialect::match_folder(agent, &["Claude-MM1-Agent", "Cursor-Agent", "baton"]);
        }
    });
});
