//! Asking back: what a TASK's input request and its answer must be. A plugin (or an agent)
//! asks with a JSON Schema; an answer is checked against it before anything is written, and
//! the refusal names the field (`/name: 5 is not of type "string"`), never the document.
use serde_json::Value;

/// Why an input schema or an answer was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputRefused(pub String);

/// Whether `schema` is a JSON Schema this build can check answers against.
pub fn check_schema(schema: &Value) -> Result<(), InputRefused> {
    if !schema.is_object() {
        return Err(InputRefused("the input schema is not a JSON object".into()));
    }
    jsonschema::validator_for(schema).map(|_| ()).map_err(|e| InputRefused(format!("the input schema is invalid: {e}")))
}

/// Whether `input` answers a request whose schema is `schema`: the first problems (up to three),
/// each with the JSON path of the field it concerns.
pub fn check_input(schema: &Value, input: &Value) -> Result<(), InputRefused> {
    let validator = jsonschema::validator_for(schema)
        .map_err(|e| InputRefused(format!("the request's input schema is invalid: {e}")))?;
    let problems: Vec<String> = validator
        .iter_errors(input)
        .take(3)
        .map(|e| {
            let path = e.instance_path().to_string();
            let at = if path.is_empty() { "(the input)".to_string() } else { path };
            format!("{at}: {e}")
        })
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(InputRefused(format!("the input does not match the request's schema: {}", problems.join("; "))))
}

/// Whether `id` can name a question: an id's rule (`A-Z a-z 0-9 _ -`, single dots between
/// parts, at most 128 bytes), so it fits in a file name and a handoff id.
pub fn is_request_id(id: &str) -> bool {
    crate::names::is_valid_name(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_is_checked_against_the_schema_and_the_refusal_names_the_field() {
        let schema = json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
        assert!(check_schema(&schema).is_ok());
        assert!(check_input(&schema, &json!({"name": "Ada"})).is_ok());
        let e = check_input(&schema, &json!({"name": 5})).unwrap_err().0;
        assert!(e.contains("/name") && e.contains("string"), "{e}");
        let e = check_input(&schema, &json!({})).unwrap_err().0;
        assert!(e.contains("name"), "{e}");
        assert!(check_schema(&json!([1])).is_err());
        assert!(is_request_id("name-1.a_b") && !is_request_id("") && !is_request_id("a b") && !is_request_id("a..b"));
    }
}
