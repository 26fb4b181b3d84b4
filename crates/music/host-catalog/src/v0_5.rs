//! `baton:music/catalog@0.5.0`, the newest catalog interface, implemented natively: each call
//! checks the guest's input, runs one [`baton_catalog::Catalog`] call through `call` (grants,
//! caps, deadline) and answers in this version's types. Older versions are adapted up to this
//! one (`adapt`), so a change here reaches every version, and a new version replaces this file's
//! types without passing through the frozen ones. Since 0.5.0 the music interfaces are their
//! own package (`wit/music/`), apart from the core `baton:plugin`.
use baton_catalog::bounds;
use baton_catalog::{CatalogError, Filter};
use baton_runtime::StoreState;
use wasmtime::component::Linker;

use crate::call::{WitResult, bounds_cancelled, denied, error, invalid};
use crate::convert::{
    file_relations, kind_from_wit, kind_to_wit, link_method, method_from_wit, outcome_to_wit, parse_records,
    track_query,
};
use crate::paths;
use crate::{Cat, CatView, MAX_CALL_BYTES, MAX_CHANGES, MAX_PAGE};

use crate::wit::{self, bindings};

/// Links `baton:music/catalog@0.5.0`, and the package's `types` (no functions; every music
/// host crate links it, so each works alone).
pub(crate) fn add_to_linker(
    linker: &mut Linker<StoreState>,
    view: fn(&mut StoreState) -> CatView<'_>,
) -> wasmtime::Result<()> {
    bindings::baton::music::types::add_to_linker::<StoreState, Cat>(linker, view)?;
    wit::add_to_linker::<StoreState, Cat>(linker, view)
}

impl bindings::baton::music::types::Host for CatView<'_> {}

