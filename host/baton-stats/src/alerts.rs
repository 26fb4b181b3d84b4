//! Alerts: rules from `[alerts]` in `baton.toml`, evaluated every few seconds by `baton
//! serve`, kept in the ledger's `alerts` table.
//!
//! Why it works this way:
//! - **Identity.** An alert is its rule plus its labels; its id is a fingerprint of both
//!   (sha256, 16 hex digits), so a condition that keeps holding is one alert, across
//!   evaluations and restarts, never a new row each time.
//! - **Firings.** An alert fires when its condition starts to hold and resolves on its own at
//!   the first evaluation where it no longer does. If it holds again later, that is a new
//!   firing of the same alert (`firing` + 1; the acknowledgement is cleared).
//! - **Exactly one follow-up per firing.** With `notify_agent`, each firing drops one TASK
//!   into `handoffs/<agent>/01_inbox/`. Its file name and id are derived from the alert id
//!   and the firing number only, and it is created with baton-fs's no-replace durable create
//!   *before* the row is marked notified. A crash between the two leaves the row unmarked;
//!   the next evaluation derives the same name, finds the file (in the inbox, in the agent's
//!   `02_processed/`/`03_failed/`, or in the observed table if the agent moved it elsewhere)
//!   and only marks the row. So a firing is notified at least once by the order of the steps
//!   and at most once by the name.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Result, StatsError};

/// `[alerts]` in `baton.toml`. Every field has a default; see [`AlertsConfig::check`].
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Evaluate the rules in `baton serve`.
    pub enabled: bool,
    /// How often `baton serve` evaluates them, in seconds (at least 1).
    pub eval_secs: u64,
    /// A TASK between agents with no RETURN this many minutes after baton saw it; 0: off.
    pub unanswered_minutes: u64,
    /// A plugin paused after repeated sandbox failures.
    pub plugin_paused: bool,
    /// A plugin's failed share of its answers over `failure_window` above this percentage,
    /// once it has at least `min_events` answers there; 0: off.
    pub failure_rate_percent: f64,
    /// One of 1m, 5m, 15m, 1h, 6h, 24h, 7d.
    pub failure_window: String,
    pub min_events: u64,
    /// Fingerprint coverage (0..=1) under this; unset: off.
    pub fp_coverage_min: Option<f64>,
    /// False claims in the latest plans audit, one alert each.
    pub audit_false_claims: bool,
    /// The agent that gets one follow-up TASK per new firing; unset: none.
    pub notify_agent: Option<String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            enabled: true,
            eval_secs: 5,
            unanswered_minutes: 60,
            plugin_paused: true,
            failure_rate_percent: 20.0,
            failure_window: "15m".into(),
            min_events: 20,
            fp_coverage_min: None,
            audit_false_claims: true,
            notify_agent: None,
        }
    }
}

impl AlertsConfig {
    /// What is wrong with the section, as a sentence naming the key and the fix.
    pub fn check(&self) -> Result<(), String> {
        if self.window_minutes().is_none() {
            let names: Vec<&str> = crate::WINDOWS.iter().map(|w| w.0).collect();
            return Err(format!(
                "[alerts] failure_window = {:?} is not a window; use one of {}",
                self.failure_window,
                names.join(", ")
            ));
        }
        if !(0.0..=100.0).contains(&self.failure_rate_percent) {
            return Err(format!(
                "[alerts] failure_rate_percent = {} must be between 0 and 100 (0 turns the rule off)",
                self.failure_rate_percent
            ));
        }
        if let Some(c) = self.fp_coverage_min
            && !(0.0..=1.0).contains(&c)
        {
            return Err(format!("[alerts] fp_coverage_min = {c} must be a share between 0 and 1 (e.g. 0.8)"));
        }
        if self.eval_secs == 0 {
            return Err("[alerts] eval_secs must be at least 1".into());
        }
        if let Some(a) = &self.notify_agent
            && !baton_handoff::names::is_valid_name(a)
        {
            return Err(format!(
                "[alerts] notify_agent = {a:?} is not an agent name (letters, digits, '.', '_', '-'; no leading dot or '..')"
            ));
        }
        Ok(())
    }

