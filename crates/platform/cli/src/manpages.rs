//! The examples of every command, and the man pages built from them: `--help` ends each
//! command with an "Examples:" block, and `baton man` writes one page per command
//! (`baton.1`, `baton-serve.1`, `baton-plugin-install.1`, …) with EXAMPLES, EXIT STATUS,
//! ENVIRONMENT and FILES. One table feeds both, so the help and the pages cannot disagree,
//! and both come from the same clap definition as the command line itself.
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

// `baton man`'s arguments. (No doc comment: with the commands' flags deferred, an `Args`
// struct's doc would replace the help line its variant in `baton_app`'s `Command` gives.)
#[derive(clap::Args)]
pub struct ManArgs {
    /// The command whose page to print, e.g. `serve` or `plugin install` (default: baton(1)).
    command: Vec<String>,
    /// Write every page into DIR instead (baton.1 and baton-<command>.1 for each command,
    /// nested ones included), printing the files written.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    dir: Option<PathBuf>,
}

/// Examples by command path (the words after `baton`): the command line, then what it does.
const EXAMPLES: &[(&str, &[(&str, &str)])] = &[
    (
        "",
        &[
            ("baton init && baton serve", "Create ~/.baton, then answer every TASK dropped into its inboxes."),
            ("baton demo", "Try it on a throw-away home: sample handoffs served once, RETURNs shown."),
            ("baton status --json", "Queue depth, recent executions and paused plugins, as JSON."),
        ],
    ),
    (
        "init",
        &[
            ("baton init", "Create ~/.baton with a commented baton.toml."),
            (
                "baton --home ~/work/baton init --handoffs ~/Handoffs",
                "Adopt an existing tree of agent folders where it is.",
            ),
        ],
    ),
    ("adopt", &[("baton adopt ~/Handoffs", "What baton understands in an existing handoffs tree, changing nothing.")]),
    (
        "serve",
        &[
            ("baton serve", "Watch the inboxes and answer every TASK until stopped (Ctrl-C or SIGTERM)."),
            ("baton serve --once", "Drain everything present, then exit (cron, CI)."),
            ("baton --log-format json serve --http 127.0.0.1:7878", "Log JSON lines and serve the dashboard."),
        ],
    ),
    ("dashboard", &[("baton dashboard --print", "Print a one-time sign-in link to the running dashboard.")]),
    ("key", &[("baton key rotate", "Make a new dashboard key.")]),
    ("key rotate", &[("baton key rotate", "Make a new dashboard key; the old one stops working at once.")]),
    (
        "run",
        &[(
            "baton run ./20260118T070951Z__TASK__Echo__Me.json",
            "Run one handoff file and print its RETURN; moves nothing.",
        )],
    ),
    (
        "status",
        &[
            ("baton status", "What is waiting, running, failed, and whether a serve runs."),
            ("baton status --json | jq .queue", "The queue as JSON."),
        ],
    ),
    (
        "show",
        &[
            ("baton show 01J9Z3", "One handoff's record, events and plugin logs."),
            ("baton show 20260118T070951Z__TASK__Bad__Me.json --json", "A file filed in 03_failed/ that never parsed."),
        ],
    ),
    (
        "retry",
        &[
            ("baton retry 01J9Z3", "Move one failed handoff back into the inbox."),
            ("baton retry --all --code timeout", "List the failed handoffs that would move; nothing moves."),
            ("baton retry --all --plugin djay --yes", "Move them all."),
            (
                "baton retry 01J9Z3 --params '{\"text\": \"hi\"}'",
                "Edit its params (checked against the schema), then run it again.",
            ),
        ],
    ),
    (
        "discard",
        &[
            ("baton discard 01J9Z3 --dry-run", "Say what would move out of 03_failed/; nothing moves."),
            ("baton discard 01J9Z3 01J9Z4", "Move them into 04_discarded/ (journalled; never deleted)."),
        ],
    ),
    ("restore", &[("baton restore 01J9Z3", "Move a discarded handoff back into 03_failed/, where it was.")]),
    ("cancel", &[("baton cancel 01J9Z3", "Answer a TASK that waits `canceled`, once; it is not run.")]),
    ("demo", &[("baton demo --dir /tmp/baton-demo", "Build the demo home there (it must not exist yet).")]),
    ("plugin", &[("baton plugin list", "The installed plugins.")]),
    ("cache", &[("baton cache show", "The compiled-plugin cache: its entries, their plugins, sizes and last use.")]),
    ("cache show", &[("baton cache show --json", "The cache's entries as JSON.")]),
    (
        "cache prune",
        &[
            ("baton cache prune --dry-run", "List the entries pruning would delete; delete nothing."),
            ("baton cache prune --unused-for 3", "Delete entries no plugin of this home uses, unused for 3 days."),
        ],
    ),
    (
        "plugin install",
        &[
            (
                "baton plugin install target/wasm32-wasip2/release/my_plugin.wasm",
                "Check the component, show what it wants, ask, install.",
            ),
            ("baton plugin install my_plugin.wasm --yes", "Install without asking."),
        ],
    ),
    ("plugin list", &[("baton plugin list --json", "The installed plugins, as JSON.")]),
    ("plugin inspect", &[("baton plugin inspect djay", "Version, sha256, actions and their params, grants.")]),
    ("plugin remove", &[("baton plugin remove djay", "Move the plugin aside into plugins/.removed/ (never deleted).")]),
    ("plugin pause", &[("baton plugin pause spotify", "Hold the plugin's tasks until `baton plugin resume spotify`.")]),
    ("plugin resume", &[("baton plugin resume spotify", "Lift a pause and forget the failure streak.")]),
    (
        "plugin new",
        &[("baton plugin new hello --lang rust", "Scaffold a plugin project that builds and tests itself.")],
    ),
    (
        "plugin grant",
        &[(
            "baton plugin grant djay library ~/Music/djay --writable",
            "Grant a folder in baton.toml, keeping its comments.",
        )],
    ),
    (
        "audit",
        &[
            ("baton audit --plans ~/work/plans --repo ~/work/app", "Audit one plans folder against a repository."),
            ("baton audit --json", "Audit the granted plans folders; JSON on stdout."),
        ],
    ),
    ("fp", &[("baton fp scan ~/Music", "Fingerprint a music library.")]),
    (
        "fp scan",
        &[
            ("baton fp scan ~/Music", "Fingerprint every audio file (incremental; a killed scan resumes)."),
            ("baton fp scan ~/Music --deep --json", "Also store deep prints, for clips and tempo changes."),
        ],
    ),
    ("fp print", &[("baton fp print song.flac", "One file's fingerprint, like fpcalc.")]),
    ("fp compare", &[("baton fp compare a.mp3 b.flac --json", "Similarity and best offset of two files.")]),
    ("fp match", &[("baton fp match clip.m4a --limit 5", "The library files that sound like clip.m4a.")]),
    (
        "fp coverage",
        &[("baton fp coverage --threshold 0.95", "Exit 1 if under 95% of the scanned files have a fingerprint.")],
    ),
    (
        "fp dedup",
        &[
            ("baton fp dedup", "Show the scanned library's duplicate groups and which file each keeps (dry run)."),
            ("baton fp dedup --execute", "Move the duplicates into quarantine, with a journal."),
        ],
    ),
    ("fp undo", &[("baton fp undo", "Restore what the last `dedup --execute` moved.")]),
    ("catalog", &[("baton catalog collections", "The collections and their record counts.")]),
    ("catalog collections", &[("baton catalog collections --json", "The collections, as JSON.")]),
    (
        "catalog show",
        &[("baton catalog show tracks --where 'artists~Daft' --limit 20", "Records whose artists contain `Daft`.")],
    ),
    ("catalog export", &[("baton catalog export tracks --csv > tracks.csv", "A collection as CSV.")]),
    (
        "catalog import",
        &[(
            "baton catalog import tracks tracks.csv --dry-run",
            "What an import would insert and update; writes nothing.",
        )],
    ),
    ("catalog link", &[("baton catalog link tracks T1 spotify S1", "Link a record to another by hand.")]),
    ("catalog links", &[("baton catalog links tracks T1 spotify", "The links of one record's relation.")]),
    ("catalog unlink", &[("baton catalog unlink tracks T1 spotify S1", "Remove a link; it stays unlinked.")]),
    ("catalog property", &[("baton catalog property rename tracks bpm Tempo", "Rename a property.")]),
    (
        "catalog property rename",
        &[("baton catalog property rename tracks bpm Tempo", "Change a display name; id and values stay.")],
    ),
    (
        "catalog property remove",
        &[("baton catalog property remove tracks mood", "Archive a property's values and drop it from the schema.")],
    ),
    (
        "catalog match",
        &[("baton catalog match 'Daft Punk - One More Time' --duration 320", "Match a track against `tracks`.")],
    ),
    (
        "catalog import-playlist",
        &[("baton catalog import-playlist ~/Playlists/*.m3u8 --dry-run", "What importing the playlists would link.")],
    ),
    ("catalog history", &[("baton catalog history tracks T1", "The changes to one record, oldest first.")]),
    (
        "migrate",
        &[
            (
                "baton migrate --from sqlite ~/.baton/state/baton.sqlite --to postgres://me@localhost/baton --dry-run",
                "Count and check; write nothing.",
            ),
            (
                "baton migrate --from sqlite ~/.baton/state/baton.sqlite --to postgres://me@localhost/baton",
                "Copy, checking table by table.",
            ),
        ],
    ),
    ("service", &[("baton service install", "Keep `baton serve` running at login.")]),
    (
        "service install",
        &[("baton service install --dry-run", "Show the launchd agent or systemd unit it would write.")],
    ),
    ("service uninstall", &[("baton service uninstall", "Stop the service and remove the files `install` wrote.")]),
    ("service status", &[("baton service status", "Installed, loaded, running, and where it logs.")]),
    (
        "send",
        &[
            (
                "baton send --plugin echo --action echo --params '{\"n\": 1}' --wait",
                "Send a TASK to a plugin and wait for its RETURN.",
            ),
            ("baton send --to Codex --title 'Review PR 12' --body @notes.md", "Hand work to another agent."),
            (
                "baton send --to alpha/worker --from team-lead --title 'Ship it' --body 'Please ship.'",
                "Deliver into a Claude Code teammate's inbox, under Claude Code's lock.",
            ),
        ],
    ),
    ("mailbox", &[("baton mailbox add claude-team", "Let status show Claude Code's agent teams.")]),
    (
        "mailbox add",
        &[
            ("baton mailbox add claude-team", "Read Claude Code's agent teams in ~/.claude/teams."),
            (
                "baton mailbox add folders ~/agents --inbox Inbox",
                "Read a folder per agent with Inbox/, done/, outbox/.",
            ),
        ],
    ),
    ("mailbox list", &[("baton mailbox list --json", "What each configured mailbox holds now.")]),
    (
        "call",
        &[
            ("baton call echo echo --param n=1", "Call an action; params typed by its schema."),
            ("baton call djay --help", "The actions of a plugin and their params."),
        ],
    ),
    (
        "wait",
        &[
            ("baton wait 01J9Z3 --timeout 60", "Block until the RETURN (exit 124 after 60 s)."),
            (
                "baton wait cm-3f2a9c --until seen",
                "Block until the recipient's model received a delivered mailbox message.",
            ),
        ],
    ),
    ("inbox", &[("baton inbox Claude-Code-Agent --json", "The TASKs and RETURNs waiting for an agent.")]),
    ("reply", &[("baton reply 01J9Z3 --status completed --summary 'Merged'", "Answer a TASK addressed to you.")]),
    (
        "answer",
        &[("baton answer 01J9Z3 --input '{\"name\": \"Ada\"}'", "Answer the input request of a TASK that asked back.")],
    ),
    (
        "ack",
        &[
            ("baton ack 01J9Z3", "Mark the RETURN for TASK 01J9Z3 read (it moves to 02_processed/)."),
            ("baton ack --all Claude-Code-Agent", "Mark every RETURN waiting for an agent read."),
        ],
    ),
    ("validate", &[("baton validate handoffs/*/01_inbox/*.json", "Check handoff files against the schema.")]),
    ("schema", &[("baton schema task > task.schema.json", "The JSON Schema of a TASK.")]),
    ("mcp", &[("baton mcp --agent Claude-Code-Agent", "Serve MCP on stdio (add it to the agent's MCP servers).")]),
    ("completions", &[("baton completions zsh > ~/.zfunc/_baton", "Install zsh completions.")]),
    (
        "man",
        &[
            ("baton man serve | man -l -", "Read the page of `baton serve`."),
            ("baton man --dir ~/.local/share/man/man1", "Write every page, for `man baton-serve`."),
        ],
    ),
];

