//! Just enough MP4 parsing to honour the audio track's edit list, which symphonia 0.5 ignores:
//! AAC encoders put 1024 (or 2112) "priming" samples in front of the audio and an edit list
//! (`moov/trak/edts/elst`) that tells players to skip them. FFmpeg, and so fpcalc, skips
//! them; without the same skip every fingerprint frame is shifted by about 21 ms.
use std::os::unix::fs::FileExt;

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Child boxes of `data` as (type, body).
fn boxes(mut data: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 8 {
        let size = be32(data) as usize;
        let kind = [data[4], data[5], data[6], data[7]];
        let (hdr, size) = match size {
            1 if data.len() >= 16 => (16, be64(&data[8..]) as usize),
            0 => (8, data.len()),
            s => (8, s),
        };
        if size < hdr || size > data.len() {
            break;
        }
        out.push((kind, &data[hdr..size]));
        data = &data[size..];
    }
    out
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).into_iter().find(|(k, _)| k == kind).map(|(_, b)| b)
}

/// Priming samples to skip (at the track's sample rate) for the first sound track of an MP4
/// file, from its edit list. `None` when there is no such edit.
/// Reads with `pread` only, so the file's offset is left where it was.
pub fn audio_priming(f: &std::fs::File, sample_rate: u32) -> Option<u64> {
    let len = f.metadata().ok()?.len();
    // find the top-level moov box without reading the media data
    let mut pos = 0u64;
    let moov = loop {
        if pos + 8 > len {
            return None;
        }
        let mut h = [0u8; 16];
        f.read_exact_at(&mut h[..8], pos).ok()?;
        let mut size = be32(&h) as u64;
        let kind = [h[4], h[5], h[6], h[7]];
        let mut hdr = 8;
        if size == 1 {
            f.read_exact_at(&mut h[8..16], pos + 8).ok()?;
            size = be64(&h[8..]);
            hdr = 16;
        } else if size == 0 {
            size = len - pos;
        }
        if size < hdr {
            return None;
        }
        if &kind == b"moov" {
            if size > 64 << 20 {
                return None;
            }
            let mut body = vec![0u8; (size - hdr) as usize];
            f.read_exact_at(&mut body, pos + hdr).ok()?;
            break body;
        }
        pos += size;
    };
    for (k, trak) in boxes(&moov) {
        if &k != b"trak" {
            continue;
        }
        let mdia = child(trak, b"mdia")?;
        let hdlr = child(mdia, b"hdlr")?;
        if hdlr.len() < 12 || &hdlr[8..12] != b"soun" {
            continue;
        }
        let mdhd = child(mdia, b"mdhd")?;
        let timescale = match mdhd.first()? {
            1 if mdhd.len() >= 24 => be32(&mdhd[20..]),
            0 if mdhd.len() >= 16 => be32(&mdhd[12..]),
            _ => return None,
        };
        let elst = child(child(trak, b"edts")?, b"elst")?;
        if elst.len() < 8 {
            return None;
        }
        let version = elst[0];
        let count = be32(&elst[4..]) as usize;
        let mut e = &elst[8..];
        for _ in 0..count {
            let media_time: i64 = if version == 1 {
                if e.len() < 20 {
                    return None;
                }
                let t = be64(&e[8..]) as i64;
                e = &e[20..];
                t
            } else {
                if e.len() < 12 {
                    return None;
                }
                let t = be32(&e[4..]) as i32 as i64;
                e = &e[12..];
                t
            };
            if media_time == -1 {
                continue; // an empty edit (delay), not a skip
            }
            if media_time <= 0 || timescale == 0 {
                return None;
            }
            return Some((media_time as u128 * sample_rate as u128 / timescale as u128) as u64);
        }
        return None;
    }
    None
}
