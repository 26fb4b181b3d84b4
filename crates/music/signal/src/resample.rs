//! Down-mixing and resampling to Chromaprint's 11025 Hz mono input, bit-for-bit in the manner of
//! fpcalc.
//!
//! fpcalc (Chromaprint 1.5 built with FFmpeg) converts every file with libswresample in its
//! "compatible mode": `filter_size=16, phase_shift=8, linear_interp=1, cutoff=0.8`, Kaiser window
//! (beta 9), exact rational phase counts, output `s16` mono at 11025 Hz. This module re-implements
//! that polyphase filter so that our 11025 Hz samples are (nearly always) the very samples fpcalc
//! feeds into Chromaprint:
//!
//! - 16-bit (or narrower) integer input is mixed and filtered in integer arithmetic with 15-bit
//!   coefficients, like swresample's `S16P` path;
//! - anything else (float decoders, 24/32-bit PCM) is mixed and filtered in `f32` with float
//!   coefficients and rounded to `i16` at the end, like swresample's `FLTP` path;
//! - the start of the stream is mirrored (swresample's "invert initial buffer"), so output sample
//!   `k` is centred on input time `k * in_rate / out_rate`.
//!
//! Each output sample is one dot product of `len` history samples (88 at 48 kHz, 80 at 44.1 kHz)
//! with one phase of the filter. The AVX2 kernels (CPU detected once per stream) compute four
//! outputs at a time so that their accumulator chains overlap, with exactly the arithmetic of the
//! portable code (same float summation order, no FMA): the samples do not depend on the CPU.

use baton_sync::Locked;
use std::sync::{Arc, Mutex};

/// Chromaprint's working sample rate.
pub const TARGET_RATE: u32 = 11025;

const FILTER_SIZE: i32 = 16;
const PHASE_SHIFT: i32 = 8;
const CUTOFF: f64 = 0.8;
const KAISER_BETA: f64 = 9.0;

/// Input sample representation chosen once per stream (mirrors swresample's internal format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// 16-bit or narrower integers: integer path.
    Int16,
    /// Everything else: `f32` path.
    Float,
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 { a.abs() } else { gcd(b, a % b) }
}

/// Modified Bessel function of the first kind, order 0 (power series; converges fast for beta 9).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let q = x * x / 4.0;
    let mut k = 1.0;
    loop {
        term *= q / (k * k);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
        k += 1.0;
    }
    sum
}

/// Polyphase resampler state for one mono stream.
pub struct Resampler {
    kind: SampleKind,
    /// `None` when the input is already at the target rate.
    filt: Option<Arc<Filter>>,
    /// Mono input history for the integer and the float path.
    hist_i: Vec<i16>,
    hist_f: Vec<f32>,
    /// Where the next output sample's taps start, and its filter phase.
    pos: Pos,
    started: bool,
    /// Input samples received so far (mono frames).
    received: usize,
    /// Start of the real (non-mirrored) samples in the history.
    tail_start: usize,
    /// Dot-product kernels for this CPU, detected once per stream rather than per sample.
    simd: Simd,
}

/// Position of one output sample: first tap in the history, filter phase and the fraction
/// between this phase and the next (in units of `1 / src_incr`), like swresample's
/// `sample_index`, `index` and `frac`. Invariants: `index < phase_count`, `frac < src_incr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    sample_index: usize,
    index: usize,
    frac: i64,
}

/// How far one output sample moves the position: `dst_incr / src_incr` phases, split into
/// whole input samples, phases and a fraction so that [`Step::advance`] needs no loop or
/// division (swresample steps `index` by `dst_incr_div` and wraps it with a `while`).
#[derive(Debug, Clone, Copy)]
struct Step {
    samples: usize,
    phases: usize,
    frac: i64,
    src_incr: i64,
    phase_count: usize,
}

impl Step {
    /// Moves `p` on by one output. `INTERP` must be `self.frac != 0`; without it `p.frac`
    /// stays 0 and the fraction bookkeeping is compiled out.
    #[inline(always)]
    fn advance<const INTERP: bool>(&self, p: &mut Pos) {
        p.sample_index += self.samples;
        p.index += self.phases;
        if INTERP {
            p.frac += self.frac;
            if p.frac >= self.src_incr {
                p.frac -= self.src_incr;
                p.index += 1;
            }
        }
        // index < 2 * phase_count here (both terms < phase_count, plus the carry)
        if p.index >= self.phase_count {
            p.index -= self.phase_count;
            p.sample_index += 1;
        }
    }

