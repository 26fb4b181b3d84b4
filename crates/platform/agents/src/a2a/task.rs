//! The mapping between A2A tasks and handoffs, written once (docs/a2a.md says the same):
//!
//! - An A2A task **is** a TASK handoff: its id is the handoff id, its `contextId` the TASK's
//!   `correlation_id` (one is made when the message has none). `SendMessage` to a plugin
//!   action's skill writes a TASK into baton's own inbox (params from the message's data part);
//!   to an agent's skill, a TASK into that agent's `01_inbox/`. Either replies to the
//!   pseudo-agent `a2a` (`handoffs/a2a/01_inbox/`).
//! - Its state follows the handoff's life: `SUBMITTED` while the file waits in an inbox,
//!   `WORKING` once it is claimed (a ledger row, a claim file, or an agent that filed it), then
//!   the RETURN's status: `completed`, `failed`, `rejected`, `canceled`.
//! - The RETURN's `result` becomes the artifact `result` (a data part), each of its `artifacts`
//!   a file artifact (a `file://` url part); its summary (and error) the status message.
//! - `history` holds the one message the task was sent with, rebuilt from the TASK file.
//! - To a Claude Code team's agent (`agent:TEAM/AGENT`) the task is a **message** appended to
//!   its Claude inbox (from `a2a`), and its id the message's (`cm-…`). Its state follows the
//!   receipt: `SUBMITTED` while `written`, `WORKING` once `noticed` or `seen` (the receipt in
//!   `metadata.baton.delivery`), `COMPLETED` once the agent wrote back to `a2a` (its message is
//!   the answer), `FAILED` if the message left the inbox before Claude Code noticed it.
//!
//! Everything is read back from the files and the ledger, so a task survives a restart of
//! `serve` and any handoff, however it was sent, answers `GetTask`.
use baton_sync::Locked;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use baton_handoff::TaskBody;
use baton_home::config::INBOX;
use baton_ledger::Ledger;

use crate::{DirSync, Tree, wait};

use super::card::A2A_AGENT;

/// The ledger event recorded for each task sent over A2A (how `ListTasks` finds them).
pub const SENT_EVENT: &str = "a2a_sent";

/// The ledger event, under `a2a-message:<messageId>`, that names the task a message became: a
/// client that sends the same message again (its answer was lost) gets that task back.
const MESSAGE_EVENT: &str = "a2a_message";

fn message_key(message_id: &str) -> String {
    format!("a2a-message:{message_id}")
}

/// An A2A error: a JSON-RPC code from A2A's table and a message that names the fix.
#[derive(Debug)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    /// A short machine reason (`TOO_LARGE`, …), sent as a `google.rpc.ErrorInfo`.
    pub reason: Option<&'static str>,
}

impl RpcError {
    pub const PARSE: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
    pub const INTERNAL: i64 = -32603;
    pub const TASK_NOT_FOUND: i64 = -32001;
    pub const NOT_CANCELABLE: i64 = -32002;
    pub const PUSH_NOT_SUPPORTED: i64 = -32003;
    pub const UNSUPPORTED: i64 = -32004;
    pub const CONTENT_TYPE: i64 = -32005;
    pub const NO_EXTENDED_CARD: i64 = -32007;
    pub const VERSION: i64 = -32009;

    pub fn new(code: i64, message: impl Into<String>) -> Self {
        RpcError { code, message: message.into(), reason: None }
    }
    pub fn params(message: impl Into<String>) -> Self {
        Self::new(Self::INVALID_PARAMS, message)
    }
    pub fn not_found(id: &str) -> Self {
        Self::new(Self::TASK_NOT_FOUND, format!("no task {id:?}: the id is a handoff id (what SendMessage answered)"))
    }
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::warn!("a2a: {e}");
        Self::new(Self::INTERNAL, e.to_string())
    }
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The `google.rpc.ErrorInfo` domain: `a2a-protocol.org` for A2A's own errors (codes
    /// -32001 to -32099, A2A §9.5), `baton` for JSON-RPC's.
    pub fn domain(&self) -> &'static str {
        if (-32099..=-32001).contains(&self.code) { "a2a-protocol.org" } else { "baton" }
    }

    /// The `google.rpc.ErrorInfo` reason every error carries (A2A §9.5): the one given, else
    /// the code's own name.
    pub fn reason(&self) -> &'static str {
        self.reason.unwrap_or(match self.code {
            Self::PARSE => "PARSE_ERROR",
            Self::INVALID_REQUEST => "INVALID_REQUEST",
            Self::METHOD_NOT_FOUND => "METHOD_NOT_FOUND",
            Self::INVALID_PARAMS => "INVALID_PARAMS",
            Self::TASK_NOT_FOUND => "TASK_NOT_FOUND",
            Self::NOT_CANCELABLE => "TASK_NOT_CANCELABLE",
            Self::PUSH_NOT_SUPPORTED => "PUSH_NOTIFICATION_NOT_SUPPORTED",
            Self::UNSUPPORTED => "UNSUPPORTED_OPERATION",
            Self::CONTENT_TYPE => "CONTENT_TYPE_NOT_SUPPORTED",
            Self::NO_EXTENDED_CARD => "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
            Self::VERSION => "VERSION_NOT_SUPPORTED",
            _ => "INTERNAL_ERROR",
        })
    }
}

