//! Files that are not a sound database: another file type, an empty file, a truncated
//! file, and a file with damaged bytes. Opening fails with a typed error, or opens and
//! `Engine::check` runs to its end; nothing panics.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use one_core::*;
use one_storage::{Store, StoreOptions};

use crate::Fixture;

/// What opening `path` and checking it gave: `Err` with the error's text, or the number
/// of problems the check found.
fn open_and_check(path: &Path) -> std::result::Result<u64, String> {
    let store = Store::open(path, &StoreOptions::default()).map_err(|e| e.to_string())?;
    let engine = Engine::new(store, std::sync::Arc::new(SystemClock)).map_err(|e| e.to_string())?;
    let report = engine.check().map_err(|e| e.to_string())?;
    Ok(report.problem_count)
}

/// A real database file, closed.
fn sample(dir: &Path) -> Vec<u8> {
    let path = dir.join("sample.redb");
    {
        let f = Fixture::file(&path);
        f.populated("acme");
        f.populated("globex");
    }
    std::fs::read(&path).unwrap()
}

#[test]
fn other_file_types_and_empty_files_are_refused_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a database\n".repeat(100)).unwrap();
    let err = open_and_check(&text).unwrap_err();
    assert!(!err.is_empty());
    let before = std::fs::read(&text).unwrap();
    assert_eq!(
        std::fs::read(&text).unwrap(),
        before,
        "a refused file is left as it was"
    );
    // An empty file is a new database (as SQLite treats one).
    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(open_and_check(&empty), Ok(0));
}

#[test]
fn truncated_files_fail_to_open_or_check_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample(dir.path());
    let path = dir.path().join("cut.redb");
    let mut outcomes = (0, 0);
    for cut in [
        1,
        8,
        100,
        512,
        4096,
        good.len() / 4,
        good.len() / 2,
        good.len() - 4096,
        good.len() - 1,
    ] {
        std::fs::write(&path, &good[..cut.min(good.len())]).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| open_and_check(&path)));
        match r {
            Ok(Err(_)) => outcomes.0 += 1,
            Ok(Ok(_)) => outcomes.1 += 1,
            Err(_) => panic!("a file cut at {cut} of {} bytes panicked", good.len()),
        }
    }
    assert!(outcomes.0 > 0, "no truncation was noticed: {outcomes:?}");
}

#[test]
fn damaged_bytes_fail_to_open_or_are_reported_by_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample(dir.path());
    let path = dir.path().join("damaged.redb");
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let (mut refused, mut reported, mut unnoticed) = (0, 0, 0);
    for round in 0..60 {
        let mut bytes = good.clone();
        // Damage 1 to 8 bytes at random places.
        for _ in 0..=(round % 8) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let at = (seed % bytes.len() as u64) as usize;
            bytes[at] ^= (seed >> 32) as u8 | 1;
        }
        std::fs::write(&path, &bytes).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| open_and_check(&path)));
        match r {
            Ok(Err(_)) => refused += 1,
            Ok(Ok(0)) => unnoticed += 1,
            Ok(Ok(_)) => reported += 1,
            Err(_) => panic!("round {round}: damaged bytes panicked"),
        }
    }
    // Damage in unused pages (free space) goes unnoticed, as it should.
    eprintln!("60 damaged files: {refused} refused, {reported} reported, {unnoticed} unnoticed");
    assert!(refused + reported > 0);
}

#[test]
fn opening_says_which_file_and_what_is_wrong_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let open = |p: &Path| {
        Store::open(p, &StoreOptions::default())
            .map(drop)
            .map_err(Error::from)
    };
    // A folder, and a device that is not a file: a file-system error naming the path.
    for p in [
        dir.path().to_path_buf(),
        std::path::PathBuf::from("/dev/null"),
    ] {
        let e = open(&p).unwrap_err();
        assert_eq!(e.code(), 905, "{}: {e}", p.display());
        assert!(e.to_string().contains(&*p.to_string_lossy()), "{e}");
    }
    // A file of another kind.
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "this is not a database\n".repeat(100)).unwrap();
    let e = open(&text).unwrap_err();
    assert!(matches!(e, Error::NotADatabase { .. }), "{e:?}");
    assert_eq!(e.code(), 907);
    assert!(e.to_string().contains("notes.txt"), "{e}");
    // A database file whose header is damaged.
    let damaged = dir.path().join("damaged.redb");
    drop(Fixture::file(&damaged));
    let mut bytes = std::fs::read(&damaged).unwrap();
    for b in bytes.iter_mut().skip(9).take(64) {
        *b ^= 0x5a;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let e = open(&damaged).unwrap_err();
    assert_eq!(e.code(), 901, "{e:?}");
    assert!(e.to_string().contains("damaged.redb"), "{e}");
}
