//! `baton serve`'s alert loop (every `[alerts] eval_secs`, on a blocking thread with its own
//! connections to the ledger and to this machine's fingerprint library, never on the
//! pipeline's path), and the look at the state the alerts judge besides the ledger's summary
//! tables: which plugins are installed and paused, how many files wait in each agent's
//! inbox, fingerprint coverage and the latest audit's false claims.
//!
//! Why here: the composition root wires the alert loop, as it wires the host interfaces. The
//! facts come from the handoff engine's world (the plugins folder, the handoffs tree, the
//! health records, the audit plugin's grants) and from the libraries only this binary links
//! (the fingerprint library's coverage, the audit's report format); `baton-stats` judges
//! them and knows only the ledger.
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use baton_ledger::read::StatsStore;
use baton_ledger::rusqlite::Connection;
use baton_stats::alerts::{AlertInput, FalseClaimRef};

use baton_home::{Config, Paths};
use baton_stats::alerts::AlertsConfig;

/// The slow facts (coverage, audit report) are read again at most this often.
const SLOW_EVERY: Duration = Duration::from_secs(60);

/// What the alerts judge besides the ledger's summary tables.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// Installed plugin → paused now.
    pub paused: BTreeMap<String, bool>,
    pub fp_coverage_ratio: Option<f64>,
    /// The latest audit report's false claims; `None` without a report.
    pub false_claims: Option<Vec<FalseClaimRef>>,
}

impl Probe {
    /// The cheap facts only (pauses of the installed plugins); the slow ones stay unread.
    pub fn gather_fast(paths: &Paths, ledger: &dyn StatsStore, now: time::OffsetDateTime) -> Probe {
        let paused = paused(ledger, &installed(paths), now);
        Probe { paused, fp_coverage_ratio: None, false_claims: None }
    }

    /// Reads fingerprint coverage (from the library in `fp`) and the latest audit report again.
    pub fn refresh_slow(&mut self, paths: &Paths, cfg: &Config, fp: &Connection) {
        self.fp_coverage_ratio = crate::wiring::fp_coverage(fp);
        self.false_claims = false_claims(paths, cfg);
    }

    pub fn alert_input(&self, paths: &Paths, cfg: &Config) -> AlertInput {
        AlertInput {
            paused: self.paused.clone(),
            fp_coverage_ratio: self.fp_coverage_ratio,
            false_claims: self.false_claims.clone(),
            handoffs_root: paths.handoffs.clone(),
            self_agent: cfg.agent.clone(),
        }
    }
}

/// Installed plugin names (the component files' names).
pub fn installed(paths: &Paths) -> BTreeSet<String> {
    baton_home::plugins::installed_files(paths)
        .iter()
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect()
}

/// Installed plugin → whether its health record says it is paused at `now`.
pub fn paused(
    ledger: &dyn StatsStore,
    installed: &BTreeSet<String>,
    now: time::OffsetDateTime,
) -> BTreeMap<String, bool> {
    let mut out: BTreeMap<String, bool> = installed.iter().map(|p| (p.clone(), false)).collect();
    match ledger.health_all() {
        Ok(rows) => {
            for (plugin, health) in rows {
                let Some(slot) = out.get_mut(&plugin) else { continue };
                let h: baton_home::health::Health = serde_json::from_str(&health).unwrap_or_default();
                let until = h.paused_until.as_deref().and_then(baton_handoff::stamp::parse_rfc3339);
                *slot = until.is_some_and(|u| u > now);
            }
        }
        Err(e) => tracing::warn!("plugin health: {e}"),
    }
    out
}

fn reports_dir(paths: &Paths, cfg: &Config) -> Option<std::path::PathBuf> {
    Some(cfg.grants(&paths.home, baton_pipeline::audit::PLUGIN).into_iter().find(|g| g.name == "reports")?.host_path)
}

/// The false claims of the latest report in the audit plugin's `reports` folder, with the
/// plan's host path (the report holds the sandbox's `/plans/…`, `/repos/…` and the mounts
/// that map them back).
pub fn false_claims(paths: &Paths, cfg: &Config) -> Option<Vec<FalseClaimRef>> {
    crate::wiring::false_claims(&reports_dir(paths, cfg)?)
}