pub type RpcResult<T> = Result<T, RpcError>;

/// Where A2A reads and writes: the handoffs tree and the ledger (this front end's own
/// connection).
pub struct Store {
    pub tree: Tree,
    pub ledger: std::sync::Mutex<Ledger>,
    /// `max_file_bytes`: a TASK written from a message is capped like any file handoff.
    pub max_bytes: u64,
    pub shared_ledger: bool,
    /// Held from the duplicate check to the record of a send (see [`Store::send`]).
    pub sending: std::sync::Mutex<()>,
    /// `[a2a] default_agent`: where a message that names no skill goes.
    pub default_agent: Option<String>,
}

/// A handoff seen as an A2A task: what it was sent with, where it is, and its answer.
#[derive(Debug, Clone)]
pub struct View {
    pub id: String,
    pub task: Option<Value>,
    /// The ledger's row for a TASK baton ran.
    pub row: Option<baton_ledger::TaskRow>,
    /// The RETURN answering it, with its file.
    pub answer: Option<(PathBuf, Value)>,
    /// The TASK file (none while a claim holds it).
    pub file: Option<PathBuf>,
    /// What `SendMessage` recorded for it (context, skill, message id).
    pub sent: Option<Value>,
    /// The open input request of a TASK that asked back (`input_required` in the ledger).
    pub asking: Option<Value>,
    /// A message into a Claude Code teammate's inbox: its receipt (`written`, `noticed`,
    /// `seen`, `answered`, `lost`).
    pub delivery: Option<&'static str>,
}

/// The interrupted state of a task that asked back: a wait for its answer ends there too.
pub const INPUT_REQUIRED: &str = "TASK_STATE_INPUT_REQUIRED";

/// A2A's task states, as the proto JSON names them.
pub fn is_terminal(state: &str) -> bool {
    matches!(state, "TASK_STATE_COMPLETED" | "TASK_STATE_FAILED" | "TASK_STATE_CANCELED" | "TASK_STATE_REJECTED")
}

