//! Search over baton's tasks (the dashboard's `q`): what of a task is indexed, how a user's
//! query becomes each backend's query without any of its characters being read as syntax, and
//! the same match done directly on a task's text (for tasks the index does not hold yet).
//!
//! On SQLite a task matches `q` when every word of `q` begins a word of the task: of its id,
//! title, sender or reply-to, or of its text ([`SearchText::document`]: its params, error
//! message and RETURN summary and result, written when it finishes). So an id's beginning, a
//! title's word or an agent's name matches, and `boom` finds `boomerang`; a part from inside an
//! id or a word (`%q%`, as the list's `LIKE` matched before) does not. A one-letter word must be
//! a whole word (a prefix that short would merge most of the index).
//!
//! On PostgreSQL the names still match as a part (`LIKE '%q%'`, with a trigram index when the
//! server has pg_trgm), and the text's words as word beginnings, through a GIN index.
//!
//! A word is a run of letters and digits ([`char::is_alphanumeric`]), lowercased: the index
//! gets the words split here ([`index_words`]), and SQLite's `ascii` tokenizer and PostgreSQL's
//! `simple` configuration see the same words the query is split into.
//!
//! The index is brought up to date off the pipeline's hot path (see the migration
//! `0008_task_search.sql`); a search reads the rows not indexed yet directly ([`Query::matches`])
//! so that its answer is complete, and says how many it read that way.
use std::collections::HashSet;

use serde_json::Value;

/// The most a task's document holds, in bytes: the index cannot grow without bound with the
/// params or results of a task, and the first words (the error, the summary) are kept.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// Longer words (hashes, encoded blobs) are left out of the document, and a query word this
/// long matches nothing on SQLite (names are words there too) and no text on PostgreSQL.
pub const MAX_WORD_BYTES: usize = 64;
/// Above this many matches, a search counts no further: the total it gives is "at least" (see
/// [`crate::read::TaskList::total_exact`]). A word in most of 100,000 tasks is ~70,000 keys, and
/// reading them all (then the tasks they are, for the filters) costs more than the 50 ms a
/// search may take; the page of the newest matches needs only the first of them.
pub const COUNT_CAP: usize = 10_000;
/// With filters other than `q` (the retryable count is one: state failed or rejected) and a
/// word in more than [`COUNT_CAP`] tasks, the count looks at this many of the newest matches
/// only (each then checked against the filters), and is "at least" past them. Looking up
/// 10,000 took ~100 ms on the benchmark's loaded machine (SQLite).
pub const FILTERED_WINDOW: usize = 2_000;
/// At most this many rows go into the index in one transaction (one step of the indexer).
pub const INDEX_BATCH: usize = 1_000;
/// At most this many words of a query are used (a query is at most 256 characters anyway).
const MAX_QUERY_WORDS: usize = 32;

/// What the ledger indexes of one finished task. Built by the pipeline from the TASK and its
/// answer; [`SearchText::document`] is what is stored.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchText<'a> {
    pub params: Option<&'a Value>,
    pub error: Option<&'a str>,
    pub summary: Option<&'a str>,
    pub result: Option<&'a Value>,
}

impl SearchText<'_> {
    /// The task's distinct words, in the order error, summary, params, result (the most telling
    /// first, so a long result is what the bound cuts), each once, at most
    /// [`MAX_DOCUMENT_BYTES`].
    pub fn document(&self) -> String {
        let mut doc = Document::default();
        if let Some(e) = self.error {
            doc.text(e);
        }
        if let Some(s) = self.summary {
            doc.text(s);
        }
        for v in [self.params, self.result].into_iter().flatten() {
            doc.json(v);
        }
        doc.out
    }
}

/// A document being built: its words so far, and which were seen.
#[derive(Default)]
struct Document {
    out: String,
    seen: HashSet<String>,
    full: bool,
}

