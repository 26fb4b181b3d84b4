//! What only the PostgreSQL backend of the ledger has (several machines sharing one handoffs
//! tree through a sync service): claims as rows with leases ([`PgLedger::claim`]), host
//! heartbeats, and the task list's search by the server's own indexes (`tsvector`, trigrams).
//! Its other statements are the ones both backends share (`db.rs`); its schema is
//! `baton_store::LEDGER`'s PostgreSQL migrations, recorded in `baton_migrations`.
//!
//! The ledger's API is synchronous (the pipeline calls it under a mutex, as it does SQLite); its
//! session is a [`baton_store::sql::PgSession`], the catalog's kind of session too: the bridge,
//! the reconnect and time-limit policy, the statement cache, the pipelined writes of a batch
//! and how migrations run. A call costs the caller one round trip to the server, as a SQLite
//! call costs it a page read or an fsync.
//!
//! When the connection is lost (a server restart, the network), calls fail with an error that
//! [`crate::LedgerError::is_transient`] calls passing, and the next call connects again. A server that
//! took the connection and then answers nothing fails the call with [`crate::LedgerError::NoAnswer`]
//! after [`PgUrl::call_limit`], a pause; the next call connects again.
use std::collections::HashMap;

use baton_store::sql::{self, Val};
use baton_store::vals;

use crate::Result;
use crate::db::{Db, Search, TASK_COLUMNS, task_from};
use crate::location::PgUrl;
use crate::read::{TaskFilter, TaskList};
use crate::search::{COUNT_CAP, FILTERED_WINDOW, Query};

/// The ledger on a PostgreSQL server.
pub struct PgLedger {
    pub(crate) db: Db,
}

pub use baton_store::link::interrupt;

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
const FILED_SECS: &str = "CASE WHEN state = 'filed' THEN EXTRACT(EPOCH FROM now() - filed_at)::int8 END";

