//! Files in a mailbox's folders that hold no message, told apart from messages: placeholders
//! and lock sidecars (silent: nobody wrote them to be read), and files that are something else
//! (status or index summaries, lock and coordination registries, configs, profiles, logs,
//! templates), each listed once in its agent's `skipped[]` with the reason, never counted as a
//! message and never "unreadable". Pure functions of names and parsed fields.
use serde::Serialize;
use serde_json::Value;

/// A file that is not a message, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Its path below the agent's folder (`inbox/STATUS.md`).
    pub file: String,
    pub reason: String,
}

/// Files nobody wrote to be read: dotfiles (`.gitkeep`, `.DS_Store`), a desktop's index files,
/// lock sidecars and a writer's temporary files. Never listed.
pub fn placeholder(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.')
        || ["thumbs.db", "desktop.ini"].contains(&lower.as_str())
        || [".lock", ".lck", ".tmp", ".swp", "~"].iter().any(|e| lower.ends_with(e))
}

/// The words of a file's name without its extensions, lower-cased (`INBOX_STATUS.md` →
/// `inbox`, `status`).
fn words(name: &str) -> (String, Vec<String>) {
    let base = name.strip_suffix(".done").unwrap_or(name);
    let stem = match base.rsplit_once('.') {
        Some((s, _)) if !s.is_empty() => s,
        _ => base,
    };
    let stem = stem.to_ascii_lowercase();
    let words =
        stem.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect();
    (stem, words)
}

/// What a file is by its name alone, when that says it is no message.
pub fn by_name(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    let (stem, w) = words(name);
    let has = |x: &str| w.iter().any(|y| y == x);
    let json = lower.ends_with(".json");
    if stem.starts_with("template")
        || stem.starts_with("_template")
        || stem.ends_with("-template")
        || stem.ends_with("_template")
    {
        return Some("a template, not a message");
    }
    if lower.ends_with(".log")
        || lower.ends_with(".jsonl")
        || w.last().is_some_and(|l| l == "log" || l == "logs")
        || stem == "changelog"
    {
        return Some("a log, not a message");
    }
    if stem == "readme" {
        return Some("a README, not a message");
    }
    if json && (stem == "profile" || stem.ends_with("-profile") || stem.ends_with("_profile")) {
        return Some("an agent profile, not a message");
    }
    if ["config", "settings", "configuration"].contains(&stem.as_str())
        || stem.ends_with(".config")
        || stem.ends_with("-config")
        || stem.ends_with("_config")
        || lower.ends_with(".toml")
        || lower.ends_with(".yaml")
        || lower.ends_with(".yml")
    {
        return Some("a configuration file, not a message");
    }
    if json && ["lock", "locks", "registry", "reservations", "claims", "coordination"].iter().any(|x| has(x)) {
        return Some("a lock or coordination registry, not a message");
    }
    None
}

/// Names of summaries: read as messages unless nothing in them says who they are from or for.
fn summary_name(name: &str) -> bool {
    let (_, w) = words(name);
    w.iter().any(|x| ["status", "summary", "index", "dashboard", "overview"].contains(&x.as_str()))
}

/// The keys that make a JSON object a message.
const MESSAGE_KEYS: &[&str] = &[
    "subject",
    "title",
    "summary",
    "from",
    "sender",
    "author",
    "to",
    "recipient",
    "recipients",
    "body",
    "text",
    "message",
    "content",
    "task",
    "instructions",
];

/// Whether the parsed JSON has none of a message's fields (a lock registry, a state file).
pub fn json_without_message(v: &Value) -> bool {
    let has =
        |o: &serde_json::Map<String, Value>| o.keys().any(|k| MESSAGE_KEYS.contains(&k.to_ascii_lowercase().as_str()));
    match v {
        Value::Object(o) => !has(o) && !o.get("messages").is_some_and(Value::is_array),
        Value::Array(a) => !a.is_empty() && a.iter().all(|x| x.as_object().is_none_or(|o| !has(o))),
        _ => false,
    }
}

/// Why a read file is no message, from its name and what was read of it: `template` (front
/// matter `type: template`), and whether any of its messages names a sender or recipient.
pub fn by_content(name: &str, bytes: &[u8], template: bool, addressed: bool) -> Option<String> {
    if template {
        return Some("a template (front matter `type: template`), not a message".into());
    }
    if name.to_ascii_lowercase().ends_with(".json")
        && let Ok(v) = serde_json::from_slice::<Value>(bytes)
        && json_without_message(&v)
    {
        return Some(
            "JSON without any of a message's fields (subject, title, from, to, body, text, message…): a state or registry file"
                .into(),
        );
    }
    if summary_name(name) && !addressed {
        return Some("a status or index summary (no From/To), not a message".into());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for n in [".gitkeep", ".DS_Store", "inbox.json.lock", "x.tmp", "Thumbs.db"] {
            assert!(placeholder(n), "{n}");
        }
        assert!(!placeholder("task.md"));
        for (n, what) in [
            ("TEMPLATE_handoff.md", "template"),
            ("_template.md", "template"),
            ("handoff-template.md", "template"),
            ("agent.log", "log"),
            ("activity_log.md", "log"),
            ("README.md", "README"),
            ("profile.json", "profile"),
            ("config.json", "configuration"),
            ("file_locks.json", "lock"),
            ("claims.json", "registry"),
        ] {
            assert!(by_name(n).is_some_and(|r| r.contains(what)), "{n}: {:?}", by_name(n));
        }
        for n in ["20260118-task.md", "fix-the-lock-screen.md", "claims-review.md", "status-update.txt"] {
            assert_eq!(by_name(n), None, "{n}");
        }
    }

    #[test]
    fn contents() {
        assert!(by_content("locks.json", br#"{"locks": {"src/a.rs": "agent_1"}}"#, false, false).is_some());
        assert!(by_content("m.json", br#"{"from": "a", "text": "hi"}"#, false, true).is_none());
        assert!(by_content("STATUS.md", b"# Inbox status\n3 open\n", false, false).is_some());
        assert!(by_content("status-update.md", b"From: a\nTo: b\n", false, true).is_none(), "addressed: a message");
        assert!(by_content("x.md", b"", true, true).is_some());
    }
}
