//! The task list's search (`q`, issue 51) on both backends: a part of a task's id, title or
//! agents, or words of its params, error message and RETURN; filters and paging around it; user
//! input that looks like query syntax; an existing ledger migrated. The same scenario runs on
//! SQLite and on a private PostgreSQL server (tests/support/pg.rs).
#[path = "../../../../tests/support/pg.rs"]
mod pg;

use baton_ledger::read::{TaskFilter, TaskList};
use baton_ledger::search::SearchText;
use baton_ledger::{Ledger, Location, TaskRow, TaskState};
use serde_json::{Value, json};

fn row(id: &str, title: &str) -> TaskRow {
    TaskRow {
        id: id.into(),
        content_hash: "h".into(),
        claim: format!("c-{id}"),
        file_name: format!("{id}.json"),
        sender: "claude".into(),
        reply_to: "claude".into(),
        plugin: Some("echo".into()),
        action: Some("echo".into()),
        title: title.into(),
        state: TaskState::Claimed,
        error_code: None,
        error_message: None,
        attempts: 0,
        return_name: None,
        claimed_at: "2026-01-01T00:00:00Z".into(),
        finished_at: None,
        duration_ms: None,
    }
}

/// A task claimed, run and finished as the pipeline records it, with its search text.
fn finish(l: &mut Ledger, id: &str, title: &str, params: Value, error: Option<&str>, summary: &str, result: Value) {
    let mut r = row(id, title);
    // Claimed one second apart, in order: the list is newest first on both backends.
    r.claimed_at = format!("2026-01-01T00:00:{:02}Z", l.task_count().unwrap());
    l.batch(|b| {
        b.insert_task(&r)?;
        b.start_attempt(id, 1)?;
        let state = if error.is_some() { TaskState::Failed } else { TaskState::Completed };
        b.finish(id, state, error.map(|m| ("plugin_error", m)), None, "2026-01-01T00:01:00Z", 1.0)?;
        let text = SearchText { params: Some(&params), error, summary: Some(summary), result: Some(&result) };
        b.search_text(id, &text)
    })
    .unwrap();
}

/// The ids `q` finds (with `f`'s other filters), newest first, and the total (exact). On
/// SQLite the same answer twice: first with the rows the index does not hold yet read directly,
/// then after the indexer has caught up (the index answers).
fn find(l: &Ledger, q: &str, f: TaskFilter<'_>, offset: i64, limit: i64) -> (Vec<String>, u64) {
    let filter = TaskFilter { q: Some(q), ..f };
    let list = l.stats().task_list(&filter, offset, limit).unwrap();
    assert!(list.total_exact, "{q}: {} is a whole count", list.total);
    let direct = (list.rows.into_iter().map(|t| t.id).collect::<Vec<_>>(), list.total);
    while l.stats().index_search(1_000).unwrap().1 {}
    let list = l.stats().task_list(&filter, offset, limit).unwrap();
    assert_eq!(list.unindexed, 0, "{q}: the indexer caught up");
    same_in_one_call(l, &filter, offset, limit, &list);
    let indexed = (list.rows.into_iter().map(|t| t.id).collect::<Vec<_>>(), list.total);
    assert_eq!(direct, indexed, "{q}: read directly, then from the index");
    indexed
}

/// `task_list_and_count` answers as `task_list` twice: the page as `list`, the count as the
/// same filter in the retryable states (PostgreSQL reads the search's matches once for both).
fn same_in_one_call(l: &Ledger, filter: &TaskFilter<'_>, offset: i64, limit: i64, list: &TaskList) {
    let retry = "failed,rejected";
    let counted = l.stats().task_list(&TaskFilter { state: Some(retry), ..*filter }, 0, 0).unwrap();
    let (page, count) = l.stats().task_list_and_count(filter, offset, limit, retry).unwrap();
    assert_eq!(&page, list, "{filter:?}: the page in one call");
    assert_eq!(count, counted, "{filter:?}: the count in one call");
}

fn ids(l: &Ledger, q: &str) -> Vec<String> {
    let (ids, total) = find(l, q, TaskFilter::default(), 0, 50);
    assert_eq!(total as usize, ids.len(), "{q}");
    ids
}

fn sqlite(l: &Ledger) -> bool {
    !l.is_shared()
}

