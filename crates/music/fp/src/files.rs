//! The library's files as another domain reads them (the catalog's read-only `files`
//! collection): typed queries over a connection the caller holds. The caller's connection, not
//! one of ours, so the bounds it runs under (the catalog's per-call progress handler) apply to
//! these reads too. Every query answers "nothing" when the library was never created in that
//! file, and none of them sees a quarantined file.
use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::library_exists;

/// One library file, as `fp_files` keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct LibraryFile {
    pub path: String,
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub isrc: Option<String>,
    /// Seconds.
    pub duration: Option<f64>,
    pub codec: Option<String>,
    pub lossless: bool,
    pub size: u64,
    /// Whether a fingerprint is stored (a file that failed to decode has none).
    pub fingerprinted: bool,
}

/// `path = root OR root/ < path < root0` for each root ('0' sorts right after '/'): a range of
/// the path index per root, numbered from `?{first}`. Returns the clause and its arguments.
fn under_clause(roots: &[String], first: usize) -> (String, Vec<String>) {
    let mut clause = Vec::new();
    let mut args = Vec::new();
    for r in roots {
        let r = r.trim_end_matches('/');
        let n = first + args.len();
        clause.push(format!("path = ?{} OR (path > ?{} AND path < ?{})", n, n + 1, n + 2));
        args.extend([r.to_string(), format!("{r}/"), format!("{r}0")]);
    }
    (clause.join(" OR "), args)
}

/// How many files the library holds: all of them, or those under one of `roots` (a folder: the
/// path itself or below it; no roots, none).
pub fn count(conn: &Connection, roots: Option<&[String]>) -> rusqlite::Result<u64> {
    if roots.is_some_and(<[String]>::is_empty) || !library_exists(conn)? {
        return Ok(0);
    }
    let (clause, args) = under_clause(roots.unwrap_or_default(), 1);
    let filter = if roots.is_some() { format!(" AND ({clause})") } else { String::new() };
    let sql = format!("SELECT count(*) FROM fp_files WHERE quarantined = 0{filter}");
    let n: i64 = conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?;
    Ok(n.max(0) as u64)
}

/// Files by path order after `after`, at most `limit` (1 to 100,000): the one at `key`, or all,
/// or those under one of `roots` (filtered in SQL on the path index, so a page costs the page,
/// not the library).
pub fn page(
    conn: &Connection,
    key: Option<&str>,
    roots: Option<&[String]>,
    after: &str,
    limit: usize,
) -> rusqlite::Result<Vec<LibraryFile>> {
    if roots.is_some_and(<[String]>::is_empty) || !library_exists(conn)? {
        return Ok(Vec::new());
    }
    let (clause, args) = under_clause(roots.unwrap_or_default(), 3);
    let filter = if roots.is_some() { format!(" AND ({clause})") } else { String::new() };
    let sql = format!(
        "SELECT path, title, artist, album, isrc, duration, codec, lossless, size, fingerprint IS NOT NULL
         FROM fp_files WHERE quarantined = 0 AND (?1 IS NULL OR path = ?1) AND path > ?2{filter}
         ORDER BY path LIMIT {}",
        limit.clamp(1, 100_000)
    );
    let mut all = vec![key.map(str::to_string), Some(after.to_string())];
    all.extend(args.into_iter().map(Some));
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(all), |r| {
        Ok(LibraryFile {
            path: r.get(0)?,
            title: r.get(1)?,
            artist: r.get(2)?,
            album: r.get(3)?,
            isrc: r.get(4)?,
            duration: r.get(5)?,
            codec: r.get(6)?,
            lossless: r.get::<_, i64>(7)? != 0,
            size: r.get::<_, i64>(8)?.max(0) as u64,
            fingerprinted: r.get::<_, i64>(9)? != 0,
        })
    })?;
    rows.collect()
}

/// Whether `path` is a library file (not quarantined).
pub fn contains(conn: &Connection, path: &str) -> rusqlite::Result<bool> {
    Ok(library_exists(conn)?
        && conn.prepare_cached("SELECT 1 FROM fp_files WHERE path = ?1 AND quarantined = 0")?.exists([path])?)
}

/// The stored fingerprint of `path`, as bytes ([`baton_signal::fingerprint::from_bytes`] reads
/// them); `None` when the file is not in the library or has no print.
pub fn fingerprint(conn: &Connection, path: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    if !library_exists(conn)? {
        return Ok(None);
    }
    let fp: Option<Option<Vec<u8>>> =
        conn.query_row("SELECT fingerprint FROM fp_files WHERE path = ?1", [path], |r| r.get(0)).optional()?;
    Ok(fp.flatten())
}