    fn window_minutes(&self) -> Option<u64> {
        crate::WINDOWS.iter().find(|w| w.0 == self.failure_window).map(|w| w.1 / 60)
    }
}

/// A false claim of the latest audit report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FalseClaimRef {
    pub plan: String,
    pub path: String,
}

/// What the rules need besides the ledger, gathered by the caller.
#[derive(Debug, Clone, Default)]
pub struct AlertInput {
    /// Installed plugin → paused now.
    pub paused: BTreeMap<String, bool>,
    pub fp_coverage_ratio: Option<f64>,
    /// The latest audit report's false claims (`None`: no report).
    pub false_claims: Option<Vec<FalseClaimRef>>,
    /// Where agents' folders are (`handoffs/`), for the follow-up TASKs.
    pub handoffs_root: PathBuf,
    /// baton's own agent name: the sender of the follow-ups.
    pub self_agent: String,
}

/// One alert, as `GET /api/alerts` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: String,
    pub rule: String,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    /// `firing` or `resolved`.
    pub state: String,
    /// How many times this alert has fired (a firing is one stretch of its condition holding).
    pub firing: u64,
    pub started_at: String,
    pub last_seen_at: String,
    pub resolved_at: Option<String>,
    pub acked_at: Option<String>,
    /// The follow-up TASK of the current firing, once written.
    pub notified: Option<String>,
}

/// What one evaluation changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Evaluation {
    /// Alerts firing now.
    pub firing: usize,
    /// Ids that started a new firing in this evaluation.
    pub fired: Vec<String>,
    /// Ids that resolved in this evaluation.
    pub resolved: Vec<String>,
    /// Follow-up TASKs written in this evaluation.
    pub notified: Vec<PathBuf>,
}

/// The rule names.
pub const RULES: [&str; 5] = ["unanswered_handoff", "plugin_paused", "failure_rate", "fp_coverage", "audit_false_claims"];

/// Ids of alert TASKs start with this; they are never themselves "unanswered handoffs".
pub const TASK_ID_PREFIX: &str = "baton-alert-";
/// Resolved alerts are forgotten this long after they resolved.
const RESOLVED_RETENTION_MS: i64 = 7 * 86_400_000;
/// At most this many unanswered handoffs are alerted on at once (the oldest).
const MAX_UNANSWERED: i64 = 500;

struct Condition {
    rule: &'static str,
    labels: BTreeMap<String, String>,
    summary: String,
}

