//! Building v1 handoffs (`baton send`, `baton reply`, MCP `send_task`/`reply`) from fields a
//! sender types: whatever the builder accepts must be a handoff the reader takes back with the
//! same fields (build → parse), named so the name parser finds its kind, slug and sender again.
#![no_main]
use baton_handoff::build::{self, NewReturn, NewTask, Target};
use baton_handoff::{Body, Status, names, schema};
use libfuzzer_sys::fuzz_target;

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fuzz_target!(|data: &[u8]| {
    baton_fuzz::bounded("handoff_v1_build", data.len(), || {
        let Some((&mode, rest)) = data.split_first() else { return };
        let f = baton_fuzz::fields(rest, 9);
        let params = serde_json::from_str(&f[4]).unwrap_or_else(|_| serde_json::json!({}));
        let target = if mode & 1 == 0 {
            Target::Plugin { plugin: f[2].clone(), action: f[3].clone(), params }
        } else {
            Target::Agent { to: f[2].clone() }
        };
        let t = NewTask {
            from: f[0].clone(),
            target,
            title: opt(&f[1]),
            reply_to: opt(&f[5]),
            priority: opt(&f[6]),
            deadline: opt(&f[7]),
            correlation_id: opt(&f[8]),
            extra: serde_json::Map::new(),
        };
        let Ok(body) = build::task(&t) else { return };
        let (parsed, _) = schema::parse(body.to_string().as_bytes()).expect("a built TASK parses");
        let Body::Task(task) = parsed else { panic!("a built TASK parsed as a RETURN") };
        assert_eq!(task.from, t.from);
        if let Some(title) = &t.title {
            assert_eq!(&task.title, title);
        }
        check_name(&build::task_file_name(&body), "TASK", &task.from);
        let r = NewReturn { status: Status::Completed, summary: f[1].clone(), result: None, artifacts: vec![] };
        let Ok(ret) = build::reply(&task, "Codex-MM1", &r) else { return };
        let (parsed, _) = schema::parse(ret.to_string().as_bytes()).expect("a built RETURN parses");
        let Body::Return(answer) = parsed else { panic!("a built RETURN parsed as a TASK") };
        assert_eq!(answer.in_reply_to, task.id);
        assert_eq!(answer.to.as_deref(), Some(task.reply_agent()));
        check_name(&build::return_file_name(&ret), "RETURN", "Codex-MM1");
    });
});

/// The name `build` gives a handoff splits back into its parts.
fn check_name(name: &str, kind: &str, from: &str) {
    if from.contains("__") {
        // A valid agent name may hold `__`, which is the separator: the split cannot find it.
        return;
    }
    let parts = names::parse_file_name(name).unwrap_or_else(|| panic!("{name:?} does not split"));
    assert_eq!((parts.kind, parts.agent), (kind, from), "{name:?}");
    assert!(parts.stamp.len() == 16 && parts.stamp.ends_with('Z'), "{name:?}");
    let conflict_marker = [".sync-conflict-", "(conflict", "conflicted copy"].iter().any(|m| from.contains(m));
    if !conflict_marker {
        assert_eq!(names::classify(name.as_bytes()), names::Entry::Candidate, "{name:?}");
    }
}
