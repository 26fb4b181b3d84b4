//! `baton mcp`: the Model Context Protocol over stdio, on the official Rust SDK (`rmcp`), so
//! Claude Code, Cursor and Codex reach baton with the tools they already speak. Each tool is the
//! command of the same name (the same handoffs, the same errors): `send_task`,
//! `wait_for_return`, `inbox`, `read_handoff`, `reply` run in this process; `status`, `show`,
//! `retry`, `audit` and `plugins` run this same binary's `--json` commands and pass their answer
//! on. Each agent's inbox is a resource (`baton://inbox/<agent>`). Stdout carries only JSON-RPC;
//! logs go to stderr.
//!
//! A client that declares MCP's tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) gets
//! `send_task` and `wait_for_return` as tasks: the call answers a task handle at once, the work
//! goes on in this process, and the client polls `tasks/get` for the result (or `tasks/cancel`s
//! it). As a task, `wait_for_return` is not held to `--wait-cap` (no tool-call limit applies):
//! it waits for the RETURN, or `timeout_s` when given. Other clients get plain results.
use baton_sync::Locked;
use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, CancelTaskParams, ContentBlock, CreateTaskResult,
    DetailedTask, GetTaskParams, GetTaskResult, Implementation, InitializeResult, ListResourcesResult, ListToolsResult,
    PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ServerCapabilities, ServerConfig, Task, TaskPayload, TaskStatus, Tool,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Map, Value, json};

use crate::{FOLDERS, Tree, ack, inbox, reply, send, validate, wait};

mod pages;
use baton_cli::Ctx;
use pages::page_into;

#[derive(clap::Args, Debug)]
pub struct McpArgs {
    /// The caller's agent name: it becomes `from` of what it sends, and it may answer only
    /// TASKs addressed to it. Default: $BATON_AGENT.
    #[arg(long, env = "BATON_AGENT")]
    pub agent: Option<String>,
    /// `wait_for_return` waits at most this long per call, then answers `{pending: true, id}`
    /// so the agent calls again (below Claude Code's 60 s tool limit).
    #[arg(long, value_name = "SECS", default_value_t = 50.0)]
    pub wait_cap: f64,
}

const INBOX_URI: &str = "baton://inbox/";

#[derive(Clone)]
struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    /// Why this server cannot work (not a home, a bad agent name), with the fix: the session
    /// still starts, and every tool answers this, since a client shows a server that exits at
    /// start only as "Connection closed".
    broken: Option<String>,
    tree: Tree,
    home: std::path::PathBuf,
    location: baton_ledger::Location,
    agent: Option<String>,
    wait_cap: Duration,
    /// What this session sent: where each RETURN lands and the names there just before (or,
    /// with the session's watch on that inbox, the mark its landings are read from), so a wait
    /// reads only newer files.
    sent: std::sync::Mutex<std::collections::HashMap<String, (send::Sent, Option<Mark>)>>,
    /// One watch on this session's reply inbox, set at its first send there: a wait reads what
    /// landed after its TASK instead of listing an inbox that keeps every RETURN left unread.
    feed: std::sync::Mutex<Option<Feed>>,
    /// The tasks this session created (tasks extension), by task id.
    tasks: std::sync::Mutex<std::collections::HashMap<String, TaskEntry>>,
}

/// Where a wait starts reading the session's landings.
type Mark = (Arc<wait::Landings>, u64);

/// The session's watch on a reply inbox (`None` inside: that folder gives no events).
struct Feed {
    inbox: std::path::PathBuf,
    watch: Option<(notify::RecommendedWatcher, Arc<wait::Landings>)>,
}

impl Inner {
    /// The landings of `reply_inbox` when it is the session's watched inbox (watched from its
    /// first send; a send answered elsewhere lists as before), marked now, before the write.
    fn mark(&self, reply_inbox: &std::path::Path) -> Option<Mark> {
        let mut feed = self.feed.locked();
        if feed.is_none() && reply_inbox.is_dir() {
            let watch = wait::Landings::watch(reply_inbox, || {});
            *feed = Some(Feed { inbox: reply_inbox.to_path_buf(), watch });
        }
        let f = feed.as_ref().filter(|f| f.inbox == reply_inbox)?;
        let landings = f.watch.as_ref().map(|(_, l)| l.clone())?;
        let at = landings.mark();
        Some((landings, at))
    }
}

/// One tool call running as an MCP task.
struct TaskEntry {
    task: Task,
    payload: TaskPayload,
    /// Set by `tasks/cancel`: a waiting `wait_for_return` stops at its next slice.
    cancel: Arc<std::sync::atomic::AtomicBool>,
}

/// The tools a client that declares the tasks extension gets as tasks.
const TASK_TOOLS: [&str; 2] = ["send_task", "wait_for_return"];

/// How long a finished task's result is kept for `tasks/get`.
const TASK_TTL: Duration = Duration::from_secs(3600);
/// How often a client polls `tasks/get`: a wait is for an agent or a plugin, seconds at least,
/// and 50 ms made a 4 s wait cost 78 polls.
const POLL_INTERVAL_MS: u64 = 500;
/// A `send_task` run as a task is the send, done at once: its task id is `send-` and the
/// handoff's id, so the handoff's own id stays the one task `wait_for_return` tracks.
const SEND_TASK_PREFIX: &str = "send-";

