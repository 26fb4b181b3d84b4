//! `baton-plugin`: the guest SDK for baton plugins written in Rust (the analogue of Zed's
//! `zed_extension_api`).
//!
//! It owns the bindings of the repository's root `wit/` (never a copy: `generate!` reads
//! `wit/plugin.wit` and `wit/music/`), so a plugin writes no WIT glue, and gives every plugin
//! the same answers to the same questions:
//!
//! - [`Plugin`] and [`register!`]: a plugin is a type with a name, folders, and typed
//!   [`Actions`]; each action's params are a `#[derive(Deserialize, JsonSchema)]` struct whose
//!   JSON Schema is generated (never written by hand), and which the SDK parses (`{}` or no
//!   params at all when every field has a default).
//! - [`catalog_failure`]: one policy from a catalog error to a task [`Failure`].
//! - [`grants`]: grant lookup by logical name, with the fix in the error.
//! - [`paging`]: every page of a catalog query, and long results cut into pages with a cursor.
//! - [`kv`]: values over the host's size limit kept in numbered chunks.
//!
//! - [`Ctx::ask`]: a question for the task's sender (WIT 0.6.0's `needs-input`), answered by
//!   the time the plugin runs again.
//!
//! The bindings are the music world (`baton:music/music@0.6.0`), which includes the core world
//! (`baton:plugin@0.6.0`) and imports the music interfaces at 0.5.0: a plugin that never
//! touches the catalog, fingerprints or sqlite declares no collections, and the host links only
//! what it imports.
pub mod grants;
pub mod kv;
pub mod paging;

mod failure;

use std::collections::BTreeSet;

pub use failure::catalog_failure;
pub use schemars;
pub use schemars::JsonSchema;
pub use serde;
pub use serde_json;

/// The generated bindings of `wit/` (`baton:plugin@0.6.0`) and `wit/music/` (the 0.6.0 music
/// world), with the music interfaces from `wit/v0.5/music/` (and the 0.5.0 core they were
/// published with, which nothing here uses).
pub mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/v0.5", "../../wit/v0.5/music", "../../wit", "../../wit/music"],
        world: "baton:music/music@0.6.0",
        generate_all,
        pub_export_macro: true,
        default_bindings_module: "baton_plugin::bindings",
    });
}

// Two versions of each package are in the bindings (the 0.5.0 music interfaces come with the
// 0.5.0 core they were published against), so wit-bindgen names the modules by version.
pub use bindings::baton::music0_5_0::types::CollectionRequest;
pub use bindings::baton::music0_5_0::{catalog, fingerprint, sqlite};
pub use bindings::baton::plugin0_6_0::host;
pub use bindings::baton::plugin0_6_0::types::{
    ActionInfo, Failure, FolderRequest, FollowUp, Grant, InputRequest, Level, Outcome, PluginInfo, Task,
};

/// A plugin: who it is, what it asks for, and its actions. Register it with [`register!`].
pub trait Plugin {
    /// The plugin's name (its file name once installed).
    const NAME: &'static str;
    /// Usually `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    const DESCRIPTION: &'static str;

    /// The folders it asks for by logical name; the user grants them in `baton.toml`.
    fn folders() -> Vec<FolderRequest> {
        Vec::new()
    }

    /// The catalog collections it reads and writes; none by default.
    fn collections() -> Vec<CollectionRequest> {
        Vec::new()
    }

    /// Its actions, each with typed params.
    fn actions() -> Actions;
}

/// A folder request, shorter.
pub fn folder(name: &str, writable: bool, purpose: &str) -> FolderRequest {
    FolderRequest { name: name.into(), writable, purpose: purpose.into() }
}

/// A collection request, shorter.
pub fn collection(name: &str, writable: bool, purpose: &str) -> CollectionRequest {
    CollectionRequest { name: name.into(), writable, purpose: purpose.into() }
}

