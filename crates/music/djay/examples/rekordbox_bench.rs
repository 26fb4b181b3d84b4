//! The djay plugin's Rekordbox import work, natively, phase by phase (issue 81's benchmark
//! runs the same code inside the wasm plugin, where a profile names no function): read the
//! export, build the library, write the tracks' records as JSON text.
//!
//! `cargo run --release -p baton-djay --example rekordbox_bench -- EXPORT.xml [ROUNDS]`
use std::time::Instant;

fn main() {
    let path = std::env::args().nth(1).expect("usage: rekordbox_bench EXPORT.xml [ROUNDS]");
    let rounds: usize = std::env::args().nth(2).and_then(|a| a.parse().ok()).unwrap_or(3);
    let text = std::fs::read_to_string(&path).expect("a UTF-8 export");
    for round in 0..rounds {
        let t = Instant::now();
        let mut lib = baton_djay::rekordbox::read_at(&text, "big.xml", Some("/music")).expect("an export");
        let read = t.elapsed();
        let t = Instant::now();
        lib.finish();
        let finish = t.elapsed();
        let t = Instant::now();
        let mut text = Vec::new();
        for (i, track) in lib.tracks.values().enumerate() {
            text.push(if i % 500 == 0 { b'[' } else { b',' });
            baton_djay::library::write_track_record(track, &mut text);
        }
        let json = t.elapsed();
        let bytes = text.len();
        println!(
            "round {round}: {} tracks; read {:.0} ms, finish {:.0} ms, records as JSON text {:.0} ms ({:.1} MB)",
            lib.tracks.len(),
            read.as_secs_f64() * 1e3,
            finish.as_secs_f64() * 1e3,
            json.as_secs_f64() * 1e3,
            bytes as f64 / 1e6
        );
    }
}
