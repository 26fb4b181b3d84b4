//! Attacks the host had not been tested against when the sandbox (budgets, quotas, identity) was first built
//! ("expect to be attacked afterwards by a plugin you have not seen"). Kept apart from the
//! older attacks in `lib.rs` so other test modes can be added there without collisions.
//!
//! `describe()` misbehaves when the bytes after `@@testkit-mode@@` (see [`MODE_SLOT`]) are
//! patched by a test:
//!
//! | mode | `describe()` does | expected host reaction |
//! |---|---|---|
//! | `trap` | panics | the component is refused (install, load, `plugin list`) |
//! | `loop` | loops forever | refused after the 5 s describe budget |
//! | `alloc` | allocates 1 GB | refused: over the describe memory cap |
//! | `huge` | answers with a 100 KB description | refused: over the 64 KiB describe cap |
//!
//! Task actions:
//!
//! | action | does | expected host reaction |
//! |---|---|---|
//! | `recurse` | recurses without bound | `trap` (stack overflow) |
//! | `grow-huge` | `memory.grow` by 65,535 pages (4 GiB) at once | `out_of_memory` |
//! | `emit-to` | emits one follow-up to each name of `params.to` (`baton`, `../x`, escapes…), with `params.title` and `params.correlation_id` | refused ones listed in the result |
//! | `deep-result` | a result nested `params.depth` arrays deep | `plugin_error` (not a host crash) |
//! | `deep-emit` | a follow-up body nested `params.depth` deep | the emit is refused |
//! | `kv-nul` | `kv-set` of keys and values full of NULs, forever | `quota_exceeded` |
//! | `escapes` | logs, summary and result (or with `params.fail`, its failure) with terminal escape sequences | completed (`plugin_error`); printed escaped |
//! | `artifacts` | returns `params.artifacts` as its artifacts | `plugin_error` unless each is a path inside a grant |
use serde_json::{Value, json};

use crate::baton::plugin::host;
use crate::baton::plugin::types::{FollowUp, Level};
use crate::{Failure, Outcome, PluginInfo};

/// `@@testkit-mode@@` then the describe mode, NUL-padded to 32 bytes (empty: behave).
#[used]
static MODE_SLOT: [u8; 48] = *b"@@testkit-mode@@\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

fn mode() -> String {
    let slot: [u8; 48] = unsafe { std::ptr::read_volatile(&MODE_SLOT) };
    let m = &slot[16..];
    let end = m.iter().position(|&b| b == 0).unwrap_or(m.len());
    String::from_utf8_lossy(&m[..end]).into_owned()
}

/// Lets `describe()` misbehave as the patched mode says.
pub fn describe(info: &mut PluginInfo) {
    match mode().as_str() {
        "trap" => panic!("describe() panics on purpose"),
        "loop" => {
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "alloc" => {
            let big = vec![1u8; 1 << 30];
            std::hint::black_box(&big);
        }
        "huge" => info.description = "d".repeat(100 << 10),
        _ => {}
    }
}

pub const ACTIONS: &[(&str, &str)] = &[
    ("recurse", "Recurses without bound."),
    ("grow-huge", "Grows its memory by 4 GiB at once."),
    ("emit-to", "Emits one follow-up to each name in params.to."),
    ("deep-result", "Returns a result nested params.depth arrays deep."),
    ("deep-emit", "Emits a follow-up whose body is nested params.depth deep."),
    ("kv-nul", "kv-set of keys and values full of NUL bytes, forever."),
    ("escapes", "Logs and returns text with terminal escape sequences."),
    ("artifacts", "Returns params.artifacts as its artifacts."),
];

fn done(summary: &str, result: Value) -> Result<Outcome, Failure> {
    Ok(Outcome { summary: summary.into(), result: result.to_string(), artifacts: vec![] })
}

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64, pad: &mut [u8; 256]) -> u64 {
    pad[(depth % 256) as usize] = depth as u8;
    let mut next = *pad;
    std::hint::black_box(&mut next);
    recurse(depth + 1, &mut next) + u64::from(next[0])
}

fn nested(depth: usize) -> String {
    let mut s = String::with_capacity(depth * 2 + 16);
    s.push_str("{\"deep\":");
    s.extend(std::iter::repeat_n('[', depth));
    s.extend(std::iter::repeat_n(']', depth));
    s.push('}');
    s
}

/// The attacks of this module; `None` for an action that is not one.
pub fn run(action: &str, params: &Value) -> Option<Result<Outcome, Failure>> {
    let num = |k: &str, d: u64| params.get(k).and_then(Value::as_u64).unwrap_or(d);
    Some(match action {
        "recurse" => {
            let mut pad = [0u8; 256];
            done("recursed", json!({ "depth": recurse(0, &mut pad) }))
        }
        "grow-huge" => {
            let before = core::arch::wasm32::memory_grow(0, 65_535);
            done("grew", json!({ "previous_pages": before }))
        }
        "emit-to" => {
            let names: Vec<String> = params
                .get("to")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default();
            let title = params.get("title").and_then(Value::as_str).unwrap_or("hostile follow-up");
            let correlation_id = params.get("correlation_id").and_then(Value::as_str).map(String::from);
            let (mut accepted, mut refused) = (vec![], vec![]);
            for to in names {
                let f = FollowUp {
                    to: to.clone(),
                    title: title.into(),
                    body: "{\"note\":\"x\"}".into(),
                    correlation_id: correlation_id.clone(),
                };
                match host::emit(&f) {
                    Ok(_) => accepted.push(to),
                    Err(e) => refused.push(json!({ "to": to, "error": e })),
                }
            }
            done("emitted", json!({ "accepted": accepted, "refused": refused }))
        }
        "deep-result" => {
            let depth = num("depth", 100_000) as usize;
            Ok(Outcome { summary: "deep".into(), result: nested(depth), artifacts: vec![] })
        }
        "deep-emit" => {
            let f = FollowUp {
                to: "Victim-Agent".into(),
                title: "deep".into(),
                body: nested(num("depth", 100_000) as usize),
                correlation_id: None,
            };
            match host::emit(&f) {
                Ok(id) => done("emitted", json!({ "id": id })),
                Err(e) => Err(Failure::Permanent(format!("emit refused: {e}"))),
            }
        }
        "kv-nul" => {
            let value = format!("\0{}", "\0v".repeat(num("value_bytes", 4096) as usize / 2));
            for i in 0u64.. {
                host::kv_set(&format!("\0k\0{i}\0"), &value);
            }
            unreachable!()
        }
        "escapes" => {
            let evil = "\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[31mred\u{202e}txt.exe\r\rover";
            host::log(Level::Warn, evil);
            host::progress(1, 2, evil);
            if params.get("fail").and_then(Value::as_bool).unwrap_or(false) {
                return Some(Err(Failure::Permanent(evil.into())));
            }
            Ok(Outcome { summary: evil.into(), result: json!({ "text": evil }).to_string(), artifacts: vec![] })
        }
        "artifacts" => {
            let list: Vec<String> = params
                .get("artifacts")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
                .unwrap_or_default();
            Ok(Outcome { summary: "artifacts".into(), result: "{}".into(), artifacts: list })
        }
        _ => return None,
    })
}
