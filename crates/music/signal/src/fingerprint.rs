//! Chromaprint-compatible fingerprints (the default algorithm, `fpcalc -raw`) and the compressed
//! base64 form AcoustID uses (fpcalc's default output).
use std::path::{Path, PathBuf};

use base64::Engine;
use rusty_chromaprint::{Configuration, FingerprintCompressor, Fingerprinter};
use serde::{Deserialize, Serialize};

use crate::decode::{self, AudioInfo, Tags};
use crate::error::{AudioError, Result};
use crate::resample::TARGET_RATE;

pub use crate::chroma::ITEM_SECONDS;

/// A fingerprinted file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileFingerprint {
    pub path: PathBuf,
    /// Whole-file duration in seconds (container value, else decoded length).
    pub duration: f64,
    /// Raw fingerprint, as `fpcalc -raw` prints it.
    pub fingerprint: Vec<u32>,
    pub info: AudioInfo,
    pub tags: Tags,
}

impl FileFingerprint {
    /// The compressed, URL-safe base64 form (fpcalc's default `FINGERPRINT=` value).
    pub fn compressed(&self) -> String {
        compress(&self.fingerprint)
    }
}

/// Chromaprint's default configuration (algorithm 2, "TEST2").
pub fn config() -> Configuration {
    Configuration::preset_test2()
}

/// Fingerprints 11025 Hz mono samples (the output of [`decode::decode_for_fingerprint`]) with
/// the crate's own fast stage ([`crate::chroma`]).
pub fn fingerprint_samples(samples: &[i16]) -> Vec<u32> {
    crate::chroma::fingerprint(samples)
}

/// The same through `rusty-chromaprint` (the reference implementation the tests compare with).
pub fn fingerprint_samples_reference(samples: &[i16]) -> Vec<u32> {
    let cfg = config();
    let mut p = Fingerprinter::new(&cfg);
    // 11025 Hz mono is always accepted: start() only fails for < 1000 Hz or 0 channels.
    if p.start(TARGET_RATE, 1).is_err() {
        return Vec::new();
    }
    p.consume(samples);
    p.finish();
    p.fingerprint().to_vec()
}

/// Decodes the first 120 s of `path` and fingerprints it, in this process (tools and tests; the
/// host goes through `baton_fp::worker`).
pub fn fingerprint_file(path: &Path) -> Result<FileFingerprint> {
    let file = std::fs::File::open(path).map_err(|e| AudioError::Io { path: path.to_path_buf(), source: e })?;
    fingerprint_open_file(file, path)
}

/// [`fingerprint_file`] of an open file; `path` labels errors and gives the format hint.
pub fn fingerprint_open_file(file: std::fs::File, path: &Path) -> Result<FileFingerprint> {
    let d = decode::decode_file(file, path, decode::MAX_SECONDS)?;
    let fingerprint = fingerprint_samples(&d.samples);
    if fingerprint.is_empty() {
        return Err(AudioError::Corrupt { path: path.to_path_buf(), detail: "audio too short to fingerprint".into() });
    }
    let duration = d.info.duration.unwrap_or(d.samples.len() as f64 / TARGET_RATE as f64);
    Ok(FileFingerprint { path: path.to_path_buf(), duration, fingerprint, info: d.info, tags: d.tags })
}

/// Deep mode ([`crate::deep`]): decodes the whole track (up to [`crate::deep::MAX_SECONDS`])
/// once, and returns the prefix print of its first 120 s (as [`fingerprint_open_file`]) and
/// the whole-track prints at every [`crate::deep::SPEEDS`] entry.
pub fn deep_open_file(file: std::fs::File, path: &Path) -> Result<(FileFingerprint, Vec<Vec<u32>>)> {
    let d = decode::decode_file(file, path, crate::deep::MAX_SECONDS)?;
    let prefix = &d.samples[..d.samples.len().min(decode::MAX_SECONDS as usize * TARGET_RATE as usize)];
    let fingerprint = fingerprint_samples(prefix);
    if fingerprint.is_empty() {
        return Err(AudioError::Corrupt { path: path.to_path_buf(), detail: "audio too short to fingerprint".into() });
    }
    let deep = crate::deep::prints(&d.samples);
    let duration = d.info.duration.unwrap_or(d.samples.len() as f64 / TARGET_RATE as f64);
    Ok((FileFingerprint { path: path.to_path_buf(), duration, fingerprint, info: d.info, tags: d.tags }, deep))
}

/// Compressed fingerprint, URL-safe base64 without padding (AcoustID / fpcalc format).
pub fn compress(fp: &[u32]) -> String {
    let cfg = config();
    let bytes = FingerprintCompressor::from(&cfg).compress(fp);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Fingerprint as little-endian bytes (the database form).
pub fn to_bytes(fp: &[u32]) -> Vec<u8> {
    fp.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Inverse of [`to_bytes`]; a trailing partial item is ignored.
pub fn from_bytes(b: &[u8]) -> Vec<u32> {
    b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_roundtrip() {
        let v = vec![1u32, 0xdead_beef, 7];
        assert_eq!(from_bytes(&to_bytes(&v)), v);
    }

    #[test]
    fn synthetic_tone_fingerprints() {
        let samples: Vec<i16> = (0..TARGET_RATE as usize * 10)
            .map(|i| {
                let t = i as f64 / TARGET_RATE as f64;
                let f = if (t as u32).is_multiple_of(2) { 440.0 } else { 660.0 };
                ((t * f * std::f64::consts::TAU).sin() * 8000.0) as i16
            })
            .collect();
        let fp = fingerprint_samples(&samples);
        assert!(fp.len() > 50, "{}", fp.len());
        assert!(!compress(&fp).is_empty());
    }

    /// The crate's own stage ([`crate::chroma`]) computes the same bits as the reference
    /// implementation (rusty-chromaprint) on a synthetic signal.
    #[test]
    fn matches_reference_implementation() {
        let mut s = 1u32;
        let samples: Vec<i16> = (0..11025 * 30)
            .map(|i| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                let t = i as f64 / 11025.0;
                let f = [262.0, 330.0, 392.0, 523.0, 440.0][(i / 3000) % 5];
                ((t * f * std::f64::consts::TAU).sin() * 8000.0 + ((s >> 20) as f64 - 2048.0)) as i16
            })
            .collect();
        let ours = crate::chroma::fingerprint(&samples);
        let reference = fingerprint_samples_reference(&samples);
        assert_eq!(ours.len(), reference.len());
        let agree = crate::compare::bit_agreement(&ours, &reference);
        assert!(agree > 0.999, "{agree}");
        assert!(crate::chroma::fingerprint(&samples[..4000]).is_empty());
    }
}
