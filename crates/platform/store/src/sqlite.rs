//! SQLite: opening a state file (WAL, busy timeout) and bringing a domain's tables up to date
//! inside `BEGIN IMMEDIATE`, the one lock every writer of the file already takes turns on.
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Domain, Legacy, Migration, StoreError, newest};

/// The record of applied migrations, every domain's in one table.
const TABLE: &str = "CREATE TABLE IF NOT EXISTS baton_migrations(
    domain TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    PRIMARY KEY(domain, version)
) WITHOUT ROWID";

/// Opens a SQLite database in WAL mode with a 30 s busy timeout ([`busy`]) and the given
/// `synchronous` level, for every crate that keeps tables in the state file.
///
/// Why the retry: when two processes open a *new* database at the same moment, switching it
/// to WAL can fail with "database is locked" at once, without waiting on the busy handler.
/// The setup is retried for up to the busy timeout instead.
pub fn open_wal(path: &Path, synchronous: &str) -> rusqlite::Result<Connection> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = Connection::open(path).and_then(|conn| {
            conn.busy_handler(Some(busy))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", synchronous)?;
            Ok(conn)
        });
        match attempt {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// How long a writer waits for the file's write lock in all: then SQLite's "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest of [`busy`]'s sleeps.
const BUSY_STEP_MAX: Duration = Duration::from_micros(1600);

/// SQLite's busy handler for every connection [`open_wal`] makes: called with how many times
/// this wait has already slept, it sleeps 25 µs, doubling up to 1.6 ms, and gives up once the
/// sleeps add to [`BUSY_TIMEOUT`].
///
/// Why not `busy_timeout`: SQLite's own handler sleeps 1, 2, 5, 10 ms and more, while a
/// writer here holds the lock for well under a millisecond (one task's commit). In `serve
/// --http` the pipeline and the A2A, MCP and dashboard handlers are writers of one file, so
/// about 1 % of A2A requests met the pipeline's commit and slept 1 ms, then 2, sometimes 10:
/// that was the A2A round trip's p99 (bench/runs/2026-11-28/send.md).
fn busy(slept: i32) -> bool {
    let n = u32::try_from(slept).unwrap_or(0);
    let step = |i: u32| Duration::from_micros(25u64 << i.min(6)).min(BUSY_STEP_MAX);
    // The doubling steps (25 µs .. 1.6 ms, 7 of them), then the largest one each time.
    let waited: Duration = (0..n.min(7)).map(step).sum::<Duration>() + BUSY_STEP_MAX * n.saturating_sub(7);
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(step(n));
    true
}

/// Brings `domain`'s tables in the file `conn` is open on to the newest version; returns how
/// many migrations ran. Up to date already is one read, without taking the write lock (every
/// open of the file asks). Otherwise everything happens in one `BEGIN IMMEDIATE` transaction,
/// so a crash or an error leaves the file as it was, and two processes opening a new home at
/// once take turns.
pub fn migrate(conn: &Connection, domain: &Domain) -> Result<u32, StoreError> {
    let newest = newest(domain.sqlite);
    if recorded(conn, domain.name)? == Some(newest) {
        return Ok(0);
    }
    conn.execute_batch("BEGIN IMMEDIATE")?;
    match under_lock(conn, domain, newest) {
        Ok(ran) => {
            conn.execute_batch("COMMIT")?;
            Ok(ran)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// The domain's newest recorded version, or `None` when it has none (a new file, or one made
/// before `baton_migrations`).
pub fn recorded(conn: &Connection, domain: &str) -> rusqlite::Result<Option<u32>> {
    if !table_exists(conn, crate::MIGRATIONS_TABLE)? {
        return Ok(None);
    }
    conn.query_row("SELECT max(version) FROM baton_migrations WHERE domain = ?1", [domain], |r| r.get(0))
}

fn under_lock(conn: &Connection, domain: &Domain, newest: u32) -> Result<u32, StoreError> {
    conn.execute_batch(TABLE)?;
    let current = match recorded(conn, domain.name)? {
        Some(v) => v,
        None => {
            let legacy = legacy_version(conn, domain.sqlite_legacy)?;
            domain.known(legacy, newest)?;
            for m in &domain.sqlite[..legacy as usize] {
                record(conn, domain.name, m)?;
            }
            legacy
        }
    };
    domain.known(current, newest)?;
    for m in &domain.sqlite[current as usize..] {
        conn.execute_batch(m.sql)?;
        record(conn, domain.name, m)?;
    }
    Ok(newest - current)
}

fn record(conn: &Connection, domain: &str, m: &Migration) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO baton_migrations(domain, version, name, applied_at)
         VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
        params![domain, m.version, m.name],
    )?;
    Ok(())
}

/// The version a home made before `baton_migrations` is at, read from its old marker.
fn legacy_version(conn: &Connection, legacy: Legacy) -> rusqlite::Result<u32> {
    match legacy {
        Legacy::None => Ok(0),
        Legacy::UserVersion => conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).map(clamp),
        Legacy::Table(table) => {
            if !table_exists(conn, table)? {
                return Ok(0);
            }
            let v: Option<i64> = conn
                .query_row(&format!("SELECT max(version) FROM \"{table}\""), [], |r| r.get(0))
                .optional()?
                .flatten();
            Ok(v.map_or(0, clamp))
        }
    }
}

fn clamp(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

/// Whether the file `conn` is open on has a table `name` (a reader on another domain's
/// connection asks before it reads, so that it never creates what it does not own).
pub fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?.exists([name])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FP, LEDGER};

    fn versions(conn: &Connection, domain: &str) -> Vec<(u32, String)> {
        let mut st =
            conn.prepare("SELECT version, name FROM baton_migrations WHERE domain = ?1 ORDER BY version").unwrap();
        st.query_map([domain], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    }

    /// A writer that meets another's lock waits for it in steps far under SQLite's own first
    /// 1 ms (so it is in well before), and a lock never let go ends in "database is locked"
    /// once the sleeps add to the timeout, not before.
    #[test]
    fn a_writer_waits_for_the_lock_in_short_steps_and_gives_up_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite");
        let holder = open_wal(&path, "NORMAL").unwrap();
        holder.execute_batch("CREATE TABLE t(x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);").unwrap();
        let (ready, opened) = std::sync::mpsc::channel();
        let writer = std::thread::spawn({
            let path = path.clone();
            move || {
                let conn = open_wal(&path, "NORMAL").unwrap();
                ready.send(()).unwrap();
                let t = Instant::now();
                conn.execute("INSERT INTO t VALUES (2)", []).unwrap();
                t.elapsed()
            }
        });
        // The lock is let go 30 ms after the writer is about to write.
        opened.recv().unwrap();
        std::thread::sleep(Duration::from_millis(30));
        holder.execute_batch("COMMIT").unwrap();
        let waited = writer.join().unwrap();
        assert!(waited >= Duration::from_millis(20), "the writer did wait for the lock: {waited:?}");
        let count: i64 = holder.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(count, 2, "both rows are in");
        // The steps: 25 µs doubling to 1.6 ms; past 30 s in all, no more sleeping.
        let t = Instant::now();
        assert!(busy(0));
        assert!(t.elapsed() < Duration::from_millis(1), "the first sleep is 25 µs, SQLite's own is 1 ms");
        let last_step = 7 + (BUSY_TIMEOUT.as_micros() / BUSY_STEP_MAX.as_micros()) as i32;
        let t = Instant::now();
        assert!(!busy(last_step), "30 s of sleeps: the wait ends");
        assert!(t.elapsed() < Duration::from_millis(1), "and it ends without sleeping again");
    }

    #[test]
    fn a_new_file_gets_every_migration_once() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_wal(&dir.path().join("s.sqlite"), "NORMAL").unwrap();
        assert_eq!(migrate(&conn, &LEDGER).unwrap(), newest(LEDGER.sqlite));
        assert_eq!(migrate(&conn, &LEDGER).unwrap(), 0, "a second open runs nothing");
        let got = versions(&conn, "ledger");
        assert_eq!(got.len(), LEDGER.sqlite.len());
        assert_eq!(got[1], (2, "claim_runs".to_string()));
        assert!(versions(&conn, "fp").is_empty(), "domains are recorded apart");
    }

    /// A ledger made before `baton_migrations` (user_version 3, rows in it) is adopted at 3:
    /// only 4.. run, and its rows stay (v4 moves `baton.health` kv rows, which must happen).
    #[test]
    fn an_old_ledger_is_adopted_at_its_user_version() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_wal(&dir.path().join("s.sqlite"), "NORMAL").unwrap();
        for m in &LEDGER.sqlite[..3] {
            conn.execute_batch(m.sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 3;
             INSERT INTO kv(plugin, key, value) VALUES ('baton.health', 'djay', '{}'), ('djay', 'k', 'v');",
        )
        .unwrap();
        assert_eq!(migrate(&conn, &LEDGER).unwrap(), newest(LEDGER.sqlite) - 3);
        let health: String =
            conn.query_row("SELECT health FROM plugin_health WHERE plugin = 'djay'", [], |r| r.get(0)).unwrap();
        assert_eq!(health, "{}");
        let kv: i64 = conn.query_row("SELECT count(*) FROM kv", [], |r| r.get(0)).unwrap();
        assert_eq!(kv, 1);
        assert_eq!(versions(&conn, "ledger").len(), LEDGER.sqlite.len());
    }

    #[test]
    fn a_newer_schema_is_refused_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_wal(&dir.path().join("s.sqlite"), "NORMAL").unwrap();
        migrate(&conn, &FP).unwrap();
        conn.execute("INSERT INTO baton_migrations VALUES ('fp', 99, 'future', 'x')", []).unwrap();
        let err = migrate(&conn, &FP).unwrap_err();
        assert!(matches!(err, StoreError::Newer { domain: "fp", found: 99, newest: 1 }), "{err}");
        assert!(err.to_string().contains("upgrade baton"), "{err}");
        // The same for an old marker: an fp_schema from the future is not adopted.
        let other = open_wal(&dir.path().join("t.sqlite"), "NORMAL").unwrap();
        other
            .execute_batch(
                "CREATE TABLE fp_schema(id INTEGER PRIMARY KEY, version INTEGER); INSERT INTO fp_schema VALUES (1, 5);",
            )
            .unwrap();
        assert!(matches!(migrate(&other, &FP), Err(StoreError::Newer { found: 5, .. })));
        assert!(!table_exists(&other, "fp_files").unwrap(), "nothing was created");
        assert!(!table_exists(&other, "baton_migrations").unwrap(), "nothing was recorded");
    }
}
