//! Chromaprint's default fingerprint stage (algorithm 2, "TEST2") on 11025 Hz mono samples, as
//! one tight loop: Hamming-windowed 4096-point real FFT every 1365 samples, 12 chroma bands
//! (28–3520 Hz), a 5-tap chroma filter, normalisation, an integral image over time × band and 16
//! Haar-like classifiers quantised to 2 gray-coded bits each.
//!
//! It computes the same values as `rusty-chromaprint` (the reference the tests compare against)
//! but uses a real FFT and a flat integral image, which makes it several times faster.
use std::sync::OnceLock;

use realfft::RealFftPlanner;

const FRAME: usize = 4096;
const HOP: usize = FRAME - (FRAME - FRAME / 3);
const BANDS: usize = 12;
const MIN_FREQ: f64 = 28.0;
const MAX_FREQ: f64 = 3520.0;
const RATE: f64 = 11025.0;
const FILTER: [f64; 5] = [0.25, 0.75, 1.0, 0.75, 0.25];

/// Seconds of audio covered by one print item (4096-sample frames, 1/3 overlap step at
/// 11025 Hz: 1365.33 samples).
pub const ITEM_SECONDS: f64 = FRAME as f64 / 3.0 / RATE;

/// (filter kind, y (band), height (bands), width (frames), quantizer t0, t1, t2): Chromaprint's
/// trained TEST2 classifiers.
const CLASSIFIERS: [(u8, usize, usize, usize, f64, f64, f64); 16] = [
    (0, 4, 3, 15, 1.98215, 2.35817, 2.63523),
    (4, 4, 6, 15, -1.03809, -0.651211, -0.282167),
    (1, 0, 4, 16, -0.298702, 0.119262, 0.558497),
    (3, 8, 2, 12, -0.105439, 0.0153946, 0.135898),
    (3, 4, 4, 8, -0.142891, 0.0258736, 0.200632),
    (4, 0, 3, 5, -0.826319, -0.590612, -0.368214),
    (1, 2, 2, 9, -0.557409, -0.233035, 0.0534525),
    (2, 7, 3, 4, -0.0646826, 0.00620476, 0.0784847),
    (2, 6, 2, 16, -0.192387, -0.029699, 0.215855),
    (2, 1, 3, 2, -0.0397818, -0.00568076, 0.0292026),
    (5, 10, 1, 15, -0.53823, -0.369934, -0.190235),
    (3, 6, 2, 10, -0.124877, 0.0296483, 0.139239),
    (2, 1, 1, 14, -0.101475, 0.0225617, 0.231971),
    (3, 5, 6, 4, -0.0799915, -0.00729616, 0.063262),
    (1, 9, 2, 12, -0.272556, 0.019424, 0.302559),
    (3, 4, 2, 14, -0.164292, -0.0321188, 0.0846339),
];
const MAX_WIDTH: usize = 16;

struct Tables {
    window: Vec<f64>,
    /// band of each FFT bin in `min_bin..max_bin`
    notes: Vec<u8>,
    min_bin: usize,
    max_bin: usize,
}

fn tables() -> &'static Tables {
    static T: OnceLock<Tables> = OnceLock::new();
    T.get_or_init(|| {
        let window = (0..FRAME)
            .map(|i| 0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / (FRAME as f64 - 1.0)).cos())
            .collect();
        let min_bin = ((FRAME as f64 * MIN_FREQ / RATE).round() as usize).max(1);
        let max_bin = ((FRAME as f64 * MAX_FREQ / RATE).round() as usize).min(FRAME / 2);
        let mut notes = vec![0u8; FRAME];
        for (i, n) in notes.iter_mut().enumerate().take(max_bin).skip(min_bin) {
            let freq = i as f64 * RATE / FRAME as f64;
            let octave = (freq / (440.0 / 16.0)).log2();
            *n = (BANDS as f64 * (octave - octave.floor())).floor() as u8;
        }
        Tables { window, notes, min_bin, max_bin }
    })
}

/// Integral image over rows (frames) × 12 bands, stored flat.
struct Integral(Vec<[f64; BANDS]>);

impl Integral {
    fn push(&mut self, row: &[f64; BANDS]) {
        let mut out = [0f64; BANDS];
        let mut sum = 0.0;
        for i in 0..BANDS {
            sum += row[i];
            out[i] = sum;
        }
        if let Some(prev) = self.0.last() {
            for i in 0..BANDS {
                out[i] += prev[i];
            }
        }
        self.0.push(out);
    }

