//! Extracting what a plan promises: format detection, and the helpers shared by the
//! format parsers (recognising file paths in text, reading "done" claims).

pub mod beads;
pub mod bmad;
pub mod copilot;
pub mod cursor;
pub mod execplan;
pub mod kiro;
pub mod literal;
pub mod markdown;
pub mod speckit;
pub mod taskmaster;
pub mod yaml;

use crate::model::{PlanFormat, Task};

/// One promised file, before it is checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// Normalised path as written (may be a bare file name).
    pub path: String,
    /// A second form to try when `path` is not found (a project tree with its root
    /// folder stripped).
    pub alt: Option<String>,
    pub group: String,
    pub claimed_done: bool,
    /// 1-based line in the plan.
    pub line: usize,
}

/// A status a plan (or one of its tasks) declares, with the boxes or subtasks it covers:
/// the input of the status-conflict check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// The task whose status it is; `None` for the whole plan.
    pub task: Option<String>,
    /// The status as written (`Done`, `Ready for Review`, `Complete`).
    pub status: String,
    /// Boxes or subtasks done, of `total`.
    pub done: usize,
    pub total: usize,
}

/// What a parser found in one plan.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Extracted {
    pub title: String,
    pub deliverables: Vec<Expected>,
    pub tasks: Vec<Task>,
    /// Ids of tasks that are listed but never counted (Taskmaster `cancelled`).
    pub cancelled: Vec<String>,
    /// Declared statuses to hold against the boxes (see [`Declared`]).
    pub declared: Vec<Declared>,
    /// Why the parser could read nothing, when it knows (invalid JSON, no tasks array).
    pub unreadable: Option<String>,
    /// What it could not read of a plan it did read (a beads line that is not JSON): the
    /// report's errors say so.
    pub problems: Vec<String>,
}

impl Extracted {
    /// Records that task `ti` promises `path`, as a deliverable of `group` (spec-kit, Kiro).
    pub fn promise(&mut self, ti: usize, path: String, group: String, claimed_done: bool, line: usize) {
        push_unique(&mut self.tasks[ti].paths, path.clone());
        self.push(Expected { path, alt: None, group, claimed_done, line });
    }

    /// Adds a deliverable, merging repeats of the same path (claims are OR-ed, the first
    /// group wins).
    pub fn push(&mut self, e: Expected) {
        self.push_index(e);
    }

    /// [`Extracted::push`], returning the index of the deliverable it landed in.
    pub fn push_index(&mut self, e: Expected) -> usize {
        if let Some(i) = self.deliverables.iter().position(|d| d.path == e.path) {
            let prev = &mut self.deliverables[i];
            prev.claimed_done |= e.claimed_done;
            if prev.alt.is_none() {
                prev.alt = e.alt;
            }
            return i;
        }
        self.deliverables.push(e);
        self.deliverables.len() - 1
    }

    /// [`Extracted::promise`], returning the index of the deliverable.
    pub fn promise_index(&mut self, ti: usize, path: String, group: String, claimed_done: bool, line: usize) -> usize {
        push_unique(&mut self.tasks[ti].paths, path.clone());
        self.push_index(Expected { path, alt: None, group, claimed_done, line })
    }

    /// A detail line under task `ti` redirects it to `target` ("Implemented in `X`"): the
    /// task's paths that `target` stands for are no longer its outputs (nor deliverables, if
    /// no other task names them), and `target` is. A `strong` redirect stands for the task's
    /// only path; a weak one (`see X`) only for a path of the same file name. False when it
    /// stands for none of them (then the line is read as any other).
    pub fn redirect(&mut self, ti: usize, target: String, strong: bool, group: String, line: usize) -> bool {
        let name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
        let own: Vec<String> = self.tasks[ti].paths.iter().filter(|p| **p != target).cloned().collect();
        let same: Vec<String> = own.iter().filter(|p| name(p) == name(&target)).cloned().collect();
        let gone = if !same.is_empty() {
            same
        } else if strong && own.len() == 1 {
            own
        } else {
            return false;
        };
        self.tasks[ti].paths.retain(|p| !gone.contains(p));
        for old in &gone {
            if !self.tasks.iter().any(|t| t.paths.contains(old)) {
                self.deliverables.retain(|d| d.path != *old);
            }
        }
        let done = self.tasks[ti].done;
        self.promise(ti, target, group, done, line);
        true
    }

    /// Merges bare names (`metrics_logger.py`) into the one full path of the same plan that
    /// ends in that name (`logging/metrics_logger.py`), so one file is not counted twice.
    pub fn merge_bare_names(&mut self) {
        let mut i = 0;
        while i < self.deliverables.len() {
            let d = &self.deliverables[i];
            if d.path.contains('/') {
                i += 1;
                continue;
            }
            let suffix = format!("/{}", d.path);
            let full: Vec<usize> = self
                .deliverables
                .iter()
                .enumerate()
                .filter(|(_, o)| o.path.ends_with(&suffix))
                .map(|(j, _)| j)
                .collect();
            if full.len() == 1 {
                let bare = self.deliverables.remove(i);
                let j = if full[0] > i { full[0] - 1 } else { full[0] };
                let target = &mut self.deliverables[j];
                target.claimed_done |= bare.claimed_done;
                if bare.line < target.line {
                    target.group = bare.group;
                    target.line = bare.line;
                }
                // keep document order by first mention
                let moved = self.deliverables.remove(j);
                let pos = self.deliverables.iter().position(|o| o.line > moved.line).unwrap_or(self.deliverables.len());
                self.deliverables.insert(pos, moved);
                continue;
            }
            i += 1;
        }
    }
}

/// Is this a BMAD story by its name (`1.2.story.md`) or place (a `stories/` folder)?
fn is_story_path(comps: &[&str]) -> bool {
    let n = comps.len();
    let name = comps.last().copied().unwrap_or("");
    name.ends_with(".story.md") || (n >= 2 && comps[n - 2] == "stories" && name.ends_with(".md"))
}

/// Is this an OpenSpec change's task list (`openspec/changes/<change>/tasks.md`, also under
/// `changes/archive/`)?
fn is_openspec_path(comps: &[&str]) -> bool {
    let n = comps.len();
    comps.last() == Some(&"tasks.md") && n >= 4 && comps[..n - 2].windows(2).any(|w| w == ["openspec", "changes"])
}

