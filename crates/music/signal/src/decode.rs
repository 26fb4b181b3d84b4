//! Decoding with symphonia: the first 120 s of a file, down-mixed and resampled to 11025 Hz mono
//! exactly as fpcalc feeds Chromaprint, plus the tags and stream facts (codec, rate, bitrate).
//!
//! Corrupt, truncated and unsupported files (Opus, HE-AAC, …) come back as a per-file
//! [`AudioError`]; a decoder panic is caught and reported the same way. An abort (symphonia 0.5
//! allocates what a damaged header claims) cannot be caught here: the host therefore decodes
//! in worker processes (`baton_fp::worker`), which call the `*_file` functions on a descriptor
//! the host opened. `path` arguments there only label errors and give the format hint.
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use symphonia::core::audio::{AudioBufferRef, SampleBuffer};
use symphonia::core::codecs::{CODEC_TYPE_AAC, CODEC_TYPE_NULL, CodecParameters, DecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::{MetadataOptions, MetadataRevision, StandardTagKey};
use symphonia::core::probe::Hint;

use crate::error::{AudioError, Result};
use crate::resample::{Resampler, SampleKind, TARGET_RATE};

/// fpcalc's default: fingerprint the first 120 seconds.
pub const MAX_SECONDS: u32 = 120;

/// File extensions treated as audio by a scan (case-insensitive).
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "m4a", "m4b", "mp4", "aac", "alac", "flac", "ogg", "oga", "opus", "wav", "wave", "aif", "aiff", "aifc",
    "wma", "ape", "wv", "mka", "webm", "caf",
];

/// True when the path's extension is one of [`AUDIO_EXTENSIONS`].
pub fn is_audio_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.iter().any(|a| a.eq_ignore_ascii_case(e)))
}

/// Textual tags a later plugin joins on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tags {
    pub title: Option<String>,
    pub artist: Option<String>,
    pub album: Option<String>,
    pub isrc: Option<String>,
}

impl Tags {
    /// How many of the tags are present (used by the keeper rule).
    pub fn count(&self) -> u32 {
        [&self.title, &self.artist, &self.album, &self.isrc].iter().filter(|t| t.is_some()).count() as u32
    }
}

/// Facts about the audio stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AudioInfo {
    /// symphonia's short codec name, e.g. `mp3`, `flac`, `aac`, `pcm_s16le`.
    pub codec: String,
    pub sample_rate: u32,
    pub channels: u32,
    /// Whole-file duration in seconds, when known.
    pub duration: Option<f64>,
    /// Average bitrate in kbit/s (audio packets over decoded time, or file size over duration).
    pub bitrate_kbps: Option<u32>,
    pub lossless: bool,
}

/// The outcome of [`decode_for_fingerprint`].
#[derive(Debug, Clone)]
pub struct Decoded {
    pub info: AudioInfo,
    pub tags: Tags,
    /// Mono samples at 11025 Hz, at most `max_seconds` of them.
    pub samples: Vec<i16>,
}

fn corrupt(path: &Path, detail: impl Into<String>) -> AudioError {
    AudioError::Corrupt { path: path.to_path_buf(), detail: detail.into() }
}

fn unsupported(path: &Path, detail: impl Into<String>) -> AudioError {
    AudioError::Unsupported { path: path.to_path_buf(), detail: detail.into() }
}

fn map_sym(path: &Path, e: SymError, what: &str) -> AudioError {
    match e {
        SymError::Unsupported(d) => unsupported(path, format!("{what}: {d}")),
        SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            corrupt(path, format!("{what}: unexpected end of file"))
        }
        SymError::IoError(io) => AudioError::Io { path: path.to_path_buf(), source: io },
        other => corrupt(path, format!("{what}: {other}")),
    }
}

struct Opened {
    format: Box<dyn FormatReader>,
    track_id: u32,
    params: CodecParameters,
    tags: Tags,
    file_size: u64,
}

