//! Musical keys as DJ software writes them, in one spelling. Rekordbox's `Tonality` holds
//! whatever its analysis or the user set: classical names (`C#m`, `Bb`, `A minor`), Camelot
//! (`8A`, `12B`, Mixed In Key's wheel) or Open Key (`1m`, `12d`, Traktor's wheel). [`normalize`]
//! turns any of the three into the classical name djay's own key index maps to
//! ([`crate::library::key_name`]: `C`, `Am`, `Db`, `Bbm`, …), so one `key` field compares across
//! sources while `tonality` keeps the text as written.

/// Major keys by pitch class (C = 0), in djay's spelling.
const MAJOR: [&str; 12] = ["C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
/// Minor keys by pitch class (C = 0), in djay's spelling.
const MINOR: [&str; 12] = ["Cm", "C#m", "Dm", "Ebm", "Em", "Fm", "F#m", "Gm", "G#m", "Am", "Bbm", "Bm"];

/// Camelot `nB` (major) by wheel number 1..=12: pitch classes B, F#, Db, Ab, Eb, Bb, F, C, G, D,
/// A, E; `nA` (minor) is the relative minor, three semitones down.
const CAMELOT_MAJOR: [usize; 12] = [11, 6, 1, 8, 3, 10, 5, 0, 7, 2, 9, 4];

/// The key in classical notation (`C`, `F#m`, …), or None when `raw` is no key in any of the
/// three notations (empty, `Unknown`, a typo).
pub fn normalize(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    wheel(s).or_else(|| classical(s)).map(|(pc, minor)| if minor { MINOR[pc] } else { MAJOR[pc] }.to_string())
}

/// Camelot (`8A`, `12B`) or Open Key (`1m`, `12d`): (pitch class, minor).
fn wheel(s: &str) -> Option<(usize, bool)> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let rest = s[digits.len()..].trim();
    let n: usize = digits.parse().ok().filter(|n| (1..=12).contains(n))?;
    let (camelot, minor) = match rest {
        "A" | "a" => (n, true),
        "B" | "b" => (n, false),
        // Open Key 1d is C major, Camelot 8B: seven steps round the wheel.
        "m" | "M" => ((n + 6) % 12 + 1, true),
        "d" | "D" => ((n + 6) % 12 + 1, false),
        _ => return None,
    };
    let major_pc = CAMELOT_MAJOR[camelot - 1];
    Some(if minor { ((major_pc + 9) % 12, true) } else { (major_pc, false) })
}

/// A classical name: a letter, accidentals (`#`, `b`, `♯`, `♭`), and a mode (`m`, `min`,
/// `minor`, `maj`, `major`, or none for major), with or without spaces.
fn classical(s: &str) -> Option<(usize, bool)> {
    let mut chars = s.chars();
    let letter = chars.next()?.to_ascii_uppercase();
    let mut pc: i32 = match letter {
        'C' => 0,
        'D' => 2,
        'E' => 4,
        'F' => 5,
        'G' => 7,
        'A' => 9,
        'B' => 11,
        _ => return None,
    };
    let rest: String = chars.collect();
    let mut rest = rest.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix('#').or_else(|| rest.strip_prefix('♯')) {
            pc += 1;
            rest = r;
        } else if let Some(r) = rest.strip_prefix('♭').or_else(|| rest.strip_prefix('b')) {
            pc -= 1;
            rest = r;
        } else {
            break;
        }
    }
    let minor = match rest.trim().to_ascii_lowercase().as_str() {
        "" | "maj" | "major" | "dur" => false,
        "m" | "min" | "minor" | "moll" => true,
        _ => return None,
    };
    Some((pc.rem_euclid(12) as usize, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_notations_meet() {
        // Camelot and Open Key for the same keys, and their classical names.
        for (camelot, open, classical) in [
            ("8B", "1d", "C"),
            ("8A", "1m", "Am"),
            ("12A", "5m", "C#m"),
            ("4A", "9m", "Fm"),
            ("1A", "6m", "G#m"),
            ("3B", "8d", "Db"),
            ("7A", "12m", "Dm"),
            ("12B", "5d", "E"),
            ("4B", "9d", "Ab"),
        ] {
            assert_eq!(normalize(camelot).as_deref(), Some(classical), "{camelot}");
            assert_eq!(normalize(open).as_deref(), Some(classical), "{open}");
        }
        assert_eq!(normalize("4d").as_deref(), Some("A"));
        for (raw, want) in [
            ("C#m", "C#m"),
            ("Dbm", "C#m"),
            ("Bb", "Bb"),
            ("A#", "Bb"),
            ("A minor", "Am"),
            ("f♯ min", "F#m"),
            ("Cb", "B"),
        ] {
            assert_eq!(normalize(raw).as_deref(), Some(want), "{raw}");
        }
        for bad in ["", "  ", "13A", "0B", "H", "Cx", "8C", "Unknown"] {
            assert_eq!(normalize(bad), None, "{bad}");
        }
    }

    #[test]
    fn classical_names_agree_with_djays_key_index() {
        for i in 0..24 {
            let name = crate::library::key_name(i);
            assert_eq!(normalize(&name).as_deref(), Some(name.as_str()));
        }
    }
}
