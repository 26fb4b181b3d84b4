//! A TASK's `params` checked against its action's `params_schema`
//! (`baton_handoff::params`, what the pipeline runs before a plugin starts), with the real
//! schemas of first-party plugins' actions (spotify, drive-sync), generated as the plugins
//! publish them. Checked beyond "no panic": what the host's check admits, the plugin's typed
//! params accept (else the plugin fails on params the host called valid); the only gap allowed
//! is the one JSON Schema cannot close, a number outside the Rust integer type's range.
#![no_main]
use baton_handoff::params::{self, ParamsCheck, ParamsError};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::OnceLock;

type Typed = fn(Value) -> Result<(), serde_json::Error>;

fn typed<P: DeserializeOwned>(v: Value) -> Result<(), serde_json::Error> {
    serde_json::from_value::<P>(v).map(drop)
}

fn action<P: DeserializeOwned + baton_plugin::JsonSchema>(name: &'static str) -> (&'static str, ParamsCheck, Typed) {
    let schema: Value = serde_json::from_str(&baton_plugin::schema_of::<P>()).expect("a generated schema is JSON");
    let check = params::compile(name, &schema).unwrap_or_else(|e| panic!("{name}: {e}"));
    (name, check, typed::<P>)
}

fn actions() -> &'static [(&'static str, ParamsCheck, Typed)] {
    static A: OnceLock<Vec<(&'static str, ParamsCheck, Typed)>> = OnceLock::new();
    A.get_or_init(|| {
        use drive_sync::params as d;
        use spotify::params as s;
        vec![
            action::<s::Paged>("spotify.status"),
            action::<s::Import>("spotify.import"),
            action::<s::Track>("spotify.track"),
            action::<s::Plan>("spotify.plan"),
            action::<s::PlanId>("spotify.apply"),
            action::<s::NextTrack>("spotify.next"),
            action::<d::SyncParams>("drive-sync.sync"),
            action::<d::ExecParams>("drive-sync.execute"),
            action::<d::CheckParams>("drive-sync.check"),
            action::<d::UndoParams>("drive-sync.undo"),
        ]
    })
}

/// A number the schema's `integer` admits that the Rust type cannot hold (too large, negative
/// for an unsigned type, or written as a float such as `1e3`).
fn out_of_range(e: &serde_json::Error) -> bool {
    let m = e.to_string();
    m.starts_with("invalid value: integer") || m.starts_with("invalid type: floating point")
}

fuzz_target!(|data: &[u8]| {
    let all = actions();
    baton_fuzz::bounded("params_json", data.len(), || {
        // The input's length picks the action, so a seed is read whole as params.
        let (pick, body) = (data.len(), data);
        let (name, check, typed) = &all[pick % all.len()];
        // The pipeline reads a TASK strictly (a key twice is refused) before its params reach
        // the check.
        let Ok(value) = baton_handoff::strict::parse(body) else { return };
        match check.check(name, &value) {
            Ok(()) => {
                if let Err(e) = typed(value.clone()) {
                    assert!(out_of_range(&e), "{name}: the host admitted params the plugin refuses: {e}; {value}");
                }
            }
            Err(e) => {
                let m = e.to_string();
                let ParamsError::Mismatch { problems, .. } = &e else {
                    panic!("{name}: a compiled schema's check answered a schema error: {m}")
                };
                assert!((1..=3).contains(&problems.len()), "{m}");
                assert!(m.starts_with("params do not match") && m.len() < 2000, "{m}");
            }
        }
    });
});
