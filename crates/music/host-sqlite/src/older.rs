//! `baton:plugin/sqlite@0.4.0`, where the interface first shipped (under the core package's
//! name; 0.5.0 moved it to `baton:music`, unchanged), adapted up to the newest (`lib.rs`): each
//! call converts its values (`baton_runtime::adapt`), runs the newest implementation and
//! converts the answer back, so grants, caps and deadlines are written once. Both versions share
//! the snapshot resource type ([`SnapshotHandle`]).
use baton_runtime::adapt::Conv;
use baton_runtime::{StoreState, conv};
use wasmtime::component::{Linker, Resource};

use crate::{SnapshotHandle, Sql, SqlView, wit as v5};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.4",
        world: "plugin",
        // Trappable, as the newest: a call that outlives the task's time budget ends the task.
        imports: { "baton:plugin/sqlite": async | trappable, default: async },
        exports: { default: async },
        with: { "baton:plugin/sqlite.snapshot": crate::SnapshotHandle },
    });
}

use bindings::baton::plugin::sqlite as v4;

/// Links `baton:plugin/sqlite@0.4.0` with the newest interface's store view.
pub(crate) fn add_to_linker(
    linker: &mut Linker<StoreState>,
    view: fn(&mut StoreState) -> SqlView<'_>,
) -> wasmtime::Result<()> {
    v4::add_to_linker::<StoreState, Sql>(linker, view)
}

conv!(v4 <=> v5, variant SqliteError { Denied, Invalid, Busy, Io });
conv!(v5 => v4, record Rows { columns, rows, more });

/// `null` has no payload, which [`conv!`] does not cover.
macro_rules! sql_value {
    ($a:ident => $b:ident) => {
        impl Conv<$b::SqlValue> for $a::SqlValue {
            fn conv(self) -> $b::SqlValue {
                match self {
                    $a::SqlValue::Null => $b::SqlValue::Null,
                    $a::SqlValue::Integer(i) => $b::SqlValue::Integer(i),
                    $a::SqlValue::Real(f) => $b::SqlValue::Real(f),
                    $a::SqlValue::Text(s) => $b::SqlValue::Text(s),
                    $a::SqlValue::Blob(b) => $b::SqlValue::Blob(b),
                }
            }
        }
    };
}
sql_value!(v4 => v5);
sql_value!(v5 => v4);

impl v4::Host for SqlView<'_> {}

impl v4::HostSnapshot for SqlView<'_> {
    async fn open(&mut self, path: String) -> wasmtime::Result<Result<Resource<SnapshotHandle>, v4::SqliteError>> {
        Ok(v5::HostSnapshot::open(self, path).await?.conv())
    }

    async fn query(
        &mut self,
        snapshot: Resource<SnapshotHandle>,
        sql: String,
        params: Vec<v4::SqlValue>,
        max_rows: u32,
    ) -> wasmtime::Result<Result<v4::Rows, v4::SqliteError>> {
        Ok(v5::HostSnapshot::query(self, snapshot, sql, params.conv(), max_rows).await?.conv())
    }

    async fn drop(&mut self, snapshot: Resource<SnapshotHandle>) -> wasmtime::Result<()> {
        v5::HostSnapshot::drop(self, snapshot).await
    }
}
