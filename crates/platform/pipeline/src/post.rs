//! Delivery to other agents: the one place baton puts files into their inboxes (RETURNs for
//! senders, routed TASKs, follow-ups), always through the outbox so that a delivery happens
//! exactly once. A RETURN for a Claude Code team's agent (`TEAM/AGENT`) is appended to its
//! Claude inbox instead ([`baton_mailbox::teams`]). The pipeline's outputs stage and the audits,
//! which run beside the pipeline, share one [`Post`].
use baton_sync::Locked;
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;

use baton_handoff::names;

use crate::PipelineError;
use crate::claims::Claim;
use crate::outbox::{Outbox, Pending, Staged};
use crate::returns;
use baton_home::config::Paths;
use baton_mailbox::teams::{ClaudeInbox, LOCK_WAIT, Teams};

/// Where baton delivers what it writes for other agents: their inboxes, through the outbox.
/// Shared with the audits, which run beside the pipeline.
pub(crate) struct Post {
    pub(crate) paths: Paths,
    /// baton's own agent name (the sender of follow-ups).
    pub(crate) agent: String,
    pub(crate) outbox: Outbox,
    /// The inboxes found (and created) for the group being written, by agent: one lookup per
    /// recipient and group, not per handoff. Cleared when a group starts and ends
    /// ([`Post::new_group`]), so a folder removed meanwhile is found missing and made again.
    pub(crate) group_inboxes: std::sync::Mutex<std::collections::HashMap<String, PathBuf>>,
    /// The claude-team mailboxes: where a `TEAM/AGENT` reply agent's inbox is.
    pub(crate) teams: Teams,
}

impl Post {
    pub(crate) fn new(paths: Paths, agent: String, outbox: Outbox) -> Self {
        Post { paths, agent, outbox, group_inboxes: Default::default(), teams: Teams::default() }
    }

    /// The post, delivering to `TEAM/AGENT` through `teams`.
    pub(crate) fn with_teams(self, teams: Teams) -> Self {
        Post { teams, ..self }
    }

    /// The Claude Code inbox of `agent` when it is `TEAM/AGENT` (`None`: a folder of the
    /// handoffs tree). One that no mailbox has (refused before the TASK ran, so gone since) is
    /// an error naming it and the fix; no folder is ever made for it.
    pub(crate) fn claude_inbox(&self, agent: &str) -> Option<Result<ClaudeInbox, PipelineError>> {
        names::team_agent(agent)?;
        Some(match self.teams.recipient(agent) {
            Ok(recipient) => Ok(ClaudeInbox { recipient, from: self.agent.clone(), lock_wait: LOCK_WAIT }),
            Err(why) => {
                let why = format!(
                    "the Claude Code team's agent {agent:?} is gone since the TASK was accepted ({why}): \
                     add its team with `baton mailbox add claude-team [PATH]`, then `baton retry ID`"
                );
                Err(PipelineError::io(
                    &self.paths.home.join("baton.toml"),
                    std::io::Error::new(std::io::ErrorKind::NotFound, why),
                ))
            }
        })
    }

    /// Forgets the inboxes found for the last group.
    pub(crate) fn new_group(&self) {
        self.group_inboxes.locked().clear();
    }

    /// `agent`'s inbox. An agent whose folder exists under another form of its name (`Claude`
    /// for a `reply_to` of `claude`, or NFD for NFC) is that folder, as it is on a Mac: one
    /// agent never gets two folders.
    pub(crate) fn inbox_of(&self, agent: &str) -> PathBuf {
        let exact = self.paths.agent(agent);
        if std::fs::symlink_metadata(&exact).is_err()
            && let Ok(Some(variant)) = names::existing_variant(&self.paths.handoffs, agent)
        {
            return self.paths.inbox(&variant);
        }
        self.paths.inbox(agent)
    }

