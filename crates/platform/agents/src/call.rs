//! `baton call PLUGIN ACTION [--param k=v]… [--params JSON]`: a plugin's action from the command
//! line, without writing JSON by hand. The params are built from the action's own schema (each
//! `--param` typed by its property), the TASK by `send`'s builder, and the answer waited for by
//! `send --wait`'s waiter: through the running `baton serve` when there is one for this home,
//! else by draining baton's inbox in this process as `baton serve --once` does. Either way the
//! TASK is a real handoff: claimed, recorded in the ledger, answered by one RETURN and filed
//! (unlike `baton run`, which records nothing).

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};

use crate::check::{self, Action};
use crate::{Tree, send, wait};
use baton_cli::Ctx;

/// The sender when `$BATON_AGENT` is not set: a call is never refused for want of a name.
pub const DEFAULT_FROM: &str = "cli";

#[derive(clap::Args, Debug)]
#[command(disable_help_flag = true)]
pub struct CallArgs {
    /// The plugin (`baton plugin list`).
    pub plugin: Option<String>,
    /// The action (`baton call PLUGIN --help` lists them).
    pub action: Option<String>,
    /// One param, typed by the action's schema: a string property takes the text as it is, a
    /// number or boolean is parsed, an array or object is JSON (an array also takes the flag
    /// repeated, one item each). Where the schema allows other keys, any key: the value is
    /// read as JSON, else kept as text.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub param: Vec<String>,
    /// Params as one JSON object (inline, `@file` or `-`); `--param` flags are applied on top.
    #[arg(long, value_name = "JSON|@FILE|-")]
    pub params: Option<String>,
    /// The title of the TASK (default `<plugin>.<action>`).
    #[arg(long)]
    pub title: Option<String>,
    /// Give up waiting after this many seconds (exit 124; the TASK still runs).
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Print exactly the RETURN object.
    #[arg(long)]
    pub json: bool,
    /// Print help: with PLUGIN ACTION, the action's params from its schema.
    #[arg(short = 'h', long)]
    pub help: bool,
}

pub fn run(ctx: &Ctx, a: CallArgs) -> Result<i32> {
    let (Some(plugin), Some(action)) = (a.plugin.as_deref(), a.action.as_deref()) else {
        return match (&a.plugin, a.help) {
            (Some(p), true) => {
                let (actions, description) = check::described(&Tree::open(ctx)?, p)?;
                print_plugin_help(p, &description, &actions);
                Ok(0)
            }
            (Some(p), false) => {
                let actions = check::actions(&Tree::open(ctx)?, p)?;
                let names: Vec<&str> = actions.iter().map(|x| x.name.as_str()).collect();
                bail!(
                    "say which action of {p}: `baton call {p} ACTION` ({}); `baton call {p} --help` shows them",
                    names.join(", ")
                )
            }
            (None, _) => {
                let agents = <crate::Command as clap::Subcommand>::augment_subcommands(clap::Command::new("baton"));
                let mut cmd = baton_cli::manpages::with_examples(agents);
                if let Some(call) = cmd.find_subcommand_mut("call") {
                    call.print_help()?;
                }
                Ok(if a.help { 0 } else { 2 })
            }
        };
    };
    let _span = tracing::info_span!("call", plugin, action).entered();
    let timeout = crate::timeout_arg(a.timeout)?;
    let tree = Tree::open(ctx)?;
    let act = check::action(&tree, plugin, action)?;
    if a.help {
        print_action_help(plugin, &act);
        return Ok(0);
    }
    let base = match a.params.as_deref() {
        Some(raw) => crate::json_arg(raw, "--params")?,
        None => Value::Object(Map::new()),
    };
    let params = build_params(&act.schema, base, &a.param)?;
    check::params(plugin, &act, &params)?;

    let from = match std::env::var("BATON_AGENT") {
        Ok(a) if baton_handoff::names::is_valid_name(&a) => a,
        Ok(a) if !a.is_empty() => {
            tracing::warn!("BATON_AGENT={a:?} is not a valid agent name; calling as {DEFAULT_FROM:?}");
            DEFAULT_FROM.to_string()
        }
        _ => DEFAULT_FROM.to_string(),
    };
    let req = send::Request {
        plugin: Some(plugin.to_string()),
        action: Some(action.to_string()),
        params: Some(params),
        title: a.title.clone(),
        from: Some(from),
        ..Default::default()
    };
    let (sent, watch, synced) = send::prepare(&tree, &req)?.write_watched()?;
    tracing::info!(id = %sent.id, "called {plugin}.{action}");
    let mut waiter = wait::Waiter::for_sent(&sent, Some(ctx.location.clone())).with_watch(watch);
    waiter.asking = true;
    // Nobody to answer it: this process drains baton's inbox, as `serve --once` would (again
    // each second the RETURN is still missing: a retry with a delay, a file another drain held).
    let found = wait::block_sliced(&mut waiter, timeout, || {
        if !super::waiting::serve_running(ctx, &tree) {
            drain(ctx)?;
        }
        Ok(true)
    });
    synced.finish();
    wait::report(&sent.id, found?, a.json, timeout, false, &waiter.expected())
}

