//! Claims when the ledger is on PostgreSQL: several machines, each with its own synced copy of
//! one handoffs tree (Dropbox, Drive, Syncthing), one database.
//!
//! A rename into `.claims/` cannot be the claim there: each machine renames its own copy, and
//! the sync service then mirrors two moves. Instead the database row is the claim
//! ([`baton_ledger::postgres::PgLedger::claim`]), keyed by the handoff's id and content hash (a
//! file that does not parse: its name and the hash of its bytes). The file stays in
//! `01_inbox/` while it runs; only the winner writes its RETURN and files it, and the sync
//! carries that move to the other machines. A host that loses leaves its copy alone.
//!
//! Each host (one baton home's state folder on one machine: `<state dir>/host-id`) renews a
//! heartbeat every `lease_secs / 4`, from the pipeline and from a thread of its own (so a long
//! task does not lose its claim). A host whose heartbeat is older than `lease_secs` has lost
//! its claims: another host that sees the file takes them over, under the same claim id, and
//! runs them alone under the poison-pill guard, as a local takeover does. One `serve` per host:
//! it holds `<state dir>/serve.lock`; other commands on the same home (`baton run`, `retry`)
//! claim nothing.
//!
//! A copy that the sync service brings back after the original was filed (a resurrected file)
//! is filed by the claim's owner into `02_processed/` under a suffixed name, and never run. A
//! losing host's copy that the sync never removes (it missed the owner's move) is filed the
//! same way by the loser, once the owner filed its original [`STRAY_LEASES`] leases ago: the
//! inbox does not keep a TASK answered long ago as if it were waiting.
use baton_sync::Locked;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_ledger::postgres::ClaimOutcome;
use rustix::fs::{FlockOperation, flock};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::PipelineError;
use crate::claims::{Claim, Claims, new_claim_id};
use baton_ledger::SharedLedger;

/// Where claims come from: renames into `.claims/` (SQLite, one machine) or rows (PostgreSQL).
pub(crate) enum Claimer {
    Local(Claims),
    Shared(SharedClaims),
}

impl Claimer {
    /// The folder claimed files are in (synced after filing).
    pub(crate) fn dir(&self) -> &Path {
        match self {
            Claimer::Local(c) => c.dir(),
            Claimer::Shared(s) => &s.inbox,
        }
    }

    /// Claims of dead processes (local) or of this host's previous process (shared), now ours.
    pub(crate) fn take_over_dead(&mut self) -> Result<Vec<OsString>, PipelineError> {
        match self {
            Claimer::Local(c) => c.take_over_dead().map_err(|e| PipelineError::io(c.dir(), e)),
            Claimer::Shared(s) => s.tick(),
        }
    }

    /// Every claim this process holds.
    pub(crate) fn list(&mut self) -> Result<Vec<Claim>, PipelineError> {
        match self {
            Claimer::Local(c) => c.list().map_err(|e| PipelineError::io(c.dir(), e)),
            Claimer::Shared(s) => Ok(s.list()),
        }
    }

    /// The claim's original was filed. Shared claims record it at the next [`Claimer::flush`].
    pub(crate) fn release(&mut self, claim: &Claim) {
        match self {
            Claimer::Local(c) => c.release(claim),
            Claimer::Shared(s) => s.release(claim),
        }
    }

    /// Records the releases since the last flush (one statement for a filed batch).
    pub(crate) fn flush(&mut self) {
        if let Claimer::Shared(s) = self {
            s.flush();
        }
    }
}

/// How many leases after another host filed a handoff a copy of it still in this host's inbox
/// is filed here (never run): the sync service had that long to bring the move, and missed it.
/// Filed sooner, a copy the sync was about to move would only add a second filed copy.
pub const STRAY_LEASES: u32 = 10;

/// What a shared claim attempt means for the inbox scan.
pub(crate) enum Taken {
    /// Ours: run it. `suspect` when it may have run before (taken over): it runs alone.
    Claimed { claim: Claim, suspect: bool },
    /// Another host has it, or this host already has the same handoff in another file.
    Not,
    /// A copy of a handoff whose original was filed: file it, never run it.
    Filed,
}

struct Held {
    claim: Claim,
    key: (String, String),
}