/// Exit statuses beyond the common ones (0 success, 2 error), by command path.
const EXIT: &[(&str, &[(&str, &str)])] = &[
    ("run", &[("1", "the RETURN's status is not completed.")]),
    ("status", &[("1", "the shared (PostgreSQL) ledger does not answer.")]),
    ("retry", &[("1", "some handoff could not be moved back.")]),
    ("discard", &[("1", "some id or file name was not found in 03_failed/.")]),
    (
        "send",
        &[
            ("1", "with --wait: the RETURN's status is not completed."),
            ("2", "refused before anything was written (too large, unknown plugin, action or agent, bad params)."),
            ("3", "with --wait: the TASK asked back; its input request is printed (baton answer)."),
            ("124", "with --wait: no RETURN in time."),
        ],
    ),
    (
        "call",
        &[
            ("1", "the RETURN's status is not completed."),
            ("3", "the TASK asked back; its input request is printed (baton answer)."),
            ("124", "no RETURN in time."),
        ],
    ),
    (
        "wait",
        &[
            ("1", "the RETURN's status is not completed, or the delivered message was lost."),
            ("3", "the TASK asked back; its input request is printed (--until final waits through it)."),
            ("124", "no RETURN in time."),
        ],
    ),
    ("answer", &[("1", "the TASK waits for no answer, or this request was answered already.")]),
    ("validate", &[("1", "a file is not a valid handoff.")]),
    ("fp match", &[("1", "nothing matches.")]),
    ("fp coverage", &[("1", "the share is below the threshold.")]),
    ("fp undo", &[("1", "some file could not be restored (conflicts, missing, failed).")]),
    ("catalog match", &[("1", "ambiguous, or no match.")]),
    ("catalog import-playlist", &[("1", "a playlist file could not be read.")]),
    ("service status", &[("1", "the service is not installed.")]),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    ("BATON_HOME", "baton's home folder (--home wins). Default: ~/.baton."),
    ("BATON_STATE", "the state: a SQLite file or a postgres:// URL (--state wins)."),
    ("BATON_AGENT", "your agent name, for send, mcp and the other agent commands."),
    (
        "BATON_LOG",
        "the log filter on stderr, e.g. info, debug, baton_pipeline=debug (default: info for serve, warn otherwise).",
    ),
    ("NO_COLOR", "no colour in logs even at a terminal (there is none off a terminal)."),
    ("XDG_CACHE_HOME", "where compiled plugins are cached (baton/ below it). Default: ~/.cache."),
    ("PGPASSWORD, PGPASSFILE", "the PostgreSQL password; never in the URL."),
];

