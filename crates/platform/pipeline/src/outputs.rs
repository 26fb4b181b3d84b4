//! Steps 4 to 6 of the pipeline for one item: what it produces (a routed copy, follow-ups,
//! its RETURN, an `.error.json` record), what the ledger records about it, and where its
//! original is filed.
//!
//! Each item is written on its own: an error while writing one (say, the reply agent's folder
//! is a plain file) files that item as `internal` with a message naming the file, and the
//! rest of the batch goes on. A disk-full or I/O error defers the item instead (its claim
//! stays and it is tried again after a pause).
//!
//! The stage is [`Outputs`]; the ledger's part (what it records of each item) is [`record`],
//! called inside the pipeline's one commit per group.
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tracing::{error, info, warn};

use baton_handoff::{ErrorCode, Status, TaskBody, names, stamp};
use baton_ledger::TaskState;

use crate::PipelineError;
use crate::claims::Claim;
use crate::faults::is_passing;
use crate::item::{IO_BACKOFF, Item, Prepared};
use crate::post::Post;
use crate::returns::{self, Answer};
use baton_home::config::{Config, Paths};

use baton_fs::{NUMBER_ROOM, fit};

/// Room the `.error.json` record needs beside a filed original, numbering included.
const RECORD_ROOM: usize = 11 + NUMBER_ROOM;

/// Which output failed, for the message and for what the fallback may still try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Route,
    FollowUps,
    Return,
    Record,
}

impl Step {
    fn what(self) -> &'static str {
        match self {
            Step::Route => "delivering the routed TASK",
            Step::FollowUps => "delivering the follow-up TASKs",
            Step::Return => "delivering the RETURN",
            Step::Record => "writing the error record in 03_failed/",
        }
    }
}

struct Failed {
    step: Step,
    error: PipelineError,
}

/// The outputs stage: what it borrows from the pipeline (the configuration, the folders and
/// the post) for one group. Its input is an item with its answer; its output, the same item
/// with its files written (or pending the group's sync) and where its original goes.
pub(crate) struct Outputs<'p> {
    pub(crate) cfg: &'p Config,
    pub(crate) paths: &'p Paths,
    pub(crate) post: &'p Post,
    /// Names placed per folder, compared as a Mac compares them ([`crate::folding`]).
    pub(crate) folded: &'p crate::folding::FoldedDirs,
}