/// An alert's id: the fingerprint of its rule and labels.
pub fn fingerprint(rule: &str, labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    for (k, v) in labels {
        h.update([0u8]);
        h.update(k.as_bytes());
        h.update([b'=']);
        h.update(v.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

fn stamp_of(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn rfc3339(ms: i64) -> String {
    baton_handoff::stamp::rfc3339(stamp_of(ms))
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The conditions that hold now.
fn conditions(conn: &Connection, cfg: &AlertsConfig, input: &AlertInput, now_ms: i64) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    if cfg.unanswered_minutes > 0 {
        let cutoff = rfc3339(now_ms - cfg.unanswered_minutes as i64 * 60_000);
        let mut st = conn.prepare_cached(
            "SELECT agent, id, title FROM observed o
             WHERE kind = 'task' AND seen_at < ?1 AND id NOT LIKE ?2
               AND NOT EXISTS (SELECT 1 FROM observed r WHERE r.kind = 'return' AND r.in_reply_to = o.id)
             ORDER BY seen_at LIMIT ?3",
        )?;
        let rows = st.query_map(params![cutoff, format!("{TASK_ID_PREFIX}%"), MAX_UNANSWERED], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
        })?;
        for row in rows {
            let (agent, id, title) = row?;
            out.push(Condition {
                rule: "unanswered_handoff",
                summary: format!(
                    "TASK {} ({}) in {agent}'s inbox has no RETURN after {} min",
                    clip(&id, 80),
                    clip(&title, 120),
                    cfg.unanswered_minutes
                ),
                labels: BTreeMap::from([("agent".into(), agent), ("id".into(), id)]),
            });
        }
    }
    if cfg.plugin_paused {
        for (plugin, _) in input.paused.iter().filter(|(_, p)| **p) {
            out.push(Condition {
                rule: "plugin_paused",
                summary: format!("plugin {plugin} is paused after repeated sandbox failures"),
                labels: BTreeMap::from([("plugin".into(), plugin.clone())]),
            });
        }
    }
    if cfg.failure_rate_percent > 0.0
        && let Some(minutes) = cfg.window_minutes()
    {
        for (plugin, b) in crate::window::window_by_plugin(conn, now_ms, minutes)? {
            let events = b.events();
            let rate = if events == 0 { 0.0 } else { b.failed as f64 * 100.0 / events as f64 };
            if events >= cfg.min_events.max(1) && rate > cfg.failure_rate_percent {
                out.push(Condition {
                    rule: "failure_rate",
                    summary: format!(
                        "plugin {plugin}: {rate:.1}% of {events} handoffs failed in the last {} (over {}%)",
                        cfg.failure_window, cfg.failure_rate_percent
                    ),
                    labels: BTreeMap::from([("plugin".into(), plugin), ("window".into(), cfg.failure_window.clone())]),
                });
            }
        }
    }
    if let (Some(min), Some(ratio)) = (cfg.fp_coverage_min, input.fp_coverage_ratio)
        && ratio < min
    {
        out.push(Condition {
            rule: "fp_coverage",
            summary: format!("fingerprint coverage {:.1}% is under {:.1}%", ratio * 100.0, min * 100.0),
            labels: BTreeMap::new(),
        });
    }
    if cfg.audit_false_claims {
        for f in input.false_claims.iter().flatten() {
            out.push(Condition {
                rule: "audit_false_claims",
                summary: format!("plan {} claims {} done, but the audit found it missing or a stub", clip(&f.plan, 120), clip(&f.path, 120)),
                labels: BTreeMap::from([("plan".into(), f.plan.clone()), ("path".into(), f.path.clone())]),
            });
        }
    }
    Ok(out)
}

/// Evaluates the rules at `now_ms`: new conditions fire, held ones are seen again, cleared
/// ones resolve; then each firing not yet notified gets its follow-up TASK (with
/// `notify_agent`).
pub fn evaluate(conn: &Connection, cfg: &AlertsConfig, input: &AlertInput, now_ms: i64) -> Result<Evaluation> {
    let conds = conditions(conn, cfg, input, now_ms)?;
    let now = rfc3339(now_ms);
    let mut ev = Evaluation::default();
    {
        let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
        let mut holding = std::collections::BTreeSet::new();
        for c in &conds {
            let id = fingerprint(c.rule, &c.labels);
            if !holding.insert(id.clone()) {
                continue;
            }
            let state: Option<String> =
                tx.prepare_cached("SELECT state FROM alerts WHERE id = ?1")?.query_row([&id], |r| r.get(0)).optional()?;
            match state.as_deref() {
                None => {
                    tx.prepare_cached(
                        "INSERT INTO alerts(id, rule, labels, summary, state, firing, started_at, last_seen_at)
                         VALUES (?1, ?2, ?3, ?4, 'firing', 1, ?5, ?5)",
                    )?
                    .execute(params![id, c.rule, serde_json::to_string(&c.labels).unwrap_or_default(), c.summary, now])?;
                    ev.fired.push(id);
                }
                Some("firing") => {
                    tx.prepare_cached("UPDATE alerts SET last_seen_at = ?2, summary = ?3 WHERE id = ?1")?
                        .execute(params![id, now, c.summary])?;
                }
                Some(_) => {
                    tx.prepare_cached(
                        "UPDATE alerts SET state = 'firing', firing = firing + 1, started_at = ?2, last_seen_at = ?2,
                                resolved_at = NULL, acked_at = NULL, notified = NULL, summary = ?3
                         WHERE id = ?1",
                    )?
                    .execute(params![id, now, c.summary])?;
                    ev.fired.push(id);
                }
            }
        }
        let firing: Vec<String> = {
            let mut st = tx.prepare_cached("SELECT id FROM alerts WHERE state = 'firing'")?;
            st.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
        };
        for id in firing.into_iter().filter(|id| !holding.contains(id)) {
            tx.prepare_cached("UPDATE alerts SET state = 'resolved', resolved_at = ?2 WHERE id = ?1")?.execute(params![id, now])?;
            ev.resolved.push(id);
        }
        tx.prepare_cached("DELETE FROM alerts WHERE state = 'resolved' AND resolved_at < ?1")?
            .execute([rfc3339(now_ms - RESOLVED_RETENTION_MS)])?;
        ev.firing = holding.len();
        tx.commit()?;
    }
    if let Some(agent) = cfg.notify_agent.as_deref() {
        ev.notified = notify(conn, agent, input)?;
    }
    Ok(ev)
}

/// The follow-up TASK of one firing: its file name and body, from the alert alone.
pub fn follow_up(alert: &Alert, agent: &str, self_agent: &str) -> (String, serde_json::Value) {
    let started = baton_handoff::stamp::parse_rfc3339(&alert.started_at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let task_id = format!("{TASK_ID_PREFIX}{}-{}", alert.id, alert.firing);
    let file = baton_handoff::names::file_name(
        &baton_handoff::stamp::file_stamp(started),
        "TASK",
        &format!("Alert-{}-{}-{}", alert.rule.replace('_', "-"), alert.id, alert.firing),
        self_agent,
    );
    let body = serde_json::json!({
        "schema": baton_handoff::SCHEMA_ID,
        "id": task_id,
        "kind": "task",
        "created_at": alert.started_at,
        "from": self_agent,
        "to": agent,
        "reply_to": self_agent,
        "title": clip(&format!("Alert: {}", alert.summary), 500),
        "correlation_id": format!("{TASK_ID_PREFIX}{}", alert.id),
        "alert": {"id": alert.id, "rule": alert.rule, "labels": alert.labels, "firing": alert.firing,
                  "started_at": alert.started_at, "summary": alert.summary},
    });
    (file, body)
}

/// Writes the follow-up of every firing not yet notified, then marks it (see the module docs).
fn notify(conn: &Connection, agent: &str, input: &AlertInput) -> Result<Vec<PathBuf>> {
    let pending: Vec<Alert> = {
        let mut st = conn.prepare_cached(&format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'firing' AND notified_firing < firing ORDER BY started_at, id"
        ))?;
        st.query_map([], alert_from_row)?.collect::<rusqlite::Result<_>>()?
    };
    let mut written = Vec::new();
    if pending.is_empty() {
        return Ok(written);
    }
    let agent_dir = input.handoffs_root.join(agent);
    let inbox = agent_dir.join("01_inbox");
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| StatsError::Io { path, source }
    };
    std::fs::create_dir_all(&inbox).map_err(io(&inbox))?;
    for alert in pending {
        let (file, body) = follow_up(&alert, agent, &input.self_agent);
        let path = inbox.join(&file);
        let delivered = ["01_inbox", "02_processed", "03_failed"].iter().any(|d| agent_dir.join(d).join(&file).exists())
            || conn
                .prepare_cached("SELECT 1 FROM observed WHERE agent = ?1 AND file_name = ?2")?
                .exists(params![agent, file])?;
        if !delivered {
            let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
            if baton_fs::create_new(&path, &bytes, true).map_err(io(&path))? {
                baton_fs::sync_dir(&inbox).map_err(io(&inbox))?;
                tracing::info!(alert = %alert.id, firing = alert.firing, file = %path.display(), "alert follow-up written");
                written.push(path.clone());
            }
        }
        conn.prepare_cached("UPDATE alerts SET notified_firing = ?2, notified = ?3 WHERE id = ?1 AND firing = ?2")?
            .execute(params![alert.id, alert.firing as i64, path.display().to_string()])?;
    }
    Ok(written)
}

const ALERT_COLUMNS: &str = "id, rule, labels, summary, state, firing, started_at, last_seen_at, resolved_at, acked_at, notified";

fn alert_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Alert> {
    let labels: String = r.get(2)?;
    Ok(Alert {
        id: r.get(0)?,
        rule: r.get(1)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        summary: r.get(3)?,
        state: r.get(4)?,
        firing: r.get::<_, i64>(5)? as u64,
        started_at: r.get(6)?,
        last_seen_at: r.get(7)?,
        resolved_at: r.get(8)?,
        acked_at: r.get(9)?,
        notified: r.get(10)?,
    })
}

/// Every alert: firing ones first, then resolved ones; newest first within each.
pub fn list(conn: &Connection) -> Result<Vec<Alert>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {ALERT_COLUMNS} FROM alerts ORDER BY state = 'resolved', started_at DESC, id"
    ))?;
    Ok(st.query_map([], alert_from_row)?.collect::<rusqlite::Result<_>>()?)
}

