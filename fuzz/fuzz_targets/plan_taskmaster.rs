//! The plans audit's parser for Taskmaster task lists (`.taskmaster/tasks/tasks.json`, tagged
//! or not), and its format detection. Checked: every promised path is non-empty and promised
//! once, and a JSON plan's deliverables carry no line beyond the file's (Taskmaster has none).
#![no_main]
use baton_audit::PlanFormat;
use baton_audit::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("plan_taskmaster", data.len(), || {
        let content = String::from_utf8_lossy(data);
        let (format, found) = extract::read_plan(".taskmaster/tasks/tasks.json", &content);
        assert_eq!(format, PlanFormat::Taskmaster);
        baton_fuzz::check_plan(&found, &content, false);
    });
});
