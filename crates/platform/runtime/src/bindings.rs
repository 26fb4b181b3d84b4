//! Host bindings, one module per minor version of `baton:plugin` the host has ever shipped.
//!
//! Why one `bindgen!` per version (the pattern of Zed's extension host): component-model
//! versions `0.x` are semver-incompatible across minors, so a plugin built against `@0.1.0`
//! imports `baton:plugin/host@0.1.0` and nothing newer can satisfy it. The host therefore
//! links every version side by side and picks the bindings by what the component imports
//! (see [`crate::version`]). Old WIT files are frozen under `wit/v<major>.<minor>/`.
//!
//! Imports are `trappable`: a host function can end the task (a quota it went over) instead
//! of answering.

/// `baton:plugin@0.6.0` (`wit/plugin.wit`), the current core: `types`, `host`, and the world
/// `plugin` (`describe`, `handle`); adds `task.inputs` and `failure.needs-input` (a TASK can
/// ask back). The music interfaces are `baton:music@0.5.0` (the 0.6.0 music world imports them
/// unchanged), bound by the host interface crates that implement them (`baton-host-fp`,
/// `-catalog`, `-sqlite`): a component built against the music world instantiates through
/// these core bindings, and its music imports are whatever those crates linked.
pub mod v0_6 {
    wasmtime::component::bindgen!({
        path: "../../../wit",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `baton:plugin@0.5.0` (`wit/v0.5/plugin.wit`), frozen: the split (the music interfaces moved
/// to `baton:music@0.5.0`).
pub mod v0_5 {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.5",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `baton:plugin@0.4.0` (`wit/v0.4/plugin.wit`), frozen: adds the `catalog` and
/// `sqlite` interfaces, the `catalog-access` export, `host.settings`, `host.guest-path`,
/// `host.host-path` and `fingerprint.library-fingerprint`.
pub mod v0_4 {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.4",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `baton:plugin@0.3.0` (`wit/v0.3/plugin.wit`), frozen: adds the `fingerprint` interface.
pub mod v0_3 {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.3",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `baton:plugin@0.2.0` (`wit/v0.2/plugin.wit`), frozen: adds `host.remaining-ms`.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.2",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// `baton:plugin@0.1.0` (`wit/v0.1/plugin.wit`), frozen.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../../wit/v0.1",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}
