//! Plugin health: consecutive sandbox failures per plugin, the pause that follows
//! `pause_after` of them in a row, and the pause an operator sets by hand (`baton plugin
//! pause`, the dashboard). Saved in the ledger's own `plugin_health` table, which no plugin's
//! kv store can reach.
//!
//! The ledger is the truth between passes: the in-memory copy is dropped at each pass (so a
//! pause or resume written by another process, or by the dashboard, holds from the next pass
//! on), and only the plugins whose health this process changed are written back, merged with
//! what is saved (so a pause by hand is never overwritten by a pass that began before it).
use baton_sync::Locked;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use tracing::warn;

use baton_handoff::stamp;
use baton_ledger::Ledger;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Health {
    pub consecutive_failures: u32,
    pub paused_until: Option<String>,
    pub last_error: Option<String>,
    /// When an operator paused the plugin by hand (RFC 3339); it stays paused until resumed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_by_hand: Option<String>,
}

/// Why a plugin is paused now, if it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Pause {
    /// `baton plugin pause` or the dashboard, at `since`; until resumed.
    Hand { since: String },
    /// `pause_after` sandbox failures in a row; until `until`.
    Failures { until: String },
}

impl Health {
    /// Parses a saved health (a row of `plugin_health`); unreadable means healthy.
    pub fn parse(saved: Option<&str>) -> Health {
        saved.and_then(|h| serde_json::from_str(h).ok()).unwrap_or_default()
    }

    /// Whether (and why) the plugin is paused at `now`.
    pub fn pause(&self, now: time::OffsetDateTime) -> Option<Pause> {
        if let Some(since) = &self.paused_by_hand {
            return Some(Pause::Hand { since: since.clone() });
        }
        let until = self.paused_until.as_deref()?;
        let t = stamp::parse_rfc3339(until)?;
        (t > now).then(|| Pause::Failures { until: until.to_string() })
    }
}

/// Pauses `plugin` by hand: its TASKs are refused as `plugin_paused` until [`resume`].
/// Returns false when it was already paused by hand.
pub fn pause_by_hand(ledger: &mut Ledger, plugin: &str) -> Result<bool, baton_ledger::LedgerError> {
    ledger.batch(|b| {
        let mut h = Health::parse(b.health_get(plugin)?.as_deref());
        if h.paused_by_hand.is_some() {
            return Ok(false);
        }
        h.paused_by_hand = Some(stamp::rfc3339(stamp::now()));
        b.health_set(plugin, &serde_json::to_string(&h).unwrap_or_default())?;
        Ok(true)
    })
}

/// Lifts every pause of `plugin` (by hand, or after failures) and forgets its failure streak.
/// Returns false when it was not paused.
pub fn resume(ledger: &mut Ledger, plugin: &str) -> Result<bool, baton_ledger::LedgerError> {
    ledger.batch(|b| {
        let saved = b.health_get(plugin)?;
        let mut h = Health::parse(saved.as_deref());
        let was = h.pause(stamp::now()).is_some();
        h.paused_by_hand = None;
        h.paused_until = None;
        h.consecutive_failures = 0;
        if saved.is_some() {
            b.health_set(plugin, &serde_json::to_string(&h).unwrap_or_default())?;
        }
        Ok(was)
    })
}

/// The pipeline's view of every plugin's health during a pass: what it read from the ledger
/// and what it changed since its last commit. The pipeline owns one; the ledger stays the
/// truth between passes.
#[derive(Debug, Default)]
pub struct Healths {
    by_plugin: HashMap<String, Health>,
    /// The plugins whose health this process changed since its last commit.
    dirty: HashSet<String>,
}

/// When repeated sandbox failures pause a plugin (`[pipeline] pause_after`, `pause_secs`).
#[derive(Debug, Clone, Copy)]
pub struct PausePolicy {
    pub after: u32,
    pub secs: u64,
}

impl Healths {
    /// Reads a plugin's saved health the first time it is needed in a pass, so a pause
    /// recorded by another process (or by hand) holds for this one too.
    pub fn load(&mut self, ledger: &Mutex<Ledger>, plugin: &str) {
        if self.by_plugin.contains_key(plugin) {
            return;
        }
        let saved = ledger.locked().health_get(plugin).ok().flatten();
        self.by_plugin.insert(plugin.to_string(), Health::parse(saved.as_deref()));
    }

    /// A new pass: forget the health read from the ledger (it may have changed), keeping only
    /// what this process changed and has not saved yet.
    pub fn refresh(&mut self) {
        let dirty = &self.dirty;
        self.by_plugin.retain(|k, _| dirty.contains(k));
    }

    /// Whether (and why) `plugin` is paused now, as far as this pass knows ([`Healths::load`]
    /// it first).
    pub fn paused(&self, plugin: &str) -> Option<Pause> {
        self.by_plugin.get(plugin)?.pause(stamp::now())
    }

    /// Whether `plugin` is paused by hand: its TASKs are then held in the inbox, unclaimed.
    /// (A pause after sandbox failures still answers `plugin_paused`: it ends by itself, and
    /// the sender learns why.)
    pub fn held_by_hand(&mut self, ledger: &Mutex<Ledger>, plugin: &str) -> bool {
        self.load(ledger, plugin);
        matches!(self.paused(plugin), Some(Pause::Hand { .. }))
    }

    /// A task of `plugin` ran: its failure streak and any failure pause end.
    pub fn healthy(&mut self, plugin: &str) {
        if let Some(h) = self.by_plugin.get_mut(plugin)
            && (h.consecutive_failures != 0 || h.paused_until.is_some())
        {
            h.consecutive_failures = 0;
            h.paused_until = None;
            self.dirty.insert(plugin.to_string());
        }
    }

