//! The PostgreSQL backend of the ledger, for several machines sharing one handoffs tree
//! through a sync service. Implements [`Store`] and [`Writes`] like the SQLite backend, plus
//! what only a shared server can do: claims as rows with leases ([`PgLedger::claim`]), host
//! heartbeats, and advisory locks. Every SQL statement of this backend is here; its schema is
//! in `migrations/postgres/*.sql`, applied in order and recorded in `baton_schema`.
//!
//! The ledger's API is synchronous (the pipeline calls it under a mutex, as it does SQLite).
//! tokio-postgres is asynchronous: its connection task runs on a private one-thread tokio
//! runtime, and each call waits for its answer with `futures_executor::block_on`, which is
//! safe from any thread, a tokio worker included (no nested runtime). A call costs the caller
//! one round trip to the server, as a SQLite call costs it a page read or an fsync.
//!
//! When the connection is lost (a server restart, the network), calls fail with an error that
//! [`LedgerError::is_transient`] calls passing, and the next call connects again.
use std::cell::RefCell;
use std::collections::HashMap;

use futures_executor::block_on;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, GenericClient, NoTls, Row, Statement};

use crate::location::PgUrl;
use crate::{Event, KvLimits, LedgerError, LogLine, Observed, Refusal, Result, Store, TaskRow, TaskState, Writes};

/// The migrations, in order: version N is `MIGRATIONS[N - 1]`.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/postgres/0001_ledger.sql"),
    include_str!("../migrations/postgres/0002_shared_claims.sql"),
    include_str!("../migrations/postgres/0003_stats.sql"),
];

/// The advisory lock key under which migrations run (two hosts starting at once).
const MIGRATION_LOCK: i64 = 0x6261_746f_6e00_0001;

type Stmts = RefCell<HashMap<&'static str, Statement>>;

pub struct PgLedger {
    url: PgUrl,
    rt: Option<tokio::runtime::Runtime>,
    client: RefCell<Option<Client>>,
    stmts: Stmts,
}

/// Whether a PostgreSQL error may pass: the connection was lost or refused, the server is
/// starting or stopping, a serialization or deadlock abort, or a unique key taken by another
/// host's concurrent transaction (the retry sees its row). Anything else is not.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        return c.starts_with("08") || c.starts_with("57P") || c.starts_with("53") || matches!(c, "40001" | "40P01" | "23505");
    }
    // No SQLSTATE: an I/O error or a timeout talking to the server.
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()) || {
        let m = e.to_string();
        m.contains("connect") || m.contains("closed") || m.contains("timeout") || m.contains("communicating")
    }
}

/// What a claim attempt found (see [`PgLedger::claim`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// A new claim, ours now.
    Won { claim_id: String },
    /// A claim that was already ours (a previous process of this host) or whose owner's lease
    /// expired: ours now, under its old claim id; it may have run before.
    TakenOver { claim_id: String },
    /// Held by another live host: leave the file alone.
    Lost { owner: String },
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

