//! Which `baton:plugin` version a component was built against, and the per-version glue:
//! instantiate, `describe`, `handle`, converting each version's generated types to the
//! host's own (so the rest of the runtime never sees a versioned type).
//!
//! Adding a version: freeze the current `wit/plugin.wit` under `wit/v<major>.<minor>/`, add a
//! `bindgen!` module in `bindings.rs`, a `Pre` variant and a `glue!` line here, and the new
//! host functions in `host.rs`. Old plugins keep working because every version stays linked.
//! Since 0.5.0 the music interfaces are the package `baton:music` (`wit/music/`), versioned with
//! the core: a new version also gets a music `bindgen!` and its interfaces in the host crates.
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::bindings::{v0_1, v0_2, v0_3, v0_4, v0_5, v0_5_music};
use crate::host::StoreState;
use crate::{AccessRequest, ActionInfo, PluginInfo, TaskInput};

/// A `baton:plugin` version (`major.minor`; patch levels are compatible by definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct WorldVersion {
    pub major: u32,
    pub minor: u32,
}

impl std::fmt::Display for WorldVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.x", self.major, self.minor)
    }
}

/// Every version this host links, oldest first. The last one is what `wit/plugin.wit` is.
pub const SUPPORTED: &[WorldVersion] = &[
    WorldVersion { major: 0, minor: 1 },
    WorldVersion { major: 0, minor: 2 },
    WorldVersion { major: 0, minor: 3 },
    WorldVersion { major: 0, minor: 4 },
    WorldVersion { major: 0, minor: 5 },
];

pub fn supported_list() -> String {
    SUPPORTED.iter().map(|v| format!("@{v}")).collect::<Vec<_>>().join(", ")
}

/// Links every supported version's host interfaces.
pub fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    type Me = wasmtime::component::HasSelf<StoreState>;
    v0_1::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_2::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_3::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_4::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_5::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    // The music package's interfaces one by one: its world's `host` is v0_5's, linked above.
    v0_5_music::baton::music::types::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_5_music::baton::music::fingerprint::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_5_music::baton::music::catalog::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_5_music::baton::music::sqlite::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    Ok(())
}

/// Reads the version off the component's imports (`baton:plugin/host@0.1.0`,
/// `baton:music/catalog@0.5.0` …; the music package is versioned with the core). Only imports
/// count, never which exports happen to exist: a component that imports nothing of baton's
/// (it never calls the host and uses no baton type) gets the newest core bindings, which fit
/// every version's `describe` and `handle` (their types never changed); it cannot reach the
/// catalog, so its `catalog-access`, if any, does not matter.
pub fn detect(engine: &Engine, component: &Component) -> Result<WorldVersion, String> {
    let ty = component.component_type();
    let mut found: Option<WorldVersion> = None;
    for (name, _) in ty.imports(engine) {
        let Some(rest) = name.strip_prefix("baton:plugin/").or_else(|| name.strip_prefix("baton:music/")) else {
            continue;
        };
        let Some((_, ver)) = rest.split_once('@') else {
            return Err(format!("it imports `{name}` without a version; rebuild it against wit/ from this baton"));
        };
        let mut parts = ver.split('.').map(|p| p.parse::<u32>());
        let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
            return Err(format!("it imports `{name}`, whose version is not major.minor.patch"));
        };
        let v = WorldVersion { major, minor };
        if let Some(prev) = found.filter(|prev| *prev != v) {
            return Err(format!("it imports two versions of baton:plugin or baton:music (@{prev} and @{v})"));
        }
        found = Some(v);
    }
    let v = found.unwrap_or(WorldVersion { major: 0, minor: 5 });
    if !SUPPORTED.contains(&v) {
        let newest = SUPPORTED.last().expect("at least one version");
        let hint = if v > *newest { "upgrade baton" } else { "rebuild the plugin against wit/ from this baton" };
        return Err(format!(
            "it was built against baton:plugin@{v}; this baton supports {} ({hint})",
            supported_list()
        ));
    }
    Ok(v)
}

/// A pre-instantiated component, for the version it was built against.
#[derive(Clone)]
pub enum Pre {
    V0_1(v0_1::PluginPre<StoreState>),
    V0_2(v0_2::PluginPre<StoreState>),
    V0_3(v0_3::PluginPre<StoreState>),
    V0_4(v0_4::PluginPre<StoreState>),
    /// 0.5.0, the core world: a component that imports nothing of `baton:music`.
    V0_5(v0_5::PluginPre<StoreState>),
    /// 0.5.0, the music world (`catalog-access` too): a component that imports `baton:music`.
    V0_5Music(v0_5_music::MusicPre<StoreState>),
}

/// Whether the component imports anything of the `baton:music` package (so it was built
/// against the music world, and its `catalog-access` is read).
pub fn imports_music(engine: &Engine, component: &Component) -> bool {
    component.component_type().imports(engine).any(|(name, _)| name.starts_with("baton:music/"))
}

/// A plugin's successful result before the host checks it.
pub struct RawOutcome {
    pub summary: String,
    pub result: String,
    pub artifacts: Vec<String>,
}

/// A plugin's own failure report.
pub enum RawFailure {
    InvalidInput(String),
    Transient(String),
    Permanent(String),
}

