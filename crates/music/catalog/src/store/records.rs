//! Writing records: `upsert` (one collection) and `upsert_many` (several, one transaction),
//! each record checked against its schema and the writer's rights before anything is written,
//! and the writer's usage charged against its quota.
use super::*;

impl Catalog {
    /// Upserts several collections' records in one transaction: each batch as
    /// [`Catalog::upsert`] does (same checks, change log, quota), in order, so a relation may
    /// point at a record of an earlier batch; one refused batch, or a failure of the database,
    /// writes nothing of any. An import that spans collections (djay's tracks, sessions, plays
    /// and playlists) is all or nothing with it. Returns one report per batch.
    pub fn upsert_many(&mut self, access: &Access, batches: &[(&str, &[Record])]) -> Result<Vec<UpsertReport>> {
        let _span =
            tracing::info_span!("catalog.upsert_many", batches = batches.len(), actor = %access.actor).entered();
        *self.schemas.borrow_mut() = SchemaCache::default();
        self.db.begin_batch()?;
        self.batch.set(true);
        let mut reports = Vec::with_capacity(batches.len());
        let mut failed = None;
        for (collection, records) in batches {
            match self.upsert(access, collection, records) {
                Ok(r) => reports.push(r),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        self.batch.set(false);
        *self.schemas.borrow_mut() = SchemaCache::default();
        match failed {
            None => {
                self.db.end_batch(true)?;
                Ok(reports)
            }
            Some(e) => {
                let _ = self.db.end_batch(false);
                Err(e)
            }
        }
    }

    /// Upserts `records` into `collection` in one transaction. Properties left out are kept;
    /// `null` clears one; a relation's value (a list of keys, or of `{"key","added_at","method"}`)
    /// replaces the record's links of that property, except links made by hand. `method` records
    /// how a plugin matched the link, as [`Catalog::link`] does (`manual` is the user's only); left
    /// out, a link keeps the method it has. An unchanged record
    /// writes nothing. Anything refused refuses the whole batch.
    pub fn upsert(&mut self, access: &Access, collection: &str, records: &[Record]) -> Result<UpsertReport> {
        self.upsert_inner(access, collection, records, true)
    }

    /// What [`Catalog::upsert`] would report (inserted / updated / unchanged, or the error that
    /// would refuse the batch), computed in a transaction that is rolled back: nothing is written.
    pub fn upsert_dry_run(&mut self, access: &Access, collection: &str, records: &[Record]) -> Result<UpsertReport> {
        self.upsert_inner(access, collection, records, false)
    }

    pub(super) fn upsert_inner(
        &mut self,
        access: &Access,
        collection: &str,
        records: &[Record],
        commit: bool,
    ) -> Result<UpsertReport> {
        let _span =
            tracing::info_span!("catalog.upsert", collection, records = records.len(), actor = %access.actor).entered();
        let actor = access.actor.clone();
        let quota = access.quota;
        let user = access.is_user();
        let tx = self.begin_write(access, collection)?;
        if !collection_exists(&tx, collection)? {
            return Err(CatalogError::UnknownCollection(collection.into()));
        }
        let schema = load_schema(&tx, collection)?;
        let at = now();
        let mut report = UpsertReport::default();
        let mut usage = Usage::default();
        let call = Call {
            access,
            collection,
            schema: &schema,
            actor: &actor,
            at: &at,
            batch_keys: records.iter().map(|r| r.key.as_str()).collect(),
        };
        let mut seen = HashSet::new();
        // Link and entry targets found to exist in this call, by collection: each is looked up
        // once.
        let mut known_targets: HashMap<String, HashSet<String>> = HashMap::new();
        for rec in records {
            if !seen.insert(rec.key.as_str()) {
                return Err(malformed(collection, &rec.key, "the key appears twice in one batch"));
            }
            let (values, links, entries) = validate(&schema, rec, &actor, user)?;
            let old: Option<(String, String)> = tx
                .query_opt(
                    "SELECT props, owner FROM cat_records WHERE collection = ?1 AND key = ?2",
                    vals![collection, &rec.key],
                )?
                .map(|r| (r.text(0), r.text(1)));
            let old_props: Map<String, Value> = match &old {
                Some((s, _)) => serde_json::from_str(s).unwrap_or_default(),
                None => Map::new(),
            };
            let (merged, diff) = merged_with(&old_props, values);
            let mut link_diff =
                self.relink(&tx, &call, &rec.key, &links, old.is_none(), &mut known_targets, &mut usage)?;
            link_diff.extend(self.rewrite_entries(
                &tx,
                &call,
                &rec.key,
                &entries,
                old.is_none(),
                &mut known_targets,
            )?);
            let change =
                Delta { old: old.as_ref().map(|(_, owner)| owner.as_str()), old_props: &old_props, diff, link_diff };
            match store_record(&tx, &call, &rec.key, &merged, change, &mut usage)? {
                Outcome::Inserted => report.inserted += 1,
                Outcome::Updated => report.updated += 1,
                Outcome::Unchanged => report.unchanged += 1,
            }
        }
        usage.commit(&tx, &actor, quota)?;
        if report.inserted + report.updated > 0 {
            bump(&tx, collection)?;
            for p in schema.live().filter(|p| p.kind == Kind::Relation && p.stored) {
                if let Some(t) = &p.target {
                    bump(&tx, t)?;
                }
            }
        }
        if commit {
            tx.commit()?;
        } else {
            tx.rollback()?;
        }
        Ok(report)
    }
}

/// One upsert call's fixed parts, which each record's steps read.
pub(super) struct Call<'a> {
    pub(super) access: &'a Access,
    pub(super) collection: &'a str,
    pub(super) schema: &'a Schema,
    pub(super) actor: &'a str,
    pub(super) at: &'a str,
    /// Keys of this batch, so a relation may point at a record of the same batch.
    pub(super) batch_keys: HashSet<&'a str>,
}

/// What one record's upsert changes: its owner before (`None`: the record is new), its
/// properties before, and the changes to its properties and links (each `[before, after]`).
struct Delta<'a> {
    old: Option<&'a str>,
    old_props: &'a Map<String, Value>,
    diff: Map<String, Value>,
    link_diff: Map<String, Value>,
}

