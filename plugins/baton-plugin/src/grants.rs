//! Grant lookup by logical name. A plugin asks for folders by name (`plans`, `music`); the
//! user may grant several under one name with a suffix (`plans.work`, `plans.home`).
use crate::{Failure, Grant};

/// Every grant named `name` or `name.<suffix>`, in the host's order.
pub fn all(grants: &[Grant], name: &str) -> Vec<Grant> {
    grants
        .iter()
        .filter(|g| g.name == name || g.name.strip_prefix(name).is_some_and(|rest| rest.starts_with('.')))
        .cloned()
        .collect()
}

/// The first grant named `name` (or `name.<suffix>`). None is `invalid-input`, naming the fix.
pub fn require(grants: &[Grant], name: &str, plugin: &str) -> Result<Grant, Failure> {
    all(grants, name).into_iter().next().ok_or_else(|| {
        Failure::InvalidInput(format!(
            "no folder granted as `{name}`: add it to [plugins.{plugin}] grants in baton.toml (e.g. grants = {{ {name} = \"/path\" }})"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(name: &str, path: &str) -> Grant {
        Grant { name: name.into(), guest_path: path.into(), writable: false }
    }

    #[test]
    fn a_name_matches_itself_and_its_suffixed_grants_only() {
        let grants = [g("plans", "/plans"), g("plansx", "/x"), g("plans.work", "/w"), g("repos", "/r")];
        let found: Vec<String> = all(&grants, "plans").into_iter().map(|g| g.guest_path).collect();
        assert_eq!(found, ["/plans", "/w"]);
        assert_eq!(require(&grants, "repos", "demo").unwrap().guest_path, "/r");
    }

    #[test]
    fn a_missing_grant_names_the_table_to_fix() {
        match require(&[], "music", "demo") {
            Err(Failure::InvalidInput(m)) => {
                assert!(m.contains("`music`") && m.contains("[plugins.demo] grants"), "{m}")
            }
            other => panic!("{other:?}"),
        }
    }
}
