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
    filt: Option<Filter>,
    /// Mono input history for the integer and the float path.
    hist_i: Vec<i16>,
    hist_f: Vec<f32>,
    /// Index (into the history) of the first tap of the next output sample.
    sample_index: usize,
    index: i64,
    frac: i64,
    started: bool,
    /// Input samples received so far (mono frames).
    received: usize,
    /// Start of the real (non-mirrored) samples in the history.
    tail_start: usize,
}

struct Filter {
    len: usize,
    phase_count: i64,
    coef_i: Vec<i16>,
    coef_f: Vec<f32>,
    src_incr: i64,
    dst_incr_div: i64,
    dst_incr_mod: i64,
}

impl Filter {
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
                let x = std::f64::consts::PI
                    * ((i as i64 - center) as f64 - ph as f64 / phase_count as f64)
                    * factor;
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
                coef_i[base + i] =
                    ((tab[i] * 32768.0 / norm) as f32).round_ties_even().clamp(-32768.0, 32767.0) as i16;
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
        Filter {
            len,
            phase_count,
            coef_i,
            coef_f,
            src_incr,
            dst_incr_div: dst_incr / src_incr,
            dst_incr_mod: dst_incr % src_incr,
        }
    }
}

impl Resampler {
    /// A resampler from `in_rate` to [`TARGET_RATE`].
    pub fn new(in_rate: u32, kind: SampleKind) -> Self {
        let filt = (in_rate != TARGET_RATE).then(|| Filter::new(in_rate, TARGET_RATE));
        Resampler {
            kind,
            filt,
            hist_i: Vec::new(),
            hist_f: Vec::new(),
            sample_index: 0,
            index: 0,
            frac: 0,
            started: false,
            received: 0,
            tail_start: 0,
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
            self.sample_index = len - (len - 1) / 2;
            self.index = 0;
            self.frac = 0;
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
        let inv_src_incr = 1.0f64 / f.src_incr as f64;
        loop {
            // need taps sample_index .. sample_index+len (+1 for the interpolation phase)
            if self.sample_index + len > avail {
                break;
            }
            let ph = self.index as usize;
            let c0 = ph * len;
            let c1 = c0 + len;
            match self.kind {
                SampleKind::Int16 => {
                    let src = &self.hist_i[self.sample_index..self.sample_index + len];
                    let val = dot_i16(src, &f.coef_i[c0..c0 + len]);
                    let mut v = val as i64;
                    if self.frac != 0 {
                        let v2 = dot_i16(src, &f.coef_i[c1..c1 + len]);
                        v += (v2 as i64 - val as i64) * self.frac / f.src_incr;
                    }
                    let v = (v + (1 << 14)) >> 15;
                    out.push(v.clamp(-32768, 32767) as i16);
                }
                SampleKind::Float => {
                    let src = &self.hist_f[self.sample_index..self.sample_index + len];
                    let mut val = dot_f32(src, &f.coef_f[c0..c0 + len]);
                    if self.frac != 0 {
                        let v2 = dot_f32(src, &f.coef_f[c1..c1 + len]);
                        val = (val as f64 + (v2 - val) as f64 * inv_src_incr * self.frac as f64) as f32;
                    }
                    out.push(f32_to_i16(val));
                }
            }
            self.frac += f.dst_incr_mod;
            self.index += f.dst_incr_div;
            if self.frac >= f.src_incr {
                self.frac -= f.src_incr;
                self.index += 1;
            }
            while self.index >= f.phase_count {
                self.sample_index += 1;
                self.index -= f.phase_count;
            }
        }
        // drop consumed history, keep memory bounded
        let drop = self.sample_index.min(avail);
        if drop > 65536 {
            match self.kind {
                SampleKind::Int16 => {
                    self.hist_i.drain(..drop);
                }
                SampleKind::Float => {
                    self.hist_f.drain(..drop);
                }
            }
            self.sample_index -= drop;
            self.tail_start = self.tail_start.saturating_sub(drop);
        }
    }
}

/// Dot product with 8 independent lanes (vectorises; swresample's SIMD kernels also sum in
/// lanes, so the exact float rounding order is not part of fpcalc's contract either).
#[inline]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU supports AVX (checked just above).
        return unsafe { dot_f32_avx(a, b) };
    }
    dot_f32_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn dot_f32_avx(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let chunks = n / 8;
    let mut acc = _mm256_setzero_ps();
    for c in 0..chunks {
        // SAFETY: c * 8 + 8 <= n, within both slices.
        let (x, y) = unsafe { (_mm256_loadu_ps(a.as_ptr().add(c * 8)), _mm256_loadu_ps(b.as_ptr().add(c * 8))) };
        acc = _mm256_add_ps(acc, _mm256_mul_ps(x, y));
    }
    let mut lanes = [0f32; 8];
    // SAFETY: `lanes` holds 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
    let mut s = ((lanes[0] + lanes[4]) + (lanes[1] + lanes[5])) + ((lanes[2] + lanes[6]) + (lanes[3] + lanes[7]));
    for i in chunks * 8..n {
        s += a[i] * b[i];
    }
    s
}

#[inline(always)]
fn dot_f32_portable(a: &[f32], b: &[f32]) -> f32 {
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

/// Exact integer dot product (wrapping like swresample's 32-bit accumulator).
#[inline]
fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2 (checked just above).
        return unsafe { dot_i16_avx2(a, b) };
    }
    dot_i16_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i16_avx2(a: &[i16], b: &[i16]) -> i32 {
    dot_i16_portable(a, b)
}

#[inline(always)]
fn dot_i16_portable(a: &[i16], b: &[i16]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (x, y)| acc.wrapping_add(*x as i32 * *y as i32))
}

/// Float to i16 the way swresample's converter does it: `lrintf(x * 32768)` clipped.
#[inline]
pub fn f32_to_i16(x: f32) -> i16 {
    (x * 32768.0).round_ties_even().clamp(-32768.0, 32767.0) as i16
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

    #[test]
    fn filter_is_normalised() {
        let f = Filter::new(48000, TARGET_RATE);
        let s: f32 = f.coef_f[..f.len].iter().sum();
        assert!((s - 1.0).abs() < 1e-4);
        assert_eq!(f.phase_count, 147);
    }
}
