//! The fingerprint tables (`fp_*`) inside the shared state SQLite database (WAL, busy timeout).
//!
//! Other crates keep their own tables in the same file, so everything here is created with
//! `CREATE TABLE IF NOT EXISTS` and only touches `fp_` tables.
//!
//! The library's schema is `baton_store::FP`, versioned in the file's `baton_migrations` like
//! every other domain's. Version 1 is the schema every release before versioning created,
//! written with `IF NOT EXISTS`, so a library made by one of them is adopted as version 1 with
//! every row kept (one made while the version was kept in `fp_schema` is adopted at that one).
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{FpError, Result};
use baton_signal::decode::{AudioInfo, Tags};
use baton_signal::fingerprint;

/// Whether the library's tables exist in the file `conn` is open on (a reader on another
/// domain's connection must not create them: only [`Db::open`] does).
pub(crate) fn library_exists(conn: &Connection) -> rusqlite::Result<bool> {
    baton_store::sqlite::table_exists(conn, "fp_files")
}

/// An open state database.
pub struct Db {
    pub conn: Connection,
    pub path: PathBuf,
}

/// One `fp_files` row.
#[derive(Debug, Clone, Default)]
pub struct FileRow {
    pub id: i64,
    pub path: PathBuf,
    pub size: u64,
    pub mtime_ns: i64,
    pub tags: Tags,
    pub info: AudioInfo,
    pub duration: Option<f64>,
    pub fingerprint: Option<Vec<u32>>,
    pub error: Option<String>,
    /// Short error kind (`io`, `unsupported`, `corrupt`, …) when `error` is set.
    pub error_kind: Option<String>,
}