    /// How many output samples fit into a history of `avail` samples (each needs taps
    /// `sample_index .. sample_index + len`), starting from `p`. Closed form of stepping until
    /// one doesn't fit: the position in units of `1 / (phase_count * src_incr)` input samples
    /// grows by the same amount every output.
    fn outputs_before(&self, p: Pos, len: usize, avail: usize) -> usize {
        let Some(last_start) = avail.checked_sub(len) else { return 0 };
        let (src, pc) = (self.src_incr as u128, self.phase_count as u128);
        let at = (p.sample_index as u128 * pc + p.index as u128) * src + p.frac as u128;
        let end = (last_start as u128 + 1) * pc * src;
        let incr = (self.samples as u128 * pc + self.phases as u128) * src + self.frac as u128;
        if end <= at { 0 } else { (end - at).div_ceil(incr.max(1)) as usize }
    }
}

struct Filter {
    len: usize,
    coef_i: Vec<i16>,
    coef_f: Vec<f32>,
    step: Step,
}

impl Filter {
    /// The filter for `in_rate` -> [`TARGET_RATE`], shared: building one costs about 0.7 ms at
    /// 48 kHz (147 phases of Kaiser-windowed sinc), as much as resampling 8 s of audio, and a
    /// scan meets the same few rates over and over.
    fn shared(in_rate: u32) -> Arc<Filter> {
        static CACHE: Mutex<Vec<(u32, Arc<Filter>)>> = Mutex::new(Vec::new());
        // the cache holds no invariant a panic could break
        let mut cache = CACHE.locked();
        if let Some((_, f)) = cache.iter().find(|(r, _)| *r == in_rate) {
            return f.clone();
        }
        let f = Arc::new(Filter::new(in_rate, TARGET_RATE));
        // bounded: odd rates (corrupt headers) must not pile up
        if cache.len() < 8 {
            cache.push((in_rate, f.clone()));
        }
        f
    }

    fn new(in_rate: u32, out_rate: u32) -> Self {
        let factor = (out_rate as f64 * CUTOFF / in_rate as f64).min(1.0);
        let mut phase_count: i64 = 1 << PHASE_SHIFT;
        // exact_rational (default on in swresample >= 4.0)
        let g = gcd(out_rate as i64, in_rate as i64);
        let exact = out_rate as i64 / g;
        if exact <= phase_count {
            phase_count = exact;
        }
        let len = ((FILTER_SIZE as f64 / factor).ceil() as i64).max(1) as usize;
        let center = (len as i64 - 1) / 2;
        // build phases 0..=phase_count (the extra one is phase 0 shifted by one tap, for linear
        // interpolation).
        let mut tab = vec![0f64; len];
        let mut coef_f = vec![0f32; len * (phase_count as usize + 1)];
        let mut coef_i = vec![0i16; len * (phase_count as usize + 1)];
        let ph_nb = if phase_count % 2 == 1 { phase_count } else { phase_count / 2 + 1 };
        // swresample normalises every phase by the tap sum of phase 0.
        let mut norm = 0f64;
        for ph in 0..ph_nb {
            for (i, t) in tab.iter_mut().enumerate() {
                let x = std::f64::consts::PI * ((i as i64 - center) as f64 - ph as f64 / phase_count as f64) * factor;
                let mut y = if x == 0.0 { 1.0 } else { x.sin() / x };
                let w = 2.0 * x / (factor * len as f64 * std::f64::consts::PI);
                y *= bessel_i0(KAISER_BETA * (1.0 - w * w).max(0.0).sqrt());
                *t = y;
                if ph == 0 {
                    norm += y;
                }
            }
            let base = ph as usize * len;
            for i in 0..len {
                coef_f[base + i] = (tab[i] / norm) as f32;
                coef_i[base + i] = ((tab[i] * 32768.0 / norm) as f32).round_ties_even().clamp(-32768.0, 32767.0) as i16;
            }
            if phase_count % 2 == 0 {
                let mirror = (phase_count - ph) as usize * len;
                for i in 0..len {
                    coef_f[mirror + len - 1 - i] = coef_f[base + i];
                    coef_i[mirror + len - 1 - i] = coef_i[base + i];
                }
            }
        }
        // extra phase = phase 0 shifted by one tap
        let last = phase_count as usize * len;
        for i in 1..len {
            coef_f[last + i] = coef_f[i - 1];
            coef_i[last + i] = coef_i[i - 1];
        }
        coef_f[last] = coef_f[len - 1];
        coef_i[last] = coef_i[len - 1];
        // src_incr / dst_incr = out_rate / (in_rate * phase_count), reduced
        let num = out_rate as i64;
        let den = in_rate as i64 * phase_count;
        let g = gcd(num, den);
        let (mut src_incr, mut dst_incr) = (num / g, den / g);
        while dst_incr < (1 << 20) && src_incr < (1 << 20) {
            dst_incr *= 2;
            src_incr *= 2;
        }
        let dst_incr_div = (dst_incr / src_incr) as usize;
        let pc = phase_count as usize;
        Filter {
            len,
            coef_i,
            coef_f,
            step: Step {
                samples: dst_incr_div / pc,
                phases: dst_incr_div % pc,
                frac: dst_incr % src_incr,
                src_incr,
                phase_count: pc,
            },
        }
    }
}

