//! The plugins in `plugins/`, compiled to wasm32-wasip2 components by `build.rs`.
//!
//! `baton init` installs [`first_party`]. The test plugins (the hostile test kit, the
//! legacy-version fixtures) are embedded only with the `test-fixtures` feature, which the
//! test builds turn on through their dev-dependency; the shipped binary does not carry them.

/// One embedded component.
#[derive(Debug, Clone, Copy)]
pub struct Bundled {
    /// The plugin crate's name, which is also its plugin name.
    pub name: &'static str,
    /// The component bytes.
    pub wasm: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/bundle.rs"));

/// The plugins `baton init` installs: every first-party plugin.
pub fn first_party() -> impl Iterator<Item = &'static Bundled> {
    ALL.iter()
}

/// Any bundled plugin by name, the test plugins included when they are embedded.
pub fn get(name: &str) -> Option<&'static Bundled> {
    ALL.iter().chain(FIXTURES).find(|p| p.name == name)
}