/// An MCP task handle as baton makes them: its TTL and poll interval.
fn new_task(id: &str, status: TaskStatus, created: &str, updated: &str) -> Task {
    Task::new(id.to_string(), status, created.to_string(), updated.to_string())
        .with_ttl_ms(TASK_TTL.as_millis() as u64)
        .with_poll_interval_ms(POLL_INTERVAL_MS)
}

/// A finished call's result as a task's payload.
fn completed(result: &CallToolResult) -> TaskPayload {
    match serde_json::to_value(result) {
        Ok(Value::Object(o)) => TaskPayload::Completed { result: o },
        _ => TaskPayload::Failed {
            error: json!({"code": -32603, "message": "the result could not be encoded"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        },
    }
}

/// The ledger event that says an MCP client cancelled its task on a handoff (the handoff itself
/// goes on: a TASK written is answered).
const CANCELLED_EVENT: &str = "mcp_task_cancelled";

impl Inner {
    /// Keeps a task of this session (finished ones for [`TASK_TTL`]).
    fn remember(&self, id: String, entry: TaskEntry) {
        let mut tasks = self.tasks.locked();
        tasks.retain(|_, t| {
            !t.payload.status().is_terminal() || age_ms(&t.task.last_updated_at) < TASK_TTL.as_millis() as i64
        });
        tasks.insert(id, entry);
    }

    /// A task this session did not create (another session's, or this one's before a restart):
    /// its id is a handoff id, and the handoffs and the ledger answer it. Answered (a RETURN, or
    /// a row baton refused or failed): completed with that answer, as `wait_for_return`
    /// answers; cancelled by a client: cancelled; else working.
    ///
    /// `createdAt` is the TASK's own `created_at` (stable across looks and restarts) and
    /// `lastUpdatedAt` its RETURN's, else the last event the ledger holds for it. A `send_task`
    /// task (`send-ID`) is the send, done: completed with `{id, file}`.
    fn durable(&self, id: &str) -> Result<(Task, TaskPayload)> {
        let ctx = self.ctx();
        let handoff = id.strip_prefix(SEND_TASK_PREFIX).unwrap_or(id);
        let task = wait::find_task(&self.tree, handoff);
        let created = task.as_ref().and_then(|(b, _)| b["created_at"].as_str().map(str::to_string));
        if id != handoff {
            let Some((_, file)) = task else {
                return Err(anyhow!("no task {id:?}: no TASK {handoff:?} in the agents' folders"));
            };
            let at = created.unwrap_or_else(now_rfc3339);
            let result = tool_result("send_task", Ok(json!({"id": handoff, "file": file})));
            return Ok((new_task(id, TaskStatus::Completed, &at, &at), completed(&result)));
        }
        let mut waiter = wait::locate_found(&ctx, &self.tree, id, task.map(|(b, _)| b))
            .map_err(|e| anyhow!("no task {id:?}: a task id is a handoff id, and {e:#}"))?;
        let ledger = baton_home::state::connect(&self.location).ok();
        let events = ledger.as_ref().and_then(|l| l.events(id).ok()).unwrap_or_default();
        let cancelled = events.iter().any(|e| e.event == CANCELLED_EVENT);
        let created = created.or_else(|| events.first().map(|e| e.at.clone())).unwrap_or_else(now_rfc3339);
        let mut updated = events.last().map_or_else(|| created.clone(), |e| e.at.clone());
        let (status, payload) = match waiter.look().map(|(_, ret)| ret) {
            Some(ret) => {
                if let Some(at) = ret["finished_at"].as_str().or(ret["created_at"].as_str()) {
                    updated = at.to_string();
                }
                (TaskStatus::Completed, completed(&tool_result("wait_for_return", Ok(ret))))
            }
            None if cancelled => (TaskStatus::Cancelled, TaskPayload::Cancelled),
            None => (TaskStatus::Working, TaskPayload::Working),
        };
        Ok((new_task(id, status, &created, &updated), payload))
    }

    fn record_cancel(&self, id: &str) -> Result<()> {
        let mut ledger = baton_home::state::connect(&self.location)?;
        let now = now_rfc3339();
        ledger.batch(|b| b.event(id, &now, CANCELLED_EVENT, &json!({"agent": self.agent})))?;
        Ok(())
    }

    fn ctx(&self) -> Ctx {
        self.tree.ctx()
    }

    fn caller(&self) -> Result<String> {
        self.agent.clone().ok_or_else(|| {
            anyhow!("this MCP server has no agent name: start it as `baton mcp --agent NAME` (or set BATON_AGENT) in the client's config")
        })
    }
}

pub fn run(ctx: &Ctx, args: McpArgs) -> Result<i32> {
    if !(args.wait_cap.is_finite() && args.wait_cap > 0.0) {
        bail!("--wait-cap must be a positive number of seconds");
    }
    let opened = Tree::open(ctx);
    let bad_agent = args.agent.as_ref().filter(|a| !baton_handoff::names::is_valid_agent(a)).map(|a| {
        format!(
            "--agent {a:?} is not a valid agent name (ASCII letters, digits, '.', '_' and '-'; or TEAM/AGENT for a Claude Code team's agent): fix `baton mcp --agent NAME` in the client's MCP config"
        )
    });
    let (tree, broken) = match opened {
        Ok(tree) => (tree, bad_agent),
        Err(e) => {
            let why = format!("{e:#}");
            tracing::error!("{why}");
            (unopened(ctx), Some(why))
        }
    };
    let server = Server {
        inner: Arc::new(Inner {
            broken,
            tree,
            home: ctx.home.clone(),
            location: ctx.location.clone(),
            agent: args.agent.filter(|a| !a.is_empty()),
            wait_cap: Duration::from_secs_f64(args.wait_cap),
            sent: Default::default(),
            feed: Default::default(),
            tasks: Default::default(),
        }),
    };
    let rt = baton_cli::rt::runtime()?;
    let r = rt.block_on(async move {
        let running =
            server.serve(rmcp::transport::stdio()).await.map_err(|e| anyhow!("starting the MCP session: {e}"))?;
        running.waiting().await.map_err(|e| anyhow!("MCP session: {e}"))?;
        anyhow::Ok(0)
    });
    // stdin's pending read cannot be cancelled: never wait for it on the way out.
    rt.shutdown_timeout(Duration::from_millis(200));
    r
}

/// The tree of a folder that is not a home: nothing in it is read, every tool answers why.
fn unopened(ctx: &Ctx) -> Tree {
    Tree {
        home: ctx.home.clone(),
        root: ctx.home.join("handoffs"),
        baton: "baton".into(),
        plugins_dir: ctx.home.join("plugins"),
        max_file_bytes: 0,
        state_file: ctx.state.clone(),
        location: ctx.location.clone(),
        state_dir: ctx.home.join("state"),
        host: ctx.host,
        ctx: ctx.clone(),
    }
}

fn schema(properties: Value, required: &[&str]) -> Arc<Map<String, Value>> {
    let v = json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false});
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

fn obj(v: Value) -> Arc<Map<String, Value>> {
    Arc::new(v.as_object().cloned().unwrap_or_default())
}

/// `wait_for_return`'s output: the RETURN (the published schema, kind fixed), `{pending, id,
/// expected, message}` (which TASK, and where its answer was looked for), or the ledger's
/// answer for a TASK refused or failed with no RETURN to read (`"from": "ledger"`, see
/// [`wait::Waiter::check`]): a client must be able to take a rejection as the result.
fn wait_output_schema() -> Arc<Map<String, Value>> {
    let mut ret = validate::schema_for(validate::Kind::Return);
    let defs = ret.as_object_mut().and_then(|o| o.remove("$defs")).unwrap_or(json!({}));
    if let Some(o) = ret.as_object_mut() {
        for k in ["$schema", "$id"] {
            o.remove(k);
        }
    }
    obj(json!({
        "type": "object",
        "$defs": defs,
        "anyOf": [
            ret,
            {"type": "object", "properties": {"pending": {"const": true}, "id": {"type": "string"},
             "expected": {"type": "string", "description": "Where the RETURN is looked for: a folder, or a Claude Code team agent's inbox"},
             "message": {"type": "string"}}, "required": ["pending", "id"]},
            {"type": "object", "properties": {
                "kind": {"const": "return"}, "from": {"const": "ledger"}, "in_reply_to": {"type": "string"},
                "status": {"enum": ["rejected", "failed"]}, "summary": {"type": "string"},
                "error": {"type": "object", "properties": {"code": {"type": ["string", "null"]}, "message": {"type": "string"}}},
                "finished_at": {"type": ["string", "null"]}},
             "required": ["kind", "from", "in_reply_to", "status", "summary", "error"]},
            {"type": "object", "properties": {
                "status": {"const": "input_required"}, "id": {"type": "string"},
                "input_request": {"type": "object", "description": "The TASK's open input request (kind input_request): answer it with the tool `answer`"}},
             "required": ["status", "id", "input_request"]}
        ]
    }))
}

fn tools() -> Vec<Tool> {
    let s = |d: &str| json!({"type": "string", "description": d});
    let id = || s("A handoff id (what send_task answered, or the `id` of a TASK)");
    let limit = || json!({"type": "integer", "minimum": 1, "description": "At most this many items (default 50)"});
    let cursor = || s("The `next_cursor` of the page before");
    let any = || obj(json!({"type": "object"}));
    vec![
        Tool::new(
            "send_task",
            "Send a TASK: to a plugin (plugin + action + params; baton runs it) or to another agent (to + title + body). \
             Answers {id, file}; then call wait_for_return with the id. Your agent name is the sender.",
            schema(
                json!({
                    "to": s("The agent to send to (its inbox must exist)"),
                    "plugin": s("The plugin baton runs the TASK with"),
                    "action": s("The plugin's action"),
                    "params": {"type": "object", "description": "The action's params"},
                    "title": s("One line; optional for a plugin (default <plugin>.<action>)"),
                    "body": {"type": ["object", "string"], "description": "More for the recipient: an object whose fields join the TASK, or text"},
                    "reply_to": s("The agent whose inbox gets the RETURN (default: you)"),
                    "correlation_id": s("Ties related handoffs together"),
                    "priority": {"enum": ["low", "normal", "high", "urgent"]},
                    "deadline": s("RFC 3339 time, e.g. 2026-01-18T17:00:00Z"),
                    "new_agent": {"type": "boolean", "description": "Create the recipient agent's inbox if it does not exist yet"},
                    "claude_task": s("With `to` TEAM/AGENT: the Claude Code team task the message is about, TEAM#N (alpha#2); baton show of either names the other"),
                }),
                &[],
            ),
        )
        .with_raw_output_schema(obj(json!({
            "type": "object", "properties": {"id": {"type": "string"}, "file": {"type": "string"}}, "required": ["id", "file"]
        }))),
        Tool::new(
            "wait_for_return",
            "Wait for the RETURN of a TASK and answer it. Waits at most the server's cap (default 50 s); if the RETURN \
             has not come by then, answers {pending: true, id}: call again with the same id. If the TASK asks back, \
             answers {status: \"input_required\", id, input_request}: give the input with the tool `answer`, then wait again.",
            schema(json!({"id": id(), "timeout_s": {"type": "number", "minimum": 0, "description": "Wait at most this long (capped)"}}), &["id"]),
        )
        .with_raw_output_schema(wait_output_schema()),
        Tool::new(
            "answer",
            "Answer the input request of a TASK that asked back (wait_for_return said input_required): `input` must \
             match the request's input_schema. Answers {id, request_id, state}; then call wait_for_return again.",
            schema(
                json!({"id": s("The TASK's id (or the request's request_id)"), "input": {"description": "The answer, matching the request's input_schema"}}),
                &["id", "input"],
            ),
        )
        .with_raw_output_schema(any()),
        Tool::new(
            "inbox",
            "The handoffs waiting for an agent (default: you): TASKs to do and RETURNs to read, oldest first.",
            schema(json!({"agent": s("The agent (default: you)"), "limit": limit(), "cursor": cursor()}), &[]),
        )
        .with_raw_output_schema(any()),
        Tool::new(
            "read_handoff",
            "Read one handoff (TASK or RETURN) by id: {file, agent, folder, handoff}.",
            schema(json!({"id": id()}), &["id"]),
        )
        .with_raw_output_schema(any()),
        Tool::new(
            "reply",
            "Answer a TASK addressed to you, exactly once: writes one RETURN to its sender and files the TASK. \
             Answers {id, file, task_file}.",
            schema(
                json!({
                    "id": s("The TASK's id"),
                    "status": {"enum": ["completed", "failed", "rejected", "canceled"]},
                    "summary": s("What was done, or why not"),
                    "result": {"type": "object", "description": "Structured result"},
                    "artifacts": {"type": "array", "items": {"type": "string"}, "description": "Paths the work produced"},
                }),
                &["id", "status", "summary"],
            ),
        )
        .with_raw_output_schema(any()),
        Tool::new(
            "ack",
            "Mark RETURNs read once you have read them: each moves from the inbox to 02_processed/ and unread counts drop. \
             `ids`: RETURN ids, or the ids of the TASKs they answer; or `all: true` for every RETURN in your inbox. \
             Answers {acked: [...], already: [...]}.",
            schema(
                json!({
                    "ids": {"type": "array", "items": {"type": "string"}, "description": "RETURN ids, or the TASKs' ids"},
                    "all": {"type": "boolean", "description": "Every RETURN waiting in your inbox"},
                }),
                &[],
            ),
        )
        .with_raw_output_schema(any()),
        Tool::new(
            "status",
            "baton's queue, recent executions, open handoffs between agents (paged: `limit`, `cursor`), paused plugins; \
             each agent's counts (its handoffs: `inbox`). Other lists are cut to fit one answer, and `cut` says which.",
            schema(json!({"limit": limit(), "cursor": cursor()}), &[]),
        )
            .with_raw_output_schema(any()),
        Tool::new("show", "One handoff's history: its record, events and plugin logs.", schema(json!({"id": id()}), &["id"]))
            .with_raw_output_schema(any()),
        Tool::new(
            "retry",
            "Move a failed handoff back into baton's inbox to run again. One refused for what it is (unknown action, invalid params) runs again only with edited `params` (checked against the action's schema) or `force`.",
            schema(
                json!({"id": id(), "params": {"type": "object", "description": "Run it with these params instead"}, "force": {"type": "boolean", "description": "Retry unchanged a handoff that will most likely be refused again"}}),
                &["id"],
            ),
        )
        .with_raw_output_schema(any()),
        Tool::new(
            "audit",
            "Run a plans audit now (the folders baton.toml grants): what each plan promised against what exists.",
            schema(json!({"force": {"type": "boolean", "description": "Write a report even if nothing changed"}}), &[]),
        )
        .with_raw_output_schema(any()),
        Tool::new("plugins", "The installed plugins and their actions.", schema(json!({}), &[])).with_raw_output_schema(any()),
    ]
}

/// The arguments of a call, refusing names the tool does not have (a typo, or `from`).
fn args_of(tool: &Tool, arguments: Option<Map<String, Value>>) -> Result<Map<String, Value>> {
    let args = arguments.unwrap_or_default();
    let known = tool.input_schema.get("properties").and_then(Value::as_object);
    for k in args.keys() {
        if !known.is_some_and(|p| p.contains_key(k)) {
            let names: Vec<&String> = known.map(|p| p.keys().collect()).unwrap_or_default();
            if k == "from" {
                bail!("{} has no `from`: the sender is the server's agent (`baton mcp --agent NAME`)", tool.name);
            }
            bail!(
                "{} has no argument `{k}` (it takes: {})",
                tool.name,
                names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            );
        }
    }
    Ok(args)
}

fn str_arg(args: &Map<String, Value>, k: &str) -> Result<Option<String>> {
    match args.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => bail!("`{k}` must be a string, not {other}"),
    }
}

