//! `baton.toml`: the user's configuration, and the layout of a baton home.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {message}\n  fix the file, or move it aside and run `baton init` for a fresh one")]
    Parse { path: String, message: String },
    /// A grant would hand a plugin baton's own files (its state, its plugins, the handoffs, or
    /// the compiled-code cache, which is loaded as native code).
    /// (The message names the file, the plugin, the grant and the folder it overlaps.)
    #[error("{0}")]
    Overlap(String),
    /// A host interface refused a plugin's table (a catalog grant of a collection that does
    /// not exist, a key no one reads). The message names the file, the plugin, the key and
    /// the fix.
    #[error("{0}")]
    Section(String),
}

/// A top-level table of baton.toml that is not its owner's type ([`Config::section`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("[{table}]: {}", source.to_string().trim_end())]
pub struct SectionError {
    pub table: String,
    source: toml::de::Error,
}

/// `p` made absolute and free of `.`, `..` and symlinks where they exist (the longest existing
/// prefix is canonicalized, the rest cleaned lexically), so two spellings of one folder compare
/// equal.
fn normalize(p: &Path) -> PathBuf {
    let mut existing = p.to_path_buf();
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            let mut out = c;
            for part in rest.iter().rev() {
                out.push(part);
            }
            return clean(&out);
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => return clean(p),
        }
    }
}

fn clean(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// The whole configuration. Every field has a documented default (see `DEFAULT_TOML`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Config {
    /// baton's own agent name: its inbox is `handoffs/<agent>/01_inbox/`.
    pub agent: String,
    /// The handoffs root, relative to the home unless absolute: `handoffs = "path"`, or a
    /// `[handoffs]` table with `path` and `stale_after` (see [`crate::tree::HandoffsSetting`]).
    pub handoffs: crate::tree::HandoffsSetting,
    /// Handoff files larger than this are rejected unread (`too_large`).
    pub max_file_bytes: u64,
    /// A file that does not parse yet is rejected once its size and mtime were stable this long.
    pub settle_ms: u64,
    /// A full reconcile runs at least this often, whatever the watcher says.
    pub reconcile_secs: u64,
    /// At most this many handoffs per batch (one ledger commit, one directory sync).
    pub batch: usize,
    pub retry: Retry,
    pub budget: BudgetConfig,
    /// After this many sandbox failures in a row (timeout, trap, memory, output) a plugin is paused.
    pub pause_after: u32,
    /// How long a paused plugin stays paused.
    pub pause_secs: u64,
    /// Automatic plans audits.
    pub audit: AuditConfig,
    /// How the pipeline guards itself.
    pub pipeline: PipelineConfig,
    /// Per-plugin grants and budgets (`[plugins.NAME]`), and the compile limits
    /// (`[plugins] compile_mb`, `compile_s`).
    pub plugins: PluginsTable,
    /// Where the ledger lives when `--state`/`$BATON_STATE` do not say: a SQLite path, or a
    /// `postgres://` URL (several machines sharing one handoffs tree). Unset: the default path.
    pub state: Option<String>,
    /// `baton serve`'s web dashboard.
    pub dashboard: DashboardConfig,
    /// The top-level tables the engine does not read (`[fp]`, `[sqlite]`, `[alerts]`): each
    /// belongs to a host interface or to the alert loop the app wires, which parses its own ([`Config::section`]); the composition root checks
    /// them wherever the file is loaded (`baton_cli::Host::check_config`, given by `crates/app`).
    #[serde(flatten)]
    pub sections: BTreeMap<String, toml::Value>,
}

/// The top-level keys of `baton.toml` the engine reads itself.
const CONFIG_KEYS: &[&str] = &[
    "agent",
    "handoffs",
    "max_file_bytes",
    "settle_ms",
    "reconcile_secs",
    "batch",
    "retry",
    "budget",
    "pause_after",
    "pause_secs",
    "audit",
    "pipeline",
    "plugins",
    "state",
    "dashboard",
];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// The address `baton serve` serves the dashboard on (`--http` overrides it); none: no HTTP.
    pub http: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Run audits automatically in `baton serve` (and once per `serve --once`).
    pub enabled: bool,
    /// Quiet period after a change in a plans folder before the audit runs.
    pub debounce_secs: u64,
    /// The audit also runs every this many seconds, to catch changes in the repositories.
    pub interval: u64,
    /// Agent that receives one follow-up TASK per new gap; none when unset.
    pub followup_agent: Option<String>,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig { enabled: true, debounce_secs: 5, interval: 3600, followup_agent: None }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// A handoff that was the only one in flight when baton died this many times is filed as
    /// `crashed_host` instead of being run again (the poison-pill guard). At least 1.
    pub crash_limit: u32,
    /// With the ledger on PostgreSQL: a host whose heartbeat is older than this loses its
    /// claims to the other hosts (it renews it every `lease_secs / 4`).
    pub lease_secs: u64,
    /// How long `serve --once` keeps retrying (with backoff) while passing faults last (a full
    /// disk, an I/O error, a folder unwritable, a busy database) before it gives up with exit 2:
    /// a total time without progress, not a count of faults. `"90s"`, `"10m"`, `"1h"`, or seconds.
    #[serde(deserialize_with = "duration")]
    pub give_up_after: std::time::Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig { crash_limit: 2, lease_secs: 30, give_up_after: std::time::Duration::from_secs(600) }
    }
}

