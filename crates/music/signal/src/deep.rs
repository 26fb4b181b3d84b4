//! Deep mode: the duplicates a 120 s prefix cannot show — clips from anywhere in a track, radio
//! edits with sections cut out, tempo changes (time-stretch) and turntable speed changes (speed
//! and pitch together).
//!
//! `baton fp scan --deep` (or `[fp] deep = true`) decodes whole tracks (up to [`MAX_SECONDS`])
//! and stores, besides the Chromaprint-compatible prefix print, a whole-track print at each of
//! the [`SPEEDS`]: the 11,025 Hz samples resampled as if played at that speed, then
//! fingerprinted. A turntable change of +2 % is undone by the 0.98 print (pitch and tempo both
//! come back); a pure tempo change is left to the line slopes below.
//!
//! Verification ([`verify`]) of a query print (the shorter file, at a few speeds) against a
//! reference print (the longer file, at speed 1):
//! 1. the query is cut into 10 s windows ([`WINDOW`] items, hop [`HOP`]); each window is slid
//!    over every offset of the reference and keeps its [`TOP_PEAKS`] sharpest peaks, each with
//!    its **contrast** (peak similarity minus the mean 4–6 items either side);
//! 2. a Hough vote over lines `ref = slope × query + intercept` with slopes
//!    0.97–1.03 (bins of ±3 items) picks up to [`MAX_LINES`] lines of nearly the same slope, so
//!    an edit with a chunk cut out still lines up piecewise; a line found at a slope away from 1
//!    is confirmed once more on the query print stretched by that slope;
//! 3. the **score** is the sum of the inlier windows' contrasts divided by the number of
//!    windows. Real matches peak sharply in most windows; tonal look-alikes and unrelated music
//!    give a few scattered, weak peaks. A pair matches at [`threshold`] (0.10 for queries under
//!    20 s, 0.07 up to 45 s, 0.06 above; a query under 20 s also needs a mean inlier
//!    similarity of [`MIN_SHORT_SIMILARITY`]).
//!
//! Candidates come from an inverted index ([`Library`]) over the speed-1 prints: keys are the
//! 24 stable bits ([`crate::index::KEY_MASK`]) of a content-defined sample of the items, runs
//! of equal keys count once, and each distinct key votes once per (track, 32-item offset
//! bucket). Queries are run at all seven speeds. A candidate is verified at its best-voted
//! speed, only near its voted offset buckets ([`Near`]), and at the neighbouring speeds only
//! when that first score comes close ([`verify_candidate`]).
use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::chroma::ITEM_SECONDS;
use crate::compare::{self, Comparison, Evidence};
use crate::index::{KEY_MASK, Pair, sampled};

/// Speeds of the stored whole-track prints; [`UNIT`] is 1.0.
pub const SPEEDS: [f64; 7] = [0.97, 0.98, 0.99, 1.0, 1.01, 1.02, 1.03];
/// Index of speed 1.0 in [`SPEEDS`].
pub const UNIT: usize = 3;
/// Longest stretch of a track decoded in deep mode (30 min; DJ mixes are out of scope).
pub const MAX_SECONDS: u32 = 1800;
/// The method name of deep matches in JSON output.
pub const METHOD_DEEP: &str = "deep";
/// Window length in items (about 10 s).
pub const WINDOW: usize = 80;
/// Hop between windows in items (about 2.5 s).
pub const HOP: usize = 20;
/// Peaks kept per window.
pub const TOP_PEAKS: usize = 3;
/// Lines of the Hough vote.
pub const MAX_LINES: usize = 4;
/// Half-width of a Hough bin in items.
const BIN: f64 = 3.0;
/// Slopes tried by the vote: 0.97..=1.03.
const SLOPE_STEPS: i32 = 12;
const SLOPE_STEP: f64 = 0.005;
/// Later lines stay this close to the slope of the first.
const LINE_SLOPE_TOLERANCE: f64 = 0.0051;
/// A line needs at least this many windows.
const MIN_INLIERS: usize = 2;
/// Content-defined sample of the indexed items: one key in this many.
const INDEX_SAMPLE: u32 = 2;
/// Keys shared by more postings than this are stop words.
const MAX_POSTINGS: usize = 256;
/// Offset bucket of the candidate vote, in items.
const BUCKET: i64 = 32;
/// Votes a candidate needs.
const MIN_VOTES: u32 = 3;
/// Candidates verified per query.
const TOP_CANDIDATES: usize = 8;

