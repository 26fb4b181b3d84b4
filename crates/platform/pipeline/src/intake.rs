//! Step 2 of the pipeline: what a claimed file is. Reads it (never following a symlink),
//! parses and validates it, and checks its id against the ledger, all inside the batch's
//! transaction, which is where duplicate ids between processes sharing a state are caught.
use std::os::unix::ffi::OsStrExt;

use serde_json::{Value, json};

use baton_handoff::{Body, ErrorCode, dialect, names, schema, stamp};
use baton_ledger::{Observed, TaskRow, TaskState};

use crate::claims::Claim;
use crate::item::Prepared;
use crate::preread::Preread;
use baton_home::config::Config;
use baton_mailbox::teams::Teams;

/// Step 2 for one claim: read it (never following a symlink), parse, validate, and check the
/// ledger for its id.
pub(crate) fn prepare(
    cfg: &Config,
    teams: &Teams,
    root: &std::path::Path,
    claim: &Claim,
    preread: Option<Preread>,
    b: &baton_ledger::Batch<'_>,
) -> Result<Prepared, baton_ledger::LedgerError> {
    let original = claim.original.to_string_lossy().into_owned();
    let (body, value) = match read_claim(cfg, teams, root, claim, preread, &original) {
        Ok(parsed) => parsed,
        Err(prepared) => return Ok(prepared),
    };
    let task = match body {
        Body::Input(answer) => return answered(b, &answer, &original),
        // An input request in baton's own inbox asks baton nothing it could answer: kept, as a
        // RETURN would be.
        Body::InputRequest(_) => return Ok(Prepared::Reply),
        Body::Return(r) => {
            b.event(
                &r.in_reply_to,
                &stamp::rfc3339(stamp::now()),
                "reply_received",
                &json!({"return": r.id, "status": r.status, "file": original}),
            )?;
            b.observe(&observed(&cfg.agent, &original, &Body::Return(r.clone())), &stamp::rfc3339(stamp::now()))?;
            return Ok(Prepared::Reply);
        }
        Body::Task(t) => t,
    };
    let hash = schema::content_hash(&value);
    let now = stamp::rfc3339(stamp::now());
    let task = match known(b, claim, &original, task, &hash, &now)? {
        Ok(prepared) => return Ok(prepared),
        Err(new) => new,
    };
    b.insert_task(&claimed_row(&task, hash, claim, &original, &now))?;
    b.event(&task.id, &now, "claimed", &json!({"file": original, "claim": claim.key()}))?;
    if let Some(refused) = unknown_recipient(teams, &task) {
        return Ok(refused);
    }
    if let Some(to) = task.to.clone() {
        // `to: "BATON"` is baton on a Mac (one folder): never routed into its own inbox.
        if !names::same_name(&to, &cfg.agent) {
            return Ok(Prepared::Route(task));
        }
        return Ok(Prepared::Refuse {
            id: None,
            code: ErrorCode::Misrouted,
            message: "a TASK for baton names `plugin`, `action` and `params`, not `to`".into(),
            reply: Some(task.reply_agent().into()),
            task: Some(task),
        });
    }
    if let Some(passed) = deadline_passed(&task) {
        return Ok(passed);
    }
    Ok(Prepared::Run { task, attempt: 1, base: 0, history: Vec::new(), inputs: json!({}) })
}

