//! `baton service install | uninstall | status`: keeps `baton serve` running for the user, as a
//! launchd agent on macOS (`~/Library/LaunchAgents/dev.baton.serve.plist`) or a systemd user
//! unit on Linux (`$XDG_CONFIG_HOME/systemd/user/baton.service`).
//!
//! Both are generated from the running binary's real path, the home and the state database,
//! and nothing else: no environment is copied into them, so they never hold a secret. The
//! service starts at login, restarts after a crash (launchd `KeepAlive` with
//! `SuccessfulExit=false`; systemd `Restart=on-failure`), and logs to `<home>/logs/serve.log`.
//! `install` records what it wrote in `<home>/service.json`; `uninstall` removes a file only
//! if it is still exactly what was recorded, so a unit the user edited or wrote is left alone.
//! Loading uses `launchctl bootstrap` or `systemctl --user`; where those are unavailable (a
//! container, an SSH session without a user manager) the files are written and the commands
//! to run are printed.
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::json;

use baton_cli::Ctx;

pub const LAUNCHD_LABEL: &str = "dev.baton.serve";
pub const SYSTEMD_UNIT: &str = "baton.service";

#[derive(Subcommand)]
#[command(defer = true)] // flags defined when the command runs (see `baton_app`'s `Command`)
pub enum ServiceCommand {
    /// Write the login service that runs `baton serve`, and load it.
    Install(Target),
    /// Stop the service and remove the files `install` wrote (only those, and only unchanged).
    Uninstall(Target),
    /// Whether the service is installed, loaded and running, and where it logs.
    Status {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct Target {
    /// The service manager to write for (default: this system's: macos → launchd, linux → systemd).
    /// Another system's files are written but never loaded.
    #[arg(long, value_enum)]
    platform: Option<Platform>,
    /// Print what would be written or removed and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Write or remove the files but do not call launchctl/systemctl.
    #[arg(long)]
    no_load: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Macos,
    Linux,
}

impl Platform {
    fn this_system() -> Platform {
        if cfg!(target_os = "macos") { Platform::Macos } else { Platform::Linux }
    }
}

/// What the service runs.
pub struct Spec {
    pub exe: PathBuf,
    pub home: PathBuf,
    pub state: PathBuf,
    pub log: PathBuf,
}

/// What `install` wrote, kept in `<home>/service.json` for `uninstall`.
#[derive(Serialize, Deserialize)]
struct Record {
    platform: Platform,
    unit: PathBuf,
    contents: String,
    log: PathBuf,
    exe: PathBuf,
}

pub fn run(cmd: ServiceCommand, ctx: &Ctx) -> Result<i32> {
    match cmd {
        ServiceCommand::Install(t) => install(ctx, &t),
        ServiceCommand::Uninstall(t) => uninstall(ctx, &t),
        ServiceCommand::Status { target, json } => status(ctx, &target, json),
    }
}

fn user_home() -> Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("HOME is not set; the service is installed for the user whose HOME it is")
}

/// Where the unit or plist lives for `platform`.
pub fn unit_path(platform: Platform) -> Result<PathBuf> {
    Ok(match platform {
        Platform::Macos => user_home()?.join("Library/LaunchAgents").join(format!("{LAUNCHD_LABEL}.plist")),
        Platform::Linux => {
            let config = std::env::var_os("XDG_CONFIG_HOME").filter(|c| !c.is_empty()).map(PathBuf::from);
            let config = match config {
                Some(c) => c,
                None => user_home()?.join(".config"),
            };
            config.join("systemd/user").join(SYSTEMD_UNIT)
        }
    })
}

fn record_path(ctx: &Ctx) -> PathBuf {
    ctx.home.join("service.json")
}

fn absolute(p: &Path) -> Result<PathBuf> {
    std::path::absolute(p).with_context(|| format!("making {} absolute", p.display()))
}

fn spec(ctx: &Ctx) -> Result<Spec> {
    let exe = std::env::current_exe().context("finding the baton binary's path")?;
    let exe = exe.canonicalize().with_context(|| format!("resolving {}", exe.display()))?;
    let home = absolute(&ctx.home)?;
    // A PostgreSQL URL is passed as given (it holds no password: those are refused).
    let state = match &ctx.location {
        baton_ledger::Location::Postgres(url) => PathBuf::from(url.shown()),
        baton_ledger::Location::Sqlite(_) => absolute(&ctx.state)?,
    };
    Ok(Spec { exe, state, log: home.join("logs").join("serve.log"), home })
}

/// The launchd agent: runs at load (login), kept alive after a non-zero exit, logs to a file.
pub fn launchd_plist(s: &Spec) -> Result<String> {
    use plist::{Dictionary, Value};
    let s_ = |p: &Path| Value::String(p.to_string_lossy().into_owned());
    let mut keep_alive = Dictionary::new();
    keep_alive.insert("SuccessfulExit".into(), Value::Boolean(false));
    let mut d = Dictionary::new();
    d.insert("Label".into(), Value::String(LAUNCHD_LABEL.into()));
    let args = [s_(&s.exe), "--home".into(), s_(&s.home), "--state".into(), s_(&s.state), "serve".into()];
    d.insert("ProgramArguments".into(), Value::Array(args.into()));
    d.insert("RunAtLoad".into(), Value::Boolean(true));
    d.insert("KeepAlive".into(), Value::Dictionary(keep_alive));
    d.insert("ThrottleInterval".into(), Value::Integer(10.into()));
    d.insert("ProcessType".into(), Value::String("Background".into()));
    d.insert("WorkingDirectory".into(), s_(&s.home));
    d.insert("StandardOutPath".into(), s_(&s.log));
    d.insert("StandardErrorPath".into(), s_(&s.log));
    let mut out = Vec::new();
    Value::Dictionary(d).to_writer_xml(&mut out).context("writing the launchd plist")?;
    out.push(b'\n');
    Ok(String::from_utf8(out)?)
}

/// One argument of a systemd command line, quoted (`"`, `\` escaped; `%` doubled for specifiers).
fn systemd_quote(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "\\\\").replace('"', "\\\"").replace('%', "%%");
    format!("\"{s}\"")
}

