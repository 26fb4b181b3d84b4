//! The one seam to `baton-stats` (windows, percentiles, Prometheus text, alerts): the
//! dashboard computes none of that itself, it gathers the inputs and passes them on.
use baton_ledger::read::StatsStore;
use serde_json::Value;

/// What `/metrics` and the overview need besides the ledger.
pub(crate) type Inputs = baton_stats::MetricsInput;

pub(crate) fn overview(conn: &dyn StatsStore, now_ms: i64, inputs: &Inputs) -> Result<Value, String> {
    let o = baton_stats::overview(conn, now_ms, &inputs.queue_depth).map_err(|e| e.to_string())?;
    serde_json::to_value(o).map_err(|e| e.to_string())
}

pub(crate) fn metrics(conn: &dyn StatsStore, inputs: &Inputs) -> Result<String, String> {
    baton_stats::metrics_text(conn, inputs).map_err(|e| e.to_string())
}

pub(crate) fn alerts(conn: &dyn StatsStore) -> Result<Value, String> {
    let list = baton_stats::alerts::list(conn).map_err(|e| e.to_string())?;
    serde_json::to_value(list).map_err(|e| e.to_string())
}

/// `Ok(None)`: no alert with that id.
pub(crate) fn ack(conn: &dyn StatsStore, id: &str, now_ms: i64) -> Result<Option<Value>, String> {
    match baton_stats::alerts::ack(conn, id, now_ms) {
        Ok(a) => serde_json::to_value(a).map(Some).map_err(|e| e.to_string()),
        Err(baton_stats::StatsError::NotFound(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// The fingerprint coverage the Library page measures against when `[alerts] fp_coverage_min`
/// is unset (`baton fp coverage`'s default).
pub(crate) const FP_COVERAGE_THRESHOLD: f64 = 0.8;