impl wit::Host for CatView<'_> {
    async fn collections(&mut self) -> wasmtime::Result<WitResult<Vec<wit::CollectionInfo>>> {
        self.run(|cat, access, files| {
            let all = cat.collections(access).map_err(error)?;
            Ok(all
                .into_iter()
                .map(|c| wit::CollectionInfo {
                    records: if c.name == baton_catalog::schema::FILES { files.count(cat, access) } else { c.records },
                    name: c.name,
                    owner: c.owner,
                    read_only: c.read_only,
                    properties: c
                        .properties
                        .into_iter()
                        .map(|p| wit::Property {
                            id: p.id,
                            name: p.name,
                            kind: kind_to_wit(p.kind),
                            target: p.target,
                            inverse: p.inverse,
                            integer: p.integer,
                            owner: p.owner,
                            archived: p.archived,
                        })
                        .collect(),
                })
                .collect())
        })
        .await
    }

    async fn ensure_collection(
        &mut self,
        collection: String,
        properties: Vec<wit::PropertySpec>,
    ) -> wasmtime::Result<WitResult<()>> {
        let specs: Vec<baton_catalog::PropertySpec> = properties
            .into_iter()
            .map(|p| baton_catalog::PropertySpec {
                id: p.id,
                name: p.name,
                kind: kind_from_wit(p.kind),
                target: p.target,
                inverse: p.inverse,
                integer: p.integer,
            })
            .collect();
        self.run(move |cat, access, _| cat.ensure_collection(access, &collection, &specs).map_err(error)).await
    }

    async fn rename_property(
        &mut self,
        collection: String,
        property: String,
        new_name: String,
    ) -> wasmtime::Result<WitResult<()>> {
        self.run(move |cat, access, _| cat.rename_property(access, &collection, &property, &new_name).map_err(error))
            .await
    }

    async fn remove_property(&mut self, collection: String, property: String) -> wasmtime::Result<WitResult<()>> {
        self.run(move |cat, access, _| cat.remove_property(access, &collection, &property).map_err(error)).await
    }

    async fn upsert(&mut self, collection: String, records: String) -> wasmtime::Result<WitResult<wit::UpsertReport>> {
        let size = records.len();
        // Parsed, the records take about twice their text.
        let charge = size.saturating_mul(2);
        if let Err(e) = self.hold_as(&format!("{collection}: upsert"), size, charge) {
            return Ok(Err(e));
        }
        let r = self
            .run(move |cat, access, files| {
                let file_props = file_relations(cat, access, &collection)?;
                let records = parse_records(&collection, &records, &file_props, files, cat, access)?;
                let r = cat.upsert(access, &collection, &records).map_err(error)?;
                Ok(wit::UpsertReport { inserted: r.inserted, updated: r.updated, unchanged: r.unchanged })
            })
            .await;
        self.meter.release(charge);
        r
    }

    /// Every batch parsed and checked as `upsert` does, then written in one transaction
    /// ([`baton_catalog::Catalog::upsert_many`]): all or nothing. The batches together are one
    /// call's input (the per-call cap and the task's memory).
    async fn upsert_many(
        &mut self,
        batches: Vec<(String, String)>,
    ) -> wasmtime::Result<WitResult<Vec<wit::UpsertReport>>> {
        let size: usize = batches.iter().map(|(c, r)| c.len() + r.len()).sum();
        let charge = size.saturating_mul(2);
        if let Err(e) = self.hold_as("upsert-many", size, charge) {
            return Ok(Err(e));
        }
        let r = self
            .run(move |cat, access, files| {
                let mut parsed = Vec::with_capacity(batches.len());
                for (collection, text) in &batches {
                    let file_props = file_relations(cat, access, collection)?;
                    parsed.push(parse_records(collection, text, &file_props, files, cat, access)?);
                }
                let refs: Vec<(&str, &[baton_catalog::Record])> =
                    batches.iter().zip(&parsed).map(|((c, _), r)| (c.as_str(), r.as_slice())).collect();
                let reports = cat.upsert_many(access, &refs).map_err(error)?;
                Ok(reports
                    .into_iter()
                    .map(|r| wit::UpsertReport { inserted: r.inserted, updated: r.updated, unchanged: r.unchanged })
                    .collect())
            })
            .await;
        self.meter.release(charge);
        r
    }

    async fn get(
        &mut self,
        collection: String,
        key: String,
        archived: bool,
    ) -> wasmtime::Result<WitResult<Option<String>>> {
        let what = format!("{collection}/{key}");
        let r = self
            .run(move |cat, access, files| {
                let found = if collection == baton_catalog::schema::FILES {
                    cat.schema(access, &collection).map_err(error)?;
                    let Some(stored) = files.stored_key(cat, access, &key) else {
                        if files.host(&key).is_none() {
                            return Err(denied(format!("files/{key}: not inside the plugin's grants")));
                        }
                        return Ok((None, 0));
                    };
                    cat.get(access, &collection, &stored, archived).map_err(error)?
                } else {
                    cat.get(access, &collection, &key, archived).map_err(error)?
                };
                let file_props = file_relations(cat, access, &collection)?;
                let Some(rec) = found.and_then(|r| files.shape(&collection, r, &file_props)) else {
                    return Ok((None, 0));
                };
                let text = serde_json::to_string(&rec).map_err(|e| invalid(e.to_string()))?;
                let n = text.len();
                Ok((Some(text), n))
            })
            .await?;
        Ok(self.answer(&what, r))
    }

    async fn query(
        &mut self,
        collection: String,
        filter: String,
        cursor: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<WitResult<wit::Page>> {
        let what = format!("{collection}: query");
        let filter = match Filter::parse(&filter) {
            Ok(f) => f,
            Err(e) => return Ok(Err(invalid(format!("{collection}: filter {e}")))),
        };
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let r = self
            .run(move |cat, access, files| {
                let file_props = file_relations(cat, access, &collection)?;
                let is_files = collection == baton_catalog::schema::FILES;
                // The store's cursor is a record key; for `files` a host path, handed out opaque.
                let mut after = match cursor {
                    Some(c) if is_files => Some(
                        paths::decode_cursor(&c)
                            .ok_or_else(|| invalid(format!("files: cursor `{c}` is not one this host gave")))?,
                    ),
                    c => c,
                };
                let started_after = after.clone();
                let mut out: Vec<String> = Vec::new();
                let mut bytes = 2;
                let mut next = None;
                // `files`: only the grants' folders are read (a range of the path index each),
                // and only those rows are mapped to guest paths.
                let roots = if is_files { files.roots() } else { Vec::new() };
                'pages: loop {
                    let page = if is_files {
                        cat.files_under(access, &roots, after.as_deref(), 1000).map(|records| {
                            let next = (records.len() == 1000).then(|| records.last().map(|r| r.key.clone())).flatten();
                            baton_catalog::Page { records, next }
                        })
                    } else {
                        // What the page still needs (the store reads one more to tell whether
                        // more follow); once full, a few more, to find whether any is accepted.
                        let want = if out.len() < limit { limit - out.len() } else { 16 };
                        cat.query(access, &collection, &Filter::default(), false, after.as_deref(), want.min(1000))
                    };
                    let page = match page.and_then(|p| bounds::check().map(|()| p)) {
                        Ok(p) => p,
                        // Over the call's read or work cap once something was read: the page
                        // ends here and the cursor resumes after the last record examined.
                        Err(CatalogError::CallBound(_)) if after != started_after && !bounds_cancelled() => {
                            next = after.as_deref().map(|k| out_cursor(is_files, k));
                            break 'pages;
                        }
                        Err(e) => return Err(error(e)),
                    };
                    let last = page.records.last().map(|r| r.key.clone());
                    for rec in page.records {
                        let key = rec.key.clone();
                        let Some(rec) = files.shape(&collection, rec, &file_props) else { continue };
                        if !filter.accepts(&rec) {
                            continue;
                        }
                        let text = serde_json::to_string(&rec).map_err(|e| invalid(e.to_string()))?;
                        if out.len() == limit || bytes + text.len() + 1 > MAX_CALL_BYTES {
                            // Resume after the last record returned.
                            next = after.as_deref().map(|k| out_cursor(is_files, k));
                            break 'pages;
                        }
                        bytes += text.len() + 1;
                        out.push(text);
                        after = Some(key);
                    }
                    match (page.next, last) {
                        (Some(_), Some(l)) => after = Some(l),
                        _ => break,
                    }
                }
                Ok((wit::Page { records: format!("[{}]", out.join(",")), next }, bytes))
            })
            .await?;
        Ok(self.answer(&what, r))
    }

    async fn links(
        &mut self,
        collection: String,
        key: String,
        property: String,
    ) -> wasmtime::Result<WitResult<Vec<wit::LinkInfo>>> {
        self.run(move |cat, access, files| {
            let file_props = file_relations(cat, access, &collection)?;
            let to_files = file_props.contains(&property);
            let links = cat.links(access, &collection, &key, &property).map_err(error)?;
            Ok(links
                .into_iter()
                .filter_map(|l| {
                    let key = if to_files { files.guest(&l.key)? } else { l.key };
                    Some(wit::LinkInfo {
                        key,
                        position: u64::try_from(l.position).unwrap_or(0),
                        added_at: l.added_at,
                        method: link_method(l.method.as_deref()),
                    })
                })
                .collect())
        })
        .await
    }

    async fn link(
        &mut self,
        collection: String,
        key: String,
        property: String,
        target_key: String,
        added_at: Option<String>,
        method: Option<wit::MatchMethod>,
    ) -> wasmtime::Result<WitResult<bool>> {
        self.run(move |cat, access, files| {
            let file_props = file_relations(cat, access, &collection)?;
            let target_key = if file_props.contains(&property) {
                files.stored_key(cat, access, &target_key).or_else(|| files.follow_move(cat, access, &target_key)).ok_or_else(|| {
                    denied(format!("{collection}/{key}: property `{property}`: {target_key} is not a library file inside the plugin's grants"))
                })?
            } else {
                target_key
            };
            let method = method.map(method_from_wit);
            cat.link(access, &collection, &key, &property, &target_key, added_at.as_deref(), method).map_err(error)
        })
        .await
    }

    async fn unlink(
        &mut self,
        collection: String,
        key: String,
        property: String,
        target_key: String,
    ) -> wasmtime::Result<WitResult<bool>> {
        self.run(move |cat, access, files| {
            let file_props = file_relations(cat, access, &collection)?;
            let target_key = if file_props.contains(&property) {
                match files.stored_key(cat, access, &target_key) {
                    Some(k) => k,
                    None => return Ok(false),
                }
            } else {
                target_key
            };
            cat.unlink(access, &collection, &key, &property, &target_key).map_err(error)
        })
        .await
    }

    async fn changes_since(&mut self, since: u64, limit: u32) -> wasmtime::Result<WitResult<Vec<wit::Change>>> {
        let limit = limit.clamp(1, MAX_CHANGES) as usize;
        // Changes are read only while they fit one answer: the list ends early, and the plugin
        // asks again from the last `seq`.
        let r = self
            .run_reading(MAX_CALL_BYTES, move |cat, access, files| {
                let since = i64::try_from(since).unwrap_or(i64::MAX);
                let changes = cat.changes_since(access, since, limit).map_err(error)?;
                let mut bytes = 0;
                let out: Vec<wit::Change> = changes
                    .into_iter()
                    .map(|c| {
                        let detail = files.detail(c.detail).to_string();
                        bytes += detail.len() + c.collection.len() + c.op.len() + c.actor.len() + c.at.len() + 64;
                        wit::Change {
                            seq: u64::try_from(c.seq).unwrap_or(0),
                            collection: c.collection,
                            key: c.key,
                            op: c.op,
                            actor: c.actor,
                            at: c.at,
                            detail,
                        }
                    })
                    .collect();
                Ok((out, bytes))
            })
            .await?;
        Ok(self.answer("changes-since", r))
    }

    async fn match_track(&mut self, query: wit::TrackQuery) -> wasmtime::Result<WitResult<wit::MatchOutcome>> {
        self.run(move |cat, access, files| {
            let q = track_query(query, files)?;
            Ok(outcome_to_wit(cat.match_track(access, &q).map_err(error)?, files))
        })
        .await
    }

    async fn resolve_track(
        &mut self,
        query: wit::TrackQuery,
        record: String,
    ) -> wasmtime::Result<WitResult<wit::Resolution>> {
        if let Err(e) = self.hold("tracks: resolve-track", record.len()) {
            return Ok(Err(e));
        }
        let size = record.len();
        let r = self
            .run(move |cat, access, files| {
                let q = track_query(query, files)?;
                let found = cat.match_track(access, &q).map_err(error)?;
                let (key, created) = match found.verdict {
                    baton_catalog::Verdict::Match => (found.candidates.first().map(|c| c.key.clone()), false),
                    baton_catalog::Verdict::Ambiguous => (None, false),
                    baton_catalog::Verdict::None => {
                        let file_props = file_relations(cat, access, "tracks")?;
                        let records = parse_records("tracks", &format!("[{record}]"), &file_props, files, cat, access)?;
                        let key = records.first().map(|r| r.key.clone());
                        let report = cat.upsert(access, "tracks", &records).map_err(error)?;
                        (key, report.inserted > 0)
                    }
                };
                Ok(wit::Resolution { key, created, outcome: outcome_to_wit(found, files) })
            })
            .await;
        self.meter.release(size);
        r
    }
}

/// A page's `next`: a record key, or for `files` (keyed by host path) an opaque cursor.
fn out_cursor(is_files: bool, key: &str) -> String {
    if is_files { paths::encode_cursor(key) } else { key.to_string() }
}