impl Resampler {
    /// A resampler from `in_rate` to [`TARGET_RATE`].
    pub fn new(in_rate: u32, kind: SampleKind) -> Self {
        let filt = (in_rate != TARGET_RATE).then(|| Filter::shared(in_rate));
        Resampler {
            kind,
            filt,
            hist_i: Vec::new(),
            hist_f: Vec::new(),
            pos: Pos { sample_index: 0, index: 0, frac: 0 },
            started: false,
            received: 0,
            tail_start: 0,
            simd: Simd::detect(),
        }
    }

    /// Feeds mono integer samples (only valid for [`SampleKind::Int16`]); output is appended.
    pub fn push_i16(&mut self, input: &[i16], out: &mut Vec<i16>) {
        debug_assert_eq!(self.kind, SampleKind::Int16);
        if self.filt.is_none() {
            out.extend_from_slice(input);
            return;
        }
        self.hist_i.extend_from_slice(input);
        self.received += input.len();
        self.run(out, false);
    }

    /// Feeds mono float samples (full scale = 1.0; only for [`SampleKind::Float`]).
    pub fn push_f32(&mut self, input: &[f32], out: &mut Vec<i16>) {
        debug_assert_eq!(self.kind, SampleKind::Float);
        if self.filt.is_none() {
            out.extend(input.iter().map(|&x| f32_to_i16(x)));
            return;
        }
        self.hist_f.extend_from_slice(input);
        self.received += input.len();
        self.run(out, false);
    }

    /// Flushes the tail (end of stream: pads by mirroring, as swresample does on flush).
    pub fn finish(&mut self, out: &mut Vec<i16>) {
        if self.filt.is_none() {
            return;
        }
        self.run(out, true);
    }

    fn run(&mut self, out: &mut Vec<i16>, flush: bool) {
        let Some(f) = self.filt.as_ref() else { return };
        let len = f.len;
        if !self.started {
            // Need len+1 samples to mirror the start (or the whole stream when flushing).
            let have = match self.kind {
                SampleKind::Int16 => self.hist_i.len(),
                SampleKind::Float => self.hist_f.len(),
            };
            if have < len + 1 && !flush {
                return;
            }
            if have == 0 {
                return;
            }
            // mirror: x[-n] = x[n], n = 1..=len (indices beyond the data clamp to the last one)
            let pre = |n: usize| n.min(have - 1);
            match self.kind {
                SampleKind::Int16 => {
                    let mut v: Vec<i16> = (1..=len).rev().map(|n| self.hist_i[pre(n)]).collect();
                    v.extend_from_slice(&self.hist_i);
                    self.hist_i = v;
                }
                SampleKind::Float => {
                    let mut v: Vec<f32> = (1..=len).rev().map(|n| self.hist_f[pre(n)]).collect();
                    v.extend_from_slice(&self.hist_f);
                    self.hist_f = v;
                }
            }
            // first tap of output 0 sits (len-1)/2 samples before x[0]
            self.pos = Pos { sample_index: len - (len - 1) / 2, index: 0, frac: 0 };
            self.started = true;
            self.tail_start = len;
        }
        if flush {
            // swresample's flush reflects half a filter of samples around the last one
            macro_rules! reflect {
                ($h:expr) => {{
                    let n = $h.len() - self.tail_start;
                    let reflection = n.min(len).div_ceil(2);
                    let end = $h.len();
                    for j in 0..reflection {
                        let v = $h[end - 1 - j.min(end - 1)];
                        $h.push(v);
                    }
                }};
            }
            match self.kind {
                SampleKind::Int16 => reflect!(self.hist_i),
                SampleKind::Float => reflect!(self.hist_f),
            }
        }
        let avail = match self.kind {
            SampleKind::Int16 => self.hist_i.len(),
            SampleKind::Float => self.hist_f.len(),
        };
        // Size the output once and let the kernels write into the slice (no per-sample push).
        let n = f.step.outputs_before(self.pos, len, avail);
        let base = out.len();
        out.resize(base + n, 0);
        let dst = &mut out[base..];
        match self.kind {
            SampleKind::Int16 => self.simd.filter_i16(f, &self.hist_i, &mut self.pos, dst),
            SampleKind::Float => self.simd.filter_f32(f, &self.hist_f, &mut self.pos, dst),
        }
        // drop consumed history, keep memory bounded
        let drop = self.pos.sample_index.min(avail);
        if drop > 65536 {
            match self.kind {
                SampleKind::Int16 => {
                    self.hist_i.drain(..drop);
                }
                SampleKind::Float => {
                    self.hist_f.drain(..drop);
                }
            }
            self.pos.sample_index -= drop;
            self.tail_start = self.tail_start.saturating_sub(drop);
        }
    }
}

