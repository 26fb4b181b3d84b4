//! A delivery's receipt: what baton knows happened to a message it put in a Claude Code inbox,
//! and nothing more. The states, in order, and what each rests on:
//!
//! | state      | rests on |
//! |------------|----------|
//! | `written`  | the message is in the inbox, its `read` flag false |
//! | `noticed`  | Claude Code set its `read` flag: it took the message to queue it for the recipient's next idle turn (not yet seen by the model) |
//! | `seen`     | a `user` line of the recipient's transcript, written at or after the delivery, holds the message (see [`crate::transcript`]) |
//! | `answered` | once seen (or noticed, when no transcript is found), the recipient wrote back to the sender after the delivery |
//! | `lost`     | it left the inbox before it was noticed |
//!
//! Each state reached is recorded once (an event per state, by the caller: this crate knows no
//! ledger); a state recorded stays, so a message Claude Code has since cleared from the inbox
//! keeps what it reached. Transcripts are read through [`Transcripts`], which keeps, per
//! transcript, how far it was read and the messages its recent lines delivered.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::claude;
use crate::transcript::{self, Cursor};
use crate::when;
use crate::zone::Zone;

/// A delivery's state (the table above), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Written,
    Noticed,
    Seen,
    Answered,
    Lost,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Written => "written",
            State::Noticed => "noticed",
            State::Seen => "seen",
            State::Answered => "answered",
            State::Lost => "lost",
        }
    }

    /// The ledger event that records this state (none for `written`, which the delivery is).
    pub fn event(self) -> Option<&'static str> {
        match self {
            State::Written => None,
            State::Noticed => Some("delivery_noticed"),
            State::Seen => Some("delivery_seen"),
            State::Answered => Some("delivery_answered"),
            State::Lost => Some("delivery_lost"),
        }
    }

    /// A state a waiter may ask for (`wait --until`): `read` is the old name of `noticed`.
    pub fn parse_until(s: &str) -> Option<State> {
        match s {
            "noticed" | "read" => Some(State::Noticed),
            "seen" => Some(State::Seen),
            "answered" => Some(State::Answered),
            _ => None,
        }
    }

    /// Whether this state has reached `until`: a later state reaches an earlier one, `lost` none.
    pub fn reached(self, until: State) -> bool {
        self != State::Lost && self >= until
    }
}

/// One delivery, as the ledger's `delivered` event keeps it.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The message's id (`cm-…`).
    pub id: String,
    /// `TEAM/AGENT`.
    pub agent: String,
    /// The sender as written in the inbox.
    pub from: String,
    pub text: String,
    pub timestamp: String,
    pub inbox: PathBuf,
    /// The recipient's transcript when the delivery was made, and its length then: only lines
    /// written after that are read for this delivery.
    pub transcript: Option<(PathBuf, u64)>,
}

impl Delivery {
    /// From a `delivered` event's detail ([`crate::recipient::Recipient::delivered_detail`]).
    pub fn from_detail(id: &str, detail: &Value) -> Delivery {
        let s = |k: &str| detail[k].as_str().unwrap_or_default().to_string();
        let transcript = detail["transcript"]
            .as_str()
            .map(|t| (PathBuf::from(t), detail["transcript_offset"].as_u64().unwrap_or(0)));
        Delivery {
            id: id.to_string(),
            agent: s("agent"),
            from: s("from"),
            text: s("text"),
            timestamp: s("timestamp"),
            inbox: PathBuf::from(s("inbox")),
            transcript,
        }
    }

    fn at(&self) -> Option<OffsetDateTime> {
        when::parse_text(&self.timestamp, &Zone::utc())
    }
}

/// What the ledger already holds of a delivery: the states recorded.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub noticed: bool,
    pub seen: bool,
    pub answered: bool,
    pub lost: bool,
}

