//! baton's storage layer: where the state lives ([`Location`]: a SQLite file or a PostgreSQL
//! URL, with the URL's rules), how it is reached (opening a SQLite file, connecting to
//! PostgreSQL with TLS: [`connect`], one [`pool::Pool`] of sessions per server and one session
//! policy, [`link::Link`]), and every schema baton keeps
//! (the ledger with its stats, the catalog, the fingerprint library) as numbered `.sql`
//! migrations per backend, in `migrations/<backend>/<domain>/NNNN_name.sql`.
//!
//! Why one crate: the ledger, the catalog and the fingerprint library share one SQLite file
//! (and the first two one PostgreSQL database). Each used to version its own tables its own way
//! (`PRAGMA user_version`, an `fp_schema` row, `baton_schema`, `baton_catalog_schema`, or no
//! version at all), so whether a home could be upgraded depended on which crate one asked. Here
//! there is one record of what was applied, the `baton_migrations` table (domain, version,
//! name, applied_at), and one lock under which migrations run: `BEGIN IMMEDIATE` on SQLite
//! ([`sqlite::migrate`]), one transaction-scoped advisory lock on PostgreSQL
//! ([`postgres::migrate`]).
//!
//! A home made before this table existed is *adopted*: the version its old marker names (see
//! [`Legacy`]) is recorded as applied, every row kept, and only the newer migrations run. A
//! schema newer than this build is refused ([`StoreError::Newer`]) before anything is written:
//! an older baton must not write into tables it does not know.
//!
//! The domain crates (`baton-ledger`, `baton-catalog`, `baton-fp`) are the typed repositories
//! over these tables: they open through here, query through the one SQL layer ([`sql`]: one
//! placeholder dialect, one value type, one PostgreSQL session kind), and own their queries.
//! `baton migrate`'s copy of a whole SQLite state onto a server is here too ([`copy`]), since it
//! writes every domain's tables; each domain adds only its rules ([`Domain::copy`]).
pub mod connect;
pub mod copy;
pub mod link;
pub mod location;
pub mod passing;
pub mod pool;
pub mod postgres;
pub mod sql;
pub mod sqlite;

mod domains;
mod tls;

pub use domains::{CATALOG, DOMAINS, FP, LEDGER, SEARCH_INDEXES, STATE_META};
pub use location::{Location, LocationError};
pub use tls::TlsError;
/// PostgreSQL's error, as the domains built on this crate keep it (the catalog's
/// `CatalogError::Postgres`), so they need no PostgreSQL client of their own.
pub use tokio_postgres::Error as PgError;

/// The table recording every domain's applied migrations, on both backends.
pub const MIGRATIONS_TABLE: &str = "baton_migrations";

/// One migration: version N of a domain on one backend.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// 1, 2, …: the file's number; a domain's migrations are numbered without gaps.
    pub version: u32,
    /// The file's name without its number and extension (`claim_runs`).
    pub name: &'static str,
    pub sql: &'static str,
}

/// Where a home made before `baton_migrations` recorded a domain's version.
#[derive(Debug, Clone, Copy)]
pub enum Legacy {
    /// Nowhere: its first migration creates its tables only if missing, so running it again
    /// over an old home is the adoption.
    None,
    /// `PRAGMA user_version` (the SQLite ledger).
    UserVersion,
    /// The `version` column of this one-row table (`fp_schema`, `baton_schema`, …).
    Table(&'static str),
}

/// One schema: its name in `baton_migrations`, its migrations per backend, and where a home
/// made before versioning kept its version.
#[derive(Debug)]
pub struct Domain {
    pub name: &'static str,
    pub sqlite: &'static [Migration],
    pub sqlite_legacy: Legacy,
    pub postgres: &'static [Migration],
    pub postgres_legacy: Legacy,
    /// How `baton migrate` treats the domain's tables.
    pub copy: copy::CopyRules,
}

impl Domain {
    /// Refuses a version newer than `newest`, the last this build knows.
    fn known(&self, found: u32, newest: u32) -> Result<(), StoreError> {
        if found > newest {
            return Err(StoreError::Newer { domain: self.name, found, newest });
        }
        Ok(())
    }
}

/// Why a schema could not be brought up to date (the caller adds the file or server).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// Written by a newer baton: nothing was changed.
    #[error(
        "the {domain} schema is at version {found}, newer than this baton knows ({newest}); upgrade baton (nothing was changed)"
    )]
    Newer { domain: &'static str, found: u32, newest: u32 },
}

impl Migration {
    /// A migration from its file stem, `NNNN_name` (the number is its version).
    const fn from_file(stem: &'static str, sql: &'static str) -> Migration {
        let digits = stem.as_bytes();
        let mut version = 0;
        let mut i = 0;
        while i < digits.len() && digits[i].is_ascii_digit() {
            version = version * 10 + (digits[i] - b'0') as u32;
            i += 1;
        }
        // The name follows the number and its `_`.
        let name = if i < stem.len() { stem.split_at(i + 1).1 } else { "" };
        Migration { version, name, sql }
    }
}

/// The newest version of a migration list (0 when empty).
fn newest(list: &[Migration]) -> u32 {
    list.last().map_or(0, |m| m.version)
}