/// The dot-product kernels of one instruction set. Every output is computed with the same
/// arithmetic in every implementation (same float summation order, no FMA), so the result does
/// not depend on the CPU.
trait Kernels: Copy {
    /// `a · b` over `a.len()` taps, summed in 8 lanes: lane `j` accumulates taps `j, j+8, …`
    /// (the whole multiples of 8), the lanes are reduced as
    /// `((l0+l4)+(l1+l5))+((l2+l6)+(l3+l7))` and the leftover taps are added one by one.
    fn dot_f32(self, a: &[f32], b: &[f32]) -> f32;
    /// Four [`Kernels::dot_f32`]s of `len` taps: `src[s[k]..][..len] · coef[c[k]..][..len]`.
    /// Four at once so that their independent accumulator chains overlap.
    fn dot4_f32(self, src: &[f32], coef: &[f32], s: [usize; 4], c: [usize; 4], len: usize) -> [f32; 4];
    /// Integer dot product, wrapping like swresample's 32-bit accumulator (wrapping addition is
    /// associative, so any summation order gives the same result).
    fn dot_i16(self, a: &[i16], b: &[i16]) -> i32;
    /// Four [`Kernels::dot_i16`]s, as [`Kernels::dot4_f32`].
    fn dot4_i16(self, src: &[i16], coef: &[i16], s: [usize; 4], c: [usize; 4], len: usize) -> [i32; 4];
}

/// Plain Rust kernels (autovectorised with the baseline instruction set).
#[derive(Clone, Copy)]
struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    fn dot_f32(self, a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0f32; 8];
        let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ra, rb) = (ca.remainder(), cb.remainder());
        for (x, y) in ca.zip(cb) {
            for i in 0..8 {
                acc[i] += x[i] * y[i];
            }
        }
        let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
        for (x, y) in ra.iter().zip(rb) {
            s += x * y;
        }
        s
    }

    #[inline(always)]
    fn dot4_f32(self, src: &[f32], coef: &[f32], s: [usize; 4], c: [usize; 4], len: usize) -> [f32; 4] {
        std::array::from_fn(|k| self.dot_f32(&src[s[k]..s[k] + len], &coef[c[k]..c[k] + len]))
    }

    #[inline(always)]
    fn dot_i16(self, a: &[i16], b: &[i16]) -> i32 {
        a.iter().zip(b).fold(0i32, |acc, (x, y)| acc.wrapping_add(*x as i32 * *y as i32))
    }

    #[inline(always)]
    fn dot4_i16(self, src: &[i16], coef: &[i16], s: [usize; 4], c: [usize; 4], len: usize) -> [i32; 4] {
        std::array::from_fn(|k| self.dot_i16(&src[s[k]..s[k] + len], &coef[c[k]..c[k] + len]))
    }
}

/// The kernels chosen for this CPU.
#[derive(Clone, Copy)]
enum Simd {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2(x86::Avx2),
}

impl Simd {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(t) = x86::Avx2::detect() {
            return Simd::Avx2(t);
        }
        Simd::Portable
    }

    fn filter_f32(self, f: &Filter, hist: &[f32], pos: &mut Pos, dst: &mut [i16]) {
        match self {
            Simd::Portable => filter_f32_any(Portable, f, hist, pos, dst),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: an `Avx2` token only exists when the CPU supports AVX2.
            Simd::Avx2(t) => unsafe { x86::filter_f32_avx2(t, f, hist, pos, dst) },
        }
    }

    fn filter_i16(self, f: &Filter, hist: &[i16], pos: &mut Pos, dst: &mut [i16]) {
        match self {
            Simd::Portable => filter_i16_any(Portable, f, hist, pos, dst),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as in `filter_f32`.
            Simd::Avx2(t) => unsafe { x86::filter_i16_avx2(t, f, hist, pos, dst) },
        }
    }
}

/// [`filter_f32`] with or without interpolation between phases: a separate copy for each, as
/// the common rates (48, 44.1, 22.05 kHz) never interpolate, and without the fraction
/// bookkeeping (and the registers it takes) their loop is about 20% faster.
#[inline(always)]
fn filter_f32_any<K: Kernels>(k: K, f: &Filter, hist: &[f32], pos: &mut Pos, dst: &mut [i16]) {
    if f.step.frac == 0 {
        filter_f32::<K, false>(k, f, hist, pos, dst)
    } else {
        filter_f32::<K, true>(k, f, hist, pos, dst)
    }
}

/// [`filter_i16`], as [`filter_f32_any`].
#[inline(always)]
fn filter_i16_any<K: Kernels>(k: K, f: &Filter, hist: &[i16], pos: &mut Pos, dst: &mut [i16]) {
    if f.step.frac == 0 {
        filter_i16::<K, false>(k, f, hist, pos, dst)
    } else {
        filter_i16::<K, true>(k, f, hist, pos, dst)
    }
}

