//! The routes. Outside tools rely on them, so they stay as they are:
//! `GET /api/overview`, `/api/handoffs?agent=&q=`, `/api/handoffs/{id}`, `/api/conversations/{id}`,
//! `/api/mailboxes`, `/api/plugins`,
//! `/api/audits`, `/api/library`, `/api/alerts`; `POST /api/handoffs/{id}/retry`,
//! `/api/plugins/{name}/pause`, `/api/plugins/{name}/resume`, `/api/audit/run`,
//! `/api/alerts/{id}/ack`; `GET /api/tasks?state=&plugin=&code=&agent=&q=&page=&per_page=` (the
//! task list: filtered, newest first, paged with totals) and `POST /api/tasks/retry` (the same
//! filters in the body, with `expect`: the count the user confirmed); `WS /api/live`; `GET /metrics`, `/healthz`, `/readyz`. Also
//! `POST /api/session` (trade the key or a one-time token for a session token) and the page.
//!
//! Bad input gets a clear 4xx JSON answer and the server goes on: an unknown id or name 404,
//! a body that is not a JSON object 400, a body over [`MAX_BODY`] 413, an unknown route 404.
use baton_sync::Locked;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use baton_handoff::stamp::now_ms;
use serde_json::{Value, json};

use crate::guard::{self, ApiError};
use crate::{App, data, live, stats};

/// The largest request body taken (the actions take small JSON objects or nothing).
pub(crate) const MAX_BODY: usize = 16 * 1024;

const INDEX: &str = include_str!("../assets/index.html");
const APP_JS: &str = include_str!("../assets/app.js");
const APP_CSS: &str = include_str!("../assets/app.css");
const ICON: &[u8] = include_bytes!("../assets/icon.svg");

type ApiResult = Result<Response, ApiError>;

pub(crate) fn router(app: Arc<App>, extra: Option<crate::Extra>) -> Router {
    let api = Router::new()
        .route("/api/overview", get(overview))
        .route("/api/handoffs", get(handoffs))
        .route("/api/handoffs/{id}", get(handoff))
        .route("/api/handoffs/{id}/retry", post(retry))
        .route("/api/tasks", get(tasks))
        .route("/api/tasks/retry", post(retry_all))
        .route("/api/conversations/{id}", get(conversation))
        .route("/api/mailboxes", get(mailboxes))
        .route("/api/plugins", get(plugins))
        .route("/api/plugins/{name}/pause", post(pause))
        .route("/api/plugins/{name}/resume", post(resume))
        .route("/api/audits", get(audits))
        .route("/api/audit/run", post(audit_run))
        .route("/api/library", get(library))
        .route("/api/alerts", get(alerts))
        .route("/api/alerts/{id}/ack", post(ack))
        .route("/metrics", get(metrics))
        // Outermost last: the key is checked before a shared answer is looked up.
        .route_layer(middleware::from_fn_with_state(app.clone(), crate::answers::shared))
        .route_layer(middleware::from_fn_with_state(app.clone(), guard::require_key));
    let (open, keyed) = match extra {
        Some(e) => (e.open, e.keyed.route_layer(middleware::from_fn_with_state(app.clone(), guard::require_key))),
        None => (Router::new(), Router::new()),
    };
    Router::new()
        .merge(api)
        .route("/api/session", post(session).delete(sign_out))
        .route("/api/live", get(live::live))
        .route("/healthz", get(healthz))
        // Like /healthz, for a supervisor or load balancer that holds no key: it says whether the
        // state and the inbox answer, nothing from the ledger's contents.
        .route("/readyz", get(readyz))
        .route("/", get(|| async { page(INDEX, "text/html; charset=utf-8") }))
        .route("/app.js", get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/app.css", get(|| async { page(APP_CSS, "text/css; charset=utf-8") }))
        .route("/icon.svg", get(|| async { ([(header::CONTENT_TYPE, "image/svg+xml")], ICON).into_response() }))
        .route("/favicon.ico", get(|| async { ([(header::CONTENT_TYPE, "image/svg+xml")], ICON).into_response() }))
        .fallback(|| async { ApiError::not_found("no such route").into_response() })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route takes another method")
                .into_response()
        })
        .with_state(app.clone())
        .merge(open)
        .merge(keyed)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::from_fn_with_state(app, guard::outer))
}

