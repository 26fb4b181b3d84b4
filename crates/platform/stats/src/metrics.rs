//! `GET /metrics`: the Prometheus text exposition (format 0.0.4), and a strict checker of
//! that format for the tests.
//!
//! Counters come from `stat_counts` and `stat_events` (failures by error code, retries by kind)
//! and the duration histogram from `stat_duration`: all are
//! only ever added to, in the transaction that records the answers, and never pruned, so the
//! series are monotonic across restarts. Label values are bounded: `plugin` is an installed
//! plugin's name or `unknown` (a TASK naming a random plugin cannot add series), `status` one
//! of three outcomes, `agent` a folder under the handoffs root.
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use baton_ledger::read::StatsStore;
use baton_ledger::stats::{PROM_BUCKETS_S, RetryKind, bounded_code};

use crate::Result;

/// What `/metrics` needs besides the ledger, gathered by the caller.
#[derive(Debug, Clone, Default)]
pub struct MetricsInput {
    /// Installed plugins; any other name is counted as `unknown`.
    pub installed: BTreeSet<String>,
    /// Agent → files waiting in `handoffs/<agent>/01_inbox`.
    pub queue_depth: BTreeMap<String, u64>,
    /// Installed plugin → paused now.
    pub paused: BTreeMap<String, bool>,
    /// Share of audio files with a fingerprint (0..=1); the metric is left out when `None`.
    pub fp_coverage_ratio: Option<f64>,
    /// False claims in the latest audit report; left out when `None`.
    pub audit_false_claims: Option<u64>,
}

const STATUSES: [&str; 3] = ["completed", "failed", "rejected"];

