//! `legacy-echo`: `echo` built against the frozen `baton:plugin@0.1.0` (`wit/v0.1/`), for
//! tests only. It calls the 0.1 host imports (log, kv, grants) so a test proves the host
//! still links and serves that version, not just its exports.

wit_bindgen::generate!({ path: "../../wit/v0.1", world: "plugin" });

use baton::plugin::host;
use baton::plugin::types::{ActionInfo, Level};

struct LegacyEcho;

impl Guest for LegacyEcho {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy-echo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns its params (built against baton:plugin@0.1.0).".into(),
            actions: vec![ActionInfo {
                name: "echo".into(),
                description: "Returns the params object as the result.".into(),
                params_schema: r#"{"type":"object"}"#.into(),
            }],
            folders: vec![],
        }
    }

    fn handle(task: Task) -> Result<Outcome, Failure> {
        if task.action != "echo" {
            return Err(Failure::InvalidInput(format!("unknown action `{}`", task.action)));
        }
        host::log(Level::Info, "legacy-echo: hello from baton:plugin@0.1.0");
        let runs: u64 = host::kv_get("runs").and_then(|v| v.parse().ok()).unwrap_or(0) + 1;
        host::kv_set("runs", &runs.to_string());
        let _ = host::grants();
        Ok(Outcome { summary: format!("echoed (run {runs})"), result: task.params, artifacts: vec![] })
    }
}

export!(LegacyEcho);
