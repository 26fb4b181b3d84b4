//! The handoffs tree as the user's agents use it: every agent folder (an `01_inbox/` or
//! `02_processed/` inside it) found under the handoffs root, every file in them read in its
//! dialect ([`baton_handoff::dialect`]), RETURNs linked to the TASKs they answer, and each
//! handoff's state: open, taken, answered, stale, unread, or unreadable with its reason.
//!
//! Read-only by construction: this module opens files for reading and lists folders, and has
//! no code that writes, moves or renames. `baton status`, `baton adopt` and the dashboard
//! all show this one report, so they cannot disagree.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use baton_handoff::dialect::{self, Kind, Match, Seen, fold_agent, fold_title};

mod filed;

/// A map hashed with Fx, not SipHash: local names, hashed at every look.
type FxHashMap<K, V> = std::collections::HashMap<K, V, rustc_hash::FxBuildHasher>;

/// Where new work lands in an agent's folder.
pub const INBOX: &str = "01_inbox";
/// Where an agent files what it took.
pub const PROCESSED: &str = "02_processed";
/// An open handoff older than this is stale, unless `[handoffs] stale_after` says otherwise.
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(48 * 3600);
/// Agent folders are looked for this many levels below the root (`agents/agent-triggers/<Agent>`).
const MAX_DEPTH: usize = 4;
/// Markdown triggers are read up to this many bytes (their header is at the top).
const MARKDOWN_BYTES: u64 = 64 << 10;

/// `handoffs` in baton.toml: a path (`handoffs = "handoffs"`), or a table
/// (`[handoffs]` with `path` and `stale_after = "48h"`).
#[derive(Debug, Clone, PartialEq)]
pub struct HandoffsSetting {
    pub path: PathBuf,
    pub stale_after: Duration,
    /// How long a message delivered into a Claude Code inbox may stay noticed, not seen, while
    /// its recipient's transcript moves on, before `status` calls it UNSEEN.
    pub unseen_after: Duration,
    /// How long a TASK's input request waits for its answer before the TASK fails
    /// `input_timeout` (a TASK's own `input_timeout_secs` wins).
    pub input_timeout: Duration,
}

/// `unseen_after`'s default: 10 minutes.
pub const DEFAULT_UNSEEN_AFTER: Duration = Duration::from_secs(600);
/// `input_timeout`'s default: 24 hours.
pub const DEFAULT_INPUT_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

impl Default for HandoffsSetting {
    fn default() -> Self {
        HandoffsSetting {
            path: "handoffs".into(),
            stale_after: DEFAULT_STALE_AFTER,
            unseen_after: DEFAULT_UNSEEN_AFTER,
            input_timeout: DEFAULT_INPUT_TIMEOUT,
        }
    }
}

impl From<&str> for HandoffsSetting {
    fn from(path: &str) -> Self {
        HandoffsSetting { path: path.into(), ..Default::default() }
    }
}

impl AsRef<Path> for HandoffsSetting {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

/// `48h`, `2d`, `90m`, `30s`, or a number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

impl<'de> Deserialize<'de> for HandoffsSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let v = toml::Value::deserialize(d)?;
        let mut out = HandoffsSetting::default();
        match v {
            toml::Value::String(p) => out.path = p.into(),
            toml::Value::Table(t) => {
                for (k, v) in t {
                    match (k.as_str(), v) {
                        ("path", toml::Value::String(p)) => out.path = p.into(),
                        ("stale_after", toml::Value::String(s)) => {
                            out.stale_after = parse_duration(&s).ok_or_else(|| {
                                D::Error::custom(format!(
                                    "handoffs.stale_after: {s:?} is not a duration such as \"48h\", \"2d\", \"90m\""
                                ))
                            })?
                        }
                        ("stale_after", toml::Value::Integer(n)) if n >= 0 => {
                            out.stale_after = Duration::from_secs(n as u64)
                        }
                        ("unseen_after", toml::Value::String(s)) => {
                            out.unseen_after = parse_duration(&s).ok_or_else(|| {
                                D::Error::custom(format!(
                                    "handoffs.unseen_after: {s:?} is not a duration such as \"10m\", \"1h\", \"90s\""
                                ))
                            })?
                        }
                        ("unseen_after", toml::Value::Integer(n)) if n >= 0 => {
                            out.unseen_after = Duration::from_secs(n as u64)
                        }
                        ("input_timeout", toml::Value::String(s)) => {
                            out.input_timeout = parse_duration(&s).filter(|d| !d.is_zero()).ok_or_else(|| {
                                D::Error::custom(format!(
                                    "handoffs.input_timeout: {s:?} is not a duration such as \"24h\", \"30m\", \"90s\""
                                ))
                            })?
                        }
                        ("input_timeout", toml::Value::Integer(n)) if n > 0 => {
                            out.input_timeout = Duration::from_secs(n as u64)
                        }
                        (k, _) => {
                            return Err(D::Error::custom(format!(
                                "handoffs.{k}: unknown or of the wrong type (the [handoffs] table takes `path` = \"folder\", `stale_after` = \"48h\", `unseen_after` = \"10m\" and `input_timeout` = \"24h\")"
                            )));
                        }
                    }
                }
            }
            _ => {
                return Err(D::Error::custom(
                    "handoffs: a folder path, or a [handoffs] table with `path` and `stale_after`",
                ));
            }
        }
        Ok(out)
    }
}