/// The exposition text.
pub fn metrics_text(conn: &dyn StatsStore, input: &MetricsInput) -> Result<String> {
    let mut out = String::with_capacity(4096);
    // baton_handoffs_total: every installed plugin's series exists (at 0) from the start.
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for p in &input.installed {
        for s in STATUSES {
            counts.insert((s.to_string(), p.clone()), 0);
        }
    }
    for (status, plugin, n) in conn.stat_counts()? {
        let plugin = if input.installed.contains(&plugin) { plugin } else { "unknown".to_string() };
        *counts.entry((status, plugin)).or_default() += n.max(0) as u64;
    }
    header(
        &mut out,
        "baton_handoffs_total",
        "counter",
        "Handoffs answered, by outcome and plugin (an installed plugin's name, else unknown).",
    );
    for ((status, plugin), n) in &counts {
        let _ =
            writeln!(out, "baton_handoffs_total{{status=\"{}\",plugin=\"{}\"}} {n}", escape(status), escape(plugin));
    }

    // baton_handoff_failures_total and baton_retries_total, from `stat_events`. Each installed
    // plugin's retry series exist (at 0) from the start; failure series appear with their first
    // code (the codes are baton's own, so the series are bounded).
    let mut failures: BTreeMap<(String, String, String), u64> = BTreeMap::new();
    let mut retries: BTreeMap<(String, String), u64> = BTreeMap::new();
    for p in &input.installed {
        for kind in [RetryKind::Automatic, RetryKind::Manual] {
            retries.insert((p.clone(), kind.as_str().to_string()), 0);
        }
    }
    for (event, plugin, detail, n) in conn.stat_events()? {
        let plugin = if input.installed.contains(&plugin) { plugin } else { "unknown".to_string() };
        let n = n.max(0) as u64;
        match event.as_str() {
            "retry" => *retries.entry((plugin, detail)).or_default() += n,
            "failed" | "rejected" => {
                *failures.entry((event, plugin, bounded_code(&detail).to_string())).or_default() += n
            }
            _ => {}
        }
    }
    header(
        &mut out,
        "baton_handoff_failures_total",
        "counter",
        "Failed and rejected handoffs by plugin and error code (the RETURN's error.code).",
    );
    for ((status, plugin, code), n) in &failures {
        let _ = writeln!(
            out,
            "baton_handoff_failures_total{{status=\"{}\",plugin=\"{}\",error_code=\"{}\"}} {n}",
            escape(status),
            escape(plugin),
            escape(code)
        );
    }
    header(
        &mut out,
        "baton_retries_total",
        "counter",
        "Retries by plugin and kind: automatic (after a transient failure) or manual (baton retry).",
    );
    for ((plugin, kind), n) in &retries {
        let _ = writeln!(out, "baton_retries_total{{plugin=\"{}\",kind=\"{}\"}} {n}", escape(plugin), escape(kind));
    }

    // baton_task_duration_seconds: cumulative buckets from the stored per-bucket counts.
    let mut per = vec![0u64; PROM_BUCKETS_S.len() + 1];
    for (b, n) in conn.stat_durations()? {
        if let Some(slot) = usize::try_from(b).ok().and_then(|b| per.get_mut(b)) {
            *slot += n.max(0) as u64;
        }
    }
    let sum = conn.stat_total("run_seconds_sum")?;
    header(
        &mut out,
        "baton_task_duration_seconds",
        "histogram",
        "Run time of handoffs that ran a plugin, from the start of the run to the answer's record.",
    );
    let mut cumulative = 0u64;
    for (i, n) in per.iter().enumerate() {
        cumulative += n;
        let le = PROM_BUCKETS_S.get(i).map(|v| float(*v)).unwrap_or_else(|| "+Inf".into());
        let _ = writeln!(out, "baton_task_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "baton_task_duration_seconds_sum {}", float(sum));
    let _ = writeln!(out, "baton_task_duration_seconds_count {cumulative}");

    header(&mut out, "baton_queue_depth", "gauge", "Handoff files waiting in an agent's inbox.");
    for (agent, n) in &input.queue_depth {
        let _ = writeln!(out, "baton_queue_depth{{agent=\"{}\"}} {n}", escape(agent));
    }
    header(
        &mut out,
        "baton_plugin_paused",
        "gauge",
        "1 while an installed plugin is paused after repeated sandbox failures.",
    );
    for (plugin, paused) in &input.paused {
        let _ = writeln!(out, "baton_plugin_paused{{plugin=\"{}\"}} {}", escape(plugin), u8::from(*paused));
    }
    if let Some(r) = input.fp_coverage_ratio {
        header(
            &mut out,
            "baton_fp_coverage_ratio",
            "gauge",
            "Share of the library's audio files that have a fingerprint.",
        );
        let _ = writeln!(out, "baton_fp_coverage_ratio {}", float(r));
    }
    if let Some(n) = input.audit_false_claims {
        header(
            &mut out,
            "baton_audit_false_claims",
            "gauge",
            "False claims (done but missing or a stub) in the latest plans audit.",
        );
        let _ = writeln!(out, "baton_audit_false_claims {n}");
    }
    Ok(out)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it: `\`, `"` and newlines escaped.
pub fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v}")
    }
}

/// One sample of a parsed exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// A parsed exposition: each metric family's type and its samples.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub types: BTreeMap<String, String>,
    pub samples: Vec<Sample>,
}

impl Parsed {
    /// The value of the sample `name` with exactly these labels.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.iter().find(|s| s.name == name && s.labels == want).map(|s| s.value)
    }
}

/// Why a text is not the Prometheus text format [`parse`] accepts: a line (its number, what is
/// wrong, the line) or a family that breaks its type's rules.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseError {
    #[error("line {line}: {problem}: {text:?}")]
    Line { line: usize, problem: LineProblem, text: String },
    #[error("counter {name} has a bad value {value}")]
    CounterValue { name: String, value: f64 },
    #[error("{name}_bucket without le")]
    NoLe { name: String },
    #[error("{name}: bad le {le:?}")]
    BadLe { name: String, le: String },
    #[error("histogram {name} has no buckets")]
    NoBuckets { name: String },
    #[error("histogram {name}: bounds not increasing or counts not cumulative")]
    NotCumulative { name: String },
    #[error("histogram {name}: no +Inf bucket")]
    NoInf { name: String },
    #[error("histogram {name}: _count {count:?} is not the +Inf bucket {inf}")]
    Count { name: String, count: Option<f64>, inf: f64 },
    #[error("histogram {name}: no _sum")]
    NoSum { name: String },
}

