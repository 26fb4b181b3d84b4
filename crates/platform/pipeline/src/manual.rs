//! The commands a person runs by hand: `baton run FILE` (one handoff, in place, nothing
//! moved or recorded) and `baton retry ID` (a failed handoff back into the inbox).
use baton_sync::Locked;
use std::path::{Path, PathBuf};

use baton_handoff::{Body, ErrorCode, ReturnBody, schema};

use crate::claims::Claim;
use crate::item::{Item, Prepared};
use crate::returns::{self, Answer};
use crate::{Pipeline, PipelineError};

impl Pipeline {
    /// Runs one handoff file in place and returns its RETURN body, without moving or writing
    /// any file and without touching the ledger (`baton run`).
    pub async fn run_detached(&mut self, file: &Path) -> Result<ReturnBody, PipelineError> {
        let bytes = std::fs::read(file).map_err(|e| PipelineError::io(file, e))?;
        let original = file.file_name().unwrap_or_default().to_owned();
        let claim = Claim::new(file.to_path_buf(), crate::claims::new_claim_id(), original);
        let (prepared, reply) = match schema::parse(&bytes) {
            Err(invalid) => (
                Prepared::Refuse { id: None, code: invalid.code, message: invalid.message, reply: None, task: None },
                None,
            ),
            Ok((Body::Return(_) | Body::InputRequest(_) | Body::Input(_), _)) => (
                Prepared::Refuse {
                    id: None,
                    code: ErrorCode::Invalid,
                    message: "this is not a TASK (a RETURN, an input request or an input); only a TASK can be run"
                        .into(),
                    reply: None,
                    task: None,
                },
                None,
            ),
            Ok((Body::Task(t), _)) if t.plugin.is_none() => {
                let reply = Some(t.reply_agent().to_string());
                (
                    Prepared::Refuse {
                        id: None,
                        code: ErrorCode::Misrouted,
                        message: "this TASK is for another agent (`to`), not for a plugin".into(),
                        reply: reply.clone(),
                        task: Some(t),
                    },
                    reply,
                )
            }
            Ok((Body::Task(t), _)) => {
                let reply = Some(t.reply_agent().to_string());
                (Prepared::Run { task: t, attempt: 1, base: 0, history: vec![], inputs: serde_json::json!({}) }, reply)
            }
        };
        let mut item = Item::new(claim, prepared);
        loop {
            item = self
                .run_all(vec![item])
                .await
                .pop()
                .ok_or_else(|| PipelineError::Internal("the task was lost while it ran".into()))?;
            match item.retry.take() {
                Some(delay) => {
                    tokio::time::sleep(delay).await;
                    if let Prepared::Run { attempt, .. } = &mut item.prepared {
                        *attempt += 1;
                    }
                }
                None => break,
            }
        }
        let task = match &item.prepared {
            Prepared::Run { task, .. } => Some(task),
            Prepared::Refuse { task, .. } => task.as_ref(),
            _ => None,
        };
        let answer = match (&item.prepared, &item.answer) {
            (_, Some(a)) => a.clone(),
            (Prepared::Refuse { code, message, .. }, None) => Answer::refused(*code, message.clone()),
            (_, None) if item.asked.is_some() => Answer::refused(
                ErrorCode::PluginError,
                format!(
                    "the plugin asks for input ({}); `baton run` cannot answer it: send the TASK to `baton serve` \
                     (or `baton call`) and answer with `baton answer`",
                    item.asked.as_ref().map(|a| a.message.as_str()).unwrap_or_default()
                ),
            ),
            _ => Answer::refused(ErrorCode::Internal, "no answer"),
        };
        let title = task.map(|t| t.title.clone()).unwrap_or_else(|| item.claim.original.to_string_lossy().into_owned());
        let in_reply_to =
            task.map(|t| t.id.clone()).unwrap_or_else(|| item.claim.original.to_string_lossy().into_owned());
        let to = reply.unwrap_or_else(|| "unknown".into());
        Ok(returns::return_body(
            &item.claim,
            &self.cfg.agent,
            &to,
            &in_reply_to,
            &title,
            task.and_then(|t| t.correlation_id.as_deref()),
            &answer,
        ))
    }

    /// Moves a failed handoff back into the inbox and lets its id run again (`baton retry`).
    /// Returns the inbox path it was moved to.
    pub fn retry(&mut self, id: &str) -> Result<Option<PathBuf>, PipelineError> {
        let mut ledger = self.ledger.locked();
        retry_failed(&self.paths, &self.cfg.agent, &mut ledger, id)
    }
}

/// Moves the failed handoff `id` (or the file of that name) from `agent`'s `03_failed/` back
/// into its inbox as a new attempt of the same handoff (see [`crate::retry::retry_one`]): `baton
/// retry`, the dashboard's retry. Needs no running pipeline: a `serve` picks the file up like
/// any new one. `None` when no failed handoff has that id; [`PipelineError::RetryRefused`]
/// when it cannot run again as it is (the message says the fix).
pub fn retry_failed(
    paths: &baton_home::Paths,
    agent: &str,
    ledger: &mut baton_ledger::Ledger,
    id: &str,
) -> Result<Option<PathBuf>, PipelineError> {
    let filter = crate::retry::RetryFilter { target: Some(id.to_string()), ..Default::default() };
    let Some(found) = crate::retry::select_failed(paths, agent, ledger, &filter)?.pop() else { return Ok(None) };
    match crate::retry::retry_one(paths, agent, ledger, &found)? {
        Ok(to) => Ok(Some(to)),
        Err(reason) => Err(PipelineError::RetryRefused(reason)),
    }
}
