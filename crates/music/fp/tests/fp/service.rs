//! Library-level tests of the plugin-facing service API and of the scan → dedup path on audio
//! synthesised here (WAV written by the test; no external tools).
use std::path::Path;

fn synth(seed: u64, seconds: f64, rate: u32) -> Vec<i16> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut next = move || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let n = (seconds * rate as f64) as usize;
    let mut out = vec![0i16; n];
    let note = (0.3 * rate as f64) as usize;
    for chunk in out.chunks_mut(note) {
        let f = 220.0 * 2f64.powf((next() % 24) as f64 / 12.0);
        for (k, o) in chunk.iter_mut().enumerate() {
            let t = k as f64 / rate as f64;
            *o = ((t * f * std::f64::consts::TAU).sin() * 9000.0 * (1.0 - k as f64 / note as f64)) as i16;
        }
    }
    out
}

fn write_wav(path: &Path, samples: &[i16], rate: u32) {
    let data_len = (samples.len() * 2) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).unwrap();
}

#[test]
fn service_fingerprint_tags_and_best_matches() {
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    std::fs::create_dir_all(&music).unwrap();
    for i in 0..4u64 {
        write_wav(&music.join(format!("t{i}.wav")), &synth(i, 15.0, 44100), 44100);
    }
    // a copy with the first 2 s cut
    let s = synth(2, 15.0, 44100);
    write_wav(&music.join("t2_trim.wav"), &s[2 * 44100..], 44100);
    std::fs::write(music.join("broken.mp3"), b"ID3 not really").unwrap();
    let db = dir.path().join("state.sqlite");

    let workers = baton_fp::worker::Workers::new(baton_fp::worker::WorkerConfig {
        exe: env!("CARGO_BIN_EXE_fp-bench").into(),
        workers: 2,
        file_timeout: baton_fp::worker::DEFAULT_FILE_TIMEOUT,
    });
    let sum = baton_fp::scan::scan(&db, std::slice::from_ref(&music), &workers, Default::default()).unwrap();
    assert_eq!((sum.found, sum.fingerprinted, sum.failed), (6, 5, 1));
    assert!(sum.errors[0].error.contains("broken.mp3"));

    let open = |name: &str| baton_fp::worker::open_regular(&music.join(name)).unwrap();
    let fp = workers.fingerprint(open("t2_trim.wav"), &music.join("t2_trim.wav"), None).unwrap();
    assert!(fp.fingerprint.len() > 80);
    assert!(!fp.compressed().is_empty());
    let (info, _tags) = workers.read_tags(open("t1.wav"), &music.join("t1.wav"), None).unwrap();
    assert_eq!(info.sample_rate, 44100);
    assert!(info.lossless);
    assert!((info.duration.unwrap() - 15.0).abs() < 0.01);

    let matcher = baton_fp::service::Matcher::new(&db);
    let m = matcher.best_matches(&fp.fingerprint, 0.85, 3, |_| true, || false).unwrap();
    assert_eq!(m.len(), 2, "{m:?}");
    assert!(m[0].path.ends_with("t2_trim.wav") && m[0].score > 0.99);
    assert!(m[1].path.ends_with("t2.wav"));
    assert!((m[1].offset_seconds - 2.0).abs() < 0.2, "{m:?}");
    // `visible` hides files before the limit is applied: the next best takes the place.
    let m = matcher.best_matches(&fp.fingerprint, 0.85, 1, |p| !p.ends_with("t2_trim.wav"), || false).unwrap();
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].path.ends_with("t2.wav"), "{m:?}");

    let r = baton_fp::dedup::find_groups(&db, &Default::default()).unwrap();
    assert_eq!(r.groups.len(), 1, "{r:?}");
    assert!(r.groups[0].keeper.path.ends_with("t2.wav"), "longer wins: {:?}", r.groups[0]);
    assert!(r.groups[0].duplicates[0].path.ends_with("t2_trim.wav"));
    // The matcher's cached index follows the library: a file scanned after its first use is found.
    write_wav(&music.join("t2_again.wav"), &s, 44100);
    baton_fp::scan::scan(&db, std::slice::from_ref(&music), &workers, Default::default()).unwrap();
    let m = matcher.best_matches(&fp.fingerprint, 0.85, 5, |_| true, || false).unwrap();
    assert!(m.iter().any(|m| m.path.ends_with("t2_again.wav")), "{m:?}");
    assert_eq!(m.len(), 3, "{m:?}");
}