/// Which of an agent's folders a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Inbox,
    Processed,
}

impl Place {
    fn as_str(self) -> &'static str {
        match self {
            Place::Inbox => INBOX,
            Place::Processed => PROCESSED,
        }
    }
}

/// One agent's folder.
#[derive(Debug, Clone)]
pub struct AgentFolder {
    /// The folder's name (`Claude-MM1-Agent`).
    pub name: String,
    /// Its path below the root (`agents/agent-triggers/Claude-MM1-Agent`).
    pub rel: String,
    pub path: PathBuf,
}

/// Agent folders under `root`: folders holding an `01_inbox/` or `02_processed/`, up to
/// [`MAX_DEPTH`] levels down (dot folders skipped, nothing below an agent folder searched).
/// `skip` names folders left out (baton's own, at the root).
pub fn agent_folders(root: &Path, skip: Option<&str>) -> Vec<AgentFolder> {
    let mut out = Vec::new();
    // A root that is itself one agent's folder (`baton adopt ~/…/Claude-MM1`) is that agent.
    if root.join(INBOX).is_dir() || root.join(PROCESSED).is_dir() {
        let name = root.file_name().map_or_else(|| ".".into(), |n| n.to_string_lossy().into_owned());
        out.push(AgentFolder { name, rel: ".".into(), path: root.to_path_buf() });
        return out;
    }
    walk(root, root, 0, skip, &mut out);
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

fn walk(root: &Path, dir: &Path, depth: usize, skip: Option<&str>, out: &mut Vec<AgentFolder>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        let Some(name) = e.file_name().to_str().map(str::to_string) else { continue };
        if !ft.is_dir() || name.starts_with('.') || name == INBOX || name == PROCESSED || name == "03_failed" {
            continue;
        }
        if depth == 0 && skip.is_some_and(|s| baton_handoff::names::same_name(s, &name)) {
            continue;
        }
        let path = e.path();
        if path.join(INBOX).is_dir() || path.join(PROCESSED).is_dir() {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_string_lossy().into_owned();
            out.push(AgentFolder { name, rel, path });
        } else if depth + 1 < MAX_DEPTH {
            walk(root, &path, depth + 1, skip, out);
        }
    }
}