fn merge_tags(tags: &mut Tags, rev: &MetadataRevision) {
    for tag in rev.tags() {
        let slot = match tag.std_key {
            Some(StandardTagKey::TrackTitle) => &mut tags.title,
            Some(StandardTagKey::Artist) => &mut tags.artist,
            Some(StandardTagKey::Album) => &mut tags.album,
            Some(StandardTagKey::IdentIsrc) => &mut tags.isrc,
            // ID3v2 TXXX:ISRC and other spellings of the same tag
            _ if tag.key.to_ascii_lowercase().contains("isrc") => &mut tags.isrc,
            _ => continue,
        };
        if slot.is_none() {
            let v = tag.value.to_string();
            let v = v.trim().trim_matches('\0').to_string();
            if !v.is_empty() {
                *slot = Some(v);
            }
        }
    }
}

/// Opens `path` for decoding in this process (tools and tests; the host uses workers).
fn open_path(path: &Path) -> Result<File> {
    File::open(path).map_err(|e| AudioError::Io { path: path.to_path_buf(), source: e })
}

fn open(file: File, path: &Path) -> Result<Opened> {
    let file_size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let fmt_opts = FormatOptions { enable_gapless: true, ..Default::default() };
    let mut probed = symphonia::default::get_probe()
        .format(&hint, mss, &fmt_opts, &MetadataOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => unsupported(path, "unknown container (not audio, or an unsupported format)"),
            e => map_sym(path, e, "probe"),
        })?;
    let mut tags = Tags::default();
    if let Some(rev) = probed.metadata.get().as_ref().and_then(|m| m.current().cloned()) {
        merge_tags(&mut tags, &rev);
    }
    let mut format = probed.format;
    if let Some(rev) = format.metadata().current() {
        merge_tags(&mut tags, rev);
    }
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some())
        .or_else(|| format.tracks().iter().find(|t| t.codec_params.codec != CODEC_TYPE_NULL))
        .ok_or_else(|| corrupt(path, "no audio track"))?;
    Ok(Opened { track_id: track.id, params: track.codec_params.clone(), format, tags, file_size })
}

fn codec_name(params: &CodecParameters) -> String {
    symphonia::default::get_codecs().get_codec(params.codec).map(|d| d.short_name.to_string()).unwrap_or_else(|| {
        if params.codec == symphonia::core::codecs::CODEC_TYPE_OPUS {
            "opus".to_string()
        } else {
            format!("unknown({})", params.codec)
        }
    })
}

fn is_lossless(codec: &str) -> bool {
    codec.starts_with("pcm") || matches!(codec, "flac" | "alac" | "wavpack" | "ape")
}

/// Reads an MPEG-4 AudioSpecificConfig and reports whether it signals SBR/PS (HE-AAC).
fn aac_is_he(extra: &[u8]) -> bool {
    let bit = |i: usize| -> u32 { ((extra.get(i / 8).copied().unwrap_or(0) >> (7 - i % 8)) & 1) as u32 };
    let bits = |start: usize, n: usize| -> u32 { (0..n).fold(0, |acc, k| (acc << 1) | bit(start + k)) };
    if extra.len() < 2 {
        return false;
    }
    let aot = bits(0, 5);
    if aot == 5 || aot == 29 {
        return true;
    }
    if aot != 2 {
        return false;
    }
    let mut pos = 5;
    let sr_idx = bits(pos, 4);
    pos += 4;
    if sr_idx == 15 {
        pos += 24;
    }
    pos += 4; // channel config
    pos += 3; // GASpecificConfig for LC
    if extra.len() * 8 >= pos + 17 && bits(pos, 11) == 0x2b7 && bits(pos + 11, 5) == 5 {
        return bit(pos + 16) == 1;
    }
    false
}

