//! The `--where` filter of `baton catalog show` and of plugin queries: `prop=value`,
//! `prop~substring` (case-insensitive), `prop>number`, `prop<number`, joined by `,` meaning
//! *and*. A value in double quotes may hold commas (`artists="Earth, Wind & Fire"`); inside
//! them `""` or `\"` is a quote. On a list property (artists, relations) a condition holds when
//! one element matches. `_key` names the record key.
use serde_json::Value;

use crate::record::RecordOut;

/// What is wrong with a `--where` expression, naming the part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("`{0}`: expected prop=value, prop~text, prop>number or prop<number")]
    NoOperator(String),
    #[error("`{0}`: no property name before the operator")]
    NoProperty(String),
    #[error("`{part}`: `{value}` is not a number")]
    NotANumber { part: String, value: String },
    #[error("`{text}\"{value}`: a quoted value without its closing `\"`")]
    Unclosed { text: String, value: String },
    #[error("`{text}\"{value}\"`: text after a quoted value (join conditions with `,`)")]
    AfterQuote { text: String, value: String },
}

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
    pub fn parse(expr: &str) -> Result<Filter, FilterError> {
        let mut conds = Vec::new();
        for (part, value) in split_conditions(expr)? {
            let part = part.as_str();
            let Some(i) = part.find(['=', '~', '>', '<']) else {
                return Err(FilterError::NoOperator(part.to_string()));
            };
            let prop = part[..i].trim().to_string();
            let value = value.unwrap_or_else(|| part[i + 1..].trim().to_string());
            if prop.is_empty() {
                return Err(FilterError::NoProperty(part.to_string()));
            }
            let num = || {
                value
                    .parse::<f64>()
                    .map_err(|_| FilterError::NotANumber { part: part.to_string(), value: value.clone() })
            };
            conds.push(match &part[i..i + 1] {
                "=" => Cond::Eq(prop, value),
                "~" => Cond::Contains(prop, value.to_lowercase()),
                ">" => Cond::Gt(prop, num()?),
                _ => Cond::Lt(prop, num()?),
            });
        }
        Ok(Filter(conds))
    }

    /// Whether every condition holds for `r`.
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

/// The conditions of `expr`, split on the commas outside double quotes: each condition's text
/// (a quoted value left out of it, after its operator) and its quoted value, unquoted, if any.
fn split_conditions(expr: &str) -> Result<Vec<(String, Option<String>)>, FilterError> {
    let mut out = Vec::new();
    let (mut text, mut quoted): (String, Option<String>) = (String::new(), None);
    let mut chars = expr.chars().peekable();
    let mut push = |text: &mut String, quoted: &mut Option<String>| {
        let t = text.trim().to_string();
        if !t.is_empty() || quoted.is_some() {
            out.push((t, quoted.take()));
        }
        text.clear();
    };
    while let Some(c) = chars.next() {
        match c {
            ',' => push(&mut text, &mut quoted),
            '"' if quoted.is_none() && text.trim_end().ends_with(['=', '~', '>', '<']) => {
                let mut v = String::new();
                loop {
                    match chars.next() {
                        None => return Err(FilterError::Unclosed { text: text.trim().to_string(), value: v }),
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            v.push('"');
                        }
                        Some('\\') if chars.peek() == Some(&'"') => {
                            chars.next();
                            v.push('"');
                        }
                        Some('"') => break,
                        Some(x) => v.push(x),
                    }
                }
                quoted = Some(v);
                text = text.trim_end().to_string();
            }
            _ if quoted.is_some() && !c.is_whitespace() => {
                return Err(FilterError::AfterQuote {
                    text: text.trim().to_string(),
                    value: quoted.unwrap_or_default(),
                });
            }
            _ => text.push(c),
        }
    }
    push(&mut text, &mut quoted);
    Ok(out)
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
        RecordOut {
            key: "t1".into(),
            props: props.as_object().cloned().unwrap_or_default(),
            archived: Default::default(),
        }
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

    #[test]
    fn quoted_values_hold_commas() {
        let props = json!({"artists": ["Earth, Wind & Fire", "The Emotions"], "title": "Say \"Hi\", Now"});
        let r = RecordOut {
            key: "t2".into(),
            props: props.as_object().cloned().unwrap_or_default(),
            archived: Default::default(),
        };
        let f = Filter::parse(r#"artists="Earth, Wind & Fire""#).unwrap();
        assert_eq!(f.0, vec![Cond::Eq("artists".into(), "Earth, Wind & Fire".into())]);
        assert!(f.accepts(&r));
        assert!(Filter::parse(r#"artists = "Earth, Wind & Fire" , _key=t2"#).unwrap().accepts(&r));
        assert!(Filter::parse(r#"title="Say ""Hi"", Now""#).unwrap().accepts(&r));
        assert!(Filter::parse(r#"title~"\"hi\", now""#).unwrap().accepts(&r));
        // Unquoted, the comma still joins two conditions.
        assert!(Filter::parse("artists=Earth, Wind & Fire").is_err());
        assert!(Filter::parse(r#"artists="Earth"#).unwrap_err().to_string().contains("closing"));
        assert!(Filter::parse(r#"artists="a"b"#).unwrap_err().to_string().contains("after a quoted value"));
        // A quote inside an unquoted value is just a character.
        assert_eq!(
            Filter::parse(r#"title=12" single"#).unwrap().0,
            vec![Cond::Eq("title".into(), "12\" single".into())]
        );
    }
}
