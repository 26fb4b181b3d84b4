//! Relations between records: `link` and `unlink` one pair (with the method a link was made
//! by), and an upsert's relation values replacing a record's links.
use super::*;

impl Catalog {
    /// Links `key` to `target_key` through the relation `property` (either side), appended at
    /// the end, with `added_at` (now when None) and how it was matched. A link made by the user
    /// is always `manual` (whatever `method` says): plugins' upserts never remove it, and a
    /// user's unlink stays unlinked. A plugin gives the method it matched by, or None for a
    /// data link (membership); it may not claim `manual`. Returns false when the link already
    /// existed with that method and `added_at`.
    #[allow(clippy::too_many_arguments)]
    pub fn link(
        &mut self,
        access: &Access,
        collection: &str,
        key: &str,
        property: &str,
        target_key: &str,
        added_at: Option<&str>,
        method: Option<MatchMethod>,
    ) -> Result<bool> {
        if !access.is_user() && method == Some(MatchMethod::Manual) {
            return Err(CatalogError::ManualByPlugin {
                collection: collection.into(),
                key: key.into(),
                property: property.into(),
                target_key: target_key.into(),
                actor: access.actor.clone(),
            });
        }
        if let Some(at) = added_at {
            let rfc = time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_ok();
            let day = time::Date::parse(at, time::macros::format_description!("[year]-[month]-[day]")).is_ok();
            if !(rfc || day) {
                return Err(CatalogError::BadValue {
                    collection: collection.into(),
                    key: key.into(),
                    property: property.into(),
                    kind: "relation",
                    detail: format!("added_at `{at}` is not a date (YYYY-MM-DD or RFC 3339)"),
                });
            }
        }
        self.set_link(access, collection, key, property, target_key, Some((added_at, method)))
    }

    /// Removes a link. Returns false when there was none.
    pub fn unlink(
        &mut self,
        access: &Access,
        collection: &str,
        key: &str,
        property: &str,
        target_key: &str,
    ) -> Result<bool> {
        self.set_link(access, collection, key, property, target_key, None)
    }

