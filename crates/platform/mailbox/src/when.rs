//! Dates as mailboxes write them: RFC 3339, ISO times without a zone (read in the mailbox's
//! zone), bare dates, and Unix epochs as integers or floats, in seconds or milliseconds; and
//! the dates file names carry (`1737190000-note.md`, `20260118-0930_report.txt`).
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, Time};

use crate::zone::Zone;

/// Epochs past this are milliseconds (1e12 s is the year 33658; 1e12 ms is 2001).
const MS_THRESHOLD: f64 = 1e12;

/// A number as a Unix epoch: seconds, or milliseconds when it is that large.
pub fn from_epoch(n: f64) -> Option<OffsetDateTime> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    if n > 1e17 {
        return None;
    }
    // Whole units and the fraction apart, the fraction rounded to microseconds: a float epoch
    // has no more precision than that, and `.25` stays `.25`.
    let (whole, frac) = (n.trunc() as i128, n.fract());
    let nanos = if n >= MS_THRESHOLD {
        whole * 1_000_000 + (frac * 1e3).round() as i128 * 1_000
    } else {
        whole * 1_000_000_000 + (frac * 1e6).round() as i128 * 1_000
    };
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// A timestamp written as text: RFC 3339 (with its own offset), an ISO date and time
/// without one (in `zone`), a bare date (midnight in `zone`), or digits of an epoch.
pub fn parse_text(s: &str, zone: &Zone) -> Option<OffsetDateTime> {
    let s = s.trim().trim_matches(|c| c == '"' || c == '`' || c == '*').trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    // `2026-01-18 09:30:00+00:00` and `…Z` with a space instead of the `T`.
    if let Some(t) = s.get(10..11).filter(|c| *c == " ").and_then(|_| {
        let joined = format!("{}T{}", s.get(..10)?, s.get(11..)?);
        OffsetDateTime::parse(&joined, &Rfc3339).ok()
    }) {
        return Some(t);
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') && s.len() >= 9 {
        return s.parse::<f64>().ok().and_then(from_epoch);
    }
    naive(s).and_then(|t| zone.resolve(t)).or_else(|| date_only(s).and_then(|d| zone.midnight(d)))
}

/// `YYYY-MM-DD[T| ]HH:MM[:SS[.fff]]`, with nothing after it but an optional ` UTC`/`Z`-less
/// zone word ignored (a word names no offset we could trust).
fn naive(s: &str) -> Option<PrimitiveDateTime> {
    let fmt = format_description!(
        version = 2,
        "[year]-[month]-[day][first [T][ ]][hour]:[minute][optional [:[second][optional [.[subsecond]]]]]"
    );
    let head: String = s.chars().take_while(|c| !c.is_whitespace() || *c == ' ').collect();
    // Try the longest prefix that parses: "2026-01-18 09:30:00 EST" reads the time.
    let words: Vec<&str> = head.split(' ').collect();
    for n in (1..=words.len().min(2)).rev() {
        let candidate = words[..n].join(" ");
        if let Ok(t) = PrimitiveDateTime::parse(&candidate, fmt) {
            return Some(t);
        }
    }
    None
}

fn date_only(s: &str) -> Option<Date> {
    let first = s.split_whitespace().next()?;
    Date::parse(first, format_description!("[year]-[month]-[day]")).ok()
}

/// The date a file name carries: a 10-digit (seconds) or 13-digit (milliseconds) epoch, or
/// `YYYYMMDD` optionally followed by `-HHMM`, `_HHMM`, `T HHMM` (and seconds), in `zone`.
pub fn from_file_name(name: &str, zone: &Zone) -> Option<OffsetDateTime> {
    let runs = digit_runs(name);
    for (start, run) in &runs {
        if (run.len() == 10 || run.len() == 13) && !run.starts_with('0') {
            let n: f64 = run.parse().ok()?;
            let t = from_epoch(n)?;
            // Only plausible epochs (2001..2100), not a phone number or an id.
            if (978_307_200..4_102_444_800).contains(&t.unix_timestamp()) {
                return Some(t);
            }
        }
        if run.len() == 8 || run.len() == 14 || run.len() == 12 {
            let date = Date::parse(run.get(..8)?, format_description!("[year][month][day]")).ok();
            let Some(date) = date else { continue };
            if !(2000..2100).contains(&date.year()) {
                continue;
            }
            // The time: the rest of this run (`20260118093000`) or the next run right after a
            // separator (`20260118-0930`).
            let after = run.get(8..).filter(|r| !r.is_empty()).map(str::to_string).or_else(|| {
                let end = start + run.len();
                let sep = name.get(end..end + 1)?;
                if !matches!(sep, "-" | "_" | "T" | "t") {
                    return None;
                }
                runs.iter().find(|(s, r)| *s == end + 1 && (r.len() == 4 || r.len() == 6)).map(|(_, r)| r.clone())
            });
            let time = after.as_deref().and_then(hhmm).unwrap_or(Time::MIDNIGHT);
            return zone.resolve(PrimitiveDateTime::new(date, time));
        }
    }
    None
}

