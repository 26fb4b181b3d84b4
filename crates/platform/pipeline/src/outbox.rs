//! Delivery that neither loses nor doubles: how a handoff baton writes (a RETURN, a routed
//! TASK, a follow-up) reaches another agent's inbox exactly once, across crashes, even when
//! that agent consumes it before baton has recorded the delivery.
//!
//! Every delivery goes through `handoffs/<baton>/.outbox/`:
//!
//! 1. **stage**: the file is written unnamed (an `O_TMPFILE` inode, or a temp file), made
//!    durable together with the rest of its group (one `syncfs`, or parallel `fdatasync`:
//!    [`baton_fs::sync_group`]), and only then named in the outbox under its final name (derived
//!    from the claim, so a re-run stages the same name; an existing staged file is kept: it
//!    was named after its sync, so its bytes are whole);
//! 2. **link**: the staged inode is hard-linked into the recipient's inbox (never replacing);
//! 3. **mark**: the staged name is renamed to `<name>.sent`;
//! 4. after the ledger commit and the filing of the original, the outbox entry is dropped.
//!
//! A re-run (after a crash) knows the file was delivered when `<name>.sent` exists, or when
//! the staged inode has a second link: an agent that *moves* the file away keeps that link.
//! The residual window, stated honestly: an agent that *deletes* (or copies then deletes) the
//! file between steps 2 and 3 of the same delivery, with baton killed in that same instant,
//! gets it twice. Across file systems (`EXDEV`) the link becomes a copy, and only the `.sent`
//! mark guards it.
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use baton_home::failpoint;
use baton_mailbox::teams::ClaudeInbox;

/// `.sent` marks younger than this are never swept, even when no claim was seen naming them: a
/// claim taken over from a dead process is moved between claim folders while the sweep lists
/// them, and may be missed by that one listing. Age alone never drops a mark.
const SENT_MIN_AGE: Duration = Duration::from_secs(600);

/// An outbox step failed: `path` is the folder (or file) the failing call was about, the
/// outbox or the recipient's inbox, so that the message names the right one.
#[derive(Debug)]
pub struct OutboxError {
    pub path: PathBuf,
    pub source: io::Error,
}

impl From<OutboxError> for crate::PipelineError {
    fn from(e: OutboxError) -> Self {
        crate::PipelineError::Io { path: e.path.display().to_string(), source: e.source }
    }
}

impl std::fmt::Display for OutboxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.source)
    }
}

/// Tags an io error with the path it concerns.
fn at(path: &Path) -> impl Fn(io::Error) -> OutboxError + '_ {
    move |source| OutboxError { path: path.to_path_buf(), source }
}

pub struct Outbox {
    dir: PathBuf,
    /// The folder whose spares staged handoffs are written over (`baton_fs::spares`), once
    /// this process keeps them there ([`Self::use_spares`]). Until then every staged handoff
    /// is a new file, with no look for spares: a drain keeps none.
    spares: std::sync::OnceLock<PathBuf>,
}

/// What [`Outbox::stage`] found or did.
pub enum Staged {
    /// Delivered (now or by an earlier run), under this name in the inbox.
    Done(OsString),
    /// Written, not yet durable nor visible: sync it with its group, then [`Outbox::publish`].
    Pending(Pending),
}

/// One delivery of a group, between its write and its publication.
pub struct Pending {
    data: baton_fs::Unwritten,
    staged: String,
    inbox: PathBuf,
    wanted: OsString,
    bytes: Vec<u8>,
    fold: bool,
    /// Appended to this Claude Code inbox instead of linked into `inbox`.
    claude: Option<ClaudeInbox>,
}

impl Pending {
    /// The written file, for the group's sync.
    pub fn file(&self) -> &std::fs::File {
        self.data.file()
    }
    /// Its outbox name.
    pub fn staged(&self) -> &str {
        &self.staged
    }
}

