//! The PostgreSQL backend: what only a shared database has (several instances, a server
//! that goes away), beside the suite every backend runs.

use std::ops::ControlFlow;
use std::sync::{Arc, Barrier, Mutex};

use one_storage::{Direction, KeyRange, KvRead, StorageError, Store, StoreOptions, WritePlan};

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
fn two_instances_number_the_commits_of_one_partition_as_one_sequence() {
    let a = scratch(&StoreOptions::default());
    let b = a.another_instance().unwrap().unwrap();
    let heard: Arc<Mutex<Vec<u64>>> = Arc::default();
    for store in [&a, &b] {
        let heard = Arc::clone(&heard);
        store.set_commit_listener(Arc::new(move |seq, _| heard.lock().unwrap().push(seq)));
    }
    // Writers on both instances at once, all in the one partition a store has by default,
    // none saying so up front: a writer that finds the turn taken runs again, waiting for
    // it before it begins.
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
            // Named up front, the partition's turn is waited for before the snapshot.
            let plan = WritePlan {
                write: &[b"b".to_vec()],
                ..WritePlan::default()
            };
            b.write_planned(&plan, |tx| {
                runs += 1;
                // Its turn came after the first committed: it sees the first's write.
                let first = tx.get(b"a")?;
                tx.put(b"b".to_vec(), first.unwrap_or_default())?;
                tx.seq_of(b"b")
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
        .write_planned(
            &WritePlan {
                read: &keys,
                write: &[],
            },
            |tx| {
                assert_eq!(tx.get(b"a")?, None);
                assert_eq!(tx.get(b"b")?, Some(b"old".to_vec()));
                tx.put(b"a".to_vec(), b"new".to_vec())?;
                tx.delete(b"b")?;
                assert_eq!(tx.get(b"a")?, Some(b"new".to_vec()));
                assert_eq!(tx.get(b"b")?, None);
                Ok::<_, StorageError>(())
            },
        )
        .unwrap();
    let read = store.read_prefetching(&keys).unwrap();
    assert_eq!(read.get(b"a").unwrap(), Some(b"new".to_vec()));
    assert_eq!(read.get(b"b").unwrap(), None);
    assert_eq!(read.seq().unwrap(), 2);
}

/// A store partitioned like tenants (`T` and two bytes), on a fresh schema, and a second
/// instance of it.
fn tenants() -> (Store, Store) {
    let a = scratch(&StoreOptions {
        partition: by_tenant,
        ..StoreOptions::default()
    });
    let b = a.another_instance().unwrap().unwrap();
    (a, b)
}

#[test]
fn writers_of_different_partitions_commit_at_once_each_numbered_in_its_own() {
    let (a, b) = tenants();
    let (inside, release) = (Barrier::new(2), Barrier::new(2));
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            let plan = WritePlan {
                write: &[b"Tab".to_vec()],
                ..WritePlan::default()
            };
            a.write_planned(&plan, |tx| {
                tx.put(b"Tab/x".to_vec(), b"1".to_vec())?;
                inside.wait();
                release.wait();
                tx.seq_of(b"Tab/x")
            })
            .unwrap()
        });
        inside.wait();
        // While the first holds its partition, a writer of another partition (not named
        // up front: its turn is taken at its first write) commits, twice.
        for n in 1..=2u64 {
            let mut runs = 0;
            let seq = b
                .write(|tx| {
                    runs += 1;
                    tx.put(format!("Tcd/{n}").into_bytes(), b"2".to_vec())?;
                    tx.seq_of(b"Tcd")
                })
                .unwrap();
            assert_eq!((seq, runs), (n, 1));
        }
        release.wait();
        assert_eq!(first.join().unwrap(), 1, "its partition's first commit");
    });
    let read = a.read().unwrap();
    assert_eq!(read.get(b"Tab/x").unwrap(), Some(b"1".to_vec()));
    assert_eq!(read.get(b"Tcd/2").unwrap(), Some(b"2".to_vec()));
    assert_eq!(read.seq().unwrap(), 2, "the highest of any partition");
}

#[test]
fn a_write_in_a_partition_another_writer_holds_runs_again_after_its_turn() {
    let (a, b) = tenants();
    let (inside, ran_once) = (Barrier::new(2), Barrier::new(2));
    std::thread::scope(|s| {
        s.spawn(|| {
            let plan = WritePlan {
                write: &[b"Tab".to_vec()],
                ..WritePlan::default()
            };
            a.write_planned(&plan, |tx| {
                tx.put(b"Tab/x".to_vec(), b"a".to_vec())?;
                inside.wait();
                // Commits once the other writer has met its turn taken.
                ran_once.wait();
                Ok::<_, StorageError>(())
            })
            .unwrap();
        });
        inside.wait();
        let mut runs = 0;
        let seen = b
            .write(|tx| {
                runs += 1;
                tx.put(b"Tcd/y".to_vec(), b"b".to_vec())?;
                let seen = tx.get(b"Tab/x")?;
                let written = tx.put(b"Tab/z".to_vec(), b"b".to_vec());
                if runs == 1 {
                    ran_once.wait();
                }
                written?;
                Ok::<_, StorageError>(seen)
            })
            .unwrap();
        // The first run met the turn taken; the second waited for it, on a snapshot
        // taken after, which holds the first writer's commit.
        assert_eq!((runs, seen), (2, Some(b"a".to_vec())));
    });
    let read = a.read().unwrap();
    for key in [&b"Tab/x"[..], b"Tab/z", b"Tcd/y"] {
        assert!(read.get(key).unwrap().is_some(), "{key:?}");
    }
}

#[test]
fn a_serialization_failure_runs_the_transaction_again_and_both_commits_land_once() {
    let (a, b) = tenants();
    // Write skew across two partitions: each reads what the other writes. Serializable
    // allows one of them to commit as it ran; the other runs again and sees it.
    let both_read = Barrier::new(2);
    let runs = [Mutex::new(0), Mutex::new(0)];
    std::thread::scope(|s| {
        let writers = [(&a, "Tab", "Tcd"), (&b, "Tcd", "Tab")].map(|(store, own, other)| {
            let (both_read, runs) = (&both_read, &runs);
            s.spawn(move || {
                let i = usize::from(own == "Tcd");
                let plan = WritePlan {
                    write: &[own.as_bytes().to_vec()],
                    ..WritePlan::default()
                };
                store
                    .write_planned(&plan, |tx| {
                        let run = {
                            let mut r = runs[i].lock().unwrap();
                            *r += 1;
                            *r
                        };
                        let seen = tx.get(format!("{other}/v").as_bytes())?;
                        if run == 1 {
                            both_read.wait();
                        }
                        let value = seen.map_or(b"first".to_vec(), |_| b"second".to_vec());
                        tx.put(format!("{own}/v").into_bytes(), value)?;
                        Ok::<_, StorageError>(())
                    })
                    .unwrap();
            })
        });
        for w in writers {
            w.join().unwrap();
        }
    });
    let runs = runs.map(|r| r.into_inner().unwrap());
    // At least one ran again (PostgreSQL may also end both first runs).
    assert!(runs.iter().sum::<u32>() >= 3, "none ran again: {runs:?}");
    let read = a.read().unwrap();
    let mut values = [b"Tab/v", b"Tcd/v"].map(|k| read.get(k).unwrap().unwrap());
    values.sort();
    assert_eq!(values, [b"first".to_vec(), b"second".to_vec()]);
}
