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
//! - **Several hosts** (a PostgreSQL ledger): the state changes and the follow-ups are two
//!   transactions that processes and hosts take in turns (the ledger's [`AlertTx`]), so a
//!   host that waited sees the other's firing and its mark, and writes no second TASK into its
//!   own copy of the tree.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use baton_ledger::read::{AlertRow, AlertTx, Alerts, StatsStore};
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

/// What is wrong with `[alerts]`: a sentence naming the key and the fix.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AlertsConfigError {
    #[error("[alerts] failure_window = {0:?} is not a window; use one of {names}", names = window_names())]
    Window(String),
    #[error("[alerts] failure_rate_percent = {0} must be between 0 and 100 (0 turns the rule off)")]
    FailureRate(f64),
    #[error("[alerts] fp_coverage_min = {0} must be a share between 0 and 1 (e.g. 0.8)")]
    Coverage(f64),
    #[error("[alerts] eval_secs must be at least 1")]
    EvalSecs,
    #[error(
        "[alerts] notify_agent = {0:?} is not an agent name (ASCII letters, digits, '.', '_', '-'; no leading dot or '..')"
    )]
    NotifyAgent(String),
}

/// The windows `failure_window` may name, for the message.
fn window_names() -> String {
    crate::WINDOWS.iter().map(|w| w.0).collect::<Vec<_>>().join(", ")
}