impl Document {
    fn text(&mut self, s: &str) {
        for w in words(s) {
            if self.full {
                return;
            }
            if w.len() > MAX_WORD_BYTES || self.seen.contains(&w) {
                continue;
            }
            let room = MAX_DOCUMENT_BYTES - self.out.len();
            if w.len() + usize::from(!self.out.is_empty()) > room {
                self.full = true;
                return;
            }
            if !self.out.is_empty() {
                self.out.push(' ');
            }
            self.out.push_str(&w);
            self.seen.insert(w);
        }
    }

    /// Keys and values of a JSON document, depth first, each key before its value.
    fn json(&mut self, v: &Value) {
        enum Next<'v> {
            Key(&'v str),
            Value(&'v Value),
        }
        let mut stack = vec![Next::Value(v)];
        while let Some(next) = stack.pop() {
            if self.full {
                return;
            }
            match next {
                Next::Key(k) => self.text(k),
                Next::Value(Value::String(s)) => self.text(s),
                Next::Value(Value::Number(n)) => self.text(&n.to_string()),
                Next::Value(Value::Bool(_) | Value::Null) => {}
                Next::Value(Value::Array(a)) => stack.extend(a.iter().rev().map(Next::Value)),
                Next::Value(Value::Object(o)) => {
                    for (k, v) in o.iter().rev() {
                        stack.push(Next::Value(v));
                        stack.push(Next::Key(k));
                    }
                }
            }
        }
    }
}

/// The words of `s`: runs of letters and digits, lowercased.
pub fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// The words the index holds for one task: its names' (first: the bound on a document's size
/// never cuts them) and its text's (`body`, already words when the pipeline wrote it, the raw
/// error message for a task recorded before the index existed), each once.
pub fn index_words(body: &str, names: [&str; 4]) -> String {
    let mut doc = Document::default();
    for n in names {
        doc.text(n);
    }
    doc.text(body);
    doc.out
}

/// A user's `q`, ready for either backend. Every part is data, never syntax: the LIKE pattern
/// escapes `%`, `_` and `\`; the FTS5 strings are quoted strings (a `"` doubled); PostgreSQL's
/// `tsquery` is built of words that are letters and digits only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `%q%` with `\` as its escape: PostgreSQL's names, compared with LIKE.
    pub like: String,
    /// The words of `q`, lowercased, each once; empty when `q` has no word, or one longer than
    /// any indexed word (no task can match then).
    pub words: Vec<String>,
    /// The words as an FTS5 query: each a quoted string, a prefix (`"boo"*`) unless it is one
    /// character; all must match. `None` when there are no words.
    pub fts: Option<String>,
    /// The words as a PostgreSQL `tsquery` (`to_tsquery('simple', …)`): `boo:* & disk:*`.
    pub pg_words: Option<String>,
}

impl Query {
    /// `None` for a blank `q` (no filter).
    pub fn parse(q: &str) -> Option<Query> {
        let q = q.trim();
        if q.is_empty() {
            return None;
        }
        let like = format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let mut list: Vec<String> = Vec::new();
        for w in words(q) {
            if !list.contains(&w) {
                list.push(w);
            }
        }
        list.truncate(MAX_QUERY_WORDS);
        if list.iter().any(|w| w.len() > MAX_WORD_BYTES) {
            list.clear();
        }
        let fts = (!list.is_empty()).then(|| list.iter().map(|w| fts_word(w)).collect::<Vec<_>>().join(" "));
        let pg_words = (!list.is_empty()).then(|| {
            list.iter()
                .map(|w| if w.chars().count() > 1 { format!("{w}:*") } else { w.clone() })
                .collect::<Vec<_>>()
                .join(" & ")
        });
        Some(Query { like, words: list, fts, pg_words })
    }

    /// Whether a task whose index words ([`index_words`]) are `doc` matches, as the FTS5 query
    /// [`Query::fts`] would find it: every word of `q` begins a word of `doc` (or is one, for a
    /// one-character word). For the rows a search reads directly.
    pub fn matches(&self, doc: &str) -> bool {
        !self.words.is_empty()
            && self.words.iter().all(|w| {
                let prefix = w.chars().count() > 1;
                doc.split(' ').any(|d| if prefix { d.starts_with(w.as_str()) } else { d == w })
            })
    }
}