impl Recorded {
    /// From the events' names (`delivery_read`, the old name of `delivery_noticed`, counts).
    pub fn from_events<'a>(names: impl IntoIterator<Item = &'a str>) -> Recorded {
        let mut r = Recorded::default();
        for n in names {
            match n {
                "delivery_noticed" | "delivery_read" => r.noticed = true,
                "delivery_seen" => r.seen = true,
                "delivery_answered" => r.answered = true,
                "delivery_lost" => r.lost = true,
                _ => {}
            }
        }
        r
    }

    /// The furthest state recorded (`written` while none was).
    pub fn state(&self) -> State {
        match self {
            Recorded { answered: true, .. } => State::Answered,
            Recorded { lost: true, .. } => State::Lost,
            Recorded { seen: true, .. } => State::Seen,
            Recorded { noticed: true, .. } => State::Noticed,
            _ => State::Written,
        }
    }
}

/// A state newly reached, for the caller to record once: its event and detail.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub state: State,
    pub detail: Value,
}

/// A look at a delivery: its state now and the steps reached since the last record, in order.
#[derive(Debug, Clone)]
pub struct Look {
    pub state: State,
    pub steps: Vec<Step>,
    /// Noticed long ago and not seen, while the recipient's transcript moved on without it:
    /// `UNSEEN` in `status`, the failure Claude Code's users meet most.
    pub unseen: bool,
    /// The recipient's transcript this look read (none when it ended before reading one).
    pub transcript: Option<PathBuf>,
}

/// Looks at a delivery now: the inbox, the recipient's transcript (what was appended since the
/// last look) and the sender's inbox. `unseen_after`: how long a message may stay noticed
/// without being seen, while its recipient's transcript moves on, before it is `unseen`.
pub fn look(d: &Delivery, had: &Recorded, transcripts: &mut Transcripts, unseen_after: std::time::Duration) -> Look {
    let mut steps = Vec::new();
    // A recorded end is kept: no file is read for it.
    if had.answered || had.lost {
        return Look { state: had.state(), steps, unseen: false, transcript: None };
    }
    let in_inbox = read_flag(d, transcripts);
    let noticed = had.noticed || in_inbox == Some(Some(true));
    if !noticed && in_inbox == Some(None) {
        steps.push(Step { state: State::Lost, detail: json!({"inbox": d.inbox}) });
        return Look { state: State::Lost, steps, unseen: false, transcript: None };
    }
    if !noticed {
        return Look { state: State::Written, steps, unseen: false, transcript: None };
    }
    if !had.noticed {
        steps.push(Step { state: State::Noticed, detail: json!({"inbox": d.inbox}) });
    }
    let path = d.transcript.as_ref().map(|(p, _)| p.clone()).or_else(|| transcripts.locate(&d.agent));
    let mut seen = had.seen;
    let mut moved_on = false;
    if let Some(path) = &path {
        let from = d.transcript.as_ref().map_or(0, |(_, offset)| *offset);
        let log = transcripts.read(path, from);
        if !seen && let Some(r) = log.find(&d.from, &d.text, d.at()) {
            seen = true;
            steps.push(Step { state: State::Seen, detail: json!({"seen_at": r.timestamp, "transcript": path}) });
        }
        moved_on = log.last_line_at().zip(d.at()).is_some_and(|(line, delivered)| line > delivered);
    }
    let answered = answered_back(d, transcripts);
    if answered {
        steps.push(Step { state: State::Answered, detail: json!({"inbox": d.inbox}) });
        return Look { state: State::Answered, steps, unseen: false, transcript: path };
    }
    if seen {
        return Look { state: State::Seen, steps, unseen: false, transcript: path };
    }
    let waited = d.at().is_some_and(|at| OffsetDateTime::now_utc() - at > unseen_after);
    Look { state: State::Noticed, steps, unseen: moved_on && waited, transcript: path }
}

/// The delivered message's `read` flag in its inbox: `Some(Some(read))` while it is there,
/// `Some(None)` once it is not (or the inbox is gone), `None` when that cannot be told now.
/// Claude Code rewrites an inbox in place (truncate, then write, under its lock), so a reader
/// that does not take the lock can meet it empty or half written: that is not a message gone,
/// and taking it for one would record `lost` for good. Such a read is tried again a few times,
/// then left to the next look.
fn read_flag(d: &Delivery, transcripts: &mut Transcripts) -> Option<Option<bool>> {
    for attempt in 0..3u64 {
        match transcripts.inbox(&d.inbox, &d.agent) {
            Inbox::Missing => return Some(None),
            Inbox::Read(read) => return Some(read.flags.get(&d.id).copied()),
            Inbox::Unreadable => {}
        }
        std::thread::sleep(std::time::Duration::from_millis(5 * (attempt + 1)));
    }
    None
}

