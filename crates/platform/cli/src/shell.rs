//! `baton completions <shell>`: shell completion scripts, generated from the same clap
//! definition as the command line itself, so they cannot drift from it (the man pages are
//! in `manpages`).
use std::io::Write;

use anyhow::{Context, Result};

/// Prints the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "baton", &mut out);
    std::io::stdout().write_all(&out).context("writing the completion script to stdout")?;
    Ok(0)
}