/// The whole-track prints of 11,025 Hz mono samples, one per [`SPEEDS`] entry.
pub fn prints(samples: &[i16]) -> Vec<Vec<u32>> {
    SPEEDS.iter().map(|&s| crate::chroma::fingerprint(&at_speed(samples, s))).collect()
}

/// A print of unknown speed (a plugin's query of up to 120 s) as a deep query: the print
/// itself at speed 1 and, for the other [`SPEEDS`], stretched in time by `1 / speed` (the
/// length a print of the audio played at that speed would have; the pitch is not shifted, so
/// this tolerates tempo changes better than turntable ones, which whole-track deep prints of
/// a scanned file undo fully).
pub fn query_prints(print: &[u32]) -> Vec<Vec<u32>> {
    SPEEDS.iter().map(|&s| if (s - 1.0).abs() < 1e-9 { print.to_vec() } else { stretch(print, 1.0 / s) }).collect()
}

/// `samples` as if played at `speed` (linear interpolation; 1.0 returns them unchanged).
pub fn at_speed(samples: &[i16], speed: f64) -> Vec<i16> {
    if (speed - 1.0).abs() < 1e-9 || samples.len() < 2 {
        return samples.to_vec();
    }
    let n = ((samples.len() - 1) as f64 / speed) as usize;
    (0..n)
        .map(|i| {
            let x = i as f64 * speed;
            let k = x as usize;
            let f = x - k as f64;
            let (a, b) = (samples[k] as f64, samples[(k + 1).min(samples.len() - 1)] as f64);
            (a + (b - a) * f).round() as i16
        })
        .collect()
}

/// Queries shorter than this (20 s) also need [`MIN_SHORT_SIMILARITY`].
pub const SHORT_ITEMS: usize = 162;
/// Mean similarity of the inlier windows a short query needs: with only three windows, two
/// chance peaks in a row can reach 0.06 contrast; true clips are 0.86 similar or more, chance
/// peaks about 0.65.
pub const MIN_SHORT_SIMILARITY: f64 = 0.72;

/// The score a query of `query_items` items must reach.
pub fn threshold(query_items: usize) -> f64 {
    let secs = query_items as f64 * ITEM_SECONDS;
    if secs < 20.0 {
        0.10
    } else if secs < 45.0 {
        0.07
    } else {
        0.06
    }
}

/// `q` stretched in time by `factor` (nearest item): `out[i] = q[i / factor]`.
pub fn stretch(q: &[u32], factor: f64) -> Vec<u32> {
    let n = (q.len() as f64 * factor) as usize;
    (0..n).filter_map(|i| q.get((i as f64 / factor).round() as usize).copied()).collect()
}

#[derive(Debug, Clone, Copy)]
struct Peak {
    win: usize,
    q: f64,
    p: f64,
    sim: f64,
    contrast: f64,
}

/// Where to look for a query's windows in a reference: the offset buckets the candidate vote
/// found (`ref - query` in `[32·b, 32·b + 64)` items at the voted speed print), widened by the
/// drift a line of slope 0.96–1.04 can build up over the query. `None`: every offset.
#[derive(Debug, Clone, Copy)]
pub struct Near<'a> {
    /// Voted buckets ([`Candidate::buckets`]).
    pub buckets: &'a [i64],
    /// Items of the print the buckets were voted with, per item of the print being aligned.
    pub scale: f64,
    /// Length of the voted print in items (bounds the drift).
    pub voted_len: usize,
}

