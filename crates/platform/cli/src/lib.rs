//! `baton`: the command line. A thin edge over the host crates; errors become `anyhow` here,
//! with the file and the fix in the message.
//!
//! A library with one entry, [`main`], so that the program is the same whichever binary calls
//! it: `baton` (`src/main.rs`) and the end-to-end tests' copy (`tests/bin/baton.rs`, in the
//! `baton-tests` crate, which needs a binary of its own to run).
// The doc comments of this crate are mostly clap help text, printed to users as written:
// `<home>` and `<name>` there are placeholders, not HTML.
#![allow(rustdoc::invalid_html_tags)]
mod a2a;
mod agents;
mod alerts;
mod audit;
mod call;
mod catalog;
mod dashboard;
mod fp;
mod handoffs;
mod home_check;
mod init;
mod mailbox;
mod manpages;
mod mcp;
mod migrate;
mod plugin;
mod plugin_new;
mod retry;
mod service;
mod services;
mod shell;
mod stderr;
mod text;
mod tracking;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(name = "baton", bin_name = "baton", version, about = "Local-first host for coordinating AI coding agents")]
struct Cli {
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Create the home: commented baton.toml, handoffs/, plans/, reports/, state, plugins.
    Init {
        /// Use an existing tree of agent folders (`<Agent>/01_inbox/`) where it is, copying
        /// nothing: it becomes `handoffs` in baton.toml. `baton adopt PATH` shows what baton sees there.
        #[arg(long, value_name = "PATH")]
        handoffs: Option<PathBuf>,
    },
    /// Report what baton understands in an existing handoffs tree, changing nothing.
    Adopt {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
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
    /// Open the dashboard of the running `baton serve --http` (a one-time sign-in link).
    Dashboard {
        /// Print the link instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
    /// The dashboard key.
    #[command(subcommand)]
    Key(dashboard::KeyCommand),
    /// Run one handoff file from anywhere and print its RETURN JSON. Moves nothing.
    Run { file: PathBuf },
    /// Queue depth, recent executions, open inter-agent handoffs, paused plugins.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// One handoff's history: its record, events and plugin logs. Also takes the file name
    /// of a handoff that never parsed (filed in 03_failed/) or of one in another agent's folder.
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Move failed handoffs from 03_failed/ back into the inbox: one by id or file name, or
    /// `--all` (narrowed by `--code`, `--plugin`; only listed unless `--yes`).
    Retry(retry::RetryArgs),
    /// Build a demo home, drop sample handoffs, serve them once and show the RETURNs.
    Demo {
        /// Where to build it (default: a new temporary folder, kept for you to look at).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Manage plugins: install, list, inspect, remove; `plugin new` scaffolds one.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Audit plans folders once: what each plan promised against what exists.
    Audit(audit::AuditArgs),
    /// The native audio-fingerprint core.
    #[command(subcommand)]
    Fp(fp::FpCommand),
    /// The shared music catalog: collections, records, links, matching, history.
    #[command(subcommand)]
    Catalog(catalog::CatalogCommand),
    /// Move a SQLite state onto an empty PostgreSQL server, checking the copy table by table.
    Migrate(migrate::MigrateArgs),
    /// Keep `baton serve` running: a launchd agent (macOS) or systemd user unit (Linux).
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Other agents' mailboxes (Claude Code teams, folder mailboxes): `mailbox add` writes the
    /// `[mailboxes.NAME]` table that reads one.
    #[command(subcommand)]
    Mailbox(mailbox::MailboxCommand),
    /// Send a TASK to a plugin (`--plugin --action`) or an agent (`--to`); prints its id.
    /// `--wait` blocks until the RETURN (exit 0 completed, 1 other status, 124 timeout).
    Send(agents::send::SendArgs),
    /// Call a plugin's action: params from `--param KEY=VALUE` (typed by the action's schema),
    /// run through the running `serve`, else in this process; prints the RETURN (exit 0
    /// completed, 1 other status, 2 bad input, 124 timeout). `baton call PLUGIN ACTION --help`
    /// lists the action's params.
    #[command(disable_help_flag = true)]
    Call(call::CallArgs),
    /// Wait for the RETURN of a TASK sent earlier (exit 0 completed, 1 other status, 124 timeout).
    Wait(agents::wait::WaitArgs),
    /// The handoffs waiting for an agent: TASKs to do, RETURNs to read, oldest first.
    Inbox(agents::inbox::InboxArgs),
    /// Answer a TASK addressed to you: one RETURN to its sender, the TASK filed in 02_processed/.
    Reply(agents::reply::ReplyArgs),
    /// Mark RETURNs read: each moves from the agent's 01_inbox/ to its 02_processed/ (by its id
    /// or the id of the TASK it answers; `--all AGENT` for every one waiting).
    Ack(agents::ack::AckArgs),
    /// Check handoff files against the schema (exit 1 if any is invalid).
    Validate(agents::validate::ValidateArgs),
    /// Print the JSON Schema of a TASK or a RETURN.
    Schema {
        #[arg(value_enum)]
        kind: agents::validate::Kind,
    },
    /// Serve the Model Context Protocol on stdio, for Claude Code, Cursor, Codex.
    Mcp(mcp::McpArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Print a man page (roff) to stdout, baton(1) or one command's (`baton man serve | man -l -`),
    /// or write them all with `--dir DIR`.
    Man(manpages::ManArgs),
}

/// Where a command's home and state are.
#[derive(Clone)]
pub struct Ctx {
    pub home: PathBuf,
    /// This machine's SQLite file: the ledger itself, or beside a PostgreSQL ledger the
    /// fingerprint library (`<home>/state/fp.sqlite`; the catalog is then on the server).
    pub state: PathBuf,
    /// Where the ledger is.
    pub location: baton_ledger::Location,
}

/// `--state`/`$BATON_STATE`, else `state` in baton.toml (relative to the home), else the
/// default SQLite file. A PostgreSQL URL is checked here (no password, TLS off this machine).
fn locate(home: &std::path::Path, state: Option<String>) -> anyhow::Result<baton_ledger::Location> {
    let configured = state.or_else(|| baton_pipeline::Config::load(home).ok().and_then(|c| c.state));
    Ok(match configured {
        Some(s) if baton_ledger::location::is_url(&s) => baton_ledger::Location::parse(&s)?,
        Some(s) => baton_ledger::Location::Sqlite(home.join(s)),
        None => baton_ledger::Location::Sqlite(home.join("state").join("baton.sqlite")),
    })
}

/// The whole program: parses the command line and runs the command. Never returns; the exit
/// code is the command's.
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
    // Each command's help ends with its examples (see manpages).
    let matches = manpages::with_examples(Cli::command()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if !matches!(cli.command, Command::Serve { .. } | Command::Dashboard { .. }) {
        quiet_on_closed_pipe();
    }
    let log_format = cli.log_format;
    stderr::set_json(matches!(log_format, LogFormat::Json));
    // `call` drains the inbox in this process and prints the RETURN: the pipeline's own
    // warnings about the same task would say its error again.
    let default_level = match &cli.command {
        Command::Serve { .. } => "info",
        Command::Call(_) => "warn,baton_pipeline=error",
        _ => "warn",
    };
    init_logging(log_format, default_level);
    let home = cli.home.unwrap_or_else(default_home);
    let location = match locate(&home, cli.state) {
        Ok(l) => l,
        Err(e) => {
            report_error(&e);
            std::process::exit(2);
        }
    };
    let ctx = Ctx { state: location.local_file(&home), home, location };
    if home_check::needs_home(&cli.command)
        && let Err(e) = home_check::require(&ctx.home)
    {
        report_error(&e);
        std::process::exit(2);
    }
    let result = match cli.command {
        Command::Init { handoffs } => init::init_with(&ctx, handoffs.as_deref()).map(|_| 0),
        Command::Adopt { path, json } => tracking::adopt(&ctx, &path, json),
        Command::Serve { once, http, new_state } => handoffs::serve(&ctx, once, http, new_state),
        Command::Dashboard { print } => dashboard::open(&ctx, print),
        Command::Key(cmd) => dashboard::key(cmd, &ctx),
        Command::Run { file } => handoffs::run(&ctx, &file),
        Command::Status { json } => handoffs::status(&ctx, json),
        Command::Show { id, json } => handoffs::show(&ctx, &id, json),
        Command::Retry(args) => retry::run(&ctx, args),
        Command::Demo { dir } => init::demo(dir),
        Command::Audit(args) => audit::run(args, &ctx),
        Command::Plugin(cmd) => plugin::run(cmd, &ctx),
        Command::Fp(cmd) => fp::run(cmd, &fp::FpContext { home: ctx.home.clone(), state: ctx.state.clone() }),
        Command::Catalog(cmd) => catalog::run(cmd, &ctx),
        Command::Migrate(args) => migrate::run(args, &ctx),
        Command::Service(cmd) => service::run(cmd, &ctx),
        Command::Mailbox(cmd) => mailbox::run(cmd, &ctx),
        Command::Send(args) => agents::send::run(&ctx, args),
        Command::Call(args) => call::run(&ctx, args),
        Command::Wait(args) => agents::wait::run(&ctx, args),
        Command::Inbox(args) => agents::inbox::run(&ctx, args),
        Command::Reply(args) => agents::reply::run(&ctx, args),
        Command::Ack(args) => agents::ack::run(&ctx, args),
        Command::Validate(args) => agents::validate::run(args),
        Command::Schema { kind } => agents::validate::schema(kind),
        Command::Mcp(args) => mcp::run(&ctx, args),
        Command::Completions { shell } => shell::completions(shell, Cli::command()),
        Command::Man(args) => manpages::run(args, Cli::command()),
    };
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

fn init_logging(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    // symphonia warns about every odd packet it skips; those are per-file noise, not news.
    let filter = EnvFilter::try_from_env("BATON_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("{default_level},symphonia=error")));
    // Colour only for a person at a terminal: a log file, a pipe or a service's journal gets
    // plain text, never escape codes (`NO_COLOR` is honoured too).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The last word of a failed command on stderr: the error chain as one line, or as one JSON
/// object in `--log-format json` mode, so a log shipper reading JSON never meets a bare line.
fn report_error(e: &anyhow::Error) {
    stderr::line("ERROR", &format!("{e:#}"), serde_json::Value::Null);
}
