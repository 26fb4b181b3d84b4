//! Plugin health: consecutive sandbox failures per plugin, and the pause that follows
//! `pause_after` of them in a row. Kept in memory, saved with each group commit, read back
//! the first time a plugin is needed (so a pause outlives a restart). Saved in the ledger's
//! own `plugin_health` table, which no plugin's kv store can reach.
use std::time::Duration;

use tracing::warn;

use baton_handoff::stamp;

use crate::Pipeline;

#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Health {
    pub consecutive_failures: u32,
    pub paused_until: Option<String>,
    pub last_error: Option<String>,
}

impl Pipeline {
    /// Reads a plugin's saved health the first time it is needed, so a pause recorded by an
    /// earlier process also holds for a plugin loaded after start-up (hot reload).
    pub(crate) fn load_health(&mut self, plugin: &str) {
        if self.health.contains_key(plugin) {
            return;
        }
        let saved = self.ledger.lock().unwrap_or_else(|e| e.into_inner()).health_get(plugin).ok().flatten();
        let h = saved.and_then(|h| serde_json::from_str(&h).ok()).unwrap_or_default();
        self.health.insert(plugin.to_string(), h);
    }

    pub(crate) fn paused_until(&self, plugin: &str) -> Option<String> {
        let until = self.health.get(plugin)?.paused_until.clone()?;
        let t = stamp::parse_rfc3339(&until)?;
        (t > stamp::now()).then_some(until)
    }

    pub(crate) fn healthy(&mut self, plugin: &str) {
        if let Some(h) = self.health.get_mut(plugin) {
            h.consecutive_failures = 0;
            h.paused_until = None;
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
    }
}