impl Near<'_> {
    /// Merged offset ranges (inclusive) for a window starting at `start`, within `0..=hi`.
    fn ranges(&self, start: usize, hi: i32) -> Vec<(i32, i32)> {
        let pos = start as f64 * self.scale;
        let drift = 0.04 * self.voted_len as f64 + 8.0;
        let mut v: Vec<(i32, i32)> = self
            .buckets
            .iter()
            .map(|&b| {
                let lo = ((pos + (b * BUCKET) as f64 - drift) / self.scale).floor() as i32;
                let up = ((pos + (b * BUCKET + 2 * BUCKET) as f64 + drift) / self.scale).ceil() as i32;
                (lo.max(0), up.min(hi))
            })
            .filter(|(lo, up)| lo <= up)
            .collect();
        v.sort_unstable();
        let mut out: Vec<(i32, i32)> = Vec::with_capacity(v.len());
        for (lo, up) in v {
            match out.last_mut() {
                Some(last) if lo <= last.1 + 1 => last.1 = last.1.max(up),
                _ => out.push((lo, up)),
            }
        }
        out
    }
}

/// The best peaks of every window of `q` over `reference` (only at the offsets `near` allows);
/// (windows, peaks).
fn window_peaks(q: &[u32], reference: &[u32], phases: &[Vec<u32>], near: Option<&Near>) -> (usize, Vec<Peak>) {
    if q.len() < WINDOW || reference.len() < WINDOW {
        return (0, Vec::new());
    }
    let hi = (reference.len() - WINDOW) as i32;
    let w = 6usize; // local maxima within ±6 items (the contrast's flank)
    let mut peaks = Vec::new();
    let mut starts: Vec<usize> = (0..=q.len() - WINDOW).step_by(HOP).collect();
    // the last window ends with the query (a 15 s clip gets 3 windows, not 2)
    if starts.last().is_some_and(|&l| l + WINDOW < q.len()) {
        starts.push(q.len() - WINDOW);
    }
    let mut local: Vec<(f32, i32)> = Vec::new();
    for (win, &start) in starts.iter().enumerate() {
        let window = &q[start..start + WINDOW];
        let ranges = match near {
            Some(n) => n.ranges(start, hi),
            None => vec![(0, hi)],
        };
        local.clear();
        for (lo, up) in ranges {
            let coarse = compare::coarse_pass_phased(phases, reference.len(), window, lo, up);
            local.extend((0..coarse.len()).filter_map(|k| {
                let (l, r) = (k.saturating_sub(w), (k + w + 1).min(coarse.len()));
                let max = coarse[l..r].iter().all(|&v| v <= coarse[k]) && coarse[l..k].iter().all(|&v| v < coarse[k]);
                max.then_some((coarse[k], lo + k as i32))
            }));
        }
        local.sort_by(|x, y| y.0.total_cmp(&x.0));
        local.truncate(TOP_PEAKS);
        for &(_, c) in &local {
            let Some((off, sim)) = (c - 1..=c + 1)
                .filter(|o| (0..=hi).contains(o))
                .filter_map(|o| compare::similarity(reference, window, o).map(|(s, _)| (o, s)))
                .max_by(|x, y| x.1.total_cmp(&y.1))
            else {
                continue;
            };
            let Some(contrast) = compare::contrast_at(reference, window, off, sim, WINDOW) else { continue };
            peaks.push(Peak { win, q: start as f64, p: off as f64, sim, contrast });
        }
    }
    (starts.len(), peaks)
}

/// One line of the vote: slope, intercept and the inlier peaks (one per window).
struct Line {
    slope: f64,
    intercept: f64,
    inliers: Vec<Peak>,
    sum: f64,
}