fn need(args: &Map<String, Value>, k: &str) -> Result<String> {
    str_arg(args, k)?.ok_or_else(|| anyhow!("`{k}` is required"))
}

impl Server {
    /// Runs a tool. `task`: it runs as an MCP task (no `--wait-cap`), stopped by this flag.
    async fn call(
        &self,
        name: &str,
        args: Map<String, Value>,
        task: Option<Arc<std::sync::atomic::AtomicBool>>,
    ) -> Result<Value> {
        if let Some(why) = &self.inner.broken {
            bail!("{why}");
        }
        let me = self.inner.clone();
        match name {
            "send_task" => blocking(move || send_task(&me, &args)).await,
            "wait_for_return" => blocking(move || wait_for_return(&me, &args, task.as_deref())).await,
            "inbox" => blocking(move || inbox_tool(&me, &args)).await,
            "read_handoff" => blocking(move || read_handoff(&me, &args)).await,
            "reply" => blocking(move || reply_tool(&me, &args)).await,
            "ack" => blocking(move || ack_tool(&me, &args)).await,
            "answer" => {
                let id = need(&args, "id")?;
                let input = args.get("input").ok_or_else(|| anyhow!("`input` is required"))?;
                let mut a: Vec<OsString> =
                    vec!["answer".into(), id.into(), "--input".into(), input.to_string().into(), "--json".into()];
                if let Ok(agent) = me.caller() {
                    a.extend(["--from".into(), agent.into()]);
                }
                self.baton(a).await
            }
            "status" => {
                let mut out = self.baton(vec!["status".into(), "--json".into()]).await?;
                // The open handoffs are paged; the other lists cut to fit, the counts whole.
                let open = out.as_object_mut().and_then(|o| o.remove("open_handoffs"));
                pages::fit_status(&mut out);
                let open = open.and_then(|v| v.as_array().cloned()).unwrap_or_default();
                page_into(&mut out, "open_handoffs", open, &args)?;
                Ok(out)
            }
            "show" => {
                let id = need(&args, "id")?;
                self.baton(vec!["show".into(), id.into(), "--json".into()]).await
            }
            "retry" => {
                let id = need(&args, "id")?;
                let mut a: Vec<OsString> = vec!["retry".into(), id.clone().into()];
                if let Some(params) = args.get("params") {
                    a.extend(["--params".into(), params.to_string().into()]);
                }
                if args.get("force").and_then(Value::as_bool) == Some(true) {
                    a.push("--force".into());
                }
                let out = self.baton(a).await?;
                Ok(json!({"id": id, "message": out["output"]}))
            }
            "audit" => {
                let mut a: Vec<OsString> = vec!["audit".into(), "--json".into()];
                if args.get("force").and_then(Value::as_bool) == Some(true) {
                    a.push("--force".into());
                }
                self.baton(a).await
            }
            "plugins" => {
                let out = self.baton(vec!["plugin".into(), "list".into(), "--json".into()]).await?;
                Ok(if out.is_object() { out } else { json!({"plugins": out}) })
            }
            other => bail!("no tool {other:?}"),
        }
    }