/// Computes `dst.len()` float-path output samples from `pos` on (the caller has checked that
/// their taps are in `hist`) and advances `pos` past them. `INTERP`: `f.step.frac != 0`.
/// `inline(always)` so that each instruction-set wrapper gets its own copy with the kernels
/// inlined.
#[inline(always)]
fn filter_f32<K: Kernels, const INTERP: bool>(k: K, f: &Filter, hist: &[f32], pos: &mut Pos, dst: &mut [i16]) {
    let (len, step, coef) = (f.len, f.step, &f.coef_f[..]);
    let inv_src_incr = 1.0f64 / step.src_incr as f64;
    // linear interpolation between adjacent phases, only for rates whose exact phase count
    // exceeds 256 (frac stays 0 when the step has no fractional part, e.g. 48 and 44.1 kHz)
    let interp = |v: f32, v2: f32, frac: i64| {
        if INTERP && frac != 0 { (v as f64 + (v2 - v) as f64 * inv_src_incr * frac as f64) as f32 } else { v }
    };
    let mut quads = dst.chunks_exact_mut(4);
    for o in &mut quads {
        let (mut s, mut c, mut fr) = ([0usize; 4], [0usize; 4], [0i64; 4]);
        for j in 0..4 {
            (s[j], c[j], fr[j]) = (pos.sample_index, pos.index * len, pos.frac);
            step.advance::<INTERP>(pos);
        }
        let mut v = k.dot4_f32(hist, coef, s, c, len);
        if INTERP {
            let v2 = k.dot4_f32(hist, coef, s, c.map(|c| c + len), len);
            v = std::array::from_fn(|j| interp(v[j], v2[j], fr[j]));
        }
        o.copy_from_slice(&f32x4_to_i16(v));
    }
    for o in quads.into_remainder() {
        let (s, c) = (pos.sample_index, pos.index * len);
        let src = &hist[s..s + len];
        let mut v = k.dot_f32(src, &coef[c..c + len]);
        if INTERP && pos.frac != 0 {
            v = interp(v, k.dot_f32(src, &coef[c + len..c + 2 * len]), pos.frac);
        }
        *o = f32_to_i16(v);
        step.advance::<INTERP>(pos);
    }
}