fn info_from(params: &CodecParameters, file_size: u64) -> AudioInfo {
    let codec = codec_name(params);
    let sample_rate = params.sample_rate.unwrap_or(0);
    let duration = match (params.n_frames, params.time_base, params.sample_rate) {
        (Some(n), Some(tb), _) => {
            let t = tb.calc_time(n);
            Some(t.seconds as f64 + t.frac)
        }
        (Some(n), None, Some(sr)) if sr > 0 => Some(n as f64 / sr as f64),
        _ => None,
    };
    let bitrate_kbps = duration.filter(|d| *d > 0.5).map(|d| ((file_size as f64 * 8.0) / d / 1000.0).round() as u32);
    AudioInfo {
        lossless: is_lossless(&codec),
        codec,
        sample_rate,
        channels: params.channels.map(|c| c.count() as u32).unwrap_or(0),
        duration,
        bitrate_kbps,
    }
}

/// Reads tags and stream facts without decoding audio, in this process.
pub fn read_tags(path: &Path) -> Result<(AudioInfo, Tags)> {
    read_tags_file(open_path(path)?, path)
}

/// [`read_tags`] of an open file; `path` labels errors and gives the format hint.
pub fn read_tags_file(file: File, path: &Path) -> Result<(AudioInfo, Tags)> {
    guard(path, || {
        let o = open(file, path)?;
        Ok((info_from(&o.params, o.file_size), o.tags))
    })
}

/// Runs `f`, turning a decoder panic into a per-file error.
fn guard<T>(path: &Path, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err(corrupt(path, format!("decoder failed: {msg}")))
        }
    }
}

/// Decodes up to `max_seconds` of audio to 11025 Hz mono (fpcalc's input to Chromaprint), in
/// this process.
pub fn decode_for_fingerprint(path: &Path, max_seconds: u32) -> Result<Decoded> {
    decode_file(open_path(path)?, path, max_seconds)
}

/// [`decode_for_fingerprint`] of an open file; `path` labels errors and gives the format hint.
pub fn decode_file(file: File, path: &Path, max_seconds: u32) -> Result<Decoded> {
    guard(path, || decode_inner(file, path, max_seconds))
}

fn decode_inner(file: File, path: &Path, max_seconds: u32) -> Result<Decoded> {
    // The edit-list reader below reads at offsets (pread) through a second handle, so it never
    // moves the offset symphonia reads from.
    let edits = file.try_clone().ok();
    let Opened { mut format, track_id, params, tags, file_size } = open(file, path)?;
    let mut info = info_from(&params, file_size);
    let mut decoder = make_decoder(&params, &info, path)?;
    let limit = max_seconds as usize * TARGET_RATE as usize;
    let mut out: Vec<i16> = Vec::with_capacity(limit.min(1 << 22));
    let mut mono = Mono::new(priming(path, &params, edits.as_ref()));
    let mut tally = Tally::default();
    while out.len() < limit {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tally.eof = true;
                break;
            }
            Err(SymError::ResetRequired) => {
                tally.eof = true;
                break;
            }
            Err(e) => {
                // a damaged stream: keep what decoded so far
                tally.first_error.get_or_insert_with(|| e.to_string());
                tally.bad_packets += 1;
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        tally.packets += 1;
        tally.packet_bytes += packet.buf().len() as u64;
        let buf = match decoder.decode(&packet) {
            Ok(b) => b,
            Err(SymError::DecodeError(e)) => {
                tally.bad_packets += 1;
                tally.first_error.get_or_insert_with(|| e.to_string());
                if tally.bad_packets > 50 && tally.bad_packets * 2 > tally.packets {
                    return Err(corrupt(path, format!("too many undecodable packets ({e})")));
                }
                continue;
            }
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tally.eof = true;
                break;
            }
            Err(e) => return Err(map_sym(path, e, "decode")),
        };
        tally.decoded_frames += mono.push(buf, &params, &mut info, path, &mut out)? as u64;
    }
    if out.len() < limit {
        mono.finish(&mut out);
    }
    out.truncate(limit);
    let decoded_secs = measure(&mut info, &tally, mono.in_rate, file_size, path)?;
    if out.len() < TARGET_RATE as usize {
        return Err(corrupt(path, format!("less than 1 s of decodable audio ({:.2} s)", decoded_secs)));
    }
    let (rate, kind, bad_packets) = (mono.in_rate, mono.kind, tally.bad_packets);
    tracing::debug!(path = %path.display(), codec = %info.codec, rate, ?kind, samples = out.len(), bad_packets, "decoded");
    Ok(Decoded { info, tags, samples: out })
}

