//! The agents table, computed once for `baton status` (its `agents[]`) and the dashboard (the
//! Handoffs page's "Agents", `/api/handoffs` `agents`): the folders of the handoffs tree and
//! the agents of the configured mailboxes, each with its items by state (`open`, `taken`,
//! `answered`, `stale`, `unread`, `read`, `unreadable`) and their `counts`. Both call
//! [`table`] on the same reading, so the two can never report different numbers for one tree.
use std::time::Duration;

use baton_home::tree::Report;
use baton_mailbox::report::Mailbox;
use serde_json::Value;

/// Every agent: the tree's folders first (as [`Report::agents_json`] lists them), then each
/// mailbox's agents; unread mailbox items older than `stale_after` are also in `stale`.
pub fn table(tree: &Report, mailboxes: &[Mailbox], stale_after: Duration) -> Vec<Value> {
    let now = time::OffsetDateTime::now_utc();
    let mut agents = tree.agents_json();
    agents.extend(mailboxes.iter().flat_map(|m| m.agents.iter().map(|a| a.to_json(now, stale_after))));
    agents
}