/// Decides a plan's format from its path and content.
pub fn detect_format(path: &str, content: &str) -> PlanFormat {
    let comps: Vec<&str> = path.split(['/', '\\']).filter(|c| !c.is_empty()).collect();
    let n = comps.len();
    let name = comps.last().copied().unwrap_or("");
    if name.ends_with(".jsonl") {
        return PlanFormat::Beads;
    }
    if name.ends_with(".json") {
        return PlanFormat::Taskmaster;
    }
    if comps.contains(&".copilot-tracking") {
        return PlanFormat::Copilot;
    }
    if n >= 3 && comps[n - 3] == ".agent" && comps[n - 2] == "plans"
        || comps.iter().any(|c| matches!(*c, "execplans" | "exec-plans" | "exec_plans")) && name.ends_with(".md")
        || execplan::looks_like(content)
    {
        return PlanFormat::ExecPlan;
    }
    if comps.contains(&"_bmad-output") && bmad_like(content) {
        return PlanFormat::Bmad;
    }
    if is_openspec_path(&comps) {
        return PlanFormat::OpenSpec;
    }
    if is_story_path(&comps) && bmad_like(content) {
        return PlanFormat::Bmad;
    }
    if name == "tasks.md" && n >= 4 && comps[..n - 2].windows(2).any(|w| w == [".kiro", "specs"]) {
        return PlanFormat::Kiro;
    }
    if name == "tasks.md" && n >= 3 && comps[n - 3] == "specs" {
        return PlanFormat::SpecKit;
    }
    if name.ends_with(".plan.md") && (comps.contains(&".cursor") || cursor::has_todos(content)) {
        return PlanFormat::Cursor;
    }
    if cursor::has_todos(content) {
        return PlanFormat::Cursor;
    }
    // spec-kit ids are `T` + three digits; two such tasks make a spec-kit task list
    let speckit_tasks =
        content.lines().filter_map(speckit::parse_task_line).filter(|(_, id, _)| id.len() >= 4).take(2).count();
    if speckit_tasks == 2 {
        return PlanFormat::SpecKit;
    }
    if name == "tasks.md" && content.lines().any(|l| kiro::parse_task_line(l).is_some()) {
        return PlanFormat::Kiro;
    }
    PlanFormat::Markdown
}

/// A story has a checklist and a status (a `Status` line or a one-line section naming one).
fn bmad_like(content: &str) -> bool {
    content.lines().any(|l| {
        let t = l.trim_start();
        t.starts_with("- [") || t.starts_with("* [")
    }) || content.lines().any(|l| status_kind(l.trim()).is_some())
}

/// Reads one plan: its format (from the path and the text) and what it promises. Pure: a
/// function of the path and the text only, so it can be fuzzed. Never panics.
pub fn read_plan(path: &str, content: &str) -> (PlanFormat, Extracted) {
    read_plan_as(path, content, None)
}

/// [`read_plan`] with the format known from elsewhere (a BMAD story found through
/// `.bmad-core/core-config.yaml`, whatever its name).
pub fn read_plan_as(path: &str, content: &str, format: Option<PlanFormat>) -> (PlanFormat, Extracted) {
    // code blocks, quotes and comments show text: no task, no claim (see `literal`)
    let json = path.ends_with(".json") || path.ends_with(".jsonl");
    let prose = if json { std::borrow::Cow::Borrowed(content) } else { literal::blank(content) };
    let format = format.unwrap_or_else(|| detect_format(path, &prose));
    (format, extract_at(format, path, &prose))
}

/// Does the text hold checkboxes only where they are shown, not said (indented code
/// blocks, block quotes, HTML comments, fences)? Such a file is no plan: a spec's example,
/// a quoted checklist.
pub fn boxes_only_in_literals(content: &str) -> bool {
    let is_box = |l: &str| {
        let t = l.trim_start().trim_start_matches(['>', ' ']);
        t.strip_prefix(['-', '*', '+'])
            .map(str::trim_start)
            .is_some_and(|r| r.starts_with("[ ]") || r.starts_with("[x]") || r.starts_with("[X]"))
    };
    content.lines().any(is_box) && !unfenced_lines(&literal::blank(content)).any(|(_, l)| is_box(l))
}

/// Runs the parser for `format` (see [`read_plan`], which also knows the path).
pub fn extract(format: PlanFormat, content: &str) -> Extracted {
    extract_at(format, "", content)
}

fn extract_at(format: PlanFormat, path: &str, content: &str) -> Extracted {
    let mut out = match format {
        PlanFormat::Markdown => markdown::parse(content, 0),
        PlanFormat::SpecKit => speckit::parse(content),
        PlanFormat::Kiro | PlanFormat::OpenSpec => kiro::parse(content),
        PlanFormat::Cursor => cursor::parse(content),
        PlanFormat::Taskmaster => taskmaster::parse(content),
        PlanFormat::Bmad => bmad::parse(content),
        PlanFormat::ExecPlan => {
            // a plan kept with ExecPlans whose boxes are not under `## Progress` (`## Steps`,
            // `## Tasks`): read as the Markdown checklist it is, not left unread
            let e = execplan::parse(content);
            if e.tasks.is_empty() { markdown::parse(content, 0) } else { e }
        }
        PlanFormat::Copilot => copilot::parse(path, content),
        PlanFormat::Beads => beads::parse(content),
    };
    if format == PlanFormat::OpenSpec && path.replace('\\', "/").contains("/changes/archive/") {
        // an archived change is done work: every task of it is claimed done
        for t in &mut out.tasks {
            t.done = true;
        }
        for d in &mut out.deliverables {
            d.claimed_done = true;
        }
    }
    // a Cursor plan's `status:` lines are its todos' (in the front matter), never the plan's
    if !matches!(format, PlanFormat::Taskmaster | PlanFormat::Bmad | PlanFormat::Cursor | PlanFormat::Beads)
        && let Some(status) = plan_status(content)
    {
        let done = out.tasks.iter().filter(|t| t.done).count();
        out.declared.push(Declared { task: None, status, done, total: out.tasks.len() });
    }
    out.merge_bare_names();
    out
}

/// What a declared status says, for the conflict check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusKind {
    /// Done, complete, ready for review.
    Done,
    /// Draft, not started, planning, pending.
    NotStarted,
}

/// Reads a declared status: `Some(Done)` for done / complete / ready for review,
/// `Some(NotStarted)` for draft / not started / planning, `None` for anything else, and
/// always `None` for deferred, blocked or cancelled (never a conflict) and for mixed text
/// (`Implementation Complete - Testing Pending`).
pub fn status_kind(status: &str) -> Option<StatusKind> {
    let l = status.to_lowercase();
    let ws = words(&l);
    let has = |w: &[&str]| ws.iter().any(|x| w.contains(&x.as_str()));
    if has(&["deferred", "blocked", "cancelled", "canceled", "hold", "superseded", "postponed", "abandoned"])
        || ["보류", "취소", "차단"].iter().any(|w| l.contains(w))
    {
        return None;
    }
    let not_started = l.contains("not started")
        || has(&["draft", "planning", "planned", "proposed", "pending", "todo", "backlog", "approved"])
        || ["초안", "미착수", "대기", "계획"].iter().any(|w| l.contains(w));
    let partial = has(&["progress", "inprogress", "partial", "partially", "incomplete", "wip", "ongoing"])
        || l.contains("in-progress")
        || l.contains("진행");
    let done = has(&["done", "complete", "completed", "finished", "review", "implemented", "shipped"])
        || l.contains('✅')
        || ["완료", "검토"].iter().any(|w| l.contains(w));
    match (done, not_started, partial) {
        (true, false, false) => Some(StatusKind::Done),
        (false, true, false) => Some(StatusKind::NotStarted),
        _ => None,
    }
}