/// One word of `q` as an FTS5 query: a prefix (`"boo"*`) unless it is one character, which
/// must be a whole word.
pub(crate) fn fts_word(w: &str) -> String {
    if w.chars().count() > 1 { format!("{}*", fts_string(w)) } else { fts_string(w) }
}

/// `s` as an FTS5 string: in double quotes, each `"` doubled. Inside one, nothing is an operator
/// (`AND`, `*`, `:`, `^`, parentheses are all text).
pub(crate) fn fts_string(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_document_is_the_distinct_words_error_and_summary_first() {
        let params = json!({"path": "/tmp/Boom.txt", "n": 42, "deep": [[{"k": "Zürich"}]], "flag": true});
        let result = json!({"lines": ["first line", "boom again"]});
        let t = SearchText {
            params: Some(&params),
            error: Some("plugin trapped: BOOM!"),
            summary: Some("nothing done"),
            result: Some(&result),
        };
        assert_eq!(
            t.document(),
            // (serde_json's objects keep their keys sorted)
            "plugin trapped boom nothing done deep k zürich flag n 42 path tmp txt lines first line again"
        );
        assert_eq!(SearchText::default().document(), "");
    }

    #[test]
    fn the_document_is_bounded_and_skips_long_words() {
        let long = "x".repeat(MAX_WORD_BYTES + 1);
        let many: Vec<String> = (0..20_000).map(|i| format!("w{i}")).collect();
        let params = json!({"blob": long, "words": many});
        let doc = SearchText { params: Some(&params), error: Some("boom"), ..Default::default() }.document();
        assert!(doc.len() <= MAX_DOCUMENT_BYTES && doc.len() > MAX_DOCUMENT_BYTES - 16, "{}", doc.len());
        assert!(doc.starts_with("boom blob words w0 w1 "), "{}", &doc[..40]);
        assert!(!doc.contains(&long) && !doc.ends_with(' '));
    }

    #[test]
    fn a_query_is_data_for_every_backend() {
        assert_eq!(Query::parse("   "), None);
        let q = Query::parse(" \"boom ").unwrap();
        assert_eq!(q.like, "%\"boom%");
        assert_eq!(q.fts.as_deref(), Some("\"boom\"*"));
        assert_eq!(q.pg_words.as_deref(), Some("boom:*"));
        let q = Query::parse("50%_off\\ OR NEAR(a b) Disk*Full disk").unwrap();
        assert_eq!(q.like, "%50\\%\\_off\\\\ OR NEAR(a b) Disk*Full disk%");
        assert_eq!(q.pg_words.as_deref(), Some("50:* & off:* & or:* & near:* & a & b & disk:* & full:*"));
        assert_eq!(q.fts.as_deref(), Some("\"50\"* \"off\"* \"or\"* \"near\"* \"a\" \"b\" \"disk\"* \"full\"*"));
        // No words at all; a word no document can hold.
        assert_eq!(Query::parse("%%%").unwrap().fts, None);
        assert_eq!(Query::parse(&"y".repeat(MAX_WORD_BYTES + 1)).unwrap().pg_words, None);
    }

    #[test]
    fn a_direct_match_is_the_index_match() {
        let doc = index_words("disk full boomerang", ["01JABCDEF", "Resize images", "claude", "TEAM/codex"]);
        assert_eq!(doc, "01jabcdef resize images claude team codex disk full boomerang");
        let m = |q: &str| Query::parse(q).unwrap().matches(&doc);
        assert!(m("boom") && m("BOOM disk") && m("01jab") && m("images") && m("codex") && m("team/cod"));
        assert!(!m("oomerang"), "a part from inside a word is not a match");
        assert!(!m("d"), "one letter is a whole word");
        assert!(!m("boom nothing") && !m("%%%"));
    }
}
