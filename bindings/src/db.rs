//! Opening and closing databases, and the contexts calls act as.

use std::ffi::{c_char, c_int};
use std::net::IpAddr;

use one::{Context, GroupId, Ontology, ThingId};

use crate::boundary::{self, Failure, OneCtx, OneDb, exported};

/// ONE's version, e.g. `"0.1.0"`. The string is static: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn one_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Opens (or creates) the database file at `path`, creating its folder if needed, with
/// default options (durable commits). With the `wasm` feature (on in the shipped
/// library), installed plugins are loaded and run in ONE's sandbox.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` points to writable storage for a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_open(path: *const c_char, out: *mut *mut OneDb) -> c_int {
    exported!(|raw| {
        let out = raw.out_handle(out)?;
        let path = raw.text(path, "path")?;
        out.set(boundary::new_db(builder()?.open(path)?));
        Ok(())
    })
}

/// Opens the existing database file at `path` for reading only: reads work as usual,
/// every write is `ONE_READ_ONLY` and nothing is ever written to the file. A file of
/// another kind is `ONE_NOT_A_DATABASE`; a missing one `ONE_IO`, naming it.
///
/// # Safety
/// `path` is a NUL-terminated string; `out` points to writable storage for a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_open_read_only(path: *const c_char, out: *mut *mut OneDb) -> c_int {
    exported!(|raw| {
        let out = raw.out_handle(out)?;
        let path = raw.text(path, "path")?;
        out.set(boundary::new_db(builder()?.open_read_only(path)?));
        Ok(())
    })
}

/// Opens a new database held in memory, gone when closed.
///
/// # Safety
/// `out` points to writable storage for a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_open_memory(out: *mut *mut OneDb) -> c_int {
    exported!(|raw| {
        let out = raw.out_handle(out)?;
        out.set(boundary::new_db(builder()?.in_memory()?));
        Ok(())
    })
}

fn builder() -> Result<one::Builder, Failure> {
    let builder = Ontology::builder();
    #[cfg(feature = "wasm")]
    let builder = builder.wasm_plugins(one::wasm::Limits::default())?;
    Ok(builder)
}

/// Closes a database. Calls running on it on other threads finish first; the file is
/// released when the last one returns. NULL does nothing; a handle already closed gets
/// `ONE_MISUSE`.
#[unsafe(no_mangle)]
pub extern "C" fn one_close(db: *mut OneDb) -> c_int {
    boundary::guard(|| {
        if db.is_null() {
            Ok(())
        } else {
            boundary::close_db(db)
        }
    })
}

/// A context acting as the system (the application itself, with every permission) in
/// `group` and its descendants.
///
/// # Safety
/// `group` is a NUL-terminated string; `out` points to writable storage for a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_ctx_system(group: *const c_char, out: *mut *mut OneCtx) -> c_int {
    exported!(|raw| {
        let out = raw.out_handle(out)?;
        let group: GroupId = raw.id(group, "group")?;
        out.set(boundary::new_ctx(Context::system(group)));
        Ok(())
    })
}

/// A context acting as `person` in `group`, for an application that authenticated the
/// person itself. What it may do comes from the person's memberships.
///
/// # Safety
/// `person` and `group` are NUL-terminated strings; `out` points to writable storage for
/// a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_ctx_person(
    person: *const c_char,
    group: *const c_char,
    out: *mut *mut OneCtx,
) -> c_int {
    exported!(|raw| {
        let out = raw.out_handle(out)?;
        let person: ThingId = raw.id(person, "person")?;
        let group: GroupId = raw.id(group, "group")?;
        out.set(boundary::new_ctx(Context::person(person, group)));
        Ok(())
    })
}

/// The context of a session token (`ok_sess_…`, from `one_sign_in`): its person, in the
/// group signed in to. An unknown, expired or signed-out token gets
/// `ONE_INVALID_CREDENTIALS`, `ONE_EXPIRED` or `ONE_REVOKED`.
///
/// # Safety
/// `token` is a NUL-terminated string; `out` points to writable storage for a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_ctx_session(
    db: *const OneDb,
    token: *const c_char,
    out: *mut *mut OneCtx,
) -> c_int {
    exported!(|raw| {
        let out = raw.out_handle(out)?;
        let db = boundary::db(db)?;
        let token = raw.text(token, "token")?;
        out.set(boundary::new_ctx(db.engine().context_for_session(token)?));
        Ok(())
    })
}

/// The context of an API key (`ok_live_…` or `ok_test_…`) presented from `client_ip`
/// (text such as `"203.0.113.9"`, or NULL when unknown). Making the context is what
/// counts as one call against the key's rate limits and monthly quota (and may fail with
/// `ONE_RATE_LIMITED` or `ONE_QUOTA_EXCEEDED`): make one per request the key presents.
///
/// # Safety
/// `key` is a NUL-terminated string, `client_ip` NULL or one; `out` points to writable
/// storage for a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_ctx_api_key(
    db: *const OneDb,
    key: *const c_char,
    client_ip: *const c_char,
    out: *mut *mut OneCtx,
) -> c_int {
    exported!(|raw| {
        let out = raw.out_handle(out)?;
        let db = boundary::db(db)?;
        let key = raw.text(key, "key")?;
        let ip = match raw.optional_text(client_ip, "client_ip")? {
            None => None,
            Some(ip) => Some(ip.parse::<IpAddr>().map_err(|e| {
                Failure::invalid(format!("`client_ip` {ip:?} is not an IP address: {e}"))
            })?),
        };
        out.set(boundary::new_ctx(db.engine().context_for_api_key(key, ip)?));
        Ok(())
    })
}

/// Frees a context. NULL does nothing; a context already freed gets `ONE_MISUSE`.
#[unsafe(no_mangle)]
pub extern "C" fn one_ctx_free(ctx: *mut OneCtx) -> c_int {
    boundary::guard(|| {
        if ctx.is_null() {
            Ok(())
        } else {
            boundary::free_ctx(ctx)
        }
    })
}
