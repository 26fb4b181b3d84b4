//! `baton migrate`: copies a SQLite state (every domain's tables: the ledger's, the catalog's
//! `cat_*`) onto an empty PostgreSQL state, in one transaction, and checks the copy.
//!
//! The copy is generic over tables rather than a second list of the schema: every table of the
//! SQLite file is copied, except SQLite's own, the file's schema versions (`baton_migrations`)
//! and what a domain keeps on this machine ([`CopyRules::stays`]: the ledger's `state_meta`,
//! the fingerprint library's `fp_*`). Each must exist on the server (created beforehand by the
//! domains' migrations) with a column for each of its columns, or nothing is copied: a table or
//! a column without a place would be lost. Values are converted to the server column's type
//! (SQLite's columns are loosely typed); a value that does not fit is an error naming the
//! table, the column and the row.
//!
//! Why here and not in a domain: the copy writes every domain's tables, so it belongs to the
//! layer they all sit on; each domain contributes only its rules ([`crate::Domain::copy`]:
//! what stays, what only the server has, which counter continues after the copied rows).
//!
//! The check: for each table, a SHA-256 over its rows ordered by primary key (text compared
//! byte by byte, SQLite's `BINARY` and PostgreSQL's `COLLATE "C"`), each value encoded
//! canonically ([`encode`]). The source's hash is taken over the values as written, the target's
//! over the rows read back from the server inside the same transaction; any difference rolls
//! the whole copy back. The source is read inside `BEGIN IMMEDIATE`, so it is one consistent
//! snapshot and nothing writes to it meanwhile; it is never changed.
//!
//! Afterwards the server's counters continue from the copied rows: each serial column's
//! sequence (`events.seq`, `logs.seq`) is set to its maximum, and each domain's counter row
//! ([`Counter`]: the catalog's `cat_counter`, which hands out change-log numbers on PostgreSQL)
//! to the copied maximum. Triggers (`kv_usage`, log pruning) are off during the copy: their
//! tables are copied as they are.
use std::path::Path;
use std::time::Instant;

use futures_executor::block_on;
use rusqlite::types::ValueRef;
use sha2::{Digest, Sha256};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::location::PgUrl;

/// Rows read from the server per round trip when hashing, and between progress reports.
const PAGE: i32 = 10_000;

/// How `baton migrate` treats one domain's tables.
#[derive(Debug)]
pub struct CopyRules {
    /// Tables left in the SQLite file, with why.
    pub stays: &'static [Stays],
    /// Tables only the server has (claims across machines): not copied, but they must be empty.
    pub server_only: &'static [&'static str],
    /// A counter row on the server that must continue after the copied rows.
    pub counter: Option<Counter>,
}

/// A table (or every table whose name starts with `table`, for a `prefix`) that stays in the
/// SQLite file.
#[derive(Debug)]
pub struct Stays {
    pub table: &'static str,
    pub prefix: bool,
    pub why: &'static str,
}

/// A one-row counter, `table.column`, that hands out the numbers of `follows.column` on the
/// server: set to the copied `max(follows.column)`, and a target where it is past 0 is not empty.
#[derive(Debug)]
pub struct Counter {
    pub table: &'static str,
    pub column: &'static str,
    pub follows: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("source {path}: {source}")]
    Source { path: String, source: rusqlite::Error },
    #[error("target {server}: {source}")]
    Target { server: String, source: tokio_postgres::Error },
    #[error("target {server}: {source}")]
    Connect { server: String, source: crate::connect::ConnectError },
    #[error(
        "target {server} already holds data ({what}); migrate copies into an empty state only and never overwrites: \
         create an empty database (`createdb <name>`) and name it in --to"
    )]
    NotEmpty { server: String, what: String },
    #[error(
        "source {path}: {what} has no place on the target {server} (is this baton older than the one that wrote the source?)"
    )]
    NoPlace { path: String, server: String, what: String },
    #[error("source {path}: table {table}, column {column}, row {row}: {detail}")]
    Value { path: String, table: String, column: String, row: u64, detail: String },
    #[error(
        "the copy of table {table} does not match its source (source {source_hash}, target {target_hash}); nothing was written"
    )]
    Mismatch { table: String, source_hash: String, target_hash: String },
}

