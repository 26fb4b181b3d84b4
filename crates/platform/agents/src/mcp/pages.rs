//! Answers that fit an MCP client: a list that grows with use is paged (`limit`, `cursor`,
//! `next_cursor`), and every other list of a large answer is cut to fit, saying what it cut.
//! MCP clients cap a tool's output (Claude Code at 25,000 tokens, others at 20,000
//! characters) and drop or truncate what is over: an answer cut by the client is silently
//! wrong, one cut here says so.
use anyhow::{Result, anyhow};
use serde_json::{Map, Value, json};

/// The most characters one paged tool answer holds: under what MCP clients commonly cap a
/// tool's output at (Claude Code: 25,000 tokens; others 20,000 characters).
const PAGE_CHARS: usize = 19_000;

/// Puts one page of `items` into `out[key]`: at most `limit` (default 50) from `cursor` (the
/// `next_cursor` of the page before), fewer when the answer would pass [`PAGE_CHARS`], with
/// `total` and `next_cursor` (null on the last page). The pages together hold every item.
pub(super) fn page_into(out: &mut Value, key: &str, items: Vec<Value>, args: &Map<String, Value>) -> Result<()> {
    let limit = match args.get("limit") {
        None | Some(Value::Null) => 50,
        Some(v) => {
            v.as_u64().filter(|n| *n > 0).ok_or_else(|| anyhow!("`limit` must be a positive whole number"))? as usize
        }
    };
    let start = match args.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(v) => v
            .as_str()
            .and_then(|c| c.parse::<usize>().ok())
            .ok_or_else(|| anyhow!("`cursor` must be the `next_cursor` of an earlier page"))?,
    };
    let total = items.len();
    let mut page: Vec<Value> = items.into_iter().skip(start).take(limit).collect();
    out["total"] = json!(total);
    loop {
        let end = start + page.len();
        out["next_cursor"] = if end < total { json!(end.to_string()) } else { Value::Null };
        out[key] = json!(page);
        // One item is always given, however large, so the pages always move on.
        if page.len() <= 1 || out.to_string().len() <= PAGE_CHARS {
            return Ok(());
        }
        let keep = (page.len() * PAGE_CHARS / out.to_string().len()).clamp(1, page.len() - 1);
        page.truncate(keep);
    }
}

/// The per-state item lists of `status`'s `agents[]`: counted in `counts`, listed by `inbox`.
const AGENT_LISTS: [&str; 7] = ["open", "taken", "answered", "stale", "unread", "read", "unreadable"];

/// `status --json` made to fit beside a page of open handoffs: each agent's item lists go
/// (their `counts` stay; `inbox` lists an agent's handoffs), then, while the rest takes more
/// than half an answer, the largest list is halved. `cut` names each list cut, with its length.
pub(super) fn fit_status(out: &mut Value) {
    for a in out["agents"].as_array_mut().into_iter().flatten() {
        if let Some(a) = a.as_object_mut() {
            for k in AGENT_LISTS {
                a.remove(k);
            }
        }
    }
    let mut cut: Vec<(String, usize)> = Vec::new();
    while out.to_string().len() > PAGE_CHARS / 2 {
        let mut largest = None;
        largest_list(out, &mut Vec::new(), &mut largest);
        let Some((_, path)) = largest else { break };
        let Some(Value::Array(items)) = at(out, &path) else { break };
        let name = shown_path(&path);
        if !cut.iter().any(|(p, _)| *p == name) {
            cut.push((name, items.len()));
        }
        items.truncate(items.len() / 2);
    }
    if !cut.is_empty() {
        let lists: Vec<Value> = cut
            .iter()
            .take(10)
            .map(|(path, total)| {
                let shown = lookup(out, path).map_or(0, |v| v.as_array().map_or(0, Vec::len));
                json!({"list": path, "total": total, "shown": shown})
            })
            .collect();
        out["cut"] =
            json!({"lists": cut.len(), "first": lists, "every_item": "`baton status --json` lists every item"});
    }
}

