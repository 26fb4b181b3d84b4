//! Writing reports (`PLANS_AUDIT_REPORT_<UTC yyyymmdd_hhmmss>[_N].md` and `.json`, never
//! overwriting) and finding the latest one to compare the next run with.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::AuditError;
use crate::model::{REPORT_SCHEMA, Report};
use crate::render::render_markdown;
use crate::time;

/// Paths of the two files of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    pub markdown: PathBuf,
    pub json: PathBuf,
}

const PREFIX: &str = "PLANS_AUDIT_REPORT_";

fn io(path: &Path, source: std::io::Error) -> AuditError {
    AuditError::Io { path: path.display().to_string(), source }
}

/// Writes the Markdown and JSON reports into `dir` (created if needed). The name takes the
/// report's time; if taken, `_2`, `_3`, … is appended. The stem is claimed by creating the
/// `.md` exclusively; the JSON is written to a temporary name and renamed into place, so a
/// reader never sees half a JSON report.
pub fn write_reports(dir: &Path, report: &Report) -> Result<ReportPaths, AuditError> {
    // Not `baton_fs::ensure_dir`: this crate runs inside the audit plugin too (wasm32, no
    // baton-fs there). A failed `stat` after EEXIST fails this report, not a TASK's RETURN.
    #[allow(clippy::disallowed_methods)]
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let stamp = time::file_stamp(report.generated_unix);
    // compact: 20,000 deliverables make a 19 MB pretty report and about half that compact
    let json = serde_json::to_vec(report)?;
    let md = render_markdown(report);
    for n in 1u32..10_000 {
        let stem = if n == 1 { format!("{PREFIX}{stamp}") } else { format!("{PREFIX}{stamp}_{n}") };
        let md_path = dir.join(format!("{stem}.md"));
        let json_path = dir.join(format!("{stem}.json"));
        if json_path.exists() {
            continue;
        }
        let mut f = match OpenOptions::new().write(true).create_new(true).open(&md_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io(&md_path, e)),
        };
        f.write_all(md.as_bytes()).map_err(|e| io(&md_path, e))?;
        let tmp = dir.join(format!(".{stem}.json.tmp"));
        fs::write(&tmp, &json).map_err(|e| io(&tmp, e))?;
        fs::rename(&tmp, &json_path).map_err(|e| io(&json_path, e))?;
        return Ok(ReportPaths { markdown: md_path, json: json_path });
    }
    Err(AuditError::NoFreeName(dir.display().to_string()))
}

/// Replaces the report whose JSON is `json_path` (and its Markdown beside it) with `report`,
/// each file written to a temporary name and renamed over the old one: a reader sees the old
/// file or the new one, never half of either. For the host's own additions to a report the
/// sandboxed audit wrote (renames found in git history).
pub fn rewrite_reports(json_path: &Path, report: &Report) -> Result<ReportPaths, AuditError> {
    let dir = json_path.parent().unwrap_or(Path::new("."));
    let stem = json_path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| AuditError::NoFreeName(json_path.display().to_string()))?;
    let md_path = dir.join(format!("{stem}.md"));
    let json = serde_json::to_vec(report)?;
    let md = render_markdown(report);
    for (path, bytes) in [(&md_path, md.as_bytes()), (&json_path.to_path_buf(), &json[..])] {
        let tmp = dir.join(format!(".{stem}.rewrite.tmp"));
        let mut f = fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    }
    Ok(ReportPaths { markdown: md_path, json: json_path.to_path_buf() })
}

/// The name a report file takes as the `n`-th report of its second: `n` 1 is the plain
/// name (`PLANS_AUDIT_REPORT_<stamp>.md`), `n` 3 is `PLANS_AUDIT_REPORT_<stamp>_3.md`,
/// whatever number `name` had. `None` for a name that is not a report's.
pub fn numbered_name(name: &str, n: u32) -> Option<String> {
    let (stem, ext) = name.rsplit_once('.')?;
    let rest = stem.strip_prefix(PREFIX)?;
    if rest.len() < 15 || !rest.is_char_boundary(15) {
        return None;
    }
    let (ts, suffix) = rest.split_at(15);
    let stamp_ok = ts.chars().enumerate().all(|(i, c)| if i == 8 { c == '_' } else { c.is_ascii_digit() });
    let suffix_ok = suffix.is_empty() || suffix.strip_prefix('_').is_some_and(|d| d.parse::<u32>().is_ok());
    if !stamp_ok || !suffix_ok {
        return None;
    }
    Some(if n <= 1 { format!("{PREFIX}{ts}.{ext}") } else { format!("{PREFIX}{ts}_{n}.{ext}") })
}

/// Moves one report's files (written elsewhere, a staging folder) into `dir` without ever
/// replacing a file there: each attempt renames every file with `rename` (which must refuse
/// an existing target with `AlreadyExists`: a no-replace rename, atomic, not check-then-move)
/// under the `n`-th name of their second, in the order given (the JSON last: readers look
/// for it); when one is taken, the files moved in that attempt go back and the next `n` is
/// tried. So any number of audits publishing into one folder in the same second each get
/// their own report (`_2`, `_3`, …). A file that is not a report keeps its name (and
/// fails if taken). Returns (from, to) for each file.
pub fn publish(
    files: &[PathBuf],
    dir: &Path,
    rename: &dyn Fn(&Path, &Path) -> std::io::Result<()>,
) -> Result<Vec<(PathBuf, PathBuf)>, AuditError> {
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
    'next: for n in 1u32..10_000 {
        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::with_capacity(files.len());
        for f in files {
            let to = dir.join(numbered_name(&name(f), n).unwrap_or_else(|| name(f)));
            match rename(f, &to) {
                Ok(()) => moved.push((f.clone(), to)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && numbered_name(&name(f), n).is_some() => {
                    // taken by another audit: put back what this attempt moved, try the next n
                    for (from, to) in moved.iter().rev() {
                        fs::rename(to, from).map_err(|e| io(to, e))?;
                    }
                    continue 'next;
                }
                Err(e) => return Err(io(&to, e)),
            }
        }
        return Ok(moved);
    }
    Err(AuditError::NoFreeName(dir.display().to_string()))
}

/// Sort key of a report file name: (timestamp, suffix number).
fn name_key(name: &str) -> Option<(String, u32)> {
    let stem = name.strip_prefix(PREFIX)?.strip_suffix(".json")?;
    if stem.len() < 15 {
        return None;
    }
    let (ts, rest) = stem.split_at(15);
    if !ts.chars().enumerate().all(|(i, c)| if i == 8 { c == '_' } else { c.is_ascii_digit() }) {
        return None;
    }
    let n = match rest {
        "" => 1,
        r => r.strip_prefix('_')?.parse().ok()?,
    };
    Some((ts.to_string(), n))
}

/// The latest readable JSON report in `dir` with its path, skipping unreadable or foreign
/// files. `None` when there is none (or the folder does not exist).
pub fn latest_report(dir: &Path) -> Option<(PathBuf, Report)> {
    let rd = fs::read_dir(dir).ok()?;
    let mut names: Vec<((String, u32), PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            Some((name_key(&name)?, e.path()))
        })
        .collect();
    names.sort();
    for (_, path) in names.into_iter().rev() {
        let Ok(bytes) = fs::read(&path) else { continue };
        if let Ok(r) = serde_json::from_slice::<Report>(&bytes)
            && r.schema == REPORT_SCHEMA
        {
            return Some((path, r));
        }
    }
    None
}

/// The latest report in `dir` (see [`latest_report`]).
pub fn load_previous(dir: &Path) -> Option<Report> {
    latest_report(dir).map(|(_, r)| r)
}
