//! `Engine::backup`: a consistent copy of a live database, taken while a writer runs.

use one_core::*;

use crate::Fixture;

#[test]
fn a_backup_taken_beside_a_writer_is_one_consistent_commit() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::file(&dir.path().join("live.redb"));
    let root = f.populated("acme");
    let ctx = Context::system(root.id);
    let mut copies = Vec::new();
    std::thread::scope(|s| {
        let (progress, made) = std::sync::mpsc::channel();
        let engine = &f.engine;
        let writer = s.spawn(move || {
            for i in 0..150i64 {
                if i % 30 == 15 {
                    progress.send(()).unwrap();
                }
                engine
                    .write(&ctx, |tx| {
                        // Two things per transaction: a copy must hold both or neither.
                        tx.create_thing(NewThing::new("pair", format!("{i}a")).property("i", i))?;
                        tx.create_thing(NewThing::new("pair", format!("{i}b")).property("i", i))
                    })
                    .unwrap();
            }
        });
        // One backup after each signal, while the writer goes on.
        for n in 0..5 {
            made.recv().unwrap();
            let path = dir.path().join(format!("copy{n}.redb"));
            let seq = f.engine.backup(&path).unwrap();
            copies.push((path, seq));
        }
        writer.join().unwrap();
    });
    let seqs: std::collections::BTreeSet<u64> = copies.iter().map(|c| c.1).collect();
    assert!(seqs.len() > 1, "every copy holds the same commit: {seqs:?}");
    let final_seq = f.engine.store().read().unwrap().seq().unwrap();
    drop(f);
    for (path, seq) in copies {
        assert!(seq <= final_seq);
        let copy = Fixture::file(&path);
        let report = copy.engine.check().unwrap();
        assert!(report.is_ok(), "{:#?}", report.problems);
        assert_eq!(copy.engine.store().read().unwrap().seq().unwrap(), seq);
        let pairs = copy
            .engine
            .read(&ctx, |v| v.things(&ThingQuery::of_type("pair").limit(1000)))
            .unwrap()
            .items;
        assert_eq!(pairs.len() % 2, 0, "a transaction was copied in half");
        // A prefix of the writes: 0..n, each complete.
        let mut seen: Vec<i64> = pairs
            .iter()
            .filter_map(|t| t.properties.get_path("i")?.as_i64())
            .collect();
        seen.sort();
        let n = seen.len() as i64 / 2;
        assert_eq!(seen, (0..n).flat_map(|i| [i, i]).collect::<Vec<_>>());
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn a_backup_never_overwrites_and_works_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new();
    f.populated("acme");
    let path = dir.path().join("copy.redb");
    f.engine.backup(&path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = f.engine.backup(&path).unwrap_err();
    assert!(err.to_string().contains("will not overwrite"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let missing_dir = dir.path().join("no/such/dir/copy.redb");
    assert!(f.engine.backup(&missing_dir).is_err());
    let copy = Fixture::file(&path);
    assert_eq!(copy.dump(), f.dump());
}