impl Db {
    /// Opens (creating parent folders and the `fp_` tables) the database at `path`.
    pub fn open(path: &Path) -> Result<Db> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            baton_fs::ensure_dir(parent).map_err(|e| FpError::Io { path: parent.to_path_buf(), source: e })?;
        }
        let err = |e| FpError::Db { path: path.to_path_buf(), source: e };
        // Shared with the ledger: survives another process opening a new database at once.
        let conn = baton_store::sqlite::open_wal(path, "NORMAL").map_err(err)?;
        baton_store::sqlite::migrate(&conn, &baton_store::FP).map_err(|e| match e {
            baton_store::StoreError::Sqlite(e) => err(e),
            e => FpError::Invalid(format!("{}: {e}", path.display())),
        })?;
        Ok(Db { conn, path: path.to_path_buf() })
    }

    /// Wraps a rusqlite error with the database path.
    pub fn err(&self, e: rusqlite::Error) -> FpError {
        FpError::Db { path: self.path.clone(), source: e }
    }

    /// (size, mtime) of every known file under `root`.
    /// Quarantined rows come back with `u64::MAX` as size so that a scan never re-adds them.
    pub fn known_under(&self, root: &Path) -> Result<std::collections::HashMap<PathBuf, (u64, i64)>> {
        let mut st = self
            .conn
            .prepare("SELECT path, CASE WHEN quarantined = 0 THEN size ELSE -1 END, mtime_ns FROM fp_files")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?)))
            .map_err(|e| self.err(e))?;
        let mut m = std::collections::HashMap::new();
        for row in rows {
            let (p, s, t) = row.map_err(|e| self.err(e))?;
            let p = PathBuf::from(p);
            if p.starts_with(root) {
                m.insert(p, (s as u64, t));
            }
        }
        Ok(m)
    }

    /// Inserts or replaces the row of one scanned file (one transaction: a checkpoint).
    pub fn upsert(&self, row: &FileRow) -> Result<()> {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        self.conn
            .execute(
                "INSERT INTO fp_files (path, size, mtime_ns, title, artist, album, isrc, duration, codec,
                    sample_rate, channels, bitrate_kbps, lossless, fingerprint, error, error_kind, scanned_at, quarantined)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0)
                 ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,
                    title=excluded.title, artist=excluded.artist, album=excluded.album, isrc=excluded.isrc,
                    duration=excluded.duration, codec=excluded.codec, sample_rate=excluded.sample_rate,
                    channels=excluded.channels, bitrate_kbps=excluded.bitrate_kbps, lossless=excluded.lossless,
                    fingerprint=excluded.fingerprint, error=excluded.error, error_kind=excluded.error_kind,
                    scanned_at=excluded.scanned_at, quarantined=0",
                params![
                    row.path.to_string_lossy(),
                    row.size as i64,
                    row.mtime_ns,
                    row.tags.title,
                    row.tags.artist,
                    row.tags.album,
                    row.tags.isrc,
                    row.duration,
                    (!row.info.codec.is_empty()).then_some(&row.info.codec),
                    (row.info.sample_rate > 0).then_some(row.info.sample_rate),
                    (row.info.channels > 0).then_some(row.info.channels),
                    row.info.bitrate_kbps,
                    row.info.lossless as i64,
                    row.fingerprint.as_ref().map(|f| fingerprint::to_bytes(f)),
                    row.error,
                    row.error.as_ref().map(|_| row.error_kind.as_deref().unwrap_or("error")),
                    now,
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// [`Db::upsert`], and in the same transaction replaces the file's deep prints: `deep` is
    /// one print per [`baton_signal::deep::SPEEDS`] entry, or `None` to drop any it had (its audio
    /// may have changed).
    pub fn upsert_with_deep(&self, row: &FileRow, deep: Option<&[Vec<u32>]>) -> Result<()> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.err(e))?;
        self.upsert(row)?;
        let id: i64 = tx
            .query_row("SELECT id FROM fp_files WHERE path = ?1", [row.path.to_string_lossy()], |r| r.get(0))
            .map_err(|e| self.err(e))?;
        tx.execute("DELETE FROM fp_deep WHERE file_id = ?1", [id]).map_err(|e| self.err(e))?;
        if let Some(prints) = deep {
            let mut st = tx
                .prepare("INSERT INTO fp_deep (file_id, speed_milli, print) VALUES (?1, ?2, ?3)")
                .map_err(|e| self.err(e))?;
            for (speed, print) in baton_signal::deep::SPEEDS.iter().zip(prints) {
                st.execute(params![id, (speed * 1000.0).round() as i64, fingerprint::to_bytes(print)])
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    /// Paths a deep scan need not decode again: with deep prints, or failed (retried only
    /// with `--retry-errors`).
    pub fn deep_done(&self) -> Result<std::collections::HashSet<PathBuf>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT path FROM fp_files f WHERE error IS NOT NULL
                 OR EXISTS (SELECT 1 FROM fp_deep d WHERE d.file_id = f.id)",
            )
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        rows.map(|r| r.map(PathBuf::from)).collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// Whether any file has deep prints.
    pub fn has_deep(&self) -> Result<bool> {
        self.conn.query_row("SELECT EXISTS (SELECT 1 FROM fp_deep)", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// (id, speed-1 deep print) of every non-quarantined file that has deep prints.
    pub fn deep_unit_prints(&self) -> Result<Vec<(i64, Vec<u32>)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT d.file_id, d.print FROM fp_deep d JOIN fp_files f ON f.id = d.file_id
                 WHERE d.speed_milli = 1000 AND f.quarantined = 0 AND f.fingerprint IS NOT NULL ORDER BY d.file_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, fingerprint::from_bytes(&r.get::<_, Vec<u8>>(1)?))))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))
    }

    /// The deep prints of one file, one per [`baton_signal::deep::SPEEDS`] entry (`None` unless all
    /// are stored).
    pub fn deep_prints(&self, id: i64) -> Result<Option<Vec<Vec<u32>>>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT speed_milli, print FROM fp_deep WHERE file_id = ?1 ORDER BY speed_milli")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([id], |r| Ok((r.get::<_, i64>(0)?, fingerprint::from_bytes(&r.get::<_, Vec<u8>>(1)?))))
            .map_err(|e| self.err(e))?;
        let got: Vec<(i64, Vec<u32>)> = rows.collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))?;
        let want: Vec<i64> = baton_signal::deep::SPEEDS.iter().map(|s| (s * 1000.0).round() as i64).collect();
        if got.iter().map(|g| g.0).collect::<Vec<_>>() != want {
            return Ok(None);
        }
        Ok(Some(got.into_iter().map(|g| g.1).collect()))
    }

    /// Removes rows of files under `root` that no longer exist (rows only; files are never
    /// touched). Returns how many.
    pub fn forget(&self, paths: &[PathBuf]) -> Result<usize> {
        let mut n = 0;
        for p in paths {
            self.conn
                .execute(
                    "DELETE FROM fp_deep WHERE file_id IN (SELECT id FROM fp_files WHERE path = ?1 AND quarantined = 0)",
                    [p.to_string_lossy()],
                )
                .map_err(|e| self.err(e))?;
            n += self
                .conn
                .execute("DELETE FROM fp_files WHERE path = ?1 AND quarantined = 0", [p.to_string_lossy()])
                .map_err(|e| self.err(e))?;
        }
        Ok(n)
    }

    /// Reads one row by path.
    pub fn get(&self, path: &Path) -> Result<Option<FileRow>> {
        self.conn
            .query_row(&format!("{ROW_SELECT} WHERE path = ?1"), [path.to_string_lossy()], read_row)
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Streams every fingerprinted, non-quarantined row (without loading them all at once).
    pub fn for_each_fingerprint(&self, mut f: impl FnMut(i64, &[u32])) -> Result<()> {
        self.try_for_each_fingerprint(|id, fp| {
            f(id, fp);
            Ok(true)
        })
    }

    /// Like [`Db::for_each_fingerprint`], but `f` may stop the walk (`Ok(false)`) or fail it.
    pub fn try_for_each_fingerprint(&self, mut f: impl FnMut(i64, &[u32]) -> Result<bool>) -> Result<()> {
        let mut st = self
            .conn
            .prepare(
                "SELECT id, fingerprint FROM fp_files WHERE fingerprint IS NOT NULL AND quarantined = 0 ORDER BY id",
            )
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([]).map_err(|e| self.err(e))?;
        let mut buf = Vec::new();
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let id: i64 = r.get(0).map_err(|e| self.err(e))?;
            let blob = r.get_ref(1).map_err(|e| self.err(e))?.as_blob().unwrap_or(&[]);
            buf.clear();
            buf.extend(blob.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])));
            if !f(id, &buf)? {
                break;
            }
        }
        Ok(())
    }

    /// Loads full rows by id.
    pub fn rows_by_id(&self, ids: &[i64]) -> Result<Vec<FileRow>> {
        let mut st = self.conn.prepare(&format!("{ROW_SELECT} WHERE id = ?1")).map_err(|e| self.err(e))?;
        let mut v = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(r) = st.query_row([id], read_row).optional().map_err(|e| self.err(e))? {
                v.push(r);
            }
        }
        Ok(v)
    }

    /// Loads the fingerprint of one row.
    pub fn fingerprint_by_id(&self, id: i64) -> Result<Option<Vec<u32>>> {
        let blob: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT fingerprint FROM fp_files WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(blob.flatten().map(|b| fingerprint::from_bytes(&b)))
    }

    /// Remembers a folder that was scanned (see the quarantine's `Placement`).
    pub fn add_root(&self, root: &Path) -> Result<()> {
        self.conn
            .execute("INSERT OR IGNORE INTO fp_roots (path) VALUES (?1)", [root.to_string_lossy()])
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every folder ever scanned, sorted (an outer folder before the folders inside it).
    pub fn roots(&self) -> Result<Vec<PathBuf>> {
        let mut st = self.conn.prepare("SELECT path FROM fp_roots").map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.err(e))?;
        let mut v: Vec<PathBuf> =
            rows.map(|r| r.map(PathBuf::from)).collect::<std::result::Result<_, _>>().map_err(|e| self.err(e))?;
        v.sort();
        Ok(v)
    }

    /// A number that changes whenever any `fp_files` row is added, changed or removed.
    pub fn generation(&self) -> Result<i64> {
        self.conn.query_row("SELECT generation FROM fp_meta", [], |r| r.get(0)).map_err(|e| self.err(e))
    }

    /// (files, fingerprinted, failed) over non-quarantined rows.
    pub fn counts(&self) -> Result<(u64, u64, u64)> {
        self.conn
            .query_row(
                "SELECT count(*), count(fingerprint), count(error) FROM fp_files WHERE quarantined = 0",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
            )
            .map_err(|e| self.err(e))
    }

    /// Finishes quarantine moves that a crash cut between the rename and the database commit: a `planned`
    /// move whose file is at its destination (and no longer at its source) becomes `moved`, with its
    /// `fp_files` row following it; one whose file is still at its source becomes `failed`.
    pub fn reconcile_moves(&self) -> Result<usize> {
        let db = self;
        let mut st = db
            .conn
            .prepare("SELECT batch_id, seq, src, dst FROM fp_moves WHERE state = 'planned'")
            .map_err(|e| db.err(e))?;
        let planned: Vec<(i64, i64, PathBuf, PathBuf)> = st
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, PathBuf::from(r.get::<_, String>(2)?), PathBuf::from(r.get::<_, String>(3)?)))
            })
            .map_err(|e| db.err(e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| db.err(e))?;
        drop(st);
        let mut fixed = 0;
        for (batch, seq, src, dst) in planned {
            let (at_src, at_dst) = (src.symlink_metadata().is_ok(), dst.symlink_metadata().is_ok());
            let state = match (at_src, at_dst) {
                (false, true) => "moved",
                (true, _) => "failed",
                (false, false) => continue, // gone from both: `undo` reports it missing
            };
            let tx = rusqlite::Transaction::new_unchecked(&db.conn, rusqlite::TransactionBehavior::Immediate)
                .map_err(|e| db.err(e))?;
            if state == "moved" {
                tx.execute(
                    "UPDATE fp_files SET quarantined = 1, path = ?2 WHERE path = ?1",
                    params![src.to_string_lossy(), dst.to_string_lossy()],
                )
                .map_err(|e| db.err(e))?;
            }
            tx.execute("UPDATE fp_moves SET state = ?3 WHERE batch_id = ?1 AND seq = ?2", params![batch, seq, state])
                .map_err(|e| db.err(e))?;
            tx.commit().map_err(|e| db.err(e))?;
            tracing::warn!(src = %src.display(), dst = %dst.display(), state, "finished a move cut short by a crash");
            fixed += 1;
        }
        Ok(fixed)
    }

    /// Per-file errors (path, message), sorted by path.
    pub fn errors(&self) -> Result<Vec<(PathBuf, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT path, error FROM fp_files WHERE error IS NOT NULL AND quarantined = 0 ORDER BY path")
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((PathBuf::from(r.get::<_, String>(0)?), r.get::<_, String>(1)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

const ROW_SELECT: &str = "SELECT id, path, size, mtime_ns, title, artist, album, isrc, duration, codec,
    sample_rate, channels, bitrate_kbps, lossless, fingerprint, error FROM fp_files";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    let duration: Option<f64> = r.get(8)?;
    Ok(FileRow {
        id: r.get(0)?,
        path: PathBuf::from(r.get::<_, String>(1)?),
        size: r.get::<_, i64>(2)? as u64,
        mtime_ns: r.get(3)?,
        tags: Tags { title: r.get(4)?, artist: r.get(5)?, album: r.get(6)?, isrc: r.get(7)? },
        info: AudioInfo {
            codec: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            sample_rate: r.get::<_, Option<u32>>(10)?.unwrap_or(0),
            channels: r.get::<_, Option<u32>>(11)?.unwrap_or(0),
            duration,
            bitrate_kbps: r.get(12)?,
            lossless: r.get::<_, i64>(13)? != 0,
        },
        duration,
        fingerprint: r.get::<_, Option<Vec<u8>>>(14)?.map(|b| fingerprint::from_bytes(&b)),
        error: r.get(15)?,
        error_kind: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library made before the schema had a version (the tables as those releases created
    /// them, with rows in each) is adopted as version 1 with every row kept; opening again
    /// changes nothing; a library from a newer baton is refused untouched.
    #[test]
    fn an_unversioned_library_is_adopted_with_every_row_and_a_newer_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(baton_store::FP.sqlite[0].sql).unwrap();
            conn.execute_batch(
                "INSERT INTO fp_files (path, size, mtime_ns, title, fingerprint, scanned_at) VALUES ('/m/a.flac', 10, 5, 'A', x'01000000', 7);
                 INSERT INTO fp_files (path, size, mtime_ns, error, error_kind, scanned_at, quarantined) VALUES ('/m/b.mp3', 3, 2, 'bad', 'corrupt', 7, 1);
                 INSERT INTO fp_roots (path) VALUES ('/m');
                 INSERT INTO fp_batches (created_at, quarantine_dir, journal, state) VALUES (1, '/m/.q', '/m/.q/j', 'done');
                 INSERT INTO fp_moves (batch_id, seq, src, dst, state) VALUES (1, 0, '/m/b.mp3', '/m/.q/b.mp3', 'done');
                 INSERT INTO fp_deep (file_id, speed_milli, print) VALUES (1, 1000, x'02000000');",
            )
            .unwrap();
        }
        let count = |db: &Db, table: &str| -> i64 {
            db.conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0)).unwrap()
        };
        for _ in 0..2 {
            let db = Db::open(&path).unwrap();
            assert_eq!(
                baton_store::sqlite::recorded(&db.conn, "fp").unwrap(),
                Some(baton_store::FP.sqlite.len() as u32)
            );
            for (table, n) in [("fp_files", 2), ("fp_roots", 1), ("fp_batches", 1), ("fp_moves", 1), ("fp_deep", 1)] {
                assert_eq!(count(&db, table), n, "{table}");
            }
            let a = db.get(Path::new("/m/a.flac")).unwrap().unwrap();
            assert_eq!((a.size, a.tags.title.as_deref(), a.fingerprint), (10, Some("A"), Some(vec![1])));
        }
        let conn = Connection::open(&path).unwrap();
        conn.execute("INSERT INTO baton_migrations VALUES ('fp', 99, 'future', 'now')", []).unwrap();
        let refused = Db::open(&path).err().expect("a newer library is refused").to_string();
        assert!(refused.contains("version 99") && refused.contains("upgrade baton"), "{refused}");
        assert_eq!(baton_store::sqlite::recorded(&conn, "fp").unwrap(), Some(99));
    }

    #[test]
    fn deep_prints_go_with_their_row_and_a_plain_rescan_drops_them() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("state.sqlite")).unwrap();
        let row = FileRow {
            path: "/music/a.flac".into(),
            size: 1,
            mtime_ns: 1,
            fingerprint: Some(vec![1, 2, 3]),
            ..Default::default()
        };
        let prints: Vec<Vec<u32>> = (0..baton_signal::deep::SPEEDS.len() as u32).map(|k| vec![k; 100]).collect();
        db.upsert_with_deep(&row, Some(&prints)).unwrap();
        let id = db.get(&row.path).unwrap().unwrap().id;
        assert_eq!(db.deep_prints(id).unwrap(), Some(prints.clone()));
        assert_eq!(db.deep_unit_prints().unwrap(), vec![(id, prints[baton_signal::deep::UNIT].clone())]);
        assert!(db.has_deep().unwrap() && db.deep_done().unwrap().contains(&row.path));
        // the file changed and was scanned without --deep: its old deep prints must not stay
        db.upsert_with_deep(&row, None).unwrap();
        assert_eq!(db.deep_prints(id).unwrap(), None);
        assert!(!db.has_deep().unwrap() && !db.deep_done().unwrap().contains(&row.path));
        // a forgotten file takes its deep prints with it
        db.upsert_with_deep(&row, Some(&prints)).unwrap();
        assert_eq!(db.forget(std::slice::from_ref(&row.path)).unwrap(), 1);
        assert!(!db.has_deep().unwrap());
    }
}