/// Runs what waits in baton's inbox in this process, exactly as `baton serve --once` does (its
/// one summary line goes to stderr; stdout carries only the RETURN).
fn drain(ctx: &Ctx) -> Result<()> {
    ctx.plugins()?
        .drain(ctx)
        .map(|_| ())
        .context("running the TASK in this process (no `baton serve` runs for this home)")
}

/// The JSON Schema types a property admits (`type` as a string or a list; none: any).
fn types_of(prop: &Value) -> Vec<String> {
    match prop.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_string).collect(),
        _ => {
            // `enum` of strings, or `const`: the type of the values it names.
            let values: Vec<&Value> = match (prop.get("enum"), prop.get("const")) {
                (Some(Value::Array(v)), _) => v.iter().collect(),
                (_, Some(c)) => vec![c],
                _ => vec![],
            };
            let mut ts: Vec<String> = values.iter().map(|v| json_type(v).to_string()).collect();
            ts.dedup();
            ts
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether the schema lets params carry keys it does not name.
fn allows_other_keys(schema: &Value) -> bool {
    !matches!(schema.get("additionalProperties"), Some(Value::Bool(false)))
}

/// One `--param` value, typed by the property's schema (`None`: no schema for the key).
fn typed(key: &str, raw: &str, prop: Option<&Value>) -> Result<Value> {
    let Some(prop) = prop else {
        return Ok(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string())));
    };
    let types = types_of(prop);
    let has = |t: &str| types.iter().any(|x| x == t);
    if types.is_empty() {
        return Ok(serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string())));
    }
    if has("null") && raw == "null" {
        return Ok(Value::Null);
    }
    if has("integer")
        && let Ok(i) = raw.parse::<i64>()
    {
        return Ok(Value::from(i));
    }
    if has("number")
        && let Ok(f) = raw.parse::<f64>()
        && f.is_finite()
    {
        return Ok(serde_json::from_str(raw).unwrap_or(Value::from(f)));
    }
    if has("boolean") {
        match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => return Ok(Value::Bool(true)),
            "false" | "no" | "0" => return Ok(Value::Bool(false)),
            _ => {}
        }
    }
    if (has("array") || has("object"))
        && let Ok(v) = serde_json::from_str::<Value>(raw)
        && ((v.is_array() && has("array")) || (v.is_object() && has("object")))
    {
        return Ok(v);
    }
    if has("string") {
        return Ok(Value::String(raw.to_string()));
    }
    if has("array") {
        // One item per flag: `--param paths=a --param paths=b`.
        let item = typed(key, raw, prop.get("items"))?;
        return Ok(Value::Array(vec![item]));
    }
    bail!("--param {key}={raw}: {key} takes {} (see `baton call … --help`)", types.join(" or "))
}

/// `--params` with each `--param k=v` applied, typed by the schema; an unknown key is refused
/// where the schema names its keys only.
fn build_params(schema: &Value, base: Value, flags: &[String]) -> Result<Value> {
    let Value::Object(mut params) = base else {
        bail!("--params must be a JSON object, e.g. '{{\"path\": \"plans\"}}'");
    };
    let props = schema.get("properties").and_then(Value::as_object);
    let mut repeated: std::collections::HashSet<String> = Default::default();
    for flag in flags {
        let Some((key, raw)) = flag.split_once('=') else {
            bail!("--param {flag:?}: write it as KEY=VALUE, e.g. --param path=plans");
        };
        let key = key.trim();
        if key.is_empty() {
            bail!("--param {flag:?}: the key is empty; write it as KEY=VALUE");
        }
        let prop = props.and_then(|p| p.get(key));
        if prop.is_none() && !allows_other_keys(schema) {
            let known: Vec<String> = props.map(|p| p.keys().cloned().collect()).unwrap_or_default();
            bail!(
                "--param {key}: the action has no param {key:?}{}",
                if known.is_empty() { "; it takes none".to_string() } else { crate::did_you_mean(key, &known) }
            );
        }
        let value = typed(key, raw, prop)?;
        // A repeated flag for an array property adds an item.
        match (params.get_mut(key), value) {
            (Some(Value::Array(items)), Value::Array(more)) if repeated.contains(key) => items.extend(more),
            (_, v) => {
                params.insert(key.to_string(), v);
            }
        }
        repeated.insert(key.to_string());
    }
    Ok(Value::Object(params))
}