/// Why an entry of an agent's folder was not read as a handoff (`status` lists the reason).
#[derive(Debug, Clone, thiserror::Error)]
pub enum NotRead {
    #[error("a symlink (baton never follows links)")]
    Symlink,
    #[error("a folder, not a file")]
    Folder,
    #[error("not a regular file")]
    NotAFile,
    #[error("{len} bytes, over the {max_bytes} byte cap (max_file_bytes); not read")]
    TooBig { len: u64, max_bytes: u64 },
    #[error("cannot read: {0}")]
    Io(std::sync::Arc<std::io::Error>),
    /// Read, and not a handoff in any dialect.
    #[error(transparent)]
    Unreadable(#[from] dialect::Unreadable),
}

/// One file of an agent's folder, read.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index into [`Report::agents`].
    pub agent: usize,
    pub place: Place,
    pub file: String,
    /// Boxed: a hundred thousand entries move and sort as pointers, not as whole readings.
    pub read: Result<Box<Seen>, NotRead>,
    /// Seconds since it was created (its body's time, else the file's mtime).
    pub age_secs: Option<i64>,
    /// The same name is in both `01_inbox/` and `02_processed/` (listed once, as in the inbox).
    pub also_in_processed: bool,
    /// For a TASK: the RETURN that answers it (entry index, how it was linked).
    pub answered_by: Option<(usize, &'static str)>,
    /// For a RETURN: the TASK it answers.
    pub answers: Option<(usize, &'static str)>,
}

/// The whole tree, read.
#[derive(Debug, Clone)]
pub struct Report {
    pub root: PathBuf,
    pub stale_after: Duration,
    pub agents: Vec<AgentFolder>,
    pub entries: Vec<Entry>,
    /// Agent names in handoffs that fold to several folders: listed, never guessed.
    pub ambiguous: BTreeMap<String, Vec<String>>,
}

/// Reads the tree under `root` (baton's own folder, `self_agent`, left out: the ledger tracks
/// it). Files over `max_bytes` are unreadable unread. `cache`: the folder where filed files'
/// readings are kept between runs ([`filed`]); `None` reads every file.
pub fn scan(root: &Path, self_agent: &str, stale_after: Duration, max_bytes: u64, cache: Option<&Path>) -> Report {
    let agents = agent_folders(root, Some(self_agent));
    let mut reader = Reader { now: baton_handoff::stamp::now(), max_bytes, entries: Vec::new() };
    let filed_dirs: Vec<PathBuf> = agents.iter().map(|a| a.path.join(PROCESSED)).collect();
    let mut kept = filed::Filed::open(cache, root, &filed_dirs);
    for (ai, a) in agents.iter().enumerate() {
        let inbox: Vec<String> = reader.list(ai, &a.path.join(INBOX));
        let dir = a.path.join(PROCESSED);
        let mtime = std::fs::metadata(&dir).and_then(|m| m.modified()).ok();
        if let Some(mut folder) = kept.unchanged(&dir, mtime) {
            reader.entries.reserve(folder.items.len());
            for it in &mut folder.items {
                reader.cached(ai, &dir, it, &inbox);
            }
            kept.keep(dir, folder, mtime, false);
        } else if let Ok(list) = std::fs::read_dir(&dir) {
            let mut names: Vec<std::ffi::OsString> = list.flatten().map(|e| e.file_name()).collect();
            names.sort();
            let mut folder = filed::Folder::default();
            // A name that is not UTF-8 is not kept: its folder is listed again at every look.
            let all_kept = names.iter().all(|n| n.to_str().is_some());
            for name in names {
                if let Some(it) = reader.filed(ai, &dir, &name, &inbox, &kept) {
                    folder.items.push(it);
                }
            }
            kept.keep(dir, folder, mtime.filter(|_| all_kept), true);
        }
    }
    kept.save(|i| reader.entries.get(i).and_then(|e| Some((e.file.clone(), e.read.as_ref().ok()?.clone()))));
    let mut report =
        Report { root: root.to_path_buf(), stale_after, agents, entries: reader.entries, ambiguous: BTreeMap::new() };
    report.find_ambiguous();
    report.link();
    report
}

/// The entries of a scan as they are read.
struct Reader {
    now: time::OffsetDateTime,
    max_bytes: u64,
    entries: Vec<Entry>,
}

impl Reader {
    /// Reads every entry of agent `ai`'s inbox `dir`; their names, for the filed copies of them.
    fn list(&mut self, ai: usize, dir: &Path) -> Vec<String> {
        let Ok(list) = std::fs::read_dir(dir) else { return Vec::new() };
        let mut names: Vec<std::ffi::OsString> = list.flatten().map(|e| e.file_name()).collect();
        names.sort();
        let mut out = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let meta = std::fs::symlink_metadata(&path).map_err(std::sync::Arc::new);
            let file = name.to_string_lossy().into_owned();
            let read = match &meta {
                Ok(m) if m.is_dir() => Err(NotRead::Folder),
                Ok(m) => self.read(&path, &file, m),
                Err(err) => Err(NotRead::Io(err.clone())),
            };
            self.push_at(ai, Place::Inbox, file.clone(), read, meta.ok().and_then(|m| m.modified().ok()), None);
            out.push(file);
        }
        out.sort();
        out
    }

    /// Reads one entry of a filed folder (its last reading, when the file is as it was); the
    /// item to keep for it (none for a name that is not UTF-8). A folder inside is no handoff,
    /// and skipped.
    fn filed(
        &mut self,
        ai: usize,
        dir: &Path,
        name: &std::ffi::OsStr,
        inbox: &[String],
        kept: &filed::Filed,
    ) -> Option<filed::Item> {
        let path = dir.join(name);
        let utf8 = name.to_str();
        let meta = std::fs::symlink_metadata(&path);
        let (len, mtime) = meta
            .as_ref()
            .map_or((0, std::time::UNIX_EPOCH), |m| (m.len(), m.modified().unwrap_or(std::time::UNIX_EPOCH)));
        if meta.as_ref().is_ok_and(|m| m.is_dir()) {
            return utf8.map(|n| kept.item(n, len, mtime, None, None));
        }
        let file = name.to_string_lossy().into_owned();
        let read = match meta {
            Ok(m) if m.is_file() => match utf8.and_then(|n| kept.reading(dir, n, len, mtime)) {
                Some(seen) => Ok(Box::new(seen.clone())),
                None => self.read(&path, &file, &m),
            },
            Ok(m) => self.read(&path, &file, &m),
            Err(err) => Err(NotRead::Io(std::sync::Arc::new(err))),
        };
        let created = read.as_ref().ok().and_then(|s| created_secs(s));
        let item = utf8.map(|n| kept.item(n, len, mtime, read.as_deref().ok(), created));
        self.push_filed(ai, file, read, Some(mtime), inbox, created);
        item
    }

    /// One entry of a filed folder that did not change since it was listed: its name and
    /// reading moved into the entry (lent, see [`filed::Item::lent`]).
    fn cached(&mut self, ai: usize, dir: &Path, it: &mut filed::Item, inbox: &[String]) {
        match it.seen.take() {
            // The same name in the inbox: listed there, the reading stays in the item.
            Some(seen) if inbox.binary_search(&it.name).is_ok() => {
                self.also_filed(ai, &it.name);
                it.seen = Some(seen);
            }
            Some(seen) => {
                it.lent = Some(self.entries.len());
                let file = std::mem::take(&mut it.name);
                self.push_at(ai, Place::Processed, file, Ok(seen), Some(it.modified()), it.created);
            }
            None => {
                let path = dir.join(&it.name);
                let (read, mtime) = match std::fs::symlink_metadata(&path) {
                    Ok(m) if m.is_dir() => return,
                    Ok(m) => (self.read(&path, &it.name, &m), m.modified().ok()),
                    Err(err) => (Err(NotRead::Io(std::sync::Arc::new(err))), None),
                };
                self.push_filed(ai, it.name.clone(), read, mtime, inbox, None);
            }
        }
    }

    /// A file's reading, or why it is not read: links are never followed.
    fn read(&self, path: &Path, file: &str, m: &std::fs::Metadata) -> Result<Box<Seen>, NotRead> {
        if m.file_type().is_symlink() {
            Err(NotRead::Symlink)
        } else if !m.is_file() {
            Err(NotRead::NotAFile)
        } else {
            read_one(path, file, m.len(), self.max_bytes)
        }
    }

    /// A filed entry, unless the inbox holds the same name (then the inbox's is marked).
    fn push_filed(
        &mut self,
        ai: usize,
        file: String,
        read: Result<Box<Seen>, NotRead>,
        mtime: Option<std::time::SystemTime>,
        inbox: &[String],
        created: Option<i64>,
    ) {
        if inbox.binary_search(&file).is_ok() {
            self.also_filed(ai, &file);
        } else {
            self.push_at(ai, Place::Processed, file, read, mtime, created);
        }
    }

    /// Marks agent `ai`'s inbox entry `file`: the same name is filed too.
    fn also_filed(&mut self, ai: usize, file: &str) {
        if let Some(prev) = self.entries.iter_mut().rev().find(|x| x.agent == ai && x.file == file) {
            prev.also_in_processed = true;
        }
    }

    /// An entry; its age from `created` (its body's time, seconds since the epoch: kept in the
    /// cache, else read from `read`), else from the file's mtime.
    fn push_at(
        &mut self,
        ai: usize,
        place: Place,
        file: String,
        read: Result<Box<Seen>, NotRead>,
        mtime: Option<std::time::SystemTime>,
        created: Option<i64>,
    ) {
        let created = created.or_else(|| read.as_deref().ok().and_then(created_secs));
        let mtime_age = || mtime.and_then(|t| t.elapsed().ok()).map(|d| d.as_secs() as i64);
        let age_secs = created.map(|t| self.now.unix_timestamp() - t).or_else(mtime_age);
        self.entries.push(Entry {
            agent: ai,
            place,
            file,
            read,
            age_secs,
            also_in_processed: false,
            answered_by: None,
            answers: None,
        });
    }
}

/// A reading's `created_at`, as seconds since the epoch.
fn created_secs(s: &Seen) -> Option<i64> {
    s.created_at.as_deref().and_then(baton_handoff::stamp::parse_rfc3339).map(|t| t.unix_timestamp())
}

fn read_one(path: &Path, file: &str, len: u64, max_bytes: u64) -> Result<Box<Seen>, NotRead> {
    if let Some(reason) = dialect::unreadable_by_name(file) {
        return Err(dialect::Unreadable::Name(reason).into());
    }
    let markdown = dialect::is_markdown(file);
    if !markdown && len > max_bytes {
        return Err(NotRead::TooBig { len, max_bytes });
    }
    let cap = if markdown { MARKDOWN_BYTES.min(len) } else { len };
    let bytes = read_prefix(path, cap).map_err(|e| NotRead::Io(e.into()))?;
    Ok(Box::new(dialect::read(file, &bytes)?))
}

fn read_prefix(path: &Path, cap: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut out = Vec::with_capacity(cap as usize);
    f.take(cap).read_to_end(&mut out)?;
    Ok(out)
}

impl Report {
    fn seen(&self, i: usize) -> Option<&Seen> {
        self.entries[i].read.as_deref().ok()
    }

