//! The task list's search (`/api/tasks?q=WORD`, issue 51) over 100,000 tasks: the target is
//! p99 under 50 ms. Not a test: run it by hand and record the result in bench/README.md.
//!
//!     cargo run --release -p baton-ledger --example search_bench [-- TASKS QUERIES [postgres://…]]
//!
//! Two SQLite ledgers are filled with the same tasks (a fixed seed) through the calls the
//! pipeline makes (insert_task, start_attempt, finish, and on the first one `search_text`), in
//! groups of 256: titles, params, error messages, RETURN summaries and results of words drawn
//! from a vocabulary with a Zipf distribution (a few common words, many rare ones), ids shaped
//! like ULIDs, five agents, four plugins, 8% failed and 4% rejected. The second ledger has the
//! search's triggers dropped and no `search_text`: the schema before, as the reference for
//! the write cost and for the old query. The first ledger's index is then brought up to date by
//! the indexer (`index_search`, as `serve` runs it when idle), timed apart: it is not the
//! pipeline's cost.
//!
//! Then, for each query, the reads `/api/tasks?q=…` makes of the ledger (the first page of 50
//! with its total, and the count of retryable tasks) are timed on the first ledger, and the old
//! LIKE-only statements on the second, alternately; p50/p90/p99/max per kind of query: words
//! drawn uniformly from the vocabulary, the 10 most frequent words, and the beginnings of task
//! ids. A search's total may be "at least" (a word in most tasks): the bench checks that it
//! then counted past its cap. It does not check that the search finds what the old LIKE found:
//! the LIKE matched a part from inside a title's word, the search matches word beginnings.
//!
//! With a PostgreSQL URL (an empty database), the same tasks are written there too and the same
//! queries timed against the old statement on the same server.
//!
//! The ledgers are made under `$BENCH_DIR` (default: the temp folder) and removed at the end,
//! unless `BENCH_KEEP` is set.
use std::time::{Duration, Instant};

use baton_ledger::read::TaskFilter;
use baton_ledger::search::SearchText;
use baton_ledger::{Ledger, Location, TaskRow, TaskState};
use serde_json::{Value, json};

/// A small generator with a fixed seed: the same tasks on every ledger and every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        self.next() as f64 / (1u64 << 53) as f64
    }
}

/// Words: common English ones first, then made-up ones of two to four syllables; drawn with
/// a Zipf distribution (the k-th word with weight 1/k).
struct Vocabulary {
    words: Vec<String>,
    cumulative: Vec<f64>,
}

const COMMON: &[&str] = &[
    "the",
    "file",
    "image",
    "error",
    "failed",
    "done",
    "items",
    "processed",
    "timeout",
    "disk",
    "user",
    "data",
    "path",
    "open",
    "read",
    "write",
    "plugin",
    "task",
    "line",
    "page",
    "audio",
    "track",
    "resize",
    "report",
    "upload",
    "json",
    "config",
    "network",
    "retry",
    "missing",
    "invalid",
    "found",
    "copy",
    "move",
    "sync",
    "cache",
    "query",
    "index",
];
const SYLLABLES: &[&str] = &[
    "ka", "lo", "mer", "tin", "sa", "vo", "rel", "quin", "bar", "po", "dra", "lux", "fen", "ti", "gor", "mi", "nal",
    "zu", "pex", "ro", "shal", "ve", "dun", "ki",
];

