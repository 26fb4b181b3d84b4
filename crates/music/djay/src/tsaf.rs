//! TSAF, Algoriddim's serialisation of the records djay Pro keeps in `MediaLibrary.db`.
//!
//! Layout (chrisle/djay-connect `docs/FORMAT.md`, checked against the real blobs captured in
//! that repository's tests, and against real macOS blobs published by ArloL/music-stuff):
//!
//! ```text
//! "TSAF" u16 u16 | u32 u32 | u32 strings      header (the last count: entries in the string table)
//! 2B <string> <field>* 00                      an object: class name, fields, end
//! <value> <key>                                a field: value first, then its key
//! ```
//!
//! Value tags. Strings: `08 <utf-8> 00` (appended to the blob's string table), `05 <u8>` a
//! reference to string N of that table. Numbers, aligned to their size from the blob's start
//! (zero padding after the tag): `0F <u8>`, `10` i16, `11` i32, `12` i64, `13` f32 (macOS:
//! duration, bpm), `14` f64 and `30` date (CFAbsoluteTime; Windows). FORMAT.md's example shows
//! the f64 unaligned: both are read. Values carried by the tag alone: `0D` true, `0E` false,
//! `2D` 1, `2E` 0 (`2C` and `2F` are kept as opaque constants). Containers: `0A`/`0B`/`0C`/`1A
//! <u32 count>` (count aligned to 4) an array, `18 <u32 count>` an anonymous struct of count
//! fields without an end byte, `15 <u32 len> <bytes>` raw data (a macOS URL bookmark, a
//! zlib-packed audio fingerprint), padded to 4 after, `21 <value> 00` a boxed array element,
//! `2B` an object, `02 <u8>` a reference to the Nth container of the blob (objects, arrays,
//! structs, data blocks and dates are numbered as they start, the top-level object being 0;
//! the header's first count is their number).
//!
//! The integer tags 0x10–0x12 and the meaning of the bare-tag constants follow the tag
//! numbering (`0F`..`14` are the numeric types by width; `0D`/`2D` one, `0E`/`2E` zero) and an
//! independent TSAF writer that re-encodes real djay blobs byte for byte; they are not
//! documented by Algoriddim. A key is a string or a reference to one.
//!
//! Unknown *fields* are the caller's business (they are kept here and counted there); an
//! unknown *tag* or a truncated blob is an error that names the offset, so one bad record is
//! reported and the rest of the library still reads.
use std::fmt;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// One decoded value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    /// An integer (`0F`, `10`–`12`, and the bare-tag constants `2D` = 1, `2E` = 0).
    Int(i64),
    Bool(bool),
    /// CFAbsoluteTime: seconds since 2001-01-01T00:00:00Z.
    Date(f64),
    /// Raw bytes (`15`): a URL bookmark, a packed fingerprint.
    Data(Vec<u8>),
    /// A reference (`02 <n>`) to the Nth container of the blob (numbered from 0, the top-level
    /// object, in the order they start; a date counts as one). Dates are resolved in place.
    Ref(u32),
    /// A bare tag whose value is not known (`2C`, `2F`): decoded, kept, never guessed.
    Const(u8),
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
    /// A number, whatever its width (or a date's raw seconds, or a bool as 0/1).
    pub fn num(&self, key: &str) -> Option<f64> {
        self.get(key)?.as_f64()
    }
    /// A whole number: an integer tag, or a float that holds one (Windows writes counts as f64).
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i),
            v => v.as_f64().filter(|n| n.fract().abs() < 1e-6 && n.abs() < 9.0e15).map(|n| n.round() as i64),
        }
    }
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::Int(i) => Some(*i != 0),
            Value::Num(n) if n.is_finite() => Some(*n != 0.0),
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
    /// The objects of a field that holds one object or an array of them.
    pub fn objects(&self, key: &str) -> Vec<&Object> {
        match self.get(key) {
            Some(Value::Object(o)) => vec![o],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v {
                    Value::Object(o) => Some(o),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
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

impl Value {
    /// The value as a number, when it is one (an integer, a float, a date's seconds, a bool).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Num(n) | Value::Date(n) => n.is_finite().then_some(*n),
            Value::Int(i) => Some(*i as f64),
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
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
const T_OBJREF: u8 = 0x02;
const T_STR: u8 = 0x08;
const T_REF: u8 = 0x05;
const T_TRUE: u8 = 0x0D;
const T_FALSE: u8 = 0x0E;
const T_U8: u8 = 0x0F;
const T_I16: u8 = 0x10;
const T_I32: u8 = 0x11;
const T_I64: u8 = 0x12;
const T_F32: u8 = 0x13;
const T_F64: u8 = 0x14;
const T_DATA: u8 = 0x15;
const T_STRUCT: u8 = 0x18;
const T_DATE: u8 = 0x30;
const T_ARRAY: u8 = 0x0B;
/// The other array tags an independent TSAF writer meets in real djay blobs (`cuePoints` is a
/// `0A`); read like `0B`.
const T_ARRAYS: [u8; 4] = [0x0A, T_ARRAY, 0x0C, 0x1A];
const T_BOX: u8 = 0x21;
const T_OBJECT: u8 = 0x2B;
const T_ONE: u8 = 0x2D;
const T_ZERO: u8 = 0x2E;
const T_CONSTS: [u8; 2] = [0x2C, 0x2F];
const END: u8 = 0x00;
/// Nesting deeper than this is treated as corruption.
const MAX_DEPTH: u32 = 32;

/// Decodes one blob into its top-level object.
pub fn decode(blob: &[u8]) -> Result<Object, DecodeError> {
    if blob.len() < 20 || &blob[..4] != MAGIC {
        return Err(DecodeError { offset: 0, detail: "not a TSAF blob (no `TSAF` magic)".into() });
    }
    let mut r = Reader { b: blob, pos: 20, strings: Vec::new(), containers: Vec::new() };
    match r.byte()? {
        T_OBJECT => {
            r.containers.push(None);
            r.object(0)
        }
        t => Err(r.err_at(r.pos - 1, format!("expected an object (0x2B), found tag 0x{t:02X}"))),
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    strings: Vec<String>,
    /// Containers started so far (the targets of `02 <n>`), each with its value once complete.
    containers: Vec<Option<Value>>,
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
        self.strings.get(i).cloned().ok_or_else(|| {
            self.err_at(at, format!("reference to string {i}, but only {} are defined", self.strings.len()))
        })
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

    /// The `N` bytes of a number whose tag is at `tag_at`: aligned to `N` from the blob's start
    /// when the padding is zeros and (for a field) a key follows; else the bytes right after
    /// the tag (FORMAT.md's unaligned example).
    fn fixed<const N: usize>(&mut self, tag_at: usize, field: bool) -> Result<[u8; N], DecodeError> {
        let start = tag_at + 1;
        let aligned = start.div_ceil(N) * N;
        let key_follows = |at: usize| matches!(self.b.get(at + N), Some(&T_STR) | Some(&T_REF));
        let at = if aligned + N <= self.b.len()
            && self.b[start..aligned].iter().all(|&c| c == 0)
            && (aligned == start || !field || key_follows(aligned))
        {
            aligned
        } else {
            start
        };
        let bytes: [u8; N] = self
            .b
            .get(at..at + N)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| self.err_at(start, "truncated number".into()))?;
        self.pos = at + N;
        Ok(bytes)
    }

    /// A `u32` count or length aligned to 4 after the tag at `tag_at`.
    fn count(&mut self, tag_at: usize, what: &str) -> Result<usize, DecodeError> {
        let count_at = (tag_at + 1).div_ceil(4) * 4;
        let bytes: [u8; 4] = self
            .b
            .get(count_at..count_at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| self.err_at(tag_at, format!("truncated {what}")))?;
        let n = u32::from_le_bytes(bytes) as usize;
        if n > self.b.len() {
            return Err(self.err_at(tag_at, format!("{what} of {n} in a {}-byte blob", self.b.len())));
        }
        self.pos = count_at + 4;
        Ok(n)
    }

    /// Numbers a container as it starts (before its content, as the writer does).
    fn start(&mut self) -> usize {
        self.containers.push(None);
        self.containers.len() - 1
    }

    /// Records a finished container, for the references that follow it. A date is copied where
    /// it is referred to; a larger container stays a [`Value::Ref`] (copying it at every
    /// reference would let a small hostile blob grow without bound).
    fn complete(&mut self, slot: usize, v: Value) -> Value {
        self.containers[slot] = Some(match v {
            Value::Date(_) => v.clone(),
            _ => Value::Ref(slot as u32),
        });
        v
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
            T_TRUE => Ok(Value::Bool(true)),
            T_FALSE => Ok(Value::Bool(false)),
            T_ONE => Ok(Value::Int(1)),
            T_ZERO => Ok(Value::Int(0)),
            t if T_CONSTS.contains(&t) => Ok(Value::Const(t)),
            T_U8 => Ok(Value::Int(i64::from(self.byte()?))),
            T_I16 => Ok(Value::Int(i64::from(i16::from_le_bytes(self.fixed::<2>(at, field)?)))),
            T_I32 => Ok(Value::Int(i64::from(i32::from_le_bytes(self.fixed::<4>(at, field)?)))),
            T_I64 => Ok(Value::Int(i64::from_le_bytes(self.fixed::<8>(at, field)?))),
            T_F32 => Ok(Value::Num(f64::from(f32::from_le_bytes(self.fixed::<4>(at, field)?)))),
            T_F64 => Ok(Value::Num(f64::from_le_bytes(self.fixed::<8>(at, field)?))),
            T_DATE => {
                // A date is an object of its own in the numbering (the header's count says so).
                let slot = self.start();
                let v = Value::Date(f64::from_le_bytes(self.fixed::<8>(at, field)?));
                Ok(self.complete(slot, v))
            }
            T_OBJREF => {
                let i = usize::from(self.byte()?);
                match self.containers.get(i) {
                    Some(Some(v)) => Ok(v.clone()),
                    // One that encloses this value: kept as the reference it is.
                    Some(None) => Ok(Value::Ref(i as u32)),
                    None => Err(self
                        .err_at(at, format!("reference to container {i}, but only {} started", self.containers.len()))),
                }
            }
            T_OBJECT => {
                let slot = self.start();
                let v = Value::Object(self.object(depth + 1)?);
                Ok(self.complete(slot, v))
            }
            T_DATA => {
                let slot = self.start();
                let n = self.count(at, "data block")?;
                let data = self
                    .b
                    .get(self.pos..self.pos + n)
                    .ok_or_else(|| self.err_at(at, format!("data block of {n} bytes is cut off")))?;
                let data = data.to_vec();
                self.pos += n;
                // Zero padding up to the next multiple of 4 (a key never starts with 0x00).
                while !self.pos.is_multiple_of(4) && self.peek() == Some(END) {
                    self.pos += 1;
                }
                Ok(self.complete(slot, Value::Data(data)))
            }
            T_STRUCT => {
                let slot = self.start();
                let n = self.count(at, "struct")?;
                let mut o = Object::default();
                for _ in 0..n {
                    let (k, v) = self.field(depth + 1, &mut o)?;
                    o.fields.push((k, v));
                }
                Ok(self.complete(slot, Value::Object(o)))
            }
            t if T_ARRAYS.contains(&t) => {
                let slot = self.start();
                let n = self.count(at, "array")?;
                let mut items = Vec::with_capacity(n.min(4096));
                for _ in 0..n {
                    items.push(self.value(depth + 1, false)?);
                }
                Ok(self.complete(slot, Value::Array(items)))
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

    /// One field: its value, then its key. A reference that names no key is stray
    /// (FORMAT.md's `05 01 05 02`): skipped and counted on `o`.
    fn field(&mut self, depth: u32, o: &mut Object) -> Result<(String, Value), DecodeError> {
        let value = self.value(depth, true)?;
        loop {
            let at = self.pos;
            let k = self.name()?;
            if is_key(&k) {
                return Ok((k, value));
            }
            if self.b[at] == T_REF {
                o.stray += 1;
                continue;
            }
            return Err(self.err_at(at, format!("`{}` is not a field name", k.escape_debug())));
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
            let (key, value) = self.field(depth, &mut o)?;
            o.fields.push((key, value));
        }
    }
}

/// Field names are identifiers: an ASCII letter, then letters, digits or `_`.
fn is_key(s: &str) -> bool {
    let mut c = s.bytes();
    c.next().is_some_and(|b| b.is_ascii_alphabetic())
        && c.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && s.len() <= 64
}

/// Seconds since 2001-01-01T00:00:00Z (CFAbsoluteTime) to seconds since the Unix epoch.
pub const CF_EPOCH_UNIX: f64 = 978_307_200.0;

/// A CFAbsoluteTime as RFC 3339 UTC with milliseconds, e.g. `2025-03-01T21:04:05.250Z`.
pub fn cf_to_rfc3339(cf: f64) -> String {
    let ms = ((cf + CF_EPOCH_UNIX) * 1000.0).round() as i64;
    rfc3339_from_unix_ms(ms)
}

/// Unix milliseconds as RFC 3339 UTC with milliseconds, always three digits (djay's own
/// precision), so the stamps sort as they order. Out of `time`'s range (±9999 years: no
/// djay library holds such a date) it is the nearest end of that range.
pub fn rfc3339_from_unix_ms(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).unwrap_or(if ms < 0 {
        time::PrimitiveDateTime::MIN.assume_utc()
    } else {
        time::PrimitiveDateTime::MAX.assume_utc()
    });
    t.format(format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"))
        .unwrap_or_default()
}

/// RFC 3339 (`Z` or `±hh:mm`, optional fraction, any date/time separator) to Unix
/// milliseconds, the fraction cut to milliseconds. None: not an RFC 3339 date-time, or no
/// such day (`2026-02-30`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
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

    /// The real blobs of `shared/realworld/djay` (macOS ones from ArloL/music-stuff, Windows
    /// ones from chrisle/djay-connect), read in place; `$BATON_REALWORLD` overrides.
    fn realworld(name: &str) -> Vec<u8> {
        let dir = std::env::var_os("BATON_REALWORLD")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../../shared/realworld"));
        let p = dir.join("djay").join(name);
        std::fs::read(&p)
            .unwrap_or_else(|e| panic!("{}: {e} (the real-world corpus; set BATON_REALWORLD)", p.display()))
    }

    #[test]
    fn decodes_real_macos_blobs() {
        let o = decode(&realworld("blobs-macos/ArloL-guiboratto-mediaItemAnalyzedData.bin")).unwrap();
        assert_eq!(o.num("bpm"), Some(125.0), "0x13: an f32, aligned to 4");
        assert_eq!(o.get("keySignatureIndex"), Some(&Value::Int(15)), "0x0F: one byte");
        assert_eq!(o.get("isStraightGrid"), Some(&Value::Bool(true)), "0x0D: a bare bool");
        assert_eq!(o.object("titleIDs").unwrap().num("duration"), Some(f64::from(367.516_f32)));

        let o = decode(&realworld("blobs-macos/ArloL-guiboratto-mediaItemUserData.bin")).unwrap();
        assert_eq!(o.get("playCount"), Some(&Value::Int(38)));
        assert_eq!(o.strings("userChangedCloudKeys").len(), 6);
        let end = o.object("endPoint").unwrap();
        assert_eq!(
            (end.class.as_str(), end.num("time"), end.get("number")),
            ("ADCCuePoint", Some(f64::from(272.825_77_f32)), Some(&Value::Int(0)))
        );
        assert_eq!(o.object("automixStartPoint").unwrap().num("time"), Some(f64::from(17.474_762_f32)));
        let fp = o.object("timestampIdentifier").unwrap();
        assert_eq!(fp.class, "ADCAudioAlignmentFingerprint");
        assert!(
            matches!(fp.get("timestampIdentifierData"), Some(Value::Data(d)) if d.len() == 4718 && d.starts_with(&[0x78, 0x9C]))
        );
        // `02 07` after playCount: the fingerprint object (container 7) referred to again.
        assert_eq!(o.fields.last(), Some(&("timestampIdentifier".to_string(), Value::Ref(7))));

        let o = decode(&realworld("blobs-macos/ArloL-guiboratto-localMediaItemLocations.bin")).unwrap();
        assert_eq!(o.strings("sourceURIs"), ["com.apple.iTunes:8986230555104447322"]);
        let Some(Value::Data(b)) = o.get("urlBookmarkData") else { panic!("{o:?}") };
        assert_eq!(
            crate::bookmark::path(b).as_deref(),
            Some("/Users/aokeeffe/Music/Music/Media/Music/Gui Boratto/Unknown Album/Arquipelago (Original Mix).mp3")
        );
    }

    #[test]
    fn decodes_every_tag_of_the_numbering() {
        // 10 i16, 11 i32, 12 i64 aligned to their size; 0E false; 2C a kept constant; 18 a
        // struct of two fields; 0A an array; 02 a reference to a date (copied) and to an object.
        let mut b = hex("5453414603000300");
        b.extend(hex("0000000000000000"));
        b.extend(hex("00000000"));
        b.push(0x2B);
        s(&mut b, "C");
        // A number as the writer lays it out: the tag, zeros up to the value's alignment.
        let num = |b: &mut Vec<u8>, tag: u8, v: &[u8]| {
            b.push(tag);
            while !b.len().is_multiple_of(v.len()) {
                b.push(0);
            }
            b.extend(v);
        };
        num(&mut b, 0x10, &(-2i16).to_le_bytes());
        s(&mut b, "a");
        num(&mut b, 0x11, &70_000i32.to_le_bytes());
        s(&mut b, "b");
        b.push(0x0E);
        s(&mut b, "p");
        num(&mut b, 0x12, &5_000_000_000i64.to_le_bytes());
        s(&mut b, "c");
        b.push(0x2C);
        s(&mut b, "k");
        b.push(0x18);
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        b.extend(2u32.to_le_bytes());
        b.push(0x2D);
        s(&mut b, "x");
        b.extend([0x0F, 200]);
        s(&mut b, "y");
        s(&mut b, "st");
        b.push(0x30);
        while !b.len().is_multiple_of(8) {
            b.push(0);
        }
        b.extend(100.5f64.to_le_bytes());
        s(&mut b, "d");
        b.push(0x0A);
        while !b.len().is_multiple_of(4) {
            b.push(0);
        }
        b.extend(1u32.to_le_bytes());
        b.extend([0x02, 0x02]); // container 2: the date (0 root, 1 struct)
        s(&mut b, "arr");
        b.extend([0x02, 0x01]);
        s(&mut b, "again");
        b.push(0x00);
        let o = decode(&b).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.get("a"), Some(&Value::Int(-2)));
        assert_eq!(o.get("b"), Some(&Value::Int(70_000)));
        assert_eq!(o.get("c"), Some(&Value::Int(5_000_000_000)));
        assert_eq!(o.bool("p"), Some(false));
        assert_eq!(o.get("k"), Some(&Value::Const(0x2C)));
        let st = o.object("st").unwrap();
        assert_eq!((st.int("x"), st.int("y")), (Some(1), Some(200)));
        assert_eq!(o.date("d"), Some(100.5));
        assert_eq!(o.get("arr"), Some(&Value::Array(vec![Value::Date(100.5)])));
        assert_eq!(o.get("again"), Some(&Value::Ref(1)));
        // A reference to a container not yet started is an error, not a panic.
        let mut bad = b.clone();
        let at = bad.windows(2).rposition(|w| w == [0x02, 0x01]).unwrap();
        bad[at + 1] = 0x30;
        assert!(decode(&bad).unwrap_err().to_string().contains("container 48"));
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
        for blob in [
            hex(HISTORY_VOODOO),
            hex(GLOBAL_GOOD_CATCH),
            format_md_example(),
            realworld("blobs-macos/ArloL-guiboratto-mediaItemAnalyzedData.bin"),
            realworld("blobs-macos/ArloL-guiboratto-mediaItemUserData.bin")[..700].to_vec(),
        ] {
            for i in 0..blob.len() {
                for v in
                    [0x00, 0x02, 0x05, 0x08, 0x0A, 0x0B, 0x0F, 0x12, 0x13, 0x14, 0x15, 0x18, 0x21, 0x2B, 0x30, 0xFF]
                {
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
        assert_eq!(
            parse_rfc3339("2026-03-06T15:26:40.5+01:00"),
            Some(((794_500_000.5 + CF_EPOCH_UNIX) * 1000.0) as i64)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(rfc3339_from_unix_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn dates_on_a_leap_day_before_the_epoch_and_far_ahead() {
        let known = [
            (1_709_208_000_250, "2024-02-29T12:00:00.250Z"),
            (-14_182_940_000, "1969-07-20T20:17:40.000Z"),
            (-1, "1969-12-31T23:59:59.999Z"),
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
        ];
        for (ms, text) in known {
            assert_eq!(rfc3339_from_unix_ms(ms), text);
            assert_eq!(parse_rfc3339(text), Some(ms), "{text}");
        }
        // A space for the `T`, a lower-case `z`, an offset west of UTC.
        assert_eq!(parse_rfc3339("2024-02-29 12:00:00.250z"), Some(1_709_208_000_250));
        assert_eq!(parse_rfc3339("2024-02-29T07:00:00.250-05:00"), Some(1_709_208_000_250));
        // No such day: 2100 is no leap year.
        assert_eq!(parse_rfc3339("2100-02-29T00:00:00Z"), None);
    }
}