/// A duration in baton.toml: a number of seconds, or a string with a unit (`ms`, `s`, `m`, `h`).
fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<std::time::Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(s) => Ok(std::time::Duration::from_secs(s)),
        Raw::Text(t) => parse_duration(&t).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{t:?} is not a duration: write it as \"90s\", \"10m\", \"1h\" or \"500ms\""
            ))
        }),
    }
}

/// `"500ms"`, `"90s"`, `"10m"`, `"1h"` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().ok()?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n.checked_mul(1000)?,
        "m" | "min" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        _ => return None,
    };
    Some(std::time::Duration::from_millis(ms))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Retry {
    /// Attempts in all, the first one included.
    pub max_attempts: u32,
    pub base_ms: u64,
    pub cap_ms: u64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BudgetConfig {
    pub time_ms: u64,
    pub memory_mb: u64,
    pub output_kb: u64,
    /// kv quota per plugin: bytes of keys and values, number of keys, longest key.
    pub kv_mb: u64,
    pub kv_keys: u64,
    pub kv_key_bytes: u64,
    /// Disk quota per task in each writable grant: bytes written, files created.
    pub disk_mb: u64,
    pub disk_files: u64,
}

/// `[plugins]`: one table per plugin, beside the two keys that bound every compile. Reads as
/// the map of plugins (`cfg.plugins.get(name)`), so the plugins' own tables stay where they
/// were.
#[derive(Debug, Clone, Default)]
pub struct PluginsTable {
    pub plugins: BTreeMap<String, PluginConfig>,
    /// `compile_mb`: the compile worker's resident memory, MiB (default 2048).
    pub compile_mb: Option<u64>,
    /// `compile_s`: the compile worker's CPU time, seconds (default 120).
    pub compile_s: Option<u64>,
}

impl PluginsTable {
    /// The compile limits, defaults filled in.
    pub fn compile_limits(&self) -> baton_runtime::CompileLimits {
        let d = baton_runtime::CompileLimits::default();
        baton_runtime::CompileLimits {
            memory_bytes: self.compile_mb.map_or(d.memory_bytes, |mb| mb.saturating_mul(1 << 20)),
            cpu: self.compile_s.map_or(d.cpu, Duration::from_secs),
        }
    }
}

impl std::ops::Deref for PluginsTable {
    type Target = BTreeMap<String, PluginConfig>;
    fn deref(&self) -> &Self::Target {
        &self.plugins
    }
}

impl std::ops::DerefMut for PluginsTable {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.plugins
    }
}

impl<'a> IntoIterator for &'a PluginsTable {
    type Item = (&'a String, &'a PluginConfig);
    type IntoIter = std::collections::btree_map::Iter<'a, String, PluginConfig>;
    fn into_iter(self) -> Self::IntoIter {
        self.plugins.iter()
    }
}

impl<'de> Deserialize<'de> for PluginsTable {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = PluginsTable;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a table of `compile_mb`, `compile_s` and one [plugins.NAME] table per plugin")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<PluginsTable, A::Error> {
                let mut t = PluginsTable::default();
                while let Some(key) = map.next_key::<String>()? {
                    let positive = |v: u64, key: &str| {
                        if v == 0 {
                            Err(serde::de::Error::custom(format!("[plugins] {key} must be at least 1")))
                        } else {
                            Ok(Some(v))
                        }
                    };
                    match key.as_str() {
                        "compile_mb" => t.compile_mb = positive(map.next_value()?, "compile_mb")?,
                        "compile_s" => t.compile_s = positive(map.next_value()?, "compile_s")?,
                        _ => {
                            let p: PluginConfig = map.next_value()?;
                            t.plugins.insert(key, p);
                        }
                    }
                }
                Ok(t)
            }
        }
        d.deserialize_map(Visit)
    }
}

