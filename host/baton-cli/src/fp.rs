//! `baton fp …`: the fingerprint commands (owned by the fingerprint-core work).
use std::path::PathBuf;

/// Where the fingerprint commands keep their data.
pub struct FpContext {
    pub home: PathBuf,
    pub state: PathBuf,
}

#[derive(clap::Subcommand)]
pub enum FpCommand {}

pub fn run(cmd: FpCommand, _ctx: &FpContext) -> anyhow::Result<i32> {
    match cmd {}
}
