//! The file path inside a macOS URL bookmark (`urlBookmarkData` of djay's
//! `localMediaItemLocations` on macOS, where `sourceURIs` holds only a Music-library id).
//!
//! Layout (Apple's undocumented `book` format, as read by mac_alias and others): `"book"`,
//! u32 total length, u32 version, u32 header length H; the data area starts at H with a u32
//! offset (from H) to the first table of contents. A TOC is `u32 size, 0xFFFFFFFE, u32 id,
//! u32 next, u32 count` and `count` entries `(u32 key, u32 offset, u32 reserved)`. An item at
//! H + offset is `u32 length, u32 type, bytes`: type 0x0101 a UTF-8 string, 0x0601 an array
//! of u32 item offsets. Key 0x1004 is the path, as an array of its components.
//!
//! Everything is bounds-checked: a damaged bookmark gives None, never a panic.

const PATH_KEY: u32 = 0x1004;
const T_STRING: u32 = 0x0101;
const T_ARRAY: u32 = 0x0601;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The absolute POSIX path a bookmark points at, e.g. `/Users/me/Music/a.mp3`.
pub fn path(b: &[u8]) -> Option<String> {
    if b.get(..4)? != b"book" {
        return None;
    }
    let h = u32_at(b, 12)? as usize;
    let item = |off: u32| -> Option<(u32, &[u8])> {
        let at = h.checked_add(off as usize)?;
        let len = u32_at(b, at)? as usize;
        let ty = u32_at(b, at + 4)?;
        Some((ty, b.get(at + 8..(at + 8).checked_add(len)?)?))
    };
    let mut toc = h.checked_add(u32_at(b, h)? as usize)?;
    // Follow the TOC chain (a handful at most); the path is in the first that has it.
    for _ in 0..8 {
        if u32_at(b, toc + 4)? != 0xFFFF_FFFE {
            return None;
        }
        let next = u32_at(b, toc + 12)?;
        let count = u32_at(b, toc + 16)? as usize;
        for i in 0..count.min(1024) {
            let e = toc + 20 + 12 * i;
            if u32_at(b, e)? != PATH_KEY {
                continue;
            }
            let (ty, arr) = item(u32_at(b, e + 4)?)?;
            if ty != T_ARRAY {
                return None;
            }
            let mut parts = Vec::new();
            for c in arr.chunks_exact(4) {
                let (ty, s) = item(u32::from_le_bytes(c.try_into().ok()?))?;
                if ty != T_STRING {
                    return None;
                }
                parts.push(std::str::from_utf8(s).ok()?.to_string());
            }
            return (!parts.is_empty()).then(|| format!("/{}", parts.join("/")));
        }
        if next == 0 {
            return None;
        }
        toc = h.checked_add(next as usize)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bookmark built by hand: header, one path of two components, one TOC.
    fn build(parts: &[&str]) -> Vec<u8> {
        let mut d: Vec<u8> = vec![0; 4]; // the offset to the TOC, patched below
        let mut offs = Vec::new();
        for p in parts {
            offs.push(d.len() as u32);
            d.extend((p.len() as u32).to_le_bytes());
            d.extend(T_STRING.to_le_bytes());
            d.extend(p.as_bytes());
            while !d.len().is_multiple_of(4) {
                d.push(0);
            }
        }
        let arr = d.len() as u32;
        d.extend((4 * offs.len() as u32).to_le_bytes());
        d.extend(T_ARRAY.to_le_bytes());
        for o in &offs {
            d.extend(o.to_le_bytes());
        }
        let toc = d.len() as u32;
        d[..4].copy_from_slice(&toc.to_le_bytes());
        for v in [32u32, 0xFFFF_FFFE, 1, 0, 1, PATH_KEY, arr, 0] {
            d.extend(v.to_le_bytes());
        }
        let mut b = b"book".to_vec();
        b.extend(((48 + d.len()) as u32).to_le_bytes());
        b.extend(0x1004_0000u32.to_le_bytes());
        b.extend(48u32.to_le_bytes());
        b.resize(48, 0);
        b.extend(d);
        b
    }

    #[test]
    fn reads_the_path_and_survives_damage() {
        let b = build(&["Users", "me", "Ünïcode #1.mp3"]);
        assert_eq!(path(&b).as_deref(), Some("/Users/me/Ünïcode #1.mp3"));
        for i in 0..b.len() {
            let _ = path(&b[..i]);
            let mut c = b.clone();
            c[i] ^= 0xFF;
            let _ = path(&c);
        }
        assert_eq!(path(b"not a bookmark"), None);
    }
}