/// [`FILED_SECS`] as read: a clock that went back reads as 0.
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
    pub(crate) fn open(url: &PgUrl) -> Result<Self> {
        // The ledger's tables up to date (`baton_store::LEDGER`, under the one migration lock).
        match sql::Db::postgres(url, "state database", None, &baton_store::LEDGER) {
            Ok(sql) => Ok(PgLedger { db: Db::new(sql, &PgSearch, url.shown().to_string(), None) }),
            Err(e) => Err(crate::db::error(url.shown(), e)),
        }
    }

    /// The server, with any password hidden.
    pub fn server(&self) -> &str {
        self.db.at()
    }

    // ---- shared claims ----

    /// Records that `host` (process `instance`) is alive: its claims' lease starts again.
    pub fn heartbeat(&self, host: &str, instance: &str) -> Result<()> {
        self.db.execute(
            "INSERT INTO hosts(host, instance, started_at, heartbeat_at) VALUES (?1, ?2, now(), now())
             ON CONFLICT(host) DO UPDATE SET instance = excluded.instance, heartbeat_at = now()",
            vals![host, instance],
        )?;
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
        let col = |f: fn(&ClaimRequest) -> &str| wanted.iter().map(|w| f(w).to_string()).collect::<Vec<String>>();
        let (ids, hashes) = (col(|w| &w.handoff_id), col(|w| &w.content_hash));
        let rows = self.db.query(
            "INSERT INTO claims(handoff_id, content_hash, claim_id, file_name, owner, state)
             SELECT w.handoff_id, w.content_hash, w.claim_id, w.file_name, ?5, 'claimed'
             FROM UNNEST(?1::text[], ?2::text[], ?3::text[], ?4::text[]) AS w(handoff_id, content_hash, claim_id, file_name)
             ON CONFLICT(handoff_id, content_hash) DO UPDATE SET owner = excluded.owner
             WHERE claims.owner = excluded.owner
                OR NOT EXISTS (SELECT 1 FROM hosts h WHERE h.host = claims.owner
                               AND h.heartbeat_at > now() - make_interval(secs => ?6))
             RETURNING handoff_id, content_hash, claim_id, state, (xmax = 0) AS inserted",
            vals![&ids[..], &hashes[..], col(|w| &w.claim_id), col(|w| &w.file_name), host, lease_secs],
        )?;
        let mut got: HashMap<(String, String), ClaimOutcome> = HashMap::with_capacity(rows.len());
        for mut r in rows {
            let claim_id = r.take_text(2);
            let outcome = match (r.bool(4), r.str(3)) {
                (true, _) => ClaimOutcome::Won { claim_id },
                (false, "filed") => ClaimOutcome::Filed { claim_id },
                (false, _) => ClaimOutcome::TakenOver { claim_id },
            };
            got.insert((r.take_text(0), r.take_text(1)), outcome);
        }
        // The rest are held by live hosts: who holds each, and since when it is filed if it is
        // (one more round trip, only then).
        let mut owners: HashMap<(String, String), (String, Option<i64>)> = HashMap::new();
        if got.len() < wanted.len() {
            let sql = format!(
                "SELECT c.handoff_id, c.content_hash, c.owner, {FILED_SECS} FROM claims c
                 JOIN UNNEST(?1::text[], ?2::text[]) AS w(handoff_id, content_hash) USING (handoff_id, content_hash)"
            );
            let rows = self.db.query(&sql, vals![&ids[..], &hashes[..]])?;
            owners = rows
                .into_iter()
                .map(|mut r| ((r.take_text(0), r.take_text(1)), (r.take_text(2), r.opt_int(3))))
                .collect();
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
        let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
        let hashes: Vec<String> = keys.iter().map(|k| k.1.clone()).collect();
        self.db.execute(
            "UPDATE claims SET state = 'filed', filed_at = now()
             FROM UNNEST(?1::text[], ?2::text[]) AS w(handoff_id, content_hash)
             WHERE claims.handoff_id = w.handoff_id AND claims.content_hash = w.content_hash",
            vals![ids, hashes],
        )?;
        Ok(())
    }

    /// Forgets the claims of a handoff id (after `baton retry`), so that its next copy is
    /// claimed afresh instead of being taken for a copy of a filed one.
    pub fn claims_forget(&self, handoff_id: &str) -> Result<()> {
        self.db.forget_filed(handoff_id)
    }

    /// Claims recorded for `host` that are not filed yet.
    pub fn held(&self, host: &str) -> Result<Vec<HeldClaim>> {
        let rows = self.db.query(
            "SELECT handoff_id, content_hash, claim_id, file_name FROM claims WHERE owner = ?1 AND state = 'claimed' ORDER BY claim_id",
            vals![host],
        )?;
        Ok(rows
            .into_iter()
            .map(|mut r| HeldClaim {
                handoff_id: r.take_text(0),
                content_hash: r.take_text(1),
                claim_id: r.take_text(2),
                file_name: r.take_text(3),
            })
            .collect())
    }

    /// Claims per state and owner, and each host's heartbeat age in seconds (`baton status`).
    pub fn hosts(&self) -> Result<Vec<(String, f64)>> {
        let rows = self
            .db
            .query("SELECT host, EXTRACT(EPOCH FROM now() - heartbeat_at)::float8 FROM hosts ORDER BY host", &[])?;
        Ok(rows.into_iter().map(|mut r| (r.take_text(0), r.real(1))).collect())
    }

    /// The claims recorded under the file names `files` (an inbox's), claimed or filed.
    pub fn claims_of_files(&self, files: &[String]) -> Result<Vec<FileClaim>> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT file_name, owner, {FILED_SECS} FROM claims WHERE file_name = ANY(?1::text[]) ORDER BY file_name"
        );
        let rows = self.db.query(&sql, vals![files])?;
        Ok(rows
            .into_iter()
            .map(|mut r| FileClaim { file_name: r.take_text(0), owner: r.take_text(1), filed_secs: secs(r.opt_int(2)) })
            .collect())
    }

    /// Claims held now (claimed, not yet filed), per owning host: what is in progress across
    /// the hosts (on PostgreSQL nothing is renamed into `.claims/`).
    pub fn claims_in_progress(&self) -> Result<Vec<(String, i64)>> {
        let rows = self
            .db
            .query("SELECT owner, count(*) FROM claims WHERE state = 'claimed' GROUP BY owner ORDER BY owner", &[])?;
        Ok(rows.into_iter().map(|mut r| (r.take_text(0), r.int(1))).collect())
    }

    /// Whether the server answers now.
    pub fn ping(&self) -> Result<()> {
        crate::read::StatsStore::ping(&self.db)
    }
}

// ---- the task list's search ----

