//! The repositories as an in-memory index (one walk per run), plan discovery during the same
//! walk, and resolving a promised path to files: exact location, relative to the plan,
//! suffix match, bare-name search narrowed by the component's folder and the plan's folder.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use crate::extract::Expected;
use crate::model::AuditIssue;

/// Folders never walked: VCS data, dependency caches, build output.
const SKIP_DIRS: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "node_modules",
    "target",
    "__pycache__",
    ".venv",
    "venv",
    ".tox",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".idea",
    ".gradle",
    ".next",
    ".cache",
];

/// Joins a root as given with a `/`-separated relative path.
pub fn join(root: &str, rel: &str) -> String {
    if rel.is_empty() {
        return root.to_string();
    }
    if root.is_empty() {
        return rel.to_string();
    }
    format!("{}/{}", root.trim_end_matches('/'), rel)
}

/// Walks `root`, calling `f(rel, real)` for every file: `rel` is the path as reached (through
/// symlinked folders), `real` the same file's path without them. A symlinked folder is
/// followed when its target lies inside `root` (a `.kiro/specs` that links to another folder
/// of the repository); one that points outside, or back above itself, is not, and is
/// reported when its name says it holds plans. Inside a wasm32-wasip2 component a root under
/// a preopened folder is walked with WASI calls directly (see `wasi_walk`), which costs one
/// host call per entry instead of several.
#[cfg_attr(not(all(target_os = "wasi", target_env = "p2")), allow(unused_mut))]
pub fn walk(root: &str, errors: &mut Vec<AuditIssue>, mut f: impl FnMut(&str, &str)) {
    #[cfg(all(target_os = "wasi", target_env = "p2"))]
    if wasi_walk::walk(root, errors, &mut f) {
        return;
    }
    walk_std(root, errors, f);
}

/// Directory walking through `wasi:filesystem` directly. wasi-libc's `readdir` asks the
/// host for each entry's metadata hash (an inode stand-in); reading the directory stream
/// ourselves avoids that extra host call per entry, which dominated the audit in wasm.
#[cfg(all(target_os = "wasi", target_env = "p2"))]
pub mod wasi_walk {
    use crate::model::AuditIssue;
    use wasip2::filesystem::preopens::get_directories;
    use wasip2::filesystem::types::{Descriptor, DescriptorFlags, DescriptorType, OpenFlags, PathFlags};

    thread_local! {
        /// The preopened folders, fetched once (each `get-directories` call makes new handles).
        static PREOPENS: Vec<(Descriptor, String)> = get_directories();
    }

    /// Runs `f` with the preopen holding `path` and the path relative to it (`.` for the
    /// preopen itself); `None` when no preopen holds it.
    pub fn with_preopen<R>(path: &str, f: impl FnOnce(&Descriptor, &str) -> R) -> Option<R> {
        PREOPENS.with(|pre| {
            let mut best: Option<(usize, &str, usize)> = None;
            for (i, (_, name)) in pre.iter().enumerate() {
                let name_t = name.trim_end_matches('/');
                let rest = if path == name_t || path == name {
                    Some("")
                } else if name_t.is_empty() {
                    path.strip_prefix('/')
                } else {
                    path.strip_prefix(name_t).and_then(|r| r.strip_prefix('/'))
                };
                if let Some(rest) = rest
                    && best.is_none_or(|b| name_t.len() > b.2)
                {
                    best = Some((i, rest.trim_end_matches('/'), name_t.len()));
                }
            }
            best.map(|(i, rest, _)| f(&pre[i].0, if rest.is_empty() { "." } else { rest }))
        })
    }

    fn nanos(st: &wasip2::filesystem::types::DescriptorStat) -> u64 {
        st.data_modification_timestamp
            .map_or(0, |t| t.seconds.saturating_mul(1_000_000_000).saturating_add(u64::from(t.nanoseconds)))
    }

    fn io_err(e: wasip2::filesystem::types::ErrorCode) -> std::io::Error {
        use wasip2::filesystem::types::ErrorCode as E;
        let kind = match e {
            E::NoEntry => std::io::ErrorKind::NotFound,
            E::Access | E::NotPermitted => std::io::ErrorKind::PermissionDenied,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e.to_string())
    }