    pub(super) fn set_link(
        &mut self,
        access: &Access,
        collection: &str,
        key: &str,
        property: &str,
        target_key: &str,
        on: Option<(Option<&str>, Option<MatchMethod>)>,
    ) -> Result<bool> {
        read_only(collection)?;
        let actor = access.actor.clone();
        let user = access.is_user();
        let schema = load_schema(&self.db, collection)?;
        let p = schema
            .get(property)
            .filter(|p| p.kind == Kind::Relation && !p.archived)
            .ok_or_else(|| unknown(&schema, key, property))?
            .clone();
        let target = p.target.clone().unwrap_or_default();
        // The stored side: (collection, key, property) -> (target, target_key).
        let (sc, sk, sp, tc, tk) = if p.stored {
            (collection.to_string(), key.to_string(), p.id.clone(), target.clone(), target_key.to_string())
        } else {
            (
                target.clone(),
                target_key.to_string(),
                p.inverse.clone().unwrap_or_default(),
                collection.to_string(),
                key.to_string(),
            )
        };
        if !access.can_write(&sc) {
            return Err(CatalogError::NotGranted { actor, collection: sc, op: "write" });
        }
        let tx = self.write_tx()?;
        for (c, k) in [(collection, key), (target.as_str(), target_key)] {
            // Checked before any lookup: no answer tells a key of a collection it may not read.
            if !access.can_read(c) {
                return Err(CatalogError::NotGranted { actor, collection: c.into(), op: "read" });
            }
            if !self.record_exists(&tx, c, k)? {
                return Err(CatalogError::MissingTarget {
                    collection: collection.into(),
                    key: key.into(),
                    property: property.into(),
                    target: c.into(),
                    target_key: k.into(),
                });
            }
        }
        let method = match on {
            _ if user => MatchMethod::Manual.as_str(),
            Some((_, Some(m))) => m.as_str(),
            _ => DATA_LINK,
        };
        let old: Option<(i64, String)> = tx
            .query_opt(
                "SELECT removed, method FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3 AND target_key = ?4",
                vals![&sc, &sk, &sp, &tk],
            )?
            .map(|r| (r.int(0), r.text(1)));
        if !user && old.as_ref().is_some_and(|(_, m)| m == "manual") {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!(
                    "{key} {property} {target_key}: this link was set by hand (manual); only the user changes it"
                ),
            });
        }
        let active = old.as_ref().is_some_and(|(removed, _)| *removed == 0);
        let at = on.and_then(|(a, _)| a).map(str::to_string).unwrap_or_else(now);
        let changed = if let Some((given_at, _)) = on {
            let old_at: Option<Option<String>> = tx
                .query_opt(
                    "SELECT added_at FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3 AND target_key = ?4 AND removed = 0",
                    vals![&sc, &sk, &sp, &tk],
                )?
                .map(|r| r.opt_text(0));
            let pos = tx
                .query_one(
                    "SELECT coalesce(max(position) + 1, 0) FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3",
                    vals![&sc, &sk, &sp],
                )?
                .int(0);
            tx.execute(
                "INSERT INTO cat_links (collection, key, property, target, target_key, position, added_at, method, actor, removed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)
                 ON CONFLICT (collection, key, property, target_key) DO UPDATE SET
                    removed = 0, method = excluded.method, actor = excluded.actor,
                    position = CASE WHEN cat_links.removed = 1 THEN excluded.position ELSE cat_links.position END,
                    added_at = CASE WHEN cat_links.removed = 1 OR ?10 = 1 THEN excluded.added_at ELSE cat_links.added_at END",
                vals![&sc, &sk, &sp, &tc, &tk, pos, &at, method, &actor, given_at.is_some()],
            )?;
            !active
                || old.as_ref().is_some_and(|(_, m)| m != method)
                || given_at.is_some_and(|g| old_at.flatten().as_deref() != Some(g))
        } else if user {
            // A tombstone: the user's "not in this playlist" survives plugins' re-imports.
            tx.execute(
                "INSERT INTO cat_links (collection, key, property, target, target_key, position, added_at, method, actor, removed)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6, 'manual', ?7, 1)
                 ON CONFLICT (collection, key, property, target_key) DO UPDATE SET removed = 1, method = 'manual', actor = excluded.actor",
                vals![&sc, &sk, &sp, &tc, &tk, &at, &actor],
            )?;
            active
        } else {
            tx.execute(
                "DELETE FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3 AND target_key = ?4",
                vals![&sc, &sk, &sp, &tk],
            )?;
            active
        };
        if changed {
            let op = if on.is_some() { "link" } else { "unlink" };
            let shown = (method != DATA_LINK).then_some(method);
            let detail = if on.is_some() {
                json!({"property": sp, "target": tc, "target_key": tk, "method": shown, "added_at": at})
            } else {
                json!({"property": sp, "target": tc, "target_key": tk, "method": shown})
            };
            log_change(&tx, &sc, Some(&sk), op, &actor, &detail)?;
            check_bytes(&tx, &actor, access.quota)?;
            bump(&tx, &sc)?;
            bump(&tx, &tc)?;
        }
        tx.commit()?;
        Ok(changed)
    }
}

/// One link target given in an upsert.
pub(super) struct LinkIn {
    pub(super) key: String,
    pub(super) added_at: Option<String>,
    /// `"added_at": null` given: the date is unknown (stored as null), never the time of the
    /// write; a date the link already has is kept.
    pub(super) unknown_at: bool,
    /// How a plugin matched it (as `link`'s method), so a batch of matches is one upsert rather
    /// than one `link` call each; None keeps the method the link already has.
    pub(super) method: Option<MatchMethod>,
}

