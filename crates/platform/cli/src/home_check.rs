//! The check every command that reads a home makes before doing anything: a `--home`
//! with a typo (or a `$BATON_HOME` that points nowhere) is refused, naming the path and the
//! fix, instead of acting on an empty folder and exiting 0.
use std::path::Path;

use anyhow::{Result, bail};

/// A home has its baton.toml (or, adopted before `init`, its handoffs/ folder).
pub fn require(home: &Path) -> Result<()> {
    if home.join("baton.toml").is_file() || home.join("handoffs").is_dir() {
        return Ok(());
    }
    let what = if !home.exists() {
        "does not exist"
    } else if !home.is_dir() {
        "is not a folder"
    } else {
        "is not a baton home (no baton.toml in it)"
    };
    bail!(
        "{} {what}; check --home (or $BATON_HOME), or run `baton init --home {}` to make a home there",
        home.display(),
        home.display()
    )
}