/// The decoder for the stream, refusing up front the codecs symphonia 0.5 would misdecode or
/// not decode (Opus, HE-AAC) with a message that names them.
fn make_decoder(
    params: &CodecParameters,
    info: &AudioInfo,
    path: &Path,
) -> Result<Box<dyn symphonia::core::codecs::Decoder>> {
    if params.codec == symphonia::core::codecs::CODEC_TYPE_OPUS {
        return Err(unsupported(path, "Opus is not supported"));
    }
    if params.codec == CODEC_TYPE_AAC && params.extra_data.as_deref().is_some_and(aac_is_he) {
        return Err(unsupported(path, "HE-AAC (SBR/PS) is not supported"));
    }
    symphonia::default::get_codecs().make(params, &DecoderOptions::default()).map_err(|e| match e {
        SymError::Unsupported(_) => unsupported(path, format!("codec {} is not supported", info.codec)),
        e => map_sym(path, e, "decoder"),
    })
}

/// The encoder's priming samples an MP4 edit list says to skip, as FFmpeg skips them
/// (symphonia 0.5 does not); 0 for other containers or when the list cannot be read.
fn priming(path: &Path, params: &CodecParameters, edits: Option<&File>) -> usize {
    let is_mp4 = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["m4a", "m4b", "mp4", "alac"].iter().any(|x| x.eq_ignore_ascii_case(e)));
    match (is_mp4, params.sample_rate, edits) {
        (true, Some(sr), Some(f)) => crate::mp4::audio_priming(f, sr).unwrap_or(0) as usize,
        _ => 0,
    }
}

/// What the packet loop counted: packets read and failed, their bytes, frames decoded, the
/// first error, and whether the stream reached its end.
#[derive(Default)]
struct Tally {
    packets: u64,
    bad_packets: u64,
    packet_bytes: u64,
    decoded_frames: u64,
    first_error: Option<String>,
    eof: bool,
}

/// Fills in what only decoding tells (a duration the header lacked, the bitrate) and returns
/// the seconds decoded; an error when nothing decoded at all.
fn measure(info: &mut AudioInfo, tally: &Tally, in_rate: u32, file_size: u64, path: &Path) -> Result<f64> {
    if tally.decoded_frames == 0 {
        let why = tally.first_error.clone().unwrap_or_else(|| "no audio frames".into());
        return Err(corrupt(path, format!("no decodable audio ({why})")));
    }
    let decoded_secs = tally.decoded_frames as f64 / in_rate.max(1) as f64;
    if info.duration.is_none() && tally.eof {
        info.duration = Some(decoded_secs);
    }
    if decoded_secs > 0.5 && tally.packets > 0 {
        let kbps = (tally.packet_bytes as f64 * 8.0 / decoded_secs / 1000.0).round() as u32;
        info.bitrate_kbps = Some(kbps);
        if info.duration.is_none() && kbps > 0 {
            info.duration = Some(file_size as f64 * 8.0 / (kbps as f64 * 1000.0));
        }
    }
    Ok(decoded_secs)
}

/// Decoded buffers to mono at [`TARGET_RATE`]: the stream's sample type and rate (taken from
/// its first buffer), the resampler made for them, reused mixdown buffers, and the priming
/// samples still to drop.
struct Mono {
    resampler: Option<Resampler>,
    kind: SampleKind,
    in_rate: u32,
    sbuf_f: Option<SampleBuffer<f32>>,
    sbuf_i: Option<SampleBuffer<i16>>,
    mono_f: Vec<f32>,
    mono_i: Vec<i16>,
    to_skip: usize,
}