/// What happened to one record.
enum Outcome {
    Inserted,
    Updated,
    Unchanged,
}

/// `old` with `values` applied (`null` clears a property), and what changed, as
/// `{id: [before, after]}`.
fn merged_with(old: &Map<String, Value>, values: Vec<(String, Value)>) -> (Map<String, Value>, Map<String, Value>) {
    let mut merged = old.clone();
    let mut diff = Map::new();
    for (id, v) in values {
        let before = merged.get(&id).cloned().unwrap_or(Value::Null);
        if before == v {
            continue;
        }
        diff.insert(id.clone(), json!([before, v]));
        if v.is_null() {
            merged.remove(&id);
        } else {
            merged.insert(id, v);
        }
    }
    (merged, diff)
}

impl Catalog {
    /// Replaces the links of record `key` that its relations name, after checking that every
    /// target exists (in this batch, or in its collection, which the writer must be able to
    /// read); returns the links' changes by property.
    #[allow(clippy::too_many_arguments)]
    fn relink(
        &self,
        tx: &Db,
        call: &Call<'_>,
        key: &str,
        links: &[(String, Vec<LinkIn>)],
        fresh: bool,
        known_targets: &mut HashMap<String, HashSet<String>>,
        usage: &mut Usage,
    ) -> Result<Map<String, Value>> {
        let (collection, schema, actor) = (call.collection, call.schema, call.actor);
        let mut link_diff = Map::new();
        for (prop, targets) in links {
            let p = schema.get(prop).ok_or_else(|| unknown(schema, key, prop))?;
            let target = p.target.clone().unwrap_or_default();
            // Whether a key exists in a collection it may not read is not the caller's to
            // learn: refused as a read, before any lookup.
            if !targets.is_empty() && !call.access.can_read(&target) {
                return Err(CatalogError::NotGranted { actor: actor.to_string(), collection: target, op: "read" });
            }
            for t in targets {
                if (target == collection && call.batch_keys.contains(t.key.as_str()))
                    || known_targets.get(&target).is_some_and(|k| k.contains(&t.key))
                {
                    continue;
                }
                if self.record_exists(tx, &target, &t.key)? {
                    known_targets.entry(target.clone()).or_default().insert(t.key.clone());
                } else {
                    return Err(CatalogError::MissingTarget {
                        collection: collection.into(),
                        key: key.to_string(),
                        property: prop.clone(),
                        target,
                        target_key: t.key.clone(),
                    });
                }
            }
            if let Some(d) = replace_links(tx, collection, key, prop, &target, targets, actor, call.at, usage, fresh)? {
                link_diff.insert(prop.clone(), d);
            }
        }
        Ok(link_diff)
    }
}

