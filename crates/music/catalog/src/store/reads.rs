//! Reading records: one by key, a filtered page with a cursor, a record's links; each record
//! shaped by its schema (relations resolved, archived values on request).
use super::*;

impl Catalog {
    /// One record, or None.
    pub fn get(&self, access: &Access, collection: &str, key: &str, archived: bool) -> Result<Option<RecordOut>> {
        self.check_read(access, collection)?;
        if schema::is_virtual(collection) {
            return self.virtual_rows(collection, Some(key), None, 1).map(|mut v| v.pop());
        }
        let schema = self.read_schema(collection)?;
        let props: Option<String> = self
            .db
            .query_opt("SELECT props FROM cat_records WHERE collection = ?1 AND key = ?2", vals![collection, key])?
            .map(|r| r.text(0));
        props.map(|p| self.shape(&schema, key.to_string(), &p, archived)).transpose()
    }

    pub(super) fn shape(&self, schema: &Schema, key: String, props: &str, archived: bool) -> Result<RecordOut> {
        let mut all: Map<String, Value> = serde_json::from_str(props).unwrap_or_default();
        let mut out = RecordOut { key, props: Map::new(), archived: Map::new() };
        for p in &schema.props {
            if p.kind == Kind::Relation {
                let keys = self.related_keys(&schema.collection, &out.key, p)?;
                if !keys.is_empty() {
                    out.props.insert(p.id.clone(), Value::Array(keys));
                }
            } else if p.kind == Kind::Entries {
                let list = stored_entries(&self.db, &schema.collection, &out.key, &p.id)?;
                if !list.is_empty() {
                    out.props.insert(p.id.clone(), entries_value(list.into_iter().map(|e| (e.key, e.position))));
                }
            } else if let Some(v) = all.remove(&p.id) {
                if !p.archived {
                    out.props.insert(p.id.clone(), v);
                } else if archived {
                    out.archived.insert(p.id.clone(), v);
                }
            }
        }
        Ok(out)
    }

    /// [`Catalog::shape`] for a page of records read by key order after `after`: the links of
    /// each relation are read with one range query over the page's keys, not one per record.
    pub(super) fn shape_page(
        &self,
        schema: &Schema,
        rows: Vec<(String, String)>,
        after: &str,
        archived: bool,
    ) -> Result<Vec<RecordOut>> {
        let Some(last) = rows.last().map(|r| r.0.clone()) else { return Ok(Vec::new()) };
        if rows.len() == 1 {
            return rows.into_iter().map(|(k, p)| self.shape(schema, k, &p, archived)).collect();
        }
        // Per relation property (schema order): key -> related keys, in the order `related` gives.
        let mut rel: Vec<HashMap<String, Vec<Value>>> = Vec::new();
        for p in schema.props.iter().filter(|p| p.kind == Kind::Relation) {
            let mut by_key: HashMap<String, Vec<Value>> = HashMap::new();
            let rows = if p.stored {
                self.db.query(
                    "SELECT key, target_key FROM cat_links
                     WHERE collection = ?1 AND key > ?2 AND key <= ?3 AND property = ?4 AND removed = 0
                     ORDER BY key, position, added_at",
                    vals![&schema.collection, after, &last, &p.id],
                )?
            } else if let (Some(src), Some(inv)) = (&p.target, &p.inverse) {
                self.db.query(
                    "SELECT target_key, key FROM cat_links
                     WHERE target = ?1 AND target_key > ?2 AND target_key <= ?3 AND collection = ?4 AND property = ?5
                       AND removed = 0
                     ORDER BY target_key, added_at, key",
                    vals![&schema.collection, after, &last, src, inv],
                )?
            } else {
                Vec::new()
            };
            for r in rows {
                by_key.entry(r.text(0)).or_default().push(Value::String(r.text(1)));
            }
            rel.push(by_key);
        }
        // Per entries property (schema order): key -> its entries, in position order.
        let mut lists: Vec<HashMap<String, Vec<(String, i64)>>> = Vec::new();
        for p in schema.props.iter().filter(|p| p.kind == Kind::Entries) {
            let mut by_key: HashMap<String, Vec<(String, i64)>> = HashMap::new();
            for r in self.db.query(
                "SELECT key, target_key, position FROM cat_entries
                 WHERE collection = ?1 AND key > ?2 AND key <= ?3 AND property = ?4 ORDER BY key, position",
                vals![&schema.collection, after, &last, &p.id],
            )? {
                by_key.entry(r.text(0)).or_default().push((r.text(1), r.int(2)));
            }
            lists.push(by_key);
        }
        let mut out = Vec::with_capacity(rows.len());
        for (key, props) in rows {
            let mut all: Map<String, Value> = serde_json::from_str(&props).unwrap_or_default();
            let mut rec = RecordOut { key, props: Map::new(), archived: Map::new() };
            let (mut r, mut l) = (0, 0);
            for p in &schema.props {
                if p.kind == Kind::Relation {
                    if let Some(keys) = rel[r].remove(&rec.key) {
                        rec.props.insert(p.id.clone(), Value::Array(keys));
                    }
                    r += 1;
                } else if p.kind == Kind::Entries {
                    if let Some(list) = lists[l].remove(&rec.key) {
                        rec.props.insert(p.id.clone(), entries_value(list));
                    }
                    l += 1;
                } else if let Some(v) = all.remove(&p.id) {
                    if !p.archived {
                        rec.props.insert(p.id.clone(), v);
                    } else if archived {
                        rec.archived.insert(p.id.clone(), v);
                    }
                }
            }
            out.push(rec);
        }
        Ok(out)
    }