/// Is this declared status contradicted by `done` of `total` boxes? Done while some are
/// open; not started while all are done.
pub fn conflicts(d: &Declared) -> bool {
    d.total > 0
        && match status_kind(&d.status) {
            Some(StatusKind::Done) => d.done < d.total,
            Some(StatusKind::NotStarted) => d.done == d.total,
            None => false,
        }
}

/// The whole plan's declared status: a `## Status: Complete` heading, or a `Status:` /
/// `**Status**:` line before the first task (a task's own status line is its own).
pub fn plan_status(content: &str) -> Option<String> {
    // YAML front matter holds metadata (and todos' statuses), not the plan's status line
    let body_from = cursor::front_matter(content).map_or(0, |(_, _, body_line)| body_line);
    for (no, line) in unfenced_lines(content) {
        if no <= body_from {
            continue;
        }
        let t = line.trim_start();
        if speckit::parse_task_heading(t).is_some() || kiro::parse_task_line(line).is_some() {
            return None;
        }
        let item = t.strip_prefix(['-', '*', '+']).map(str::trim_start);
        if item.is_some_and(|r| r.starts_with("[ ]") || r.starts_with("[x]") || r.starts_with("[X]")) {
            return None;
        }
        let level = t.chars().take_while(|&c| c == '#').count();
        let text = if level > 0 { t[level..].trim() } else { t };
        if level >= 2 && status_value(text).is_none() {
            // a section of its own: a status under it is that section's
            return None;
        }
        if let Some(v) = status_value(text) {
            let v = clean_label(v);
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    None
}

/// File extensions accepted as deliverables.
const EXTENSIONS: &[&str] = &[
    "py",
    "pyi",
    "rs",
    "js",
    "mjs",
    "cjs",
    "ts",
    "tsx",
    "jsx",
    "mts",
    "cts",
    "go",
    "java",
    "kt",
    "kts",
    "swift",
    "m",
    "mm",
    "c",
    "h",
    "cc",
    "cpp",
    "cxx",
    "hpp",
    "hh",
    "cs",
    "fs",
    "rb",
    "php",
    "sh",
    "bash",
    "zsh",
    "fish",
    "ps1",
    "bat",
    "cmd",
    "sql",
    "md",
    "mdx",
    "rst",
    "adoc",
    "txt",
    "json",
    "jsonl",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "env",
    "html",
    "htm",
    "css",
    "scss",
    "sass",
    "less",
    "vue",
    "svelte",
    "astro",
    "gs",
    "lua",
    "r",
    "scala",
    "ex",
    "exs",
    "erl",
    "hrl",
    "hs",
    "ml",
    "mli",
    "dart",
    "proto",
    "graphql",
    "gql",
    "xml",
    "csv",
    "tsv",
    "wit",
    "wat",
    "tf",
    "hcl",
    "ipynb",
    "plist",
    "gradle",
    "properties",
    "mk",
    "cmake",
    "zig",
    "nim",
    "jl",
    "pl",
    "pm",
    "tex",
    "svg",
    "lock",
    "service",
    "desktop",
    "applescript",
    "scpt",
    "jsx",
    "prisma",
    "tmpl",
    "j2",
    "jinja",
    "hbs",
    "ejs",
    "sol",
    "vy",
    "kql",
    "ps",
    "psm1",
];

/// File names without an extension accepted as deliverables.
const BARE_NAMES: &[&str] = &[
    "COPYING",
    "NOTICE",
    "Dockerfile",
    "Makefile",
    "Justfile",
    "Procfile",
    "Gemfile",
    "Rakefile",
    "Vagrantfile",
    "Containerfile",
    "Brewfile",
    "LICENSE",
    "CODEOWNERS",
];

/// Dotfiles of a repository accepted as deliverables even without a folder (`.gitignore`).
const DOTFILES: &[&str] = &[
    ".gitignore",
    ".gitattributes",
    ".gitmodules",
    ".dockerignore",
    ".editorconfig",
    ".npmrc",
    ".nvmrc",
    ".prettierrc",
    ".eslintrc",
    ".env.example",
    ".env.sample",
    ".clang-format",
    ".clang-tidy",
    ".pre-commit-config.yaml",
    ".eslintignore",
    ".prettierignore",
];

/// Cleans a token and returns it when it looks like a file path: a known extension (or a
/// known extension-less name), no spaces, no URL, no glob. `plain` is true for text outside
/// code spans, where a few prose words (`Node.js`) are rejected.
pub fn as_path(token: &str, plain: bool) -> Option<String> {
    let mut t = token.trim();
    // `<stdexec/execution.hpp>`: a system or third-party header of an `#include`, not a file of
    // the repository
    if t.trim_start_matches(['`', '"']).starts_with('<') && t.trim_end_matches(['`', '"', ',', ';', '.']).ends_with('>')
    {
        return None;
    }
    // `response.json()`, `path.join(a)`: a call, not a file
    if let Some(i) = t.find('(') {
        let before = t[..i].trim_start_matches(['`', '"', '\'', '*', '[', '(']);
        if !before.is_empty() && before.contains('.') && !before.ends_with(']') {
            return None;
        }
    }
    t = t.trim_matches(|c: char| {
        matches!(
            c,
            '`' | '"' | '\'' | '*' | '(' | ')' | '[' | ']' | ',' | ';' | '!' | '?' | '<' | '>' | '“' | '”' | '‘' | '’'
        )
    });
    // trailing sentence punctuation and a `:` before a description
    t = t.trim_end_matches(['.', ':']);
    // a word of a language written without spaces glued to the name ("ルートpyproject.toml",
    // "root pyproject.toml" in Japanese): the path starts where the script changes
    if let Some(i) = t.find(|c: char| c.is_ascii())
        && i > 0
        && !t[..i].contains('/')
        && t[..i].chars().all(|c| c.is_alphabetic() && !c.is_ascii())
        && t[i..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.')
    {
        t = &t[i..];
    }
    if t.is_empty() || t.len() > 300 || t.contains("://") || t.starts_with('~') || t.starts_with('$') {
        return None;
    }
    if t.chars().any(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '*' | '?'
                    | '{'
                    | '}'
                    | '<'
                    | '>'
                    | '|'
                    | '"'
                    | '\''
                    | '`'
                    | '('
                    | ')'
                    | '='
                    | ','
                    | '['
                    | ']'
                    | '@'
                    | '\\'
            )
    }) {
        return None;
    }
    // strip `::Symbol`, `#L12`, `:12` / `:12:3`
    let mut s = t;
    if let Some(i) = s.find("::") {
        s = &s[..i];
    }
    if let Some(i) = s.find("#L") {
        s = &s[..i];
    }
    while let Some(i) = s.rfind(':') {
        if s[i + 1..].chars().all(|c| c.is_ascii_digit()) {
            s = &s[..i];
        } else {
            return None;
        }
    }
    let s = s.trim_start_matches("./");
    if s.is_empty() || s.ends_with('/') {
        return None;
    }
    let comps: Vec<&str> = s.split('/').collect();
    // a leading `/` (repo-absolute) leaves one empty first component; any other empty
    // component or `..` is rejected
    for (i, c) in comps.iter().enumerate() {
        if (c.is_empty() && i != 0) || *c == ".." || *c == "." {
            return None;
        }
    }
    let name = comps.last().copied().unwrap_or("");
    // `*-judgments.jsonl` lost its `*` to the trimming of emphasis: a pattern, not a file
    if name.starts_with('-') {
        return None;
    }
    // placeholders of examples (`src/foo.go`, `path/to/diff.patch`) name no real file
    let stem0 = name.split('.').next().unwrap_or("");
    if matches!(stem0, "foo" | "bar" | "baz" | "qux") || s.trim_start_matches('/').starts_with("path/to/") {
        return None;
    }
    if BARE_NAMES.contains(&name) || DOTFILES.contains(&name) || name.starts_with("LICENSE-") {
        return Some(s.to_string());
    }
    let (stem, ext) = name.rsplit_once('.')?;
    if stem.is_empty() && !name.starts_with('.') {
        return None;
    }
    // an extension we do not list is still accepted in a path with folders
    // (`configs/csl/ieee.csl`), never on a bare name (`self.client`, `os.path`)
    // `io/fs.FileMode`, `os.ReadFile`: a package and an identifier in camel case, not a file
    // (extensions are one case: `.py`, `.PNG`, `.R`)
    let camel = ext.chars().any(|c| c.is_ascii_lowercase()) && ext.chars().any(|c| c.is_ascii_uppercase());
    let plausible_ext = (1..=8).contains(&ext.len())
        && !camel
        && ext.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && ext.chars().all(|c| c.is_ascii_alphanumeric());
    let known_ext = EXTENSIONS.contains(&ext);
    // `/speckit.plan` is a slash command: a leading `/` does not make a folder
    let folders = comps.iter().filter(|c| !c.is_empty()).count();
    if !(known_ext || folders > 1 && plausible_ext) {
        return None;
    }
    if stem.is_empty() {
        // dotfiles like `.env` are fine only with a folder (`config/.env`)
        if comps.len() < 2 {
            return None;
        }
    }
    if plain
        && comps.len() == 1
        && ext == "js"
        && stem.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && !stem.contains(['_', '-'])
    {
        // Node.js, Vue.js, Chart.js: names of things, not files
        return None;
    }
    Some(s.to_string())
}

/// Verbs that make the file they name a declared output of a line (`Create src/x.ts`).
pub const CREATE_VERBS: &[&str] = &[
    "create",
    "creates",
    "created",
    "add",
    "adds",
    "added",
    "new",
    "write",
    "writes",
    "written",
    "implement",
    "implements",
    "implemented",
    "scaffold",
    "generate",
    "introduce",
    "setup",
    "initialize",
    "initialise",
    "define",
    "extract",
    "draft",
];

/// Phrases that say the paths of a line do not exist (any more).
const NEGATIONS: &[&str] = &[
    "does not exist",
    "doesn't exist",
    "do not exist",
    "don't exist",
    "no longer exist",
    "not exist",
    "nonexistent",
    "non-existent",
    "was removed",
    "were removed",
    "has been removed",
    "have been removed",
    "was deleted",
    "been deleted",
    "is gone",
];

/// Verbs of a relative clause that say what code does to a file when it runs.
const RUNTIME_VERBS: &[&str] = &[
    "updates", "writes", "edits", "modifies", "reads", "patches", "appends", "saves", "stores", "loads", "rewrites",
    "touches", "watches", "parses", "syncs", "merges",
];

/// Lines that describe and never claim: `Purpose:`, `Goal:`, `Context:` (also bold or as a
/// bullet).
pub fn is_context_line(text: &str) -> bool {
    let t = text.trim().trim_start_matches(['-', '*', '+', '>', '_', ' ', '#']);
    let t = t.trim_start_matches(['*', '_']);
    let word: String = t.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    let after = t[word.len()..].trim_start_matches(['*', '_', ' ']);
    after.starts_with(':')
        && matches!(
            word.to_ascii_lowercase().as_str(),
            "purpose"
                | "goal"
                | "goals"
                | "context"
                | "background"
                | "rationale"
                | "motivation"
                | "note"
                | "notes"
                | "nb"
                | "reference"
                | "references"
                | "see"
                | "old"
                | "before"
                | "previously"
                | "formerly"
                | "current"
                | "existing"
        )
}

fn lower_words(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        if c.is_alphanumeric() || c == '\'' {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            out.push((s, text[s..i].to_lowercase()));
        }
    }
    if let Some(s) = start {
        out.push((s, text[s..].to_lowercase()));
    }
    out
}

