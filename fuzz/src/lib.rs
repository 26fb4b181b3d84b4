//! What every fuzz target shares: the bound on time each input must meet, and small helpers that
//! cut one fuzz input into the several strings a writer takes (for the round trips).
//!
//! The other bounds are libFuzzer's, set by `./x fuzz`: `-timeout` (a hang), `-rss_limit_mb` and
//! `-malloc_limit_mb` (memory). The deadline here is tighter than `-timeout` and is checked on
//! every input, so a parser that is slow but finishes (quadratic on a 64 KB input) fails too.
use std::time::{Duration, Instant};

/// The longest one input may take, parse and checks included. Inputs are at most 64 KB
/// (`-max_len`); every parser here is linear or close, and reads that much in milliseconds.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// Runs `f` on one input and fails the input when it took longer than [`DEADLINE`].
pub fn bounded<T>(what: &str, len: usize, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took <= DEADLINE, "{what}: {took:?} for a {len}-byte input, over the {DEADLINE:?} bound");
    out
}

/// Cuts `data` into `n` strings at byte 0x1F (the unit separator), so the strings themselves
/// may hold newlines and every other byte; lossy UTF-8, missing ones empty.
pub fn fields(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> =
        data.splitn(n, |&b| b == 0x1F).map(|p| String::from_utf8_lossy(p).into_owned()).collect();
    out.resize(n, String::new());
    out
}

/// The lines of `text`, as a reader counts them: the number of the last line.
pub fn line_count(text: &str) -> usize {
    text.split('\n').count()
}

/// What every plan parser's output must hold: each deliverable's line is a line of `content`
/// (0, "no line", only where the format has none: Taskmaster's JSON), its path is non-empty
/// and listed once.
pub fn check_plan(found: &baton_audit::extract::Extracted, content: &str, has_lines: bool) {
    let lines = line_count(content);
    let mut seen = std::collections::HashSet::new();
    for d in &found.deliverables {
        assert!(
            (d.line >= 1 || !has_lines) && d.line <= lines,
            "deliverable {:?} at line {} of {lines}",
            d.path,
            d.line
        );
        assert!(!d.path.is_empty(), "an empty deliverable path at line {}", d.line);
        assert!(seen.insert(d.path.as_str()), "{:?} promised twice", d.path);
    }
}

/// What every playlist read must hold, whatever its format: an encoding is named, and entries
/// are numbered from 1, in order where the format numbers tracks (m3u counts lines, which may
/// repeat a track).
pub fn check_playlist(list: &baton_normalize::playlist::Playlist) {
    assert!(!list.encoding.is_empty());
    let mut last = 0;
    for e in &list.entries {
        assert!(e.line >= 1, "{e:?}");
        if list.format != "m3u" {
            assert!(e.line > last, "entries out of order: {} after {last}", e.line);
        }
        last = e.line;
    }
}

/// The `baton send` hint built for a loose or Markdown handoff (see
/// `baton_handoff::dialect::send_command`) is a `baton send` command, whatever the names in it.
/// One claude-team mailbox (`alpha`) is configured, so both answers of the team lookup are
/// reached: `alpha/NAME` is an agent, any other `TEAM/NAME` is refused with its reason.
pub fn check_send_command(seen: &baton_handoff::dialect::Seen, body_file: &str) {
    use baton_handoff::dialect::{UnknownTeam, send_command};
    let team = |n: &str| match n.split_once('/') {
        Some(("alpha", _)) => Ok(()),
        _ => Err(UnknownTeam(format!("no claude-team mailbox has {n}"))),
    };
    let command = send_command(seen, "baton", body_file, &team);
    assert!(command.starts_with("baton send "), "{command}");
}
