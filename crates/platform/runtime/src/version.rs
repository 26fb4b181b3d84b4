//! Which `baton:plugin` version a component was built against, and the per-version glue:
//! instantiate, `describe`, `handle`, converting each version's generated types to the
//! host's own (so the rest of the runtime never sees a versioned type).
//!
//! Adding a version: freeze the current `wit/plugin.wit` under `wit/v<major>.<minor>/`, add a
//! `bindgen!` module in `bindings.rs`, a `Pre` variant and a `glue!` line here, implement the
//! new WIT in `host.rs`, and adapt the version that was newest up to it (`older.rs`). Old plugins keep working because every version stays linked.
//! Since 0.5.0 the core is all the runtime binds: other packages (`baton:music`, `wit/music/`)
//! are versioned with it, and their interfaces and exports are the host interface crates'
//! ([`crate::HostInterface`]); a new version also gets their `bindgen!`s there.
use wasmtime::component::{Component, Instance, InstancePre, Linker};
use wasmtime::{Engine, Store};

use crate::bindings::{v0_1, v0_2, v0_3, v0_4, v0_5, v0_6};
use crate::host::StoreState;
use crate::{ActionInfo, Described, PluginInfo, TaskInput};

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
    WorldVersion { major: 0, minor: 6 },
];

/// The newest version, what a component that imports nothing of baton's is bound as.
const NEWEST: WorldVersion = WorldVersion { major: 0, minor: 6 };

pub fn supported_list() -> String {
    SUPPORTED.iter().map(|v| format!("@{v}")).collect::<Vec<_>>().join(", ")
}

/// Links every supported version's core (`host`, and up to 0.4.0 the music interfaces, which
/// were in `baton:plugin` then, with refusing defaults that the host interface crates replace).
pub fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    type Me = wasmtime::component::HasSelf<StoreState>;
    v0_1::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_2::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_3::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_4::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_5::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    v0_6::Plugin::add_to_linker::<StoreState, Me>(linker, |s| s)?;
    Ok(())
}

/// Reads the version off the component's imports (`baton:plugin/host@0.1.0`,
/// `baton:music/catalog@0.5.0` …; every `baton:` package is versioned with the core, except that
/// the 0.6.0 music world imports the music interfaces as 0.5.0 published them, so `baton:music`
/// at 0.5.0 goes with a core at 0.5.0 or 0.6.0). Only imports
/// count, never which exports happen to exist: a component that imports nothing of baton's
/// (it never calls the host and uses no baton type) gets the newest core bindings, which fit
/// every version's `describe` and `handle` (their types never changed); it cannot reach the
/// catalog, so its `catalog-access`, if any, does not matter.
/// Why a component's baton version cannot be used; the message says the fix.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("it imports `{0}` without a version; rebuild it against wit/ from this baton")]
    Unversioned(String),
    #[error("it imports `{0}`, whose version is not major.minor.patch")]
    BadVersion(String),
    #[error("it imports two versions of baton's packages (@{0} and @{1})")]
    Mixed(WorldVersion, WorldVersion),
    #[error(
        "it was built against baton:plugin@{v}; this baton supports {list} ({hint})",
        v = .0,
        list = supported_list(),
        hint = unsupported_hint(*.0)
    )]
    Unsupported(WorldVersion),
}

/// Which side to bring up to date for a version this baton does not support.
fn unsupported_hint(v: WorldVersion) -> &'static str {
    let newer = SUPPORTED.last().is_some_and(|newest| v > *newest);
    if newer { "upgrade baton" } else { "rebuild the plugin against wit/ from this baton" }
}

pub fn detect(engine: &Engine, component: &Component) -> Result<WorldVersion, VersionError> {
    let ty = component.component_type();
    let mut core: Option<WorldVersion> = None;
    let mut music: Option<WorldVersion> = None;
    for (name, _) in ty.imports(engine) {
        let Some((package, rest)) = name.strip_prefix("baton:").and_then(|n| n.split_once('/')) else {
            continue;
        };
        let Some((_, ver)) = rest.split_once('@') else {
            return Err(VersionError::Unversioned(name.to_string()));
        };
        let mut parts = ver.split('.').map(|p| p.parse::<u32>());
        let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
            return Err(VersionError::BadVersion(name.to_string()));
        };
        let v = WorldVersion { major, minor };
        let found = if package == "music" { &mut music } else { &mut core };
        if let Some(prev) = found.filter(|prev| *prev != v) {
            return Err(VersionError::Mixed(prev, v));
        }
        *found = Some(v);
    }
    let v = match (core, music) {
        (Some(c), Some(m)) if c == m || (m == WorldVersion { major: 0, minor: 5 } && c == NEWEST) => c,
        (Some(c), Some(m)) => return Err(VersionError::Mixed(c, m)),
        (Some(v), None) | (None, Some(v)) => v,
        (None, None) => NEWEST,
    };
    if !SUPPORTED.contains(&v) {
        return Err(VersionError::Unsupported(v));
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
    V0_5(v0_5::PluginPre<StoreState>),
    /// 0.6.0: the core world, whatever else the component was built against (the music world
    /// includes it; its imports are the linker's, its `catalog-access` the catalog's).
    V0_6(v0_6::PluginPre<StoreState>),
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
    /// It asks a question first (0.6.0's `needs-input`): id, message, schema (text).
    NeedsInput {
        request_id: String,
        message: String,
        input_schema: String,
    },
}