    /// The keys [`Catalog::related`] gives, in its order, without reading each link's position,
    /// date and method: a record read whole (`get`) carries only the keys, and a playlist has
    /// hundreds of them.
    pub(super) fn related_keys(&self, collection: &str, key: &str, p: &Property) -> Result<Vec<Value>> {
        let rows = if p.stored {
            self.db.query(
                "SELECT target_key FROM cat_links
                 WHERE collection = ?1 AND key = ?2 AND property = ?3 AND removed = 0 ORDER BY position, added_at",
                vals![collection, key, &p.id],
            )?
        } else {
            let (Some(src), Some(inv)) = (&p.target, &p.inverse) else { return Ok(Vec::new()) };
            self.db.query(
                "SELECT key FROM cat_links
                 WHERE target = ?1 AND target_key = ?2 AND collection = ?3 AND property = ?4 AND removed = 0
                 ORDER BY added_at, key",
                vals![collection, key, src, inv],
            )?
        };
        Ok(rows.iter().map(|r| Value::String(r.text(0))).collect())
    }

    pub(super) fn related(&self, collection: &str, key: &str, p: &Property) -> Result<Vec<LinkOut>> {
        let read = |r: &Row| LinkOut {
            key: r.text(0),
            position: r.int(1),
            added_at: r.opt_text(2),
            method: link_method_out(r.text(3)),
        };
        let rows = if p.stored {
            self.db.query(
                "SELECT target_key, position, added_at, method FROM cat_links
                 WHERE collection = ?1 AND key = ?2 AND property = ?3 AND removed = 0 ORDER BY position, added_at",
                vals![collection, key, &p.id],
            )?
        } else {
            let (Some(src), Some(inv)) = (&p.target, &p.inverse) else { return Ok(Vec::new()) };
            self.db.query(
                "SELECT key, position, added_at, method FROM cat_links
                 WHERE target = ?1 AND target_key = ?2 AND collection = ?3 AND property = ?4 AND removed = 0
                 ORDER BY added_at, key",
                vals![collection, key, src, inv],
            )?
        };
        Ok(rows.iter().map(read).collect())
    }

    /// The links of one record's relation property, in order, with when and how each was made.
    pub fn links(&self, access: &Access, collection: &str, key: &str, property: &str) -> Result<Vec<LinkOut>> {
        self.check_read(access, collection)?;
        let schema = self.read_schema(collection)?;
        let p =
            schema.get(property).filter(|p| p.kind == Kind::Relation).ok_or_else(|| unknown(&schema, key, property))?;
        if let Some(t) = &p.target
            && !access.can_read(t)
        {
            return Err(CatalogError::NotGranted { actor: access.actor.clone(), collection: t.clone(), op: "read" });
        }
        self.related(collection, key, p)
    }

    /// Records matching `filter`, by key order, starting after the cursor `after`.
    pub fn query(
        &self,
        access: &Access,
        collection: &str,
        filter: &Filter,
        archived: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page> {
        self.check_read(access, collection)?;
        let limit = limit.clamp(1, 100_000);
        let mut records = Vec::new();
        let mut next = None;
        let mut cursor = after.map(str::to_string);
        let schema = if schema::is_virtual(collection) { None } else { Some(self.read_schema(collection)?) };
        let mut truncated = false;
        // Reads in chunks so that a filter rejecting most rows still stops at `limit`. A chunk
        // holds what is still wanted plus one (to tell whether there is a next page), so a full
        // page does not shape a whole chunk it then throws away; at least 16 rows, so a
        // filter rejecting most rows does not read one row at a time.
        loop {
            let want = (limit - records.len() + 1).clamp(16, 1000);
            let chunk: Vec<RecordOut> = match &schema {
                None => self.virtual_rows(collection, None, cursor.as_deref(), 1000)?,
                Some(schema) => {
                    // Within a plugin call's read cap (`bounds`): the rows that fit, and the page
                    // ends after them.
                    let (rows, cut) = self.db.query_upto(
                        "SELECT key, props FROM cat_records WHERE collection = ?1 AND key > ?2 ORDER BY key LIMIT ?3",
                        vals![collection, cursor.as_deref().unwrap_or(""), want as i64],
                        true,
                    )?;
                    truncated = cut;
                    let rows: Vec<(String, String)> = rows.into_iter().map(|r| (r.text(0), r.text(1))).collect();
                    self.shape_page(schema, rows, cursor.as_deref().unwrap_or(""), archived)?
                }
            };
            let Some(last) = chunk.last() else { break };
            cursor = Some(last.key.clone());
            for r in chunk {
                if filter.accepts(&r) {
                    if records.len() == limit {
                        next = records.last().map(|r: &RecordOut| r.key.clone());
                        return Ok(Page { records, next });
                    }
                    records.push(r);
                }
            }
            if truncated {
                // Resume after the last row read, accepted or not.
                return Ok(Page { records, next: cursor });
            }
            crate::bounds::check()?;
        }
        if records.len() == limit {
            next = None;
        }
        Ok(Page { records, next })
    }
}