/// The line with the largest sum of contrasts over windows not yet used, among `slopes`.
fn best_line(peaks: &[Peak], used: &[bool], slopes: &[f64]) -> Option<Line> {
    let mut best: Option<Line> = None;
    for &slope in slopes {
        let mut v: Vec<(f64, Peak)> =
            peaks.iter().filter(|p| !used[p.win] && p.contrast > 0.0).map(|p| (p.p - slope * p.q, *p)).collect();
        v.sort_by(|x, y| x.0.total_cmp(&y.0));
        let mut j = 0;
        for i in 0..v.len() {
            j = j.max(i);
            while j < v.len() && v[j].0 <= v[i].0 + 2.0 * BIN {
                j += 1;
            }
            // one peak per window: its strongest in the bin
            let mut per: HashMap<usize, Peak> = HashMap::new();
            for (_, p) in &v[i..j] {
                let e = per.entry(p.win).or_insert(*p);
                if p.contrast > e.contrast {
                    *e = *p;
                }
            }
            let sum: f64 = per.values().map(|p| p.contrast).sum();
            let better = match &best {
                None => true,
                Some(b) => {
                    sum > b.sum + 1e-12 || ((sum - b.sum).abs() <= 1e-12 && (slope - 1.0).abs() < (b.slope - 1.0).abs())
                }
            };
            if better && per.len() >= MIN_INLIERS {
                let mut inliers: Vec<Peak> = per.into_values().collect();
                inliers.sort_by_key(|p| p.win);
                let intercept = inliers.iter().map(|p| p.p - slope * p.q).sum::<f64>() / inliers.len() as f64;
                best = Some(Line { slope, intercept, inliers, sum });
            }
        }
    }
    best
}

/// The result of aligning one query print with one reference print.
#[derive(Debug, Clone, Copy)]
struct Found {
    score: f64,
    sim: f64,
    slope: f64,
    intercept: f64,
    windows: usize,
    inliers: usize,
    lines: usize,
}

fn align(q: &[u32], reference: &[u32], phases: &[Vec<u32>], slopes: &[f64], near: Option<&Near>) -> Option<Found> {
    let (windows, peaks) = window_peaks(q, reference, phases, near);
    if windows == 0 {
        return None;
    }
    let mut used = vec![false; windows];
    let mut first = best_line(&peaks, &used, slopes)?;
    // the grid slope is within a step; the inliers give it exactly
    if let Some((s, b)) = fit(&first.inliers) {
        (first.slope, first.intercept) = (s, b);
    }
    let near: Vec<f64> = slopes.iter().copied().filter(|s| (s - first.slope).abs() <= LINE_SLOPE_TOLERANCE).collect();
    let (mut sum, mut sims, mut inliers, mut lines) = (0.0, 0.0, 0, 0);
    let (slope, intercept) = (first.slope, first.intercept);
    let mut line = Some(first);
    while let Some(l) = line {
        for p in &l.inliers {
            used[p.win] = true;
            sims += p.sim;
        }
        sum += l.sum;
        inliers += l.inliers.len();
        lines += 1;
        line = if lines < MAX_LINES { best_line(&peaks, &used, &near) } else { None };
    }
    Some(Found { score: sum / windows as f64, sim: sims / inliers as f64, slope, intercept, windows, inliers, lines })
}

/// Least-squares line `p = slope × q + intercept` through the peaks (at least 3, spread over
/// at least 10 windows), its slope kept within the searched range.
fn fit(peaks: &[Peak]) -> Option<(f64, f64)> {
    let n = peaks.len() as f64;
    let (mq, mp) = (peaks.iter().map(|p| p.q).sum::<f64>() / n, peaks.iter().map(|p| p.p).sum::<f64>() / n);
    let sqq: f64 = peaks.iter().map(|p| (p.q - mq).powi(2)).sum();
    let sqp: f64 = peaks.iter().map(|p| (p.q - mq) * (p.p - mp)).sum();
    let spread = peaks.iter().map(|p| p.win).max()? - peaks.iter().map(|p| p.win).min()?;
    if peaks.len() < 3 || spread < 10 || sqq <= 0.0 {
        return None;
    }
    let slope =
        (sqp / sqq).clamp(1.0 - SLOPE_STEP * (SLOPE_STEPS / 2) as f64, 1.0 + SLOPE_STEP * (SLOPE_STEPS / 2) as f64);
    Some((slope, mp - slope * mq))
}

