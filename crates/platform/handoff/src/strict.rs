//! JSON parsed strictly: an object that names a key twice is refused. `serde_json::Value`
//! keeps the last one silently, so a handoff with two `"plugin"` keys ran whichever came
//! last, while a reader that keeps the first (or a human) saw the other: one file, two
//! meanings. The check is made while the value is built, in the same single pass.
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Why [`parse`] refused the bytes.
#[derive(Debug)]
pub enum StrictError {
    /// Not JSON at all (or cut short).
    Syntax(serde_json::Error),
    /// Valid JSON, but an object names this key twice (the message says where).
    DuplicateKey(String),
}

impl std::fmt::Display for StrictError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StrictError::Syntax(e) => write!(f, "{e}"),
            StrictError::DuplicateKey(m) => write!(f, "{m}"),
        }
    }
}

const DUP: &str = "duplicate key ";

/// Parses `bytes` into a value, refusing an object with a key twice.
pub fn parse(bytes: &[u8]) -> Result<Value, StrictError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = <Strict as de::Deserialize>::deserialize(&mut de).map(|s| s.0).and_then(|v| de.end().map(|()| v));
    value.map_err(|e| {
        let text = e.to_string();
        if text.starts_with(DUP) {
            StrictError::DuplicateKey(format!("{} (a key may appear once per object; remove the other one)", text))
        } else {
            StrictError::Syntax(e)
        }
    })
}

struct Strict(Value);

impl<'de> de::Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("{DUP}{key:?}")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_key_twice_is_refused_at_any_depth_and_the_rest_parses_as_before() {
        assert!(matches!(super::parse(br#"{"a": 1, "a": 2}"#), Err(super::StrictError::DuplicateKey(_))));
        assert!(matches!(
            super::parse(br#"{"p": {"x": [1, {"k": 1, "k": 1}]}}"#),
            Err(super::StrictError::DuplicateKey(_))
        ));
        assert!(matches!(super::parse(br#"{"a": 1"#), Err(super::StrictError::Syntax(_))));
        assert!(matches!(super::parse(br#"{"a": 1} x"#), Err(super::StrictError::Syntax(_))));
        let v = super::parse(br#"{"a": [1, -2, 3.5, "s", null, true], "b": {"a": 1}}"#).unwrap();
        assert_eq!(v, serde_json::json!({"a": [1, -2, 3.5, "s", null, true], "b": {"a": 1}}));
    }
}