pub type Result<T, E = CopyError> = std::result::Result<T, E>;

/// One table's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TableReport {
    pub table: String,
    pub rows: u64,
    /// The ordered hash of the source's rows (`None` in a dry run).
    pub source_hash: Option<String>,
    /// The ordered hash of the rows read back from the server (`None` in a dry run).
    pub target_hash: Option<String>,
}

/// What a migration did (or, in a dry run, would do).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub tables: Vec<TableReport>,
    /// Tables left in the SQLite file on purpose, with why.
    pub not_copied: Vec<(String, String)>,
    /// The catalog's change-log counter (`cat_counter.seq`) as set on the server (`None` in a
    /// dry run or without a catalog).
    pub catalog_seq: Option<i64>,
}

/// A progress report: `done` of `total` rows of `table` copied.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub table: &'a str,
    pub done: u64,
    pub total: u64,
}

/// One column on the server.
#[derive(Debug, Clone)]
struct Column {
    name: String,
    ty: Type,
    nullable: bool,
}

/// One table's copy: its columns on the server, in the source's order, and the key it is
/// ordered by for the check.
struct Plan {
    table: String,
    cols: Vec<Column>,
    key: Vec<String>,
}

/// The tables every domain says only the server has.
fn server_only() -> impl Iterator<Item = String> {
    crate::DOMAINS.iter().flat_map(|d| d.copy.server_only).map(|t| t.to_string())
}

/// Lists what would be copied (rows per table) and checks that the target holds no data in
/// the tables it has; writes nothing on either side.
pub fn dry_run(source: &Path, target: &PgUrl) -> Result<Report> {
    let src = open_source(source)?;
    let (tables, not_copied) = source_tables(&src, source)?;
    let mut out = Vec::new();
    for t in &tables {
        let rows = count_sqlite(&src, source, t)?;
        out.push(TableReport { table: t.clone(), rows, source_hash: None, target_hash: None });
    }
    let server = Server::connect(target)?;
    let mut all = tables.clone();
    all.extend(server_only());
    check_empty(&server.shown, &server.client, &all)?;
    Ok(Report { dry_run: true, tables: out, not_copied, catalog_seq: None })
}

/// One copy under way: the source inside its snapshot, the target inside its transaction.
struct Run<'a> {
    src: &'a rusqlite::Connection,
    tx: &'a tokio_postgres::Transaction<'a>,
    path: &'a Path,
    shown: String,
}

impl Run<'_> {
    fn serr(&self, source: rusqlite::Error) -> CopyError {
        CopyError::Source { path: self.path.display().to_string(), source }
    }

    fn terr(&self, source: tokio_postgres::Error) -> CopyError {
        CopyError::Target { server: self.shown.clone(), source }
    }

    fn no_place(&self, what: String) -> CopyError {
        CopyError::NoPlace { path: self.path.display().to_string(), server: self.shown.clone(), what }
    }
}

