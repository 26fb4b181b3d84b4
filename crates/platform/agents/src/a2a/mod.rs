//! A2A v1.0 (Agent2Agent) on `baton serve --http`: the JSON-RPC binding at `POST /a2a`
//! (`SendMessage`, `SendStreamingMessage`, `GetTask`, `ListTasks`, `CancelTask`,
//! `SubscribeToTask`; push notifications are not offered) and the agent card at
//! `GET /.well-known/agent-card.json`.
//!
//! It is a front end like `baton send` and MCP, nothing more: a message becomes a TASK file
//! ([`task`] holds the mapping), the pipeline runs or delivers it as any other, and every
//! answer is read back from the files and the ledger. So a task accepted here survives a
//! kill -9 of `serve`, and `GetTask` answers for any handoff id.
//!
//! On this machine only: it is served on the dashboard's address, behind its `Host` check
//! (loopback or the configured name) and its key (`Authorization: Bearer …`; the card alone is
//! open). Requests name the protocol version in `A2A-Version` (a request without it is A2A
//! 0.3, which is refused with `VersionNotSupportedError`, as the specification says).
pub mod card;
pub mod task;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::{Tree, wait};
use card::A2A_AGENT;
use task::{RpcError, RpcResult, Store, View, is_terminal};

/// How long a blocking `SendMessage` waits for the answer before it returns the task as it is
/// (the client then polls `GetTask` or subscribes).
const BLOCKING_LIMIT: Duration = Duration::from_secs(120);
/// How often a stream looks for a state change between file events.
const STREAM_SLICE: Duration = Duration::from_millis(250);

/// When to look again at a task: at the next landing, else after [`STREAM_SLICE`], but soon
/// after a wait starts, a landing, or a change of state. A file can land a moment before the
/// ledger records what it means (an input request is named with its group, then the TASK's
/// `input_required` is committed), and a TASK just claimed asks its question a moment later,
/// so the task is looked at again 5, 10, 20, … 160 ms later before going back to the slice: a
/// question reaches its client in milliseconds, not at the next quarter second.
struct Pace {
    soon: Option<Duration>,
}

impl Pace {
    const FIRST: Duration = Duration::from_millis(5);
    const LAST: Duration = Duration::from_millis(160);

    /// A wait that starts now: what landed just before its watch was taken is not missed (a
    /// question named between the send and the wait's first look), so it starts as after a
    /// landing.
    fn starting() -> Pace {
        Pace { soon: Some(Self::FIRST) }
    }

    /// The wait before the next look, given whether the last look moved the state: a state
    /// that moved (claimed, say) often moves again at once (to the question), so it is looked
    /// at soon again too.
    fn next(&mut self, moved: bool) -> Duration {
        if moved {
            self.soon = Some(Self::FIRST);
        }
        match self.soon {
            Some(d) if d <= Self::LAST => {
                self.soon = Some(d * 2);
                d
            }
            _ => {
                self.soon = None;
                STREAM_SLICE
            }
        }
    }

    /// Something landed: look now, then soon.
    fn landed(&mut self) {
        self.soon = Some(Self::FIRST);
    }
}

/// `[a2a]` in baton.toml, read where the A2A routes are made and checked with the rest of
/// the file.
pub const SECTION: &str = "a2a";

/// `[a2a]`: where a message that names no skill goes.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The agent a message without a skill is sent to as a TASK (`agent:NAME`).
    pub default_agent: Option<String>,
}

impl Settings {
    /// `[a2a]` of `cfg`, checked: `default_agent` is an agent name.
    pub fn of(cfg: &baton_home::Config) -> Result<Settings, String> {
        let s: Settings = cfg.section(SECTION).map_err(|e| e.to_string())?;
        match &s.default_agent {
            Some(a) if !baton_handoff::names::is_valid_agent(a) => Err(format!(
                "[a2a] default_agent = {a:?} is not an agent name (ASCII letters, digits, '.', '_' and '-'; or TEAM/AGENT)"
            )),
            _ => Ok(s),
        }
    }
}

