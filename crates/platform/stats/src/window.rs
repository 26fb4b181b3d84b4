//! The overview's windows: throughput, error rate and latency percentiles over the last
//! 1m, 5m, 15m, 1h, 6h, 24h and 7d, summed from the ledger's per-minute and per-hour rows.
//!
//! A window of `w` minutes is the minutes `now_min - w + 1 ..= now_min` (the current minute
//! counts, so the newest answers show at once; rates divide by the whole window). Windows up
//! to an hour read at most 60 minute rows per plugin; longer ones read the whole hours inside
//! from `stat_hours` and only the ragged minutes at the start and end from `stat_minutes`:
//! a 7-day window is at most 168 + 118 rows per plugin, however much history there is.
use std::collections::BTreeMap;

use baton_ledger::read::{StatRow, StatTable, StatsStore};
use baton_ledger::stats::Bucket;
use serde::{Deserialize, Serialize};

use crate::Result;

/// The windows, in display order: name and length in seconds.
pub const WINDOWS: [(&str, u64); 7] =
    [("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3_600), ("6h", 21_600), ("24h", 86_400), ("7d", 604_800)];

/// What `GET /api/overview` shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Overview {
    pub now_ms: i64,
    /// The largest relative error of a percentile (see [`baton_ledger::stats`]).
    pub relative_error: f64,
    /// Files waiting in each agent's inbox, as the caller counted them.
    pub queue_depth: BTreeMap<String, u64>,
    pub queue_total: u64,
    /// One per [`WINDOWS`] entry, in that order.
    pub windows: Vec<WindowStats>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowStats {
    pub window: String,
    pub seconds: u64,
    /// Answered handoffs (completed + failed + rejected).
    pub events: u64,
    pub completed: u64,
    pub failed: u64,
    pub rejected: u64,
    pub handoffs_per_sec: f64,
    /// (failed + rejected) / events; 0 without events.
    pub error_rate: f64,
    /// failed / events; 0 without events.
    pub failure_rate: f64,
    /// From the claim (baton taking the file out of the inbox) to the answer's record, after
    /// its RETURN was durable and published.
    pub drop_to_return_ms: Percentiles,
    /// From the start of the plugin's run to the answer's record (handoffs that ran).
    pub run_ms: Percentiles,
}

/// Nearest-rank percentiles (within [`crate::RELATIVE_ERROR`]) and the exact mean, in ms;
/// `None` without data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub mean: Option<f64>,
}

impl Percentiles {
    pub fn of(h: &baton_ledger::stats::Hist) -> Self {
        Percentiles { count: h.n, p50: h.quantile(0.50), p95: h.quantile(0.95), p99: h.quantile(0.99), mean: h.mean() }
    }
}

/// The overview at `now_ms` (Unix ms), with the caller's queue depths.
pub fn overview(conn: &dyn StatsStore, now_ms: i64, queue_depth: &BTreeMap<String, u64>) -> Result<Overview> {
    let windows = WINDOWS
        .iter()
        .map(|&(name, seconds)| {
            let b = window_total(conn, now_ms, seconds / 60)?;
            let events = b.events();
            let ratio = |n: u64| if events == 0 { 0.0 } else { n as f64 / events as f64 };
            Ok(WindowStats {
                window: name.to_string(),
                seconds,
                events,
                completed: b.completed,
                failed: b.failed,
                rejected: b.rejected,
                handoffs_per_sec: events as f64 / seconds as f64,
                error_rate: ratio(b.failed + b.rejected),
                failure_rate: ratio(b.failed),
                drop_to_return_ms: Percentiles::of(&b.drop),
                run_ms: Percentiles::of(&b.run),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Overview {
        now_ms,
        relative_error: crate::RELATIVE_ERROR,
        queue_total: queue_depth.values().sum(),
        queue_depth: queue_depth.clone(),
        windows,
    })
}

/// Everything answered in the last `minutes` minutes, all plugins together.
pub(crate) fn window_total(conn: &dyn StatsStore, now_ms: i64, minutes: u64) -> Result<Bucket> {
    let mut total = Bucket::default();
    for b in window_by_plugin(conn, now_ms, minutes)?.values() {
        total.merge(b);
    }
    Ok(total)
}

/// The last `minutes` minutes, by plugin.
pub(crate) fn window_by_plugin(conn: &dyn StatsStore, now_ms: i64, minutes: u64) -> Result<BTreeMap<String, Bucket>> {
    let now_min = now_ms.div_euclid(60_000);
    let start = now_min - minutes.max(1) as i64 + 1;
    let mut out: BTreeMap<String, Bucket> = BTreeMap::new();
    // Whole hours inside [start, now_min].
    let (h_lo, h_hi) = ((start + 59).div_euclid(60), (now_min + 1).div_euclid(60) - 1);
    if minutes >= 120 && h_lo <= h_hi {
        add_rows(conn, StatTable::Hours, h_lo, h_hi, &mut out)?;
        add_rows(conn, StatTable::Minutes, start, h_lo * 60 - 1, &mut out)?;
        add_rows(conn, StatTable::Minutes, (h_hi + 1) * 60, now_min, &mut out)?;
    } else {
        add_rows(conn, StatTable::Minutes, start, now_min, &mut out)?;
    }
    Ok(out)
}

fn add_rows(
    conn: &dyn StatsStore,
    table: StatTable,
    lo: i64,
    hi: i64,
    out: &mut BTreeMap<String, Bucket>,
) -> Result<()> {
    if lo > hi {
        return Ok(());
    }
    conn.stat_rows(table, lo, hi, &mut |r: StatRow<'_>| {
        // Decoded straight into the plugin's sums: no histogram allocated per row.
        let b = match out.get_mut(r.plugin) {
            Some(b) => b,
            None => out.entry(r.plugin.to_string()).or_default(),
        };
        b.completed += r.completed.max(0) as u64;
        b.failed += r.failed.max(0) as u64;
        b.rejected += r.rejected.max(0) as u64;
        b.drop.merge_encoded(r.drop_hist, r.drop_sum);
        b.run.merge_encoded(r.run_hist, r.run_sum);
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_ledger::stats::{Answered, StatsBatch};
    use baton_ledger::{Ledger, TaskState};

    /// A deterministic spread of latencies over five decades.
    fn values(n: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let u = (x >> 11) as f64 / (1u64 << 53) as f64;
                0.05 * 10f64.powf(u * 5.0)
            })
            .collect()
    }

    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    const T0: i64 = 1_800_000_000_000; // a minute boundary (divisible by 60,000 and 3,600,000)

    fn fill(l: &mut Ledger, at: impl Fn(usize) -> i64, drop: &[f64], run: &[f64], state: impl Fn(usize) -> TaskState) {
        // In groups of 100, as the pipeline does.
        for chunk in (0..drop.len()).collect::<Vec<_>>().chunks(100) {
            l.batch(|b| {
                let mut s = StatsBatch::default();
                for &i in chunk {
                    s.add(&Answered {
                        plugin: if i % 3 == 0 { "echo" } else { "unknown" },
                        state: state(i),
                        at_ms: at(i),
                        drop_ms: Some(drop[i]),
                        run_ms: Some(run[i]),
                        error_code: None,
                    });
                }
                b.record_stats(&s)
            })
            .unwrap();
        }
    }

    #[test]
    fn percentiles_are_within_the_stated_error_of_the_exact_ones() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        let n = 20_000;
        let drop = values(n, 1);
        let run = values(n, 2);
        // Spread over the last 2 days, so every path (minutes, hours, edges) is used.
        let now = T0 + 17 * 60_000 + 123;
        let at = |i: usize| now - (i as i64 * 8_641_000) % (2 * 86_400_000);
        fill(&mut l, at, &drop, &run, |i| {
            if i % 10 == 0 {
                TaskState::Failed
            } else if i % 25 == 1 {
                TaskState::Rejected
            } else {
                TaskState::Completed
            }
        });
        let ov =
            overview(l.stats(), now, &BTreeMap::from([("baton".to_string(), 3), ("cursor".to_string(), 2)])).unwrap();
        assert_eq!(ov.queue_total, 5);
        assert_eq!(ov.windows.len(), 7);
        for w in &ov.windows {
            let in_window: Vec<usize> = (0..n)
                .filter(|&i| at(i).div_euclid(60_000) > now.div_euclid(60_000) - (w.seconds / 60) as i64)
                .collect();
            assert_eq!(w.events, in_window.len() as u64, "{}", w.window);
            let failed = in_window.iter().filter(|&&i| i % 10 == 0).count() as u64;
            let rejected = in_window.iter().filter(|&&i| i % 10 != 0 && i % 25 == 1).count() as u64;
            assert_eq!((w.failed, w.rejected), (failed, rejected), "{}", w.window);
            if in_window.is_empty() {
                assert_eq!(w.drop_to_return_ms.p50, None);
                continue;
            }
            for (got, vals) in [(&w.drop_to_return_ms, &drop), (&w.run_ms, &run)] {
                let mut sorted: Vec<f64> = in_window.iter().map(|&i| vals[i]).collect();
                sorted.sort_by(f64::total_cmp);
                for (q, p) in [(0.5, got.p50), (0.95, got.p95), (0.99, got.p99)] {
                    let (e, p) = (exact(&sorted, q), p.unwrap());
                    assert!(((p - e) / e).abs() <= crate::RELATIVE_ERROR + 1e-9, "{} q{q}: {p} vs exact {e}", w.window);
                }
                let mean = sorted.iter().sum::<f64>() / sorted.len() as f64;
                assert!((got.mean.unwrap() - mean).abs() < 1e-6 * mean);
            }
            assert!((w.handoffs_per_sec - w.events as f64 / w.seconds as f64).abs() < 1e-12);
        }
        let day = &ov.windows[5];
        assert!(day.events > 8_000 && day.events < 12_000, "{}", day.events);
    }

    #[test]
    fn an_empty_ledger_gives_empty_windows() {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        let ov = overview(l.stats(), T0, &BTreeMap::new()).unwrap();
        assert!(ov.windows.iter().all(|w| w.events == 0 && w.error_rate == 0.0 && w.run_ms.p99.is_none()));
        let json = serde_json::to_value(&ov).unwrap();
        assert_eq!(json["windows"][6]["window"], "7d");
        assert!(json["windows"][0]["drop_to_return_ms"]["p95"].is_null());
    }

    #[test]
    fn old_minutes_are_dropped_but_hours_keep_the_week() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        let ten_days = 10 * 86_400_000;
        fill(&mut l, |_| T0 - ten_days, &[5.0], &[1.0], |_| TaskState::Completed);
        fill(&mut l, |_| T0 - 6 * 86_400_000, &[5.0], &[1.0], |_| TaskState::Completed);
        fill(&mut l, |_| T0, &[5.0], &[1.0], |_| TaskState::Completed);
        let mut minutes = 0;
        l.stats().stat_rows(StatTable::Minutes, i64::MIN, i64::MAX, &mut |_| minutes += 1).unwrap();
        assert_eq!(minutes, 2, "the 10-day-old minute went when a newer one was written");
        let ov = overview(l.stats(), T0 + 1, &BTreeMap::new()).unwrap();
        assert_eq!(ov.windows[6].events, 2);
        assert_eq!(ov.windows[0].events, 1);
    }
}
