//! A plugin's stdout and stderr during one task, captured so its author can read them.
//!
//! Why: a plugin written in Python or JavaScript reports an uncaught error the only way its
//! language runtime knows, by printing a traceback to stderr and trapping. With stdio closed
//! that traceback was lost, and the RETURN said only `wasm unreachable instruction executed`.
//! Here both streams go into one bounded buffer per task. The lines end up in the task's
//! plugin log (levels `stdout` and `stderr`, shown by `baton show`), and when the plugin traps
//! its last stderr lines go into the error message.
//!
//! Bounds: the buffer keeps at most `cap` bytes (the task's log share of its output budget),
//! dropping the *oldest* lines first, since the end of the output (a traceback, a panic
//! message) is what explains a failure. Writes never fail and never block, so a chatty plugin
//! is not broken by being captured: what does not fit is counted and dropped.
use baton_sync::Locked;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// A line longer than this is split: one log line per piece.
const MAX_LINE: usize = 4 << 10;
/// Bytes a single `check-write` permits (as wasmtime's own pipes do).
const WRITE_PERMIT: usize = 64 << 10;

/// Which stream a line came from; also its level in the plugin log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn level(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Complete lines, oldest first.
    lines: VecDeque<(Stream, String)>,
    /// Bytes held in `lines` and the two partial lines.
    held: usize,
    /// The line each stream is in the middle of.
    partial: [Vec<u8>; 2],
    /// Lines (or pieces) dropped from the front to stay under the cap.
    dropped_lines: u64,
}

/// One task's captured stdout and stderr. Cheap to clone: the clones share the buffer.
#[derive(Debug, Clone)]
pub struct Capture {
    cap: usize,
    inner: Arc<Mutex<Inner>>,
}

/// What a task printed, once it is over.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Captured {
    pub lines: Vec<(Stream, String)>,
    /// Older lines dropped to stay within the cap.
    pub dropped_lines: u64,
}

impl Captured {
    /// The last `n` stderr lines (fewer when there are fewer), oldest first.
    pub fn stderr_tail(&self, n: usize) -> Vec<&str> {
        let mut tail: Vec<&str> =
            self.lines.iter().rev().filter(|(s, _)| *s == Stream::Stderr).take(n).map(|(_, l)| l.as_str()).collect();
        tail.reverse();
        tail
    }
}

impl Capture {
    pub fn new(cap: usize) -> Self {
        Capture { cap, inner: Arc::default() }
    }

    /// The stream the guest writes `stream` to.
    pub fn stream(&self, stream: Stream) -> CaptureStream {
        CaptureStream { capture: self.clone(), stream }
    }

    fn write(&self, stream: Stream, mut bytes: &[u8]) {
        let mut inner = self.inner.locked();
        let idx = stream as usize;
        while !bytes.is_empty() {
            let room = MAX_LINE - inner.partial[idx].len();
            let (chunk, rest, ends_line) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) if i <= room => (&bytes[..i], &bytes[i + 1..], true),
                _ if bytes.len() >= room => (&bytes[..room], &bytes[room..], true),
                _ => (bytes, &bytes[bytes.len()..], false),
            };
            bytes = rest;
            inner.partial[idx].extend_from_slice(chunk);
            inner.held += chunk.len();
            if ends_line {
                let raw = std::mem::take(&mut inner.partial[idx]);
                let line = text(&raw);
                inner.held = inner.held - raw.len() + line.len();
                inner.lines.push_back((stream, line));
            }
            self.evict(&mut inner);
        }
    }

    /// Drops the oldest complete lines until the buffer is under its cap.
    fn evict(&self, inner: &mut Inner) {
        while inner.held > self.cap {
            let Some((_, line)) = inner.lines.pop_front() else { break };
            inner.held = inner.held.saturating_sub(line.len());
            inner.dropped_lines += 1;
        }
        // Only partial lines left and still over: the cap is smaller than a line; cut them.
        for idx in 0..2 {
            if inner.held > self.cap && !inner.partial[idx].is_empty() {
                let cut = (inner.held - self.cap).min(inner.partial[idx].len());
                inner.partial[idx].drain(..cut);
                inner.held -= cut;
            }
        }
    }

    /// Everything captured so far, partial last lines included.
    pub fn take(&self) -> Captured {
        let mut inner = self.inner.locked();
        for (idx, stream) in [(0, Stream::Stdout), (1, Stream::Stderr)] {
            let rest = std::mem::take(&mut inner.partial[idx]);
            if !rest.is_empty() {
                inner.lines.push_back((stream, text(&rest)));
            }
        }
        inner.held = 0;
        Captured {
            lines: std::mem::take(&mut inner.lines).into(),
            dropped_lines: std::mem::take(&mut inner.dropped_lines),
        }
    }
}