impl View {
    pub fn state(&self) -> &'static str {
        if let Some((_, ret)) = &self.answer {
            return match ret.get("status").and_then(Value::as_str) {
                Some("completed") => "TASK_STATE_COMPLETED",
                Some("rejected") => "TASK_STATE_REJECTED",
                Some("canceled") | Some("cancelled") => "TASK_STATE_CANCELED",
                _ => "TASK_STATE_FAILED",
            };
        }
        if self.asking.is_some() {
            return "TASK_STATE_INPUT_REQUIRED";
        }
        match self.delivery {
            Some("written") => return "TASK_STATE_SUBMITTED",
            Some(_) => return "TASK_STATE_WORKING",
            None => {}
        }
        if self.row.is_some() {
            return "TASK_STATE_WORKING";
        }
        match &self.file {
            Some(f) if f.parent().and_then(Path::file_name).is_some_and(|n| n == INBOX) => "TASK_STATE_SUBMITTED",
            // A claim holds it, or the recipient filed it: someone is on it.
            _ => "TASK_STATE_WORKING",
        }
    }

    fn s<'a>(v: &'a Option<Value>, k: &str) -> Option<&'a str> {
        v.as_ref().and_then(|t| t.get(k)).and_then(Value::as_str)
    }

    pub fn context_id(&self) -> String {
        Self::s(&self.sent, "context_id")
            .or_else(|| Self::s(&self.task, "correlation_id"))
            .unwrap_or(&self.id)
            .to_string()
    }

    /// When the state last moved, as far as the files and the ledger tell.
    pub fn timestamp(&self) -> Option<String> {
        let from_answer = self.answer.as_ref().and_then(|(_, r)| {
            r.get("finished_at").or_else(|| r.get("created_at")).and_then(Value::as_str).map(str::to_string)
        });
        from_answer
            .or_else(|| self.row.as_ref().map(|r| r.claimed_at.clone()))
            .or_else(|| Self::s(&self.task, "created_at").map(str::to_string))
    }

    /// The A2A `Task` object (proto JSON). `history`: how many messages to include (`None` all);
    /// `artifacts`: whether to include them.
    pub fn to_a2a(&self, history: Option<usize>, artifacts: bool) -> Value {
        let context = self.context_id();
        let mut status = json!({"state": self.state()});
        if let Some(t) = self.timestamp() {
            status["timestamp"] = json!(t);
        }
        if let Some((_, ret)) = &self.answer {
            let mut text = ret.get("summary").and_then(Value::as_str).unwrap_or_default().to_string();
            if let Some(e) = ret.get("error").filter(|e| !e.is_null()) {
                let code = e.get("code").and_then(Value::as_str).unwrap_or("error");
                let msg = e.get("message").and_then(Value::as_str).unwrap_or_default();
                // The code is said once: beside a summary that is the message itself (a ledger
                // row's answer), or after a summary that does not already quote it.
                if text.is_empty() || text == msg {
                    text = format!("{code}: {msg}");
                } else if !text.contains(msg) {
                    text = format!("{text}\n{code}: {msg}");
                }
            }
            status["message"] = json!({
                "messageId": ret.get("id").and_then(Value::as_str).unwrap_or(&self.id),
                "contextId": context,
                "taskId": self.id,
                "role": "ROLE_AGENT",
                "parts": [{"text": text}],
            });
        }
        if let Some(req) = &self.asking {
            // The question, and what the answer must be: a SendMessage with this taskId and a
            // data part matching `input_schema` answers it.
            status["message"] = json!({
                "messageId": req["id"], "contextId": context, "taskId": self.id, "role": "ROLE_AGENT",
                "parts": [{"text": req["message"]}, {"data": {"input_request": req}}],
            });
        }
        let mut task = json!({"id": self.id, "contextId": context, "status": status});
        if artifacts && let Some((file, ret)) = &self.answer {
            task["artifacts"] = Value::Array(artifacts_of(file, ret));
        }
        if history != Some(0)
            && let Some(t) = &self.task
        {
            task["history"] = json!([self.message(t, &context)]);
        }
        // Keys in A2A's JSON spelling (lowerCamelCase, as the conformance kit checks even in
        // metadata), from the TASK's own.
        let mut meta = Map::new();
        for (k, key) in [
            ("title", "title"),
            ("from", "from"),
            ("to", "to"),
            ("plugin", "plugin"),
            ("action", "action"),
            ("created_at", "createdAt"),
        ] {
            if let Some(v) = t_str(&self.task, k) {
                meta.insert(key.into(), json!(v));
            }
        }
        if let Some(r) = &self.row {
            // Answered while the ledger has yet to record it (it says `claimed` a moment
            // longer): the answer is the state, and a stale one is not said beside it.
            if self.answer.is_none() || !r.state.is_in_flight() {
                meta.insert("ledgerState".into(), json!(r.state.as_str()));
            }
            meta.insert("attempts".into(), json!(r.attempts));
        }
        // An answer from the ledger's row (a TASK refused with no RETURN) has no file to name.
        if let Some((file, _)) = &self.answer
            && !file.as_os_str().is_empty()
        {
            meta.insert("return".into(), json!(file));
        }
        if let Some(f) = &self.file {
            meta.insert("file".into(), json!(f));
        }
        if let Some(d) = self.delivery {
            meta.insert("delivery".into(), json!(d));
        }
        task["metadata"] = json!({"baton": meta});
        task
    }

    /// The message the task was sent with, rebuilt from the TASK.
    fn message(&self, t: &Value, context: &str) -> Value {
        let mut parts = Vec::new();
        if t.get("plugin").is_some() {
            parts.push(json!({"data": t.get("params").cloned().unwrap_or_else(|| json!({}))}));
        } else {
            let title = t.get("title").and_then(Value::as_str).unwrap_or_default();
            let text = match t.get("body").and_then(Value::as_str) {
                // A body that starts with its title (what a text part becomes) is the message.
                Some(b) if b.starts_with(title) => b.to_string(),
                Some(b) => format!("{title}\n\n{b}"),
                _ => title.to_string(),
            };
            parts.push(json!({"text": text}));
            if let Some(d) = t.get("data") {
                parts.push(json!({"data": d}));
            }
            for a in t.get("attachments").and_then(Value::as_array).into_iter().flatten() {
                parts.push(a.clone());
            }
        }
        let message_id = Self::s(&self.sent, "message_id").unwrap_or(&self.id);
        json!({"messageId": message_id, "contextId": context, "taskId": self.id, "role": "ROLE_USER", "parts": parts})
    }
}

/// Proto JSON has one number type, a double: a client built on the proto types sends the
/// integer 1500 as 1500.0. A data part's whole numbers become integers again, so a plugin's
/// params schema (`"type": "integer"`) and its parser see what the sender meant.
fn integral(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(integral).collect()),
        Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, integral(v))).collect()),
        other => other,
    }
}

fn t_str<'a>(v: &'a Option<Value>, k: &str) -> Option<&'a str> {
    v.as_ref().and_then(|t| t.get(k)).and_then(Value::as_str)
}

/// The RETURN's result (a data part) and files (url parts), as A2A artifacts.
fn artifacts_of(file: &Path, ret: &Value) -> Vec<Value> {
    let rid = ret.get("id").and_then(Value::as_str).unwrap_or("return");
    let mut out = Vec::new();
    // Only a result there is: a RETURN without one, or with `{}` (or a ledger row's answer, a
    // TASK refused with no RETURN file) has no artifact that would read as a result of nothing. The
    // description names what it is, not where this machine keeps it.
    if !file.as_os_str().is_empty()
        && let Some(result) = ret.get("result").filter(|r| !r.is_null() && r.as_object().is_none_or(|o| !o.is_empty()))
    {
        out.push(json!({
            "artifactId": format!("{rid}-result"),
            "name": "result",
            "description": "the result the RETURN carries",
            "parts": result_parts(result),
        }));
    }
    for (i, a) in ret.get("artifacts").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let Some(path) = a.as_str() else { continue };
        let name = Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let url = if path.contains("://") { path.to_string() } else { format!("file://{path}") };
        out.push(json!({
            "artifactId": format!("{rid}-file-{i}"),
            "name": name,
            "parts": [{"url": url, "filename": name, "mediaType": media_type(&name)}],
        }));
    }
    out
}