/// Follows a library file that was moved to `to` (a plugin's `apply` or `undo` inside a
/// writable grant), so it is known at once instead of after the next scan: the one row under
/// `roots` whose file is gone and whose size and mtime are `to`'s (a rename keeps both) takes
/// `to` as its path, with its fingerprint and tags. Nothing changes when no row, or more than
/// one, fits (two copies made with `cp -p`): a rescan finds the file then. Returns the new path
/// when the row followed.
pub fn follow_move(conn: &Connection, roots: &[String], to: &str) -> rusqlite::Result<Option<String>> {
    if roots.is_empty() || !library_exists(conn)? || !std::fs::symlink_metadata(to).is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    let Ok((size, mtime_ns)) = crate::scan::stat(Path::new(to)) else { return Ok(None) };
    let (clause, args) = under_clause(roots, 3);
    let sql = format!("SELECT path FROM fp_files WHERE quarantined = 0 AND size = ?1 AND mtime_ns = ?2 AND ({clause})");
    let mut values = vec![rusqlite::types::Value::Integer(size as i64), rusqlite::types::Value::Integer(mtime_ns)];
    values.extend(args.into_iter().map(rusqlite::types::Value::Text));
    let gone: Vec<String> = conn
        .prepare_cached(&sql)?
        .query_map(rusqlite::params_from_iter(values), |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?
        .into_iter()
        .filter(|p| p != to && std::fs::symlink_metadata(p).is_err())
        .collect();
    let [from] = gone.as_slice() else { return Ok(None) };
    // Spelled as the row was (a scan of the folder as configured, or of its real path), so the
    // next scan of that folder finds the row under the name it walks.
    let under =
        |p: &str, root: &str| p.strip_prefix(root.trim_end_matches('/')).is_some_and(|rest| rest.starts_with('/'));
    let real = std::fs::canonicalize(to).ok().and_then(|p| p.into_os_string().into_string().ok());
    let to = [Some(to.to_string()), real]
        .into_iter()
        .flatten()
        .find(|t| roots.iter().any(|r| under(from, r) && under(t, r)))
        .unwrap_or_else(|| to.to_string());
    let moved = conn.execute(
        "UPDATE fp_files SET path = ?2 WHERE path = ?1 AND quarantined = 0 AND NOT EXISTS (SELECT 1 FROM fp_files WHERE path = ?2)",
        params![from, to],
    )?;
    Ok((moved == 1).then_some(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn library() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.sqlite");
        drop(crate::db::Db::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        for (p, q) in [("/m/a.flac", 0), ("/m/b/c.mp3", 0), ("/m0.mp3", 0), ("/m/q.mp3", 1), ("/n/d.mp3", 0)] {
            conn.execute(
                "INSERT INTO fp_files (path, size, mtime_ns, quarantined, title, scanned_at) VALUES (?1, 10, 1, ?2, 'T', 0)",
                params![p, q],
            )
            .unwrap();
        }
        (dir, conn)
    }

    #[test]
    fn a_file_without_a_library_reads_as_empty() {
        let conn = Connection::open_in_memory().unwrap();
        assert_eq!(count(&conn, None).unwrap(), 0);
        assert!(page(&conn, None, None, "", 10).unwrap().is_empty());
        assert!(!contains(&conn, "/x").unwrap());
        assert_eq!(fingerprint(&conn, "/x").unwrap(), None);
        assert_eq!(follow_move(&conn, &["/".into()], "/x").unwrap(), None);
    }

    #[test]
    fn roots_select_a_folder_and_what_is_below_it_never_a_sibling_or_a_quarantined_file() {
        let (_dir, conn) = library();
        assert_eq!(count(&conn, None).unwrap(), 4);
        let m = ["/m/".to_string()];
        assert_eq!(count(&conn, Some(&m)).unwrap(), 2);
        let paths = |v: Vec<LibraryFile>| v.into_iter().map(|f| f.path).collect::<Vec<_>>();
        assert_eq!(paths(page(&conn, None, Some(&m), "", 10).unwrap()), ["/m/a.flac", "/m/b/c.mp3"]);
        assert_eq!(paths(page(&conn, None, Some(&m), "/m/a.flac", 10).unwrap()), ["/m/b/c.mp3"]);
        assert_eq!(paths(page(&conn, Some("/n/d.mp3"), None, "", 10).unwrap()), ["/n/d.mp3"]);
        assert_eq!(count(&conn, Some(&[])).unwrap(), 0);
        assert!(contains(&conn, "/m/a.flac").unwrap() && !contains(&conn, "/m/q.mp3").unwrap());
    }
}
