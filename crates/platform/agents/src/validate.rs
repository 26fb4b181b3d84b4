//! `baton validate FILE…` (every problem of every file, exit 1 if any is invalid) and
//! `baton schema task|return` (the published schema, narrowed to one kind).
use std::path::PathBuf;

use anyhow::Result;
use serde_json::{Value, json};

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// Handoff files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print `[{file, valid, kind?, id?, problem?}]`.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum Kind {
    Task,
    Return,
}

/// Checks one file: `Ok(body)` or the problem.
pub fn check(file: &std::path::Path) -> std::result::Result<Value, String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read it: {e}"))?;
    baton_handoff::parse(&bytes).map(|(_, v)| v).map_err(|e| e.message)
}

pub fn run(a: ValidateArgs) -> Result<i32> {
    let mut bad = 0;
    let mut out = Vec::new();
    for f in &a.files {
        match check(f) {
            Ok(v) => {
                let kind = v["kind"].as_str().unwrap_or_default().to_uppercase();
                if !a.json {
                    println!("ok       {}  ({kind} {})", f.display(), v["id"].as_str().unwrap_or_default());
                }
                out.push(json!({"file": f, "valid": true, "kind": v["kind"], "id": v["id"]}));
            }
            Err(problem) => {
                bad += 1;
                if !a.json {
                    println!("INVALID  {}: {problem}", f.display());
                }
                out.push(json!({"file": f, "valid": false, "problem": problem}));
            }
        }
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else if bad > 0 {
        eprintln!(
            "baton: {bad} of {} files are not valid handoffs (`baton schema task` prints what a TASK must be)",
            a.files.len()
        );
    }
    Ok(if bad > 0 { 1 } else { 0 })
}

/// The published schema with `kind` fixed, which is exactly the schema of that kind (the
/// schema's `if kind == …` branches do the rest).
pub fn schema_for(kind: Kind) -> Value {
    let mut s: Value = serde_json::from_str(baton_handoff::schema::SCHEMA_JSON).unwrap_or(Value::Null);
    let (k, title) = match kind {
        Kind::Task => ("task", "baton TASK, version 1"),
        Kind::Return => ("return", "baton RETURN, version 1"),
    };
    s["properties"]["kind"] = json!({"const": k});
    s["title"] = json!(title);
    s["$id"] = json!(format!("urn:baton:handoff:v1:{k}"));
    s
}

pub fn schema(kind: Kind) -> Result<i32> {
    println!("{}", serde_json::to_string_pretty(&schema_for(kind))?);
    Ok(0)
}