    /// Sum over rows `r1..r2`, bands `c1..c2` (same operation order as Chromaprint).
    #[inline]
    fn area(&self, r1: usize, c1: usize, r2: usize, c2: usize) -> f64 {
        if r1 == r2 || c1 == c2 {
            return 0.0;
        }
        let row2 = &self.0[r2 - 1];
        if r1 == 0 {
            if c1 == 0 { row2[c2 - 1] } else { row2[c2 - 1] - row2[c1 - 1] }
        } else {
            let row1 = &self.0[r1 - 1];
            if c1 == 0 {
                row2[c2 - 1] - row1[c2 - 1]
            } else {
                row2[c2 - 1] - row1[c2 - 1] - row2[c1 - 1] + row1[c1 - 1]
            }
        }
    }

    fn classify(&self, x: usize) -> u32 {
        let mut bits = 0u32;
        for &(kind, y, h, w, t0, t1, t2) in &CLASSIFIERS {
            let (a, b) = match kind {
                0 => (self.area(x, y, x + w, y + h), 0.0),
                1 => {
                    let h2 = h / 2;
                    (self.area(x, y + h2, x + w, y + h), self.area(x, y, x + w, y + h2))
                }
                2 => {
                    let w2 = w / 2;
                    (self.area(x + w2, y, x + w, y + h), self.area(x, y, x + w2, y + h))
                }
                3 => {
                    let (w2, h2) = (w / 2, h / 2);
                    (
                        self.area(x, y + h2, x + w2, y + h) + self.area(x + w2, y, x + w, y + h2),
                        self.area(x, y, x + w2, y + h2) + self.area(x + w2, y + h2, x + w, y + h),
                    )
                }
                4 => {
                    let h3 = h / 3;
                    (
                        self.area(x, y + h3, x + w, y + 2 * h3),
                        self.area(x, y, x + w, y + h3) + self.area(x, y + 2 * h3, x + w, y + h),
                    )
                }
                _ => {
                    let w3 = w / 3;
                    (
                        self.area(x + w3, y, x + 2 * w3, y + h),
                        self.area(x, y, x + w3, y + h) + self.area(x + 2 * w3, y, x + w, y + h),
                    )
                }
            };
            let v = ((1.0 + a) / (1.0 + b)).ln();
            let q = if v < t1 {
                if v < t0 { 0 } else { 1 }
            } else if v < t2 {
                2
            } else {
                3
            };
            bits = (bits << 2) | [0u32, 1, 3, 2][q];
        }
        bits
    }
}

/// Raw fingerprint of 11025 Hz mono samples (Chromaprint's default algorithm).
pub fn fingerprint(samples: &[i16]) -> Vec<u32> {
    let t = tables();
    if samples.len() < FRAME {
        return Vec::new();
    }
    let mut planner = RealFftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(FRAME);
    let mut input = fft.make_input_vec();
    let mut spectrum = fft.make_output_vec();
    let mut scratch = fft.make_scratch_vec();
    let frames = (samples.len() - FRAME) / HOP + 1;
    let mut history: Vec<[f64; BANDS]> = Vec::with_capacity(frames);
    let mut image = Integral(Vec::with_capacity(frames));
    let mut out = Vec::with_capacity(frames);
    let scale = 1.0 / i16::MAX as f64;
    for f in 0..frames {
        let frame = &samples[f * HOP..f * HOP + FRAME];
        for ((o, &s), w) in input.iter_mut().zip(frame).zip(&t.window) {
            *o = ((s as f64 * scale) * w) as f32;
        }
        if fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch).is_err() {
            return Vec::new();
        }
        let mut chroma = [0f64; BANDS];
        for k in t.min_bin..t.max_bin {
            chroma[t.notes[k] as usize] += spectrum[k].norm_sqr() as f64;
        }
        history.push(chroma);
        if history.len() < FILTER.len() {
            continue;
        }
        let base = history.len() - FILTER.len();
        let mut row = [0f64; BANDS];
        for (i, r) in row.iter_mut().enumerate() {
            for (j, c) in FILTER.iter().enumerate() {
                *r += history[base + j][i] * c;
            }
        }
        let norm = row.iter().fold(0.0, |acc, &x| acc + x.powi(2)).sqrt();
        if norm < 0.01 {
            row = [0.0; BANDS];
        } else {
            for x in &mut row {
                *x /= norm;
            }
        }
        image.push(&row);
        let rows = image.0.len();
        if rows >= MAX_WIDTH {
            out.push(image.classify(rows - MAX_WIDTH));
        }
    }
    out
}
