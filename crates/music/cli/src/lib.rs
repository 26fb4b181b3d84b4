//! The music commands: `baton fp` (the fingerprint core: scan, print, compare, match,
//! coverage, dedup and its undo) and `baton catalog` (collections, records, links, matching,
//! history, playlist import), and the music library's part of a `baton` process
//! ([`wiring`]: its host interfaces and their baton.toml sections). Built on `baton-cli`'s
//! context and output rules; the composition root (`crates/app`) dispatches to it.
// The doc comments of this crate are mostly clap help text, printed to users as written:
// `<home>` there is a placeholder, not HTML.
#![allow(rustdoc::invalid_html_tags)]
pub mod catalog;
pub mod fp;
mod playlist_export;
mod playlist_import;
pub mod wiring;

/// The music commands (each one's flags are defined only when it runs: see `baton_app`'s
/// `Command`).
#[derive(clap::Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// The native audio-fingerprint core.
    #[command(subcommand)]
    Fp(fp::FpCommand),
    /// The shared music catalog: collections, records, links, matching, history.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
}

impl Command {
    pub fn run(self, ctx: &baton_cli::Ctx) -> anyhow::Result<i32> {
        match self {
            Command::Fp(cmd) => fp::run(cmd, ctx),
            Command::Catalog(cmd) => catalog::run(cmd, ctx),
        }
    }
}