/// What a successful action returns: a summary line, a JSON result, and artifacts (guest
/// paths of files it wrote).
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub summary: String,
    pub result: serde_json::Value,
    pub artifacts: Vec<String>,
}

impl Done {
    pub fn new(summary: impl Into<String>, result: serde_json::Value) -> Self {
        Done { summary: summary.into(), result, artifacts: Vec::new() }
    }

    pub fn with_artifacts(mut self, artifacts: Vec<String>) -> Self {
        self.artifacts = artifacts;
        self
    }

    fn into_outcome(self) -> Outcome {
        Outcome { summary: self.summary, result: self.result.to_string(), artifacts: self.artifacts }
    }
}

/// What an action sees of its task besides its params.
pub struct Ctx<'a> {
    /// The task as the host sent it (`params` is the raw JSON text).
    pub task: &'a Task,
    /// The plugin's name, for messages that name its `baton.toml` table.
    pub plugin: &'static str,
    /// How many questions [`Ctx::ask`] asked so far in this run (it names them `ask-1`, …).
    asked: std::cell::Cell<u32>,
}

impl<'a> Ctx<'a> {
    /// The context of `task` for the plugin `plugin`.
    pub fn new(task: &'a Task, plugin: &'static str) -> Self {
        Ctx { task, plugin, asked: std::cell::Cell::new(0) }
    }

    /// Asks the task's sender a question: the answer (checked by the host against `schema`,
    /// a JSON Schema) if it was given, else `Err(Failure::NeedsInput(..))`, which the action
    /// returns with `?`. The host delivers the question, waits (no sandbox kept alive), and
    /// runs the plugin again from the start with every answer so far, so an action asks its
    /// questions in the same order each run and does nothing it cannot do twice before its
    /// last question. The questions are named `ask-1`, `ask-2`, … in the order asked;
    /// [`Ctx::ask_as`] names one itself.
    pub fn ask(&self, message: &str, schema: serde_json::Value) -> Result<serde_json::Value, Failure> {
        let n = self.asked.get() + 1;
        self.asked.set(n);
        self.ask_as(&format!("ask-{n}"), message, schema)
    }

    /// [`Ctx::ask`] with the question's id given (`A-Z a-z 0-9 . _ -`, stable across runs).
    pub fn ask_as(
        &self,
        request_id: &str,
        message: &str,
        schema: serde_json::Value,
    ) -> Result<serde_json::Value, Failure> {
        if let Some(answer) = self.input(request_id) {
            return Ok(answer);
        }
        Err(Failure::NeedsInput(InputRequest {
            request_id: request_id.into(),
            message: message.into(),
            input_schema: schema.to_string(),
        }))
    }

    /// The answer given to the question `request_id`, if any.
    pub fn input(&self, request_id: &str) -> Option<serde_json::Value> {
        let inputs: serde_json::Value = serde_json::from_str(&self.task.inputs).ok()?;
        inputs.get(request_id).cloned()
    }
}

impl Ctx<'_> {
    /// A log line tied to this task.
    pub fn log(&self, level: Level, message: &str) {
        host::log(level, message);
    }

    pub fn progress(&self, done: u64, total: u64, message: &str) {
        host::progress(done, total, message);
    }

    /// The first folder granted as `name` (or `name.<suffix>`); the error names the fix.
    pub fn grant(&self, name: &str) -> Result<Grant, Failure> {
        grants::require(&host::grants(), name, self.plugin)
    }

    /// Guest paths of every folder granted as `name` or `name.<suffix>`.
    pub fn granted(&self, name: &str) -> Vec<String> {
        grants::all(&host::grants(), name).into_iter().map(|g| g.guest_path).collect()
    }

    /// The `[plugins.NAME.settings]` table, parsed; a bad table names itself.
    pub fn settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, Failure> {
        settings_from(&host::settings(), self.plugin)
    }

    /// The catalog error policy ([`catalog_failure`]), with what was being done
    /// (`reading tracks`): `catalog::get(..).map_err(ctx.catalog("reading tracks"))?`.
    pub fn catalog<'a>(&'a self, what: &'a str) -> impl FnOnce(catalog::CatalogError) -> Failure + 'a {
        move |e| catalog_failure(what, e)
    }

    /// The correlation id to put on follow-ups: the task's own, else its id.
    pub fn correlation(&self) -> String {
        self.task.correlation_id.clone().unwrap_or_else(|| self.task.id.clone())
    }
}