    /// (size, mtime ns) of a file, following symlinks. `None`: not under a preopen.
    pub fn stat(path: &str) -> Option<std::io::Result<(u64, u64)>> {
        with_preopen(path, |d, rel| {
            d.stat_at(PathFlags::SYMLINK_FOLLOW, rel).map(|st| (st.size, nanos(&st))).map_err(io_err)
        })
    }

    /// (size, mtime ns, content if size <= limit) of a file: open, stat and one read.
    #[allow(clippy::type_complexity)]
    pub fn read_small(path: &str, limit: u64) -> Option<std::io::Result<(u64, u64, Option<Vec<u8>>)>> {
        with_preopen(path, |d, rel| {
            let f =
                d.open_at(PathFlags::SYMLINK_FOLLOW, rel, OpenFlags::empty(), DescriptorFlags::READ).map_err(io_err)?;
            let st = f.stat().map_err(io_err)?;
            if st.size > limit {
                return Ok((st.size, nanos(&st), None));
            }
            let mut buf = Vec::with_capacity(usize::try_from(st.size).unwrap_or(0));
            loop {
                let want = (st.size + 1).saturating_sub(buf.len() as u64).max(4096);
                let (chunk, eof) = f.read(want, buf.len() as u64).map_err(io_err)?;
                let got = chunk.len();
                buf.extend_from_slice(&chunk);
                if eof || got == 0 || buf.len() as u64 > limit {
                    break;
                }
            }
            Ok((st.size, nanos(&st), Some(buf)))
        })
    }

    fn open_dir(base: &Descriptor, rel: &str) -> Result<Descriptor, String> {
        base.open_at(PathFlags::empty(), rel, OpenFlags::DIRECTORY, DescriptorFlags::READ).map_err(|e| e.to_string())
    }

    /// Returns false when `root` is not under a preopen (the caller falls back to std).
    pub fn walk(root: &str, errors: &mut Vec<AuditIssue>, f: &mut impl FnMut(&str, &str)) -> bool {
        with_preopen(root, |pre, base_rel| walk_in(pre, base_rel, root, errors, f)).is_some()
    }

    fn walk_in(
        pre: &Descriptor,
        base_rel: &str,
        root: &str,
        errors: &mut Vec<AuditIssue>,
        f: &mut impl FnMut(&str, &str),
    ) {
        let full = |rel: &str| match (base_rel == ".", rel.is_empty()) {
            (true, true) => ".".to_string(),
            (true, false) => rel.to_string(),
            (false, true) => base_rel.to_string(),
            (false, false) => format!("{base_rel}/{rel}"),
        };
        let readlink = |rel: &str| pre.readlink_at(&full(rel)).ok();
        super::walk_with(root, errors, f, readlink, |rel_dir| {
            let full_rel = match (base_rel == ".", rel_dir.is_empty()) {
                (true, true) => ".".to_string(),
                (true, false) => rel_dir.to_string(),
                (false, true) => base_rel.to_string(),
                (false, false) => format!("{base_rel}/{rel_dir}"),
            };
            open_dir(pre, &full_rel).and_then(|d| {
                let stream = d.read_directory().map_err(|e| e.to_string())?;
                let mut names = Vec::new();
                while let Some(entry) = stream.read_directory_entry().map_err(|e| e.to_string())? {
                    let is_dir = match entry.type_ {
                        DescriptorType::Directory => super::Kind::Dir,
                        DescriptorType::RegularFile => super::Kind::File,
                        DescriptorType::SymbolicLink => {
                            // a symlinked file counts; a symlinked folder is followed only
                            // inside the repository (see `walk_with`)
                            let target =
                                if full_rel == "." { entry.name.clone() } else { format!("{full_rel}/{}", entry.name) };
                            match pre.stat_at(PathFlags::SYMLINK_FOLLOW, &target) {
                                Ok(st) if st.type_ == DescriptorType::RegularFile => super::Kind::File,
                                Ok(st) if st.type_ == DescriptorType::Directory => super::Kind::Link,
                                // a dangling link or one the sandbox refuses (outside the
                                // grant): `walk_with` reports it by its target
                                _ => super::Kind::Link,
                            }
                        }
                        _ => continue,
                    };
                    names.push((entry.name, is_dir));
                }
                Ok(names)
            })
        });
    }
}