/// The claimed file read and parsed, or what it is answered with when it cannot be: a
/// refusal that names why, or a pause when the disk failed for a while.
fn read_claim(
    cfg: &Config,
    teams: &Teams,
    root: &std::path::Path,
    claim: &Claim,
    preread: Option<Preread>,
    original: &str,
) -> Result<(Body, Value), Prepared> {
    // A file named as a RETURN is never answered with a RETURN, whatever is wrong with it.
    let file_agent = claim.original.to_str().filter(|n| !is_return_name(n)).and_then(names::agent_of_file_name);
    let refuse =
        |code, message: String| Prepared::Refuse { id: None, code, message, reply: file_agent.clone(), task: None };
    if let names::Entry::SyncConflict(reason) = names::classify(claim.original.as_bytes()) {
        return Err(Prepared::Conflict(reason));
    }
    let meta = match baton_home::failpoint::fault("stat_claim", original)
        .and_then(|()| std::fs::symlink_metadata(&claim.path))
    {
        Ok(m) => m,
        // An I/O error, no file handle free: nothing about the file; stat it again later.
        Err(e) if crate::faults::is_passing_io(&e) => {
            return Err(Prepared::Pause(format!("cannot stat the claimed file: {e}")));
        }
        Err(e) => return Err(refuse(ErrorCode::Internal, format!("cannot stat the claimed file: {e}"))),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(
            ErrorCode::NotAFile,
            "the inbox entry is a symlink; baton never follows links (copy the file in instead)".into(),
        ));
    }
    if !meta.is_file() {
        return Err(refuse(ErrorCode::NotAFile, "the inbox entry is not a regular file".into()));
    }
    if claim.original.to_str().is_none() {
        return Err(Prepared::Refuse {
            id: None,
            code: ErrorCode::InvalidName,
            message: format!("the file name {original:?} is not valid UTF-8; rename it"),
            reply: None,
            task: None,
        });
    }
    if meta.len() > cfg.max_file_bytes {
        return Err(refuse(
            ErrorCode::TooLarge,
            format!(
                "{} bytes is over the {} byte cap (max_file_bytes in baton.toml); the file was not read",
                meta.len(),
                cfg.max_file_bytes
            ),
        ));
    }
    // Read and parsed once: by the readiness check, if the claimed file is still the one it
    // read (inode, size, mtime), else here.
    let parsed = match preread.filter(|p| p.is_still(&meta)) {
        Some(pre) => {
            let facts = dialect::facts(&pre.value);
            schema::parse_value(pre.value).map_err(|invalid| (invalid, Some(facts)))
        }
        None => read_and_parse(cfg, claim, &refuse)?,
    };
    parsed.map_err(|(invalid, facts)| unparsed(cfg, teams, root, original, invalid, facts, file_agent.clone()))
}

/// What the ledger already knows of a TASK's id decides what this claim of it is: the same
/// claim resumed (after a crash or a retry delay), a `baton retry`, a copy, or another handoff
/// reusing the id. `Err(task)`: the id is new.
fn known(
    b: &baton_ledger::Batch<'_>,
    claim: &Claim,
    original: &str,
    task: baton_handoff::TaskBody,
    hash: &str,
    now: &str,
) -> Result<Result<Prepared, baton_handoff::TaskBody>, baton_ledger::LedgerError> {
    let Some(row) = b.task(&task.id)? else { return Ok(Err(task)) };
    if row.claim == claim.key() {
        if row.state.is_terminal() {
            return Ok(Ok(Prepared::Finished(row)));
        }
        // Resumed after a crash or a retry delay: carry this run's earlier attempts' errors
        // (those since the last `baton retry`, which also says where its budget starts).
        let events = b.events(&task.id)?;
        let since = events.iter().rposition(|e| e.event == "claimed" && e.detail["retry"] == json!(true));
        // `baton cancel` while it waited for this attempt: answered `canceled`, not run again.
        if let Some(asked) = events.iter().skip(since.map_or(0, |i| i + 1)).find(|e| e.event == "cancel_requested") {
            return Ok(Ok(Prepared::Refuse {
                id: None,
                code: ErrorCode::Canceled,
                message: format!(
                    "canceled by request ({}, at {}) while it waited for attempt {}; it was not run again",
                    asked.detail["by"].as_str().unwrap_or("baton cancel"),
                    asked.at,
                    row.attempts + 1
                ),
                reply: Some(task.reply_agent().into()),
                task: Some(task.clone()),
            }));
        }
        let base = since.and_then(|i| events[i].detail["attempts_before"].as_u64()).unwrap_or(0) as u32;
        if row.state == TaskState::InputRequired
            && let Some(open) = crate::asking::open_request(&events)
        {
            return Ok(Ok(waiting(task, &open)));
        }
        let inputs = crate::asking::inputs(&events);
        let history = events
            .into_iter()
            .skip(since.map_or(0, |i| i + 1))
            .filter(|e| e.event == "attempt_failed")
            .map(|e| e.detail)
            .collect();
        if let Some(passed) = deadline_passed(&task) {
            return Ok(Ok(passed));
        }
        return Ok(Ok(Prepared::Run { attempt: row.attempts + 1, base, task, history, inputs }));
    }
    if row.state == TaskState::RetryRequested && row.content_hash == hash {
        // `baton retry`: the same handoff (possibly fixed by hand: the content `baton retry`
        // moved back, see `request_retry`), a new attempt under this claim, with a fresh
        // budget of automatic retries. Its RETURN is this claim's, a name of its own.
        let base = row.attempts;
        b.reclaim(&TaskRow { attempts: base, ..claimed_row(&task, hash.to_owned(), claim, original, now) })?;
        b.event(
            &task.id,
            now,
            "claimed",
            &json!({"file": original, "claim": claim.key(), "retry": true, "attempts_before": base}),
        )?;
        if let Some(passed) = deadline_passed(&task) {
            return Ok(Ok(passed));
        }
        return Ok(Ok(Prepared::Run { task, attempt: base + 1, base, history: Vec::new(), inputs: json!({}) }));
    }
    if row.content_hash == hash {
        b.event(&task.id, now, "duplicate", &json!({"file": original, "first_file": row.file_name}))?;
        return Ok(Ok(Prepared::Duplicate));
    }
    let message = format!(
        "id {:?} was already used by {} with different content; give this handoff a new id",
        task.id, row.file_name
    );
    b.event(&task.id, now, "duplicate_id", &json!({"file": original, "claim": claim.key()}))?;
    Ok(Ok(Prepared::Refuse {
        id: None,
        code: ErrorCode::DuplicateId,
        message,
        reply: Some(task.reply_agent().into()),
        task: Some(task),
    }))
}

