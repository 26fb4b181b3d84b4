//! The lines baton itself writes on stderr outside `tracing` (a drain's summary, the last
//! error of a failed command): plain text for a person, or, in `--log-format json`, one JSON
//! object shaped as the log lines are, so a log shipper reading JSON never meets a bare line.
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value, json};

static JSON: AtomicBool = AtomicBool::new(false);

/// Set once at start-up from `--log-format`.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::Relaxed);
}

/// One line: `baton: MESSAGE` in text; in JSON `{"timestamp", "level", "fields": {"message",
/// ...fields}, "target": "baton"}`.
pub fn line(level: &str, message: &str, fields: Value) {
    if JSON.load(Ordering::Relaxed) {
        let mut all = Map::new();
        all.insert("message".into(), json!(message));
        if let Value::Object(extra) = fields {
            all.extend(extra);
        }
        let stamp = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
        eprintln!("{}", json!({"timestamp": stamp, "level": level, "fields": all, "target": "baton"}));
    } else {
        eprintln!("baton: {message}");
    }
}