impl AlertsConfig {
    /// What is wrong with the section, as a sentence naming the key and the fix.
    pub fn check(&self) -> Result<(), AlertsConfigError> {
        if self.window_minutes().is_none() {
            return Err(AlertsConfigError::Window(self.failure_window.clone()));
        }
        if !(0.0..=100.0).contains(&self.failure_rate_percent) {
            return Err(AlertsConfigError::FailureRate(self.failure_rate_percent));
        }
        if let Some(c) = self.fp_coverage_min
            && !(0.0..=1.0).contains(&c)
        {
            return Err(AlertsConfigError::Coverage(c));
        }
        if self.eval_secs == 0 {
            return Err(AlertsConfigError::EvalSecs);
        }
        if let Some(a) = &self.notify_agent
            && !baton_handoff::names::is_valid_name(a)
        {
            return Err(AlertsConfigError::NotifyAgent(a.clone()));
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
pub const RULES: [&str; 5] =
    ["unanswered_handoff", "plugin_paused", "failure_rate", "fp_coverage", "audit_false_claims"];

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
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
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
fn conditions(conn: &dyn StatsStore, cfg: &AlertsConfig, input: &AlertInput, now_ms: i64) -> Result<Vec<Condition>> {
    let mut out = Vec::new();
    if cfg.unanswered_minutes > 0 {
        let cutoff = rfc3339(now_ms - cfg.unanswered_minutes as i64 * 60_000);
        for (agent, id, title) in conn.unanswered(&cutoff, TASK_ID_PREFIX, MAX_UNANSWERED)? {
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
                summary: format!(
                    "plan {} claims {} done, but the audit found it missing or a stub",
                    clip(&f.plan, 120),
                    clip(&f.path, 120)
                ),
                labels: BTreeMap::from([("plan".into(), f.plan.clone()), ("path".into(), f.path.clone())]),
            });
        }
    }
    Ok(out)
}

/// Evaluates the rules at `now_ms`: new conditions fire, held ones are seen again, cleared
/// ones resolve; then each firing not yet notified gets its follow-up TASK (with
/// `notify_agent`).
pub fn evaluate(conn: &mut dyn StatsStore, cfg: &AlertsConfig, input: &AlertInput, now_ms: i64) -> Result<Evaluation> {
    let conds = conditions(conn, cfg, input, now_ms)?;
    let now = rfc3339(now_ms);
    let mut ev = Evaluation::default();
    let mut holding = std::collections::BTreeSet::new();
    conn.alerts_update(&mut |tx: &dyn AlertTx| {
        // Built afresh on each try, so a transaction retried from the start counts once.
        ev = Evaluation::default();
        holding.clear();
        for c in &conds {
            let id = fingerprint(c.rule, &c.labels);
            if !holding.insert(id.clone()) {
                continue;
            }
            match tx.state(&id)?.as_deref() {
                None => {
                    tx.insert(&id, c.rule, &serde_json::to_string(&c.labels).unwrap_or_default(), &c.summary, &now)?;
                    ev.fired.push(id);
                }
                Some("firing") => tx.seen(&id, &now, &c.summary)?,
                Some(_) => {
                    tx.refire(&id, &now, &c.summary)?;
                    ev.fired.push(id);
                }
            }
        }
        for id in tx.firing()?.into_iter().filter(|id| !holding.contains(id)) {
            tx.resolve(&id, &now)?;
            ev.resolved.push(id);
        }
        tx.prune(&rfc3339(now_ms - RESOLVED_RETENTION_MS))
    })?;
    ev.firing = holding.len();
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

/// Writes the follow-up of every firing not yet notified, then marks it (see the module docs),
/// in one transaction that hosts take in turns: a host that waited finds the firings marked.
fn notify(conn: &mut dyn StatsStore, agent: &str, input: &AlertInput) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    // A file error inside the transaction: kept here, the transaction rolled back, returned.
    let mut io_error = None;
    let r = conn.alerts_update(&mut |tx: &dyn AlertTx| {
        written.clear();
        match notify_in(tx, agent, input, &mut written)? {
            Ok(()) => Ok(()),
            Err(e) => {
                let message = e.to_string();
                io_error = Some(e);
                Err(baton_ledger::LedgerError::Unsupported(message))
            }
        }
    });
    if let Some(e) = io_error {
        return Err(e);
    }
    r?;
    Ok(written)
}

/// The body of [`notify`]: ledger errors out, file errors in the inner result.
fn notify_in(
    tx: &dyn AlertTx,
    agent: &str,
    input: &AlertInput,
    written: &mut Vec<PathBuf>,
) -> baton_ledger::Result<Result<()>> {
    let pending: Vec<Alert> = tx.unnotified()?.into_iter().map(alert_from_row).collect();
    if pending.is_empty() {
        return Ok(Ok(()));
    }
    let agent_dir = input.handoffs_root.join(agent);
    let inbox = agent_dir.join("01_inbox");
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| StatsError::Io { path, source }
    };
    if let Err(e) = baton_fs::ensure_dir(&inbox).map_err(io(&inbox)) {
        return Ok(Err(e));
    }
    for alert in pending {
        let (file, body) = follow_up(&alert, agent, &input.self_agent);
        let path = inbox.join(&file);
        let delivered =
            ["01_inbox", "02_processed", "03_failed"].iter().any(|d| agent_dir.join(d).join(&file).exists())
                || tx.is_observed(agent, &file)?;
        if !delivered {
            let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
            match baton_fs::create_new(&path, &bytes, true).map_err(io(&path)) {
                Ok(true) => {
                    if let Err(e) = baton_fs::sync_dir(&inbox).map_err(io(&inbox)) {
                        return Ok(Err(e));
                    }
                    tracing::info!(alert = %alert.id, firing = alert.firing, file = %path.display(), "alert follow-up written");
                    written.push(path.clone());
                }
                Ok(false) => {}
                Err(e) => return Ok(Err(e)),
            }
        }
        tx.notified(&alert.id, alert.firing, &path.display().to_string())?;
    }
    Ok(Ok(()))
}

fn alert_from_row(r: AlertRow) -> Alert {
    Alert {
        labels: serde_json::from_str(&r.labels).unwrap_or_default(),
        id: r.id,
        rule: r.rule,
        summary: r.summary,
        state: r.state,
        firing: r.firing,
        started_at: r.started_at,
        last_seen_at: r.last_seen_at,
        resolved_at: r.resolved_at,
        acked_at: r.acked_at,
        notified: r.notified,
    }
}