impl Outputs<'_> {
    /// Step 4 for one item, never failing the batch: on an error the item is answered and
    /// filed `internal` (or deferred, for disk-full and I/O errors).
    pub(crate) fn write_isolated(&self, item: &mut Item, dirs: &mut HashSet<PathBuf>) {
        let span = item.span.clone();
        let _entered = span.enter();
        let Err(first) = self.write_outputs(item, dirs, None) else { return };
        self.fail_item(item, first, dirs);
    }

    /// Step 6 for one item: moves its original to where its outputs said (`02_processed/` by
    /// default), once the ledger has recorded it. Returns the folder, for the group's sync.
    pub(crate) fn file(&self, item: &mut Item) -> std::io::Result<PathBuf> {
        let span = item.span.clone();
        let _entered = span.enter();
        let (dir, name) = match item.dest.take() {
            Some(d) => d,
            None => (self.paths.processed(&self.cfg.agent), item.claim.original.clone()),
        };
        // Never replacing, and never under a name that is another entry's name on a Mac.
        let (placed, ()) = self.folded.place(&dir, &name, |candidate| {
            match baton_fs::rename_noreplace(&item.claim.path, &dir.join(candidate)) {
                Ok(()) => Ok(Some(())),
                // Where renames are `link` then `unlink` (macOS fallbacks, `portable`), a process
                // killed between the two filed this very file already: drop the claim's link
                // instead of filing a second copy.
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        && baton_fs::same_file(&item.claim.path, &dir.join(candidate)) =>
                {
                    std::fs::remove_file(&item.claim.path).map(Some)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        let filed = dir.join(placed);
        match &item.failure {
            // One line a person can act on: which file, which code, why.
            Some((code, reason)) => {
                warn!(file = %filed.display(), code = %code, reason = %reason, "filed in 03_failed/")
            }
            None => info!(file = %filed.display(), "filed"),
        }
        Ok(dir)
    }

    /// Step 4, second half, for one item: names and links what it staged, now that the
    /// group's sync made it durable. An error is handled as one while writing: the item is
    /// answered `internal` (or deferred), the rest of the group goes on.
    pub(crate) fn publish_isolated(&self, item: &mut Item, dirs: &mut HashSet<PathBuf>) {
        let span = item.span.clone();
        let _entered = span.enter();
        for p in std::mem::take(&mut item.pending) {
            let step = if item.return_name.as_deref() == Some(p.staged()) { Step::Return } else { Step::FollowUps };
            if let Err(e) = self.post.outbox.publish(p) {
                self.fail_item(item, Failed { step, error: e.into() }, dirs);
                return;
            }
        }
    }

    /// Step 4 for a TASK whose plugin asked a question: the input request goes to the reply
    /// agent the way a RETURN would (staged with the group, then named), and the TASK waits,
    /// claimed. Delivered once: its name is the claim's and the question's, so asking again
    /// after a crash finds it delivered.
    fn ask(&self, item: &mut Item, dirs: &mut HashSet<PathBuf>) -> Result<(), PipelineError> {
        let (Some(asked), Some(task)) = (item.asked.as_ref(), item.prepared.task()) else { return Ok(()) };
        let reply = task.reply_agent().to_string();
        let timeout = task.input_timeout_secs.map(Duration::from_secs).unwrap_or(self.cfg.handoffs.input_timeout);
        let request = crate::asking::new_request(&item.claim, &self.cfg.agent, &reply, &task.title, asked, timeout);
        let body = request.body(&self.cfg.agent, &task.id, &task.title, task.correlation_id.as_deref());
        let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
        self.post.deliver(
            &reply,
            &request.file,
            &request.file,
            &bytes,
            &mut item.delivered,
            dirs,
            Some(&mut item.pending),
        )?;
        info!(to = %reply, file = %request.file, "input request delivered; the TASK waits for the answer");
        item.waiting = Some(timeout.min(Duration::from_secs(30)));
        item.request = Some(request);
        Ok(())
    }

    fn fail_item(&self, item: &mut Item, first: Failed, dirs: &mut HashSet<PathBuf>) {
        // A question that could not be delivered is not asked: the item is answered as any
        // other whose RETURN failed (or deferred, and the plugin asks again).
        item.asked = None;
        item.waiting = None;
        item.request = None;
        // What was staged and not yet published was never visible: dropped (a retry stages
        // it again).
        item.pending.clear();
        if first.step == Step::Return {
            item.return_name = None;
            item.mailbox = None;
        }
        // A passing error (disk full, I/O error, a folder unwritable for a while, no file
        // handle free) defers the whole item: nothing of it was visible, its claim stays, and
        // the next attempt writes everything again. So does any error writing the record in
        // baton's own `03_failed/`: answering `internal` instead would give the handoff two
        // outcomes (the RETURN's and the record's).
        if is_passing(&first.error) || first.step == Step::Record {
            baton_home::ratelimit::warn_every(
                &format!("defer:{}:{}", first.step.what(), error_kind(&first.error)),
                &format!("{} failed, will try again: {}", first.step.what(), first.error),
                item.claim.key(),
            );
            item.deferred = Some(if is_passing(&first.error) { IO_BACKOFF } else { Duration::from_secs(60) });
            return;
        }
        let message = format!(
            "{} failed: {}; baton could not answer this handoff as planned (fix that, then `baton retry ID`)",
            first.step.what(),
            first.error
        );
        error!(claim = %item.claim.key(), "{message}");
        let mut answer = Answer::refused(ErrorCode::Internal, message);
        if let Some(old) = item.answer.take() {
            answer.started_at = old.started_at;
            answer.attempts = old.attempts;
            answer.plugin = old.plugin;
        }
        item.answer = Some(answer);
        item.follow_ups.clear();
        item.dest = None;
        if let Err(second) = self.write_outputs(item, dirs, Some(first.step)) {
            // Not even the error record could be written (03_failed/ is baton's own folder):
            // keep the claim and try the whole item again later.
            error!(claim = %item.claim.key(), "{} failed as well, will try again: {}", second.step.what(), second.error);
            item.deferred = Some(if is_passing(&second.error) { IO_BACKOFF } else { Duration::from_secs(60) });
        }
    }

    /// Writes one item's outputs. `fallback`: the item was turned into an `internal` failure
    /// after `Step` failed; the route and the follow-ups are not tried again, nor the RETURN if
    /// delivering it was what failed.
    fn write_outputs(
        &self,
        item: &mut Item,
        dirs: &mut HashSet<PathBuf>,
        fallback: Option<Step>,
    ) -> Result<(), Failed> {
        if fallback.is_none() && item.asked.is_some() {
            return self.ask(item, dirs).map_err(|error| Failed { step: Step::Return, error });
        }
        if item.stays().is_some() {
            return Ok(());
        }
        let me = self.cfg.agent.as_str();
        let fail = |step| move |error| Failed { step, error };
        let task: Option<TaskBody> = item.prepared.task().cloned();
        let reply: Option<String> = match &item.prepared {
            Prepared::Refuse { reply, .. } => reply.clone(),
            Prepared::Conflict(_) => None,
            Prepared::Reply
            | Prepared::Duplicate
            | Prepared::Pause(_)
            | Prepared::Waiting { .. }
            | Prepared::Answered { .. } => return Ok(()),
            Prepared::Finished(row) => {
                if row.state != TaskState::Completed {
                    item.failure = Some((
                        row.error_code.clone().unwrap_or_else(|| row.state.to_string()),
                        row.error_message.clone().unwrap_or_default(),
                    ));
                    item.dest = Some(self.failed_dest(&item.claim, None).map_err(fail(Step::Record))?);
                }
                return Ok(());
            }
            Prepared::Route(task) => {
                let reply = task.reply_agent().to_string();
                if fallback.is_none() {
                    let to = task.to.clone().unwrap_or_default();
                    let delivered = self.route(item, &to, dirs).map_err(fail(Step::Route))?;
                    item.answer = Some(Answer::completed(
                        format!("routed to {to}"),
                        json!({"routed_to": to, "file": delivered.to_string_lossy()}),
                    ));
                }
                Some(reply)
            }
            Prepared::Run { task, .. } => Some(task.reply_agent().to_string()),
        };
        let claim = item.claim.clone();

        // Follow-ups first (the runtime hands them over only for a completed task): a RETURN
        // that says "completed" is only written once they exist.
        if let (Some(parent), None) = (task.as_ref(), fallback) {
            let follow_ups = std::mem::take(&mut item.follow_ups);
            self.post
                .follow_ups_into(
                    &claim,
                    &parent.id,
                    parent.correlation_id.as_deref(),
                    &follow_ups,
                    &mut item.delivered,
                    dirs,
                    Some(&mut item.pending),
                )
                .map_err(fail(Step::FollowUps))?;
        }

        // The RETURN.
        if let (Some(reply), Some(answer)) = (reply.as_deref(), item.answer.as_ref())
            && fallback != Some(Step::Return)
        {
            let title = task.as_ref().map(|t| t.title.clone()).unwrap_or_else(|| file_title(&claim));
            let in_reply_to =
                task.as_ref().map(|t| t.id.clone()).unwrap_or_else(|| claim.original.to_string_lossy().into_owned());
            let body = returns::return_body(
                &claim,
                me,
                reply,
                &in_reply_to,
                &title,
                task.as_ref().and_then(|t| t.correlation_id.as_deref()),
                answer,
            );
            let name = returns::return_file_name(&claim, &title, me);
            let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
            // Grouped: written now, made durable with the group's other RETURNs, then linked
            // (see `Pipeline::publish_isolated`); in a fallback, on its own at once.
            let group = if fallback.is_none() { Some(&mut item.pending) } else { None };
            let grouped = group.is_some();
            let earlier = self
                .post
                .deliver(reply, &name, &name, &bytes, &mut item.delivered, dirs, group)
                .map_err(fail(Step::Return))?;
            let earlier_bytes = earlier.is_some().then(|| self.post.outbox.delivered_bytes(&name)).flatten();
            if grouped && earlier.is_some() {
                // An earlier attempt delivered this claim's RETURN (it died, or its filing
                // failed, after the delivery): that is the answer, and the ledger and the
                // record say what it says.
                if let Some(answer) = item.answer.as_mut() {
                    adopt_delivered(answer, earlier_bytes.clone());
                }
            }
            // A RETURN into a Claude inbox: the message it is (the earlier attempt's, if that
            // one delivered it), for the ledger.
            if let Some(Ok(to)) = self.post.claude_inbox(reply) {
                let message = to.message(earlier_bytes.as_deref().unwrap_or(&bytes));
                item.mailbox = Some(baton_mailbox::teams::Delivered { recipient: to.recipient, message });
            }
            item.return_name = Some(name);
        }

        // The error record, for anything that did not complete.
        let failure = match (&item.prepared, item.answer.as_ref()) {
            (_, Some(a)) => a.error.as_ref().map(|e| (e.code, e.message.clone())),
            (Prepared::Conflict(reason), None) => {
                Some((ErrorCode::SyncConflict, format!("not executed: the file is {reason}")))
            }
            _ => None,
        };
        if let Some((code, message)) = failure {
            let history = match &item.prepared {
                Prepared::Run { history, .. } => history.clone(),
                _ => vec![],
            };
            let record = returns::error_record(
                &claim,
                task.as_ref().map(|t| t.id.as_str()),
                code,
                &message,
                &history,
                item.return_name.as_deref(),
            );
            let dest = self.failed_dest(&claim, Some(&record)).map_err(fail(Step::Record))?;
            dirs.insert(dest.0.clone());
            item.record = Some(dest.0.join(baton_fs::error_record_name(&dest.1)));
            item.dest = Some(dest);
            item.failure = Some((code.to_string(), message));
        } else if item.solo {
            // Taken over from a process that died after writing its record and before its
            // RETURN was delivered: that attempt's record is not this one's outcome.
            self.move_aside_stale_record(&claim);
        }
        Ok(())
    }

    /// Moves this claim's `.error.json` left in `03_failed/` by an earlier attempt into
    /// `.superseded/` (only a record that names this very claim).
    fn move_aside_stale_record(&self, claim: &Claim) {
        let dir = self.paths.failed(&self.cfg.agent);
        let path = dir.join(baton_fs::error_record_name(&fit(&claim.original, RECORD_ROOM)));
        let ours = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| v["claim"] == json!(claim.key()));
        if ours {
            let agent_dir = self.paths.agent(&self.cfg.agent);
            if let Err(e) = crate::superseded::move_aside(
                &agent_dir,
                &path,
                "the error record of an earlier attempt of the same claim, which died before answering",
            ) {
                baton_home::ratelimit::warn_every(
                    "record-aside",
                    &format!("cannot move an earlier attempt's record aside: {e}"),
                    &path.display().to_string(),
                );
            }
        }
    }

    /// Delivers a TASK addressed to another agent into its inbox, under its own name (or the
    /// next free number when another file has it). Returns the name it was delivered as.
    fn route(&self, item: &mut Item, to: &str, dirs: &mut HashSet<PathBuf>) -> Result<OsString, PipelineError> {
        let bytes = std::fs::read(&item.claim.path).map_err(|e| PipelineError::io(&item.claim.path, e))?;
        let staged = format!("{}.route.json", item.claim.id);
        let wanted = item.claim.original.clone();
        // On its own (its name goes into the RETURN), with its own sync, under a name that is
        // no other entry's name on a Mac (the sender chose it, not baton).
        let inbox = self.post.inbox_of(to);
        crate::post::make_inbox(&inbox)?;
        let name = self.post.outbox.deliver_folded(&inbox, &staged, &wanted, &bytes)?;
        item.delivered.push(staged);
        dirs.insert(inbox);
        Ok(name)
    }
}

impl Outputs<'_> {
    /// Picks the name in `03_failed/` for a claim's original and creates its `.error.json`.
    /// A name whose error record belongs to this same claim (a crash came between) is reused.
    /// A name too long to take the `.error.json` suffix is shortened (the record keeps it).
    fn failed_dest(&self, claim: &Claim, record: Option<&Value>) -> Result<(PathBuf, OsString), PipelineError> {
        let dir = self.paths.failed(&self.cfg.agent);
        let name = fit(&claim.original, RECORD_ROOM);
        let (found, ()) = self
            .folded
            .place(&dir, &name, |name| {
                let err_path = dir.join(baton_fs::error_record_name(name));
                let ours = std::fs::read(&err_path)
                    .ok()
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .is_some_and(|v| v["claim"] == json!(claim.key()));
                if ours {
                    // This claim's record from an earlier attempt: the answer may differ now.
                    if let Some(record) = record {
                        let agent_dir = dir.parent().unwrap_or(&dir);
                        crate::superseded::move_aside(
                            agent_dir,
                            &err_path,
                            "the error record of an earlier attempt of the same claim",
                        )?;
                        let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
                        return Ok(baton_fs::create_new(&err_path, &bytes, true)?.then_some(()));
                    }
                    return Ok(Some(()));
                }
                // A `stat` that fails is an error (a pause), never "free".
                if baton_fs::present(&dir.join(name))?.is_some() || baton_fs::present(&err_path)?.is_some() {
                    return Ok(None);
                }
                let Some(record) = record else { return Ok(Some(())) };
                baton_home::failpoint::fault("record", "")?;
                let bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
                Ok(baton_fs::create_new(&err_path, &bytes, true)?.then_some(()))
            })
            .map_err(|e| PipelineError::io(&dir, e))?;
        Ok((dir, found))
    }
}

/// Makes `answer` say what the RETURN an earlier attempt delivered says (status, summary,
/// error): one handoff has one outcome.
fn adopt_delivered(answer: &mut Answer, bytes: Option<Vec<u8>>) {
    let Some(body) = bytes.and_then(|b| serde_json::from_slice::<baton_handoff::ReturnBody>(&b).ok()) else { return };
    answer.status = body.status;
    answer.summary = body.summary;
    answer.result = body.result;
    answer.error = body.error;
}

/// A short name for an error's kind, for grouping repeated warnings.
pub(crate) fn error_kind(e: &PipelineError) -> String {
    match e {
        PipelineError::Io { source, .. } => {
            source.raw_os_error().map_or_else(|| format!("{:?}", source.kind()), |c| c.to_string())
        }
        other => format!("{:?}", std::mem::discriminant(other)),
    }
}

/// A title for a file that did not parse: the slug of a conventional name, else the name.
fn file_title(claim: &Claim) -> String {
    let name = claim.original.to_string_lossy();
    names::parse_file_name(&name).map(|p| p.slug.replace('-', " ")).unwrap_or_else(|| name.into_owned())
}

/// Step 5 for one item. An answer is also added to `stats` (the dashboard's counters and
/// histograms, written once for the group), under its plugin's name when `installed` says
/// so, else `unknown`.
pub(crate) fn record(
    b: &baton_ledger::Batch<'_>,
    item: &Item,
    stats: &mut baton_ledger::stats::StatsBatch,
    installed: &dyn Fn(&str) -> bool,
) -> Result<(), baton_ledger::LedgerError> {
    let now_t = stamp::now();
    let now = stamp::rfc3339(now_t);
    let ms = item.started.map(|s| s.elapsed().as_secs_f64() * 1e3).unwrap_or(0.0);
    let task_id = item.prepared.task().map(|t| t.id.as_str());
    let key = item.claim.key();
    let subject = task_id.unwrap_or(key);
    for l in &item.exec_logs {
        b.log(subject, &l.at, l.level, &l.message)?;
    }
    if let Some(delay) = item.deferred {
        b.event(subject, &now, "deferred", &json!({"in_ms": delay.as_millis() as u64}))?;
        return Ok(());
    }
    let plugin = item.prepared.task().and_then(|t| t.plugin.as_deref()).filter(|p| installed(p)).unwrap_or("unknown");
    if let Prepared::Run { attempt, history, .. } = &item.prepared {
        b.start_attempt(subject, *attempt)?;
        if let (Some(request), Some(task)) = (&item.request, task_id) {
            b.finish(task, TaskState::InputRequired, None, None, &now, ms)?;
            let detail = serde_json::to_value(request).unwrap_or_default();
            b.event(task, &now, crate::asking::ASKED, &detail)?;
            return Ok(());
        }
        if let Some(delay) = item.retry {
            stats.retried(plugin, baton_ledger::stats::RetryKind::Automatic);
            if let Some(last) = history.last() {
                b.event(subject, &now, "attempt_failed", last)?;
            }
            b.finish(subject, TaskState::Retrying, None, None, &now, ms)?;
            b.event(subject, &now, "retry_scheduled", &json!({"in_ms": delay.as_millis() as u64}))?;
            return Ok(());
        }
    }
    let Some(answer) = &item.answer else {
        if let Prepared::Conflict(reason) = &item.prepared {
            b.event(key, &now, "sync_conflict", &json!({"reason": reason}))?;
        }
        return Ok(());
    };
    let state = match answer.status {
        Status::Completed => TaskState::Completed,
        Status::Rejected => TaskState::Rejected,
        Status::Failed | Status::Canceled => TaskState::Failed,
    };
    let err = answer.error.as_ref().map(|e| (e.code.as_str(), e.message.as_str()));
    // A file that is no valid TASK but names an id: its rejection is kept under that id too,
    // so `wait ID` and `show ID` answer it at once instead of "no handoff with id".
    if let Prepared::Refuse { id: Some(named), task: None, reply, .. } = &item.prepared
        && task_id.is_none()
    {
        let detail = json!({"file": key, "return": item.return_name, "reply_to": reply,
                            "error": answer.error, "summary": answer.summary});
        b.event(named, &now, "rejected_unparsed", &detail)?;
    }
    if task_id.is_some() && !matches!(item.prepared, Prepared::Refuse { code: ErrorCode::DuplicateId, .. }) {
        // A run after `baton retry`: the RETURN it replaces (filed by the retry) is linked to
        // this one, so `show` tells which answer superseded which.
        if let Prepared::Run { base, .. } = &item.prepared
            && *base > 0
            && let Some(old) = b.task(subject)?.and_then(|row| row.return_name)
            && Some(old.as_str()) != item.return_name.as_deref()
        {
            b.event(subject, &now, "superseded_by", &json!({"return": old, "superseded_by": item.return_name}))?;
        }
        b.finish(subject, state, err, item.return_name.as_deref(), &now, ms)?;
        // What the task list's search finds it by (the dashboard's `q`).
        b.search_text(
            subject,
            &baton_ledger::search::SearchText {
                params: item.prepared.task().and_then(|t| t.params.as_ref()),
                error: err.map(|(_, message)| message),
                summary: Some(&answer.summary),
                result: Some(&answer.result),
            },
        )?;
    }
    b.event(
        subject,
        &now,
        state.as_str(),
        &json!({"return": item.return_name, "error": answer.error, "summary": answer.summary, "duration_ms": ms}),
    )?;
    if let Some(delivered) = &item.mailbox {
        // A file refused before it was a TASK but naming an id: the delivery is linked under
        // that id, so `show ID --json` has its `"delivery"`.
        let linked = match &item.prepared {
            Prepared::Refuse { id: Some(named), task: None, .. } if task_id.is_none() => named.as_str(),
            _ => subject,
        };
        baton_mailbox::teams::record_return(b, &delivered.recipient, &delivered.message, linked, &now)?;
    }
    let at_ms = baton_handoff::stamp::unix_ms(now_t);
    let claimed_ms = item.claim.id.split_once('-').and_then(|(_, ulid)| baton_ledger::stats::ulid_ms(ulid));
    stats.add(&baton_ledger::stats::Answered {
        plugin,
        state,
        at_ms,
        drop_ms: claimed_ms.map(|c| (at_ms - c) as f64),
        run_ms: item.started.is_some().then_some(ms),
        error_code: err.map(|(code, _)| code),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The outputs stage on a temporary handoffs tree: no home, no ledger, no runtime.
    use super::*;
    use crate::outbox::Outbox;

    struct Bench {
        _dir: tempfile::TempDir,
        cfg: Config,
        paths: Paths,
        post: Post,
        folded: crate::folding::FoldedDirs,
    }

    impl Bench {
        fn new() -> Bench {
            let dir = tempfile::tempdir().unwrap();
            let cfg = Config { agent: "baton".into(), ..Config::default() };
            let paths = Paths::new(dir.path(), &dir.path().join("state.sqlite"), &cfg);
            // What `Pipeline::new` makes before a pass: baton's own three folders.
            for d in [paths.inbox("baton"), paths.processed("baton"), paths.failed("baton")] {
                std::fs::create_dir_all(d).unwrap();
            }
            let outbox = Outbox::open(paths.agent("baton").join(".outbox")).unwrap();
            let post = Post::new(paths.clone(), "baton".into(), outbox);
            Bench { _dir: dir, cfg, paths, post, folded: Default::default() }
        }

        fn stage(&self) -> Outputs<'_> {
            Outputs { cfg: &self.cfg, paths: &self.paths, post: &self.post, folded: &self.folded }
        }

        /// Writes and publishes one item as the pipeline does for a group of one.
        fn write(&self, item: &mut Item) {
            let mut dirs = HashSet::new();
            self.stage().write_isolated(item, &mut dirs);
            self.stage().publish_isolated(item, &mut dirs);
        }

        /// The JSON files in `agent`'s inbox.
        fn inbox(&self, agent: &str) -> Vec<Value> {
            let Ok(dir) = std::fs::read_dir(self.paths.inbox(agent)) else { return vec![] };
            dir.flatten().map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap()).collect()
        }
    }

    fn item(answer: Option<Answer>) -> Item {
        let task: TaskBody = serde_json::from_value(json!({
            "schema": "baton.handoff/v1", "id": "T-1", "kind": "task", "created_at": "2026-11-25T00:00:00Z",
            "from": "claude", "title": "Echo", "plugin": "echo", "action": "echo", "params": {}
        }))
        .unwrap();
        let claim = Claim::new(
            "/nowhere/claimed.json".into(),
            crate::claims::new_claim_id(),
            "20261125T000000Z__TASK__Echo__claude.json".into(),
        );
        let mut item =
            Item::new(claim, Prepared::Run { task, attempt: 1, base: 0, history: vec![], inputs: json!({}) });
        item.answer = answer;
        item
    }

    #[test]
    fn a_completed_task_gets_one_return_in_its_senders_inbox() {
        let b = Bench::new();
        let mut it = item(Some(Answer::completed("done".into(), json!({"n": 1}))));
        b.write(&mut it);
        let returns = b.inbox("claude");
        assert_eq!(returns.len(), 1, "{returns:?}");
        assert_eq!(
            (returns[0]["in_reply_to"].as_str(), returns[0]["status"].as_str()),
            (Some("T-1"), Some("completed"))
        );
        assert_eq!(it.failure, None);
        assert_eq!(std::fs::read_dir(b.paths.failed("baton")).unwrap().count(), 0, "no error record for a success");
    }

    #[test]
    fn a_failed_task_gets_its_return_and_an_error_record_beside_where_it_is_filed() {
        let b = Bench::new();
        let mut it = item(Some(Answer::refused(ErrorCode::Trap, "wasm trap: unreachable")));
        b.write(&mut it);
        assert_eq!(b.inbox("claude")[0]["status"], "failed");
        let (dir, name) = it.dest.clone().expect("filed in 03_failed/");
        assert_eq!(dir, b.paths.failed("baton"));
        let record = dir.join(baton_fs::error_record_name(&name));
        let record: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
        assert_eq!(record["code"], "trap");
    }

    #[test]
    fn a_sender_whose_folder_is_a_plain_file_fails_only_this_item_and_says_which_file() {
        let b = Bench::new();
        std::fs::write(b.paths.agent("claude"), b"not a folder").unwrap();
        let mut it = item(Some(Answer::completed("done".into(), json!({}))));
        b.write(&mut it);
        let (code, message) = it.failure.clone().expect("the item failed");
        assert_eq!(code, "internal");
        assert!(message.contains(&b.paths.agent("claude").display().to_string()), "{message}");
        assert!(it.dest.is_some_and(|(dir, _)| dir == b.paths.failed("baton")), "filed in 03_failed/");
    }
}
