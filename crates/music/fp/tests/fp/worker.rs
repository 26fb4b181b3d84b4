//! The decoding workers (`baton_fp::worker`) with real worker processes: `fp-bench` offers the
//! hidden `__fp-worker` command as `baton` does. A file that aborts the decoder, one that
//! overruns the per-file limit and a task whose time runs out each fail one call, and the pool
//! goes on with fresh workers.
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use baton_fp::FpError;
use baton_fp::worker::{WorkerConfig, Workers, open_regular};

fn pool(workers: usize, file_timeout: Duration) -> Workers {
    Workers::new(WorkerConfig { exe: PathBuf::from(env!("CARGO_BIN_EXE_fp-bench")), workers, file_timeout })
}

/// An MP4 whose `co64` box claims 0xFFFFFFFF chunk offsets: symphonia 0.5 asks for 32 GiB up
/// front and the process aborts (SIGABRT).
pub fn co64_bomb() -> Vec<u8> {
    fn atom(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut a = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        a.extend_from_slice(kind);
        a.extend_from_slice(body);
        a
    }
    let co64 = atom(b"co64", &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    let moov = atom(b"moov", &atom(b"trak", &atom(b"mdia", &atom(b"minf", &atom(b"stbl", &co64)))));
    let mut file = atom(b"ftyp", b"isom\0\0\0\0");
    file.extend_from_slice(&moov);
    file
}

fn tone(path: &Path, seconds: u32) {
    let rate = 44100u32;
    let samples: Vec<i16> = (0..rate * seconds)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let f = 220.0 * (1 + (t * 3.0) as u32 % 5) as f64;
            ((t * f * std::f64::consts::TAU).sin() * 8000.0) as i16
        })
        .collect();
    let data = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    b.extend_from_slice(&[1, 0, 1, 0]); // PCM, mono
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&[2, 0, 16, 0]); // block align, bits per sample
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data.to_le_bytes());
    b.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_decoder_abort_fails_one_file_and_the_pool_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.m4a");
    std::fs::write(&bomb, co64_bomb()).unwrap();
    let good = dir.path().join("good.wav");
    tone(&good, 8);
    let workers = pool(1, Duration::from_secs(10));

    for _ in 0..2 {
        match workers.fingerprint(open_regular(&bomb).unwrap(), &bomb, None) {
            Err(FpError::Corrupt { path, detail }) => {
                assert_eq!(path, bomb);
                assert!(detail.contains("crashed") && detail.contains("SIGABRT"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        match workers.read_tags(open_regular(&bomb).unwrap(), &bomb, None) {
            Err(FpError::Corrupt { detail, .. }) => assert!(detail.contains("crashed"), "{detail}"),
            other => panic!("{other:?}"),
        }
        // The same single-worker pool fingerprints the next file with a fresh worker, exactly
        // as decoding in this process does.
        let fp = workers.fingerprint(open_regular(&good).unwrap(), &good, None).unwrap();
        assert_eq!(fp.fingerprint, baton_signal::fingerprint_file(&good).unwrap().fingerprint);
        assert_eq!(fp.path, good);
        let (info, _) = workers.read_tags(open_regular(&good).unwrap(), &good, None).unwrap();
        assert_eq!((info.sample_rate, info.channels), (44100, 1));
    }
}

#[test]
fn the_per_file_limit_marks_the_file_and_a_task_deadline_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let long = dir.path().join("long.wav");
    tone(&long, 120);
    let workers = pool(1, Duration::from_millis(5));
    match workers.fingerprint(open_regular(&long).unwrap(), &long, None) {
        Err(FpError::Corrupt { detail, .. }) => assert!(detail.contains("per-file limit of 5 ms"), "{detail}"),
        other => panic!("{other:?}"),
    }
    // The task's time is shorter than the per-file limit: the worker is killed on time and the
    // error is the task's, not the file's.
    let workers = pool(1, Duration::from_secs(10));
    let t = Instant::now();
    match workers.fingerprint(open_regular(&long).unwrap(), &long, Some(Instant::now() + Duration::from_millis(5))) {
        Err(e @ FpError::TaskTimeout { .. }) => assert_eq!(e.kind(), "timeout"),
        other => panic!("{other:?}"),
    }
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // and the pool still works
    assert!(workers.fingerprint(open_regular(&long).unwrap(), &long, None).is_ok());
}

#[test]
fn only_regular_files_are_opened_and_a_fifo_does_not_block() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.mp3");
    rustix::fs::mknodat(rustix::fs::CWD, &fifo, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o644), 0)
        .unwrap();
    let t = Instant::now();
    match open_regular(&fifo) {
        Err(FpError::Unsupported { detail, .. }) => assert!(detail.contains("not a regular file"), "{detail}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(open_regular(dir.path()), Err(FpError::Unsupported { .. })));
    assert!(t.elapsed() < Duration::from_secs(1));
}

#[test]
fn a_scan_records_the_bomb_once_and_retries_it_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    std::fs::write(music.join("bomb.m4a"), co64_bomb()).unwrap();
    tone(&music.join("a.wav"), 8);
    tone(&music.join("b.wav"), 9);
    let db = dir.path().join("state.sqlite");
    let workers = pool(2, Duration::from_secs(10));
    let roots = [music.clone()];

    let s = baton_fp::scan::scan(&db, &roots, &workers, Default::default()).unwrap();
    assert_eq!((s.found, s.fingerprinted, s.failed), (3, 2, 1), "{s:?}");
    assert!(s.errors[0].path.ends_with("bomb.m4a") && s.errors[0].error.contains("crashed"), "{s:?}");
    let s = baton_fp::scan::scan(&db, &roots, &workers, Default::default()).unwrap();
    assert_eq!((s.skipped, s.scanned), (3, 0), "an error row is remembered: {s:?}");
    let retry = baton_fp::scan::ScanOptions { retry_errors: true, ..Default::default() };
    let s = baton_fp::scan::scan(&db, &roots, &workers, retry).unwrap();
    assert_eq!((s.skipped, s.scanned, s.failed), (2, 1, 1), "{s:?}");
}