    /// Runs this binary's command on the same home and state; its JSON answer (or its text as
    /// `{output}`), or its error message.
    async fn baton(&self, args: Vec<OsString>) -> Result<Value> {
        let me = self.inner.clone();
        blocking(move || {
            let exe = std::env::current_exe().context("finding the baton binary")?;
            let mut cmd = std::process::Command::new(exe);
            cmd.args(child_globals(&me.home, &me.location));
            let out = cmd.args(&args).stdin(std::process::Stdio::null()).output().context("running baton")?;
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() {
                let err = String::from_utf8_lossy(&out.stderr);
                let msg = err
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.strip_prefix("baton: ").unwrap_or(l))
                    .collect::<Vec<_>>()
                    .join("\n");
                bail!("{}", if msg.is_empty() { stdout.trim().to_string() } else { msg });
            }
            Ok(serde_json::from_str(&stdout).unwrap_or_else(|_| json!({"output": stdout.trim()})))
        })
        .await
    }
}

/// The global flags a command this server runs needs to act on the same home and ledger as the
/// server: `--home`, and `--state` as the server resolved it (a SQLite file, or the PostgreSQL
/// URL, which never carries a password), so neither `$BATON_STATE` nor baton.toml can point the
/// child elsewhere; `--log-format text`, whose last line on failure is the message passed on.
fn child_globals(home: &std::path::Path, location: &baton_ledger::Location) -> Vec<OsString> {
    let state: OsString = match location {
        baton_ledger::Location::Sqlite(p) => p.clone().into_os_string(),
        baton_ledger::Location::Postgres(url) => url.shown().into(),
    };
    vec!["--home".into(), home.as_os_str().to_owned(), "--state".into(), state, "--log-format".into(), "text".into()]
}

