//! Small helpers with no WIT: UTC timestamps from the wall clock, and SHA-256 as hex.
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's civil_from_days).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Now, as (seconds, nanoseconds) since the epoch.
pub fn now() -> (i64, u32) {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos())
}

fn parts(secs: i64) -> (i64, u32, u32, i64, i64, i64) {
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

/// RFC 3339 with nanoseconds: `2026-01-18T07:09:51.123456789Z`. Sorts as it orders.
pub fn rfc3339((secs, nanos): (i64, u32)) -> String {
    let (y, m, d, hh, mm, ss) = parts(secs);
    format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{nanos:09}Z")
}

/// A compact UTC stamp for file and folder names: `20260118T070951Z`.
pub fn stamp((secs, _): (i64, u32)) -> String {
    let (y, m, d, hh, mm, ss) = parts(secs);
    format!("{y:04}{m:02}{d:02}T{hh:02}{mm:02}{ss:02}Z")
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
    }
}
