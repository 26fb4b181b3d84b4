//! Values bigger than one kv entry should hold, kept in numbered chunks (`<key>:0`, `<key>:1`,
//! …) with the count in the caller's own state. Chunks are cut on UTF-8 boundaries, and a value
//! that shrinks deletes the chunks it no longer uses, so nothing stale is read back.
use crate::host;

/// The largest chunk [`put_chunks`] writes by default: 1 MiB.
pub const CHUNK: usize = 1 << 20;

/// Where chunks go: the host's kv store, or a map in tests.
pub trait Store {
    fn get(&mut self, key: &str) -> Option<String>;
    fn set(&mut self, key: &str, value: &str);
    fn delete(&mut self, key: &str);
}

/// The plugin's kv store on the host.
pub struct Host;

impl Store for Host {
    fn get(&mut self, key: &str) -> Option<String> {
        host::kv_get(key)
    }
    fn set(&mut self, key: &str, value: &str) {
        host::kv_set(key, value)
    }
    fn delete(&mut self, key: &str) {
        host::kv_delete(key)
    }
}

fn chunk_key(key: &str, i: u32) -> String {
    format!("{key}:{i}")
}

/// Writes `value` as chunks of at most `chunk` bytes (at least 4, so a char always fits) under
/// `key`, deletes chunks `old_count..` left from a longer value, and returns the new count.
pub fn put_chunks(store: &mut impl Store, key: &str, value: &str, old_count: u32, chunk: usize) -> u32 {
    let chunk = chunk.max(4);
    let mut n = 0u32;
    let mut rest = value;
    while !rest.is_empty() {
        let mut cut = rest.len().min(chunk);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        store.set(&chunk_key(key, n), &rest[..cut]);
        rest = &rest[cut..];
        n += 1;
    }
    for i in n..old_count {
        store.delete(&chunk_key(key, i));
    }
    n
}

/// The value `count` chunks under `key` hold; none when one is missing.
pub fn get_chunks(store: &mut impl Store, key: &str, count: u32) -> Option<String> {
    let mut text = String::new();
    for i in 0..count {
        text.push_str(&store.get(&chunk_key(key, i))?);
    }
    Some(text)
}

/// Deletes `count` chunks under `key`.
pub fn delete_chunks(store: &mut impl Store, key: &str, count: u32) {
    for i in 0..count {
        store.delete(&chunk_key(key, i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Default)]
    struct Mem(BTreeMap<String, String>);

    impl Store for Mem {
        fn get(&mut self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set(&mut self, key: &str, value: &str) {
            self.0.insert(key.into(), value.into());
        }
        fn delete(&mut self, key: &str) {
            self.0.remove(key);
        }
    }

    #[test]
    fn chunks_round_trip_on_char_boundaries_and_a_shorter_value_drops_the_rest() {
        let mut m = Mem::default();
        let value = "añb€c".repeat(10); // multi-byte chars straddle the 5-byte cuts
        let n = put_chunks(&mut m, "base:t", &value, 0, 5);
        assert!(n > 10, "{n}");
        assert!(m.0.values().all(|v| v.len() <= 5));
        assert_eq!(get_chunks(&mut m, "base:t", n).unwrap(), value);
        let n2 = put_chunks(&mut m, "base:t", "short", n, 5);
        assert_eq!(n2, 1);
        assert_eq!(m.0.len(), 1, "stale chunks deleted: {:?}", m.0.keys());
        assert_eq!(get_chunks(&mut m, "base:t", n2).unwrap(), "short");
        assert_eq!(get_chunks(&mut m, "base:t", 2), None, "a missing chunk is no value");
        assert_eq!(put_chunks(&mut m, "base:t", "", n2, 5), 0);
        assert!(m.0.is_empty());
    }
}
