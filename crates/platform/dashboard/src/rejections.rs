//! Baton's rejections, read once for everyone who counts them: `baton status` (its
//! `rejections`) and the dashboard's rejected list (`/api/tasks?state=rejected`, the "rejected"
//! counts) both call [`read`], so their totals cannot disagree.
//!
//! The one record of a rejection is the `.error.json` file the pipeline files beside the
//! original in baton's `03_failed/`: every rejection has one, parsed or not (bad JSON, too
//! large, a bad name, a file that names an id but is no valid TASK), with its file, code and
//! reason. The ledger has a task row only for the ones that parsed, so it cannot be the count.
//! A retry moves the original back into the inbox and its record goes with it; a refusal
//! before anything was written (`baton send` refusing a TASK) has no record and is in neither.
use std::path::Path;

use baton_home::Paths;
use serde_json::{Value, json};

/// One `.error.json` record in `03_failed/`: the name it is filed under (the original's name
/// there, without `.error.json`) and the record as written.
#[derive(Debug, Clone)]
pub struct Record {
    pub filed_as: String,
    pub record: Value,
}

impl Record {
    /// The error code the record names (`invalid`, `too_large`, …), `?` if none.
    pub fn code(&self) -> &str {
        self.record["code"].as_str().unwrap_or("?")
    }

    /// The name the file had in the inbox.
    pub fn file(&self) -> &str {
        self.record["file"].as_str().unwrap_or(&self.filed_as)
    }

    /// Why it was refused, in the pipeline's words.
    pub fn reason(&self) -> &str {
        self.record["message"].as_str().unwrap_or("")
    }

    /// When it was filed (RFC 3339).
    pub fn at(&self) -> &str {
        self.record["at"].as_str().unwrap_or("")
    }

    /// The task id, when the file parsed as a TASK.
    pub fn task_id(&self) -> Option<&str> {
        self.record["task_id"].as_str()
    }

    /// What the ledger keeps its history under: the task id, else the claim (`CLAIM~FILE`).
    pub fn key(&self) -> &str {
        self.task_id().or_else(|| self.record["claim"].as_str()).unwrap_or(&self.filed_as)
    }

    fn is_rejection(&self) -> bool {
        serde_json::from_value::<baton_handoff::ErrorCode>(self.record["code"].clone()).is_ok_and(|c| c.is_rejection())
    }
}

/// Every `.error.json` record in `agent`'s `03_failed/` (failures and rejections), newest
/// first. A record that cannot be read or is not JSON is left out: it is no record baton wrote.
/// The record of a file whose name is not UTF-8 (rejected `invalid_name`) is one too: its
/// `filed_as` shows the name with U+FFFD where the bytes were not text.
pub fn failed_records(paths: &Paths, agent: &str) -> Vec<Record> {
    let dir = paths.failed(agent);
    let mut out: Vec<Record> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let filed_as = name.strip_suffix(".error.json")?.to_string();
            let record: Value = serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            Some(Record { filed_as, record })
        })
        .collect();
    out.sort_by(|a, b| b.at().cmp(a.at()));
    out
}

/// The rejections in `agent`'s `03_failed/`, newest first: every record whose code is a
/// rejection (the TASK was refused, never run).
pub fn read(paths: &Paths, agent: &str) -> Vec<Record> {
    failed_records(paths, agent).into_iter().filter(Record::is_rejection).collect()
}

/// `baton status --json`'s `rejections`: `total`, `counts` per code, the `recent` ones (at most
/// `recent`, each with its file, reason and where its RETURN went) and the `folder`.
pub fn summary(paths: &Paths, agent: &str, recent: usize) -> Value {
    let records = read(paths, agent);
    let mut counts = serde_json::Map::new();
    for r in &records {
        let n = counts.get(r.code()).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(r.code().to_string(), json!(n + 1));
    }
    let recent: Vec<Value> = records
        .iter()
        .take(recent)
        .map(|r| {
            let v = &r.record;
            json!({"file": v["file"], "filed_as": r.filed_as, "code": v["code"], "message": v["message"], "at": v["at"], "return": v["return"]})
        })
        .collect();
    json!({"total": records.len(), "counts": counts, "recent": recent, "folder": paths.failed(agent)})
}

/// The title a rejection is listed under when the ledger has no task row for it: the words of
/// a conventional file name (`…__TASK__Fix-The-Thing__…` is "Fix The Thing"), else the name.
pub fn title(file: &str) -> String {
    baton_handoff::names::parse_file_name(file).map(|p| p.slug.replace('-', " ")).unwrap_or_else(|| {
        Path::new(file).file_name().map_or_else(|| file.to_string(), |n| n.to_string_lossy().into_owned())
    })
}
