//! The schemas baton keeps, each a list of the files under `migrations/`. A released migration
//! never changes: a change to a schema is a new file with the next number (a test checks that
//! every file is listed, in order, without gaps, and another that no shipped file was edited).
use crate::copy::{CopyRules, Counter, Stays};
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
        "0005_stats", "0006_stat_events", "0007_events_by_kind", "0008_task_search"),
    sqlite_legacy: Legacy::UserVersion,
    postgres: migrations!("postgres", "ledger":
        "0001_ledger", "0002_shared_claims", "0003_stats", "0004_stat_events", "0005_events_by_kind",
        "0006_task_search", "0007_task_order"),
    postgres_legacy: Legacy::Table("baton_schema"),
    copy: CopyRules {
        stays: &[
            Stays {
                table: STATE_META,
                prefix: false,
                why: "the identity of this SQLite file, which the home checks before serving from it (see guard.rs); a PostgreSQL ledger has none",
            },
            Stays {
                table: SEARCH_INDEXES,
                prefix: true,
                why: "SQLite's full-text index of the tasks (FTS5) and its indexer's mark, derived from task_text and tasks; the server indexes the copied task_text itself",
            },
        ],
        server_only: &["hosts", "claims"],
        counter: None,
    },
};

/// The ledger's table holding a SQLite state's id (the home checks it before serving from the
/// file). `baton migrate` leaves it behind: it names this SQLite file, and a PostgreSQL ledger
/// is not checked.
pub const STATE_META: &str = "state_meta";

/// The prefix of the ledger's FTS5 tables on SQLite (the search indexes and their shadow tables):
/// derived from `task_text` and `tasks`, they stay behind on `baton migrate`.
pub const SEARCH_INDEXES: &str = "task_search_";

/// The catalog's `cat_*` tables.
pub const CATALOG: Domain = Domain {
    name: "catalog",
    sqlite: migrations!("sqlite", "catalog": "0001_catalog", "0002_entries"),
    sqlite_legacy: Legacy::None,
    postgres: migrations!("postgres", "catalog": "0001_catalog", "0002_owners", "0003_entries"),
    postgres_legacy: Legacy::Table("baton_catalog_schema"),
    copy: CopyRules {
        stays: &[],
        server_only: &[],
        // The change log's numbers on PostgreSQL (see the catalog's `db.rs`).
        counter: Some(Counter { table: "cat_counter", column: "seq", follows: "cat_changes" }),
    },
};