/// The paths a line of prose promises, without those it says are not deliverables:
/// the source of a move or rename (`Move A to B`, `A → B`), what it removes or deletes
/// (`Remove the #include <x.h> from a.c` keeps `a.c`), paths it says do not exist, and any
/// path on a `Purpose:`/`Goal:`/`Context:` line. Bare names without a folder (`parsed.html`)
/// count only when `declared` (a `Files:` field, a table) or the line creates or adds.
pub fn declared_paths(line: &str, declared: bool) -> Vec<String> {
    if is_context_line(line) {
        return Vec::new();
    }
    let mut paths = line_paths(line);
    // "`tests/` with `test_main.py`": the file is in that folder
    for (dir, file) in dir_with_file(line) {
        match paths.iter_mut().find(|p| **p == file) {
            Some(p) => *p = format!("{dir}{file}"),
            None => push_unique(&mut paths, format!("{dir}{file}")),
        }
    }
    if paths.is_empty() {
        return paths;
    }
    let words = lower_words(line);
    let has = |ws: &[&str]| words.iter().any(|(_, w)| ws.contains(&w.as_str()));
    // ASCII only: byte offsets in `lower` are offsets in `line`
    let lower = line.to_ascii_lowercase();
    let creates = has(CREATE_VERBS);
    let negated = NEGATIONS.iter().any(|p| lower.contains(p));
    if negated && !creates {
        return Vec::new();
    }
    // byte ranges of the line whose paths are excluded
    let mut excluded: Vec<(usize, usize)> = Vec::new();
    let find_word =
        |ws: &[&str], from: usize| words.iter().find(|(i, w)| *i >= from && ws.contains(&w.as_str())).map(|(i, _)| *i);
    if let Some(v) = find_word(
        &[
            "move",
            "moves",
            "moved",
            "moving",
            "rename",
            "renames",
            "renamed",
            "renaming",
            "mv",
            "relocate",
            "relocated",
            "migrate",
            "migrates",
            "migrated",
            "migrating",
        ],
        0,
    ) {
        let to = find_word(&["to", "into", "as"], v + 1)
            .or_else(|| line[v..].find("→").map(|i| i + v))
            .or_else(|| line[v..].find("->").map(|i| i + v));
        // a file move has a destination path after `to`; "Move the lock before the checks in
        // `Code.js`" moves code inside the file it names, which stays an output
        if let Some(to) = to
            && paths.iter().any(|p| line[to..].contains(p.as_str()))
        {
            excluded.push((v, to));
        }
    }
    excluded.extend(redirects_and_hedges(line, &lower, &paths));
    for arrow in ["→", "->", "=>"] {
        let mut from = 0;
        while let Some(i) = line[from..].find(arrow) {
            let at = from + i;
            // the path just before the arrow is the old name
            let start = line[..at].trim_end().rfind([' ', '(', ',', '|']).map_or(0, |s| s + 1);
            excluded.push((start, at));
            from = at + arrow.len();
        }
    }
    if let Some(v) = find_word(
        &[
            "remove",
            "removes",
            "removed",
            "removing",
            "delete",
            "deletes",
            "deleted",
            "deleting",
            "drop",
            "drops",
            "rm",
            "deprecate",
            "deprecated",
            "obsolete",
        ],
        0,
    ) {
        let end = find_word(&["from", "in", "inside", "within", "of"], v + 1).unwrap_or(line.len());
        excluded.push((v, end));
    }
    // a bare name next to a full path describes it (`Create x.md (the CLAUDE.md template) in
    // templates/x.md`); alone on a creating line it is the deliverable
    // examples (`e.g. main/style.css`) and alternatives (`a.py or b.py`) promise nothing
    for marker in ["e.g.", "for example", "i.e.", "such as"] {
        if let Some(i) = lower.find(marker) {
            let end = line[i..].find(')').map_or(line.len(), |e| i + e);
            excluded.push((i, end));
        }
    }
    for (i, _) in lower.match_indices(" or ") {
        let before = line[..i].trim_end().trim_end_matches(['`', '*']);
        let after = line[i + 4..].trim_start();
        let prev_is_path = paths.iter().any(|p| before.ends_with(p.as_str()));
        let next_word = after.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        if prev_is_path
            && (paths.iter().any(|p| next_word.contains(p.as_str()))
                || next_word.starts_with("create")
                || next_word.starts_with("root"))
        {
            let start = before.rfind(['`', ' ', '(']).map_or(0, |s| s);
            let end =
                after.find([')', ',', ';']).map_or(line.len(), |e| i + 4 + (line.len() - i - 4 - after.len()) + e);
            excluded.push((start, end));
        }
    }
    let bare_ok = declared || creates && !paths.iter().any(|p| p.contains('/'));
    paths
        .into_iter()
        .filter(|p| bare_ok || p.contains('/'))
        .filter(|p| {
            if excluded.is_empty() {
                return true;
            }
            // every occurrence of the path must be excluded for it to go
            let mut any_kept = false;
            let mut found = false;
            let mut from = 0;
            while let Some(i) = line[from..].find(p.as_str()) {
                let at = from + i;
                found = true;
                if !excluded.iter().any(|&(s, e)| at >= s && at < e) {
                    any_kept = true;
                }
                from = at + p.len();
            }
            !found || any_kept
        })
        .collect()
}

