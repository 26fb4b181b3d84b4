//! End-to-end tests of the platform: the handoff engine's faults, agents' CLI and MCP, the dashboard, services, PostgreSQL, plugins' management and the demo.
//! One test binary per area (each module was its own binary once): the real `baton` binary on
//! temp folders, with the helpers in `tests/support`.

#[path = "../support/mod.rs"]
mod support;

mod faults;
mod demo;
mod service;
mod shared;
mod pg_migrate;
mod stats;
mod handoffs_real;
mod agents;
mod mcp;
mod dashboard;
mod plugins;
mod plugin_authoring;
mod cli_help;
