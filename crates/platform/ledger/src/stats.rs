//! Summary tables for the dashboard and `/metrics`: what the pipeline answered, counted and
//! timed, kept apart from the rows that get pruned.
//!
//! Why summary tables: the `tasks` table grows with every handoff and the `logs` table is
//! pruned, so neither can give monotonic counters or cheap windows. Instead, where a batch of
//! answers is recorded (in the same transaction), the batch adds to:
//!
//! - `stat_counts(status, plugin)`: answered handoffs since the database was made, never
//!   pruned (Prometheus counters stay monotonic across restarts);
//! - `stat_minutes(minute, plugin)` and `stat_hours(hour, plugin)`: counts by outcome and two
//!   latency histograms, drop-to-RETURN (from the claim, when baton took the file out of the
//!   inbox, to the answer being recorded after the RETURN was made durable and published) and
//!   run time (the plugin's execution), in log-spaced buckets ([`Hist`]); minute rows older
//!   than [`MINUTE_RETENTION`] are dropped, hour rows are kept;
//! - `stat_duration(bucket)` and `stat_totals`: the all-time run-time histogram in the fixed
//!   Prometheus buckets [`PROM_BUCKETS_S`] and its sum;
//! - `stat_events(event, plugin, detail)`: counters with a second label, never pruned either:
//!   failed and rejected answers by error code (`event` = the status, `detail` = the code), and
//!   retries by kind (`event` = `retry`, `detail` = `automatic` or `manual`).
//!
//! The pipeline folds a whole group of answers into a [`StatsBatch`] first, so a group costs
//! one read and one write per (minute, plugin) and per (hour, plugin) it touched, plus one
//! upsert per (status, plugin) and per duration bucket: a few statements per group, not per
//! handoff.
//!
//! **Histogram error.** Bucket `i` (1..=220) holds values in
//! `[MIN_MS·γ^(i-1), MIN_MS·γ^i)` with `γ = 10^(1/20)` (20 buckets a decade, from 10 µs to
//! 10⁹ ms ≈ 11.6 days); a bucket is reported as its geometric middle, so a reported value is
//! within a factor `10^(1/40)` of the true one: a relative error of at most
//! [`RELATIVE_ERROR`] (5.93 %). Quantiles are taken by nearest rank on the exact counts, so
//! a reported percentile is within that error of the exact nearest-rank percentile. Values
//! under 10 µs go to bucket 0 (reported as 5 µs); values over the range to the last bucket.
use std::collections::BTreeMap;

use crate::TaskState;

/// The smallest value the log buckets tell apart, in milliseconds.
pub const MIN_MS: f64 = 0.01;
/// Buckets a decade: γ = 10^(1/STEPS).
pub const STEPS_PER_DECADE: f64 = 20.0;
/// Bucket 0 is under [`MIN_MS`], 1..=220 the log range, 221 everything over it.
pub const BUCKETS: usize = 222;
/// The largest relative error of a value read back from a [`Hist`]: 10^(1/40) − 1.
pub const RELATIVE_ERROR: f64 = 0.059_253_725_177_289;
/// Minute rows are kept this long (the longest window is 7 days).
pub const MINUTE_RETENTION: i64 = 8 * 24 * 60;
/// The upper bounds (seconds) of `baton_task_duration_seconds`'s buckets; `+Inf` follows.
pub const PROM_BUCKETS_S: [f64; 17] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// The log bucket of a value in milliseconds.
pub fn bucket_of(ms: f64) -> usize {
    if ms.is_nan() || ms < MIN_MS {
        return 0;
    }
    let i = 1.0 + ((ms / MIN_MS).log10() * STEPS_PER_DECADE).floor();
    (i as usize).min(BUCKETS - 1)
}

/// The value a bucket stands for: its geometric middle (bucket 0: half of [`MIN_MS`]).
pub fn bucket_value(i: usize) -> f64 {
    if i == 0 {
        return MIN_MS / 2.0;
    }
    MIN_MS * 10f64.powf((i as f64 - 0.5) / STEPS_PER_DECADE)
}

/// The Prometheus bucket of a run time in seconds: the first bound it is not over, or
/// `PROM_BUCKETS_S.len()` for `+Inf`.
pub fn prom_bucket(seconds: f64) -> usize {
    PROM_BUCKETS_S.iter().position(|&le| seconds <= le).unwrap_or(PROM_BUCKETS_S.len())
}

/// A latency histogram in log buckets (see the module docs for its error), with the count and
/// the exact sum.
#[derive(Clone, Debug, PartialEq)]
pub struct Hist {
    pub counts: Box<[u64; BUCKETS]>,
    pub n: u64,
    pub sum: f64,
}

