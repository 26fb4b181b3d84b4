//! Handoff file names: any name a folder can hold, through everything that reads names (the
//! inbox's classification, the `<stamp>__<KIND>__<slug>__<Agent>.json` split, the dialects'
//! reading of a name's stamp, kind and title, the macOS fold key, slugs). Checked: a time read
//! from a name is RFC 3339; a slug is `[A-Za-z0-9-]`, at most 60 bytes, and survives the
//! name round trip (`file_name` → `parse_file_name`); an agent read from a name is valid.
#![no_main]
use baton_handoff::{dialect, names, stamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("handoff_file_name", data.len(), || {
        let _ = names::classify(data);
        let name = String::from_utf8_lossy(data);
        let _ = dialect::unreadable_by_name(&name);
        for body in [&br#"{"from": "Cursor MM1 Agent", "to": "baton"}"#[..], b"# Review\n**From:** Cursor\n"] {
            let as_json;
            let file = if body[0] == b'{' {
                as_json = format!("{name}.json");
                &as_json
            } else {
                &*name
            };
            if let Ok(seen) = dialect::read(file, body)
                && let Some(t) = &seen.created_at
            {
                assert!(stamp::parse_rfc3339(t).is_some(), "{file:?}: created_at {t:?} is not RFC 3339");
            }
        }
        if let Some(t) = dialect::normalize_time(&name) {
            assert!(stamp::parse_rfc3339(&t).is_some(), "normalize_time({name:?}) = {t:?}");
        }
        if let Some(agent) = names::agent_of_file_name(&name) {
            assert!(names::is_valid_agent(&agent));
        }
        let _ = names::fold_key(&name);
        let slug = names::slug(&name);
        assert!(slug.len() <= 60 && slug.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{slug:?}");
        let built = names::file_name("20260118T070951Z", "TASK", &slug, "Claude-Code-Agent");
        let parts = names::parse_file_name(&built).expect("a built name splits");
        assert_eq!((parts.kind, parts.slug, parts.agent), ("TASK", slug.as_str(), "Claude-Code-Agent"));
    });
});
