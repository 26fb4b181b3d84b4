//! The plans audit's parser for BMAD stories (`docs/stories/*.story.md`: a Status section, a
//! Tasks / Subtasks checklist, a Dev Agent Record file list), and its format detection.
//! Checked: every deliverable's line is a line of the story, and every promised path is
//! non-empty and promised once.
#![no_main]
use baton_audit::PlanFormat;
use baton_audit::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("plan_bmad", data.len(), || {
        let content = String::from_utf8_lossy(data);
        let _ = extract::detect_format("docs/stories/1.2.story.md", &content);
        let found = extract::extract(PlanFormat::Bmad, &content);
        baton_fuzz::check_plan(&found, &content, true);
    });
});
