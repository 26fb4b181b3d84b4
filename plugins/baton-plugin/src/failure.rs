//! One policy from a catalog error to a task failure, so every plugin answers the same way:
//! `denied` and `quota` are permanent (a retry cannot help; the message names the grant to
//! add), `invalid` is the task's input (an unknown collection or property, a malformed record
//! built from the params), `io` is transient (the host's database; the host retries).
use crate::Failure;
use crate::catalog::CatalogError;

/// `e` while doing `what` (`reading tracks`), for the plugin `plugin`.
pub fn catalog_failure(plugin: &str, what: &str, e: CatalogError) -> Failure {
    match e {
        CatalogError::Denied(m) => Failure::Permanent(format!(
            "{what}: denied: {m} (grant it under [plugins.{plugin}] catalog = {{ read = [...] }})"
        )),
        CatalogError::Invalid(m) => Failure::InvalidInput(format!("{what}: {m}")),
        CatalogError::Quota(m) => Failure::Permanent(format!("{what}: catalog quota: {m}")),
        CatalogError::Io(m) => Failure::Transient(format!("{what}: {m}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_catalog_error_has_one_failure_kind() {
        match catalog_failure("demo", "reading tracks", CatalogError::Denied("tracks".into())) {
            Failure::Permanent(m) => assert_eq!(
                m,
                "reading tracks: denied: tracks (grant it under [plugins.demo] catalog = { read = [...] })"
            ),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(catalog_failure("demo", "w", CatalogError::Invalid("x".into())), Failure::InvalidInput(m) if m == "w: x")
        );
        assert!(
            matches!(catalog_failure("demo", "w", CatalogError::Quota("x".into())), Failure::Permanent(m) if m == "w: catalog quota: x")
        );
        assert!(
            matches!(catalog_failure("demo", "w", CatalogError::Io("x".into())), Failure::Transient(m) if m == "w: x")
        );
    }
}
