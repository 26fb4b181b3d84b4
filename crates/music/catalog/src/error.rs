//! The catalog's error type. Every refusal names the collection, the record key and the property
//! it concerns, and where there is one, the fix; a refused batch writes nothing.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("state database: {0} (check the --state path, its permissions and free disk space)")]
    Sql(#[from] rusqlite::Error),
    #[error("catalog database {server}: {source}")]
    Postgres {
        server: String,
        #[source]
        source: baton_store::PgError,
    },
    #[error("catalog database {server} unavailable: {message} (is the server running? check --state)")]
    Unavailable { server: String, message: String },
    #[error("no collection `{0}` in the catalog (see `baton catalog collections`)")]
    UnknownCollection(String),
    #[error(
        "{collection}/{key}: unknown property `{property}` (known: {known}; a plugin declares its own as `<plugin>.<name>`)"
    )]
    UnknownProperty { collection: String, key: String, property: String, known: String },
    #[error("{collection}/{key}: property `{property}` ({kind}): {detail}")]
    BadValue { collection: String, key: String, property: String, kind: &'static str, detail: String },
    #[error(
        "{collection}/{key}: property `{property}` links to {target}/{target_key}, which does not exist (upsert it first)"
    )]
    MissingTarget { collection: String, key: String, property: String, target: String, target_key: String },
    #[error(
        "{collection}: `{actor}` may not {op} this collection (grant it in baton.toml: [plugins.{}] catalog = {{ {op} = [\"{collection}\"] }})",
        plugin_of(.actor)
    )]
    NotGranted { actor: String, collection: String, op: &'static str },
    #[error(
        "{collection}/{key}: property `{property}` belongs to `{owner}`; `{actor}` may write only core properties and its own `{actor}.*` ones"
    )]
    NotOwner { collection: String, key: String, property: String, owner: String, actor: String },
    #[error("{collection}: read-only ({why})")]
    ReadOnly { collection: String, why: &'static str },
    #[error("{collection}/{key}: malformed record: {detail}")]
    Malformed { collection: String, key: String, detail: String },
    #[error(
        "`{actor}`: catalog quota exceeded: {detail} (raise [plugins.{actor}] catalog quota in baton.toml, or remove records)"
    )]
    Quota { actor: String, detail: String },
    #[error("{collection}: {detail}")]
    Schema { collection: String, detail: String },
    #[error(
        "{collection}/{key}: property `{property}` -> {target_key}: `{actor}` may not make a `manual` link; only the user links by hand (`baton catalog link`). Pass the method the plugin matched by, or none for a data link"
    )]
    ManualByPlugin { collection: String, key: String, property: String, target_key: String, actor: String },
    #[error("{collection}/{key}: no such record")]
    NoRecord { collection: String, key: String },
    /// A plugin's call went over a per-call bound (work, bytes read) or its task ended.
    #[error("{0}")]
    CallBound(String),
    /// The fingerprint library behind `files` did not answer a match.
    #[error("fingerprint library: {0}")]
    Fingerprint(String),
    /// The source of a virtual collection (the ledger behind `handoffs`) did not answer.
    #[error("{0}")]
    Virtual(String),
    /// The catalog's tables were written by a newer baton: nothing was changed.
    #[error("catalog database {at}: {source}")]
    Newer { at: String, source: baton_store::StoreError },
}

impl CatalogError {
    /// A fault of the state behind the catalog that may pass (a full disk, an I/O error, a
    /// busy database, a server gone): the work that met it pauses and runs again, rather
    /// than fail for good (see [`baton_store::passing`]). A refusal never passes.
    pub fn is_transient(&self) -> bool {
        match self {
            CatalogError::Sql(e) => baton_store::passing::sqlite(e),
            CatalogError::Postgres { source, .. } => baton_store::passing::postgres(source),
            CatalogError::Unavailable { .. } => true,
            _ => false,
        }
    }

    /// A migration's failure on the catalog at `at` (a file, or a server as shown).
    pub(crate) fn from_store(at: &str, e: baton_store::StoreError) -> CatalogError {
        match e {
            baton_store::StoreError::Sqlite(e) => CatalogError::Sql(e),
            baton_store::StoreError::Postgres(source) => CatalogError::Postgres { server: at.into(), source },
            e @ baton_store::StoreError::Newer { .. } => CatalogError::Newer { at: at.into(), source: e },
        }
    }
}

pub type Result<T, E = CatalogError> = std::result::Result<T, E>;

/// The plugin an actor stands for: an actor that is not the owning install of its name reads
/// `name (…)` (see `Catalog::bind_owner`), and its grants are still under `[plugins.name]`.
fn plugin_of(actor: &str) -> &str {
    actor.split(' ').next().unwrap_or(actor)
}