/// Copies `source` onto `target` (whose schema the domains' migrations have created) and
/// checks it; see the module's comment. `progress` hears about large tables.
pub fn migrate(source: &Path, target: &PgUrl, progress: &mut dyn FnMut(Progress<'_>)) -> Result<Report> {
    let src = open_source(source)?;
    let serr = |e| CopyError::Source { path: source.display().to_string(), source: e };
    // One snapshot, and no writer meanwhile (a `serve` started now waits, then fails its write).
    src.execute_batch("BEGIN IMMEDIATE").map_err(serr)?;
    let (tables, not_copied) = source_tables(&src, source)?;
    let mut server = Server::connect(target)?;
    let shown = target.shown().to_string();
    let tx =
        block_on(server.client.transaction()).map_err(|e| CopyError::Target { server: shown.clone(), source: e })?;
    let run = Run { src: &src, tx: &tx, path: source, shown };

    // Every table must have a place, and the target must be empty.
    let plans = tables.iter().map(|t| plan(&run, t)).collect::<Result<Vec<_>>>()?;
    let mut all: Vec<String> = tables.clone();
    all.extend(server_only());
    check_empty(&run.shown, run.tx, &all)?;

    let mut reports = Vec::new();
    for p in &plans {
        reports.push(copy_table(&run, p, progress)?);
    }
    let catalog_seq = continue_counters(&run, &tables)?;
    drop(run);
    block_on(tx.commit()).map_err(|e| CopyError::Target { server: target.shown().to_string(), source: e })?;
    src.execute_batch("ROLLBACK").map_err(serr)?;
    Ok(Report { dry_run: false, tables: reports, not_copied, catalog_seq })
}

/// Where `table` goes on the server: a column there for each of its columns, or an error.
fn plan(run: &Run<'_>, table: &str) -> Result<Plan> {
    let cols = columns(run.tx, table).map_err(|e| run.terr(e))?;
    if cols.is_empty() {
        return Err(run.no_place(format!("table {table}")));
    }
    let mut copied = Vec::new();
    for c in &sqlite_columns(run.src, table).map_err(|e| run.serr(e))? {
        match cols.iter().find(|k| k.name == *c) {
            Some(k) => copied.push(k.clone()),
            None => return Err(run.no_place(format!("column {table}.{c}"))),
        }
    }
    let key = primary_key(run.tx, table).map_err(|e| run.terr(e))?;
    let key = if key.is_empty() { copied.iter().map(|c| c.name.clone()).collect() } else { key };
    Ok(Plan { table: table.to_string(), cols: copied, key })
}

/// `name` quoted as an SQL identifier.
fn q(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Copies one table, checks the copy, and lets its serial columns continue after it.
fn copy_table(run: &Run<'_>, p: &Plan, progress: &mut dyn FnMut(Progress<'_>)) -> Result<TableReport> {
    let started = Instant::now();
    let terr = |e| run.terr(e);
    block_on(run.tx.batch_execute(&format!("ALTER TABLE {} DISABLE TRIGGER USER", q(&p.table)))).map_err(terr)?;
    let (done, source_hash) = write_rows(run, p, progress)?;
    block_on(run.tx.batch_execute(&format!("ALTER TABLE {} ENABLE TRIGGER USER", q(&p.table)))).map_err(terr)?;
    let (back, target_hash) = hash_target(run, p)?;
    if source_hash != target_hash || back != done {
        return Err(CopyError::Mismatch { table: p.table.clone(), source_hash, target_hash });
    }
    // Serial columns continue after the copied rows.
    for c in &p.cols {
        let seq = block_on(run.tx.query_one("SELECT pg_get_serial_sequence($1, $2)", &[&q(&p.table), &c.name]))
            .map_err(terr)?;
        if let Some(seq) = seq.get::<_, Option<String>>(0) {
            let (col, table) = (q(&c.name), q(&p.table));
            let sql =
                format!("SELECT setval($1::text::regclass, max({col})) FROM {table} HAVING max({col}) IS NOT NULL");
            block_on(run.tx.execute(&sql, &[&seq])).map_err(terr)?;
        }
    }
    tracing::debug!(table = %p.table, rows = done, ms = started.elapsed().as_millis() as u64, "copied");
    Ok(TableReport {
        table: p.table.clone(),
        rows: done,
        source_hash: Some(source_hash),
        target_hash: Some(target_hash),
    })
}

/// Streams the source's rows, in key order, into the server (`COPY … BINARY`), hashing the
/// values as written; how many rows, and the hash.
fn write_rows(run: &Run<'_>, p: &Plan, progress: &mut dyn FnMut(Progress<'_>)) -> Result<(u64, String)> {
    let (table, cols) = (p.table.as_str(), &p.cols);
    let total = count_sqlite(run.src, run.path, table)?;
    let names: Vec<String> = cols.iter().map(|c| q(&c.name)).collect();
    let sink = block_on(run.tx.copy_in(&format!("COPY {} ({}) FROM STDIN BINARY", q(table), names.join(", "))))
        .map_err(|e| run.terr(e))?;
    let types: Vec<Type> = cols.iter().map(|c| c.ty.clone()).collect();
    let mut writer = Box::pin(BinaryCopyInWriter::new(sink, &types));
    let order: Vec<String> = p.key.iter().map(|k| q(k)).collect();
    let sql = format!("SELECT {} FROM {} ORDER BY {}", names.join(", "), q(table), order.join(", "));
    let mut stmt = run.src.prepare(&sql).map_err(|e| run.serr(e))?;
    let mut rows = stmt.query([]).map_err(|e| run.serr(e))?;
    let mut hash = Sha256::new();
    let mut done = 0u64;
    let mut vals: Vec<Val> = Vec::with_capacity(cols.len());
    while let Some(row) = rows.next().map_err(|e| run.serr(e))? {
        vals.clear();
        for (i, col) in cols.iter().enumerate() {
            let v = row.get_ref(i).map_err(|e| run.serr(e))?;
            let v = convert(v, col).map_err(|detail| CopyError::Value {
                path: run.path.display().to_string(),
                table: table.to_string(),
                column: col.name.clone(),
                row: done + 1,
                detail,
            })?;
            encode(&v, &mut hash);
            vals.push(v);
        }
        let refs: Vec<&(dyn ToSql + Sync)> = vals.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        block_on(writer.as_mut().write(&refs)).map_err(|e| run.terr(e))?;
        done += 1;
        if done.is_multiple_of(PAGE as u64) {
            progress(Progress { table, done, total });
        }
    }
    block_on(writer.as_mut().finish()).map_err(|e| run.terr(e))?;
    if total >= PAGE as u64 {
        progress(Progress { table, done, total });
    }
    Ok((done, hex(hash)))
}