/// What a folder entry is, for the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    File,
    Dir,
    /// A symlink to a folder (or one whose target cannot be reached).
    Link,
}

/// At most this many symlinked folders are followed per root (loops, fan-out).
const MAX_LINKS: usize = 64;

/// `a/b/../c` → `a/c`; `None` when it climbs above the root.
fn normalize(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// Could this symlinked folder hold plans (worth a warning when it is not followed)?
fn plans_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.contains("plan") || n.contains("spec") || n.contains("task") || matches!(n.as_str(), ".kiro" | ".cursor" | "docs")
}

/// The depth-first walk both walkers share: `list(real_dir)` gives one folder's entries as
/// (name, kind); files are passed to `f(rel, real)` in name order, skipped folders are not
/// entered, and a symlinked folder (`readlink(real)` gives its target) is entered when its
/// target resolves inside the root and is not a folder above it.
pub(crate) fn walk_with(
    root: &str,
    errors: &mut Vec<AuditIssue>,
    f: &mut impl FnMut(&str, &str),
    mut readlink: impl FnMut(&str) -> Option<String>,
    mut list: impl FnMut(&str) -> Result<Vec<(String, Kind)>, String>,
) {
    let sub = |d: &str, name: &str| if d.is_empty() { name.to_string() } else { format!("{d}/{name}") };
    let mut links = 0usize;
    // (path as reached, the same folder without symlinks)
    let mut stack: Vec<(String, String)> = vec![(String::new(), String::new())];
    while let Some((rel_dir, real_dir)) = stack.pop() {
        let mut names = match list(&real_dir) {
            Ok(n) => n,
            Err(e) => {
                errors.push(AuditIssue { path: join(root, &rel_dir), message: format!("cannot read folder: {e}") });
                continue;
            }
        };
        names.sort();
        for (name, kind) in names.into_iter().rev() {
            let rel = sub(&rel_dir, &name);
            let real = sub(&real_dir, &name);
            match kind {
                Kind::File => f(&rel, &real),
                Kind::Dir => {
                    if !SKIP_DIRS.contains(&name.as_str()) {
                        stack.push((rel, real));
                    }
                }
                Kind::Link => {
                    if SKIP_DIRS.contains(&name.as_str()) {
                        continue;
                    }
                    let Some(target) = readlink(&real) else { continue };
                    let root_t = root.trim_end_matches('/');
                    let resolved = if let Some(rest) = target.strip_prefix(&format!("{root_t}/")) {
                        normalize(rest)
                    } else if target.starts_with('/') {
                        None
                    } else {
                        normalize(&sub(&real_dir, &target))
                    };
                    let why = match &resolved {
                        None => Some(format!(
                            "symlinked folder points outside the repository ({target}): not followed; pass that folder with --plans or --repo to audit it"
                        )),
                        Some(t) if t.is_empty() || real_dir == *t || real_dir.starts_with(&format!("{t}/")) => {
                            Some(format!("symlinked folder points back to a folder above it ({target}): not followed"))
                        }
                        Some(_) if links >= MAX_LINKS => {
                            Some(format!("more than {MAX_LINKS} symlinked folders: not followed"))
                        }
                        Some(_) => None,
                    };
                    match (why, resolved) {
                        (None, Some(t)) => {
                            links += 1;
                            stack.push((rel, t));
                        }
                        (Some(why), _) if plans_like(&name) => {
                            errors.push(AuditIssue { path: join(root, &rel), message: why });
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn walk_std(root: &str, errors: &mut Vec<AuditIssue>, mut f: impl FnMut(&str, &str)) {
    let readlink = |real: &str| fs::read_link(join(root, real)).ok().map(|t| t.to_string_lossy().replace('\\', "/"));
    walk_with(root, errors, &mut f, readlink, |rel_dir| {
        let rd = fs::read_dir(join(root, rel_dir)).map_err(|e| e.to_string())?;
        let mut names: Vec<(String, Kind)> = Vec::new();
        for entry in rd.flatten() {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(ft) = entry.file_type() else { continue };
            let kind = if ft.is_symlink() {
                // a symlinked file counts; a symlinked folder is followed only inside the
                // repository (see `walk_with`)
                match fs::metadata(entry.path()) {
                    Ok(m) if m.is_file() => Kind::File,
                    Ok(m) if m.is_dir() => Kind::Link,
                    _ => continue,
                }
            } else if ft.is_dir() {
                Kind::Dir
            } else if ft.is_file() {
                Kind::File
            } else {
                continue;
            };
            names.push((name, kind));
        }
        Ok(names)
    });
}

/// Is this repository file a plan by its name/location (`*PLAN*.md`, spec-kit, Kiro, Cursor,
/// OpenSpec `openspec/changes/*/tasks.md`, Taskmaster `.taskmaster/tasks/tasks.json` or the
/// older `tasks/tasks.json`, BMAD `*.story.md` and `docs/stories/*.md`, ExecPlans
/// `.agent/plans/*.md`, Copilot `.copilot-tracking/{plans,changes}/*.md`, beads
/// `.beads/issues.jsonl`, a root `TODO.md`, `PROGRESS.md`, `ROADMAP.md` or `TASKS.md`)? BMAD
/// v6 stories and the folders specs name are found from configuration (`crate::discover`).
pub fn is_repo_plan(rel: &str) -> bool {
    let comps: Vec<&str> = rel.split('/').collect();
    let n = comps.len();
    let name = comps[n - 1];
    if name == "tasks.json" {
        return (n >= 3 && comps[n - 3] == ".taskmaster" && comps[n - 2] == "tasks") || rel == "tasks/tasks.json";
    }
    if name == "issues.jsonl" {
        return n >= 2 && comps[n - 2] == ".beads";
    }
    if n == 1 && is_root_checklist(name) {
        return true;
    }
    if name.ends_with(".md")
        && !name.eq_ignore_ascii_case("README.md")
        && n >= 3
        && (comps[n - 3] == ".copilot-tracking" && matches!(comps[n - 2], "plans" | "changes")
            || comps[n - 3] == ".agent" && comps[n - 2] == "plans")
    {
        return true;
    }
    // ExecPlans kept in a folder named for them (`.agent/execplans/`, `docs/exec-plans/active/`)
    if name.ends_with(".md")
        && !name.eq_ignore_ascii_case("README.md")
        && comps[..n - 1].iter().any(|c| matches!(*c, "execplans" | "exec-plans" | "exec_plans"))
    {
        return true;
    }
    // a Kiro spec in a folder of specs (`.kiro/specs/_archived/<spec>/tasks.md`)
    if name == "tasks.md" && n >= 4 && comps[..n - 2].windows(2).any(|w| w == [".kiro", "specs"]) {
        return true;
    }
    if !name.ends_with(".md") || is_report_name(name) {
        return false;
    }
    if name == "tasks.md" && n >= 4 && comps[..n - 2].windows(2).any(|w| w == ["openspec", "changes"]) {
        return true;
    }
    if name.ends_with(".story.md") || (n >= 2 && comps[n - 2] == "stories" && n >= 3 && comps[n - 3] == "docs") {
        return true;
    }
    if name.contains("PLAN") {
        return true;
    }
    if name == "tasks.md" && n >= 3 && comps[n - 3] == "specs" {
        return true;
    }
    name.ends_with(".plan.md") && n >= 3 && comps[n - 3] == ".cursor" && comps[n - 2] == "plans"
}

/// A root checklist file (`TODO.md`, `PROGRESS.md`, `ROADMAP.md`, `TASKS.md`): a plan when it
/// has boxes.
pub fn is_root_checklist(name: &str) -> bool {
    matches!(name, "TODO.md" | "PROGRESS.md" | "ROADMAP.md" | "TASKS.md")
}

/// Our own reports are never plans.
pub fn is_report_name(name: &str) -> bool {
    name.starts_with("PLANS_AUDIT_REPORT")
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    One(u32),
    Many(Vec<u32>),
    None,
}

/// The outcome of resolving one promised path.
#[derive(Debug, Clone)]
pub struct Resolution {
    pub found: Found,
    /// Exact locations tried (full paths).
    pub checked: Vec<String>,
    /// True when the file was found by searching (bare name or suffix), not where written.
    pub searched: bool,
    /// How the search was narrowed, for the report.
    pub narrowed_by: Option<String>,
}

/// Every file of the repositories, by relative path and by file name.
pub struct FileIndex {
    pub roots: Vec<String>,
    files: Vec<(u16, String)>,
    by_name: HashMap<String, Vec<u32>>,
    by_rel: HashMap<String, Vec<u32>>,
    /// File names in lower case: a plan written on a case-insensitive file system names
    /// `skills/x/skill.md` for `skills/x/SKILL.md`.
    by_lower: HashMap<String, Vec<u32>>,
    /// Each root's `.gitignore` (empty when it has none).
    ignores: Vec<crate::ignore::Ignores>,
}

impl FileIndex {
    /// Walks the roots once. Returns the index and the plan files found in them (full paths).
    pub fn build(roots: &[String], errors: &mut Vec<AuditIssue>) -> (FileIndex, Vec<String>) {
        let mut idx = FileIndex {
            roots: roots.to_vec(),
            files: Vec::new(),
            by_name: HashMap::new(),
            by_rel: HashMap::new(),
            by_lower: HashMap::new(),
            ignores: Vec::new(),
        };
        let mut plans = Vec::new();
        for (ri, root) in roots.iter().enumerate() {
            if !Path::new(root).is_dir() {
                errors.push(AuditIssue {
                    path: root.clone(),
                    message: "repository folder does not exist or is not a folder".into(),
                });
                continue;
            }
            let ri = u16::try_from(ri).unwrap_or(u16::MAX);
            // files reached through a symlinked folder: (rel, real), indexed after the walk
            // unless the same file was reached directly
            let mut linked: Vec<(String, String)> = Vec::new();
            let add = |idx: &mut FileIndex, rel: &str| {
                let id = idx.files.len() as u32;
                let name = rel.rsplit('/').next().unwrap_or(rel);
                idx.by_name.entry(name.to_string()).or_default().push(id);
                idx.by_rel.entry(rel.to_string()).or_default().push(id);
                idx.by_lower.entry(name.to_lowercase()).or_default().push(id);
                idx.files.push((ri, rel.to_string()));
            };
            let mut direct_plans: Vec<String> = Vec::new();
            walk(root, errors, |rel, real| {
                if rel != real {
                    linked.push((rel.to_string(), real.to_string()));
                    return;
                }
                if is_repo_plan(rel) {
                    direct_plans.push(rel.to_string());
                }
                add(&mut idx, rel);
            });
            let mut linked_plans: std::collections::HashSet<String> = std::collections::HashSet::new();
            // the files of this root indexed so far (reached directly, or through a link)
            let mut direct: std::collections::HashSet<String> = std::collections::HashSet::new();
            if !linked.is_empty() {
                direct.extend(idx.files.iter().filter(|(r, _)| *r == ri).map(|(_, rel)| rel.clone()));
            }
            for (rel, real) in &linked {
                if is_repo_plan(rel)
                    && (rel.starts_with(".kiro/")
                        || rel.contains("/.kiro/")
                        || !direct.contains(real)
                        || !is_repo_plan(real))
                {
                    // a plan reached through a link keeps the path its format is read from
                    plans.push(join(root, rel));
                    linked_plans.insert(real.clone());
                }
                if !direct.contains(real) {
                    direct.insert(real.clone());
                    add(&mut idx, rel);
                }
            }
            for rel in direct_plans {
                if !linked_plans.contains(&rel) {
                    plans.push(join(root, &rel));
                }
            }
            idx.ignores.resize(usize::from(ri), crate::ignore::Ignores::default());
            let gitignore = join(root, ".gitignore");
            // One small file per root: read as it is (at most 1 MiB; a larger one is no
            // ignore list anyone wrote by hand, and is read as none).
            let text = std::fs::metadata(&gitignore)
                .ok()
                .filter(|m| m.len() <= 1 << 20)
                .and_then(|_| std::fs::read(&gitignore).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            idx.ignores.push(crate::ignore::Ignores::parse(&text));
        }
        // candidate lists in (root, path) order: deterministic reports, and the files under
        // one folder form a contiguous run (see `nearest`)
        let files = &idx.files;
        for v in idx.by_name.values_mut() {
            v.sort_unstable_by(|a, b| files[*a as usize].cmp(&files[*b as usize]));
        }
        (idx, plans)
    }

    /// Full paths of the files of root `root` under the folder `dir` (relative to it).
    pub fn files_under(&self, root: usize, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", dir.trim_matches('/'));
        self.files
            .iter()
            .filter(|(r, rel)| usize::from(*r) == root && rel.starts_with(&prefix))
            .map(|(r, rel)| join(&self.roots[usize::from(*r)], rel))
            .collect()
    }

    /// Number of indexed files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Full path of file `id`.
    pub fn full(&self, id: u32) -> String {
        let (r, rel) = &self.files[id as usize];
        join(&self.roots[*r as usize], rel)
    }

    /// Where a plan file lies inside a repository: (root, folder relative to the root).
    pub fn locate(&self, plan_path: &str) -> Option<(u16, String)> {
        for (ri, root) in self.roots.iter().enumerate() {
            let prefix = format!("{}/", root.trim_end_matches('/'));
            if let Some(rel) = plan_path.strip_prefix(&prefix) {
                let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
                return Some((u16::try_from(ri).unwrap_or(u16::MAX), dir.to_string()));
            }
        }
        None
    }

    /// Why a missing path is not held to: the repository's `.gitignore` ignores it (written
    /// relative to the plan's folder, or to the root), so no clone has it.
    pub fn ignored(&self, plan_loc: Option<&(u16, String)>, path: &str) -> Option<String> {
        let (r, dir) = plan_loc?;
        let ig = self.ignores.get(usize::from(*r))?;
        let p = path.trim_start_matches('/');
        let pattern =
            ig.ignored_by(p).or_else(|| (!dir.is_empty()).then(|| ig.ignored_by(&format!("{dir}/{p}"))).flatten())?;
        Some(format!(
            "ignored by the repository's .gitignore (`{pattern}`): never committed, so a clone cannot have it"
        ))
    }

    fn lookup_rel(&self, rel: &str) -> Vec<u32> {
        self.by_rel.get(rel).cloned().unwrap_or_default()
    }

    /// Resolves a promised deliverable. Paths with folders: relative to the plan, at each
    /// root, then any file whose path ends with `/<path>`; then the tree form without its
    /// root folder. Bare names: every file of that name, narrowed by the group's folder and
    /// then by the plan's folder. Never picks one of several silently.
    pub fn resolve(&self, e: &Expected, plan_loc: Option<&(u16, String)>) -> Resolution {
        let mut checked = Vec::new();
        let forms = std::iter::once(e.path.as_str()).chain(e.alt.as_deref());
        for form in forms {
            let p = form.trim_start_matches('/');
            if p.contains('/') {
                // relative to the plan's folder, then to each folder above it (a plan in
                // `app/.cursor/plans/` names `main/x.ts` of the project `app/`)
                if let Some((r, dir)) = plan_loc {
                    let mut d = dir.as_str();
                    let mut first = true;
                    while !d.is_empty() {
                        let rel = format!("{d}/{p}");
                        if first {
                            checked.push(join(&self.roots[*r as usize], &rel));
                            first = false;
                        }
                        if let Some(&id) = self.lookup_rel(&rel).iter().find(|&&id| self.files[id as usize].0 == *r) {
                            return Resolution {
                                found: Found::One(id),
                                checked,
                                searched: d != dir.as_str(),
                                narrowed_by: None,
                            };
                        }
                        d = d.rsplit_once('/').map_or("", |(a, _)| a);
                    }
                }
                for root in &self.roots {
                    checked.push(join(root, p));
                }
                let exact = self.lookup_rel(p);
                let found = self.pick(exact, plan_loc);
                if found != Found::None {
                    return Resolution { found, checked, searched: false, narrowed_by: None };
                }
                let name = p.rsplit('/').next().unwrap_or(p);
                let suffix = format!("/{p}");
                let cands: Vec<u32> = self
                    .by_name
                    .get(name)
                    .map(|v| v.iter().copied().filter(|&id| self.files[id as usize].1.ends_with(&suffix)).collect())
                    .unwrap_or_default();
                let found = self.pick(cands, plan_loc);
                if found != Found::None {
                    return Resolution { found, checked, searched: true, narrowed_by: None };
                }
                // a TypeScript or JavaScript module written as `.ts` and kept as `.tsx` (or
                // `.js` / `.jsx`): imports name it without its extension, so it is the same file
                if p.ends_with(".ts") || p.ends_with(".js") {
                    let x = format!("{p}x");
                    if let Found::One(id) = self.pick(self.lookup_rel(&x), plan_loc) {
                        return Resolution {
                            found: Found::One(id),
                            checked,
                            searched: true,
                            narrowed_by: Some(format!("the same module as {x}")),
                        };
                    }
                }
                // the same path in another case, when exactly one file has it (macOS and
                // Windows do not tell `SKILL.md` from `skill.md`; a plan written there names
                // either)
                // (compared without a copy of each candidate: this runs for every missing
                // path, and a common name has a candidate in every project)
                let lname = name.to_lowercase();
                let cased: Vec<u32> = self.by_lower.get(&lname).map_or_else(Vec::new, |v| {
                    v.iter()
                        .copied()
                        .filter(|&id| {
                            let rel = self.files[id as usize].1.as_str();
                            rel.len() >= p.len()
                                && rel.is_char_boundary(rel.len() - p.len())
                                && rel[rel.len() - p.len()..].eq_ignore_ascii_case(p)
                                && (rel.len() == p.len() || rel.as_bytes()[rel.len() - p.len() - 1] == b'/')
                        })
                        .collect()
                });
                if let [id] = cased[..] {
                    return Resolution {
                        found: Found::One(id),
                        checked,
                        searched: true,
                        narrowed_by: Some("the same path in another case".into()),
                    };
                }
                // the one file of that name under the folder the path names: a path written
                // without a level (`crates/cli/main.rs` for `crates/cli/src/main.rs`) or a file
                // moved down within its folder (`app/ContentView.swift`, now
                // `app/Views/ContentView.swift`); several, or none, and it stays missing
                if let Some((dir, _)) = p.rsplit_once('/') {
                    let prefix = format!("{dir}/");
                    let under: Vec<u32> = self.by_name.get(name).map_or_else(Vec::new, |v| {
                        v.iter().copied().filter(|&id| self.files[id as usize].1.starts_with(&prefix)).collect()
                    });
                    if let [id] = under[..] {
                        return Resolution {
                            found: Found::One(id),
                            checked,
                            searched: true,
                            narrowed_by: Some(format!("the only {name} under {dir}/")),
                        };
                    }
                }
                if form.starts_with('/')
                    && let Some((found, suffix)) = self.longest_unique_suffix(p)
                {
                    return Resolution {
                        found,
                        checked,
                        searched: true,
                        narrowed_by: Some(format!("the longest suffix found, {suffix}")),
                    };
                }
            } else {
                if let Some(id) = self.root_file(p, plan_loc) {
                    return Resolution { found: Found::One(id), checked, searched: true, narrowed_by: None };
                }
                let all = self.by_name.get(p).map_or(&[][..], Vec::as_slice);
                let near = self.nearest(all, plan_loc);
                let (cands, narrowed_by) = self.narrow_by_group(near, &e.group);
                let found = match cands.len() {
                    0 => Found::None,
                    1 => Found::One(cands[0]),
                    _ => Found::Many(cands),
                };
                return Resolution { found, checked, searched: true, narrowed_by };
            }
        }
        Resolution { found: Found::None, checked, searched: true, narrowed_by: None }
    }

    /// A bare name (`Cargo.toml`, `README.md`) as a file of the plan's folder or of a folder
    /// above it up to the repository root, nearest first; for a plan outside the
    /// repositories, the one repository root that has it.
    fn root_file(&self, name: &str, plan_loc: Option<&(u16, String)>) -> Option<u32> {
        let at = |r: u16, rel: &str| self.lookup_rel(rel).into_iter().find(|&id| self.files[id as usize].0 == r);
        match plan_loc {
            Some((r, dir)) => {
                let mut d = dir.as_str();
                loop {
                    let rel = if d.is_empty() { name.to_string() } else { format!("{d}/{name}") };
                    if let Some(id) = at(*r, &rel) {
                        return Some(id);
                    }
                    if d.is_empty() {
                        return None;
                    }
                    d = d.rsplit_once('/').map_or("", |(a, _)| a);
                }
            }
            None => {
                let hits: Vec<u32> = self.lookup_rel(name);
                (hits.len() == 1).then(|| hits[0])
            }
        }
    }

    /// An absolute path of the machine that wrote the plan (`/Users/me/proj/app/src/x.tsx`):
    /// the longest suffix of at least a folder and a name that some file of the repositories
    /// ends with; one file, or all of them when several end with it (never a guess).
    fn longest_unique_suffix(&self, p: &str) -> Option<(Found, String)> {
        let comps: Vec<&str> = p.split('/').filter(|c| !c.is_empty()).collect();
        let name = comps.last()?;
        let all = self.by_name.get(*name)?;
        for k in 1..comps.len().saturating_sub(1) {
            let suffix = comps[k..].join("/");
            let tail = format!("/{suffix}");
            let cands: Vec<u32> = all
                .iter()
                .copied()
                .filter(|&id| {
                    let rel = &self.files[id as usize].1;
                    *rel == suffix || rel.ends_with(&tail)
                })
                .collect();
            match cands.len() {
                0 => continue,
                1 => return Some((Found::One(cands[0]), suffix)),
                _ => return Some((Found::Many(cands), suffix)),
            }
        }
        None
    }

    /// Narrows to candidates with a folder named after the group ("Activity Tracker" →
    /// `activity_tracker/`, `activity-tracker/`, `activitytracker/`), when any has one.
    fn narrow_by_group(&self, cands: Vec<u32>, group: &str) -> (Vec<u32>, Option<String>) {
        if cands.len() < 2 {
            return (cands, None);
        }
        let words: Vec<String> =
            group.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_lowercase()).collect();
        if words.is_empty() {
            return (cands, None);
        }
        let keys = [words.join("_"), words.join("-"), words.join("")];
        let narrowed: Vec<u32> = cands
            .iter()
            .copied()
            .filter(|&id| {
                let rel = &self.files[id as usize].1;
                let dir = rel.rsplit_once('/').map_or("", |(d, _)| d);
                !dir.is_empty() && dir.split('/').any(|c| keys.iter().any(|k| k.eq_ignore_ascii_case(c)))
            })
            .collect();
        if narrowed.is_empty() { (cands, None) } else { (narrowed, Some(format!("{}/", keys[0]))) }
    }

    /// The candidates in the nearest folder above the plan (below the repository root)
    /// that holds any; all of them when there is none or the plan is outside the repos.
    /// `cands` must be sorted by (root, path), as every list of the index is.
    fn nearest(&self, cands: &[u32], plan_loc: Option<&(u16, String)>) -> Vec<u32> {
        if cands.len() > 1
            && let Some((r, dir)) = plan_loc
        {
            let mut d = dir.as_str();
            while !d.is_empty() {
                let prefix = format!("{d}/");
                // `cands` is sorted by (root, path): the files under `d/` are one run
                let key = |id: &u32| {
                    let (fr, rel) = &self.files[*id as usize];
                    (*fr, rel.as_str())
                };
                let lo = cands.partition_point(|id| key(id) < (*r, prefix.as_str()));
                let hi = lo
                    + cands[lo..].partition_point(|id| {
                        let (fr, rel) = key(id);
                        fr == *r && rel.starts_with(prefix.as_str())
                    });
                if hi > lo {
                    return cands[lo..hi].to_vec();
                }
                d = d.rsplit_once('/').map_or("", |(p, _)| p);
            }
        }
        cands.to_vec()
    }

    /// One, several (narrowed to those nearest the plan) or none.
    fn pick(&self, cands: Vec<u32>, plan_loc: Option<&(u16, String)>) -> Found {
        let near = self.nearest(&cands, plan_loc);
        match near.len() {
            0 => Found::None,
            1 => Found::One(near[0]),
            _ => Found::Many(near),
        }
    }
}