/// A tool's answer as MCP sends it: structured content and JSON text, or a tool error.
fn tool_result(tool: &str, outcome: Result<Value>) -> CallToolResult {
    match outcome {
        Ok(v) => CallToolResult::structured(v),
        Err(e) => {
            let message = format!("{e:#}");
            tracing::info!(tool, "refused: {message}");
            CallToolResult::error(vec![ContentBlock::text(json!({"error": message}).to_string())])
        }
    }
}

/// Milliseconds since an RFC 3339 time (0 if it does not parse).
fn age_ms(ts: &str) -> i64 {
    baton_handoff::stamp::parse_rfc3339(ts)
        .map(|t| (baton_handoff::stamp::now() - t).whole_milliseconds() as i64)
        .unwrap_or(0)
}

fn now_rfc3339() -> String {
    baton_handoff::stamp::rfc3339(baton_handoff::stamp::now())
}

/// `send_task`: a TASK to a plugin or an agent, or a message into a Claude Code team's inbox (`to` is `TEAM/AGENT`).
fn send_task(me: &Inner, args: &Map<String, Value>) -> Result<Value> {
    // `to` a Claude Code team's agent (`TEAM/AGENT`): delivered into its inbox.
    if let Some(to) = str_arg(args, "to")?.filter(|t| t.contains('/')) {
        let body = args.get("body").cloned().filter(|v| !v.is_null());
        let title = str_arg(args, "title")?;
        let text = match body {
            Some(Value::String(s)) => s,
            Some(v) => v.to_string(),
            None => title.clone().unwrap_or_default(),
        };
        if text.trim().is_empty() {
            return Err(anyhow!("nothing to send: give `body` (and `title` for its summary)"));
        }
        let new_agent = args.get("new_agent").and_then(Value::as_bool).unwrap_or(false);
        let ctx = me.ctx();
        let task = str_arg(args, "claude_task")?.map(|t| crate::claude_inbox::claude_task(&ctx, &t)).transpose()?;
        let r = crate::claude_inbox::recipient(&ctx, &to, new_agent)?;
        let id = crate::claude_inbox::deliver_to(&ctx, &r, &me.caller()?, &text, title.as_deref(), task.as_deref())?;
        return Ok(json!({"id": id, "file": r.inbox, "delivery": "written", "claude_task": task}));
    }
    if str_arg(args, "claude_task")?.is_some() {
        return Err(anyhow!(
            "`claude_task` links a message into a Claude Code teammate's inbox to a team task: it goes with `to` TEAM/AGENT"
        ));
    }
    let req = send::Request {
        to: str_arg(args, "to")?,
        plugin: str_arg(args, "plugin")?,
        action: str_arg(args, "action")?,
        params: args.get("params").cloned().filter(|v| !v.is_null()),
        title: str_arg(args, "title")?,
        body: args.get("body").cloned().filter(|v| !v.is_null()),
        from: Some(me.caller()?),
        reply_to: str_arg(args, "reply_to")?,
        priority: str_arg(args, "priority")?,
        deadline: str_arg(args, "deadline")?,
        correlation_id: str_arg(args, "correlation_id")?,
        new_agent: args.get("new_agent").and_then(Value::as_bool).unwrap_or(false),
    };
    let prepared = send::prepare(&me.tree, &req)?;
    let mark = prepared.mailbox.is_none().then(|| me.mark(&prepared.reply_inbox)).flatten();
    let sent = if mark.is_some() { prepared.write()? } else { prepared.write_listed()? };
    let mut known = me.sent.locked();
    if known.len() >= 10_000 {
        known.clear();
    }
    let answer = json!({"id": sent.id, "file": sent.file});
    known.insert(sent.id.clone(), (sent, mark));
    Ok(answer)
}