fn all_slopes() -> Vec<f64> {
    (-SLOPE_STEPS / 2..=SLOPE_STEPS / 2).map(|k| 1.0 + k as f64 * SLOPE_STEP).collect()
}

/// A verified deep alignment of a query (at one of its speed prints) with a reference.
#[derive(Debug, Clone, Copy)]
pub struct DeepMatch {
    /// Contrast score: inlier contrasts over windows.
    pub score: f64,
    /// Mean similarity of the inlier windows' peaks.
    pub similarity: f64,
    /// Playback speed of the query relative to the reference.
    pub speed: f64,
    /// Reference item where the query's first item lies.
    pub offset: f64,
    pub windows: usize,
    pub inliers: usize,
    pub lines: usize,
    pub slope: f64,
    pub query_speed: f64,
    /// Items of the query's speed-1 print.
    pub query_items: usize,
}

impl DeepMatch {
    /// Whether this is the same recording.
    pub fn is_match(&self) -> bool {
        self.score >= threshold(self.query_items)
            && (self.query_items >= SHORT_ITEMS || self.similarity >= MIN_SHORT_SIMILARITY)
    }
}

/// Aligns the query's prints (`query[i]` at [`SPEEDS`]`[i]`, only those in `speeds` tried)
/// with `reference` (a speed-1 print) at every offset; the best over the speeds.
pub fn verify(query: &[Vec<u32>], speeds: &[usize], reference: &[u32]) -> Option<DeepMatch> {
    let phases = compare::phases(reference);
    let mut best: Option<DeepMatch> = None;
    for &si in speeds {
        if let Some(m) = verify_at(query, si, reference, &phases, None)
            && best.is_none_or(|b| m.score > b.score)
        {
            best = Some(m);
        }
    }
    best
}

/// Verifies a [`Candidate`] of [`Library::candidates`]: the voted speed print first, searched
/// only near the voted offsets ([`Near`]); a match there ends it. Its neighbouring speeds are
/// tried only when the first score reached half the threshold (a true match one speed step
/// off still peaks in most windows; unrelated music does not), so most candidates cost one
/// bounded alignment instead of three over every offset.
pub fn verify_candidate(query: &[Vec<u32>], c: &Candidate, reference: &[u32]) -> Option<DeepMatch> {
    let phases = compare::phases(reference);
    let voted_len = query.get(c.speed)?.len();
    let near_for = |si: usize| Near { buckets: &c.buckets, scale: SPEEDS[si] / SPEEDS[c.speed], voted_len };
    let first = verify_at(query, c.speed, reference, &phases, Some(&near_for(c.speed)));
    if first.is_some_and(|m| m.is_match() || m.score < threshold(m.query_items) / 2.0) {
        return first;
    }
    let mut best = first;
    for si in speeds_around(c.speed).into_iter().filter(|&s| s != c.speed) {
        if let Some(m) = verify_at(query, si, reference, &phases, Some(&near_for(si)))
            && best.is_none_or(|b| m.score > b.score)
        {
            best = Some(m);
        }
    }
    best
}

/// One speed print of the query against the reference.
fn verify_at(
    query: &[Vec<u32>],
    si: usize,
    reference: &[u32],
    phases: &[Vec<u32>],
    near: Option<&Near>,
) -> Option<DeepMatch> {
    let q = query.get(si)?;
    let query_items = query.get(UNIT).map_or(0, Vec::len);
    let mut f = align(q, reference, phases, &all_slopes(), near)?;
    if (f.slope - 1.0).abs() > SLOPE_STEP / 2.0 {
        // confirm a tempo difference on the query stretched by it: windows then align
        // whole instead of drifting by up to 2.4 items each
        let s = stretch(q, f.slope);
        let fine: Vec<f64> = (-2..=2).map(|k| 1.0 + k as f64 * 0.0025).collect();
        let near = near.map(|n| Near { scale: n.scale / f.slope, ..*n });
        if let Some(g) = align(&s, reference, phases, &fine, near.as_ref())
            && g.score > f.score
        {
            f = Found { slope: f.slope * g.slope, ..g };
        }
    }
    Some(DeepMatch {
        score: f.score,
        similarity: f.sim,
        speed: f.slope / SPEEDS[si],
        offset: f.intercept,
        windows: f.windows,
        inliers: f.inliers,
        lines: f.lines,
        slope: f.slope,
        query_speed: SPEEDS[si],
        query_items,
    })
}