/// The parts of the `result` artifact: the data. A result that is only text (`{"text": "…"}`,
/// what `reply --result` carries for an answer in words) is that text first, as a text part
/// generic A2A clients show, then the same data part as any result.
fn result_parts(result: &Value) -> Value {
    let data = json!({"data": result, "mediaType": "application/json"});
    match result.as_object().filter(|o| o.len() == 1).and_then(|o| o.get("text")).and_then(Value::as_str) {
        Some(text) => json!([{"text": text, "mediaType": "text/plain"}, data]),
        None => json!([data]),
    }
}

/// A file artifact's media type, by its extension (what a client needs to open it); unknown
/// ones are `application/octet-stream`.
fn media_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "json" => "application/json",
        "jsonl" | "ndjson" => "application/x-ndjson",
        "md" | "markdown" => "text/markdown",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "xml" => "application/xml",
        "toml" => "application/toml",
        "yaml" | "yml" => "application/yaml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "svg" => "image/svg+xml",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "flac" => "audio/flac",
        "ogg" | "oga" => "audio/ogg",
        "m4a" => "audio/mp4",
        "m3u" | "m3u8" => "audio/x-mpegurl",
        _ => "application/octet-stream",
    }
}

/// What a message asks for: a plugin action or an agent.
#[derive(Debug, Clone, PartialEq)]
pub enum Skill {
    Action {
        plugin: String,
        action: String,
    },
    Agent(String),
    /// A Claude Code team's agent, `TEAM/AGENT`: a message into its Claude inbox.
    Teammate(String),
}

impl Skill {
    pub fn id(&self) -> String {
        match self {
            Skill::Action { plugin, action } => format!("{plugin}.{action}"),
            Skill::Agent(a) | Skill::Teammate(a) => format!("agent:{a}"),
        }
    }
}

/// A message's parts: its texts, its data parts (integral numbers made integers) and its url
/// parts as attachments (`url`, `filename`, `mediaType`). Raw bytes are refused: baton takes
/// files by reference.
fn parts_of(message: &Value) -> RpcResult<(Vec<String>, Vec<Value>, Vec<Value>)> {
    let parts = message.get("parts").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut texts = Vec::new();
    let mut data = Vec::new();
    let mut files = Vec::new();
    for p in parts {
        if let Some(t) = p.get("text").and_then(Value::as_str) {
            texts.push(t.to_string());
        } else if let Some(d) = p.get("data") {
            data.push(integral(d.clone()));
        } else if let Some(u) = p.get("url").and_then(Value::as_str) {
            let mut f = json!({"url": u});
            for k in ["filename", "mediaType"] {
                if let Some(v) = p.get(k) {
                    f[k] = v.clone();
                }
            }
            files.push(f);
        } else if p.get("raw").is_some() {
            return Err(RpcError::new(
                RpcError::CONTENT_TYPE,
                "baton takes files by reference: send a url part (file:///path) instead of raw bytes",
            ));
        } else {
            return Err(RpcError::params("a part has none of text, data, url"));
        }
    }
    Ok((texts, data, files))
}

