//! `baton`: the composition root. It parses the command line (the platform commands of
//! `baton-cli`, the agents' of `baton-agents`, the music commands of `baton-music-cli`, and
//! its own), says where the home and the state are, and gives every command the [`Host`] this
//! binary is made of ([`wiring`]: the host interfaces and the tables of baton.toml they read).
//! The commands that open the whole host live here: `serve` (config, state, runtime with every
//! host interface, plugins, handed to the pipeline; then the alert loop, the mailbox observer
//! and the dashboard beside it), `run`, `audit`, `demo`, and `migrate`, which copies every
//! domain's tables.
//!
//! A library with one entry, [`main`], so that the program is the same whichever binary calls
//! it: `baton` (`src/main.rs`) and the end-to-end tests' copy (`tests/bin/baton.rs`, in the
//! `baton-tests` crate, which needs a binary of its own to run).
//!
//! [`Host`]: baton_cli::Host
// The doc comments of this crate are mostly clap help text, printed to users as written:
// `<home>` and `<name>` there are placeholders, not HTML.
#![allow(rustdoc::invalid_html_tags)]
mod alerts;
mod audit;
mod demo;
pub mod front;
mod memory;
mod migrate;
mod open;
mod serve;
pub mod wiring;

use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use baton_cli::{Ctx, manpages, stderr};
use baton_home::config::{Config, ConfigError, Paths};
use baton_ledger::SharedLedger;
use baton_pipeline::PipelineError;

#[derive(Parser)]
#[command(name = "baton", bin_name = "baton", version, about = "Local-first host for coordinating AI coding agents")]
struct Cli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: Command,
}

/// The flags every command takes, the same in the host and in the front.
#[derive(clap::Args)]
struct Globals {
    /// baton's home folder: baton.toml, handoffs/, plans/, reports/, plugins/.
    /// Default: $BATON_HOME, else ~/.baton.
    #[arg(long, global = true, env = "BATON_HOME")]
    home: Option<PathBuf>,
    /// The state: a SQLite file (WAL; keep it on a local disk, never in a synced folder), or a
    /// PostgreSQL URL `postgres://user@host/db` shared by several machines (no password in it:
    /// use ~/.pgpass or $PGPASSWORD; a server not on this machine needs `sslmode=verify-full`).
    /// Default: $BATON_STATE, else `state` in baton.toml, else <home>/state/baton.sqlite.
    #[arg(long, global = true, env = "BATON_STATE")]
    state: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Every command. `defer`: a command's flags (and its own subcommands) are defined only when
/// the command line names it, so a `baton send` builds `send`'s flags, not those of all 65
/// commands (the three crates' enums flattened in here defer theirs too). A help, a man page
/// or a completion script builds the whole tree first (`manpages::with_examples`).
#[derive(Subcommand)]
#[command(defer = true)]
enum Command {
    #[command(flatten)]
    Platform(baton_cli::Command),
    /// Run the daemon: watch the inboxes and answer every TASK.
    Serve {
        /// Drain everything present (retries and settling files included), then exit.
        #[arg(long)]
        once: bool,
        /// Serve the web dashboard on this address (e.g. 127.0.0.1:7878; default: `[dashboard]
        /// http` in baton.toml). If the port is taken, serve warns and runs without it.
        #[arg(long, value_name = "ADDR")]
        http: Option<String>,
        /// Start on a new state even though this home served from another one at that path
        /// (it is missing, empty or replaced); without it, serve refuses (docs/faults.md).
        #[arg(long)]
        new_state: bool,
    },
    /// Run one handoff file from anywhere and print its RETURN JSON. Moves nothing.
    Run { file: PathBuf },
    /// Build a demo home, drop sample handoffs, serve them once and show the RETURNs.
    Demo {
        /// Where to build it (default: a new temporary folder, kept for you to look at).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Audit plans folders once: what each plan promised against what exists.
    Audit(audit::AuditArgs),
    #[command(flatten)]
    Music(baton_music_cli::Command),
    /// Move a SQLite state onto an empty PostgreSQL server, checking the copy table by table.
    Migrate(migrate::MigrateArgs),
    /// Keep `baton serve` running: a launchd agent (macOS) or systemd user unit (Linux).
    #[command(subcommand)]
    Service(baton_service::ServiceCommand),
    #[command(flatten)]
    Agents(baton_agents::Command),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print a man page (roff) to stdout, baton(1) or one command's (`baton man serve | man -l -`),
    /// or write them all with `--dir DIR`.
    Man(manpages::ManArgs),
}

impl Command {
    /// Whether the command reads the home (its baton.toml, state, plugins or handoffs): those
    /// that do are refused on a `--home` with a typo before doing anything
    /// ([`baton_cli::home_check`]). Those that do not: `demo` (makes its own),
    /// `completions`, `man`, and each crate's own (`init`, `schema`, `plugin new`, ...).
    fn needs_home(&self) -> bool {
        match self {
            Command::Platform(c) => c.needs_home(),
            Command::Agents(c) => c.needs_home(),
            Command::Demo { .. } | Command::Completions { .. } | Command::Man(_) => false,
            _ => true,
        }
    }
}

/// What the host program (`baton-host`) gives its commands: the host interfaces' config checks
/// and runtime ([`wiring`]), and `serve --once` as the drain a command may ask for. Here, at
/// the root, so that no module of this crate needs another's in a circle.
#[derive(Debug)]
pub struct HostProgram;

pub static HOST: HostProgram = HostProgram;

impl baton_cli::Host for HostProgram {
    fn check_config(&self, cfg: &Config, file: &Path) -> Result<(), ConfigError> {
        wiring::check_config(cfg, file)
    }