impl Vocabulary {
    fn new(rng: &mut Rng, size: usize) -> Vocabulary {
        let mut words: Vec<String> = COMMON.iter().map(|w| w.to_string()).collect();
        let mut seen: std::collections::HashSet<String> = words.iter().cloned().collect();
        while words.len() < size {
            let n = 2 + rng.below(3);
            let w: String = (0..n).map(|_| SYLLABLES[rng.below(SYLLABLES.len())]).collect();
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        let mut total = 0.0;
        let cumulative = (1..=words.len())
            .map(|k| {
                total += 1.0 / k as f64;
                total
            })
            .collect();
        Vocabulary { words, cumulative }
    }

    fn word(&self, rng: &mut Rng) -> &str {
        let x = rng.unit() * self.cumulative[self.cumulative.len() - 1];
        let i = self.cumulative.partition_point(|c| *c < x).min(self.words.len() - 1);
        &self.words[i]
    }

    fn phrase(&self, rng: &mut Rng, lo: usize, hi: usize) -> String {
        let n = lo + rng.below(hi - lo + 1);
        (0..n).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }
}

const AGENTS: &[&str] = &["claude", "codex", "cursor", "gemini", "aider"];
const PLUGINS: &[&str] = &["echo", "audit", "djay", "resize"];
const CROCKFORD: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// One task as the pipeline records it: its row, its final state and error, and its text.
struct Made {
    row: TaskRow,
    state: TaskState,
    error: Option<String>,
    params: Value,
    summary: String,
    result: Value,
}

fn make(rng: &mut Rng, v: &Vocabulary, k: usize) -> Made {
    let ms = 1_790_000_000_000u64 + k as u64 * 1_000;
    let mut id: Vec<u8> = (0..10).rev().map(|i| CROCKFORD[((ms >> (5 * i)) & 31) as usize]).collect();
    id.extend((0..16).map(|_| CROCKFORD[rng.below(32)]));
    let id = String::from_utf8(id).unwrap_or_default();
    let agent = AGENTS[rng.below(AGENTS.len())];
    let r = rng.unit();
    let state = if r < 0.08 {
        TaskState::Failed
    } else if r < 0.12 {
        TaskState::Rejected
    } else {
        TaskState::Completed
    };
    let path = format!("/home/{agent}/{}/{}.txt", v.word(rng), v.word(rng));
    let error = match state {
        TaskState::Failed => Some(format!("plugin trapped: {} at {path}", v.phrase(rng, 2, 5))),
        TaskState::Rejected => Some(format!("unknown plugin {}", v.word(rng))),
        _ => None,
    };
    let params = json!({
        "text": v.phrase(rng, 8, 20),
        "path": path,
        "width": 64 * (1 + rng.below(30)),
        "tags": (0..2 + rng.below(3)).map(|_| v.word(rng).to_string()).collect::<Vec<_>>(),
    });
    let (summary, result) = match state {
        TaskState::Completed => {
            let n = 1 + rng.below(500);
            let lines: Vec<String> = (0..5 + rng.below(11)).map(|_| v.phrase(rng, 1, 4)).collect();
            (format!("processed {n} items: {}", v.phrase(rng, 2, 6)), json!({"count": n, "lines": lines}))
        }
        _ => (String::new(), Value::Null),
    };
    let mut title = v.phrase(rng, 3, 6);
    if let Some(first) = title.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    let claimed_at = baton_handoff_stamp(ms);
    let row = TaskRow {
        id: id.clone(),
        content_hash: format!("{k:064x}"),
        claim: format!("claim-{k}"),
        file_name: format!("{id}.json"),
        sender: agent.into(),
        reply_to: agent.into(),
        plugin: Some(PLUGINS[rng.below(PLUGINS.len())].into()),
        action: Some("run".into()),
        title,
        state: TaskState::Claimed,
        error_code: None,
        error_message: None,
        attempts: 0,
        return_name: None,
        claimed_at,
        finished_at: None,
        duration_ms: None,
    };
    Made { row, state, error, params, summary, result }
}

/// RFC 3339 of a Unix time in milliseconds (UTC, whole seconds are enough here).
fn baton_handoff_stamp(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Writes tasks `tasks` in groups of 256; `search`: also their text (the pipeline's call).
fn fill(ledger: &mut Ledger, tasks: &[Made], search: bool) -> Duration {
    let started = Instant::now();
    for group in tasks.chunks(256) {
        ledger
            .batch(|b| {
                for m in group {
                    let id = m.row.id.as_str();
                    b.insert_task(&m.row)?;
                    b.start_attempt(id, 1)?;
                    let code = if m.state == TaskState::Rejected { "unknown_plugin" } else { "plugin_error" };
                    let err = m.error.as_deref().map(|e| (code, e));
                    b.finish(id, m.state, err, Some("r.json"), &m.row.claimed_at, 3.0)?;
                    if search {
                        let text = SearchText {
                            params: Some(&m.params),
                            error: m.error.as_deref(),
                            summary: Some(&m.summary),
                            result: Some(&m.result),
                        };
                        b.search_text(id, &text)?;
                    }
                }
                Ok(())
            })
            .expect("batch");
    }
    started.elapsed()
}

/// The reads `/api/tasks?q=…` makes: the first page of 50 with its total, and the count of
/// retryable tasks, in one call (as the dashboard asks). Returns the total.
fn api_reads(ledger: &Ledger, q: &str) -> (u64, bool) {
    let page = TaskFilter { q: Some(q), ..Default::default() };
    let (list, _) = ledger.stats().task_list_and_count(&page, 0, 50, "failed,rejected").expect("page and count");
    (list.total, list.total_exact)
}

/// [`api_reads`] as two `task_list` calls, as `/api/tasks` made them before they shared one read
/// (each reading the search's matches). Returns the total.
fn api_reads_in_two_calls(ledger: &Ledger, q: &str) -> (u64, bool) {
    let stats = ledger.stats();
    let list = stats.task_list(&TaskFilter { q: Some(q), ..Default::default() }, 0, 50).expect("page");
    let retry = TaskFilter { q: Some(q), state: Some("failed,rejected"), ..Default::default() };
    stats.task_list(&retry, 0, 0).expect("retryable");
    (list.total, list.total_exact)
}

/// The old statements (before the index): LIKE over id, title, sender and reply-to.
const OLD_WHERE: &str = "WHERE (?1 IS NULL OR instr(',' || ?1 || ',', ',' || state || ',') > 0)
    AND (?2 IS NULL OR plugin = ?2) AND (?3 IS NULL OR error_code = ?3)
    AND (?4 IS NULL OR sender = ?4 OR reply_to = ?4)
    AND (?5 IS NULL OR id LIKE ?5 ESCAPE '\\' OR title LIKE ?5 ESCAPE '\\' OR sender LIKE ?5 ESCAPE '\\' OR reply_to LIKE ?5 ESCAPE '\\')";

fn like(q: &str) -> String {
    format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

fn old_reads(conn: &rusqlite::Connection, q: &str) -> u64 {
    let like = like(q);
    let none: Option<&str> = None;
    let count = |state: Option<&str>| -> i64 {
        conn.prepare_cached(&format!("SELECT COUNT(*) FROM tasks {OLD_WHERE}"))
            .and_then(|mut st| st.query_row(rusqlite::params![state, none, none, none, like], |r| r.get(0)))
            .expect("old count")
    };
    let total = count(None);
    let page: Vec<String> = conn
        .prepare_cached(&format!("SELECT id, title FROM tasks {OLD_WHERE} ORDER BY rowid DESC LIMIT 50 OFFSET 0"))
        .and_then(|mut st| st.query_map(rusqlite::params![none, none, none, none, like], |r| r.get(0))?.collect())
        .expect("old page");
    std::hint::black_box(page);
    count(Some("failed,rejected"));
    total as u64
}

/// The old statements on PostgreSQL.
fn old_reads_pg(pg: &baton_store::sql::PgSession, q: &str) -> u64 {
    use baton_store::sql::Val;
    const WHERE: &str = "WHERE ($1::text IS NULL OR state = ANY(string_to_array($1::text, ',')))
        AND ($2::text IS NULL OR id LIKE $2::text ESCAPE '\\' OR title LIKE $2::text ESCAPE '\\'
             OR sender LIKE $2::text ESCAPE '\\' OR reply_to LIKE $2::text ESCAPE '\\')";
    let like = Val::from(like(q));
    let count = |state: Val| -> u64 {
        let rows = pg.query(&format!("SELECT COUNT(*) FROM tasks {WHERE}"), &[state, like.clone()]).expect("old count");
        rows.first().map(|r| r.int(0)).unwrap_or(0) as u64
    };
    let total = count(Val::Null);
    let page = pg
        .query(
            &format!(
                "SELECT id, title FROM tasks {WHERE} ORDER BY (CASE WHEN claimed_at ~ '^\\d{{4}}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:\\d\\d)$' THEN claimed_at::timestamptz END) DESC NULLS LAST, claimed_at DESC, id COLLATE \"C\" DESC LIMIT 50"
            ),
            &[Val::Null, like.clone()],
        )
        .expect("old page");
    std::hint::black_box(page);
    count(Val::Text("failed,rejected".into()));
    total
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50, p90, p99 and max of `v`, in ms.
fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |p: f64| ms(v[((v.len() as f64 * p).ceil() as usize).clamp(1, v.len()) - 1]);
    format!("p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2} ms", at(0.5), at(0.9), at(0.99), at(1.0))
}

/// Times `new` and `old` on each query, alternately (which goes first alternates too), and
/// checks that the new search finds at least what the old one did.
fn compare(
    label: &str,
    queries: &[String],
    new: &mut dyn FnMut(&str) -> (u64, bool),
    old: &mut dyn FnMut(&str) -> u64,
) -> (Vec<Duration>, Vec<Duration>) {
    let (mut tn, mut to) = (Vec::new(), Vec::new());
    let (mut found_new, mut found_old, mut capped) = (0u64, 0u64, 0usize);
    let mut slowest: Vec<(Duration, &str, u64)> = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        let mut run_new = || {
            let t = Instant::now();
            let n = new(q);
            (t.elapsed(), n)
        };
        let mut run_old = || {
            let t = Instant::now();
            let n = old(q);
            (t.elapsed(), n)
        };
        let ((dn, (n, exact)), (d_o, o)) = if i % 2 == 0 {
            let a = run_new();
            (a, run_old())
        } else {
            let b = run_old();
            (run_new(), b)
        };
        // (The old LIKE also matched a part from inside a word or an id: "kalo" in "mikalo";
        // the search matches word beginnings, so it may find fewer; the counts are printed.)
        if !exact {
            assert!(n > baton_ledger::search::COUNT_CAP as u64, "{q:?}: {n} counted as at least");
            capped += 1;
        }
        tn.push(dn);
        to.push(d_o);
        slowest.push((dn, q, n));
        found_new += n;
        found_old += o;
    }
    println!(
        "{label} ({} queries, {capped} of them counted to the cap; tasks found per query: {:.1} now, {:.1} with the old LIKE)\n  search: {}\n  old:    {}",
        queries.len(),
        found_new as f64 / queries.len() as f64,
        found_old as f64 / queries.len() as f64,
        summary(tn.clone()),
        summary(to.clone())
    );
    // What the tail is made of: the slowest searches, with how many tasks each found.
    slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    let tail: Vec<String> =
        slowest.iter().take(3).map(|(d, q, n)| format!("{q:?} {:.1} ms ({n} found)", ms(*d))).collect();
    println!("  slowest: {}", tail.join(", "));
    (tn, to)
}

/// The queries: words drawn uniformly from the vocabulary, the 10 most frequent words, and
/// beginnings of task ids (8 characters; a part from inside an id is no longer matched).
fn queries(rng: &mut Rng, v: &Vocabulary, tasks: &[Made], n: usize) -> [(String, Vec<String>); 3] {
    let words = (0..n).map(|_| v.words[rng.below(v.words.len())].clone()).collect();
    let common = v.words[..10].to_vec();
    let ids = (0..n / 4)
        .map(|_| {
            let id = &tasks[rng.below(tasks.len())].row.id;
            id[..8].to_string()
        })
        .collect();
    [
        ("words drawn uniformly from the vocabulary".into(), words),
        ("the 10 most frequent words".into(), common),
        ("beginnings of task ids (8 characters)".into(), ids),
    ]
}

fn sqlite_sizes(conn: &rusqlite::Connection) -> String {
    let size = |like: &str| -> f64 {
        conn.query_row("SELECT COALESCE(SUM(pgsize), 0) FROM dbstat WHERE name LIKE ?1", [like], |r| r.get::<_, i64>(0))
            .map(|b| b as f64 / 1048576.0)
            .unwrap_or(f64::NAN)
    };
    format!(
        "whole file {:.1} MB; tasks {:.1} MB; task_text (and its indexes) {:.1} MB; task_search_words* {:.1} MB",
        size("%"),
        size("tasks"),
        size("task_text%"),
        size("task_search_words%")
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let nq: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let pg_url = args.next();

    let mut rng = Rng(42);
    let vocab = Vocabulary::new(&mut rng, 20_000);
    let tasks: Vec<Made> = (0..n).map(|k| make(&mut rng, &vocab, k)).collect();
    let dir = tempfile::tempdir_in(
        std::env::var_os("BENCH_DIR").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir),
    )
    .expect("temp dir");

    let mut with = Ledger::open(&dir.path().join("search.sqlite")).expect("ledger");
    let mut before = Ledger::open(&dir.path().join("before.sqlite")).expect("ledger");
    before
        .connection()
        .execute_batch(
            "DROP TRIGGER tasks_search_insert; DROP TRIGGER tasks_search_update; DROP TRIGGER tasks_search_delete;",
        )
        .expect("drop the index's triggers");
    // Filled alternately, a tenth at a time, so both see the same load.
    let (mut t_with, mut t_before) = (Duration::ZERO, Duration::ZERO);
    for part in tasks.chunks(n.div_ceil(10).max(1)) {
        t_with += fill(&mut with, part, true);
        t_before += fill(&mut before, part, false);
    }
    println!(
        "filled {n} tasks: with the search index {:.1} s ({:.0}/s); without (the schema before) {:.1} s ({:.0}/s): {:.2}x",
        t_with.as_secs_f64(),
        n as f64 / t_with.as_secs_f64(),
        t_before.as_secs_f64(),
        n as f64 / t_before.as_secs_f64(),
        t_with.as_secs_f64() / t_before.as_secs_f64()
    );
    let started = Instant::now();
    let mut steps = 0;
    while with.stats().index_search(baton_ledger::search::INDEX_BATCH).expect("index").1 {
        steps += 1;
    }
    let t_index = started.elapsed();
    println!(
        "indexed afterwards (off the pipeline's path) in {:.1} s, {steps} steps of {}: {:.0} µs per task",
        t_index.as_secs_f64(),
        baton_ledger::search::INDEX_BATCH,
        t_index.as_secs_f64() * 1e6 / n as f64
    );
    println!("sizes with the index: {}", sqlite_sizes(with.connection()));
    println!("sizes before: {}", sqlite_sizes(before.connection()));

    let sets = queries(&mut rng, &vocab, &tasks, nq);
    // One warm-up pass over a few queries (statement caches, page cache).
    for q in sets[0].1.iter().take(5) {
        api_reads(&with, q);
        old_reads(before.connection(), q);
    }
    println!("\nSQLite, the reads of /api/tasks?q=WORD (page of 50 + total + retryable count):");
    let mut all_new = Vec::new();
    let mut all_old = Vec::new();
    for (label, qs) in &sets {
        let (tn, to) = compare(label, qs, &mut |q| api_reads(&with, q), &mut |q| old_reads(before.connection(), q));
        all_new.extend(tn);
        all_old.extend(to);
    }
    println!("all SQLite queries:\n  search: {}\n  old:    {}", summary(all_new), summary(all_old));

    if let Some(url) = pg_url {
        let location = Location::parse(&url).expect("a PostgreSQL URL");
        let Location::Postgres(pg_url) = &location else { panic!("not a PostgreSQL URL: {url}") };
        let mut pg = Ledger::open_at(&location).expect("PostgreSQL ledger");
        let t = fill(&mut pg, &tasks, true);
        println!(
            "\nPostgreSQL: filled {n} tasks with the search text in {:.1} s ({:.0}/s)",
            t.as_secs_f64(),
            n as f64 / t.as_secs_f64()
        );
        let session = baton_store::sql::PgSession::open(pg_url, "bench", None).expect("session");
        session.batch("VACUUM ANALYZE").expect("analyze");
        for q in sets[0].1.iter().take(5) {
            api_reads(&pg, q);
            old_reads_pg(&session, q);
        }
        println!("PostgreSQL, the same reads:");
        let mut all_new = Vec::new();
        let mut all_old = Vec::new();
        for (label, qs) in &sets {
            let (tn, to) = compare(label, qs, &mut |q| api_reads(&pg, q), &mut |q| old_reads_pg(&session, q));
            all_new.extend(tn);
            all_old.extend(to);
        }
        println!("all PostgreSQL queries:\n  search: {}\n  old:    {}", summary(all_new), summary(all_old));
        // The same request as two calls, each reading the matches: the page and the count
        // before they shared one read ("old" below is the two calls; its count is the total).
        println!("\nPostgreSQL, the reads in one call (search) against two calls (old):");
        for (label, qs) in &sets {
            compare(label, qs, &mut |q| api_reads(&pg, q), &mut |q| api_reads_in_two_calls(&pg, q).0);
        }
    }
    if std::env::var_os("BENCH_KEEP").is_some() {
        drop((with, before));
        println!("kept: {}", dir.keep().display());
    }
}
