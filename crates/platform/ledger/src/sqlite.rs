//! What only the SQLite backend of the ledger has (one database file in WAL mode on a local
//! disk, the default): opening the file (read-only when it cannot be written), its checkpoints,
//! and the task list's search by its FTS5 index. Its other statements are the ones both
//! backends share (`db.rs`); its schema is `baton_store::LEDGER`'s SQLite migrations.
use std::path::Path;

use baton_store::sql;
use baton_store::vals;
use rusqlite::Connection;

use crate::db::{Db, Search, TASK_COLUMNS, task_from};
use crate::read::{TaskFilter, TaskList};
use crate::search::{COUNT_CAP, FILTERED_WINDOW, INDEX_BATCH, Query, fts_string, fts_word, index_words};
use crate::{LedgerError, Result};

pub(crate) struct SqliteLedger {
    /// Declared first, so dropped first: the thread stops before the connection closes.
    checkpointer: Option<crate::checkpoint::Checkpointer>,
    pub(crate) db: Db,
    path: std::path::PathBuf,
}

impl SqliteLedger {
    pub(crate) fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            baton_fs::ensure_dir(dir)
                .map_err(|source| LedgerError::Folder { path: dir.display().to_string(), source })?;
        }
        let shown = path.display().to_string();
        let (conn, read_only) = match baton_store::sqlite::open_wal(path, "FULL") {
            Ok(conn) if !conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) => (conn, None),
            opened => match unwritable(path) {
                Some(why) => (
                    open_read_only(path)
                        .map_err(|_| LedgerError::ReadOnly { path: shown.clone(), why: why.clone() })?,
                    Some(why),
                ),
                None => (opened.map_err(|source| LedgerError::Open { path: shown.clone(), source })?, None),
            },
        };
        baton_store::sqlite::migrate(&conn, &baton_store::LEDGER).map_err(|e| LedgerError::from_store(&shown, e))?;
        // rusqlite keeps 16 prepared statements by default; the ledger has more than that in
        // use, and a pipeline batch alone cycles through about half of them.
        conn.set_prepared_statement_cache_capacity(64);
        Ok(SqliteLedger {
            checkpointer: None,
            db: Db::new(sql::Db::Sqlite(conn), &SqliteSearch, shown, read_only),
            path: path.to_path_buf(),
        })
    }

    /// The connection (crates that keep their own tables in the same file, the checkpoints).
    pub(crate) fn conn(&self) -> &Connection {
        match self.db.sql.as_sqlite() {
            Some(c) => c,
            None => unreachable!("a SQLite ledger's database is a SQLite connection"),
        }
    }

    /// See [`crate::Ledger::checkpoint_in_background`].
    pub(crate) fn checkpoint_in_background(&mut self) {
        if self.checkpointer.is_none() {
            self.checkpointer = crate::checkpoint::Checkpointer::start(&self.path, self.conn());
        }
    }
}

/// Why the state file at `path` cannot be written by this process (its folder or the file on a
/// read-only file system, or not this user's to write), or `None` when that is not why.
fn unwritable(path: &Path) -> Option<String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    baton_fs::present(path).ok()??;
    // The file first, then its folder: the one named is the one that refused.
    let (which, e) = [path, dir].into_iter().find_map(|p| baton_fs::cannot_write(p).map(|e| (p, e)))?;
    Some(match e.kind() {
        std::io::ErrorKind::ReadOnlyFilesystem => "read-only file system".to_string(),
        _ => format!("{}: permission denied", which.display()),
    })
}

/// The state file opened for reading only, so that `status`, `show` and the other commands
/// that only read work on a home nobody may write. A file in WAL mode whose `-shm` cannot be
/// made (nothing may be created beside it) is opened `immutable`: nothing can write it there
/// while this process reads.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    use rusqlite::OpenFlags;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let uri = |query: &str| format!("file:{}?{query}", uri_path(path));
    let usable = |conn: Connection| conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())).map(|()| conn);
    Connection::open_with_flags(uri("mode=ro"), flags)
        .and_then(usable)
        .or_else(|_| Connection::open_with_flags(uri("mode=ro&immutable=1"), flags).and_then(usable))
}