fn scenario(l: &mut Ledger) {
    finish(l, "T-ERR-1", "Resize images", json!({"width": 640}), Some("plugin trapped: Boom!"), "", json!(null));
    finish(l, "T-PARAMS-2", "Echo", json!({"text": "big boom here", "n": [1, 2]}), None, "echoed", json!({"ok": true}));
    finish(l, "T-SUMMARY-3", "Echo", json!({}), None, "it went boom twice", json!(null));
    finish(l, "T-RESULT-4", "Echo", json!({}), None, "done", json!({"lines": ["kaboom", "quiet"]}));
    finish(l, "T-TITLE-5", "boomerang report", json!({}), None, "done", json!(null));
    // Claimed and not finished yet: no text, found by its names only.
    l.batch(|b| b.insert_task(&row("T-OPEN-6", "Open one"))).unwrap();

    // Whole words of the text, any case; a part of the names.
    assert_eq!(ids(l, "boom"), ["T-TITLE-5", "T-SUMMARY-3", "T-PARAMS-2", "T-ERR-1"]);
    // Words in any case (names compare as LIKE does: without case on SQLite, with on PostgreSQL).
    assert_eq!(ids(l, "KaBoom"), ["T-RESULT-4"]);
    assert_eq!(ids(l, "kaboom"), ["T-RESULT-4"]);
    assert_eq!(ids(l, "quiet"), ["T-RESULT-4"], "results are searched");
    assert_eq!(ids(l, "640"), ["T-ERR-1"], "numbers in params");
    assert_eq!(ids(l, "width"), ["T-ERR-1"], "keys in params");
    // Every word must match.
    assert_eq!(ids(l, "went boom"), ["T-SUMMARY-3"]);
    assert_eq!(ids(l, "boom went twice"), ["T-SUMMARY-3"]);
    assert!(ids(l, "went zzz").is_empty());
    // The names: an id's beginning, a title's words, an agent.
    assert_eq!(ids(l, "T-ERR"), ["T-ERR-1"]);
    assert_eq!(ids(l, "Open on"), ["T-OPEN-6"]);
    assert_eq!(ids(l, "claude").len(), 6);
    assert_eq!(ids(l, "-2"), ["T-PARAMS-2"]);
    assert_eq!(ids(l, "ok"), ["T-PARAMS-2"]);
    if sqlite(l) {
        // Names are words too: a part from inside one is no longer found (PostgreSQL: LIKE).
        assert_eq!(ids(l, "RAMS-2"), Vec::<String>::new());
        assert_eq!(ids(l, "PARAMS-2"), ["T-PARAMS-2"]);
        // Query syntax is text: never an error, never an operator.
        assert_eq!(ids(l, "\"boom"), ["T-TITLE-5", "T-SUMMARY-3", "T-PARAMS-2", "T-ERR-1"], "the words of `\"boom`");
    } else {
        assert_eq!(ids(l, "RAMS-2"), ["T-PARAMS-2"]);
        assert_eq!(ids(l, "\"boom"), ["T-SUMMARY-3", "T-PARAMS-2", "T-ERR-1"], "the words of `\"boom`");
    }
    for q in [
        "\"",
        "\"\"",
        "boom OR quiet",
        "NEAR(boom quiet)",
        "boom*",
        "body:boom",
        "^boom",
        "(boom",
        "boom AND",
        "- boom",
        "'boom'",
        "boom & | ! :*",
        "%",
        "_",
        "\\",
        "100%",
    ] {
        find(l, q, TaskFilter::default(), 0, 50);
    }
    assert_eq!(ids(l, "boom OR quiet"), Vec::<String>::new(), "`or` is a word here, and no task has it");
    assert_eq!(ids(l, "%"), Vec::<String>::new(), "`%` is a character, not a wildcard");

    // Filters and paging around it.
    let failed = TaskFilter { state: Some("failed"), ..Default::default() };
    assert_eq!(find(l, "boom", failed, 0, 50), (vec!["T-ERR-1".to_string()], 1));
    let completed = TaskFilter { state: Some("completed,failed"), plugin: Some("echo"), ..Default::default() };
    assert_eq!(find(l, "boom", completed, 1, 2), (vec!["T-SUMMARY-3".to_string(), "T-PARAMS-2".to_string()], 4));
    let other = TaskFilter { agent: Some("codex"), ..Default::default() };
    assert_eq!(find(l, "boom", other, 0, 50).1, 0);
    // Counting only (the dashboard's "retryable" count).
    assert_eq!(find(l, "boom", failed, 0, 0), (vec![], 1));

    // A retry's new answer replaces the text; a re-claim with a new title re-indexes the names.
    l.batch(|b| {
        b.search_text(
            "T-SUMMARY-3",
            &SearchText { summary: Some("all quiet now"), result: Some(&json!(null)), ..Default::default() },
        )
    })
    .unwrap();
    assert_eq!(ids(l, "twice"), Vec::<String>::new());
    assert_eq!(ids(l, "quiet"), ["T-RESULT-4", "T-SUMMARY-3"]);
    let mut again = row("T-TITLE-5", "Renamed report");
    again.claim = "c-again".into();
    l.batch(|b| b.reclaim(&again)).unwrap();
    assert_eq!(ids(l, "boomerang"), Vec::<String>::new());
    assert_eq!(ids(l, "Renamed"), ["T-TITLE-5"]);
}

