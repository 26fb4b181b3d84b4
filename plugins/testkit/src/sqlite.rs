//! The `sqlite` action: reads a granted SQLite file through `baton:plugin/sqlite` (0.4.0), page by
//! page, so tests can check snapshots, paging and refusals end to end.
//!
//! Params: `path` (guest path of the database), `sql`, `args` (JSON values bound as `?1`, `?2`, …),
//! `page` (`max-rows` per call, default 10). With `keyset: true` the query is repeated while the
//! host says `more`, the last argument replaced by the first column of the last row (`WHERE id >
//! ?1 ORDER BY id`). With `leak: true` the snapshot is never dropped (the host must remove its
//! copy when the task ends). Result: `{"columns", "rows", "pages"}`; a refusal fails the task
//! with `"<kind>: <message>"` (`denied: …`, `busy: …`).
use serde_json::{Value, json};

use crate::baton::plugin::sqlite::{Snapshot, SqlValue, SqliteError};
use crate::{Failure, Outcome};

fn failure(e: SqliteError) -> Failure {
    let (kind, m) = match e {
        SqliteError::Denied(m) => ("denied", m),
        SqliteError::Invalid(m) => ("invalid", m),
        SqliteError::Busy(m) => ("busy", m),
        SqliteError::Io(m) => ("io", m),
    };
    Failure::Permanent(format!("{kind}: {m}"))
}

fn to_sql(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(*b as i64),
        Value::Number(n) => {
            n.as_i64().map(SqlValue::Integer).unwrap_or_else(|| SqlValue::Real(n.as_f64().unwrap_or(0.0)))
        }
        Value::String(s) => SqlValue::Text(s.clone()),
        other => SqlValue::Text(other.to_string()),
    }
}

fn to_json(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => json!(i),
        SqlValue::Real(f) => json!(f),
        SqlValue::Text(s) => json!(s),
        SqlValue::Blob(b) => json!({ "blob_bytes": b.len() }),
    }
}

pub fn run(params: &Value) -> Result<Outcome, Failure> {
    let path = params.get("path").and_then(Value::as_str).unwrap_or("/data/MediaLibrary.db");
    let sql = params.get("sql").and_then(Value::as_str).unwrap_or("SELECT 1");
    let page = params.get("page").and_then(Value::as_u64).unwrap_or(10) as u32;
    let keyset = params.get("keyset").and_then(Value::as_bool).unwrap_or(false);
    let mut args: Vec<SqlValue> =
        params.get("args").and_then(Value::as_array).map(|a| a.iter().map(to_sql).collect()).unwrap_or_default();
    let snapshot = Snapshot::open(path).map_err(failure)?;
    let mut rows = Vec::new();
    let mut columns = Vec::new();
    let mut pages = 0;
    loop {
        let got = snapshot.query(sql, &args, page).map_err(failure)?;
        pages += 1;
        columns = got.columns;
        let last = got.rows.last().and_then(|r| r.first()).cloned();
        rows.extend(got.rows.iter().map(|r| Value::Array(r.iter().map(to_json).collect())));
        match (keyset && got.more, last, args.last_mut()) {
            (true, Some(v), Some(a)) => *a = v,
            _ => break,
        }
    }
    if params.get("leak").and_then(Value::as_bool).unwrap_or(false) {
        std::mem::forget(snapshot);
    }
    let result = json!({ "columns": columns, "rows": rows, "pages": pages });
    Ok(Outcome {
        summary: format!("{} rows in {pages} pages", rows.len()),
        result: result.to_string(),
        artifacts: vec![],
    })
}
