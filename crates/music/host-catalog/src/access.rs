//! What a plugin asks of the catalog: its `catalog-access` export, read once at load, right
//! after `describe` and in the same instance ([`baton_runtime::HostInterface::requests`]).
//!
//! The export belongs to the worlds that import the catalog: `baton:plugin/plugin@0.4.0`
//! (frozen; the runtime's 0.4.0 bindings already checked that it is there), and since 0.5.0
//! the music world, `baton:music/music`. A 0.5.0 component was built against the music world
//! when it imports anything of `baton:music` (every such component imports its `types`); one
//! built against the core world is never asked, whatever it happens to export, so versions and
//! worlds are told apart by imports, never by exports.
use baton_runtime::{AccessRequest, Described, StoreState, WorldVersion};
use wasmtime::Store;
use wasmtime::component::{ComponentType, Lift};

/// `collection-request`, the same record in `baton:plugin/types@0.4.0` and
/// `baton:music/types@0.5.0` (records are checked by their fields' names and types).
#[derive(ComponentType, Lift)]
#[component(record)]
struct CollectionRequest {
    name: String,
    writable: bool,
    purpose: String,
}

const EXPORT: &str = "catalog-access";

/// Whether a component of `world` that imports (or not) `baton:music` was built against a
/// world that exports `catalog-access`.
fn has_catalog_access(world: WorldVersion, imports_music: bool) -> bool {
    match (world.major, world.minor) {
        (0, 0..=3) => false,
        (0, 4) => true,
        _ => imports_music,
    }
}

/// The collections `plugin` asks for, as its `catalog-access` says (none when its world has
/// no such export).
pub(crate) async fn requested(
    plugin: Described<'_>,
    store: &mut Store<StoreState>,
) -> wasmtime::Result<Vec<AccessRequest>> {
    let engine = store.engine().clone();
    let imports_music = plugin.component.component_type().imports(&engine).any(|(n, _)| n.starts_with("baton:music/"));
    if !has_catalog_access(plugin.world, imports_music) {
        return Ok(Vec::new());
    }
    let Some(export) = plugin.instance.get_export_index(&mut *store, None, EXPORT) else {
        wasmtime::bail!(
            "it imports baton:music but does not export `{EXPORT}`, which the music world (wit/music/) \
             requires; rebuild it against that world"
        );
    };
    let call = plugin
        .instance
        .get_typed_func::<(), (Vec<CollectionRequest>,)>(&mut *store, &export)
        .map_err(|e| e.context(format!("its `{EXPORT}` export does not have the music world's type")))?;
    let (asked,) = call.call_async(&mut *store, ()).await?;
    Ok(asked.into_iter().map(|c| AccessRequest { name: c.name, writable: c.writable, purpose: c.purpose }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_worlds_with_the_catalog_have_catalog_access() {
        let v = |minor| WorldVersion { major: 0, minor };
        for minor in 1..=3 {
            assert!(!has_catalog_access(v(minor), false), "0.{minor}");
        }
        assert!(has_catalog_access(v(4), false), "0.4.0's one world has it");
        assert!(has_catalog_access(v(5), true), "0.5.0's music world has it");
        assert!(!has_catalog_access(v(5), false), "0.5.0's core world does not, whatever it exports");
    }
}