/// Writes record `key` with its `merged` properties and logs the change: an insert, an update
/// when a property or a link changed, else nothing.
fn store_record(
    tx: &Db,
    call: &Call<'_>,
    key: &str,
    merged: &Map<String, Value>,
    change: Delta<'_>,
    usage: &mut Usage,
) -> Result<Outcome> {
    let (collection, actor) = (call.collection, call.actor);
    let over_cap = |len: usize| malformed(collection, key, &format!("{len} bytes, over the {MAX_RECORD}-byte cap"));
    let Delta { old, old_props, diff, link_diff } = change;
    let op = match old {
        None => "insert",
        Some(_) if !diff.is_empty() || !link_diff.is_empty() => "update",
        // Nothing to write: the text is only measured against the cap, never made (a re-import
        // of 50,000 unchanged tracks made each one's text for nothing).
        Some(_) => {
            let len = serialized_len(merged).map_err(|e| malformed(collection, key, &e.to_string()))?;
            return if len > MAX_RECORD { Err(over_cap(len)) } else { Ok(Outcome::Unchanged) };
        }
    };
    let text = serde_json::to_string(merged).map_err(|e| malformed(collection, key, &e.to_string()))?;
    if text.len() > MAX_RECORD {
        return Err(over_cap(text.len()));
    }
    let changed_props = !diff.is_empty();
    let (seq, logged) = log_entry(tx, collection, Some(key), op, actor, &json!({"props": diff, "links": link_diff}))?;
    usage.add(actor, 0, logged);
    match old {
        None => {
            tx.execute(
                "INSERT INTO cat_records (collection, key, props, owner, bytes, created_seq, updated_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                vals![collection, key, &text, actor, text.len() as i64, seq],
            )?;
            usage.add(actor, 1, text.len() as i64);
            Ok(Outcome::Inserted)
        }
        Some(owner) => {
            if changed_props {
                let old_len = serde_json::to_string(old_props).map(|s| s.len()).unwrap_or(0) as i64;
                tx.execute(
                    "UPDATE cat_records SET props = ?3, bytes = ?4, updated_seq = ?5 WHERE collection = ?1 AND key = ?2",
                    vals![collection, key, &text, text.len() as i64, seq],
                )?;
                usage.add(owner, 0, text.len() as i64 - old_len);
            } else {
                tx.execute(
                    "UPDATE cat_records SET updated_seq = ?3 WHERE collection = ?1 AND key = ?2",
                    vals![collection, key, seq],
                )?;
            }
            Ok(Outcome::Updated)
        }
    }
}

/// The length of `v`'s JSON text, counted as it is written, without keeping it.
fn serialized_len(v: &Map<String, Value>) -> serde_json::Result<usize> {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0 += b.len();
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut n = Count(0);
    serde_json::to_writer(&mut n, v)?;
    Ok(n.0)
}

/// What [`validate`] returns: the plain values (canonical form), the relation lists and the
/// entries lists, by property.
pub(super) type Checked = (Vec<(String, Value)>, Vec<(String, Vec<LinkIn>)>, Vec<(String, Vec<EntryIn>)>);