    /// The agent an entry is addressed to: its body's recipient, else the folder it is in
    /// (for a TASK; a RETURN in an inbox is for that inbox's agent too).
    fn to_of(&self, i: usize) -> String {
        let e = &self.entries[i];
        self.seen(i).and_then(|s| s.to.clone()).unwrap_or_else(|| self.agents[e.agent].name.clone())
    }

    /// Names in the handoffs that match several agent folders (listed by their path below
    /// the root, since two folders of one name can sit in two places).
    fn find_ambiguous(&mut self) {
        let folders: Vec<&str> = self.agents.iter().map(|a| a.name.as_str()).collect();
        let mut amb = BTreeMap::new();
        // Each name is matched once: a hundred thousand filed handoffs name a few agents.
        let mut looked: std::collections::HashSet<&str, rustc_hash::FxBuildHasher> = Default::default();
        let mut last: [&str; 2] = ["", ""];
        for e in &self.entries {
            let Ok(s) = &e.read else { continue };
            for (k, name) in [&s.from, &s.to].into_iter().enumerate() {
                let Some(name) = name else { continue };
                // Neighbours in a folder name the same agents: compared before hashed.
                if last[k] == name.as_str() || !looked.insert(name.as_str()) {
                    last[k] = name.as_str();
                    continue;
                }
                last[k] = name.as_str();
                if let Match::Ambiguous(found) = dialect::match_folder(name, &folders) {
                    let rels: Vec<String> = self
                        .agents
                        .iter()
                        .filter(|a| found.contains(&a.name.as_str()))
                        .map(|a| a.rel.clone())
                        .collect();
                    amb.insert(name.clone(), rels);
                }
            }
        }
        self.ambiguous = amb;
    }