/// The version-specific half of a call: the same code over each version's generated types.
macro_rules! glue {
    (@collections none, $plugin:ident, $store:ident) => {
        Vec::new()
    };
    // 0.4.0 and later: the collections come from the `catalog-access` export.
    (@collections catalog, $plugin:ident, $store:ident) => {
        $plugin
            .call_catalog_access(&mut *$store)
            .await?
            .into_iter()
            .map(|c| AccessRequest { name: c.name, writable: c.writable, purpose: c.purpose })
            .collect()
    };
    ($v:ident, $collections:ident) => {
        glue!($v, $v, PluginPre, $collections);
    };
    ($m:ident, $v:ident, $pre:ident, $collections:ident) => {
        pub mod $m {
            use super::*;
            use crate::bindings::$v::baton::plugin::types as wit;

            pub async fn describe(
                pre: &crate::bindings::$m::$pre<StoreState>,
                store: &mut Store<StoreState>,
            ) -> wasmtime::Result<PluginInfo> {
                let plugin = pre.instantiate_async(&mut *store).await?;
                let i = plugin.call_describe(&mut *store).await?;
                let collections: Vec<AccessRequest> = glue!(@collections $collections, plugin, store);
                Ok(PluginInfo {
                    collections,
                    name: i.name,
                    version: i.version,
                    description: i.description,
                    actions: i
                        .actions
                        .into_iter()
                        .map(|a| ActionInfo {
                            params_schema: serde_json::from_str(&a.params_schema)
                                .unwrap_or(serde_json::Value::String(a.params_schema)),
                            name: a.name,
                            description: a.description,
                        })
                        .collect(),
                    folders: i
                        .folders
                        .into_iter()
                        .map(|f| AccessRequest { name: f.name, writable: f.writable, purpose: f.purpose })
                        .collect(),
                })
            }

            pub async fn handle(
                pre: &crate::bindings::$m::$pre<StoreState>,
                store: &mut Store<StoreState>,
                task: &TaskInput,
            ) -> wasmtime::Result<Result<RawOutcome, RawFailure>> {
                let wit_task = wit::Task {
                    id: task.id.clone(),
                    action: task.action.clone(),
                    params: task.params.to_string(),
                    sender: task.sender.clone(),
                    title: task.title.clone(),
                    correlation_id: task.correlation_id.clone(),
                };
                let plugin = pre.instantiate_async(&mut *store).await?;
                Ok(match plugin.call_handle(&mut *store, &wit_task).await? {
                    Ok(o) => Ok(RawOutcome { summary: o.summary, result: o.result, artifacts: o.artifacts }),
                    Err(wit::Failure::InvalidInput(m)) => Err(RawFailure::InvalidInput(m)),
                    Err(wit::Failure::Transient(m)) => Err(RawFailure::Transient(m)),
                    Err(wit::Failure::Permanent(m)) => Err(RawFailure::Permanent(m)),
                })
            }
        }
    };
}

mod glue {
    use super::*;
    glue!(v0_1, none);
    glue!(v0_2, none);
    glue!(v0_3, none);
    glue!(v0_4, catalog);
    glue!(v0_5, none);
    glue!(v0_5_music, v0_5, MusicPre, catalog);
}

impl Pre {
    pub fn new(world: WorldVersion, pre: InstancePre<StoreState>) -> wasmtime::Result<Self> {
        Ok(match (world.major, world.minor) {
            (0, 1) => Pre::V0_1(v0_1::PluginPre::new(pre)?),
            (0, 2) => Pre::V0_2(v0_2::PluginPre::new(pre)?),
            (0, 3) => Pre::V0_3(v0_3::PluginPre::new(pre)?),
            (0, 4) => Pre::V0_4(v0_4::PluginPre::new(pre)?),
            _ if imports_music(pre.engine(), pre.component()) => Pre::V0_5Music(v0_5_music::MusicPre::new(pre)?),
            _ => Pre::V0_5(v0_5::PluginPre::new(pre)?),
        })
    }

    pub async fn describe(&self, store: &mut Store<StoreState>) -> wasmtime::Result<PluginInfo> {
        match self {
            Pre::V0_1(p) => glue::v0_1::describe(p, store).await,
            Pre::V0_2(p) => glue::v0_2::describe(p, store).await,
            Pre::V0_3(p) => glue::v0_3::describe(p, store).await,
            Pre::V0_4(p) => glue::v0_4::describe(p, store).await,
            Pre::V0_5(p) => glue::v0_5::describe(p, store).await,
            Pre::V0_5Music(p) => glue::v0_5_music::describe(p, store).await,
        }
    }

    pub async fn handle(
        &self,
        store: &mut Store<StoreState>,
        task: &TaskInput,
    ) -> wasmtime::Result<Result<RawOutcome, RawFailure>> {
        match self {
            Pre::V0_1(p) => glue::v0_1::handle(p, store, task).await,
            Pre::V0_2(p) => glue::v0_2::handle(p, store, task).await,
            Pre::V0_3(p) => glue::v0_3::handle(p, store, task).await,
            Pre::V0_4(p) => glue::v0_4::handle(p, store, task).await,
            Pre::V0_5(p) => glue::v0_5::handle(p, store, task).await,
            Pre::V0_5Music(p) => glue::v0_5_music::handle(p, store, task).await,
        }
    }
}
