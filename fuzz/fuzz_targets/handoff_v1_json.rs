//! The v1 handoff JSON (`baton.handoff/v1`), as the pipeline reads a TASK or RETURN: strict JSON
//! (a key twice is refused), then the published schema. Checked beyond "no panic": the
//! validator generated at build time and the schema compiled at run time decide alike; what
//! parses, written back (pretty, as another editor would save it), parses to the same body and
//! content hash; and the dialect reader sees it as v1 with its id.
#![no_main]
use baton_handoff::{dialect, schema, strict};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn compiled() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let s: serde_json::Value = serde_json::from_str(schema::SCHEMA_JSON).expect("the bundled schema is JSON");
        jsonschema::validator_for(&s).expect("the bundled schema compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    compiled();
    baton_fuzz::bounded("handoff_v1_json", data.len(), || {
        let Ok(value) = strict::parse(data) else { return };
        assert_eq!(
            schema::conforms(&value),
            compiled().is_valid(&value),
            "the generated validator and the compiled schema disagree on {value}"
        );
        let Ok((body, v)) = schema::parse_value(value) else { return };
        let again = serde_json::to_vec_pretty(&v).expect("a value serialises");
        let (body2, v2) = schema::parse(&again).expect("a handoff written back parses");
        assert_eq!(body, body2);
        assert_eq!(schema::content_hash(&v), schema::content_hash(&v2));
        let seen = dialect::read_value("20260118T070951Z__TASK__T__A.json", v).expect("a v1 handoff is readable");
        assert_eq!(seen.dialect, dialect::Dialect::V1);
        assert_eq!(seen.id.as_deref(), Some(body.id()));
    });
});
