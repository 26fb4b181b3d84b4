//! A home made by an earlier release opens in this one with every row kept. The fixture is
//! the state database of a home made by the release just before the storage layer (commit
//! 73a5f18, by `tools/upgrade-fixture.sh`): its ledger versioned by `PRAGMA user_version`, its
//! fingerprint library by `fp_schema`, its catalog not at all. This release adopts each at the
//! version it was at (`baton_migrations`), runs what is newer, and loses nothing.
use std::collections::BTreeMap;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::support::Home;
use crate::support::pg::Pg;

const FIXTURE: &str = include_str!("../fixtures/home-73a5f18.sql");

/// Every table's rows, each row rendered canonically (type-tagged values), sorted.
fn rows(conn: &Connection) -> BTreeMap<String, Vec<String>> {
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let mut st = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = st.column_count();
        let mut all: Vec<String> = st
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| match r.get_ref(i).unwrap() {
                        ValueRef::Null => "null".to_string(),
                        ValueRef::Integer(v) => format!("i:{v}"),
                        ValueRef::Real(v) => format!("r:{v:?}"),
                        ValueRef::Text(v) => format!("t:{}", String::from_utf8_lossy(v)),
                        ValueRef::Blob(v) => format!("b:{v:02x?}"),
                    })
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        all.sort();
        out.insert(t, all);
    }
    out
}

/// Each `cat_usage` row of `old` (`actor|rows|bytes`) is in `new` with counters no lower.
fn usage_kept(old: &[String], new: &[String]) {
    let split = |r: &String| {
        let mut parts = r.split('|').map(str::to_string);
        let actor = parts.next().unwrap_or_default();
        let n: Vec<i64> = parts.filter_map(|p| p.strip_prefix("i:").and_then(|v| v.parse().ok())).collect();
        (actor, n)
    };
    let new: BTreeMap<String, Vec<i64>> = new.iter().map(split).collect();
    for (actor, was) in old.iter().map(split) {
        let now = new.get(&actor).unwrap_or_else(|| panic!("cat_usage: {actor} is gone"));
        assert!(
            now.len() == was.len() && now.iter().zip(&was).all(|(n, w)| n >= w),
            "cat_usage {actor}: {was:?} -> {now:?}"
        );
    }
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

#[test]
fn a_home_made_by_the_previous_release_keeps_every_row() {
    let before = {
        let mem = Connection::open_in_memory().unwrap();
        mem.execute_batch(FIXTURE).unwrap();
        assert_eq!(count(&mem, "PRAGMA user_version"), 7, "the fixture is a v7 ledger");
        assert_eq!(count(&mem, "SELECT count(*) FROM sqlite_master WHERE name = 'baton_migrations'"), 0);
        rows(&mem)
    };
    for (table, min) in [("tasks", 2), ("events", 4), ("observed", 1), ("fp_files", 4), ("cat_records", 3)] {
        assert!(before[table].len() >= min, "the fixture has rows in {table}: {:?}", before[table]);
    }

    let h = Home::init_on(None, &[], "");
    let state = h.root.join("state/baton.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", state.display()));
    }
    Connection::open(&state).unwrap().execute_batch(FIXTURE).unwrap();

    // Each domain opened by the real binary: the ledger (status), the catalog, the library.
    let status = h.json(&["status", "--json"]);
    let tasks = before["tasks"].len() as u64;
    let counted: u64 = status["counts"].as_object().map_or(0, |m| m.values().filter_map(|v| v.as_u64()).sum());
    assert_eq!(counted, tasks, "status counts the old tasks: {status}");
    let tracks = h.json(&["catalog", "show", "tracks", "--json"]);
    assert!(
        tracks["records"].as_array().unwrap().iter().any(|r| r["key"] == "t1" && r["props"]["title"] == "First Light"),
        "{tracks}"
    );
    let coverage = h.json(&["fp", "coverage", "--json"]);
    let files = before["fp_files"].len() as u64;
    assert_eq!(
        (coverage["files"].as_u64(), coverage["fingerprinted"].as_u64()),
        (Some(files), Some(files)),
        "{coverage}"
    );
    let conn = Connection::open(&state).unwrap();
    let after = rows(&conn);
    for (table, old) in &before {
        let new = after.get(table).unwrap_or_else(|| panic!("table {table} is gone"));
        if table == "cat_usage" {
            // Counters, not records: opening the catalog declares the built-in collections'
            // newer properties (a playlist's ordered entries), and each declaration is a change
            // charged to its owner. Every actor stays, with no less than it had.
            usage_kept(old, new);
            continue;
        }
        let mut missing = old.clone();
        for r in new {
            if let Ok(i) = missing.binary_search(r) {
                missing.remove(i);
            }
        }
        assert!(missing.is_empty(), "{table}: {} of {} rows lost, e.g. {:?}", missing.len(), old.len(), &missing[..1]);
    }
    // A serve over it works and keeps every row (it may update some: the old alert resolves,
    // since this home has no audit report behind it).
    h.ok(&["serve", "--once"]);
    let served = rows(&conn);
    for (table, old) in &before {
        assert!(
            served[table].len() >= old.len(),
            "{table}: {} rows before serve, {} after",
            old.len(),
            served[table].len()
        );
    }
    // Adopted at the versions that release was at, each recorded once.
    let recorded = |domain: &str| -> Vec<i64> {
        conn.prepare("SELECT version FROM baton_migrations WHERE domain = ?1 ORDER BY version")
            .unwrap()
            .query_map([domain], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    };
    // (the previous release's 7, then this release's newer ones, which ran)
    assert_eq!(recorded("ledger"), (1..=baton_store::LEDGER.sqlite.len() as i64).collect::<Vec<_>>());
    // The old tasks are in the search index (issue 51): each found by its id.
    let ledger = baton_ledger::Ledger::open(&state).unwrap();
    let ids: Vec<String> = conn
        .prepare("SELECT id FROM tasks")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for id in &ids {
        let filter = baton_ledger::read::TaskFilter { q: Some(id), ..Default::default() };
        let found = ledger.stats().task_list(&filter, 0, 50).unwrap().rows;
        assert!(found.iter().any(|t| &t.id == id), "{id} is found by its id after the upgrade");
    }
    // (the catalog adopted at 1, then this release's newer ones, which ran; the library at 1)
    assert_eq!(recorded("catalog"), (1..=baton_store::CATALOG.sqlite.len() as i64).collect::<Vec<_>>());
    assert_eq!(recorded("fp"), (1..=baton_store::FP.sqlite.len() as i64).collect::<Vec<_>>());
}

