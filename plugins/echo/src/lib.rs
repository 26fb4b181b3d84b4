//! `echo`: returns its params unchanged. The smallest useful plugin, used by the demo,
//! the end-to-end tests and the dispatch benchmark.

wit_bindgen::generate!({ path: "../../wit", world: "plugin" });

use baton::plugin::types::ActionInfo;

struct Echo;

impl Guest for Echo {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "echo".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Returns its params.".into(),
            actions: vec![ActionInfo {
                name: "echo".into(),
                description: "Returns the params object as the result.".into(),
                params_schema: r#"{"type":"object"}"#.into(),
            }],
            folders: vec![],
        }
    }

    /// No catalog: it reads and writes no collection.
    fn catalog_access() -> Vec<baton::plugin::types::CollectionRequest> {
        Vec::new()
    }

    fn handle(task: Task) -> Result<Outcome, Failure> {
        match task.action.as_str() {
            "echo" => Ok(Outcome {
                summary: format!("echoed {} bytes of params", task.params.len()),
                result: task.params,
                artifacts: vec![],
            }),
            other => Err(Failure::InvalidInput(format!("unknown action `{other}`"))),
        }
    }
}

export!(Echo);
