//! Regressions of what a misuse run of the C ABI found: subscriptions read through the
//! wrong database, a close while a call waits for changes, impossible cursors, lengths
//! that were never checked, and backups racing for one path.

use std::ffi::{CStr, CString};
use std::time::Duration;

use crate::call;
use one_ffi::boundary::{OneCtx, OneDb, OneSub, one_last_error_message};
use one_ffi::db::{
    one_close, one_ctx_free, one_ctx_system, one_open, one_open_memory, one_open_read_only,
};
use one_ffi::feed::{one_subscribe, one_subscription_free, one_subscription_next};
use one_ffi::groups::one_tenant_create;
use one_ffi::maintenance::one_backup;
use one_ffi::plugins::one_plugin_install;
use one_ffi::records::{one_thing_create, one_thing_get};
use one_ffi::status::{
    ONE_INVALID, ONE_INVALID_CURSOR, ONE_IO, ONE_MISUSE, ONE_NOT_A_DATABASE, ONE_OK, ONE_READ_ONLY,
};

fn last_error() -> String {
    // SAFETY: ONE's own message, valid until the next failing call on this thread.
    unsafe { CStr::from_ptr(one_last_error_message()) }
        .to_string_lossy()
        .into_owned()
}

/// An open database with one tenant, and a system context in it.
struct Db {
    db: *mut OneDb,
    ctx: *mut OneCtx,
}

impl Db {
    fn memory() -> Self {
        let mut db: *mut OneDb = std::ptr::null_mut();
        // SAFETY: a valid out pointer.
        assert_eq!(unsafe { one_open_memory(&mut db) }, ONE_OK);
        Self::with_tenant(db)
    }

    fn file(path: &std::path::Path) -> Self {
        let mut db: *mut OneDb = std::ptr::null_mut();
        let path = CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: valid strings and out pointer.
        assert_eq!(unsafe { one_open(path.as_ptr(), &mut db) }, ONE_OK);
        Self::with_tenant(db)
    }

    /// Opens the file at `path` again, adding nothing to it.
    fn reopen(path: &std::path::Path) -> *mut OneDb {
        let mut db: *mut OneDb = std::ptr::null_mut();
        let path = CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: valid strings and out pointer.
        assert_eq!(
            unsafe { one_open(path.as_ptr(), &mut db) },
            ONE_OK,
            "{}",
            last_error()
        );
        db
    }

    fn with_tenant(db: *mut OneDb) -> Self {
        let tenant = c"{\"type\":\"business\",\"name\":\"T\",\"slug\":\"t\"}";
        // SAFETY: valid strings and out pointer.
        let (status, json) = call(|out| unsafe { one_tenant_create(db, tenant.as_ptr(), out) });
        assert_eq!(status, ONE_OK, "{}", last_error());
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let id = CString::new(v["id"].as_str().unwrap()).unwrap();
        let mut ctx: *mut OneCtx = std::ptr::null_mut();
        // SAFETY: as above.
        assert_eq!(unsafe { one_ctx_system(id.as_ptr(), &mut ctx) }, ONE_OK);
        Self { db, ctx }
    }

    fn create(&self, name: &str) {
        let thing = CString::new(format!("{{\"type\":\"note\",\"name\":\"{name}\"}}")).unwrap();
        // SAFETY: valid strings and out pointer.
        let (status, _) =
            call(|out| unsafe { one_thing_create(self.db, self.ctx, thing.as_ptr(), out) });
        assert_eq!(status, ONE_OK, "{}", last_error());
    }

    fn subscribe(&self, filter: Option<&CStr>) -> (i32, *mut OneSub) {
        let mut sub: *mut OneSub = std::ptr::null_mut();
        let filter = filter.map_or(std::ptr::null(), CStr::as_ptr);
        // SAFETY: valid handles, string and out pointer.
        let status = unsafe { one_subscribe(self.db, self.ctx, filter, &mut sub) };
        (status, sub)
    }

    fn close(self) {
        assert_eq!(one_ctx_free(self.ctx), ONE_OK);
        assert_eq!(one_close(self.db), ONE_OK);
    }
}

fn next(db: *const OneDb, sub: *const OneSub, timeout_ms: u32) -> (i32, String) {
    // SAFETY: handles are values; the out pointer is valid.
    call(|out| unsafe { one_subscription_next(db, sub, timeout_ms, out) })
}

