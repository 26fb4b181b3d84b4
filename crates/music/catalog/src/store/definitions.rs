//! Collections and their properties: declaring them (and a relation's other side), renaming
//! and removing a property (its values archived), and reading a collection's schema.
use super::*;

impl Catalog {
    /// Creates `collection` if missing and declares `props` on it (existing ones are kept as
    /// they are, an archived one comes back with its values). A plugin creates only collections
    /// named `<plugin>.<name>` and adds to other collections only properties named
    /// `<plugin>.<name>`.
    pub fn ensure_collection(&mut self, access: &Access, collection: &str, props: &[PropertySpec]) -> Result<()> {
        let _span = tracing::info_span!("catalog.ensure", collection, actor = %access.actor).entered();
        if !schema::valid_id(collection) {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: "a collection name is snake_case, optionally `<plugin>.<name>`".into(),
            });
        }
        let actor = access.actor.clone();
        if !access.is_user() && schema::owner_of(collection) != actor && !collection_exists(&self.db, collection)? {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!("`{actor}` may create only collections named `{actor}.<name>`"),
            });
        }
        let tx = self.begin_write(access, collection)?;
        if !collection_exists(&tx, collection)? {
            create_collection(&tx, collection, &actor, &actor)?;
        }
        let coll_owner = tx.query_one("SELECT owner FROM cat_collections WHERE name = ?1", vals![collection])?.text(0);
        for spec in props {
            let spec = &PropertySpec { kind: schema::declared_kind(spec), ..spec.clone() };
            if !schema::valid_id(&spec.id) {
                return Err(CatalogError::Schema {
                    collection: collection.into(),
                    detail: format!("property id `{}` is not snake_case (`name` or `<plugin>.<name>`)", spec.id),
                });
            }
            let implied = schema::owner_of(&spec.id);
            let owner = if implied != CORE { implied.to_string() } else { coll_owner.clone() };
            if !access.is_user() && owner != actor {
                return Err(CatalogError::NotOwner {
                    collection: collection.into(),
                    key: "(schema)".into(),
                    property: spec.id.clone(),
                    owner,
                    actor,
                });
            }
            if matches!(spec.kind, Kind::Relation | Kind::Entries)
                && let Some(t) = &spec.target
                && t != FILES
                && !collection_exists(&tx, t)?
            {
                return Err(CatalogError::Schema {
                    collection: collection.into(),
                    detail: format!("relation `{}` targets `{t}`, which does not exist", spec.id),
                });
            }
            if let (Some(t), Some(inv)) = (&spec.target, &spec.inverse) {
                check_inverse(&tx, access, collection, spec, t, inv, &owner)?;
            }
            ensure_property(&tx, collection, spec, &owner, true)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Renames a property's display name; its id and values stay.
    pub fn rename_property(&mut self, access: &Access, collection: &str, id: &str, new_name: &str) -> Result<()> {
        let actor = access.actor.clone();
        let tx = self.begin_write(access, collection)?;
        let prop = property_for_change(&tx, access, collection, id)?;
        if new_name.trim().is_empty() {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: "a property name cannot be empty".into(),
            });
        }
        tx.execute(
            "UPDATE cat_properties SET name = ?3 WHERE collection = ?1 AND id = ?2",
            vals![collection, id, new_name],
        )?;
        log_change(
            &tx,
            collection,
            None,
            "rename_property",
            &actor,
            &json!({"property": id, "from": prop.name, "to": new_name}),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a property: it leaves the schema, its values are archived (kept, shown with
    /// `archived`), and declaring it again brings them back.
    pub fn remove_property(&mut self, access: &Access, collection: &str, id: &str) -> Result<()> {
        let actor = access.actor.clone();
        let tx = self.begin_write(access, collection)?;
        let prop = property_for_change(&tx, access, collection, id)?;
        if prop.kind == Kind::Relation && prop.target.is_some() {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!("`{id}` is a relation; unlink its records instead of removing it"),
            });
        }
        if prop.kind == Kind::Entries {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!("`{id}` is a list of entries; write an empty list to a record instead of removing it"),
            });
        }
        tx.execute("UPDATE cat_properties SET archived = 1 WHERE collection = ?1 AND id = ?2", vals![collection, id])?;
        log_change(&tx, collection, None, "remove_property", &actor, &json!({"property": id, "name": prop.name}))?;
        bump(&tx, collection)?;
        tx.commit()?;
        Ok(())
    }
}

pub(super) fn create_collection(tx: &Db, name: &str, owner: &str, actor: &str) -> Result<()> {
    let seq = log_change(tx, name, None, "create_collection", actor, &json!({"owner": owner}))?;
    tx.execute("INSERT INTO cat_collections (name, owner, created_seq) VALUES (?1, ?2, ?3)", vals![name, owner, seq])?;
    Ok(())
}

