//! Small helpers with no WIT: UTC timestamps from the wall clock (formatted by `time`), and
//! SHA-256 as hex.
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

/// Now, as (seconds, nanoseconds) since the epoch.
pub fn now() -> (i64, u32) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

/// (seconds, nanoseconds) since the epoch in UTC; out of `time`'s range (±9999 years, which
/// no clock reaches) the nearest end of it, so a stamp is still written and still sorts.
fn utc((secs, nanos): (i64, u32)) -> OffsetDateTime {
    let at = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    OffsetDateTime::from_unix_timestamp_nanos(at).unwrap_or(if secs < 0 {
        time::PrimitiveDateTime::MIN.assume_utc()
    } else {
        time::PrimitiveDateTime::MAX.assume_utc()
    })
}

/// RFC 3339 with nanoseconds: `2026-01-18T07:09:51.123456789Z`. Sorts as it orders.
pub fn rfc3339(t: (i64, u32)) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:9]Z");
    utc(t).format(format).unwrap_or_default()
}

/// A compact UTC stamp for file and folder names: `20260118T070951Z`.
pub fn stamp(t: (i64, u32)) -> String {
    utc(t).format(format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap_or_default()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339((0, 0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(rfc3339((1_768_720_191, 5)), "2026-01-18T07:09:51.000000005Z");
        assert_eq!(stamp((1_768_720_191, 5)), "20260118T070951Z");
        assert_eq!(rfc3339((951_782_400, 0)), "2000-02-29T00:00:00.000000000Z");
        assert_eq!(stamp((951_782_400, 0)), "20000229T000000Z");
        // Before the epoch, the nanoseconds after the (earlier) whole second.
        assert_eq!(rfc3339((-1, 500_000_000)), "1969-12-31T23:59:59.500000000Z");
        assert_eq!(stamp((-2_208_988_800, 0)), "19000101T000000Z");
        assert_eq!(rfc3339((4_107_542_400, 7)), "2100-03-01T00:00:00.000000007Z");
        assert_eq!(stamp((4_107_542_399, 0)), "21000228T235959Z");
    }
}
