//! Ordered entries ([`Kind::Entries`]): a playlist's tracks in order, repeats included, one row
//! per entry in `cat_entries` (a relation keeps one link per target and cannot repeat one).
//! Written as a record's property (`[key, …]` or `[{"track", "position"}]`), replaced whole
//! when it differs from what is stored (an unchanged list writes nothing), and read back as
//! `[{"track", "position"}]` in position order.
use super::*;

/// One entry given in an upsert: the key of a record in the property's target, and its
/// position (from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryIn {
    pub(crate) key: String,
    pub(crate) position: i64,
}

/// One entry as read: the record it names and its position (from 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub track: String,
    pub position: i64,
}

/// A list of entries as written: keys (`["t1", "t2", "t1"]`, positions 1, 2, 3 in order) or
/// objects `{"track": key, "position": n}` (`key` is taken for `track`; a missing position is
/// the entry's place in the list). Positions are whole numbers from 1, each at most once; the
/// list is returned in position order.
pub(crate) fn parse_entries(v: &Value) -> std::result::Result<Vec<EntryIn>, String> {
    let items = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(a) => a,
        _ => return Err(format!("expected a list of entries (keys or {{\"track\", \"position\"}}), got {v}")),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, x) in items.iter().enumerate() {
        let place = i as i64 + 1;
        let e = match x {
            Value::String(s) => EntryIn { key: s.clone(), position: place },
            Value::Object(o) => {
                let key = o.get("track").or_else(|| o.get("key")).and_then(Value::as_str);
                let Some(key) = key else {
                    return Err(format!("entry {place}: an entry object needs a string \"track\", got {x}"));
                };
                let position = match o.get("position") {
                    None | Some(Value::Null) => place,
                    Some(p) => p
                        .as_i64()
                        .filter(|p| *p >= 1)
                        .ok_or_else(|| format!("entry {place}: position {p} is not a whole number from 1"))?,
                };
                EntryIn { key: key.to_string(), position }
            }
            _ => return Err(format!("entry {place}: expected a key or {{\"track\", \"position\"}}, got {x}")),
        };
        if e.key.is_empty() {
            return Err(format!("entry {place}: an empty key"));
        }
        out.push(e);
    }
    out.sort_by_key(|e| e.position);
    if let Some(w) = out.windows(2).find(|w| w[0].position == w[1].position) {
        return Err(format!("position {} is given twice", w[0].position));
    }
    Ok(out)
}

/// The entries of one record's property as stored, in position order.
pub(super) fn stored_entries(db: &Db, collection: &str, key: &str, prop: &str) -> Result<Vec<EntryIn>> {
    Ok(db
        .query(
            "SELECT target_key, position FROM cat_entries
             WHERE collection = ?1 AND key = ?2 AND property = ?3 ORDER BY position",
            vals![collection, key, prop],
        )?
        .iter()
        .map(|r| EntryIn { key: r.text(0), position: r.int(1) })
        .collect())
}

/// Entries as a record shows them: `[{"track", "position"}]`.
pub(super) fn entries_value(list: impl IntoIterator<Item = (String, i64)>) -> Value {
    Value::Array(list.into_iter().map(|(k, p)| json!({"track": k, "position": p})).collect())
}

impl Catalog {
    /// Replaces the entries of record `key` that the upsert names, after checking that every
    /// entry's record exists (in this batch, or in the target collection, which the writer must
    /// be able to read); returns what changed by property (`{"entries": [before, after]}`, the
    /// counts), nothing for a list equal to the stored one.
    pub(super) fn rewrite_entries<'s>(
        &self,
        tx: &Db,
        call: &records::Call<'s>,
        key: &str,
        lists: &[(String, Vec<EntryIn>)],
        fresh: bool,
        known_targets: &mut HashMap<String, HashSet<String>>,
    ) -> Result<Map<String, Value>> {
        let (collection, schema) = (call.collection, call.schema);
        let mut diff = Map::new();
        for (prop, wanted) in lists {
            let p = schema.get(prop).ok_or_else(|| unknown(schema, key, prop))?;
            let target = p.target.clone().unwrap_or_default();
            if !wanted.is_empty() && !call.access.can_read(&target) {
                return Err(CatalogError::NotGranted { actor: call.actor.to_string(), collection: target, op: "read" });
            }
            for e in wanted {
                if (target == collection && call.batch_keys.contains(e.key.as_str()))
                    || known_targets.get(&target).is_some_and(|k| k.contains(&e.key))
                {
                    continue;
                }
                if !self.record_exists(tx, &target, &e.key)? {
                    return Err(CatalogError::MissingTarget {
                        collection: collection.into(),
                        key: key.to_string(),
                        property: prop.clone(),
                        target,
                        target_key: e.key.clone(),
                    });
                }
                known_targets.entry(target.clone()).or_default().insert(e.key.clone());
            }
            let old = if fresh { Vec::new() } else { stored_entries(tx, collection, key, prop)? };
            if &old == wanted {
                continue;
            }
            tx.execute(
                "DELETE FROM cat_entries WHERE collection = ?1 AND key = ?2 AND property = ?3",
                vals![collection, key, prop],
            )?;
            for e in wanted {
                tx.execute(
                    "INSERT INTO cat_entries (collection, key, property, position, target, target_key)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    vals![collection, key, prop, e.position, &target, &e.key],
                )?;
            }
            diff.insert(prop.clone(), json!({"entries": [old.len(), wanted.len()]}));
        }
        Ok(diff)
    }

    /// The entries of one record's entries property, in order, repeats included; an unknown
    /// record is `None`.
    pub fn entries(&self, access: &Access, collection: &str, key: &str, property: &str) -> Result<Option<Vec<Entry>>> {
        self.check_read(access, collection)?;
        let schema = self.read_schema(collection)?;
        let p =
            schema.get(property).filter(|p| p.kind == Kind::Entries).ok_or_else(|| unknown(&schema, key, property))?;
        if let Some(t) = &p.target
            && !access.can_read(t)
        {
            return Err(CatalogError::NotGranted { actor: access.actor.clone(), collection: t.clone(), op: "read" });
        }
        if !self.db.exists("SELECT 1 FROM cat_records WHERE collection = ?1 AND key = ?2", vals![collection, key])? {
            return Ok(None);
        }
        Ok(Some(
            stored_entries(&self.db, collection, key, property)?
                .into_iter()
                .map(|e| Entry { track: e.key, position: e.position })
                .collect(),
        ))
    }
}
