//! The composition root's wiring: the [`Host`] every command of this binary gets (which host
//! interfaces its plugins' runtime has, which baton.toml tables it reads), and the libraries
//! behind the facts it reports (the plans audit's report format and git renames, the
//! fingerprint library's coverage, the dashboard's music and audit pages). The handoff engine
//! (`baton-pipeline`) and the platform commands (`baton-cli`) know none of them.
use baton_sync::Locked;
use std::path::{Path, PathBuf};

use serde_json::Value;

use baton_cli::Host;
use baton_home::config::{Config, ConfigError, Paths};
use baton_ledger::SharedLedger;
use baton_pipeline::PipelineError;
use baton_runtime::Runtime;

/// `[alerts]`: the alert loop's rules ([`baton_stats::alerts::AlertsConfig`]), a table the
/// composition root reads, as it wires the loop ([`crate::alerts`]).
pub const ALERTS: &str = "alerts";

/// What `baton`'s front gives the commands it runs ([`crate::front`]): the same checks of
/// baton.toml, and no plugin runtime.
#[derive(Debug)]
pub struct Front;

pub static FRONT: Front = Front;

impl Host for Front {
    fn check_config(&self, cfg: &Config, file: &Path) -> Result<(), ConfigError> {
        check_config(cfg, file)
    }

    fn plugins(&self) -> Option<&dyn baton_cli::PluginHost> {
        None
    }
}

/// The tables of baton.toml besides the engine's: the music library's, the alert loop's, the
/// mailboxes' and A2A's.
pub(crate) fn check_config(cfg: &Config, file: &Path) -> Result<(), ConfigError> {
    let mut tables = baton_music_cli::wiring::TABLES.to_vec();
    tables.extend([ALERTS, baton_mailbox::settings::SECTION, baton_agents::a2a::SECTION]);
    baton_music_cli::wiring::check_config(cfg, file, &tables)?;
    let refuse = |m: String| ConfigError::Section(format!("{}: {m}", file.display()));
    baton_agents::a2a::Settings::of(cfg).map_err(refuse)?;
    baton_mailbox::settings::parse(cfg.sections.get(baton_mailbox::settings::SECTION))
        .map_err(|e| refuse(e.to_string()))?;
    cfg.section::<baton_stats::alerts::AlertsConfig>(ALERTS)
        .map_err(|e| refuse(e.to_string()))?
        .check()
        .map_err(|e| refuse(e.to_string()))
}

/// The plugins' runtime with the music library's host interfaces.
pub fn runtime(
    cfg: &Config,
    paths: &Paths,
    ledger: SharedLedger,
    location: &baton_ledger::Location,
) -> Result<Runtime, PipelineError> {
    let mut runtime = baton_home::runtime(cfg, paths, ledger)?;
    baton_music_cli::wiring::wire(&mut runtime, cfg, paths, location)?;
    Ok(runtime)
}

/// This machine's fingerprint coverage (0 to 1), read from its library in the local state
/// file `fp`, for the alerts; `None` when there is no library.
pub fn fp_coverage(fp: &baton_ledger::rusqlite::Connection) -> Option<f64> {
    baton_fp::scan::coverage_ratio(fp).unwrap_or_else(|e| {
        tracing::warn!("fingerprint coverage: {e}");
        None
    })
}

/// The false claims of the latest report in the audit plugin's `reports` folder, with host
/// paths (the report holds the sandbox's and the mounts that map them back); `None` without
/// a report.
pub fn false_claims(reports: &Path) -> Option<Vec<baton_stats::alerts::FalseClaimRef>> {
    let (_, report) = baton_audit::latest_report(reports)?;
    let host = |p: &str| baton_audit::display::rewrite_roots(p, &report.display_roots);
    Some(
        report
            .false_claims
            .iter()
            .map(|f| baton_stats::alerts::FalseClaimRef { plan: host(&f.plan), path: f.path.clone() })
            .collect(),
    )
}

/// The plans audit's report library (`baton-audit`) behind the pipeline's audit runs.
pub struct AuditReports;