/// Reads the table back from the server in the same order and hashes it the same way; how
/// many rows, and the hash.
fn hash_target(run: &Run<'_>, p: &Plan) -> Result<(u64, String)> {
    let terr = |e| run.terr(e);
    let names: Vec<String> = p.cols.iter().map(|c| q(&c.name)).collect();
    let order: Vec<String> = p
        .key
        .iter()
        .map(|k| match p.cols.iter().find(|c| &c.name == k).map(|c| c.ty.clone()) {
            Some(Type::TEXT) | Some(Type::VARCHAR) => format!("{} COLLATE \"C\"", q(k)),
            _ => q(k),
        })
        .collect();
    let sql = format!("SELECT {} FROM {} ORDER BY {}", names.join(", "), q(&p.table), order.join(", "));
    let st = block_on(run.tx.prepare(&sql)).map_err(terr)?;
    let portal = block_on(run.tx.bind(&st, &[])).map_err(terr)?;
    let mut hash = Sha256::new();
    let mut back = 0u64;
    loop {
        let page = block_on(run.tx.query_portal(&portal, PAGE)).map_err(terr)?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            for (i, col) in p.cols.iter().enumerate() {
                encode(&read_back(r, i, &col.ty).map_err(terr)?, &mut hash);
            }
            back += 1;
        }
    }
    Ok((back, hex(hash)))
}

/// Sets every domain's counter row to the copied maximum of what it numbers; returns the
/// catalog's (see [`Report::catalog_seq`]).
fn continue_counters(run: &Run<'_>, tables: &[String]) -> Result<Option<i64>> {
    let terr = |e| run.terr(e);
    let mut catalog_seq = None;
    for d in crate::DOMAINS {
        let Some(c) = &d.copy.counter else { continue };
        if columns(run.tx, c.table).map_err(terr)?.is_empty() {
            continue;
        }
        let max: i64 = if tables.iter().any(|t| t == c.follows) {
            let sql = format!("SELECT COALESCE(max({}), 0) FROM {}", q(c.column), q(c.follows));
            block_on(run.tx.query_one(&sql, &[])).map_err(terr)?.get(0)
        } else {
            0
        };
        block_on(run.tx.execute(&format!("UPDATE {} SET {} = $1", q(c.table), q(c.column)), &[&max])).map_err(terr)?;
        if d.name == crate::CATALOG.name {
            catalog_seq = Some(max);
        }
    }
    Ok(catalog_seq)
}

fn open_source(path: &Path) -> Result<rusqlite::Connection> {
    let err = |e| CopyError::Source { path: path.display().to_string(), source: e };
    if !path.is_file() {
        return Err(err(rusqlite::Error::InvalidPath(path.to_path_buf())));
    }
    let c = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(err)?;
    c.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
    Ok(c)
}

/// Tables to copy, and tables left in the file with why.
type Tables = (Vec<String>, Vec<(String, String)>);

