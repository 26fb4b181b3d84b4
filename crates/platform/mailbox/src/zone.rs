//! The zone of timestamps written without one ("2026-01-18 09:30", a date in a file name):
//! a mailbox's `zone` (an IANA name such as `America/New_York`), else this machine's. A naive
//! time read as UTC is hours off the sender's own clock; read in the sender's zone it is right.
//! Zone rules come from the system's tz database, else from the copy built into this crate.
use time::{Date, OffsetDateTime, PrimitiveDateTime};

use crate::MailboxError;

/// A time zone: a named IANA zone or this machine's.
#[derive(Clone, Debug)]
pub struct Zone {
    tz: jiff::tz::TimeZone,
    name: String,
}

impl Zone {
    /// This machine's zone (`$TZ`, `/etc/localtime`); UTC when it cannot be found.
    pub fn system() -> Zone {
        let tz = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
        let name = tz.iana_name().unwrap_or("local").to_string();
        Zone { tz, name }
    }

    /// UTC.
    pub fn utc() -> Zone {
        Zone { tz: jiff::tz::TimeZone::UTC, name: "UTC".into() }
    }

    /// An IANA zone by name (`Europe/Paris`); the error says it is not one.
    pub fn named(name: &str) -> Result<Zone, MailboxError> {
        jiff::tz::TimeZone::get(name)
            .map(|tz| Zone { tz, name: name.to_string() })
            .map_err(|_| MailboxError::Zone(name.to_string()))
    }

    /// `zone` from a mailbox's settings: that zone, or this machine's when unset.
    pub fn or_system(name: Option<&str>) -> Result<Zone, MailboxError> {
        name.map_or_else(|| Ok(Zone::system()), Zone::named)
    }

    /// The zone's name as configured (`local` when the system's has none).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A wall-clock time in this zone as an instant (a time that falls in a DST gap or overlap
    /// is resolved the way most tools do: the earlier offset for an overlap, shifted forward
    /// for a gap).
    pub fn resolve(&self, t: PrimitiveDateTime) -> Option<OffsetDateTime> {
        let civil = jiff::civil::DateTime::new(
            i16::try_from(t.year()).ok()?,
            u8::from(t.month()) as i8,
            t.day() as i8,
            t.hour() as i8,
            t.minute() as i8,
            t.second() as i8,
            t.nanosecond() as i32,
        )
        .ok()?;
        let ts = civil.to_zoned(self.tz.clone()).ok()?.timestamp();
        OffsetDateTime::from_unix_timestamp_nanos(ts.as_nanosecond()).ok()
    }

    /// Midnight of a date in this zone.
    pub fn midnight(&self, d: Date) -> Option<OffsetDateTime> {
        self.resolve(d.midnight())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_naive_time_is_read_in_its_zone() {
        let ny = Zone::named("America/New_York").unwrap();
        // Winter: UTC-5; summer: UTC-4.
        assert_eq!(ny.resolve(datetime!(2026-01-18 09:30)).unwrap(), datetime!(2026-01-18 14:30 UTC));
        assert_eq!(ny.resolve(datetime!(2026-07-01 09:30)).unwrap(), datetime!(2026-07-01 13:30 UTC));
        let tokyo = Zone::named("Asia/Tokyo").unwrap();
        assert_eq!(tokyo.resolve(datetime!(2026-01-18 09:30)).unwrap(), datetime!(2026-01-18 00:30 UTC));
        assert_eq!(Zone::utc().resolve(datetime!(2026-01-18 09:30)).unwrap(), datetime!(2026-01-18 09:30 UTC));
    }

    #[test]
    fn a_time_in_the_spring_gap_is_still_a_time() {
        let ny = Zone::named("America/New_York").unwrap();
        // 02:30 does not exist on 2026-03-08 in New York; it is read as 03:30 EDT.
        assert_eq!(ny.resolve(datetime!(2026-03-08 02:30)).unwrap(), datetime!(2026-03-08 07:30 UTC));
    }

    #[test]
    fn an_unknown_zone_is_refused_by_name() {
        let e = Zone::named("Mars/Olympus_Mons").unwrap_err();
        assert!(e.to_string().contains("Mars/Olympus_Mons"), "{e}");
        assert!(Zone::or_system(None).is_ok());
    }
}
