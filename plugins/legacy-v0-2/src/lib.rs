//! `legacy-v0-2`: an echo built against the frozen `baton:plugin@0.2.0` (`wit/v0.2/`), for
//! tests only. It calls the 0.2 host imports, `remaining-ms` included, so a test proves the
//! host still links and serves that version after 0.3.0 added the `fingerprint` interface.

wit_bindgen::generate!({ path: "../../wit/v0.2", world: "plugin" });

use baton::plugin::host;
use baton::plugin::types::{ActionInfo, Level};

struct LegacyV02;

impl Guest for LegacyV02 {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy-v0-2".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns its params and its time left (built against baton:plugin@0.2.0).".into(),
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
        host::log(Level::Info, &format!("legacy-v0-2: {} ms left", host::remaining_ms()));
        Ok(Outcome { summary: "echoed".into(), result: task.params, artifacts: vec![] })
    }
}

export!(LegacyV02);
