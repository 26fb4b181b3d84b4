//! Showing paths the way the user knows them: the audit runs inside a sandbox where folders
//! are mounted at `/plans`, `/repos`…; reports and CLI output map them back to host paths.

/// Replaces each mount prefix (`roots`: guest, host) that starts a path (at the start of the text or after a
/// space, quote, backtick or parenthesis, and followed by `/` or the end of the path).
pub fn rewrite_roots(s: &str, mounts: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = mounts.iter().collect();
    sorted.sort_by_key(|(g, _)| std::cmp::Reverse(g.len()));
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let bytes = s.as_bytes();
    'outer: while i < s.len() {
        let starts_path = i == 0 || matches!(bytes[i - 1], b' ' | b'`' | b'"' | b'\'' | b'(' | b'[' | b'\t' | b'\n');
        if starts_path && bytes[i] == b'/' {
            for (guest, host) in &sorted {
                if s[i..].starts_with(guest.as_str()) {
                    let end = i + guest.len();
                    if end == s.len() || matches!(bytes[end], b'/' | b' ' | b'`' | b'"' | b')' | b',' | b':') {
                        out.push_str(host);
                        i = end;
                        continue 'outer;
                    }
                }
            }
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_paths_become_host_paths() {
        let m =
            vec![("/repos".to_string(), "/home/me/app".to_string()), ("/repos-2".to_string(), "/srv/b".to_string())];
        assert_eq!(rewrite_roots("found at /repos/x.py", &m), "found at /home/me/app/x.py");
        assert_eq!(rewrite_roots("/repos-2/y.py", &m), "/srv/b/y.py");
        assert_eq!(rewrite_roots("`/repos`", &m), "`/home/me/app`");
        assert_eq!(rewrite_roots("/reposx/z and a/repos/b", &m), "/reposx/z and a/repos/b");
    }
}
