//! Both code paths are tested in every build: the public functions use this build's path, and
//! the portable helpers (`rename_by_link`, `create_with_temp_name`) are called directly.
use std::fs;
use std::os::unix::fs::symlink;
use std::time::Instant;

use super::*;

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

type Rename = fn(&Path, &Path) -> io::Result<()>;
const RENAMES: [(&str, Rename); 2] = [("this build's", rename_noreplace), ("link + unlink", rename_by_link)];

#[test]
fn rename_noreplace_never_replaces_on_either_path() {
    for (label, rename) in RENAMES {
        let d = tempfile::tempdir().unwrap();
        let (a, b, c) = (d.path().join("a"), d.path().join("b"), d.path().join("c"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let e = rename(&a, &b).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists, "{label}");
        assert_eq!((fs::read(&a).unwrap(), fs::read(&b).unwrap()), (b"a".to_vec(), b"b".to_vec()), "{label}");
        rename(&a, &c).unwrap();
        assert_eq!(names(d.path()), ["b", "c"], "{label}: the source is gone, the target holds it");
        assert_eq!(rename(&a, &d.path().join("e")).unwrap_err().kind(), io::ErrorKind::NotFound, "{label}");
    }
}

#[test]
fn of_two_racing_renames_of_one_file_exactly_one_wins_on_either_path() {
    for (label, rename) in RENAMES {
        for round in 0..200 {
            let d = tempfile::tempdir().unwrap();
            let src = d.path().join("t.json");
            fs::write(&src, "x").unwrap();
            let (t1, t2) = (d.path().join("claim1"), d.path().join("claim2"));
            let (s1, s2) = (src.clone(), src.clone());
            let h1 = std::thread::spawn(move || rename(&s1, &t1).is_ok());
            let h2 = std::thread::spawn(move || rename(&s2, &t2).is_ok());
            let wins = [h1.join().unwrap(), h2.join().unwrap()].iter().filter(|w| **w).count();
            assert_eq!(wins, 1, "{label}, round {round}");
            assert_eq!(names(d.path()).len(), 1, "{label}, round {round}: one name left, {:?}", names(d.path()));
        }
    }
}

#[test]
fn create_new_never_overwrites_and_leaves_no_temp_on_either_path() {
    type Create = fn(&Path, &[u8], bool) -> io::Result<bool>;
    let creates: [(&str, Create); 2] =
        [("this build's", create_new), ("temp + rename", |p, b, s| create_with_temp_name(p, parent(p), b, s))];
    for (label, create) in creates {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.json");
        assert!(create(&p, b"first", true).unwrap(), "{label}");
        assert!(!create(&p, b"second", true).unwrap(), "{label}");
        assert_eq!(fs::read(&p).unwrap(), b"first", "{label}");
        assert_eq!(names(d.path()), ["r.json"], "{label}: no temp file is left behind");
    }
}

#[test]
fn a_long_final_name_still_gets_a_temp_name() {
    // The temp name does not grow with the final name (a 250-byte name fits NAME_MAX).
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(format!("{}.json", "x".repeat(245)));
    assert!(create_with_temp_name(&p, d.path(), b"{}", false).unwrap());
    assert_eq!(fs::read(&p).unwrap(), b"{}");
}

#[test]
fn a_planted_symlink_at_a_temp_name_is_never_followed() {
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    let tmp = d.path().join(format!("{TEMP_PREFIX}1.planted"));
    symlink(&victim, &tmp).unwrap();
    assert_eq!(open_exclusive(&tmp).unwrap_err(), Errno::EXIST);
    assert_eq!(fs::read(&victim).unwrap(), b"precious", "the link's target was neither opened nor truncated");
    // A dangling link: following it with O_CREAT would create its target.
    let dangling = d.path().join(format!("{TEMP_PREFIX}2.planted"));
    let target = d.path().join("created-through-the-link");
    symlink(&target, &dangling).unwrap();
    assert!(open_exclusive(&dangling).is_err());
    assert!(!target.exists(), "nothing was created through the link");
}

#[test]
fn stale_temps_from_a_crash_are_reclaimed_and_nothing_else_is_touched() {
    let d = tempfile::tempdir().unwrap();
    let old = SystemTime::now() - Duration::from_secs(3600);
    let dead_pid = {
        let mut c = std::process::Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid
    };
    let live_pid = std::os::unix::process::parent_id();
    let touch = |name: &str, when: SystemTime| {
        let f = File::create(d.path().join(name)).unwrap();
        f.set_modified(when).unwrap();
    };
    touch(&format!("{TEMP_PREFIX}{dead_pid}.aa"), old); // a crashed writer's: reclaimed
    touch(&format!("{TEMP_PREFIX}{}.bb", std::process::id()), old); // an earlier process with our pid: reclaimed
    touch(&format!("{TEMP_PREFIX}{dead_pid}.cc"), SystemTime::now()); // too young: kept
    touch(&format!("{TEMP_PREFIX}{live_pid}.dd"), old); // its writer is alive: kept
    touch("20260101T000000Z__TASK__x__a.json", old); // not a temp: kept
    symlink("/etc/hostname", d.path().join(format!("{TEMP_PREFIX}{dead_pid}.ee"))).unwrap(); // not ours: kept
    // A stale temp never blocks a new write.
    assert!(create_with_temp_name(&d.path().join("new.json"), d.path(), b"{}", true).unwrap());
    assert_eq!(sweep_stale_temps(d.path(), Duration::from_secs(600)).unwrap(), 2);
    let left = names(d.path());
    assert_eq!(left.len(), 5, "{left:?}");
    assert!(!left.iter().any(|n| n.ends_with(".aa") || n.ends_with(".bb")), "{left:?}");
}

#[test]
fn read_capped_reads_a_file_and_refuses_the_rest_quickly() {
    let d = tempfile::tempdir().unwrap();
    let file = d.path().join("t.json");
    fs::write(&file, b"{\"a\":1}").unwrap();
    assert_eq!(read_capped(&file, 100).unwrap(), b"{\"a\":1}");
    assert!(matches!(read_capped(&file, 3), Err(ReadError::TooLarge { size: 7, max: 3, .. })));

    let zero = d.path().join("zero.json");
    symlink("/dev/zero", &zero).unwrap();
    let fifo = d.path().join("fifo.json");
    assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let cases = [(zero, "a symbolic link"), (fifo, "a FIFO"), (d.path().to_path_buf(), "a folder")];
    for (path, want) in cases {
        let t = Instant::now();
        match read_capped(&path, 1 << 20) {
            Err(ReadError::NotAFile { what, .. }) => assert_eq!(what, want, "{}", path.display()),
            other => panic!("{}: {other:?}", path.display()),
        }
        assert!(t.elapsed() < Duration::from_secs(2), "{} took {:?}", path.display(), t.elapsed());
    }
    let e = read_capped(&d.path().join("missing.json"), 10).unwrap_err();
    assert!(matches!(&e, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound), "{e}");
    assert!(e.to_string().contains("missing.json"), "the error names the file: {e}");
}

#[test]
fn move_into_picks_a_free_name() {
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("dest");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("a.json"), "old").unwrap();
    fs::write(d.path().join("a.json"), "new").unwrap();
    let to = move_into(&d.path().join("a.json"), &dest, OsStr::new("a.json")).unwrap();
    assert_eq!(to, dest.join("a.2.json"));
    assert_eq!(fs::read(dest.join("a.json")).unwrap(), b"old");
    assert_eq!(numbered(OsStr::new("noext"), 3), OsString::from("noext.3"));
}

