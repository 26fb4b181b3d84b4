//! UTC date formatting for the audit, through the `time` crate: RFC 3339 stamps for reports and
//! the `yyyymmdd_hhmmss` stamp in report file names. The current time is always passed in, so
//! a report is the same for the same input.

use std::time::{SystemTime, UNIX_EPOCH};

use ::time::OffsetDateTime;
use ::time::format_description::BorrowedFormatItem;
use ::time::macros::format_description;

/// Seconds since the Unix epoch (negative before it).
pub fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// `secs` in UTC, formatted; out of `time`'s range (±9999 years) it is the nearest end of it,
/// which no clock a report is stamped with reaches.
fn utc(secs: i64, format: &[BorrowedFormatItem<'_>]) -> String {
    let t = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(if secs < 0 {
        ::time::PrimitiveDateTime::MIN.assume_utc()
    } else {
        ::time::PrimitiveDateTime::MAX.assume_utc()
    });
    t.format(format).unwrap_or_default()
}

/// `2026-01-18T10:15:00Z`: RFC 3339 in UTC, whole seconds.
pub fn rfc3339(secs: i64) -> String {
    utc(secs, format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"))
}

/// `20260118_101500`, as in `PLANS_AUDIT_REPORT_20260118_101500.md`.
pub fn file_stamp(secs: i64) -> String {
    utc(secs, format_description!("[year][month][day]_[hour][minute][second]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2026-01-18T10:15:00Z
        assert_eq!(rfc3339(1_768_731_300), "2026-01-18T10:15:00Z");
        assert_eq!(file_stamp(1_768_731_300), "20260118_101500");
        // A leap day, the second before the epoch, and dates far before and after it.
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(file_stamp(951_782_400), "20000229_000000");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(-2_208_988_800), "1900-01-01T00:00:00Z");
        assert_eq!(file_stamp(-2_208_988_800), "19000101_000000");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
    }
}