impl baton_pipeline::audit::Reports for AuditReports {
    fn latest(&self, reports: &Path) -> Option<PathBuf> {
        baton_audit::store::latest_report(reports).map(|(p, _)| p)
    }

    fn renames(&self, result: &mut Value, repos: &[PathBuf]) -> Box<dyn baton_pipeline::audit::Renamed> {
        let renames = baton_audit::moved::check(&baton_audit::moved::missing_in_json(result), repos);
        renames.apply_json(result);
        Box::new(Renames(renames))
    }

    fn host_text(&self, text: &str, mounts: &[(String, String)]) -> String {
        baton_audit::display::rewrite_roots(text, mounts)
    }

    fn publish(
        &self,
        files: &[PathBuf],
        to: &Path,
        rename: &dyn Fn(&Path, &Path) -> std::io::Result<()>,
    ) -> Result<Vec<(PathBuf, PathBuf)>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(baton_audit::publish(files, to, rename)?)
    }
}

struct Renames(baton_audit::moved::Renames);

impl baton_pipeline::audit::Renamed for Renames {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn contains(&self, plan: &str, path: &str) -> bool {
        self.0.contains(plan, path)
    }
    fn deleted(&self) -> usize {
        self.0.deleted()
    }
    fn note(&self) -> String {
        self.0.note.clone()
    }
    fn record_in(&self, path: &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let text = std::fs::read(path)?;
        let mut report = serde_json::from_slice::<baton_audit::Report>(&text)
            .map_err(|e| format!("the audit plugin wrote a file that is not a report: {e}"))?;
        self.0.apply_report(&mut report);
        baton_audit::rewrite_reports(path, &report)?;
        Ok(())
    }
}

/// What the dashboard shows of the music library and the plans audit's reports (see
/// [`baton_dashboard::Facts`]): the duplicate groups are kept for one fingerprint library
/// generation, since finding them reads every print.
#[derive(Default)]
pub struct DashboardFacts {
    dedup: std::sync::Mutex<Option<(i64, Value)>>,
}

impl baton_dashboard::Facts for DashboardFacts {
    fn fp_coverage(&self, state: &Path) -> Option<f64> {
        baton_fp::db::Db::open(state)
            .and_then(|db| db.counts())
            .ok()
            .filter(|(files, _, _)| *files > 0)
            .map(|(files, done, _)| done as f64 / files as f64)
    }

    fn library(
        &self,
        location: &baton_ledger::Location,
        state: &Path,
        threshold: f64,
    ) -> Result<Value, baton_dashboard::DashboardError> {
        let coverage = baton_fp::scan::coverage(state, threshold)
            .map_err(|e| baton_dashboard::DashboardError::Library(e.into()))?;
        let generation = baton_fp::db::Db::open(state)
            .and_then(|db| db.generation())
            .map_err(|e| baton_dashboard::DashboardError::Library(e.into()))?;
        let cached = self.dedup.locked().clone().filter(|(g, _)| *g == generation);
        let dedup = match cached {
            Some((_, v)) => v,
            None => {
                let report = baton_fp::dedup::find_groups(state, &baton_fp::dedup::DedupOptions::default())
                    .map_err(|e| baton_dashboard::DashboardError::Library(e.into()))?;
                let groups: Vec<Value> = report
                    .groups
                    .iter()
                    .take(100)
                    .map(|g| serde_json::json!({"keeper": g.keeper.path, "duplicates": g.duplicates.iter().map(|d| &d.path).collect::<Vec<_>>(), "score": g.score}))
                    .collect();
                let v = serde_json::json!({"count": report.groups.len(), "files": report.groups.iter().map(|g| 1 + g.duplicates.len()).sum::<usize>(), "groups": groups});
                *self.dedup.locked() = Some((generation, v.clone()));
                v
            }
        };
        let catalog = baton_catalog::Catalog::open_at(location, state)
            .and_then(|mut c| {
                c.set_handoffs(baton_music_cli::wiring::handoffs(location));
                c.set_files(baton_host_catalog::LibraryFiles::at(state));
                c.collections(&baton_catalog::Access::user())
            })
            .map_err(|e| baton_dashboard::DashboardError::Library(e.into()))?;
        Ok(serde_json::json!({
            "coverage": {"files": coverage.files, "fingerprinted": coverage.fingerprinted, "failed": coverage.failed,
                         "ratio": coverage.coverage, "threshold": threshold, "ok": coverage.ok},
            "duplicates": dedup,
            "catalog": catalog.iter().map(|c| serde_json::json!({"name": c.name, "owner": c.owner, "records": c.records, "read_only": c.read_only})).collect::<Vec<_>>(),
        }))
    }

