//! Snapshots of real SQLite files: a WAL database with writes not yet checkpointed, a file that
//! keeps changing while it is copied, statements that must be refused, paging, limits, the
//! deadline and the sweep of copies left by a dead process.
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use super::*;

struct Fixture {
    dir: tempfile::TempDir,
    grants: Vec<Grant>,
    dirs: Vec<GrantDir>,
    snapshots: Snapshots,
    /// The writer: keeps the WAL open so nothing is checkpointed into the .db.
    writer: Connection,
}

fn fixture(limits: Limits) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib");
    std::fs::create_dir_all(&lib).unwrap();
    let writer = Connection::open(lib.join("MediaLibrary.db")).unwrap();
    writer.pragma_update(None, "journal_mode", "wal").unwrap();
    writer.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    writer.execute_batch("CREATE TABLE titles(id INTEGER PRIMARY KEY, title TEXT, artist TEXT, cover BLOB)").unwrap();
    let tx = writer.unchecked_transaction().unwrap();
    for i in 1..=25 {
        tx.execute(
            "INSERT INTO titles(title, artist, cover) VALUES (?1, ?2, x'00ff')",
            (format!("Track {i}"), "Avicii"),
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let dirs = vec![GrantDir::open(&lib).unwrap()];
    let grants = vec![Grant { name: "djay".into(), host_path: lib, writable: false }];
    let snapshots = Snapshots::new(dir.path().join("cache/sqlite"), limits);
    Fixture { dir, grants, dirs, snapshots, writer }
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

impl Fixture {
    fn open(&self, guest: &str) -> Result<Snapshot, SqlError> {
        self.snapshots.open(&self.grants, &self.dirs, guest, "task-1", far(), &AtomicBool::new(false))
    }

    fn db(&self, suffix: &str) -> PathBuf {
        self.dir.path().join(format!("lib/MediaLibrary.db{suffix}"))
    }

    fn copies(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("cache/sqlite")).map(|d| d.count()).unwrap_or(0)
    }

    /// Bytes and mtime of the original's three files.
    fn originals(&self) -> Vec<(Vec<u8>, i64, i64)> {
        ["", "-wal", "-shm"]
            .iter()
            .map(|s| {
                let p = self.db(s);
                let m = std::fs::metadata(&p).unwrap();
                (std::fs::read(&p).unwrap(), m.mtime(), m.mtime_nsec())
            })
            .collect()
    }
}

const DB: &str = "/djay/MediaLibrary.db";

fn ints(rows: &Rows) -> Vec<i64> {
    rows.rows
        .iter()
        .map(|r| match r[0] {
            Value::Integer(i) => i,
            ref v => panic!("{v:?}"),
        })
        .collect()
}

#[test]
fn a_wal_database_is_read_whole_from_a_private_copy_page_by_page() {
    let f = fixture(Limits::default());
    // The rows are in the -wal only: the .db holds the empty schema at most.
    let wal = std::fs::metadata(f.db("-wal")).unwrap().len();
    assert!(wal > 4096, "the WAL holds the rows ({wal} bytes)");
    let before = f.originals();

    let s = f.open(DB).unwrap();
    assert_eq!(f.copies(), 1);
    let copy = std::fs::read_dir(f.dir.path().join("cache/sqlite")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(std::fs::metadata(&copy).unwrap().mode() & 0o777, 0o700, "the copy's folder is private");
    let n = s.query("SELECT count(*) FROM titles", &[], 10).unwrap();
    assert_eq!(ints(&n), [25], "uncheckpointed rows in the -wal are read");

    // Keyset paging, 10 at a time: `more` until the last page.
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page = s
            .query("SELECT id, title, cover FROM titles WHERE id > ?1 ORDER BY id", &[Value::Integer(after)], 10)
            .unwrap();
        assert_eq!(page.columns, ["id", "title", "cover"]);
        seen.extend(ints(&page));
        after = *seen.last().unwrap();
        if !page.more {
            assert_eq!(page.rows.len(), 5);
            break;
        }
        assert_eq!(page.rows.len(), 10);
    }
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
    let one =
        s.query("SELECT title, artist, cover, NULL, 1.5 FROM titles WHERE id = ?1", &[Value::Integer(3)], 5).unwrap();
    assert_eq!(
        one.rows[0],
        [
            Value::Text("Track 3".into()),
            Value::Text("Avicii".into()),
            Value::Blob(vec![0, 255]),
            Value::Null,
            Value::Real(1.5)
        ]
    );
    assert!(s.query("SELECT id FROM titles", &[], 0).unwrap().more, "max-rows 0: no rows, and more");

    // A write after the snapshot is not seen by it: one consistent copy.
    f.writer.execute("INSERT INTO titles(title) VALUES ('Later')", []).unwrap();
    assert_eq!(ints(&s.query("SELECT count(*) FROM titles", &[], 1).unwrap()), [25]);

    drop(s);
    assert_eq!(f.copies(), 0, "dropping the snapshot removes its copy");
    let after_rows = f.originals();
    // The original's .db is untouched by the snapshot (the writer appended to the -wal only).
    assert_eq!(before[0], after_rows[0], "the original .db changed");
}

#[test]
fn the_original_is_never_written() {
    let f = fixture(Limits::default());
    let before = f.originals();
    let s = f.open(DB).unwrap();
    for _ in 0..3 {
        s.query("SELECT * FROM titles", &[], 100).unwrap();
    }
    drop(s);
    assert_eq!(before, f.originals(), "bytes or mtime of the original .db, -wal or -shm changed");
}

#[test]
fn statements_that_write_attach_or_touch_files_are_denied() {
    let f = fixture(Limits::default());
    let s = f.open(DB).unwrap();
    let outside = f.dir.path().join("other.db");
    let attach = format!("ATTACH DATABASE '{}' AS o", outside.display());
    let vacuum = format!("VACUUM INTO '{}'", outside.display());
    let cases: &[(&str, &str)] = &[
        (&attach, "ATTACH"),
        ("DETACH DATABASE main", "DETACH"),
        ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
        ("PRAGMA journal_mode = delete", "journal_mode"),
        ("PRAGMA writable_schema = 1", "writable_schema"),
        ("PRAGMA user_version = 7", "user_version"),
        ("PRAGMA wal_checkpoint", "wal_checkpoint"),
        ("INSERT INTO titles(title) VALUES ('x')", "INSERT"),
        ("UPDATE titles SET title = 'x'", "UPDATE"),
        ("DELETE FROM titles", "DELETE"),
        ("CREATE TABLE t2(x)", "schema"),
        ("DROP TABLE titles", "schema"),
        ("CREATE INDEX i ON titles(title)", "schema"),
        ("ALTER TABLE titles ADD COLUMN y", ""),
        ("CREATE TEMP TABLE t3(x)", ""),
        ("BEGIN", "transaction"),
        (&vacuum, ""),
    ];
    for (sql, names) in cases {
        match s.query(sql, &[], 10) {
            Err(SqlError::Denied(m)) => assert!(m.contains(names), "{sql}: {m}"),
            other => panic!("{sql}: not denied: {other:?}"),
        }
    }
    assert!(!outside.exists(), "a denied statement created a file");
    // Reads, schema discovery and recursive queries stay allowed.
    assert_eq!(s.query("PRAGMA table_info(titles)", &[], 10).unwrap().rows.len(), 4);
    assert_eq!(s.query("SELECT name FROM pragma_table_info('titles')", &[], 10).unwrap().rows.len(), 4);
    assert_eq!(s.query("PRAGMA user_version", &[], 10).unwrap().rows.len(), 1);
    let r = s
        .query(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT sum(x) FROM c",
            &[],
            1,
        )
        .unwrap();
    assert_eq!(ints(&r), [15]);
    assert_eq!(ints(&s.query("SELECT count(*) FROM titles WHERE lower(title) LIKE 'track 1%'", &[], 1).unwrap()), [11]);
    // Bad input is `invalid`, with the reason.
    assert!(matches!(s.query("SELECT 1; SELECT 2", &[], 1), Err(SqlError::Invalid(m)) if m.contains("one statement")));
    assert!(matches!(s.query("SELECT * FROM nope", &[], 1), Err(SqlError::Invalid(m)) if m.contains("nope")));
    assert!(
        matches!(s.query("SELECT ?1, ?2", &[Value::Integer(1)], 1), Err(SqlError::Invalid(m)) if m.contains("2 parameters"))
    );
    // Still usable after refusals.
    assert_eq!(ints(&s.query("SELECT count(*) FROM titles", &[], 1).unwrap()), [25]);
}

#[test]
fn a_database_that_keeps_changing_is_busy_after_three_copies() {
    let f = fixture(Limits::default());
    let mut tries = Vec::new();
    let r = f.snapshots.open_with(&f.grants, &f.dirs, DB, "task-1", far(), &AtomicBool::new(false), &mut |attempt| {
        tries.push(attempt);
        f.writer.execute("INSERT INTO titles(title) VALUES ('during the copy')", []).unwrap();
    });
    assert!(matches!(&r, Err(SqlError::Busy(m)) if m.contains(DB) && m.contains("3 tries")), "{:?}", r.as_ref().err());
    assert_eq!(tries, [1, 2, 3]);
    assert_eq!(f.copies(), 0, "a failed open leaves no copy");

    // Changed during the first copy only: the second copy is consistent and has the row.
    let s = f
        .snapshots
        .open_with(&f.grants, &f.dirs, DB, "task-1", far(), &AtomicBool::new(false), &mut |attempt| {
            if attempt == 1 {
                f.writer.execute("INSERT INTO titles(title) VALUES ('once')", []).unwrap();
            }
        })
        .unwrap();
    assert_eq!(ints(&s.query("SELECT count(*) FROM titles", &[], 1).unwrap()), [29]);
}

#[test]
fn paths_outside_the_grant_are_denied() {
    let f = fixture(Limits::default());
    let outside = f.dir.path().join("outside.db");
    Connection::open(&outside)
        .unwrap()
        .execute_batch("CREATE TABLE secret(x); INSERT INTO secret VALUES (42);")
        .unwrap();
    std::os::unix::fs::symlink(&outside, f.dir.path().join("lib/escape.db")).unwrap();
    std::os::unix::fs::symlink("MediaLibrary.db", f.dir.path().join("lib/inner.db")).unwrap();
    for bad in ["/djay/../outside.db", "/djay/escape.db", "/music/MediaLibrary.db", "djay/MediaLibrary.db", "/djay"] {
        assert!(matches!(f.open(bad), Err(SqlError::Denied(_))), "{bad}: {:?}", f.open(bad).err());
    }
    let host = outside.display().to_string();
    assert!(matches!(f.open(&host), Err(SqlError::Denied(_))));
    assert!(
        matches!(f.open("/djay/missing.db"), Err(SqlError::Io(m)) if m.contains("/djay/missing.db") && !m.contains(&f.dir.path().display().to_string()))
    );
    std::fs::write(f.dir.path().join("lib/notes.txt"), "not a database, just text that is long enough").unwrap();
    assert!(matches!(f.open("/djay/notes.txt"), Err(SqlError::Invalid(m)) if m.contains("not an SQLite database")));
    // A symlink that stays inside the grant is followed.
    let s = f.open("/djay/inner.db").unwrap();
    assert_eq!(ints(&s.query("SELECT count(*) FROM titles", &[], 1).unwrap()), [25]);
    drop(s);
    assert_eq!(f.copies(), 0);
}

#[test]
fn snapshots_per_task_and_copy_bytes_are_limited() {
    let f = fixture(Limits { snapshots_per_task: 2, copy_bytes: 2 << 30, ..Default::default() });
    let a = f.open(DB).unwrap();
    let _b = f.open(DB).unwrap();
    assert!(matches!(f.open(DB), Err(SqlError::Io(m)) if m.contains("at most 2")));
    let other = f.snapshots.open(&f.grants, &f.dirs, DB, "task-2", far(), &AtomicBool::new(false)).unwrap();
    drop(a);
    let _c = f.open(DB).unwrap();
    drop(other);

    let size: u64 = ["", "-wal", "-shm"].iter().map(|s| std::fs::metadata(f.db(s)).map(|m| m.len()).unwrap_or(0)).sum();
    let small = fixture(Limits { snapshots_per_task: 4, copy_bytes: size + size / 2, ..Default::default() });
    let _one = small.open(DB).unwrap();
    match small.open(DB) {
        Err(SqlError::Io(m)) => assert!(m.contains("temporary copies") && m.contains("drop other snapshots"), "{m}"),
        other => panic!("{:?}", other.err()),
    }
    assert_eq!(small.copies(), 1, "the refused copy left nothing");
}

#[test]
fn the_deadline_stops_copies_and_runaway_queries() {
    let f = fixture(Limits::default());
    let past = Instant::now() - Duration::from_millis(1);
    assert!(matches!(
        f.snapshots.open(&f.grants, &f.dirs, DB, "t", past, &AtomicBool::new(false)),
        Err(SqlError::TaskTimeout)
    ));
    assert_eq!(f.copies(), 0);
    let soon = Instant::now() + Duration::from_millis(400);
    let s = f.snapshots.open(&f.grants, &f.dirs, DB, "t", soon, &AtomicBool::new(false)).unwrap();
    let t0 = Instant::now();
    let r = s.query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c", &[], 1);
    assert_eq!(r, Err(SqlError::TaskTimeout));
    assert!(t0.elapsed() < Duration::from_secs(5), "stopped {:?} after the deadline", t0.elapsed());
}

#[test]
fn a_page_stops_at_the_byte_cap() {
    let f = fixture(Limits::default());
    let s = f.open(DB).unwrap();
    let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 40) SELECT x, zeroblob(1048576) FROM c";
    let r = s.query(sql, &[], 100).unwrap();
    assert!(r.more && r.rows.len() == 15 && r.bytes <= MAX_CALL_BYTES, "{} rows, {} bytes", r.rows.len(), r.bytes);
    let huge = s.query("SELECT zeroblob(17000000)", &[], 1);
    // Over SQLITE_LIMIT_LENGTH: SQLite refuses to build it at all.
    assert!(matches!(&huge, Err(SqlError::Invalid(m)) if m.contains("too big")), "{huge:?}");
    let wide = s.query("SELECT zeroblob(9000000), zeroblob(9000000)", &[], 1);
    assert!(matches!(&wide, Err(SqlError::Invalid(m)) if m.contains("one row weighs")), "{wide:?}");
}

