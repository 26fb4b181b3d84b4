//! Comparing two fingerprints: where they align, and whether they are the same recording.
//!
//! [`search`] is the verification of the default mode (`method: "prefix"`, the stored 120 s
//! prefixes, no extra decoding). It tries **every offset at which the two prints overlap by at
//! least 10 s**, so a radio edit whose intro was cut by 45 s, or a 30 s clip from the middle of a
//! track, still aligns. A wide search makes raw similarity (`1 - bit error rate`) unreliable: a
//! tonally similar but different piece is similar at every offset, and among a thousand offsets
//! one short overlap scores high by chance. So a pair is judged by its **contrast**: the
//! similarity at the peak minus the mean similarity 4–6 items (0.5–0.75 s) either side of it. The
//! same recording peaks sharply (neighbours fall to the level of unrelated audio), a look-alike is
//! flat. [`is_match`] is the rule dedup and library matches share.
//!
//! Cost: one pass over all offsets with every 4th item (AVX2 popcount where the CPU has it), then
//! exact similarity around the few best peaks: about as much work as the old ±15 s search.
use serde::Serialize;

use crate::chroma::ITEM_SECONDS;

/// The offset range of [`compare`] in items (about 15 s either way), for callers that only want
/// a nearby alignment.
pub const DEFAULT_MAX_OFFSET: usize = 120;
/// Minimum number of aligned items for [`compare`] to count.
pub const MIN_OVERLAP: usize = 40;
/// Minimum overlap of [`search`] in items: 10 s.
pub const MIN_SEARCH_OVERLAP: usize = 81;
/// Minimum [`Comparison::contrast`] for the same recording, with at least [`SHORT_OVERLAP`]
/// items of overlap. Measured on the labelled corpus (93 files) and a hard set of edits of 13
/// Debian `singularity-music` tracks (intro cuts, 30 s and 15 s clips, radio edits, noise; 81
/// files): true pairs have a contrast of 0.15 or more (radio edits with a section cut out of the
/// prefix: 0.10–0.19), unrelated pairs at most 0.07, and those only on short overlaps. See
/// `bench/README.md`, "Verification by contrast".
pub const MIN_CONTRAST: f64 = 0.10;
/// Below this overlap (20 s) similarity is noisier, and the contrast must reach
/// [`MIN_CONTRAST_SHORT`].
pub const SHORT_OVERLAP: usize = 162;
/// Minimum contrast on overlaps under [`SHORT_OVERLAP`] (true 15 s clips: 0.17 or more).
pub const MIN_CONTRAST_SHORT: f64 = 0.13;
/// The method name of [`search`] in JSON output.
pub const METHOD_PREFIX: &str = "prefix";
/// Items skipped between the samples of the coarse pass.
const STRIDE: usize = 4;
/// Peaks of the coarse pass refined exactly.
const PEAKS: usize = 6;
/// The contrast compares the peak with offsets this far either side (items).
const FLANK: std::ops::RangeInclusive<i32> = 4..=6;

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
    /// `score` minus the mean similarity 4–6 items either side of `offset` ([`search`]; 0 from
    /// [`compare`]).
    pub contrast: f64,
    /// How the pair was compared: [`METHOD_PREFIX`] for [`search`], `"offset"` for [`compare`].
    pub method: &'static str,
    /// Playback speed of `b` relative to `a` (1.0: the default mode does not search speeds).
    pub speed: f64,
    /// How a deep-mode match was found (`method: "deep"`, the `deep` module); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
}

/// How a deep match was found (JSON `evidence` of a pair).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Evidence {
    /// Windows of the query print (the shorter file).
    pub windows: u32,
    /// Windows whose peak lies on one of the lines.
    pub inliers: u32,
    /// Lines found (more than one: sections were cut out or repeated).
    pub lines: u32,
    /// Slope of the first line, query items per reference item (tempo difference left after
    /// the speed print).
    pub slope: f64,
    /// The speed print of the query that matched.
    pub query_speed: f64,
    /// The score the pair had to reach (`deep::threshold` of the query length).
    pub threshold: f64,
    /// Which side of the pair was the query: `"a"` or `"b"`.
    pub query: &'static str,
}

impl Comparison {
    fn at(score: f64, offset: i32, overlap: usize, contrast: f64, method: &'static str) -> Self {
        Comparison {
            score,
            offset,
            offset_seconds: offset as f64 * ITEM_SECONDS,
            overlap,
            contrast,
            method,
            speed: 1.0,
            evidence: None,
        }
    }
}

/// Whether a [`search`] result is the same recording: a sharp peak ([`MIN_CONTRAST`], or
/// [`MIN_CONTRAST_SHORT`] on a short overlap) that is also at least `min_similarity` similar.
pub fn is_match(c: &Comparison, min_similarity: f64) -> bool {
    let min = if c.overlap < SHORT_OVERLAP { MIN_CONTRAST_SHORT } else { MIN_CONTRAST };
    c.contrast >= min && c.score >= min_similarity
}