impl Mono {
    fn new(to_skip: usize) -> Self {
        Mono {
            resampler: None,
            kind: SampleKind::Float,
            in_rate: 0,
            sbuf_f: None,
            sbuf_i: None,
            mono_f: Vec::new(),
            mono_i: Vec::new(),
            to_skip,
        }
    }

    /// Mixes one buffer down, drops priming, resamples into `out`; returns its frames. The
    /// first buffer fixes the rate and the sample path; a later change of rate is an error.
    fn push(
        &mut self,
        buf: AudioBufferRef<'_>,
        params: &CodecParameters,
        info: &mut AudioInfo,
        path: &Path,
        out: &mut Vec<i16>,
    ) -> Result<usize> {
        let spec = *buf.spec();
        let frames = buf.frames();
        if frames == 0 {
            return Ok(0);
        }
        let channels = spec.channels.count().max(1);
        if self.resampler.is_none() {
            self.in_rate = spec.rate;
            if self.in_rate <= 1000 {
                return Err(corrupt(path, format!("sample rate {} Hz is too low", self.in_rate)));
            }
            self.kind = match &buf {
                AudioBufferRef::S16(_) | AudioBufferRef::U8(_) | AudioBufferRef::S8(_) | AudioBufferRef::U16(_) => {
                    SampleKind::Int16
                }
                AudioBufferRef::S32(_) | AudioBufferRef::S24(_) if params.bits_per_sample.is_some_and(|b| b <= 16) => {
                    SampleKind::Int16
                }
                _ => SampleKind::Float,
            };
            info.sample_rate = self.in_rate;
            info.channels = channels as u32;
            self.resampler = Some(Resampler::new(self.in_rate, self.kind));
        } else if spec.rate != self.in_rate {
            return Err(corrupt(path, "sample rate changes mid-stream"));
        }
        match self.kind {
            SampleKind::Int16 => self.push_i16(buf, frames, channels, out),
            SampleKind::Float => self.push_f32(buf, frames, channels, out),
        }
        Ok(frames)
    }

    /// The integer path (16-bit and narrower sources), as swresample takes it.
    fn push_i16(&mut self, buf: AudioBufferRef<'_>, frames: usize, channels: usize, out: &mut Vec<i16>) {
        let spec = *buf.spec();
        self.mono_i.clear();
        if !mix_i16(&buf, &mut self.mono_i) {
            let sb = match &mut self.sbuf_i {
                Some(sb) if sb.capacity() >= frames * channels => sb,
                slot => slot.insert(SampleBuffer::<i16>::new(frames as u64, spec)),
            };
            sb.copy_interleaved_ref(buf);
            let s = sb.samples();
            match channels {
                1 => self.mono_i.extend_from_slice(s),
                2 => self.mono_i.extend(s.chunks_exact(2).map(|c| mix2_i16(c[0], c[1]))),
                n => self
                    .mono_i
                    .extend(s.chunks_exact(n).map(|c| (c.iter().map(|&v| v as i32).sum::<i32>() / n as i32) as i16)),
            }
        }
        if self.to_skip > 0 {
            let n = self.to_skip.min(self.mono_i.len());
            self.mono_i.drain(..n);
            self.to_skip -= n;
        }
        if let Some(rs) = self.resampler.as_mut() {
            rs.push_i16(&self.mono_i, out);
        }
    }

