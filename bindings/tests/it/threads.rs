//! Several threads on one database handle, and a close while they run.

use std::ffi::CString;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::call;
use one_ffi::boundary::{OneCtx, OneDb};
use one_ffi::db::{one_close, one_ctx_free, one_ctx_system, one_open_memory};
use one_ffi::groups::one_tenant_create;
use one_ffi::records::{one_thing_create, one_thing_get};
use one_ffi::status::{ONE_MISUSE, ONE_OK};

fn id_in(json: &str) -> CString {
    let v: serde_json::Value = serde_json::from_str(json).unwrap();
    CString::new(v["id"].as_str().unwrap()).unwrap()
}

/// Handles are plain values: share them between threads as integers.
#[derive(Clone, Copy)]
struct Shared(usize, usize);

#[test]
fn threads_share_a_handle_and_a_close_stops_them_cleanly() {
    let mut db: *mut OneDb = std::ptr::null_mut();
    // SAFETY: `db` is writable.
    assert_eq!(unsafe { one_open_memory(&mut db) }, ONE_OK);
    let tenant = c"{\"type\":\"business\",\"name\":\"T\",\"slug\":\"t\"}";
    // SAFETY: valid strings and out pointer.
    let (status, json) = call(|out| unsafe { one_tenant_create(db, tenant.as_ptr(), out) });
    assert_eq!(status, ONE_OK);
    let mut ctx: *mut OneCtx = std::ptr::null_mut();
    // SAFETY: as above.
    assert_eq!(
        unsafe { one_ctx_system(id_in(&json).as_ptr(), &mut ctx) },
        ONE_OK
    );

    let shared = Shared(db.addr(), ctx.addr());
    let succeeded = AtomicUsize::new(0);
    let results: Vec<(usize, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|_| {
                let succeeded = &succeeded;
                s.spawn(move || {
                    let Shared(db, ctx) = shared;
                    let (db, ctx): (*const OneDb, *const OneCtx) = (
                        std::ptr::without_provenance(db),
                        std::ptr::without_provenance(ctx),
                    );
                    let (mut ok, mut closed) = (0, 0);
                    let thing = c"{\"type\":\"product\",\"name\":\"Mug\"}";
                    for _ in 0..200 {
                        // SAFETY: valid strings and out pointers; handles may be closed.
                        let (status, json) =
                            call(|out| unsafe { one_thing_create(db, ctx, thing.as_ptr(), out) });
                        if status == ONE_MISUSE {
                            closed += 1;
                            continue;
                        }
                        assert_eq!(status, ONE_OK);
                        let id = id_in(&json);
                        // SAFETY: as above.
                        let (status, got) =
                            call(|out| unsafe { one_thing_get(db, ctx, id.as_ptr(), out) });
                        match status {
                            ONE_OK => {
                                assert_eq!(id_in(&got), id);
                                ok += 1;
                                succeeded.fetch_add(1, Ordering::Relaxed);
                            }
                            ONE_MISUSE => closed += 1,
                            other => panic!("unexpected status {other}"),
                        }
                    }
                    (ok, closed)
                })
            })
            .collect();
        // Close while the workers are mid-way: after a few of their calls succeeded.
        while succeeded.load(Ordering::Relaxed) < 8 {
            std::thread::yield_now();
        }
        assert_eq!(one_close(db), ONE_OK);
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let (ok, closed): (usize, usize) = results.iter().fold((0, 0), |a, r| (a.0 + r.0, a.1 + r.1));
    assert!(ok > 0, "no call ran before the close");
    assert!(closed > 0, "no call saw the close");
    assert_eq!(one_close(db), ONE_MISUSE);
    assert_eq!(one_ctx_free(ctx), ONE_OK);
}