/// Words that begin many of the index's terms (SQLite spells a word out as the terms that begin
/// with it, up to 32, and reads more as a prefix): more than 32, a few, none, and two words
/// together. `find` checks the index's answer against the direct match of the same rows.
fn terms(l: &mut Ledger) {
    for i in 0..40 {
        let summary = format!("zeta{i:02} omega{}", i % 4);
        finish(l, &format!("TERM-{i:02}"), "Terms", json!({}), None, &summary, json!({}));
    }
    let newest = |r: std::ops::Range<usize>| r.rev().map(|i| format!("TERM-{i:02}")).collect::<Vec<_>>();
    assert_eq!(find(l, "zeta", TaskFilter::default(), 0, 100), (newest(0..40), 40));
    assert_eq!(find(l, "zeta1", TaskFilter::default(), 0, 100), (newest(10..20), 10));
    assert_eq!(find(l, "ZETA1 omega2", TaskFilter::default(), 0, 100).0, ["TERM-18", "TERM-14", "TERM-10"]);
    assert_eq!(find(l, "omega zeta3", TaskFilter::default(), 0, 100).1, 10);
    assert_eq!(find(l, "zetaz", TaskFilter::default(), 0, 100), (vec![], 0));
    assert_eq!(find(l, "zeta1 zetaz", TaskFilter::default(), 0, 100), (vec![], 0));
}

/// A word in more tasks than a search counts: the page is the newest, the total says "at least"
/// and is never given as exact; a page past what was counted reads every match.
fn crowd(l: &mut Ledger) {
    use baton_ledger::search::COUNT_CAP;
    let n = COUNT_CAP + 500;
    l.batch(|b| {
        for i in 0..n {
            let id = format!("CROWD-{i:05}");
            let mut r = row(&id, "Crowd");
            r.claimed_at = format!("2026-03-01T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60);
            b.insert_task(&r)?;
            let failed = i % 10 == 0;
            let state = if failed { TaskState::Failed } else { TaskState::Completed };
            b.finish(&id, state, failed.then_some(("plugin_error", "packed")), None, "2026-03-01T23:00:00Z", 1.0)?;
            b.search_text(&id, &SearchText { summary: Some("packed"), ..Default::default() })?;
        }
        Ok(())
    })
    .unwrap();
    while l.stats().index_search(5_000).unwrap().1 {}
    let q = |f: TaskFilter<'static>, offset, limit| {
        l.stats().task_list(&TaskFilter { q: Some("packed"), ..f }, offset, limit).unwrap()
    };
    let all = q(TaskFilter::default(), 0, 3);
    same_in_one_call(l, &TaskFilter { q: Some("packed"), ..Default::default() }, 0, 3, &all);
    assert!(!all.total_exact && all.total > COUNT_CAP as u64 && all.total <= n as u64, "{}", all.total);
    let page: Vec<String> = all.rows.into_iter().map(|t| t.id).collect();
    assert_eq!(page, [format!("CROWD-{:05}", n - 1), format!("CROWD-{:05}", n - 2), format!("CROWD-{:05}", n - 3)]);
    let failed = TaskFilter { state: Some("failed"), ..Default::default() };
    let some = q(failed, 0, 0);
    assert!(some.total <= (n / 10) as u64 && (some.total_exact == (some.total == (n / 10) as u64)), "{some:?}");
    // The oldest failed one is past any window: the whole list is read, and counted exactly.
    let last = q(failed, (n / 10 - 1) as i64, 5);
    assert_eq!(last.rows.iter().map(|t| t.id.as_str()).collect::<Vec<_>>(), ["CROWD-00000"]);
    assert!(last.total_exact && last.total == (n / 10) as u64, "{last:?}");
}