pub(crate) struct SharedClaims {
    inbox: PathBuf,
    host: String,
    instance: String,
    ledger: SharedLedger,
    lease: Duration,
    /// Held by this process, by file name.
    mine: BTreeMap<OsString, Held>,
    /// Files another host holds: not asked about again before this.
    lost: HashMap<OsString, Instant>,
    /// Claims of this host's previous process, found at start: the next tick takes them over.
    inherited: Vec<OsString>,
    last_beat: Option<Instant>,
    /// Claims whose originals were filed, not yet marked `filed` in the ledger.
    filed: Vec<(String, String)>,
    /// `serve.lock`, when this process is the host's claiming one.
    lock: Option<File>,
    /// Whether the last database call failed (to log the pause and the resumption once).
    paused: bool,
}

impl SharedClaims {
    /// Opens the host's claims: its id (created once in `state_dir/host-id`) and, if no other
    /// process of this host holds `serve.lock`, the right to claim.
    pub(crate) fn open(
        inbox: &Path,
        state_dir: &Path,
        ledger: SharedLedger,
        lease: Duration,
    ) -> Result<Self, PipelineError> {
        baton_fs::ensure_dir(state_dir).map_err(|e| PipelineError::io(state_dir, e))?;
        let id_file = state_dir.join("host-id");
        let host = match std::fs::read_to_string(&id_file) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                let name = std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
                let name = if name.is_empty() { "host".to_string() } else { name };
                let id = format!("{name}-{}", ulid::Ulid::new());
                baton_fs::create_new(&id_file, id.as_bytes(), true)
                    .or_else(|e| if e.kind() == io::ErrorKind::AlreadyExists { Ok(false) } else { Err(e) })
                    .map_err(|e| PipelineError::io(&id_file, e))?;
                std::fs::read_to_string(&id_file).map_err(|e| PipelineError::io(&id_file, e))?.trim().to_string()
            }
        };
        let lock_path = state_dir.join("serve.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| PipelineError::io(&lock_path, e))?;
        let lock = flock(&file, FlockOperation::NonBlockingLockExclusive).is_ok().then_some(file);
        let mut me = SharedClaims {
            inbox: inbox.to_path_buf(),
            host,
            instance: format!("{}-{}", std::process::id(), ulid::Ulid::new()),
            ledger,
            lease,
            mine: BTreeMap::new(),
            filed: Vec::new(),
            lost: HashMap::new(),
            inherited: Vec::new(),
            last_beat: None,
            lock,
            paused: false,
        };
        if me.lock.is_some() {
            me.inherit()?;
            spawn_heartbeat(Arc::downgrade(&me.ledger), me.host.clone(), me.instance.clone(), lease / 4);
            info!(host = %me.host, lease_secs = lease.as_secs(), "claims are rows in the shared ledger");
        }
        Ok(me)
    }

    fn pg<R>(
        &self,
        f: impl FnOnce(&mut baton_ledger::postgres::PgLedger) -> baton_ledger::Result<R>,
    ) -> Result<R, PipelineError> {
        let mut l = self.ledger.locked();
        let pg =
            l.postgres().ok_or_else(|| PipelineError::Internal("shared claims need the PostgreSQL ledger".into()))?;
        Ok(f(pg)?)
    }

    /// The claims this host's previous process held (it died or was stopped): ours again.
    fn inherit(&mut self) -> Result<(), PipelineError> {
        self.beat()?;
        let host = self.host.clone();
        for held in self.pg(|p| p.held(&host))? {
            let path = self.inbox.join(&held.file_name);
            if baton_fs::present(&path).map_err(|e| PipelineError::io(&path, e))?.is_none() {
                // Filed before the previous process could record it (or removed): done.
                let (id, hash) = (held.handoff_id.clone(), held.content_hash.clone());
                self.pg(|p| p.claim_filed(&id, &hash))?;
                continue;
            }
            let original = OsString::from(&held.file_name);
            let claim = Claim::new(path, held.claim_id, original.clone());
            self.mine.insert(original.clone(), Held { claim, key: (held.handoff_id, held.content_hash) });
            self.inherited.push(original);
        }
        if !self.inherited.is_empty() {
            info!(claims = self.inherited.len(), "took over the claims of this host's previous process");
        }
        Ok(())
    }

    fn beat(&mut self) -> Result<(), PipelineError> {
        let (host, instance) = (self.host.clone(), self.instance.clone());
        match self.pg(|p| p.heartbeat(&host, &instance)) {
            Ok(()) => {
                self.last_beat = Some(Instant::now());
                if std::mem::take(&mut self.paused) {
                    info!("state database reachable again: claiming resumed");
                }
                Ok(())
            }
            Err(e) => {
                if !std::mem::replace(&mut self.paused, true) {
                    warn!("state database unavailable: claiming paused until it answers ({e})");
                }
                Err(e)
            }
        }
    }

    /// Once per pass: the heartbeat (when due), and the inherited claims to run alone.
    fn tick(&mut self) -> Result<Vec<OsString>, PipelineError> {
        if self.lock.is_none() {
            return Ok(Vec::new());
        }
        if self.paused || self.last_beat.is_none_or(|t| t.elapsed() >= self.lease / 4) {
            self.beat()?;
        }
        let now = Instant::now();
        self.lost.retain(|_, until| *until > now);
        Ok(std::mem::take(&mut self.inherited))
    }

    /// How many claims this process holds.
    pub(crate) fn held(&self) -> usize {
        self.mine.len()
    }

    /// Whether the inbox scan should skip `name` for now (ours already, or another host's).
    pub(crate) fn skip(&self, name: &OsStr) -> bool {
        self.lock.is_none() || self.mine.contains_key(name) || self.lost.contains_key(name)
    }

    /// Tries to claim the ready inbox files `files` (each with its parsed JSON when the
    /// readiness check read it) in one database statement. One outcome per file, in order.
    pub(crate) fn claim_many(
        &mut self,
        files: &[(PathBuf, Option<&serde_json::Value>)],
    ) -> Result<Vec<Taken>, PipelineError> {
        // Which files go to the database: not a second copy of a handoff this host holds (or
        // one that appears twice in this scan: a row cannot be claimed twice in one statement).
        // Such a copy is looked at again once the first is filed.
        let mut asked: Vec<(usize, OsString, (String, String))> = Vec::with_capacity(files.len());
        let mut taken: Vec<Taken> = Vec::with_capacity(files.len());
        let mut keys: std::collections::HashSet<(String, String)> = self.mine.values().map(|h| h.key.clone()).collect();
        for (i, (path, value)) in files.iter().enumerate() {
            let name = path.file_name().unwrap_or_default().to_owned();
            let key = claim_key(path, &name, *value);
            taken.push(Taken::Not);
            if !keys.insert(key.clone()) {
                self.lost.insert(name, Instant::now() + Duration::from_secs(1));
                continue;
            }
            asked.push((i, name, key));
        }
        let wanted: Vec<baton_ledger::postgres::ClaimRequest> = asked
            .iter()
            .map(|(_, name, key)| baton_ledger::postgres::ClaimRequest {
                handoff_id: key.0.clone(),
                content_hash: key.1.clone(),
                claim_id: new_claim_id(),
                file_name: name.to_string_lossy().into_owned(),
            })
            .collect();
        let (host, lease) = (self.host.clone(), self.lease.as_secs_f64());
        let outcomes = match self.pg(|p| p.claim_many(&host, &wanted, lease)) {
            Ok(o) => o,
            Err(e) => {
                if !std::mem::replace(&mut self.paused, true) {
                    warn!("state database unavailable: claiming paused until it answers ({e})");
                }
                return Err(e);
            }
        };
        for ((i, name, key), outcome) in asked.into_iter().zip(outcomes) {
            let path = &files[i].0;
            let claim = |claim_id: String| Claim::new(path.clone(), claim_id, name.clone());
            taken[i] = match outcome {
                ClaimOutcome::Won { claim_id } => {
                    let c = claim(claim_id);
                    self.mine.insert(name.clone(), Held { claim: c.clone(), key });
                    Taken::Claimed { claim: c, suspect: false }
                }
                ClaimOutcome::TakenOver { claim_id } => {
                    info!(file = %path.display(), "took over a claim whose host's lease expired");
                    let c = claim(claim_id);
                    self.mine.insert(name.clone(), Held { claim: c.clone(), key });
                    Taken::Claimed { claim: c, suspect: true }
                }
                ClaimOutcome::Lost { owner, filed_secs: Some(secs) }
                    if Duration::from_secs(secs) >= self.lease * STRAY_LEASES =>
                {
                    warn!(file = %path.display(), %owner, "host {owner} filed this handoff {secs} s ago and the sync service has not brought that move here: this copy is filed beside it, not run");
                    Taken::Filed
                }
                ClaimOutcome::Lost { .. } => {
                    // Asked again after half a lease: by then the owner filed it (and the sync
                    // removed it here), or its lease may have expired.
                    self.lost.insert(name, Instant::now() + self.lease / 2);
                    Taken::Not
                }
                ClaimOutcome::Filed { .. } => Taken::Filed,
            };
        }
        Ok(taken)
    }

    fn list(&mut self) -> Vec<Claim> {
        let mut gone = Vec::new();
        let mut out = Vec::new();
        for (name, held) in &self.mine {
            // Only "not found" means it left: a `stat` that fails keeps the claim.
            if !matches!(baton_fs::present(&held.claim.path), Ok(None)) {
                out.push(held.claim.clone());
            } else {
                gone.push(name.clone());
            }
        }
        for name in gone {
            if let Some(held) = self.mine.remove(&name) {
                warn!(file = %held.claim.path.display(), "a claimed file left the inbox without baton (removed by hand or by the sync); dropped");
                let (id, hash) = held.key;
                if let Err(e) = self.pg(|p| p.claim_filed(&id, &hash)) {
                    warn!("cannot record it: {e}");
                }
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn release(&mut self, claim: &Claim) {
        if let Some(held) = self.mine.remove(&claim.original) {
            self.filed.push(held.key);
        }
    }

    fn flush(&mut self) {
        if self.filed.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.filed);
        // If this fails (or the process dies first) the rows stay `claimed`: a copy brought
        // back later is then taken over by this host, found finished in the ledger, and filed
        // without running.
        if let Err(e) = self.pg(|p| p.claims_filed(&keys)) {
            warn!(claims = keys.len(), "filed, but cannot record it in the shared ledger: {e}");
        }
    }
}

/// The claim key of an inbox file: its id and content hash when it parsed and has an id, else
/// `file:<name>` and the hash of its bytes (read up to 16 MiB; a file that cannot be read is
/// keyed by its name alone).
fn claim_key(path: &Path, name: &OsStr, value: Option<&serde_json::Value>) -> (String, String) {
    let parsed;
    let value = match value {
        Some(v) => Some(v),
        None => {
            parsed = baton_fs::read_capped(path, 16 << 20)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok().map(|v| (v, b)));
            parsed.as_ref().map(|(v, _)| v)
        }
    };
    if let Some(v) = value
        && let Some(id) = v.get("id").and_then(serde_json::Value::as_str)
        && !matches!(baton_handoff::names::classify(name.as_bytes()), baton_handoff::names::Entry::SyncConflict(_))
    {
        return (id.to_string(), baton_handoff::schema::content_hash(v));
    }
    let bytes = baton_fs::read_capped(path, 16 << 20).unwrap_or_default();
    (format!("file:{}", name.to_string_lossy()), hex::encode(Sha256::digest(&bytes)))
}

/// Renews the host's heartbeat every `every` from a thread of its own, so that a long batch
/// (the pipeline's own renewals wait for it) does not let the lease expire. Ends when the
/// ledger is dropped.
fn spawn_heartbeat(
    ledger: std::sync::Weak<std::sync::Mutex<baton_ledger::Ledger>>,
    host: String,
    instance: String,
    every: Duration,
) {
    let every = every.max(Duration::from_millis(100));
    let _ = std::thread::Builder::new().name("baton-heartbeat".into()).spawn(move || {
        loop {
            std::thread::sleep(every);
            let Some(ledger) = ledger.upgrade() else { return };
            let mut l = ledger.locked();
            if let Some(pg) = l.postgres()
                && let Err(e) = pg.heartbeat(&host, &instance)
            {
                tracing::debug!("heartbeat: {e}");
            }
        }
    });
}