/// Integer-path twin of [`filter_f32`]: 15-bit coefficients, rounding shift, saturation.
#[inline(always)]
fn filter_i16<K: Kernels, const INTERP: bool>(k: K, f: &Filter, hist: &[i16], pos: &mut Pos, dst: &mut [i16]) {
    let (len, step, coef) = (f.len, f.step, &f.coef_i[..]);
    // in i64, as the interpolation and the rounding must not overflow
    let finish = |v: i32, v2: i32, frac: i64| {
        let mut v = v as i64;
        if INTERP && frac != 0 {
            v += (v2 as i64 - v) * frac / step.src_incr;
        }
        ((v + (1 << 14)) >> 15).clamp(-32768, 32767) as i16
    };
    let mut quads = dst.chunks_exact_mut(4);
    for o in &mut quads {
        let (mut s, mut c, mut fr) = ([0usize; 4], [0usize; 4], [0i64; 4]);
        for j in 0..4 {
            (s[j], c[j], fr[j]) = (pos.sample_index, pos.index * len, pos.frac);
            step.advance::<INTERP>(pos);
        }
        let v = k.dot4_i16(hist, coef, s, c, len);
        let v2 = if INTERP { k.dot4_i16(hist, coef, s, c.map(|c| c + len), len) } else { v };
        for j in 0..4 {
            o[j] = finish(v[j], v2[j], fr[j]);
        }
    }
    for o in quads.into_remainder() {
        let (s, c) = (pos.sample_index, pos.index * len);
        let src = &hist[s..s + len];
        let v = k.dot_i16(src, &coef[c..c + len]);
        let v2 = if INTERP && pos.frac != 0 { k.dot_i16(src, &coef[c + len..c + 2 * len]) } else { v };
        *o = finish(v, v2, pos.frac);
        step.advance::<INTERP>(pos);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Filter, Kernels, Pos};
    use std::arch::x86_64::*;

    /// Proof that the CPU supports AVX2 (and so AVX): only [`Avx2::detect`] makes one.
    #[derive(Clone, Copy)]
    pub(super) struct Avx2(());

    impl Avx2 {
        pub(super) fn detect() -> Option<Self> {
            std::arch::is_x86_feature_detected!("avx2").then_some(Avx2(()))
        }
    }

    // The whole output loop is compiled with AVX2 enabled so that the kernels below (and the
    // intrinsics they call) inline into it; detection happens once, in `Simd::detect`.

    #[target_feature(enable = "avx2")]
    pub(super) fn filter_f32_avx2(t: Avx2, f: &Filter, hist: &[f32], pos: &mut Pos, dst: &mut [i16]) {
        super::filter_f32_any(t, f, hist, pos, dst)
    }

    #[target_feature(enable = "avx2")]
    pub(super) fn filter_i16_avx2(t: Avx2, f: &Filter, hist: &[i16], pos: &mut Pos, dst: &mut [i16]) {
        super::filter_i16_any(t, f, hist, pos, dst)
    }

    /// `((l0+l4)+(l1+l5))+((l2+l6)+(l3+l7))` of the 8 lanes of each of four accumulators, in
    /// that order (the same as [`super::Portable::dot_f32`]).
    #[inline(always)]
    fn reduce4_f32(_: Avx2, acc: [__m256; 4]) -> __m128 {
        // SAFETY: AVX is available (the `Avx2` token proves it).
        unsafe {
            // lanes j and j+4 of each accumulator
            let h: [__m128; 4] =
                std::array::from_fn(|k| _mm_add_ps(_mm256_castps256_ps128(acc[k]), _mm256_extractf128_ps::<1>(acc[k])));
            // hadd(a, b) = [a0+a1, a2+a3, b0+b1, b2+b3]
            _mm_hadd_ps(_mm_hadd_ps(h[0], h[1]), _mm_hadd_ps(h[2], h[3]))
        }
    }

    impl Kernels for Avx2 {
        // The single dot products only serve the last < 4 outputs of a push: reuse the 4-way
        // kernel.
        #[inline(always)]
        fn dot_f32(self, a: &[f32], b: &[f32]) -> f32 {
            let n = a.len().min(b.len());
            let [v, ..] = self.dot4_f32(a, b, [0; 4], [0; 4], n);
            v
        }

        #[inline(always)]
        fn dot4_f32(self, src: &[f32], coef: &[f32], s: [usize; 4], c: [usize; 4], len: usize) -> [f32; 4] {
            let a: [&[f32]; 4] = std::array::from_fn(|k| &src[s[k]..s[k] + len]);
            let b: [&[f32]; 4] = std::array::from_fn(|k| &coef[c[k]..c[k] + len]);
            let chunks = len / 8;
            // SAFETY: AVX is available (`self` proves it); every load reads 8 floats at
            // `j * 8 < chunks * 8 <= len`, within the `len`-long slices `a[k]` and `b[k]`.
            let mut out = unsafe {
                let mut acc = [_mm256_setzero_ps(); 4];
                for j in 0..chunks {
                    for k in 0..4 {
                        let x = _mm256_loadu_ps(a[k].as_ptr().add(j * 8));
                        let y = _mm256_loadu_ps(b[k].as_ptr().add(j * 8));
                        acc[k] = _mm256_add_ps(acc[k], _mm256_mul_ps(x, y));
                    }
                }
                let mut out = [0f32; 4];
                _mm_storeu_ps(out.as_mut_ptr(), reduce4_f32(self, acc));
                out
            };
            // leftover taps (none for the common rates: 88, 80, 40 taps)
            if !len.is_multiple_of(8) {
                for k in 0..4 {
                    for i in chunks * 8..len {
                        out[k] += a[k][i] * b[k][i];
                    }
                }
            }
            out
        }

        #[inline(always)]
        fn dot_i16(self, a: &[i16], b: &[i16]) -> i32 {
            let n = a.len().min(b.len());
            let [v, ..] = self.dot4_i16(a, b, [0; 4], [0; 4], n);
            v
        }

        #[inline(always)]
        fn dot4_i16(self, src: &[i16], coef: &[i16], s: [usize; 4], c: [usize; 4], len: usize) -> [i32; 4] {
            let a: [&[i16]; 4] = std::array::from_fn(|k| &src[s[k]..s[k] + len]);
            let b: [&[i16]; 4] = std::array::from_fn(|k| &coef[c[k]..c[k] + len]);
            let (wide, narrow) = (len / 16, len % 16 / 8);
            let done = wide * 16 + narrow * 8;
            // SAFETY: AVX2 is available (`self` proves it); the 16-lane loads read
            // `[j * 16, j * 16 + 16)` with `j < wide`, the 8-lane one `[wide * 16, done)`, all
            // within the `len`-long slices `a[k]` and `b[k]` as `done <= len`.
            let mut out = unsafe {
                let mut h = [_mm_setzero_si128(); 4];
                for k in 0..4 {
                    // madd: 16 products, adjacent pairs summed into 8 wrapping 32-bit lanes
                    let mut acc = _mm256_setzero_si256();
                    for j in 0..wide {
                        let x = _mm256_loadu_si256(a[k].as_ptr().add(j * 16).cast());
                        let y = _mm256_loadu_si256(b[k].as_ptr().add(j * 16).cast());
                        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, y));
                    }
                    h[k] = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256::<1>(acc));
                    if narrow == 1 {
                        let x = _mm_loadu_si128(a[k].as_ptr().add(wide * 16).cast());
                        let y = _mm_loadu_si128(b[k].as_ptr().add(wide * 16).cast());
                        h[k] = _mm_add_epi32(h[k], _mm_madd_epi16(x, y));
                    }
                }
                let sum = _mm_hadd_epi32(_mm_hadd_epi32(h[0], h[1]), _mm_hadd_epi32(h[2], h[3]));
                let mut out = [0i32; 4];
                _mm_storeu_si128(out.as_mut_ptr().cast(), sum);
                out
            };
            for k in 0..4 {
                for i in done..len {
                    out[k] = out[k].wrapping_add(a[k][i] as i32 * b[k][i] as i32);
                }
            }
            out
        }
    }
}