impl Default for Hist {
    fn default() -> Self {
        Hist { counts: Box::new([0; BUCKETS]), n: 0, sum: 0.0 }
    }
}

impl Hist {
    pub fn add(&mut self, ms: f64) {
        self.counts[bucket_of(ms)] += 1;
        self.n += 1;
        if ms.is_finite() {
            self.sum += ms;
        }
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a += b;
        }
        self.n += other.n;
        self.sum += other.sum;
    }

    /// Adds an encoded histogram (see [`Hist::encode`]); a malformed tail is ignored.
    pub fn merge_encoded(&mut self, bytes: &[u8], sum: f64) {
        let mut i = 0;
        while i < bytes.len() {
            let bucket = bytes[i] as usize;
            i += 1;
            let Some((count, used)) = read_varint(&bytes[i..]) else { break };
            i += used;
            if bucket < BUCKETS {
                self.counts[bucket] += count;
                self.n += count;
            }
        }
        self.sum += sum;
    }

    pub fn decode(bytes: &[u8], sum: f64) -> Hist {
        let mut h = Hist::default();
        h.merge_encoded(bytes, sum);
        h
    }

    /// Sparse: (bucket as one byte, count as LEB128) for each non-empty bucket. The sum is
    /// kept in its own column.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, &c) in self.counts.iter().enumerate() {
            if c > 0 {
                out.push(i as u8);
                write_varint(&mut out, c);
            }
        }
        out
    }

    /// The nearest-rank quantile `q` (0..=1), as its bucket's value; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_value(i));
            }
        }
        None
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum / self.n as f64)
    }
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

/// One answered handoff, as the summary tables see it.
#[derive(Debug, Clone)]
pub struct Answered<'a> {
    /// An installed plugin's name, or `unknown` (the caller maps it: random names in TASKs
    /// must not multiply rows).
    pub plugin: &'a str,
    /// Completed, failed or rejected (other states are not answers and are skipped).
    pub state: TaskState,
    /// When the answer was recorded (Unix ms).
    pub at_ms: i64,
    /// From the claim to the answer, in ms.
    pub drop_ms: Option<f64>,
    /// The plugin's run time, in ms, when it ran.
    pub run_ms: Option<f64>,
    /// A failed or rejected answer's error code (one of baton's codes: see [`bounded_code`]).
    pub error_code: Option<&'a str>,
}

/// Error codes as counted: baton's own codes pass, anything else (a future code read back from an
/// older ledger, a hand-edited row) is `other`, so no input can multiply counter series.
pub fn bounded_code(code: &str) -> &str {
    if !code.is_empty() && code.len() <= 32 && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        code
    } else {
        "other"
    }
}

/// The kinds of retry [`StatsBatch::retried`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryKind {
    /// Scheduled by the pipeline after a transient failure.
    Automatic,
    /// Asked for with `baton retry` (or the dashboard's retry).
    Manual,
}

impl RetryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RetryKind::Automatic => "automatic",
            RetryKind::Manual => "manual",
        }
    }
}

/// Counts and histograms of one time bucket (a minute or an hour) and plugin.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bucket {
    pub completed: u64,
    pub failed: u64,
    pub rejected: u64,
    pub drop: Hist,
    pub run: Hist,
}

impl Bucket {
    pub fn events(&self) -> u64 {
        self.completed + self.failed + self.rejected
    }

    pub fn merge(&mut self, o: &Bucket) {
        self.completed += o.completed;
        self.failed += o.failed;
        self.rejected += o.rejected;
        self.drop.merge(&o.drop);
        self.run.merge(&o.run);
    }
}

