//! `baton plugin …`: install, list, inspect, remove.
use anyhow::Result;

use crate::Ctx;

#[derive(clap::Subcommand)]
pub enum PluginCommand {}

pub fn run(cmd: PluginCommand, _ctx: &Ctx) -> Result<i32> {
    match cmd {}
}