    /// A task of `plugin` failed in the sandbox: one more in its streak, and a pause of
    /// `policy.secs` once the streak reaches `policy.after`.
    pub fn sandbox_failure(&mut self, plugin: &str, message: &str, policy: PausePolicy) {
        let h = self.by_plugin.entry(plugin.to_string()).or_default();
        h.consecutive_failures += 1;
        h.last_error = Some(message.to_string());
        if h.consecutive_failures >= policy.after {
            let until = stamp::now() + Duration::from_secs(policy.secs);
            warn!(plugin, failures = h.consecutive_failures, "pausing plugin after repeated sandbox failures");
            h.paused_until = Some(stamp::rfc3339(until));
        }
        self.dirty.insert(plugin.to_string());
    }

    /// Writes the health this process changed into the pass's commit, keeping a pause by hand
    /// that was saved meanwhile. Call [`Healths::saved`] once the commit is through.
    pub fn save_changed(&self, b: &baton_ledger::Batch<'_>) -> Result<(), baton_ledger::LedgerError> {
        for name in &self.dirty {
            let Some(h) = self.by_plugin.get(name) else { continue };
            let mut h = h.clone();
            h.paused_by_hand = Health::parse(b.health_get(name)?.as_deref()).paused_by_hand;
            b.health_set(name, &serde_json::to_string(&h).unwrap_or_default())?;
        }
        Ok(())
    }

    /// The commit that [`Healths::save_changed`] wrote into went through.
    pub fn saved(&mut self) {
        self.dirty.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_by_hand_holds_until_resumed_and_resume_lifts_a_failure_pause() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        let now = stamp::now();
        assert!(!resume(&mut l, "echo").unwrap(), "nothing to resume");
        assert!(pause_by_hand(&mut l, "echo").unwrap());
        assert!(!pause_by_hand(&mut l, "echo").unwrap(), "already paused");
        let h = Health::parse(l.health_get("echo").unwrap().as_deref());
        assert!(matches!(h.pause(now), Some(Pause::Hand { .. })));
        assert!(resume(&mut l, "echo").unwrap());
        assert_eq!(Health::parse(l.health_get("echo").unwrap().as_deref()).pause(now), None);
        let failing = Health {
            consecutive_failures: 5,
            paused_until: Some(stamp::rfc3339(now + Duration::from_secs(60))),
            ..Default::default()
        };
        l.batch(|b| b.health_set("echo", &serde_json::to_string(&failing).unwrap())).unwrap();
        assert!(matches!(
            Health::parse(l.health_get("echo").unwrap().as_deref()).pause(now),
            Some(Pause::Failures { .. })
        ));
        assert!(resume(&mut l, "echo").unwrap());
        let h = Health::parse(l.health_get("echo").unwrap().as_deref());
        assert_eq!((h.pause(now), h.consecutive_failures), (None, 0));
    }

    #[test]
    fn saving_a_pass_keeps_a_pause_by_hand_made_meanwhile() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        let mut mine = Healths::default();
        mine.sandbox_failure("echo", "trap", PausePolicy { after: 5, secs: 60 });
        pause_by_hand(&mut l, "echo").unwrap();
        l.batch(|b| mine.save_changed(b)).unwrap();
        mine.saved();
        let h = Health::parse(l.health_get("echo").unwrap().as_deref());
        assert_eq!(h.consecutive_failures, 1);
        assert!(h.paused_by_hand.is_some(), "the pause by hand survived the pass's write");
    }

    /// The streak, the pause it leads to and its end, without a ledger.
    #[test]
    fn failures_in_a_row_pause_a_plugin_and_a_success_ends_the_streak() {
        let policy = PausePolicy { after: 3, secs: 60 };
        let mut h = Healths::default();
        h.sandbox_failure("echo", "trap 1", policy);
        h.sandbox_failure("echo", "trap 2", policy);
        assert_eq!(h.paused("echo"), None, "two failures are not three");
        h.healthy("echo");
        h.sandbox_failure("echo", "trap 3", policy);
        h.sandbox_failure("echo", "trap 4", policy);
        assert_eq!(h.paused("echo"), None, "the success started the streak again");
        h.sandbox_failure("echo", "trap 5", policy);
        assert!(matches!(h.paused("echo"), Some(Pause::Failures { .. })));
        assert_eq!(h.paused("other"), None);
        h.healthy("echo");
        assert_eq!(h.paused("echo"), None, "a success lifts the failure pause");
    }

    /// A new pass forgets what it read but keeps what it changed and has not saved.
    #[test]
    fn a_refresh_keeps_only_unsaved_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(&dir.path().join("s.sqlite")).unwrap();
        pause_by_hand(&mut l, "held").unwrap();
        let l = Mutex::new(l);
        let mut h = Healths::default();
        assert!(h.held_by_hand(&l, "held"));
        h.sandbox_failure("echo", "trap", PausePolicy { after: 1, secs: 60 });
        resume(&mut l.lock().unwrap(), "held").unwrap();
        assert!(h.paused("held").is_some(), "within a pass, what was read holds");
        h.refresh();
        assert!(!h.held_by_hand(&l, "held"), "the next pass reads the resume");
        assert!(h.paused("echo").is_some(), "an unsaved change survives the refresh");
        l.lock().unwrap().batch(|b| h.save_changed(b)).unwrap();
        h.saved();
        h.refresh();
        h.load(&l, "echo");
        assert!(h.paused("echo").is_some(), "and was saved: read back from the ledger");
    }
}