    /// Links each RETURN to the TASK it answers: by id (`in_reply_to`), else by the TASK's
    /// file name (`original_handoff.handoff_file`), else by the same title between the same
    /// two agents. Where several TASKs fit equally, none is picked.
    fn link(&mut self) {
        let tasks: Vec<usize> =
            (0..self.entries.len()).filter(|&i| self.seen(i).is_some_and(|s| s.kind == Kind::Task)).collect();
        let returns: Vec<usize> =
            (0..self.entries.len()).filter(|&i| self.seen(i).is_some_and(|s| s.kind == Kind::Return)).collect();
        let by_id = Keyed::of(tasks.iter().filter_map(|&t| Some((self.seen(t)?.id.as_deref()?, t))), tasks.len());
        // By file name: only when a RETURN names its TASK's file (most name its id).
        let by_file = if returns.iter().any(|&r| self.seen(r).is_some_and(|s| s.answers_file.is_some())) {
            Keyed::of(
                (0..self.entries.len())
                    .filter(|&i| self.seen(i).is_none_or(|s| s.kind == Kind::Task))
                    .map(|i| (self.entries[i].file.as_str(), i)),
                self.entries.len(),
            )
        } else {
            Keyed::default()
        };
        let mut links: Vec<(usize, usize, &'static str)> = Vec::new();
        for &r in &returns {
            let Some(s) = self.seen(r) else { continue };
            let sender = s.from.as_deref().map(fold_agent);
            // Among several candidates, the one in the RETURN sender's folder (it did the work).
            let pick = |c: &[usize]| -> Option<usize> {
                if c.len() == 1 {
                    return Some(c[0]);
                }
                let mine: Vec<usize> = c
                    .iter()
                    .copied()
                    .filter(|&t| {
                        sender.as_deref() == Some(fold_agent(&self.agents[self.entries[t].agent].name).as_str())
                    })
                    .collect();
                (mine.len() == 1).then(|| mine[0])
            };
            if let Some(t) = s.in_reply_to.as_deref().and_then(|id| by_id.get(id)).and_then(|c| pick(&c)) {
                links.push((r, t, "id"));
                continue;
            }
            if let Some(t) = s.answers_file.as_deref().and_then(|f| by_file.get(f)).and_then(|c| pick(&c)) {
                links.push((r, t, "file"));
                continue;
            }
            let (Some(from), Some(to)) = (s.from.as_deref(), s.to.as_deref()) else { continue };
            let title = fold_title(s.title.trim_start_matches("Re: "));
            let c: Vec<usize> = tasks
                .iter()
                .copied()
                .filter(|&t| {
                    let ts = self.seen(t).expect("a task entry was read");
                    fold_title(&ts.title) == title
                        && ts.from.as_deref().is_some_and(|f| fold_agent(f) == fold_agent(to))
                        && fold_agent(&self.to_of(t)) == fold_agent(from)
                })
                .collect();
            if let Some(t) = pick(&c) {
                links.push((r, t, "title"));
            }
        }
        for (r, t, how) in links {
            self.entries[r].answers = Some((t, how));
            if self.entries[t].answered_by.is_none() {
                self.entries[t].answered_by = Some((r, how));
            }
        }
    }

    /// The state an entry is in: `answered`, `open`, `taken` (TASKs), `unread`, `read`
    /// (RETURNs), `unreadable`.
    pub fn state(&self, i: usize) -> &'static str {
        let e = &self.entries[i];
        match &e.read {
            Err(_) => "unreadable",
            Ok(s) if s.kind == Kind::Return => {
                if e.place == Place::Inbox {
                    "unread"
                } else {
                    "read"
                }
            }
            Ok(_) if e.answered_by.is_some() => "answered",
            Ok(_) if e.place == Place::Inbox => "open",
            Ok(_) => "taken",
        }
    }

    /// An open TASK older than `stale_after`.
    pub fn is_stale(&self, i: usize) -> bool {
        self.state(i) == "open" && self.entries[i].age_secs.is_some_and(|a| a > self.stale_after.as_secs() as i64)
    }

    fn where_is(&self, i: usize) -> Value {
        let e = &self.entries[i];
        let a = &self.agents[e.agent];
        json!({"agent": a.name, "folder": a.rel, "place": e.place.as_str(), "file": e.file})
    }

    /// One entry as `status --json` shows it.
    pub fn entry_json(&self, i: usize) -> Value {
        let e = &self.entries[i];
        let a = &self.agents[e.agent];
        let mut v = json!({"file": e.file, "place": e.place.as_str(), "path": format!("{}/{}/{}", a.rel, e.place.as_str(), e.file)});
        match &e.read {
            Err(reason) => {
                v["reason"] = json!(reason.to_string());
                if let Some((r, how)) = self.answered_link(i) {
                    v["answered_by"] = self.where_is(r);
                    v["linked_by"] = json!(how);
                }
            }
            Ok(s) => {
                v["kind"] = json!(s.kind.as_str());
                v["dialect"] = json!(s.dialect.as_str());
                v["id"] = json!(s.id);
                v["from"] = json!(s.from);
                v["to"] = json!(self.to_of(i));
                v["title"] = json!(s.title);
                v["created_at"] = json!(s.created_at);
                v["age_secs"] = json!(e.age_secs);
                v["age"] = json!(e.age_secs.map(human_age));
                v["state"] = json!(self.state(i));
                if e.also_in_processed {
                    v["also_in_processed"] = json!(true);
                }
                if let Some((r, how)) = e.answered_by {
                    v["answered_by"] = self.where_is(r);
                    v["linked_by"] = json!(how);
                }
                if let Some((t, how)) = e.answers {
                    v["answers"] = self.where_is(t);
                    v["linked_by"] = json!(how);
                }
            }
        }
        v
    }