fn source_tables(c: &rusqlite::Connection, path: &Path) -> Result<Tables> {
    let err = |e| CopyError::Source { path: path.display().to_string(), source: e };
    let mut st = c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name").map_err(err)?;
    let names: Vec<String> =
        st.query_map([], |r| r.get(0)).map_err(err)?.collect::<rusqlite::Result<_>>().map_err(err)?;
    let mut copy = Vec::new();
    let mut stays = Vec::new();
    for n in names {
        match why_it_stays(&n) {
            Some(why) => stays.push((n, why.to_string())),
            None => copy.push(n),
        }
    }
    Ok((copy, stays))
}

/// Why `table` stays in the SQLite file, if it does.
fn why_it_stays(table: &str) -> Option<&'static str> {
    if table == crate::MIGRATIONS_TABLE {
        return Some("the schema versions of this file; the server records its own as its migrations run");
    }
    let rules = crate::DOMAINS.iter().flat_map(|d| d.copy.stays);
    rules.into_iter().find(|s| if s.prefix { table.starts_with(s.table) } else { table == s.table }).map(|s| s.why)
}

fn count_sqlite(c: &rusqlite::Connection, path: &Path, table: &str) -> Result<u64> {
    c.query_row(&format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\"")), [], |r| r.get::<_, i64>(0))
        .map(|n| n as u64)
        .map_err(|e| CopyError::Source { path: path.display().to_string(), source: e })
}

fn sqlite_columns(c: &rusqlite::Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare(&format!("PRAGMA table_info(\"{}\")", table.replace('"', "\"\"")))?;
    st.query_map([], |r| r.get::<_, String>(1))?.collect()
}

/// A table's columns on the server, in order (none: no such table).
fn columns(c: &impl tokio_postgres::GenericClient, table: &str) -> Result<Vec<Column>, tokio_postgres::Error> {
    let rows = block_on(c.query(
        "SELECT a.attname, a.atttypid, NOT a.attnotnull FROM pg_attribute a
         WHERE a.attrelid = to_regclass(quote_ident($1)) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        &[&table],
    ))?;
    Ok(rows
        .iter()
        .map(|r| Column {
            name: r.get(0),
            ty: Type::from_oid(r.get::<_, u32>(1)).unwrap_or(Type::UNKNOWN),
            nullable: r.get(2),
        })
        .collect())
}