const FILES: &[(&str, &str)] = &[
    ("<home>/baton.toml", "the configuration (commented; `baton init` writes it)."),
    (
        "<home>/handoffs/<Agent>/01_inbox/",
        "new handoffs; 02_processed/ and 03_failed/ beside it hold them once answered.",
    ),
    ("<home>/state/baton.sqlite", "the ledger (SQLite, WAL; keep it on a local disk)."),
    ("<home>/plugins/", "installed plugins (<name>.wasm); .removed/ keeps removed ones."),
    ("<home>/plans/, <home>/reports/", "plans folders audited, and the audit reports."),
    ("$XDG_CACHE_HOME/baton/", "compiled plugins, safe to delete."),
];

fn lookup<'a>(table: &'a [(&str, &'a [(&str, &str)])], path: &str) -> &'a [(&'a str, &'a str)] {
    table.iter().find(|(p, _)| *p == path).map(|(_, v)| *v).unwrap_or(&[])
}

/// The examples of the command at `path` (words after `baton`, space-separated).
pub fn examples(path: &str) -> &'static [(&'static str, &'static str)] {
    lookup(EXAMPLES, path)
}

/// The command line, built whole (a command's flags and subcommands may be deferred until it
/// runs), with an "Examples:" block after each command's help.
pub fn with_examples(mut cmd: clap::Command) -> clap::Command {
    fn add(cmd: clap::Command, path: String) -> clap::Command {
        let cmd = match examples(&path) {
            [] => cmd,
            list => {
                let h = cmd.get_styles().get_header();
                let mut text = format!("{h}Examples:{h:#}\n");
                for (line, what) in list {
                    text.push_str(&format!("  {line}\n      {what}\n"));
                }
                cmd.after_help(clap::builder::StyledStr::from(text.trim_end().to_string()))
            }
        };
        cmd.mut_subcommands(|sub| {
            let name = sub.get_name().to_string();
            add(sub, if path.is_empty() { name } else { format!("{path} {name}") })
        })
    }
    cmd.build();
    add(cmd, String::new())
}

/// `baton man [COMMAND…]` or `baton man --dir DIR`.
pub fn run(args: ManArgs, cmd: clap::Command) -> Result<i32> {
    let root = built(cmd);
    if let Some(dir) = args.dir {
        baton_fs::ensure_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (path, page) in pages(&root) {
            let file = dir.join(format!("{}.1", page_name(&path)));
            write_atomically(&file, &render(&page, &path)?)?;
            println!("{}", file.display());
        }
        return Ok(0);
    }
    // `plugin install`, `plugin-install` and `baton-plugin-install` name the same page.
    let wanted = args.command.join("-").replace(' ', "-");
    let wanted = wanted.strip_prefix("baton-").unwrap_or(&wanted);
    let Some((page, path)) = find(&root, wanted, String::new()) else {
        bail!("no command `baton {}`: baton(1) (`baton man`) lists the commands", args.command.join(" "));
    };
    std::io::stdout().write_all(&render(page, &path)?).context("writing the man page to stdout")?;
    Ok(0)
}

/// The command named by hyphen-joined words (`catalog-import-playlist`), and its path.
fn find<'a>(cmd: &'a clap::Command, wanted: &str, path: String) -> Option<(&'a clap::Command, String)> {
    if wanted.is_empty() {
        return Some((cmd, path));
    }
    cmd.get_subcommands().filter(|s| !s.is_hide_set()).find_map(|sub| {
        let name = sub.get_name();
        let rest = if wanted == name { "" } else { wanted.strip_prefix(name)?.strip_prefix('-')? };
        find(sub, rest, if path.is_empty() { name.to_string() } else { format!("{path} {name}") })
    })
}