    /// A RETURN that names an unreadable file as the TASK it answers.
    fn answered_link(&self, i: usize) -> Option<(usize, &'static str)> {
        self.entries.iter().enumerate().find_map(|(r, e)| match e.answers {
            Some((t, how)) if t == i => Some((r, how)),
            _ => None,
        })
    }

    /// `agents[]`: per agent folder, every entry by state.
    pub fn agents_json(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for (ai, a) in self.agents.iter().enumerate() {
            let mut lists: BTreeMap<&str, Vec<Value>> =
                ["open", "taken", "answered", "stale", "unread", "read", "unreadable"]
                    .into_iter()
                    .map(|k| (k, Vec::new()))
                    .collect();
            for i in (0..self.entries.len()).filter(|&i| self.entries[i].agent == ai) {
                let state = self.state(i);
                let v = self.entry_json(i);
                if self.is_stale(i) {
                    lists.get_mut("stale").expect("listed").push(v.clone());
                }
                lists.get_mut(state).expect("listed").push(v);
            }
            let counts: serde_json::Map<String, Value> =
                lists.iter().map(|(k, v)| (k.to_string(), json!(v.len()))).collect();
            let mut row = json!({"agent": a.name, "folder": a.rel, "path": a.path, "counts": counts});
            for (k, v) in lists {
                row[k] = json!(v);
            }
            out.push(row);
        }
        out
    }

    /// Handoffs by dialect and state, over the whole tree.
    pub fn totals(&self) -> Value {
        let mut by: BTreeMap<String, BTreeMap<&str, usize>> = BTreeMap::new();
        let mut states: BTreeMap<&str, usize> = BTreeMap::new();
        for i in 0..self.entries.len() {
            let state = self.state(i);
            *states.entry(state).or_default() += 1;
            if self.is_stale(i) {
                *states.entry("stale").or_default() += 1;
            }
            let dialect = match &self.entries[i].read {
                Ok(s) => s.dialect.as_str(),
                Err(_) => "unreadable",
            };
            let row = by.entry(dialect.to_string()).or_default();
            *row.entry(state).or_default() += 1;
            if self.is_stale(i) {
                *row.entry("stale").or_default() += 1;
            }
        }
        json!({"by_state": states, "by_dialect": by})
    }

    /// The whole report as JSON: root, stale_after, agents[], ambiguous names, totals.
    pub fn to_json(&self) -> Value {
        json!({
            "root": self.root,
            "stale_after_secs": self.stale_after.as_secs(),
            "agents": self.agents_json(),
            "ambiguous": self.ambiguous.iter().map(|(n, f)| json!({"name": n, "folders": f})).collect::<Vec<_>>(),
            "totals": self.totals(),
        })
    }

