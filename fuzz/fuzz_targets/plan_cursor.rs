//! The plans audit's parser for Cursor plans (`.cursor/plans/*.plan.md`, YAML front matter `todos`), and its format detection. Checked: every
//! deliverable's line is a line of the plan, and every promised path is non-empty and promised
//! once (repeats are merged).
#![no_main]
use baton_audit::PlanFormat;
use baton_audit::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("plan_cursor", data.len(), || {
        let content = String::from_utf8_lossy(data);
        let _ = extract::detect_format(".cursor/plans/feature.plan.md", &content);
        let found = extract::extract(PlanFormat::Cursor, &content);
        baton_fuzz::check_plan(&found, &content, true);
    });
});
