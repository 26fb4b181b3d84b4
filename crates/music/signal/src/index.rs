//! The content-defined sample of a print's values that the inverted indexes key on: duplicate
//! grouping and library matching in `baton-fp`, and the in-memory deep index (`deep::Library`).
//!
//! The sample is chosen by value, not by position, so a copy with a trimmed start samples the
//! same values; and it keys on the 24 bits of a value that survive re-encoding best.
use crate::compare::Comparison;

/// One value in `SAMPLE_MOD` is indexed.
pub const SAMPLE_MOD: u32 = 8;

/// Whether value `v` belongs to the indexed sample of one value in `modulus` (a power of two; the
/// samples are nested: a value sampled at 8 is also sampled at 4 and 2).
#[inline]
pub fn sampled(v: u32, modulus: u32) -> bool {
    (v.wrapping_mul(0x9E37_79B1) >> 24).is_multiple_of(modulus)
}

/// The bits of a fingerprint value that survive re-encoding best: the index keys on these 24 of
/// the 32 bits, so a lossy copy (an AAC preview clip of a FLAC original) shares far more keys
/// with its original than with exact values.
pub const KEY_MASK: u32 = 0xFEFE_E9AE;

/// The sorted, distinct sampled keys ([`KEY_MASK`]ed values) of a fingerprint. Short
/// fingerprints (under 75 s / 37 s) are sampled more densely (1 in 4 / 1 in 2) so that they
/// still get enough keys.
pub fn sample_keys(fp: &[u32]) -> Vec<u32> {
    let modulus = if fp.len() >= 600 {
        SAMPLE_MOD
    } else if fp.len() >= 300 {
        4
    } else {
        2
    };
    let mut k: Vec<u32> = fp.iter().map(|v| v & KEY_MASK).filter(|v| sampled(*v, modulus)).collect();
    k.sort_unstable();
    k.dedup();
    k
}

/// A verified duplicate pair (the ids its index gave the two prints; the library's are database
/// ids).
#[derive(Debug, Clone, Copy)]
pub struct Pair {
    pub a: i64,
    pub b: i64,
    pub cmp: Comparison,
}