/// Differing bits between two slices of equal length.
#[inline]
fn xor_popcount(a: &[u32], b: &[u32]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected on this CPU at run time.
        return unsafe { xor_popcount_avx2(a, b) };
    }
    xor_popcount_plain(a, b)
}

#[inline(always)]
fn xor_popcount_plain(a: &[u32], b: &[u32]) -> u64 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones() as u64).sum()
}

/// The same loop compiled for AVX2, which LLVM vectorises with a nibble-table popcount.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn xor_popcount_avx2(a: &[u32], b: &[u32]) -> u64 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum::<u32>() as u64
}

/// Number of differing bits between `a[off..]` and `b[..]` (or `a` and `b[-off..]`), and the
/// number of items compared.
#[inline]
pub fn bit_errors(a: &[u32], b: &[u32], offset: i32) -> (u64, usize) {
    let (a, b) = if offset >= 0 {
        (a.get(offset as usize..).unwrap_or(&[]), b)
    } else {
        (a, b.get(offset.unsigned_abs() as usize..).unwrap_or(&[]))
    };
    let n = a.len().min(b.len());
    (xor_popcount(&a[..n], &b[..n]), n)
}

pub(crate) fn similarity(a: &[u32], b: &[u32], offset: i32) -> Option<(f64, usize)> {
    let (errs, n) = bit_errors(a, b, offset);
    (n > 0).then(|| (1.0 - errs as f64 / (32.0 * n as f64), n))
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
            best = Some(Comparison::at(score, off, n, 0.0, "offset"));
        }
    }
    best
}

/// The contrast at `offset`: its similarity minus the mean similarity at the [`FLANK`] offsets
/// either side that still overlap by at least half the minimum. `None` without any.
pub(crate) fn contrast_at(a: &[u32], b: &[u32], offset: i32, peak: f64, min_overlap: usize) -> Option<f64> {
    let (mut sum, mut count) = (0.0, 0);
    for d in FLANK {
        for o in [offset - d, offset + d] {
            if let Some((s, n)) = similarity(a, b, o)
                && n * 2 >= min_overlap
            {
                sum += s;
                count += 1;
            }
        }
    }
    (count > 0).then(|| peak - sum / count as f64)
}

/// Coarse pass of [`search`]: the similarity at every offset in `lo..=hi`, over every
/// STRIDE-th item. `b` is sampled at phase 0 and `a` at each phase, so that every offset
/// compares two contiguous slices.
fn coarse_pass(a: &[u32], b: &[u32], lo: i32, hi: i32) -> Vec<f32> {
    coarse_pass_phased(&phases(a), a.len(), b, lo, hi)
}

/// `a` split into its STRIDE phases (every STRIDE-th item from each start), for
/// [`coarse_pass_phased`]: deep verification slides many windows over one reference.
pub(crate) fn phases(a: &[u32]) -> Vec<Vec<u32>> {
    (0..STRIDE).map(|p| a.iter().skip(p).step_by(STRIDE).copied().collect()).collect()
}

/// [`coarse_pass`] over a reference already split by [`phases`].
pub(crate) fn coarse_pass_phased(phases: &[Vec<u32>], a_len: usize, b: &[u32], lo: i32, hi: i32) -> Vec<f32> {
    let bs: Vec<u32> = b.iter().step_by(STRIDE).copied().collect();
    let a = a_len;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 was detected on this CPU at run time.
        return unsafe { coarse_avx2(phases, &bs, a, b.len(), lo, hi) };
    }
    coarse_body(phases, &bs, a, b.len(), lo, hi)
}

/// The whole loop compiled for AVX2 (a call per offset would cost more than its ~30 items).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn coarse_avx2(phases: &[Vec<u32>], bs: &[u32], a_len: usize, b_len: usize, lo: i32, hi: i32) -> Vec<f32> {
    coarse_body(phases, bs, a_len, b_len, lo, hi)
}

#[inline(always)]
fn coarse_body(phases: &[Vec<u32>], bs: &[u32], a_len: usize, b_len: usize, lo: i32, hi: i32) -> Vec<f32> {
    // plain loops, no closures: a closure would not be compiled with the caller's AVX2
    let mut out = Vec::with_capacity((hi - lo + 1).max(0) as usize);
    for off in lo..=hi {
        // items i of `b` with 0 <= i + off < a_len, i < b_len, i a multiple of STRIDE
        let first = (-off).max(0) as usize;
        let end = (b_len as i64).min(a_len as i64 - off as i64).max(0) as usize;
        let (j0, j1) = (first.div_ceil(STRIDE), end.div_ceil(STRIDE));
        let ap = &phases[off.rem_euclid(STRIDE as i32) as usize];
        let q = off.div_euclid(STRIDE as i32) as i64;
        let k0 = (j0 as i64 + q).max(0) as usize;
        let n = j1.saturating_sub(j0).min(ap.len().saturating_sub(k0));
        if n == 0 {
            out.push(0.0);
            continue;
        }
        let (x, y) = (&ap[k0..k0 + n], &bs[j0..j0 + n]);
        let mut errs = 0u32;
        for i in 0..n {
            errs += (x[i] ^ y[i]).count_ones();
        }
        out.push(1.0 - errs as f32 / (32.0 * n as f32));
    }
    out
}

