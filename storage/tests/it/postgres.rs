//! The PostgreSQL backend: what only a shared database has (several instances, a server
//! that goes away), beside the suite every backend runs.

use std::ops::ControlFlow;
use std::sync::{Arc, Barrier, Mutex};

use one_storage::{Direction, KeyRange, KvRead, StorageError, Store, StoreOptions};

/// A fresh database on the test server, in a schema of its own.
pub fn scratch(options: &StoreOptions) -> Store {
    let server = one_storage::test_server();
    Store::scratch(&server, options).unwrap_or_else(|e| {
        panic!(
            "the PostgreSQL test server ({server}) is needed: {e}. Start it with .ci/postgres, \
             or point ONE_TEST_POSTGRES at another"
        )
    })
}

/// Keys partitioned by their first byte and the next two, as a tenant would be.
fn by_tenant(key: &[u8]) -> usize {
    if key.first() == Some(&b'T') {
        key.len().min(3)
    } else {
        key.len().min(1)
    }
}

#[test]
fn scans_cross_partitions_in_key_order() {
    let options = StoreOptions {
        partition: by_tenant,
        ..StoreOptions::default()
    };
    let store = scratch(&options);
    let keys: Vec<Vec<u8>> = vec![
        b"A".to_vec(),
        b"Tab1".to_vec(),
        b"Tab2".to_vec(),
        b"Tac".to_vec(),
        b"Tb".to_vec(),
        b"T".to_vec(),
        b"Z".to_vec(),
    ];
    store
        .write(|tx| {
            for k in &keys {
                tx.put(k.clone(), k.clone())?;
            }
            Ok::<_, StorageError>(())
        })
        .unwrap();
    let mut sorted = keys.clone();
    sorted.sort();
    let read = store.read().unwrap();
    let seen = |range: &KeyRange, dir| {
        let mut out = Vec::new();
        read.scan(range, dir, |k, _| {
            out.push(k.to_vec());
            Ok::<_, StorageError>(ControlFlow::Continue(()))
        })
        .unwrap();
        out
    };
    assert_eq!(seen(&KeyRange::all(), Direction::Forward), sorted);
    let mut reversed = sorted.clone();
    reversed.reverse();
    assert_eq!(seen(&KeyRange::all(), Direction::Reverse), reversed);
    assert_eq!(
        seen(&KeyRange::prefix(b"Ta"), Direction::Forward),
        [b"Tab1".to_vec(), b"Tab2".to_vec(), b"Tac".to_vec()]
    );
    assert_eq!(
        seen(
            &KeyRange::between(b"Tab2".to_vec(), b"Tb".to_vec()),
            Direction::Reverse
        ),
        [b"Tac".to_vec(), b"Tab2".to_vec()]
    );
}

#[test]
fn scans_longer_than_a_page_see_every_key_once() {
    let store = scratch(&StoreOptions::default());
    store
        .write(|tx| {
            for n in 0..3000u32 {
                tx.put(n.to_be_bytes().to_vec(), vec![1])?;
            }
            Ok::<_, StorageError>(())
        })
        .unwrap();
    let read = store.read().unwrap();
    for dir in [Direction::Forward, Direction::Reverse] {
        let mut seen = Vec::new();
        read.scan(&KeyRange::all(), dir, |k, _| {
            seen.push(u32::from_be_bytes(k.try_into().unwrap()));
            Ok::<_, StorageError>(ControlFlow::Continue(()))
        })
        .unwrap();
        let mut expected: Vec<u32> = (0..3000).collect();
        if dir == Direction::Reverse {
            expected.reverse();
        }
        assert_eq!(seen, expected);
    }
}

