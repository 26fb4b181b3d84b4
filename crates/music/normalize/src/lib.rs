//! Text normalisation for track matching: the same song spelled by Spotify, djay, Rekordbox,
//! Beatport or a file name must come out the same, and a remix or a live take must not.
//!
//! Rules (published in the README):
//! - Unicode is folded: NFD, combining marks dropped (so NFC and NFD spellings, "Beyoncé" and
//!   "Beyonce", are equal), letters without a decomposition mapped (ø→o, æ→ae, ß→ss, ł→l, đ→d,
//!   œ→oe, þ→th), lower case; apostrophes vanish, other punctuation becomes a space.
//! - A title is split into its core, a *version* and featured artists. Bracketed parts
//!   `(...)`/`[...]` and a ` - ` suffix are read as: a feature ("feat.", "ft.", "featuring",
//!   "with") whose names join the artists; a neutral tag ("Original Mix", "Remastered 2011",
//!   "2004 Remaster", "Album Version", "Explicit", ...) that is dropped; a version ("Skrillex
//!   Remix", "Radio Edit", "Live", "Acoustic", "Extended Mix", ...: any part with a version word)
//!   that must be equal on both sides; anything else stays part of the title. A bare
//!   " feat. X" in the title is a feature too.
//! - In titles, `&` is the word "and" ("Dust & Diesel" is "Dust and Diesel"), as it is between
//!   artists, and "Pt." and "Pt" are the word "part" ("Pt. 2" is "Part 2").
//! - ISRCs ([`isrc`]): hyphens, spaces and underscores dropped, upper case (`GB-SMU-14-29088` is
//!   `GBSMU1429088`); anything not shaped like an ISRC is none.
//! - Artists are split on `,` `;` `&` `+` `/` "and" "feat." "ft." "featuring" "vs", and on `x`
//!   only when it stands alone between two names ("Skrillex x Diplo", not "Lil Nas X" or
//!   "X Ambassadors"); a leading "The" is dropped; the result is a set.
pub mod identity;
pub mod playlist;

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Folds `s`: NFD without combining marks, special letters mapped, lower case, punctuation as
/// spaces (apostrophes removed), single spaces.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let mapped: &str = match c {
            'ø' | 'Ø' => "o",
            'æ' | 'Æ' => "ae",
            'œ' | 'Œ' => "oe",
            'ß' => "ss",
            'ł' | 'Ł' => "l",
            'đ' | 'Đ' | 'ð' | 'Ð' => "d",
            'þ' | 'Þ' => "th",
            'ı' => "i",
            '\'' | '’' | '‘' | '`' | '´' => "",
            _ => {
                if c.is_alphanumeric() {
                    for l in c.to_lowercase() {
                        out.push(l);
                    }
                } else if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
                continue;
            }
        };
        out.push_str(mapped);
    }
    let trimmed = out.trim_end();
    trimmed.to_string()
}

/// Words that make a bracketed part or dash suffix a *version* of the song.
const VERSION_WORDS: &[&str] = &[
    "remix",
    "mix",
    "edit",
    "version",
    "live",
    "acoustic",
    "instrumental",
    "vip",
    "extended",
    "dub",
    "rework",
    "bootleg",
    "demo",
    "reprise",
    "unplugged",
    "club",
    "radio",
    "session",
    "sessions",
    "cover",
    "flip",
    "refix",
    "remode",
    "karaoke",
    "orchestral",
    "piano",
    "stripped",
    "sped",
    "slowed",
    "rmx",
    "mashup",
    "medley",
    "en vivo",
];

/// Whether a folded bracketed part is a tag that says nothing about the recording.
fn neutral(part: &str) -> bool {
    let words: Vec<&str> = part.split(' ').filter(|w| !w.is_empty()).collect();
    let rest: Vec<&str> =
        words.iter().copied().filter(|w| !(w.len() == 4 && w.chars().all(|c| c.is_ascii_digit()))).collect();
    matches!(
        rest.join(" ").as_str(),
        "original mix"
            | "original version"
            | "original"
            | "remaster"
            | "remastered"
            | "remastered version"
            | "remaster version"
            | "digital remaster"
            | "digitally remastered"
            | "album version"
            | "single version"
            | "explicit"
            | "clean"
            | "explicit version"
            | "clean version"
            | "mono"
            | "stereo"
    ) || (words.len() <= 4
        && words.iter().any(|w| w.starts_with("remaster"))
        && !words.iter().any(|w| is_version_word(w)))
}

fn is_version_word(w: &str) -> bool {
    VERSION_WORDS.contains(&w)
}

fn has_version_word(part: &str) -> bool {
    let words: Vec<&str> = part.split(' ').collect();
    words.iter().any(|w| is_version_word(w)) || part.contains("en vivo")
}

/// A title's parts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Title {
    /// Folded title without neutral tags, versions or features.
    pub core: String,
    /// Folded version parts, sorted and joined ("" for the original).
    pub version: String,
    /// Folded names from "feat." parts.
    pub featured: Vec<String>,
}