#[test]
fn copies_left_by_a_dead_process_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("sqlite");
    // Process ids above the kernel's maximum (4,194,304) never run.
    let dead = root.join("snap-99999999-abc");
    let mine = root.join(format!("snap-{}-def", std::process::id()));
    let foreign = root.join("keep-me");
    for d in [&dead, &mine, &foreign] {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join("snapshot.db"), b"x").unwrap();
    }
    let s = Snapshots::new(root.clone(), Limits::default());
    assert!(!dead.exists(), "a dead process's copy was not swept");
    assert!(mine.exists() && foreign.exists(), "a live process's copy or a foreign folder was removed");
    assert_eq!(s.sweep(), 0);
}

/// A sort too big for a task's SQLite budget fails `out of memory` naming the budget, writes
/// no temporary file, and leaves the budget empty once the snapshot is dropped; another task's
/// snapshot and the process's other connections (the writer here) are untouched.
#[test]
fn a_tasks_snapshots_have_their_own_sqlite_memory_budget() {
    assert!(crate::budget::installed(), "the allocator is installed before SQLite starts");
    let f = fixture(Limits { memory_bytes: 16 << 20, ..Default::default() });
    let s = f.open(DB).unwrap();
    let sort = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 60000) SELECT i, randomblob(1000) AS b FROM c ORDER BY b";
    match s.query(sort, &[], 1) {
        Err(SqlError::Invalid(m)) => {
            assert!(m.contains("out of memory") && m.contains("16 MiB") && m.contains("task_memory_mb"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(s.budget.used() < s.budget.limit(), "what the failed sort built was freed: {}", s.budget.used());
    // The same snapshot still answers what fits.
    assert_eq!(s.query("SELECT count(*) FROM titles", &[], 1).unwrap().rows, vec![vec![Value::Integer(25)]]);
    let other = f.snapshots.open(&f.grants, &f.dirs, DB, "task-2", far(), &AtomicBool::new(false)).unwrap();
    assert!(other.budget.used() < 4 << 20, "another task's budget starts empty: {}", other.budget.used());
    let small_sort = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000) SELECT i, randomblob(1000) AS b FROM c ORDER BY b";
    assert_eq!(other.query(small_sort, &[], 1).unwrap().rows.len(), 1);
    // The process's other connections are not limited by any of it.
    f.writer.execute("INSERT INTO titles(title, artist) VALUES ('after', 'x')", []).unwrap();
    let budget = s.budget.clone();
    drop(s);
    assert_eq!(budget.used(), 0, "everything charged to the task was given back");
}

/// A write the host's disk refuses for a while (a real ENOSPC, from /dev/full) is the host's
/// fault, which the task's store is told of; a file that is not there is the plugin's input.
#[test]
fn a_full_disk_under_the_copy_is_a_host_fault() {
    use std::io::Write;
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    let e = (&full).write_all(&[0u8; 4096]).and_then(|()| (&full).flush()).unwrap_err();
    assert!(matches!(host_side("copying".into(), &e), SqlError::HostFault(m) if m == "copying"));
    let missing = std::fs::File::open("/nonexistent/baton-test").unwrap_err();
    assert!(matches!(host_side("copying".into(), &missing), SqlError::Io(_)));
}