/// A table's primary key columns on the server, in key order.
fn primary_key(c: &impl tokio_postgres::GenericClient, table: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let rows = block_on(c.query(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
         WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisprimary
         ORDER BY array_position(i.indkey::int2[], a.attnum)",
        &[&table],
    ))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The server and one session with it, of its own (the copy is one long transaction), started
/// by the server's pool, whose runtime drives it.
struct Server {
    shown: String,
    client: tokio_postgres::Client,
    _pool: std::sync::Arc<crate::pool::Pool>,
}

impl Server {
    fn connect(url: &PgUrl) -> Result<Server> {
        let shown = url.shown().to_string();
        let cerr = |source| CopyError::Connect { server: shown.clone(), source };
        let pool = crate::pool::Pool::of(url).map_err(cerr)?;
        let client = block_on(pool.start("migration target")).map_err(cerr)?;
        // The copy and its check are a few statements over every row: the URL's per-statement
        // limit, meant for the ledger's short calls, would cut a large home's copy short.
        block_on(client.batch_execute("SET statement_timeout = 0"))
            .map_err(|source| CopyError::Target { server: shown.clone(), source })?;
        Ok(Server { shown, client, _pool: pool })
    }
}

/// Refuses a target with a row in any of `tables` (those it has), or a domain's counter past 0.
fn check_empty(shown: &str, c: &impl tokio_postgres::GenericClient, tables: &[String]) -> Result<()> {
    {
        let terr = |e| CopyError::Target { server: shown.to_string(), source: e };
        let mut found = Vec::new();
        for t in tables {
            let exists: bool =
                block_on(c.query_one("SELECT to_regclass(quote_ident($1)) IS NOT NULL", &[t])).map_err(terr)?.get(0);
            if !exists {
                continue;
            }
            let n: i64 = block_on(c.query_one(&format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")), &[]))
                .map_err(terr)?
                .get(0);
            if n > 0 {
                found.push(format!("{t}: {n} rows"));
            }
        }
        for k in crate::DOMAINS.iter().filter_map(|d| d.copy.counter.as_ref()) {
            let exists: bool =
                block_on(c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&k.table])).map_err(terr)?.get(0);
            if !exists {
                continue;
            }
            let sql = format!("SELECT COALESCE(max({}), 0) FROM {}", q(k.column), q(k.table));
            let seq: i64 = block_on(c.query_one(&sql, &[])).map_err(terr)?.get(0);
            if seq > 0 {
                found.push(format!("{} at {seq}", k.table));
            }
        }
        if found.is_empty() {
            Ok(())
        } else {
            Err(CopyError::NotEmpty { server: shown.to_string(), what: found.join(", ") })
        }
    }
}

/// One value, typed as the server column it goes to.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Null,
    Bool(bool),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A SQLite value converted to the server column's type, or why it cannot be.
fn convert(v: ValueRef<'_>, col: &Column) -> Result<Val, String> {
    let int = |i: i64| -> Result<Val, String> {
        Ok(match col.ty {
            Type::INT2 => Val::I16(i16::try_from(i).map_err(|_| format!("{i} does not fit a smallint"))?),
            Type::INT4 => Val::I32(i32::try_from(i).map_err(|_| format!("{i} does not fit an integer"))?),
            Type::INT8 => Val::I64(i),
            Type::BOOL => Val::Bool(i != 0),
            Type::FLOAT4 => Val::F32(i as f32),
            Type::FLOAT8 => Val::F64(i as f64),
            Type::TEXT | Type::VARCHAR => Val::Text(i.to_string()),
            _ => return Err(format!("an integer for a column of type {}", col.ty)),
        })
    };
    match v {
        ValueRef::Null if col.nullable => Ok(Val::Null),
        ValueRef::Null => Err("NULL in a column the server declares NOT NULL".into()),
        ValueRef::Integer(i) => int(i),
        ValueRef::Real(f) => match col.ty {
            Type::FLOAT8 => Ok(Val::F64(f)),
            Type::FLOAT4 => Ok(Val::F32(f as f32)),
            Type::TEXT | Type::VARCHAR => Ok(Val::Text(f.to_string())),
            _ if f.fract() == 0.0 && f.abs() < 9.0e15 => int(f as i64),
            _ => Err(format!("the real number {f} for a column of type {}", col.ty)),
        },
        ValueRef::Text(b) => {
            let s = std::str::from_utf8(b).map_err(|_| "text that is not UTF-8".to_string())?;
            if s.contains('\0') {
                return Err("text with a NUL character, which PostgreSQL cannot store".into());
            }
            match col.ty {
                Type::TEXT | Type::VARCHAR => Ok(Val::Text(s.to_string())),
                Type::BYTEA => Ok(Val::Bytes(b.to_vec())),
                Type::FLOAT8 | Type::FLOAT4 => s
                    .trim()
                    .parse::<f64>()
                    .map_err(|_| format!("the text {s:?} for a number column"))
                    .map(|f| if col.ty == Type::FLOAT4 { Val::F32(f as f32) } else { Val::F64(f) }),
                _ => int(s
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| format!("the text {s:?} for a column of type {}", col.ty))?),
            }
        }
        ValueRef::Blob(b) => match col.ty {
            Type::BYTEA => Ok(Val::Bytes(b.to_vec())),
            Type::TEXT | Type::VARCHAR => match std::str::from_utf8(b) {
                Ok(s) if !s.contains('\0') => Ok(Val::Text(s.to_string())),
                _ => Err("a blob that is not text, for a text column".into()),
            },
            _ => Err(format!("a blob for a column of type {}", col.ty)),
        },
    }
}