/// ("dir/", "file") for each "`dir/` with `file`" (also "containing") of a line, in code
/// spans or as plain words (`• tests/ with test_main.py`, a JSON string's bullet).
fn dir_with_file(line: &str) -> Vec<(String, String)> {
    let mut out = plain_dir_with_file(line);
    for joint in ["/` with `", "/` containing `"] {
        let mut from = 0;
        while let Some(i) = line[from..].find(joint) {
            let at = from + i;
            from = at + joint.len();
            let Some(open) = line[..at].rfind('`') else { continue };
            let dir = &line[open + 1..=at];
            let Some(close) = line[from..].find('`') else { continue };
            let file = &line[from..from + close];
            if !dir.contains(' ') && !file.contains(['/', ' ']) && as_path(file, false).is_some() {
                out.push((dir.trim_start_matches("./").to_string(), file.to_string()));
            }
        }
    }
    out
}

/// "dir/ with file" in plain words (quotes and code spans stripped).
fn plain_dir_with_file(line: &str) -> Vec<(String, String)> {
    let plain: String = line.chars().map(|c| if matches!(c, '`' | '"' | '\'') { ' ' } else { c }).collect();
    let words: Vec<&str> = plain.split_whitespace().collect();
    let mut out = Vec::new();
    for w in words.windows(3) {
        let [dir, joint, file] = [w[0], w[1], w[2]];
        let file = file.trim_end_matches([',', ';', '.', ')']);
        if matches!(joint, "with" | "containing")
            && dir.ends_with('/')
            && dir.len() > 1
            && !dir.contains("://")
            && as_path(&format!("{dir}x.rs"), false).is_some()
            && !file.contains('/')
            && as_path(file, false).is_some()
        {
            out.push((dir.trim_start_matches("./").to_string(), file.to_string()));
        }
    }
    out
}

/// Byte ranges of a line whose paths are not promised: what a redirect points away from
/// ("Implemented in `b.ts`" checks `b.ts`), hedged paths ("(if exists)", "(or inline …)",
/// "(optional)"), and files the code touches at run time named in a relative clause ("a
/// writer that updates `.vscode/settings.json`"). `lower` is the line in ASCII lowercase.
fn redirects_and_hedges(line: &str, lower: &str, paths: &[String]) -> Vec<(usize, usize)> {
    let mut excluded = Vec::new();
    // a redirect: "Implemented in `src/b.ts`" (or "lives in", "merged into") names the file
    // to check instead of the ones before it
    for marker in
        ["implemented in ", "implemented as ", "now lives in ", "lives in ", "merged into ", "moved into ", "moved to "]
    {
        if let Some(i) = lower.find(marker)
            && paths.iter().any(|p| line[i..].contains(p.as_str()))
        {
            excluded.push((0, i));
        }
    }
    // hedges: "`a.css` (or inline styles)", "`b.rs` (if exists)", "(optional)": the path just
    // before is not promised
    for marker in [
        "(if exists",
        "(if it exists",
        "(if present",
        "(if needed",
        "(or inline",
        "(optional",
        "if it exists",
        " or similar",
        "(not committed",
        "(untracked",
        "(gitignored",
        "(local only",
        "(may need",
    ] {
        let mut from = 0;
        while let Some(i) = lower[from..].find(marker) {
            let at = from + i;
            // only the path right before the hedge: "In `a.rs`, add … (optional)" keeps `a.rs`
            let start = paths
                .iter()
                .filter_map(|p| line[..at].rfind(p.as_str()).map(|i| (i, i + p.len())))
                .filter(|&(_, e)| line[e..at].trim_matches(['`', ' ', '*', '"', '\'']).is_empty())
                .map(|(i, _)| i)
                .max()
                .unwrap_or(at);
            let end = line[at..].find(')').map_or(line.len(), |e| at + e);
            excluded.push((start, end));
            from = at + marker.len();
        }
    }
    // "`b.md` instead of `a.md`": what it replaces is not promised
    for (i, _) in lower.match_indices("instead of ") {
        let end = line[i..].find([')', ';', ',']).map_or(line.len(), |e| i + e);
        excluded.push((i, end));
    }
    // an alternative the line leaves open: "(same file or separate `jwt.d.ts`)"
    for marker in [" or separate ", " or a separate ", " or a new "] {
        for (i, _) in lower.match_indices(marker) {
            let end = line[i..].find([')', ';']).map_or(line.len(), |e| i + e);
            excluded.push((i, end));
        }
    }
    // a file of another project: "the schema from upstream's `api/schema.json`", "sourced
    // from `vendor/x/LICENSE`": cited, never this plan's output
    for marker in ["sourced from ", "taken from ", "copied from ", "borrowed from ", "adapted from "] {
        for (i, _) in lower.match_indices(marker) {
            let end = line[i..].find([')', ';']).map_or(line.len(), |e| i + e);
            excluded.push((i, end));
        }
    }
    for (i, _) in lower.match_indices("from ") {
        let owner = lower[i + 5..].split_whitespace().next().unwrap_or("");
        if owner.ends_with("'s") || owner.ends_with("’s") {
            let end = line[i..].find([')', ';', ',']).map_or(line.len(), |e| i + e);
            excluded.push((i, end));
        }
    }
    // a file the code touches at run time, named in a relative clause: "a settings writer
    // that updates `.vscode/settings.json`"
    for marker in [" that ", " which "] {
        for (i, _) in lower.match_indices(marker) {
            let next = lower[i + marker.len()..].split_whitespace().next().unwrap_or("");
            if RUNTIME_VERBS.contains(&next) {
                excluded.push((i, line.len()));
            }
        }
    }
    excluded
}