/// The default-mode verification: the alignment with the highest contrast among all offsets
/// that overlap by at least [`MIN_SEARCH_OVERLAP`] items (or the shorter print, if shorter).
/// `None` when either print is empty.
pub fn search(a: &[u32], b: &[u32]) -> Option<Comparison> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let min_ov = MIN_SEARCH_OVERLAP.min(a.len()).min(b.len());
    let lo = -((b.len() - min_ov) as i32);
    let hi = (a.len() - min_ov) as i32;
    let coarse = coarse_pass(a, b, lo, hi);
    // The best local maxima (each the highest within ±FLANK) of the coarse pass.
    let w = *FLANK.end() as usize;
    let mut peaks: Vec<usize> = (0..coarse.len())
        .filter(|&k| {
            let (l, r) = (k.saturating_sub(w), (k + w + 1).min(coarse.len()));
            coarse[l..r].iter().all(|&v| v <= coarse[k]) && coarse[l..k].iter().all(|&v| v < coarse[k])
        })
        .collect();
    peaks.sort_by(|&x, &y| coarse[y].total_cmp(&coarse[x]));
    peaks.truncate(PEAKS);
    // Refine: exact similarity at the peak and its neighbours, then the contrast.
    let mut best: Option<Comparison> = None;
    for k in peaks {
        let c = lo + k as i32;
        let Some((off, (score, n))) = (c - 1..=c + 1)
            .filter(|o| (lo..=hi).contains(o))
            .filter_map(|o| similarity(a, b, o).map(|s| (o, s)))
            .max_by(|x, y| x.1.0.total_cmp(&y.1.0))
        else {
            continue;
        };
        let Some(contrast) = contrast_at(a, b, off, score, min_ov) else { continue };
        if best.is_none_or(|b| contrast > b.contrast) {
            best = Some(Comparison::at(score, off, n, contrast, METHOD_PREFIX));
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
pub(crate) mod tests {
    use super::*;

    /// A print with the autocorrelation of a real one: each item keeps most bits of the last.
    /// (Shared by the deep-mode tests.)
    pub(crate) fn print(seed: u32, n: usize) -> Vec<u32> {
        let mut s = seed.wrapping_mul(2_654_435_761) | 1;
        let mut v = 0u32;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                v ^= 1 << (s % 32);
                v ^= 1 << ((s >> 8) % 32);
                v
            })
            .collect()
    }

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

    #[test]
    fn search_finds_far_offsets_both_ways_and_scores_contrast() {
        let a = print(1, 950);
        // an intro cut by 45 s (363 items), and a 30 s clip from the middle
        for (start, len) in [(363, 950 - 363), (400, 242)] {
            let b = a[start..start + len].to_vec();
            let c = search(&a, &b).unwrap();
            assert_eq!((c.offset, c.score, c.overlap), (start as i32, 1.0, len));
            assert!(c.contrast > 0.2 && is_match(&c, 0.85), "{c:?}");
            let r = search(&b, &a).unwrap();
            assert_eq!(r.offset, -(start as i32));
        }
        // unrelated prints: no sharp peak anywhere
        let c = search(&a, &print(2, 950)).unwrap();
        assert!(c.contrast < 0.1 && !is_match(&c, 0.0), "{c:?}");
        // the plain loop and the AVX2 one agree
        let b = print(3, 950);
        assert_eq!(xor_popcount(&a, &b), xor_popcount_plain(&a, &b));
    }

    #[test]
    fn a_flat_look_alike_is_similar_but_has_no_contrast() {
        // the same few values, shuffled: similar at every offset, sharp at none
        let a: Vec<u32> = (0..600u32).map(|i| [0xF0F0_F0F0, 0xF0F0_F0F1, 0xF0F0_F0F3][(i * 7 % 3) as usize]).collect();
        let b: Vec<u32> = (0..600u32).map(|i| [0xF0F0_F0F0, 0xF0F0_F0F1, 0xF0F0_F0F3][(i * 5 % 3) as usize]).collect();
        let c = search(&a, &b).unwrap();
        assert!(c.score > 0.9 && !is_match(&c, 0.85), "{c:?}");
    }
}