    /// The text `baton status` and `baton adopt` print: per agent its counts, then one list of
    /// the `limit` most pressing items across the agents (`None`: every one), what needs a
    /// look first (open, stale, unread, unreadable), newest first, then what was taken or
    /// answered, newest first, and how many more there are. Acknowledged RETURNs are counted,
    /// never listed (they pile up forever). `esc` makes names and titles from the files safe
    /// for a terminal.
    pub fn to_text(&self, esc: &dyn Fn(&str) -> String, limit: Option<usize>) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "handoffs between agents under {} (stale after {}):",
            self.root.display(),
            human_age(self.stale_after.as_secs() as i64)
        );
        if self.agents.is_empty() {
            let _ = writeln!(s, "  no agent folders (a folder with 01_inbox/ or 02_processed/) found");
        }
        // Counts per agent, one pass over the entries.
        let mut counts = vec![[0usize; 7]; self.agents.len()];
        const STATES: [&str; 6] = ["open", "taken", "answered", "unread", "unreadable", "read"];
        for (i, e) in self.entries.iter().enumerate() {
            let c = &mut counts[e.agent];
            if let Some(k) = STATES.iter().position(|st| *st == self.state(i)) {
                c[k] += 1;
            }
            if self.is_stale(i) {
                c[6] += 1;
            }
        }
        for (a, c) in self.agents.iter().zip(&counts) {
            let _ = writeln!(
                s,
                "  {} ({}): {} open ({} stale), {} taken, {} answered, {} unread RETURNs, {} unreadable{}",
                a.name,
                a.rel,
                c[0],
                c[6],
                c[1],
                c[2],
                c[3],
                c[4],
                match c[5] {
                    0 => String::new(),
                    n => format!(", {n} read RETURNs (counted, not listed)"),
                }
            );
        }
        // What needs a look first, then the rest; newest first in each; an unknown age last.
        let mut listed: Vec<(bool, i64, usize)> = (0..self.entries.len())
            .filter_map(|i| match self.state(i) {
                "read" => None,
                st => Some((matches!(st, "taken" | "answered"), self.entries[i].age_secs.unwrap_or(i64::MAX), i)),
            })
            .collect();
        let more = limit.map_or(0, |n| listed.len().saturating_sub(n));
        let shown = listed.len() - more;
        if more > 0 && shown > 0 {
            listed.select_nth_unstable(shown - 1);
        }
        listed.truncate(shown);
        listed.sort_unstable();
        for &(_, _, i) in &listed {
            self.item_text(&mut s, i, esc);
        }
        if more > 0 {
            let _ = writeln!(s, "  … {more} more (`baton status --all` lists every one)");
        }
        for (name, folders) in &self.ambiguous {
            let _ = writeln!(
                s,
                "  AMBIGUOUS agent name {:?} matches the folders {} (never guessed)",
                esc(name),
                folders.join(", ")
            );
        }
        s
    }

    /// One item of [`Report::to_text`]'s list: its state, what it is, and where.
    fn item_text(&self, s: &mut String, i: usize, esc: &dyn Fn(&str) -> String) {
        use std::fmt::Write;
        let e = &self.entries[i];
        let state = if self.is_stale(i) { "stale" } else { self.state(i) };
        let at = format!("{}/{}/{}", self.agents[e.agent].rel, e.place.as_str(), esc(&e.file));
        match &e.read {
            Err(reason) => {
                let _ = writeln!(s, "    {:<10} {}: {}", state, at, esc(&reason.to_string()));
            }
            Ok(seen) => {
                let link = match (e.answered_by, e.answers) {
                    (Some((r, how)), _) => format!("  answered by {} (by {how})", esc(&self.entries[r].file)),
                    (_, Some((t, how))) => format!("  answers {} (by {how})", esc(&self.entries[t].file)),
                    _ => String::new(),
                };
                let _ = writeln!(
                    s,
                    "    {:<10} {:?}  {} → {}  {}  {}  {}{}",
                    state,
                    esc(&seen.title),
                    esc(seen.from.as_deref().unwrap_or("?")),
                    esc(&self.to_of(i)),
                    e.age_secs.map(human_age).unwrap_or_else(|| "?".into()),
                    seen.dialect.as_str(),
                    at,
                    link
                );
            }
        }
    }
}

/// Entries by a key (an id, a file name): the first entry of each key and how many share it,
/// so a hundred thousand keys cost no list each. Fx, not SipHash: local names, hashed at every
/// look.
#[derive(Default)]
struct Keyed<'a> {
    first: FxHashMap<&'a str, (usize, usize)>,
    all: Vec<(&'a str, usize)>,
}

