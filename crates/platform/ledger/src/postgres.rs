//! The PostgreSQL backend of the ledger, for several machines sharing one handoffs tree
//! through a sync service. Implements [`Store`] and [`Writes`] like the SQLite backend, plus
//! what only a shared server can do: claims as rows with leases ([`PgLedger::claim`]), host
//! heartbeats, and advisory locks. Every SQL statement of this backend is here; its schema is
//! `baton_store::LEDGER`'s PostgreSQL migrations, recorded in `baton_migrations`.
//!
//! The ledger's API is synchronous (the pipeline calls it under a mutex, as it does SQLite); its
//! session is a [`baton_store::sql::PgSession`], the catalog's kind of session too: the bridge,
//! the reconnect and time-limit policy, the statement cache and how migrations run. A call costs the caller one round trip to the server, as
//! a SQLite call costs it a page read or an fsync.
//!
//! When the connection is lost (a server restart, the network), calls fail with an error that
//! [`LedgerError::is_transient`] calls passing, and the next call connects again. A server that
//! took the connection and then answers nothing fails the call with [`LedgerError::NoAnswer`]
//! after [`PgUrl::call_limit`], a pause; the next call connects again.
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, Row, Statement};

use baton_store::link::CallError;
use baton_store::sql::{PgSession, SqlError};

use crate::location::PgUrl;
use crate::read::{AlertRow, AlertTx, Alerts, ObservedItem, StatRow, StatTable, StatsStore, TaskFilter, TaskList};
use crate::search::{COUNT_CAP, FILTERED_WINDOW, Query};
use crate::{Event, KvLimits, LedgerError, LogLine, Observed, Refusal, Result, Store, TaskRow, TaskState, Writes};

/// Counts a `baton retry` of task `$1` under its plugin (`stat_events`; see `stats`).
const MANUAL_RETRY_PG: &str = "INSERT INTO stat_events(event, plugin, detail, n)
     SELECT 'retry', coalesce(plugin, 'unknown'), 'manual', 1 FROM tasks WHERE id = $1
     ON CONFLICT(event, plugin, detail) DO UPDATE SET n = stat_events.n + 1";

pub struct PgLedger {
    /// The session, its statements, and the reconnect and time-limit policy it follows (the
    /// store's).
    pg: PgSession,
}

pub use baton_store::link::interrupt;

fn call_error(server: &str, e: CallError) -> LedgerError {
    match e {
        CallError::Pg(source) => LedgerError::Postgres { server: server.to_string(), source },
        CallError::NoAnswer(limit) => LedgerError::NoAnswer { server: server.to_string(), limit },
        e @ (CallError::Stopping | CallError::Unavailable(_)) => {
            LedgerError::Unavailable { server: server.to_string(), message: e.to_string() }
        }
    }
}

/// Whether a PostgreSQL error may pass: the store's one judgement ([`baton_store::passing`]).
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    baton_store::passing::postgres(e)
}

/// One handoff to claim (see [`PgLedger::claim_many`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub handoff_id: String,
    pub content_hash: String,
    /// The claim id to record if the claim is new.
    pub claim_id: String,
    pub file_name: String,
}

/// What a claim attempt found (see [`PgLedger::claim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// A new claim, ours now.
    Won { claim_id: String },
    /// A claim that was already ours (a previous process of this host) or whose owner's lease
    /// expired: ours now, under its old claim id; it may have run before.
    TakenOver { claim_id: String },
    /// Held by another live host: leave the file alone. `filed_secs`: that host filed its
    /// original this many seconds ago (the sync service has yet to bring that move here).
    Lost { owner: String, filed_secs: Option<u64> },
    /// Already filed (by us, or by a host whose lease expired and whose claim is ours now): a
    /// copy brought back by the sync, to file without running it.
    Filed { claim_id: String },
}

/// A claim this host holds, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldClaim {
    pub handoff_id: String,
    pub content_hash: String,
    pub claim_id: String,
    pub file_name: String,
}

/// A claim row's seconds since it was filed, NULL while it is held (a select list's item).
macro_rules! filed_secs {
    () => {
        "CASE WHEN state = 'filed' THEN EXTRACT(EPOCH FROM now() - filed_at)::int8 END"
    };
}

/// [`filed_secs!`] as read: a clock that went back reads as 0.
fn secs(filed: Option<i64>) -> Option<u64> {
    filed.map(|s| s.max(0) as u64)
}

/// The claim on an inbox file by its name, as `baton status` shows a file left for another host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileClaim {
    pub file_name: String,
    pub owner: String,
    /// Seconds since the owner filed its original; `None` while it holds the claim.
    pub filed_secs: Option<u64>,
}

impl PgLedger {
    /// Whether a page of the `found` tasks matching a search, ending `end` rows down the list,
    /// costs less walked from the newest task by the order's index (testing each task, about
    /// `end` × tasks ÷ `found` of them) than by looking up every match and sorting them
    /// (`found` lookups). Both cost about the same per task (~10 µs, EXPLAIN ANALYZE); the
    /// number of tasks is the planner's estimate, which is all a choice of plan needs.
    fn walk_is_shorter(&self, found: i64, end: i64) -> Result<bool> {
        let rows =
            self.with(|s| s.query("SELECT reltuples::float8 FROM pg_class WHERE oid = 'tasks'::regclass", &[]))?;
        let tasks: f64 = rows.first().map_or(0.0, |r| r.get(0));
        let (found, end) = (found as f64, end as f64);
        // Never analyzed (-1) or empty: the lookups, which are right for any number.
        Ok(tasks > 0.0 && found > 0.0 && end * tasks / found < found)
    }

    pub(crate) fn open(url: &PgUrl) -> Result<Self> {
        let pg = PgSession::open(url, "state database", None).map_err(|e| call_error(url.shown(), e))?;
        // The ledger's tables up to date (`baton_store::LEDGER`, under the one migration lock).
        match pg.migrate(&baton_store::LEDGER) {
            Ok(_) => Ok(PgLedger { pg }),
            Err(SqlError::Call(e)) => Err(call_error(url.shown(), e)),
            Err(SqlError::Schema(e)) => Err(LedgerError::from_store(url.shown(), e)),
            Err(SqlError::Sqlite(e)) => Err(LedgerError::from(e)),
        }
    }

    /// The server, with any password hidden.
    pub fn server(&self) -> &str {
        self.pg.server()
    }

    fn err(&self, e: CallError) -> LedgerError {
        call_error(self.server(), e)
    }

    /// Connects if there is no live connection (first use, or after a lost one).
    fn connected(&self) -> Result<()> {
        self.pg.connected().map_err(|e| self.err(e))
    }

