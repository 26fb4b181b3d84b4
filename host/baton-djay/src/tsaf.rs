//! TSAF, Algoriddim's serialisation of the records djay Pro keeps in `MediaLibrary.db`.
//!
//! Layout (chrisle/djay-connect `docs/FORMAT.md`, checked against the real blobs captured in
//! that repository's tests):
//!
//! ```text
//! "TSAF" u16 u16 | u32 u32 | u32 strings      header (the last count: entries in the string table)
//! 2B <string> <field>* 00                      an object: class name, fields, end
//! <value> <key>                                a field: value first, then its key
//! ```
//!
//! Tokens: `08 <utf-8> 00` a string (appended to the blob's string table); `05 <u8>` a
//! reference to string N of that table; `14` f64 and `30` date (CFAbsoluteTime), both 8 bytes
//! little-endian, aligned to 8 bytes from the blob's start (FORMAT.md's example shows them
//! unaligned: both are read); `0B <u32 count>` (aligned to 4) an array; `21 <value> 00` a boxed
//! array element; `2B` an object. A key is a string or a reference to one.
//!
//! Unknown *fields* are the caller's business (they are kept here and counted there); an
//! unknown *tag* or a truncated blob is an error that names the offset, so one bad record is
//! reported and the rest of the library still reads.
use std::fmt;

/// One decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    /// CFAbsoluteTime: seconds since 2001-01-01T00:00:00Z.
    Date(f64),
    Array(Vec<Value>),
    Object(Object),
}

/// An object: its class name and its fields in blob order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    pub class: String,
    pub fields: Vec<(String, Value)>,
    /// Stray references found where a key was expected (FORMAT.md's example has one); skipped.
    pub stray: u32,
}

