//! The schemas baton keeps, each a list of the files under `migrations/`. A released migration
//! never changes: a change to a schema is a new file with the next number (a test checks that
//! every file is listed, in order, without gaps).
use crate::{Domain, Legacy, Migration};

/// The migrations of one domain on one backend, by file stem (`NNNN_name`), in order.
macro_rules! migrations {
    ($backend:literal, $domain:literal: $($file:literal),* $(,)?) => {
        &[$(Migration::from_file($file, include_str!(concat!("../migrations/", $backend, "/", $domain, "/", $file, ".sql")))),*]
    };
}

/// The ledger (tasks, events, logs, observed handoffs, plugins' kv and health) and its stats.
pub const LEDGER: Domain = Domain {
    name: "ledger",
    sqlite: migrations!("sqlite", "ledger":
        "0001_tasks", "0002_claim_runs", "0003_kv_usage", "0004_plugin_health",
        "0005_stats", "0006_stat_events", "0007_events_by_kind"),
    sqlite_legacy: Legacy::UserVersion,
    postgres: migrations!("postgres", "ledger":
        "0001_ledger", "0002_shared_claims", "0003_stats", "0004_stat_events", "0005_events_by_kind"),
    postgres_legacy: Legacy::Table("baton_schema"),
};

/// The catalog's `cat_*` tables.
pub const CATALOG: Domain = Domain {
    name: "catalog",
    sqlite: migrations!("sqlite", "catalog": "0001_catalog"),
    sqlite_legacy: Legacy::None,
    postgres: migrations!("postgres", "catalog": "0001_catalog", "0002_owners"),
    postgres_legacy: Legacy::Table("baton_catalog_schema"),
};

/// The fingerprint library's `fp_*` tables (SQLite only: it describes one machine's files).
pub const FP: Domain = Domain {
    name: "fp",
    sqlite: migrations!("sqlite", "fp": "0001_library"),
    sqlite_legacy: Legacy::Table("fp_schema"),
    postgres: &[],
    postgres_legacy: Legacy::None,
};

/// Every domain, for tools that look at a whole home.
pub const DOMAINS: &[&Domain] = &[&LEDGER, &CATALOG, &FP];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.sql` file under `migrations/<backend>/<domain>/` is listed, numbered 1..N.
    #[test]
    fn every_file_is_listed_in_order() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        for d in DOMAINS {
            for (backend, list) in [("sqlite", d.sqlite), ("postgres", d.postgres)] {
                let dir = root.join(backend).join(d.name);
                let mut files: Vec<String> = match std::fs::read_dir(&dir) {
                    Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
                    Err(_) => Vec::new(),
                };
                files.sort();
                let listed: Vec<String> = list.iter().map(|m| format!("{:04}_{}.sql", m.version, m.name)).collect();
                assert_eq!(files, listed, "{}", dir.display());
                for (i, m) in list.iter().enumerate() {
                    assert_eq!(m.version as usize, i + 1, "{backend}/{}: numbered without gaps", d.name);
                    assert!(!m.sql.trim().is_empty());
                }
            }
        }
    }
}