/// `path` as the path of a `file:` URI (RFC 3986: `%`, `?` and `#` escaped, and every byte that
/// is not printable ASCII).
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        match b {
            b'%' | b'?' | b'#' => out.push_str(&format!("%{b:02X}")),
            0x21..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The task list on SQLite. Newest claims first is the insertion order (as in `task_page`):
/// the rowid, no sort. A `q` reads the search index and the rows it does not hold yet
/// ([`searched_task_list`]), after one step of the indexer when many are waiting (a `serve`
/// that was never idle, a fresh upgrade); a read-only or busy ledger skips that step and reads
/// them directly.
struct SqliteSearch;

impl Search for SqliteSearch {
    fn task_list(&self, db: &Db, f: &TaskFilter<'_>, offset: i64, limit: i64) -> Result<TaskList> {
        let Some(q) = f.q.and_then(Query::parse) else { return db.unsearched(f, offset, limit) };
        let waiting = db.query_opt(SEARCH_WAITING, &[])?.map_or(0, |r| r.int(0));
        if waiting > SEARCH_READS_DIRECTLY
            && let Err(e) = index_step(db, INDEX_BATCH)
        {
            tracing::debug!("the task list's search did not index before reading: {e}");
        }
        searched_task_list(db, f, &q, offset, limit)
    }

    fn index(&self, db: &Db, max_rows: usize) -> Result<(usize, bool)> {
        index_step(db, max_rows)
    }
}

/// How many rows wait for the search index (capped: only "more than" matters).
const SEARCH_WAITING: &str = "SELECT count(*) FROM (SELECT 1 FROM task_text
    WHERE stamp > (SELECT indexed FROM task_search_mark WHERE one = 1) LIMIT 1000)";
/// Up to this many rows waiting for the index, a search reads them directly and leaves the
/// indexing to `serve`; above it, it indexes one batch first.
const SEARCH_READS_DIRECTLY: i64 = 200;

/// The task list for a `q`: the keys (`task_text.n`, claim order) of the matching tasks, newest
/// first, from the index and from the rows it does not hold yet, filtered, then the page's rows.
///
/// The index's keys are read newest first and at most [`COUNT_CAP`] + 1 of them (with other
/// filters, [`FILTERED_WINDOW`]): past that the count is "at least" ([`TaskList::total_exact`]
/// false), unless the page itself lies beyond what was read, which reads them all (a deep page,
/// or filters that keep few of a frequent word's tasks). The rows stamped above the index's mark are matched here, in Rust, by the
/// same rule ([`Query::matches`]); their keys in the index (an earlier text) are dropped.
fn searched_task_list(db: &Db, f: &TaskFilter<'_>, q: &Query, offset: i64, limit: i64) -> Result<TaskList> {
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = usize::try_from(limit).unwrap_or(0);
    let (pending, direct) = unindexed_matches(db, q)?;
    let filtered = f.filters_besides_q();
    let mut window = Some(if filtered { FILTERED_WINDOW } else { COUNT_CAP + 1 });
    let fts = if q.fts.is_some() { spelled_out(db, q)? } else { None };
    loop {
        let mut keys = match &fts {
            Some(fts) => fts_keys(db, fts, window)?,
            None => Vec::new(),
        };
        let truncated = window.is_some_and(|w| keys.len() >= w);
        let oldest_read = if truncated { keys.last().copied() } else { None };
        if !pending.is_empty() {
            keys.retain(|n| pending.binary_search(n).is_err());
        }
        // The direct matches older than the oldest key read are beyond the window too.
        keys.extend(direct.iter().copied().filter(|n| oldest_read.is_none_or(|o| *n > o)));
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.dedup();
        let matched = if filtered { filter_keys(db, f, &keys)? } else { keys };
        if truncated && matched.len() < skip.saturating_add(take) {
            // The page is past the window: read every key.
            window = None;
            continue;
        }
        let page: Vec<i64> = matched.iter().skip(skip).take(take).copied().collect();
        let rows = if page.is_empty() {
            Vec::new()
        } else {
            let cols = TASK_COLUMNS.split(',').map(|c| format!("t.{}", c.trim())).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT {cols} FROM task_text x JOIN tasks t ON t.id = x.id
                 WHERE x.n IN (SELECT value FROM json_each(?1)) ORDER BY x.n DESC"
            );
            db.query(&sql, vals![json_keys(&page)])?.into_iter().map(task_from).collect()
        };
        return Ok(TaskList {
            rows,
            total: matched.len() as u64,
            total_exact: !truncated,
            unindexed: pending.len() as u64,
        });
    }
}