    fn audit_report(&self, bytes: &[u8], with_detail: bool) -> Option<baton_dashboard::AuditSummary> {
        let r: baton_audit::model::Report = serde_json::from_slice(bytes).ok()?;
        let (present, expected) = r.totals();
        // The report holds the sandbox's paths (`/plans/…`, `/repos/…`) and the mounts that
        // map them back: show the host paths the user knows, as the alerts do.
        let host = |p: &str| baton_audit::display::rewrite_roots(p, &r.display_roots);
        let detail = with_detail.then(|| {
            serde_json::json!({
                "plans": r.plans.iter().map(|p| serde_json::json!({"path": host(&p.path), "title": p.title, "completion": p.completion, "tasks_total": p.tasks_total, "tasks_done": p.tasks_done, "verified": p.verified, "present": p.present, "expected": p.expected})).collect::<Vec<_>>(),
                "status_conflicts": r.status_conflicts.iter().map(|c| serde_json::json!({"path": host(&c.path), "status": c.status, "done": c.done, "total": c.total, "task": c.task})).collect::<Vec<_>>(),
                "false_claims": r.false_claims.iter().map(|f| serde_json::json!({"plan": host(&f.plan), "path": f.path, "status": f.status, "reason": f.reason.as_deref().map(host)})).collect::<Vec<_>>(),
                "gaps": r.gaps.iter().take(200).map(|g| serde_json::json!({"plan": host(&g.plan), "path": g.path, "status": g.status, "new": g.new, "first_seen": g.first_seen})).collect::<Vec<_>>(),
                "errors": r.errors.iter().map(|e| serde_json::json!({"path": host(&e.path), "message": host(&e.message)})).collect::<Vec<_>>(),
            })
        });
        let mut plans_dirs: Vec<String> = r.plans_dirs.iter().map(|d| host(d)).collect();
        plans_dirs.sort();
        plans_dirs.dedup();
        Some(baton_dashboard::AuditSummary {
            plans_dirs,
            generated_at: r.generated_at,
            present,
            expected,
            false_claims: r.false_claims.len(),
            gaps: r.gaps.len(),
            detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baton_cli::{Ctx, section};
    use baton_host_fp::FpSettings;
    use baton_host_sqlite::SqliteSettings;

    fn ctx(home: &Path) -> Ctx {
        let location = baton_ledger::Location::Sqlite(home.join("state.sqlite"));
        Ctx::new(home.to_path_buf(), home.join("state.sqlite"), location, &crate::HOST)
    }
    fn load_config(home: &Path) -> Result<Config, ConfigError> {
        ctx(home).config()
    }
    fn parse_config(home: &Path, text: &str) -> Result<Config, ConfigError> {
        ctx(home).parse_config(text)
    }

    #[test]
    fn a_load_refuses_bad_catalog_grants_and_unknown_keys_naming_the_file() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        let write = |text: &str| std::fs::write(h.join("baton.toml"), text).unwrap();
        write("[plugins.spotify]\ncatalog = { read = [\"files\"] }\ncatalog_quota = { rows = 10 }\n");
        load_config(h).unwrap();
        for (text, says) in [
            ("[plugins.spotify]\ncatalog = { read = [\"trakcs\"] }\n", "`trakcs`"),
            ("[plugins.spotify]\ncatalog = { write = [\"files\"] }\n", "read = [\"files\"]"),
            ("[plugins.spotify]\ncatalog = { rw = [\"tracks\"] }\n", "rw"),
            ("[plugins.spotify]\ncatalgo = { read = [\"tracks\"] }\n", "has no key `catalgo`"),
            ("[plugins.spotify]\ntiem_ms = 5\n", "has no key `tiem_ms`"),
            ("[fp]\nfile_timeout_ms = \"soon\"\n", "[fp]"),
            ("[fp]\ndeeep = true\n", "deeep"),
            ("[sqlite]\ncopy_mb = -1\n", "[sqlite]"),
            ("[fpp]\ndeep = true\n", "has no key `fpp`"),
        ] {
            write(text);
            let e = load_config(h).unwrap_err().to_string();
            let plugin = !text.starts_with("[plugins") || e.contains("[plugins.spotify]");
            assert!(e.contains("baton.toml") && e.contains(says) && plugin, "{text}: {e}");
            // `baton plugin grant` checks an edit the same way.
            assert_eq!(parse_config(h, text).unwrap_err().to_string(), e);
        }
    }

    #[test]
    fn the_alerts_table_has_defaults_and_clear_errors() {
        use baton_stats::alerts::AlertsConfig;
        let d = parse_config(Path::new("/h"), baton_home::config::DEFAULT_TOML).unwrap();
        assert_eq!(section::<AlertsConfig>(&d, ALERTS).unwrap(), AlertsConfig::default());
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        std::fs::write(h.join("baton.toml"), "[alerts]\nnotify_agent = \"claude\"\nfp_coverage_min = 0.9\n").unwrap();
        let a: AlertsConfig = section(&load_config(h).unwrap(), ALERTS).unwrap();
        assert_eq!((a.notify_agent.as_deref(), a.fp_coverage_min, a.min_events), (Some("claude"), Some(0.9), 20));
        for (text, names) in [
            ("[alerts]\nfailure_window = \"2h\"\n", "failure_window"),
            ("[alerts]\nnotify_agent = \"../x\"\n", "notify_agent"),
            ("[alerts]\nfp_coverage_min = 80\n", "fp_coverage_min"),
            ("[alerts]\nsend_email = true\n", "send_email"),
        ] {
            std::fs::write(h.join("baton.toml"), text).unwrap();
            let e = load_config(h).unwrap_err().to_string();
            assert!(e.contains(names) && e.contains("baton.toml"), "{text}: {e}");
        }
    }

    #[test]
    fn the_default_tomls_fp_and_sqlite_tables_are_their_owners_defaults() {
        let c = parse_config(Path::new("/home/u/.baton"), baton_home::config::DEFAULT_TOML).unwrap();
        assert_eq!(section::<FpSettings>(&c, FpSettings::SECTION).unwrap(), FpSettings::default());
        assert_eq!(section::<SqliteSettings>(&c, SqliteSettings::SECTION).unwrap(), SqliteSettings::default());
        let c = parse_config(Path::new("/h"), "[fp]\ndeep = true\n[sqlite]\ncopy_mb = 1\n").unwrap();
        let fp: FpSettings = section(&c, FpSettings::SECTION).unwrap();
        assert_eq!((fp.deep, fp.file_timeout_ms), (true, FpSettings::default().file_timeout_ms));
        let sqlite: SqliteSettings = section(&c, SqliteSettings::SECTION).unwrap();
        assert_eq!(sqlite.limits().copy_bytes, 1 << 20);
    }

    #[test]
    fn the_default_tomls_catalog_lines_are_the_built_in_defaults() {
        use baton_host_catalog::grant;
        let text = baton_home::config::DEFAULT_TOML;
        let start = text.find("# [plugins.spotify]").unwrap();
        let uncommented: String = text[start..]
            .lines()
            .map(|l| l.strip_prefix("# ").or_else(|| l.strip_prefix("#")).unwrap_or(l))
            .collect::<Vec<_>>()
            .join("\n");
        let c = parse_config(Path::new("/home/u/.baton"), &uncommented).unwrap();
        for name in ["spotify", "djay", "drive-sync"] {
            let shown = grant::given(name, &c.plugins[name].sections_json()).unwrap();
            assert!(!shown.built_in, "{name}: the uncommented table sets `catalog`");
            assert_eq!(Some(shown.grants), grant::default_grants(name), "{name}");
        }
    }
}