/// Many tasks found, fewer than a filtered search counts exactly (SQLite looks at the newest
/// 2,000 keys with a filter), some of them not indexed yet: the same answers.
fn many(l: &mut Ledger) {
    let ids: Vec<String> = (0..1_500).map(|i| format!("MANY-{i:04}")).collect();
    l.batch(|b| {
        for (i, id) in ids.iter().enumerate() {
            let mut r = row(id, "Many");
            r.claimed_at = format!("2026-02-01T00:{:02}:{:02}Z", i / 60, i % 60);
            b.insert_task(&r)?;
            let failed = i % 10 == 0;
            let state = if failed { TaskState::Failed } else { TaskState::Completed };
            b.finish(id, state, failed.then_some(("plugin_error", "crowded")), None, "2026-02-01T01:00:00Z", 1.0)?;
            let summary = if i % 2 == 0 { "crowded even" } else { "crowded odd" };
            b.search_text(id, &SearchText { summary: Some(summary), ..Default::default() })?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(find(l, "crowded", TaskFilter::default(), 0, 3), (ids[1497..].iter().rev().cloned().collect(), 1_500));
    let failed = TaskFilter { state: Some("failed"), ..Default::default() };
    let (page, total) = find(l, "crowded", failed, 1, 2);
    assert_eq!((page, total), (vec!["MANY-1480".to_string(), "MANY-1470".to_string()], 150));
    assert_eq!(find(l, "crowded even", failed, 0, 0).1, 150, "every tenth is even");
    assert_eq!(find(l, "crowded odd", failed, 0, 0).1, 0);
    assert_eq!(find(l, "MANY-14", failed, 0, 500).1, 10, "MANY-1400 … MANY-1490");
    let plugin = TaskFilter { plugin: Some("echo"), agent: Some("claude"), ..Default::default() };
    assert_eq!(find(l, "odd", plugin, 748, 50), (vec!["MANY-0003".to_string(), "MANY-0001".to_string()], 750));
}

#[test]
fn sqlite_finds_tasks_by_names_and_by_the_words_of_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
    // The bundled SQLite has FTS5 (the migration would have failed otherwise; said plainly).
    let fts5: bool =
        l.connection().query_row("SELECT sqlite_compileoption_used('ENABLE_FTS5')", [], |r| r.get(0)).unwrap();
    assert!(fts5);
    scenario(&mut l);
    terms(&mut l);
    many(&mut l);
    crowd(&mut l);
}

#[test]
fn sqlite_ledger_made_before_the_index_is_searchable_by_names_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        // A v7 ledger (the release before), with a failed task and an open one.
        let conn = rusqlite::Connection::open(&path).unwrap();
        for (i, m) in baton_store::LEDGER.sqlite.iter().take(7).enumerate() {
            conn.execute_batch(&format!("{}; PRAGMA user_version = {};", m.sql, i + 1)).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO tasks(id, content_hash, claim, file_name, sender, reply_to, title, state, error_code,
                               error_message, claimed_at)
             VALUES ('OLD-1', 'h', 'c1', 'f1', 'claude', 'claude', 'Old failure', 'failed', 'plugin_error',
                     'disk exploded: boom', '2025-12-01T00:00:00Z'),
                    ('OLD-2', 'h', 'c2', 'f2', 'codex', 'codex', 'Old open', 'claimed', NULL, NULL,
                     '2025-12-01T00:00:01Z')",
        )
        .unwrap();
    }
    let mut l = Ledger::open(&path).unwrap();
    assert_eq!(ids(&l, "boom"), ["OLD-1"], "the old error message is indexed");
    assert_eq!(ids(&l, "old"), ["OLD-2", "OLD-1"], "the old names are indexed");
    assert_eq!(ids(&l, "codex"), ["OLD-2"]);
    // New tasks after them, newest first across both.
    finish(&mut l, "NEW-3", "New", json!({"text": "boom"}), None, "", json!(null));
    assert_eq!(ids(&l, "boom"), ["NEW-3", "OLD-1"]);
}

