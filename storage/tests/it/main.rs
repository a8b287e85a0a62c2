//! Integration tests of the key-value layer: one suite run against memory and a file.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use one_storage::{Direction, Durability, KeyRange, KvRead, StorageError, Store, StoreOptions};
use proptest::prelude::*;

mod postgres;

/// The suite's stores: memory, a file, and a scratch database on the PostgreSQL test
/// server ([`one_storage::test_server`]).
fn backends() -> Vec<(Store, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let file = Store::open(dir.path().join("t.redb"), &StoreOptions::default()).unwrap();
    vec![
        (Store::in_memory(&StoreOptions::default()).unwrap(), None),
        (file, Some(dir)),
        (postgres::scratch(&StoreOptions::default()), None),
    ]
}

fn collect(r: &impl KvRead, range: &KeyRange, dir: Direction) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    r.scan(range, dir, |k, v| {
        out.push((k.to_vec(), v.to_vec()));
        Ok::<_, StorageError>(ControlFlow::Continue(()))
    })
    .unwrap();
    out
}

#[test]
fn an_error_in_the_closure_keeps_nothing() {
    for (store, _dir) in backends() {
        store.write(|tx| tx.put(b"kept", b"1")).unwrap();
        let err = store
            .write(|tx| {
                tx.put(b"a", b"1")?;
                tx.delete(b"kept")?;
                Err::<(), _>(StorageError::Corrupt("stop".into()))
            })
            .unwrap_err();
        assert!(matches!(err, StorageError::Corrupt(_)));
        let r = store.read().unwrap();
        assert_eq!(r.get(b"a").unwrap(), None);
        assert_eq!(r.get(b"kept").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            r.seq().unwrap(),
            1,
            "an aborted transaction takes no sequence number"
        );
    }
}

#[test]
fn readers_keep_their_snapshot() {
    for (store, _dir) in backends() {
        store.write(|tx| tx.put(b"k", b"old")).unwrap();
        let before = store.read().unwrap();
        store.write(|tx| tx.put(b"k", b"new")).unwrap();
        assert_eq!(before.get(b"k").unwrap(), Some(b"old".to_vec()));
        assert_eq!(
            store.read().unwrap().get(b"k").unwrap(),
            Some(b"new".to_vec())
        );
        assert_eq!(
            before.seq().unwrap() + 1,
            store.read().unwrap().seq().unwrap()
        );
    }
}

#[test]
fn a_write_transaction_reads_its_own_writes() {
    for (store, _dir) in backends() {
        store
            .write(|tx| {
                assert_eq!(tx.seq_of(b"x")?, 1);
                tx.put(b"x", b"1")?;
                assert_eq!(tx.get(b"x")?, Some(b"1".to_vec()));
                assert_eq!(tx.replace(b"x", b"2")?, Some(b"1".to_vec()));
                assert_eq!(tx.remove(b"x")?, Some(b"2".to_vec()));
                assert_eq!(tx.remove(b"x")?, None);
                assert!(!tx.contains(b"x")?);
                Ok::<_, StorageError>(())
            })
            .unwrap();
    }
}

#[test]
fn deleting_a_prefix_takes_stored_and_own_keys_and_nothing_else() {
    for (store, _dir) in backends() {
        store
            .write(|tx| {
                tx.put(b"a/1", b"1")?;
                tx.put(b"a", b"kept")?;
                tx.put(b"b/1", b"kept")?;
                Ok::<_, StorageError>(())
            })
            .unwrap();
        store
            .write(|tx| {
                tx.put(b"a/2", b"2")?;
                assert_eq!(tx.delete_prefix(b"a/")?, 2);
                assert_eq!(tx.delete_prefix(b"a/")?, 0);
                Ok::<_, StorageError>(())
            })
            .unwrap();
        let read = store.read().unwrap();
        let left: Vec<Vec<u8>> = collect(&read, &KeyRange::all(), Direction::Forward)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(left, [b"a".to_vec(), b"b/1".to_vec()]);
    }
}

