//! The {{name}} plugin: `describe` says who it is and what it can do, `handle` runs one task.
//!
//! Build it with ./build.sh (writes {{name}}.wasm); check it with ./test.sh. What it prints
//! (println!, eprintln!, a panic message) is kept in the task's plugin log (`baton show ID`).

wit_bindgen::generate!({ path: "wit", world: "{{world}}" });

use baton::plugin::host;
// `PluginInfo`, `Task`, `Outcome` and `Failure` are the world's own (`use types.{…}` in the WIT).
use baton::plugin::types::{ActionInfo, Level};
use serde_json::{json, Value};

struct Plugin;

/// The params of `hello`, as JSON Schema: baton checks every TASK against it before the plugin
/// runs. No property is required, so `{}` is valid.
fn hello_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Who to greet (default: world)."}
        },
        "additionalProperties": false
    })
}

fn hello(params: &Value) -> Result<Outcome, Failure> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("world");
    host::log(Level::Info, &format!("greeting {name}"));
    let greeting = format!("Hello, {name}!");
    Ok(Outcome { summary: greeting.clone(), result: json!({ "greeting": greeting }).to_string(), artifacts: vec![] })
}

impl Guest for Plugin {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "{{name}}".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "An example plugin: greets whoever params.name says.".into(),
            actions: vec![ActionInfo {
                name: "hello".into(),
                description: "Greets params.name.".into(),
                params_schema: hello_schema().to_string(),
            }],
            folders: vec![],
        }
    }

    fn handle(task: Task) -> Result<Outcome, Failure> {
        let params: Value = serde_json::from_str(&task.params).map_err(|e| Failure::InvalidInput(format!("params: {e}")))?;
        match task.action.as_str() {
            "hello" => hello(&params),
            other => Err(Failure::InvalidInput(format!("unknown action {other:?}; actions: hello"))),
        }
    }
{{rust_catalog_access}}}

export!(Plugin);