/// Of the rows stamped above the index's mark (the index does not hold their latest text):
/// all their keys, and those whose text and names match `q`, both sorted. Few in a running
/// `serve` (the indexer keeps up when idle), every task just after an upgrade.
fn unindexed_matches(db: &Db, q: &Query) -> Result<(Vec<i64>, Vec<i64>)> {
    let rows = db.query(
        "SELECT x.n, x.body, t.id, t.title, t.sender, t.reply_to FROM task_text x JOIN tasks t ON t.id = x.id
         WHERE x.stamp > (SELECT indexed FROM task_search_mark WHERE one = 1)",
        &[],
    )?;
    let (mut pending, mut direct) = (Vec::new(), Vec::new());
    for r in &rows {
        let n = r.int(0);
        pending.push(n);
        let doc = index_words(r.str(1), [r.str(2), r.str(3), r.str(4), r.str(5)]);
        if q.matches(&doc) {
            direct.push(n);
        }
    }
    pending.sort_unstable();
    direct.sort_unstable();
    Ok((pending, direct))
}

/// Of `keys` (newest first), those whose task passes the filters other than `q`, in the same
/// order.
fn filter_keys(db: &Db, f: &TaskFilter<'_>, keys: &[i64]) -> Result<Vec<i64>> {
    let sql = format!(
        "SELECT x.n FROM task_text x JOIN tasks t ON t.id = x.id
         WHERE x.n IN (SELECT value FROM json_each(?5)) AND {} ORDER BY x.n DESC",
        db.task_filters()
    );
    let rows = db.query(&sql, vals![f.state, f.plugin, f.error_code, f.agent, json_keys(keys)])?;
    Ok(rows.iter().map(|r| r.int(0)).collect())
}

/// A prefix word spelled out as terms when at most this many of the index's terms begin with it.
const MAX_SPELLED_TERMS: usize = 32;

/// `q`'s words as an FTS5 query, each prefix word spelled out as the index's terms that begin
/// with it (`("disk" OR "disks")`) when there are at most [`MAX_SPELLED_TERMS`], else left a
/// prefix (`"di"*`). FTS5 reads the whole doclist of a prefix query before its first row, so
/// the newest 10,001 keys of a word in most of 100,000 tasks took ~20 ms (however small the
/// LIMIT); an OR of terms is read lazily from the newest, as far as the LIMIT: ~3.5 ms, and
/// ~2 ms to list the terms (bench/runs/2026-11-26/search-order.md). `None` when a word begins
/// no term: the index holds no match.
///
/// The terms come from `temp.task_search_terms`, an `fts5vocab` table over the index, made on
/// the connection's first search (a temp table: nothing is written to the ledger). Terms only
/// deleted tasks held may be listed; they match nothing.
fn spelled_out(db: &Db, q: &Query) -> Result<Option<String>> {
    db.sql
        .batch(
            "CREATE VIRTUAL TABLE IF NOT EXISTS temp.task_search_terms USING fts5vocab(main, task_search_words, row)",
        )
        .map_err(|e| db.err(e))?;
    let mut parts = Vec::with_capacity(q.words.len());
    for w in &q.words {
        if w.chars().count() == 1 {
            parts.push(fts_word(w));
            continue;
        }
        let limit = i64::try_from(MAX_SPELLED_TERMS + 1).unwrap_or(i64::MAX);
        let terms: Vec<String> = db
            .query("SELECT term FROM temp.task_search_terms WHERE term >= ?1 LIMIT ?2", vals![w, limit])?
            .into_iter()
            .map(|mut r| r.take_text(0))
            .collect();
        // Terms come in order: those that begin with `w` are the first ones.
        let begin: Vec<&String> = terms.iter().take_while(|t| t.starts_with(w.as_str())).collect();
        match begin.len() {
            0 => return Ok(None),
            n if n > MAX_SPELLED_TERMS => parts.push(fts_word(w)),
            _ => {
                let or: Vec<String> = begin.iter().map(|t| fts_string(t)).collect();
                parts.push(format!("({})", or.join(" OR ")));
            }
        }
    }
    Ok(Some(parts.join(" AND ")))
}