    fn plugins(&self) -> Option<&dyn baton_cli::PluginHost> {
        Some(self)
    }
}

impl baton_cli::PluginHost for HostProgram {
    fn runtime(
        &self,
        cfg: &Config,
        paths: &Paths,
        ledger: SharedLedger,
        location: &baton_ledger::Location,
    ) -> Result<baton_runtime::Runtime, PipelineError> {
        wiring::runtime(cfg, paths, ledger, location)
    }

    fn adopt_data(&self, ctx: &Ctx, plugin: &str, identity: &str) -> anyhow::Result<Option<String>> {
        baton_music_cli::wiring::adopt_data(ctx, plugin, identity)
    }

    fn drain(&self, ctx: &Ctx) -> anyhow::Result<i32> {
        serve::serve(ctx, true, None, false)
    }
}

/// The host program (`baton-host`): every command. It parses the command line and runs the
/// command. Never returns; the exit code is the command's. `baton` itself is [`front::main`],
/// which runs an agent's everyday commands and hands every other one to this program.
pub fn main() -> ! {
    // Hidden: a decoding worker process, started by this same program (see baton_fp::worker).
    if std::env::args_os().nth(1).is_some_and(|a| a == baton_fp::worker::WORKER_COMMAND) {
        std::process::exit(baton_fp::worker::serve_stdio());
    }
    // Hidden: a compile worker, started by this same program (see baton_runtime::compile).
    if std::env::args_os().nth(1).is_some_and(|a| a == baton_runtime::compile::WORKER_COMMAND) {
        let args: Vec<String> = std::env::args().skip(2).collect();
        std::process::exit(baton_runtime::compile::worker_main(&args));
    }
    if let Ok(exe) = std::env::current_exe() {
        baton_runtime::compile::use_worker(exe);
    }
    // Each command's help ends with its examples (see manpages). Only a help shows them, and
    // adding them to every command was 2 % of a `send --wait`'s CPU.
    let matches = if shows_help() { manpages::with_examples(Cli::command()) } else { Cli::command() }.get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if !matches!(cli.command, Command::Serve { .. } | Command::Platform(baton_cli::Command::Dashboard { .. })) {
        quiet_on_closed_pipe();
    }
    // `call` drains the inbox in this process and prints the RETURN: the pipeline's own
    // warnings about the same task would say its error again.
    let default_level = match &cli.command {
        Command::Serve { .. } => "info",
        Command::Agents(baton_agents::Command::Call(_)) => "warn,baton_pipeline=error",
        _ => "warn",
    };
    let ctx = context(cli.globals, &HOST, default_level, cli.command.needs_home());
    let result = match cli.command {
        Command::Platform(cmd) => cmd.run(&ctx),
        Command::Serve { once, http, new_state } => serve::serve(&ctx, once, http, new_state),
        Command::Run { file } => serve::run(&ctx, &file),
        Command::Demo { dir } => demo::demo(dir),
        Command::Audit(args) => audit::run(args, &ctx),
        Command::Music(cmd) => cmd.run(&ctx),
        Command::Migrate(args) => migrate::run(args, &ctx),
        Command::Service(cmd) => baton_service::run(cmd, &ctx),
        Command::Agents(cmd) => cmd.run(&ctx),
        Command::Completions { shell } => baton_cli::shell::completions(shell, Cli::command()),
        Command::Man(args) => manpages::run(args, Cli::command()),
    };
    exit_with(result)
}

/// What every command does before it runs, in the host and in the front alike: logging set up,
/// the home and the state located, and the home checked when the command reads one. An error
/// there ends the program (exit 2) with the error on stderr.
fn context(globals: Globals, host: &'static dyn baton_cli::Host, default_level: &str, needs_home: bool) -> Ctx {
    stderr::set_json(matches!(globals.log_format, LogFormat::Json));
    init_logging(globals.log_format, default_level);
    let home = globals.home.unwrap_or_else(default_home);
    let location = match baton_cli::locate(&home, globals.state) {
        Ok(l) => l,
        Err(e) => {
            report_error(&e);
            std::process::exit(2);
        }
    };
    let ctx = Ctx::new(home.clone(), location.local_file(&home), location, host);
    if needs_home && let Err(e) = baton_cli::home_check::require(&ctx.home) {
        report_error(&e);
        std::process::exit(2);
    }
    ctx
}

/// Ends the program with the command's exit code, or with its error (exit 2).
fn exit_with(result: anyhow::Result<i32>) -> ! {
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            report_error(&e);
            std::process::exit(2);
        }
    }
}