/// One `[plugins.NAME]` table. The engine reads its folders, budgets and settings; every
/// other key belongs to a host interface (the catalog's `catalog` and `catalog_quota`) and is
/// kept in `sections` for it: the composition root checks those keys
/// (`baton_cli::Host::check_config`, given by `crates/app`) and each interface reads its own at load
/// ([`baton_runtime::HostInterface::configure`]).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PluginConfig {
    /// Logical folder name → host folder (relative to the home unless absolute).
    #[serde(default)]
    pub grants: BTreeMap<String, GrantConfig>,
    pub time_ms: Option<u64>,
    pub memory_mb: Option<u64>,
    pub output_kb: Option<u64>,
    pub kv_mb: Option<u64>,
    pub kv_keys: Option<u64>,
    pub disk_mb: Option<u64>,
    pub disk_files: Option<u64>,
    /// `[plugins.NAME.settings]`: any table, handed to the plugin as JSON (`host.settings`).
    pub settings: Option<toml::Table>,
    /// The keys the engine does not read (see above).
    #[serde(flatten)]
    pub sections: BTreeMap<String, toml::Value>,
}

/// The first key of `sections` that neither the engine (`own`) nor an owner of sections
/// (`owned`) reads, as the message that names it, the closest known key and every key there
/// is; with `source` (the file's text), where it is: `line L, column C` and the line with a
/// caret under the key, as the TOML parser shows a wrong key one level down. `table`: the
/// table the key is in (`None`: the top level).
fn unknown_key(
    sections: &BTreeMap<String, toml::Value>,
    own: &[&str],
    owned: &[&str],
    source: Option<&str>,
    table: Option<&str>,
) -> Option<String> {
    let key = sections.keys().find(|k| !owned.contains(&k.as_str()))?;
    let mut known: Vec<String> = Vec::new();
    for k in own.iter().chain(owned) {
        if !known.iter().any(|x| x == k) {
            known.push(k.to_string());
        }
    }
    let hint = baton_handoff::names::did_you_mean(key, &known);
    let hint = if hint.starts_with("; did you mean") { hint } else { String::new() };
    let at = source.and_then(|s| key_position(s, table, key)).map_or(String::new(), |(n, col, line)| {
        format!(
            " at line {n}, column {col}:\n  {n} | {line}\n  {} | {}^",
            " ".repeat(n.to_string().len()),
            " ".repeat(col - 1)
        )
    });
    Some(format!("has no key `{key}`{hint} (the keys are {}); fix the name or remove it{at}", known.join(", ")))
}

/// Where `key` is written in `source`: (line, column, the line), both 1-based. At the top level
/// (`table` `None`) it is `key = …` before any table header, or a table header `[key]`,
/// `[key.…]`, `[[key]]`; inside `table`, `key = …` under its header, or `[table.key…]`.
fn key_position(source: &str, table: Option<&str>, key: &str) -> Option<(usize, usize, String)> {
    let mut current: Option<String> = None;
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if let Some(header) = trimmed.strip_prefix('[') {
            let name = header.trim_start_matches('[').split(']').next().unwrap_or("").trim();
            current = Some(name.to_string());
            let wanted = match table {
                None => key.to_string(),
                Some(t) => format!("{t}.{key}"),
            };
            if name == wanted || name.starts_with(&format!("{wanted}.")) {
                let col = indent + line[indent..].find(key).unwrap_or(0) + 1;
                return Some((i + 1, col, line.to_string()));
            }
            continue;
        }
        let in_table = match (table, current.as_deref()) {
            (None, None) => true,
            (Some(t), Some(c)) => t == c,
            _ => false,
        };
        let Some(rest) = trimmed.strip_prefix(key) else { continue };
        if in_table && rest.trim_start().starts_with('=') {
            return Some((i + 1, indent + 1, line.to_string()));
        }
    }
    None
}

/// The keys of a `[plugins.NAME]` table the engine reads itself.
const PLUGIN_KEYS: &[&str] =
    &["grants", "time_ms", "memory_mb", "output_kb", "kv_mb", "kv_keys", "disk_mb", "disk_files", "settings"];

impl PluginConfig {
    /// [`PluginConfig::sections`] as JSON, as the host interfaces read them.
    pub fn sections_json(&self) -> serde_json::Map<String, serde_json::Value> {
        self.sections.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()
    }
}

/// A TOML value as JSON (dates and times as their TOML text).
fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map(J::Number).unwrap_or(J::Null),
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(a) => J::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => J::Object(t.iter().map(|(k, v)| (k.clone(), toml_to_json(v))).collect()),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum GrantConfig {
    /// `plans = "plans"`: read-only.
    ReadOnly(PathBuf),
    /// `repos = ["a", "b"]`: several read-only folders under one name.
    Many(Vec<PathBuf>),
    /// `reports = { path = "reports", writable = true }`.
    Full {
        path: PathBuf,
        #[serde(default)]
        writable: bool,
    },
}

impl Default for Config {
    fn default() -> Self {
        Config {
            agent: "baton".into(),
            handoffs: "handoffs".into(),
            max_file_bytes: 10 << 20,
            settle_ms: 1_000,
            reconcile_secs: 30,
            batch: 256,
            retry: Retry::default(),
            budget: BudgetConfig::default(),
            pause_after: 5,
            pause_secs: 300,
            audit: AuditConfig::default(),
            pipeline: PipelineConfig::default(),
            plugins: PluginsTable::default(),
            state: None,
            dashboard: DashboardConfig::default(),
            sections: BTreeMap::new(),
        }
    }
}

