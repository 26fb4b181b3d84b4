//! A claim on its way through the pipeline: what intake made of it ([`Prepared`]) and what
//! each later stage adds ([`Item`]: the answer, the logs, where the original goes). Every stage
//! passes items along; none of them needs the pipeline to read one.
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use baton_handoff::{ErrorCode, TaskBody};
use baton_ledger::TaskRow;

use crate::claims::Claim;
use crate::returns::Answer;

/// One claim, once parsed and checked against the ledger.
pub(crate) enum Prepared {
    /// Refused without running; RETURN to `reply` if known. `id`: the id a file that is not a
    /// valid TASK still names (its rejection is kept under it, so `wait` and `show` on that id
    /// answer at once).
    Refuse { id: Option<String>, code: ErrorCode, message: String, reply: Option<String>, task: Option<TaskBody> },
    /// A sync tool's conflict copy: filed with the reason, no RETURN.
    Conflict(&'static str),
    /// A RETURN answering a follow-up baton emitted: recorded (in step 2) and filed.
    Reply,
    /// A TASK for another agent: delivered to its inbox, answered `completed`.
    Route(TaskBody),
    /// The same id and content as an accepted task: filed, no second run or RETURN.
    Duplicate,
    /// This exact claim already finished before a crash: only the filing is left.
    Finished(TaskRow),
    /// Not readable for a passing reason (an I/O error, no file handle free): left claimed and
    /// tried again after a pause, with the reason.
    Pause(String),
    /// To run, at attempt `attempt` (1-based), with the errors of earlier attempts. `base`:
    /// the attempts made before this run's `baton retry` (0 for a first run); the budget of
    /// automatic retries counts from there, while `attempt` (what the ledger and the RETURN
    /// say) goes on counting across retries. `inputs`: the answers to its input requests so
    /// far (`{request_id: input}`, `{}` at first).
    Run { task: TaskBody, attempt: u32, base: u32, history: Vec<Value>, inputs: Value },
    /// A TASK that asked a question and waits for the answer: left claimed, looked at again
    /// within `recheck` (sooner when an answer comes in), failed `input_timeout` once it expires.
    Waiting { task: TaskBody, recheck: Duration },
    /// An `input` handoff, applied in the batch's transaction: filed, no RETURN. `claim` is
    /// the TASK's claim it wakes; `request` the file name of the request it answered, whose
    /// outbox entry is dropped once filed (the TASK never asks that question again).
    Answered { claim: String, request: Option<String> },
}

impl Prepared {
    /// The parsed TASK, when there is one.
    pub(crate) fn task(&self) -> Option<&TaskBody> {
        match self {
            Prepared::Run { task, .. } | Prepared::Route(task) | Prepared::Waiting { task, .. } => Some(task),
            Prepared::Refuse { task, .. } => task.as_ref(),
            _ => None,
        }
    }
}

/// The span of one handoff: its id and plugin when it parsed (a TASK for another agent has no
/// plugin), and always the file it came in as; `attempt` is filled in when it runs.
fn task_span(claim: &Claim, prepared: &Prepared) -> tracing::Span {
    let (id, plugin) = match (prepared, prepared.task()) {
        (_, Some(t)) => (Some(t.id.as_str()), t.plugin.as_deref()),
        (Prepared::Finished(row), None) => (Some(row.id.as_str()), row.plugin.as_deref()),
        _ => (None, None),
    };
    use tracing::field::Empty;
    let file = claim.original.to_string_lossy();
    match (id, plugin) {
        (Some(id), Some(p)) => tracing::info_span!("task", id = %id, plugin = %p, file = %file, attempt = Empty),
        (Some(id), None) => tracing::info_span!("task", id = %id, plugin = Empty, file = %file, attempt = Empty),
        (None, _) => tracing::info_span!("task", id = Empty, plugin = Empty, file = %file, attempt = Empty),
    }
}

/// A claim on its way through the batch.
pub(crate) struct Item {
    pub(crate) claim: Claim,
    pub(crate) prepared: Prepared,
    pub(crate) answer: Option<Answer>,
    pub(crate) exec_logs: Vec<baton_runtime::LogLine>,
    pub(crate) follow_ups: Vec<baton_runtime::FollowUp>,
    /// A transient plugin failure: run again after this delay.
    pub(crate) retry: Option<Duration>,
    /// The outputs could not be written for a passing reason (disk full, I/O error): the claim
    /// stays as it is and the whole item is tried again after this delay.
    pub(crate) deferred: Option<Duration>,
    pub(crate) started: Option<Instant>,
    /// Where the original goes, decided when the outputs are written.
    pub(crate) dest: Option<(PathBuf, OsString)>,
    pub(crate) return_name: Option<String>,
    /// The `.error.json` this attempt wrote, moved aside if the attempt is deferred.
    pub(crate) record: Option<PathBuf>,
    /// Outbox names delivered for this item, dropped from the outbox once it is filed.
    pub(crate) delivered: Vec<String>,
    /// Written, waiting for the group's sync before they are named and linked.
    pub(crate) pending: Vec<crate::outbox::Pending>,
    /// Taken over from a dead process and run alone under the poison-pill guard.
    pub(crate) solo: bool,
    /// This handoff's `task` span (`id`, `plugin`, `file`, `attempt`): entered for everything
    /// done for it, so each log line about it names it, in text and in JSON.
    pub(crate) span: tracing::Span,
    /// Why it goes to `03_failed/` (code, reason), once its outputs say so: logged when filed.
    pub(crate) failure: Option<(String, String)>,
    /// Its RETURN as a message in a Claude Code inbox (a `TEAM/AGENT` reply agent): recorded
    /// in the ledger with the item.
    pub(crate) mailbox: Option<baton_mailbox::teams::Delivered>,
    /// The plugin asked a question instead of answering (the execute stage's verdict).
    pub(crate) asked: Option<baton_runtime::InputRequest>,
    /// That question, delivered to the reply agent (step 4), for the ledger (step 5).
    pub(crate) request: Option<crate::asking::Request>,
    /// Waiting for an answer: the claim stays, and is looked at again after this delay.
    pub(crate) waiting: Option<Duration>,
}

impl Item {
    pub(crate) fn new(claim: Claim, prepared: Prepared) -> Self {
        let span = task_span(&claim, &prepared);
        let _entered = span.enter();
        let answer = match &prepared {
            Prepared::Refuse { code, message, .. } => Some(Answer::refused(*code, message.clone())),
            _ => None,
        };
        let waiting = match &prepared {
            Prepared::Waiting { recheck, .. } => Some(*recheck),
            _ => None,
        };
        let deferred = match &prepared {
            Prepared::Pause(reason) => {
                baton_home::ratelimit::warn_every(
                    "pause:claimed-file",
                    &format!("{reason}; will try again"),
                    claim.key(),
                );
                Some(IO_BACKOFF)
            }
            _ => None,
        };
        Item {
            claim,
            prepared,
            answer,
            exec_logs: vec![],
            follow_ups: vec![],
            retry: None,
            deferred,
            started: None,
            dest: None,
            return_name: None,
            record: None,
            delivered: vec![],
            pending: vec![],
            solo: false,
            span: span.clone(),
            failure: None,
            mailbox: None,
            asked: None,
            request: None,
            waiting,
        }
    }

    /// Whether this item leaves its claim in place for a later attempt (or an answer).
    pub(crate) fn stays(&self) -> Option<Duration> {
        self.retry.or(self.deferred).or(self.waiting)
    }
}

/// How long to wait before trying an item again after a disk or database error.
pub(crate) const IO_BACKOFF: Duration = Duration::from_secs(2);
