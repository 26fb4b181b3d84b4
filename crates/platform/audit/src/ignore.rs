//! A repository's root `.gitignore`, read so that a claimed output git never holds (a file
//! copied in at build time, `frontend/public/ort-wasm-*.wasm`; a local note "not committed")
//! is not called missing in a clone: its absence proves nothing. The patterns of gitignore(5)
//! that plans meet: `#` comments, `!` negations, a trailing `/` (folders only), a `/` inside
//! or at the start (anchored at the root), `*`, `?` and `**`. Nested `.gitignore` files and
//! `.git/info/exclude` are not read.

/// The patterns of one `.gitignore`, in order (a later negation wins over an earlier match).
#[derive(Debug, Default, Clone)]
pub struct Ignores {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
struct Rule {
    glob: String,
    negated: bool,
    dir_only: bool,
    anchored: bool,
    text: String,
}

impl Ignores {
    /// Reads the text of a `.gitignore`.
    pub fn parse(text: &str) -> Ignores {
        let mut rules = Vec::new();
        for line in text.lines() {
            let t = line.trim_end();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let (negated, t) = match t.strip_prefix('!') {
                Some(r) => (true, r),
                None => (false, t),
            };
            let dir_only = t.ends_with('/');
            let t = t.trim_end_matches('/');
            let anchored = t.contains('/');
            let glob = t.trim_start_matches('/').to_string();
            if glob.is_empty() {
                continue;
            }
            rules.push(Rule { glob, negated, dir_only, anchored, text: line.trim().to_string() });
        }
        Ignores { rules }
    }

    /// The pattern that ignores `rel` (a path relative to the repository root), if one does:
    /// the file itself, or a folder above it.
    pub fn ignored_by(&self, rel: &str) -> Option<&str> {
        let rel = rel.trim_start_matches("./").trim_start_matches('/');
        let comps: Vec<&str> = rel.split('/').collect();
        let mut verdict: Option<&str> = None;
        for r in &self.rules {
            let hit = (1..=comps.len()).any(|k| {
                let is_dir = k < comps.len();
                if r.dir_only && !is_dir {
                    return false;
                }
                if r.anchored { glob_match(&r.glob, &comps[..k].join("/")) } else { glob_match(&r.glob, comps[k - 1]) }
            });
            if hit {
                verdict = if r.negated { None } else { Some(r.text.as_str()) };
            }
        }
        verdict
    }
}

/// `*` and `?` within one path component, `**` across components.
fn glob_match(glob: &str, text: &str) -> bool {
    fn go(g: &[u8], t: &[u8]) -> bool {
        match g.first() {
            None => t.is_empty(),
            Some(b'*') if g.get(1) == Some(&b'*') => {
                let rest = g[2..].strip_prefix(b"/").unwrap_or(&g[2..]);
                (0..=t.len()).any(|i| (i == 0 || t[i - 1] == b'/') && go(rest, &t[i..])) || go(rest, t)
            }
            Some(b'*') => (0..=t.len()).take_while(|&i| i == 0 || t[i - 1] != b'/').any(|i| go(&g[1..], &t[i..])),
            Some(b'?') => t.first().is_some_and(|&c| c != b'/') && go(&g[1..], &t[1..]),
            Some(&c) => t.first() == Some(&c) && go(&g[1..], &t[1..]),
        }
    }
    go(glob.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_git_would_not_hold() {
        // a .gitignore of the kind a web app keeps: build copies, a local notes file, a folder
        let g = Ignores::parse(
            "# deps\nnode_modules/\nfrontend/public/ort-wasm-*.wasm\n*.local.md\n!keep.local.md\n/dist\n.env\n",
        );
        assert_eq!(
            g.ignored_by("frontend/public/ort-wasm-simd-threaded.wasm"),
            Some("frontend/public/ort-wasm-*.wasm")
        );
        assert_eq!(g.ignored_by("notes/todo.local.md"), Some("*.local.md"));
        assert_eq!(g.ignored_by("keep.local.md"), None, "a later negation wins");
        assert_eq!(g.ignored_by("web/node_modules/x/index.js"), Some("node_modules/"));
        assert_eq!(g.ignored_by("dist/app.js"), Some("/dist"));
        assert_eq!(g.ignored_by("src/dist.rs"), None, "an anchored pattern matches from the root only");
        assert_eq!(g.ignored_by("config/.env"), Some(".env"));
        // the wasm pattern stays in its folder: `*` never crosses a `/`
        assert_eq!(g.ignored_by("frontend/public/sub/ort-wasm-x.wasm"), None);
        assert_eq!(g.ignored_by("src/app.ts"), None);
        assert!(glob_match("a/**/b.rs", "a/x/y/b.rs") && glob_match("a/**/b.rs", "a/b.rs"));
    }
}