/// The command line as the pages show it: with examples, built (so each command knows its
/// full name), without clap's `help` subcommands.
fn built(cmd: clap::Command) -> clap::Command {
    with_examples(cmd.disable_help_subcommand(true))
}

/// Every page: the root, then each visible command, nested ones included.
fn pages(root: &clap::Command) -> Vec<(String, clap::Command)> {
    fn walk(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Command)>) {
        out.push((path.clone(), cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            let p = if path.is_empty() { sub.get_name().to_string() } else { format!("{path} {}", sub.get_name()) };
            walk(sub, p, out);
        }
    }
    let mut out = vec![];
    walk(root, String::new(), &mut out);
    out
}

/// `baton`, `baton-serve`, `baton-plugin-install`: the names the pages refer to each other by.
fn page_name(path: &str) -> String {
    if path.is_empty() { "baton".into() } else { format!("baton-{}", path.replace(' ', "-")) }
}

fn write_atomically(file: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = file.with_extension("1.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, file).with_context(|| format!("renaming {} to {}", tmp.display(), file.display()))
}

/// One page: clap_mangen's sections, then ours. Every page carries baton's version.
fn render(cmd: &clap::Command, path: &str) -> Result<Vec<u8>> {
    let cmd = &cmd.clone().version(env!("CARGO_PKG_VERSION"));
    let man = clap_mangen::Man::new(cmd.clone()).source(concat!("baton ", env!("CARGO_PKG_VERSION")));
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut out)?;
    }
    if cmd.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    let mut roff = String::new();
    roff.push_str(".SH EXAMPLES\n");
    for (line, what) in examples(path) {
        roff.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(line), escape(what)));
    }
    roff.push_str(".SH \"EXIT STATUS\"\n");
    let mut exits = vec![("0", "success.")];
    exits.extend_from_slice(lookup(EXIT, path));
    exits.push(("2", "an error (the message on stderr names the file and the fix), or a usage error: an unknown command or flag, with a suggestion when one is close."));
    for (code, what) in exits {
        roff.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", escape(what)));
    }
    roff.push_str(".SH ENVIRONMENT\n");
    for (name, what) in ENVIRONMENT {
        roff.push_str(&format!(".TP\n\\fB{}\\fR\n{}\n", escape(name), escape(what)));
    }
    roff.push_str(".SH FILES\n");
    for (name, what) in FILES {
        roff.push_str(&format!(".TP\n\\fI{}\\fR\n{}\n", escape(name), escape(what)));
    }
    roff.push_str(".SH \"SEE ALSO\"\n");
    let mut see: Vec<String> = vec![];
    if let Some((parent, _)) = path.rsplit_once(' ') {
        see.push(format!("{}(1)", page_name(parent)));
    } else if !path.is_empty() {
        see.push("baton(1)".into());
    }
    see.push("the user guide in docs/ (docs/cli.md)".into());
    roff.push_str(&escape(&see.join(", ")));
    roff.push('\n');
    out.extend_from_slice(roff.as_bytes());
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// Text as roff: backslashes and hyphens escaped, no line read as a request.
fn escape(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') { format!("\\&{s}") } else { s }
}

