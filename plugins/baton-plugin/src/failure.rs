//! One policy from a catalog error to a task failure, so every plugin answers the same way:
//! `denied` and `quota` are permanent (a retry cannot help), `invalid` is the task's input (an unknown collection or property, a malformed record
//! built from the params), `io` is transient (the host's database; the host retries).
use crate::Failure;
use crate::catalog::CatalogError;

/// `e` while doing `what` (`reading tracks`). The host's message is passed on as it is: the
/// host names the fix where there is one (the `baton.toml` grant to add, for this plugin and
/// collection, read or write), so a second fix added here would only repeat it, or get it
/// wrong (a refused write is not fixed by a read grant).
pub fn catalog_failure(what: &str, e: CatalogError) -> Failure {
    match e {
        CatalogError::Denied(m) => Failure::Permanent(format!("{what}: denied: {m}")),
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
        let host = "tracks: `demo` may not read this collection (grant it in baton.toml: [plugins.demo] catalog = { read = [\"tracks\"] })";
        match catalog_failure("reading tracks", CatalogError::Denied(host.into())) {
            Failure::Permanent(m) => assert_eq!(m, format!("reading tracks: denied: {host}"), "the host's fix, once"),
            other => panic!("{other:?}"),
        }
        assert!(
            matches!(catalog_failure("w", CatalogError::Invalid("x".into())), Failure::InvalidInput(m) if m == "w: x")
        );
        assert!(
            matches!(catalog_failure("w", CatalogError::Quota("x".into())), Failure::Permanent(m) if m == "w: catalog quota: x")
        );
        assert!(matches!(catalog_failure("w", CatalogError::Io("x".into())), Failure::Transient(m) if m == "w: x"));
    }
}
