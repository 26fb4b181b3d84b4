//! Search over baton's tasks (the dashboard's `q`): what of a task is indexed, and how a user's
//! query becomes each backend's query without any of its characters being read as syntax.
//!
//! A task matches `q` in either of two ways:
//! - **names**: `q` is a part of its id, title, sender or reply-to, as `LIKE '%q%'` matched
//!   before this index existed (so an id prefix still works). SQLite answers it from a trigram
//!   index when `q` has at least [`TRIGRAM`] characters; shorter ones, and PostgreSQL, compare
//!   every task with LIKE.
//! - **words**: every word of `q` is a word of its text ([`document`]: its params, error message
//!   and RETURN summary and result, written when it finishes). Whole words, any case.
//!
//! A word is a run of letters and digits ([`char::is_alphanumeric`]), lowercased: the document is
//! stored as its words separated by spaces, so both backends' tokenizers (SQLite's `unicode61`,
//! PostgreSQL's `simple` configuration) see the same words the query is split into here.
use std::collections::HashSet;

use serde_json::Value;

/// The most a task's document holds, in bytes: the index cannot grow without bound with the
/// params or results of a task, and the first words (the error, the summary) are kept.
pub const MAX_DOCUMENT_BYTES: usize = 16 * 1024;
/// Longer words (hashes, encoded blobs) are left out of the document, and a query word this
/// long matches no text (only names).
pub const MAX_WORD_BYTES: usize = 64;
/// The fewest characters SQLite's trigram index answers a names query for.
pub const TRIGRAM: usize = 3;
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

/// A user's `q`, ready for either backend. Every part is data, never syntax: the LIKE pattern
/// escapes `%`, `_` and `\`; the FTS5 strings are quoted strings (a `"` doubled); PostgreSQL
/// gets the words as the text of `plainto_tsquery`, which has no operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `%q%` with `\` as its escape: the names, compared with LIKE.
    pub like: String,
    /// `q` as one FTS5 string, for the trigram index of the names; `None` when `q` is shorter
    /// than [`TRIGRAM`] characters (the index cannot answer it: LIKE does).
    pub names: Option<String>,
    /// The words of `q`, each an FTS5 string, space-separated (all must match); `None` when `q`
    /// has no word, or one longer than any indexed word (no text can match).
    pub fts_words: Option<String>,
    /// The same words, space-separated, for PostgreSQL's `plainto_tsquery('simple', …)`.
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
        let names = (q.chars().count() >= TRIGRAM).then(|| fts_string(q));
        let mut list: Vec<String> = Vec::new();
        for w in words(q) {
            if !list.contains(&w) {
                list.push(w);
            }
        }
        list.truncate(MAX_QUERY_WORDS);
        let usable = !list.is_empty() && list.iter().all(|w| w.len() <= MAX_WORD_BYTES);
        let fts_words = usable.then(|| list.iter().map(|w| fts_string(w)).collect::<Vec<_>>().join(" "));
        let pg_words = usable.then(|| list.join(" "));
        Some(Query { like, names, fts_words, pg_words })
    }
}

/// `s` as an FTS5 string: in double quotes, each `"` doubled. Inside one, nothing is an operator
/// (`AND`, `*`, `:`, `^`, parentheses are all text).
fn fts_string(s: &str) -> String {
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
        assert_eq!(q.names.as_deref(), Some("\"\"\"boom\""));
        assert_eq!(q.fts_words.as_deref(), Some("\"boom\""));
        assert_eq!(q.pg_words.as_deref(), Some("boom"));
        let q = Query::parse("50%_off\\ OR NEAR(a b) Disk*Full disk").unwrap();
        assert_eq!(q.like, "%50\\%\\_off\\\\ OR NEAR(a b) Disk*Full disk%");
        assert_eq!(q.pg_words.as_deref(), Some("50 off or near a b disk full"));
        assert_eq!(q.fts_words.as_deref(), Some("\"50\" \"off\" \"or\" \"near\" \"a\" \"b\" \"disk\" \"full\""));
        // Too short for trigrams; no words at all; a word no document can hold.
        assert_eq!(Query::parse("ab").unwrap().names, None);
        assert_eq!(Query::parse("%%%").unwrap().fts_words, None);
        assert_eq!(Query::parse(&"y".repeat(MAX_WORD_BYTES + 1)).unwrap().pg_words, None);
    }
}