/// A waiting TASK is looked at again at least this often (an answer applied by another process
/// that wrote no `input` handoff, say), besides at once when an answer comes through the inbox.
const RECHECK: std::time::Duration = std::time::Duration::from_secs(30);

/// A TASK whose question `open` is unanswered: it goes on waiting, or fails `input_timeout`
/// once the question has expired.
fn waiting(task: baton_handoff::TaskBody, open: &crate::asking::Request) -> Prepared {
    let left = stamp::parse_rfc3339(&open.expires_at).map(|t| t - stamp::now());
    match left {
        Some(left) if left.is_positive() => {
            let left = std::time::Duration::try_from(left).unwrap_or(RECHECK);
            Prepared::Waiting { task, recheck: left.min(RECHECK) }
        }
        _ => Prepared::Refuse {
            id: None,
            code: ErrorCode::InputTimeout,
            message: format!(
                "no answer to the input request `{}` ({:?}, asked of {} at {}) before it expired at {};                  `baton retry {}` runs the TASK again from the start",
                open.request_id, open.message, open.to, open.asked_at, open.expires_at, task.id
            ),
            reply: Some(task.reply_agent().into()),
            task: Some(task),
        },
    }
}

/// An `input` handoff in baton's inbox: applied to its TASK exactly once (the `baton answer`
/// that wrote it applied it already: then it only wakes the TASK). A refused answer is filed in
/// `03_failed/` with the reason; no RETURN either way (an input is not a TASK).
fn answered(
    b: &baton_ledger::Batch<'_>,
    answer: &baton_handoff::InputBody,
    original: &str,
) -> Result<Prepared, baton_ledger::LedgerError> {
    let applying = crate::asking::Answer {
        task_id: &answer.in_reply_to,
        request_id: Some(&answer.request_id),
        input: &answer.input,
        by: &answer.from,
        handoff_id: &answer.id,
    };
    match crate::asking::apply(b, &applying)? {
        Ok(applied) => {
            let (claim, request) = applied.woken();
            Ok(Prepared::Answered { claim, request })
        }
        Err(refused) => {
            let now = stamp::rfc3339(stamp::now());
            let detail = json!({"file": original, "id": answer.id, "request_id": answer.request_id, "error": refused.to_string()});
            b.event(&answer.in_reply_to, &now, "input_refused", &detail)?;
            Ok(Prepared::Refuse {
                id: None,
                code: ErrorCode::Invalid,
                message: format!("the input {} was not applied: {refused}", answer.id),
                reply: None,
                task: None,
            })
        }
    }
}

type Parsed = Result<(Body, Value), (schema::Invalid, Option<Value>)>;

/// The ledger row of `task` just claimed as `claim` (`claimed`, no attempt yet).
fn claimed_row(
    task: &baton_handoff::TaskBody,
    content_hash: String,
    claim: &Claim,
    original: &str,
    now: &str,
) -> TaskRow {
    TaskRow {
        id: task.id.clone(),
        content_hash,
        claim: claim.key().to_owned(),
        file_name: original.to_owned(),
        sender: task.from.clone(),
        reply_to: task.reply_agent().into(),
        plugin: task.plugin.clone(),
        action: task.action.clone(),
        title: task.title.clone(),
        state: TaskState::Claimed,
        error_code: None,
        error_message: None,
        attempts: 0,
        return_name: None,
        claimed_at: now.to_owned(),
        finished_at: None,
        duration_ms: None,
    }
}