const FEAT: &[&str] = &["feat", "ft", "featuring", "with", "feat.", "ft."];

/// Splits a raw title into core, version and featured artists.
pub fn title(raw: &str) -> Title {
    // `&` is the word "and" in a title (an artist field splits on both alike).
    let amp;
    let raw = if raw.contains('&') {
        amp = raw.replace('&', " and ");
        amp.as_str()
    } else {
        raw
    };
    let mut core_parts: Vec<String> = Vec::new();
    let mut versions: Vec<String> = Vec::new();
    let mut featured: Vec<String> = Vec::new();
    // 1. Bracketed parts, anywhere but at the very start ("(It Goes Like) Nanana").
    let mut text = String::new();
    let mut rest = raw.trim();
    while let Some(open) = rest.find(['(', '[']) {
        let close_ch = if rest.as_bytes()[open] == b'(' { ')' } else { ']' };
        let Some(len) = rest[open + 1..].find(close_ch) else { break };
        let inner = &rest[open + 1..open + 1 + len];
        text.push_str(&rest[..open]);
        if open == 0 && text.trim().is_empty() {
            text.push_str(inner);
            text.push(' ');
        } else {
            classify(inner, &mut text, &mut versions, &mut featured);
        }
        rest = &rest[open + 2 + len..];
    }
    text.push_str(rest);
    // 2. " - suffix" parts (Spotify writes versions that way), then a bare " feat. X".
    let mut segments = text.split(" - ");
    let head = segments.next().unwrap_or("").to_string();
    let mut head_text = head;
    for seg in segments {
        classify(seg, &mut head_text, &mut versions, &mut featured);
    }
    let folded = fold(&head_text);
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let cut = words.iter().position(|w| matches!(*w, "feat" | "ft" | "featuring")).filter(|&i| i > 0);
    match cut {
        Some(i) => {
            core_parts.push(words[..i].join(" "));
            featured.extend(artist_names(&words[i + 1..].join(" ")));
        }
        None => core_parts.push(words.join(" ")),
    }
    for v in &mut versions {
        *v = part_word(v);
    }
    versions.sort();
    let core = strip_the(&part_word(&core_parts.join(" ")));
    Title { core, version: versions.join(" "), featured }
}

/// Folded title words with `pt` (from "Pt." or "Pt") written `part`: one word, as `&` is "and".
fn part_word(folded: &str) -> String {
    folded.split(' ').map(|w| if w == "pt" { "part" } else { w }).collect::<Vec<_>>().join(" ")
}

/// Sorts one bracketed part or dash suffix into the title text, the versions or the features.
fn classify(part: &str, text: &mut String, versions: &mut Vec<String>, featured: &mut Vec<String>) {
    let f = fold(part);
    let first = f.split(' ').next().unwrap_or("");
    if FEAT.contains(&first) {
        let names = f[first.len()..].trim();
        featured.extend(artist_names(names));
    } else if f.is_empty() || neutral(&f) {
    } else if has_version_word(&f) {
        let v: Vec<&str> = f.split(' ').filter(|w| !w.is_empty() && *w != "the").collect();
        versions.push(v.join(" "));
    } else {
        text.push(' ');
        text.push_str(part);
    }
}

fn strip_the(s: &str) -> String {
    s.strip_prefix("the ").unwrap_or(s).to_string()
}

/// An ISRC in its canonical form (`CC-XXX-YY-NNNNN` → `CCXXXYYNNNNN`, upper case), or None when
/// it is not one. Exports write both forms (`GB-SMU-14-29088` in a watsonbox file): one
/// recording must compare equal under either, and a hyphenated one must not be dropped.
pub fn isrc(s: &str) -> Option<String> {
    let c: String = s.trim().chars().filter(|c| !matches!(c, '-' | ' ' | '_')).collect::<String>().to_ascii_uppercase();
    let b = c.as_bytes();
    let ok = b.len() == 12
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..5].iter().all(u8::is_ascii_alphanumeric)
        && b[5..].iter().all(u8::is_ascii_digit);
    ok.then_some(c)
}

/// `%XX` escapes decoded (as in `file://` URIs and `spotify:local:` URIs); a `%` not followed by
/// two hex digits stays as written, and bytes that are not UTF-8 become U+FFFD.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The set of folded artist names in one artist field (or several).
pub fn artists<'a>(fields: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    fields.into_iter().flat_map(|f| artist_names(&fold_keep_separators(f))).collect()
}

/// Folds but keeps `&`, `+`, `,`, `;` and `/` as separate words, so they can split names.
fn fold_keep_separators(s: &str) -> String {
    let spaced: String = s
        .chars()
        .flat_map(|c| match c {
            '&' => " and ".chars().collect::<Vec<_>>(),
            '+' | ',' | ';' | '/' => " , ".chars().collect(),
            c => vec![c],
        })
        .collect();
    spaced.split(" , ").map(fold).collect::<Vec<_>>().join(" , ")
}