impl Default for Retry {
    fn default() -> Self {
        Retry { max_attempts: 4, base_ms: 500, cap_ms: 60_000 }
    }
}

impl Default for BudgetConfig {
    fn default() -> Self {
        BudgetConfig {
            time_ms: 30_000,
            memory_mb: 256,
            output_kb: 1024,
            kv_mb: 64,
            kv_keys: 100_000,
            kv_key_bytes: 1024,
            disk_mb: 1024,
            disk_files: 10_000,
        }
    }
}

impl Retry {
    /// Capped exponential backoff with jitter: a random delay in [d/2, d] where
    /// d = min(cap, base * 2^(attempt-1)).
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self.base_ms.saturating_mul(1u64 << attempt.saturating_sub(1).min(30));
        let d = exp.min(self.cap_ms).max(1);
        let jittered = d / 2 + rand::random_range(0..=d - d / 2);
        Duration::from_millis(jittered)
    }
}

impl Config {
    /// Reads `<home>/baton.toml`; a missing file means all defaults.
    ///
    /// The file is read at every call, and parsed again only when its text (or the home)
    /// changed since this process last parsed it: a one-shot command loads it twice (to find
    /// its ledger, then to run), and the parse was 0.1–0.2 ms of a `send --wait`'s 3.4 ms of
    /// CPU. An edit is always seen, since the text is compared whole.
    pub fn load(home: &Path) -> Result<Self, ConfigError> {
        /// The last file this process parsed without an error: its home, text and result.
        static LAST: std::sync::Mutex<Option<(PathBuf, String, Config)>> = std::sync::Mutex::new(None);
        let path = home.join("baton.toml");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(source) => return Err(ConfigError::Read { path: path.display().to_string(), source }),
        };
        let mut last = LAST.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((h, t, cfg)) = last.as_ref()
            && h == home
            && *t == text
        {
            return Ok(cfg.clone());
        }
        let cfg = Config::parse(home, &text)?;
        *last = Some((home.to_path_buf(), text, cfg.clone()));
        Ok(cfg)
    }

    /// `text` as `<home>/baton.toml`, with every check [`Config::load`] makes: so that a
    /// command that edits the file (`baton plugin grant`) can refuse an edit load would refuse.
    pub fn parse(home: &Path, text: &str) -> Result<Self, ConfigError> {
        let path = home.join("baton.toml");
        let cfg: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.display().to_string(), message: e.to_string() })?;
        cfg.check_grants(&Paths::new(home, &home.join("state").join("baton.sqlite"), &cfg))?;
        Ok(cfg)
    }

    /// The budget for one plugin: its own settings over the defaults.
    pub fn budget(&self, plugin: &str) -> baton_runtime::Budget {
        let p = self.plugins.get(plugin);
        let pick = |own: Option<u64>, default: u64| own.unwrap_or(default);
        let output = pick(p.and_then(|p| p.output_kb), self.budget.output_kb) << 10;
        baton_runtime::Budget {
            time: Duration::from_millis(pick(p.and_then(|p| p.time_ms), self.budget.time_ms)),
            memory_bytes: (pick(p.and_then(|p| p.memory_mb), self.budget.memory_mb) << 20) as usize,
            output_bytes: output as usize,
            kv: baton_runtime::KvQuota {
                key_bytes: self.budget.kv_key_bytes as usize,
                keys: pick(p.and_then(|p| p.kv_keys), self.budget.kv_keys),
                bytes: pick(p.and_then(|p| p.kv_mb), self.budget.kv_mb) << 20,
            },
            disk: baton_runtime::DiskQuota {
                bytes: pick(p.and_then(|p| p.disk_mb), self.budget.disk_mb) << 20,
                files: pick(p.and_then(|p| p.disk_files), self.budget.disk_files),
            },
        }
    }

    /// The budget for a TASK answered by a RETURN: a RETURN never exceeds `max_file_bytes`
    /// (what any agent accepts), so the output cap leaves room for the envelope, the title
    /// and the failure history. (`baton audit` writes reports, not a RETURN, and keeps the
    /// plugin's own output cap.)
    pub fn task_budget(&self, plugin: &str) -> baton_runtime::Budget {
        let mut b = self.budget(plugin);
        let fits = self.max_file_bytes.saturating_sub(RETURN_ENVELOPE_BYTES).max(4096);
        b.output_bytes = b.output_bytes.min(usize::try_from(fits).unwrap_or(usize::MAX));
        b
    }

    /// Refuses grants that overlap baton's own folders: the state folder, the plugins, the
    /// handoffs root and the compiled-code cache (`plans/` and `reports/` under the home are
    /// fine). [`Config::load`] checks against the default state folder; call this again when
    /// the state lives elsewhere (`--state`).
    pub fn check_grants(&self, paths: &Paths) -> Result<(), ConfigError> {
        let state_dir = paths.state.parent().unwrap_or(Path::new(".")).to_path_buf();
        let protected = [
            ("state folder", normalize(&state_dir)),
            ("plugins folder", normalize(&paths.plugins)),
            ("handoffs folder", normalize(&paths.handoffs)),
            ("compiled-code cache", normalize(&paths.cache())),
        ];
        for plugin in self.plugins.keys() {
            for g in self.grants(&paths.home, plugin) {
                let dir = normalize(&g.host_path);
                for (what, p) in &protected {
                    if dir.starts_with(p) || p.starts_with(&dir) {
                        return Err(ConfigError::Overlap(format!(
                            "{}: [plugins.{plugin}] grant `{}` ({}) overlaps baton's own {what} ({}); \
                             grant a folder outside it (plans/ and reports/ under the home are fine)",
                            paths.home.join("baton.toml").display(),
                            g.name,
                            g.host_path.display(),
                            p.display()
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// The top-level table `name` ([`Config::sections`]) as its owner's type: its defaults when
    /// the file has none. The error names the table.
    pub fn section<T: serde::de::DeserializeOwned + Default>(&self, name: &str) -> Result<T, SectionError> {
        match self.sections.get(name) {
            None => Ok(T::default()),
            Some(v) => T::deserialize(v.clone()).map_err(|source| SectionError { table: name.to_string(), source }),
        }
    }

    /// Checks the top-level keys the engine does not read ([`Config::sections`]): each must be
    /// one of `tables`, the host interfaces' own (which parse them with [`Config::section`]).
    pub fn check_tables(&self, file: &Path, tables: &[&str]) -> Result<(), ConfigError> {
        let source = std::fs::read_to_string(file).ok();
        match unknown_key(&self.sections, CONFIG_KEYS, tables, source.as_deref(), None) {
            None => Ok(()),
            Some(message) => Err(ConfigError::Section(format!("{}: {message}", file.display()))),
        }
    }

    /// Checks the keys of every `[plugins.NAME]` table the engine does not read
    /// ([`PluginConfig::sections`]) for the host interfaces that own them: each must be one
    /// of `keys`, and `check` (the interfaces' own parse) must accept the plugin's sections.
    /// The error names `file`, the plugin and the key.
    pub fn check_sections<E: std::fmt::Display>(
        &self,
        file: &Path,
        keys: &[&str],
        check: impl Fn(&str, &serde_json::Map<String, serde_json::Value>) -> Result<(), E>,
    ) -> Result<(), ConfigError> {
        let refuse = |plugin: &str, message: String| {
            ConfigError::Section(format!("{}: [plugins.{plugin}] {message}", file.display()))
        };
        let source = std::fs::read_to_string(file).ok();
        for (plugin, p) in &self.plugins {
            let table = format!("plugins.{plugin}");
            if let Some(message) = unknown_key(&p.sections, PLUGIN_KEYS, keys, source.as_deref(), Some(&table)) {
                return Err(refuse(plugin, message));
            }
            check(plugin, &p.sections_json()).map_err(|m| refuse(plugin, m.to_string()))?;
        }
        Ok(())
    }

    /// What `baton.toml` gives one plugin besides folders and budgets: its settings (as JSON),
    /// and the keys its host interfaces read.
    pub fn plugin_settings(&self, plugin: &str) -> baton_runtime::PluginSettings {
        let Some(p) = self.plugins.get(plugin) else { return baton_runtime::PluginSettings::default() };
        let settings = match &p.settings {
            Some(t) => toml_to_json(&toml::Value::Table(t.clone())).to_string(),
            None => "{}".into(),
        };
        baton_runtime::PluginSettings {
            settings: settings.into(),
            sections: std::sync::Arc::new(p.sections_json()),
            // From the install journal, not baton.toml (see `plugins::owner_identity`).
            ..Default::default()
        }
    }

    /// The folders granted to one plugin, resolved against the home.
    pub fn grants(&self, home: &Path, plugin: &str) -> Vec<baton_runtime::Grant> {
        let Some(p) = self.plugins.get(plugin) else { return Vec::new() };
        let grant = |name: &String, path: &PathBuf, writable| baton_runtime::Grant {
            name: name.clone(),
            host_path: resolve_grant_path(home, path),
            writable,
        };
        p.grants
            .iter()
            .flat_map(|(name, g)| match g {
                GrantConfig::ReadOnly(path) => vec![grant(name, path, false)],
                GrantConfig::Many(paths) => paths.iter().map(|p| grant(name, p, false)).collect(),
                GrantConfig::Full { path, writable } => vec![grant(name, path, *writable)],
            })
            .collect()
    }
}

/// A grant's folder as written in baton.toml, made absolute: `~` and `~/…` are the user's home
/// (`$HOME`), as in a shell; any other relative path is relative to baton's home.
pub fn resolve_grant_path(home: &Path, path: &Path) -> PathBuf {
    let user_home = || std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let mut parts = path.components();
    if let Some(std::path::Component::Normal(first)) = parts.next()
        && first == "~"
        && let Some(h) = user_home()
    {
        return h.join(parts.as_path());
    }
    home.join(path)
}

/// Room kept in a RETURN beside the plugin's output (envelope, title, failure history).
const RETURN_ENVELOPE_BYTES: u64 = 64 << 10;

/// Where things live under a home.
#[derive(Debug, Clone)]
pub struct Paths {
    pub home: PathBuf,
    pub handoffs: PathBuf,
    pub plugins: PathBuf,
    pub state: PathBuf,
}

/// The inbox folder inside each agent's folder: new work lands here, and only here.
pub const INBOX: &str = "01_inbox";

impl Paths {
    pub fn new(home: &Path, state: &Path, cfg: &Config) -> Self {
        Paths {
            home: home.to_path_buf(),
            handoffs: home.join(&cfg.handoffs),
            plugins: home.join("plugins"),
            state: state.to_path_buf(),
        }
    }
    pub fn agent(&self, agent: &str) -> PathBuf {
        self.handoffs.join(agent)
    }
    pub fn inbox(&self, agent: &str) -> PathBuf {
        self.agent(agent).join(INBOX)
    }
    pub fn processed(&self, agent: &str) -> PathBuf {
        self.agent(agent).join("02_processed")
    }
    pub fn failed(&self, agent: &str) -> PathBuf {
        self.agent(agent).join("03_failed")
    }
    /// Compiled-component cache, shared by every home of the user so that a new home never
    /// compiles the first-party plugins again: `$XDG_CACHE_HOME/baton`, else
    /// `~/Library/Caches/baton` (macOS) or `~/.cache/baton`; beside the state database when no
    /// home folder is known. Entries are keyed by the component's sha256 and the engine's
    /// compatibility hash, so homes and baton versions never mistake each other's.
    pub fn cache(&self) -> PathBuf {
        user_cache_dir()
            .map(|d| d.join("baton"))
            .unwrap_or_else(|| self.state.parent().unwrap_or(Path::new(".")).join("cache"))
    }
    /// Lock files: beside the state database, on a local disk.
    pub fn locks(&self) -> PathBuf {
        self.state.parent().unwrap_or(Path::new(".")).join("locks")
    }
}

/// The user's cache folder (absolute paths only, as the XDG spec asks).
fn user_cache_dir() -> Option<PathBuf> {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(xdg) = std::env::var_os("XDG_CACHE_HOME").and_then(abs) {
        return Some(xdg);
    }
    let home = std::env::var_os("HOME").and_then(abs)?;
    Some(if cfg!(target_vendor = "apple") { home.join("Library/Caches") } else { home.join(".cache") })
}

/// The commented `baton.toml` that `baton init` writes. Every value shown is the default.
pub const DEFAULT_TOML: &str = include_str!("baton.default.toml");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_over_batons_own_folders_are_refused_naming_the_grant() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let load = |grants: &str| {
            std::fs::write(h.join("baton.toml"), format!("[plugins.p]\ngrants = {{ {grants} }}\n")).unwrap();
            Config::load(h)
        };
        for (grants, what) in [
            (r#"s = "state""#, "state folder"),
            (r#"c = { path = "state/cache", writable = true }"#, "state folder"),
            (r#"p = "./plugins/../plugins""#, "plugins folder"),
            (r#"h = "handoffs/Some-Agent/01_inbox""#, "handoffs folder"),
            (r#"all = ".""#, "state folder"),
        ] {
            let e = load(grants).expect_err(grants).to_string();
            let grant = grants.split(' ').next().unwrap();
            assert!(e.contains(&format!("grant `{grant}`")) && e.contains(what), "{grants}: {e}");
        }
        let ok = load(r#"plans = "plans", reports = { path = "reports", writable = true }, other = "/somewhere/else""#)
            .unwrap();
        // With the state elsewhere, its folder (and the cache in it) is protected there too.
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(
            h.join("baton.toml"),
            format!("[plugins.p]\ngrants = {{ c = {:?} }}\n", elsewhere.path().join("cache")),
        )
        .unwrap();
        let cfg = Config::load(h).unwrap();
        let paths = Paths::new(h, &elsewhere.path().join("baton.sqlite"), &cfg);
        assert!(cfg.check_grants(&paths).unwrap_err().to_string().contains("grant `c`"));
        ok.check_grants(&paths).unwrap();
    }

    /// [`Config::load`] keeps the last parse: an edit must still be seen, and a text parsed for
    /// one home must still be checked for another (its grants are judged against that home).
    #[test]
    fn a_load_after_an_edit_or_in_another_home_parses_again() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let write = |home: &Path, text: &str| std::fs::write(home.join("baton.toml"), text).unwrap();
        write(a.path(), "agent = \"first\"\n");
        assert_eq!(Config::load(a.path()).unwrap().agent, "first");
        assert_eq!(Config::load(a.path()).unwrap().agent, "first");
        write(a.path(), "agent = \"other\"\n");
        assert_eq!(Config::load(a.path()).unwrap().agent, "other");
        write(a.path(), "agent = [\n");
        assert!(Config::load(a.path()).is_err(), "a broken edit is refused, not served from the last parse");
        std::fs::remove_file(a.path().join("baton.toml")).unwrap();
        assert_eq!(Config::load(a.path()).unwrap().agent, Config::default().agent);
        // A grant of a's state folder: fine in b, refused in a.
        let text = format!("[plugins.p]\ngrants = {{ s = {:?} }}\n", a.path().join("state"));
        write(b.path(), &text);
        write(a.path(), &text);
        Config::load(b.path()).unwrap();
        let e = Config::load(a.path()).unwrap_err().to_string();
        assert!(e.contains("grant `s`"), "{e}");
    }

    #[test]
    fn default_toml_parses_to_the_defaults() {
        let c: Config = toml::from_str(DEFAULT_TOML).unwrap();
        let d = Config::default();
        assert_eq!((c.agent.as_str(), c.max_file_bytes, c.batch), (d.agent.as_str(), d.max_file_bytes, d.batch));
        assert_eq!(c.retry.max_attempts, d.retry.max_attempts);
        assert_eq!(c.pipeline.crash_limit, d.pipeline.crash_limit);
        assert_eq!(c.pipeline.give_up_after, d.pipeline.give_up_after);
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("soon"), None);
        // The host interfaces' tables are carried for them, unread.
        assert_eq!(c.sections.keys().collect::<Vec<_>>(), ["alerts", "fp", "sqlite"]);
        assert!(d.sections.is_empty());
        assert_eq!(c.plugins.compile_limits(), d.plugins.compile_limits());
        assert_eq!(d.plugins.compile_limits(), baton_runtime::CompileLimits::default());
        let g = c.grants(Path::new("/h"), "audit");
        c.check_grants(&Paths::new(Path::new("/h"), Path::new("/h/state/baton.sqlite"), &c))
            .expect("the default grants are fine");
        assert!(g.iter().any(|g| g.name == "reports" && g.writable && g.host_path == Path::new("/h/reports")));
        assert!(g.iter().any(|g| g.name == "plans" && !g.writable));
    }

    #[test]
    fn compile_limits_sit_beside_the_plugins_tables() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::write(
            h.join("baton.toml"),
            "[plugins]\ncompile_mb = 512\ncompile_s = 9\n[plugins.audit]\ntime_ms = 5\n",
        )
        .unwrap();
        let c = Config::load(h).unwrap();
        let l = c.plugins.compile_limits();
        assert_eq!((l.memory_bytes, l.cpu), (512 << 20, Duration::from_secs(9)));
        assert_eq!(c.plugins.keys().collect::<Vec<_>>(), ["audit"], "the keys are not plugins");
        assert_eq!(c.budget("audit").time, Duration::from_millis(5));
        for bad in ["[plugins]\ncompile_mb = \"big\"\n", "[plugins]\ncompile_s = 0\n", "[plugins]\ncompile_mb = -1\n"] {
            std::fs::write(h.join("baton.toml"), bad).unwrap();
            let e = Config::load(h).unwrap_err().to_string();
            assert!(e.contains("baton.toml") && e.contains("compile_"), "{bad}: {e}");
        }
    }

    #[test]
    fn settings_and_the_host_interfaces_keys_are_carried_as_json() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let write = |text: &str| std::fs::write(h.join("baton.toml"), text).unwrap();
        write(
            "[plugins.spotify]\ntime_ms = 5\ncatalog = { read = [\"files\"], write = [\"tracks\"] }\n\
             catalog_quota = { rows = 10 }\n[plugins.spotify.settings]\nmarket = \"DE\"\nlimits = { page = 50 }\nsince = 2026-01-01\n",
        );
        let cfg = Config::load(h).unwrap();
        assert_eq!(cfg.plugins["spotify"].time_ms, Some(5));
        let s = cfg.plugin_settings("spotify");
        let v: serde_json::Value = serde_json::from_str(&s.settings).unwrap();
        assert_eq!(v, serde_json::json!({"market": "DE", "limits": {"page": 50}, "since": "2026-01-01"}));
        // The engine reads none of these: they are the catalog's, carried whole.
        assert_eq!(
            serde_json::Value::Object((*s.sections).clone()),
            serde_json::json!({"catalog": {"read": ["files"], "write": ["tracks"]}, "catalog_quota": {"rows": 10}})
        );
        assert_eq!(&*cfg.plugin_settings("other").settings, "{}");
        assert!(cfg.plugin_settings("other").sections.is_empty());
        // The engine's own keys stay typed.
        write("[plugins.spotify]\ntime_ms = \"soon\"\n");
        let e = Config::load(h).unwrap_err().to_string();
        assert!(e.contains("baton.toml") && e.contains("time_ms"), "{e}");
    }

    #[test]
    fn unknown_top_level_keys_are_refused_and_a_section_is_read_as_its_owners_type() {
        #[derive(Debug, Default, PartialEq, Deserialize)]
        #[serde(deny_unknown_fields, default)]
        struct Own {
            limit: u64,
        }
        let c: Config = toml::from_str("agent = \"me\"\n[own]\nlimit = 3\n[ownn]\n").unwrap();
        let file = Path::new("/h/baton.toml");
        let e = c.check_tables(file, &["own"]).unwrap_err().to_string();
        assert!(e.starts_with("/h/baton.toml: has no key `ownn`") && e.contains("agent") && e.contains("own"), "{e}");
        assert_eq!(c.section::<Own>("own"), Ok(Own { limit: 3 }));
        assert_eq!(c.section::<Own>("absent"), Ok(Own::default()));
        let c: Config = toml::from_str("[own]\nlimit = \"x\"\nlimt = 4\n").unwrap();
        c.check_tables(file, &["own"]).unwrap();
        let e = c.section::<Own>("own").unwrap_err().to_string();
        assert!(e.starts_with("[own]: "), "{e}");
    }

    /// An unknown key at the top level gets what a wrong key one level down gets: its line
    /// and column with a caret, and the closest known key.
    #[test]
    fn an_unknown_key_is_located_in_the_file_with_the_closest_known_one() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("baton.toml");
        let text = "agent = \"baton\"\nmax_file_byte = 100\n\n[retyr]\nx = 1\n[plugins.p]\ntiem_ms = 3\n";
        std::fs::write(&file, text).unwrap();
        let c: Config = toml::from_str("agent = \"baton\"\nmax_file_byte = 100\n").unwrap();
        let e = c.check_tables(&file, &[]).unwrap_err().to_string();
        assert!(e.contains("has no key `max_file_byte`; did you mean \"max_file_bytes\"?"), "{e}");
        assert!(e.contains("at line 2, column 1:\n  2 | max_file_byte = 100\n    | ^"), "{e}");
        let c: Config = toml::from_str("[retyr]\nx = 1\n").unwrap();
        let e = c.check_tables(&file, &[]).unwrap_err().to_string();
        assert!(e.contains("`retyr`; did you mean \"retry\"?") && e.contains("at line 4, column 2"), "{e}");
        let c: Config = toml::from_str("[plugins.p]\ntiem_ms = 3\n").unwrap();
        let e = c.check_sections(&file, &[], |_, _| Ok::<(), String>(())).unwrap_err().to_string();
        assert!(e.contains("did you mean \"time_ms\"?") && e.contains("at line 7, column 1"), "{e}");
        // Nothing close: no guess, the keys are listed.
        let c: Config = toml::from_str("zzzzzzzzzz = 1\n").unwrap();
        let e = c.check_tables(&file, &[]).unwrap_err().to_string();
        assert!(!e.contains("did you mean") && e.contains("the keys are"), "{e}");
    }

    #[test]
    fn unknown_plugin_keys_are_refused_naming_the_known_ones() {
        let c: Config = toml::from_str("[plugins.p]\ntime_ms = 5\ncatalog = {}\ntiem_ms = 3\n").unwrap();
        let file = Path::new("/h/baton.toml");
        let e = c.check_sections(file, &["catalog"], |_, _| Ok::<(), String>(())).unwrap_err().to_string();
        assert!(e.contains("/h/baton.toml") && e.contains("[plugins.p]") && e.contains("`tiem_ms`"), "{e}");
        assert!(e.contains("time_ms") && e.contains("catalog"), "{e}");
        let c: Config = toml::from_str("[plugins.p]\ncatalog = { read = [\"x\"] }\n").unwrap();
        c.check_sections(file, &["catalog"], |_, _| Ok::<(), String>(())).unwrap();
        let e = c.check_sections(file, &["catalog"], |p, s| Err(format!("{p} {}", s.len()))).unwrap_err();
        assert_eq!(e.to_string(), "/h/baton.toml: [plugins.p] p 1");
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let r = Retry { max_attempts: 5, base_ms: 100, cap_ms: 1000 };
        for _ in 0..50 {
            let d1 = r.delay(1).as_millis();
            assert!((50..=100).contains(&d1), "{d1}");
            let d9 = r.delay(9).as_millis();
            assert!((500..=1000).contains(&d9), "{d9}");
        }
    }
}
