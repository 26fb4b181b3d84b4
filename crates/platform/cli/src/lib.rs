//! The command line's platform half: where a command's home and state are ([`Ctx`]), what the
//! composition root gives the commands ([`Host`]), the output rules every command follows
//! (`say!`, [`text::esc`], [`stderr`]), and the platform commands themselves: `init`, `adopt`,
//! `status`, `plugin`, `key`/`dashboard`. Errors become `anyhow` here, with the file
//! and the fix in the message.
//!
//! The agents' commands (`baton-agents`), the music commands (`baton-music-cli`) and the
//! commands that open the whole host (`serve`, `run`, `audit`, in `crates/app`, which builds
//! the `baton` binary) build on this crate. It names no music crate: what a command needs of
//! the host interfaces (the catalog's keys in baton.toml, a runtime with every interface) it
//! asks of [`Host`], which the composition root implements.
// The doc comments of this crate are mostly clap help text, printed to users as written:
// `<home>` and `<name>` there are placeholders, not HTML.
#![allow(rustdoc::invalid_html_tags)]
pub mod cache;
pub mod dashboard;
pub mod home_check;
pub mod init;
pub mod mailboxes;
pub mod manpages;
pub mod plugin;
pub mod rt;
pub mod shell;
pub mod status;
pub mod stderr;
pub mod text;
pub mod tracking;

use std::path::{Path, PathBuf};

use baton_home::config::ConfigError;
use baton_home::{Config, Paths};
use baton_ledger::SharedLedger;
use baton_pipeline::PipelineError;

/// `println!` that does not panic when stdout is closed early (`baton catalog show … | head`).
#[macro_export]
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// What the composition root (`crates/app`) gives the commands: the parts of a `baton`
/// process that depend on which host interfaces it serves. The app implements it twice (the
/// host program, and `baton`'s front without a plugin runtime); a command asks its [`Ctx`],
/// and nothing calls back into the engine.
pub trait Host: Send + Sync + std::fmt::Debug {
    /// Checks the parts of baton.toml that belong to the host interfaces and the alert loop
    /// (their top-level tables, [`Config::sections`], and their `[plugins.NAME]` keys), as
    /// [`Config::load`] checks the engine's own: wherever the file is loaded for use, so a typo
    /// in a grant stops a command at start-up, naming the file, the plugin and the fix.
    fn check_config(&self, cfg: &Config, file: &Path) -> Result<(), ConfigError>;

    /// What runs plugins. `None` in `baton`'s front (the program an agent's `send` starts),
    /// which holds no plugin runtime and runs only the commands that need none; it hands every
    /// other command to the host program (`baton_app::front`).
    fn plugins(&self) -> Option<&dyn PluginHost>;
}

/// The part of a [`Host`] that runs plugins.
pub trait PluginHost: Send + Sync {
    /// The plugins' runtime with every host interface added ([`baton_home::runtime`]
    /// plus the interfaces), for commands that load plugins without serving (`plugin`,
    /// `init`'s bundled plugins, `call`'s list of actions).
    fn runtime(
        &self,
        cfg: &Config,
        paths: &Paths,
        ledger: SharedLedger,
        location: &baton_ledger::Location,
    ) -> Result<baton_runtime::Runtime, PipelineError>;

    /// `plugin install --adopt-data`: the data the removed install of this name owned becomes
    /// `identity`'s; returns the previous owner.
    fn adopt_data(&self, ctx: &Ctx, plugin: &str, identity: &str) -> anyhow::Result<Option<String>>;

    /// Runs what waits in baton's inbox in this process, as `baton serve --once` does (`call`
    /// when no `serve` runs for the home).
    fn drain(&self, ctx: &Ctx) -> anyhow::Result<i32>;
}

/// Where a command's home and state are, and what the composition root gives it.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub home: PathBuf,
    /// This machine's SQLite file: the ledger itself, or beside a PostgreSQL ledger the
    /// fingerprint library (`<home>/state/fp.sqlite`; the catalog is then on the server).
    pub state: PathBuf,
    /// Where the ledger is.
    pub location: baton_ledger::Location,
    pub host: &'static dyn Host,
    /// The ledger, opened once for the process when a command first asks ([`Ctx::ledger`]);
    /// shared by the clones of this `Ctx`.
    db: std::sync::Arc<baton_home::State>,
}

impl Ctx {
    /// The context of a command on the home at `home`, its local state file `state` and its
    /// ledger at `location`; nothing is opened yet.
    pub fn new(home: PathBuf, state: PathBuf, location: baton_ledger::Location, host: &'static dyn Host) -> Ctx {
        let db = std::sync::Arc::new(baton_home::State::new(location.clone()));
        Ctx { home, state, location, host, db }
    }

    /// The process's one connection to the ledger, opened on first use ([`baton_home::State`]).
    pub fn ledger(&self) -> Result<SharedLedger, baton_ledger::LedgerError> {
        self.db.ledger()
    }

    /// A ledger connection of the caller's own, for a thread that must not wait behind the
    /// shared one (a web request, a live feed).
    pub fn connect(&self) -> Result<baton_ledger::Ledger, baton_ledger::LedgerError> {
        self.db.connect()
    }