/// The systemd user unit: started with the user's session, restarted after a failure.
pub fn systemd_unit(s: &Spec) -> Result<String> {
    for p in [&s.exe, &s.home, &s.state, &s.log] {
        if p.to_string_lossy().contains('\n') {
            bail!("{:?} contains a newline, which a systemd unit cannot hold; use a path without one", p);
        }
    }
    let log = s.log.to_string_lossy().replace('%', "%%");
    Ok(format!(
        "# Written by `baton service install`; `baton service uninstall` removes it.\n\
         [Unit]\n\
         Description=baton: answers the handoffs in {home}\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={exe} --home {qhome} --state {state} serve\n\
         WorkingDirectory={home}\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         StandardOutput=append:{log}\n\
         StandardError=append:{log}\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        home = s.home.to_string_lossy().replace('%', "%%"),
        exe = systemd_quote(&s.exe),
        qhome = systemd_quote(&s.home),
        state = systemd_quote(&s.state),
    ))
}

fn contents(platform: Platform, s: &Spec) -> Result<String> {
    match platform {
        Platform::Macos => launchd_plist(s),
        Platform::Linux => systemd_unit(s),
    }
}

fn read_record(ctx: &Ctx) -> Result<Option<Record>> {
    let path = record_path(ctx);
    match std::fs::read(&path) {
        Ok(b) => Ok(Some(
            serde_json::from_slice(&b)
                .with_context(|| format!("{} is not a service record; move it aside", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes `bytes` to `path` through a temp file and a rename, so a crash never leaves half a unit.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().context("a unit path has a folder")?;
    baton_fs::ensure_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.baton-new", path.file_name().unwrap_or_default().to_string_lossy()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

fn install(ctx: &Ctx, t: &Target) -> Result<i32> {
    baton_cli::home_check::require(&ctx.home)?;
    let platform = t.platform.unwrap_or_else(Platform::this_system);
    let spec = spec(ctx)?;
    let unit = unit_path(platform)?;
    let text = contents(platform, &spec)?;
    let previous = read_record(ctx)?;
    match std::fs::read_to_string(&unit) {
        Ok(existing) if existing == text => {}
        Ok(existing) if previous.as_ref().is_some_and(|r| r.unit == unit && r.contents == existing) => {}
        Ok(_) => bail!(
            "{} exists and was not written by this baton home's `service install` (or was edited since); \
             move it aside or remove it, then run install again",
            unit.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", unit.display())),
    }
    if spec.exe.components().any(|c| c.as_os_str() == "target") {
        eprintln!(
            "baton: note: the service will run {}, a build folder's binary; `cargo install --locked --path crates/app` \
             gives it a lasting path",
            spec.exe.display()
        );
    }
    if t.dry_run {
        println!("would write {}:\n{text}", unit.display());
        println!("would log to {}", spec.log.display());
        return Ok(0);
    }
    let log_dir = spec.log.parent().context("the log has a folder")?;
    baton_fs::ensure_dir(log_dir).with_context(|| format!("creating {}", log_dir.display()))?;
    write_file(&unit, text.as_bytes())?;
    let record = Record { platform, unit: unit.clone(), contents: text, log: spec.log.clone(), exe: spec.exe.clone() };
    write_file(&record_path(ctx), &serde_json::to_vec_pretty(&record)?)?;
    println!("wrote {}", unit.display());
    println!("baton serve will log to {}", spec.log.display());
    let load = load_commands(platform, &unit);
    run_or_explain(platform, t.no_load, &load, "start it at login and now")
}

fn load_commands(platform: Platform, unit: &Path) -> Vec<Vec<String>> {
    match platform {
        Platform::Macos => {
            vec![vec!["launchctl".into(), "bootstrap".into(), gui_domain(), unit.to_string_lossy().into_owned()]]
        }
        Platform::Linux => vec![
            vec!["systemctl".into(), "--user".into(), "daemon-reload".into()],
            vec!["systemctl".into(), "--user".into(), "enable".into(), "--now".into(), SYSTEMD_UNIT.into()],
        ],
    }
}

fn unload_commands(platform: Platform) -> Vec<Vec<String>> {
    match platform {
        Platform::Macos => {
            vec![vec!["launchctl".into(), "bootout".into(), format!("{}/{LAUNCHD_LABEL}", gui_domain())]]
        }
        Platform::Linux => vec![
            vec!["systemctl".into(), "--user".into(), "disable".into(), "--now".into(), SYSTEMD_UNIT.into()],
            vec!["systemctl".into(), "--user".into(), "daemon-reload".into()],
        ],
    }
}

fn gui_domain() -> String {
    format!("gui/{}", rustix::process::getuid().as_raw())
}

fn shell_line(cmd: &[String]) -> String {
    cmd.iter().map(|a| if a.contains(' ') { format!("'{a}'") } else { a.clone() }).collect::<Vec<_>>().join(" ")
}

/// Whether this system's service manager answers here (a container often has none).
fn manager_reachable(platform: Platform) -> bool {
    if platform != Platform::this_system() {
        return false;
    }
    let mut c = match platform {
        Platform::Macos => {
            let mut c = Command::new("launchctl");
            c.args(["print", &gui_domain()]);
            c
        }
        Platform::Linux => {
            let mut c = Command::new("systemctl");
            c.args(["--user", "show-environment"]);
            c
        }
    };
    c.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Runs `cmds`, or says plainly what the user should run and why it was not run here.
fn run_or_explain(platform: Platform, no_load: bool, cmds: &[Vec<String>], purpose: &str) -> Result<i32> {
    let why = if no_load {
        Some("--no-load was given".to_string())
    } else if platform != Platform::this_system() {
        Some(format!("these files are for {platform:?}, not this system"))
    } else if !manager_reachable(platform) {
        Some(match platform {
            Platform::Macos => "launchctl cannot reach your login session here".to_string(),
            Platform::Linux => "systemd's user manager is not reachable here (no `systemctl --user`)".to_string(),
        })
    } else {
        None
    };
    if let Some(why) = why {
        println!("not loaded ({why}); to {purpose}, run:");
        for c in cmds {
            println!("  {}", shell_line(c));
        }
        return Ok(0);
    }
    for c in cmds {
        let status = Command::new(&c[0]).args(&c[1..]).status().with_context(|| format!("running {}", c[0]))?;
        if !status.success() {
            bail!("`{}` failed ({status}); the files are in place, fix the cause and run it again", shell_line(c));
        }
        println!("ran: {}", shell_line(c));
    }
    Ok(0)
}

fn uninstall(ctx: &Ctx, t: &Target) -> Result<i32> {
    let Some(record) = read_record(ctx)? else {
        println!(
            "no service was installed from {} (no {}); nothing to remove",
            ctx.home.display(),
            record_path(ctx).display()
        );
        return Ok(0);
    };
    if let Some(p) = t.platform.filter(|p| *p != record.platform) {
        bail!("the service recorded in {} is for {:?}, not {p:?}", record_path(ctx).display(), record.platform);
    }
    let current = match std::fs::read_to_string(&record.unit) {
        Ok(c) => Some(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", record.unit.display())),
    };
    let ours = current.as_deref() == Some(record.contents.as_str());
    if t.dry_run {
        match (&current, ours) {
            (None, _) => println!("{} is already gone", record.unit.display()),
            (Some(_), true) => println!("would stop the service and remove {}", record.unit.display()),
            (Some(_), false) => println!("would leave {}: it was changed since baton wrote it", record.unit.display()),
        }
        println!("would remove {}; would keep the log {}", record_path(ctx).display(), record.log.display());
        return Ok(0);
    }
    if current.is_some() && !ours {
        bail!(
            "{} was changed since `baton service install` wrote it; baton leaves it alone. Stop the service and remove it yourself, \
             then run `baton service uninstall` again to forget it",
            record.unit.display()
        );
    }
    if current.is_some() {
        run_or_explain(record.platform, t.no_load, &unload_commands(record.platform), "stop the service first")?;
        std::fs::remove_file(&record.unit).with_context(|| format!("removing {}", record.unit.display()))?;
        println!("removed {}", record.unit.display());
    }
    std::fs::remove_file(record_path(ctx)).with_context(|| format!("removing {}", record_path(ctx).display()))?;
    println!("kept the log {}", record.log.display());
    Ok(0)
}

fn status(ctx: &Ctx, t: &Target, as_json: bool) -> Result<i32> {
    let record = read_record(ctx)?;
    let platform = t.platform.or(record.as_ref().map(|r| r.platform)).unwrap_or_else(Platform::this_system);
    let unit = record.as_ref().map(|r| r.unit.clone()).map_or_else(|| unit_path(platform), Ok)?;
    let current = std::fs::read_to_string(&unit).ok();
    let installed = current.is_some();
    let written_by_baton = record.as_ref().is_some_and(|r| current.as_deref() == Some(r.contents.as_str()));
    let running = running(platform);
    let log = record
        .as_ref()
        .map(|r| r.log.clone())
        .unwrap_or_else(|| absolute(&ctx.home).unwrap_or(ctx.home.clone()).join("logs/serve.log"));
    let log_bytes = std::fs::metadata(&log).ok().map(|m| m.len());
    if as_json {
        let v = json!({
            "platform": platform,
            "unit": unit,
            "installed": installed,
            "written_by_baton": written_by_baton,
            "running": running,
            "exe": record.as_ref().map(|r| r.exe.clone()),
            "log": log,
            "log_bytes": log_bytes,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let state = match (installed, written_by_baton) {
            (false, _) => "not installed",
            (true, true) => "installed",
            (true, false) => "present, but not as `baton service install` wrote it",
        };
        println!("service: {state} ({})", unit.display());
        println!(
            "running: {}",
            match running {
                Some(true) => "yes",
                Some(false) => "no",
                None => "unknown (the service manager is not reachable here)",
            }
        );
        println!("log:     {}{}", log.display(), log_bytes.map(|b| format!(" ({b} bytes)")).unwrap_or_default());
    }
    Ok(if installed { 0 } else { 1 })
}

/// Asks the service manager; `None` where it cannot be asked.
fn running(platform: Platform) -> Option<bool> {
    if !manager_reachable(platform) {
        return None;
    }
    let out = match platform {
        Platform::Macos => {
            Command::new("launchctl").args(["print", &format!("{}/{LAUNCHD_LABEL}", gui_domain())]).output().ok()?
        }
        Platform::Linux => Command::new("systemctl").args(["--user", "is-active", SYSTEMD_UNIT]).output().ok()?,
    };
    let text = String::from_utf8_lossy(&out.stdout);
    Some(match platform {
        Platform::Macos => out.status.success() && text.contains("state = running"),
        Platform::Linux => text.trim() == "active",
    })
}