impl DeepMatch {
    /// As a [`Comparison`] of the pair (a, b), `query_is_b` telling which was the query.
    pub fn comparison(&self, query_is_b: bool) -> Comparison {
        // query[i] ~ reference[offset + slope·i]; Comparison: b[i] ~ a[i + offset]
        let (offset, speed) =
            if query_is_b { (self.offset, self.speed) } else { (-self.offset / self.speed, 1.0 / self.speed) };
        let offset_i = offset.round() as i32;
        Comparison {
            score: self.similarity,
            offset: offset_i,
            offset_seconds: offset * ITEM_SECONDS,
            overlap: self.inliers * HOP + WINDOW - HOP,
            contrast: self.score,
            method: METHOD_DEEP,
            speed,
            evidence: Some(Evidence {
                windows: self.windows as u32,
                inliers: self.inliers as u32,
                lines: self.lines as u32,
                slope: self.slope,
                query_speed: self.query_speed,
                threshold: threshold(self.query_items),
                query: if query_is_b { "b" } else { "a" },
            }),
        }
    }
}

/// (position, key) of the indexed sample of a print: [`KEY_MASK`]ed items, runs of one key
/// counted once, one key in [`INDEX_SAMPLE`] by value.
fn index_keys(print: &[u32]) -> impl Iterator<Item = (u32, u32)> + '_ {
    let mut last = None;
    print.iter().enumerate().filter_map(move |(i, v)| {
        let k = v & KEY_MASK;
        if last == Some(k) {
            return None;
        }
        last = Some(k);
        sampled(k, INDEX_SAMPLE).then_some((i as u32, k))
    })
}

/// The inverted index over a library's speed-1 prints.
pub struct Library {
    /// Database ids, by track index.
    pub ids: Vec<i64>,
    /// Speed-1 prints, by track index.
    pub prints: Vec<Vec<u32>>,
    /// (key, track, position), sorted.
    postings: Vec<(u32, u32, u32)>,
}

impl Library {
    /// Indexes `tracks` (database id, speed-1 print).
    pub fn new(tracks: Vec<(i64, Vec<u32>)>) -> Library {
        let mut postings = Vec::new();
        let (mut ids, mut prints) = (Vec::with_capacity(tracks.len()), Vec::with_capacity(tracks.len()));
        for (t, (id, print)) in tracks.into_iter().enumerate() {
            postings.extend(index_keys(&print).map(|(pos, k)| (k, t as u32, pos)));
            ids.push(id);
            prints.push(print);
        }
        postings.sort_unstable();
        Library { ids, prints, postings }
    }

    /// Bytes of postings held (the index size).
    pub fn index_bytes(&self) -> usize {
        self.postings.len() * std::mem::size_of::<(u32, u32, u32)>()
    }

    fn postings_of(&self, k: u32) -> &[(u32, u32, u32)] {
        let lo = self.postings.partition_point(|p| p.0 < k);
        let hi = self.postings.partition_point(|p| p.0 <= k);
        &self.postings[lo..hi]
    }

