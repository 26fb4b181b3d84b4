//! Plugin health: consecutive sandbox failures per plugin, the pause that follows
//! `pause_after` of them in a row, and the pause an operator sets by hand (`baton plugin
//! pause`, the dashboard). Saved in the ledger's own `plugin_health` table, which no plugin's
//! kv store can reach.
//!
//! The ledger is the truth between passes: the in-memory copy is dropped at each pass (so a
//! pause or resume written by another process, or by the dashboard, holds from the next pass
//! on), and only the plugins whose health this process changed are written back, merged with
//! what is saved (so a pause by hand is never overwritten by a pass that began before it).
use std::time::Duration;

use tracing::warn;

use baton_handoff::stamp;
use baton_ledger::Ledger;

use crate::Pipeline;

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

impl Pipeline {
    /// Reads a plugin's saved health the first time it is needed in a pass, so a pause
    /// recorded by another process (or by hand) holds for this one too.
    pub(crate) fn load_health(&mut self, plugin: &str) {
        if self.health.contains_key(plugin) {
            return;
        }
        let saved = self.ledger.lock().unwrap_or_else(|e| e.into_inner()).health_get(plugin).ok().flatten();
        self.health.insert(plugin.to_string(), Health::parse(saved.as_deref()));
    }

    /// A new pass: forget the health read from the ledger (it may have changed), keeping only
    /// what this process changed and has not saved yet.
    pub(crate) fn refresh_health(&mut self) {
        let dirty = &self.health_dirty;
        self.health.retain(|k, _| dirty.contains(k));
    }

    pub(crate) fn paused(&self, plugin: &str) -> Option<Pause> {
        self.health.get(plugin)?.pause(stamp::now())
    }

    /// Whether `plugin` is paused by hand: its TASKs are then held in the inbox, unclaimed.
    /// (A pause after sandbox failures still answers `plugin_paused`: it ends by itself, and
    /// the sender learns why.)
    pub(crate) fn held_by_hand(&mut self, plugin: &str) -> bool {
        self.load_health(plugin);
        matches!(self.paused(plugin), Some(Pause::Hand { .. }))
    }

    pub(crate) fn healthy(&mut self, plugin: &str) {
        if let Some(h) = self.health.get_mut(plugin)
            && (h.consecutive_failures != 0 || h.paused_until.is_some())
        {
            h.consecutive_failures = 0;
            h.paused_until = None;
            self.health_dirty.insert(plugin.to_string());
        }
    }

    pub(crate) fn sandbox_failure(&mut self, plugin: &str, message: &str) {
        let h = self.health.entry(plugin.to_string()).or_default();
        h.consecutive_failures += 1;
        h.last_error = Some(message.to_string());
        if h.consecutive_failures >= self.cfg.pause_after {
            let until = stamp::now() + Duration::from_secs(self.cfg.pause_secs);
            warn!(plugin, failures = h.consecutive_failures, "pausing plugin after repeated sandbox failures");
            h.paused_until = Some(stamp::rfc3339(until));
        }
        self.health_dirty.insert(plugin.to_string());
    }
}

/// Writes the health this process changed, keeping a pause by hand that was saved meanwhile.
pub(crate) fn save_changed(
    b: &baton_ledger::Batch<'_>,
    health: &std::collections::HashMap<String, Health>,
    dirty: &std::collections::HashSet<String>,
) -> Result<(), baton_ledger::LedgerError> {
    for name in dirty {
        let Some(h) = health.get(name) else { continue };
        let mut h = h.clone();
        h.paused_by_hand = Health::parse(b.health_get(name)?.as_deref()).paused_by_hand;
        b.health_set(name, &serde_json::to_string(&h).unwrap_or_default())?;
    }
    Ok(())
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
        let mine = std::collections::HashMap::from([(
            "echo".to_string(),
            Health { consecutive_failures: 1, ..Default::default() },
        )]);
        pause_by_hand(&mut l, "echo").unwrap();
        let dirty = std::collections::HashSet::from(["echo".to_string()]);
        l.batch(|b| save_changed(b, &mine, &dirty)).unwrap();
        let h = Health::parse(l.health_get("echo").unwrap().as_deref());
        assert_eq!(h.consecutive_failures, 1);
        assert!(h.paused_by_hand.is_some(), "the pause by hand survived the pass's write");
    }
}