impl Object {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    /// A number (or a date's raw seconds).
    pub fn num(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Num(n) | Value::Date(n) => n.is_finite().then_some(*n),
            _ => None,
        }
    }
    pub fn date(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Date(n) | Value::Num(n) => n.is_finite().then_some(*n),
            _ => None,
        }
    }
    pub fn object(&self, key: &str) -> Option<&Object> {
        match self.get(key)? {
            Value::Object(o) => Some(o),
            Value::Array(a) => a.iter().find_map(|v| match v {
                Value::Object(o) => Some(o),
                _ => None,
            }),
            _ => None,
        }
    }
    /// Strings of a field that holds one string or an array of them.
    pub fn strings(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Value::Str(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v {
                    Value::Str(s) => Some(s.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Why a blob does not decode.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct DecodeError {
    pub offset: usize,
    pub detail: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TSAF: {} at byte {}", self.detail, self.offset)
    }
}

const MAGIC: &[u8; 4] = b"TSAF";
const T_STR: u8 = 0x08;
const T_REF: u8 = 0x05;
const T_F64: u8 = 0x14;
const T_DATE: u8 = 0x30;
const T_ARRAY: u8 = 0x0B;
const T_BOX: u8 = 0x21;
const T_OBJECT: u8 = 0x2B;
const END: u8 = 0x00;
/// Nesting deeper than this is treated as corruption.
const MAX_DEPTH: u32 = 32;

/// Decodes one blob into its top-level object.
pub fn decode(blob: &[u8]) -> Result<Object, DecodeError> {
    if blob.len() < 20 || &blob[..4] != MAGIC {
        return Err(DecodeError { offset: 0, detail: "not a TSAF blob (no `TSAF` magic)".into() });
    }
    let mut r = Reader { b: blob, pos: 20, strings: Vec::new() };
    match r.byte()? {
        T_OBJECT => r.object(0),
        t => Err(r.err_at(r.pos - 1, format!("expected an object (0x2B), found tag 0x{t:02X}"))),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    strings: Vec<String>,
}

impl Reader<'_> {
    fn err_at(&self, offset: usize, detail: String) -> DecodeError {
        DecodeError { offset, detail }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self.b.get(self.pos).ok_or_else(|| self.err_at(self.pos, "truncated".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// `08` already read: the NUL-terminated UTF-8 string, appended to the table.
    fn string(&mut self) -> Result<String, DecodeError> {
        let start = self.pos;
        let len = self.b[start..]
            .iter()
            .position(|&c| c == 0)
            .ok_or_else(|| self.err_at(start, "unterminated string".into()))?;
        let s = std::str::from_utf8(&self.b[start..start + len])
            .map_err(|e| self.err_at(start, format!("string is not UTF-8 ({e})")))?
            .to_string();
        self.pos = start + len + 1;
        self.strings.push(s.clone());
        Ok(s)
    }

    /// `05` already read: the string it refers to.
    fn reference(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        let i = self.byte()? as usize;
        self.strings
            .get(i)
            .cloned()
            .ok_or_else(|| self.err_at(at, format!("reference to string {i}, but only {} are defined", self.strings.len())))
    }

    /// A string token (`08` or `05`), as keys and class names are written.
    fn name(&mut self) -> Result<String, DecodeError> {
        let at = self.pos;
        match self.byte()? {
            T_STR => self.string(),
            T_REF => self.reference(),
            t => Err(self.err_at(at, format!("expected a name (0x08 or 0x05), found tag 0x{t:02X}"))),
        }
    }

    /// `14`/`30` already read at `tag_at`: the f64. Aligned to 8 from the blob's start when
    /// the padding is zeros and (for a field) a key follows; else the 8 bytes at once.
    fn f64(&mut self, tag_at: usize, field: bool) -> Result<f64, DecodeError> {
        let start = tag_at + 1;
        let aligned = start.div_ceil(8) * 8;
        let key_follows = |at: usize| matches!(self.b.get(at + 8), Some(&T_STR) | Some(&T_REF));
        let at = if aligned + 8 <= self.b.len()
            && self.b[start..aligned].iter().all(|&c| c == 0)
            && (!field || key_follows(aligned))
        {
            aligned
        } else {
            start
        };
        let bytes: [u8; 8] = self
            .b
            .get(at..at + 8)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| self.err_at(start, "truncated number".into()))?;
        self.pos = at + 8;
        Ok(f64::from_le_bytes(bytes))
    }

    /// A value whose tag is at the current position.
    fn value(&mut self, depth: u32, field: bool) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.err_at(self.pos, "objects nested too deep".into()));
        }
        let at = self.pos;
        match self.byte()? {
            T_STR => Ok(Value::Str(self.string()?)),
            T_REF => Ok(Value::Str(self.reference()?)),
            T_F64 => Ok(Value::Num(self.f64(at, field)?)),
            T_DATE => Ok(Value::Date(self.f64(at, field)?)),
            T_OBJECT => Ok(Value::Object(self.object(depth + 1)?)),
            T_ARRAY => {
                let count_at = (at + 1).div_ceil(4) * 4;
                let bytes: [u8; 4] = self
                    .b
                    .get(count_at..count_at + 4)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| self.err_at(at, "truncated array".into()))?;
                let n = u32::from_le_bytes(bytes) as usize;
                if n > self.b.len() {
                    return Err(self.err_at(at, format!("array of {n} items in a {}-byte blob", self.b.len())));
                }
                self.pos = count_at + 4;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1, false)?);
                }
                Ok(Value::Array(items))
            }
            T_BOX => {
                let v = self.value(depth + 1, false)?;
                let end_at = self.pos;
                if self.byte()? != END {
                    return Err(self.err_at(end_at, "boxed value not closed by 0x00".into()));
                }
                Ok(v)
            }
            t => Err(self.err_at(at, format!("unknown value tag 0x{t:02X}"))),
        }
    }

    /// `2B` already read: class name, fields, `00`.
    fn object(&mut self, depth: u32) -> Result<Object, DecodeError> {
        let mut o = Object { class: self.name()?, ..Object::default() };
        loop {
            match self.peek() {
                None => return Err(self.err_at(self.pos, format!("object {} not closed", o.class))),
                Some(END) => {
                    self.pos += 1;
                    return Ok(o);
                }
                Some(_) => {}
            }
            let value = self.value(depth, true)?;
            // The key; a reference that names no key is stray (FORMAT.md's `05 01 05 02`).
            let key = loop {
                let at = self.pos;
                let k = self.name()?;
                if is_key(&k) {
                    break k;
                }
                if self.b[at] == T_REF {
                    o.stray += 1;
                    continue;
                }
                return Err(self.err_at(at, format!("`{}` is not a field name", k.escape_debug())));
            };
            // A stray reference before a value's key shifts nothing else: see above.
            o.fields.push((key, value));
        }
    }
}

