//! The plans audit's parser for GitHub spec-kit task lists (`specs/*/tasks.md`), and its format detection. Checked: every
//! deliverable's line is a line of the plan, and every promised path is non-empty and promised
//! once (repeats are merged).
#![no_main]
use baton_audit::PlanFormat;
use baton_audit::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("plan_speckit", data.len(), || {
        let content = String::from_utf8_lossy(data);
        let _ = extract::detect_format("specs/001-feature/tasks.md", &content);
        let found = extract::extract(PlanFormat::SpecKit, &content);
        baton_fuzz::check_plan(&found, &content, true);
    });
});