#[test]
fn a_panic_aborts_and_the_store_goes_on() {
    for (store, _dir) in backends() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store
                .write(|tx| {
                    tx.put(b"half", b"written")?;
                    panic!("boom");
                    #[allow(unreachable_code, reason = "the panic is the point")]
                    Ok::<_, StorageError>(())
                })
                .unwrap();
        }));
        assert!(result.is_err());
        assert!(!store.is_poisoned());
        assert_eq!(store.read().unwrap().get(b"half").unwrap(), None);
        store.write(|tx| tx.put(b"x", b"y")).unwrap();
        assert_eq!(
            store.read().unwrap().get(b"x").unwrap().as_deref(),
            Some(&b"y"[..])
        );
    }
}

#[test]
fn reopening_returns_what_was_committed() {
    for durability in [
        Durability::Immediate,
        Durability::ImmediateOnePhase,
        Durability::Deferred,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.redb");
        let options = StoreOptions {
            durability,
            ..StoreOptions::default()
        };
        let store = Store::open(&path, &options).unwrap();
        for i in 0u8..10 {
            store.write(|tx| tx.put([i], [i, i])).unwrap();
        }
        assert!(matches!(
            Store::open(&path, &options),
            Err(StorageError::AlreadyOpen)
        ));
        store.close().unwrap();
        let store = Store::open(&path, &options).unwrap();
        let r = store.read().unwrap();
        assert_eq!(r.seq().unwrap(), 10);
        let all = collect(&r, &KeyRange::prefix(&[]), Direction::Forward);
        assert_eq!(
            all,
            (0u8..10).map(|i| (vec![i], vec![i, i])).collect::<Vec<_>>()
        );
    }
}

#[test]
fn a_panic_in_a_scan_visitor_is_the_callers_own() {
    let (store, _dir) = backends().remove(0);
    store
        .write(|tx| tx.put(b"k".to_vec(), b"v".to_vec()).map(drop))
        .unwrap();
    let r = store.read().unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        r.scan(
            &KeyRange::prefix(b""),
            Direction::Forward,
            |_, _| -> Result<_, StorageError> { panic!("the visitor's own panic") },
        )
    }));
    let payload = caught.expect_err("the panic goes on unwinding");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"the visitor's own panic")
    );
}