/// Phrases that say where a task's work really is, strongest first.
const REDIRECTS: &[(&str, bool)] = &[
    ("implemented in ", true),
    ("implemented as ", true),
    ("now lives in ", true),
    ("lives in ", true),
    ("merged into ", true),
    ("moved to ", true),
    ("moved into ", true),
    ("relocated to ", true),
    ("now in ", true),
    ("see ", false),
];

/// A detail line that redirects the task above it ("Implemented in `src/login/auth.ts`",
/// "Moved to `X`", "See `X`"): the path it points to, and whether the phrase is strong (see
/// [`Extracted::redirect`]).
pub fn redirect_target(text: &str) -> Option<(String, bool)> {
    let lower = text.to_ascii_lowercase();
    for &(marker, strong) in REDIRECTS {
        let Some(i) = lower.find(marker) else { continue };
        // "see" only opens a redirect at the start of the line: "(see …)" in prose is a reference
        if !strong && !lower[..i].trim_start_matches(['-', '*', '+', '_', ' ', '(']).is_empty() {
            continue;
        }
        if let Some(p) = line_paths(&text[i + marker.len()..]).into_iter().find(|p| p.contains('/')) {
            return Some((p, strong));
        }
    }
    None
}

/// Paths inside `code spans` of a line.
pub fn code_span_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        let fence = &rest[start..start + ticks];
        match after.find(fence) {
            Some(end) => {
                let inner = after[..end].trim();
                if let Some(p) = as_path(inner, false) {
                    push_unique(&mut out, p);
                } else if !is_command(inner) {
                    // `foo.py` with `Class` style spans hold one token; spans with several
                    // words (`a.py, b.py`) are split
                    for tok in inner.split([' ', ',']) {
                        if let Some(p) = as_path(tok, false) {
                            push_unique(&mut out, p);
                        }
                    }
                }
                rest = &after[end + ticks..];
            }
            None => break,
        }
    }
    out
}

/// Paths anywhere in a line: code spans, plus plain words that look like file paths.
/// Is this code span a command line (`cargo run -- list-urls --input foo.js`, `evalreview
/// classify cases.jsonl`)? Its files are the command's arguments, what it reads, never what a
/// task made; except for commands that make the file they name (`touch`, `mkdir`, `cp`, …).
fn is_command(span: &str) -> bool {
    let mut toks = span.split_whitespace();
    let (Some(first), Some(_)) = (toks.next(), toks.next()) else { return false };
    const MAKERS: &[&str] = &["touch", "mkdir", "cp", "mv", "tee", "install", "ln", "echo", "cat", "printf"];
    first.len() > 1
        && first.starts_with(|c: char| c.is_ascii_lowercase())
        && first.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
        && !MAKERS.contains(&first)
        && !CREATE_VERBS.contains(&first)
        && !kiro::EDIT_VERBS.contains(&first)
}

pub fn line_paths(line: &str) -> Vec<String> {
    let mut out = code_span_paths(line);
    let plain = strip_code_spans(line);
    for tok in plain.split(|c: char| c.is_whitespace() || c == ',' || c == '|') {
        let tok = strip_md_link(tok);
        if let Some(p) = as_path(tok, true) {
            push_unique(&mut out, p);
        }
    }
    out
}

fn strip_md_link(tok: &str) -> &str {
    // [text](path) → path
    if let Some(i) = tok.find("](") {
        return tok[i + 2..].trim_end_matches(')');
    }
    tok
}

/// The line with `code spans` removed.
pub fn strip_code_spans(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_code = false;
    for c in line.chars() {
        if c == '`' {
            in_code = !in_code;
            out.push(' ');
        } else if !in_code {
            out.push(c);
        }
    }
    out
}

/// The lines of a plan outside ``` / ~~~ code fences, with their 1-based numbers (the fence
/// lines themselves are skipped too): examples in fences promise nothing.
pub fn unfenced_lines(content: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut in_fence = false;
    content.lines().enumerate().filter_map(move |(i, line)| {
        let t = line.trim_start();
        if t.starts_with("```") || t.starts_with("~~~") {
            in_fence = !in_fence;
            return None;
        }
        (!in_fence).then_some((i + 1, line))
    })
}

fn push_unique(v: &mut Vec<String>, p: String) {
    if !v.contains(&p) {
        v.push(p);
    }
}

/// Markers that claim something is done.
const DONE_MARKS: &[&str] = &["✅", "✔", "✓", "☑", "🟢", "[x]", "[X]", "(done)", "(Done)", "(DONE)"];
/// Markers that say something is not done; they win over done markers on the same line.
const OPEN_MARKS: &[&str] = &["❌", "⏳", "⚠", "🔴", "🚧", "🟡", "🟠", "⬜", "✖", "✗", "✘", "❎", "[ ]"];
const DONE_WORDS: &[&str] = &["complete", "completed", "done", "implemented", "finished", "shipped", "delivered"];
const OPEN_WORDS: &[&str] = &[
    "pending",
    "todo",
    "missing",
    "partial",
    "partially",
    "incomplete",
    "wip",
    "planned",
    "blocked",
    "not",
    "progress",
    "started",
    "open",
    "tbd",
    "remaining",
];

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect()
}