    /// One delivery through the outbox into `agent`'s inbox (see [`crate::outbox`]); for a
    /// `TEAM/AGENT`, one message appended to its Claude Code inbox (see [`baton_mailbox::teams`]).
    pub(crate) fn deliver(
        &self,
        agent: &str,
        staged: &str,
        wanted: impl AsRef<std::ffi::OsStr>,
        bytes: &[u8],
        delivered: &mut Vec<String>,
        dirs: &mut HashSet<PathBuf>,
        group: Option<&mut Vec<Pending>>,
    ) -> Result<Option<OsString>, PipelineError> {
        if let Some(to) = self.claude_inbox(agent) {
            let to = to?;
            dirs.insert(to.folder());
            let name = match group {
                None => Some(self.outbox.deliver_message(&to, staged, wanted.as_ref(), bytes)?),
                Some(group) => match self.outbox.stage_message(&to, staged, wanted.as_ref(), bytes)? {
                    Staged::Done(name) => Some(name),
                    Staged::Pending(p) => {
                        group.push(p);
                        None
                    }
                },
            };
            delivered.push(staged.to_string());
            return Ok(name);
        }
        let cached = group.as_ref().and_then(|_| self.group_inboxes.locked().get(agent).cloned());
        let inbox = match cached {
            Some(inbox) => inbox,
            None => {
                let inbox = self.inbox_of(agent);
                make_inbox(&inbox)?;
                if group.is_some() {
                    self.group_inboxes.locked().insert(agent.to_string(), inbox.clone());
                }
                inbox
            }
        };
        let name = match group {
            None => Some(self.outbox.deliver(&inbox, staged, wanted.as_ref(), bytes)?),
            Some(group) => match self.outbox.stage(&inbox, staged, wanted.as_ref(), bytes)? {
                Staged::Done(name) => Some(name),
                Staged::Pending(p) => {
                    group.push(p);
                    None
                }
            },
        };
        delivered.push(staged.to_string());
        dirs.insert(inbox);
        Ok(name)
    }

    /// Delivers follow-up TASKs into their recipients' inboxes, named from the claim so that a
    /// re-run cannot deliver them twice. Returns their paths; the caller syncs the folders and
    /// drops the outbox entries named in `delivered` once the claim is done.
    pub(crate) fn follow_ups(
        &self,
        claim: &Claim,
        parent_id: &str,
        parent_correlation: Option<&str>,
        follow_ups: &[baton_runtime::FollowUp],
        delivered: &mut Vec<String>,
    ) -> Result<Vec<PathBuf>, PipelineError> {
        let mut dirs = HashSet::new();
        self.follow_ups_into(claim, parent_id, parent_correlation, follow_ups, delivered, &mut dirs, None)
    }

    /// [`Self::follow_ups`], staged into `group` when one is given (their paths are then
    /// known only once published: only the folders go into `dirs`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn follow_ups_into(
        &self,
        claim: &Claim,
        parent_id: &str,
        parent_correlation: Option<&str>,
        follow_ups: &[baton_runtime::FollowUp],
        delivered: &mut Vec<String>,
        dirs: &mut HashSet<PathBuf>,
        mut group: Option<&mut Vec<Pending>>,
    ) -> Result<Vec<PathBuf>, PipelineError> {
        let mut written = Vec::with_capacity(follow_ups.len());
        for f in follow_ups {
            let (file, body) = returns::follow_up(claim, &self.agent, parent_id, parent_correlation, f);
            let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
            if let Some(name) = self.deliver(&f.to, &file, &file, &bytes, delivered, dirs, group.as_deref_mut())? {
                written.push(self.inbox_of(&f.to).join(name));
            }
        }
        Ok(written)
    }
}

/// Makes sure an agent's inbox exists before baton delivers into it (with the fault tests'
/// `mkdir` failpoint, keyed by the agent's folder name, standing for the `mkdir` and the `stat`
/// that follows it). `mkdir` answering EEXIST means the inbox exists, whatever a check said
/// (see [`baton_fs::ensure_dir`]); a name that is a plain file fails the delivery into it.
pub(crate) fn make_inbox(inbox: &std::path::Path) -> Result<(), PipelineError> {
    let key = inbox.parent().and_then(|a| a.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match baton_home::failpoint::fault("mkdir", &key).and_then(|()| baton_fs::ensure_dir(inbox)) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        r => r.map_err(|e| PipelineError::io(inbox, e)),
    }
}