fn page(body: &'static str, kind: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Runs `f` on the blocking pool with the dashboard's ledger connection.
async fn with_ledger<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&App, &mut baton_ledger::Ledger) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let app = app.clone();
    tokio::task::spawn_blocking(move || {
        let mut ledger = app.db.locked();
        f(&app, &mut ledger)
    })
    .await
    .map_err(ApiError::internal)?
}

/// An optional JSON object body: empty is `{}`; anything else must parse as an object.
fn body_object(body: Result<Bytes, BytesRejection>) -> Result<serde_json::Map<String, Value>, ApiError> {
    let bytes = body.map_err(|r| {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "too_large", format!("request bodies are limited to {MAX_BODY} bytes"))
        } else {
            ApiError::new(status, "bad_body", r.body_text())
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Default::default());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("the body is not JSON: {e}"))),
    }
}

fn valid_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > 256 {
        return Err(ApiError::bad_request("an id is 1 to 256 characters"));
    }
    Ok(())
}

/// Trades the key or a one-time token (in the `Authorization` header) for a session token,
/// setting the session cookie; or, with no `Authorization` header, the session cookie (sent by
/// the page itself: its `Origin` is required) for a new session token, which is how a reload
/// or a restarted `serve` keeps the user signed in. `DELETE`: signs out (clears the cookie,
/// ends the session token given).
async fn session(State(app): State<Arc<App>>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> ApiResult {
    body_object(body)?;
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if origin.is_some_and(|o| !app.hosts.allows_origin(o)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "requests from other origins are refused",
        ));
    }
    let now = baton_handoff::stamp::now().unix_timestamp();
    // A read-only key (or its session's cookie) is traded for a read-only session.
    let (set_cookie, read_only) = match guard::bearer(&headers) {
        Some(secret) => match app.auth.check(secret) {
            Some(who) => (app.auth.cookie(now, who.read_only()), who.read_only()),
            None => return Ok(guard::unauthorized()),
        },
        None => {
            let cookie =
                headers.get_all(header::COOKIE).iter().filter_map(|c| c.to_str().ok()).collect::<Vec<_>>().join("; ");
            match app.auth.check_cookie(&cookie, now) {
                Some(read_only) if origin.is_some() => (None, read_only),
                _ => return Ok(guard::unauthorized()),
            }
        }
    };
    let mut resp = Json(json!({"token": app.auth.session(read_only), "read_only": read_only})).into_response();
    if let Some(c) = set_cookie.and_then(|c| header::HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

async fn sign_out(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(secret) = guard::bearer(&headers) {
        app.auth.revoke(secret);
    }
    let mut resp = Json(json!({"signed_out": true})).into_response();
    if let Ok(c) = header::HeaderValue::from_str(&crate::auth::Auth::cookie_cleared()) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

async fn healthz() -> Response {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

async fn readyz(State(app): State<Arc<App>>) -> ApiResult {
    let checks = with_ledger(&app, |app, ledger| {
        let db = ledger.stats().ping();
        let inbox = app.paths.inbox(&app.cfg.agent);
        let watch = std::fs::read_dir(&inbox).map(|_| ());
        Ok(json!({
            "state": match &db { Ok(_) => json!({"ok": true}), Err(e) => json!({"ok": false, "error": e.to_string()}) },
            "inbox": match &watch { Ok(_) => json!({"ok": true, "path": inbox}), Err(e) => json!({"ok": false, "path": inbox, "error": e.to_string()}) },
            "live": {"ok": true, "seq": app.live.borrow().seq},
            // The serve loop's watch and progress; a dashboard started without one has none.
            "watcher": match &app.liveness {
                Some(l) => serde_json::to_value(l.report(now_ms())).unwrap_or_default(),
                None => json!({"ok": true, "watching": false}),
            },
        }))
    })
    .await?;
    let ready = ["state", "inbox", "watcher"].iter().all(|k| checks[k]["ok"] == true);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    Ok((status, Json(json!({"ready": ready, "checks": checks}))).into_response())
}

fn inputs(app: &App, ledger: &baton_ledger::Ledger) -> stats::Inputs {
    inputs_and_extra(app, ledger, false).0
}

/// `/metrics`' and the overview's inputs; with `extra`, what only `/metrics` shows too.
fn inputs_and_extra(app: &App, ledger: &baton_ledger::Ledger, extra: bool) -> (stats::Inputs, stats::Extra) {
    let now = baton_handoff::stamp::now();
    let installed: std::collections::BTreeSet<String> = baton_home::plugins::installed_files(&app.paths)
        .iter()
        .filter_map(|p| p.file_stem().and_then(|s| s.to_str()).map(str::to_string))
        .collect();
    let mut more = stats::Extra::default();
    let paused = installed
        .iter()
        .map(|n| {
            let h = baton_home::health::Health::parse(ledger.health_get(n).ok().flatten().as_deref());
            let pause = h.pause(now);
            if let Some(p) = &pause {
                let why = match p {
                    baton_home::health::Pause::Hand { .. } => "hand",
                    baton_home::health::Pause::Failures { .. } => "failures",
                };
                more.pause_reasons.insert(n.clone(), why);
            }
            (n.clone(), pause.is_some())
        })
        .collect();
    let fp_coverage_ratio = app.facts.fp_coverage(&app.paths.state);
    let inboxes = data::inboxes(app);
    if extra {
        more.unread = inboxes.unread.clone();
        more.between_agents = data::between_agents(ledger);
        more.alerts_firing = baton_stats::alerts::RULES.iter().map(|r| (r.to_string(), 0)).collect();
        if let Ok(Value::Array(alerts)) = stats::alerts(ledger.stats()) {
            for a in alerts.iter().filter(|a| a["state"] == "firing") {
                *more.alerts_firing.entry(a["rule"].as_str().unwrap_or("unknown").to_string()).or_default() += 1;
            }
        }
        more.last_pass_ms =
            app.liveness.as_ref().and_then(|l| l.report(now_ms()).last_pass_ms_ago).map(|ago| now_ms() - ago);
    }
    let inputs = stats::Inputs {
        installed,
        queue_depth: inboxes.waiting,
        paused,
        fp_coverage_ratio,
        audit_false_claims: data::latest_false_claims(app),
    };
    (inputs, more)
}

async fn overview(State(app): State<Arc<App>>) -> ApiResult {
    let mut v = with_ledger(&app, |app, ledger| {
        let inputs = inputs(app, ledger);
        let mut v = stats::overview(ledger.stats(), now_ms(), &inputs).map_err(ApiError::internal)?;
        // Tasks by state, every state named (0 when none).
        let mut counts: serde_json::Map<String, Value> =
            data::STATES.iter().map(|s| (s.to_string(), json!(0))).collect();
        let (facets, counted_at) = data::facets(app, ledger).map_err(ApiError::internal)?;
        for (state, _, _, n) in facets {
            let slot = counts.entry(state).or_insert(json!(0));
            *slot = json!(slot.as_u64().unwrap_or(0) + n);
        }
        // Every rejection, parsed or not, as the rejected list and `baton status` count them.
        counts.insert("rejected".into(), json!(crate::rejections::read(&app.paths, &app.cfg.agent).len()));
        // RETURNs sitting in agents' inboxes: unread mail, not work waiting.
        let unread = data::inboxes(app).unread;
        if let Some(o) = v.as_object_mut() {
            o.insert("counts".into(), Value::Object(counts));
            o.insert("counts_at".into(), json!(data::stamp(counted_at)));
            o.insert("unread_total".into(), json!(unread.values().sum::<u64>()));
            o.insert("unread".into(), json!(unread));
        }
        Ok(v)
    })
    .await?;
    if let Some(o) = v.as_object_mut() {
        o.insert("seq".into(), json!(app.live.borrow().seq));
    }
    Ok(Json(v).into_response())
}

async fn metrics(State(app): State<Arc<App>>) -> ApiResult {
    let text = with_ledger(&app, |app, ledger| {
        let (inputs, extra) = inputs_and_extra(app, ledger, true);
        stats::metrics(ledger.stats(), &inputs, &extra).map_err(ApiError::internal)
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response())
}

#[derive(serde::Deserialize)]
struct HandoffQuery {
    agent: Option<String>,
    q: Option<String>,
}

async fn handoffs(State(app): State<Arc<App>>, query: Result<Query<HandoffQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if q.q.as_ref().is_some_and(|s| s.len() > 256) || q.agent.as_ref().is_some_and(|s| s.len() > 256) {
        return Err(ApiError::bad_request("`q` and `agent` are at most 256 characters"));
    }
    let v = with_ledger(&app, move |app, ledger| {
        data::handoffs(app, ledger, q.agent.as_deref(), q.q.as_deref()).map_err(ApiError::internal)
    })
    .await?;
    Ok(Json(v).into_response())
}

async fn handoff(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    valid_id(&id)?;
    let found = {
        let id = id.clone();
        with_ledger(&app, move |app, ledger| data::handoff(app, ledger, &id).map_err(ApiError::internal)).await?
    };
    match found {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::not_found(format!("no handoff with id {id:?}"))),
    }
}

async fn retry(State(app): State<Arc<App>>, Path(id): Path<String>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    body_object(body)?;
    valid_id(&id)?;
    let moved = {
        let id = id.clone();
        with_ledger(&app, move |app, ledger| {
            if !data::task_exists(ledger, &id).map_err(ApiError::internal)? {
                return Ok(Err(ApiError::not_found(format!("no handoff with id {id:?}"))));
            }
            crate::retry::one(app, ledger, &id).map(Ok).map_err(retry_error)
        })
        .await??
    };
    match moved {
        Some(to) => {
            tracing::info!(id = %id, "dashboard: retry requested");
            Ok(Json(json!({"retried": true, "id": id, "moved_to": to})).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_failed",
            format!("handoff {id:?} is not in 03_failed/; only a failed handoff can be retried"),
        )),
    }
}

/// A retry the pipeline refused (the file is not a valid TASK, or that id is running now) is
/// the caller's to fix: 409 with the pipeline's message, which names the fix. Anything else is
/// baton's own failure.
fn retry_error(e: baton_pipeline::PipelineError) -> ApiError {
    match e {
        baton_pipeline::PipelineError::RetryRefused(why) => {
            ApiError::new(StatusCode::CONFLICT, "retry_refused", why.to_string())
        }
        e => ApiError::internal(e),
    }
}

fn task_query(q: &data::TaskQuery) -> Result<(), ApiError> {
    q.validate().map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn tasks(State(app): State<Arc<App>>, query: Result<Query<data::TaskQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    task_query(&q)?;
    let v = with_ledger(&app, move |app, ledger| data::tasks(app, ledger, &q).map_err(ApiError::internal)).await?;
    Ok(Json(v).into_response())
}

/// The bulk retry: the task list's filters, and `expect`, the number the user was shown and
/// confirmed. A different number now (tasks failed or were retried meanwhile) is refused with
/// the new count, so nobody retries more than they agreed to.
async fn retry_all(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    let mut body = body_object(body)?;
    let dry_run = match body.remove("dry_run") {
        None | Some(Value::Bool(false)) => false,
        Some(Value::Bool(true)) => true,
        Some(_) => return Err(ApiError::bad_request("`dry_run` is true or false")),
    };
    let expect = match body.remove("expect") {
        Some(Value::Number(n)) if n.as_u64().is_some() => n.as_u64(),
        None if dry_run => None,
        _ => {
            return Err(ApiError::bad_request(
                "`expect` (the number of tasks you confirmed) is required: a whole number",
            ));
        }
    };
    let q: data::TaskQuery =
        serde_json::from_value(Value::Object(body)).map_err(|e| ApiError::bad_request(format!("the filters: {e}")))?;
    task_query(&q)?;
    if dry_run {
        // What would move, and nothing moves.
        let bulk =
            with_ledger(&app, move |_, ledger| crate::retry::matching(ledger, &q).map_err(ApiError::internal)).await?;
        return Ok(Json(json!({"dry_run": true, "matched": bulk.ids.len(), "ids": bulk.ids,
                              "left_out": left_out_json(&bulk.left_out)}))
        .into_response());
    }
    let expect = expect.unwrap_or_default();
    let outcome = with_ledger(&app, move |app, ledger| {
        let bulk = crate::retry::matching(ledger, &q).map_err(ApiError::internal)?;
        let (ids, left_out) = (bulk.ids, bulk.left_out);
        if ids.len() as u64 != expect {
            return Ok(Err(ApiError::new(
                StatusCode::CONFLICT,
                "count_changed",
                format!("{} failed tasks match these filters now, not {expect}; look again and confirm", ids.len()),
            )));
        }
        crate::retry::all_matching(app, ledger, ids).map(|moved| Ok((moved, left_out))).map_err(retry_error)
    })
    .await??;
    let (outcome, left_out) = outcome;
    let retried = outcome.iter().filter(|m| m.moved_to.is_some()).count();
    tracing::info!(retried, matched = outcome.len(), left_out = left_out.len(), "dashboard: bulk retry");
    Ok(Json(json!({"retried": retried, "matched": outcome.len(), "tasks": outcome,
                   "left_out": left_out_json(&left_out)}))
    .into_response())
}

/// The tasks a bulk retry left out, each with its code and the way to retry it edited.
fn left_out_json(left_out: &[(String, String)]) -> Vec<Value> {
    left_out
        .iter()
        .map(|(id, code)| json!({"id": id, "code": code, "fix": format!("baton retry {id} --params JSON")}))
        .collect()
}

/// A TASK, its RETURN and what followed ([`crate::conversation`]); 404 for an unknown id.
async fn conversation(State(app): State<Arc<App>>, Path(id): Path<String>) -> ApiResult {
    valid_id(&id)?;
    let found = {
        let id = id.clone();
        with_ledger(&app, move |app, ledger| {
            crate::conversation::conversation(app, ledger, &id).map_err(ApiError::internal)
        })
        .await?
    };
    match found {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::not_found(format!("no handoff with id {id:?}"))),
    }
}

/// The team page: the agents' mailboxes (Claude Code teams, folder mailboxes), each inbox with
/// its messages and counts. Reads only.
async fn mailboxes(State(app): State<Arc<App>>) -> ApiResult {
    let app2 = app.clone();
    let v = tokio::task::spawn_blocking(move || data::teams(&app2))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(v).into_response())
}

async fn plugins(State(app): State<Arc<App>>) -> ApiResult {
    let v = with_ledger(&app, |app, ledger| data::plugins(app, ledger).map_err(ApiError::internal)).await?;
    Ok(Json(v).into_response())
}

/// A plugin the dashboard may pause: installed or loaded.
fn known_plugin(app: &App, name: &str) -> bool {
    app.runtime.as_ref().is_some_and(|rt| rt.get(name).is_some())
        || baton_home::plugins::installed_files(&app.paths).iter().any(|p| p.file_stem().is_some_and(|s| s == name))
}

async fn pause(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    pause_or_resume(app, name, body, true).await
}

async fn resume(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    pause_or_resume(app, name, body, false).await
}

async fn pause_or_resume(app: Arc<App>, name: String, body: Result<Bytes, BytesRejection>, pause: bool) -> ApiResult {
    body_object(body)?;
    if !known_plugin(&app, &name) {
        return Err(ApiError::not_found(format!("no installed plugin named {name:?}")));
    }
    let n = name.clone();
    let changed = with_ledger(&app, move |_, ledger| {
        let r =
            if pause { baton_home::health::pause_by_hand(ledger, &n) } else { baton_home::health::resume(ledger, &n) };
        r.map_err(ApiError::internal)
    })
    .await?;
    tracing::info!(plugin = %name, paused = pause, changed, "dashboard: plugin {}", if pause { "paused" } else { "resumed" });
    Ok(Json(json!({"plugin": name, "paused": pause, "changed": changed})).into_response())
}

#[derive(serde::Deserialize)]
struct AuditQuery {
    set: Option<String>,
}

async fn audits(State(app): State<Arc<App>>, query: Result<Query<AuditQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if q.set.as_ref().is_some_and(|s| s.len() > 16 * 1024) {
        return Err(ApiError::bad_request("`set` is too long"));
    }
    let app2 = app.clone();
    let v = tokio::task::spawn_blocking(move || data::audits(&app2, q.set.as_deref()))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(v).into_response())
}

async fn audit_run(State(app): State<Arc<App>>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    body_object(body)?;
    let Some(auditor) = app.auditor.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_auditor",
            "this dashboard runs without a pipeline; run `baton audit`",
        ));
    };
    if app.runtime.as_ref().is_none_or(|rt| rt.get(baton_pipeline::audit::PLUGIN).is_none()) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_audit_plugin",
            "the audit plugin is not installed (`baton init` installs it)",
        ));
    }
    use std::sync::atomic::Ordering;
    if app.audit_running.swap(true, Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "audit_running",
            "an audit started from the dashboard is still running",
        ));
    }
    let app2 = app.clone();
    tokio::spawn(async move {
        match auditor.audit(None, true).await {
            Ok(_) => tracing::info!("dashboard: audit done"),
            Err(e) => tracing::warn!("dashboard: audit failed: {e}"),
        }
        app2.audit_running.store(false, Ordering::SeqCst);
    });
    Ok((StatusCode::ACCEPTED, Json(json!({"started": true}))).into_response())
}

async fn library(State(app): State<Arc<App>>) -> ApiResult {
    let app2 = app.clone();
    // `[alerts]` was checked when serve loaded the file; its defaults otherwise.
    let rules: baton_stats::alerts::AlertsConfig = app.cfg.section("alerts").unwrap_or_default();
    let threshold = rules.fp_coverage_min.unwrap_or(stats::FP_COVERAGE_THRESHOLD);
    let v = tokio::task::spawn_blocking(move || data::library(&app2, threshold))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    Ok(Json(v).into_response())
}

async fn alerts(State(app): State<Arc<App>>) -> ApiResult {
    let v = with_ledger(&app, |_, ledger| stats::alerts(ledger.stats()).map_err(ApiError::internal)).await?;
    Ok(Json(json!({"alerts": v})).into_response())
}

async fn ack(State(app): State<Arc<App>>, Path(id): Path<String>, body: Result<Bytes, BytesRejection>) -> ApiResult {
    body_object(body)?;
    valid_id(&id)?;
    let i = id.clone();
    match with_ledger(&app, move |_, ledger| stats::ack(ledger.stats(), &i, now_ms()).map_err(ApiError::internal))
        .await?
    {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(ApiError::not_found(format!("no alert with id {id:?}"))),
    }
}