/// What the A2A routes share.
pub struct A2a {
    store: Store,
    runtime: Option<Arc<baton_runtime::Runtime>>,
    /// Moves each time something lands in `handoffs/a2a/01_inbox/` (a RETURN, usually): what
    /// waiting requests and streams wake on.
    landed: tokio::sync::watch::Sender<u64>,
    /// The file watch behind `landed`, and what it saw land (recorded before `landed` moves):
    /// a task's waiter reads only those files, never listing a folder that keeps one RETURN
    /// per task ever sent. `None` where the folder gives no events (a network mount).
    watch: Option<(notify::RecommendedWatcher, Arc<wait::Landings>)>,
}

/// The A2A routes for `serve --http`: the card (open) and the JSON-RPC endpoint (keyed).
pub fn routes(
    ctx: &crate::Ctx,
    cfg: &baton_home::Config,
    paths: &baton_home::Paths,
    runtime: Option<Arc<baton_runtime::Runtime>>,
) -> anyhow::Result<baton_dashboard::Extra> {
    let tree = Tree::new(ctx, cfg, paths);
    let ledger = ctx.connect()?;
    let settings = Settings::of(cfg).map_err(anyhow::Error::msg)?;
    let store = Store {
        default_agent: settings.default_agent,
        tree,
        shared_ledger: ledger.is_shared(),
        ledger: std::sync::Mutex::new(ledger),
        max_bytes: cfg.max_file_bytes,
        sending: Default::default(),
    };
    let (landed, _) = tokio::sync::watch::channel(0u64);
    let watch = watch_inbox(&store.tree.root.join(A2A_AGENT).join(baton_home::config::INBOX), landed.clone());
    let a2a = Arc::new(A2a { store, runtime, landed, watch });
    Ok(baton_dashboard::Extra {
        open: Router::new().route("/.well-known/agent-card.json", get(agent_card)).with_state(a2a.clone()),
        // `/a2a/` too: the conformance kit and some clients post to the URL with a slash.
        keyed: Router::new().route("/a2a", post(rpc)).route("/a2a/", post(rpc)).with_state(a2a),
    })
}

/// A file watch on `a2a`'s inbox that records what landed and moves `landed`; `None` where the
/// folder gives no events (a network mount): waits then look every [`STREAM_SLICE`], listing.
fn watch_inbox(
    inbox: &std::path::Path,
    landed: tokio::sync::watch::Sender<u64>,
) -> Option<(notify::RecommendedWatcher, Arc<wait::Landings>)> {
    if let Err(e) = baton_fs::ensure_dir(inbox) {
        tracing::warn!(dir = %inbox.display(), "a2a: {e}");
        return None;
    }
    wait::Landings::watch(inbox, move || landed.send_modify(|n| *n = n.wrapping_add(1)))
}

async fn agent_card(State(a2a): State<Arc<A2a>>, headers: HeaderMap) -> Response {
    // The Host passed the dashboard's check: it is loopback or the configured name.
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_string();
    let card = tokio::task::spawn_blocking(move || {
        card::card(&a2a.store.tree, a2a.runtime.as_deref(), &format!("http://{host}"))
    })
    .await
    .unwrap_or_else(|e| json!({"error": e.to_string()}));
    let body = card.to_string();
    // Cacheable, and revalidated (A2A §8.6.1): a client asks again with the ETag and gets 304
    // until a plugin or an agent changes the card.
    let etag = format!("\"{:016x}\"", fnv1a(body.as_bytes()));
    let headers_out = [
        (header::CONTENT_TYPE, "application/json".to_string()),
        (header::CACHE_CONTROL, "public, max-age=60, must-revalidate".to_string()),
        (header::ETAG, etag.clone()),
    ];
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return (axum::http::StatusCode::NOT_MODIFIED, headers_out).into_response();
    }
    (headers_out, body).into_response()
}

/// FNV-1a, 64 bits: the card's ETag (a change detector, not a secret).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// ProtoJSON takes a field by its JSON name (`contextId`) or by its proto name (`context_id`):
/// proto names are read as the JSON ones, so no field a client sends is silently ignored.
/// What the client's user wrote (a `metadata` object, a data part's `data`) is left as sent.
fn json_names(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let v = if k == "metadata" || k == "data" { v } else { json_names(v) };
                    (lower_camel(&k), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(json_names).collect()),
        other => other,
    }
}

