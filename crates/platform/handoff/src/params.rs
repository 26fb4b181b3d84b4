//! A TASK's `params` checked against its action's `params_schema`, the JSON Schema a plugin
//! publishes in `describe`. Both halves come from outside (the schema from a plugin, the params
//! from whoever dropped the TASK), so compiling refuses what could reach out or run long: no
//! remote `$ref` is fetched, and `pattern` runs on the `regex` crate (linear time, size-capped).
//! It lives here, not in the runtime, so the check is one pure function that the pipeline runs
//! before a plugin starts and that the fuzz targets (`fuzz/`) drive without loading wasm.
use serde_json::Value;

/// One action's compiled `params_schema`.
#[derive(Debug)]
pub struct ParamsCheck {
    validator: jsonschema::Validator,
}

/// A remote (or file) `$ref` in a params schema is never fetched.
struct NoRemoteRefs;

impl jsonschema::Retrieve for NoRemoteRefs {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        Err(format!("`$ref` to {uri} is not allowed: a params_schema must be self-contained").into())
    }
}

/// Why an action's `params_schema` cannot check params, or why params do not match it.
#[derive(Debug, thiserror::Error)]
pub enum ParamsError {
    /// The schema itself: not a JSON Schema, a remote `$ref`, a `pattern` over the size limit.
    #[error(
        "the params_schema of action `{action}` is not a usable JSON Schema: {}",
        truncate(source.to_string(), 500)
    )]
    Schema { action: String, source: Box<jsonschema::ValidationError<'static>> },
    /// The task's params: up to three problems, each with where it is.
    #[error("params do not match the params_schema of `{action}`: {}", problems.join("; "))]
    Mismatch { action: String, problems: Vec<String> },
}

/// Compiles `action`'s `schema`; `Err` says why it is no usable JSON Schema.
pub fn compile(action: &str, schema: &Value) -> Result<ParamsCheck, ParamsError> {
    jsonschema::options()
        .with_retriever(NoRemoteRefs)
        .with_pattern_options(jsonschema::PatternOptions::regex().size_limit(1 << 20).dfa_size_limit(1 << 20))
        .build(schema)
        .map(|validator| ParamsCheck { validator })
        .map_err(|e| ParamsError::Schema { action: action.to_string(), source: Box::new(e) })
}

impl ParamsCheck {
    /// `Ok` when `params` match; else up to three problems, each with where it is.
    pub fn check(&self, action: &str, params: &Value) -> Result<(), ParamsError> {
        let problems: Vec<String> = self
            .validator
            .iter_errors(params)
            .take(3)
            .map(|e| {
                let at = e.instance_path().to_string();
                // The params object itself has the empty JSON pointer.
                let at = if at.is_empty() { "in the params object".to_string() } else { format!("at `{at}`") };
                format!("{} ({at})", truncate(e.to_string(), 300))
            })
            .collect();
        if problems.is_empty() {
            return Ok(());
        }
        Err(ParamsError::Mismatch { action: action.to_string(), problems })
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, saying how long it was.
fn truncate(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    let note = format!(" …(truncated, {} bytes)", s.len());
    let mut cut = max.saturating_sub(note.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + note.len());
    out.push_str(s.get(..cut).unwrap_or_default());
    out.push_str(&note);
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn params_are_checked_and_remote_refs_refused() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": false});
        let c = super::compile("a", &schema).unwrap();
        assert!(c.check("a", &json!({"n": 1})).is_ok());
        let e = c.check("a", &json!({"n": "x", "m": 1})).unwrap_err().to_string();
        assert!(e.starts_with("params do not match the params_schema of `a`:") && e.contains("`/n`"), "{e}");
        let e = super::compile("r", &json!({"$ref": "https://example.com/s.json"})).unwrap_err().to_string();
        assert!(e.contains("not a usable JSON Schema") && e.contains("not allowed"), "{e}");
    }

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        let cut = super::truncate("é".repeat(400), 300);
        assert!(cut.len() <= 300 && cut.ends_with("(truncated, 800 bytes)"), "{cut}");
    }
}