/// `…__RETURN__…`: a file its writer named as a RETURN.
fn is_return_name(name: &str) -> bool {
    names::parse_file_name(name).is_some_and(|p| p.kind.eq_ignore_ascii_case("RETURN")) || name.contains("__RETURN__")
}

/// A file in baton's inbox that is no valid v1 handoff: refused with a message that names
/// what is missing or wrong. Its RETURN goes to the sender its body names (a loose name such
/// as `"Cursor MM1 Agent"` matched to its folder; several matching folders: no RETURN, and
/// the message lists them); a RETURN is never answered with a RETURN. A handoff in the
/// user's loose dialect is told the `baton send` command that would have worked.
fn unparsed(
    cfg: &Config,
    teams: &Teams,
    root: &std::path::Path,
    original: &str,
    invalid: schema::Invalid,
    facts: Option<Value>,
    file_agent: Option<String>,
) -> Prepared {
    let seen = facts.and_then(|v| dialect::read_value(original, v).ok());
    let mut message = invalid.message;
    if is_return_name(original) || seen.as_ref().is_some_and(|s| s.kind == dialect::Kind::Return) {
        message.push_str(" It is a RETURN, so it is filed without a RETURN of its own.");
        return Prepared::Refuse { id: None, code: invalid.code, message, reply: None, task: None };
    }
    let sender = seen.as_ref().and_then(|s| s.from.clone());
    let reply = match &sender {
        Some(name) if names::is_valid_name(name) => Some(name.clone()),
        // A Claude Code team's agent gets its rejection as a message in its Claude inbox, as a
        // folder agent gets it in its folder; one that no claude-team mailbox has gets none,
        // and the rejection says so (never a folder made for it).
        Some(name) if names::team_agent(name).is_some() => match teams.recipient(name) {
            Ok(_) => Some(name.clone()),
            Err(why) => {
                message.push_str(&format!(
                    " No RETURN was sent: the sender {name:?} names a Claude Code team's agent (TEAM/AGENT) that no \
                     claude-team mailbox has ({why}); add its team with `baton mailbox add claude-team [PATH]`."
                ));
                None
            }
        },
        Some(name) => match baton_home::tree::reply_folder(root, name) {
            Ok(found) => found.or(file_agent),
            Err(folders) => {
                message.push_str(&format!(
                    " No RETURN was written: the sender {name:?} matches the folders {} (never guessed; name one exactly).",
                    folders.join(", ")
                ));
                None
            }
        },
        None => file_agent,
    };
    if let Some(s) = seen.as_ref().filter(|s| s.dialect == dialect::Dialect::Loose) {
        let failed = root.join(&cfg.agent).join("03_failed").join(original);
        message = format!(
            "{original} is a handoff in the loose dialect, which baton tracks in other agents' folders but does not run: {message} This command would have worked: {}",
            dialect::send_command(s, &cfg.agent, &failed.to_string_lossy(), &|n: &str| {
                teams.recipient(n).map(|_| ()).map_err(|e| dialect::UnknownTeam(e.to_string()))
            })
        );
    }
    let id = seen.and_then(|s| s.id).filter(|id| !id.is_empty() && id.len() <= 128);
    Prepared::Refuse { id, code: invalid.code, message, reply, task: None }
}

/// A TASK whose reply agent is a `TEAM/AGENT` that no claude-team mailbox has is refused
/// before it runs: its RETURN would have nowhere to go (a folder `handoffs/TEAM/AGENT/` is
/// read by nobody, and never made). The refusal's RETURN goes to `from` when that is a plain
/// agent (it asked for the answer to go elsewhere); else there is none, and the record in
/// `03_failed/` and the ledger say why.
fn unknown_recipient(teams: &Teams, task: &baton_handoff::TaskBody) -> Option<Prepared> {
    let to = task.reply_agent();
    names::team_agent(to)?;
    let field = if task.reply_to.is_some() { "reply_to" } else { "from" };
    let message = teams.refusal(field, to)?;
    Some(Prepared::Refuse {
        id: None,
        code: ErrorCode::UnknownRecipient,
        message,
        reply: Some(task.from.clone()).filter(|f| names::is_valid_name(f)),
        task: Some(task.clone()),
    })
}