/// `context_id` → `contextId`; a name without `_` is kept.
fn lower_camel(k: &str) -> String {
    if !k.contains('_') {
        return k.to_string();
    }
    let mut out = String::with_capacity(k.len());
    let mut up = false;
    for c in k.chars() {
        match c {
            '_' => up = true,
            c if up => {
                out.extend(c.to_uppercase());
                up = false;
            }
            c => out.push(c),
        }
    }
    out
}

/// One JSON-RPC answer.
fn answer(id: &Value, result: RpcResult<Value>) -> Response {
    let body = match result {
        Ok(r) => json!({"jsonrpc": "2.0", "id": id, "result": r}),
        Err(e) => {
            // Every error carries a `google.rpc.ErrorInfo` (A2A §9.5, a MUST): an A2A error's
            // in A2A's domain, a JSON-RPC error's (with baton's own reasons) in baton's.
            let error = json!({"code": e.code, "message": e.message, "data": [{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": e.reason(),
                "domain": e.domain(),
                "metadata": {},
            }]});
            json!({"jsonrpc": "2.0", "id": id, "error": error})
        }
    };
    ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

/// The protocol version a request names: A2A-Version, else 0.3 (the specification's rule).
fn check_version(headers: &HeaderMap) -> RpcResult<()> {
    let v = headers.get("a2a-version").and_then(|v| v.to_str().ok()).map(str::trim).filter(|v| !v.is_empty());
    let v = v.unwrap_or("0.3");
    if v.split('.').next() == Some("1") {
        Ok(())
    } else {
        Err(RpcError::new(
            RpcError::VERSION,
            format!("A2A {v} is not supported: baton speaks A2A 1.0; send the header `A2A-Version: 1.0`"),
        ))
    }
}

async fn rpc(State(a2a): State<Arc<A2a>>, headers: HeaderMap, body: Body) -> Response {
    // A TASK is capped at max_file_bytes; its message, in JSON with some envelope, a little more.
    let limit = (a2a.store.max_bytes as usize).saturating_mul(2).saturating_add(1 << 20);
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return answer(
            &Value::Null,
            Err(RpcError::new(
                RpcError::INVALID_REQUEST,
                format!("too_large: a request is at most {limit} bytes (max_file_bytes in baton.toml sets it)"),
            )
            .with_reason("TOO_LARGE")),
        );
    };
    let request: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return answer(&Value::Null, Err(RpcError::new(RpcError::PARSE, format!("not JSON: {e}")))),
    };
    let Some(obj) = request.as_object() else {
        return answer(
            &Value::Null,
            Err(RpcError::new(RpcError::INVALID_REQUEST, "a request is one JSON-RPC object (batches are not taken)")),
        );
    };
    let id = obj.get("id").cloned().unwrap_or(Value::Null);
    if !(id.is_string() || id.is_number() || id.is_null()) {
        return answer(&Value::Null, Err(RpcError::new(RpcError::INVALID_REQUEST, "the id is a string or a number")));
    }
    let (Some("2.0"), Some(method)) =
        (obj.get("jsonrpc").and_then(Value::as_str), obj.get("method").and_then(Value::as_str))
    else {
        return answer(
            &id,
            Err(RpcError::new(RpcError::INVALID_REQUEST, "a request has `jsonrpc: \"2.0\"` and a method")),
        );
    };
    if let Err(e) = check_version(&headers) {
        return answer(&id, Err(e));
    }
    let params = match obj.get("params") {
        None | Some(Value::Null) => json!({}),
        Some(p @ Value::Object(_)) => json_names(p.clone()),
        Some(_) => return answer(&id, Err(RpcError::params("params is an object"))),
    };
    let span = tracing::info_span!("a2a", method = %method);
    dispatch(a2a, id, method.to_string(), params).instrument(span).await
}

