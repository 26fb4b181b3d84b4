//! Typed handoff bodies (schema `baton.handoff/v1`). Validation happens in [`crate::schema`]
//! before anything is deserialised into these types.
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ErrorCode;

/// The `schema` value of every v1 handoff.
pub const SCHEMA_ID: &str = "baton.handoff/v1";

/// A TASK: for baton when it names `plugin`/`action`/`params`, for another agent when it
/// names `to`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TaskBody {
    pub schema: String,
    pub id: String,
    pub kind: String,
    pub created_at: String,
    pub from: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// How long an input request of this TASK waits for its answer (seconds); else
    /// `[handoffs] input_timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_timeout_secs: Option<u64>,
}

impl TaskBody {
    /// The agent whose inbox receives the RETURN: `reply_to`, else `from`.
    pub fn reply_agent(&self) -> &str {
        self.reply_to.as_deref().unwrap_or(&self.from)
    }
}

/// A2A's terminal task states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Completed,
    Failed,
    Rejected,
    Canceled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReturnError {
    pub code: ErrorCode,
    pub message: String,
}

/// Which plugin build produced a result, so that every result can be reproduced.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

/// A RETURN: the one answer to a TASK.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReturnBody {
    pub schema: String,
    pub id: String,
    pub kind: String,
    pub created_at: String,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub title: String,
    pub in_reply_to: String,
    pub status: Status,
    pub summary: String,
    #[serde(default)]
    pub result: Value,
    #[serde(default)]
    pub artifacts: Vec<String>,
    #[serde(default)]
    pub error: Option<ReturnError>,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    pub plugin: Option<PluginRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// An input request: the TASK `in_reply_to` asks its reply agent a question before it can
/// RETURN (not a RETURN; see `docs/asking-back.md`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputRequestBody {
    pub schema: String,
    pub id: String,
    pub kind: String,
    pub created_at: String,
    pub from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    pub title: String,
    pub in_reply_to: String,
    pub request_id: String,
    pub message: String,
    pub input_schema: Value,
    /// When the TASK fails `input_timeout` if this is still unanswered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

/// An answer to an input request of the TASK `in_reply_to`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct InputBody {
    pub schema: String,
    pub id: String,
    pub kind: String,
    pub created_at: String,
    pub from: String,
    pub title: String,
    pub in_reply_to: String,
    pub request_id: String,
    pub input: Value,
}

/// A parsed, schema-valid handoff.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Task(TaskBody),
    Return(ReturnBody),
    InputRequest(InputRequestBody),
    Input(InputBody),
}

impl Body {
    pub fn id(&self) -> &str {
        match self {
            Body::Task(t) => &t.id,
            Body::Return(r) => &r.id,
            Body::InputRequest(r) => &r.id,
            Body::Input(i) => &i.id,
        }
    }
    pub fn from(&self) -> &str {
        match self {
            Body::Task(t) => &t.from,
            Body::Return(r) => &r.from,
            Body::InputRequest(r) => &r.from,
            Body::Input(i) => &i.from,
        }
    }
}