    /// `<home>/baton.toml` with every check a load makes: the engine's ([`Config::load`]) and
    /// the host interfaces' ([`Host::check_config`]).
    pub fn config(&self) -> Result<Config, ConfigError> {
        let cfg = Config::load(&self.home)?;
        self.host.check_config(&cfg, &self.home.join("baton.toml"))?;
        Ok(cfg)
    }

    /// `text` as `<home>/baton.toml`, with the checks of [`Ctx::config`]: so that a command
    /// that edits the file (`plugin grant`, `mailbox add`) can refuse an edit a load would refuse.
    pub fn parse_config(&self, text: &str) -> Result<Config, ConfigError> {
        let cfg = Config::parse(&self.home, text)?;
        self.host.check_config(&cfg, &self.home.join("baton.toml"))?;
        Ok(cfg)
    }

    /// The plugins' runtime with every host interface ([`PluginHost::runtime`]).
    pub fn runtime(
        &self,
        cfg: &Config,
        paths: &Paths,
        ledger: SharedLedger,
    ) -> Result<baton_runtime::Runtime, PipelineError> {
        let plugins = self.plugins().map_err(|e| PipelineError::Internal(e.to_string()))?;
        plugins.runtime(cfg, paths, ledger, &self.location)
    }

    /// What runs plugins in this program; an error in `baton`'s front, whose commands never
    /// ask for it (a command that does is handed to the host program before it starts).
    pub fn plugins(&self) -> anyhow::Result<&'static dyn PluginHost> {
        self.host.plugins().ok_or_else(|| {
            anyhow::anyhow!("this program has no plugin runtime (it is baton's front); run the command with baton-host")
        })
    }
}

/// `--state`/`$BATON_STATE`, else `state` in baton.toml (relative to the home), else the
/// default SQLite file. A PostgreSQL URL is checked here (no password, TLS off this machine).
pub fn locate(home: &Path, state: Option<String>) -> anyhow::Result<baton_ledger::Location> {
    let configured = state.or_else(|| Config::load(home).ok().and_then(|c| c.state));
    Ok(match configured {
        Some(s) if baton_ledger::location::is_url(&s) => baton_ledger::Location::parse(&s)?,
        Some(s) => baton_ledger::Location::Sqlite(home.join(s)),
        None => baton_ledger::Location::Sqlite(home.join("state").join("baton.sqlite")),
    })
}

/// The platform commands (each one's flags are defined only when it runs: see `baton_app`'s
/// `Command`).
#[derive(clap::Subcommand)]
#[command(defer = true)]
pub enum Command {
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
    /// Open the dashboard of the running `baton serve --http` (a one-time sign-in link).
    Dashboard {
        /// Print the link instead of opening a browser.
        #[arg(long)]
        print: bool,
    },
    /// The dashboard key.
    #[command(subcommand)]
    Key(dashboard::KeyCommand),
    /// Queue depth, recent executions, open inter-agent handoffs, paused plugins.
    Status {
        #[arg(long)]
        json: bool,
        /// List at most N items per list (default in text: 20, newest first; `--json` keeps
        /// every item unless this is given).
        #[arg(long, value_name = "N", conflicts_with = "all")]
        limit: Option<usize>,
        /// List every item (text).
        #[arg(long)]
        all: bool,
    },
    /// Manage plugins: install, list, inspect, remove; `plugin new` scaffolds one.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// The compiled-plugin cache (outside the home, shared by the user's homes): show, prune.
    #[command(subcommand)]
    Cache(cache::CacheCommand),
}

impl Command {
    /// Whether the command reads the home (its baton.toml, state, plugins or handoffs); see
    /// [`home_check`]. `init` makes one and `adopt PATH` reads PATH, before `init`.
    pub fn needs_home(&self) -> bool {
        match self {
            Command::Init { .. } | Command::Adopt { .. } => false,
            Command::Plugin(p) => plugin::needs_home(p),
            _ => true,
        }
    }

    pub fn run(self, ctx: &Ctx) -> anyhow::Result<i32> {
        match self {
            Command::Init { handoffs } => init::init_with(ctx, handoffs.as_deref()).map(|_| 0),
            Command::Adopt { path, json } => tracking::adopt(ctx, &path, json),
            Command::Dashboard { print } => dashboard::open(ctx, print),
            Command::Key(cmd) => dashboard::key(cmd, ctx),
            Command::Status { json, limit, all } => {
                status::status(ctx, json, if all { None } else { limit.or((!json).then_some(20)) })
            }
            Command::Plugin(cmd) => plugin::run(cmd, ctx),
            Command::Cache(cmd) => cache::run(cmd, ctx),
        }
    }
}

/// A top-level table of baton.toml (`[fp]`, `[alerts]`) as its type; an error names the table
/// (a file that passed [`Ctx::config`] has none).
pub fn section<T: serde::de::DeserializeOwned + Default>(cfg: &Config, name: &str) -> Result<T, ConfigError> {
    cfg.section(name).map_err(|m| ConfigError::Section(format!("baton.toml {m}")))
}