/// A step into a JSON value.
#[derive(Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// The non-empty list under `v` whose text is longest (its length, its path).
fn largest_list(v: &Value, path: &mut Vec<Step>, best: &mut Option<(usize, Vec<Step>)>) {
    match v {
        Value::Array(items) => {
            let len = v.to_string().len();
            if !items.is_empty() && best.as_ref().is_none_or(|(b, _)| len > *b) {
                *best = Some((len, path.clone()));
            }
            for (i, item) in items.iter().enumerate() {
                path.push(Step::Index(i));
                largest_list(item, path, best);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                path.push(Step::Key(k.clone()));
                largest_list(item, path, best);
                path.pop();
            }
        }
        _ => {}
    }
}

fn at<'a>(mut v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    for s in path {
        v = match s {
            Step::Key(k) => v.get_mut(k.as_str())?,
            Step::Index(i) => v.get_mut(*i)?,
        };
    }
    Some(v)
}

/// `agents[3].unread`.
fn shown_path(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) if s.is_empty() => s.push_str(k),
            Step::Key(k) => {
                s.push('.');
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The value at a path [`shown_path`] wrote (keys without dots or brackets).
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut v = v;
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        v = v.get(key)?;
        for idx in rest.split('[').filter(|x| !x.is_empty()) {
            v = v.get(idx.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: usize, width: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"id": format!("H{i}"), "summary": "x".repeat(width)})).collect()
    }

    #[test]
    fn pages_hold_every_item_once_and_each_fits() {
        let all = items(1000, 300);
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut args = Map::new();
            if let Some(c) = &cursor {
                args.insert("cursor".into(), json!(c));
            }
            let mut out = json!({"agent": "Claude"});
            page_into(&mut out, "handoffs", all.clone(), &args).unwrap();
            assert!(out.to_string().len() <= PAGE_CHARS);
            assert_eq!(out["total"], 1000);
            let page = out["handoffs"].as_array().unwrap();
            assert!(!page.is_empty() && page.len() <= 50);
            seen.extend(page.iter().map(|h| h["id"].as_str().unwrap().to_string()));
            match out["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let want: Vec<String> = (0..1000).map(|i| format!("H{i}")).collect();
        assert_eq!(seen, want);
        // One item over the whole budget is still given, so the pages move on.
        let mut out = json!({});
        page_into(&mut out, "handoffs", items(2, PAGE_CHARS * 2), &Map::new()).unwrap();
        assert_eq!((out["handoffs"].as_array().unwrap().len(), &out["next_cursor"]), (1, &json!("1")));
    }

    #[test]
    fn a_large_status_is_cut_to_fit_saying_what_it_cut() {
        let agents: Vec<Value> = (0..30)
            .map(|i| json!({"agent": format!("A{i}"), "counts": {"unread": 1000}, "unread": items(1000, 100), "taken": items(5, 10)}))
            .collect();
        let mut out =
            json!({"agents": agents, "queue": {"ignored": items(20_000, 40), "waiting": 3}, "recent": items(3, 10)});
        fit_status(&mut out);
        let text = out.to_string();
        assert!(text.len() <= PAGE_CHARS / 2, "{} chars", text.len());
        assert_eq!(out["agents"][0]["counts"]["unread"], 1000);
        assert!(out["agents"][0].get("unread").is_none());
        assert_eq!(out["queue"]["waiting"], 3);
        assert_eq!(out["cut"]["first"][0]["list"], "queue.ignored");
        assert_eq!(out["cut"]["first"][0]["total"], 20_000);
        let shown = out["queue"]["ignored"].as_array().unwrap().len();
        assert!(shown > 0 && out["cut"]["first"][0]["shown"] == shown, "{}", out["cut"]);
        // The small lists are left whole: all 30 agents, the 3 recent.
        assert_eq!((out["agents"].as_array().unwrap().len(), out["recent"].as_array().unwrap().len()), (30, 3));
        assert_eq!(out["cut"]["lists"], 1);
        // What fits is left whole, and nothing is said to be cut.
        let mut small = json!({"agents": [], "recent": items(3, 10)});
        fit_status(&mut small);
        assert_eq!(small["recent"].as_array().unwrap().len(), 3);
        assert!(small.get("cut").is_none());
    }
}