#[test]
fn two_instances_number_their_commits_as_one_sequence() {
    let a = scratch(&StoreOptions::default());
    let b = a.another_instance().unwrap().unwrap();
    let heard: Arc<Mutex<Vec<u64>>> = Arc::default();
    for store in [&a, &b] {
        let heard = Arc::clone(&heard);
        store.set_commit_listener(Arc::new(move |seq, _| heard.lock().unwrap().push(seq)));
    }
    // Writers on both instances at once: each instance's writers take turns, and the two
    // instances take turns on the database.
    let start = Barrier::new(8);
    std::thread::scope(|s| {
        for w in 0..8u8 {
            let (store, start) = (if w % 2 == 0 { &a } else { &b }, &start);
            s.spawn(move || {
                start.wait();
                for n in 0..25u8 {
                    store.write(|tx| tx.put(vec![w, n], vec![w])).unwrap();
                }
            });
        }
    });
    let mut heard = heard.lock().unwrap().clone();
    heard.sort_unstable();
    assert_eq!(
        heard,
        (1..=200).collect::<Vec<u64>>(),
        "no gap, no duplicate"
    );
    let read = b.read().unwrap();
    assert_eq!(read.seq().unwrap(), 200);
    let mut count = 0;
    read.scan(&KeyRange::all(), Direction::Forward, |_, _| {
        count += 1;
        Ok::<_, StorageError>(ControlFlow::Continue(()))
    })
    .unwrap();
    assert_eq!(count, 200, "every commit landed once");
}

#[test]
fn a_writer_that_meets_another_instances_open_transaction_waits_and_lands_once() {
    let a = scratch(&StoreOptions::default());
    let b = a.another_instance().unwrap().unwrap();
    let (inside, release) = (Barrier::new(2), Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            a.write(|tx| {
                tx.put(b"a".to_vec(), b"1".to_vec())?;
                inside.wait();
                release.wait();
                Ok::<_, StorageError>(())
            })
            .unwrap();
        });
        inside.wait();
        let second = s.spawn(|| {
            let mut runs = 0;
            b.write(|tx| {
                runs += 1;
                // Its turn came after the first committed: it sees the first's write.
                let first = tx.get(b"a")?;
                tx.put(b"b".to_vec(), first.unwrap_or_default())?;
                Ok::<_, StorageError>(tx.seq())
            })
            .map(|seq| (seq, runs))
        });
        release.wait();
        let (seq, runs) = second.join().unwrap().unwrap();
        assert_eq!((seq, runs), (2, 1));
    });
    let read = a.read().unwrap();
    assert_eq!(read.get(b"b").unwrap(), Some(b"1".to_vec()));
    assert_eq!(read.seq().unwrap(), 2);
}

#[test]
fn an_unreachable_server_is_a_typed_error() {
    let refused = Store::connect(
        "host=127.0.0.1 port=1 user=one password=one dbname=one_test connect_timeout=2",
        &StoreOptions::default(),
    );
    assert!(
        matches!(refused, Err(StorageError::Unavailable { .. })),
        "{refused:?}"
    );
    let malformed = Store::connect("postgres://[::1", &StoreOptions::default());
    assert!(matches!(malformed, Err(StorageError::Unavailable { .. })));
}

#[test]
fn a_backup_of_a_postgres_database_is_a_database_file() {
    let store = scratch(&StoreOptions::default());
    store
        .write(|tx| {
            tx.put(b"k1".to_vec(), b"v1".to_vec())?;
            tx.put(b"k2".to_vec(), b"v2".to_vec())
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copy.redb");
    assert_eq!(store.backup(&path).unwrap(), 1);
    let copy = Store::open(&path, &StoreOptions::default()).unwrap();
    let read = copy.read().unwrap();
    assert_eq!(read.seq().unwrap(), 1);
    assert_eq!(read.get(b"k2").unwrap(), Some(b"v2".to_vec()));
}

#[test]
fn keys_read_as_a_transaction_begins_are_its_own_writes_once_written() {
    // A buffer of one byte: every write is sent at once, so reads go to the server.
    let store = scratch(&StoreOptions {
        write_buffer: 1,
        ..StoreOptions::default()
    });
    store
        .write(|tx| tx.put(b"b".to_vec(), b"old".to_vec()))
        .unwrap();
    let keys = [b"a".to_vec(), b"b".to_vec()];
    store
        .write_prefetching(&keys, |tx| {
            assert_eq!(tx.get(b"a")?, None);
            assert_eq!(tx.get(b"b")?, Some(b"old".to_vec()));
            tx.put(b"a".to_vec(), b"new".to_vec())?;
            tx.delete(b"b")?;
            assert_eq!(tx.get(b"a")?, Some(b"new".to_vec()));
            assert_eq!(tx.get(b"b")?, None);
            Ok::<_, StorageError>(())
        })
        .unwrap();
    let read = store.read_prefetching(&keys).unwrap();
    assert_eq!(read.get(b"a").unwrap(), Some(b"new".to_vec()));
    assert_eq!(read.get(b"b").unwrap(), None);
    assert_eq!(read.seq().unwrap(), 2);
}