/// The newest `task` for a TASK; older plugins get it converted down (`older.rs`).
fn newest_task(task: &TaskInput) -> v0_6::baton::plugin::types::Task {
    v0_6::baton::plugin::types::Task {
        id: task.id.clone(),
        action: task.action.clone(),
        params: task.params.to_string(),
        sender: task.sender.clone(),
        title: task.title.clone(),
        correlation_id: task.correlation_id.clone(),
        inputs: task.inputs.to_string(),
    }
}

/// What `describe` answered, in the newest types, as the host keeps it.
fn plugin_info(i: v0_6::baton::plugin::types::PluginInfo) -> PluginInfo {
    PluginInfo {
        collections: Vec::new(),
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
            .map(|f| crate::AccessRequest { name: f.name, writable: f.writable, purpose: f.purpose })
            .collect(),
    }
}

/// What `handle` answered, in the newest types, before the host checks it.
fn raw(
    r: Result<v0_6::baton::plugin::types::Outcome, v0_6::baton::plugin::types::Failure>,
) -> Result<RawOutcome, RawFailure> {
    use v0_6::baton::plugin::types::Failure;
    match r {
        Ok(o) => Ok(RawOutcome { summary: o.summary, result: o.result, artifacts: o.artifacts }),
        Err(Failure::InvalidInput(m)) => Err(RawFailure::InvalidInput(m)),
        Err(Failure::Transient(m)) => Err(RawFailure::Transient(m)),
        Err(Failure::Permanent(m)) => Err(RawFailure::Permanent(m)),
        Err(Failure::NeedsInput(r)) => {
            Err(RawFailure::NeedsInput { request_id: r.request_id, message: r.message, input_schema: r.input_schema })
        }
    }
}

/// The calls into one version's exports: instantiate, call, and meet the newest types (older
/// versions through [`crate::adapt::Conv`], the newest as it is).
macro_rules! glue {
    ($v:ident, $adapt:path) => {
        pub mod $v {
            use super::*;

            /// `describe`, and the instance it ran in (for [`crate::HostInterface::requests`]).
            pub async fn describe(
                pre: &crate::bindings::$v::PluginPre<StoreState>,
                store: &mut Store<StoreState>,
            ) -> wasmtime::Result<(PluginInfo, Instance)> {
                let instance = pre.instance_pre().instantiate_async(&mut *store).await?;
                let plugin = crate::bindings::$v::Plugin::new(&mut *store, &instance)?;
                let info = plugin.call_describe(&mut *store).await?;
                Ok((plugin_info($adapt(info)), instance))
            }

            pub async fn handle(
                pre: &crate::bindings::$v::PluginPre<StoreState>,
                store: &mut Store<StoreState>,
                task: &TaskInput,
            ) -> wasmtime::Result<Result<RawOutcome, RawFailure>> {
                let wit_task = $adapt(newest_task(task));
                let plugin = pre.instantiate_async(&mut *store).await?;
                Ok(raw($adapt(plugin.call_handle(&mut *store, &wit_task).await?)))
            }
        }
    };
}

mod glue {
    use super::*;
    use crate::adapt::Conv;
    use std::convert::identity;
    glue!(v0_1, Conv::conv);
    glue!(v0_2, Conv::conv);
    glue!(v0_3, Conv::conv);
    glue!(v0_4, Conv::conv);
    glue!(v0_5, Conv::conv);
    glue!(v0_6, identity);
}

impl Pre {
    pub fn new(world: WorldVersion, pre: InstancePre<StoreState>) -> wasmtime::Result<Self> {
        Ok(match (world.major, world.minor) {
            (0, 1) => Pre::V0_1(v0_1::PluginPre::new(pre)?),
            (0, 2) => Pre::V0_2(v0_2::PluginPre::new(pre)?),
            (0, 3) => Pre::V0_3(v0_3::PluginPre::new(pre)?),
            (0, 4) => Pre::V0_4(v0_4::PluginPre::new(pre)?),
            (0, 5) => Pre::V0_5(v0_5::PluginPre::new(pre)?),
            _ => Pre::V0_6(v0_6::PluginPre::new(pre)?),
        })
    }

    /// `describe`, then what each host interface reads of the same instance
    /// ([`crate::HostInterface::requests`]) into [`PluginInfo::collections`]. `world` and
    /// `component` are what this was made from ([`detect`], [`Pre::new`]).
    pub async fn describe(
        &self,
        world: WorldVersion,
        component: &Component,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<PluginInfo> {
        let (mut info, instance) = match self {
            Pre::V0_1(p) => glue::v0_1::describe(p, store).await?,
            Pre::V0_2(p) => glue::v0_2::describe(p, store).await?,
            Pre::V0_3(p) => glue::v0_3::describe(p, store).await?,
            Pre::V0_4(p) => glue::v0_4::describe(p, store).await?,
            Pre::V0_5(p) => glue::v0_5::describe(p, store).await?,
            Pre::V0_6(p) => glue::v0_6::describe(p, store).await?,
        };
        let extensions = store.data().extensions.clone();
        for host in extensions.iter() {
            let plugin = Described { world, component, instance };
            info.collections.extend(host.requests(plugin, store).await?);
        }
        Ok(info)
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
            Pre::V0_6(p) => glue::v0_6::handle(p, store, task).await,
        }
    }
}