#[test]
fn a_newer_storage_format_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.redb");
    Store::open(&path, &StoreOptions::default())
        .unwrap()
        .close()
        .unwrap();
    {
        // What a later version of this layer would write.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let meta: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
            txn.open_table(meta)
                .unwrap()
                .insert("storage_format", 2)
                .unwrap();
        }
        txn.commit().unwrap();
    }
    match Store::open(&path, &StoreOptions::default()) {
        Err(StorageError::Corrupt(why)) => {
            assert!(
                why.contains("storage format 2") && why.contains("format 1"),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn scans_stop_when_told() {
    for (store, _dir) in backends() {
        store
            .write(|tx| {
                for i in 0u8..50 {
                    tx.put([1, i], b"")?;
                }
                Ok::<_, StorageError>(())
            })
            .unwrap();
        let r = store.read().unwrap();
        let mut seen = 0;
        r.scan(&KeyRange::prefix(&[1]), Direction::Reverse, |k, _| {
            seen += 1;
            assert_eq!(k[1], 50 - seen);
            Ok::<_, StorageError>(if seen == 5 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
        .unwrap();
        assert_eq!(seen, 5);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, u8),
    Delete(Vec<u8>),
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xFF), 2..6u8], 0..4)
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
        Just(Bound::Unbounded)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Range and prefix scans, both ways, agree with a `BTreeMap` after random writes
    /// spread over several transactions, some of which abort.
    #[test]
    fn scans_match_a_btreemap(
        batches in proptest::collection::vec((proptest::collection::vec(
            prop_oneof![(key(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)), key().prop_map(Op::Delete)], 0..12), any::<bool>()), 1..6),
        start in bound(), end in bound(), prefix in key(), write_buffer in prop_oneof![Just(0usize), Just(100), Just(1 << 20)],
    ) {
        let store = Store::in_memory(&StoreOptions { write_buffer, ..StoreOptions::default() }).unwrap();
        let mut model = BTreeMap::<Vec<u8>, Vec<u8>>::new();
        for (ops, commit) in batches {
            let mut staged = model.clone();
            let _ = store.write(|tx| {
                for op in &ops {
                    match op {
                        Op::Put(k, v) => { tx.put(k.as_slice(), [*v])?; staged.insert(k.clone(), vec![*v]); }
                        Op::Delete(k) => { tx.delete(k)?; staged.remove(k); }
                    }
                }
                // Inside the transaction, scans merge buffered writes with stored ones.
                let range = KeyRange { start: start.clone(), end: end.clone() };
                let inside = collect(&*tx, &range, Direction::Forward);
                let mut inside_rev = collect(&*tx, &range, Direction::Reverse);
                inside_rev.reverse();
                assert_eq!(inside, inside_rev);
                assert_eq!(inside, model_range(&staged, &start, &end));
                for (k, v) in &staged {
                    assert_eq!(tx.get(k).unwrap().as_ref(), Some(v));
                }
                if commit { Ok(()) } else { Err(StorageError::Corrupt("abort".into())) }
            });
            if commit { model = staged; }
        }
        let r = store.read().unwrap();
        let range = KeyRange { start: start.clone(), end: end.clone() };
        let expected = model_range(&model, &start, &end);
        prop_assert_eq!(collect(&r, &range, Direction::Forward), expected.clone());
        let mut reversed = expected;
        reversed.reverse();
        prop_assert_eq!(collect(&r, &range, Direction::Reverse), reversed);
        let by_prefix: Vec<_> = model.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(k, v)| (k.clone(), v.clone())).collect();
        prop_assert_eq!(collect(&r, &KeyRange::prefix(&prefix), Direction::Forward), by_prefix);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Transactions large enough to be applied in runs (new keys that share a gap between
    /// stored keys spliced in together, a key alone in its gap or already stored written
    /// on its own) leave the store equal to a `BTreeMap` given the same writes.
    #[test]
    fn large_transactions_match_a_btreemap(
        rounds in proptest::collection::vec(proptest::collection::vec(
            prop_oneof![4 => (key(), any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)), 1 => key().prop_map(Op::Delete)], 60..300), 1..4),
    ) {
        let store = Store::in_memory(&StoreOptions::default()).unwrap();
        let mut model = BTreeMap::<Vec<u8>, Vec<u8>>::new();
        for ops in rounds {
            store.write(|tx| {
                for op in &ops {
                    match op {
                        Op::Put(k, v) => tx.put(k.as_slice(), [*v])?,
                        Op::Delete(k) => tx.delete(k)?,
                    }
                }
                Ok::<_, StorageError>(())
            }).unwrap();
            for op in ops {
                match op {
                    Op::Put(k, v) => { model.insert(k, vec![v]); }
                    Op::Delete(k) => { model.remove(&k); }
                }
            }
            let r = store.read().unwrap();
            let all: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            prop_assert_eq!(collect(&r, &KeyRange::all(), Direction::Forward), all);
        }
    }
}

/// The entries of `model` in a range, or none if the range is empty.
fn model_range(
    model: &BTreeMap<Vec<u8>, Vec<u8>>,
    start: &Bound<Vec<u8>>,
    end: &Bound<Vec<u8>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let valid = match (start, end) {
        (Bound::Included(s), Bound::Included(e)) => s <= e,
        (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) => s < e,
        _ => true,
    };
    if !valid {
        return Vec::new();
    }
    model
        .range::<Vec<u8>, _>((start.clone(), end.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn a_nested_write_is_refused_instead_of_deadlocking() {
    for (store, _dir) in backends() {
        let inner = store.write(|tx| {
            tx.put(b"outer", b"1")?;
            Ok::<_, StorageError>(store.write(|tx| tx.put(b"inner", b"1")))
        });
        assert!(matches!(inner, Ok(Err(StorageError::NestedWrite))));
        let r = store.read().unwrap();
        assert!(r.contains(b"outer").unwrap() && !r.contains(b"inner").unwrap());
        store
            .write(|tx| tx.put(b"after", b"1"))
            .expect("the guard is released");
    }
}

/// Copies a live store's files to `to`: what the disk would hold if the process died now
/// (every write the store made has reached the operating system).
fn crash_image(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for name in ["t.redb", "t.redb-log"] {
        std::fs::copy(from.join(name), to.join(name)).unwrap();
    }
}

/// Options with no checkpoint: every commit stays in the log.
fn never_checkpointing() -> StoreOptions {
    StoreOptions {
        checkpoint_after: u64::MAX,
        ..StoreOptions::default()
    }
}

/// The crash image of a database in `dir` after commits 1 to `n` made with `options`, in
/// `dir/image`.
fn crashed_after(dir: &std::path::Path, options: &StoreOptions, n: u64) -> std::path::PathBuf {
    let store = Store::open(dir.join("t.redb"), options).unwrap();
    commits(&store, 1..=n);
    let image = dir.join("image");
    crash_image(dir, &image);
    drop(store);
    image
}

fn numbered(n: u64) -> Vec<u8> {
    format!("k{n:05}").into_bytes()
}

/// Writes commits `range`: each puts its own key and deletes the key of the commit 3
/// before it.
fn commits(store: &Store, range: std::ops::RangeInclusive<u64>) {
    for n in range {
        store
            .write(|tx| {
                tx.put(numbered(n), n.to_le_bytes())?;
                if n > 3 {
                    tx.delete(&numbered(n - 3))?;
                }
                Ok::<_, StorageError>(())
            })
            .unwrap();
    }
}

/// The keys a store holds after commits 1 to `n`.
fn expected_after(n: u64) -> Vec<Vec<u8>> {
    (n.saturating_sub(2).max(1)..=n).map(numbered).collect()
}

fn keys(store: &Store) -> Vec<Vec<u8>> {
    collect(
        &*store.read().unwrap(),
        &KeyRange::prefix(b"k"),
        Direction::Forward,
    )
    .into_iter()
    .map(|(k, _)| k)
    .collect()
}

#[test]
fn after_a_crash_the_log_gives_back_every_acknowledged_commit() {
    for checkpoint_after in [u64::MAX, 1024] {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            checkpoint_after,
            ..StoreOptions::default()
        };
        let image = crashed_after(dir.path(), &options, 50);
        let reopened = Store::open(image.join("t.redb"), &options).unwrap();
        assert_eq!(reopened.read().unwrap().seq().unwrap(), 50);
        assert_eq!(keys(&reopened), expected_after(50), "{checkpoint_after}");
        // It goes on from there, and again after a clean close.
        commits(&reopened, 51..=60);
        reopened.close().unwrap();
        let again = Store::open(image.join("t.redb"), &options).unwrap();
        assert_eq!(keys(&again), expected_after(60));
    }
}

#[test]
fn a_torn_or_damaged_log_record_ends_the_replay_there() {
    let dir = tempfile::tempdir().unwrap();
    let options = never_checkpointing();
    let image = crashed_after(dir.path(), &options, 20);
    let log = image.join("t.redb-log");
    let mut bytes = std::fs::read(&log).unwrap();
    // The file is grown with zeros ahead of its records: keep the records (each a
    // 32-byte header, whose bytes 4..8 are the payload's length, and the payload).
    let mut records_end = 0;
    while bytes.get(records_end..records_end + 4) == Some(b"ONEL".as_slice()) {
        let length =
            u32::from_le_bytes(bytes[records_end + 4..records_end + 8].try_into().unwrap());
        records_end += 32 + length as usize;
    }
    bytes.truncate(records_end);
    let record = bytes.len() / 20;
    let cases: Vec<(&str, Vec<u8>, u64)> = vec![
        (
            "the last record cut short",
            bytes[..bytes.len() - 3].to_vec(),
            19,
        ),
        (
            "a byte of record 11 changed",
            {
                let mut b = bytes.clone();
                b[10 * record + 40] ^= 0x55;
                b
            },
            10,
        ),
        (
            "garbage after the last record",
            {
                let mut b = bytes.clone();
                b.extend_from_slice(b"ONEL\xff\xff\xff\xff not a record");
                b
            },
            20,
        ),
    ];
    for (name, log_bytes, survivors) in cases {
        let case = dir.path().join(format!("case{survivors}"));
        std::fs::create_dir_all(&case).unwrap();
        std::fs::copy(image.join("t.redb"), case.join("t.redb")).unwrap();
        std::fs::write(case.join("t.redb-log"), &log_bytes).unwrap();
        let store = Store::open(case.join("t.redb"), &options).unwrap();
        assert_eq!(store.read().unwrap().seq().unwrap(), survivors, "{name}");
        assert_eq!(keys(&store), expected_after(survivors), "{name}");
    }
}

#[test]
fn a_log_not_yet_applied_keeps_a_read_only_open_out_until_a_writer_applies_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = never_checkpointing();
    let image = crashed_after(dir.path(), &options, 5);
    // Refused: by redb (the file needs the repair a crash leaves to do), or by the log.
    assert!(Store::open_read_only(image.join("t.redb"), &options).is_err());
    Store::open(image.join("t.redb"), &options)
        .unwrap()
        .close()
        .unwrap();
    let reader = Store::open_read_only(image.join("t.redb"), &options).unwrap();
    assert_eq!(keys(&reader), expected_after(5));
}

#[test]
fn concurrent_durable_writers_share_syncs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        checkpoint_after: 4096,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path().join("t.redb"), &options).unwrap();
    let heard: std::sync::Arc<std::sync::Mutex<Vec<u64>>> = Default::default();
    let sink = heard.clone();
    store.set_commit_listener(std::sync::Arc::new(move |seq, _| {
        sink.lock().unwrap().push(seq);
    }));
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let store = &store;
            s.spawn(move || {
                for i in 0..40u64 {
                    let key = format!("t{t}-{i:03}");
                    store.write(|tx| tx.put(key.as_bytes(), b"v")).unwrap();
                    // What a writer committed, it reads back at once.
                    assert!(store.read().unwrap().contains(key.as_bytes()).unwrap());
                }
            });
        }
    });
    let image = dir.path().join("image");
    crash_image(dir.path(), &image);
    // Every commit was heard once, in commit order.
    assert_eq!(*heard.lock().unwrap(), (1..=320).collect::<Vec<u64>>());
    drop(store);
    let reopened = Store::open(image.join("t.redb"), &options).unwrap();
    let all = collect(
        &*reopened.read().unwrap(),
        &KeyRange::prefix(b"t"),
        Direction::Forward,
    );
    assert_eq!(all.len(), 320);
}

