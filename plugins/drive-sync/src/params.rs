//! The params of each `drive-sync` action. Their JSON Schemas are generated from these types
//! (the SDK puts them in `describe()`), so the host checks a task's params before the plugin
//! runs; every field but `undo`'s `batch` is optional, so `{}` is valid where it always was.
use schemars::JsonSchema;
use serde::Deserialize;

/// `sync`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    /// collections to sync; default: every granted one
    pub collections: Option<Vec<String>>,
    /// merge duplicate folders (consolidate, executed) before syncing
    #[serde(default)]
    pub consolidate_first: bool,
}

/// `consolidate` and `accept-edits`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecParams {
    /// do it; default false: a dry run that shows what would happen
    #[serde(default)]
    pub execute: bool,
}

/// `check`: no params.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckParams {}

/// `undo`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UndoParams {
    /// the batch id from a consolidate or accept-edits result
    pub batch: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn schema<P: JsonSchema>() -> Value {
        serde_json::from_str(&baton_plugin::schema_of::<P>()).unwrap()
    }

    #[test]
    fn the_schemas_keep_their_shapes() {
        for s in [schema::<SyncParams>(), schema::<ExecParams>(), schema::<CheckParams>(), schema::<UndoParams>()] {
            assert_eq!(s["type"], "object", "{s}");
            assert_eq!(s["additionalProperties"], false, "{s}");
        }
        assert_eq!(schema::<UndoParams>()["required"], json!(["batch"]));
        assert!(schema::<SyncParams>().get("required").is_none());
        assert_eq!(schema::<ExecParams>()["properties"]["execute"]["type"], "boolean");
        assert_eq!(
            schema::<SyncParams>()["properties"]["collections"]["description"],
            "collections to sync; default: every granted one"
        );
    }

    #[test]
    fn empty_params_are_valid_except_for_undo() {
        assert!(serde_json::from_value::<SyncParams>(json!({})).is_ok());
        assert!(serde_json::from_value::<ExecParams>(json!({})).is_ok());
        assert!(serde_json::from_value::<CheckParams>(json!({})).is_ok());
        assert!(serde_json::from_value::<UndoParams>(json!({})).is_err());
        assert!(serde_json::from_value::<ExecParams>(json!({"execute": true, "x": 1})).is_err());
    }
}