impl Outbox {
    pub fn open(dir: PathBuf) -> io::Result<Self> {
        baton_fs::ensure_dir(&dir)?;
        Ok(Outbox { dir, spares: Default::default() })
    }

    /// From now on, staged handoffs are written over the spares in `dir` when there are any
    /// (`serve` keeps them there: [`crate::spares`]).
    pub(crate) fn use_spares(&self, dir: PathBuf) {
        let _ = self.spares.set(dir);
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Delivers `bytes` into `inbox` once, as `wanted` or, when another file holds that name,
    /// `wanted.2`, `wanted.3`…; `staged` is its outbox name, unique to the claim. Returns the
    /// name it has in the inbox (or had, when an earlier run delivered it and the agent took
    /// it since). The caller syncs `inbox` and [`Self::dir`]. One delivery on its own: its
    /// own sync; a group shares one with [`Self::stage`] and [`Self::publish`].
    pub fn deliver(&self, inbox: &Path, staged: &str, wanted: &OsStr, bytes: &[u8]) -> Result<OsString, OutboxError> {
        self.deliver_as(inbox, staged, wanted, bytes, false)
    }

    /// [`Self::deliver`] under a name chosen as on a Mac: a candidate that is another entry's
    /// name there (case, Unicode form) is skipped for the next number. For names baton does
    /// not make itself (a routed TASK keeps its sender's name); it reads the inbox once.
    pub fn deliver_folded(
        &self,
        inbox: &Path,
        staged: &str,
        wanted: &OsStr,
        bytes: &[u8],
    ) -> Result<OsString, OutboxError> {
        self.deliver_as(inbox, staged, wanted, bytes, true)
    }

    fn deliver_as(
        &self,
        inbox: &Path,
        staged: &str,
        wanted: &OsStr,
        bytes: &[u8],
        fold: bool,
    ) -> Result<OsString, OutboxError> {
        let staged = self.stage_as(inbox, staged, wanted, bytes, fold)?;
        self.finish_one(staged)
    }

    /// One delivery on its own, staged: done already, or synced and published now.
    fn finish_one(&self, staged: Staged) -> Result<OsString, OutboxError> {
        match staged {
            Staged::Done(name) => Ok(name),
            Staged::Pending(p) => {
                failpoint::fault("sync", "")
                    .and_then(|()| baton_fs::sync_file(p.data.file()))
                    .map_err(at(&self.dir))?;
                baton_fs::oplog(&format!("sync-one {}", p.staged));
                self.publish(p)
            }
        }
    }

    /// Moves a staged file an earlier attempt never delivered into `.superseded/`: a later
    /// attempt never delivers an earlier attempt's answer.
    fn supersede(&self, staged_path: &Path) -> Result<(), OutboxError> {
        let agent_dir = self.dir.parent().unwrap_or(&self.dir);
        crate::superseded::move_aside(
            agent_dir,
            staged_path,
            "staged by an earlier attempt that never delivered it; this attempt delivers its own",
        )
        .map(drop)
        .map_err(at(&self.dir))
    }

    /// This attempt's bytes, written unnamed in the outbox until the group's sync.
    fn write_unnamed(&self, staged: &str, bytes: &[u8]) -> Result<baton_fs::Unwritten, OutboxError> {
        failpoint::fault("stage", staged)
            .and_then(|()| match self.spares.get() {
                Some(spares) => baton_fs::Unwritten::write_handoff(&self.dir, spares, bytes),
                None => baton_fs::Unwritten::write(&self.dir, bytes),
            })
            .map_err(at(&self.dir))
    }

    /// Step 1 for one delivery of a group: what an earlier attempt already delivered is
    /// finished now; otherwise the bytes are written unnamed and wait for the group's sync
    /// ([`baton_fs::sync_group`]) and [`Self::publish`].
    pub fn stage(&self, inbox: &Path, staged: &str, wanted: &OsStr, bytes: &[u8]) -> Result<Staged, OutboxError> {
        self.stage_as(inbox, staged, wanted, bytes, false)
    }

    /// A staged file belongs to the attempt that wrote it. Delivered (a second link, a `.sent`
    /// mark, or its bytes copied into the inbox across file systems), it is *the* answer and
    /// is only marked now. Never delivered (the attempt was deferred, or the process died
    /// before linking it), it is moved aside into `.superseded/` and this attempt stages its
    /// own: a later attempt never delivers an earlier attempt's answer.
    fn stage_as(
        &self,
        inbox: &Path,
        staged: &str,
        wanted: &OsStr,
        bytes: &[u8],
        fold: bool,
    ) -> Result<Staged, OutboxError> {
        let sent = self.sent_path(staged);
        // A `stat` that fails (EIO) says nothing either way: an error (a pause, the item is
        // tried again), never "not there", which would deliver a second RETURN.
        if let Some(meta) = baton_fs::present(&sent).map_err(at(&self.dir))? {
            return Ok(Staged::Done(find_inode(inbox, &meta).unwrap_or_else(|| wanted.to_owned())));
        }
        let staged_path = self.dir.join(staged);
        if let Some(meta) = self.staged_meta(&staged_path).map_err(at(&self.dir))? {
            if meta.nlink() >= 2 {
                return self.link_and_mark(inbox, &staged_path, wanted, bytes, fold).map(Staged::Done);
            }
            if let Some(name) = copied_into(inbox, wanted, &staged_path) {
                fs::rename(&staged_path, &sent).map_err(at(&self.dir))?;
                return Ok(Staged::Done(name));
            }
            self.supersede(&staged_path)?;
        }
        let data = self.write_unnamed(staged, bytes)?;
        Ok(Staged::Pending(Pending {
            data,
            staged: staged.to_string(),
            inbox: inbox.to_path_buf(),
            wanted: wanted.to_owned(),
            bytes: bytes.to_vec(),
            fold,
            claude: None,
        }))
    }

    /// [`Self::deliver`] into a Claude Code inbox: the staged RETURN appended as one message
    /// (see [`baton_mailbox::teams`]). Returns `wanted`, the RETURN's name, which stays the outbox's.
    pub(crate) fn deliver_message(
        &self,
        to: &ClaudeInbox,
        staged: &str,
        wanted: &OsStr,
        bytes: &[u8],
    ) -> Result<OsString, OutboxError> {
        let staged = self.stage_message(to, staged, wanted, bytes)?;
        self.finish_one(staged)
    }

    /// [`Self::stage`] for a Claude Code inbox. A staged file of an earlier attempt whose
    /// message the inbox holds was delivered (the append came, the mark did not): it is the
    /// answer, and is only marked now. One the inbox does not hold was never delivered: moved
    /// aside, as for a folder.
    pub(crate) fn stage_message(
        &self,
        to: &ClaudeInbox,
        staged: &str,
        wanted: &OsStr,
        bytes: &[u8],
    ) -> Result<Staged, OutboxError> {
        let sent = self.sent_path(staged);
        if baton_fs::present(&sent).map_err(at(&self.dir))?.is_some() {
            return Ok(Staged::Done(wanted.to_owned()));
        }
        let staged_path = self.dir.join(staged);
        match fs::read(&staged_path) {
            Ok(earlier) => {
                if to.holds(&earlier).map_err(at(&to.recipient.inbox))? {
                    fs::rename(&staged_path, &sent).map_err(at(&self.dir))?;
                    return Ok(Staged::Done(wanted.to_owned()));
                }
                self.supersede(&staged_path)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(at(&self.dir)(e)),
        }
        let data = self.write_unnamed(staged, bytes)?;
        Ok(Staged::Pending(Pending {
            data,
            staged: staged.to_string(),
            inbox: to.folder(),
            wanted: wanted.to_owned(),
            bytes: bytes.to_vec(),
            fold: false,
            claude: Some(to.clone()),
        }))
    }

    /// Steps 1–3 for a staged delivery whose data is durable: named in the outbox, linked into
    /// the recipient's inbox, marked sent. Returns the name it has in the inbox.
    pub fn publish(&self, p: Pending) -> Result<OsString, OutboxError> {
        let staged_path = self.dir.join(&p.staged);
        // `false`: an earlier run staged it meanwhile (durable as well): that one is used.
        p.data.publish(&staged_path).map_err(at(&self.dir))?;
        failpoint::hit("after_stage");
        match &p.claude {
            Some(to) => self.append_and_mark(to, &staged_path, &p.wanted),
            None => self.link_and_mark(&p.inbox, &staged_path, &p.wanted, &p.bytes, p.fold),
        }
    }

    /// Steps 2–3 for a Claude Code inbox: the staged file's bytes (an earlier run's, if one
    /// staged it meanwhile) appended as one message unless the inbox holds it, then marked.
    fn append_and_mark(&self, to: &ClaudeInbox, staged_path: &Path, wanted: &OsStr) -> Result<OsString, OutboxError> {
        let bytes = fs::read(staged_path).map_err(at(&self.dir))?;
        let key = staged_path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        failpoint::fault("append", &key).and_then(|()| to.append(&bytes)).map_err(at(&to.recipient.inbox))?;
        failpoint::hit("after_mailbox_append");
        fs::rename(staged_path, self.sent_path(&key)).map_err(at(&self.dir))?;
        Ok(wanted.to_owned())
    }

    fn link_and_mark(
        &self,
        inbox: &Path,
        staged_path: &Path,
        wanted: &OsStr,
        bytes: &[u8],
        fold: bool,
    ) -> Result<OsString, OutboxError> {
        let sent = self.sent_path(&staged_path.file_name().unwrap_or_default().to_string_lossy());
        let meta = self.staged_meta(staged_path).and_then(|m| m.ok_or_else(|| io::ErrorKind::NotFound.into()));
        let meta = meta.map_err(at(&self.dir))?;
        if meta.nlink() >= 2 {
            // Linked by an earlier run; the agent may have moved it since.
            let name = find_inode(inbox, &meta).unwrap_or_else(|| wanted.to_owned());
            fs::rename(staged_path, &sent).map_err(at(&self.dir))?;
            return Ok(name);
        }
        let key = staged_path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let name = baton_fs::numbered_slot(wanted, |name| {
            if fold && baton_handoff::names::existing_variant(inbox, &name.to_string_lossy())?.is_some() {
                return Ok(None); // another entry's name on a Mac
            }
            let to = inbox.join(&name);
            match failpoint::fault("link", &key).and_then(|()| baton_fs::link(staged_path, &to)) {
                Ok(()) => Ok(Some(name)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::XDEV.raw_os_error()) => {
                    // Another file system: a copy, which is ours if it holds these bytes.
                    let ours = baton_fs::create_new(&to, bytes, true)? || fs::read(&to).is_ok_and(|b| b == bytes);
                    Ok(ours.then_some(name))
                }
                Err(e) => Err(e),
            }
        })
        .map_err(at(inbox))?;
        failpoint::hit("after_link");
        fs::rename(staged_path, &sent).map_err(at(&self.dir))?;
        Ok(name)
    }

    /// The bytes delivered under the outbox name `staged` (its `.sent` mark, or the staged
    /// file), if an earlier attempt delivered it: the answer that attempt gave.
    pub fn delivered_bytes(&self, staged: &str) -> Option<Vec<u8>> {
        fs::read(self.sent_path(staged)).or_else(|_| fs::read(self.dir.join(staged))).ok()
    }

    /// Drops the outbox entries of `name` once its claim is filed (nothing can re-run it).
    pub fn forget(&self, name: &str) {
        for p in [self.sent_path(name), self.dir.join(name)] {
            match fs::remove_file(&p) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => baton_home::ratelimit::warn_every(
                    &format!("outbox-drop:{:?}", e.kind()),
                    &format!("cannot drop an outbox entry: {e}"),
                    &p.display().to_string(),
                ),
            }
        }
    }

    /// Drops the `.sent` marks left by a crash between filing and [`Self::forget`]: a mark
    /// lives exactly as long as a claim names it, whatever its age. `live` holds the nonces
    /// of every claim present, this process's, live
    /// processes' and dead ones' not yet taken over; every outbox name baton makes carries its
    /// claim's nonce. A mark that names none of them (and is older than [`SENT_MIN_AGE`], for
    /// a claim moving between folders during the listing) belongs to a filed claim.
    /// List the outbox first, then the claims: a claim is made before its marks.
    pub fn sweep(&self, marks: Vec<(OsString, SystemTime)>, live: &std::collections::HashSet<String>) {
        let now = SystemTime::now();
        for (name, modified) in marks {
            let text = name.to_string_lossy();
            let named = text.char_indices().any(|(i, _)| text.get(i..i + NONCE_LEN).is_some_and(|w| live.contains(w)));
            let young = now.duration_since(modified).unwrap_or_default() < SENT_MIN_AGE;
            if !named && !young {
                let _ = fs::remove_file(self.dir.join(&name));
            }
        }
    }

    /// The `.sent` marks in the outbox with their modification times (see [`Self::sweep`]).
    pub fn marks(&self) -> Vec<(OsString, SystemTime)> {
        let Ok(entries) = fs::read_dir(&self.dir) else { return vec![] };
        entries
            .flatten()
            .filter(|e| e.file_name().as_encoded_bytes().ends_with(b".sent"))
            .filter_map(|e| Some((e.file_name(), e.metadata().ok()?.modified().ok()?)))
            .collect()
    }

    /// The staged file's metadata, once a naming a crash cut short is finished. Where naming
    /// without replacing is `link` then `unlink` (macOS, or a file system without
    /// `renameat2`), a process killed between the two leaves the staged file a second link:
    /// its temp name in this outbox. That link is no delivery, and read as one it lost the
    /// RETURN (marked sent, never linked into the inbox). It is dropped here, so the link
    /// count says only whether the recipient's inbox got the file.
    /// `None`: nothing is staged under that name; an error that is not "not found" is
    /// returned, never taken as "not staged".
    fn staged_meta(&self, staged_path: &Path) -> io::Result<Option<fs::Metadata>> {
        let Some(meta) = baton_fs::present(staged_path)? else { return Ok(None) };
        if meta.nlink() < 2 {
            return Ok(Some(meta));
        }
        match temp_link(&self.dir, &meta) {
            Some(temp) => {
                fs::remove_file(self.dir.join(temp))?;
                baton_fs::present(staged_path)
            }
            None => Ok(Some(meta)),
        }
    }

    fn sent_path(&self, name: &str) -> PathBuf {
        let mut n = OsString::from(name);
        n.push(".sent");
        self.dir.join(n)
    }
}

/// The length of a claim's nonce.
pub const NONCE_LEN: usize = 10;

/// The name under which the staged file's bytes were copied into `inbox` (across file
/// systems, where a link is a copy): `wanted` or one of its numbered names holding exactly
/// those bytes.
fn copied_into(inbox: &Path, wanted: &OsStr, staged_path: &Path) -> Option<OsString> {
    let short = baton_fs::fit(wanted, baton_fs::NUMBER_ROOM);
    let mut staged_bytes: Option<Vec<u8>> = None;
    for n in 1..10_000 {
        let candidate = if n == 1 { wanted.to_owned() } else { baton_fs::numbered(&short, n) };
        let bytes = fs::read(inbox.join(&candidate)).ok()?;
        let ours = staged_bytes.get_or_insert_with(|| fs::read(staged_path).unwrap_or_default());
        if !ours.is_empty() && &bytes == ours {
            return Some(candidate);
        }
    }
    None
}

/// The entry of `dir` that is the inode `meta` describes.
fn find_inode(dir: &Path, meta: &fs::Metadata) -> Option<OsString> {
    inode_entry(dir, meta, |_| true)
}

/// The temp name ([`baton_fs::TEMP_PREFIX`]) in `dir` that is the inode `meta` describes.
fn temp_link(dir: &Path, meta: &fs::Metadata) -> Option<OsString> {
    inode_entry(dir, meta, |name| name.as_encoded_bytes().starts_with(baton_fs::TEMP_PREFIX.as_bytes()))
}

/// The entry of `dir` whose name passes `keep` and that is the inode `meta` describes.
fn inode_entry(dir: &Path, meta: &fs::Metadata, keep: impl Fn(&OsStr) -> bool) -> Option<OsString> {
    use std::os::unix::fs::DirEntryExt;
    fs::read_dir(dir).ok()?.flatten().find(|e| e.ino() == meta.ino() && keep(&e.file_name())).map(|e| e.file_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumed_delivery_is_not_repeated() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("inbox");
        fs::create_dir(&inbox).unwrap();
        let outbox = Outbox::open(d.path().join(".outbox")).unwrap();
        let r = OsStr::new("r.json");
        assert_eq!(outbox.deliver(&inbox, "r.json", r, b"one").unwrap(), r);
        fs::rename(inbox.join("r.json"), d.path().join("consumed.json")).unwrap();
        outbox.deliver(&inbox, "r.json", r, b"two").unwrap();
        assert!(!inbox.join("r.json").exists());
        // Staged and linked, then killed before the mark; the agent moved it away.
        baton_fs::create_new(&outbox.dir.join("r2.json"), b"x", true).unwrap();
        fs::hard_link(outbox.dir.join("r2.json"), d.path().join("moved.json")).unwrap();
        outbox.deliver(&inbox, "r2.json", OsStr::new("r2.json"), b"x").unwrap();
        assert!(!inbox.join("r2.json").exists());
        // Another file holds the wanted name: the next free number, found again on a re-run.
        fs::write(inbox.join("t.json"), "someone else's").unwrap();
        let t = OsStr::new("t.json");
        assert_eq!(outbox.deliver(&inbox, "route-1", t, b"mine").unwrap(), "t.2.json");
        assert_eq!(outbox.deliver(&inbox, "route-1", t, b"mine").unwrap(), "t.2.json");
        assert_eq!(fs::read(inbox.join("t.json")).unwrap(), b"someone else's");
        outbox.forget("route-1");
        outbox.forget("r.json");
        outbox.forget("r2.json");
        assert_eq!(fs::read_dir(&outbox.dir).unwrap().count(), 0);
    }

    /// Killed between the two halves of a naming done as `link` then `unlink` (macOS): the
    /// staged file's second link is its temp name in the outbox, not the recipient's copy.
    /// The re-run delivers it once; it marked it sent and never delivered it before.
    #[test]
    fn a_naming_cut_short_is_not_a_delivery() {
        let d = tempfile::tempdir().unwrap();
        let inbox = d.path().join("inbox");
        fs::create_dir(&inbox).unwrap();
        let outbox = Outbox::open(d.path().join(".outbox")).unwrap();
        baton_fs::create_new(&outbox.dir.join("r.json"), b"answer", true).unwrap();
        let temp = outbox.dir.join(format!("{}1.0000000000000001", baton_fs::TEMP_PREFIX));
        fs::hard_link(outbox.dir.join("r.json"), &temp).unwrap();
        let r = OsStr::new("r.json");
        assert_eq!(outbox.deliver(&inbox, "r.json", r, b"answer").unwrap(), r);
        assert_eq!(fs::read(inbox.join("r.json")).unwrap(), b"answer");
        assert!(!temp.exists(), "the temp name is gone");
        // Again (a later re-run): delivered, not twice.
        assert_eq!(outbox.deliver(&inbox, "r.json", r, b"answer").unwrap(), r);
        assert_eq!(fs::read_dir(&inbox).unwrap().count(), 1);
    }
}