/// The claim a piece of text makes: `Some(true)` done, `Some(false)` explicitly not done,
/// `None` says nothing. `words_count` lets status words ("Complete") count, not only
/// markers (✅); use it for status cells, `Status:` lines and headings.
pub fn claim(text: &str, words_count: bool) -> Option<bool> {
    let t = strip_code_spans(text);
    let open_mark = OPEN_MARKS.iter().any(|m| t.contains(m));
    let done_mark = DONE_MARKS.iter().any(|m| t.contains(m));
    if open_mark {
        return Some(false);
    }
    if words_count {
        let ws = words(&t);
        let open_word = ws.iter().any(|w| OPEN_WORDS.contains(&w.as_str()));
        let done_word = ws.iter().any(|w| DONE_WORDS.contains(&w.as_str()));
        if open_word {
            return Some(false);
        }
        if done_word {
            return Some(true);
        }
    }
    if done_mark {
        return Some(true);
    }
    None
}

/// `Status: ✅ Done` / `**Status:** Complete` → the text after the colon.
pub fn status_value(line: &str) -> Option<&str> {
    let t = line.trim().trim_start_matches(['-', '*', '+', '>', ' ']);
    let t = t.trim_start_matches('*').trim_start_matches('_');
    let lower: String = t.chars().take(7).collect::<String>().to_ascii_lowercase();
    if !(lower.starts_with("status") || lower.starts_with("state")) {
        return None;
    }
    let colon = t.find(':')?;
    if colon > 12 {
        return None;
    }
    Some(t[colon + 1..].trim_start_matches(['*', '_', ' ']))
}

