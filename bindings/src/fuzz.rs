//! The body of the `c_json` fuzz target, public so that the fuzzer and the ordinary test
//! suite share it: arbitrary text as the JSON argument of every C call that takes one,
//! against one in-memory database per thread. Every call must return a status code other
//! than `ONE_INTERNAL` (a panic caught at the boundary) and leave nothing to free but what
//! it hands out.

use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr::null_mut;

use crate::boundary::{OneCtx, OneDb};
use crate::db::{one_ctx_system, one_open_memory};
use crate::status::{ONE_INTERNAL, ONE_OK};
use crate::{access, boundary, feed, groups, records};

/// A C call that takes a context, a JSON text and an output string.
type JsonCall =
    unsafe extern "C" fn(*const OneDb, *const OneCtx, *const c_char, *mut *mut c_char) -> c_int;

/// The database, its tenant's id and a system context in it.
struct Fixture {
    db: *mut OneDb,
    ctx: *mut OneCtx,
    tenant: CString,
}

thread_local! {
    static FIXTURE: Fixture = Fixture::new();
}

impl Fixture {
    fn new() -> Self {
        let mut db = null_mut();
        // SAFETY: `db` is writable storage for a handle.
        assert_eq!(unsafe { one_open_memory(&mut db) }, ONE_OK);
        let request = c"{\"type\":\"business\",\"name\":\"Fuzz\",\"slug\":\"fuzz\"}";
        let mut out = null_mut();
        // SAFETY: valid handle, NUL-terminated request, writable output.
        assert_eq!(
            unsafe { groups::one_tenant_create(db, request.as_ptr(), &mut out) },
            ONE_OK
        );
        // SAFETY: the call succeeded, so `out` is a string it allocated.
        let json = unsafe { CStr::from_ptr(out) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: freed once, as the API asks.
        unsafe { boundary::one_string_free(out) };
        let group: serde_json::Value = serde_json::from_str(&json).expect("a group as JSON");
        let tenant = CString::new(group["id"].as_str().expect("an id")).expect("no NUL");
        let mut ctx = null_mut();
        // SAFETY: NUL-terminated id, writable output.
        assert_eq!(unsafe { one_ctx_system(tenant.as_ptr(), &mut ctx) }, ONE_OK);
        Self { db, ctx, tenant }
    }
}

/// Hands `data` (when it has no NUL byte) to every call that takes JSON.
pub fn json_inputs(data: &[u8]) {
    let Ok(text) = CString::new(data) else {
        return;
    };
    let calls: [(&str, JsonCall); 14] = [
        ("one_thing_create", records::one_thing_create),
        ("one_things", records::one_things),
        ("one_connection_create", records::one_connection_create),
        ("one_connections", records::one_connections),
        ("one_event_log", records::one_event_log),
        ("one_events", records::one_events),
        ("one_knowledge_create", records::one_knowledge_create),
        ("one_knowledge_search", records::one_knowledge_search),
        ("one_person_create", groups::one_person_create),
        ("one_member_add", groups::one_member_add),
        ("one_api_key_create", access::one_api_key_create),
        ("one_sign_up", access::one_sign_up),
        ("one_sign_in", access::one_sign_in),
        ("one_group_get", groups::one_group_get),
    ];
    FIXTURE.with(|f| {
        for (name, call) in calls {
            let mut out = null_mut();
            // SAFETY: live handles, a NUL-terminated text, writable output.
            let code = unsafe { call(f.db, f.ctx, text.as_ptr(), &mut out) };
            assert_ne!(code, ONE_INTERNAL, "{name} panicked on {text:?}");
            // SAFETY: what the call handed out, freed once (NULL is allowed).
            unsafe { boundary::one_string_free(out) };
        }
        let mut out = null_mut();
        // SAFETY: as above.
        let code = unsafe {
            groups::one_group_create(f.db, f.ctx, f.tenant.as_ptr(), text.as_ptr(), &mut out)
        };
        assert_ne!(code, ONE_INTERNAL, "one_group_create panicked on {text:?}");
        // SAFETY: as above.
        unsafe { boundary::one_string_free(out) };
        let mut sub = null_mut();
        // SAFETY: as above.
        let code = unsafe { feed::one_subscribe(f.db, f.ctx, text.as_ptr(), &mut sub) };
        assert_ne!(code, ONE_INTERNAL, "one_subscribe panicked on {text:?}");
        if code == ONE_OK {
            feed::one_subscription_free(sub);
        }
    });
}
