//! API keys, and signing up, in and out with a password.

use std::ffi::{c_char, c_int};

use one::serde_json::Value as Json;
use one::{GroupId, KeyId, NewApiKey};

use crate::boundary::{self, OneCtx, OneDb, exported};
use crate::execute::run;

/// Makes an API key. `*out` receives `{"key": record, "secret": "ok_live_…"}`: the
/// secret is not stored and cannot be shown again.
///
/// # Safety
/// `key` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_api_key_create(
    db: *const OneDb,
    ctx: *const OneCtx,
    key: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let new: NewApiKey = raw.json(key, "key")?;
        out.json(&db.write(&ctx, |tx| tx.create_api_key(new.clone()))?)
    })
}

/// Lists the API keys of a group (records only, never secrets).
///
/// # Safety
/// `group` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_api_keys(
    db: *const OneDb,
    ctx: *const OneCtx,
    group: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let group: GroupId = raw.id(group, "group")?;
        out.json(&db.read(&ctx, |v| v.api_keys(group))?)
    })
}

/// Revokes an API key at once. `*out` receives its record.
///
/// # Safety
/// `key` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_api_key_revoke(
    db: *const OneDb,
    ctx: *const OneCtx,
    key: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let key: KeyId = raw.id(key, "key")?;
        out.json(&db.write(&ctx, |tx| tx.revoke_api_key(key))?)
    })
}

/// Signs a new person up to a group with a password (if the group allows sign-up; the
/// context needs `auth:signup`). `*out` receives `{"person": thing, "verification":
/// "ok_once_…"}`; deliver the verification token to the address.
///
/// # Safety
/// `credentials` is a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_sign_up(
    db: *const OneDb,
    ctx: *const OneCtx,
    credentials: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let args: Json = raw.json(credentials, "credentials")?;
        out.json(&run(&db, &ctx, "sign_up", args)?)
    })
}

/// Signs a person in to a group with a password (the context needs `auth:signin`).
/// `*out` receives `{"session": {"id", "person", "group", "expires_at", "token":
/// "ok_sess_…"}}` (pass the token to `one_ctx_session`), or, for a person with two-factor
/// sign-in or in a group whose `enableTwoFactor` requires it, `{"second_factor":
/// {"person", "group", "enrolled", "expires_at", "token": "ok_once_…"}}`: complete it
/// with `one_exec` and `{"complete_sign_in": {"token", "code"}}`.
///
/// # Safety
/// `credentials` is a NUL-terminated string; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_sign_in(
    db: *const OneDb,
    ctx: *const OneCtx,
    credentials: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let mut args: Json = raw.json(credentials, "credentials")?;
        // The credentials of `one_sign_up` are accepted as they are: `name` is ignored.
        if let Json::Object(fields) = &mut args {
            fields.remove("name");
        }
        out.json(&run(&db, &ctx, "sign_in", args)?)
    })
}

/// Ends the session of a token; contexts made from it stop working.
///
/// # Safety
/// `token` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_sign_out(db: *const OneDb, token: *const c_char) -> c_int {
    exported!(|raw| {
        let db = boundary::db(db)?;
        let token = raw.text(token, "token")?;
        Ok(db.engine().sign_out(token)?)
    })
}