/// What is wrong with one line of the text format.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LineProblem {
    #[error("TYPE without a name")]
    TypeWithoutName,
    #[error("TYPE without a type")]
    TypeWithoutType,
    #[error("HELP without a name")]
    HelpWithoutName,
    #[error("bad metric name {0:?}")]
    BadName(String),
    #[error("unknown type {0:?}")]
    UnknownType(String),
    #[error("TYPE after the family's samples, or twice")]
    TypeTwice,
    #[error("a counter's name should end in _total")]
    CounterName,
    #[error("no value")]
    NoValue,
    #[error("label without =")]
    NoEquals,
    #[error("bad label name {0:?}")]
    BadLabel(String),
    #[error("label value not quoted")]
    NotQuoted,
    #[error("unterminated label value")]
    Unterminated,
    /// Where the escape is and the character after the backslash (`None`: the line ended there).
    #[error("bad escape {0:?}")]
    BadEscape(Option<(usize, char)>),
    #[error("newline in a label value")]
    Newline,
    #[error("label {0} twice")]
    LabelTwice(String),
    #[error("expected , or }} after a label")]
    AfterLabel,
    #[error("no space before the value")]
    NoSpace,
    #[error("bad value {0:?}")]
    BadValue(String),
    #[error("bad timestamp {0:?}")]
    BadTimestamp(String),
    #[error("trailing text")]
    TrailingText,
}

/// Parses the text format strictly (for tests and the benchmark): every line a comment, a
/// `# HELP`/`# TYPE` naming a valid metric, or a sample with a valid name, well-escaped
/// labels and a float value; `# TYPE` before the family's samples and at most once; counters
/// ending in `_total` and never negative; histograms with increasing `le` bounds ending in
/// `+Inf`, cumulative counts, and `_count` equal to the `+Inf` bucket.
pub fn parse(text: &str) -> Result<Parsed, ParseError> {
    let mut p = Parsed::default();
    let mut seen_samples: BTreeSet<String> = BTreeSet::new();
    for (no, line) in text.lines().enumerate() {
        let at = |problem: LineProblem| ParseError::Line { line: no + 1, problem, text: line.to_string() };
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix('#') {
            let rest = rest.trim_start();
            let mut parts = rest.splitn(3, ' ');
            match parts.next() {
                Some("TYPE") => {
                    let name = parts.next().ok_or_else(|| at(LineProblem::TypeWithoutName))?;
                    let kind = parts.next().ok_or_else(|| at(LineProblem::TypeWithoutType))?;
                    if !valid_name(name) {
                        return Err(at(LineProblem::BadName(name.to_string())));
                    }
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                        return Err(at(LineProblem::UnknownType(kind.to_string())));
                    }
                    if seen_samples.contains(name) || p.types.insert(name.to_string(), kind.to_string()).is_some() {
                        return Err(at(LineProblem::TypeTwice));
                    }
                    if kind == "counter" && !name.ends_with("_total") {
                        return Err(at(LineProblem::CounterName));
                    }
                }
                Some("HELP") => {
                    let name = parts.next().ok_or_else(|| at(LineProblem::HelpWithoutName))?;
                    if !valid_name(name) {
                        return Err(at(LineProblem::BadName(name.to_string())));
                    }
                }
                _ => {}
            }
            continue;
        }
        let s = parse_sample(line).map_err(at)?;
        seen_samples.insert(family(&s.name, &p.types).to_string());
        p.samples.push(s);
    }
    check_families(&p)?;
    Ok(p)
}

/// The family a sample belongs to (`x_bucket` → `x` for a histogram `x`).
fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).is_some_and(|t| t == "histogram" || t == "summary")
        {
            return base;
        }
    }
    name
}

