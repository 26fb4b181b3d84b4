//! `baton`: the command line. A thin edge over the host crates; errors become `anyhow` here.
mod fp;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "baton", version, about = "Local-first host for coordinating AI coding agents")]
struct Cli {
    /// baton's home folder (config, handoffs, plans, reports, plugins).
    #[arg(long, global = true, env = "BATON_HOME")]
    home: Option<PathBuf>,
    /// The state database (SQLite). Keep it on a local disk, never in a synced folder.
    #[arg(long, global = true, env = "BATON_STATE")]
    state: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The native audio-fingerprint core.
    #[command(subcommand)]
    Fp(fp::FpCommand),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let home = cli.home.unwrap_or_else(|| PathBuf::from(".baton"));
    let state = cli.state.unwrap_or_else(|| home.join("state/baton.sqlite"));
    let code = match cli.command {
        Command::Fp(cmd) => fp::run(cmd, &fp::FpContext { home, state })?,
    };
    std::process::exit(code)
}
