//! `file://` locations as Rekordbox writes them (`Location` attributes) and djay's playlists
//! carry them, to and from host paths. Shared by the Rekordbox reader and the library.
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// What stays unencoded in a `Location` path: RFC 3986 unreserved characters and `/`.
const PATH: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b'/');

/// `/Users/me/Music/Ünïcode song #1.mp3` → `file://localhost/Users/me/Music/%C3%9Cn%C3%AFcode%20song%20%231.mp3`.
pub fn location_from_path(path: &str) -> String {
    let p = path.replace('\\', "/");
    let p = p.trim_start_matches('/');
    format!("file://localhost/{}", utf8_percent_encode(p, PATH))
}

/// The absolute path of a `file://` URI (`file://localhost/…`, `file:///…`), percent-decoded;
/// None when it is not a file URI or does not decode to UTF-8. Windows drive paths
/// (`file:///D:%5CMusic%5Ca.mp3`) come back as `D:/Music/a.mp3`.
pub fn path_from_location(loc: &str) -> Option<String> {
    let rest = loc.strip_prefix("file://")?;
    let rest = rest.strip_prefix("localhost").unwrap_or(rest);
    let decoded = percent_decode_str(rest).decode_utf8().ok()?.replace('\\', "/");
    let b = decoded.as_bytes();
    if b.len() >= 3 && b[0] == b'/' && b[1].is_ascii_alphabetic() && b[2] == b':' {
        return Some(decoded[1..].to_string());
    }
    decoded.starts_with('/').then_some(decoded)
}