/// Field names are identifiers: an ASCII letter, then letters, digits or `_`.
fn is_key(s: &str) -> bool {
    let mut c = s.bytes();
    c.next().is_some_and(|b| b.is_ascii_alphabetic()) && c.all(|b| b.is_ascii_alphanumeric() || b == b'_') && s.len() <= 64
}

/// Seconds since 2001-01-01T00:00:00Z (CFAbsoluteTime) to seconds since the Unix epoch.
pub const CF_EPOCH_UNIX: f64 = 978_307_200.0;

/// A CFAbsoluteTime as RFC 3339 UTC with milliseconds, e.g. `2025-03-01T21:04:05.250Z`.
pub fn cf_to_rfc3339(cf: f64) -> String {
    let ms = ((cf + CF_EPOCH_UNIX) * 1000.0).round() as i64;
    rfc3339_from_unix_ms(ms)
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds.
pub fn rfc3339_from_unix_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z", tod / 3600, tod / 60 % 60, tod % 60)
}

/// RFC 3339 (`Z` or `±hh:mm`, optional fraction) to Unix milliseconds.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (n(0..4)?, n(5..7)?, n(8..10)?, n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let f3: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = f3.parse().ok()?;
    }
    let offset = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) && &tz[3..4] == ":" => {
            let sign = if tz.starts_with('-') { -1 } else { 1 };
            sign * (tz[1..3].parse::<i64>().ok()? * 3600 + tz[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) - offset) * 1000 + ms)
}