    /// Runs `f` with the connection (connecting first if needed).
    fn with<R>(&self, f: impl FnOnce(&Session<'_, Client>) -> Result<R, CallError>) -> Result<R> {
        self.connected()?;
        let guard = self.pg.link().client();
        let Some(client) = guard.as_ref() else { unreachable!("connected() leaves a client") };
        f(&Session::new(client, &self.pg, false)).map_err(|e| self.err(e))
    }

    /// Runs `f` in one transaction; the closure's own errors roll it back.
    fn transaction<R>(
        &mut self,
        f: impl FnOnce(&Session<'_, tokio_postgres::Transaction<'_>>) -> Result<R>,
    ) -> Result<R> {
        self.transaction_synced(true, f)
    }

    /// A transaction; `synced: false` commits without waiting for the server's WAL flush
    /// (`synchronous_commit = off` for this transaction only; see [`crate::Ledger::batch_unsynced`]).
    fn transaction_synced<R>(
        &mut self,
        synced: bool,
        f: impl FnOnce(&Session<'_, tokio_postgres::Transaction<'_>>) -> Result<R>,
    ) -> Result<R> {
        self.connected()?;
        let server = self.server().to_string();
        let err = |e| call_error(&server, e);
        let link = self.pg.link();
        let mut guard = link.client_mut();
        let Some(client) = guard.as_mut() else { unreachable!("connected() leaves a client") };
        let tx = link.wait(client.transaction()).map_err(err)?;
        if !synced {
            link.wait(tx.batch_execute("SET LOCAL synchronous_commit TO off")).map_err(err)?;
        }
        let session = Session::new(&tx, &self.pg, true);
        let out = f(&session)?;
        session.flush().map_err(err)?;
        drop(session);
        link.wait(tx.commit()).map_err(err)?;
        Ok(out)
    }

    pub(crate) fn batch<R>(&mut self, f: impl FnOnce(&dyn Writes) -> Result<R>) -> Result<R> {
        self.transaction(|s| f(s))
    }

    /// See [`crate::Ledger::batch_unsynced`].
    pub(crate) fn batch_unsynced<R>(&mut self, f: impl FnOnce(&dyn Writes) -> Result<R>) -> Result<R> {
        self.transaction_synced(false, |s| f(s))
    }

    // ---- shared claims ----

    /// Records that `host` (process `instance`) is alive: its claims' lease starts again.
    pub fn heartbeat(&self, host: &str, instance: &str) -> Result<()> {
        self.with(|s| {
            s.execute(
                "INSERT INTO hosts(host, instance, started_at, heartbeat_at) VALUES ($1, $2, now(), now())
                 ON CONFLICT(host) DO UPDATE SET instance = excluded.instance, heartbeat_at = now()",
                &[&host, &instance],
            )
        })?;
        Ok(())
    }

    /// Claims a handoff for `host`: a new row, or the row of a claim that was already this
    /// host's or whose owner's heartbeat is older than `lease_secs` (see [`ClaimOutcome`]).
    pub fn claim(
        &self,
        host: &str,
        handoff_id: &str,
        content_hash: &str,
        claim_id: &str,
        file_name: &str,
        lease_secs: f64,
    ) -> Result<ClaimOutcome> {
        let wanted = ClaimRequest {
            handoff_id: handoff_id.into(),
            content_hash: content_hash.into(),
            claim_id: claim_id.into(),
            file_name: file_name.into(),
        };
        let mut out = self.claim_many(host, std::slice::from_ref(&wanted), lease_secs)?;
        Ok(out.pop().unwrap_or(ClaimOutcome::Lost { owner: String::new(), filed_secs: None }))
    }

    /// [`PgLedger::claim`] for many handoffs in one statement, so one commit (one WAL flush on
    /// the server) covers a whole inbox scan instead of one per file: the claim rate is then
    /// bounded by the server's round trips, not its fsyncs. The outcomes are in `wanted`'s
    /// order. Each (id, content hash) may appear only once: a row cannot be claimed twice in
    /// one statement (PostgreSQL refuses it), so the caller keeps later copies for later.
    pub fn claim_many(&self, host: &str, wanted: &[ClaimRequest], lease_secs: f64) -> Result<Vec<ClaimOutcome>> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let col = |f: fn(&ClaimRequest) -> &str| wanted.iter().map(f).collect::<Vec<&str>>();
        let (ids, hashes) = (col(|w| &w.handoff_id), col(|w| &w.content_hash));
        let (claim_ids, files) = (col(|w| &w.claim_id), col(|w| &w.file_name));
        let rows = self.with(|s| {
            s.query(
                "INSERT INTO claims(handoff_id, content_hash, claim_id, file_name, owner, state)
                 SELECT w.handoff_id, w.content_hash, w.claim_id, w.file_name, $5, 'claimed'
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[]) AS w(handoff_id, content_hash, claim_id, file_name)
                 ON CONFLICT(handoff_id, content_hash) DO UPDATE SET owner = excluded.owner
                 WHERE claims.owner = excluded.owner
                    OR NOT EXISTS (SELECT 1 FROM hosts h WHERE h.host = claims.owner
                                   AND h.heartbeat_at > now() - make_interval(secs => $6))
                 RETURNING handoff_id, content_hash, claim_id, state, (xmax = 0) AS inserted",
                &[&ids, &hashes, &claim_ids, &files, &host, &lease_secs],
            )
        })?;
        let mut got: HashMap<(String, String), ClaimOutcome> = HashMap::with_capacity(rows.len());
        for r in rows {
            let (claim_id, state, inserted): (String, String, bool) = (r.get(2), r.get(3), r.get(4));
            let outcome = match (inserted, state.as_str()) {
                (true, _) => ClaimOutcome::Won { claim_id },
                (false, "filed") => ClaimOutcome::Filed { claim_id },
                (false, _) => ClaimOutcome::TakenOver { claim_id },
            };
            got.insert((r.get(0), r.get(1)), outcome);
        }
        // The rest are held by live hosts: who holds each, and since when it is filed if it is
        // (one more round trip, only then).
        let mut owners: HashMap<(String, String), (String, Option<i64>)> = HashMap::new();
        if got.len() < wanted.len() {
            let rows = self.with(|s| {
                s.query(
                    concat!(
                        "SELECT c.handoff_id, c.content_hash, c.owner, ",
                        filed_secs!(),
                        " FROM claims c
                         JOIN UNNEST($1::text[], $2::text[]) AS w(handoff_id, content_hash) USING (handoff_id, content_hash)"
                    ),
                    &[&ids, &hashes],
                )
            })?;
            owners = rows.into_iter().map(|r| ((r.get(0), r.get(1)), (r.get(2), r.get(3)))).collect();
        }
        Ok(wanted
            .iter()
            .map(|w| {
                let key = (w.handoff_id.clone(), w.content_hash.clone());
                got.remove(&key).unwrap_or_else(|| {
                    let (owner, filed) = owners.remove(&key).unwrap_or_default();
                    ClaimOutcome::Lost { owner, filed_secs: secs(filed) }
                })
            })
            .collect())
    }

    /// The original of a claim was filed: a copy the sync brings back is filed, never run.
    pub fn claim_filed(&self, handoff_id: &str, content_hash: &str) -> Result<()> {
        self.claims_filed(&[(handoff_id.to_string(), content_hash.to_string())])
    }

    /// [`PgLedger::claim_filed`] for many claims, in one statement and one commit.
    pub fn claims_filed(&self, keys: &[(String, String)]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = keys.iter().map(|k| k.0.as_str()).collect();
        let hashes: Vec<&str> = keys.iter().map(|k| k.1.as_str()).collect();
        self.with(|s| {
            s.execute(
                "UPDATE claims SET state = 'filed', filed_at = now()
                 FROM UNNEST($1::text[], $2::text[]) AS w(handoff_id, content_hash)
                 WHERE claims.handoff_id = w.handoff_id AND claims.content_hash = w.content_hash",
                &[&ids, &hashes],
            )
        })?;
        Ok(())
    }

    /// Forgets the claims of a handoff id (after `baton retry`), so that its next copy is
    /// claimed afresh instead of being taken for a copy of a filed one.
    pub fn claims_forget(&self, handoff_id: &str) -> Result<()> {
        self.with(|s| s.execute("DELETE FROM claims WHERE handoff_id = $1 AND state = 'filed'", &[&handoff_id]))?;
        Ok(())
    }

    /// Claims recorded for `host` that are not filed yet.
    pub fn held(&self, host: &str) -> Result<Vec<HeldClaim>> {
        let rows = self.with(|s| {
            s.query(
                "SELECT handoff_id, content_hash, claim_id, file_name FROM claims WHERE owner = $1 AND state = 'claimed' ORDER BY claim_id",
                &[&host],
            )
        })?;
        Ok(rows
            .into_iter()
            .map(|r| HeldClaim {
                handoff_id: r.get(0),
                content_hash: r.get(1),
                claim_id: r.get(2),
                file_name: r.get(3),
            })
            .collect())
    }

    /// Claims per state and owner, and each host's heartbeat age in seconds (`baton status`).
    pub fn hosts(&self) -> Result<Vec<(String, f64)>> {
        let rows = self.with(|s| {
            s.query("SELECT host, EXTRACT(EPOCH FROM now() - heartbeat_at)::float8 FROM hosts ORDER BY host", &[])
        })?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// The claims recorded under the file names `files` (an inbox's), claimed or filed.
    pub fn claims_of_files(&self, files: &[String]) -> Result<Vec<FileClaim>> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.with(|s| {
            s.query(
                concat!(
                    "SELECT file_name, owner, ",
                    filed_secs!(),
                    " FROM claims WHERE file_name = ANY($1::text[]) ORDER BY file_name"
                ),
                &[&files],
            )
        })?;
        Ok(rows
            .into_iter()
            .map(|r| FileClaim { file_name: r.get(0), owner: r.get(1), filed_secs: secs(r.get(2)) })
            .collect())
    }

    /// Claims held now (claimed, not yet filed), per owning host: what is in progress across
    /// the hosts (on PostgreSQL nothing is renamed into `.claims/`).
    pub fn claims_in_progress(&self) -> Result<Vec<(String, i64)>> {
        let rows = self.with(|s| {
            s.query("SELECT owner, count(*) FROM claims WHERE state = 'claimed' GROUP BY owner ORDER BY owner", &[])
        })?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Whether the server answers now.
    pub fn ping(&self) -> Result<()> {
        self.with(|s| s.wait(s.c.simple_query("SELECT 1")).map(|_| ()))
    }
}

