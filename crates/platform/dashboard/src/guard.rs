//! What every request passes before a handler: the `Host` check (421 for a name that is not
//! loopback or the configured address: DNS rebinding), the key or session token in the
//! `Authorization` header, the security headers on every answer, and errors as JSON.
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::App;

/// The page's Content-Security-Policy: nothing but this origin; no inline script or style.
pub(crate) const CSP: &str = "default-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/// The `Host` values (and so the `Origin`s) the dashboard answers to.
pub(crate) struct Hosts {
    port: u16,
    names: Vec<String>,
}

impl Hosts {
    pub fn new(port: u16, configured: Option<String>) -> Self {
        let mut names: Vec<String> = ["127.0.0.1", "localhost", "::1"].iter().map(|s| s.to_string()).collect();
        if let Some(c) = configured.filter(|c| !c.is_empty() && c != "0.0.0.0" && c != "::") {
            names.push(c);
        }
        Hosts { port, names }
    }

    /// `127.0.0.1:7878`, `localhost:7878`, `[::1]:7878` or the configured name with our port.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) if !n.ends_with(':') && (n.starts_with('[') || !n.contains(':')) => (n, p.parse::<u16>().ok()),
            _ => (host.as_str(), None),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let port_ok = match port {
            Some(p) => p == self.port,
            None => self.port == 80 && !host.contains(':'),
        };
        port_ok && self.names.iter().any(|n| n == name)
    }

    /// An `Origin` header is `http://` and an allowed host.
    pub fn allows_origin(&self, origin: &str) -> bool {
        origin.strip_prefix("http://").is_some_and(|h| self.allows(h))
    }
}

/// An error answer: `{"error": {"code": …, "message": …}}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        tracing::warn!("dashboard: {message}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

/// The bearer credential of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Outermost: the `Host` check, then the security headers on whatever comes back.
pub(crate) async fn outer(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let mut resp = if app.hosts.allows(host) {
        next.run(req).await
    } else {
        ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected",
            "this dashboard answers only to its loopback address (Host header refused)",
        )
        .into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// For the API: the key or a session token. A browser's cross-origin request (an `Origin`
/// that is not ours) is refused too, though without cookies it would carry nothing. The
/// read-only key and its sessions pass reads only: any other method (retry, pause, resume,
/// acknowledge, run an audit, A2A's calls) is 403 `read_only`, which says what it can do.
pub(crate) async fn require_key(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok())
        && !app.hosts.allows_origin(origin)
    {
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden_origin", "requests from other origins are refused")
            .into_response();
    }
    match bearer(req.headers()).and_then(|s| app.auth.check(s)) {
        Some(who) if who.read_only() && !matches!(*req.method(), Method::GET | Method::HEAD) => read_only(),
        Some(who) if who.is_api() => next.run(req).await,
        _ => unauthorized(),
    }
}

/// A write refused to the read-only key: what it may do, and what would do this.
pub(crate) fn read_only() -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "read_only",
        "this is the read-only dashboard key: it can look at everything but not retry, pause, resume, acknowledge or \
         run an audit; sign in with the full key to act",
    )
    .into_response()
}

pub(crate) fn unauthorized() -> Response {
    let mut r = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "send the dashboard key (or a session token) as `Authorization: Bearer …`; `baton dashboard` opens the page with one",
    )
    .into_response();
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_names_and_the_configured_one_with_our_port_pass() {
        let h = Hosts::new(7878, Some("dash.local".into()));
        for ok in ["127.0.0.1:7878", "localhost:7878", "LOCALHOST:7878", "[::1]:7878", "dash.local:7878"] {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in [
            "evil.com:7878",
            "127.0.0.1:80",
            "127.0.0.1",
            "localhost",
            "",
            "127.0.0.1.evil.com:7878",
            "[::2]:7878",
            "evil.com",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
        assert!(h.allows_origin("http://127.0.0.1:7878"));
        assert!(
            !h.allows_origin("https://127.0.0.1:7878")
                && !h.allows_origin("http://evil.com:7878")
                && !h.allows_origin("null")
        );
    }
}
