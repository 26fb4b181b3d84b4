//! `baton-audit`: the plans audit core. It discovers plans (free-form Markdown, GitHub
//! spec-kit, Kiro, Cursor), extracts the files they promise with their groups and tasks,
//! checks each one against the repositories (`present`, `missing`, `stub`, `ambiguous`),
//! lists false claims (claimed done but missing or a stub), computes completion per plan and
//! group, diffs against the previous report, decides which gaps are new (one follow-up
//! each), fingerprints the inputs, and renders/writes the reports.
//!
//! Pure Rust on `std::fs` paths, no threads: the same code runs natively and in the
//! `plugins/audit` wasm32-wasip2 component, where granted folders are preopened dirs.
//!
//! ```no_run
//! use baton_audit::*;
//! use std::path::Path;
//! let reports = Path::new("reports");
//! let mut report = audit(&AuditInput {
//!     plans_dirs: vec!["plans".into()],
//!     repo_dirs: vec!["repo".into()],
//!     previous: load_previous(reports),
//!     now: std::time::SystemTime::now(),
//! });
//! let previous = load_previous(reports);
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
pub mod error;
pub mod extract;
pub mod hash;
pub mod model;
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
pub use store::{ReportPaths, latest_report, load_previous, write_reports};