/// An application's own error, to abort with.
#[derive(Debug)]
enum Refused {
    Storage(#[allow(dead_code, reason = "read by Debug")] StorageError),
    ByTheApplication,
}

impl From<StorageError> for Refused {
    fn from(e: StorageError) -> Self {
        Refused::Storage(e)
    }
}

#[test]
fn concurrent_writers_that_fail_or_panic_midway_lose_no_one_elses_commit() {
    let dir = tempfile::tempdir().unwrap();
    // A small buffer: a transaction of 40 entries writes into the tree before it ends.
    let options = StoreOptions {
        write_buffer: 1024,
        checkpoint_after: 32 << 10,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path().join("t.redb"), &options).unwrap();
    type Heard = std::sync::Mutex<Vec<(u64, Vec<u8>)>>;
    let heard: std::sync::Arc<Heard> = Default::default();
    let sink = heard.clone();
    store.set_commit_listener(std::sync::Arc::new(move |seq, notes| {
        let mut sink = sink.lock().unwrap();
        sink.extend(notes.into_iter().map(|(k, _)| (seq, k)));
    }));
    let kept = std::sync::Mutex::new(Vec::<Vec<u8>>::new());
    let lost = std::sync::Mutex::new(Vec::<Vec<u8>>::new());
    let wide = |tx: &mut one_storage::WriteTx<'_>, key: &[u8]| -> Result<(), StorageError> {
        for j in 0..40u8 {
            tx.put([key, &[b'/', j]].concat(), vec![j; 64])?;
        }
        Ok(())
    };
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let (store, kept, lost) = (&store, &kept, &lost);
            s.spawn(move || {
                for i in 0..60u64 {
                    let key = format!("t{t}-{i:03}").into_bytes();
                    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        store.write(|tx| {
                            tx.note(key.clone(), vec![]);
                            tx.put(key.clone(), b"v".to_vec())?;
                            match (t * 7 + i * 13) % 10 {
                                0 => Err(Refused::ByTheApplication),
                                1 => {
                                    wide(tx, &key)?;
                                    Err(Refused::ByTheApplication)
                                }
                                2 => panic!("a writer's bug"),
                                3 => Ok(wide(tx, &key)?),
                                _ => Ok(()),
                            }
                        })
                    }));
                    let visible = store.read().unwrap().contains(&key).unwrap();
                    if matches!(outcome, Ok(Ok(()))) {
                        assert!(visible, "a commit is visible once acknowledged");
                        kept.lock().unwrap().push(key);
                    } else {
                        assert!(!visible, "a failed transaction leaves nothing");
                        lost.lock().unwrap().push(key);
                    }
                }
            });
        }
    });
    let (kept, lost) = (kept.into_inner().unwrap(), lost.into_inner().unwrap());
    assert!(!lost.is_empty() && kept.len() > lost.len());
    // Every commit heard once, in commit order, and only commits.
    let heard = heard.lock().unwrap().clone();
    let seqs: Vec<u64> = heard.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, (1..=kept.len() as u64).collect::<Vec<_>>());
    let mut heard_keys: Vec<Vec<u8>> = heard.into_iter().map(|(_, k)| k).collect();
    heard_keys.sort();
    let mut expected = kept.clone();
    expected.sort();
    assert_eq!(heard_keys, expected);
    let image = dir.path().join("image");
    crash_image(dir.path(), &image);
    drop(store);
    let reopened = Store::open(image.join("t.redb"), &options).unwrap();
    let read = reopened.read().unwrap();
    assert_eq!(read.seq().unwrap(), kept.len() as u64);
    for key in &kept {
        assert!(read.contains(key).unwrap());
    }
    for key in &lost {
        assert!(!read.contains(key).unwrap());
        assert!(
            read.get(&[key.as_slice(), b"/\0"].concat())
                .unwrap()
                .is_none()
        );
    }
}