/// `best-matches` with a query too short to index compares the library one by one: it stops
/// when told to (its task timed out) and refuses to go past its work cap.
#[test]
fn best_matches_stops_on_request_and_caps_its_work() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("state.sqlite");
    let db = baton_fp::db::Db::open(&db_path).unwrap();
    db.conn.execute_batch("BEGIN").unwrap();
    for i in 0..(baton_fp::service::MAX_COMPARED as u32 + 10) {
        let fp: Vec<u32> = (0..120u32).map(|k| (i ^ k).wrapping_mul(0x9E37_79B9)).collect();
        let row = baton_fp::db::FileRow {
            path: dir.path().join(format!("{i}.flac")),
            size: 1,
            fingerprint: Some(fp),
            ..Default::default()
        };
        db.upsert(&row).unwrap();
    }
    db.conn.execute_batch("COMMIT").unwrap();
    // No value of this query is in the sampled index, so every library file is a candidate.
    let v = (0u32..).find(|v| !baton_signal::index::sampled(v & baton_signal::index::KEY_MASK, 2)).unwrap();
    let query = vec![v; 40];
    assert!(baton_signal::index::sample_keys(&query).is_empty());
    let matcher = baton_fp::service::Matcher::new(&db_path);

    let calls = std::cell::Cell::new(0u32);
    let stop_after_a_while = || {
        calls.set(calls.get() + 1);
        calls.get() > 3
    };
    match matcher.best_matches(&query, 0.9, 5, |_| true, stop_after_a_while) {
        Err(e @ baton_fp::FpError::TaskTimeout { .. }) => assert_eq!(e.kind(), "timeout"),
        other => panic!("{other:?}"),
    }
    assert_eq!(calls.get(), 4, "polled before starting and every 64 comparisons");

    match matcher.best_matches(&query, 0.9, 5, |_| true, || false) {
        Err(baton_fp::FpError::Invalid(m)) => assert!(m.contains("more than 20000 comparisons"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// A random-walk print (each item flips two bits of the last, like a real print's items).
fn walk(seed: u64, n: usize) -> Vec<u32> {
    let mut s = seed.wrapping_mul(6364136223846793005) | 1;
    let mut v = 0u32;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            v ^= 1 << (s % 32);
            v ^= 1 << ((s >> 8) % 32);
            v
        })
        .collect()
}

#[test]
fn best_matches_finds_a_clip_past_the_prefix_through_deep_prints() {
    use baton_fp::db::{Db, FileRow};
    use baton_signal::deep::{SPEEDS, stretch};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let db = Db::open(&state).unwrap();
    let tracks: Vec<Vec<u32>> = (0..20).map(|k| walk(100 + k, 1900)).collect();
    let insert = |path: &str, unit: &[u32], deep: bool| {
        let row = FileRow {
            path: path.into(),
            size: 1,
            mtime_ns: 1,
            fingerprint: Some(unit[..950].to_vec()),
            ..Default::default()
        };
        let prints: Vec<Vec<u32>> = SPEEDS.iter().map(|&s| stretch(unit, 1.0 / s)).collect();
        db.upsert_with_deep(&row, deep.then_some(&prints[..])).unwrap();
    };
    for (k, t) in tracks.iter().enumerate() {
        insert(&format!("/lib/{k:02}.flac"), t, false);
    }
    // a 30 s clip from 3 minutes in: no prefix holds it
    let clip = tracks[7][1450..1692].to_vec();
    let matcher = baton_fp::service::Matcher::new(&state);
    assert!(matcher.best_matches(&clip, 0.85, 5, |_| true, || false).unwrap().is_empty());
    // the same library with deep prints: found, at its offset (1450 items = 180.2 s)
    for (k, t) in tracks.iter().enumerate() {
        insert(&format!("/lib/{k:02}.flac"), t, true);
    }
    let m = matcher.best_matches(&clip, 0.85, 5, |_| true, || false).unwrap();
    assert_eq!(m.len(), 1, "{m:?}");
    assert!(m[0].path.ends_with("07.flac") && m[0].method == baton_signal::deep::METHOD_DEEP, "{m:?}");
    assert!((m[0].offset_seconds - 1450.0 * baton_signal::fingerprint::ITEM_SECONDS).abs() < 0.5, "{m:?}");
    // and the prefix-only call still does not see it
    assert!(matcher.prefix_matches(&clip, 0.85, 5, |_| true, || false).unwrap().is_empty());
}

/// A worker outlives the thread that started it. Linux's parent-death signal fires when that
/// *thread* ends, so a worker started by a scan or blocking-pool thread was killed once the
/// thread went away, in the middle of whatever file another thread had given it, and that file
/// was reported as one the decoder crashed on.
#[test]
fn a_worker_outlives_the_thread_that_started_it() {
    let dir = tempfile::tempdir().unwrap();
    let song = dir.path().join("song.wav");
    write_wav(&song, &synth(7, 10.0, 44100), 44100);
    // Started through a link of this test's own, so the workers the other tests of this binary
    // start meanwhile (libtest runs them on other threads of this process) are not counted.
    let exe = dir.path().join("fp-bench");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fp-bench"), &exe).unwrap();
    let workers = baton_fp::worker::Workers::new(baton_fp::worker::WorkerConfig {
        exe: exe.clone(),
        workers: 1,
        file_timeout: baton_fp::worker::DEFAULT_FILE_TIMEOUT,
    });
    let open = || baton_fp::worker::open_regular(&song).unwrap();
    // The one worker is started by a thread that then ends.
    std::thread::scope(|s| {
        s.spawn(|| workers.fingerprint(open(), &song, None).unwrap());
    });
    std::thread::sleep(std::time::Duration::from_millis(300));
    let alive: Vec<u32> =
        worker_children(&exe).into_iter().filter(|&(_, state)| state != 'Z').map(|(pid, _)| pid).collect();
    assert_eq!(alive.len(), 1, "the worker is still running: {:?}", worker_children(&exe));
    let fp = workers.fingerprint(open(), &song, None).unwrap();
    assert!(fp.fingerprint.len() > 50);
    assert_eq!(
        worker_children(&exe).iter().filter(|&&(pid, _)| pid == alive[0]).count(),
        1,
        "and the same worker served again"
    );
}

/// This process's worker children started as `exe`: (pid, state letter from /proc/PID/stat).
fn worker_children(exe: &std::path::Path) -> Vec<(u32, char)> {
    let me = std::process::id();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if fields.get(1) == Some(&me.to_string().as_str())
            && cmdline.split(|&b| b == 0).next() == Some(exe.as_os_str().as_encoded_bytes())
            && String::from_utf8_lossy(&cmdline).contains(baton_fp::worker::WORKER_COMMAND)
        {
            out.push((pid, fields[0].chars().next().unwrap_or('?')));
        }
    }
    out
}
