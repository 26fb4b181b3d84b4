//! Handoff files as the dashboard's pages read them: a JSON object, and nothing over
//! `max_file_bytes` (a page never reads more of a file than the pipeline would).
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::App;

/// Reads a handoff file as a JSON object, refusing one over the configured size.
pub(crate) fn read_json(app: &App, path: &Path) -> Option<Value> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > app.cfg.max_file_bytes {
        return None;
    }
    serde_json::from_slice::<Value>(&std::fs::read(path).ok()?).ok().filter(Value::is_object)
}

/// The first of `names` found in one of `agent`'s folders (filed, failed, or still waiting)
/// whose body satisfies `ok`.
pub(crate) fn find_in_agent(
    app: &App,
    agent: &str,
    names: &[&str],
    ok: impl Fn(&Value) -> bool,
) -> Option<(PathBuf, Value)> {
    let dirs = [app.paths.processed(agent), app.paths.failed(agent), app.paths.inbox(agent)];
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find_map(|p| read_json(app, &p).filter(|v| ok(v)).map(|v| (p, v)))
}
