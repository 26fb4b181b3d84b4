//! The handoff format: the typed body of TASK and RETURN files (and of the input requests and
//! inputs of a TASK that asks back, [`input`]), validation against the
//! published JSON Schema (`handoffs/schema/handoff.v1.json`), the closed set of error codes,
//! and the file-name conventions of the inbox tree.
//!
//! Nothing here touches the file system: it is the vocabulary the pipeline speaks.

pub mod build;
pub mod codes;
pub mod dialect;
pub mod explain;
pub mod input;
pub mod model;
pub mod names;
pub mod params;
pub mod schema;
pub mod stamp;
pub mod strict;

pub use codes::ErrorCode;
pub use model::{Body, InputBody, InputRequestBody, PluginRef, ReturnBody, ReturnError, SCHEMA_ID, Status, TaskBody};
pub use schema::{Invalid, parse};
