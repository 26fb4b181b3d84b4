//! `legacy-v0-3`: an echo built against the frozen `baton:plugin@0.3.0` (`wit/v0.3/`), for
//! tests only. It calls the 0.3 host imports, `remaining-ms` and the `fingerprint` interface
//! included, so a test proves the host still links and serves that version after 0.4.0 added
//! the catalog.

wit_bindgen::generate!({ path: "../../wit/v0.3", world: "plugin" });

use baton::plugin::fingerprint::{self, FpError};
use baton::plugin::host;
use baton::plugin::types::{ActionInfo, Level};

struct LegacyV03;

impl Guest for LegacyV03 {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "legacy-v0-3".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns its params (built against baton:plugin@0.3.0).".into(),
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
        // No grants: the 0.3 fingerprint interface must answer `denied`, not fail to link.
        let fp = match fingerprint::read_tags("/music/none.flac") {
            Err(FpError::Denied(_)) => "denied",
            Err(_) => "other error",
            Ok(_) => "read",
        };
        host::log(Level::Info, &format!("legacy-v0-3: {} ms left, fingerprint {fp}", host::remaining_ms()));
        Ok(Outcome { summary: "echoed".into(), result: task.params, artifacts: vec![] })
    }
}

export!(LegacyV03);