/// `baton status | head -1`: when the reader goes away, end quietly as `cat` does (killed by
/// SIGPIPE, no message) instead of panicking in `println!` with exit 101. Rust ignores SIGPIPE
/// by default; a one-shot command restores the default. `serve` keeps ignoring it, since a
/// dashboard client closing its socket must only end that connection.
fn quiet_on_closed_pipe() {
    // SAFETY: setting a signal's disposition to the default before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn default_home() -> PathBuf {
    std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")).join(".baton")
}

/// Whether this command line may print a help: `-h`, `--help`, `help`, or no command at all.
fn shows_help() -> bool {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    args.is_empty() || args.iter().any(|a| a == "-h" || a == "--help" || a == "help")
}

fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::{layer::SubscriberExt, util::SubscriberInitExt};
    // (Each command's default parses: a unit test reads them all.)
    let default = || parse_filter(&default_filter(default_level)).unwrap_or_default();
    // `BATON_LOG`: `target=level` directives and a bare level, comma-separated. A `Targets`
    // filter, not an `EnvFilter`: the latter's span-field matching pulls in `regex-automata`'s
    // full-DFA builder, which then compiles a DFA for every small regex baton makes (the
    // handoff schema's patterns at each `send`, 2 % of its CPU) and which no log line needs.
    let wanted = std::env::var("BATON_LOG").ok().filter(|s| !s.trim().is_empty());
    let (filter, refused) = match wanted.as_deref().map(parse_filter) {
        Some(Ok(f)) => (f, None),
        Some(Err(e)) => (default(), Some(e)),
        None => (default(), None),
    };
    // Colour only for a person at a terminal: a log file, a pipe or a service's journal gets
    // plain text, never escape codes (`NO_COLOR` is honoured too).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry.with(layer).init(),
        LogFormat::Json => registry.with(layer.json()).init(),
    }
    if let Some(e) = refused {
        tracing::warn!(
            "BATON_LOG is not a filter baton reads ({e}), so the default ({default_level}) applies: use a level (`debug`) or `target=level` pairs, comma-separated (`warn,baton_pipeline=debug`)"
        );
    }
}

/// The filter when `BATON_LOG` sets none. symphonia warns about every odd packet it skips;
/// those are per-file noise, not news.
fn default_filter(level: &str) -> String {
    format!("{level},symphonia=error")
}

/// `BATON_LOG`'s directives (empty ones, as after a trailing comma, skipped).
fn parse_filter(s: &str) -> Result<tracing_subscriber::filter::Targets, String> {
    let directives: Vec<&str> = s.split(',').map(str::trim).filter(|d| !d.is_empty()).collect();
    directives.join(",").parse().map_err(|e| format!("{e}"))
}