/// Every example parses with `cli` (the real command line: a renamed flag breaks this), and
/// every command has at least one; the problems found, one line each. The composition root's
/// tests call it with the whole command line.
pub fn example_problems(cli: clap::Command) -> Vec<String> {
    let root = built(cli.clone());
    let cli = with_examples(cli);
    let mut problems = Vec::new();
    for (path, _) in pages(&root) {
        if examples(&path).is_empty() {
            problems.push(format!("no example for `baton {path}`"));
        }
    }
    for (path, list) in EXAMPLES {
        for (line, _) in *list {
            let w = words(line);
            if w.first().map(String::as_str) != Some("baton") {
                problems.push(format!("example for `baton {path}` does not start with `baton`: {line}"));
                continue;
            }
            let is_help = w.iter().any(|a| a == "--help");
            match cli.clone().try_get_matches_from(&w) {
                Ok(_) => {}
                Err(e) if is_help && e.kind() == clap::error::ErrorKind::DisplayHelp => {}
                Err(e) => problems.push(format!("example for `baton {path}` does not parse: {line}\n{e}")),
            }
        }
    }
    problems
}

/// Splits an example as a shell would, up to its first pipe, redirection or `&&`.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (vec![], String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => (quote, any) = (Some(c), true),
            (None, ' ') => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, '|' | '>' | '&') => break,
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}
