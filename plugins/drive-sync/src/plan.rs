//! Consolidation planning: which child of which duplicate folder goes where.
//!
//! Pure (paths relative to the drive root, content as hashes), so the rules are unit-tested
//! natively and the plan can be journalled in full before anything moves:
//! - a child whose name is free in the canonical folder moves there;
//! - a child identical to the canonical folder's one moves to `_baton_trash/<UTC>/<folder>/`;
//! - a child that clashes with different content moves in as `name (from <folder>).ext`;
//! - the duplicate's marker goes to the trash, then the emptied folder itself
//!   (`_baton_trash/<UTC>/emptied/<folder>`). Nothing is deleted.
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::names::{fold, from_name};

/// The marker file that identifies a collection's folder.
pub const MARKER: &str = ".baton-collection.json";

/// One child of a folder: its name and a hash of its content (a file's bytes, a folder's tree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    pub hash: String,
}

/// A folder of a duplicate group, its children without the marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub name: String,
    pub children: Vec<Child>,
    pub has_marker: bool,
}

/// One planned (and journalled) move, paths relative to the drive root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    pub from: String,
    pub to: String,
    pub reason: String,
}

/// The moves that merge `others` into `canonical`, with `trash` the batch's trash folder
/// (`_baton_trash/<UTC>`).
pub fn merge(canonical: &Folder, others: &[Folder], trash: &str) -> Vec<Move> {
    let mut moves = Vec::new();
    // Names taken in the canonical folder, folded (no case or normalisation twins either).
    let mut taken: BTreeSet<String> = canonical.children.iter().map(|c| fold(&c.name)).collect();
    taken.insert(fold(MARKER));
    let c = &canonical.name;
    for d in others {
        let dn = &d.name;
        for child in &d.children {
            let from = format!("{dn}/{}", child.name);
            let same = canonical.children.iter().find(|x| fold(&x.name) == fold(&child.name));
            match same {
                None if !taken.contains(&fold(&child.name)) => {
                    taken.insert(fold(&child.name));
                    moves.push(Move { from, to: format!("{c}/{}", child.name), reason: "moved".into() });
                }
                Some(x) if x.hash == child.hash => {
                    moves.push(Move {
                        from,
                        to: format!("{trash}/{dn}/{}", child.name),
                        reason: format!("identical copy of {c}/{}", x.name),
                    });
                }
                _ => {
                    let mut name = from_name(&child.name, dn);
                    let mut n = 2;
                    while taken.contains(&fold(&name)) {
                        name = from_name(&child.name, &format!("{dn} {n}"));
                        n += 1;
                    }
                    taken.insert(fold(&name));
                    moves.push(Move {
                        from,
                        to: format!("{c}/{name}"),
                        reason: format!("name clash with different content in {c}"),
                    });
                }
            }
        }
        if d.has_marker {
            moves.push(Move {
                from: format!("{dn}/{MARKER}"),
                to: format!("{trash}/{dn}/{MARKER}"),
                reason: "duplicate marker".into(),
            });
        }
        moves.push(Move {
            from: dn.clone(),
            to: format!("{trash}/emptied/{dn}"),
            reason: "emptied duplicate folder".into(),
        });
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, children: &[(&str, &str)], has_marker: bool) -> Folder {
        Folder {
            name: name.into(),
            children: children.iter().map(|(n, h)| Child { name: (*n).into(), hash: (*h).into() }).collect(),
            has_marker,
        }
    }

    #[test]
    fn free_identical_and_clashing_children() {
        let canonical = f("Tracks", &[("Tracks.csv", "h1"), ("notes.txt", "n1")], true);
        let one = f("Tracks (1)", &[("Tracks.csv", "h1"), ("extra.txt", "e1")], true);
        let two = f("Tracks (2)", &[("Tracks.csv", "h2"), ("extra.txt", "e2"), ("NOTES.txt", "n1")], false);
        let t = "_baton_trash/20260118T070951Z";
        let m = merge(&canonical, &[one, two], t);
        let pairs: Vec<(&str, &str)> = m.iter().map(|m| (m.from.as_str(), m.to.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("Tracks (1)/Tracks.csv", "_baton_trash/20260118T070951Z/Tracks (1)/Tracks.csv"),
                ("Tracks (1)/extra.txt", "Tracks/extra.txt"),
                (
                    "Tracks (1)/.baton-collection.json",
                    "_baton_trash/20260118T070951Z/Tracks (1)/.baton-collection.json"
                ),
                ("Tracks (1)", "_baton_trash/20260118T070951Z/emptied/Tracks (1)"),
                ("Tracks (2)/Tracks.csv", "Tracks/Tracks (from Tracks (2)).csv"),
                // extra.txt arrived from Tracks (1) in this same plan: a clash, kept
                ("Tracks (2)/extra.txt", "Tracks/extra (from Tracks (2)).txt"),
                // same content as notes.txt under another case: identical
                ("Tracks (2)/NOTES.txt", "_baton_trash/20260118T070951Z/Tracks (2)/NOTES.txt"),
                ("Tracks (2)", "_baton_trash/20260118T070951Z/emptied/Tracks (2)"),
            ]
        );
    }

    #[test]
    fn repeated_clash_names_get_a_number() {
        let canonical = f("A", &[("x.csv", "1"), ("x (from B).csv", "2")], false);
        let b = f("B", &[("x.csv", "3")], false);
        let m = merge(&canonical, &[b], "_baton_trash/T");
        assert_eq!(m[0].to, "A/x (from B 2).csv");
    }
}
