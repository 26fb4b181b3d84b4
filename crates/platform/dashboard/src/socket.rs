//! `baton dashboard`'s way in: a Unix socket in the state folder, mode 0600, on which a
//! running `serve` hands out one-time tokens. Whoever can open it is the user who owns the
//! state; the token it returns opens the page once (traded for a session token).
//!
//! Protocol: the client writes `token\n`; the server answers one JSON line
//! `{"url": "http://127.0.0.1:7878/", "token": "bt_…"}` and closes.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::{App, DashboardError};

const SOCKET: &str = "dashboard.sock";

pub fn path(state: &Path) -> PathBuf {
    state.parent().unwrap_or(Path::new(".")).join(SOCKET)
}

/// Binds the socket (taking over one left by a dead process, never one a live serve holds).
pub(crate) fn serve(path: &Path, app: Arc<App>, url: String) -> Result<tokio::task::JoinHandle<()>, DashboardError> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(DashboardError::Socket(format!("{} belongs to another running serve", path.display())));
        }
        std::fs::remove_file(path).map_err(|e| DashboardError::io(path, e))?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(|e| DashboardError::io(path, e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| DashboardError::io(path, e))?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let app = app.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                let mut reader = tokio::io::BufReader::new(read).take(64);
                let asked = tokio::time::timeout(std::time::Duration::from_secs(5), reader.read_line(&mut line)).await;
                let answer = match asked {
                    Ok(Ok(_)) if line.trim() == "token" => {
                        serde_json::json!({"url": url, "token": app.auth.one_time()})
                    }
                    _ => serde_json::json!({"error": "send `token`"}),
                };
                let _ = write.write_all(format!("{answer}\n").as_bytes()).await;
            });
        }
    }))
}

/// Asks the serve that owns `state` for the page's URL and a one-time token.
pub fn request_token(state: &Path) -> Result<(String, String), DashboardError> {
    use std::io::{BufRead, Write};
    let p = path(state);
    let mut stream = std::os::unix::net::UnixStream::connect(&p).map_err(|e| {
        DashboardError::Socket(format!(
            "no running `baton serve --http` for this state ({}: {e}); start one with `baton serve --http 127.0.0.1:7878`",
            p.display()
        ))
    })?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).map_err(|e| DashboardError::io(&p, e))?;
    stream.write_all(b"token\n").map_err(|e| DashboardError::io(&p, e))?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).map_err(|e| DashboardError::io(&p, e))?;
    let v: serde_json::Value = serde_json::from_str(&line)
        .map_err(|e| DashboardError::Socket(format!("{}: unexpected answer: {e}", p.display())))?;
    match (v["url"].as_str(), v["token"].as_str()) {
        (Some(u), Some(t)) => Ok((u.to_string(), t.to_string())),
        _ => Err(DashboardError::Socket(format!("{}: unexpected answer", p.display()))),
    }
}