impl Store {
    pub(crate) fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.locked()
    }

    /// The skill a message names (`metadata.skill` of the message or the request): one of the
    /// card's ids. An unknown one is refused with the known ids.
    pub fn skill(&self, id: &str) -> RpcResult<Skill> {
        if let Some(agent) = id.strip_prefix("agent:") {
            if baton_handoff::names::team_agent(agent).is_some() {
                return crate::claude_inbox::recipient(&self.tree.ctx(), agent, false)
                    .map(|_| Skill::Teammate(agent.to_string()))
                    .map_err(|e| RpcError::params(format!("{e:#}")).with_reason("UNKNOWN_SKILL"));
            }
            let known = baton_handoff::names::is_valid_name(agent).then(|| self.tree.existing_agent(agent)).flatten();
            return match known {
                Some(a) if a != self.tree.baton && a != A2A_AGENT => Ok(Skill::Agent(a)),
                _ => Err(RpcError::params(format!(
                    "no agent {agent:?} to send to{}",
                    crate::did_you_mean(agent, &super::card::agents(&self.tree))
                ))
                .with_reason("UNKNOWN_SKILL")),
            };
        }
        let installed = self.tree.plugins();
        for (i, _) in id.match_indices('.') {
            let (plugin, action) = (&id[..i], &id[i + 1..]);
            if installed.iter().any(|p| p == plugin) && !action.is_empty() {
                return Ok(Skill::Action { plugin: plugin.into(), action: action.into() });
            }
        }
        Err(RpcError::params(format!(
            "no skill {id:?}: a skill id is `PLUGIN.ACTION` or `agent:NAME`, as the agent card lists them"
        ))
        .with_reason("UNKNOWN_SKILL"))
    }

    /// Writes the TASK a message asks for (after every check: nothing is written on a refusal)
    /// and records it as sent over A2A. Returns its view.
    /// The waiter returned watches for its RETURN from before the file was written. The sync
    /// of the folder the TASK was named in runs beside the caller's wait: join the [`DirSync`]
    /// before the task is reported.
    ///
    /// A message whose `messageId` was sent before is not sent twice: the task it became is
    /// answered again (a client retrying after a lost answer). Sends through this server are
    /// serialised for that check; a second `serve` on the same home does not see them.
    pub fn send(
        &self,
        skill: &Skill,
        message: &Value,
        context: &str,
        landings: Option<std::sync::Arc<wait::Landings>>,
    ) -> RpcResult<(View, wait::Waiter, DirSync)> {
        let message_id = message.get("messageId").and_then(Value::as_str).unwrap_or_default();
        let _one_at_a_time = self.sending.locked();
        if let Some(again) = self.replayed(message_id)? {
            return Ok(again);
        }
        let (texts, mut data, files) = parts_of(message)?;
        let meta = message.get("metadata");
        let title = meta.and_then(|m| m.get("title")).and_then(Value::as_str).map(str::to_string);
        // `reply_to` in the metadata: the RETURN goes to that agent (a `TEAM/AGENT` gets it as a
        // message in its Claude inbox) while the task is watched here as any other.
        let reply_to = match meta.and_then(|m| m.get("reply_to")) {
            None | Some(Value::Null) => None,
            Some(Value::String(r)) if baton_handoff::names::is_valid_agent(r) => Some(r.clone()),
            Some(other) => {
                return Err(RpcError::params(format!(
                    "metadata.reply_to {other} is not an agent name (NAME, or TEAM/AGENT for a Claude Code team's agent)"
                )));
            }
        };
        let mut req = crate::send::Request {
            from: Some(A2A_AGENT.into()),
            reply_to,
            correlation_id: Some(context.to_string()),
            ..Default::default()
        };
        let mut extra = Map::new();
        match skill {
            Skill::Teammate(agent) => {
                if req.reply_to.is_some() {
                    return Err(RpcError::params(format!(
                        "metadata.reply_to does not fit a message to {agent}, a Claude Code teammate: its answer comes back to this task"
                    )));
                }
                return self.send_message(agent, (texts, data, files), title, context, message_id);
            }
            Skill::Action { plugin, action } => {
                let params = match (data.as_slice(), texts.as_slice()) {
                    ([one], _) => one.clone(),
                    ([], []) => json!({}),
                    ([], [text]) => serde_json::from_str::<Value>(text).map_err(|_| {
                        RpcError::params("a plugin action takes its params as a data part (a JSON object)")
                    })?,
                    _ => {
                        return Err(RpcError::params("send a plugin action one data part: its params (a JSON object)"));
                    }
                };
                if !params.is_object() {
                    return Err(RpcError::params("the params (the message's data part) must be a JSON object"));
                }
                if !files.is_empty() {
                    extra.insert("attachments".into(), Value::Array(files));
                }
                req.plugin = Some(plugin.clone());
                req.action = Some(action.clone());
                req.params = Some(params);
                req.title = title;
            }
            Skill::Agent(agent) => {
                let text = texts.join("\n");
                let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
                let title = title.or_else(|| (!first.is_empty()).then(|| first.chars().take(200).collect()));
                let Some(title) = title else {
                    return Err(RpcError::params(format!(
                        "say what {agent} should do: a text part (its first line is the TASK's title)"
                    )));
                };
                if !text.is_empty() {
                    extra.insert("body".into(), json!(text));
                }
                match data.len() {
                    0 => {}
                    1 => _ = extra.insert("data".into(), data.remove(0)),
                    _ => _ = extra.insert("data".into(), Value::Array(data)),
                }
                if !files.is_empty() {
                    extra.insert("attachments".into(), Value::Array(files));
                }
                req.to = Some(agent.clone());
                req.title = Some(title);
            }
        }
        req.body = Some(Value::Object(extra));
        let prepared = crate::send::prepare(&self.tree, &req).map_err(|e| {
            let reason = e.downcast_ref::<crate::check::Refused>().map(|r| r.reason.a2a());
            let err = RpcError::params(format!("{e:#}"));
            match reason {
                Some(reason) => err.with_reason(reason),
                None => err,
            }
        })?;
        // a2a's folders keep one RETURN per task ever sent. With the server's watch on its
        // inbox, the waiter reads only what lands after this mark; without one, every name
        // there now is not this task's and is skipped unread.
        let body = prepared.body.clone();
        let location = Some(self.tree.ctx().location);
        let watched = self.tree.root.join(A2A_AGENT).join(INBOX);
        let (sent, waiter, synced) = match landings {
            Some(landings) if prepared.reply_inbox == watched => {
                let mark = landings.mark();
                let (sent, synced) = prepared.write_syncing(false).map_err(RpcError::internal)?;
                let waiter = wait::Waiter::for_sent(&sent, location).with_landings(landings, mark);
                (sent, waiter, synced)
            }
            _ => {
                let (sent, synced) = prepared.write_syncing(true).map_err(RpcError::internal)?;
                let waiter = wait::Waiter::for_sent(&sent, location);
                (sent, waiter, synced)
            }
        };
        let detail = json!({"context_id": context, "skill": skill.id(), "message_id": message_id,
                            "file": sent.file, "reply_inbox": sent.reply_inbox});
        let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
        // The file is the durable record; the events only list it and name it for its message
        // (a crash between the two leaves a task `GetTask` finds and `ListTasks` does not). So
        // their commit does not wait for its own sync: the pipeline's claim of this very TASK,
        // a moment later, used to wait behind it (see `Ledger::batch_unsynced`).
        let recorded = self.ledger().batch_unsynced(|b| {
            b.event(&sent.id, &now, SENT_EVENT, &detail)?;
            if !message_id.is_empty() && message_id.len() <= 256 {
                b.event(&message_key(message_id), &now, MESSAGE_EVENT, &json!({"task": sent.id}))?;
            }
            Ok(())
        });
        if let Err(e) = recorded {
            tracing::warn!(id = %sent.id, "a2a: the task was written but not recorded for ListTasks: {e}");
        }
        Ok((
            View {
                id: sent.id,
                task: Some(body),
                row: None,
                answer: None,
                file: Some(sent.file),
                sent: Some(detail),
                asking: None,
                delivery: None,
            },
            waiter,
            synced,
        ))
    }

    /// `SendMessage` to `agent:TEAM/AGENT`: the message's text parts appended to that agent's
    /// Claude inbox under Claude Code's lock, from `a2a`, and recorded like any delivery. A
    /// Claude inbox message is text: data and file parts, and `reply_to`, are refused.
    fn send_message(
        &self,
        agent: &str,
        (texts, data, files): (Vec<String>, Vec<Value>, Vec<Value>),
        title: Option<String>,
        context: &str,
        message_id: &str,
    ) -> RpcResult<(View, wait::Waiter, DirSync)> {
        if !data.is_empty() || !files.is_empty() {
            return Err(RpcError::params(format!(
                "{agent} is a Claude Code teammate: its inbox takes text; send the message as text parts"
            )));
        }
        let text = texts.join("\n");
        if text.trim().is_empty() {
            return Err(RpcError::params(format!("say what {agent} should do: a text part")));
        }
        let ctx = self.tree.ctx();
        let r = crate::claude_inbox::recipient(&ctx, agent, false).map_err(|e| RpcError::params(format!("{e:#}")))?;
        let id = crate::claude_inbox::deliver_to(&ctx, &r, A2A_AGENT, &text, title.as_deref(), None)
            .map_err(RpcError::internal)?;
        let detail = json!({"context_id": context, "skill": format!("agent:{agent}"), "message_id": message_id, "inbox": r.inbox});
        let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
        let recorded = self.ledger().batch(|b| {
            b.event(&id, &now, SENT_EVENT, &detail)?;
            if !message_id.is_empty() && message_id.len() <= 256 {
                b.event(&message_key(message_id), &now, MESSAGE_EVENT, &json!({"task": id}))?;
            }
            Ok(())
        });
        if let Err(e) = recorded {
            tracing::warn!(id = %id, "a2a: the message was delivered but not recorded for ListTasks: {e}");
        }
        let view =
            self.view(&id, None)?.ok_or_else(|| RpcError::internal(format!("{id} was delivered and is not found")))?;
        // Nothing lands in a2a's folders for it: the wait looks at the receipt each time.
        let waiter = self.waiter(&id, A2A_AGENT, None);
        Ok((view, waiter, DirSync::done()))
    }

    /// A message into a Claude inbox as an A2A task: its receipt brought up to date (the
    /// inbox, the recipient's transcript, the sender's inbox), the agent's message back as the
    /// answer once it `answered`, a failure once it was `lost`.
    fn message_view(&self, id: &str, delivered: &Value, sent: Option<Value>) -> RpcResult<View> {
        use baton_mailbox::receipt::{Delivery, State};
        let ctx = self.tree.ctx();
        let mut transcripts = crate::claude_inbox::transcripts(&ctx);
        let look = crate::claude_inbox::delivery(&ctx, &mut self.ledger(), &mut transcripts, id)
            .map_err(RpcError::internal)?;
        let state = look.map_or(State::Written, |l| l.state);
        let d = Delivery::from_detail(id, delivered);
        let title = delivered["summary"].as_str().map(str::to_string).unwrap_or_else(|| {
            d.text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().chars().take(200).collect()
        });
        let task = json!({"id": id, "kind": "task", "title": title, "body": d.text, "from": A2A_AGENT,
                          "to": d.agent, "created_at": d.timestamp});
        let answer = match state {
            State::Answered => baton_mailbox::receipt::answer_to(&d, &mut transcripts)
                .map(|(inbox, m)| {
                    let ret = json!({"id": format!("{id}-answer"), "status": "completed", "summary": m.text,
                                 "created_at": m.timestamp, "result": {"from": m.from, "text": m.text}});
                    (inbox, ret)
                })
                .or_else(|| {
                    // Recorded answered, and its message gone from the inbox since.
                    let summary =
                        format!("{} wrote back to {A2A_AGENT}; its message is no longer in the inbox", d.agent);
                    Some((
                        PathBuf::new(),
                        json!({"id": format!("{id}-answer"), "status": "completed", "summary": summary}),
                    ))
                }),
            State::Lost => Some((
                PathBuf::new(),
                json!({"id": format!("{id}-lost"), "status": "failed",
                       "summary": format!("the message left {}'s Claude inbox before Claude Code noticed it", d.agent)}),
            )),
            _ => None,
        };
        Ok(View {
            id: id.to_string(),
            task: Some(task),
            row: None,
            answer,
            file: Some(d.inbox.clone()),
            sent,
            asking: None,
            delivery: Some(state.as_str()),
        })
    }

    /// The task a message sent before became, answered again (a client retrying after a lost
    /// answer): `None` when `message_id` is new.
    fn replayed(&self, message_id: &str) -> RpcResult<Option<(View, wait::Waiter, DirSync)>> {
        if !message_id.is_empty() && message_id.len() <= 256 {
            let earlier = self.ledger().events(&message_key(message_id)).map_err(RpcError::internal)?;
            let task = earlier.iter().find(|e| e.event == MESSAGE_EVENT).and_then(|e| e.detail.get("task"));
            if let Some(id) = task.and_then(Value::as_str)
                && let Some(view) = self.view(id, None)?
            {
                tracing::info!(task = id, message_id, "a2a: the same message again; its task answers");
                let reply = t_str(&view.task, "reply_to").or_else(|| t_str(&view.task, "from")).unwrap_or(A2A_AGENT);
                let waiter = self.waiter(id, reply, t_str(&view.task, "created_at"));
                // The first send's sync of that folder may still be running on its own thread:
                // this answer reports the task too, so it syncs the folder as well.
                let synced = match view.file.as_deref().and_then(Path::parent) {
                    Some(dir) => DirSync::start(dir.to_path_buf()),
                    None => DirSync::done(),
                };
                return Ok(Some((view, waiter, synced)));
            }
        }
        Ok(None)
    }

    /// The task with `id` as it is now, or `None` if no handoff has that id. `waiter`: a
    /// RETURN watch kept across calls (a wait), else a fresh one.
    pub fn view(&self, id: &str, waiter: Option<&mut wait::Waiter>) -> RpcResult<Option<View>> {
        if id.is_empty() || id.len() > 256 || id.contains('/') {
            return Ok(None);
        }
        let (row, events) = {
            let l = self.ledger();
            (l.task(id).map_err(RpcError::internal)?, l.events(id).map_err(RpcError::internal)?)
        };
        let sent = events.iter().find(|e| e.event == SENT_EVENT).map(|e| e.detail.clone());
        if let Some(d) = events.iter().find(|e| e.event == "delivered") {
            return self.message_view(id, &d.detail, sent).map(Some);
        }
        // Where SendMessage wrote it, then its usual next homes; else a search of the tree.
        let recorded = sent.as_ref().and_then(|s| s.get("file")).and_then(Value::as_str).map(PathBuf::from);
        let mut found = recorded.as_deref().and_then(|f| self.at_known_homes(f));
        if found.is_none() {
            found = wait::find_task(&self.tree, id);
        }
        let (task, file) = match found {
            Some((b, f)) => (Some(b), f),
            None => (None, None),
        };
        if task.is_none() && row.is_none() && sent.is_none() {
            return Ok(None);
        }
        let reply_agent = t_str(&task, "reply_to")
            .or_else(|| t_str(&task, "from"))
            .map(str::to_string)
            .or_else(|| row.as_ref().map(|r| r.reply_to.clone()))
            .unwrap_or_else(|| A2A_AGENT.into());
        let answer = match waiter {
            Some(w) => w.check(),
            None => {
                let mut w = self.waiter(id, &reply_agent, t_str(&task, "created_at"));
                // The ledger names a plugin's RETURN: look there before reading the folders.
                row.as_ref()
                    .and_then(|r| r.return_name.as_deref())
                    .and_then(|name| w.dirs.iter().map(|d| d.join(name)).find(|p| p.is_file()))
                    .and_then(|p| crate::read_handoff(&p).map(|b| (p, b)))
                    .filter(|(_, b)| b.get("in_reply_to").and_then(Value::as_str) == Some(id))
                    .or_else(|| w.look())
            }
        };
        // A TASK that asked back: its question is the task's status message.
        let asking =
            row.as_ref().filter(|r| answer.is_none() && r.state == baton_ledger::TaskState::InputRequired).and_then(
                |r| baton_pipeline::asking::open_request(&events).map(|q| crate::answer::request_json(&r.id, &q)),
            );
        // An agent's question (`baton reply ID --status input_required`): between agents only the
        // files record it, an input request in the reply agent's inbox.
        let asking = asking.or_else(|| {
            let to_agent = answer.is_none() && row.is_none() && t_str(&task, "to").is_some();
            let inbox = self.tree.reply_inbox(&reply_agent).ok().filter(|_| to_agent)?;
            crate::ask::open_question(&self.tree, id, &inbox).map(|q| q.body)
        });
        Ok(Some(View { id: id.to_string(), task, row, answer, file, sent, asking, delivery: None }))
    }

    /// A watch for the RETURN answering `id` in its reply agent's folders.
    pub fn waiter(&self, id: &str, reply_agent: &str, created_at: Option<&str>) -> wait::Waiter {
        let mut w = wait::Waiter::for_agent(&self.tree.ctx(), &self.tree, id, reply_agent, created_at);
        w.stale = wait::stale_returns(&self.ledger(), id);
        w
    }

    /// The TASK file SendMessage wrote, where it is now: its inbox, or filed beside it, or in a
    /// claim (`None` for the file: the claim holds it).
    fn at_known_homes(&self, written: &Path) -> Option<(Value, Option<PathBuf>)> {
        let name = written.file_name()?;
        let agent_dir = written.parent()?.parent()?;
        for folder in crate::FOLDERS {
            let p = agent_dir.join(folder).join(name);
            if let Some(b) = crate::read_handoff(&p) {
                return Some((b, Some(p)));
            }
        }
        let claims = agent_dir.join(".claims");
        let wanted = name.to_str()?;
        for dir in std::fs::read_dir(claims).ok()?.flatten() {
            for e in std::fs::read_dir(dir.path()).into_iter().flatten().flatten() {
                if e.file_name().to_str().is_some_and(|n| n.ends_with(wanted))
                    && let Some(b) = crate::read_handoff(&e.path())
                {
                    return Some((b, None));
                }
            }
        }
        None
    }

    /// Files a delivered RETURN out of `a2a`'s inbox into its `02_processed/` (what an agent
    /// does with what it has read), so the inbox holds only what no client has seen. Never
    /// another agent's file; never overwriting.
    pub fn file_delivered(&self, view: &mut View) {
        let Some((path, _)) = &mut view.answer else { return };
        let a2a = self.tree.root.join(A2A_AGENT);
        if path.parent() != Some(a2a.join(INBOX).as_path()) {
            return;
        }
        let Some(name) = path.file_name() else { return };
        let dest = a2a.join("02_processed").join(name);
        if baton_fs::ensure_dir(&a2a.join("02_processed")).is_ok() && baton_fs::rename_noreplace(path, &dest).is_ok() {
            *path = dest;
        }
    }

    /// Cancels a task nobody has picked up: its TASK file is moved out of the inbox (one
    /// rename: if baton or the agent took it first, the rename fails and the task runs on) and
    /// answered `canceled`, once.
    pub fn cancel(&self, id: &str) -> RpcResult<View> {
        let view = self.view(id, None)?.ok_or_else(|| RpcError::not_found(id))?;
        let state = view.state();
        if is_terminal(state) {
            return Err(RpcError::new(RpcError::NOT_CANCELABLE, format!("task {id} is already {state}")));
        }
        let not_cancelable = |why: &str| RpcError::new(RpcError::NOT_CANCELABLE, format!("task {id} {why}"));
        let (Some(file), Some(body)) = (view.file.clone(), view.task.clone()) else {
            return Err(not_cancelable("is already being worked on; it cannot be canceled now"));
        };
        // A TASK its agent asked about waits in its inbox for the answer: cancelable as well.
        let waits = state == "TASK_STATE_SUBMITTED" || (state == INPUT_REQUIRED && view.row.is_none());
        if !waits {
            return Err(not_cancelable("is already being worked on; it cannot be canceled now"));
        }
        let task: TaskBody = serde_json::from_value(body).map_err(RpcError::internal)?;
        let summary = "canceled over A2A (CancelTask) before it was picked up";
        let done =
            crate::triage::cancel_waiting(&self.tree, id, &file, &task, self.shared_ledger, summary).map_err(|e| {
                match e {
                    e @ crate::triage::CancelError::NotCancelable { .. } => {
                        RpcError::new(RpcError::NOT_CANCELABLE, e.to_string())
                    }
                    crate::triage::CancelError::Failed(m) => RpcError::internal(m),
                }
            })?;
        let (filed, written, ret, message) = (done.filed, done.written, done.ret, done.message);
        let now = baton_handoff::stamp::rfc3339(baton_handoff::stamp::now());
        let detail = json!({"by": "a2a", "filed": filed, "return": written, "message": message});
        if let Err(e) = self.ledger().batch(|b| b.event(id, &now, "canceled", &detail)) {
            tracing::warn!(id, "a2a: canceled, but the ledger did not record it: {e}");
        }
        tracing::info!(id, file = %filed.display(), "a2a: canceled");
        Ok(View { answer: Some((written, ret)), file: Some(filed), ..view })
    }

    /// The tasks sent over A2A, newest first: `(seq, id, recorded detail)`, every one (a
    /// local ledger holds thousands, not millions; `ListTasks` pages over them).
    pub fn sent(&self) -> RpcResult<Vec<(i64, String, Value)>> {
        let mut out = Vec::new();
        let mut before = None;
        loop {
            let batch = self.ledger().events_named(SENT_EVENT, before, 1000).map_err(RpcError::internal)?;
            let n = batch.len();
            before = batch.last().map(|(seq, _, _)| *seq);
            out.extend(batch.into_iter().map(|(seq, id, e)| (seq, id, e.detail)));
            if n < 1000 {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A result that is only text is shown as text first (what a generic A2A client reads),
    /// with the data after it; any other result is its data alone.
    #[test]
    fn a_text_result_is_a_text_part_then_its_data() {
        let file = Path::new("/h/handoffs/a/RETURN_1.json");
        let parts = |result: Value| artifacts_of(file, &json!({"id": "R1", "result": result}))[0]["parts"].clone();
        assert_eq!(
            parts(json!({"text": "Generated text content"})),
            json!([{"text": "Generated text content", "mediaType": "text/plain"},
                   {"data": {"text": "Generated text content"}, "mediaType": "application/json"}])
        );
        for other in [json!({"text": "t", "n": 1}), json!({"text": 3}), json!({"message": "hi"}), json!("plain")] {
            assert_eq!(parts(other.clone()), json!([{"data": other, "mediaType": "application/json"}]));
        }
    }
}