/// `wait_for_return`: the RETURN of a TASK, waited for up to `timeout_s` (as an MCP task, until `cancel` is set).
fn wait_for_return(
    me: &Inner,
    args: &Map<String, Value>,
    task: Option<&std::sync::atomic::AtomicBool>,
) -> Result<Value> {
    let id = need(args, "id")?;
    let asked = match args.get("timeout_s") {
        // As a task, no cap applies: without `timeout_s`, wait for the RETURN.
        None | Some(Value::Null) => me.wait_cap,
        Some(v) => {
            let secs = v
                .as_f64()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .ok_or_else(|| anyhow!("`timeout_s` must be a number of seconds >= 0"))?;
            Duration::from_secs_f64(secs)
        }
    };
    let known = me.sent.locked().get(&id).cloned();
    let mut waiter = match known {
        Some((s, mark)) => {
            let w = wait::Waiter::for_sent(&s, Some(me.location.clone()));
            match mark {
                Some((landings, at)) => w.with_landings(landings, at),
                None => w,
            }
        }
        None => {
            if let Some((_, ret)) = wait::rejected_unparsed(&me.ctx(), &me.tree, &id) {
                return Ok(ret);
            }
            wait::locate(&me.ctx(), &me.tree, &id)?
        }
    };
    // A tool call ends at an open input request (the client answers it with `answer`); an MCP
    // task waits through it for the RETURN.
    waiter.asking = task.is_none();
    let found = match task {
        None => wait::block(&mut waiter, Some(asked.min(me.wait_cap)))?,
        Some(cancel) => {
            let limit = args.get("timeout_s").is_some_and(|v| !v.is_null()).then_some(asked);
            wait::block_sliced(&mut waiter, limit, || Ok(!cancel.load(std::sync::atomic::Ordering::Relaxed)))?
        }
    };
    Ok(match found {
        Some((_, req)) if req.get("kind").and_then(Value::as_str) == Some("input_request") => {
            json!({"status": "input_required", "id": id, "input_request": req})
        }
        Some((_, ret)) => ret,
        // Said, not silent: which TASK, and where its answer was looked for.
        None => {
            let mut message = format!("no RETURN for TASK {id} yet; expected: {}", waiter.expected());
            if waiter.for_plugin && !crate::waiting::serve_running(&me.ctx(), &me.tree) {
                message = format!("{message}. {}", crate::waiting::no_serve_message(&me.ctx().home));
            }
            json!({"pending": true, "id": id, "expected": waiter.expected(), "message": message})
        }
    })
}

