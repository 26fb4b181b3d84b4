//! PostgreSQL: bringing a domain's tables up to date on a shared server, under one
//! transaction-scoped advisory lock, so several hosts starting at once (on a new database, or
//! after an upgrade) take turns and each finds the work done by the first.
use tokio_postgres::GenericClient;

use crate::{Domain, Legacy, StoreError, newest};

/// The advisory lock key every domain's migrations run under. It is the key the ledger's
/// migrations used before this crate, so a host still running the release before waits on the
/// same lock.
pub const MIGRATION_LOCK: i64 = 0x6261_746f_6e00_0001;

const TABLE: &str = "CREATE TABLE IF NOT EXISTS baton_migrations(
    domain TEXT NOT NULL,
    version INTEGER NOT NULL,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY(domain, version)
)";

/// Brings `domain`'s tables to the newest version; returns how many migrations ran. `c` must
/// be inside a transaction the caller commits (the lock is released with it, and an error
/// leaves the server as it was once the caller rolls back).
pub async fn migrate<C: GenericClient + Sync>(c: &C, domain: &Domain) -> Result<u32, StoreError> {
    let newest = newest(domain.postgres);
    // The lock first: two hosts starting at once on a new database would otherwise both create
    // `baton_migrations`, and one fail (a duplicate in `pg_type`, not "exists").
    c.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    c.batch_execute(TABLE).await?;
    let recorded: Option<i32> =
        c.query_one("SELECT max(version) FROM baton_migrations WHERE domain = $1", &[&domain.name]).await?.get(0);
    let current = match recorded {
        Some(v) => v.max(0) as u32,
        None => {
            let legacy = legacy_version(c, domain.postgres_legacy).await?;
            domain.known(legacy, newest)?;
            for m in &domain.postgres[..legacy as usize] {
                record(c, domain.name, m.version, m.name).await?;
            }
            legacy
        }
    };
    domain.known(current, newest)?;
    for m in &domain.postgres[current as usize..] {
        c.batch_execute(m.sql).await?;
        record(c, domain.name, m.version, m.name).await?;
    }
    Ok(newest - current)
}

async fn record<C: GenericClient + Sync>(c: &C, domain: &str, version: u32, name: &str) -> Result<(), StoreError> {
    let version = version as i32;
    c.execute("INSERT INTO baton_migrations(domain, version, name) VALUES ($1, $2, $3)", &[&domain, &version, &name])
        .await?;
    Ok(())
}

async fn legacy_version<C: GenericClient + Sync>(c: &C, legacy: Legacy) -> Result<u32, StoreError> {
    let Legacy::Table(table) = legacy else { return Ok(0) };
    let exists: bool = c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table]).await?.get(0);
    if !exists {
        return Ok(0);
    }
    let v: Option<i32> = c.query_one(&format!("SELECT max(version) FROM {table}"), &[]).await?.get(0);
    Ok(v.unwrap_or(0).max(0) as u32)
}