fn is_separator(w: &str) -> bool {
    matches!(w, "," | "and" | "feat" | "ft" | "featuring" | "vs" | "with")
}

/// Splits folded text into artist names.
fn artist_names(folded: &str) -> Vec<String> {
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    let mut names = Vec::new();
    let mut cur: Vec<&str> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let sep = match *w {
            "x" => {
                // `x` between two names: not first, not last, not before another separator, and
                // not "X x" (there the first X ends a name).
                !cur.is_empty() && words.get(i + 1).is_some_and(|n| !is_separator(n) && *n != "x")
            }
            w => is_separator(w),
        };
        if sep {
            if !cur.is_empty() {
                names.push(strip_the(&cur.join(" ")));
            }
            cur.clear();
        } else {
            cur.push(w);
        }
    }
    if !cur.is_empty() {
        names.push(strip_the(&cur.join(" ")));
    }
    names.retain(|n| !n.is_empty());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unicode_is_folded_nfc_nfd_alike() {
        let nfc = "Beyonc\u{e9}";
        let nfd = "Beyonce\u{301}";
        assert_eq!(fold(nfc), "beyonce");
        assert_eq!(fold(nfd), "beyonce");
        assert_eq!(fold("MØ"), "mo");
        assert_eq!(fold("RÜFÜS DU SOL"), "rufus du sol");
        assert_eq!(fold("Don't You Worry Child"), "dont you worry child");
    }

    #[test]
    fn titles() {
        let t = title("Bohemian Rhapsody - Remastered 2011");
        assert_eq!((t.core.as_str(), t.version.as_str()), ("bohemian rhapsody", ""));
        assert_eq!(title("\"Heroes\" - 2017 Remaster").core, "heroes");
        assert_eq!(title("Opus (Original Mix)").version, "");
        assert_eq!(title("Levels - Skrillex Remix"), title("Levels (Skrillex Remix)"));
        assert_eq!(title("Levels - Skrillex Remix").version, "skrillex remix");
        let f = title("One Kiss (feat. Dua Lipa)");
        assert_eq!((f.core.as_str(), f.featured.clone()), ("one kiss", vec!["dua lipa".to_string()]));
        let f = title("Titanium ft. Sia");
        assert_eq!((f.core.as_str(), f.featured.clone()), ("titanium", vec!["sia".to_string()]));
        assert_eq!(title("(It Goes Like) Nanana").core, "it goes like nanana");
        assert_eq!(title("Blue (Da Ba Dee)").core, "blue da ba dee");
        assert_eq!(title("Hotel California - Live On MTV, 1994").version, "live on mtv 1994");
        assert_eq!(title("The Sound of Silence").core, "sound of silence");
    }

    #[test]
    fn ampersand_and_and_are_one_word_in_titles() {
        assert_eq!(title("Dust & Diesel"), title("Dust and Diesel"));
        assert_eq!(title("Dust&Diesel").core, "dust and diesel");
        assert_eq!(title("Rock & Roll (Live)").version, "live");
        assert_eq!(title("Adagio Pt. 2"), title("Adagio Part 2"));
        assert_eq!(title("Adagio Pt 2").core, "adagio part 2");
        assert_eq!(title("Opus (Pt. II Remix)").version, "part ii remix");
    }

    #[test]
    fn percent_escapes() {
        assert_eq!(percent_decode("01%20Invisible%20(RED)"), "01 Invisible (RED)");
        assert_eq!(percent_decode("Garage+%26+Co%"), "Garage+&+Co%");
        assert_eq!(percent_decode("%E9%98%BF%zz"), "阿%zz");
    }

    #[test]
    fn isrcs() {
        assert_eq!(isrc("GB-SMU-14-29088").as_deref(), Some("GBSMU1429088"));
        assert_eq!(isrc(" usum71703085 ").as_deref(), Some("USUM71703085"));
        assert_eq!(isrc("GBAYE06014"), None);
        assert_eq!(isrc("12AYE0601498"), None);
    }

    #[test]
    fn artist_sets() {
        assert_eq!(artists(["Simon & Garfunkel"]), artists(["Simon and Garfunkel"]));
        assert_eq!(artists(["The Weeknd"]), set(&["weeknd"]));
        assert_eq!(artists(["Skrillex x Diplo"]), set(&["diplo", "skrillex"]));
        assert_eq!(artists(["Lil Nas X, Billy Ray Cyrus"]), set(&["billy ray cyrus", "lil nas x"]));
        assert_eq!(artists(["Lil Nas X x Billy Ray Cyrus"]), set(&["billy ray cyrus", "lil nas x"]));
        assert_eq!(artists(["X Ambassadors"]), set(&["x ambassadors"]));
        assert_eq!(artists(["Florence + The Machine"]), artists(["Florence and the Machine"]));
        assert_eq!(artists(["Major Lazer", "DJ Snake", "MØ"]), artists(["Major Lazer; DJ Snake; M\u{d8}"]));
    }
}