/// One alert by id.
pub fn get(conn: &Connection, id: &str) -> Result<Option<Alert>> {
    let mut st = conn.prepare_cached(&format!("SELECT {ALERT_COLUMNS} FROM alerts WHERE id = ?1"))?;
    Ok(st.query_row([id], alert_from_row).optional()?)
}

/// Acknowledges the current firing of alert `id` (a new firing clears it);
/// [`StatsError::NotFound`] for an unknown id.
pub fn ack(conn: &Connection, id: &str, now_ms: i64) -> Result<Alert> {
    let n = conn
        .prepare_cached("UPDATE alerts SET acked_at = COALESCE(acked_at, ?2) WHERE id = ?1")?
        .execute(params![id, rfc3339(now_ms)])?;
    if n == 0 {
        return Err(StatsError::NotFound(format!("no alert with id {id:?}")));
    }
    get(conn, id)?.ok_or_else(|| StatsError::NotFound(format!("no alert with id {id:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_ledger::Ledger;

    const T0: i64 = 1_800_000_000_000;

    fn setup() -> (tempfile::TempDir, Ledger, AlertInput) {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::open(&dir.path().join("state/s.sqlite")).unwrap();
        let input = AlertInput { handoffs_root: dir.path().join("handoffs"), self_agent: "baton".into(), ..Default::default() };
        (dir, l, input)
    }

    fn cfg() -> AlertsConfig {
        AlertsConfig { notify_agent: Some("claude".into()), ..AlertsConfig::default() }
    }

    fn inbox_files(input: &AlertInput) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(input.handoffs_root.join("claude/01_inbox"))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    #[test]
    fn an_alert_fires_once_deduplicates_resolves_and_fires_again() {
        let (_d, l, mut input) = setup();
        let c = l.connection();
        input.paused.insert("echo".into(), true);
        input.paused.insert("fine".into(), false);
        let e1 = evaluate(c, &cfg(), &input, T0).unwrap();
        assert_eq!((e1.firing, e1.fired.len(), e1.notified.len()), (1, 1, 1));
        let id = e1.fired[0].clone();
        assert_eq!(id, fingerprint("plugin_paused", &BTreeMap::from([("plugin".into(), "echo".into())])));
        // Still paused: the same alert, no second TASK.
        for i in 1..5 {
            let e = evaluate(c, &cfg(), &input, T0 + i * 5_000).unwrap();
            assert!(e.fired.is_empty() && e.notified.is_empty() && e.resolved.is_empty(), "{e:?}");
        }
        let all = list(c).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].state.as_str(), all[0].firing), ("firing", 1));
        assert_eq!(all[0].last_seen_at, rfc3339(T0 + 20_000));
        assert_eq!(inbox_files(&input).len(), 1);
        // The TASK is a valid handoff for the agent.
        let path = input.handoffs_root.join("claude/01_inbox").join(&inbox_files(&input)[0]);
        let (body, _) = baton_handoff::schema::parse(&std::fs::read(&path).unwrap()).unwrap();
        let baton_handoff::Body::Task(t) = body else { panic!("not a task") };
        assert_eq!((t.to.as_deref(), t.from.as_str()), (Some("claude"), "baton"));
        assert_eq!(t.id, format!("baton-alert-{id}-1"));

        let acked = ack(c, &id, T0 + 21_000).unwrap();
        assert!(acked.acked_at.is_some());
        assert!(matches!(ack(c, "nope", T0), Err(StatsError::NotFound(_))));

        // Resumed: resolves on its own.
        input.paused.insert("echo".into(), false);
        let e = evaluate(c, &cfg(), &input, T0 + 30_000).unwrap();
        assert_eq!((e.firing, e.resolved.clone()), (0, vec![id.clone()]));
        assert_eq!(get(c, &id).unwrap().unwrap().state, "resolved");
        assert!(evaluate(c, &cfg(), &input, T0 + 35_000).unwrap().resolved.is_empty(), "resolves once");

        // Paused again: a new firing of the same alert, notified once more, ack cleared.
        input.paused.insert("echo".into(), true);
        let e = evaluate(c, &cfg(), &input, T0 + 120_000).unwrap();
        assert_eq!((e.fired.clone(), e.notified.len()), (vec![id.clone()], 1));
        let a = get(c, &id).unwrap().unwrap();
        assert_eq!((a.firing, a.state.as_str(), a.acked_at.clone()), (2, "firing", None));
        assert_eq!(inbox_files(&input).len(), 2);
        assert_eq!(list(c).unwrap().len(), 1, "one identity, one row");
    }

    #[test]
    fn a_crash_between_the_task_and_the_mark_does_not_notify_twice() {
        let (_d, l, mut input) = setup();
        let c = l.connection();
        input.fp_coverage_ratio = Some(0.5);
        let cfg = AlertsConfig { fp_coverage_min: Some(0.8), ..cfg() };
        let e = evaluate(c, &cfg, &input, T0).unwrap();
        assert_eq!(e.notified.len(), 1);
        // Simulate the crash: the TASK is on disk but the row was never marked.
        c.execute("UPDATE alerts SET notified_firing = 0, notified = NULL", []).unwrap();
        let e = evaluate(c, &cfg, &input, T0 + 5_000).unwrap();
        assert!(e.notified.is_empty(), "the file was found, not written again");
        assert_eq!(inbox_files(&input).len(), 1);
        assert!(get(c, &e_id(c)).unwrap().unwrap().notified.is_some(), "marked now");
        // Same, but the agent already moved the TASK to its processed folder.
        c.execute("UPDATE alerts SET notified_firing = 0, notified = NULL", []).unwrap();
        let name = inbox_files(&input).remove(0);
        let processed = input.handoffs_root.join("claude/02_processed");
        std::fs::create_dir_all(&processed).unwrap();
        std::fs::rename(input.handoffs_root.join("claude/01_inbox").join(&name), processed.join(&name)).unwrap();
        let e = evaluate(c, &cfg, &input, T0 + 10_000).unwrap();
        assert!(e.notified.is_empty());
        assert!(inbox_files(&input).is_empty(), "not dropped into the inbox again");
        // Coverage back up: resolved.
        input.fp_coverage_ratio = Some(0.9);
        assert_eq!(evaluate(c, &cfg, &input, T0 + 15_000).unwrap().resolved.len(), 1);
    }

    fn e_id(c: &Connection) -> String {
        c.query_row("SELECT id FROM alerts", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn failure_rate_needs_min_events_and_unanswered_handoffs_age() {
        use baton_ledger::stats::{Answered, StatsBatch};
        use baton_ledger::TaskState;
        let (_d, mut l, input) = setup();
        let cfg = AlertsConfig { min_events: 10, failure_rate_percent: 30.0, failure_window: "5m".into(), ..AlertsConfig::default() };
        let add = |l: &mut Ledger, n: usize, failed: usize, at: i64| {
            l.batch(|b| {
                let mut s = StatsBatch::default();
                for i in 0..n {
                    let state = if i < failed { TaskState::Failed } else { TaskState::Completed };
                    s.add(&Answered { plugin: "echo", state, at_ms: at, drop_ms: Some(1.0), run_ms: Some(1.0) });
                }
                b.record_stats(&s)
            })
            .unwrap()
        };
        add(&mut l, 5, 5, T0);
        assert_eq!(evaluate(l.connection(), &cfg, &input, T0).unwrap().firing, 0, "5 events < min_events");
        add(&mut l, 5, 0, T0);
        let e = evaluate(l.connection(), &cfg, &input, T0).unwrap();
        assert_eq!(e.firing, 1, "5 of 10 failed: 50% > 30%");
        let a = &list(l.connection()).unwrap()[0];
        assert_eq!((a.rule.as_str(), a.labels["plugin"].as_str(), a.labels["window"].as_str()), ("failure_rate", "echo", "5m"));
        assert!(a.notified.is_none(), "no notify_agent, no TASK");
        // Five minutes later the window no longer holds them.
        assert_eq!(evaluate(l.connection(), &cfg, &input, T0 + 5 * 60_000).unwrap().resolved.len(), 1);

        // Unanswered: a TASK seen 2 h ago with no RETURN; another answered; one recent.
        let seen = |ms: i64| rfc3339(ms);
        let task = |id: &str| baton_ledger::Observed {
            agent: "cursor".into(), file_name: format!("{id}.json"), kind: "task".into(), id: id.into(), in_reply_to: None,
            sender: "claude".into(), recipient: Some("cursor".into()), title: "<b>Review</b>".into(), created_at: seen(T0),
        };
        l.batch(|b| {
            b.observe(&task("OLD"), &seen(T0 - 2 * 3_600_000))?;
            b.observe(&task("ANSWERED"), &seen(T0 - 2 * 3_600_000))?;
            b.observe(&task("NEW"), &seen(T0 - 60_000))?;
            b.observe(&task("baton-alert-x-1"), &seen(T0 - 2 * 3_600_000))?;
            let mut r = task("R");
            r.kind = "return".into();
            r.in_reply_to = Some("ANSWERED".into());
            b.observe(&r, &seen(T0))
        })
        .unwrap();
        let cfg = AlertsConfig { failure_rate_percent: 0.0, ..AlertsConfig::default() };
        let e = evaluate(l.connection(), &cfg, &input, T0).unwrap();
        assert_eq!(e.firing, 1);
        let a = &list(l.connection()).unwrap()[0];
        assert_eq!((a.rule.as_str(), a.labels["id"].as_str()), ("unanswered_handoff", "OLD"));
        assert!(a.summary.contains("<b>Review</b>"), "kept as text; the page escapes it");
    }

    #[test]
    fn bad_config_is_refused_with_the_key_named() {
        let bad = [
            AlertsConfig { failure_window: "2m".into(), ..Default::default() },
            AlertsConfig { failure_rate_percent: 120.0, ..Default::default() },
            AlertsConfig { fp_coverage_min: Some(80.0), ..Default::default() },
            AlertsConfig { notify_agent: Some("../x".into()), ..Default::default() },
            AlertsConfig { eval_secs: 0, ..Default::default() },
        ];
        for (c, key) in bad.iter().zip(["failure_window", "failure_rate_percent", "fp_coverage_min", "notify_agent", "eval_secs"]) {
            let e = c.check().unwrap_err();
            assert!(e.contains(key), "{e}");
        }
        assert!(AlertsConfig::default().check().is_ok());
    }
}