/// Checks one record against the schema and the writer's rights; returns the plain values
/// (canonical form), the relation lists and the entries lists.
pub(super) fn validate(schema: &Schema, rec: &Record, actor: &str, user: bool) -> Result<Checked> {
    let c = schema.collection.as_str();
    if rec.key.is_empty() || rec.key.len() > MAX_KEY || rec.key.chars().any(char::is_control) {
        return Err(malformed(c, &rec.key, &format!("a key is 1 to {MAX_KEY} bytes without control characters")));
    }
    let mut values = Vec::new();
    let mut links = Vec::new();
    let mut entries = Vec::new();
    for (id, v) in &rec.props {
        let p = schema.get(id).filter(|p| !p.archived).ok_or_else(|| unknown(schema, &rec.key, id))?;
        if !user && p.owner != actor && p.owner != CORE && p.owner != USER {
            return Err(CatalogError::NotOwner {
                collection: c.into(),
                key: rec.key.clone(),
                property: id.clone(),
                owner: p.owner.clone(),
                actor: actor.into(),
            });
        }
        let bad = |detail: String| CatalogError::BadValue {
            collection: c.into(),
            key: rec.key.clone(),
            property: id.clone(),
            kind: p.kind.as_str(),
            detail,
        };
        if p.kind == Kind::Entries {
            entries.push((id.clone(), parse_entries(v).map_err(bad)?));
            continue;
        }
        if p.kind == Kind::Relation {
            if !p.stored {
                let other = format!("{}.{}", p.target.as_deref().unwrap_or("?"), p.inverse.as_deref().unwrap_or("?"));
                return Err(bad(format!(
                    "this side of the relation is derived; write {other} instead (or `baton catalog link`)"
                )));
            }
            let list = match v {
                Value::Null => Vec::new(),
                Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(LinkIn { key: s.clone(), added_at: None, unknown_at: false, method: None }),
                        Value::Object(o) => match o.get("key") {
                            Some(Value::String(s)) => {
                                let method = match o.get("method") {
                                    None | Some(Value::Null) => None,
                                    Some(m) => Some(serde_json::from_value::<MatchMethod>(m.clone()).map_err(|_| {
                                        bad(format!("link method {m} is not one of external_id, isrc, normalized, fuzzy, fingerprint"))
                                    })?),
                                };
                                if !user && method == Some(MatchMethod::Manual) {
                                    return Err(CatalogError::ManualByPlugin {
                                        collection: c.into(),
                                        key: rec.key.clone(),
                                        property: id.clone(),
                                        target_key: s.clone(),
                                        actor: actor.into(),
                                    });
                                }
                                Ok(LinkIn {
                                    key: s.clone(),
                                    added_at: o.get("added_at").and_then(Value::as_str).map(str::to_string),
                                    unknown_at: o.get("added_at").is_some_and(Value::is_null),
                                    method,
                                })
                            }
                            _ => Err(bad("a link object needs a string \"key\"".into())),
                        },
                        _ => Err(bad(format!("expected a related key or {{\"key\",\"added_at\",\"method\"}}, got {x}"))),
                    })
                    .collect::<Result<_>>()?,
                _ => return Err(bad(format!("expected a list of related keys, got {v}"))),
            };
            let mut dup = HashSet::new();
            if let Some(d) = list.iter().find(|l| !dup.insert(l.key.as_str())) {
                return Err(bad(format!("`{}` is listed twice", d.key)));
            }
            links.push((id.clone(), list));
            continue;
        }
        let canon = if v.is_null() { Value::Null } else { check_value(p, v).map_err(bad)? };
        values.push((id.clone(), canon));
    }
    Ok((values, links, entries))
}