/// A TASK whose `deadline` (RFC 3339) has passed is not run: it is answered `canceled`, with
/// the deadline in the reason. Checked before every attempt (a retry after the deadline is
/// not run either). A `deadline` that is not a date-time is refused by the schema check.
fn deadline_passed(task: &baton_handoff::TaskBody) -> Option<Prepared> {
    let deadline = task.deadline.as_deref()?;
    let at = stamp::parse_rfc3339(deadline)?;
    let now = stamp::now();
    if at > now {
        return None;
    }
    let message = format!(
        "its deadline {deadline} had passed when baton came to run it ({}); it was not run",
        stamp::rfc3339(now)
    );
    Some(Prepared::Refuse {
        id: None,
        code: ErrorCode::DeadlinePassed,
        message,
        reply: Some(task.reply_agent().into()),
        task: Some(task.clone()),
    })
}

/// Reads the claimed file (no symlink followed, no FIFO waited on, at most the cap read: the
/// checks before looked at the path, this read holds the file itself) and parses it.
fn read_and_parse(
    cfg: &Config,
    claim: &Claim,
    refuse: &dyn Fn(ErrorCode, String) -> Prepared,
) -> Result<Parsed, Prepared> {
    let bytes = match baton_fs::read_capped(&claim.path, cfg.max_file_bytes) {
        Ok(b) => b,
        Err(baton_fs::ReadError::NotAFile { what, .. }) => {
            return Err(refuse(
                ErrorCode::NotAFile,
                format!("the inbox entry is {what}, not a regular file; copy the file in"),
            ));
        }
        Err(baton_fs::ReadError::TooLarge { size, max, .. }) => {
            return Err(refuse(
                ErrorCode::TooLarge,
                format!(
                    "{size} bytes is over the {max} byte cap (max_file_bytes in baton.toml); the file was not read"
                ),
            ));
        }
        Err(baton_fs::ReadError::Io { source, .. }) if crate::faults::is_passing_io(&source) => {
            return Err(Prepared::Pause(format!("cannot read the claimed file: {source}")));
        }
        Err(e) => return Err(refuse(ErrorCode::Internal, format!("cannot read the claimed file: {e}"))),
    };
    Ok(schema::parse(&bytes).map_err(|invalid| (invalid, serde_json::from_slice::<Value>(&bytes).ok())))
}