/// Every alert: firing ones first, then resolved ones; newest first within each.
pub fn list(conn: &dyn StatsStore) -> Result<Vec<Alert>> {
    Ok(conn.alerts(Alerts::All)?.into_iter().map(alert_from_row).collect())
}

/// One alert by id.
pub fn get(conn: &dyn StatsStore, id: &str) -> Result<Option<Alert>> {
    Ok(conn.alerts(Alerts::Id(id))?.into_iter().next().map(alert_from_row))
}

/// Acknowledges the current firing of alert `id` (a new firing clears it);
/// [`StatsError::NotFound`] for an unknown id.
pub fn ack(conn: &dyn StatsStore, id: &str, now_ms: i64) -> Result<Alert> {
    if !conn.alert_ack(id, &rfc3339(now_ms))? {
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
        let input =
            AlertInput { handoffs_root: dir.path().join("handoffs"), self_agent: "baton".into(), ..Default::default() };
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
        let (_d, mut l, mut input) = setup();
        input.paused.insert("echo".into(), true);
        input.paused.insert("fine".into(), false);
        let e1 = evaluate(l.stats_mut(), &cfg(), &input, T0).unwrap();
        assert_eq!((e1.firing, e1.fired.len(), e1.notified.len()), (1, 1, 1));
        let id = e1.fired[0].clone();
        assert_eq!(id, fingerprint("plugin_paused", &BTreeMap::from([("plugin".into(), "echo".into())])));
        // Still paused: the same alert, no second TASK.
        for i in 1..5 {
            let e = evaluate(l.stats_mut(), &cfg(), &input, T0 + i * 5_000).unwrap();
            assert!(e.fired.is_empty() && e.notified.is_empty() && e.resolved.is_empty(), "{e:?}");
        }
        let all = list(l.stats()).unwrap();
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

        let acked = ack(l.stats(), &id, T0 + 21_000).unwrap();
        assert!(acked.acked_at.is_some());
        assert!(matches!(ack(l.stats(), "nope", T0), Err(StatsError::NotFound(_))));

        // Resumed: resolves on its own.
        input.paused.insert("echo".into(), false);
        let e = evaluate(l.stats_mut(), &cfg(), &input, T0 + 30_000).unwrap();
        assert_eq!((e.firing, e.resolved.clone()), (0, vec![id.clone()]));
        assert_eq!(get(l.stats(), &id).unwrap().unwrap().state, "resolved");
        assert!(evaluate(l.stats_mut(), &cfg(), &input, T0 + 35_000).unwrap().resolved.is_empty(), "resolves once");

        // Paused again: a new firing of the same alert, notified once more, ack cleared.
        input.paused.insert("echo".into(), true);
        let e = evaluate(l.stats_mut(), &cfg(), &input, T0 + 120_000).unwrap();
        assert_eq!((e.fired.clone(), e.notified.len()), (vec![id.clone()], 1));
        let a = get(l.stats(), &id).unwrap().unwrap();
        assert_eq!((a.firing, a.state.as_str(), a.acked_at.clone()), (2, "firing", None));
        assert_eq!(inbox_files(&input).len(), 2);
        assert_eq!(list(l.stats()).unwrap().len(), 1, "one identity, one row");
    }

    #[test]
    fn a_crash_between_the_task_and_the_mark_does_not_notify_twice() {
        let (_d, mut l, mut input) = setup();
        input.fp_coverage_ratio = Some(0.5);
        let cfg = AlertsConfig { fp_coverage_min: Some(0.8), ..cfg() };
        let e = evaluate(l.stats_mut(), &cfg, &input, T0).unwrap();
        assert_eq!(e.notified.len(), 1);
        // Simulate the crash: the TASK is on disk but the row was never marked.
        l.connection().execute("UPDATE alerts SET notified_firing = 0, notified = NULL", []).unwrap();
        let e = evaluate(l.stats_mut(), &cfg, &input, T0 + 5_000).unwrap();
        assert!(e.notified.is_empty(), "the file was found, not written again");
        assert_eq!(inbox_files(&input).len(), 1);
        assert!(get(l.stats(), &e_id(l.connection())).unwrap().unwrap().notified.is_some(), "marked now");
        // Same, but the agent already moved the TASK to its processed folder.
        l.connection().execute("UPDATE alerts SET notified_firing = 0, notified = NULL", []).unwrap();
        let name = inbox_files(&input).remove(0);
        let processed = input.handoffs_root.join("claude/02_processed");
        std::fs::create_dir_all(&processed).unwrap();
        std::fs::rename(input.handoffs_root.join("claude/01_inbox").join(&name), processed.join(&name)).unwrap();
        let e = evaluate(l.stats_mut(), &cfg, &input, T0 + 10_000).unwrap();
        assert!(e.notified.is_empty());
        assert!(inbox_files(&input).is_empty(), "not dropped into the inbox again");
        // Coverage back up: resolved.
        input.fp_coverage_ratio = Some(0.9);
        assert_eq!(evaluate(l.stats_mut(), &cfg, &input, T0 + 15_000).unwrap().resolved.len(), 1);
    }

    fn e_id(c: &baton_ledger::rusqlite::Connection) -> String {
        c.query_row("SELECT id FROM alerts", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn failure_rate_needs_min_events_and_unanswered_handoffs_age() {
        use baton_ledger::TaskState;
        use baton_ledger::stats::{Answered, StatsBatch};
        let (_d, mut l, input) = setup();
        let cfg = AlertsConfig {
            min_events: 10,
            failure_rate_percent: 30.0,
            failure_window: "5m".into(),
            ..AlertsConfig::default()
        };
        let add = |l: &mut Ledger, n: usize, failed: usize, at: i64| {
            l.batch(|b| {
                let mut s = StatsBatch::default();
                for i in 0..n {
                    let state = if i < failed { TaskState::Failed } else { TaskState::Completed };
                    s.add(&Answered {
                        plugin: "echo",
                        state,
                        at_ms: at,
                        drop_ms: Some(1.0),
                        run_ms: Some(1.0),
                        error_code: None,
                    });
                }
                b.record_stats(&s)
            })
            .unwrap()
        };
        add(&mut l, 5, 5, T0);
        assert_eq!(evaluate(l.stats_mut(), &cfg, &input, T0).unwrap().firing, 0, "5 events < min_events");
        add(&mut l, 5, 0, T0);
        let e = evaluate(l.stats_mut(), &cfg, &input, T0).unwrap();
        assert_eq!(e.firing, 1, "5 of 10 failed: 50% > 30%");
        let a = &list(l.stats()).unwrap()[0];
        assert_eq!(
            (a.rule.as_str(), a.labels["plugin"].as_str(), a.labels["window"].as_str()),
            ("failure_rate", "echo", "5m")
        );
        assert!(a.notified.is_none(), "no notify_agent, no TASK");
        // Five minutes later the window no longer holds them.
        assert_eq!(evaluate(l.stats_mut(), &cfg, &input, T0 + 5 * 60_000).unwrap().resolved.len(), 1);

        // Unanswered: a TASK seen 2 h ago with no RETURN; another answered; one recent.
        let seen = |ms: i64| rfc3339(ms);
        let task = |id: &str| baton_ledger::Observed {
            agent: "cursor".into(),
            file_name: format!("{id}.json"),
            kind: "task".into(),
            id: id.into(),
            in_reply_to: None,
            sender: "claude".into(),
            recipient: Some("cursor".into()),
            title: "<b>Review</b>".into(),
            created_at: seen(T0),
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
        let e = evaluate(l.stats_mut(), &cfg, &input, T0).unwrap();
        assert_eq!(e.firing, 1);
        let a = &list(l.stats()).unwrap()[0];
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
        for (c, key) in
            bad.iter().zip(["failure_window", "failure_rate_percent", "fp_coverage_min", "notify_agent", "eval_secs"])
        {
            let e = c.check().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
        assert!(AlertsConfig::default().check().is_ok());
    }
}
