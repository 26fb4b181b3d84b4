//! The generated bindings of `baton:music@0.5.0`, the newest music package: its types are
//! what the rest of the crate calls the catalog's (`wit`). A module of its own, below every
//! module that uses it (the newest version's implementation, the conversions, the call and
//! the older versions' adapters), so that none of them needs another in a circle.

pub(crate) mod bindings {

    wasmtime::component::bindgen!({
        path: ["../../../wit/v0.5", "../../../wit/v0.5/music"],
        world: "baton:music/music",
        // Trappable: a call that outlives the task's time budget ends the task `timeout`.
        imports: { "baton:music/catalog": async | trappable, default: async },
        exports: { default: async },
    });
}

/// The generated types of the newest catalog interface, as the rest of the crate names them.
pub(crate) use bindings::baton::music::catalog::*;
