//! `files`: the fingerprint library's files (`fp_files` in this machine's SQLite file) as a
//! read-only collection, and the questions plugins ask of it under their grants.
use super::*;

impl Catalog {
    /// `files` records whose host path lies under one of `roots` (a folder: the path itself or
    /// below it), by path order after `after`: the library filtered in SQL on its path index, so
    /// a page costs the page, not the library.
    pub fn files_under(
        &self,
        access: &Access,
        roots: &[String],
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordOut>> {
        self.check_read(access, FILES)?;
        if roots.is_empty() {
            return Ok(Vec::new());
        }
        match self.fp_conn() {
            Some(c) => files_rows_under(c, roots, after, limit),
            None => Ok(Vec::new()),
        }
    }

    /// How many `files` records lie under `roots` (see [`Catalog::files_under`]).
    pub fn files_count_under(&self, access: &Access, roots: &[String]) -> Result<u64> {
        self.check_read(access, FILES)?;
        let Some(conn) = self.fp_conn() else { return Ok(0) };
        if roots.is_empty() || !fp_table_exists(conn)? {
            return Ok(0);
        }
        let (clause, args) = under_clause(roots);
        let sql = format!("SELECT count(*) FROM fp_files WHERE quarantined = 0 AND ({clause})");
        let n: i64 = conn.prepare_cached(&sql)?.query_row(rusqlite::params_from_iter(args), |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Follows a library file that a plugin moved (`spotify apply` and `undo` do, inside a
    /// writable grant) to `to`, so it is linked at once instead of after the next `baton fp
    /// scan`: the one library row under `roots` whose file is gone and whose size and mtime are
    /// `to`'s (a rename keeps both) takes `to` as its path, with its fingerprint and tags.
    /// Nothing changes when no row, or more than one, fits (two copies made with `cp -p`): a
    /// rescan finds the file then. Returns the new key when the row followed.
    pub fn files_follow_move(&self, access: &Access, roots: &[String], to: &str) -> Result<Option<String>> {
        self.check_read(access, FILES)?;
        let Some(conn) = self.fp_conn() else { return Ok(None) };
        if roots.is_empty() || !fp_table_exists(conn)? || !std::fs::symlink_metadata(to).is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        let Ok((size, mtime_ns)) = baton_fp::scan::stat(Path::new(to)) else { return Ok(None) };
        let (clause, args) = under_clause(roots);
        let n = args.len();
        let sql = format!(
            "SELECT path FROM fp_files WHERE quarantined = 0 AND size = ?{} AND mtime_ns = ?{} AND ({clause})",
            n + 1,
            n + 2
        );
        let mut params: Vec<rusqlite::types::Value> = args.into_iter().map(rusqlite::types::Value::Text).collect();
        params.extend([rusqlite::types::Value::Integer(size as i64), rusqlite::types::Value::Integer(mtime_ns)]);
        let gone: Vec<String> = conn
            .prepare_cached(&sql)?
            .query_map(rusqlite::params_from_iter(params), |r| r.get::<_, String>(0))?
            .collect::<std::result::Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|p| p != to && std::fs::symlink_metadata(p).is_err())
            .collect();
        let [from] = gone.as_slice() else { return Ok(None) };
        // Spelled as the row was (a scan of the folder as configured, or of its real path), so
        // the next scan of that folder finds the row under the name it walks.
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
            rusqlite::params![from, to],
        )?;
        Ok((moved == 1).then_some(to))
    }
}

/// `files` records from `fp_files`: one by `key` (its path), or a page after `after`.
/// `path = root OR root/ < path < root0` for each root ('0' sorts right after '/'): a range of
/// the path index per root. Returns the clause and its arguments.
pub(super) fn under_clause(roots: &[String]) -> (String, Vec<String>) {
    let mut clause = Vec::new();
    let mut args = Vec::new();
    for r in roots {
        let r = r.trim_end_matches('/');
        let n = args.len();
        clause.push(format!("path = ?{} OR (path > ?{} AND path < ?{})", n + 1, n + 2, n + 3));
        args.extend([r.to_string(), format!("{r}/"), format!("{r}0")]);
    }
    (clause.join(" OR "), args)
}

pub(super) fn files_rows_under(
    conn: &Connection,
    roots: &[String],
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<RecordOut>> {
    if !fp_table_exists(conn)? {
        return Ok(Vec::new());
    }
    let (clause, mut args) = under_clause(roots);
    let n = args.len();
    let sql = format!(
        "SELECT path, title, artist, album, isrc, duration, codec, lossless, size, fingerprint IS NOT NULL
         FROM fp_files WHERE quarantined = 0 AND ({clause}) AND path > ?{} ORDER BY path LIMIT {}",
        n + 1,
        limit.clamp(1, 100_000)
    );
    args.push(after.unwrap_or("").to_string());
    let mut st = conn.prepare_cached(&sql)?;
    let rows = st.query_map(rusqlite::params_from_iter(args), file_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn files_rows(
    conn: &Connection,
    key: Option<&str>,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<RecordOut>> {
    if !fp_table_exists(conn)? {
        return Ok(Vec::new());
    }
    let sql = "SELECT path, title, artist, album, isrc, duration, codec, lossless, size, fingerprint IS NOT NULL
               FROM fp_files WHERE quarantined = 0 AND (?1 IS NULL OR path = ?1) AND path > ?2 ORDER BY path LIMIT ?3";
    let mut st = conn.prepare_cached(sql)?;
    let rows = st.query_map(params![key, after.unwrap_or(""), limit as i64], file_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One `fp_files` row (the columns of [`files_rows`]) as a `files` record.
pub(super) fn file_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordOut> {
    {
        let mut m = Map::new();
        let path: String = r.get(0)?;
        m.insert("path".into(), Value::String(path.clone()));
        for (i, id) in [(1, "title"), (2, "artist"), (3, "album"), (4, "isrc"), (6, "codec")] {
            if let Some(s) = r.get::<_, Option<String>>(i)? {
                m.insert(id.into(), Value::String(s));
            }
        }
        if let Some(d) = r.get::<_, Option<f64>>(5)? {
            m.insert("duration_ms".into(), Value::from((d * 1000.0).round() as i64));
        }
        m.insert("lossless".into(), Value::Bool(r.get::<_, i64>(7)? != 0));
        m.insert("size".into(), Value::from(r.get::<_, i64>(8)?));
        m.insert("fingerprinted".into(), Value::Bool(r.get::<_, i64>(9)? != 0));
        Ok(RecordOut { key: path, props: m, archived: Map::new() })
    }
}
