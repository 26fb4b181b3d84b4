//! Timestamps in the two forms handoffs use: RFC 3339 bodies and `yyyymmddThhmmssZ` names.
use time::{OffsetDateTime, format_description::well_known::Rfc3339, macros::format_description};

/// Now, in UTC.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Milliseconds since the Unix epoch, the unit of the ledger's statistics and alerts.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    unix_ms(now())
}

/// RFC 3339 with millisecond precision, e.g. `2026-01-18T07:09:51.123Z`.
pub fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.replace_nanosecond(t.millisecond() as u32 * 1_000_000).unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// The file-name form, e.g. `20260118T070951Z`.
pub fn file_stamp(t: OffsetDateTime) -> String {
    t.format(format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap_or_default()
}

/// Parses an RFC 3339 timestamp, as found in a handoff body.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}