/// The last word of a failed command on stderr: the error chain as one line, or as one JSON
/// object in `--log-format json` mode, so a log shipper reading JSON never meets a bare line.
fn report_error(e: &anyhow::Error) {
    stderr::line("ERROR", &one_line(e), serde_json::Value::Null);
}

/// The error and its causes joined by `: `, each said once: a cause whose text the line
/// already holds (a library that prints its source in its own message, as SQLite's "unable to
/// open database file" does twice over) is left out. Compared without case and without
/// SQLite's "Error code N: " prefix, and without the word "the" (rusqlite's code text says
/// "Unable to open the database file" where SQLite's message says "unable to open database file").
fn one_line(e: &anyhow::Error) -> String {
    let plain = |s: &str| {
        let s = s.to_lowercase();
        let s = match s.strip_prefix("error code ").and_then(|r| r.split_once(": ")) {
            Some((code, rest)) if code.chars().all(|c| c.is_ascii_digit()) => rest.to_string(),
            _ => s,
        };
        s.split_whitespace().filter(|w| *w != "the").collect::<Vec<_>>().join(" ")
    };
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.is_empty() && plain(&line).contains(&plain(&text)) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// SQLite's failure prints its message, then its source prints it again with a code: the
    /// line says it once. A cause that adds something is kept.
    #[test]
    fn an_error_line_says_each_cause_once() {
        /// As rusqlite's failure: its message, and a source that says it again with a code.
        #[derive(Debug)]
        struct Failure(std::io::Error);
        impl std::fmt::Display for Failure {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("unable to open database file")
            }
        }
        impl std::error::Error for Failure {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let code = std::io::Error::other("Error code 14: Unable to open the database file");
        let e = anyhow::Error::new(Failure(code)).context("state database /h/state/baton.sqlite");
        let line = super::one_line(&e);
        assert_eq!(line, "state database /h/state/baton.sqlite: unable to open database file");
        let io = anyhow::Error::new(std::io::Error::other("disk on fire")).context("writing x");
        assert_eq!(super::one_line(&io), "writing x: disk on fire");
    }

    /// A command's flags are deferred until it runs (`#[command(defer = true)]`), and what is
    /// deferred is applied last: an `Args` struct's doc comment would then replace the help line
    /// its variant gives. Each command's line is the same before and after the tree is built.
    #[test]
    fn deferring_flags_changes_no_command_s_help_line() {
        fn same(unbuilt: &clap::Command, built: &clap::Command, path: &str) {
            for sub in unbuilt.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                let after = built.find_subcommand(sub.get_name());
                let about = |c: &clap::Command| c.get_about().map(ToString::to_string);
                assert_eq!(after.map(about), Some(about(sub)), "{path}");
                same(sub, after.unwrap_or(sub), &path);
            }
        }
        let mut built = super::Cli::command();
        built.build();
        same(&super::Cli::command(), &built, "baton");
    }

    /// `BATON_LOG` as the docs give it (a level, `target=level` pairs, a trailing comma) is
    /// read; what is no filter is refused (then the default applies, with a warning).
    #[test]
    fn baton_log_directives_are_read_or_refused() {
        use tracing::Level;
        let f = super::parse_filter("warn, baton_pipeline=debug,").unwrap();
        assert!(f.would_enable("baton_pipeline::intake", &Level::DEBUG));
        assert!(!f.would_enable("baton_pipeline::intake", &Level::TRACE));
        assert!(f.would_enable("baton_runtime", &Level::WARN) && !f.would_enable("baton_runtime", &Level::INFO));
        let f = super::parse_filter("debug").unwrap();
        assert!(f.would_enable("anything", &Level::DEBUG) && !f.would_enable("anything", &Level::TRACE));
        for level in ["info", "warn", "warn,baton_pipeline=error"] {
            let f = super::parse_filter(&super::default_filter(level)).unwrap();
            assert!(f.would_enable("symphonia_core", &Level::ERROR) && !f.would_enable("symphonia_core", &Level::WARN));
        }
        for bad in ["baton=debug=info", "baton=loud"] {
            assert!(super::parse_filter(bad).is_err(), "{bad}");
        }
    }

    /// Every example in the help and the man pages parses with the real command line (a
    /// renamed flag breaks this), and every command has at least one.
    #[test]
    fn every_command_has_examples_and_each_parses() {
        let problems = baton_cli::manpages::example_problems(super::Cli::command());
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
