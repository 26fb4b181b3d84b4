//! The `--where` filter of `baton catalog show` and of plugin queries: `prop=value`,
//! `prop~substring` (case-insensitive), `prop>number`, `prop<number`, joined by `,` meaning
//! *and*. On a list property (artists, relations) a condition holds when one element matches.
//! `_key` names the record key.
use serde_json::Value;

use crate::store::RecordOut;

/// One condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Eq(String, String),
    Contains(String, String),
    Gt(String, f64),
    Lt(String, f64),
}

/// All conditions must hold.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter(pub Vec<Cond>);

impl Filter {
    /// Parses `EXPR`; the error says which part is wrong.
    pub fn parse(expr: &str) -> Result<Filter, String> {
        let mut conds = Vec::new();
        for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some(i) = part.find(['=', '~', '>', '<']) else {
                return Err(format!("`{part}`: expected prop=value, prop~text, prop>number or prop<number"));
            };
            let (prop, value) = (part[..i].trim().to_string(), part[i + 1..].trim().to_string());
            if prop.is_empty() {
                return Err(format!("`{part}`: no property name before the operator"));
            }
            let num = || value.parse::<f64>().map_err(|_| format!("`{part}`: `{value}` is not a number"));
            conds.push(match &part[i..i + 1] {
                "=" => Cond::Eq(prop, value),
                "~" => Cond::Contains(prop, value.to_lowercase()),
                ">" => Cond::Gt(prop, num()?),
                _ => Cond::Lt(prop, num()?),
            });
        }
        Ok(Filter(conds))
    }

    pub fn accepts(&self, r: &RecordOut) -> bool {
        self.0.iter().all(|c| {
            let prop = match c {
                Cond::Eq(p, _) | Cond::Contains(p, _) | Cond::Gt(p, _) | Cond::Lt(p, _) => p,
            };
            let key = Value::String(r.key.clone());
            let v = if prop == "_key" { Some(&key) } else { r.props.get(prop).or_else(|| r.archived.get(prop)) };
            let Some(v) = v else { return false };
            let items: Vec<&Value> = match v {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            items.iter().any(|x| holds(c, x))
        })
    }
}

fn holds(c: &Cond, v: &Value) -> bool {
    let text = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match c {
        Cond::Eq(_, want) => match (v, want.parse::<f64>()) {
            (Value::Number(n), Ok(w)) => n.as_f64() == Some(w),
            _ => text == *want,
        },
        Cond::Contains(_, sub) => text.to_lowercase().contains(sub.as_str()),
        Cond::Gt(_, n) => v.as_f64().is_some_and(|x| x > *n),
        Cond::Lt(_, n) => v.as_f64().is_some_and(|x| x < *n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec() -> RecordOut {
        let props = json!({"title": "Levels", "artists": ["Avicii"], "duration_ms": 199000});
        RecordOut { key: "t1".into(), props: props.as_object().cloned().unwrap_or_default(), archived: Default::default() }
    }

    #[test]
    fn conditions() {
        let r = rec();
        assert!(Filter::parse("title=Levels").unwrap().accepts(&r));
        assert!(!Filter::parse("title=levels").unwrap().accepts(&r));
        assert!(Filter::parse("title~EVE, artists=Avicii, duration_ms>190000").unwrap().accepts(&r));
        assert!(!Filter::parse("duration_ms<190000").unwrap().accepts(&r));
        assert!(Filter::parse("_key=t1").unwrap().accepts(&r));
        assert!(!Filter::parse("album~x").unwrap().accepts(&r));
        assert!(Filter::parse("duration_ms>abc").is_err());
        assert!(Filter::parse("title").is_err());
    }
}