fn print_plugin_help(plugin: &str, description: &str, actions: &[Action]) {
    println!("baton call {plugin} ACTION [--param KEY=VALUE]... [--params JSON]");
    if !description.is_empty() {
        println!("\n{description}");
    }
    println!("\nactions:");
    for a in actions {
        println!("  {:<16} {}", a.name, a.description);
    }
    println!("\n`baton call {plugin} ACTION --help` lists an action's params.");
}

/// The action's params from its schema: name, type, required, default, allowed values.
fn print_action_help(plugin: &str, act: &Action) {
    println!("baton call {plugin} {} [--param KEY=VALUE]... [--params JSON] [--timeout SECS] [--json]", act.name);
    if !act.description.is_empty() {
        println!("\n{}", act.description);
    }
    let props = act.schema.get("properties").and_then(Value::as_object);
    let required: Vec<&str> = act
        .schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!("\nparams:");
    match props {
        Some(p) if !p.is_empty() => {
            for (name, prop) in p {
                let types = types_of(prop);
                let ty = if types.is_empty() { "any".to_string() } else { types.join("|") };
                let mut line = format!("  --param {name}=<{ty}>");
                if required.contains(&name.as_str()) {
                    line.push_str("  (required)");
                }
                println!("{line}");
                if let Some(d) = prop.get("description").and_then(Value::as_str) {
                    println!("      {d}");
                }
                if let Some(e) = prop.get("enum").and_then(Value::as_array) {
                    let vals: Vec<String> = e.iter().map(|v| v.to_string()).collect();
                    println!("      one of: {}", vals.join(", "));
                }
                if let Some(d) = prop.get("default") {
                    println!("      default: {d}");
                }
            }
        }
        _ => println!("  (none named)"),
    }
    if allows_other_keys(&act.schema) {
        println!("  --param KEY=VALUE  any other key (the value is read as JSON, else kept as text)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flags(f: &[&str]) -> Vec<String> {
        f.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn params_are_typed_by_the_schema() {
        let schema = json!({"type": "object", "additionalProperties": false, "properties": {
            "name": {"type": "string"}, "limit": {"type": "integer"}, "ratio": {"type": "number"},
            "dry_run": {"type": "boolean"}, "paths": {"type": "array", "items": {"type": "string"}},
            "mode": {"enum": ["plan", "apply"]}, "opt": {"type": ["integer", "null"]}, "cfg": {"type": "object"}}});
        let p = build_params(
            &schema,
            json!({"limit": 1}),
            &flags(&[
                "name=5",
                "limit=7",
                "ratio=0.5",
                "dry_run=yes",
                "paths=a",
                "paths=b",
                "mode=apply",
                "opt=null",
                r#"cfg={"x":1}"#,
            ]),
        )
        .unwrap();
        assert_eq!(
            p,
            json!({"name": "5", "limit": 7, "ratio": 0.5, "dry_run": true, "paths": ["a", "b"], "mode": "apply", "opt": null, "cfg": {"x": 1}})
        );
        // A JSON array is taken whole.
        assert_eq!(
            build_params(&schema, json!({}), &flags(&[r#"paths=["x","y"]"#])).unwrap()["paths"],
            json!(["x", "y"])
        );
        // Wrong types and unknown keys are refused, naming the key.
        let e = build_params(&schema, json!({}), &flags(&["limit=many"])).unwrap_err().to_string();
        assert!(e.contains("limit") && e.contains("integer"), "{e}");
        let e = build_params(&schema, json!({}), &flags(&["nmae=x"])).unwrap_err().to_string();
        assert!(e.contains("did you mean \"name\""), "{e}");
        assert!(build_params(&schema, json!([]), &[]).is_err());
        assert!(build_params(&schema, json!({}), &flags(&["=x"])).is_err());
    }

    #[test]
    fn where_other_keys_are_allowed_any_key_is_json_or_text() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "string"}}});
        let p =
            build_params(&schema, json!({}), &flags(&["n=3", "m=3", "t=hello world", "b=false", "eq=a=b"])).unwrap();
        assert_eq!(p, json!({"n": "3", "m": 3, "t": "hello world", "b": false, "eq": "a=b"}));
    }
}
