//! The change log: every write appends an entry (charged to its writer's quota) with a
//! sequence number that commits in order; mirrors read what changed since a number.
use super::*;

impl Catalog {
    /// The changes after sequence number `since`, oldest first, in collections `access` reads.
    pub fn changes_since(&self, access: &Access, since: i64, limit: usize) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        let mut from = since;
        // Skips changes of unreadable collections without cutting the page short. A chunk is
        // what is still wanted (at least 64 rows, so skipping is not row by row), and only the
        // kept rows' details are parsed.
        //
        // Within a plugin call's read cap (`bounds`): the sequence numbers and collections come
        // first (small rows), and only changes the caller may read are read whole, while they
        // fit; the answer ends before the first that does not (an error only when none fits).
        while out.len() < limit {
            let want = (limit - out.len()).clamp(64, 1000);
            let heads = self.db.query(
                "SELECT seq, collection FROM cat_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
                vals![from, want as i64],
            )?;
            let n = heads.len();
            let readable: Vec<i64> = heads.iter().filter(|r| access.can_read(r.str(1))).map(|r| r.int(0)).collect();
            let last = heads.last().map(|r| r.int(0));
            drop(heads);
            let mut i = 0;
            while i < readable.len() && out.len() < limit {
                // Runs of consecutive readable changes are read in one statement.
                let mut j = i + 1;
                while j < readable.len() && readable[j] == readable[j - 1] + 1 {
                    j += 1;
                }
                let r = self.db.query_upto(
                    "SELECT seq, collection, key, op, actor, at, detail FROM cat_changes WHERE seq >= ?1 AND seq <= ?2 ORDER BY seq",
                    vals![readable[i], readable[j - 1]],
                    true,
                );
                let (rows, cut) = match r {
                    Ok(r) => r,
                    Err(CatalogError::CallBound(_)) if !out.is_empty() => return Ok(out),
                    Err(e) => return Err(e),
                };
                for row in &rows {
                    if out.len() < limit {
                        out.push(read_change(row));
                    }
                }
                if cut {
                    return Ok(out);
                }
                i = j;
            }
            match last {
                Some(l) => from = l,
                None => break,
            }
            if n < want {
                break;
            }
            crate::bounds::check()?;
        }
        Ok(out)
    }

    /// The last sequence number (0 when nothing was ever written).
    pub fn last_seq(&self) -> Result<i64> {
        Ok(self.db.query_one("SELECT coalesce(max(seq), 0) FROM cat_changes", &[])?.int(0))
    }

    /// Every change to one record, oldest first.
    pub fn history(&self, access: &Access, collection: &str, key: &str) -> Result<Vec<Change>> {
        self.check_read(access, collection)?;
        let mut out: Vec<Change> = self
            .db
            .query(
                "SELECT seq, collection, key, op, actor, at, detail FROM cat_changes WHERE collection = ?1 AND key = ?2 ORDER BY seq",
                vals![collection, key],
            )?
            .iter()
            .map(read_change)
            .collect();
        // Links made from the other side are logged on the stored side; show them here too.
        let other_side = self.db.pick(
            "SELECT seq, collection, key, op, actor, at, detail FROM cat_changes
             WHERE op IN ('link', 'unlink') AND json_extract(detail, '$.target') = ?1 AND json_extract(detail, '$.target_key') = ?2",
            "SELECT seq, collection, key, op, actor, at, detail FROM cat_changes
             WHERE op IN ('link', 'unlink') AND (detail::jsonb ->> 'target') = ?1 AND (detail::jsonb ->> 'target_key') = ?2",
        );
        out.extend(self.db.query(other_side, vals![collection, key])?.iter().map(read_change));
        out.sort_by_key(|c| c.seq);
        Ok(out)
    }

    /// A plugin's (or the user's) usage: (rows, bytes).
    pub fn usage(&self, actor: &str) -> Result<(u64, u64)> {
        let r: Option<(i64, i64)> = self
            .db
            .query_opt("SELECT rows, bytes FROM cat_usage WHERE actor = ?1", vals![actor])?
            .map(|r| (r.int(0), r.int(1)));
        Ok(r.map(|(a, b)| (a.max(0) as u64, b.max(0) as u64)).unwrap_or((0, 0)))
    }
}

pub(super) fn read_change(r: &Row) -> Change {
    Change {
        seq: r.int(0),
        collection: r.text(1),
        key: r.opt_text(2),
        op: r.text(3),
        actor: r.text(4),
        at: r.text(5),
        detail: serde_json::from_str(r.str(6)).unwrap_or(Value::Null),
    }
}

/// Appends one change-log entry and returns its sequence number. The entry is charged to
/// `actor`'s catalog usage (bytes): the change log is kept, and every reader of
/// `changes-since` pays for it, so it counts against the writer's quota like its records.
pub(super) fn log_change(
    tx: &Db,
    collection: &str,
    key: Option<&str>,
    op: &str,
    actor: &str,
    detail: &Value,
) -> Result<i64> {
    let (seq, bytes) = log_entry(tx, collection, key, op, actor, detail)?;
    tx.execute(
        "INSERT INTO cat_usage (actor, rows, bytes) VALUES (?1, 0, ?2)
         ON CONFLICT (actor) DO UPDATE SET bytes = cat_usage.bytes + excluded.bytes",
        vals![actor, bytes],
    )?;
    Ok(seq)
}

/// Appends one change-log entry, not yet charged: its sequence number and what it weighs (a
/// batch adds that to its [`Usage`], which is applied and checked once).
pub(super) fn log_entry(
    tx: &Db,
    collection: &str,
    key: Option<&str>,
    op: &str,
    actor: &str,
    detail: &Value,
) -> Result<(i64, i64)> {
    let at = now();
    let detail = detail.to_string();
    let seq = tx.insert_change(collection, key, op, actor, &at, &detail)?;
    Ok((seq, change_bytes(collection, key, op, actor, &at, &detail)))
}

/// What one change-log entry weighs against a quota: its texts and a row's overhead.
pub(super) fn change_bytes(collection: &str, key: Option<&str>, op: &str, actor: &str, at: &str, detail: &str) -> i64 {
    (CHANGE_OVERHEAD + collection.len() + key.map_or(0, str::len) + op.len() + actor.len() + at.len() + detail.len())
        as i64
}

/// Bytes a change-log row costs beyond its texts (sequence number, row and index entries).
pub(super) const CHANGE_OVERHEAD: usize = 32;

/// Refuses a write that brought `actor` over its quota's bytes (records and change log).
pub(super) fn check_bytes(tx: &Db, actor: &str, quota: Option<crate::Quota>) -> Result<()> {
    let Some(q) = quota else { return Ok(()) };
    let Some(r) = tx.query_opt("SELECT rows, bytes FROM cat_usage WHERE actor = ?1", vals![actor])? else {
        return Ok(());
    };
    let (rows, bytes) = (r.int(0), r.int(1));
    if bytes as u64 > q.bytes {
        return Err(CatalogError::Quota {
            actor: actor.into(),
            detail: format!(
                "this change would bring it to {rows} rows / {bytes} bytes (records and change log), over {} rows / {} bytes",
                q.rows, q.bytes
            ),
        });
    }
    Ok(())
}

/// Marks a collection changed, so cached indexes over it are rebuilt.
pub(super) fn bump(tx: &Db, collection: &str) -> Result<()> {
    tx.execute("UPDATE cat_collections SET generation = generation + 1 WHERE name = ?1", vals![collection])?;
    Ok(())
}