async fn dispatch(a2a: Arc<A2a>, id: Value, method: String, params: Value) -> Response {
    match method.as_str() {
        "SendMessage" | "SendStreamingMessage" => send_message(a2a, id, params, method == "SendStreamingMessage").await,
        "SubscribeToTask" => subscribe(a2a, id, params).await,
        "GetTask" => {
            let r = blocking(a2a, move |a| {
                let (task_id, history) = (str_param(&params, "id")?, history_param(&params)?);
                let mut v = a.store.view(&task_id, None)?.ok_or_else(|| RpcError::not_found(&task_id))?;
                delivered(&a.store, &mut v);
                Ok(v.to_a2a(history, true))
            })
            .await;
            answer(&id, r)
        }
        "ListTasks" => answer(&id, blocking(a2a, move |a| list(&a.store, &params)).await),
        "CancelTask" => {
            let r = blocking(a2a, move |a| {
                let task_id = str_param(&params, "id")?;
                let mut v = a.store.cancel(&task_id)?;
                delivered(&a.store, &mut v);
                Ok(v.to_a2a(None, true))
            })
            .await;
            answer(&id, r)
        }
        "CreateTaskPushNotificationConfig"
        | "GetTaskPushNotificationConfig"
        | "ListTaskPushNotificationConfigs"
        | "DeleteTaskPushNotificationConfig" => answer(
            &id,
            Err(RpcError::new(
                RpcError::PUSH_NOT_SUPPORTED,
                "baton sends no push notifications (nothing leaves this machine): poll GetTask or use SubscribeToTask",
            )),
        ),
        "GetExtendedAgentCard" => answer(
            &id,
            Err(RpcError::new(RpcError::NO_EXTENDED_CARD, "baton has one agent card, at /.well-known/agent-card.json")),
        ),
        other => answer(&id, Err(RpcError::new(RpcError::METHOD_NOT_FOUND, format!("no method {other:?} in A2A 1.0")))),
    }
}

/// Runs `f` on the blocking pool (files and the ledger are blocking).
async fn blocking<T: Send + 'static>(
    a2a: Arc<A2a>,
    f: impl FnOnce(&A2a) -> RpcResult<T> + Send + 'static,
) -> RpcResult<T> {
    tokio::task::spawn_blocking(move || f(&a2a)).await.map_err(RpcError::internal)?
}

fn str_param(params: &Value, key: &str) -> RpcResult<String> {
    match params.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(RpcError::params(format!("`{key}` (a non-empty string) is required"))),
    }
}

/// `historyLength`: absent is everything; a negative one is refused.
fn history_param(params: &Value) -> RpcResult<Option<usize>> {
    match params.get("historyLength") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_u64().map(|n| Some(n as usize)).ok_or_else(|| RpcError::params("historyLength is a number >= 0"))
        }
    }
}

/// A terminal task has been seen by its client: its RETURN leaves `a2a`'s inbox.
fn delivered(store: &Store, v: &mut View) {
    if is_terminal(v.state()) {
        store.file_delivered(v);
    }
}

/// What `SendMessage` asks, checked before anything is written.
struct SendRequest {
    skill: task::Skill,
    message: Value,
    context: String,
    return_immediately: bool,
    history: Option<usize>,
}