/// `inbox`: the handoffs waiting for an agent (the caller by default).
fn inbox_tool(me: &Inner, args: &Map<String, Value>) -> Result<Value> {
    let agent = match str_arg(args, "agent")? {
        Some(a) => a,
        None => {
            let me_agent = me.caller().context("say which agent's inbox (`agent`)")?;
            // Your own inbox before anything was ever sent to you: empty.
            if me.tree.existing_agent(&me_agent).is_none() {
                return Ok(json!({"agent": me_agent, "handoffs": []}));
            }
            me_agent
        }
    };
    let (folder, items) = inbox::list(&me.tree, &agent, false)?;
    let mut out = json!({"agent": folder});
    page_into(&mut out, "handoffs", items.into_iter().map(|i| json!(i)).collect(), args)?;
    Ok(out)
}

/// `read_handoff`: a handoff's body by id, wherever it is now.
fn read_handoff(me: &Inner, args: &Map<String, Value>) -> Result<Value> {
    let id = need(args, "id")?;
    let f = me
        .tree
        .find(&id, None, &FOLDERS)
        .ok_or_else(|| anyhow!("no handoff with id {id:?} in {}", me.tree.root.display()))?;
    Ok(json!({"file": f.path, "agent": f.agent, "folder": f.folder, "handoff": f.body}))
}

/// `reply`: one RETURN to the sender of a TASK addressed to the caller.
fn reply_tool(me: &Inner, args: &Map<String, Value>) -> Result<Value> {
    let id = need(args, "id")?;
    let status = reply::parse_status(&need(args, "status")?)?;
    let summary = need(args, "summary")?;
    let artifacts = match args.get("artifacts") {
        None | Some(Value::Null) => vec![],
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| anyhow!("`artifacts` must be a list of paths"))?,
    };
    let answer = baton_handoff::build::NewReturn {
        status,
        summary,
        result: args.get("result").cloned().filter(|v| !v.is_null()),
        artifacts,
    };
    let r = reply::reply(&me.tree, &id, &answer, me.agent.as_deref())?;
    let mut out = json!({"id": r.return_id, "file": r.return_file, "task_file": r.task_file});
    if let Some(m) = &r.message {
        out["message"] = json!(m);
        out["delivery"] = json!("written");
    }
    Ok(out)
}