#[test]
fn sync_calls_succeed_on_files_and_folders() {
    let d = tempfile::tempdir().unwrap();
    let f = File::create(d.path().join("f")).unwrap();
    sync_file(&f).unwrap();
    sync_dir(d.path()).unwrap();
    assert!(sync_dir(&d.path().join("missing")).is_err());
}

#[test]
fn a_group_is_written_unnamed_synced_then_named_without_replacing() {
    let d = tempfile::tempdir().unwrap();
    let group: Vec<Unwritten> =
        (0..12).map(|i| Unwritten::write(d.path(), format!("r{i}").as_bytes()).unwrap()).collect();
    // Nothing is visible under a name a reader would look at before publication.
    assert!(
        std::fs::read_dir(d.path())
            .unwrap()
            .flatten()
            .all(|e| e.file_name().to_string_lossy().starts_with(TEMP_PREFIX))
    );
    sync_group(&group.iter().map(Unwritten::file).collect::<Vec<_>>()).unwrap();
    std::fs::write(d.path().join("r0.json"), "someone else's").unwrap();
    let named: Vec<bool> =
        group.into_iter().enumerate().map(|(i, u)| u.publish(&d.path().join(format!("r{i}.json"))).unwrap()).collect();
    assert!(!named[0] && named[1..].iter().all(|n| *n), "{named:?}");
    assert_eq!(std::fs::read(d.path().join("r0.json")).unwrap(), b"someone else's");
    assert_eq!(std::fs::read(d.path().join("r11.json")).unwrap(), b"r11");
    // No temp left behind, published or refused.
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 12);
    // A small group: synced file by file.
    let small = Unwritten::write(d.path(), b"s").unwrap();
    sync_group(&[small.file()]).unwrap();
    assert!(small.publish(&d.path().join("s.json")).unwrap());
    // Dropped unpublished: nothing remains.
    drop(Unwritten::write(d.path(), b"gone").unwrap());
    assert_eq!(std::fs::read_dir(d.path()).unwrap().count(), 13);
}

#[test]
fn fit_shortens_only_what_does_not_fit() {
    let short = OsStr::new("a.json");
    assert_eq!(fit(short, 11), short);
    let long = OsString::from(format!("{}.json", "é".repeat(123)));
    let fitted = fit(&long, 11);
    assert!(fitted.len() + 11 <= NAME_MAX && fitted.to_str().is_some_and(|s| s.ends_with(".json")), "{fitted:?}");
    assert_ne!(fit(&OsString::from(format!("{}b.json", "x".repeat(250))), 11), fitted);
}

