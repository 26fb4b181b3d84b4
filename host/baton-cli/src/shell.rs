//! `baton completions <shell>` and `baton man`: shell completion scripts and a roff man page,
//! both generated from the same clap definition as the command line itself, so they cannot
//! drift from it.
use std::io::Write;

use anyhow::{Context, Result};

/// Prints the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) -> Result<i32> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "baton", &mut out);
    std::io::stdout().write_all(&out).context("writing the completion script to stdout")?;
    Ok(0)
}

/// Prints the man page, `baton(1)`, as roff to stdout (`baton man > baton.1`, or
/// `baton man | man -l -`).
pub fn man(cmd: clap::Command) -> Result<i32> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out).context("rendering the man page")?;
    std::io::stdout().write_all(&out).context("writing the man page to stdout")?;
    Ok(0)
}
