//! `[mailboxes.NAME]` in `baton.toml`: which mailboxes baton reads, where, and how.
//!
//! ```toml
//! [mailboxes.team]
//! kind = "claude-team"        # or "folders", "agent-mail"
//! path = "~/.claude/teams"    # claude-team: the folder holding <team>/config.json and <team>/inboxes/
//!                             # agent-mail: an mcp_agent_mail archive, or one project folder in it
//! # folders only (defaults shown): folder paths relative to each <path>/<agent>/
//! inbox = ["inbox"]
//! done = ["done", "completed", "processed"]
//! outbox = ["outbox"]
//! zone = "America/New_York"   # optional: zone of timestamps written without one; default: this machine's
//! # claude-team only (defaults shown): Claude Code's task lists and transcripts
//! tasks = "~/.claude/tasks"       # default: tasks/ beside path
//! projects = "~/.claude/projects" # default: projects/ beside path
//! ```
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::MailboxError;
use crate::zone::Zone;

/// The top-level table's name.
pub const SECTION: &str = "mailboxes";

/// What a mailbox is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Claude Code agent teams: `<path>/<team>/inboxes/<agent>.json`.
    ClaudeTeam,
    /// A folder per agent with inbox, done and outbox folders.
    Folders,
    /// An mcp_agent_mail git archive: `<project>/agents/<agent>/inbox/YYYY/MM/*.md`.
    AgentMail,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ClaudeTeam => "claude-team",
            Kind::Folders => "folders",
            Kind::AgentMail => "agent-mail",
        }
    }
}

/// One `[mailboxes.NAME]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxSettings {
    pub kind: Kind,
    /// As written (`~` is the user's home; a relative path is relative to baton's home).
    pub path: PathBuf,
    #[serde(default = "default_inbox")]
    pub inbox: Vec<String>,
    #[serde(default = "default_done")]
    pub done: Vec<String>,
    #[serde(default = "default_outbox")]
    pub outbox: Vec<String>,
    /// An IANA zone; unset: this machine's.
    #[serde(default)]
    pub zone: Option<String>,
    /// claude-team: the task lists' folder (default: `tasks/` beside the teams folder).
    #[serde(default)]
    pub tasks: Option<PathBuf>,
    /// claude-team: the transcripts' folder (default: `projects/` beside the teams folder).
    #[serde(default)]
    pub projects: Option<PathBuf>,
}

fn default_inbox() -> Vec<String> {
    vec!["inbox".into()]
}

fn default_done() -> Vec<String> {
    vec!["done".into(), "completed".into(), "processed".into()]
}

fn default_outbox() -> Vec<String> {
    vec!["outbox".into()]
}

impl MailboxSettings {
    /// A mailbox of `kind` at `path` with the default folders.
    pub fn new(kind: Kind, path: impl Into<PathBuf>) -> MailboxSettings {
        MailboxSettings {
            kind,
            path: path.into(),
            inbox: default_inbox(),
            done: default_done(),
            outbox: default_outbox(),
            zone: None,
            tasks: None,
            projects: None,
        }
    }

    /// claude-team: the folder of Claude Code's transcripts, `projects` as written, else
    /// `projects/` beside the teams folder (`~/.claude/projects` for `~/.claude/teams`).
    pub fn projects_path(&self, home: &Path) -> PathBuf {
        self.sibling(self.projects.as_deref(), "projects", home)
    }

    /// claude-team: the folder of the teams' task lists, `tasks` as written, else `tasks/`
    /// beside the teams folder.
    pub fn tasks_path(&self, home: &Path) -> PathBuf {
        self.sibling(self.tasks.as_deref(), "tasks", home)
    }

    fn sibling(&self, given: Option<&Path>, name: &str, home: &Path) -> PathBuf {
        match given {
            Some(p) => expand(p, home),
            None => {
                let teams = crate::claude::teams_folder(&self.resolved_path(home));
                teams.parent().map(|p| p.join(name)).unwrap_or_else(|| PathBuf::from(name))
            }
        }
    }

    /// The mailbox's folder: `~` and `~/…` are the user's home (`$HOME`); another relative
    /// path is relative to `home` (baton's).
    pub fn resolved_path(&self, home: &Path) -> PathBuf {
        expand(&self.path, home)
    }

    /// The zone for times written without one.
    pub fn zone(&self) -> Result<Zone, MailboxError> {
        Zone::or_system(self.zone.as_deref())
    }