/// `q`'s test, task by task, words first: only for a `q` in many tasks (past COUNT_CAP, or
/// when `walk_is_shorter`), walked in the index's order, where a match is never far. A scalar
/// subquery, one key lookup a task: as an EXISTS the planner hashed every match of the word
/// first (~120 ms for a word in most of 100,000 tasks, EXPLAIN ANALYZE) to test the first 50.
/// `?5` is the LIKE pattern of the names, `?6` the words as a `tsquery`.
const SEARCH: &str = " AND ((?6::text IS NOT NULL
        AND (SELECT x.words @@ to_tsquery('simple', ?6::text) FROM task_text x WHERE x.id = tasks.id))
       OR ((id || E'\\n' || title || E'\\n' || sender || E'\\n' || reply_to) LIKE ?5::text
           AND (id LIKE ?5::text OR title LIKE ?5::text OR sender LIKE ?5::text OR reply_to LIKE ?5::text)))";

/// How many matches of each part of a search are read: one more than [`COUNT_CAP`], to know
/// whether it is passed.
const READ_CAP: i64 = COUNT_CAP as i64 + 1;

/// The ids that match a search, read once a request ([`probe`]).
enum Probe {
    /// Every match, sorted, each once.
    Found(Vec<String>),
    /// More than [`COUNT_CAP`] tasks match (in their names or in their words alone).
    PastCap,
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
struct PgSearch;

impl Search for PgSearch {
    fn task_list(&self, db: &Db, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList> {
        let Some(q) = f.q.and_then(Query::parse) else { return db.unsearched(f, offset, limit) };
        let probe = probe(db, &q)?;
        searched(db, f, &q, &probe, offset, limit)
    }

    /// The page and the count (`counted`: the same filter in other states) read the search's
    /// matches once ([`probe`]): each read is up to 10,001 ids, 37–50 ms for a word in a third
    /// of 100,000 tasks.
    fn task_list_and_count(
        &self,
        db: &Db,
        f: &TaskFilter<'_>,
        counted: &TaskFilter<'_>,
        offset: i64,
        limit: i64,
    ) -> Result<(TaskList, TaskList)> {
        let Some(q) = f.q.and_then(Query::parse) else {
            return Ok((db.unsearched(f, offset, limit)?, db.unsearched(counted, 0, 0)?));
        };
        let probe = probe(db, &q)?;
        Ok((searched(db, f, &q, &probe, offset, limit)?, searched(db, counted, &q, &probe, 0, 0)?))
    }
}

/// The ids that match `q`, each part read at most to [`COUNT_CAP`] + 1: its names (trigram
/// index) and its words (GIN). Below the cap a page and its counts are over those ids alone
/// (key lookups), instead of the search being run again inside each statement (EXPLAIN
/// ANALYZE: ~180 ms a statement for a word in 5,000 tasks, three statements a request).
/// Read once a request: the dashboard's page and its retryable count share it
/// ([`crate::read::StatsStore::task_list_and_count`]).
fn probe(db: &Db, q: &Query) -> Result<Probe> {
    let words = match &q.pg_words {
        Some(w) => db.query(
            "SELECT id FROM task_text WHERE words @@ to_tsquery('simple', ?1::text) LIMIT ?2",
            vals![w, READ_CAP],
        )?,
        None => Vec::new(),
    };
    // Past the cap in its words alone, the names need not be read.
    let names = if (words.len() as i64) < READ_CAP {
        db.query(
            "SELECT id FROM tasks
             WHERE (id || E'\\n' || title || E'\\n' || sender || E'\\n' || reply_to) LIKE ?1::text
               AND (id LIKE ?1::text OR title LIKE ?1::text OR sender LIKE ?1::text OR reply_to LIKE ?1::text)
             LIMIT ?2",
            vals![&q.like, READ_CAP],
        )?
    } else {
        Vec::new()
    };
    if (names.len() as i64) >= READ_CAP || (words.len() as i64) >= READ_CAP {
        return Ok(Probe::PastCap);
    }
    let mut ids: Vec<String> = names.into_iter().chain(words).map(|mut r| r.take_text(0)).collect();
    ids.sort_unstable();
    ids.dedup();
    Ok(Probe::Found(ids))
}

/// Whether a page of the `found` tasks matching a search, ending `end` rows down the list,
/// costs less walked from the newest task by the order's index (testing each task, about
/// `end` × tasks ÷ `found` of them) than by looking up every match and sorting them
/// (`found` lookups). Both cost about the same per task (~10 µs, EXPLAIN ANALYZE); the
/// number of tasks is the planner's estimate, which is all a choice of plan needs.
fn walk_is_shorter(db: &Db, found: i64, end: i64) -> Result<bool> {
    let rows = db.query("SELECT reltuples::float8 FROM pg_class WHERE oid = 'tasks'::regclass", &[])?;
    let tasks = rows.first().map_or(0.0, |r| r.real(0));
    let (found, end) = (found as f64, end as f64);
    // Never analyzed (-1) or empty: the lookups, which are right for any number.
    Ok(tasks > 0.0 && found > 0.0 && end * tasks / found < found)
}

/// A count's answer.
fn count(db: &Db, sql: &str, params: &[Val<'_>]) -> Result<i64> {
    Ok(db.query_opt(sql, params)?.map_or(0, |r| r.int(0)))
}

/// A page of tasks: those passing the filters (`?1`–`?4`) and `and`, newest first, `limit`
/// (its own placeholders) after.
fn page(db: &Db, and: &str, limit: &str, params: &[Val<'_>]) -> Result<Vec<crate::TaskRow>> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {}{and}{}{limit}", db.task_filters(), db.newest_first());
    Ok(db.query(&sql, params)?.into_iter().map(task_from).collect())
}

/// The task list for `q`, whose matches `probe` read (see [`PgSearch`]).
fn searched(db: &Db, f: &TaskFilter<'_>, q: &Query, probe: &Probe, offset: i64, limit: i64) -> Result<TaskList> {
    let filtered = f.filters_besides_q();
    let filters = db.task_filters();
    let (like, words) = (q.like.as_str(), q.pg_words.as_deref());
    let [state, plugin, code, agent] = [f.state, f.plugin, f.error_code, f.agent];
    if let Probe::Found(ids) = probe {
        let found = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let ids = &ids[..];
        let total = if filtered {
            let sql = format!("SELECT COUNT(*) FROM tasks WHERE {filters} AND id = ANY(?5::text[])");
            count(db, &sql, vals![state, plugin, code, agent, ids])?
        } else {
            found
        };
        let rows = if limit <= 0 {
            Vec::new()
        } else if !filtered && walk_is_shorter(db, found, offset.saturating_add(limit))? {
            page(db, SEARCH, "LIMIT ?7 OFFSET ?8", vals![state, plugin, code, agent, like, words, limit, offset])?
        } else {
            page(
                db,
                " AND id = ANY(?5::text[])",
                "LIMIT ?6 OFFSET ?7",
                vals![state, plugin, code, agent, ids, limit, offset],
            )?
        };
        // Both parts were read whole: every match is among the ids.
        return Ok(TaskList { rows, total: total.max(0) as u64, total_exact: true, unindexed: 0 });
    }
    // More than the cap match `q` alone.
    let (mut total, mut exact) = (READ_CAP, false);
    if filtered {
        let window = i64::try_from(FILTERED_WINDOW).unwrap_or(i64::MAX);
        let sql = format!(
            "SELECT COUNT(*) FROM (SELECT state, plugin, error_code, sender, reply_to FROM tasks WHERE TRUE {SEARCH}{}LIMIT ?7) tasks
             WHERE {filters}",
            db.newest_first()
        );
        total = count(db, &sql, vals![state, plugin, code, agent, like, words, window])?;
        if total < offset.saturating_add(limit) {
            // The page lies past the window: count every match (up to the cap).
            let sql = format!("SELECT COUNT(*) FROM (SELECT 1 FROM tasks WHERE {filters}{SEARCH} LIMIT ?7) c");
            total = count(db, &sql, vals![state, plugin, code, agent, like, words, READ_CAP])?;
            exact = total < READ_CAP;
        }
    }
    let rows = if limit > 0 {
        page(db, SEARCH, "LIMIT ?7 OFFSET ?8", vals![state, plugin, code, agent, like, words, limit, offset])?
    } else {
        Vec::new()
    };
    // Else at least this many: the matches were not all read.
    Ok(TaskList { rows, total: total.max(0) as u64, total_exact: exact, unindexed: 0 })
}
