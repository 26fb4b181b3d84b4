//! End-to-end tests of the platform: the handoff engine's faults, agents' CLI and MCP, the dashboard, services, PostgreSQL, plugins' management and the demo.
//! One test binary per area (each module was its own binary once): the real `baton` binary on
//! temp folders, with the helpers in `tests/support`.
#![allow(clippy::disallowed_methods)] // tests make their trees with `create_dir_all` (clippy.toml)

#[path = "../support/mod.rs"]
mod support;

mod a2a;
mod agents;
mod asking;
mod cli_help;
mod dashboard;
mod demo;
mod faults;
mod front;
mod handoffs_real;
mod mailboxes;
mod mcp;
mod pg_migrate;
mod plugin_authoring;
mod plugins;
mod service;
mod shared;
mod stats;
mod upgrade;