fn check_families(p: &Parsed) -> Result<(), ParseError> {
    for (name, kind) in &p.types {
        match kind.as_str() {
            "counter" => {
                if let Some(s) = p.samples.iter().find(|s| &s.name == name && (s.value < 0.0 || s.value.is_nan())) {
                    return Err(ParseError::CounterValue { name: name.clone(), value: s.value });
                }
            }
            "histogram" => {
                // Group buckets by their labels other than `le`.
                let mut series: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> = BTreeMap::new();
                for s in p.samples.iter().filter(|s| s.name == format!("{name}_bucket")) {
                    let mut labels = s.labels.clone();
                    let le = labels.remove("le").ok_or_else(|| ParseError::NoLe { name: name.clone() })?;
                    let le: f64 = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().map_err(|_| ParseError::BadLe { name: name.clone(), le: le.clone() })?
                    };
                    series.entry(labels).or_default().push((le, s.value));
                }
                if series.is_empty() {
                    return Err(ParseError::NoBuckets { name: name.clone() });
                }
                for (labels, buckets) in series {
                    if buckets.windows(2).any(|w| w[0].0 >= w[1].0 || w[0].1 > w[1].1) {
                        return Err(ParseError::NotCumulative { name: name.clone() });
                    }
                    let last = buckets.last().copied().unwrap_or_default();
                    if last.0 != f64::INFINITY {
                        return Err(ParseError::NoInf { name: name.clone() });
                    }
                    let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                    let count = p.value(&format!("{name}_count"), &pairs);
                    if count != Some(last.1) {
                        return Err(ParseError::Count { name: name.clone(), count, inf: last.1 });
                    }
                    if p.value(&format!("{name}_sum"), &pairs).is_none() {
                        return Err(ParseError::NoSum { name: name.clone() });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn valid_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn parse_sample(line: &str) -> Result<Sample, LineProblem> {
    let name_end = line.find(['{', ' ']).ok_or(LineProblem::NoValue)?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(LineProblem::BadName(name.to_string()));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        let mut r = r;
        loop {
            if let Some(after) = r.strip_prefix('}') {
                r = after;
                break;
            }
            let eq = r.find('=').ok_or(LineProblem::NoEquals)?;
            let key = &r[..eq];
            if !valid_name(key) || key.contains(':') {
                return Err(LineProblem::BadLabel(key.to_string()));
            }
            let r2 = r[eq + 1..].strip_prefix('"').ok_or(LineProblem::NotQuoted)?;
            let mut value = String::new();
            let mut chars = r2.char_indices();
            let end = loop {
                match chars.next() {
                    None => return Err(LineProblem::Unterminated),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(LineProblem::BadEscape(other)),
                    },
                    Some((_, '\n')) => return Err(LineProblem::Newline),
                    Some((_, c)) => value.push(c),
                }
            };
            if labels.insert(key.to_string(), value).is_some() {
                return Err(LineProblem::LabelTwice(key.to_string()));
            }
            r = &r2[end + 1..];
            if let Some(after) = r.strip_prefix(',') {
                r = after;
            } else if !r.starts_with('}') {
                return Err(LineProblem::AfterLabel);
            }
        }
        rest = r;
    }
    let rest = rest.strip_prefix(' ').ok_or(LineProblem::NoSpace)?;
    let mut parts = rest.split(' ');
    let v = parts.next().ok_or(LineProblem::NoValue)?;
    let value = match v {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| LineProblem::BadValue(v.to_string()))?,
    };
    if let Some(ts) = parts.next()
        && ts.parse::<i64>().is_err()
    {
        return Err(LineProblem::BadTimestamp(ts.to_string()));
    }
    if parts.next().is_some() {
        return Err(LineProblem::TrailingText);
    }
    Ok(Sample { name: name.to_string(), labels, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_ledger::stats::{Answered, StatsBatch};
    use baton_ledger::{Ledger, TaskState};

    #[test]
    fn the_exposition_parses_counts_and_escapes() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        let at = 1_800_000_000_000;
        l.batch(|b| {
            let mut s = StatsBatch::default();
            for (i, (plugin, state, run)) in [
                ("echo", TaskState::Completed, Some(0.5)),
                ("echo", TaskState::Completed, Some(3.0)),
                ("echo", TaskState::Failed, Some(2_000.0)),
                ("gone", TaskState::Rejected, None),
                ("x\"y", TaskState::Completed, Some(400_000.0)),
                ("echo", TaskState::Retrying, Some(1.0)),
            ]
            .into_iter()
            .enumerate()
            {
                s.add(&Answered {
                    plugin,
                    state,
                    at_ms: at + i as i64,
                    drop_ms: Some(10.0),
                    run_ms: run,
                    error_code: None,
                });
            }
            b.record_stats(&s)
        })
        .unwrap();
        let input = MetricsInput {
            installed: ["echo".to_string(), "x\"y".to_string(), "idle".to_string()].into(),
            queue_depth: [("baton".to_string(), 4), ("we\\ird\nagent".to_string(), 1)].into(),
            paused: [("echo".to_string(), true), ("idle".to_string(), false)].into(),
            fp_coverage_ratio: Some(0.75),
            audit_false_claims: Some(2),
        };
        let text = metrics_text(l.stats(), &input).unwrap();
        let p = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(p.value("baton_handoffs_total", &[("status", "completed"), ("plugin", "echo")]), Some(2.0));
        assert_eq!(p.value("baton_handoffs_total", &[("status", "failed"), ("plugin", "echo")]), Some(1.0));
        assert_eq!(
            p.value("baton_handoffs_total", &[("status", "rejected"), ("plugin", "unknown")]),
            Some(1.0),
            "{text}"
        );
        assert_eq!(p.value("baton_handoffs_total", &[("status", "completed"), ("plugin", "x\"y")]), Some(1.0));
        assert_eq!(p.value("baton_handoffs_total", &[("status", "failed"), ("plugin", "idle")]), Some(0.0));
        assert_eq!(
            p.value("baton_handoffs_total", &[("status", "retrying"), ("plugin", "echo")]),
            None,
            "not an answer"
        );
        assert_eq!(p.value("baton_task_duration_seconds_count", &[]), Some(4.0));
        assert_eq!(p.value("baton_task_duration_seconds_bucket", &[("le", "0.001")]), Some(1.0));
        assert_eq!(p.value("baton_task_duration_seconds_bucket", &[("le", "0.005")]), Some(2.0));
        assert_eq!(p.value("baton_task_duration_seconds_bucket", &[("le", "300")]), Some(3.0));
        assert_eq!(p.value("baton_task_duration_seconds_bucket", &[("le", "+Inf")]), Some(4.0));
        let sum = p.value("baton_task_duration_seconds_sum", &[]).unwrap();
        assert!((sum - 402.0035).abs() < 1e-9, "{sum}");
        assert_eq!(p.value("baton_queue_depth", &[("agent", "we\\ird\nagent")]), Some(1.0));
        assert_eq!(p.value("baton_plugin_paused", &[("plugin", "echo")]), Some(1.0));
        assert_eq!(p.value("baton_plugin_paused", &[("plugin", "idle")]), Some(0.0));
        assert_eq!(p.value("baton_fp_coverage_ratio", &[]), Some(0.75));
        assert_eq!(p.value("baton_audit_false_claims", &[]), Some(2.0));
        assert_eq!(p.types.get("baton_task_duration_seconds").map(String::as_str), Some("histogram"));
    }

    #[test]
    fn the_checker_refuses_broken_text() {
        for bad in [
            "baton_x{a=\"1} 1",
            "baton_x{a=1} 1",
            "baton x 1",
            "# TYPE baton_c counter\nbaton_c 1",
            "# TYPE baton_c_total counter\nbaton_c_total -1",
            "baton_x 1\n# TYPE baton_x gauge",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1",
            "baton_x{a=\"\\q\"} 1",
            "baton_x one",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} passed");
        }
        assert!(parse("# HELP ok fine\n# TYPE ok gauge\nok{a=\"x\\\"y\",b=\"\"} 1.5e3 1700000000\n").is_ok());
    }
}