/// Parses a settings table given as JSON text (`{}` when there is none).
pub fn settings_from<T: serde::de::DeserializeOwned>(text: &str, plugin: &str) -> Result<T, Failure> {
    serde_json::from_str(text)
        .map_err(|e| Failure::InvalidInput(format!("[plugins.{plugin}.settings] in baton.toml: {e}")))
}

type Handler = Box<dyn Fn(&Ctx, serde_json::Value) -> Result<Done, Failure>>;

struct Action {
    info: ActionInfo,
    run: Handler,
}

/// A plugin's actions: name, description, typed params (schema generated), handler.
#[derive(Default)]
pub struct Actions {
    list: Vec<Action>,
}

impl Actions {
    pub fn new() -> Self {
        Actions::default()
    }

    /// Adds the action `name`. Its params are parsed into `P` (no params or an empty text is
    /// `{}`); its `params_schema` is `P`'s generated JSON Schema, so the host refuses bad
    /// params before the plugin runs and `baton call` can list them.
    pub fn add<P, F>(mut self, name: &str, description: &str, run: F) -> Self
    where
        P: serde::de::DeserializeOwned + JsonSchema + 'static,
        F: Fn(&Ctx, P) -> Result<Done, Failure> + 'static,
    {
        let action = name.to_string();
        self.list.push(Action {
            info: ActionInfo { name: name.into(), description: description.into(), params_schema: schema_of::<P>() },
            run: Box::new(move |ctx, value| {
                let params: P = serde_json::from_value(value)
                    .map_err(|e| Failure::InvalidInput(format!("params of `{action}`: {e}")))?;
                run(ctx, params)
            }),
        });
        self
    }

    /// The actions as `describe()` lists them.
    pub fn infos(&self) -> Vec<ActionInfo> {
        self.list.iter().map(|a| a.info.clone()).collect()
    }

    /// Runs `task`'s action. Unknown actions and unparsable params are `invalid-input`.
    pub fn run(&self, ctx: &Ctx) -> Result<Done, Failure> {
        let task = ctx.task;
        let Some(action) = self.list.iter().find(|a| a.info.name == task.action) else {
            let known: BTreeSet<&str> = self.list.iter().map(|a| a.info.name.as_str()).collect();
            return Err(Failure::InvalidInput(format!(
                "unknown action `{}`; {} has: {}",
                task.action,
                ctx.plugin,
                known.into_iter().collect::<Vec<_>>().join(", ")
            )));
        };
        let value = parse_params(&task.action, &task.params)?;
        (action.run)(ctx, value)
    }
}

/// A task's params text as JSON: an empty text is `{}`.
pub fn parse_params(action: &str, text: &str) -> Result<serde_json::Value, Failure> {
    if text.trim().is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_str(text).map_err(|e| Failure::InvalidInput(format!("params of `{action}`: {e}")))
}