/// What identifies the latest audit report on disk (the newest report file's name, size and
/// mtime, and how many there are): when it changes, an audit wrote a report and its false
/// claims are read at once. One `read_dir`; every process on a home sees the same files, so
/// all of them decide the false-claims alerts from the same report and none undoes another.
pub fn report_stamp(paths: &Paths, cfg: &Config) -> Option<(usize, String, u64, std::time::SystemTime)> {
    let dir = reports_dir(paths, cfg)?;
    let mut n = 0;
    let mut newest: Option<(String, u64, std::time::SystemTime)> = None;
    for e in std::fs::read_dir(&dir).ok()?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !(name.starts_with("PLANS_AUDIT_REPORT") && name.ends_with(".json")) {
            continue;
        }
        n += 1;
        let Ok(m) = e.metadata() else { continue };
        let mtime = m.modified().unwrap_or(std::time::UNIX_EPOCH);
        if newest.as_ref().is_none_or(|(nn, _, t)| (mtime, &name) > (*t, nn)) {
            newest = Some((name, m.len(), mtime));
        }
    }
    newest.map(|(name, len, t)| (n, name, len, t))
}

/// The alert evaluator: its own connections (the ledger, wherever it is, and the fingerprint
/// library in the local state file) and the slow facts it last read.
pub struct Alerting {
    paths: Paths,
    cfg: Config,
    location: baton_ledger::Location,
    /// `[alerts]`.
    rules: AlertsConfig,
    conns: Option<(baton_ledger::Ledger, Connection)>,
    slow: Option<(Instant, Probe)>,
    /// The report the false claims in `slow` were read from (see [`report_stamp`]).
    stamp: Option<(usize, String, u64, std::time::SystemTime)>,
}

impl Alerting {
    pub fn new(paths: Paths, cfg: Config, location: baton_ledger::Location, rules: AlertsConfig) -> Self {
        Alerting { paths, cfg, location, rules, conns: None, slow: None, stamp: None }
    }

    /// One evaluation now (blocking: database and file reads, maybe a follow-up TASK).
    pub fn evaluate(&mut self) -> Result<baton_stats::alerts::Evaluation, String> {
        if self.conns.is_none() {
            let ledger = baton_home::state::connect(&self.location).map_err(|e| e.to_string())?;
            let fp = baton_store::sqlite::open_wal(&self.paths.state, "NORMAL")
                .map_err(|e| format!("{}: {e}", self.paths.state.display()))?;
            self.conns = Some((ledger, fp));
        }
        let Some((ledger, fp)) = self.conns.as_mut() else { return Err("no connection".into()) };
        let now = baton_handoff::stamp::now();
        let mut probe = Probe::gather_fast(&self.paths, ledger.stats(), now);
        let stamp = report_stamp(&self.paths, &self.cfg);
        match &mut self.slow {
            Some((at, slow)) if at.elapsed() < SLOW_EVERY => {
                // a new report (an audit of this serve or of any other process) is read now,
                // not when the slow facts are due
                if stamp != self.stamp {
                    slow.false_claims = false_claims(&self.paths, &self.cfg);
                    self.stamp = stamp;
                }
                probe.fp_coverage_ratio = slow.fp_coverage_ratio;
                probe.false_claims = slow.false_claims.clone();
            }
            _ => {
                probe.refresh_slow(&self.paths, &self.cfg, fp);
                self.slow = Some((Instant::now(), probe.clone()));
                self.stamp = stamp;
            }
        }
        let input = probe.alert_input(&self.paths, &self.cfg);
        let now_ms = baton_handoff::stamp::unix_ms(now);
        let ev =
            baton_stats::alerts::evaluate(ledger.stats_mut(), &self.rules, &input, now_ms).map_err(|e| e.to_string());
        if ev.is_err() {
            // A broken connection is opened again next time.
            self.conns = None;
        }
        ev
    }
}

/// `baton serve`'s alert loop: every `eval_secs`, off the pipeline's path. `None` when
/// `[alerts] enabled = false`.
pub fn spawn_alerts(
    paths: Paths,
    cfg: Config,
    location: baton_ledger::Location,
    rules: AlertsConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    if !rules.enabled {
        return None;
    }
    let every = Duration::from_secs(rules.eval_secs.max(1));
    Some(tokio::spawn(async move {
        let mut alerting = Some(Alerting::new(paths, cfg, location, rules));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(mut a) = alerting.take() else { return };
            let joined = tokio::task::spawn_blocking(move || {
                let r = a.evaluate();
                (a, r)
            })
            .await;
            match joined {
                Ok((a, r)) => {
                    alerting = Some(a);
                    match r {
                        Ok(ev) if !ev.fired.is_empty() || !ev.resolved.is_empty() => {
                            tracing::info!(
                                firing = ev.firing,
                                fired = ev.fired.len(),
                                resolved = ev.resolved.len(),
                                "alerts"
                            )
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!("alerts: {e}"),
                    }
                }
                Err(e) => {
                    tracing::error!("alert evaluation panicked: {e}; alerts stop until restart");
                    return;
                }
            }
        }
    }))
}