fn hhmm(s: &str) -> Option<Time> {
    let h: u8 = s.get(..2)?.parse().ok()?;
    let m: u8 = s.get(2..4)?.parse().ok()?;
    let sec: u8 = s.get(4..6).map_or(Some(0), |x| x.parse().ok())?;
    Time::from_hms(h, m, sec).ok()
}

/// Runs of ASCII digits in `name`, with their byte offsets.
fn digit_runs(name: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, c) in name.char_indices() {
        if c.is_ascii_digit() {
            cur.get_or_insert_with(|| (i, String::new())).1.push(c);
        } else if let Some(run) = cur.take() {
            out.push(run);
        }
    }
    out.extend(cur);
    out
}

/// RFC 3339 in UTC with milliseconds, always three digits (`2026-02-22T16:25:22.959Z`, as
/// Claude Code writes its timestamps), as `status --json` shows every `created_at`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn ny() -> Zone {
        Zone::named("America/New_York").unwrap()
    }

    #[test]
    fn text_timestamps() {
        let z = ny();
        assert_eq!(parse_text("2026-01-18T09:30:00Z", &z), Some(datetime!(2026-01-18 09:30 UTC)));
        assert_eq!(parse_text("2026-01-18T09:30:00+01:00", &z), Some(datetime!(2026-01-18 08:30 UTC)));
        assert_eq!(parse_text("2026-01-18 09:30:00Z", &z), Some(datetime!(2026-01-18 09:30 UTC)));
        // No zone: New York's, 5 hours behind UTC in January.
        assert_eq!(parse_text("2026-01-18 09:30", &z), Some(datetime!(2026-01-18 14:30 UTC)));
        assert_eq!(parse_text("2026-01-18T09:30:15.250", &z), Some(datetime!(2026-01-18 14:30:15.25 UTC)));
        assert_eq!(parse_text("2026-01-18", &z), Some(datetime!(2026-01-18 05:00 UTC)));
        assert_eq!(parse_text("1737190000", &z), Some(datetime!(2025-01-18 08:46:40 UTC)));
        assert_eq!(parse_text("1737190000123", &z), Some(datetime!(2025-01-18 08:46:40.123 UTC)));
        assert_eq!(parse_text("yesterday", &z), None);
        assert_eq!(parse_text("", &z), None);
    }

    #[test]
    fn float_epochs() {
        assert_eq!(from_epoch(1_737_190_000.5), Some(datetime!(2025-01-18 08:46:40.5 UTC)));
        assert_eq!(from_epoch(f64::NAN), None);
        assert_eq!(from_epoch(-1.0), None);
        assert_eq!(from_epoch(1e30), None);
    }

    #[test]
    fn file_name_dates() {
        let z = ny();
        assert_eq!(from_file_name("1737190000-note.md", &z), Some(datetime!(2025-01-18 08:46:40 UTC)));
        assert_eq!(from_file_name("20260118-0930_report.txt", &z), Some(datetime!(2026-01-18 14:30 UTC)));
        assert_eq!(from_file_name("report_20260118.txt", &z), Some(datetime!(2026-01-18 05:00 UTC)));
        assert_eq!(from_file_name("msg-20260118T093000.json", &z), Some(datetime!(2026-01-18 14:30 UTC)));
        assert_eq!(from_file_name("notes.txt", &z), None);
        assert_eq!(from_file_name("issue-12345678.txt", &z), None);
    }

    #[test]
    fn shown_with_three_digit_milliseconds_in_utc() {
        assert_eq!(rfc3339(datetime!(2026-01-18 09:30 -5)), "2026-01-18T14:30:00.000Z");
        assert_eq!(rfc3339(datetime!(2026-01-18 09:30:00.1239 UTC)), "2026-01-18T09:30:00.123Z");
    }
}