    /// What makes the table unusable, named: an unknown zone, a folder path that leaves the
    /// agent's folder, an empty inbox list.
    pub fn check(&self, name: &str) -> Result<(), MailboxError> {
        self.zone().map_err(|e| MailboxError::Settings(format!("[mailboxes.{name}] zone: {e}")))?;
        if self.kind == Kind::Folders && self.inbox.is_empty() {
            return Err(MailboxError::Settings(format!("[mailboxes.{name}] inbox: name at least one inbox folder")));
        }
        for f in self.inbox.iter().chain(&self.done).chain(&self.outbox) {
            let p = Path::new(f);
            if f.is_empty() || p.is_absolute() || p.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(MailboxError::Settings(format!(
                    "[mailboxes.{name}] folder {f:?}: a path inside each agent's folder, such as \"inbox\" or \"inbox/processed\""
                )));
            }
        }
        Ok(())
    }
}

/// `~` expansion, else relative to `home`.
pub fn expand(path: &Path, home: &Path) -> PathBuf {
    let mut parts = path.components();
    if let Some(std::path::Component::Normal(first)) = parts.next()
        && first == "~"
        && let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty())
    {
        return PathBuf::from(h).join(parts.as_path());
    }
    home.join(path)
}

/// Every `[mailboxes.NAME]` table, by name.
pub type Mailboxes = BTreeMap<String, MailboxSettings>;

/// The `[mailboxes]` table parsed and checked: the error names the table and the key.
pub fn parse(table: Option<&toml::Value>) -> Result<Mailboxes, MailboxError> {
    let Some(v) = table else { return Ok(Mailboxes::new()) };
    let m = Mailboxes::deserialize(v.clone())
        .map_err(|e| MailboxError::Settings(format!("[{SECTION}]: {}", e.to_string().trim_end())))?;
    for (name, s) in &m {
        s.check(name)?;
    }
    Ok(m)
}

/// The `[mailboxes.NAME]` table that would read `path` as `kind`, as text for `baton.toml`.
pub fn table_text(name: &str, kind: Kind, path: &Path, inbox: Option<&[String]>) -> String {
    let bare = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare { name.to_string() } else { toml_string(name) };
    let mut s =
        format!("[mailboxes.{key}]\nkind = \"{}\"\npath = {}\n", kind.as_str(), toml_string(&path.to_string_lossy()));
    if let Some(i) = inbox {
        let list: Vec<String> = i.iter().map(|x| toml_string(x)).collect();
        s.push_str(&format!("inbox = [{}]\n", list.join(", ")));
    }
    s
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Mailboxes, MailboxError> {
        let v: toml::Table = toml::from_str(s).unwrap();
        parse(v.get(SECTION))
    }

    #[test]
    fn the_keys_and_their_defaults() {
        let m = parse_str(
            "[mailboxes.team]\nkind = \"claude-team\"\npath = \"~/.claude/teams\"\n\n[mailboxes.box]\nkind = \"folders\"\npath = \"/srv/agents\"\ninbox = [\"in\"]\nzone = \"America/New_York\"\n",
        )
        .unwrap();
        assert_eq!(m["team"], MailboxSettings::new(Kind::ClaudeTeam, "~/.claude/teams"));
        assert_eq!(m["box"].inbox, vec!["in"]);
        assert_eq!(m["box"].done, vec!["done", "completed", "processed"]);
        assert_eq!(m["box"].outbox, vec!["outbox"]);
        assert_eq!(m["box"].zone().unwrap().name(), "America/New_York");
    }

    #[test]
    fn mistakes_are_named() {
        let e = parse_str("[mailboxes.x]\nkind = \"slack\"\npath = \"p\"\n").unwrap_err().to_string();
        assert!(e.contains("[mailboxes]") && e.contains("slack"), "{e}");
        let e = parse_str("[mailboxes.x]\nkind = \"folders\"\npath = \"p\"\nzone = \"Nowhere/City\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[mailboxes.x] zone") && e.contains("Nowhere/City"), "{e}");
        let e = parse_str("[mailboxes.x]\nkind = \"folders\"\npath = \"p\"\ninbx = [\"a\"]\n").unwrap_err().to_string();
        assert!(e.contains("inbx"), "{e}");
        let e = parse_str("[mailboxes.x]\nkind = \"folders\"\npath = \"p\"\ndone = [\"../elsewhere\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("../elsewhere"), "{e}");
        assert!(parse(None).unwrap().is_empty());
    }

    #[test]
    fn paths_expand() {
        let home = Path::new("/baton-home");
        let s = MailboxSettings::new(Kind::Folders, "boxes");
        assert_eq!(s.resolved_path(home), Path::new("/baton-home/boxes"));
        let s = MailboxSettings::new(Kind::Folders, "/abs");
        assert_eq!(s.resolved_path(home), Path::new("/abs"));
        if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            let s = MailboxSettings::new(Kind::ClaudeTeam, "~/.claude/teams");
            assert_eq!(s.resolved_path(home), PathBuf::from(h).join(".claude/teams"));
        }
    }

    #[test]
    fn mailbox_add_writes_its_table_and_keeps_the_rest() {
        let before = "# my settings\n[handoffs]\nsettle_ms = 100 # fast\n";
        let inbox = vec!["in".to_string()];
        let t = NewTable {
            name: &default_name(Kind::Folders, "~/agents/Team Box!"),
            kind: Kind::Folders,
            path: "~/agents/Team Box!",
            inbox: &inbox,
            done: &[],
            outbox: &[],
            zone: Some("Europe/Paris"),
        };
        let after = with_table(before, &t).unwrap();
        assert!(after.starts_with(before), "{after}");
        let m = parse_str(&after).unwrap();
        let s = &m["Team_Box_"];
        assert_eq!((s.kind, s.inbox.clone()), (Kind::Folders, inbox.clone()));
        let again = with_table(&after, &t).unwrap_err().to_string();
        assert!(again.contains("[mailboxes.Team_Box_] is there already"), "{again}");
        assert_eq!(default_name(Kind::ClaudeTeam, "/x"), "claude");
        assert_eq!(default_name(Kind::AgentMail, "/srv/???"), "folders");
        assert!(with_table("mailboxes = 3\n", &t).unwrap_err().to_string().contains("not a table"));
    }

    #[test]
    fn the_table_text_parses_back() {
        let text = table_text("my box", Kind::Folders, Path::new("/a \"b\""), Some(&["in".into()]));
        let m = parse_str(&text).unwrap();
        assert_eq!(m["my box"].path, Path::new("/a \"b\""));
        assert_eq!(m["my box"].inbox, vec!["in"]);
    }
}

