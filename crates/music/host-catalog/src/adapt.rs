//! The catalog's older versions adapted up to the newest: `baton:plugin/catalog@0.4.0` (frozen,
//! `wit/v0.4/`; the catalog first shipped there, so it is the only older version) is the 0.5.0
//! interface under the core package's name, without `upsert-many`. Each 0.4.0 call converts
//! its arguments to 0.5.0's types, runs the 0.5.0 implementation (`v0_5`), and converts the
//! answer back: one implementation of grants, caps and deadlines, written against the newest
//! types, serves every version.
use baton_runtime::adapt::Conv;
use baton_runtime::{StoreState, conv};
use wasmtime::component::Linker;

use crate::wit as v5;
use crate::{Cat, CatView};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.4",
        world: "plugin",
        // Trappable, as 0.5.0: a call that outlives the task's time budget ends the task.
        imports: { "baton:plugin/catalog": async | trappable, default: async },
        exports: { default: async },
    });
}

use bindings::baton::plugin::catalog as v4;

/// Links `baton:plugin/catalog@0.4.0`.
pub(crate) fn add_to_linker(
    linker: &mut Linker<StoreState>,
    view: fn(&mut StoreState) -> CatView<'_>,
) -> wasmtime::Result<()> {
    v4::add_to_linker::<StoreState, Cat>(linker, view)
}

conv!(v4 <=> v5, enum PropertyKind {
        Text,
        Number,
        Date,
        Bool,
        Select,
        MultiSelect,
        Url,
        Relation,
    }
);
conv!(v4 <=> v5, enum MatchMethod {
        ExternalId,
        Isrc,
        Normalized,
        Fuzzy,
        Fingerprint,
        Manual,
    }
);
conv!(v4 <=> v5, enum Verdict {
        Match,
        Ambiguous,
        None,
    }
);
conv!(v4 <=> v5, variant CatalogError { Denied, Invalid, Quota, Io });
conv!(v4 <=> v5, record PropertySpec { id, name, kind, target, inverse, integer });
conv!(v4 <=> v5, record Property { id, name, kind, target, inverse, integer, owner, archived });
conv!(v4 <=> v5, record CollectionInfo { name, owner, records, read_only, properties });
conv!(v4 <=> v5, record UpsertReport { inserted, updated, unchanged });
conv!(v4 <=> v5, record Page { records, next });
conv!(v4 <=> v5, record LinkInfo { key, position, added_at, method });
conv!(v4 <=> v5, record Change { seq, collection, key, op, actor, at, detail });
conv!(v4 <=> v5, record TrackQuery { title, artists, duration_ms, isrc, external_ids, path });
conv!(v4 <=> v5, record Candidate { key, title, artists, duration_ms, score, method, reasons });
conv!(v4 <=> v5, record MatchOutcome { verdict, candidates });
conv!(v4 <=> v5, record Resolution { key, created, outcome });

type R<T> = wasmtime::Result<Result<T, v4::CatalogError>>;

impl v4::Host for CatView<'_> {
    async fn collections(&mut self) -> R<Vec<v4::CollectionInfo>> {
        Ok(v5::Host::collections(self).await?.conv())
    }
    async fn ensure_collection(&mut self, collection: String, properties: Vec<v4::PropertySpec>) -> R<()> {
        Ok(v5::Host::ensure_collection(self, collection, properties.conv()).await?.conv())
    }
    async fn rename_property(&mut self, collection: String, property: String, new_name: String) -> R<()> {
        Ok(v5::Host::rename_property(self, collection, property, new_name).await?.conv())
    }
    async fn remove_property(&mut self, collection: String, property: String) -> R<()> {
        Ok(v5::Host::remove_property(self, collection, property).await?.conv())
    }
    async fn upsert(&mut self, collection: String, records: String) -> R<v4::UpsertReport> {
        Ok(v5::Host::upsert(self, collection, records).await?.conv())
    }
    async fn get(&mut self, collection: String, key: String, archived: bool) -> R<Option<String>> {
        Ok(v5::Host::get(self, collection, key, archived).await?.conv())
    }
    async fn query(&mut self, collection: String, filter: String, cursor: Option<String>, limit: u32) -> R<v4::Page> {
        Ok(v5::Host::query(self, collection, filter, cursor, limit).await?.conv())
    }
    async fn links(&mut self, collection: String, key: String, property: String) -> R<Vec<v4::LinkInfo>> {
        Ok(v5::Host::links(self, collection, key, property).await?.conv())
    }
    async fn link(
        &mut self,
        collection: String,
        key: String,
        property: String,
        target_key: String,
        added_at: Option<String>,
        method: Option<v4::MatchMethod>,
    ) -> R<bool> {
        Ok(v5::Host::link(self, collection, key, property, target_key, added_at, method.conv()).await?.conv())
    }
    async fn unlink(&mut self, collection: String, key: String, property: String, target_key: String) -> R<bool> {
        Ok(v5::Host::unlink(self, collection, key, property, target_key).await?.conv())
    }
    async fn changes_since(&mut self, since: u64, limit: u32) -> R<Vec<v4::Change>> {
        Ok(v5::Host::changes_since(self, since, limit).await?.conv())
    }
    async fn match_track(&mut self, query: v4::TrackQuery) -> R<v4::MatchOutcome> {
        Ok(v5::Host::match_track(self, query.conv()).await?.conv())
    }
    async fn resolve_track(&mut self, query: v4::TrackQuery, record: String) -> R<v4::Resolution> {
        Ok(v5::Host::resolve_track(self, query.conv(), record).await?.conv())
    }
}
