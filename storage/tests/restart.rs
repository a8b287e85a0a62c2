//! A PostgreSQL server restarted under running writers: while it is down, calls fail with
//! [`StorageError::Unavailable`] and nothing else; once it is back, the same store goes on
//! without being reopened, and every acknowledged commit is there. Its own test binary,
//! because cargo runs test binaries one at a time: no other test meets the restart.
//!
//! The restart runs `ONE_TEST_POSTGRES_RESTART` with `sh -c`, by default
//! `pg_ctlcluster <the first cluster> restart` (as root, as CI runs; elsewhere set it to a
//! command that restarts the test server, such as one with `sudo`).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use one_storage::{KvRead, StorageError, Store, StoreOptions};

fn restart_server() {
    let command = std::env::var("ONE_TEST_POSTGRES_RESTART").unwrap_or_else(|_| {
        "pg_ctlcluster $(pg_lsclusters --no-header | awk 'NR == 1 { print $1 \" \" $2 }') restart"
            .into()
    });
    let status = Command::new("sh").args(["-c", &command]).status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "restarting the PostgreSQL test server with `{command}` failed ({status:?}); set \
         ONE_TEST_POSTGRES_RESTART to a command that restarts it"
    );
}

#[test]
fn a_server_restart_gives_typed_errors_then_the_same_store_goes_on() {
    let server = one_storage::test_server();
    let store = Store::scratch(&server, &StoreOptions::default()).unwrap_or_else(|e| {
        panic!("the PostgreSQL test server ({server}) is needed: {e}; start it with .ci/postgres")
    });
    store
        .write(|tx| tx.put(b"before".to_vec(), b"1".to_vec()))
        .unwrap();
    let held = store.read().unwrap();
    let restarted = AtomicBool::new(false);
    let (acknowledged, unavailable) = std::thread::scope(|s| {
        let writer = s.spawn(|| {
            let (mut acknowledged, mut unavailable) = (Vec::new(), 0);
            let mut n = 0u32;
            // Until the server is back and one more commit went through.
            loop {
                let back = restarted.load(Ordering::Acquire);
                match store.write(|tx| tx.put(n.to_be_bytes().to_vec(), b"w".to_vec())) {
                    Ok(()) => {
                        acknowledged.push(n);
                        if back {
                            return (acknowledged, unavailable);
                        }
                    }
                    Err(StorageError::Unavailable { reason }) => {
                        unavailable += 1;
                        // The restart has returned: the server takes connections again.
                        assert!(!back, "unavailable after the restart: {reason}");
                    }
                    Err(e) => panic!("a write during the restart failed with {e:?}"),
                }
                n += 1;
            }
        });
        restart_server();
        restarted.store(true, Ordering::Release);
        writer.join().unwrap()
    });
    // A snapshot held across the restart is gone, with the typed error.
    assert!(matches!(
        held.get(b"before"),
        Err(StorageError::Unavailable { .. })
    ));
    drop(held);
    let read = store.read().unwrap();
    assert_eq!(read.get(b"before").unwrap(), Some(b"1".to_vec()));
    for n in &acknowledged {
        assert!(
            read.get(&n.to_be_bytes()).unwrap().is_some(),
            "acknowledged write {n} is missing"
        );
    }
    eprintln!(
        "{} writes acknowledged around the restart, {unavailable} refused as unavailable",
        acknowledged.len()
    );
}
