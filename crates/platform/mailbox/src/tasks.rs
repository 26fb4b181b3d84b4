//! Claude Code's team task lists: `~/.claude/tasks/<team>/<N>.json`, one task a file (`id`,
//! `subject`, `description`, `status` pending|in_progress|completed|deleted, `owner`, `blocks`,
//! `blockedBy`, `metadata`), beside a `.lock` file and a `.highwatermark` counter that are not
//! tasks. Read only; a file that does not parse is listed with the reason, never skipped.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// Task files larger than this are listed as unreadable, not read.
const MAX_TASK_BYTES: u64 = 4 << 20;

/// One task of a team's list.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: String,
    pub subject: String,
    pub status: String,
    pub owner: Option<String>,
    pub blocks: Vec<String>,
    pub blocked_by: Vec<String>,
    pub file: PathBuf,
}

impl Task {
    pub fn to_json(&self) -> Value {
        json!({"id": self.id, "subject": self.subject, "status": self.status, "owner": self.owner,
               "blocks": self.blocks, "blocked_by": self.blocked_by, "file": self.file})
    }
}

/// A team's task list, read: its tasks (by number), and the files that are not tasks it could
/// not read, each with the reason.
#[derive(Debug, Clone, Default)]
pub struct List {
    pub tasks: Vec<Task>,
    pub unreadable: Vec<(PathBuf, String)>,
}

impl List {
    /// How many tasks have each status.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut c = BTreeMap::new();
        for t in &self.tasks {
            *c.entry(t.status.clone()).or_default() += 1;
        }
        c
    }

    pub fn get(&self, id: &str) -> Option<&Task> {
        self.tasks.iter().find(|t| t.id == id)
    }
}

/// The task list of `team` under `tasks_root` (`<tasks_root>/<team>/`); empty when there is none.
pub fn read(tasks_root: &Path, team: &str) -> List {
    let mut list = List::default();
    let Ok(entries) = std::fs::read_dir(tasks_root.join(team)) else { return list };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        // `.lock`, `.highwatermark` and other dotfiles, and anything not `*.json`: not tasks.
        if name.starts_with('.') || !name.ends_with(".json") || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match read_task(&e.path()) {
            Ok(t) => list.tasks.push(t),
            Err(why) => list.unreadable.push((e.path(), why)),
        }
    }
    list.tasks.sort_by_key(|t| (t.id.parse::<u64>().unwrap_or(u64::MAX), t.id.clone()));
    list.unreadable.sort();
    list
}

fn read_task(path: &Path) -> Result<Task, String> {
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    if len > MAX_TASK_BYTES {
        return Err(format!("{len} bytes, over the {MAX_TASK_BYTES} a task file is read up to"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    let o = v.as_object().ok_or("not a JSON object")?;
    // `id` as written (a string; a number is taken as its digits).
    let id = match o.get("id") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err("no `id`".into()),
    };
    let s = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_string);
    let ids = |k: &str| -> Vec<String> {
        o.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str().map(str::to_string).or_else(|| x.as_u64().map(|n| n.to_string())))
            .collect()
    };
    Ok(Task {
        id,
        subject: s("subject").unwrap_or_default(),
        status: s("status").ok_or("no `status`")?,
        owner: s("owner").filter(|o| !o.is_empty()),
        blocks: ids("blocks"),
        blocked_by: ids("blockedBy"),
        file: path.to_path_buf(),
    })
}

/// `TEAM#N` (`alpha#2`): a team's task, as `show` takes it.
pub fn parse_ref(s: &str) -> Option<(&str, &str)> {
    let (team, n) = s.split_once('#')?;
    (!team.is_empty() && !n.is_empty() && !team.contains('/') && n.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then_some((team, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_read_and_the_rest_named_or_left_alone() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("alpha");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("1.json"),
            r#"{"id": "1", "subject": "Write the parser", "description": "d", "activeForm": "Writing", "status": "completed", "owner": "worker", "blocks": ["2"], "blockedBy": [], "metadata": {}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.join("2.json"),
            r#"{"id": "2", "subject": "Test it", "status": "pending", "owner": "", "blocks": [], "blockedBy": ["1"]}"#,
        )
        .unwrap();
        std::fs::write(dir.join("10.json"), r#"{"id": "10", "subject": "Later", "status": "in_progress"}"#).unwrap();
        std::fs::write(dir.join("3.json"), "{not json").unwrap();
        std::fs::write(dir.join(".lock"), "").unwrap();
        std::fs::write(dir.join(".highwatermark"), "10").unwrap();
        let l = read(d.path(), "alpha");
        assert_eq!(l.tasks.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["1", "2", "10"], "by number");
        assert_eq!(l.tasks[0].blocks, ["2"]);
        assert_eq!((l.tasks[1].blocked_by.clone(), l.tasks[1].owner.clone()), (vec!["1".to_string()], None));
        assert_eq!(l.unreadable.len(), 1);
        assert!(l.unreadable[0].1.starts_with("not JSON"), "{:?}", l.unreadable);
        assert_eq!(l.counts().get("pending"), Some(&1));
        assert!(read(d.path(), "nobody").tasks.is_empty());
        assert_eq!(parse_ref("alpha#2"), Some(("alpha", "2")));
        assert_eq!(parse_ref("alpha/worker"), None);
    }
}