/// An inbox as a look finds it.
enum Inbox {
    /// No such file.
    Missing,
    /// Empty, cut off or not JSON: in the middle of a rewrite, or broken; either way, not a
    /// message gone.
    Unreadable,
    Read(std::sync::Arc<ReadInbox>),
}

/// An inbox file read and parsed, kept while its length and mtime stay the same: `serve` looks
/// at every pending delivery every second, and reading and parsing each one's inbox (and its
/// sender's) for each of them was most of what it did while nothing changed.
struct ReadInbox {
    len: u64,
    mtime: std::time::SystemTime,
    /// The read flag of each message, by its id (read for an agent; empty otherwise).
    flags: std::collections::HashMap<String, bool>,
    /// The messages (read for answers, agent `""`; empty otherwise).
    messages: Vec<claude::Message>,
}

/// What receipts need of the ledger (this crate knows none): the events kept under an id, and
/// a way to add the steps a look reached. The command line implements it over the ledger.
pub trait EventStore {
    /// The events kept under `id`, oldest first: (name, detail).
    fn events(&mut self, id: &str) -> Result<Vec<(String, Value)>, StoreError>;
    /// Keeps each step's event under `id`, in one write.
    fn record(&mut self, id: &str, steps: &[Step]) -> Result<(), StoreError>;
}

/// The ledger's own error, carried through.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct StoreError(pub Box<dyn std::error::Error + Send + Sync>);

/// A delivery's state now, recorded: [`look`] at the delivery kept under `id` (or, for a TASK
/// whose RETURN was appended to a Claude inbox, a `return_delivered` event naming the message,
/// at that message), its new steps kept in `store`. `None`: `id` is no delivery.
pub fn delivery(
    store: &mut dyn EventStore,
    transcripts: &mut Transcripts,
    id: &str,
    unseen_after: std::time::Duration,
) -> Result<Option<(Delivery, Look)>, StoreError> {
    let found = delivery_unsaved(store, transcripts, id, unseen_after);
    transcripts.save();
    found
}

/// [`delivery`], the transcripts' read positions left for the caller to save (once a pass).
fn delivery_unsaved(
    store: &mut dyn EventStore,
    transcripts: &mut Transcripts,
    id: &str,
    unseen_after: std::time::Duration,
) -> Result<Option<(Delivery, Look)>, StoreError> {
    let events = store.events(id)?;
    let Some((_, detail)) = events.iter().find(|(name, _)| name == "delivered") else {
        let message =
            events.iter().rev().find(|(n, _)| n == "return_delivered").and_then(|(_, d)| d["message"].as_str());
        return match message {
            Some(m) if m != id => delivery_unsaved(store, transcripts, m, unseen_after),
            _ => Ok(None),
        };
    };
    let d = Delivery::from_detail(id, detail);
    let had = Recorded::from_events(events.iter().map(|(n, _)| n.as_str()));
    let look = look(&d, &had, transcripts, unseen_after);
    if !look.steps.is_empty() {
        store.record(id, &look.steps)?;
    }
    Ok(Some((d, look)))
}

/// The deliveries among `ids` (newest first) that are `noticed`, not seen, while their
/// recipients' transcripts moved on for longer than `unseen_after` (`status`'s UNSEEN), each
/// `{id, agent, from, delivered_at, transcript}`; each one's new steps recorded ([`delivery`]).
pub fn unseen(
    store: &mut dyn EventStore,
    transcripts: &mut Transcripts,
    ids: &[String],
    unseen_after: std::time::Duration,
) -> Result<Vec<Value>, StoreError> {
    let mut out = Vec::new();
    let mut looked = Ok(());
    for id in ids {
        let found = match delivery_unsaved(store, transcripts, id, unseen_after) {
            Ok(f) => f,
            Err(e) => {
                looked = Err(e);
                break;
            }
        };
        let Some((d, l)) = found else { continue };
        if l.unseen {
            out.push(json!({"id": id, "agent": d.agent, "from": d.from, "delivered_at": d.timestamp,
                            "transcript": l.transcript}));
        }
    }
    // The read positions, once for the pass (a file write per delivery was a write per second
    // per pending message in `serve`).
    transcripts.save();
    looked.map(|()| out)
}

