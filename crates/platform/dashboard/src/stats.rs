//! The one seam to `baton-stats` (windows, percentiles, Prometheus text, alerts): the
//! dashboard computes none of that itself, it gathers the inputs and passes them on.
use std::collections::BTreeMap;
use std::fmt::Write;

use baton_ledger::read::StatsStore;
use baton_stats::metrics::escape;
use serde_json::Value;

use crate::DashboardError;

/// What `/metrics` and the overview need besides the ledger.
pub(crate) type Inputs = baton_stats::MetricsInput;

pub(crate) fn overview(conn: &dyn StatsStore, now_ms: i64, inputs: &Inputs) -> Result<Value, DashboardError> {
    let o = baton_stats::overview(conn, now_ms, &inputs.queue_depth)?;
    Ok(serde_json::to_value(o)?)
}

/// What `/metrics` shows beyond `baton-stats`' families, gathered by the dashboard.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// Paused plugin → why: `hand` or `failures` (the `reason` label of `baton_plugin_paused`).
    pub pause_reasons: BTreeMap<String, &'static str>,
    /// Agent → RETURNs waiting unread in its inbox.
    pub unread: BTreeMap<String, u64>,
    /// Agent → handoffs between agents with no RETURN yet: (open, of which stale).
    pub between_agents: BTreeMap<String, (u64, u64)>,
    /// Alert rule → alerts of that rule firing now.
    pub alerts_firing: BTreeMap<String, u64>,
    /// When the serve loop last finished a pass over the inbox (Unix ms), if it has.
    pub last_pass_ms: Option<i64>,
}

pub(crate) fn metrics(conn: &dyn StatsStore, inputs: &Inputs, extra: &Extra) -> Result<String, DashboardError> {
    let mut text = baton_stats::metrics_text(conn, inputs)?;
    // `baton_plugin_paused` says why: its paused series get a `reason` label.
    for (plugin, why) in &extra.pause_reasons {
        let series = format!("baton_plugin_paused{{plugin=\"{}\"}} 1\n", escape(plugin));
        text = text
            .replace(&series, &format!("baton_plugin_paused{{plugin=\"{}\",reason=\"{why}\"}} 1\n", escape(plugin)));
    }
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(text, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, v) in rows {
            let _ = writeln!(text, "{name}{labels} {v}");
        }
    };
    let agent = |a: &str| format!("{{agent=\"{}\"}}", escape(a));
    family(
        "baton_build_info",
        "gauge",
        "Always 1; the running baton's version.",
        vec![(format!("{{version=\"{}\"}}", escape(env!("CARGO_PKG_VERSION"))), "1".into())],
    );
    family(
        "baton_unread_returns",
        "gauge",
        "RETURNs waiting unread in an agent's inbox (mail, not work).",
        extra.unread.iter().map(|(a, n)| (agent(a), n.to_string())).collect(),
    );
    family(
        "baton_handoffs_between_agents_open",
        "gauge",
        "Handoffs between agents with no RETURN yet, by recipient.",
        extra.between_agents.iter().map(|(a, (open, _))| (agent(a), open.to_string())).collect(),
    );
    family(
        "baton_handoffs_between_agents_stale",
        "gauge",
        "Of those, the ones older than the dashboard's stale age (an hour).",
        extra.between_agents.iter().map(|(a, (_, stale))| (agent(a), stale.to_string())).collect(),
    );
    family(
        "baton_alerts_firing",
        "gauge",
        "Alerts firing now, by rule.",
        extra.alerts_firing.iter().map(|(r, n)| (format!("{{rule=\"{}\"}}", escape(r)), n.to_string())).collect(),
    );
    if let Some(ms) = extra.last_pass_ms {
        family(
            "baton_last_pass_timestamp_seconds",
            "gauge",
            "When serve last finished a pass over its inbox (Unix time).",
            vec![(String::new(), format!("{}", ms as f64 / 1000.0))],
        );
    }
    histograms(conn, &inputs.installed, &mut text)?;
    crate::procfs::write(&mut text);
    Ok(text)
}

/// Per plugin, `baton_drop_to_return_seconds` (a TASK landing in the inbox to its RETURN's
/// record) and `baton_task_run_seconds` (the plugin's run), from the ledger's per-hour rows,
/// which are never pruned: monotonic across restarts, like the counters. Those rows keep log
/// histograms (see [`baton_ledger::stats`]); each log bucket is counted under the first
/// Prometheus bound not below its middle, so a bound is exact within the rows' relative error.
/// A plugin that is not installed is `unknown`, as in `baton_handoffs_total`.
fn histograms(
    conn: &dyn StatsStore,
    installed: &std::collections::BTreeSet<String>,
    out: &mut String,
) -> Result<(), DashboardError> {
    use baton_ledger::read::StatTable;
    use baton_ledger::stats::{Hist, PROM_BUCKETS_S, bucket_value};
    let mut drop: BTreeMap<String, Hist> = installed.iter().map(|p| (p.clone(), Hist::default())).collect();
    let mut run = drop.clone();
    conn.stat_rows(StatTable::Hours, i64::MIN, i64::MAX, &mut |r| {
        let plugin = if installed.contains(r.plugin) { r.plugin.to_string() } else { "unknown".to_string() };
        drop.entry(plugin.clone()).or_default().merge_encoded(r.drop_hist, r.drop_sum);
        run.entry(plugin).or_default().merge_encoded(r.run_hist, r.run_sum);
    })?;
    let mut family = |name: &str, help: &str, hists: &BTreeMap<String, Hist>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (plugin, h) in hists {
            let mut per = [0u64; PROM_BUCKETS_S.len() + 1];
            for (i, &c) in h.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
                per[baton_ledger::stats::prom_bucket(bucket_value(i) / 1e3)] += c;
            }
            let p = escape(plugin);
            let mut cumulative = 0;
            for (i, n) in per.iter().enumerate() {
                cumulative += n;
                let le = PROM_BUCKETS_S.get(i).map_or_else(|| "+Inf".to_string(), |v| format!("{v}"));
                let _ = writeln!(out, "{name}_bucket{{plugin=\"{p}\",le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_sum{{plugin=\"{p}\"}} {}", h.sum / 1e3);
            let _ = writeln!(out, "{name}_count{{plugin=\"{p}\"}} {cumulative}");
        }
    };
    family(
        "baton_drop_to_return_seconds",
        "From a TASK landing in the inbox to its RETURN's record, by plugin.",
        &drop,
    );
    family(
        "baton_task_run_seconds",
        "Run time of handoffs that ran a plugin, by plugin (baton_task_duration_seconds by plugin).",
        &run,
    );
    Ok(())
}

pub(crate) fn alerts(conn: &dyn StatsStore) -> Result<Value, DashboardError> {
    let list = baton_stats::alerts::list(conn)?;
    Ok(serde_json::to_value(list)?)
}

/// `Ok(None)`: no alert with that id.
pub(crate) fn ack(conn: &dyn StatsStore, id: &str, now_ms: i64) -> Result<Option<Value>, DashboardError> {
    match baton_stats::alerts::ack(conn, id, now_ms) {
        Ok(a) => Ok(Some(serde_json::to_value(a)?)),
        Err(baton_stats::StatsError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The fingerprint coverage the Library page measures against when `[alerts] fp_coverage_min`
/// is unset (`baton fp coverage`'s default).
pub(crate) const FP_COVERAGE_THRESHOLD: f64 = 0.8;
