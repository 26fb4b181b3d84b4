//! The live feed. One task polls the ledger every [`POLL`]: its event sequence (`MAX(seq)` of
//! `events`, an index lookup), a version that moves when any other connection, in this
//! process or another `serve` (or host), commits (SQLite's `data_version`, PostgreSQL's WAL
//! position) and baton's inbox folder's mtime (a TASK
//! dropped in and not yet claimed). When any of them moves, every open page is told over its
//! WebSocket and fetches what it shows again. Cheap enough to run all the time: a poll is two
//! queries and a `stat`.
//!
//! `WS /api/live`: the `Origin` must be the dashboard's own; the first message must be the
//! key or a session token (a browser cannot set headers on a WebSocket), within 5 s. Then the
//! server sends `{"type":"hello","seq":N,"rev":R}` and `{"type":"change",…}` on every change.
use baton_sync::Locked;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::guard::ApiError;
use crate::{App, DashboardError};

pub(crate) const POLL: Duration = Duration::from_millis(200);
/// At most one change is pushed per this interval. Under a steady flow of handoffs every poll
/// sees a change, and each push makes every open page refetch; spacing them keeps the pages'
/// cost to the pipeline small while a change still shows within a second.
const MIN_PUSH_GAP: Duration = Duration::from_millis(500);

/// Where the ledger is: the last event's sequence number, and a revision that moves on any change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub(crate) struct Version {
    pub seq: i64,
    pub rev: u64,
}

pub(crate) fn watcher(
    location: &baton_ledger::Location,
    paths: &baton_home::Paths,
    cfg: &baton_home::Config,
) -> Result<(tokio::task::JoinHandle<()>, tokio::sync::watch::Receiver<Version>), DashboardError> {
    let conn = baton_home::state::connect(location)?;
    let inbox = paths.inbox(&cfg.agent);
    let (tx, rx) = tokio::sync::watch::channel(Version::default());
    let probe = move |conn: &baton_ledger::Ledger| -> (i64, i64, Option<std::time::SystemTime>) {
        let (seq, dv) = conn.stats().version().unwrap_or((0, 0));
        let mtime = std::fs::metadata(&inbox).and_then(|m| m.modified()).ok();
        (seq, dv, mtime)
    };
    let conn = Arc::new(std::sync::Mutex::new(conn));
    let task = tokio::spawn(async move {
        let mut last = None;
        let mut rev = 0u64;
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pushed = std::time::Instant::now() - MIN_PUSH_GAP;
        loop {
            tick.tick().await;
            if pushed.elapsed() < MIN_PUSH_GAP {
                continue;
            }
            let c = conn.clone();
            let probe = probe.clone();
            let Ok(now) = tokio::task::spawn_blocking(move || probe(&c.locked())).await else {
                continue;
            };
            if last != Some(now) {
                rev += 1;
                last = Some(now);
                tx.send_replace(Version { seq: now.0, rev });
                pushed = std::time::Instant::now();
            }
        }
    });
    Ok((task, rx))
}

pub(crate) async fn live(State(app): State<Arc<App>>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    let origin = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok());
    if !origin.is_some_and(|o| app.hosts.allows_origin(o)) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "the live feed takes connections from the dashboard's own page only",
        )
        .into_response();
    }
    ws.max_message_size(4096).on_upgrade(move |socket| session(socket, app))
}

async fn session(mut socket: WebSocket, app: Arc<App>) {
    let first = tokio::time::timeout(Duration::from_secs(5), socket.recv()).await;
    let token = match &first {
        Ok(Some(Ok(Message::Text(t)))) => {
            let t = t.as_str().trim();
            serde_json::from_str::<serde_json::Value>(t)
                .ok()
                .and_then(|v| v["token"].as_str().map(str::to_string))
                .unwrap_or_else(|| t.to_string())
        }
        _ => String::new(),
    };
    if !app.auth.check(&token).is_some_and(crate::auth::Who::is_api) {
        let _ = socket.send(Message::Close(Some(CloseFrame { code: 4401, reason: "unauthorized".into() }))).await;
        return;
    }
    let mut rx = app.live.clone();
    let hello = |kind: &str, v: Version| {
        Message::Text(serde_json::json!({"type": kind, "seq": v.seq, "rev": v.rev}).to_string().into())
    };
    let v = *rx.borrow_and_update();
    if socket.send(hello("hello", v)).await.is_err() {
        return;
    }
    let mut ping = tokio::time::interval(Duration::from_secs(15));
    ping.tick().await;
    loop {
        tokio::select! {
            changed = rx.changed() => {
                if changed.is_err() {
                    break;
                }
                let v = *rx.borrow_and_update();
                if socket.send(hello("change", v)).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
}
