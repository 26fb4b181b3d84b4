//! The plugins in `plugins/`, compiled to wasm32-wasip2 components by `build.rs`.
//!
//! `baton init` installs [`first_party`]; tests also use the test-only plugins.

/// One embedded component.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    /// The plugin crate's name, which is also its plugin name.
    pub name: &'static str,
    /// The component bytes.
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/bundle.rs"));

/// Plugins that exist only to test the host; never installed by `baton init`.
pub const TEST_ONLY: &[&str] = &["testkit", "legacy-echo", "legacy-v0-2", "legacy-v0-3"];

/// The plugins `baton init` installs.
pub fn first_party() -> impl Iterator<Item = &'static Bundled> {
    ALL.iter().filter(|p| !TEST_ONLY.contains(&p.name))
}

/// Any bundled plugin by name, test-only ones included.
pub fn get(name: &str) -> Option<&'static Bundled> {
    ALL.iter().find(|p| p.name == name)
}
