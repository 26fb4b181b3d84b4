//! Host bindings generated from `wit/plugin.wit` (`baton:plugin@0.1.0`).
wasmtime::component::bindgen!({
    path: "../../wit",
    world: "plugin",
    imports: { default: async },
    exports: { default: async },
});

pub use baton::plugin::types;