fn parse_send(store: &Store, params: &Value) -> RpcResult<SendRequest> {
    let Some(message) = params.get("message").filter(|m| m.is_object()) else {
        return Err(RpcError::params("SendMessage needs a message (an object with messageId, role and parts)"));
    };
    if let Some(task_id) = message.get("taskId").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        return Err(match store.view(task_id, None)? {
            Some(_) => RpcError::new(
                RpcError::UNSUPPORTED,
                format!(
                    "task {task_id} takes no further messages: a baton task is one TASK and its one answer; send a new task (the same contextId groups them)"
                ),
            ),
            None => RpcError::not_found(task_id),
        });
    }
    // Proto JSON leaves an empty list out: no `parts` is no parts.
    if message.get("parts").is_some_and(|p| !p.is_array()) {
        return Err(RpcError::params("the message's parts is a list"));
    }
    let skill_id = [message.get("metadata"), params.get("metadata")]
        .into_iter()
        .flatten()
        .find_map(|m| m.get("skill").and_then(Value::as_str))
        .map(str::to_string);
    // No skill named: the configured default agent, as a generic A2A client expects.
    let skill_id = match (skill_id, &store.default_agent) {
        (Some(s), _) => s,
        (None, Some(agent)) => format!("agent:{agent}"),
        (None, None) => {
            return Err(RpcError::params(
                "name the skill in the message's metadata, {\"skill\": \"PLUGIN.ACTION\"} or {\"skill\": \"agent:NAME\"} (the agent card lists them), or set `[a2a] default_agent = \"NAME\"` in baton.toml to send messages without one to that agent",
            )
            .with_reason("UNKNOWN_SKILL"));
        }
    };
    let skill = store.skill(&skill_id)?;
    let context = message
        .get("contextId")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .unwrap_or_else(baton_handoff::build::new_id);
    let config = params.get("configuration");
    Ok(SendRequest {
        skill,
        message: message.clone(),
        context,
        return_immediately: config.and_then(|c| c.get("returnImmediately")).and_then(Value::as_bool).unwrap_or(false),
        history: match config {
            Some(c) => history_param(c)?,
            None => None,
        },
    })
}

/// A `SendMessage` with the `taskId` of a task that asked back (`TASK_STATE_INPUT_REQUIRED`):
/// its first data part (else its first text, as a string) answers the open input request, as
/// `baton answer` does (checked against the request's schema, given once). The task as it goes on, and a watch for its RETURN;
/// `None` for any other message.
fn answer_input(store: &Store, params: &Value) -> RpcResult<Option<(View, crate::wait::Waiter)>> {
    let message = params.get("message");
    let Some(task_id) = message.and_then(|m| m.get("taskId")).and_then(Value::as_str).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let Some(view) = store.view(task_id, None)?.filter(|v| v.asking.is_some()) else { return Ok(None) };
    // The answer is the first data part; a message of text alone answers with its first text,
    // a JSON string (what a question whose schema takes a string, or any value, asks for: the
    // follow-up every generic client sends). Either is checked against the schema.
    let parts = message.and_then(|m| m.get("parts")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let data = parts.iter().find_map(|p| p.get("data").cloned());
    let Some(input) = data.or_else(|| parts.iter().find_map(|p| p.get("text").filter(|t| t.is_string()).cloned()))
    else {
        return Err(RpcError::params(format!(
            "task {task_id} asks for input: answer with a message whose data part (or text, where the input_schema of its status message takes a string) matches that schema"
        )));
    };
    let events = store.ledger().events(task_id).map_err(RpcError::internal)?;
    let given = match baton_pipeline::asking::open_request(&events) {
        Some(request) => crate::answer::give(&store.tree, &mut store.ledger(), task_id, &request, &input, &request.to)
            .map_err(RpcError::internal)?
            .map(|_| ()),
        // An agent asked (`baton reply --status input_required`): the answer is an `input`
        // into its inbox, as `baton answer` delivers it.
        None if view.row.is_none() => {
            crate::ask::answer(&store.tree, task_id, &input, None).map_err(RpcError::internal)?.map(|_| ())
        }
        None => return Ok(None),
    };
    if let Err((_, why)) = given {
        return Err(RpcError::params(why));
    }
    let view = store.view(task_id, None)?.unwrap_or(view);
    let reply = view.task.as_ref().and_then(|t| t.get("reply_to").or_else(|| t.get("from"))).and_then(Value::as_str);
    let reply = reply.map(str::to_string).or_else(|| view.row.as_ref().map(|r| r.reply_to.clone()));
    let created = view.task.as_ref().and_then(|t| t.get("created_at")).and_then(Value::as_str);
    let waiter = store.waiter(task_id, reply.as_deref().unwrap_or(A2A_AGENT), created);
    Ok(Some((view, waiter)))
}

async fn send_message(a2a: Arc<A2a>, id: Value, params: Value, streaming: bool) -> Response {
    let answering = params.clone();
    let answered = blocking(a2a.clone(), move |a| answer_input(&a.store, &answering)).await;
    match answered {
        Ok(Some((view, waiter))) => {
            if streaming {
                return stream(a2a, id, view, waiter, None);
            }
            // `returnImmediately` holds for an answer as for a new message: the task as it is.
            if params.pointer("/configuration/returnImmediately").and_then(Value::as_bool) == Some(true) {
                return answer(&id, Ok(json!({"task": view.to_a2a(None, true)})));
            }
            let waited = until_terminal(a2a.clone(), view, waiter, BLOCKING_LIMIT).await;
            return answer(&id, waited.map(|v| json!({"task": v.to_a2a(None, true)})));
        }
        Ok(None) => {}
        Err(e) => return answer(&id, Err(e)),
    }
    let sent = blocking(a2a.clone(), move |a| {
        let req = parse_send(&a.store, &params)?;
        let landings = a.watch.as_ref().map(|(_, l)| l.clone());
        let (view, waiter, synced) = a.store.send(&req.skill, &req.message, &req.context, landings)?;
        tracing::info!(task = %view.id, skill = %req.skill.id(), "a2a: sent");
        // Reported at once (a stream's first event, or the task itself): the TASK's folder is
        // synced first. A blocking send reports it with its answer, so the sync runs beside
        // the wait (`serve` takes the TASK as soon as it is named).
        let synced = if streaming || req.return_immediately {
            synced.finish();
            PendingSync(None)
        } else {
            PendingSync(Some(synced))
        };
        Ok((req, view, waiter, synced))
    })
    .await;
    let (req, view, waiter, synced) = match sent {
        Ok(s) => s,
        Err(e) => return answer(&id, Err(e)),
    };
    if streaming {
        return stream(a2a, id, view, waiter, req.history);
    }
    if req.return_immediately {
        return answer(&id, Ok(json!({"task": view.to_a2a(req.history, true)})));
    }
    let waited = until_terminal(a2a.clone(), view, waiter, BLOCKING_LIMIT).await;
    let r = blocking(a2a, move |a| {
        let mut synced = synced;
        if let Some(s) = synced.0.take() {
            s.finish();
        }
        let mut v = waited?;
        delivered(&a.store, &mut v);
        Ok(json!({"task": v.to_a2a(req.history, true)}))
    })
    .await;
    answer(&id, r)
}

/// The sync of a new TASK's folder, carried across a blocking send's wait and joined before its
/// answer. If the request is dropped first (its client went away), the join goes to the blocking
/// pool instead of holding a runtime thread for the rest of a disk sync.
struct PendingSync(Option<crate::DirSync>);

impl Drop for PendingSync {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(move || s.finish())),
                Err(_) => s.finish(),
            }
        }
    }
}