/// `ack`: RETURNs (or mailbox messages) marked read.
fn ack_tool(me: &Inner, args: &Map<String, Value>) -> Result<Value> {
    let ids: Vec<String> = match args.get("ids") {
        None | Some(Value::Null) => vec![],
        Some(v) => serde_json::from_value(v.clone()).map_err(|_| anyhow!("`ids` must be a list of handoff ids"))?,
    };
    let all = args.get("all").and_then(Value::as_bool).unwrap_or(false);
    let acked = match (all, ids.is_empty()) {
        (true, true) => ack::ack_all(&me.ctx(), &me.tree, &me.caller()?)?,
        (false, false) => {
            let caller = me.agent.clone();
            ack::ack(&me.ctx(), &me.tree, &ids, ack::Who { named: None, caller: caller.as_deref() })?
        }
        (true, false) => bail!("give `ids` or `all: true`, not both"),
        (false, true) => {
            bail!("say which RETURNs you read: `ids`, or `all: true` for your whole inbox")
        }
    };
    Ok(ack::answer(&acked))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| anyhow!("internal: {e}"))?
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        InitializeResult::new(ServerCapabilities::builder().enable_tools().enable_resources().enable_tasks().build())
            .with_server_info(Implementation::new("baton", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "baton passes handoffs between agents. send_task sends a TASK (to a plugin, or to another agent) and \
                 answers its id; wait_for_return waits for its RETURN (call again while it answers pending; a TASK that \
                 asks back answers input_required: give the input with answer). inbox lists \
                 what waits for you; reply answers a TASK addressed to you, exactly once.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let Some(tool) = tools().into_iter().find(|t| t.name == request.name) else {
            return Err(ErrorData::invalid_params(format!("no tool {:?}", request.name), None));
        };
        use tracing::Instrument;
        let span = tracing::info_span!("mcp", tool = %tool.name);
        let args = match args_of(&tool, request.arguments) {
            Ok(args) => args,
            Err(e) => return Ok(tool_result(&tool.name, Err(e)).into()),
        };
        let as_task = TASK_TOOLS.contains(&tool.name.as_ref())
            && context.client_capabilities().is_some_and(|c| c.supports_tasks());
        if !as_task {
            let outcome = self.call(&tool.name, args, None).instrument(span).await;
            return Ok(tool_result(&tool.name, outcome).into());
        }
        // A task: its handle now, the work in the background, the result for `tasks/get`. Its
        // id is the handoff's (the TASK waited for; the TASK just sent), so `tasks/get` and
        // `tasks/cancel` still answer, from the handoffs and the ledger, after a restart.
        let id = match tool.name.as_ref() {
            "wait_for_return" => args.get("id").and_then(Value::as_str).map(str::to_string),
            _ => None,
        };
        if tool.name == "send_task" {
            let outcome = self.call(&tool.name, args, None).instrument(span).await;
            let id = outcome.as_ref().ok().and_then(|v| v["id"].as_str()).map(str::to_string);
            let id = format!("{SEND_TASK_PREFIX}{}", id.unwrap_or_else(baton_handoff::build::new_id));
            let now = now_rfc3339();
            let result = tool_result(&tool.name, outcome);
            let task = new_task(&id, TaskStatus::Completed, &now, &now);
            let entry = TaskEntry { task: task.clone(), payload: completed(&result), cancel: Default::default() };
            self.inner.remember(id, entry);
            return Ok(CallToolResponse::Task(CreateTaskResult::new(task)));
        }
        // One handoff, one task: a second wait on it is the first one's task, with its history.
        let known = id.as_ref().and_then(|i| {
            self.inner.tasks.locked().get(i).map(|t| {
                let mut task = t.task.clone();
                task.status = t.payload.status();
                task
            })
        });
        if let Some(known) = known {
            return Ok(CallToolResponse::Task(CreateTaskResult::new(known)));
        }
        let id = id.unwrap_or_else(baton_handoff::build::new_id);
        // Created when the TASK was, as `tasks/get` will say after a restart too: known for a
        // TASK this session sent, else read from its file.
        let sent = self.inner.sent.locked().get(&id).map(|(s, _)| s.created_at.clone());
        let created = match sent {
            Some(at) => Some(at),
            None => {
                let (tree, handoff) = (self.inner.tree.clone(), id.clone());
                blocking(move || {
                    Ok(wait::find_task(&tree, &handoff).and_then(|(b, _)| b["created_at"].as_str().map(str::to_string)))
                })
                .await
                .ok()
                .flatten()
            }
        };
        let now = now_rfc3339();
        let task = new_task(&id, TaskStatus::Working, created.as_deref().unwrap_or(&now), &now);
        let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let entry = TaskEntry { task: task.clone(), payload: TaskPayload::Working, cancel: cancel.clone() };
        self.inner.remember(id.clone(), entry);
        let me = self.clone();
        let name = tool.name.to_string();
        tokio::spawn(
            async move {
                let outcome = me.call(&name, args, Some(cancel.clone())).await;
                let payload = completed(&tool_result(&name, outcome));
                let mut tasks = me.inner.tasks.locked();
                if let Some(t) = tasks.get_mut(&id)
                    && !t.payload.status().is_terminal()
                {
                    t.task.last_updated_at = now_rfc3339();
                    t.payload = payload;
                }
            }
            .instrument(span),
        );
        Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
    }

    async fn get_task(
        &self,
        request: GetTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetTaskResult, ErrorData> {
        if let Some(t) = self.inner.tasks.locked().get(&request.task_id) {
            return Ok(GetTaskResult::new(DetailedTask::new(t.task.clone(), t.payload.clone())));
        }
        let me = self.inner.clone();
        let id = request.task_id.clone();
        let (task, payload) =
            blocking(move || me.durable(&id)).await.map_err(|e| ErrorData::invalid_params(format!("{e:#}"), None))?;
        Ok(GetTaskResult::new(DetailedTask::new(task, payload)))
    }

    async fn cancel_task(
        &self,
        request: CancelTaskParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let id = request.task_id.clone();
        let known = {
            let mut tasks = self.inner.tasks.locked();
            match tasks.get_mut(&id) {
                Some(t) => {
                    t.cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                    if !t.payload.status().is_terminal() {
                        t.task.last_updated_at = now_rfc3339();
                        t.payload = TaskPayload::Cancelled;
                    }
                    true
                }
                None => false,
            }
        };
        let me = self.inner.clone();
        blocking(move || {
            if !known {
                me.durable(&id)?; // an id that names no handoff is refused
            }
            me.record_cancel(&id)
        })
        .await
        .map_err(|e| ErrorData::invalid_params(format!("{e:#}"), None))
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        if let Some(why) = &self.inner.broken {
            return Err(ErrorData::internal_error(why.clone(), None));
        }
        let resources = self
            .inner
            .tree
            .agents()
            .into_iter()
            .map(|a| {
                Resource::new(format!("{INBOX_URI}{a}"), format!("inbox/{a}"))
                    .with_title(format!("{a}'s inbox"))
                    .with_description(format!("The handoffs waiting for {a}: TASKs to do, RETURNs to read"))
                    .with_mime_type("application/json")
            })
            .collect();
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let Some(agent) = request.uri.strip_prefix(INBOX_URI) else {
            return Err(ErrorData::resource_not_found(
                format!("no resource {:?} (inboxes are {INBOX_URI}<agent>)", request.uri),
                None,
            ));
        };
        let me = self.inner.clone();
        let agent = agent.to_string();
        let listed = blocking(move || inbox::list(&me.tree, &agent, false)).await;
        match listed {
            Ok((folder, items)) => {
                let text =
                    serde_json::to_string_pretty(&json!({"agent": folder, "handoffs": items})).unwrap_or_default();
                Ok(ReadResourceResult::new(vec![
                    ResourceContents::text(text, request.uri).with_mime_type("application/json"),
                ])
                .into())
            }
            Err(e) => Err(ErrorData::resource_not_found(format!("{e:#}"), None)),
        }
    }
}