/// Whether the recipient wrote back to the sender's inbox (in the same team) after the delivery.
fn answered_back(d: &Delivery, transcripts: &mut Transcripts) -> bool {
    answer_to(d, transcripts).is_some()
}

/// The recipient's first message back to the sender after the delivery (in the sender's inbox
/// of the same team, as Claude Code's `SendMessage` writes it), with that inbox: what makes a
/// delivery `answered`, and what an A2A client reads as the answer. The inbox is read through
/// `transcripts`, so a look that has just found the delivery answered reads it no second time.
pub fn answer_to(d: &Delivery, transcripts: &mut Transcripts) -> Option<(PathBuf, claude::Message)> {
    let back = d.inbox.with_file_name(format!("{}.json", d.from));
    let Inbox::Read(inbox) = transcripts.inbox(&back, "") else { return None };
    let short = d.agent.rsplit('/').next().unwrap_or(&d.agent);
    let sent_at = d.at()?;
    let m = inbox.messages.iter().find(|m| m.from == short && m.at.is_some_and(|a| a > sent_at))?;
    Some((back, m.clone()))
}

/// How many delivered messages a transcript's log keeps (the newest): enough for every
/// message pending at once, small enough to rewrite at each look.
const KEPT: usize = 512;

/// One transcript as read so far: its cursor, and the messages its recent lines delivered
/// (sender, a hash of the text, the line's time), so every delivery to that recipient is
/// matched against lines read once, whoever looked first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Log {
    pub cursor: Cursor,
    #[serde(default)]
    pub received: Vec<Got>,
}

/// A message a transcript line delivered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Got {
    pub teammate: String,
    pub text_sha: String,
    pub timestamp: String,
}

impl Log {
    fn find(&self, from: &str, text: &str, delivered: Option<OffsetDateTime>) -> Option<&Got> {
        let sha = text_sha(text.trim());
        self.received.iter().find(|g| {
            let after = match (when::parse_text(&g.timestamp, &Zone::utc()), delivered) {
                (Some(line), Some(d)) => line >= d,
                _ => true,
            };
            after && g.teammate == from && g.text_sha == sha
        })
    }

    fn last_line_at(&self) -> Option<OffsetDateTime> {
        self.cursor.last_line_at.as_deref().and_then(|t| when::parse_text(t, &Zone::utc()))
    }
}

