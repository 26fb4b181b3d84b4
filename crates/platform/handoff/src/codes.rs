//! The closed, documented set of error codes a RETURN or `.error.json` can carry.
use serde::{Deserialize, Serialize};

/// Why a handoff was rejected or failed. The README documents each one; add a variant,
/// never reuse one for a new meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The file is not valid JSON, or does not match the handoff schema.
    Invalid,
    /// The file name is not valid UTF-8 or does not name a valid agent.
    InvalidName,
    /// The inbox entry is a symlink (never followed) or not a regular file.
    NotAFile,
    /// The file exceeds the size cap; it was not read.
    TooLarge,
    /// A sync tool's conflict copy ("conflicted copy", `.sync-conflict-`, ` (1)`).
    SyncConflict,
    /// Another handoff with the same id but different content was already accepted.
    DuplicateId,
    /// No installed plugin has that name.
    UnknownPlugin,
    /// The plugin has no such action.
    UnknownAction,
    /// The plugin is paused after repeated sandbox failures.
    PluginPaused,
    /// The plugin rejected the params as invalid input.
    InvalidParams,
    /// The plugin reported a permanent failure.
    PluginError,
    /// The plugin reported transient failures until the retry budget ran out.
    RetriesExhausted,
    /// The task ran past its time budget.
    Timeout,
    /// The plugin tried to grow its memory past the cap.
    OutOfMemory,
    /// The plugin trapped (panic, unreachable, stack overflow…).
    Trap,
    /// The plugin's result exceeded the output cap.
    OutputTooLarge,
    /// A TASK that is addressed to another agent (`to`) landed in baton's own inbox.
    Misrouted,
    /// baton itself failed (I/O, state database); the message says what.
    Internal,
    /// The host process died while this handoff was the only one in flight, `[pipeline]
    /// crash_limit` times: it is filed instead of being retried forever.
    CrashedHost,
    /// The plugin went over a quota of its task or of its own: open handles, kv store
    /// (key length, keys, bytes) or disk (bytes written, files created in a writable grant).
    QuotaExceeded,
    /// The TASK's `deadline` had passed before it could run: not run, answered `canceled`.
    DeadlinePassed,
    /// Canceled by request (`baton cancel`) while it waited for its next attempt: not run
    /// again, answered `canceled`.
    Canceled,
    /// A folder grant of the plugin does not exist (the plugin stays loaded).
    GrantMissing,
    /// A folder grant's path no longer leads to the folder checked when the plugin was loaded.
    GrantChanged,
    /// The agent to answer (`reply_to`, else `from`) is a `TEAM/AGENT` that no configured
    /// claude-team mailbox has: refused before running, so no answer is lost or misplaced.
    UnknownRecipient,
    /// The TASK asked for input (an input request) and no answer came within its
    /// `input_timeout` (`[handoffs] input_timeout`, or the TASK's `input_timeout_secs`).
    InputTimeout,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Invalid => "invalid",
            Self::InvalidName => "invalid_name",
            Self::NotAFile => "not_a_file",
            Self::TooLarge => "too_large",
            Self::SyncConflict => "sync_conflict",
            Self::DuplicateId => "duplicate_id",
            Self::UnknownPlugin => "unknown_plugin",
            Self::UnknownAction => "unknown_action",
            Self::PluginPaused => "plugin_paused",
            Self::InvalidParams => "invalid_params",
            Self::PluginError => "plugin_error",
            Self::RetriesExhausted => "retries_exhausted",
            Self::Timeout => "timeout",
            Self::OutOfMemory => "out_of_memory",
            Self::Trap => "trap",
            Self::OutputTooLarge => "output_too_large",
            Self::Misrouted => "misrouted",
            Self::Internal => "internal",
            Self::CrashedHost => "crashed_host",
            Self::QuotaExceeded => "quota_exceeded",
            Self::DeadlinePassed => "deadline_passed",
            Self::Canceled => "canceled",
            Self::GrantMissing => "grant_missing",
            Self::GrantChanged => "grant_changed",
            Self::UnknownRecipient => "unknown_recipient",
            Self::InputTimeout => "input_timeout",
        }
    }

    /// Codes that mean the input was refused (RETURN status `rejected`) rather than
    /// that running it failed (status `failed`).
    pub fn is_rejection(self) -> bool {
        matches!(
            self,
            Self::Invalid
                | Self::InvalidName
                | Self::NotAFile
                | Self::TooLarge
                | Self::SyncConflict
                | Self::DuplicateId
                | Self::UnknownPlugin
                | Self::UnknownAction
                | Self::InvalidParams
                | Self::Misrouted
                | Self::UnknownRecipient
        )
    }
}

/// Whether a handoff filed with `code` (its `as_str`) fails the same way if it runs again
/// unchanged: the file, its plugin, its action or its params were refused, and only an edit
/// (or, for a plugin not installed, an install) changes that. A retry of such a handoff is
/// "edit and retry", not "retry".
pub fn fails_unchanged(code: &str) -> bool {
    matches!(code, "invalid" | "invalid_name" | "unknown_plugin" | "unknown_action" | "invalid_params" | "duplicate_id")
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
