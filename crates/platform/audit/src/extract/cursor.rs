//! Cursor plans `.cursor/plans/*.plan.md`: YAML front matter with
//! `todos: [{id, content, status}]`, then a Markdown body. Each path a todo names is a
//! deliverable of group `<todo id>`, claimed done when the status is `completed`; todos with
//! status `cancelled` promise nothing. The body is read as a free-form plan.

use super::{Expected, Extracted, declared_paths, markdown, yaml};
use crate::model::Task;
use serde_json::Value;

/// Splits `---\nfront\n---\nbody` → (front matter, body, line number where the body starts).
pub fn front_matter(content: &str) -> Option<(&str, &str, usize)> {
    let c = content.strip_prefix('\u{feff}').unwrap_or(content);
    let rest = c.strip_prefix("---")?;
    let rest = rest.strip_prefix("\r\n").or_else(|| rest.strip_prefix('\n'))?;
    let mut offset = 0;
    let mut line_no = 1;
    for line in rest.split_inclusive('\n') {
        line_no += 1;
        if line.trim_end() == "---" || line.trim_end() == "..." {
            let front = &rest[..offset];
            let body = &rest[offset + line.len()..];
            return Some((front, body, line_no));
        }
        offset += line.len();
    }
    None
}

/// True when the content has front matter with a `todos:` key.
pub fn has_todos(content: &str) -> bool {
    front_matter(content).is_some_and(|(f, _, _)| f.lines().any(|l| l.starts_with("todos:")))
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn parse(content: &str) -> Extracted {
    let Some((front, body, body_line)) = front_matter(content) else {
        return markdown::parse(content, 0);
    };
    let meta = yaml::parse(front);
    let mut out = Extracted { title: text(&meta["name"]), ..Default::default() };
    if let Some(todos) = meta["todos"].as_array() {
        for (k, todo) in todos.iter().enumerate() {
            let id = match &todo["id"] {
                Value::Null => format!("todo-{}", k + 1),
                v => text(v),
            };
            let status = text(&todo["status"]).to_lowercase();
            let done = matches!(status.as_str(), "completed" | "complete" | "done");
            let content = text(&todo["content"]);
            let paths: Vec<String> = content.lines().flat_map(|l| declared_paths(l, false)).collect();
            // the line of the todo in the file, for evidence
            let line = content
                .lines()
                .next()
                .and_then(|first| front.lines().position(|l| !first.is_empty() && l.contains(first)))
                .map_or(1, |p| p + 2);
            if status != "cancelled" && status != "canceled" {
                for p in &paths {
                    out.push(Expected { path: p.clone(), alt: None, group: id.clone(), claimed_done: done, line });
                }
            } else {
                // listed, never counted in tasks_total
                out.cancelled.push(id.clone());
            }
            out.tasks.push(Task { id, done, paths });
        }
    }
    let body_plan = markdown::parse(body, body_line - 1);
    if out.title.is_empty() {
        out.title = body_plan.title.clone();
    }
    for d in body_plan.deliverables {
        out.push(d);
    }
    out.tasks.extend(body_plan.tasks);
    out
}