/// A connection or a transaction, with this connection's prepared statements.
///
/// In a transaction, the writes that return nothing ([`Session::execute_later`]: a batch's
/// task rows, events, observations, counters) are held and sent together, pipelined, at the
/// next read or at commit: one round trip for a batch's writes instead of one per statement,
/// which is most of a handoff's cost on a server (each round trip waits for the server). They
/// are sent in the order they were made, and any error fails the batch as before.
struct Session<'a, C: GenericClient> {
    c: &'a C,
    /// The ledger's session: its prepared statements, its server and its call limit.
    pg: &'a PgSession,
    defer: bool,
    later: RefCell<Vec<Later>>,
}

/// A parameter a held write owns until it is sent.
type Owned = Box<dyn ToSql + Sync + Send>;

/// A write held until the next read or the commit.
struct Later {
    stmt: Statement,
    params: Vec<Owned>,
}

/// Held writes are sent at most this many at a time (bounds the memory a huge batch holds).
const LATER_MAX: usize = 1024;

impl<'a, C: GenericClient + Sync> Session<'a, C> {
    fn new(c: &'a C, pg: &'a PgSession, defer: bool) -> Self {
        Session { c, pg, defer, later: RefCell::new(Vec::new()) }
    }

    /// Waits for one call's answer, at most the ledger's call limit.
    fn wait<T>(&self, f: impl Future<Output = Result<T, tokio_postgres::Error>>) -> Result<T, CallError> {
        self.pg.link().wait(f)
    }

    /// A write whose answer nobody reads: held and pipelined in a transaction, else run now.
    fn execute_later(&self, sql: &'static str, params: Vec<Owned>) -> Result<(), CallError> {
        let stmt = self.stmt(sql)?;
        self.later.borrow_mut().push(Later { stmt, params });
        if !self.defer || self.later.borrow().len() >= LATER_MAX {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends the held writes, all at once (pipelined), and waits for their answers.
    fn flush(&self) -> Result<(), CallError> {
        let later = std::mem::take(&mut *self.later.borrow_mut());
        if later.is_empty() {
            return Ok(());
        }
        let params: Vec<Vec<&(dyn ToSql + Sync)>> =
            later.iter().map(|l| l.params.iter().map(|p| p.as_ref() as &(dyn ToSql + Sync)).collect()).collect();
        self.wait(futures_util::future::try_join_all(
            later.iter().zip(&params).map(|(l, p)| self.c.execute(&l.stmt, p)),
        ))?;
        Ok(())
    }
}

impl<C: GenericClient + Sync> Session<'_, C> {
    fn fail(&self, e: CallError) -> LedgerError {
        call_error(self.pg.server(), e)
    }

    fn stmt(&self, sql: &'static str) -> Result<Statement, CallError> {
        self.pg.prepare(self.c, sql)
    }

    fn query(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, CallError> {
        self.flush()?;
        let st = self.stmt(sql)?;
        self.wait(self.c.query(&st, params))
    }

    fn query_opt(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, CallError> {
        self.flush()?;
        let st = self.stmt(sql)?;
        self.wait(self.c.query_opt(&st, params))
    }

    fn execute(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, CallError> {
        self.flush()?;
        let st = self.stmt(sql)?;
        self.wait(self.c.execute(&st, params))
    }
}

impl<C: GenericClient + Sync> Session<'_, C> {
    /// Adds `b` to the row (`key`, `plugin`); true if the row is new.
    fn add_bucket(
        &self,
        table: StatTable,
        key: i64,
        plugin: &str,
        b: &crate::stats::Bucket,
    ) -> Result<bool, CallError> {
        let (create, lock, write) = match table {
            StatTable::Minutes => (
                "INSERT INTO stat_minutes(minute, plugin, completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum)
                 VALUES ($1, $2, 0, 0, 0, '', 0, '', 0) ON CONFLICT DO NOTHING",
                "SELECT completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum FROM stat_minutes
                 WHERE minute = $1 AND plugin = $2 FOR UPDATE",
                "UPDATE stat_minutes SET completed = $3, failed = $4, rejected = $5, drop_hist = $6, drop_sum = $7, run_hist = $8, run_sum = $9
                 WHERE minute = $1 AND plugin = $2",
            ),
            StatTable::Hours => (
                "INSERT INTO stat_hours(hour, plugin, completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum)
                 VALUES ($1, $2, 0, 0, 0, '', 0, '', 0) ON CONFLICT DO NOTHING",
                "SELECT completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum FROM stat_hours
                 WHERE hour = $1 AND plugin = $2 FOR UPDATE",
                "UPDATE stat_hours SET completed = $3, failed = $4, rejected = $5, drop_hist = $6, drop_sum = $7, run_hist = $8, run_sum = $9
                 WHERE hour = $1 AND plugin = $2",
            ),
        };
        let fresh = self.execute(create, &[&key, &plugin])? == 1;
        let mut merged = match self.query_opt(lock, &[&key, &plugin])? {
            Some(r) => crate::stats::Bucket {
                completed: r.get::<_, i64>(0).max(0) as u64,
                failed: r.get::<_, i64>(1).max(0) as u64,
                rejected: r.get::<_, i64>(2).max(0) as u64,
                drop: crate::stats::Hist::decode(r.get::<_, &[u8]>(3), r.get(4)),
                run: crate::stats::Hist::decode(r.get::<_, &[u8]>(5), r.get(6)),
            },
            None => crate::stats::Bucket::default(),
        };
        merged.merge(b);
        let (c, f, r) = (merged.completed as i64, merged.failed as i64, merged.rejected as i64);
        let (dh, rh) = (merged.drop.encode(), merged.run.encode());
        self.execute(write, &[&key, &plugin, &c, &f, &r, &dh, &merged.drop.sum, &rh, &merged.run.sum])?;
        Ok(fresh)
    }
}

fn task_from(r: &Row) -> TaskRow {
    let state: String = r.get(9);
    TaskRow {
        id: r.get(0),
        content_hash: r.get(1),
        claim: r.get(2),
        file_name: r.get(3),
        sender: r.get(4),
        reply_to: r.get(5),
        plugin: r.get(6),
        action: r.get(7),
        title: r.get(8),
        // Written by baton from the same enum; an unknown name reads as failed, never panics.
        state: TaskState::parse(&state).unwrap_or(TaskState::Failed),
        error_code: r.get(10),
        error_message: r.get(11),
        attempts: r.get::<_, i32>(12).max(0) as u32,
        return_name: r.get(13),
        claimed_at: r.get(14),
        finished_at: r.get(15),
        duration_ms: r.get(16),
    }
}

fn observed_from(r: &Row) -> Observed {
    Observed {
        agent: r.get(0),
        file_name: r.get(1),
        kind: r.get(2),
        id: r.get(3),
        in_reply_to: r.get(4),
        sender: r.get(5),
        recipient: r.get(6),
        title: r.get(7),
        created_at: r.get(8),
    }
}

fn task<C: GenericClient + Sync>(s: &Session<'_, C>, id: &str) -> Result<Option<TaskRow>, CallError> {
    let row = s.query_opt(
        "SELECT id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
            error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms FROM tasks WHERE id = $1",
        &[&id],
    )?;
    Ok(row.as_ref().map(task_from))
}

fn events<C: GenericClient + Sync>(s: &Session<'_, C>, id: &str) -> Result<Vec<Event>, CallError> {
    let rows = s.query("SELECT at, event, detail FROM events WHERE task_id = $1 ORDER BY seq", &[&id])?;
    Ok(rows
        .into_iter()
        .map(|r| Event { at: r.get(0), event: r.get(1), detail: crate::parse_detail(r.get(2)) })
        .collect())
}

fn kv_set<C: GenericClient + Sync>(s: &Session<'_, C>, plugin: &str, key: &str, value: &str) -> Result<u64, CallError> {
    s.execute(
        "INSERT INTO kv(plugin, key, value) VALUES ($1, $2, $3) ON CONFLICT(plugin, key) DO UPDATE SET value = excluded.value",
        &[&plugin, &key, &value],
    )
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Store for PgLedger {
    fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        self.with(|s| task(s, id))
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        self.with(|s| events(s, id))
    }

    fn tasks_by_id(&self, key: Option<&str>, after: &str, limit: usize) -> Result<Vec<(Option<i64>, TaskRow)>> {
        let rows = self.with(|s| {
            s.query(
                "SELECT id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
                    error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms FROM tasks
                 WHERE ($1::text IS NULL OR id = $1) AND id COLLATE \"C\" > $2 ORDER BY id COLLATE \"C\" LIMIT $3",
                &[&key, &after, &(limit as i64)],
            )
        })?;
        Ok(rows.iter().map(|r| (None, task_from(r))).collect())
    }

    fn task_count(&self) -> Result<u64> {
        let row = self.with(|s| s.query_opt("SELECT count(*) FROM tasks", &[]))?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0).max(0) as u64))
    }