/// `P`'s JSON Schema (draft 2020-12) as text.
pub fn schema_of<P: JsonSchema>() -> String {
    serde_json::to_string(&schemars::schema_for!(P)).unwrap_or_else(|_| r#"{"type":"object"}"#.into())
}

/// `describe()` for `P`; called by the code [`register!`] generates.
pub fn describe<P: Plugin>() -> PluginInfo {
    PluginInfo {
        name: P::NAME.into(),
        version: P::VERSION.into(),
        description: P::DESCRIPTION.into(),
        actions: P::actions().infos(),
        folders: P::folders(),
    }
}

/// `handle()` for `P`; called by the code [`register!`] generates.
pub fn handle<P: Plugin>(task: Task) -> Result<Outcome, Failure> {
    let ctx = Ctx::new(&task, P::NAME);
    P::actions().run(&ctx).map(Done::into_outcome)
}

/// Exports `$plugin` (a type implementing [`Plugin`]) as the component's `describe`, `handle`
/// and `catalog-access`. Once per plugin crate.
#[macro_export]
macro_rules! register {
    ($plugin:ty) => {
        struct __BatonPluginExport;

        impl $crate::bindings::Guest for __BatonPluginExport {
            fn describe() -> $crate::PluginInfo {
                $crate::describe::<$plugin>()
            }
            fn handle(task: $crate::Task) -> ::core::result::Result<$crate::Outcome, $crate::Failure> {
                $crate::handle::<$plugin>(task)
            }
            fn catalog_access() -> ::std::vec::Vec<$crate::CollectionRequest> {
                <$plugin as $crate::Plugin>::collections()
            }
        }

        $crate::bindings::export!(__BatonPluginExport with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// Every field optional: `{}` is valid.
    #[derive(Debug, Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct Params {
        /// How many.
        #[serde(default)]
        count: u32,
        name: Option<String>,
    }

    fn task(action: &str, params: &str) -> Task {
        Task {
            id: "T1".into(),
            action: action.into(),
            params: params.into(),
            sender: "Tester".into(),
            title: "t".into(),
            correlation_id: None,
            inputs: "{}".into(),
        }
    }

    fn actions() -> Actions {
        Actions::new().add("count", "Counts.", |_ctx: &Ctx, p: Params| {
            Ok(Done::new(format!("{} {}", p.count, p.name.unwrap_or_default()), serde_json::json!({"count": p.count})))
        })
    }

    fn run(action: &str, params: &str) -> Result<Done, Failure> {
        let t = task(action, params);
        actions().run(&Ctx::new(&t, "demo"))
    }

    #[test]
    fn the_schema_is_generated_from_the_params_type() {
        let infos = actions().infos();
        let schema: serde_json::Value = serde_json::from_str(&infos[0].params_schema).unwrap();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(schema["properties"]["count"]["description"], "How many.");
        assert!(schema.get("required").is_none_or(|r| r.as_array().unwrap().is_empty()), "{schema}");
    }

    #[test]
    fn empty_params_are_an_empty_object() {
        assert_eq!(run("count", "").unwrap().summary, "0 ");
        assert_eq!(run("count", "{}").unwrap().summary, "0 ");
        assert_eq!(run("count", r#"{"count": 3, "name": "x"}"#).unwrap().result, serde_json::json!({"count": 3}));
    }

    #[test]
    fn bad_params_and_unknown_actions_are_invalid_input_with_the_names() {
        match run("count", r#"{"count": "three"}"#) {
            Err(Failure::InvalidInput(m)) => assert!(m.starts_with("params of `count`:"), "{m}"),
            other => panic!("{other:?}"),
        }
        match run("count", "{not json") {
            Err(Failure::InvalidInput(m)) => assert!(m.contains("params of `count`"), "{m}"),
            other => panic!("{other:?}"),
        }
        match run("nope", "{}") {
            Err(Failure::InvalidInput(m)) => assert_eq!(m, "unknown action `nope`; demo has: count"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn settings_errors_name_the_table() {
        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct S {
            #[allow(dead_code)]
            limit: Option<u32>,
        }
        assert!(settings_from::<S>("{}", "demo").is_ok());
        match settings_from::<S>(r#"{"limt": 1}"#, "demo") {
            Err(Failure::InvalidInput(m)) => {
                assert!(m.starts_with("[plugins.demo.settings] in baton.toml: unknown field `limt`"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
