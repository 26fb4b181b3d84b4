//! Errors of the operations that can fail as a whole (writing reports). Problems with
//! individual plans or folders are not errors: they are recorded in the report.

/// A failure to write reports.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no free report name in {0}")]
    NoFreeName(String),
}