/// The same on PostgreSQL: a database as the previous release left it (its migrations, which
/// are this release's first ones unchanged, recorded in `baton_schema` and
/// `baton_catalog_schema`, with a task in it) is adopted at those versions. PostgreSQL's
/// migrations create their tables without `IF NOT EXISTS`, so running one again would fail:
/// the catalog opening at all shows the adoption.
#[test]
fn a_postgres_state_made_by_the_previous_release_is_adopted() {
    let Some(pg) = Pg::start() else { return };
    pg.create_db("upgrade");
    let mut old = String::new();
    for (domain, marker, version) in
        [(&baton_store::LEDGER, "baton_schema", 5), (&baton_store::CATALOG, "baton_catalog_schema", 2)]
    {
        for m in &domain.postgres[..version] {
            old.push_str(m.sql);
            old.push_str(";\n");
        }
        old.push_str(&format!(
            "CREATE TABLE {marker}(version INTEGER NOT NULL); INSERT INTO {marker} VALUES ({version});\n"
        ));
    }
    old.push_str(
        "INSERT INTO tasks(id, content_hash, claim, file_name, sender, reply_to, title, state, claimed_at)
         VALUES ('01OLDTASK', 'h', 'c-old', 'f.json', 'Claude-Code-Agent', 'Claude-Code-Agent', 'Kept', 'completed', now());",
    );
    let out = pg.psql("upgrade", &old);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let h = Home::init_on(Some(&pg.url("upgrade")), &[], "");
    let shown = h.json(&["show", "01OLDTASK", "--json"]);
    assert_eq!(shown["task"]["title"], "Kept", "{shown}");
    h.json(&["catalog", "collections", "--json"]);
    let recorded = pg.psql("upgrade", "SELECT domain || ':' || version FROM baton_migrations ORDER BY domain, version");
    // Adopted at 5 and 2, then this release's newer migrations ran.
    let mut want: Vec<String> = (1..=baton_store::CATALOG.postgres.len()).map(|v| format!("catalog:{v}")).collect();
    want.extend((1..=baton_store::LEDGER.postgres.len()).map(|v| format!("ledger:{v}")));
    assert_eq!(String::from_utf8_lossy(&recorded.stdout).lines().collect::<Vec<_>>(), want);
    let tasks = pg.psql("upgrade", "SELECT count(*) FROM tasks");
    assert_eq!(String::from_utf8_lossy(&tasks.stdout).trim(), "1");
}