#[test]
fn ensure_dir_makes_missing_folders_and_takes_eexist_as_there() {
    let d = tempfile::tempdir().unwrap();
    let deep = d.path().join("a").join("b").join("c");
    ensure_dir(&deep).unwrap();
    assert!(deep.is_dir());
    ensure_dir(&deep).unwrap(); // there already: no error, no stat needed
    // A plain file under the name: "it exists"; what is done inside it next says ENOTDIR.
    let file = d.path().join("plain");
    fs::write(&file, b"x").unwrap();
    ensure_dir(&file).unwrap();
    assert_eq!(
        fs::write(file.join("x"), b"y").unwrap_err().raw_os_error(),
        Some(rustix::io::Errno::NOTDIR.raw_os_error())
    );
}

/// A handoff written over a spare reads back as exactly its bytes (the spaces cut before the
/// name), never replaces, and the spare is gone; one too long for a spare, and a folder
/// without spares, give a new file as before.
#[test]
fn a_handoff_over_a_spare_is_its_bytes_alone() {
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path().join(TEMP_DIR);
    let made = spares::top_up(&tmp, 2, 3).unwrap();
    if portable() {
        assert_eq!((made, spares::count(&tmp)), (0, 0), "no spares where they cannot help");
        return;
    }
    assert_eq!((made, spares::count(&tmp)), (3, 3));
    assert_eq!(spares::top_up(&tmp, 2, 3).unwrap(), 0, "a full supply makes none");
    let body = b"{\"kind\": \"task\"}\n";
    let u = Unwritten::write_handoff(d.path(), &tmp, body).unwrap();
    assert_eq!(spares::count(&tmp), 2);
    sync_file(u.file()).unwrap();
    assert!(u.publish(&d.path().join("t.json")).unwrap());
    assert_eq!(fs::read(d.path().join("t.json")).unwrap(), body);
    // Never replacing: refused, and its temp removed.
    let u = Unwritten::write_handoff(d.path(), &tmp, b"{}").unwrap();
    assert!(!u.publish(&d.path().join("t.json")).unwrap());
    assert_eq!(fs::read(d.path().join("t.json")).unwrap(), body);
    assert!(names(&tmp).iter().all(|n| n.starts_with(spares::SPARE_PREFIX)), "{:?}", names(&tmp));
    // Too long for a spare: a new file; the last spare stays.
    let long = vec![b' '; spares::SPARE_BYTES + 1];
    let u = Unwritten::write_handoff(d.path(), &tmp, &long).unwrap();
    assert_eq!(spares::count(&tmp), 1);
    assert!(u.publish(&d.path().join("long.json")).unwrap());
    assert_eq!(fs::read(d.path().join("long.json")).unwrap().len(), spares::SPARE_BYTES + 1);
    // A handoff dropped unpublished leaves nothing; with no spare left, a new file.
    drop(Unwritten::write_handoff(d.path(), &tmp, b"{}").unwrap());
    let u = Unwritten::write_handoff(d.path(), &tmp, b"{}").unwrap();
    assert!(u.publish(&d.path().join("new.json")).unwrap());
    assert_eq!(fs::read(d.path().join("new.json")).unwrap(), b"{}");
    assert_eq!(names(&tmp), Vec::<String>::new());
}

/// What only looks like a spare is never written: a hard link to another file, a symlink, a
/// file of another size. Each is put back under its name, untouched.
#[test]
fn a_planted_spare_is_put_back_unwritten() {
    if portable() {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let tmp = d.path().join(TEMP_DIR);
    fs::create_dir(&tmp).unwrap();
    let precious = d.path().join("precious");
    fs::write(&precious, vec![b'p'; spares::SPARE_BYTES]).unwrap();
    fs::hard_link(&precious, tmp.join(format!("{}link", spares::SPARE_PREFIX))).unwrap();
    symlink(&precious, tmp.join(format!("{}sym", spares::SPARE_PREFIX))).unwrap();
    fs::write(tmp.join(format!("{}small", spares::SPARE_PREFIX)), b"   ").unwrap();
    let u = Unwritten::write_handoff(d.path(), &tmp, b"{}").unwrap();
    assert!(u.publish(&d.path().join("h.json")).unwrap());
    assert_eq!(fs::read(d.path().join("h.json")).unwrap(), b"{}");
    assert_eq!(fs::read(&precious).unwrap(), vec![b'p'; spares::SPARE_BYTES]);
    let expect: Vec<String> = ["link", "small", "sym"].iter().map(|n| format!("{}{n}", spares::SPARE_PREFIX)).collect();
    assert_eq!(names(&tmp), expect);
    assert_eq!(fs::read(tmp.join(format!("{}small", spares::SPARE_PREFIX))).unwrap(), b"   ");
}