    /// The float path (everything wider than 16 bits).
    fn push_f32(&mut self, buf: AudioBufferRef<'_>, frames: usize, channels: usize, out: &mut Vec<i16>) {
        let spec = *buf.spec();
        self.mono_f.clear();
        if !mix_f32(&buf, &mut self.mono_f) {
            let sb = match &mut self.sbuf_f {
                Some(sb) if sb.capacity() >= frames * channels => sb,
                slot => slot.insert(SampleBuffer::<f32>::new(frames as u64, spec)),
            };
            sb.copy_interleaved_ref(buf);
            let s = sb.samples();
            match channels {
                1 => self.mono_f.extend_from_slice(s),
                2 => self.mono_f.extend(s.chunks_exact(2).map(|c| 0.5 * c[0] + 0.5 * c[1])),
                n => self.mono_f.extend(s.chunks_exact(n).map(|c| c.iter().sum::<f32>() / n as f32)),
            }
        }
        if self.to_skip > 0 {
            let n = self.to_skip.min(self.mono_f.len());
            self.mono_f.drain(..n);
            self.to_skip -= n;
        }
        if let Some(rs) = self.resampler.as_mut() {
            rs.push_f32(&self.mono_f, out);
        }
    }

    /// Flushes the resampler's tail (when the stream ended before the limit).
    fn finish(&mut self, out: &mut Vec<i16>) {
        if let Some(rs) = self.resampler.as_mut() {
            rs.finish(out);
        }
    }
}

/// swresample's integer stereo-to-mono mix: coefficients 0.5 as 16384/32768, rounded.
#[inline]
fn mix2_i16(l: i16, r: i16) -> i16 {
    ((16384 * l as i32 + 16384 * r as i32 + 16384) >> 15) as i16
}

/// Fast path: mono/stereo 16-bit (or 16-bit-in-32) planar buffers mixed straight to mono.
/// Returns false for layouts the caller must convert generically.
fn mix_i16(buf: &AudioBufferRef<'_>, out: &mut Vec<i16>) -> bool {
    use symphonia::core::audio::Signal;
    match buf {
        AudioBufferRef::S16(b) => match b.spec().channels.count() {
            1 => out.extend_from_slice(b.chan(0)),
            2 => out.extend(b.chan(0).iter().zip(b.chan(1)).map(|(l, r)| mix2_i16(*l, *r))),
            _ => return false,
        },
        // FLAC/ALAC deliver 16-bit audio left-aligned in i32
        AudioBufferRef::S32(b) => match b.spec().channels.count() {
            1 => out.extend(b.chan(0).iter().map(|v| (v >> 16) as i16)),
            2 => out.extend(b.chan(0).iter().zip(b.chan(1)).map(|(l, r)| mix2_i16((l >> 16) as i16, (r >> 16) as i16))),
            _ => return false,
        },
        _ => return false,
    }
    true
}

/// Fast path: mono/stereo f32 or s32 planar buffers mixed straight to mono floats.
fn mix_f32(buf: &AudioBufferRef<'_>, out: &mut Vec<f32>) -> bool {
    use symphonia::core::audio::Signal;
    match buf {
        AudioBufferRef::F32(b) => match b.spec().channels.count() {
            1 => out.extend_from_slice(b.chan(0)),
            2 => out.extend(b.chan(0).iter().zip(b.chan(1)).map(|(l, r)| 0.5 * l + 0.5 * r)),
            _ => return false,
        },
        AudioBufferRef::S32(b) => {
            let k = 1.0f32 / 2147483648.0;
            match b.spec().channels.count() {
                1 => out.extend(b.chan(0).iter().map(|v| *v as f32 * k)),
                2 => out.extend(
                    b.chan(0).iter().zip(b.chan(1)).map(|(l, r)| 0.5 * (*l as f32 * k) + 0.5 * (*r as f32 * k)),
                ),
                _ => return false,
            }
        }
        _ => return false,
    }
    true
}

/// Absolute form of a path without resolving symlinks (falls back to the path as given).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn he_aac_detection() {
        assert!(aac_is_he(&[0x2b, 0x92])); // aot 5
        assert!(!aac_is_he(&[0x12, 0x10])); // LC 44.1k stereo
        assert!(aac_is_he(&[0x13, 0x10, 0x56, 0xe5, 0x98])); // LC 22.05k + sync ext SBR
    }

    #[test]
    fn audio_extensions() {
        assert!(is_audio_path(Path::new("a/b.FLAC")));
        assert!(!is_audio_path(Path::new("a/b.txt")));
    }
}