/// The fingerprint library's `fp_*` tables (SQLite only: it describes one machine's files).
pub const FP: Domain = Domain {
    name: "fp",
    sqlite: migrations!("sqlite", "fp": "0001_library"),
    sqlite_legacy: Legacy::Table("fp_schema"),
    postgres: &[],
    postgres_legacy: Legacy::None,
    copy: CopyRules {
        stays: &[Stays {
            table: "fp_",
            prefix: true,
            why: "the fingerprint library describes this machine's files and stays in a SQLite file on this machine",
        }],
        server_only: &[],
        counter: None,
    },
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

    /// The SHA-256 of every migration as shipped. A home records only a migration's number, so
    /// an edit to a shipped file would never reach a home that already applied it: homes would
    /// differ by when they were made. A new migration adds its line here; a changed line means a
    /// shipped migration was edited; write the change as the next migration instead.
    const SHIPPED: &[(&str, &str)] = &[
        ("postgres/catalog/0001_catalog.sql", "9229fffbe48e1911b0256f3d924edbaf078020cc5ee23abad33343f142a51ee2"),
        ("postgres/catalog/0002_owners.sql", "aab232ed4c8d2ee3bdebd64884ba79374a60cdc3b7e46da9f5703068fe1367ce"),
        ("postgres/catalog/0003_entries.sql", "1b37a251f15e3bf35fe8d7eea059db7616322ffc8b1fb53ff7a8b3edb32e52ed"),
        ("postgres/ledger/0001_ledger.sql", "d28ce6f40d07409060464b3b61e90fc640079eacc4baab7096002289f6ca82b2"),
        ("postgres/ledger/0002_shared_claims.sql", "1d262b42ed57160fce2152a3467490da3ca9c649f9614b7c2ee9dbd629ee988f"),
        ("postgres/ledger/0003_stats.sql", "32a5f66f64ef9d5e9d46065519e45afbdb63450f58b41b89f49db053e6985f67"),
        ("postgres/ledger/0004_stat_events.sql", "b7446986c39b5d89182bd72ff48712bd6f314da5813a6bb23a83046f1c17ae46"),
        ("postgres/ledger/0005_events_by_kind.sql", "8773812296e4cdc3c6bf24ae3b7f665b1e4a2c4703ebe38d78cc0e41e2878ed6"),
        ("postgres/ledger/0006_task_search.sql", "d522a88c41e524118e21960b862899e8f037bc475b1a96b64a754a691b03c6df"),
        ("postgres/ledger/0007_task_order.sql", "4f11843f6d26902e121c38da8ac185d520221b4ff93f0691bea325b60b224fd3"),
        ("sqlite/catalog/0001_catalog.sql", "3f23764102409bec5e26bf025ca8d20340b4f2edf887f2c6ead1349f725bc0c1"),
        ("sqlite/catalog/0002_entries.sql", "59035029dda4f2d81878418f20ad91bce57e0b01eb6504f16e1ab69ba220776e"),
        ("sqlite/fp/0001_library.sql", "46d27d8143fccc8edc6ed0f430725c4b6b72c1c932e523e5a2c35dbfaef3bab3"),
        ("sqlite/ledger/0001_tasks.sql", "256cf05c810b507ff06aab7ffbb50a0a5e65f372bd0d8f1c51fd581588501c15"),
        ("sqlite/ledger/0002_claim_runs.sql", "22de319270492caa2d8e46cef66f6bf09d09e42d7cd351e4db2a3337d6680ea8"),
        ("sqlite/ledger/0003_kv_usage.sql", "2a89cd9cd86ea50d82589d6b6e79948bcea7be002ba160f30424cee29f7bf014"),
        ("sqlite/ledger/0004_plugin_health.sql", "3dc800cff494c1fa452aef761139609b415af40b30a2468f8467407b04a60927"),
        ("sqlite/ledger/0005_stats.sql", "aba16b9dc082c45fcd8bab0ac2d881042d94f8b299adf35731f312a8df00e892"),
        ("sqlite/ledger/0006_stat_events.sql", "516e7d5e12de7511194b5c915df7e4564a8326e44d4a929cae562f083cd44db9"),
        ("sqlite/ledger/0007_events_by_kind.sql", "9c834bec0172919cc7bae5198989aeb4302ca5efcc673bf28929bb851d9aeb8d"),
        ("sqlite/ledger/0008_task_search.sql", "da5150bd1b397d89fea4081f9ce6da88c774a21980b2afa526d18624b9084c46"),
    ];

    #[test]
    fn no_shipped_migration_was_edited() {
        use sha2::Digest;
        let mut listed = Vec::new();
        for d in DOMAINS {
            for (backend, list) in [("sqlite", d.sqlite), ("postgres", d.postgres)] {
                for m in list {
                    let path = format!("{backend}/{}/{:04}_{}.sql", d.name, m.version, m.name);
                    let hash = hex(&sha2::Sha256::digest(m.sql.as_bytes()));
                    match SHIPPED.iter().find(|(p, _)| *p == path) {
                        Some((_, shipped)) => assert_eq!(
                            hash, *shipped,
                            "migrations/{path} changed after it shipped: restore it and write the change as the next migration"
                        ),
                        None => panic!("migrations/{path} is new: add (\"{path}\", \"{hash}\") to SHIPPED"),
                    }
                    listed.push(path);
                }
            }
        }
        for (path, _) in SHIPPED {
            assert!(listed.contains(&path.to_string()), "migrations/{path} shipped and is no longer listed");
        }
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