    /// Candidate tracks for a query (its prints at [`SPEEDS`]), most votes first, at most
    /// `TOP_CANDIDATES`, only tracks `eligible` accepts.
    pub fn candidates(&self, query: &[Vec<u32>], eligible: impl Fn(usize) -> bool) -> Vec<Candidate> {
        // per track: (speed, votes of its best bucket pair, buckets at that speed)
        let mut best: HashMap<usize, (usize, u32, Vec<(u32, i64)>)> = HashMap::new();
        for (si, q) in query.iter().enumerate() {
            let mut seen: HashSet<(u32, u32, i64)> = HashSet::new();
            let mut votes: HashMap<(u32, i64), u32> = HashMap::new();
            for (pos, k) in index_keys(q) {
                let ps = self.postings_of(k);
                if ps.len() > MAX_POSTINGS {
                    continue;
                }
                for &(_, t, p) in ps {
                    if !eligible(t as usize) {
                        continue;
                    }
                    let bucket = (p as i64 - pos as i64).div_euclid(BUCKET);
                    if seen.insert((k, t, bucket)) {
                        *votes.entry((t, bucket)).or_default() += 1;
                    }
                }
            }
            // a tempo drift spreads one alignment over neighbouring buckets
            let mut per: HashMap<u32, Vec<(u32, i64)>> = HashMap::new();
            for (&(t, b), &n) in &votes {
                let total = n + votes.get(&(t, b + 1)).copied().unwrap_or(0);
                if total >= MIN_VOTES {
                    per.entry(t).or_default().push((total, b));
                }
            }
            for (t, bs) in per {
                let top = bs.iter().map(|x| x.0).max().unwrap_or(0);
                let e = best.entry(t as usize).or_insert((si, 0, Vec::new()));
                if top > e.1 {
                    *e = (si, top, bs);
                }
            }
        }
        let mut v: Vec<Candidate> = best
            .into_iter()
            .map(|(track, (speed, votes, mut bs))| {
                // the best bucket pairs, one per line of a cut edit
                bs.sort_by(|x, y| y.0.cmp(&x.0).then(x.1.cmp(&y.1)));
                let mut buckets: Vec<i64> = Vec::new();
                for (_, b) in bs {
                    if buckets.len() < MAX_LINES && buckets.iter().all(|&c| (c - b).abs() > 1) {
                        buckets.push(b);
                    }
                }
                Candidate { track, speed, votes, buckets }
            })
            .collect();
        v.sort_by(|x, y| y.votes.cmp(&x.votes).then(x.track.cmp(&y.track)));
        v.truncate(TOP_CANDIDATES);
        v
    }
}

/// A track the index proposes for a query ([`Library::candidates`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Track index in the [`Library`].
    pub track: usize,
    /// The speed print of the query with the most votes ([`SPEEDS`] index).
    pub speed: usize,
    /// Votes of its best pair of offset buckets.
    pub votes: u32,
    /// The best offset buckets at that speed (up to [`MAX_LINES`], `ref - query` in
    /// `[32·b, 32·b + 64)` items): where [`verify_candidate`] looks.
    pub buckets: Vec<i64>,
}

/// The speed prints to verify around the best-voted one.
pub fn speeds_around(si: usize) -> Vec<usize> {
    (si.saturating_sub(1)..=(si + 1).min(SPEEDS.len() - 1)).collect()
}

/// Statistics of a deep pass.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DeepStats {
    /// Files with deep prints.
    pub tracks: u64,
    pub candidates: u64,
    pub verified_pairs: u64,
    /// Bytes of the in-memory index.
    pub index_bytes: u64,
}