/// A `[mailboxes.NAME]` table to add to baton.toml (`baton mailbox add`).
#[derive(Debug)]
pub struct NewTable<'a> {
    pub name: &'a str,
    pub kind: Kind,
    /// As the user gave it (`~` is their home).
    pub path: &'a str,
    /// `folders` only: the inbox, done and outbox folders (empty: the defaults).
    pub inbox: &'a [String],
    pub done: &'a [String],
    pub outbox: &'a [String],
    pub zone: Option<&'a str>,
}

/// The name `baton mailbox add` gives a table when none is given: `claude` for a claude-team
/// mailbox, else a bare TOML key from the folder's last part.
pub fn default_name(kind: Kind, path: &str) -> String {
    if kind == Kind::ClaudeTeam {
        return "claude".into();
    }
    key_from_folder(Path::new(path), "folders")
}

/// A bare TOML key from a folder's name (every other character `_`), or `fallback` when
/// nothing of it is left.
pub fn key_from_folder(dir: &Path, fallback: &str) -> String {
    let name: String = dir
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
                .collect()
        })
        .unwrap_or_default();
    if name.trim_matches('_').is_empty() { fallback.into() } else { name }
}

/// `baton.toml`'s text with `table` added under `[mailboxes]`, every other byte as it was
/// (comments and layout kept). Refuses a table of that name already there, and a
/// `mailboxes` key that is not a table.
pub fn with_table(before: &str, table: &NewTable) -> Result<String, MailboxError> {
    let mut doc: toml_edit::DocumentMut =
        before.parse().map_err(|e| MailboxError::Settings(format!("not valid TOML: {e}")))?;
    let boxes = doc.entry(SECTION).or_insert_with(|| {
        let mut t = toml_edit::Table::new();
        t.set_implicit(true);
        toml_edit::Item::Table(t)
    });
    let Some(boxes) = boxes.as_table_mut() else {
        return Err(MailboxError::Settings("`mailboxes` is not a table".into()));
    };
    if boxes.contains_key(table.name) {
        return Err(MailboxError::Settings(format!(
            "[mailboxes.{}] is there already; pass --name to add another",
            table.name
        )));
    }
    let mut t = toml_edit::Table::new();
    t["kind"] = toml_edit::value(table.kind.as_str());
    t["path"] = toml_edit::value(table.path);
    for (key, list) in [("inbox", table.inbox), ("done", table.done), ("outbox", table.outbox)] {
        if !list.is_empty() {
            t[key] = toml_edit::value(list.iter().map(String::as_str).collect::<toml_edit::Array>());
        }
    }
    if let Some(z) = table.zone {
        t["zone"] = toml_edit::value(z);
    }
    boxes.insert(table.name, toml_edit::Item::Table(t));
    Ok(doc.to_string())
}