fn text_sha(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// The transcripts of the claude-team mailboxes, as read so far: kept in one small file beside
/// the state (`transcripts.json`), so `serve` and one-shot commands (`show`, `status`, `wait`)
/// each read only what was appended since any of them last looked.
pub struct Transcripts {
    file: Option<PathBuf>,
    /// Each claude-team mailbox's teams folder and its transcripts folder.
    roots: Vec<(PathBuf, PathBuf)>,
    logs: BTreeMap<PathBuf, Log>,
    changed: bool,
    /// Where each agent's transcript was found, or when it was last looked for in vain (a
    /// teammate's transcript may come later): `serve` looks every second, and a walk of the
    /// transcripts folder per pending message per second would be most of its work.
    located: std::collections::HashMap<String, (Option<PathBuf>, std::time::Instant)>,
    /// The inboxes read, kept while unchanged ([`ReadInbox`]), by path and the agent whose
    /// message ids were computed.
    inboxes: std::collections::HashMap<(PathBuf, String), std::sync::Arc<ReadInbox>>,
}

/// How long "no transcript" stands before the folder is walked again.
const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(30);

impl Transcripts {
    /// The logs kept in `file` (none yet: empty), for the teams under `teams_roots` (each a
    /// claude-team mailbox's teams folder and its transcripts folder). Reads nothing else now:
    /// a team's lead session is read from its `config.json` when one of its agents is looked for.
    pub fn open(file: Option<PathBuf>, teams_roots: &[(PathBuf, PathBuf)]) -> Transcripts {
        let logs = file
            .as_deref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        Transcripts {
            file,
            roots: teams_roots.to_vec(),
            logs,
            changed: false,
            located: Default::default(),
            inboxes: Default::default(),
        }
    }

    /// The inbox at `path`, read again only when its length or mtime moved; its messages' ids
    /// are `agent`'s (`""`: not needed). An unreadable one is not kept.
    fn inbox(&mut self, path: &Path, agent: &str) -> Inbox {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Inbox::Missing,
            Err(_) => return Inbox::Unreadable,
        };
        let mtime = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        let key = (path.to_path_buf(), agent.to_string());
        if let Some(known) = self.inboxes.get(&key)
            && known.len == meta.len()
            && known.mtime == mtime
        {
            return Inbox::Read(known.clone());
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Inbox::Missing,
            Err(_) => return Inbox::Unreadable,
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Inbox::Unreadable;
        }
        let Ok((messages, _)) = claude::parse_inbox(&bytes) else { return Inbox::Unreadable };
        // Read for an agent, an inbox answers read flags and its messages are dropped here;
        // read for answers (`""`), it keeps its messages and no flags. An inbox grows to
        // megabytes (Claude Code never removes a message), and `serve` keeps what it read.
        let (flags, messages) = if agent.is_empty() {
            (Default::default(), messages)
        } else {
            let flags =
                messages.iter().map(|m| (claude::message_id(agent, &m.from, &m.timestamp, &m.text), m.read)).collect();
            (flags, Vec::new())
        };
        // Kept by the length read, so a file that grew between the stat and the read is read
        // again next time.
        let read = std::sync::Arc::new(ReadInbox { len: bytes.len() as u64, mtime, flags, messages });
        if self.inboxes.len() > 4096 {
            self.inboxes.clear();
        }
        self.inboxes.insert(key, read.clone());
        Inbox::Read(read)
    }

    /// `TEAM/AGENT`'s transcript, if it can be told ([`transcript::locate`]).
    pub fn locate(&mut self, agent: &str) -> Option<PathBuf> {
        if let Some((found, at)) = self.located.get(agent)
            && (found.is_some() || at.elapsed() < LOOK_AGAIN)
        {
            return found.clone();
        }
        let found = self.find(agent);
        self.located.insert(agent.to_string(), (found.clone(), std::time::Instant::now()));
        found
    }

    fn find(&self, agent: &str) -> Option<PathBuf> {
        let (team, name) = agent.split_once('/')?;
        let (root, projects) = self.roots.iter().find(|(root, _)| root.join(team).is_dir())?;
        let config = std::fs::read(root.join(team).join("config.json")).ok();
        let lead = config.and_then(|b| claude::parse_roster(&b).ok()).and_then(|r| r.lead_session);
        transcript::locate(projects, team, name, lead.as_deref())
    }

    /// The transcript's log after reading what was appended since the last look (from `from`,
    /// the delivery's offset, when it was never read).
    fn read(&mut self, path: &Path, from: u64) -> &Log {
        let log = self
            .logs
            .entry(path.to_path_buf())
            .or_insert_with(|| Log { cursor: Cursor { offset: from, last_line_at: None }, received: Vec::new() });
        let before = log.cursor.clone();
        if let Ok(got) = log.cursor.read_new(path) {
            log.received.extend(got.into_iter().map(|r| Got {
                teammate: r.teammate,
                text_sha: text_sha(&r.text),
                timestamp: r.timestamp,
            }));
            let over = log.received.len().saturating_sub(KEPT);
            log.received.drain(..over);
        }
        self.changed |= log.cursor != before;
        log
    }

    /// Writes the logs back (temp file, then rename) when a look moved a cursor. A failure is
    /// only a re-read next time.
    pub fn save(&mut self) {
        let Some(file) = self.file.as_deref().filter(|_| self.changed) else { return };
        let Ok(bytes) = serde_json::to_vec(&self.logs) else { return };
        let tmp = file.with_extension(format!("json.{}.tmp", std::process::id()));
        if std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, file)).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        self.changed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbox_with(path: &Path, read: bool) -> (String, Delivery) {
        let text = "Please review the auth module.";
        let ts = "2026-11-28T10:00:00.000Z";
        std::fs::write(path, json!([{"from": "team-lead", "text": text, "timestamp": ts, "read": read}]).to_string())
            .unwrap();
        let id = claude::message_id("alpha/worker", "team-lead", ts, text);
        let d = Delivery {
            id: id.clone(),
            agent: "alpha/worker".into(),
            from: "team-lead".into(),
            text: text.into(),
            timestamp: ts.into(),
            inbox: path.to_path_buf(),
            transcript: None,
        };
        (id, d)
    }

    fn line(kind: &str, ts: &str, text: &str) -> String {
        let content =
            format!("<teammate-message teammate_id=\"team-lead\" color=\"blue\">\n{text}\n</teammate-message>");
        format!("{}\n", json!({"type": kind, "timestamp": ts, "message": {"role": kind, "content": content}}))
    }

    /// What `serve` keeps of an inbox it looked at is what the look needs: read for an agent,
    /// the read flags and no message; read for answers, the messages and no flag (an inbox
    /// grows to megabytes, and a copy of it per look kept `serve`'s memory growing with it).
    #[test]
    fn a_kept_inbox_holds_flags_for_an_agent_and_messages_for_answers_never_both() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("worker.json");
        let (id, _) = inbox_with(&path, true);
        let mut t = Transcripts::open(None, &[]);
        let Inbox::Read(for_agent) = t.inbox(&path, "alpha/worker") else { panic!("the inbox reads") };
        assert_eq!(for_agent.flags.get(&id), Some(&true), "the flag is found by the message's id");
        assert!(for_agent.messages.is_empty(), "read for an agent, no message is kept");
        let Inbox::Read(for_answers) = t.inbox(&path, "") else { panic!("the inbox reads") };
        assert_eq!(for_answers.messages.len(), 1, "read for answers, the messages are kept");
        assert!(for_answers.flags.is_empty(), "and no flag");
    }

    #[test]
    fn states_follow_the_inbox_then_the_transcript_then_the_answer() {
        let d = tempfile::tempdir().unwrap();
        let teams = d.path().join("teams");
        let inboxes = teams.join("alpha/inboxes");
        std::fs::create_dir_all(&inboxes).unwrap();
        let sub = d.path().join("projects/-repo/s1/subagents");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("agent-w.meta.json"), r#"{"name": "worker", "teamName": "alpha"}"#).unwrap();
        let transcript = sub.join("agent-w.jsonl");
        std::fs::write(&transcript, line("user", "2026-11-28T09:00:00.000Z", "an older message")).unwrap();
        let (_, delivery) = inbox_with(&inboxes.join("worker.json"), false);
        let roots = [(teams.clone(), d.path().join("projects"))];
        let store = d.path().join("transcripts.json");
        let hour = std::time::Duration::from_secs(3600);
        let mut t = Transcripts::open(Some(store.clone()), &roots);
        let l = look(&delivery, &Recorded::default(), &mut t, hour);
        assert_eq!((l.state, l.steps.len()), (State::Written, 0));
        // Claude Code queued it: noticed, not seen.
        inbox_with(&inboxes.join("worker.json"), true);
        let l = look(&delivery, &Recorded::default(), &mut t, hour);
        assert_eq!(l.state, State::Noticed);
        assert_eq!(l.steps.iter().map(|s| s.state).collect::<Vec<_>>(), [State::Noticed]);
        let had = Recorded { noticed: true, ..Default::default() };
        // The model's own phantom is no delivery; then the real user line.
        let mut f = std::fs::OpenOptions::new().append(true).open(&transcript).unwrap();
        use std::io::Write;
        f.write_all(line("assistant", "2026-11-28T10:00:02.000Z", "Please review the auth module.").as_bytes())
            .unwrap();
        assert_eq!(look(&delivery, &had, &mut t, hour).state, State::Noticed);
        f.write_all(line("user", "2026-11-28T10:00:03.000Z", "Please review the auth module.").as_bytes()).unwrap();
        t.save();
        // Another process (a fresh look from the saved logs) sees it too, reading only the new line.
        let mut t2 = Transcripts::open(Some(store), &roots);
        let l = look(&delivery, &had, &mut t2, hour);
        assert_eq!(l.state, State::Seen);
        assert_eq!(l.steps[0].detail["seen_at"], "2026-11-28T10:00:03.000Z");
        assert_eq!(l.steps[0].detail["transcript"], json!(transcript));
        // The worker writes back to the lead after the delivery: answered.
        std::fs::write(
            inboxes.join("team-lead.json"),
            json!([{"from": "worker", "text": "done", "timestamp": "2026-11-28T10:05:00.000Z", "read": false}])
                .to_string(),
        )
        .unwrap();
        let had = Recorded { noticed: true, seen: true, ..Default::default() };
        assert_eq!(look(&delivery, &had, &mut t2, hour).state, State::Answered);
    }

    #[test]
    fn noticed_long_ago_while_the_transcript_moved_on_is_unseen_and_gone_unnoticed_is_lost() {
        let d = tempfile::tempdir().unwrap();
        let inboxes = d.path().join("teams/alpha/inboxes");
        std::fs::create_dir_all(&inboxes).unwrap();
        let transcript = d.path().join("t.jsonl");
        std::fs::write(&transcript, line("user", "2026-11-28T11:00:00.000Z", "something else")).unwrap();
        let (_, mut delivery) = inbox_with(&inboxes.join("worker.json"), true);
        delivery.transcript = Some((transcript.clone(), 0));
        let mut t = Transcripts::open(None, &[]);
        let had = Recorded { noticed: true, ..Default::default() };
        let l = look(&delivery, &had, &mut t, std::time::Duration::from_secs(600));
        assert_eq!((l.state, l.unseen), (State::Noticed, true));
        // Without a transcript, noticed stays unflagged.
        delivery.transcript = None;
        let l = look(&delivery, &had, &mut Transcripts::open(None, &[]), std::time::Duration::from_secs(600));
        assert_eq!((l.state, l.unseen), (State::Noticed, false));
        // Gone from the inbox before it was noticed.
        std::fs::write(inboxes.join("worker.json"), "[]").unwrap();
        let l = look(&delivery, &Recorded::default(), &mut t, std::time::Duration::from_secs(600));
        assert_eq!(l.state, State::Lost);
        assert!(State::Answered.reached(State::Seen) && !State::Lost.reached(State::Noticed));
        assert_eq!(State::parse_until("read"), Some(State::Noticed));
    }

    /// Claude Code rewrites an inbox in place: a look in the middle meets it empty or cut off.
    /// That is no message gone: nothing is recorded, and the next look sees it again.
    #[test]
    fn an_inbox_met_mid_rewrite_is_no_loss() {
        let d = tempfile::tempdir().unwrap();
        let inboxes = d.path().join("teams/alpha/inboxes");
        std::fs::create_dir_all(&inboxes).unwrap();
        let inbox = inboxes.join("worker.json");
        let (_, delivery) = inbox_with(&inbox, false);
        let whole = std::fs::read_to_string(&inbox).unwrap();
        let mut t = Transcripts::open(None, &[]);
        let hour = std::time::Duration::from_secs(3600);
        for torn in [String::new(), whole[..whole.len() / 2].to_string(), "[".into()] {
            std::fs::write(&inbox, &torn).unwrap();
            let l = look(&delivery, &Recorded::default(), &mut t, hour);
            assert_eq!((l.state, l.steps.len()), (State::Written, 0), "{torn:?}");
            let had = Recorded { noticed: true, ..Default::default() };
            assert_eq!(look(&delivery, &had, &mut t, hour).state, State::Noticed, "{torn:?}");
        }
        std::fs::write(&inbox, &whole).unwrap();
        assert_eq!(look(&delivery, &Recorded::default(), &mut t, hour).state, State::Written);
        // The inbox file gone: the message is.
        std::fs::remove_file(&inbox).unwrap();
        assert_eq!(look(&delivery, &Recorded::default(), &mut t, hour).state, State::Lost);
    }
}