    fn events_named(&self, event: &str, before: Option<i64>, limit: usize) -> Result<Vec<(i64, String, Event)>> {
        let rows = self.with(|s| {
            s.query(
                "SELECT seq, task_id, at, event, detail FROM events WHERE event = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3",
                &[&event, &before.unwrap_or(i64::MAX), &(limit as i64)],
            )
        })?;
        Ok(rows
            .into_iter()
            .map(|r| {
                (r.get(0), r.get(1), Event { at: r.get(2), event: r.get(3), detail: crate::parse_detail(r.get(4)) })
            })
            .collect())
    }

    fn logs(&self, id: &str) -> Result<Vec<LogLine>> {
        let rows =
            self.with(|s| s.query("SELECT at, level, message FROM logs WHERE task_id = $1 ORDER BY seq", &[&id]))?;
        Ok(rows.into_iter().map(|r| LogLine { at: r.get(0), level: r.get(1), message: r.get(2) }).collect())
    }

    fn recent(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let rows = self.with(|s| {
            s.query(
                "SELECT id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
                    error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms FROM tasks
                 ORDER BY (CASE WHEN COALESCE(finished_at, claimed_at) ~ '^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:\\d\\d)$' THEN COALESCE(finished_at, claimed_at)::timestamptz END) DESC NULLS LAST, COALESCE(finished_at, claimed_at) DESC LIMIT $1",
                &[&(limit as i64)],
            )
        })?;
        Ok(rows.iter().map(task_from).collect())
    }

    fn counts(&self) -> Result<Vec<(String, u64)>> {
        let rows = self.with(|s| s.query("SELECT state, COUNT(*) FROM tasks GROUP BY state ORDER BY state", &[]))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get::<_, i64>(1) as u64)).collect())
    }

    fn open_handoffs(&self) -> Result<Vec<Observed>> {
        let rows = self.with(|s| {
            s.query(
                "SELECT agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at
                 FROM observed o WHERE kind = 'task'
                   AND NOT EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
                 ORDER BY created_at",
                &[],
            )
        })?;
        Ok(rows.iter().map(observed_from).collect())
    }

    fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool> {
        Ok(self
            .with(|s| s.query_opt("SELECT 1 FROM observed WHERE agent = $1 AND file_name = $2", &[&agent, &file_name]))?
            .is_some())
    }

    fn kv_get(&self, plugin: &str, key: &str) -> Result<Option<String>> {
        Ok(self
            .with(|s| s.query_opt("SELECT value FROM kv WHERE plugin = $1 AND key = $2", &[&plugin, &key]))?
            .map(|r| r.get(0)))
    }

    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        self.with(|s| kv_set(s, plugin, key, value))?;
        Ok(())
    }

    fn kv_set_within(&mut self, plugin: &str, key: &str, value: &str, limits: KvLimits) -> Result<()> {
        let server = self.server().to_string();
        let err = move |e| call_error(&server, e);
        self.transaction(|s| {
            // One writer per plugin's quota at a time, across hosts.
            s.execute("SELECT pg_advisory_xact_lock(hashtext('baton.kv:' || $1)::bigint)", &[&plugin]).map_err(&err)?;
            let (keys, bytes) = s
                .query_opt("SELECT keys, bytes FROM kv_usage WHERE plugin = $1", &[&plugin])
                .map_err(&err)?
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
                .unwrap_or((0, 0));
            let old: Option<i64> = s
                .query_opt(
                    "SELECT octet_length(value)::bigint FROM kv WHERE plugin = $1 AND key = $2",
                    &[&plugin, &key],
                )
                .map_err(&err)?
                .map(|r| r.get(0));
            crate::check_kv_quota(keys, bytes, old, key, value, limits)?;
            kv_set(s, plugin, key, value).map_err(&err)?;
            Ok(())
        })
    }

    fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        Ok(self
            .with(|s| s.query_opt("SELECT health FROM plugin_health WHERE plugin = $1", &[&plugin]))?
            .map(|r| r.get(0)))
    }

    fn refusal_set(&self, file: &str, name: &str, sha256: &str, reason: &str, at: &str) -> Result<()> {
        self.with(|s| {
            s.execute(
                "INSERT INTO plugin_refusals(file, name, sha256, reason, at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT(file) DO UPDATE SET name = excluded.name, sha256 = excluded.sha256,
                    reason = excluded.reason, at = excluded.at",
                &[&file, &name, &sha256, &reason, &at],
            )
        })?;
        Ok(())
    }

    fn refusal_clear(&self, file: &str) -> Result<()> {
        self.with(|s| s.execute("DELETE FROM plugin_refusals WHERE file = $1", &[&file]))?;
        Ok(())
    }

    fn refusals(&self) -> Result<Vec<Refusal>> {
        let rows =
            self.with(|s| s.query("SELECT file, name, sha256, reason, at FROM plugin_refusals ORDER BY file", &[]))?;
        Ok(rows
            .into_iter()
            .map(|r| Refusal { file: r.get(0), name: r.get(1), sha256: r.get(2), reason: r.get(3), at: r.get(4) })
            .collect())
    }

    fn kv_usage(&self, plugin: &str) -> Result<(u64, u64)> {
        let row = self.with(|s| s.query_opt("SELECT keys, bytes FROM kv_usage WHERE plugin = $1", &[&plugin]))?;
        Ok(row.map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64)).unwrap_or((0, 0)))
    }

    fn kv_delete(&self, plugin: &str, key: &str) -> Result<()> {
        self.with(|s| s.execute("DELETE FROM kv WHERE plugin = $1 AND key = $2", &[&plugin, &key]))?;
        Ok(())
    }

    fn request_retry(&self, id: &str, content_hash: &str) -> Result<()> {
        let now = now_rfc3339();
        self.with(|s| {
            s.execute(
                "UPDATE tasks SET state = 'retry_requested', content_hash = $2 WHERE id = $1",
                &[&id, &content_hash],
            )?;
            s.execute(
                "INSERT INTO events(task_id, at, event, detail) VALUES ($1, $2, 'retry_requested', '{}')",
                &[&id, &now],
            )?;
            s.execute(MANUAL_RETRY_PG, &[&id])?;
            // The next copy of this handoff is claimed afresh, not filed as a copy brought back.
            s.execute("DELETE FROM claims WHERE handoff_id = $1 AND state = 'filed'", &[&id])
        })?;
        Ok(())
    }

    fn deaths(&self, claim: &str) -> Result<u32> {
        let row = self.with(|s| s.query_opt("SELECT deaths + solo FROM claim_runs WHERE claim = $1", &[&claim]))?;
        Ok(row.map(|r| r.get::<_, i32>(0).max(0) as u32).unwrap_or(0))
    }
}