/// One look at a task (on the blocking pool: the ledger and files), the RETURN watch carried
/// from look to look so that each file is read once.
async fn look(a2a: &Arc<A2a>, id: &str, waiter: wait::Waiter) -> RpcResult<(wait::Waiter, Option<View>)> {
    let (a, id) = (a2a.clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        let mut w = waiter;
        let v = a.store.view(&id, Some(&mut w));
        v.map(|v| (w, v))
    })
    .await
    .map_err(RpcError::internal)?
}

/// Waits for the task's answer, at most `limit`; then the task as it is. Woken by a RETURN
/// landing in `a2a`'s inbox, else every [`STREAM_SLICE`]: the wait holds no thread, so clients
/// waiting in any number never starve the pipeline's blocking pool.
async fn until_terminal(a2a: Arc<A2a>, view: View, mut waiter: wait::Waiter, limit: Duration) -> RpcResult<View> {
    let mut landed = a2a.landed.subscribe();
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = view;
    // A message sent again whose task has answered: its view is the answer (a look would only
    // list the reply folders, thousands of filed RETURNs in a long-used home, to find it again).
    if is_terminal(last.state()) {
        return Ok(last);
    }
    let mut pace = Pace::starting();
    loop {
        let before = last.state();
        let (w, v) = look(&a2a, &last.id, waiter).await?;
        waiter = w;
        if let Some(v) = v {
            last = v;
        }
        if is_terminal(last.state()) || last.state() == task::INPUT_REQUIRED || tokio::time::Instant::now() >= deadline
        {
            return Ok(last);
        }
        let wait = pace.next(last.state() != before);
        tokio::select! {
            _ = landed.changed() => pace.landed(),
            _ = tokio::time::sleep(wait) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    }
}

async fn subscribe(a2a: Arc<A2a>, id: Value, params: Value) -> Response {
    let found = blocking(a2a.clone(), move |a| {
        let task_id = str_param(&params, "id")?;
        let view = a.store.view(&task_id, None)?.ok_or_else(|| RpcError::not_found(&task_id))?;
        if is_terminal(view.state()) {
            return Err(RpcError::new(
                RpcError::UNSUPPORTED,
                format!("task {task_id} is already {}: GetTask returns it", view.state()),
            ));
        }
        let reply =
            view.task.as_ref().and_then(|t| t.get("reply_to").or_else(|| t.get("from"))).and_then(Value::as_str);
        let reply = reply.map(str::to_string).or_else(|| view.row.as_ref().map(|r| r.reply_to.clone()));
        let created = view.task.as_ref().and_then(|t| t.get("created_at")).and_then(Value::as_str);
        let waiter = a.store.waiter(&task_id, reply.as_deref().unwrap_or(A2A_AGENT), created);
        Ok((view, waiter))
    })
    .await;
    match found {
        Ok((view, waiter)) => stream(a2a, id, view, waiter, None),
        Err(e) => answer(&id, Err(e)),
    }
}

/// Server-sent events for one task: the task first, then each status change, the artifacts
/// and the final status; the stream ends with the task. A client that goes away stops it at
/// once; like [`until_terminal`], it holds no thread while it waits.
fn stream(a2a: Arc<A2a>, rpc_id: Value, first: View, waiter: wait::Waiter, history: Option<usize>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Value>(16);
    tokio::spawn(async move {
        let send = |result: Value| {
            let tx = tx.clone();
            let msg = json!({"jsonrpc": "2.0", "id": rpc_id, "result": result});
            async move { tx.send(msg).await.is_ok() }
        };
        let mut last = first.state();
        if !send(json!({"task": first.to_a2a(history, true)})).await || is_terminal(last) {
            return;
        }
        let mut landed = a2a.landed.subscribe();
        let (id, mut waiter) = (first.id.clone(), waiter);
        let (mut pace, mut moved) = (Pace::starting(), false);
        loop {
            let wait = pace.next(moved);
            tokio::select! {
                _ = landed.changed() => pace.landed(),
                _ = tokio::time::sleep(wait) => {}
                _ = tx.closed() => return,
            }
            moved = false;
            let v = match look(&a2a, &id, waiter).await {
                Ok((w, v)) => {
                    waiter = w;
                    v
                }
                Err(e) => {
                    tracing::warn!(task = %id, "a2a stream stopped: {}", e.message);
                    return;
                }
            };
            let Some(mut v) = v else { continue };
            let state = v.state();
            if state == last {
                continue;
            }
            (last, moved) = (state, true);
            let full = v.to_a2a(Some(0), true);
            let context = v.context_id();
            if is_terminal(state) {
                for artifact in full["artifacts"].as_array().into_iter().flatten() {
                    let update = json!({"taskId": id, "contextId": context, "artifact": artifact, "lastChunk": true});
                    if !send(json!({"artifactUpdate": update})).await {
                        return;
                    }
                }
            }
            if !send(json!({"statusUpdate": {"taskId": id, "contextId": context, "status": full["status"]}})).await {
                return;
            }
            if is_terminal(state) {
                let a = a2a.clone();
                let _ = tokio::task::spawn_blocking(move || delivered(&a.store, &mut v)).await;
                return;
            }
        }
    });
    let events = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|v| (Ok::<_, std::convert::Infallible>(Event::default().data(v.to_string())), rx))
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// `ListTasks`: the tasks sent over A2A, newest first, filtered by `contextId`, `status` and
/// `statusTimestampAfter`, paged by an opaque cursor (`pageToken`, default 50 a page, at most 100).
fn list(store: &Store, params: &Value) -> RpcResult<Value> {
    let page_size = match params.get("pageSize").and_then(Value::as_u64) {
        None | Some(0) => 50,
        Some(n @ 1..=100) => n as usize,
        Some(n) => return Err(RpcError::params(format!("pageSize is 1 to 100, not {n}"))),
    };
    let after: Option<i64> = match params.get("pageToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(t.parse().map_err(|_| RpcError::params(format!("pageToken {t:?} is not one ListTasks gave")))?),
    };
    let context = params.get("contextId").and_then(Value::as_str).filter(|c| !c.is_empty());
    let status = params.get("status").and_then(Value::as_str).filter(|s| *s != "TASK_STATE_UNSPECIFIED");
    let since = match params.get("statusTimestampAfter").and_then(Value::as_str) {
        None => None,
        Some(t) => Some(
            baton_handoff::stamp::parse_rfc3339(t)
                .ok_or_else(|| RpcError::params(format!("statusTimestampAfter {t:?} is not an RFC 3339 time")))?,
        ),
    };
    let history = history_param(params)?.or(Some(0));
    let artifacts = params.get("includeArtifacts").and_then(Value::as_bool).unwrap_or(false);
    let in_context = |d: &Value| context.is_none_or(|c| d.get("context_id").and_then(Value::as_str) == Some(c));
    let sent: Vec<(i64, String)> =
        store.sent()?.into_iter().filter(|(_, _, d)| in_context(d)).map(|(seq, id, _)| (seq, id)).collect();
    let view_passes = |v: &View| {
        status.is_none_or(|s| v.state() == s)
            && since.is_none_or(|t| {
                v.timestamp().and_then(|s| baton_handoff::stamp::parse_rfc3339(&s)).is_some_and(|at| at > t)
            })
    };
    let filtered = status.is_some() || since.is_some();
    let (mut total, mut page, mut next) = (0usize, Vec::<(i64, View)>::new(), String::new());
    for (seq, id) in &sent {
        let on_page = after.is_none_or(|a| *seq < a);
        // A view costs file reads: made for the page, and for every task when a filter needs it.
        let v = if filtered || (on_page && page.len() < page_size) {
            match store.view(id, None)? {
                Some(v) => Some(v),
                None => continue,
            }
        } else {
            None
        };
        if filtered && !v.as_ref().is_some_and(view_passes) {
            continue;
        }
        total += 1;
        if !on_page {
            continue;
        }
        match v {
            Some(v) if page.len() < page_size => page.push((*seq, v)),
            _ if next.is_empty() => next = page.last().map(|(s, _)| s.to_string()).unwrap_or_default(),
            _ => {}
        }
    }
    let tasks: Vec<Value> = page.iter().map(|(_, v)| v.to_a2a(history, artifacts)).collect();
    Ok(json!({"tasks": tasks, "nextPageToken": next, "pageSize": page_size, "totalSize": total}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_landing_is_looked_at_again_soon_then_at_the_slice() {
        let ms = Duration::from_millis;
        let mut p = Pace { soon: None };
        assert_eq!(p.next(false), STREAM_SLICE, "nothing landed: the slice");
        p.landed();
        let soon: Vec<Duration> = (0..7).map(|_| p.next(false)).collect();
        assert_eq!(soon, [ms(5), ms(10), ms(20), ms(40), ms(80), ms(160), STREAM_SLICE]);
        p.landed();
        assert_eq!((p.next(false), p.next(true), p.next(false)), (ms(5), ms(5), ms(10)), "a move looks again soon");
        let mut p = Pace::starting();
        assert_eq!((p.next(false), p.next(false)), (ms(5), ms(10)), "a wait starts looking soon");
    }

    #[test]
    fn proto_names_are_read_as_json_names_and_user_data_is_left_as_sent() {
        let v = json_names(json!({"message": {"message_id": "m", "context_id": "c", "metadata": {"skill_id": 1},
                                               "parts": [{"data": {"a_b": 2}}]}, "page_size": 3, "historyLength": 4}));
        assert_eq!(
            v,
            json!({"message": {"messageId": "m", "contextId": "c", "metadata": {"skill_id": 1}, "parts": [{"data": {"a_b": 2}}]},
                   "pageSize": 3, "historyLength": 4})
        );
    }
}