#[test]
fn a_transaction_too_large_for_the_log_is_committed_durably_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = never_checkpointing();
    let store = Store::open(dir.path().join("t.redb"), &options).unwrap();
    commits(&store, 1..=3);
    // 20 MiB in one transaction: more than a log record holds.
    let big = vec![7u8; 1 << 20];
    store
        .write(|tx| {
            for i in 0..20u8 {
                tx.put(vec![b'b', i], big.clone())?;
            }
            Ok::<_, StorageError>(())
        })
        .unwrap();
    // Logged commits go on after it.
    store
        .write(|tx| tx.put(b"after".to_vec(), b"1".to_vec()))
        .unwrap();
    let image = dir.path().join("image");
    crash_image(dir.path(), &image);
    drop(store);
    let reopened = Store::open(image.join("t.redb"), &options).unwrap();
    let read = reopened.read().unwrap();
    assert_eq!(read.seq().unwrap(), 5);
    assert_eq!(
        read.get(&[b'b', 19]).unwrap().map(|v| v.len()),
        Some(1 << 20)
    );
    assert_eq!(read.get(b"after").unwrap(), Some(b"1".to_vec()));
    assert_eq!(keys(&reopened), expected_after(3));
}

#[test]
fn compaction_gives_space_back_and_keeps_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let size = || std::fs::metadata(&path).unwrap().len();
    let store = Store::open(&path, &StoreOptions::default()).unwrap();
    let value = vec![7u8; 1000];
    for batch in 0..20u32 {
        store
            .write(|tx| {
                for i in 0..500u32 {
                    tx.put((batch * 500 + i).to_be_bytes(), value.clone())?;
                }
                Ok::<_, StorageError>(())
            })
            .unwrap();
    }
    // Keep one entry in a hundred.
    store
        .write(|tx| {
            for i in 0..10_000u32 {
                if i % 100 != 0 {
                    tx.delete(&i.to_be_bytes())?;
                }
            }
            Ok::<_, StorageError>(())
        })
        .unwrap();
    let seq = store.read().unwrap().seq().unwrap();
    store.close().unwrap();
    let before = size();
    let options = StoreOptions {
        compact: true,
        ..StoreOptions::default()
    };
    let mut store = Store::open(&path, &options).unwrap();
    let after = size();
    assert!(after * 2 < before, "{before} bytes before, {after} after");
    let kept = collect(
        &*store.read().unwrap(),
        &KeyRange::prefix(b""),
        Direction::Forward,
    );
    let expected: Vec<_> = (0..10_000u32)
        .filter(|i| i % 100 == 0)
        .map(|i| (i.to_be_bytes().to_vec(), value.clone()))
        .collect();
    assert_eq!(kept, expected);
    assert_eq!(store.read().unwrap().seq().unwrap(), seq);
    // A compacted store goes on committing, and compacting it again does not grow it.
    store.write(|tx| tx.put(b"after", b"1")).unwrap();
    assert!(!store.compact().unwrap() || size() <= after);
    store.close().unwrap();
    let reopened = Store::open(&path, &StoreOptions::default()).unwrap();
    assert_eq!(
        reopened.read().unwrap().get(b"after").unwrap(),
        Some(b"1".to_vec())
    );
}