/// The writes of one batch: a transaction's session.
impl<C: GenericClient + Sync> Writes for Session<'_, C> {
    fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        task(self, id).map_err(|e| self.fail(e))
    }

    fn insert_task(&self, row: &TaskRow) -> Result<()> {
        let attempts = row.attempts as i32;
        self.execute_later(
            "INSERT INTO tasks(id, content_hash, claim, file_name, sender, reply_to, plugin, action, title,
                               state, attempts, claimed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            vec![
                Box::new(row.id.clone()),
                Box::new(row.content_hash.clone()),
                Box::new(row.claim.clone()),
                Box::new(row.file_name.clone()),
                Box::new(row.sender.clone()),
                Box::new(row.reply_to.clone()),
                Box::new(row.plugin.clone()),
                Box::new(row.action.clone()),
                Box::new(row.title.clone()),
                Box::new(row.state.as_str()),
                Box::new(attempts),
                Box::new(row.claimed_at.clone()),
            ],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn reclaim(&self, row: &TaskRow) -> Result<()> {
        self.execute(
            "UPDATE tasks SET claim = $2, file_name = $3, content_hash = $4, sender = $5, reply_to = $6, plugin = $7,
                    action = $8, title = $9, state = 'claimed', error_code = NULL, error_message = NULL,
                    finished_at = NULL, claimed_at = $10
             WHERE id = $1",
            &[
                &row.id,
                &row.claim,
                &row.file_name,
                &row.content_hash,
                &row.sender,
                &row.reply_to,
                &row.plugin,
                &row.action,
                &row.title,
                &row.claimed_at,
            ],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn start_attempt(&self, id: &str, attempt: u32) -> Result<()> {
        let attempt = attempt as i32;
        self.execute_later(
            "UPDATE tasks SET state = 'running', attempts = $2 WHERE id = $1",
            vec![Box::new(id.to_string()), Box::new(attempt)],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn finish(
        &self,
        id: &str,
        state: TaskState,
        error: Option<(&str, &str)>,
        return_name: Option<&str>,
        finished_at: &str,
        duration_ms: f64,
    ) -> Result<()> {
        self.execute_later(
            "UPDATE tasks SET state = $2, error_code = $3, error_message = $4,
                    return_name = COALESCE($5, return_name), finished_at = $6, duration_ms = $7
             WHERE id = $1",
            vec![
                Box::new(id.to_string()),
                Box::new(state.as_str()),
                Box::new(error.map(|e| e.0.to_string())),
                Box::new(error.map(|e| e.1.to_string())),
                Box::new(return_name.map(str::to_string)),
                Box::new(finished_at.to_string()),
                Box::new(duration_ms),
            ],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        events(self, id).map_err(|e| self.fail(e))
    }

    fn search_text(&self, id: &str, document: &str) -> Result<()> {
        self.execute_later(
            "INSERT INTO task_text(id, body) VALUES ($1, $2)
             ON CONFLICT(id) DO UPDATE SET body = excluded.body WHERE task_text.body IS DISTINCT FROM excluded.body",
            vec![Box::new(id.to_string()), Box::new(document.to_string())],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn solo_begin(&self, claim: &str) -> Result<u32> {
        let row = self
            .query_opt(
                "INSERT INTO claim_runs(claim, deaths, solo) VALUES ($1, 0, 1)
                 ON CONFLICT(claim) DO UPDATE SET deaths = claim_runs.deaths + claim_runs.solo, solo = 1
                 RETURNING deaths",
                &[&claim],
            )
            .map_err(|e| self.fail(e))?;
        Ok(row.map(|r| r.get::<_, i32>(0).max(0) as u32).unwrap_or(0))
    }

    fn solo_abandon(&self, claim: &str) -> Result<()> {
        self.execute("UPDATE claim_runs SET solo = 0 WHERE claim = $1", &[&claim]).map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn solo_end(&self, claim: &str) -> Result<()> {
        self.execute("DELETE FROM claim_runs WHERE claim = $1", &[&claim]).map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn log(&self, task_id: &str, at: &str, level: &str, message: &str) -> Result<()> {
        self.execute_later(
            "INSERT INTO logs(task_id, at, level, message) VALUES ($1, $2, $3, $4)",
            vec![
                Box::new(task_id.to_string()),
                Box::new(at.to_string()),
                Box::new(level.to_string()),
                Box::new(message.to_string()),
            ],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        kv_set(self, plugin, key, value).map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        let row = self
            .query_opt("SELECT health FROM plugin_health WHERE plugin = $1", &[&plugin])
            .map_err(|e| self.fail(e))?;
        Ok(row.map(|r| r.get(0)))
    }

    fn health_set(&self, plugin: &str, health: &str) -> Result<()> {
        self.execute(
            "INSERT INTO plugin_health(plugin, health) VALUES ($1, $2) ON CONFLICT(plugin) DO UPDATE SET health = excluded.health",
            &[&plugin, &health],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn event(&self, task_id: &str, at: &str, event: &str, detail: &serde_json::Value) -> Result<()> {
        self.execute_later(
            "INSERT INTO events(task_id, at, event, detail) VALUES ($1, $2, $3, $4)",
            vec![
                Box::new(task_id.to_string()),
                Box::new(at.to_string()),
                Box::new(event.to_string()),
                Box::new(detail.to_string()),
            ],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn observe(&self, o: &Observed, seen_at: &str) -> Result<()> {
        self.execute_later(
            "INSERT INTO observed(agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at, seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            vec![
                Box::new(o.agent.clone()), Box::new(o.file_name.clone()), Box::new(o.kind.clone()), Box::new(o.id.clone()),
                Box::new(o.in_reply_to.clone()), Box::new(o.sender.clone()), Box::new(o.recipient.clone()),
                Box::new(o.title.clone()), Box::new(o.created_at.clone()), Box::new(seen_at.to_string()),
            ],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }
    /// Adds a group's answers to the summary tables (see `stats`), in the group's transaction.
    /// Several hosts add to the same rows: a bucket row is created empty if missing, then
    /// locked (`FOR UPDATE`), merged and written back, so concurrent groups serialize on it
    /// instead of losing counts.
    fn record_stats(&self, batch: &crate::stats::StatsBatch) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let fail = |e| self.fail(e);
        for (status, plugin, n) in batch.counts() {
            self.execute_later(
                "INSERT INTO stat_counts(status, plugin, n) VALUES ($1, $2, $3)
                 ON CONFLICT(status, plugin) DO UPDATE SET n = stat_counts.n + excluded.n",
                vec![Box::new(status.to_string()), Box::new(plugin.to_string()), Box::new(n as i64)],
            )
            .map_err(fail)?;
        }
        for (event, plugin, detail, n) in batch.events() {
            self.execute_later(
                "INSERT INTO stat_events(event, plugin, detail, n) VALUES ($1, $2, $3, $4)
                 ON CONFLICT(event, plugin, detail) DO UPDATE SET n = stat_events.n + excluded.n",
                vec![
                    Box::new(event.to_string()),
                    Box::new(plugin.to_string()),
                    Box::new(detail.to_string()),
                    Box::new(n as i64),
                ],
            )
            .map_err(fail)?;
        }
        for ((minute, plugin), b) in batch.minutes() {
            if self.add_bucket(StatTable::Minutes, *minute, plugin, b).map_err(fail)? {
                self.execute(
                    "DELETE FROM stat_minutes WHERE minute < $1",
                    &[&(minute - crate::stats::MINUTE_RETENTION)],
                )
                .map_err(fail)?;
            }
        }
        for ((hour, plugin), b) in &batch.hours() {
            self.add_bucket(StatTable::Hours, *hour, plugin, b).map_err(fail)?;
        }
        let (durations, run_sum_s) = batch.durations();
        for (bucket, n) in durations {
            self.execute_later(
                "INSERT INTO stat_duration(bucket, n) VALUES ($1, $2) ON CONFLICT(bucket) DO UPDATE SET n = stat_duration.n + excluded.n",
                vec![Box::new(*bucket as i64), Box::new(*n as i64)],
            )
            .map_err(fail)?;
        }
        if !durations.is_empty() {
            self.execute(
                "INSERT INTO stat_totals(name, value) VALUES ('run_seconds_sum', $1)
                 ON CONFLICT(name) DO UPDATE SET value = stat_totals.value + excluded.value",
                &[&run_sum_s],
            )
            .map_err(fail)?;
        }
        Ok(())
    }
}

// ---- the dashboard's and the alerts' reads (see `read.rs`) ----

/// The advisory lock key under which an alert evaluation runs: hosts evaluate in turns, so
/// one condition is one row and one firing, whichever host sees it first.
const ALERTS_LOCK: i64 = 0x6261_746f_6e00_0a01;

fn alert_from(r: &Row) -> AlertRow {
    AlertRow {
        id: r.get(0),
        rule: r.get(1),
        labels: r.get(2),
        summary: r.get(3),
        state: r.get(4),
        firing: r.get::<_, i64>(5).max(0) as u64,
        started_at: r.get(6),
        last_seen_at: r.get(7),
        resolved_at: r.get(8),
        acked_at: r.get(9),
        notified: r.get(10),
    }
}

impl<C: GenericClient + Sync> AlertTx for Session<'_, C> {
    fn state(&self, id: &str) -> Result<Option<String>> {
        Ok(self
            .query_opt("SELECT state FROM alerts WHERE id = $1", &[&id])
            .map_err(|e| self.fail(e))?
            .map(|r| r.get(0)))
    }

    fn insert(&self, id: &str, rule: &str, labels: &str, summary: &str, now: &str) -> Result<()> {
        self.execute(
            "INSERT INTO alerts(id, rule, labels, summary, state, firing, started_at, last_seen_at)
             VALUES ($1, $2, $3, $4, 'firing', 1, $5, $5)",
            &[&id, &rule, &labels, &summary, &now],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn seen(&self, id: &str, now: &str, summary: &str) -> Result<()> {
        self.execute("UPDATE alerts SET last_seen_at = $2, summary = $3 WHERE id = $1", &[&id, &now, &summary])
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn refire(&self, id: &str, now: &str, summary: &str) -> Result<()> {
        self.execute(
            "UPDATE alerts SET state = 'firing', firing = firing + 1, started_at = $2, last_seen_at = $2,
                    resolved_at = NULL, acked_at = NULL, notified = NULL, summary = $3
             WHERE id = $1",
            &[&id, &now, &summary],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn firing(&self) -> Result<Vec<String>> {
        let rows = self.query("SELECT id FROM alerts WHERE state = 'firing'", &[]).map_err(|e| self.fail(e))?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }

    fn resolve(&self, id: &str, now: &str) -> Result<()> {
        self.execute("UPDATE alerts SET state = 'resolved', resolved_at = $2 WHERE id = $1", &[&id, &now])
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn prune(&self, before: &str) -> Result<()> {
        self.execute("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < $1", &[&before])
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn unnotified(&self) -> Result<Vec<AlertRow>> {
        let rows = self
            .query(
                "SELECT id, rule, labels, summary, state, firing, started_at, last_seen_at, resolved_at, acked_at, notified
                 FROM alerts WHERE state = 'firing' AND notified_firing < firing ORDER BY started_at COLLATE \"C\", id COLLATE \"C\"",
                &[],
            )
            .map_err(|e| self.fail(e))?;
        Ok(rows.iter().map(alert_from).collect())
    }

    fn is_observed(&self, agent: &str, file_name: &str) -> Result<bool> {
        let row = self
            .query_opt("SELECT 1 FROM observed WHERE agent = $1 AND file_name = $2", &[&agent, &file_name])
            .map_err(|e| self.fail(e))?;
        Ok(row.is_some())
    }

    fn notified(&self, id: &str, firing: u64, path: &str) -> Result<()> {
        let firing = firing as i64;
        self.execute(
            "UPDATE alerts SET notified_firing = $2, notified = $3 WHERE id = $1 AND firing = $2",
            &[&id, &firing, &path],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }
}

/// The task list's order, newest claim first, as migration 0007's index `tasks_newest` holds it
/// (the same expressions), so that a page of it is read from the index, not sorted.
macro_rules! newest_first {
    () => {
        " ORDER BY baton_claimed_ts(claimed_at) DESC NULLS LAST, claimed_at DESC, id COLLATE \"C\" DESC "
    };
}

macro_rules! filters {
    () => {
        "WHERE ($1::text IS NULL OR state = ANY(string_to_array($1::text, ',')))
           AND ($2::text IS NULL OR plugin = $2::text) AND ($3::text IS NULL OR error_code = $3::text)
           AND ($4::text IS NULL OR sender = $4::text OR reply_to = $4::text)"
    };
}
// `q`'s test, task by task, words first: only for a `q` in many tasks (past COUNT_CAP, or
// when `walk_is_shorter`), walked in the index's order, where a match is never far. A scalar
// subquery, one key lookup a task: as an EXISTS the planner hashed every match of the word
// first (~120 ms for a word in most of 100,000 tasks, EXPLAIN ANALYZE) to test the first 50.
macro_rules! search {
    () => {
        " AND (($6::text IS NOT NULL
                AND (SELECT x.words @@ to_tsquery('simple', $6::text) FROM task_text x WHERE x.id = tasks.id))
               OR ((id || E'\\n' || title || E'\\n' || sender || E'\\n' || reply_to) LIKE $5::text
                   AND (id LIKE $5::text OR title LIKE $5::text OR sender LIKE $5::text OR reply_to LIKE $5::text)))"
    };
}
macro_rules! page {
    ($where:expr, $limit:literal) => {
        concat!(
            "SELECT id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
                error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms FROM tasks ",
            $where,
            newest_first!(),
            $limit
        )
    };
}

/// How many matches of each part of a search are read: one more than [`COUNT_CAP`], to know
/// whether it is passed.
const READ_CAP: i64 = COUNT_CAP as i64 + 1;

/// The ids that match a search, read once a request ([`PgLedger::probe`]).
enum Probe {
    /// Every match, sorted, each once.
    Found(Vec<String>),
    /// More than [`COUNT_CAP`] tasks match (in their names or in their words alone).
    PastCap,
}

impl PgLedger {
    /// The ids that match `q`, each part read at most to [`COUNT_CAP`] + 1: its names (trigram
    /// index) and its words (GIN). Below the cap a page and its counts are over those ids alone
    /// (key lookups), instead of the search being run again inside each statement (EXPLAIN
    /// ANALYZE: ~180 ms a statement for a word in 5,000 tasks, three statements a request).
    /// Read once a request: the dashboard's page and its retryable count share it
    /// ([`StatsStore::task_list_and_count`]).
    fn probe(&self, q: &Query) -> Result<Probe> {
        let words = match &q.pg_words {
            Some(w) => self.with(|s| {
                s.query(
                    "SELECT id FROM task_text WHERE words @@ to_tsquery('simple', $1::text) LIMIT $2",
                    &[w, &READ_CAP],
                )
            })?,
            None => Vec::new(),
        };
        // Past the cap in its words alone, the names need not be read.
        let names = if (words.len() as i64) < READ_CAP {
            self.with(|s| {
                s.query(
                    "SELECT id FROM tasks
                     WHERE (id || E'\n' || title || E'\n' || sender || E'\n' || reply_to) LIKE $1::text
                       AND (id LIKE $1::text OR title LIKE $1::text OR sender LIKE $1::text OR reply_to LIKE $1::text)
                     LIMIT $2",
                    &[&q.like, &READ_CAP],
                )
            })?
        } else {
            Vec::new()
        };
        if (names.len() as i64) >= READ_CAP || (words.len() as i64) >= READ_CAP {
            return Ok(Probe::PastCap);
        }
        let mut ids: Vec<String> = names.iter().chain(&words).map(|r| r.get(0)).collect();
        ids.sort_unstable();
        ids.dedup();
        Ok(Probe::Found(ids))
    }

    /// The task list without `q`: a count and a page, both by migration 0007's index.
    fn unsearched(&self, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList> {
        let (state, plugin, code, agent) = (f.state, f.plugin, f.error_code, f.agent);
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&state, &plugin, &code, &agent];
        let total = self.with(|s| s.query(concat!("SELECT COUNT(*) FROM tasks ", filters!()), &args))?;
        let total: i64 = total.first().map(|r| r.get(0)).unwrap_or(0);
        args.extend([&limit as &(dyn ToSql + Sync), &offset]);
        let rows = self.with(|s| s.query(page!(filters!(), "LIMIT $5 OFFSET $6"), &args))?;
        Ok(TaskList {
            rows: rows.iter().map(task_from).collect(),
            total: total.max(0) as u64,
            total_exact: true,
            unindexed: 0,
        })
    }

    /// The task list for `q`, whose matches `probe` read (see [`StatsStore::task_list`]).
    fn searched(&self, f: &TaskFilter<'_>, q: &Query, probe: &Probe, offset: i64, limit: i64) -> Result<TaskList> {
        let (state, plugin, code, agent) = (f.state, f.plugin, f.error_code, f.agent);
        let mut args: Vec<&(dyn ToSql + Sync)> = vec![&state, &plugin, &code, &agent];
        let filtered = f.filters_besides_q();
        let (like, pg_words) = (q.like.as_str(), q.pg_words.as_deref());
        if let Probe::Found(ids) = probe {
            let found = i64::try_from(ids.len()).unwrap_or(i64::MAX);
            let total = if filtered {
                let mut args = args.clone();
                args.push(ids);
                let sql = concat!("SELECT COUNT(*) FROM tasks ", filters!(), " AND id = ANY($5::text[])");
                self.with(|s| s.query(sql, &args))?.first().map(|r| r.get(0)).unwrap_or(0)
            } else {
                found
            };
            let rows = if limit <= 0 {
                Vec::new()
            } else if !filtered && self.walk_is_shorter(found, offset.saturating_add(limit))? {
                args.extend([&like as &(dyn ToSql + Sync), &pg_words, &limit, &offset]);
                self.with(|s| s.query(page!(concat!(filters!(), search!()), "LIMIT $7 OFFSET $8"), &args))?
            } else {
                args.push(ids);
                args.extend([&limit as &(dyn ToSql + Sync), &offset]);
                self.with(|s| {
                    s.query(page!(concat!(filters!(), " AND id = ANY($5::text[])"), "LIMIT $6 OFFSET $7"), &args)
                })?
            };
            return Ok(TaskList {
                rows: rows.iter().map(task_from).collect(),
                total: total.max(0) as u64,
                // Both parts were read whole: every match is among the ids.
                total_exact: true,
                unindexed: 0,
            });
        }
        // More than the cap match `q` alone.
        args.extend([&like as &(dyn ToSql + Sync), &pg_words]);
        let (mut total, mut exact) = (READ_CAP, false);
        if filtered {
            let window = i64::try_from(FILTERED_WINDOW).unwrap_or(i64::MAX);
            let mut count_args = args.clone();
            count_args.push(&window);
            let sql = concat!(
                "SELECT COUNT(*) FROM (SELECT state, plugin, error_code, sender, reply_to FROM tasks WHERE TRUE ",
                search!(),
                newest_first!(),
                "LIMIT $7) tasks ",
                filters!()
            );
            total = self.with(|s| s.query(sql, &count_args))?.first().map(|r| r.get(0)).unwrap_or(0);
            if total < offset.saturating_add(limit) {
                // The page lies past the window: count every match (up to the cap).
                let mut count_args = args.clone();
                count_args.push(&READ_CAP);
                let sql = concat!("SELECT COUNT(*) FROM (SELECT 1 FROM tasks ", filters!(), search!(), " LIMIT $7) c");
                total = self.with(|s| s.query(sql, &count_args))?.first().map(|r| r.get(0)).unwrap_or(0);
                exact = total < READ_CAP;
            }
        }
        let rows = if limit > 0 {
            args.extend([&limit as &(dyn ToSql + Sync), &offset]);
            self.with(|s| s.query(page!(concat!(filters!(), search!()), "LIMIT $7 OFFSET $8"), &args))?
        } else {
            Vec::new()
        };
        Ok(TaskList {
            rows: rows.iter().map(task_from).collect(),
            total: total.max(0) as u64,
            // Else at least this many: the matches were not all read.
            total_exact: exact,
            unindexed: 0,
        })
    }
}

impl StatsStore for PgLedger {
    fn stat_rows(&self, table: StatTable, lo: i64, hi: i64, visit: &mut dyn FnMut(StatRow<'_>)) -> Result<()> {
        let sql = match table {
            StatTable::Minutes => {
                "SELECT completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum, plugin FROM stat_minutes
                 WHERE minute BETWEEN $1 AND $2"
            }
            StatTable::Hours => {
                "SELECT completed, failed, rejected, drop_hist, drop_sum, run_hist, run_sum, plugin FROM stat_hours
                 WHERE hour BETWEEN $1 AND $2"
            }
        };
        let rows = self.with(|s| s.query(sql, &[&lo, &hi]))?;
        for r in &rows {
            visit(StatRow {
                plugin: r.get(7),
                completed: r.get(0),
                failed: r.get(1),
                rejected: r.get(2),
                drop_hist: r.get(3),
                drop_sum: r.get(4),
                run_hist: r.get(5),
                run_sum: r.get(6),
            });
        }
        Ok(())
    }

    fn stat_counts(&self) -> Result<Vec<(String, String, i64)>> {
        let rows = self.with(|s| s.query("SELECT status, plugin, n FROM stat_counts", &[]))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    fn stat_events(&self) -> Result<Vec<(String, String, String, i64)>> {
        let rows = self.with(|s| s.query("SELECT event, plugin, detail, n FROM stat_events", &[]))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    fn stat_durations(&self) -> Result<Vec<(i64, i64)>> {
        let rows = self.with(|s| s.query("SELECT bucket, n FROM stat_duration", &[]))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn stat_total(&self, name: &str) -> Result<f64> {
        Ok(self
            .with(|s| s.query_opt("SELECT value FROM stat_totals WHERE name = $1", &[&name]))?
            .map_or(0.0, |r| r.get(0)))
    }

    fn health_all(&self) -> Result<Vec<(String, String)>> {
        let rows = self.with(|s| s.query("SELECT plugin, health FROM plugin_health", &[]))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn unanswered(&self, seen_before: &str, skip_prefix: &str, limit: i64) -> Result<Vec<(String, String, String)>> {
        let pattern = format!("{skip_prefix}%");
        let rows = self.with(|s| {
            s.query(
                "SELECT agent, id, title FROM observed o
                 WHERE kind = 'task' AND seen_at < $1 AND id NOT LIKE $2
                   AND NOT EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
                 ORDER BY seen_at LIMIT $3",
                &[&seen_before, &pattern, &limit],
            )
        })?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    fn alerts(&self, which: Alerts<'_>) -> Result<Vec<AlertRow>> {
        let rows = self.with(|s| match which {
            Alerts::All => s.query(
                "SELECT id, rule, labels, summary, state, firing, started_at, last_seen_at, resolved_at, acked_at, notified
                 FROM alerts ORDER BY state = 'resolved', started_at COLLATE \"C\" DESC, id COLLATE \"C\"",
                &[],
            ),
            Alerts::Id(id) => s.query(
                "SELECT id, rule, labels, summary, state, firing, started_at, last_seen_at, resolved_at, acked_at, notified
                 FROM alerts WHERE id = $1",
                &[&id],
            ),
        })?;
        Ok(rows.iter().map(alert_from).collect())
    }

    fn alerts_update(&mut self, f: &mut dyn FnMut(&dyn AlertTx) -> Result<()>) -> Result<()> {
        self.transaction(|s| {
            s.execute("SELECT pg_advisory_xact_lock($1)", &[&ALERTS_LOCK]).map_err(|e| s.fail(e))?;
            f(s)
        })
    }

    fn alert_ack(&self, id: &str, at: &str) -> Result<bool> {
        Ok(self
            .with(|s| s.execute("UPDATE alerts SET acked_at = COALESCE(acked_at, $2) WHERE id = $1", &[&id, &at]))?
            > 0)
    }

    fn task_page(&self, agent: Option<&str>, like: Option<&str>, limit: i64) -> Result<Vec<TaskRow>> {
        let rows = self.with(|s| {
            s.query(
                concat!(
                    "SELECT id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
                    error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms FROM tasks
                 WHERE ($1::text IS NULL OR sender = $1::text OR reply_to = $1::text)
                   AND ($2::text IS NULL OR id LIKE $2::text ESCAPE '\\' OR title LIKE $2::text ESCAPE '\\'
                        OR sender LIKE $2::text ESCAPE '\\' OR reply_to LIKE $2::text ESCAPE '\\')",
                    newest_first!(),
                    "LIMIT $3"
                ),
                &[&agent, &like, &limit],
            )
        })?;
        Ok(rows.iter().map(task_from).collect())
    }

    /// `q`: the names through the migration's trigram index of them when the server has
    /// pg_trgm (the joined names narrow, each name checks; LIKE's escape is `\` by default),
    /// else one pass over the tasks; the words through the GIN index of `task_text.words`.
    /// Words match as word beginnings (`to_tsquery('simple', 'boo:*')`).
    ///
    /// The matching ids are read first, each part at most [`COUNT_CAP`] + 1. Below that the
    /// page and the count are key lookups over those ids. Past it (a word in most tasks) the
    /// page walks the tasks newest first by migration 0007's index, testing each, and stops
    /// after its rows, and the count is "at least" ([`TaskList::total_exact`]): the cap itself,
    /// or with other filters the matches among the newest [`FILTERED_WINDOW`] that pass them.
    /// Sorting every match of such a word took ~1.8 s over 100,000 tasks.
    fn task_list(&self, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList> {
        let Some(q) = f.q.and_then(Query::parse) else { return self.unsearched(f, offset, limit) };
        let probe = self.probe(&q)?;
        self.searched(f, &q, &probe, offset, limit)
    }

    /// The page and the count read the search's matches once ([`PgLedger::probe`]): each read
    /// is up to 10,001 ids, 37–50 ms for a word in a third of 100,000 tasks.
    fn task_list_and_count(
        &self,
        f: &TaskFilter<'_>,
        offset: i64,
        limit: i64,
        count_states: &str,
    ) -> Result<(TaskList, TaskList)> {
        let counted = TaskFilter { state: Some(count_states), ..*f };
        let Some(q) = f.q.and_then(Query::parse) else {
            return Ok((self.unsearched(f, offset, limit)?, self.unsearched(&counted, 0, 0)?));
        };
        let probe = self.probe(&q)?;
        Ok((self.searched(f, &q, &probe, offset, limit)?, self.searched(&counted, &q, &probe, 0, 0)?))
    }

    fn task_facets(&self) -> Result<Vec<(String, Option<String>, Option<String>, u64)>> {
        let rows = self.with(|s| {
            s.query("SELECT state, plugin, error_code, COUNT(*) FROM tasks GROUP BY state, plugin, error_code", &[])
        })?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get::<_, i64>(3).max(0) as u64)).collect())
    }

    fn observed_page(&self, agent: Option<&str>, like: Option<&str>, limit: i64) -> Result<Vec<ObservedItem>> {
        let rows = self.with(|s| {
            s.query(
                "SELECT o.agent, o.file_name, o.kind, o.id, o.in_reply_to, o.sender, o.recipient, o.title, o.created_at, o.seen_at,
                        EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
                 FROM observed o WHERE o.kind = 'task'
                   AND ($1::text IS NULL OR o.sender = $1::text OR o.recipient = $1::text OR o.agent = $1::text)
                   AND ($2::text IS NULL OR o.id LIKE $2::text ESCAPE '\\' OR o.title LIKE $2::text ESCAPE '\\'
                        OR o.sender LIKE $2::text ESCAPE '\\' OR o.agent LIKE $2::text ESCAPE '\\')
                 ORDER BY o.seen_at COLLATE \"C\" DESC, o.agent COLLATE \"C\", o.file_name COLLATE \"C\" LIMIT $3",
                &[&agent, &like, &limit],
            )
        })?;
        Ok(rows
            .iter()
            .map(|r| ObservedItem { observed: observed_from(r), seen_at: r.get(9), answered: r.get(10) })
            .collect())
    }

    fn observed_of(&self, id: &str, limit: i64) -> Result<Vec<(Observed, String)>> {
        let rows = self.with(|s| {
            s.query(
                "SELECT agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at, seen_at
                 FROM observed WHERE id = $1 OR in_reply_to = $1
                 ORDER BY seen_at COLLATE \"C\", agent COLLATE \"C\", file_name COLLATE \"C\" LIMIT $2",
                &[&id, &limit],
            )
        })?;
        Ok(rows.iter().map(|r| (observed_from(r), r.get(9))).collect())
    }

    fn version(&self) -> Result<(i64, i64)> {
        let row = self.with(|s| {
            s.query_opt(
                "SELECT (SELECT COALESCE(MAX(seq), 0)::bigint FROM events),
                        (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END
                         - '0/0'::pg_lsn)::bigint",
                &[],
            )
        })?;
        Ok(row.map_or((0, 0), |r| (r.get(0), r.get(1))))
    }

    fn ping(&self) -> Result<()> {
        PgLedger::ping(self)
    }
}