impl PgLedger {
    pub(crate) fn open(url: &PgUrl) -> Result<Self> {
        if url.verify_full() {
            return Err(LedgerError::Unsupported(format!(
                "{}: TLS (sslmode=verify-full) is not built into this baton yet; reach the server through a \
                 Unix socket or a loopback address (an SSH tunnel, say)",
                url.shown()
            )));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("baton-pg")
            .enable_all()
            .build()
            .map_err(|e| LedgerError::Unavailable { server: url.shown().into(), message: format!("cannot start its runtime: {e}") })?;
        let mut me = PgLedger { url: url.clone(), rt: Some(rt), client: RefCell::new(None), stmts: RefCell::new(HashMap::new()) };
        me.connected()?;
        me.migrate()?;
        Ok(me)
    }

    /// The server, with any password hidden.
    pub fn server(&self) -> &str {
        self.url.shown()
    }

    fn err(&self, source: tokio_postgres::Error) -> LedgerError {
        LedgerError::Postgres { server: self.url.shown().to_string(), source }
    }

    /// Connects if there is no live connection (first use, or after a lost one).
    fn connected(&self) -> Result<()> {
        if self.client.borrow().as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        let config = self.url.config().clone();
        let server = self.url.shown().to_string();
        let Some(rt) = self.rt.as_ref() else {
            return Err(LedgerError::Unavailable { server, message: "the ledger is closing".into() });
        };
        let shown = server.clone();
        let task = rt.spawn(async move {
            let (client, connection) = config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(server = %shown, "state database connection lost: {e}");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        match block_on(task) {
            Ok(Ok(client)) => {
                self.stmts.borrow_mut().clear();
                *self.client.borrow_mut() = Some(client);
                Ok(())
            }
            Ok(Err(e)) => Err(LedgerError::Unavailable { server, message: e.to_string() }),
            Err(e) => Err(LedgerError::Unavailable { server, message: e.to_string() }),
        }
    }

    /// Runs `f` with the connection (connecting first if needed).
    fn with<R>(&self, f: impl FnOnce(&Session<'_, Client>) -> Result<R, tokio_postgres::Error>) -> Result<R> {
        self.connected()?;
        let guard = self.client.borrow();
        let Some(client) = guard.as_ref() else { unreachable!("connected() leaves a client") };
        f(&Session { c: client, stmts: &self.stmts, server: self.url.shown() }).map_err(|e| self.err(e))
    }

    /// Runs `f` in one transaction; the closure's own errors roll it back.
    fn transaction<R>(&mut self, f: impl FnOnce(&Session<'_, tokio_postgres::Transaction<'_>>) -> Result<R>) -> Result<R> {
        self.connected()?;
        let server = self.url.shown().to_string();
        let err = |source| LedgerError::Postgres { server: server.clone(), source };
        let mut guard = self.client.borrow_mut();
        let Some(client) = guard.as_mut() else { unreachable!("connected() leaves a client") };
        let tx = block_on(client.transaction()).map_err(err)?;
        let out = f(&Session { c: &tx, stmts: &self.stmts, server: self.url.shown() })?;
        block_on(tx.commit()).map_err(err)?;
        Ok(out)
    }

    fn migrate(&mut self) -> Result<()> {
        self.transaction(|s| {
            block_on(s.c.batch_execute("CREATE TABLE IF NOT EXISTS baton_schema(version INTEGER NOT NULL)")).map_err(|x| s.fail(x))?;
            block_on(s.c.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])).map_err(|x| s.fail(x))?;
            let version: i32 = block_on(s.c.query_opt("SELECT version FROM baton_schema", &[]))
                .map_err(|x| s.fail(x))?
                .map(|r| r.get(0))
                .unwrap_or(0);
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
                block_on(s.c.batch_execute(sql)).map_err(|x| s.fail(x))?;
                let v = i as i32 + 1;
                block_on(s.c.execute("DELETE FROM baton_schema", &[])).map_err(|x| s.fail(x))?;
                block_on(s.c.execute("INSERT INTO baton_schema(version) VALUES ($1)", &[&v])).map_err(|x| s.fail(x))?;
            }
            Ok(())
        })
    }

    pub(crate) fn batch<R>(&mut self, f: impl FnOnce(&dyn Writes) -> Result<R>) -> Result<R> {
        self.transaction(|s| f(s))
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
    pub fn claim(&self, host: &str, handoff_id: &str, content_hash: &str, claim_id: &str, file_name: &str, lease_secs: f64) -> Result<ClaimOutcome> {
        let row = self.with(|s| {
            s.query_opt(
                "INSERT INTO claims(handoff_id, content_hash, claim_id, file_name, owner, state)
                 VALUES ($1, $2, $3, $4, $5, 'claimed')
                 ON CONFLICT(handoff_id, content_hash) DO UPDATE SET owner = excluded.owner
                 WHERE claims.owner = excluded.owner
                    OR NOT EXISTS (SELECT 1 FROM hosts h WHERE h.host = claims.owner
                                   AND h.heartbeat_at > now() - make_interval(secs => $6))
                 RETURNING claim_id, state, (xmax = 0) AS inserted",
                &[&handoff_id, &content_hash, &claim_id, &file_name, &host, &lease_secs],
            )
        })?;
        let Some(row) = row else {
            let owner = self
                .with(|s| s.query_opt("SELECT owner FROM claims WHERE handoff_id = $1 AND content_hash = $2", &[&handoff_id, &content_hash]))?
                .map(|r| r.get::<_, String>(0))
                .unwrap_or_default();
            return Ok(ClaimOutcome::Lost { owner });
        };
        let (claim_id, state, inserted): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
        Ok(match (inserted, state.as_str()) {
            (true, _) => ClaimOutcome::Won { claim_id },
            (false, "filed") => ClaimOutcome::Filed { claim_id },
            (false, _) => ClaimOutcome::TakenOver { claim_id },
        })
    }

    /// The original of a claim was filed: a copy the sync brings back is filed, never run.
    pub fn claim_filed(&self, handoff_id: &str, content_hash: &str) -> Result<()> {
        self.with(|s| {
            s.execute(
                "UPDATE claims SET state = 'filed', filed_at = now() WHERE handoff_id = $1 AND content_hash = $2",
                &[&handoff_id, &content_hash],
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
            .map(|r| HeldClaim { handoff_id: r.get(0), content_hash: r.get(1), claim_id: r.get(2), file_name: r.get(3) })
            .collect())
    }

    /// Claims per state and owner, and each host's heartbeat age in seconds (`baton status`).
    pub fn hosts(&self) -> Result<Vec<(String, f64)>> {
        let rows = self.with(|s| s.query("SELECT host, EXTRACT(EPOCH FROM now() - heartbeat_at)::float8 FROM hosts ORDER BY host", &[]))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Claims held now (claimed, not yet filed), per owning host: what is in progress across
    /// the hosts (on PostgreSQL nothing is renamed into `.claims/`).
    pub fn claims_in_progress(&self) -> Result<Vec<(String, i64)>> {
        let rows = self.with(|s| s.query("SELECT owner, count(*) FROM claims WHERE state = 'claimed' GROUP BY owner ORDER BY owner", &[]))?;
        Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Whether the server answers now.
    pub fn ping(&self) -> Result<()> {
        self.with(|s| block_on(s.c.simple_query("SELECT 1")).map(|_| ()))
    }
}

impl Drop for PgLedger {
    fn drop(&mut self) {
        // Dropping a runtime inside an async context panics; let it end on its own.
        self.client.borrow_mut().take();
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A connection or a transaction, with this connection's prepared statements.
struct Session<'a, C: GenericClient> {
    c: &'a C,
    stmts: &'a Stmts,
    server: &'a str,
}

impl<C: GenericClient + Sync> Session<'_, C> {
    fn fail(&self, source: tokio_postgres::Error) -> LedgerError {
        LedgerError::Postgres { server: self.server.to_string(), source }
    }

    fn stmt(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.stmts.borrow().get(sql) {
            return Ok(s.clone());
        }
        let s = block_on(self.c.prepare(sql))?;
        self.stmts.borrow_mut().insert(sql, s.clone());
        Ok(s)
    }

    fn query(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, tokio_postgres::Error> {
        let st = self.stmt(sql)?;
        block_on(self.c.query(&st, params))
    }

    fn query_opt(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<Row>, tokio_postgres::Error> {
        let st = self.stmt(sql)?;
        block_on(self.c.query_opt(&st, params))
    }

    fn execute(&self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, tokio_postgres::Error> {
        let st = self.stmt(sql)?;
        block_on(self.c.execute(&st, params))
    }
}

/// The two bucketed summary tables (their SQL differs only in names, and statements are
/// cached by their static text).
#[derive(Clone, Copy)]
enum StatTable {
    Minutes,
    Hours,
}

impl<C: GenericClient + Sync> Session<'_, C> {
    /// Adds `b` to the row (`key`, `plugin`); true if the row is new.
    fn add_bucket(&self, table: StatTable, key: i64, plugin: &str, b: &crate::stats::Bucket) -> Result<bool, tokio_postgres::Error> {
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

fn task<C: GenericClient + Sync>(s: &Session<'_, C>, id: &str) -> Result<Option<TaskRow>, tokio_postgres::Error> {
    let row = s.query_opt(
        "SELECT id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
            error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms FROM tasks WHERE id = $1",
        &[&id],
    )?;
    Ok(row.as_ref().map(task_from))
}

fn events<C: GenericClient + Sync>(s: &Session<'_, C>, id: &str) -> Result<Vec<Event>, tokio_postgres::Error> {
    let rows = s.query("SELECT at, event, detail FROM events WHERE task_id = $1 ORDER BY seq", &[&id])?;
    Ok(rows.into_iter().map(|r| Event { at: r.get(0), event: r.get(1), detail: crate::parse_detail(r.get(2)) }).collect())
}

fn kv_set<C: GenericClient + Sync>(s: &Session<'_, C>, plugin: &str, key: &str, value: &str) -> Result<u64, tokio_postgres::Error> {
    s.execute(
        "INSERT INTO kv(plugin, key, value) VALUES ($1, $2, $3) ON CONFLICT(plugin, key) DO UPDATE SET value = excluded.value",
        &[&plugin, &key, &value],
    )
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl Store for PgLedger {
    fn task(&self, id: &str) -> Result<Option<TaskRow>> {
        self.with(|s| task(s, id))
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        self.with(|s| events(s, id))
    }

    fn logs(&self, id: &str) -> Result<Vec<LogLine>> {
        let rows = self.with(|s| s.query("SELECT at, level, message FROM logs WHERE task_id = $1 ORDER BY seq", &[&id]))?;
        Ok(rows.into_iter().map(|r| LogLine { at: r.get(0), level: r.get(1), message: r.get(2) }).collect())
    }

    fn recent(&self, limit: usize) -> Result<Vec<TaskRow>> {
        let rows = self.with(|s| {
            s.query(
                "SELECT id, content_hash, claim, file_name, sender, reply_to, plugin, action, title, state,
                    error_code, error_message, attempts, return_name, claimed_at, finished_at, duration_ms FROM tasks
                 ORDER BY COALESCE(finished_at, claimed_at) DESC LIMIT $1",
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
        let server = self.url.shown().to_string();
        let err = move |source| LedgerError::Postgres { server: server.clone(), source };
        self.transaction(|s| {
            // One writer per plugin's quota at a time, across hosts.
            s.execute("SELECT pg_advisory_xact_lock(hashtext('baton.kv:' || $1)::bigint)", &[&plugin]).map_err(&err)?;
            let (keys, bytes) = s
                .query_opt("SELECT keys, bytes FROM kv_usage WHERE plugin = $1", &[&plugin])
                .map_err(&err)?
                .map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1)))
                .unwrap_or((0, 0));
            let old: Option<i64> = s
                .query_opt("SELECT octet_length(value)::bigint FROM kv WHERE plugin = $1 AND key = $2", &[&plugin, &key])
                .map_err(&err)?
                .map(|r| r.get(0));
            crate::check_kv_quota(keys, bytes, old, key, value, limits)?;
            kv_set(s, plugin, key, value).map_err(&err)?;
            Ok(())
        })
    }

    fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        Ok(self.with(|s| s.query_opt("SELECT health FROM plugin_health WHERE plugin = $1", &[&plugin]))?.map(|r| r.get(0)))
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
        let rows = self.with(|s| s.query("SELECT file, name, sha256, reason, at FROM plugin_refusals ORDER BY file", &[]))?;
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

    fn request_retry(&self, id: &str) -> Result<()> {
        let now = now_rfc3339();
        self.with(|s| {
            s.execute("UPDATE tasks SET state = 'retry_requested' WHERE id = $1", &[&id])?;
            s.execute("INSERT INTO events(task_id, at, event, detail) VALUES ($1, $2, 'retry_requested', '{}')", &[&id, &now])?;
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
        self.execute(
            "INSERT INTO tasks(id, content_hash, claim, file_name, sender, reply_to, plugin, action, title,
                               state, attempts, claimed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &[
                &row.id, &row.content_hash, &row.claim, &row.file_name, &row.sender, &row.reply_to,
                &row.plugin, &row.action, &row.title, &row.state.as_str(), &attempts, &row.claimed_at,
            ],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn reclaim(&self, id: &str, claim: &str) -> Result<()> {
        self.execute("UPDATE tasks SET claim = $2, state = 'claimed', attempts = 0 WHERE id = $1", &[&id, &claim])
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn start_attempt(&self, id: &str, attempt: u32) -> Result<()> {
        let attempt = attempt as i32;
        self.execute("UPDATE tasks SET state = 'running', attempts = $2 WHERE id = $1", &[&id, &attempt])
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
        self.execute(
            "UPDATE tasks SET state = $2, error_code = $3, error_message = $4,
                    return_name = COALESCE($5, return_name), finished_at = $6, duration_ms = $7
             WHERE id = $1",
            &[&id, &state.as_str(), &error.map(|e| e.0), &error.map(|e| e.1), &return_name, &finished_at, &duration_ms],
        )
        .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn events(&self, id: &str) -> Result<Vec<Event>> {
        events(self, id).map_err(|e| self.fail(e))
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
        self.execute("INSERT INTO logs(task_id, at, level, message) VALUES ($1, $2, $3, $4)", &[&task_id, &at, &level, &message])
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn kv_set(&self, plugin: &str, key: &str, value: &str) -> Result<()> {
        kv_set(self, plugin, key, value).map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn health_get(&self, plugin: &str) -> Result<Option<String>> {
        let row = self.query_opt("SELECT health FROM plugin_health WHERE plugin = $1", &[&plugin]).map_err(|e| self.fail(e))?;
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
        let detail = detail.to_string();
        self.execute("INSERT INTO events(task_id, at, event, detail) VALUES ($1, $2, $3, $4)", &[&task_id, &at, &event, &detail])
            .map_err(|e| self.fail(e))?;
        Ok(())
    }

    fn observe(&self, o: &Observed, seen_at: &str) -> Result<()> {
        self.execute(
            "INSERT INTO observed(agent, file_name, kind, id, in_reply_to, sender, recipient, title, created_at, seen_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
            &[&o.agent, &o.file_name, &o.kind, &o.id, &o.in_reply_to, &o.sender, &o.recipient, &o.title, &o.created_at, &seen_at],
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
            self.execute(
                "INSERT INTO stat_counts(status, plugin, n) VALUES ($1, $2, $3)
                 ON CONFLICT(status, plugin) DO UPDATE SET n = stat_counts.n + excluded.n",
                &[&status, &plugin, &(n as i64)],
            )
            .map_err(fail)?;
        }
        for ((minute, plugin), b) in batch.minutes() {
            if self.add_bucket(StatTable::Minutes, *minute, plugin, b).map_err(fail)? {
                self.execute("DELETE FROM stat_minutes WHERE minute < $1", &[&(minute - crate::stats::MINUTE_RETENTION)]).map_err(fail)?;
            }
        }
        for ((hour, plugin), b) in &batch.hours() {
            self.add_bucket(StatTable::Hours, *hour, plugin, b).map_err(fail)?;
        }
        let (durations, run_sum_s) = batch.durations();
        for (bucket, n) in durations {
            self.execute(
                "INSERT INTO stat_duration(bucket, n) VALUES ($1, $2) ON CONFLICT(bucket) DO UPDATE SET n = stat_duration.n + excluded.n",
                &[&(*bucket as i64), &(*n as i64)],
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