/// A value in its canonical form for the property's kind, or why it is not one.
pub(super) fn check_value(p: &Property, v: &Value) -> std::result::Result<Value, String> {
    let text = |v: &Value| -> std::result::Result<String, String> {
        match v {
            Value::String(s) if s.len() <= 64 << 10 => Ok(s.clone()),
            Value::String(_) => Err("text over 64 KiB".into()),
            _ => Err(format!("expected a string, got {v}")),
        }
    };
    match p.kind {
        Kind::Text | Kind::Select => {
            let s = text(v)?;
            if p.id == "isrc" {
                return schema::normalize_isrc(&s)
                    .map(Value::String)
                    .ok_or_else(|| format!("`{s}` is not an ISRC (CC-XXX-YY-NNNNN)"));
            }
            Ok(Value::String(s))
        }
        Kind::Url => {
            let s = text(v)?;
            let scheme = s.split_once(':').map(|(a, _)| a).unwrap_or("");
            if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+.-".contains(c)) {
                return Err(format!("`{s}` is not a URL (scheme:...)"));
            }
            Ok(Value::String(s))
        }
        Kind::Number => match v {
            Value::Number(n) if p.integer => n
                .as_i64()
                .map(Value::from)
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| Value::from(f as i64)))
                .ok_or_else(|| format!("expected a whole number, got {n}")),
            Value::Number(_) => Ok(v.clone()),
            _ => Err(format!("expected a number, got {v}")),
        },
        Kind::Bool => v.as_bool().map(Value::Bool).ok_or_else(|| format!("expected true or false, got {v}")),
        Kind::Date => {
            let s = text(v)?;
            let rfc = time::OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).is_ok();
            let day = time::Date::parse(&s, time::macros::format_description!("[year]-[month]-[day]")).is_ok();
            if rfc || day { Ok(Value::String(s)) } else { Err(format!("`{s}` is not a date (YYYY-MM-DD or RFC 3339)")) }
        }
        Kind::MultiSelect => match v {
            Value::Array(a) => a
                .iter()
                .map(|x| text(x).map(Value::String))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(format!("expected a list of strings, got {v}")),
        },
        Kind::Relation | Kind::Entries => Err("relations and entries are handled apart".into()),
    }
}

/// Usage deltas of one call, applied and checked against the caller's quota at the end.
#[derive(Default)]
pub(super) struct Usage(BTreeMap<String, (i64, i64)>);

impl Usage {
    pub(super) fn add(&mut self, actor: &str, rows: i64, bytes: i64) {
        let e = self.0.entry(actor.to_string()).or_default();
        e.0 += rows;
        e.1 += bytes;
    }

    pub(super) fn commit(&self, tx: &Db, actor: &str, quota: Option<crate::Quota>) -> Result<()> {
        for (who, (rows, bytes)) in &self.0 {
            if *rows == 0 && *bytes == 0 {
                continue;
            }
            tx.execute(
                "INSERT INTO cat_usage (actor, rows, bytes) VALUES (?1, ?2, ?3)
                 ON CONFLICT (actor) DO UPDATE SET rows = cat_usage.rows + excluded.rows, bytes = cat_usage.bytes + excluded.bytes",
                vals![who, *rows, *bytes],
            )?;
        }
        if let (Some(q), Some((drows, dbytes))) = (quota, self.0.get(actor)) {
            let r = tx.query_one("SELECT rows, bytes FROM cat_usage WHERE actor = ?1", vals![actor])?;
            let (rows, bytes) = (r.int(0), r.int(1));
            if (*drows > 0 && rows as u64 > q.rows) || (*dbytes > 0 && bytes as u64 > q.bytes) {
                return Err(CatalogError::Quota {
                    actor: actor.into(),
                    detail: format!(
                        "this batch would bring it to {rows} rows / {bytes} bytes, over {} rows / {} bytes",
                        q.rows, q.bytes
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap is checked on an unchanged record without making its text: the count is the
    /// text's length exactly (escapes and multi-byte characters included).
    #[test]
    fn a_records_length_is_counted_as_its_text_would_be() {
        let v: Map<String, Value> =
            serde_json::from_str(r#"{"title": "Caf\u00e9 \"live\"\n", "n": 1.5, "list": [1, null, "ü"]}"#).unwrap();
        assert_eq!(serialized_len(&v).unwrap(), serde_json::to_string(&v).unwrap().len());
    }
}
