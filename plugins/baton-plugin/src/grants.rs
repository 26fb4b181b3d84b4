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
    all(grants, name)
        .into_iter()
        .next()
        .ok_or_else(|| Failure::InvalidInput(missing(plugin, name, false, "this action")))
}

/// The one message for a grant `plugin` lacks (it starts "grant `NAME`", which the host answers
/// with the one code for a grant problem, `grant_missing`) (`needs`: what needs it, such as "`plan`"): the
/// line to put in baton.toml and the command that puts it there. `writable`: the grant must be.
pub fn missing(plugin: &str, name: &str, writable: bool, needs: &str) -> String {
    format!("grant `{name}` is missing: {needs} needs it; {}", fix(plugin, name, writable))
}

/// The one message for a grant that is there but read-only where `needs` writes.
pub fn read_only(plugin: &str, name: &str, needs: &str) -> String {
    format!("grant `{name}` is read-only: {needs} writes there; {}", fix(plugin, name, true))
}

/// How to grant it: the baton.toml line, and the `baton plugin grant` command that writes it.
fn fix(plugin: &str, name: &str, writable: bool) -> String {
    let (value, flag) = if writable {
        (format!("{{ path = \"/path/to/folder\", writable = true }}"), " --writable")
    } else {
        ("\"/path/to/folder\"".to_string(), "")
    };
    format!(
        "add `{name} = {value}` to [plugins.{plugin}] grants in baton.toml (`grants = {{ {name} = {value} }}`), or run `baton plugin grant {plugin} {name} /path/to/folder{flag}`"
    )
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
                assert!(m.contains("`music = \"/path/to/folder\"` to [plugins.demo] grants"), "{m}");
                assert!(m.contains("`baton plugin grant demo music /path/to/folder`"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        let m = read_only("demo", "exports", "`export`");
        assert!(m.contains("`exports = { path = \"/path/to/folder\", writable = true }`"), "{m}");
        assert!(m.ends_with("`baton plugin grant demo exports /path/to/folder --writable`"), "{m}");
    }
}