#[test]
fn a_subscription_read_through_another_database_is_misuse_and_loses_nothing() {
    let (a, b) = (Db::memory(), Db::memory());
    let (status, sub) = a.subscribe(None);
    assert_eq!(status, ONE_OK, "{}", last_error());
    a.create("pending");
    let (status, text) = next(b.db, sub, 0);
    assert_eq!(status, ONE_MISUSE, "{text}");
    assert!(
        last_error().contains("another database handle"),
        "{}",
        last_error()
    );
    // The change is still there for the right database.
    let (status, text) = next(a.db, sub, 0);
    assert_eq!(status, ONE_OK, "{}", last_error());
    assert!(text.contains("thing_created"), "{text}");
    assert_eq!(one_subscription_free(sub), ONE_OK);
    a.close();
    b.close();
}

#[test]
fn a_subscription_does_not_outlive_its_database_handle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.redb");
    let first = Db::file(&path);
    let (status, sub) = first.subscribe(None);
    assert_eq!(status, ONE_OK);
    first.close();
    let again = Db::reopen(&path);
    let (status, _) = next(again, sub, 0);
    assert_eq!(status, ONE_MISUSE, "{}", last_error());
    assert_eq!(one_subscription_free(sub), ONE_OK);
    assert_eq!(one_close(again), ONE_OK);
}

#[test]
fn closing_wakes_a_call_waiting_for_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.redb");
    let db = Db::file(&path);
    let (status, sub) = db.subscribe(None);
    assert_eq!(status, ONE_OK);
    let (db_value, sub_value) = (db.db.addr(), sub.addr());
    let waiter = std::thread::spawn(move || {
        // A wait far longer than the test: only the close can end it.
        next(
            std::ptr::without_provenance(db_value),
            std::ptr::without_provenance(sub_value),
            u32::MAX,
        )
    });
    std::thread::sleep(Duration::from_millis(100));
    db.close();
    let (status, _) = waiter.join().unwrap();
    assert_eq!(status, ONE_MISUSE);
    assert_eq!(one_subscription_free(sub), ONE_OK);
    // The file is free again: it opens.
    assert_eq!(one_close(Db::reopen(&path)), ONE_OK);
}

#[test]
fn a_cursor_that_cannot_exist_is_refused() {
    let db = Db::memory();
    // A well-formed event id from far in the future.
    let future = one::EventId::from_u128(u128::MAX >> 1);
    let filter = CString::new(format!("{{\"after\":\"{future}\"}}")).unwrap();
    let (status, sub) = db.subscribe(Some(&filter));
    assert!(sub.is_null());
    assert_eq!(status, ONE_INVALID_CURSOR, "{}", last_error());
    db.create("now");
    let ahead = {
        let (status, sub) = db.subscribe(Some(c"{\"from_start\":true}"));
        assert_eq!(status, ONE_OK);
        let (_, first) = next(db.db, sub, 0);
        assert_eq!(one_subscription_free(sub), ONE_OK);
        let id: serde_json::Value = serde_json::from_str(&first).unwrap();
        id["id"].as_str().unwrap().to_string()
    };
    // The last committed event is a valid cursor; a later one is not.
    let ok = CString::new(format!("{{\"after\":\"{ahead}\"}}")).unwrap();
    let (status, sub) = db.subscribe(Some(&ok));
    assert_eq!(status, ONE_OK, "{}", last_error());
    assert_eq!(one_subscription_free(sub), ONE_OK);
    db.close();
}

#[test]
fn a_module_length_from_a_failed_ftell_is_refused_before_it_is_read() {
    let db = Db::memory();
    let byte = 0u8;
    // SAFETY: `wasm` points to one readable byte; the length lies, which is the point.
    let (status, _) =
        call(|out| unsafe { one_plugin_install(db.db, db.ctx, &byte, usize::MAX, out) });
    assert_eq!(status, ONE_INVALID);
    assert!(last_error().contains("bytes"), "{}", last_error());
    db.close();
}