/// Declares one property (and a relation's other side) unless it exists; an archived one is
/// restored.
/// Declares `spec` on `collection`; an archived property comes back only when `restore`
/// (an explicit declaration), never when the core schema is merely re-checked at open.
pub(super) fn ensure_property(
    tx: &Db,
    collection: &str,
    spec: &PropertySpec,
    owner: &str,
    restore: bool,
) -> Result<()> {
    let existing: Option<(String, i64)> = tx
        .query_opt(
            "SELECT kind, archived FROM cat_properties WHERE collection = ?1 AND id = ?2",
            vals![collection, &spec.id],
        )?
        .map(|r| (r.text(0), r.int(1)));
    if let Some((kind, archived)) = existing {
        if kind == Kind::Text.as_str() && spec.kind == Kind::Entries {
            // A catalog from before entries had a kind: the list kept as JSON text moves in.
            return entries_from_text(tx, collection, spec, owner);
        }
        if kind != spec.kind.as_str() {
            return Err(CatalogError::Schema {
                collection: collection.into(),
                detail: format!(
                    "property `{}` is a {kind}, not a {} (ids are stable: declare a new id)",
                    spec.id,
                    spec.kind.as_str()
                ),
            });
        }
        if archived == 1 && restore {
            tx.execute(
                "UPDATE cat_properties SET archived = 0 WHERE collection = ?1 AND id = ?2",
                vals![collection, &spec.id],
            )?;
            log_change(tx, collection, None, "restore_property", owner, &json!({"property": spec.id}))?;
        }
        return Ok(());
    }
    if matches!(spec.kind, Kind::Relation | Kind::Entries) && spec.target.is_none() {
        return Err(CatalogError::Schema {
            collection: collection.into(),
            detail: format!("{} `{}` needs a target collection", spec.kind.as_str(), spec.id),
        });
    }
    let pos = tx.query_one("SELECT count(*) FROM cat_properties WHERE collection = ?1", vals![collection])?.int(0);
    let name = spec.name.clone().unwrap_or_else(|| spec.id.clone());
    tx.execute(
        "INSERT INTO cat_properties (collection, id, name, kind, target, inverse, stored, \"integer\", owner, archived, position)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, 0, ?9)",
        vals![collection, &spec.id, &name, spec.kind.as_str(), &spec.target, &spec.inverse, spec.integer, owner, pos],
    )?;
    log_change(tx, collection, None, "add_property", owner, &json!({"property": spec.id, "kind": spec.kind.as_str()}))?;
    if let (Some(t), Some(inv)) = (&spec.target, &spec.inverse)
        && t != FILES
        && !tx.exists("SELECT 1 FROM cat_properties WHERE collection = ?1 AND id = ?2", vals![t, inv])?
    {
        let pos = tx.query_one("SELECT count(*) FROM cat_properties WHERE collection = ?1", vals![t])?.int(0);
        let display = inv.split('.').next_back().unwrap_or(inv).replace('_', " ");
        let display = display[..1].to_uppercase() + &display[1..];
        tx.execute(
                "INSERT INTO cat_properties (collection, id, name, kind, target, inverse, stored, \"integer\", owner, archived, position)
                 VALUES (?1, ?2, ?3, 'relation', ?4, ?5, 0, 0, ?6, 0, ?7)",
                vals![t, inv, &display, collection, &spec.id, owner, pos],
            )?;
        log_change(
            tx,
            t,
            None,
            "add_property",
            owner,
            &json!({"property": inv, "kind": "relation", "inverse_of": format!("{collection}.{}", spec.id)}),
        )?;
    }
    Ok(())
}

