//! `baton-audit`: the plans audit core. It discovers plans (free-form Markdown, GitHub
//! spec-kit, Kiro, Cursor, OpenSpec, Taskmaster, BMAD v4 and v6, Codex ExecPlans, the Copilot
//! task planner, beads), extracts the files they promise with
//! their groups and tasks, checks each one against the repositories (`present`, `missing`,
//! `stub`, `ambiguous`), lists false claims (claimed done but missing or a stub) and status
//! conflicts (a declared status its own boxes contradict), computes completion (tasks done)
//! and verified (done tasks whose outputs are all there) per plan, diffs against the previous report, decides which gaps are new (one follow-up
//! each), fingerprints the inputs, and renders/writes the reports.
//!
//! Pure Rust on `std::fs` paths, no threads: the same code runs natively (CLI, tests,
//! benchmark) and in the `plugins/audit` wasm32-wasip2 component, where granted folders are
//! preopened dirs (there, directories and small files are read through `wasi:filesystem`
//! directly, see `repo::wasi_walk`).
//!
//! # API
//!
//! - [`audit`]`(&AuditInput { plans_dirs, repo_dirs, previous, now, mounts }) -> Report`: never
//!   fails; unreadable folders and plans land in [`Report::errors`].
//! - [`inputs_unchanged`]`(&report, previous) -> bool`: same plans, same size and mtime of
//!   every file a deliverable resolved to → write no new report.
//! - [`new_gaps`]`(&report) -> Vec<Gap>`: open gaps with no follow-up yet. Emit one each,
//!   [`Report::mark_emitted`], then write the report: a gap is never emitted twice, and one
//!   that closes and comes back is emitted again.
//! - [`render_markdown`]`(&report) -> String`; [`write_reports`]`(dir, &report) ->
//!   Result<ReportPaths, AuditError>` writes `PLANS_AUDIT_REPORT_<UTC yyyymmdd_hhmmss>[_N]`
//!   `.md` and `.json`; [`load_previous`]`(dir) -> Option<Report>` reads the latest back.
//! - [`Report::cli_view`] serialises to exactly the `baton audit --json` shape.
//!
//! ```no_run
//! use baton_audit::*;
//! use std::path::Path;
//! let reports = Path::new("reports");
//! let previous = load_previous(reports);
//! let mut report = audit(&AuditInput {
//!     plans_dirs: vec!["plans".into()],
//!     repo_dirs: vec!["repo".into()],
//!     previous: previous.clone(),
//!     now: std::time::SystemTime::now(),
//!     mounts: vec![],
//! });
//! if !inputs_unchanged(&report, previous.as_ref()) {
//!     for gap in new_gaps(&report) {
//!         // emit one follow-up TASK for `gap`, then:
//!         report.mark_emitted(&gap.key, "handoff-id");
//!     }
//!     let paths = write_reports(reports, &report).unwrap();
//!     println!("{}", paths.markdown.display());
//! }
//! println!("{}", serde_json::to_string(&report.cli_view()).unwrap());
//! ```

pub mod diff;
pub mod discover;
pub mod display;
pub mod error;
pub mod extract;
pub mod gaps;
pub mod hash;
pub mod ignore;
pub mod model;
#[cfg(not(target_os = "wasi"))]
pub mod moved;
pub mod render;
pub mod repo;
pub mod run;
pub mod store;
pub mod stub;
pub mod time;

pub use diff::{gap_key, inputs_unchanged, new_gaps};
pub use error::AuditError;
pub use model::*;
pub use render::render_markdown;
pub use run::{AuditInput, audit};
pub use store::{ReportPaths, latest_report, load_previous, numbered_name, publish, rewrite_reports, write_reports};