// Howard Hinnant's civil-date algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real blobs captured from djay Pro 5.6.4 for Windows, published as test fixtures by
    // chrisle/djay-connect (tests/fixtures/historySessionItems.ts, mediaItemLocations.ts).
    const HISTORY_VOODOO: &str = concat!(
        "54534146030003000300000000000000110000002B08414443486973746F727953657373696F6E4974656D0008323132",
        "43353937362D454231442D384430442D373146302D384535443442324142413132000875756964000833363243434430",
        "452D343746322D434130412D353231302D324146393645354635373439000873657373696F6E55554944002B08414443",
        "4D656469614974656D5469746C6549440008333037623736376666323436336363653036343138303636346536623463",
        "383900050208566F6F646F6F2050656F706C65202850656E64756C756D204D69782900087469746C6500085468652050",
        "726F646967790008617274697374001400000000113E7340086475726174696F6E0000087469746C6549440014000000",
        "000000000000F03F086465636B4E756D62657200300000008B6C779B70C4C74108737461727454696D6500086578706C",
        "6F72657200086F726967696E536F7572636549440000",
    );
    const HISTORY_GIRL: &str = concat!(
        "54534146030003000300000000000000110000002B08414443486973746F727953657373696F6E4974656D0008313345",
        "33443033432D423039452D413930392D373343322D393637393142443236444632000875756964000833363243434430",
        "452D343746322D434130412D353231302D324146393645354635373439000873657373696F6E55554944002B08414443",
        "4D656469614974656D5469746C6549440008643639383039316661393235346230356162633931623439623231623232",
        "6636000502086769726C2420284C6179746F6E2047696F7264616E6920457874656E6465642052656D69782900087469",
        "746C650008446F6D20446F6C6C612C204C6179746F6E2047696F7264616E690008617274697374001400000000000000",
        "000000E08F577340086475726174696F6E0000087469746C65494400140000000000000000000040086465636B4E756D",
        "62657200300000003F35DEA070C4C74108737461727454696D6500086578706C6F72657200086F726967696E536F7572",
        "636549440000",
    );
    const LOCAL_VOODOO: &str = concat!(
        "545341460300030004000000000000000C0000002B084144434D656469614974656D4C6F636174696F6E000833303762",
        "37363766663234363363636530363431383036363465366234633839000875756964000B010000002B084144434D6564",
        "69614974656D5469746C654944000501050208566F6F646F6F2050656F706C65202850656E64756C756D204D69782900",
        "087469746C6500085468652050726F646967790008617274697374001400000000000000113E7340086475726174696F",
        "6E0000087469746C65494473000B000001000000210866696C653A2F2F2F443A2535434E50332D544553542D4D503325",
        "354331343138373330325F566F6F646F6F5F50656F706C655F2850656E64756C756D5F4D6978292E6D7033000008736F",
        "75726365555249730000",
    );
    const GLOBAL_GOOD_CATCH: &str = concat!(
        "54534146030003000400000000000000100000002B084144434D656469614974656D4C6F636174696F6E000864643465",
        "39316664663564633961343639633565336239353838646532323862000875756964000B010000002B084144434D6564",
        "69614974656D5469746C654944000501050208476F6F642043617463682028426C61636B204361766961722052656D69",
        "782900087469746C65000857696E20616E6420576F6F000861727469737400140000002083F46A40086475726174696F",
        "6E0008515A533633323137313833380008697372630000087469746C65494473000B0000020000002108736F756E6463",
        "6C6F75643A747261636B733A313135303438383236350000210862656174706F72743A747261636B3A31353934393938",
        "31000008736F75726365555249730014000000000000F03F08747970650000",
    );

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn s(b: &mut Vec<u8>, text: &str) {
        b.push(0x08);
        b.extend_from_slice(text.as_bytes());
        b.push(0);
    }

    /// The byte example of FORMAT.md ("Example: a historySessionItems record"), written out
    /// byte for byte with its placeholders filled in; doubles unaligned as printed there.
    fn format_md_example() -> Vec<u8> {
        let mut b = hex("5453414603000300");
        b.extend(hex("0300000000000000"));
        b.extend(hex("11000000"));
        b.extend([0x2B]);
        s(&mut b, "ADCHistorySessionItem");
        s(&mut b, "212C5976-EB1D-8D0D-71F0-8E5D4B2ABA12");
        s(&mut b, "uuid");
        s(&mut b, "362CCD0E-47F2-CA0A-5210-2AF96E5F5749");
        s(&mut b, "sessionUUID");
        b.push(0x2B);
        s(&mut b, "ADCMediaItemTitleID");
        s(&mut b, "307b767ff2463cce064180664e6b4c89");
        b.extend([0x05, 0x01]);
        b.extend([0x05, 0x02]);
        s(&mut b, "Voodoo People (Pendulum Mix)");
        s(&mut b, "title");
        s(&mut b, "The Prodigy");
        s(&mut b, "artist");
        b.push(0x14);
        b.extend(307.879150390625f64.to_le_bytes());
        s(&mut b, "duration");
        b.push(0x00);
        s(&mut b, "titleID");
        b.push(0x14);
        b.extend(2.0f64.to_le_bytes());
        s(&mut b, "deckNumber");
        b.push(0x30);
        b.extend(794_500_000.5f64.to_le_bytes());
        s(&mut b, "startTime");
        s(&mut b, "explorer");
        s(&mut b, "originSourceID");
        b.push(0x00);
        b
    }

    #[test]
    fn decodes_the_format_md_example_exactly() {
        let o = decode(&format_md_example()).unwrap();
        assert_eq!(o.class, "ADCHistorySessionItem");
        let keys: Vec<&str> = o.fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["uuid", "sessionUUID", "titleID", "deckNumber", "startTime", "originSourceID"]);
        assert_eq!(o.str("uuid"), Some("212C5976-EB1D-8D0D-71F0-8E5D4B2ABA12"));
        assert_eq!(o.str("sessionUUID"), Some("362CCD0E-47F2-CA0A-5210-2AF96E5F5749"));
        let t = o.object("titleID").unwrap();
        assert_eq!(t.class, "ADCMediaItemTitleID");
        assert_eq!(t.str("uuid"), Some("307b767ff2463cce064180664e6b4c89"));
        assert_eq!(t.str("title"), Some("Voodoo People (Pendulum Mix)"));
        assert_eq!(t.str("artist"), Some("The Prodigy"));
        assert_eq!(t.num("duration"), Some(307.879150390625));
        assert_eq!(t.stray, 1, "the `05 01` before the key reference is skipped and counted");
        assert_eq!(o.num("deckNumber"), Some(2.0));
        assert_eq!(o.get("startTime"), Some(&Value::Date(794_500_000.5)));
        assert_eq!(o.str("originSourceID"), Some("explorer"));
        assert_eq!(cf_to_rfc3339(794_500_000.5), "2026-03-06T14:26:40.500Z");
    }

    #[test]
    fn decodes_real_history_items() {
        let o = decode(&hex(HISTORY_VOODOO)).unwrap();
        assert_eq!(o.str("uuid"), Some("212C5976-EB1D-8D0D-71F0-8E5D4B2ABA12"));
        assert_eq!(o.str("sessionUUID"), Some("362CCD0E-47F2-CA0A-5210-2AF96E5F5749"));
        let t = o.object("titleID").unwrap();
        assert_eq!(t.str("uuid"), Some("307b767ff2463cce064180664e6b4c89"));
        assert_eq!(t.str("title"), Some("Voodoo People (Pendulum Mix)"));
        assert_eq!(t.str("artist"), Some("The Prodigy"));
        assert_eq!(t.num("duration"), Some(307.879150390625));
        assert_eq!(t.stray, 0);
        assert_eq!(o.num("deckNumber"), Some(1.0));
        assert!(matches!(o.get("startTime"), Some(Value::Date(d)) if *d > 7.9e8 && *d < 8.0e8));
        assert_eq!(o.str("originSourceID"), Some("explorer"));

        let o = decode(&hex(HISTORY_GIRL)).unwrap();
        let t = o.object("titleID").unwrap();
        assert_eq!(t.str("title"), Some("girl$ (Layton Giordani Extended Remix)"));
        assert_eq!(t.str("artist"), Some("Dom Dolla, Layton Giordani"));
        assert_eq!(t.num("duration"), Some(309.4726257324219));
        assert_eq!(o.num("deckNumber"), Some(2.0));
    }

    #[test]
    fn decodes_real_locations() {
        let o = decode(&hex(LOCAL_VOODOO)).unwrap();
        assert_eq!(o.class, "ADCMediaItemLocation");
        assert_eq!(o.str("uuid"), Some("307b767ff2463cce064180664e6b4c89"));
        let t = o.object("titleIDs").unwrap();
        assert_eq!(t.str("uuid"), Some("307b767ff2463cce064180664e6b4c89"), "a reference as a value");
        assert_eq!(t.str("title"), Some("Voodoo People (Pendulum Mix)"));
        assert_eq!(o.strings("sourceURIs"), ["file:///D:%5CNP3-TEST-MP3%5C14187302_Voodoo_People_(Pendulum_Mix).mp3"]);

        let o = decode(&hex(GLOBAL_GOOD_CATCH)).unwrap();
        assert_eq!(o.strings("sourceURIs"), ["soundcloud:tracks:1150488265", "beatport:track:15949981"]);
        assert_eq!(o.object("titleIDs").unwrap().str("isrc"), Some("QZS632171838"));
        assert_eq!(o.num("type"), Some(1.0));
    }

    #[test]
    fn a_damaged_blob_is_an_error_with_its_offset() {
        let b = hex(HISTORY_VOODOO);
        for cut in [10, 40, 200, b.len() - 1] {
            assert!(decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = b.clone();
        bad[195] = 0x77; // the `05` key reference of the nested uuid
        let e = decode(&bad).unwrap_err();
        assert_eq!(e.offset, 195);
        assert!(e.to_string().contains("0x77"), "{e}");
        assert!(decode(b"bplist00 not tsaf at all").is_err());
    }

    /// Every single-byte change and every truncation of real blobs decodes or fails cleanly.
    #[test]
    fn damage_never_panics() {
        for blob in [hex(HISTORY_VOODOO), hex(GLOBAL_GOOD_CATCH), format_md_example()] {
            for i in 0..blob.len() {
                for v in [0x00, 0x05, 0x08, 0x0B, 0x14, 0x21, 0x2B, 0x30, 0xFF] {
                    let mut b = blob.clone();
                    b[i] = v;
                    let _ = decode(&b);
                }
                let _ = decode(&blob[..i]);
            }
        }
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(cf_to_rfc3339(0.0), "2001-01-01T00:00:00.000Z");
        assert_eq!(parse_rfc3339("2001-01-01T00:00:00Z"), Some(978_307_200_000));
        assert_eq!(parse_rfc3339("2026-03-06T15:26:40.5+01:00"), Some(((794_500_000.5 + CF_EPOCH_UNIX) * 1000.0) as i64));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(rfc3339_from_unix_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
