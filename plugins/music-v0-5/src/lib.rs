//! `music-v0-5`: a test plugin built with the SDK against `baton:music@0.5.0`. Its one action
//! calls each music interface once under its 0.5.0 name, so a test sees them linked by the host
//! crates and answered: `catalog.collections`, `fingerprint.read-tags`
//! on `tags_path`, and a `sqlite` snapshot of `db_path` with `select count(*) from t`.
use baton_plugin::{Actions, Ctx, Done, Failure, JsonSchema, Plugin, catalog, collection, fingerprint, folder, sqlite};
use serde::Deserialize;
use serde_json::json;

/// What to touch.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Probe {
    /// a guest path for `fingerprint.read-tags`
    tags_path: String,
    /// a guest path of an SQLite file with a table `t`
    db_path: String,
}

struct MusicV05;

impl Plugin for MusicV05 {
    const NAME: &'static str = "music-v0-5";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Calls each baton:music@0.5.0 interface once.";

    fn folders() -> Vec<baton_plugin::FolderRequest> {
        vec![folder("data", false, "the files the probe reads")]
    }

    fn collections() -> Vec<baton_plugin::CollectionRequest> {
        vec![collection("tracks", false, "listed by the probe")]
    }

    fn actions() -> Actions {
        Actions::new().add("probe", "Calls catalog.collections, fingerprint.read-tags and sqlite once each.", probe)
    }
}

fn probe(ctx: &Ctx, p: Probe) -> Result<Done, Failure> {
    let collections: Vec<String> =
        catalog::collections().map_err(ctx.catalog("listing collections"))?.into_iter().map(|c| c.name).collect();
    let tags = match fingerprint::read_tags(&p.tags_path) {
        Ok(_) => "ok".to_string(),
        Err(fingerprint::FpError::Denied(m)) => format!("denied: {m}"),
        Err(e) => format!("other: {e:?}"),
    };
    let count = sqlite::Snapshot::open(&p.db_path)
        .and_then(|s| s.query("select count(*) from t", &[], 10))
        .map_err(|e| Failure::Permanent(format!("sqlite: {e:?}")))?;
    let n = match count.rows.first().and_then(|r| r.first()) {
        Some(sqlite::SqlValue::Integer(n)) => *n,
        other => return Err(Failure::Permanent(format!("sqlite: unexpected {other:?}"))),
    };
    Ok(Done::new("probed", json!({"collections": collections, "tags": tags, "rows": n})))
}

baton_plugin::register!(MusicV05);
