//! Each action's params as a type: the SDK parses them and generates the JSON Schema the host
//! checks before the plugin runs (and `baton call` and A2A's card list), so no schema is
//! written by hand. Every field is optional but `plan_id`: `{}` is valid for the others.
use baton_plugin::JsonSchema;
use serde::Deserialize;

use crate::logic::Primary;

/// A long result's page (each list holds at most 500 entries; `"truncated": true` says a later
/// page has more).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Paged {
    /// Which page of the result (from 0).
    #[serde(default)]
    pub page: usize,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Import {
    /// Apply an export that would remove more than half of a playlist (withheld otherwise).
    #[serde(default)]
    pub accept_shrink: bool,
    /// Which page of the last import's result (from 0; a page > 0 reads the stored result).
    #[serde(default)]
    pub page: usize,
}

/// One track: by `uri`, `isrc`, `title` with `artist` (and `duration_ms`), or the guest `path`
/// of a local file (the first given wins).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Track {
    /// A Spotify URI (`spotify:track:…`).
    pub uri: Option<String>,
    pub isrc: Option<String>,
    pub title: Option<String>,
    /// Needed with `title`.
    pub artist: Option<String>,
    pub duration_ms: Option<u64>,
    /// The guest path of a local file (`/music/…`).
    pub path: Option<String>,
    /// Which page of the result (from 0).
    #[serde(default)]
    pub page: usize,
}

/// Which playlist decides a track's folder.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PrimaryRule {
    /// The playlist the track was added to first (`oldest`) or last (`newest`), or the one
    /// the sender names when asked (`ask`).
    Order(Order),
    /// Playlist names, most important first; a track in none of them falls back to `oldest`.
    Ranked(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    Oldest,
    Newest,
    /// Ask the TASK's sender, for each track on several playlists, which one decides its
    /// folder (the TASK waits for each answer; `plan` runs again with them).
    Ask,
}

impl From<PrimaryRule> for Primary {
    fn from(r: PrimaryRule) -> Primary {
        match r {
            PrimaryRule::Order(Order::Oldest) => Primary::Oldest,
            PrimaryRule::Order(Order::Newest) => Primary::Newest,
            PrimaryRule::Order(Order::Ask) => Primary::Ask,
            PrimaryRule::Ranked(names) => Primary::Ranked(names),
        }
    }
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The folder layout, e.g. `{p}/{a} - {t}` (default from `[plugins.spotify.settings]`).
    pub layout: Option<String>,
    /// Default from `[plugins.spotify.settings]`, else `oldest`.
    pub primary: Option<PrimaryRule>,
    /// Which page of the result (from 0).
    #[serde(default)]
    pub page: usize,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanId {
    /// The `plan_id` a `plan` answered.
    pub plan_id: String,
    /// Which page of the result (from 0).
    #[serde(default)]
    pub page: usize,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NextTrack {
    /// Ask for this track explicitly.
    pub uri: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn schema<P: JsonSchema>() -> Value {
        serde_json::from_str(&baton_plugin::schema_of::<P>()).unwrap()
    }

    #[test]
    fn empty_params_parse_and_the_schemas_admit_them() {
        for s in [schema::<Paged>(), schema::<Import>(), schema::<Track>(), schema::<Plan>(), schema::<NextTrack>()] {
            assert_eq!(s["type"], "object", "{s}");
            assert_eq!(s["additionalProperties"], false, "{s}");
            assert!(s.get("required").is_none_or(|r| r.as_array().unwrap().is_empty()), "{s}");
        }
        assert_eq!(schema::<PlanId>()["required"], json!(["plan_id"]));
        let p: Plan = serde_json::from_value(json!({})).unwrap();
        assert!(p.primary.is_none() && p.page == 0);
    }

    #[test]
    fn primary_is_an_order_or_a_ranking() {
        let p =
            |v: Value| serde_json::from_value::<Plan>(json!({ "primary": v })).map(|p| p.primary.map(Primary::from));
        assert_eq!(p(json!("newest")).unwrap(), Some(Primary::Newest));
        assert_eq!(p(json!("ask")).unwrap(), Some(Primary::Ask));
        assert_eq!(
            p(json!(["Road Trip", "Gym"])).unwrap(),
            Some(Primary::Ranked(vec!["Road Trip".into(), "Gym".into()]))
        );
        assert!(p(json!("sideways")).is_err());
        assert!(p(json!([1])).is_err());
        assert!(serde_json::from_value::<Import>(json!({"accept_shrink": "yes"})).is_err());
        assert!(serde_json::from_value::<Paged>(json!({"pages": 1})).is_err(), "unknown keys are refused");
    }
}