/// A line as text: invalid UTF-8 replaced, a trailing `\r` and other control characters
/// (terminal escapes) shown as `\u{..}` escapes, tabs kept.
fn text(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.strip_suffix('\r').unwrap_or(&s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() && c != '\t' {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The guest's end of one captured stream.
pub struct CaptureStream {
    capture: Capture,
    stream: Stream,
}

impl IsTerminal for CaptureStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CaptureStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(CaptureStream { capture: self.capture.clone(), stream: self.stream })
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(CaptureStream { capture: self.capture.clone(), stream: self.stream })
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CaptureStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.capture.write(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(WRITE_PERMIT)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CaptureStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for CaptureStream {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.capture.write(self.stream, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_both_streams_in_order() {
        let c = Capture::new(1 << 10);
        c.write(Stream::Stdout, b"hello\nwor");
        c.write(Stream::Stderr, b"Traceback (most recent call last):\n  File \"app.py\"\n");
        c.write(Stream::Stdout, b"ld\r\n");
        c.write(Stream::Stderr, b"ValueError: boom");
        let got = c.take();
        assert_eq!(
            got.lines,
            vec![
                (Stream::Stdout, "hello".to_string()),
                (Stream::Stderr, "Traceback (most recent call last):".to_string()),
                (Stream::Stderr, "  File \"app.py\"".to_string()),
                (Stream::Stdout, "world".to_string()),
                (Stream::Stderr, "ValueError: boom".to_string()),
            ]
        );
        assert_eq!(got.stderr_tail(2), vec!["  File \"app.py\"", "ValueError: boom"]);
        assert_eq!(got.dropped_lines, 0);
    }

    #[test]
    fn keeps_the_newest_lines_within_the_cap() {
        let c = Capture::new(100);
        for i in 0..1000 {
            c.write(Stream::Stderr, format!("line {i:04}\n").as_bytes());
        }
        let got = c.take();
        let kept: usize = got.lines.iter().map(|(_, l)| l.len()).sum();
        assert!(kept <= 100, "{kept}");
        assert_eq!(got.lines.last().map(|(_, l)| l.as_str()), Some("line 0999"));
        assert_eq!(got.dropped_lines as usize + got.lines.len(), 1000);
    }

    #[test]
    fn long_lines_split_and_escapes_shown() {
        let c = Capture::new(1 << 20);
        c.write(Stream::Stdout, &vec![b'x'; MAX_LINE * 2 + 5]);
        c.write(Stream::Stderr, b"\x1b[31mred\x1b[0m\tok\xff\n");
        let got = c.take();
        let out: Vec<usize> = got.lines.iter().filter(|(s, _)| *s == Stream::Stdout).map(|(_, l)| l.len()).collect();
        assert_eq!(out, vec![MAX_LINE, MAX_LINE, 5]);
        assert_eq!(got.stderr_tail(1), vec!["\\u{1b}[31mred\\u{1b}[0m\tok\u{fffd}"]);
    }

    #[test]
    fn a_cap_smaller_than_a_line_keeps_its_end() {
        let c = Capture::new(8);
        c.write(Stream::Stderr, b"0123456789abcdef");
        let got = c.take();
        assert_eq!(got.lines, vec![(Stream::Stderr, "89abcdef".to_string())]);
    }
}
