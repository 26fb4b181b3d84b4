//! Comparing two fingerprints: aligned bit error rate with an offset search, so that a copy with
//! a trimmed start still matches its original.
use serde::Serialize;

use crate::fingerprint::ITEM_SECONDS;

/// Default offset search range in items (about 15 s either way).
pub const DEFAULT_MAX_OFFSET: usize = 120;
/// Minimum number of aligned items for a comparison to count.
pub const MIN_OVERLAP: usize = 40;

/// The best alignment of two fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Comparison {
    /// `1 - bit error rate` over the aligned part, in 0..=1.
    pub score: f64,
    /// `b[i]` is aligned with `a[i + offset]` (positive: `b` starts later in the recording).
    pub offset: i32,
    /// The offset in seconds.
    pub offset_seconds: f64,
    /// Aligned items compared.
    pub overlap: usize,
}

/// Number of differing bits between `a[off..]` and `b[..]` (or `a` and `b[-off..]`), and the
/// number of items compared.
#[inline]
pub fn bit_errors(a: &[u32], b: &[u32], offset: i32) -> (u64, usize) {
    let (a, b) = if offset >= 0 {
        (a.get(offset as usize..).unwrap_or(&[]), b)
    } else {
        (a, b.get((-offset) as usize..).unwrap_or(&[]))
    };
    let n = a.len().min(b.len());
    let errs: u64 = a[..n].iter().zip(&b[..n]).map(|(x, y)| (x ^ y).count_ones() as u64).sum();
    (errs, n)
}

/// Best-scoring alignment within `±max_offset` items, requiring at least
/// `min(MIN_OVERLAP, shorter length)` aligned items. `None` when either is empty.
pub fn compare(a: &[u32], b: &[u32], max_offset: usize) -> Option<Comparison> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let min_overlap = MIN_OVERLAP.min(a.len()).min(b.len());
    let mut best: Option<Comparison> = None;
    let m = max_offset as i32;
    for off in -m..=m {
        let (errs, n) = bit_errors(a, b, off);
        if n < min_overlap || n == 0 {
            continue;
        }
        let score = 1.0 - errs as f64 / (32.0 * n as f64);
        if best.is_none_or(|b| score > b.score) {
            best = Some(Comparison { score, offset: off, offset_seconds: off as f64 * ITEM_SECONDS, overlap: n });
        }
    }
    best
}

/// Share of equal bits at offset 0 over the common length (the "bit agreement" used to compare
/// with fpcalc's own output).
pub fn bit_agreement(a: &[u32], b: &[u32]) -> f64 {
    let (errs, n) = bit_errors(a, b, 0);
    if n == 0 {
        return 0.0;
    }
    1.0 - errs as f64 / (32.0 * n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_shift() {
        let a: Vec<u32> = (0..300u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let b = a[25..].to_vec();
        let c = compare(&a, &b, 60).unwrap();
        assert_eq!(c.offset, 25);
        assert_eq!(c.score, 1.0);
        let c = compare(&b, &a, 60).unwrap();
        assert_eq!(c.offset, -25);
    }
}