fn open_pg(pg: &pg::Pg, db: &str) -> Ledger {
    Ledger::open_at(&Location::parse(&pg.url(db)).unwrap()).unwrap()
}

#[test]
fn postgres_finds_tasks_by_names_and_by_the_words_of_their_text() {
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("search");
    let mut l = open_pg(&pg, "search");
    scenario(&mut l);
    many(&mut l);
    crowd(&mut l);
    // With the planner's count of tasks known, a page of a word in many of them is walked from
    // the newest task by the order's index instead of looking up each match: the same page.
    let out = pg.psql("search", "ANALYZE tasks");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let newest: Vec<String> = (1497..1500).rev().map(|i| format!("MANY-{i:04}")).collect();
    assert_eq!(find(&l, "crowded", TaskFilter::default(), 0, 3), (newest, 1_500));
    assert_eq!(find(&l, "odd", TaskFilter::default(), 748, 2), (vec!["MANY-0003".into(), "MANY-0001".into()], 750));
    let plan = pg.psql(
        "search",
        "EXPLAIN SELECT id FROM tasks ORDER BY baton_claimed_ts(claimed_at) DESC NULLS LAST, claimed_at DESC, id COLLATE \"C\" DESC LIMIT 50",
    );
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains("tasks_newest"), "the list's order is read from its index: {plan}");
    // The words and the names have their indexes (the test server has pg_trgm): with sequential
    // scans off, the planner takes an index wherever it can.
    let plan = pg.psql(
        "search",
        "SET enable_seqscan = off; EXPLAIN SELECT id FROM task_text WHERE words @@ plainto_tsquery('simple', 'boom')",
    );
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains("task_text_words"), "{plan}");
    let plan = pg.psql(
        "search",
        "SET enable_seqscan = off; EXPLAIN SELECT id FROM tasks
         WHERE (id || E'\\n' || title || E'\\n' || sender || E'\\n' || reply_to) LIKE '%boom%'",
    );
    let plan = String::from_utf8_lossy(&plan.stdout);
    assert!(plan.contains("tasks_names_trgm"), "{plan}");
}

/// A server where the migration cannot make the names' trigram index (here pg_trgm sits in a
/// schema the ledger does not see; on a managed server, the extension may be refused): the
/// migration goes on without it, and the search answers the same.
#[test]
fn postgres_without_pg_trgm_searches_the_same() {
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("notrgm");
    let out = pg.psql("notrgm", "CREATE SCHEMA hidden; CREATE EXTENSION pg_trgm SCHEMA hidden;");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut l = open_pg(&pg, "notrgm");
    let index = pg.psql("notrgm", "SELECT count(*) FROM pg_indexes WHERE indexname = 'tasks_names_trgm'");
    assert_eq!(String::from_utf8_lossy(&index.stdout).trim(), "0");
    scenario(&mut l);
}

#[test]
fn postgres_ledger_made_before_the_index_is_searchable_by_names_and_errors() {
    let Some(pg) = pg::Pg::start() else { return };
    pg.create_db("old");
    drop(open_pg(&pg, "old"));
    // Back to the release before: no task_text nor the order's index, schema version 5, and
    // tasks of that time.
    let out = pg.psql(
        "old",
        "DROP TABLE task_text; DROP INDEX tasks_newest; DROP FUNCTION baton_claimed_ts(text);
         DELETE FROM baton_migrations WHERE domain = 'ledger' AND version >= 6;
         INSERT INTO tasks(id, content_hash, claim, file_name, sender, reply_to, title, state, error_code,
                           error_message, claimed_at)
         VALUES ('OLD-1', 'h', 'c1', 'f1', 'claude', 'claude', 'Old failure', 'failed', 'plugin_error',
                 'disk exploded: Boom!', '2025-12-01T00:00:00Z'),
                ('OLD-2', 'h', 'c2', 'f2', 'codex', 'codex', 'Old open', 'claimed', NULL, NULL,
                 '2025-12-01T00:00:01Z');",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let l = open_pg(&pg, "old");
    assert_eq!(ids(&l, "boom"), ["OLD-1"], "the old error message is indexed");
    assert_eq!(ids(&l, "Old"), ["OLD-2", "OLD-1"], "the old names match as before");
}