impl<'a> Keyed<'a> {
    fn of(pairs: impl Iterator<Item = (&'a str, usize)>, n: usize) -> Keyed<'a> {
        let mut first: FxHashMap<&str, (usize, usize)> = FxHashMap::with_capacity_and_hasher(n, Default::default());
        let mut all = Vec::with_capacity(n);
        for (k, i) in pairs {
            first.entry(k).and_modify(|c| c.1 += 1).or_insert((i, 1));
            all.push((k, i));
        }
        Keyed { first, all }
    }

    /// Every entry of `key`, in entry order.
    fn get(&self, key: &str) -> Option<Vec<usize>> {
        match *self.first.get(key)? {
            (i, 1) => Some(vec![i]),
            _ => Some(self.all.iter().filter(|(k, _)| *k == key).map(|(_, i)| *i).collect()),
        }
    }
}

/// `90s`, `12m`, `5h`, `3d`.
pub fn human_age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Which folder `name` (a sender named in a handoff's body) means under `root`: a folder
/// directly under the root whose name matches, per [`dialect::match_folder`]; else, when the
/// name has no folder yet, the name itself made valid (spaces to dashes) if that is a valid
/// agent name. `Err` lists the folders when several match (never guessed).
pub fn reply_folder(root: &Path, name: &str) -> Result<Option<String>, Vec<String>> {
    let mut folders: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| baton_handoff::names::is_valid_name(n))
        .collect();
    folders.sort();
    let refs: Vec<&str> = folders.iter().map(String::as_str).collect();
    match dialect::match_folder(name, &refs) {
        Match::One(f) => Ok(Some(f.to_string())),
        Match::Ambiguous(found) => Err(found.into_iter().map(str::to_string).collect()),
        Match::None => {
            let made: String = name.split_whitespace().collect::<Vec<_>>().join("-");
            Ok(baton_handoff::names::is_valid_name(&made).then_some(made))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A filed TASK's body, `created_at` `at`.
    fn task(id: &str, title: &str, at: &str) -> String {
        json!({"schema": "baton.handoff/v1", "id": id, "kind": "task", "created_at": at, "from": "Codex", "to": "Claude", "title": title}).to_string()
    }

    /// What a scan shows of each entry: folder place, file, state, title.
    fn seen(r: &Report) -> Vec<(String, String, String)> {
        (0..r.entries.len())
            .map(|i| {
                let e = &r.entries[i];
                let title = e.read.as_ref().map_or_else(|err| err.to_string(), |s| s.title.clone());
                (format!("{}/{}", e.place.as_str(), e.file), r.state(i).to_string(), title)
            })
            .collect()
    }

    /// Back-dates `path`'s mtime by an hour, so the cache trusts it (it waits for a change to
    /// settle before it does).
    fn age(path: &Path) {
        let t = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(path)
            .or_else(|_| std::fs::File::open(path))
            .unwrap()
            .set_modified(t)
            .unwrap();
    }

    #[test]
    fn filed_readings_are_kept_and_every_change_is_read_again() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("handoffs");
        let cache = d.path().join("cache");
        let filed = root.join("Claude").join(PROCESSED);
        std::fs::create_dir_all(&filed).unwrap();
        std::fs::create_dir_all(root.join("Claude").join(INBOX)).unwrap();
        for i in 0..5 {
            std::fs::write(
                filed.join(format!("t{i}.json")),
                task(&format!("T{i}"), &format!("task {i}"), "2026-01-01T00:00:00Z"),
            )
            .unwrap();
        }
        let mended_body = task("TB", "mended", "2026-01-01T00:00:00Z");
        std::fs::write(filed.join("broken.json"), format!("{{{}", "x".repeat(mended_body.len() - 1))).unwrap();
        let all = |dir: &Path| {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                age(&e.path());
            }
            age(dir);
        };
        all(&filed);
        let look = || scan(&root, "baton", DEFAULT_STALE_AFTER, 1 << 20, Some(&cache));
        let first = look();
        let kept: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().map(|e| e.path()).collect();
        assert_eq!(kept.len(), 1, "one cache file for the root: {kept:?}");
        assert_eq!(seen(&first), seen(&scan(&root, "baton", DEFAULT_STALE_AFTER, 1 << 20, None)));
        assert_eq!(seen(&look()), seen(&first), "the second look, from the cache, is the first");

        // A file rewritten in place with another length is read again; so is a new file, and
        // a file that went is gone. The folder's mtime moved.
        std::fs::write(filed.join("t1.json"), task("T1", "task one, retitled", "2026-01-01T00:00:00Z")).unwrap();
        std::fs::write(filed.join("t9.json"), task("T9", "task 9", "2026-01-02T00:00:00Z")).unwrap();
        std::fs::remove_file(filed.join("t2.json")).unwrap();
        let after = seen(&look());
        assert_eq!(after, seen(&scan(&root, "baton", DEFAULT_STALE_AFTER, 1 << 20, None)));
        let titles: Vec<&str> = after.iter().map(|(_, _, t)| t.as_str()).collect();
        assert!(titles.contains(&"task one, retitled") && titles.contains(&"task 9"), "{after:?}");
        assert!(!after.iter().any(|(f, _, _)| f.ends_with("t2.json")), "{after:?}");
        // Changed just now, so not trusted yet: read again, and the same again.
        assert_eq!(seen(&look()), after);

        // An unreadable file is never kept: mended, it reads at once, though its folder and its
        // length may say nothing moved.
        all(&filed);
        let _ = look();
        std::fs::write(filed.join("broken.json"), &mended_body).unwrap();
        age(&filed.join("broken.json"));
        age(&filed);
        let mended = seen(&look());
        assert_eq!(mended, seen(&scan(&root, "baton", DEFAULT_STALE_AFTER, 1 << 20, None)));
        assert!(mended.iter().any(|(f, _, t)| f.ends_with("broken.json") && t == "mended"), "{mended:?}");

        // A cache that is not one (cut short, or garbage) is a slow look, never a wrong one.
        for bad in [&b"\x01\x02garbage"[..], &[]] {
            std::fs::write(&kept[0], bad).unwrap();
            assert_eq!(seen(&look()), mended);
        }
        // A name in the inbox and filed too is listed once, as in the inbox.
        std::fs::write(root.join("Claude").join(INBOX).join("t0.json"), task("T0", "task 0", "2026-01-01T00:00:00Z"))
            .unwrap();
        let both = look();
        let t0: Vec<_> = both.entries.iter().filter(|e| e.file == "t0.json").collect();
        assert_eq!(t0.len(), 1);
        assert!(t0[0].place == Place::Inbox && t0[0].also_in_processed);
    }

    #[test]
    fn durations_and_the_setting_parse() {
        assert_eq!(parse_duration("48h"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("soon"), None);
        #[derive(Deserialize)]
        struct T {
            handoffs: HandoffsSetting,
        }
        let t: T = toml::from_str("handoffs = \"x\"").unwrap();
        assert_eq!(t.handoffs, HandoffsSetting { path: "x".into(), ..Default::default() });
        let t: T = toml::from_str("[handoffs]\npath = \"/tree\"\nstale_after = \"3d\"").unwrap();
        assert_eq!(
            t.handoffs,
            HandoffsSetting {
                path: "/tree".into(),
                stale_after: Duration::from_secs(3 * 86_400),
                ..Default::default()
            }
        );
        assert!(toml::from_str::<T>("[handoffs]\nstale = \"3d\"").is_err());
        assert!(toml::from_str::<T>("[handoffs]\nstale_after = \"soon\"").is_err());
    }
}
