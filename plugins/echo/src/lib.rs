//! `echo`: returns its params unchanged. The smallest useful plugin, used by the demo,
//! the end-to-end tests and the dispatch benchmark. [`echo`] is the whole of it; the rest
//! registers it with the SDK. Its second action, `ask`, asks the sender's name back (an input
//! request) and greets them: the smallest plugin that asks.
use baton_plugin::serde_json::{Map, Value};
use baton_plugin::{Actions, Ctx, Done, Failure, JsonSchema, Plugin};
use serde::Deserialize;

/// Any JSON object (`{}` included): echo takes every key.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct EchoParams(pub Map<String, Value>);

/// The result is the params; the summary says how big they were as sent.
pub fn echo(params_text_len: usize, params: EchoParams) -> Done {
    Done::new(format!("echoed {params_text_len} bytes of params"), Value::Object(params.0))
}

/// `ask` takes no params.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AskParams {}

/// What `ask` asks for: `{"name": string}`.
pub fn name_schema() -> Value {
    serde_json::json!({
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}},
        "additionalProperties": false
    })
}

/// `ask`: the greeting for the name answered to the question `name`.
pub fn greet(ctx: &Ctx) -> Result<Done, Failure> {
    let answer = ctx.ask_as("name", "What is your name?", name_schema())?;
    let name = answer.get("name").and_then(Value::as_str).unwrap_or_default();
    Ok(Done::new(format!("greeted {name}"), serde_json::json!({"greeting": format!("hello {name}")})))
}

pub struct Echo;

impl Plugin for Echo {
    const NAME: &'static str = "echo";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Returns its params.";

    fn actions() -> Actions {
        Actions::new()
            .add("echo", "Returns the params object as the result.", |ctx: &Ctx, p: EchoParams| {
                Ok::<_, Failure>(echo(ctx.task.params.len(), p))
            })
            .add(
                "ask",
                "Asks the sender's name (`{\"name\": string}`), then greets them.",
                |ctx: &Ctx, _: AskParams| greet(ctx),
            )
    }
}

baton_plugin::register!(Echo);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn echo_returns_the_params_and_accepts_any_object() {
        let p: EchoParams = serde_json::from_value(json!({"hi": [1, 2]})).unwrap();
        let d = echo(14, p);
        assert_eq!(d.result, json!({"hi": [1, 2]}));
        assert_eq!(d.summary, "echoed 14 bytes of params");
        let schema: Value = serde_json::from_str(&baton_plugin::schema_of::<EchoParams>()).unwrap();
        assert_eq!(schema["type"], "object", "{schema}");
        assert!(schema.get("required").is_none() && schema["additionalProperties"] != json!(false), "{schema}");
        assert!(serde_json::from_value::<EchoParams>(json!([1])).is_err(), "only objects");
    }
}