/// Verified deep pairs over every file with deep prints (`a < b` by id). Each pair is queried
/// from its shorter side; `load` gives a track's prints at all [`SPEEDS`].
pub fn find_pairs<E>(
    lib: &Library,
    mut load: impl FnMut(i64) -> Result<Option<Vec<Vec<u32>>>, E>,
) -> Result<(Vec<Pair>, DeepStats), E> {
    use rayon::prelude::*;
    let mut stats =
        DeepStats { tracks: lib.ids.len() as u64, index_bytes: lib.index_bytes() as u64, ..Default::default() };
    let mut pairs = Vec::new();
    let order = |t: usize| (lib.prints[t].len(), lib.ids[t]);
    let idx: Vec<usize> = (0..lib.ids.len()).collect();
    for chunk in idx.chunks(64) {
        let mut queries = Vec::with_capacity(chunk.len());
        for &t in chunk {
            if let Some(p) = load(lib.ids[t])? {
                queries.push((t, p));
            }
        }
        let found: Vec<(u64, Vec<Pair>)> = queries
            .par_iter()
            .map(|(t, q)| {
                let cands = lib.candidates(q, |u| order(u) > order(*t));
                let n = cands.len() as u64;
                let ok = cands
                    .into_iter()
                    .filter_map(|c| {
                        let u = c.track;
                        let m = verify_candidate(q, &c, &lib.prints[u])?;
                        if !m.is_match() {
                            return None;
                        }
                        let (qa, ua) = (lib.ids[*t], lib.ids[u]);
                        let query_is_b = qa > ua;
                        let (a, b) = if query_is_b { (ua, qa) } else { (qa, ua) };
                        Some(Pair { a, b, cmp: m.comparison(query_is_b) })
                    })
                    .collect();
                (n, ok)
            })
            .collect();
        for (n, ok) in found {
            stats.candidates += n;
            pairs.extend(ok);
        }
    }
    stats.verified_pairs = pairs.len() as u64;
    Ok((pairs, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::tests::print;

    #[test]
    fn a_radio_edit_aligns_on_two_lines_and_unrelated_prints_do_not() {
        let a = print(7, 1500);
        // intro cut by 200 items, then 240 items removed from the middle
        let mut b = a[200..700].to_vec();
        b.extend_from_slice(&a[940..1400]);
        let q = vec![b.clone(); SPEEDS.len()];
        let m = verify(&q, &[UNIT], &a).unwrap();
        assert!(m.is_match() && m.lines >= 2 && (m.offset - 200.0).abs() < 2.0, "{m:?}");
        assert!(m.score > 0.15, "{m:?}");
        let other = print(8, 1500);
        let n = verify(&q, &[UNIT], &other).unwrap();
        assert!(!n.is_match() && n.score < 0.03, "{n:?}");
        // the comparison seen from the other side
        let c = m.comparison(false);
        assert_eq!((c.method, c.offset), (METHOD_DEEP, -200));
    }

    #[test]
    fn a_tempo_change_is_found_by_the_slope() {
        let a = print(9, 1200);
        let b = stretch(&a[100..1100], 1.0 / 0.97); // 3 % slower
        let q = vec![b; SPEEDS.len()];
        let m = verify(&q, &[UNIT], &a).unwrap();
        assert!(m.is_match() && (m.speed - 0.97).abs() < 0.004, "{m:?}");
    }

    #[test]
    fn speed_resampling_keeps_length_inverse() {
        let s: Vec<i16> = (0..11025).map(|i| (i % 100) as i16).collect();
        assert_eq!(at_speed(&s, 1.0).len(), 11025);
        let f = at_speed(&s, 1.02).len() as f64;
        assert!((f - 11024.0 / 1.02).abs() < 2.0, "{f}");
    }

    #[test]
    fn the_index_votes_for_the_original_at_the_right_speed() {
        let tracks: Vec<(i64, Vec<u32>)> = (0..20).map(|k| (k as i64 + 1, print(100 + k, 1000))).collect();
        let target = tracks[5].1.clone();
        let lib = Library::new(tracks);
        let mut q = vec![print(999, 300); SPEEDS.len()];
        q[5] = target[300..600].to_vec();
        let c = lib.candidates(&q, |_| true);
        assert_eq!((c[0].track, c[0].speed), (5, 5), "{c:?}");
        // the clip is item 300 on: ref - query = 300, in [32·b, 32·b + 64) for b = 8 or 9
        assert!(c[0].buckets[0] == 8 || c[0].buckets[0] == 9, "{c:?}");
        // and verification near those buckets finds it
        let m = verify_candidate(&q, &c[0], &lib.prints[5]).unwrap();
        assert!(m.is_match() && (m.offset - 300.0).abs() < 2.0, "{m:?}");
    }
}
