//! baton-signal: the audio-fingerprint signal core.
//!
//! Everything here is a pure function of audio or of prints: decode with symphonia (first
//! 120 s, like fpcalc; [`decode`]), resample exactly like fpcalc's libswresample settings
//! ([`resample`]), Chromaprint-compatible prints ([`chroma`], checked against `rusty-chromaprint`;
//! [`fingerprint`]), alignment and similarity ([`mod@compare`]), the content-defined key sample the
//! inverted indexes stand on ([`index`]) and deep, speed-changed matching ([`deep`]).
//!
//! Why a crate of its own: it holds no database and starts no process, so it is tested on
//! samples alone, and the library around it (`baton-fp`: the state database, scans, duplicate
//! groups, quarantine and the decoding workers that run this code on untrusted files) can change
//! without touching the numerics.
//!
//! Module order (no loops): `resample` ← `decode` (+ `mp4`); `chroma` ← `compare` ← `index` ←
//! `deep` ← `fingerprint`.
pub mod chroma;
pub mod compare;
pub mod decode;
pub mod deep;
pub mod error;
pub mod fingerprint;
pub mod index;
pub mod mp4;
pub mod resample;

pub use compare::{Comparison, compare};
pub use decode::{AudioInfo, Tags, read_tags};
pub use error::{AudioError, Result};
pub use fingerprint::{FileFingerprint, compress, fingerprint_file};