/// The migration of a list kept as text: `spec` (an entries list) was declared before as a
/// text property holding the list as JSON (`[{"track", "position"}]`, as the djay plugin wrote
/// playlists' entries before issue 81). Each record's value moves into `cat_entries` and leaves
/// its properties, and the property becomes an entries list. A value that is not such a list
/// stays in the record's properties as it was (nothing is lost) and is logged.
fn entries_from_text(tx: &Db, collection: &str, spec: &PropertySpec, owner: &str) -> Result<()> {
    let target = spec.target.clone().unwrap_or_default();
    let rows = tx.query("SELECT key, props FROM cat_records WHERE collection = ?1 ORDER BY key", vals![collection])?;
    let (mut moved, mut kept) = (0u64, 0u64);
    for r in rows {
        let (key, text) = (r.text(0), r.text(1));
        let Ok(mut props) = serde_json::from_str::<Map<String, Value>>(&text) else { continue };
        let Some(value) = props.get(&spec.id).cloned() else { continue };
        let parsed = value.as_str().and_then(|t| serde_json::from_str::<Value>(t).ok()).map(|v| parse_entries(&v));
        let Some(Ok(list)) = parsed else {
            kept += 1;
            tracing::warn!(collection, key, property = %spec.id, "not a JSON list of entries: kept as text");
            continue;
        };
        for e in &list {
            tx.execute(
                "INSERT INTO cat_entries (collection, key, property, position, target, target_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (collection, key, property, position) DO NOTHING",
                vals![collection, &key, &spec.id, e.position, &target, &e.key],
            )?;
        }
        props.remove(&spec.id);
        let new = serde_json::to_string(&props).unwrap_or(text);
        tx.execute(
            "UPDATE cat_records SET props = ?3, bytes = ?4 WHERE collection = ?1 AND key = ?2",
            vals![collection, &key, &new, new.len() as i64],
        )?;
        moved += 1;
    }
    tx.execute(
        "UPDATE cat_properties SET kind = ?3, target = ?4 WHERE collection = ?1 AND id = ?2",
        vals![collection, &spec.id, Kind::Entries.as_str(), &target],
    )?;
    log_change(
        tx,
        collection,
        None,
        "migrate_property",
        owner,
        &json!({"property": spec.id, "from": "text", "to": "entries", "records": moved, "kept_as_text": kept}),
    )?;
    bump(tx, collection)?;
    Ok(())
}

/// A relation's `inverse` adds a property to the target collection, so it is checked as such a
/// property would be (an inverse reaches no further than declaring the property would): a well-formed id, a target the caller may write, the caller's
/// own id (`<actor>.<name>`, unless the user declares it), and never an existing property that
/// is not already this relation's inverse.
pub(super) fn check_inverse(
    tx: &Db,
    access: &Access,
    collection: &str,
    spec: &PropertySpec,
    target: &str,
    inv: &str,
    owner: &str,
) -> Result<()> {
    let bad = |detail: String| CatalogError::Schema { collection: collection.into(), detail };
    if !schema::valid_id(inv) {
        return Err(bad(format!(
            "relation `{}`: inverse id {:?} is not snake_case (`<plugin>.<name>`)",
            spec.id,
            inv.chars().take(80).collect::<String>()
        )));
    }
    if target == FILES {
        return Ok(());
    }
    if !access.is_user() {
        if !access.can_write(target) {
            return Err(CatalogError::NotGranted {
                actor: access.actor.clone(),
                collection: target.into(),
                op: "write",
            });
        }
        let inv_owner = schema::owner_of(inv);
        let inv_owner = if inv_owner == CORE { owner } else { inv_owner };
        if inv_owner != access.actor {
            return Err(CatalogError::NotOwner {
                collection: target.into(),
                key: "(schema)".into(),
                property: inv.into(),
                owner: inv_owner.into(),
                actor: access.actor.clone(),
            });
        }
    }
    let existing = tx
        .query_opt("SELECT target, inverse FROM cat_properties WHERE collection = ?1 AND id = ?2", vals![target, inv])?
        .map(|r| (r.opt_text(0), r.opt_text(1)));
    if let Some((t, i)) = existing
        && (t.as_deref() != Some(collection) || i.as_deref() != Some(spec.id.as_str()))
    {
        return Err(bad(format!(
            "relation `{}`: inverse `{inv}` already exists on `{target}` as another property",
            spec.id
        )));
    }
    Ok(())
}

/// A property the caller may rename or remove.
pub(super) fn property_for_change(tx: &Db, access: &Access, collection: &str, id: &str) -> Result<Property> {
    if !collection_exists(tx, collection)? {
        return Err(CatalogError::UnknownCollection(collection.into()));
    }
    let schema = load_schema(tx, collection)?;
    let p = schema.get(id).filter(|p| !p.archived).ok_or_else(|| unknown(&schema, "(schema)", id))?.clone();
    if !access.is_user() && p.owner != access.actor {
        return Err(CatalogError::NotOwner {
            collection: collection.into(),
            key: "(schema)".into(),
            property: id.into(),
            owner: p.owner,
            actor: access.actor.clone(),
        });
    }
    Ok(p)
}

pub(super) fn load_schema(db: &Db, collection: &str) -> Result<Schema> {
    let props = db
        .query(
            "SELECT id, name, kind, target, inverse, stored, \"integer\", owner, archived FROM cat_properties
             WHERE collection = ?1 ORDER BY position",
            vals![collection],
        )?
        .iter()
        .map(|r| Property {
            id: r.text(0),
            name: r.text(1),
            kind: Kind::parse(r.str(2)).unwrap_or(Kind::Text),
            target: r.opt_text(3),
            inverse: r.opt_text(4),
            stored: r.bool(5),
            integer: r.bool(6),
            owner: r.text(7),
            archived: r.bool(8),
        })
        .collect();
    Ok(Schema { collection: collection.into(), props })
}