pub(crate) fn observed(agent: &str, file: &str, body: &Body) -> Observed {
    match body {
        Body::Task(t) => Observed {
            agent: agent.into(),
            file_name: file.into(),
            kind: "task".into(),
            id: t.id.clone(),
            in_reply_to: None,
            sender: t.from.clone(),
            recipient: t.to.clone().or_else(|| Some(agent.into())),
            title: t.title.clone(),
            created_at: t.created_at.clone(),
        },
        Body::Return(r) => Observed {
            agent: agent.into(),
            file_name: file.into(),
            kind: "return".into(),
            id: r.id.clone(),
            in_reply_to: Some(r.in_reply_to.clone()),
            sender: r.from.clone(),
            recipient: r.to.clone(),
            title: r.title.clone(),
            created_at: r.created_at.clone(),
        },
        Body::InputRequest(r) => Observed {
            agent: agent.into(),
            file_name: file.into(),
            kind: "input_request".into(),
            id: r.id.clone(),
            in_reply_to: Some(r.in_reply_to.clone()),
            sender: r.from.clone(),
            recipient: r.to.clone(),
            title: r.title.clone(),
            created_at: r.created_at.clone(),
        },
        Body::Input(i) => Observed {
            agent: agent.into(),
            file_name: file.into(),
            kind: "input".into(),
            id: i.id.clone(),
            in_reply_to: Some(i.in_reply_to.clone()),
            sender: i.from.clone(),
            recipient: None,
            title: i.title.clone(),
            created_at: i.created_at.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    //! Intake on files in a temporary folder and a ledger of its own: no home, no runtime.
    use std::path::Path;

    use baton_ledger::Ledger;

    use super::*;

    struct Bench {
        dir: tempfile::TempDir,
        ledger: Ledger,
        cfg: Config,
    }

    impl Bench {
        fn new() -> Bench {
            let dir = tempfile::tempdir().unwrap();
            let ledger = Ledger::open(&dir.path().join("state.sqlite")).unwrap();
            Bench { dir, ledger, cfg: Config { agent: "baton".into(), max_file_bytes: 4096, ..Config::default() } }
        }

        /// Claims `bytes` as the file `name` and prepares it.
        fn prepare(&mut self, name: &str, bytes: &[u8]) -> Prepared {
            let path = self.dir.path().join(crate::claims::new_claim_id());
            std::fs::write(&path, bytes).unwrap();
            self.prepare_at(&path, name)
        }

        fn prepare_at(&mut self, path: &Path, name: &str) -> Prepared {
            let claim = Claim::new(path.to_path_buf(), crate::claims::new_claim_id(), name.into());
            let (cfg, root) = (&self.cfg, self.dir.path());
            self.ledger.batch(|b| prepare(cfg, &Teams::default(), root, &claim, None, b)).unwrap()
        }
    }

    fn task(id: &str, extra: Value) -> Vec<u8> {
        let mut t = json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": "2026-01-18T07:09:51Z",
                           "from": "claude", "title": "Echo", "plugin": "echo", "action": "echo", "params": {}});
        // A null in `extra` removes the field.
        let fields = t.as_object_mut().unwrap();
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                fields.remove(k);
            } else {
                fields.insert(k.clone(), v.clone());
            }
        }
        serde_json::to_vec(&t).unwrap()
    }

    const NAME: &str = "20260118T070951Z__TASK__Echo__claude.json";

    fn refused(p: &Prepared) -> Option<ErrorCode> {
        match p {
            Prepared::Refuse { code, .. } => Some(*code),
            _ => None,
        }
    }

    #[test]
    fn a_new_task_runs_once_and_its_id_is_kept_for_it() {
        let mut b = Bench::new();
        assert!(matches!(b.prepare(NAME, &task("T-1", json!({}))), Prepared::Run { attempt: 1, base: 0, .. }));
        assert_eq!(b.ledger.task("T-1").unwrap().map(|r| r.state), Some(TaskState::Claimed));
        // The same handoff again (a copy): filed, not run; the same id with other content: refused.
        assert!(matches!(b.prepare(NAME, &task("T-1", json!({}))), Prepared::Duplicate));
        let other = b.prepare(NAME, &task("T-1", json!({"title": "Something else"})));
        assert_eq!(refused(&other), Some(ErrorCode::DuplicateId));
    }

    #[test]
    fn a_task_for_another_agent_is_routed_and_one_for_baton_by_name_is_misrouted() {
        let mut b = Bench::new();
        let to_cursor = b.prepare(NAME, &task("T-2", json!({"to": "cursor", "plugin": null, "action": null})));
        assert!(matches!(to_cursor, Prepared::Route(t) if t.to.as_deref() == Some("cursor")));
        let to_baton = b.prepare(NAME, &task("T-3", json!({"to": "BATON", "plugin": null, "action": null})));
        assert_eq!(refused(&to_baton), Some(ErrorCode::Misrouted), "BATON is baton on a Mac");
    }

    #[test]
    fn a_team_agent_no_mailbox_has_is_refused_before_running() {
        let mut b = Bench::new();
        let p = b.prepare(NAME, &task("T-5", json!({"reply_to": "alpha/worker"})));
        let Prepared::Refuse { code, message, reply, .. } = p else { panic!("not refused") };
        assert_eq!(code, ErrorCode::UnknownRecipient);
        assert!(
            message.contains("\"alpha/worker\"") && message.contains("baton mailbox add claude-team [PATH]"),
            "{message}"
        );
        assert_eq!(reply.as_deref(), Some("claude"), "the rejection goes to the plain sender");
        let p = b.prepare(NAME, &task("T-6", json!({"from": "alpha/worker"})));
        assert!(matches!(p, Prepared::Refuse { code: ErrorCode::UnknownRecipient, reply: None, .. }));
    }

    #[test]
    fn a_return_is_a_reply_and_what_cannot_be_read_is_refused_with_its_reason() {
        let mut b = Bench::new();
        let r = json!({"schema": "baton.handoff/v1", "id": "R-1", "kind": "return", "created_at": "2026-01-18T08:00:00Z",
                       "from": "cursor", "title": "Re: Review", "in_reply_to": "REVIEW-1", "status": "completed", "summary": "LGTM"});
        let reply = b.prepare("20260118T080000Z__RETURN__Re-Review__cursor.json", r.to_string().as_bytes());
        assert!(matches!(reply, Prepared::Reply));
        assert_eq!(refused(&b.prepare(NAME, &vec![b' '; 5000])), Some(ErrorCode::TooLarge));
        let target = b.dir.path().join("elsewhere.json");
        std::fs::write(&target, task("T-4", json!({}))).unwrap();
        let link = b.dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(refused(&b.prepare_at(&link, NAME)), Some(ErrorCode::NotAFile), "a link is never followed");
        assert_eq!(b.ledger.task("T-4").unwrap(), None, "nothing recorded for it");
    }
}