/// The keys (`task_text.n`) the words index lists for the FTS5 query `fts`, newest first, at
/// most `window` of them.
fn fts_keys(db: &Db, fts: &str, window: Option<usize>) -> Result<Vec<i64>> {
    let limit = window.map_or(-1, |w| i64::try_from(w).unwrap_or(i64::MAX));
    let rows = db.query(
        "SELECT rowid FROM task_search_words WHERE task_search_words MATCH ?1 ORDER BY rowid DESC LIMIT ?2",
        vals![fts, limit],
    )?;
    Ok(rows.iter().map(|r| r.int(0)).collect())
}

/// One step of the indexer: up to `max_rows` rows stamped above the mark, oldest stamp first,
/// into the words index (an earlier entry of the same task out first), and the mark moved to
/// the last one, in one transaction. Several processes may run it: the transaction is a write
/// from its start, so two never index the same rows.
fn index_step(db: &Db, max_rows: usize) -> Result<(usize, bool)> {
    let limit = i64::try_from(max_rows).unwrap_or(i64::MAX);
    db.transaction(|db| {
        let rows = db.query(
            "SELECT x.n, x.stamp, x.indexed, x.body, t.id, t.title, t.sender, t.reply_to
             FROM task_text x LEFT JOIN tasks t ON t.id = x.id
             WHERE x.stamp > (SELECT indexed FROM task_search_mark WHERE one = 1) ORDER BY x.stamp LIMIT ?1",
            vals![limit],
        )?;
        let mut mark: Option<i64> = None;
        for r in &rows {
            let n = r.int(0);
            mark = Some(r.int(1));
            if r.int(2) != 0 {
                db.execute("DELETE FROM task_search_words WHERE rowid = ?1", vals![n])?;
            }
            if r.opt_text(4).is_some() {
                let words = index_words(r.str(3), [r.str(4), r.str(5), r.str(6), r.str(7)]);
                db.execute("INSERT INTO task_search_words(rowid, words) VALUES (?1, ?2)", vals![n, words])?;
                db.execute("UPDATE task_text SET indexed = 1 WHERE n = ?1 AND indexed = 0", vals![n])?;
            }
        }
        if let Some(m) = mark {
            db.execute("UPDATE task_search_mark SET indexed = ?1 WHERE one = 1", vals![m])?;
        }
        let left = db.exists(
            "SELECT 1 FROM task_text WHERE stamp > (SELECT indexed FROM task_search_mark WHERE one = 1) LIMIT 1",
            &[],
        )?;
        Ok((rows.len(), left))
    })
}

/// Keys as a JSON array, for `json_each` (one parameter, however many keys).
fn json_keys(keys: &[i64]) -> String {
    let mut out = String::with_capacity(keys.len() * 8 + 2);
    out.push('[');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&k.to_string());
    }
    out.push(']');
    out
}