#[test]
fn a_read_only_open_that_asks_to_compact_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let store = Store::open(&path, &StoreOptions::default()).unwrap();
    store.write(|tx| tx.put(b"k", b"v")).unwrap();
    store.close().unwrap();
    let options = StoreOptions {
        compact: true,
        ..StoreOptions::default()
    };
    let refused = Store::open_read_only(&path, &options);
    assert!(
        matches!(refused, Err(StorageError::ReadOnly)),
        "{refused:?}"
    );
    let reader = Store::open_read_only(&path, &StoreOptions::default()).unwrap();
    assert_eq!(
        reader.read().unwrap().get(b"k").unwrap(),
        Some(b"v".to_vec())
    );
}

#[test]
fn a_snapshot_held_elsewhere_refuses_compaction_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path().join("t.redb"), &StoreOptions::default()).unwrap();
    store.write(|tx| tx.put(b"k", b"v")).unwrap();
    let held = store.read().unwrap();
    let refused = store.compact();
    assert!(
        matches!(refused, Err(StorageError::Backend(_))),
        "{refused:?}"
    );
    assert_eq!(held.get(b"k").unwrap(), Some(b"v".to_vec()));
    drop(held);
    store.compact().unwrap();
    assert_eq!(
        store.read().unwrap().get(b"k").unwrap(),
        Some(b"v".to_vec())
    );
}

