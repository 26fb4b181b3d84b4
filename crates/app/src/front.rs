//! `baton` itself: the front. An agent's `send`, `wait`, `inbox`, `reply` and `ack` each start
//! a new process, often one per message, and a third of such a process's CPU went on the
//! dynamic loader preparing the whole host before `main` (its 58 MB and 62,000 relocations, the
//! plugin runtime's compiler among them), none of which these commands use. So the program an agent
//! starts is this front: the same command line and the same code for those five commands,
//! linked without the plugin runtime (the link drops what [`main`] cannot reach). Everything
//! else (every other command, a help, a version, a command line it does not parse, a `send`
//! to a plugin whose actions it has not got at hand) it hands whole to the host program,
//! [`crate::main`], installed beside it as `baton-host`: by `exec`, so the host runs with the
//! same arguments, environment, standard input and process id, and says what the command
//! line means, its errors included.
//!
//! The front never half-runs a command: everything that decides whether it hands over is
//! looked at before the command reads its input or writes anything.
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use clap::Parser;

use baton_agents::Command;
use baton_cli::stderr;

/// The command line as the front reads it: the host's global flags and the agents' commands.
/// A command of another crate does not parse here, so it goes to the host.
#[derive(Parser)]
#[command(name = "baton", bin_name = "baton")]
struct Front {
    #[command(flatten)]
    globals: crate::Globals,
    #[command(subcommand)]
    command: Command,
}

/// `baton`: runs an agent's everyday command here, else hands the command line to the host.
pub fn main() -> ! {
    let Ok(front) = Front::try_parse() else { hand_over() };
    if !matches!(
        front.command,
        Command::Send(_) | Command::Wait(_) | Command::Inbox(_) | Command::Reply(_) | Command::Ack(_)
    ) {
        hand_over();
    }
    crate::quiet_on_closed_pipe();
    let ctx = crate::context(front.globals, &crate::wiring::FRONT, "warn", front.command.needs_home());
    let result = match front.command {
        Command::Send(args) => {
            // A plugin's params are checked against its actions, which only the plugin runtime
            // can read the first time (then they are kept beside the state). A tree that does
            // not open is the host's to explain.
            let Ok(tree) = baton_agents::Tree::open(&ctx) else { hand_over() };
            if args.plugin.as_ref().is_some_and(|p| !baton_agents::check::is_described(&tree, p)) {
                hand_over();
            }
            baton_agents::send::run_in(&ctx, &tree, args)
        }
        Command::Wait(args) => baton_agents::wait::run(&ctx, args),
        Command::Inbox(args) => baton_agents::inbox::run(&ctx, args),
        Command::Reply(args) => baton_agents::reply::run(&ctx, args),
        Command::Ack(args) => baton_agents::ack::run(&ctx, args),
        _ => hand_over(),
    };
    crate::exit_with(result)
}

/// Runs the host program in this process's place (`exec`): the same arguments (its `argv[0]`
/// too, so `ps` shows what was typed), environment, standard input and process id.
fn hand_over() -> ! {
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "baton".into());
    let problem = match host_exe() {
        Ok(host) => {
            let e = std::process::Command::new(&host).arg0(arg0).args(args).exec();
            format!("could not start {}: {e}", host.display())
        }
        Err(e) => e,
    };
    stderr::line(
        "ERROR",
        &format!(
            "{problem}. baton-host is the program beside baton that runs everything but an agent's send, wait, inbox, reply and ack; `cargo install --locked --path crates/app` installs both"
        ),
        serde_json::Value::Null,
    );
    std::process::exit(2)
}

/// The host program: this executable's name plus `-host`, in its folder (`baton-host` beside
/// `baton`; the end-to-end tests' `baton-e2e-host` beside `baton-e2e`). The executable's real
/// path (macOS gives the path it was started by), so a `baton` reached by a symlink, say one in
/// `~/bin`, finds the `baton-host` installed with it.
pub fn host_exe() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("could not find baton's own path: {e}"))?;
    let me = std::fs::canonicalize(&me).unwrap_or(me);
    let mut name = me.file_name().unwrap_or_default().to_os_string();
    name.push("-host");
    Ok(me.with_file_name(name))
}