/// Float to i16 the way swresample's converter does it: `lrintf(x * 32768)` clipped
/// (NaN becomes 0).
#[inline]
pub fn f32_to_i16(x: f32) -> i16 {
    // clamping before rounding gives the same result (the bounds are integers); NaN stays NaN
    let y = (x * 32768.0).clamp(-32768.0, 32767.0);
    if y.is_nan() {
        return 0;
    }
    // cvtss2si rounds to nearest-even under the default MXCSR, i.e. it is lrintf; SSE is part of
    // x86_64's baseline, unlike SSE4.1's `roundss`, so `round_ties_even` would be a libm call.
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86_64's baseline.
    return unsafe { std::arch::x86_64::_mm_cvtss_si32(std::arch::x86_64::_mm_set_ss(y)) } as i16;
    #[cfg(not(target_arch = "x86_64"))]
    return y.round_ties_even() as i16;
}

/// [`f32_to_i16`] of four samples.
#[inline(always)]
fn f32x4_to_i16(v: [f32; 4]) -> [i16; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of x86_64's baseline; the load and store touch exactly the four
        // elements of `v` and `out`.
        unsafe {
            let y = _mm_mul_ps(_mm_loadu_ps(v.as_ptr()), _mm_set1_ps(32768.0));
            // NaN -> 0 (cmpord is all-ones for ordered lanes), then clamp and round to even
            let y = _mm_and_ps(y, _mm_cmpord_ps(y, y));
            let y = _mm_min_ps(_mm_max_ps(y, _mm_set1_ps(-32768.0)), _mm_set1_ps(32767.0));
            let mut out = [0i16; 4];
            _mm_storel_epi64(out.as_mut_ptr().cast(), _mm_packs_epi32(_mm_cvtps_epi32(y), _mm_setzero_si128()));
            out
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    v.map(f32_to_i16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passthrough_at_target_rate() {
        let mut r = Resampler::new(TARGET_RATE, SampleKind::Int16);
        let mut out = Vec::new();
        r.push_i16(&[1, 2, 3], &mut out);
        r.finish(&mut out);
        assert_eq!(out, vec![1, 2, 3]);
    }

    #[test]
    fn quarter_rate_keeps_length_and_dc() {
        for kind in [SampleKind::Int16, SampleKind::Float] {
            let mut r = Resampler::new(44100, kind);
            let mut out = Vec::new();
            for _ in 0..10 {
                match kind {
                    SampleKind::Int16 => r.push_i16(&vec![1000i16; 4410], &mut out),
                    SampleKind::Float => r.push_f32(&vec![1000.0 / 32768.0; 4410], &mut out),
                }
            }
            r.finish(&mut out);
            assert_eq!(out.len(), 11025, "{kind:?}");
            assert!(out[100..11000].iter().all(|&v| (v - 1000).abs() <= 2), "{kind:?}");
        }
    }

    /// The resampler as it was before the SIMD kernels (whole stream at once, one output per
    /// iteration, the old stepping loop, scalar dot products): the optimised one must produce
    /// exactly the same samples.
    fn reference(in_rate: u32, xi: &[i16], xf: &[f32]) -> Vec<i16> {
        let f = Filter::new(in_rate, TARGET_RATE);
        let (len, st) = (f.len, f.step);
        let (pc, src_incr) = (st.phase_count as i64, st.src_incr);
        let (div, modulo) = (st.samples as i64 * pc + st.phases as i64, st.frac);
        let float = xi.is_empty();
        let have = if float { xf.len() } else { xi.len() };
        if have == 0 {
            return Vec::new();
        }
        // mirrored start, reflected end
        let mut idx: Vec<usize> = (1..=len).rev().map(|n| n.min(have - 1)).chain(0..have).collect();
        let end = idx.len();
        for j in 0..have.min(len).div_ceil(2) {
            idx.push(idx[end - 1 - j.min(end - 1)]);
        }
        let hi: Vec<i16> = if float { Vec::new() } else { idx.iter().map(|&i| xi[i]).collect() };
        let hf: Vec<f32> = if float { idx.iter().map(|&i| xf[i]).collect() } else { Vec::new() };
        let dot_f = |a: &[f32], b: &[f32]| {
            let mut l = [0f32; 8];
            let n8 = a.len() / 8 * 8;
            for i in 0..n8 {
                l[i % 8] += a[i] * b[i];
            }
            let mut s = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
            for i in n8..a.len() {
                s += a[i] * b[i];
            }
            s
        };
        let dot_i =
            |a: &[i16], b: &[i16]| a.iter().zip(b).fold(0i32, |s, (x, y)| s.wrapping_add(*x as i32 * *y as i32));
        let (mut si, mut index, mut frac) = (len - (len - 1) / 2, 0i64, 0i64);
        let mut out = Vec::new();
        while si + len <= idx.len() {
            let (c0, c1) = (index as usize * len, (index as usize + 1) * len);
            if float {
                let src = &hf[si..si + len];
                let mut val = dot_f(src, &f.coef_f[c0..c0 + len]);
                if frac != 0 {
                    let v2 = dot_f(src, &f.coef_f[c1..c1 + len]);
                    val = (val as f64 + (v2 - val) as f64 * (1.0 / src_incr as f64) * frac as f64) as f32;
                }
                out.push((val * 32768.0).round_ties_even().clamp(-32768.0, 32767.0) as i16);
            } else {
                let src = &hi[si..si + len];
                let val = dot_i(src, &f.coef_i[c0..c0 + len]);
                let mut v = val as i64;
                if frac != 0 {
                    v += (dot_i(src, &f.coef_i[c1..c1 + len]) as i64 - val as i64) * frac / src_incr;
                }
                out.push(((v + (1 << 14)) >> 15).clamp(-32768, 32767) as i16);
            }
            frac += modulo;
            index += div;
            if frac >= src_incr {
                frac -= src_incr;
                index += 1;
            }
            while index >= pc {
                si += 1;
                index -= pc;
            }
        }
        out
    }

    #[test]
    fn matches_reference_on_every_cpu_path() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for rate in [8000u32, 16000, 22050, 32000, 44100, 48000, 88200, 96000, 192000] {
            for secs in [0.0, 0.0005, 0.002, 0.05, 1.6] {
                let n = (rate as f64 * secs) as usize + 1;
                // noise with loud stretches (clipping, full-scale i16 products that wrap)
                let xf: Vec<f32> = (0..n)
                    .map(|i| {
                        let v = (next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0;
                        if i / 997 % 5 == 3 { v * 3.0 } else { v * 0.5 }
                    })
                    .collect();
                let xi: Vec<i16> = xf
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| if i % 7 == 0 { -32768 } else { (v * 20000.0) as i16 })
                    .collect();
                for kind in [SampleKind::Int16, SampleKind::Float] {
                    let want = match kind {
                        SampleKind::Int16 => reference(rate, &xi, &[]),
                        SampleKind::Float => reference(rate, &[], &xf),
                    };
                    for simd in [Simd::Portable, Simd::detect()] {
                        let mut r = Resampler::new(rate, kind);
                        r.simd = simd;
                        let mut out = Vec::new();
                        let mut at = 0;
                        while at < n {
                            let take = ((next() % 5000) as usize + 1).min(n - at);
                            match kind {
                                SampleKind::Int16 => r.push_i16(&xi[at..at + take], &mut out),
                                SampleKind::Float => r.push_f32(&xf[at..at + take], &mut out),
                            }
                            at += take;
                        }
                        r.finish(&mut out);
                        let first_bad = out.iter().zip(&want).position(|(a, b)| a != b);
                        assert!(
                            out.len() == want.len() && first_bad.is_none(),
                            "{rate} Hz {kind:?} n={n} avx2={}: len {} vs {}, first difference at {first_bad:?}",
                            !matches!(simd, Simd::Portable),
                            out.len(),
                            want.len()
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn float_to_i16_rounds_like_lrintf() {
        let h = 0.5 / 32768.0;
        let xs = [
            0.0,
            -0.0,
            h,
            -h,
            3.0 * h,
            -3.0 * h,
            5.0 * h,
            0.999,
            32767.5 / 32768.0,
            32766.5 / 32768.0,
            1.0,
            -1.0,
            -1.0 - h,
            1e9,
            -1e9,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e-30,
            0.123_456_7,
            -0.765_432_1,
        ];
        for x in xs {
            let want = if x.is_nan() { 0 } else { (x * 32768.0).round_ties_even().clamp(-32768.0, 32767.0) as i16 };
            assert_eq!(f32_to_i16(x), want, "{x}");
        }
        for q in xs.chunks_exact(4) {
            let q = [q[0], q[1], q[2], q[3]];
            assert_eq!(f32x4_to_i16(q), q.map(f32_to_i16), "{q:?}");
        }
    }

    #[test]
    fn filter_is_normalised() {
        let f = Filter::new(48000, TARGET_RATE);
        let s: f32 = f.coef_f[..f.len].iter().sum();
        assert!((s - 1.0).abs() < 1e-4);
        assert_eq!(f.step.phase_count, 147);
    }
}
