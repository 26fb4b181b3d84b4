//! Test audio: a deterministic synthetic "recording" per seed, written as WAV, and the real
//! `ffmpeg` for every other codec. Shared by the fingerprint and the plugin tests.
use std::path::Path;
use std::process::Command;

/// A deterministic "musical" signal: a melody, a bass line and a chord pad with notes drawn from
/// a seeded LCG, with envelopes and a little noise. Different seeds give different recordings.
pub fn synth(seed: u64, seconds: f64, rate: u32) -> Vec<i16> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let n = (seconds * rate as f64) as usize;
    let mut out = vec![0f64; n];
    let scale = [0, 2, 4, 5, 7, 9, 11];
    let note_len = 0.25 + (seed % 3) as f64 * 0.05;
    let mut t0 = 0.0;
    while t0 < seconds {
        let deg = scale[(next() % 7) as usize] + 12 * (next() % 2) as i32;
        let f = 261.63 * 2f64.powf(deg as f64 / 12.0);
        let bass = 65.41 * 2f64.powf(scale[(next() % 7) as usize] as f64 / 12.0);
        let (a, b) = ((t0 * rate as f64) as usize, (((t0 + note_len) * rate as f64) as usize).min(n));
        for (k, o) in out[a..b].iter_mut().enumerate() {
            let t = k as f64 / rate as f64;
            let env = (1.0 - t / note_len).max(0.0) * (t * 200.0).min(1.0);
            let tau = std::f64::consts::TAU;
            *o += env * (0.5 * (tau * f * t).sin() + 0.2 * (tau * 2.0 * f * t).sin() + 0.1 * (tau * 3.0 * f * t).sin());
            *o += 0.3 * (tau * bass * t).sin();
        }
        t0 += note_len;
    }
    let mut noise = 12345u32.wrapping_add(seed as u32);
    out.iter()
        .map(|v| {
            noise = noise.wrapping_mul(1664525).wrapping_add(1013904223);
            let nz = ((noise >> 16) as f64 / 65536.0 - 0.5) * 0.01;
            ((v * 0.5 + nz) * 20000.0).clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

/// Writes 16-bit PCM WAV (stereo: the same signal on both channels, slightly attenuated right).
pub fn write_wav(path: &Path, samples: &[i16], rate: u32) {
    let ch = 2u16;
    let data_len = (samples.len() * 2 * ch as usize) as u32;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&ch.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2 * ch as u32).to_le_bytes());
    b.extend_from_slice(&(2 * ch).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
        b.extend_from_slice(&((*s as i32 * 9 / 10) as i16).to_le_bytes());
    }
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, b).unwrap();
}

pub fn ffmpeg(args: &[&str]) {
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-nostdin"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ffmpeg is required (apt-get install -y ffmpeg): {e}"));
    assert!(o.status.success(), "ffmpeg {args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
}