/// A value read back from the server.
fn read_back(r: &tokio_postgres::Row, i: usize, ty: &Type) -> Result<Val, tokio_postgres::Error> {
    Ok(match *ty {
        Type::INT2 => r.try_get::<_, Option<i16>>(i)?.map(Val::I16),
        Type::INT4 => r.try_get::<_, Option<i32>>(i)?.map(Val::I32),
        Type::INT8 => r.try_get::<_, Option<i64>>(i)?.map(Val::I64),
        Type::BOOL => r.try_get::<_, Option<bool>>(i)?.map(Val::Bool),
        Type::FLOAT4 => r.try_get::<_, Option<f32>>(i)?.map(Val::F32),
        Type::FLOAT8 => r.try_get::<_, Option<f64>>(i)?.map(Val::F64),
        Type::BYTEA => r.try_get::<_, Option<Vec<u8>>>(i)?.map(Val::Bytes),
        _ => r.try_get::<_, Option<String>>(i)?.map(Val::Text),
    }
    .unwrap_or(Val::Null))
}

/// The canonical encoding the ordered hashes are taken over: a tag byte per value, then
/// integers and floats as 8 little-endian bytes (floats by their bits), text and bytes as an
/// 8-byte length and the bytes. Unambiguous, so two different rows never hash alike by accident
/// of concatenation.
fn encode(v: &Val, h: &mut Sha256) {
    match v {
        Val::Null => h.update([0u8]),
        Val::Bool(b) => h.update([1u8, *b as u8]),
        Val::I16(i) => int(h, (*i).into()),
        Val::I32(i) => int(h, (*i).into()),
        Val::I64(i) => int(h, *i),
        Val::F32(f) => float(h, (*f).into()),
        Val::F64(f) => float(h, *f),
        Val::Text(s) => bytes(h, 4, s.as_bytes()),
        Val::Bytes(b) => bytes(h, 5, b),
    }
    fn int(h: &mut Sha256, i: i64) {
        h.update([2u8]);
        h.update(i.to_le_bytes());
    }
    fn float(h: &mut Sha256, f: f64) {
        h.update([3u8]);
        h.update(f.to_bits().to_le_bytes());
    }
    fn bytes(h: &mut Sha256, tag: u8, b: &[u8]) {
        h.update([tag]);
        h.update((b.len() as u64).to_le_bytes());
        h.update(b);
    }
}

fn hex(h: Sha256) -> String {
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

impl ToSql for Val {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Val::Null => Ok(IsNull::Yes),
            Val::Bool(b) => b.to_sql(ty, out),
            Val::I16(i) => i.to_sql(ty, out),
            Val::I32(i) => i.to_sql(ty, out),
            Val::I64(i) => i.to_sql(ty, out),
            Val::F32(f) => f.to_sql(ty, out),
            Val::F64(f) => f.to_sql(ty, out),
            Val::Text(s) => s.as_str().to_sql(ty, out),
            Val::Bytes(b) => b.as_slice().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_encoding_tells_values_apart() {
        let h = |vals: &[Val]| {
            let mut s = Sha256::new();
            vals.iter().for_each(|v| encode(v, &mut s));
            hex(s)
        };
        assert_ne!(
            h(&[Val::Text("ab".into()), Val::Text("c".into())]),
            h(&[Val::Text("a".into()), Val::Text("bc".into())])
        );
        assert_ne!(h(&[Val::Null]), h(&[Val::Text(String::new())]));
        assert_ne!(h(&[Val::I64(1)]), h(&[Val::F64(1.0)]));
        assert_eq!(h(&[Val::I32(7)]), h(&[Val::I64(7)]), "the width of an integer column is not part of its value");
    }

    #[test]
    fn sqlite_values_take_the_server_columns_type() {
        let col = |ty: Type, nullable| Column { name: "c".into(), ty, nullable };
        assert_eq!(convert(ValueRef::Integer(5), &col(Type::FLOAT8, false)), Ok(Val::F64(5.0)));
        assert_eq!(convert(ValueRef::Integer(5), &col(Type::TEXT, false)), Ok(Val::Text("5".into())));
        assert!(convert(ValueRef::Integer(1 << 40), &col(Type::INT4, false)).is_err());
        assert!(convert(ValueRef::Null, &col(Type::TEXT, false)).is_err());
        assert_eq!(convert(ValueRef::Null, &col(Type::TEXT, true)), Ok(Val::Null));
        assert_eq!(convert(ValueRef::Blob(b"\x01\x02"), &col(Type::BYTEA, false)), Ok(Val::Bytes(vec![1, 2])));
        assert!(convert(ValueRef::Text(b"a\0b"), &col(Type::TEXT, false)).is_err());
    }
}
