//! Shared answers for the read routes. Every open page refetches what it shows on each live
//! change (up to five a second under load), so ten pages on the overview would run the same
//! queries ten times over. An answer computed at one live revision is kept and served to every
//! page asking for the same route and query at that revision, for at most [`TTL`] (the
//! overview's windows move with the clock even when nothing else does).
//!
//! It sits behind the key check (only authorized requests reach it), keeps only 200 answers,
//! and is emptied by every action taken through the API.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;

/// How long an answer stays good at an unchanged revision.
const TTL: Duration = Duration::from_secs(1);
/// Routes whose answers depend only on the ledger, the folders and the clock.
const SHARED: [&str; 7] =
    ["/api/overview", "/api/handoffs", "/api/tasks", "/api/plugins", "/api/audits", "/api/library", "/api/alerts"];
/// Distinct (route, query) answers kept; searches are free text, so the map is bounded.
const MAX_ANSWERS: usize = 64;
/// Larger answers are served but not kept.
const MAX_BYTES: usize = 4 << 20;

struct Answer {
    rev: u64,
    at: Instant,
    content_type: Option<HeaderValue>,
    body: Bytes,
}

#[derive(Default)]
pub(crate) struct Answers(tokio::sync::Mutex<HashMap<String, Answer>>);

/// Middleware: serve a kept answer, or compute it once (other pages wait for it) and keep it.
pub(crate) async fn shared(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET {
        // An action (retry, pause, ack…) changes what the pages show: the next fetch, which
        // may come before the live poll notices, must not get an answer from before it.
        let res = next.run(req).await;
        app.answers.0.lock().await.clear();
        crate::data::forget_counts(&app);
        return res;
    }
    if !SHARED.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    let key = req.uri().path_and_query().map_or_else(|| req.uri().path().to_string(), |pq| pq.as_str().to_string());
    let rev = app.live.borrow().rev;
    // Held while computing, so pages asking at once share one computation; the routes behind
    // it take the one ledger connection in turn anyway.
    let mut answers = app.answers.0.lock().await;
    if let Some(a) = answers.get(&key).filter(|a| a.rev == rev && a.at.elapsed() < TTL) {
        return respond(a.content_type.clone(), a.body.clone());
    }
    let res = next.run(req).await;
    if res.status() != StatusCode::OK {
        return res;
    }
    let (parts, body) = res.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BYTES).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    if answers.len() >= MAX_ANSWERS {
        answers.clear();
    }
    answers.insert(key, Answer { rev, at: Instant::now(), content_type, body: body.clone() });
    Response::from_parts(parts, Body::from(body))
}

fn respond(content_type: Option<HeaderValue>, body: Bytes) -> Response {
    let mut res = Response::new(Body::from(body));
    if let Some(ct) = content_type {
        res.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    res
}
