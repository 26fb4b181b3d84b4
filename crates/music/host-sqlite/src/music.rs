//! `baton:music/sqlite@0.5.0`: the sqlite interface under the music package's name (WIT 0.5.0
//! moved the music interfaces out of `baton:plugin`). The interface is the 0.4.0 one unchanged
//! and both share the snapshot resource type, so each call converts its values and runs the
//! 0.4.0 implementation in `lib.rs`: one implementation of grants, caps and deadlines.
use wasmtime::component::{Linker, Resource};

use baton_runtime::StoreState;

use crate::{SnapshotHandle, Sql, SqlView, wit as v4};

mod bindings {
    wasmtime::component::bindgen!({
        path: ["../../../wit/v0.5", "../../../wit/v0.5/music"],
        world: "baton:music/music",
        // Trappable, as for 0.4.0: a call that outlives the task's time budget ends the task.
        imports: { "baton:music/sqlite": async | trappable, default: async },
        exports: { default: async },
        with: { "baton:music/sqlite.snapshot": crate::SnapshotHandle },
    });
}

use bindings::baton::music::sqlite as v5;

/// Links `baton:music/sqlite@0.5.0` with the store view the 0.4.0 interface uses, and the
/// package's `types` (no functions; every music host crate links it, so each works alone).
pub(crate) fn add_to_linker(
    linker: &mut Linker<StoreState>,
    view: fn(&mut StoreState) -> SqlView<'_>,
) -> wasmtime::Result<()> {
    bindings::baton::music::types::add_to_linker::<StoreState, Sql>(linker, view)?;
    v5::add_to_linker::<StoreState, Sql>(linker, view)
}

impl bindings::baton::music::types::Host for SqlView<'_> {}

fn value_to_v4(v: v5::SqlValue) -> v4::SqlValue {
    match v {
        v5::SqlValue::Null => v4::SqlValue::Null,
        v5::SqlValue::Integer(i) => v4::SqlValue::Integer(i),
        v5::SqlValue::Real(f) => v4::SqlValue::Real(f),
        v5::SqlValue::Text(s) => v4::SqlValue::Text(s),
        v5::SqlValue::Blob(b) => v4::SqlValue::Blob(b),
    }
}

fn value_to_v5(v: v4::SqlValue) -> v5::SqlValue {
    match v {
        v4::SqlValue::Null => v5::SqlValue::Null,
        v4::SqlValue::Integer(i) => v5::SqlValue::Integer(i),
        v4::SqlValue::Real(f) => v5::SqlValue::Real(f),
        v4::SqlValue::Text(s) => v5::SqlValue::Text(s),
        v4::SqlValue::Blob(b) => v5::SqlValue::Blob(b),
    }
}

fn error_to_v5(e: v4::SqliteError) -> v5::SqliteError {
    match e {
        v4::SqliteError::Denied(m) => v5::SqliteError::Denied(m),
        v4::SqliteError::Invalid(m) => v5::SqliteError::Invalid(m),
        v4::SqliteError::Busy(m) => v5::SqliteError::Busy(m),
        v4::SqliteError::Io(m) => v5::SqliteError::Io(m),
    }
}

impl v5::Host for SqlView<'_> {}

impl v5::HostSnapshot for SqlView<'_> {
    async fn open(&mut self, path: String) -> wasmtime::Result<Result<Resource<SnapshotHandle>, v5::SqliteError>> {
        Ok(v4::HostSnapshot::open(self, path).await?.map_err(error_to_v5))
    }

    async fn query(
        &mut self,
        snapshot: Resource<SnapshotHandle>,
        sql: String,
        params: Vec<v5::SqlValue>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<v5::Rows, v5::SqliteError>> {
        let params = params.into_iter().map(value_to_v4).collect();
        let r = v4::HostSnapshot::query(self, snapshot, sql, params, max_rows).await?;
        Ok(r.map(|rows| v5::Rows {
            columns: rows.columns,
            rows: rows.rows.into_iter().map(|r| r.into_iter().map(value_to_v5).collect()).collect(),
            more: rows.more,
        })
        .map_err(error_to_v5))
    }

    async fn drop(&mut self, snapshot: Resource<SnapshotHandle>) -> wasmtime::Result<()> {
        v4::HostSnapshot::drop(self, snapshot).await
    }
}