#[test]
fn a_power_cut_anywhere_in_the_log_keeps_exactly_the_whole_records_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = never_checkpointing();
    let image = crashed_after(dir.path(), &options, 12);
    let bytes = std::fs::read(image.join("t.redb-log")).unwrap();
    // Where each record ends (a 32-byte header whose bytes 4..8 are the payload's length).
    let mut ends = Vec::new();
    let mut at = 0;
    while bytes.get(at..at + 4) == Some(b"ONEL".as_slice()) {
        let length = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        at += 32 + length as usize;
        ends.push(at);
    }
    assert_eq!(ends.len(), 12);
    // The records left as they were written, from the first on: a record whose bytes
    // all survived is whole, even if the cut fell inside it (its tail may be zeros).
    let intact = |log: &[u8]| {
        let mut start = 0;
        ends.iter()
            .take_while(|&&end| {
                let same = log.get(start..end) == Some(&bytes[start..end]);
                start = end;
                same
            })
            .count() as u64
    };
    // The file as a power cut may leave it: written up to some byte and nothing after
    // (cut short, or the rest still the zeros the file was grown with), or with the
    // 512-byte sector holding the cut never written at all.
    let case = dir.path().join("case");
    std::fs::create_dir_all(&case).unwrap();
    for cut in (ends[8] - 40..=ends[11]).step_by(7) {
        let sector = cut / 512 * 512;
        let shapes: [(&str, Vec<u8>); 3] = [
            ("cut short", bytes[..cut].to_vec()),
            (
                "zeros after the cut",
                [&bytes[..cut], &vec![0u8; bytes.len() - cut][..]].concat(),
            ),
            (
                "its sector never written",
                [&bytes[..sector], &vec![0u8; bytes.len() - sector][..]].concat(),
            ),
        ];
        for (shape, log) in shapes {
            let survivors = intact(&log);
            std::fs::copy(image.join("t.redb"), case.join("t.redb")).unwrap();
            std::fs::write(case.join("t.redb-log"), &log).unwrap();
            let store = Store::open(case.join("t.redb"), &options).unwrap();
            assert_eq!(
                store.read().unwrap().seq().unwrap(),
                survivors,
                "{shape} at byte {cut}"
            );
            assert_eq!(keys(&store), expected_after(survivors), "{shape} at {cut}");
            // It goes on from there.
            commits(&store, survivors + 1..=survivors + 1);
            assert_eq!(
                keys(&store),
                expected_after(survivors + 1),
                "{shape} at {cut}"
            );
            drop(store);
            std::fs::remove_file(case.join("t.redb-log")).unwrap();
        }
    }
}