/// A group's answers folded together before they are written (see the module docs).
#[derive(Debug, Default)]
pub struct StatsBatch {
    counts: BTreeMap<(&'static str, String), u64>,
    minutes: BTreeMap<(i64, String), Bucket>,
    duration: BTreeMap<usize, u64>,
    run_sum_s: f64,
    /// `stat_events` gains: (event, plugin, detail) → n.
    events: BTreeMap<(&'static str, String, String), u64>,
}

impl StatsBatch {
    pub fn add(&mut self, a: &Answered<'_>) {
        let status = match a.state {
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            _ => return,
        };
        *self.counts.entry((status, a.plugin.to_string())).or_default() += 1;
        if status != "completed" {
            let code = bounded_code(a.error_code.unwrap_or("other")).to_string();
            *self.events.entry((status, a.plugin.to_string(), code)).or_default() += 1;
        }
        let b = self.minutes.entry((a.at_ms.div_euclid(60_000), a.plugin.to_string())).or_default();
        match a.state {
            TaskState::Completed => b.completed += 1,
            TaskState::Failed => b.failed += 1,
            _ => b.rejected += 1,
        }
        if let Some(ms) = a.drop_ms {
            b.drop.add(ms.max(0.0));
        }
        if let Some(ms) = a.run_ms {
            b.run.add(ms.max(0.0));
            *self.duration.entry(prom_bucket(ms / 1e3)).or_default() += 1;
            self.run_sum_s += ms.max(0.0) / 1e3;
        }
    }

    /// Counts one retry of a handoff run by `plugin` (installed, else `unknown`).
    pub fn retried(&mut self, plugin: &str, kind: RetryKind) {
        *self.events.entry(("retry", plugin.to_string(), kind.as_str().to_string())).or_default() += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty() && self.events.is_empty()
    }

    /// Counters by (event, plugin, detail): what `stat_events` gains.
    pub(crate) fn events(&self) -> impl Iterator<Item = (&str, &str, &str, u64)> {
        self.events.iter().map(|((e, p, d), n)| (*e, p.as_str(), d.as_str(), *n))
    }

    /// Answers by (status, plugin): what `stat_counts` gains.
    pub(crate) fn counts(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.counts.iter().map(|((s, p), n)| (*s, p.as_str(), *n))
    }

    /// Buckets by (minute, plugin): what `stat_minutes` gains.
    pub(crate) fn minutes(&self) -> &BTreeMap<(i64, String), Bucket> {
        &self.minutes
    }

    /// Run times by Prometheus bucket, and their sum in seconds.
    pub(crate) fn durations(&self) -> (&BTreeMap<usize, u64>, f64) {
        (&self.duration, self.run_sum_s)
    }

    /// The minute buckets folded by hour: what `stat_hours` gains.
    pub(crate) fn hours(&self) -> BTreeMap<(i64, String), Bucket> {
        let mut hours: BTreeMap<(i64, String), Bucket> = BTreeMap::new();
        for ((minute, plugin), b) in &self.minutes {
            hours.entry((minute.div_euclid(60), plugin.clone())).or_default().merge(b);
        }
        hours
    }
}

/// Reads a `stat_minutes`/`stat_hours` row from its columns `completed, failed, rejected,
/// drop_hist, drop_sum, run_hist, run_sum` (in that order).
pub fn bucket_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Bucket> {
    let drop: Vec<u8> = r.get(3)?;
    let run: Vec<u8> = r.get(5)?;
    Ok(Bucket {
        completed: r.get::<_, i64>(0)? as u64,
        failed: r.get::<_, i64>(1)? as u64,
        rejected: r.get::<_, i64>(2)? as u64,
        drop: Hist::decode(&drop, r.get(4)?),
        run: Hist::decode(&run, r.get(6)?),
    })
}

/// Milliseconds since the Unix epoch in a ULID (its first 10 Crockford base-32 characters),
/// `None` if `s` does not start with one.
pub fn ulid_ms(s: &str) -> Option<i64> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let head = s.as_bytes().get(..10)?;
    let mut v: i64 = 0;
    for &c in head {
        let d = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())? as i64;
        v = (v << 5) | d;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_bound_the_relative_error() {
        let mut v = MIN_MS;
        while v < 1e9 {
            let r = bucket_value(bucket_of(v));
            assert!(((r - v) / v).abs() <= RELATIVE_ERROR + 1e-12, "{v} read back as {r}");
            v *= 1.013;
        }
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(f64::NAN), 0);
        assert_eq!(bucket_of(1e12), BUCKETS - 1);
        assert!((10f64.powf(1.0 / 40.0) - 1.0 - RELATIVE_ERROR).abs() < 1e-12);
    }

    #[test]
    fn encoding_round_trips() {
        let mut h = Hist::default();
        for v in [0.0, 0.5, 0.5, 3.0, 1e6, 2e10] {
            h.add(v);
        }
        for _ in 0..300 {
            h.add(12.0);
        }
        let d = Hist::decode(&h.encode(), h.sum);
        assert_eq!(d, h);
    }

    #[test]
    fn ulid_time_is_read() {
        // 10 Crockford base-32 digits of 1,469,922,850,259 ms, then the random part.
        let u = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
        assert_eq!(ulid_ms(u), Some(1_469_922_850_259));
        assert_eq!(ulid_ms("01arz3ndektsv4rrffq69g5fav"), Some(1_469_922_850_259), "case does not matter");
        assert_eq!(ulid_ms("short"), None);
        assert_eq!(ulid_ms("!!!!!!!!!!!!"), None);
    }
}
