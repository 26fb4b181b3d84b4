//! Who `TEAM/AGENT` is: the inbox of a Claude Code team's agent in the configured claude-team
//! mailboxes, and the ledger's record of a message delivered there. Shared by every way baton
//! writes into a Claude inbox (`baton send --to TEAM/AGENT`, MCP `send_task`, and the RETURN of
//! a TASK whose reply agent is `TEAM/AGENT`), so each finds the same inbox, refuses the same
//! unknown names and records the same `delivered` event, which `show` reads back as a receipt.
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::claude;
use crate::deliver::Outgoing;
use crate::settings::{Kind, Mailboxes};

/// A Claude team's agent in one of the configured mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The `[mailboxes.NAME]` table that holds the team.
    pub mailbox: String,
    pub team: String,
    pub name: String,
    /// `<path>/<team>/inboxes/<name>.json` (it may not exist yet).
    pub inbox: PathBuf,
}

/// Why `TEAM/AGENT` names no inbox, each naming what was looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecipientError {
    #[error("{0:?} is not TEAM/AGENT (a Claude Code team and one of its agents)")]
    NotTeamAgent(String),
    #[error("no claude-team mailbox is configured")]
    NoClaudeMailbox,
    #[error("no team {team:?} (a folder with inboxes/) in {searched}; teams: {teams}")]
    NoTeam { team: String, searched: String, teams: String },
    #[error("no agent {name:?} in team {team:?} (no inbox, not in its config.json); agents: {agents}")]
    NoAgent { team: String, name: String, agents: String },
}

/// Finds the inbox of `TEAM/AGENT` in the claude-team tables of `boxes` (paths resolved
/// against baton's `home`). An agent with no inbox file yet is taken when the team's roster
/// (`config.json`) names it, or with `create`; never a folder is made here.
pub fn find(boxes: &Mailboxes, home: &Path, to: &str, create: bool) -> Result<Recipient, RecipientError> {
    let Some((team, name)) = to.split_once('/') else { return Err(RecipientError::NotTeamAgent(to.into())) };
    if team.is_empty() || name.is_empty() || name.contains('/') || team.starts_with('.') || name.starts_with('.') {
        return Err(RecipientError::NotTeamAgent(to.into()));
    }
    let claude: Vec<(&String, PathBuf)> = boxes
        .iter()
        .filter(|(_, s)| s.kind == Kind::ClaudeTeam)
        .map(|(n, s)| (n, claude::teams_folder(&s.resolved_path(home))))
        .collect();
    if claude.is_empty() {
        return Err(RecipientError::NoClaudeMailbox);
    }
    let Some((mailbox, root)) = claude.iter().find(|(_, p)| p.join(team).join("inboxes").is_dir()) else {
        let teams: Vec<String> = claude.iter().flat_map(|(_, p)| claude::scan(p).into_iter().map(|t| t.name)).collect();
        return Err(RecipientError::NoTeam {
            team: team.into(),
            searched: claude.iter().map(|(_, p)| p.display().to_string()).collect::<Vec<_>>().join(", "),
            teams: if teams.is_empty() { "none".into() } else { teams.join(", ") },
        });
    };
    let inbox = root.join(team).join("inboxes").join(format!("{name}.json"));
    if !inbox.is_file() && !create {
        let roster = claude::roster_names(&root.join(team).join("config.json"));
        if !roster.iter().any(|m| m == name) {
            let mut known: Vec<String> =
                claude::inboxes(team, &root.join(team).join("inboxes")).into_iter().map(|i| i.name).collect();
            known.extend(roster);
            known.sort();
            known.dedup();
            return Err(RecipientError::NoAgent { team: team.into(), name: name.into(), agents: known.join(", ") });
        }
    }
    Ok(Recipient { mailbox: mailbox.to_string(), team: team.to_string(), name: name.to_string(), inbox })
}

impl Recipient {
    /// How a sender is written in this agent's inbox: a teammate of the same team by its plain
    /// name (`team-lead`), as Claude Code writes it inside a team; anyone else as given (a
    /// plain agent, or `TEAM/AGENT` of another team).
    pub fn from_as_written<'a>(&self, from: &'a str) -> &'a str {
        match from.split_once('/') {
            Some((team, name)) if team == self.team => name,
            _ => from,
        }
    }

    /// `TEAM/AGENT`, as the agent is named in `status` and in message ids.
    pub fn agent(&self) -> String {
        format!("{}/{}", self.team, self.name)
    }

    /// The id `msg` has once in this inbox ([`claude::message_id`]).
    pub fn message_id(&self, msg: &Outgoing) -> String {
        claude::message_id(&self.agent(), &msg.from, &msg.timestamp, &msg.text)
    }

    /// The detail of the `delivered` event the ledger keeps under the message's id: what
    /// `baton show` reads back to tell the delivery's state (the inbox to look in, and the
    /// message to look for there).
    pub fn delivered_detail(&self, msg: &Outgoing) -> Value {
        json!({
            "mailbox": self.mailbox, "agent": self.agent(), "inbox": self.inbox, "from": msg.from,
            "timestamp": msg.timestamp, "summary": msg.summary, "text": msg.text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::MailboxSettings;

    #[test]
    fn team_agents_are_found_by_inbox_or_roster_and_the_rest_named() {
        let d = tempfile::tempdir().unwrap();
        let teams = d.path().join("teams");
        std::fs::create_dir_all(teams.join("alpha/inboxes")).unwrap();
        std::fs::write(teams.join("alpha/inboxes/worker.json"), "[]").unwrap();
        std::fs::write(teams.join("alpha/config.json"), r#"{"members": [{"name": "lead"}]}"#).unwrap();
        let mut boxes = Mailboxes::new();
        assert_eq!(find(&boxes, d.path(), "alpha/worker", false), Err(RecipientError::NoClaudeMailbox));
        boxes.insert("claude".into(), MailboxSettings::new(Kind::ClaudeTeam, "teams"));
        let r = find(&boxes, d.path(), "alpha/worker", false).unwrap();
        assert_eq!(
            (r.mailbox.as_str(), r.agent(), r.inbox.clone()),
            ("claude", "alpha/worker".into(), teams.join("alpha/inboxes/worker.json"))
        );
        assert!(find(&boxes, d.path(), "alpha/lead", false).is_ok(), "in the roster, no inbox yet");
        let e = find(&boxes, d.path(), "alpha/nobody", false).unwrap_err();
        assert!(matches!(&e, RecipientError::NoAgent { agents, .. } if agents == "lead, worker"), "{e}");
        assert!(find(&boxes, d.path(), "alpha/nobody", true).is_ok());
        let e = find(&boxes, d.path(), "beta/worker", false).unwrap_err();
        assert!(e.to_string().contains("alpha"), "{e}");
        assert!(matches!(find(&boxes, d.path(), "alpha/../x", false), Err(RecipientError::NotTeamAgent(_))));
        assert!(!teams.join("beta").exists(), "nothing is made");
        // A teammate writes as Claude Code does inside a team: by its plain name.
        assert_eq!(r.from_as_written("alpha/lead"), "lead");
        assert_eq!(r.from_as_written("beta/lead"), "beta/lead", "another team's agent keeps its team");
        assert_eq!(r.from_as_written("cursor"), "cursor");
    }
}
