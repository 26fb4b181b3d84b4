//! Safe human output: strings that come from plugins (names, descriptions, errors) or from
//! handoffs are printed with control characters and bidirectional overrides escaped, so they
//! cannot move the cursor, recolour or retitle a terminal, or reorder what the user reads.
use std::borrow::Cow;

/// Whether `c` must not reach a terminal as is: C0/C1 controls (ESC, CR, BEL…), DEL, and the
/// Unicode bidi controls (embeddings, overrides, isolates, marks).
fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character as a `\u{…}` escape (`\n` and `\t` as themselves escaped).
pub fn esc(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn terminal_controls_and_bidi_overrides_are_escaped() {
        assert_eq!(esc("plain text, ünïcode ✓"), "plain text, ünïcode ✓");
        assert_eq!(esc("\x1b]0;pwned\x07red\x1b[31m"), "\\u{1b}]0;pwned\\u{7}red\\u{1b}[31m");
        assert_eq!(esc("a\nb\rc"), "a\\nb\\u{d}c");
        assert_eq!(esc("file\u{202e}txt.exe"), "file\\u{202e}txt.exe");
        assert_eq!(esc("\u{2066}x\u{2069}\u{9b}"), "\\u{2066}x\\u{2069}\\u{9b}");
    }
}