#[test]
fn concurrent_backups_to_one_path_publish_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::file(&dir.path().join("one.redb"));
    db.create("kept");
    let target = CString::new(dir.path().join("copy.redb").to_str().unwrap()).unwrap();
    let (db_value, target) = (db.db.addr(), &target);
    let statuses: Vec<i32> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(move || {
                    let mut seq = 0u64;
                    // SAFETY: a valid string and out pointer; handles are values.
                    unsafe {
                        one_backup(
                            std::ptr::without_provenance(db_value),
                            target.as_ptr(),
                            &mut seq,
                        )
                    }
                })
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == ONE_OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == ONE_OK || *s == ONE_IO),
        "{statuses:?}"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("copy"))
        .collect();
    assert_eq!(names, ["copy.redb"]);
    db.close();
    assert_eq!(one_close(Db::reopen(&dir.path().join("copy.redb"))), ONE_OK);
}

#[test]
fn open_and_backup_failures_name_the_file_and_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let open = |p: &std::path::Path| {
        let mut db: *mut OneDb = std::ptr::null_mut();
        let c = CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: valid strings and out pointer.
        let status = unsafe { one_open(c.as_ptr(), &mut db) };
        assert!(db.is_null() || status == ONE_OK);
        (status, last_error(), db)
    };
    let (status, message, _) = open(dir.path());
    assert_eq!(status, ONE_IO, "{message}");
    assert!(message.contains(dir.path().to_str().unwrap()), "{message}");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a database\n".repeat(50)).unwrap();
    let (status, message, _) = open(&text);
    assert_eq!(status, ONE_NOT_A_DATABASE, "{message}");
    assert!(message.contains("notes.txt"), "{message}");
    // A backup into a folder that does not exist.
    let db = Db::memory();
    let target = dir.path().join("missing").join("copy.redb");
    let c_target = CString::new(target.to_str().unwrap()).unwrap();
    let mut seq = 0u64;
    // SAFETY: valid strings and out pointer.
    let status = unsafe { one_backup(db.db, c_target.as_ptr(), &mut seq) };
    assert_eq!(status, ONE_IO, "{}", last_error());
    assert!(last_error().contains("copy.redb"), "{}", last_error());
    db.close();
}

#[test]
fn a_read_only_database_reads_and_refuses_writes_without_touching_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.redb");
    let db = Db::file(&path);
    db.create("kept");
    let tenant_ctx = db.ctx;
    assert_eq!(one_close(db.db), ONE_OK);
    let before = std::fs::read(&path).unwrap();
    let c_path = CString::new(path.to_str().unwrap()).unwrap();
    let mut ro: *mut OneDb = std::ptr::null_mut();
    // SAFETY: valid strings and out pointer.
    assert_eq!(
        unsafe { one_open_read_only(c_path.as_ptr(), &mut ro) },
        ONE_OK,
        "{}",
        last_error()
    );
    let thing = c"{\"type\":\"note\",\"name\":\"refused\"}";
    // SAFETY: valid handles, string and out pointer.
    let (status, _) = call(|out| unsafe { one_thing_create(ro, tenant_ctx, thing.as_ptr(), out) });
    assert_eq!(status, ONE_READ_ONLY, "{}", last_error());
    assert_eq!(one_close(ro), ONE_OK);
    assert_eq!(one_ctx_free(tenant_ctx), ONE_OK);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "a read-only open wrote to the file"
    );
    // A missing file is not created.
    let missing = CString::new(dir.path().join("none.redb").to_str().unwrap()).unwrap();
    // SAFETY: as above.
    assert_eq!(
        unsafe { one_open_read_only(missing.as_ptr(), &mut ro) },
        ONE_IO
    );
    assert!(!dir.path().join("none.redb").exists());
}

#[test]
fn error_messages_are_bounded_even_when_they_quote_a_huge_input() {
    let db = Db::memory();
    // A malformed id is quoted in its error message.
    let id = CString::new(format!("thg_{}", "é".repeat(100_000))).unwrap();
    // SAFETY: valid handles, string and out pointer.
    let (status, _) = call(|out| unsafe { one_thing_get(db.db, db.ctx, id.as_ptr(), out) });
    assert_ne!(status, ONE_OK);
    let message = last_error();
    assert!(
        message.len() <= one_ffi::boundary::ONE_MAX_MESSAGE_BYTES,
        "{}",
        message.len()
    );
    assert!(message.ends_with('…'), "the message was not cut: {message}");
    db.close();
}
