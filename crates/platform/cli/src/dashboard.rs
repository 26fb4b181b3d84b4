//! `baton dashboard` (open the running serve's page with a one-time sign-in link) and
//! `baton key rotate` (a new dashboard key, shown once; only its hash is kept).
use anyhow::{Context, Result};

use crate::Ctx;

#[derive(clap::Subcommand)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum KeyCommand {
    /// Make a new dashboard key and show it once; the old one stops working at once.
    Rotate {
        /// Make the read-only key instead: it can look at the dashboard but not retry, pause,
        /// resume or acknowledge (403). The full key keeps working; the read-only key made
        /// before this one stops.
        #[arg(long)]
        read_only: bool,
    },
}

/// Shows a new key, once, on stdout (scripts read it there); the hint goes to stderr.
pub fn show_key(key: &str) {
    println!("{key}");
    eprintln!(
        "baton: that is the dashboard key; it is shown only this once (only its hash is kept). `baton key rotate` makes a new one."
    );
}

pub fn key(cmd: KeyCommand, ctx: &Ctx) -> Result<i32> {
    match cmd {
        KeyCommand::Rotate { read_only: false } => {
            crate::home_check::require(&ctx.home)?;
            let key = baton_dashboard::auth::make_key(&ctx.state, true)?.context("no key was made")?;
            show_key(&key);
            Ok(0)
        }
        KeyCommand::Rotate { read_only: true } => {
            crate::home_check::require(&ctx.home)?;
            let key = baton_dashboard::auth::make_read_only_key(&ctx.state)?;
            println!("{key}");
            eprintln!(
                "baton: that is the read-only dashboard key: it can look but not retry, pause or change anything. It is shown only this once (only its hash is kept); the full key keeps working."
            );
            Ok(0)
        }
    }
}

pub fn open(ctx: &Ctx, print: bool) -> Result<i32> {
    let (url, token) = baton_dashboard::socket::request_token(&ctx.state)?;
    let link = format!("{url}#token={token}");
    if !print && open_browser(&link) {
        eprintln!("baton: opened the dashboard at {url} (the sign-in link works once)");
        return Ok(0);
    }
    println!("{link}");
    eprintln!("baton: open that link in a browser on this machine; it works once, for 2 minutes");
    Ok(0)
}

/// Opens `link` in the desktop's browser, if there is a desktop.
fn open_browser(link: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some() {
        "xdg-open"
    } else {
        return false;
    };
    std::process::Command::new(opener)
        .arg(link)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
