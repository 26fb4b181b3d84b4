//! Other agents' mailboxes: what baton's users run besides baton keeps messages of its own,
//! and baton reads them where they are, never moving, renaming or touching a file.
//!
//! - [`claude`]: Claude Code agent teams, `<team>/inboxes/<agent>.json` and `config.json`;
//!   [`tasks`]: their task lists, `tasks/<team>/<N>.json`.
//! - [`folders`]: folder mailboxes, `<agent>/inbox/`, `done/`, `outbox/` of `.json`, `.md`,
//!   `.txt` messages; [`front`]: front matter; [`skip`]: files that hold no message.
//! - [`agentmail`]: mcp_agent_mail git archives, `agents/<agent>/inbox/YYYY/MM/*.md`.
//! - [`notread`]: every file and folder under a mailbox's path that was not read, and why.
//! - [`deliver`]: the one write, appending to a Claude inbox under Claude Code's own lock;
//!   [`recipient`]: which inbox `TEAM/AGENT` is, and the ledger's record of a delivery there;
//!   [`teams`]: a RETURN for `TEAM/AGENT` as the pipeline delivers it (the message its bytes
//!   make, appended once, and the ledger's record of it).
//! - [`transcript`]: Claude Code transcripts, for what a recipient's model actually received;
//!   [`receipt`]: a delivery's state (`written`, `noticed`, `seen`, `answered`, `lost`).
//! - [`settings`]: `[mailboxes.NAME]` in `baton.toml`; [`zone`] and [`when`]: dates.
//! - [`report`]: every mailbox read into agents and items, as `status` lists them;
//!   [`detect`]: folders that look like mailboxes and are not read, listed, never skipped.
//!
//! A platform crate: it knows nothing of music, and of handoffs only the RETURN's JSON that a
//! delivery carries as text; [`record`] keeps what baton learns of its deliveries in the ledger.
// Tests make their trees with `create_dir_all`; the code goes through `baton_fs::ensure_dir` (clippy.toml).
#![cfg_attr(test, allow(clippy::disallowed_methods))]
pub mod agentmail;
pub mod claude;
pub mod deliver;
pub mod detect;
pub mod folders;
pub mod front;
pub mod index;
pub mod model;
pub mod notread;
pub mod receipt;
pub mod recipient;
pub mod record;
pub mod report;
pub mod settings;
pub mod skip;
pub mod tasks;
pub mod teams;
pub mod transcript;
pub mod when;
pub mod zone;

pub use settings::{Kind, MailboxSettings, Mailboxes};
pub use zone::Zone;

/// What goes wrong with a mailbox, naming the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    #[error("{0:?} is not an IANA time zone (such as \"America/New_York\" or \"Europe/Paris\")")]
    Zone(String),
    #[error("{0}")]
    Settings(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "{path} is held by another process (waited {waited:?}); if no Claude Code or baton process is writing, it goes stale after 10 s and is removed"
    )]
    Locked { path: String, waited: std::time::Duration },
    #[error("{0} is not a Claude Code inbox ({1}); left as it is, nothing appended")]
    NotAnInbox(String, String),
    #[error("no inbox folder for {0}: the team's inboxes/ folder does not exist")]
    NoInboxFolder(String),
}