/// Heading or label text without Markdown emphasis, status emoji and trailing colons.
pub fn clean_label(text: &str) -> String {
    let mut s: String = text
        .chars()
        .filter(|c| !matches!(c, '*' | '`' | '#'))
        .filter(|c| c.is_alphanumeric() || c.is_ascii() || matches!(c, '→' | '–' | '—' | 'é' | 'ü'))
        .collect();
    for m in ["[x]", "[X]", "[ ]"] {
        s = s.replace(m, "");
    }
    let s = s.trim().trim_end_matches(':').trim();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_that_promises_nothing() {
        assert_eq!(declared_paths("Add a CSS file (e.g. `main/style.css`) to `src/app.ts`", false), vec!["src/app.ts"]);
        assert!(declared_paths("Write `docs/a.md` or `docs/b.md`", false).is_empty());
        assert!(declared_paths("Move src/old.rs to src/new.rs", false) == vec!["src/new.rs"]);
        assert_eq!(declared_paths("Remove `#include <fiu.h>` from `src/x.c`", false), vec!["src/x.c"]);
        assert!(declared_paths("**Goal:** make `src/a.rs` faster", false).is_empty());
        assert!(declared_paths("`src/gone.py` does not exist anymore", false).is_empty());
        assert_eq!(declared_paths("Handle parsed.html in `src/server.ts`", false), vec!["src/server.ts"]);
        assert_eq!(declared_paths("Create settings.py", false), vec!["settings.py"]);
        assert!(declared_paths("Call response.json() first", false).is_empty());
        // non-ASCII text around the markers never splits a character
        for l in
            ["İİ e.g. `a/b.rs` ö", "`a/ü.rs` or İ `b/c.rs`", "Move é `a/b.rs` → `c/d.rs`", "remove ü from `x/y.rs` or"]
        {
            let _ = declared_paths(l, false);
        }
    }

    #[test]
    fn read_plan_never_panics_on_odd_text() {
        // every marker the claims rules look for, next to multibyte letters and cut short
        let pieces = [
            "İ`a/b.rs` (if exists",
            "ü that updates `é/ü.json`",
            "Move é `x/ü.rs` to",
            "`dir/` with `",
            "`ü/` with `f.rs`",
            "Implemented in ü",
            "## Status: ✅",
            "- [x] 1.1 ü (",
            "{\"tasks\": [{\"status\": 1}]}",
            "## 상태\n\n완료\n## 작업\n- [x] ü\n### 파일 목록\n- `ü.rs`",
            "#include <ü/é.h>",
            "\n    - [x] (2025-10-01 13:00Z) ü `a/b.rs`",
            "> - [x] ü\n<!-- ü",
            "## Progress\n- [x] (2025-",
            "{\"id\":\"ü\",\"status\":\"closed\",\"description\":\"`é/` with `ü.rs`\"}",
            "### Added\n- ü/é.rs - ü",
            "• é/ with ü.rs",
            "from ü's `a/b.rs`",
        ];
        for (i, a) in pieces.iter().enumerate() {
            for b in &pieces[i..] {
                let text = format!("{a}\n  - {b}\n{b} {a}");
                for path in [
                    "/r/PLAN.md",
                    "/r/openspec/changes/x/tasks.md",
                    "/r/.taskmaster/tasks/tasks.json",
                    "/r/docs/stories/1.story.md",
                    "/r/.kiro/specs/x/tasks.md",
                    "/r/.agent/plans/001-x.md",
                    "/r/.beads/issues.jsonl",
                    "/r/.copilot-tracking/changes/c.md",
                    "/r/_bmad-output/implementation-artifacts/1-1-x.md",
                ] {
                    let _ = read_plan(path, &text);
                }
            }
        }
    }

    #[test]
    fn front_matter_statuses_are_not_the_plan_status() {
        let cursor = "---\nname: x\ntodos:\n  - id: a\n    status: completed\n---\n\n- [ ] Create `src/a.ts`\n";
        assert_eq!(plan_status(cursor), None);
        assert_eq!(read_plan("/r/.cursor/plans/a.plan.md", cursor).1.declared, []);
        assert_eq!(plan_status("---\ntitle: y\n---\n**Status**: Done\n- [ ] a\n").as_deref(), Some("Done"));
    }

    #[test]
    fn claims_classes() {
        // the move of code inside one file keeps that file; only a file move's source goes
        assert_eq!(
            declared_paths("Move lock acquisition before folder checks in `gas-scripts/sync-to-notion/Code.js`", false),
            vec!["gas-scripts/sync-to-notion/Code.js"]
        );
        assert_eq!(declared_paths("Move `src/a.rs` to `src/b/a.rs`", false), vec!["src/b/a.rs"]);
        // a redirect names the file to check
        assert_eq!(
            declared_paths("Create `src/auth.ts` (Implemented in `src/login/auth.ts`)", false),
            vec!["src/login/auth.ts"]
        );
        // hedges promise nothing
        assert!(declared_paths("Add `src/theme.css` (or inline styles)", false).is_empty());
        assert_eq!(declared_paths("Update `docs/a.md` (if exists) and `src/a.rs`", false), vec!["src/a.rs"]);
        // a system header of an include
        assert!(declared_paths("Add `#include <stdexec/execution.hpp>` support", false).is_empty());
        assert_eq!(declared_paths("Use #include <boost/asio.hpp> in `src/net.cpp`", false), vec!["src/net.cpp"]);
        // a file the code edits when it runs
        assert_eq!(
            declared_paths("Implement `src/settings.ts`, a writer that updates `.vscode/settings.json`", false),
            vec!["src/settings.ts"]
        );
        // a note cites, never promises
        assert!(declared_paths("**Note**: the SDK ships `sdk/include/pico/stdlib.h`", false).is_empty());
        // a folder with its file, in code spans or plain words (a `•` bullet of a JSON field)
        assert_eq!(declared_paths("Create `tests/` with `test_main.py`", false), vec!["tests/test_main.py"]);
        assert_eq!(declared_paths("• tests/ with test_main.py", false), vec!["tests/test_main.py"]);
        assert_eq!(declared_paths("* Set up src/app/ with \"index.ts\".", false), vec!["src/app/index.ts"]);
        // a file cited as another project's is not this plan's output
        assert_eq!(declared_paths("Add `docs/api.md` from upstream's `spec/api.yaml`", false), vec!["docs/api.md"]);
        assert!(declared_paths("Schema sourced from `vendor/openapi/schema.json`", false).is_empty());
        // File(s) fields name dotfiles and licence files
        assert_eq!(declared_paths("`.gitignore`, `LICENSE-MIT`", true), vec![".gitignore", "LICENSE-MIT"]);
    }

    #[test]
    fn names_that_are_not_files_and_hedges_seen_in_real_plans() {
        // a Go identifier, a glob that lost its `*`, example placeholders: no file
        assert_eq!(as_path("io/fs.FileMode", true), None);
        assert_eq!(as_path("*-judgments.jsonl", false), None);
        assert_eq!(as_path("src/foo.go", false), None);
        assert_eq!(as_path("path/to/diff.patch", false), None);
        assert_eq!(as_path("assets/LOGO.PNG", false).as_deref(), Some("assets/LOGO.PNG"), "one case is an extension");
        // Japanese glues "root" to the name: the path starts where the script changes
        assert_eq!(as_path("ルートpyproject.toml", false).as_deref(), Some("pyproject.toml"));
        assert_eq!(as_path("資料/説明.md", false).as_deref(), Some("資料/説明.md"), "a name in that script stays");
        // hedges and alternatives
        assert!(declared_paths("- cmd/atari/init.go or similar - init command", false).is_empty());
        assert!(declared_paths("Create br-issue.md (NOT committed) with the text", false).is_empty());
        assert!(declared_paths("diffview/styles.go (may need a colour)", false).is_empty());
        assert!(declared_paths("Add the type (same file or separate `jwt.d.ts`)", true).is_empty());
        assert_eq!(declared_paths("Update paths: `b/SKILL.md` instead of `a/issue.md`", false), vec!["b/SKILL.md"]);
        assert_eq!(
            declared_paths("Migrate the effects from old/src/index.css to src/index.css", false),
            vec!["src/index.css"]
        );
        // a command line reads its arguments; `touch` makes its file
        assert!(code_span_paths("Ensure `cargo run -- list --input app/main.js` works").is_empty());
        assert_eq!(code_span_paths("Run `touch logs/app.log`"), vec!["logs/app.log"]);
        assert!(declared_paths("Old: `commands/issue-plan.md`", false).is_empty());
        // a hedge reaches only the path right before it
        assert_eq!(
            declared_paths("In crates/cli/main.rs, add the flag. Print JSON with --json (optional).", false),
            vec!["crates/cli/main.rs"]
        );
    }

    #[test]
    fn recognises_paths() {
        assert_eq!(as_path("`metrics_logger.py`", false).as_deref(), Some("metrics_logger.py"));
        assert_eq!(as_path("src/models/user.py.", true).as_deref(), Some("src/models/user.py"));
        assert_eq!(as_path("./a/b.rs:12", true).as_deref(), Some("a/b.rs"));
        assert_eq!(as_path("/music/dedup.py", true).as_deref(), Some("/music/dedup.py"));
        assert_eq!(as_path("Dockerfile", true).as_deref(), Some("Dockerfile"));
        assert_eq!(as_path("Node.js", true), None);
        assert_eq!(as_path("e.g.", true), None);
        assert_eq!(as_path("v1.2", true), None);
        assert_eq!(as_path("https://x.io/a.py", true), None);
        assert_eq!(as_path("ensureDbFolder_()", true), None);
        assert_eq!(as_path("src/", true), None);
        assert_eq!(as_path("../escape.py", true), None);
        assert_eq!(as_path("*.py", true), None);
        assert_eq!(as_path("configs/csl/ieee.csl", true).as_deref(), Some("configs/csl/ieee.csl"));
        assert_eq!(as_path("ieee.csl", true), None);
        assert_eq!(as_path("self.client", false), None);
        assert_eq!(as_path("v1.0/v2.0", true), None);
    }

    #[test]
    fn detects_formats() {
        let tasks = "- [ ] T001 a in src/a.py\n- [x] T002 b\n";
        assert_eq!(detect_format("/r/specs/001-x/tasks.md", ""), PlanFormat::SpecKit);
        assert_eq!(detect_format("/r/.kiro/specs/x/tasks.md", ""), PlanFormat::Kiro);
        assert_eq!(detect_format("/r/.cursor/plans/a.plan.md", "# x"), PlanFormat::Cursor);
        let cursor = "---\nname: x\ntodos:\n  - id: a\n---\n";
        assert_eq!(detect_format("/plans/notes.md", cursor), PlanFormat::Cursor);
        assert_eq!(detect_format("/plans/copy.md", tasks), PlanFormat::SpecKit);
        let kiro = "- [ ] 1. Set up\n  - [ ] 1.1 x\n";
        assert_eq!(detect_format("/plans/tasks.md", kiro), PlanFormat::Kiro);
        let short_ids = "- [ ] T1 one\n- [ ] T2 two\n";
        assert_eq!(detect_format("/plans/PLAN.md", short_ids), PlanFormat::Markdown);
        assert_eq!(detect_format("/plans/PLAN.md", "| a | `b.py` |\n"), PlanFormat::Markdown);
    }

    #[test]
    fn reads_claims() {
        assert_eq!(claim("✅ Complete", true), Some(true));
        assert_eq!(claim("⚠️ 33%", true), Some(false));
        assert_eq!(claim("Implementation Complete - Testing Pending", true), Some(false));
        assert_eq!(claim("Handles completed events", false), None);
        assert_eq!(claim("Not done", true), Some(false));
        assert_eq!(claim("Incomplete", true), Some(false));
        assert_eq!(status_value("**Status:** ✅ Done"), Some("✅ Done"));
    }

    #[test]
    fn spans_and_plain_words() {
        assert_eq!(
            line_paths("| Data Models | `models.py`, `export_loader.py` |"),
            vec!["models.py", "export_loader.py"]
        );
        assert_eq!(
            line_paths("- [ ] T012 [P] [US1] Create User model in src/models/user.py"),
            vec!["src/models/user.py"]
        );
    }
}