/// Replaces the non-manual links of one record's relation; returns what changed, or None.
#[allow(clippy::too_many_arguments)]
pub(super) fn replace_links(
    tx: &Db,
    collection: &str,
    key: &str,
    prop: &str,
    target: &str,
    wanted: &[LinkIn],
    actor: &str,
    at: &str,
    usage: &mut Usage,
    fresh: bool,
) -> Result<Option<Value>> {
    // A record this call inserts has no links yet (links need both records to exist).
    let existing: Vec<(String, Option<String>, String, i64)> = if fresh {
        Vec::new()
    } else {
        tx.query(
            "SELECT target_key, added_at, method, removed FROM cat_links
             WHERE collection = ?1 AND key = ?2 AND property = ?3 ORDER BY position, added_at",
            vals![collection, key, prop],
        )?
        .into_iter()
        .map(|r| (r.text(0), r.opt_text(1), r.text(2), r.int(3)))
        .collect()
    };
    let manual: HashSet<&str> = existing.iter().filter(|e| e.2 == "manual").map(|e| e.0.as_str()).collect();
    let current: Vec<(&str, Option<&str>, &str)> = existing
        .iter()
        .filter(|e| e.2 != "manual" && e.3 == 0)
        .map(|e| (e.0.as_str(), e.1.as_deref(), e.2.as_str()))
        .collect();
    let wanted: Vec<&LinkIn> = wanted.iter().filter(|l| !manual.contains(l.key.as_str())).collect();
    let same = current.len() == wanted.len()
        && current.iter().zip(&wanted).all(|((k, a, m), w)| {
            *k == w.key
                && (w.added_at.is_none() || w.added_at.as_deref() == *a)
                && w.method.is_none_or(|wm| wm.as_str() == *m)
        });
    if same {
        return Ok(None);
    }
    let old_at: HashMap<&str, Option<&str>> = current.iter().map(|c| (c.0, c.1)).collect();
    // A link a plugin matched (`link` with a method) keeps its method when re-upserted.
    let old_method: HashMap<&str, &str> =
        existing.iter().filter(|e| e.2 != "manual" && e.3 == 0).map(|e| (e.0.as_str(), e.2.as_str())).collect();
    let wanted_keys: HashSet<&str> = wanted.iter().map(|w| w.key.as_str()).collect();
    let removed: Vec<&str> = current.iter().map(|c| c.0).filter(|k| !wanted_keys.contains(k)).collect();
    let added: Vec<&str> = wanted.iter().map(|w| w.key.as_str()).filter(|k| !old_at.contains_key(k)).collect();
    if !fresh {
        tx.execute(
            "DELETE FROM cat_links WHERE collection = ?1 AND key = ?2 AND property = ?3 AND method != 'manual'",
            vals![collection, key, prop],
        )?;
    }
    // Links whose method this call sets or changes, for the change log.
    let mut methods = Map::new();
    for (i, w) in wanted.iter().enumerate() {
        let added_at = w.added_at.as_deref().or_else(|| old_at.get(w.key.as_str()).copied().flatten());
        let added_at = if w.unknown_at { added_at } else { Some(added_at.unwrap_or(at)) };
        let kept = old_method.get(w.key.as_str()).copied();
        let method = w.method.map(MatchMethod::as_str).or(kept).unwrap_or(DATA_LINK);
        if w.method.is_some() && kept != Some(method) {
            methods.insert(w.key.clone(), Value::from(method));
        }
        tx.execute(
            "INSERT INTO cat_links (collection, key, property, target, target_key, position, added_at, method, actor, removed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
            vals![collection, key, prop, target, &w.key, i as i64, added_at, method, actor],
        )?;
    }
    usage.add(actor, added.len() as i64 - removed.len() as i64, 0);
    let mut diff = json!({"added": added, "removed": removed, "count": wanted.len()});
    if !methods.is_empty() {
        diff["methods"] = Value::Object(methods);
    }
    Ok(Some(diff))
}
