//! API keys, and signing up, in and out with a password.

use std::ffi::{c_char, c_int};

use one::serde_json::json;
use one::{GroupId, KeyId, NewApiKey};
use serde::Deserialize;

use crate::boundary::{self, OneCtx, OneDb, exported, parse_id};
use crate::json as to_json;
use crate::requests::time;

/// `{"name", "permissions": [...], "env": "live"|"test", "group", "expires_at",
/// "allowed_ips": ["10.0.0.0/8"], "monthly_calls", "rate": {"per_second", "burst"}}`;
/// all but `name` and `permissions` optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ApiKeyRequest {
    name: String,
    permissions: Vec<String>,
    env: Option<String>,
    group: Option<String>,
    expires_at: Option<u64>,
    #[serde(default)]
    allowed_ips: Vec<String>,
    monthly_calls: Option<u64>,
    rate: Option<RateRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateRequest {
    per_second: u32,
    burst: u32,
}

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
        let request: ApiKeyRequest = raw.json(key, "key")?;
        let mut new =
            NewApiKey::new(request.name, &request.permissions).allow_ips(&request.allowed_ips);
        if let Some(e) = request.env {
            new = new.env(e.parse()?);
        }
        if let Some(g) = request.group {
            new = new.in_group(parse_id(&g)?);
        }
        if let Some(t) = request.expires_at {
            new = new.expires_at(time(t));
        }
        if let Some(n) = request.monthly_calls {
            new = new.monthly_calls(n);
        }
        if let Some(r) = request.rate {
            new = new.rate(r.per_second, r.burst);
        }
        let created = db.write(&ctx, |tx| tx.create_api_key(new))?;
        out.json(&json!({
            "key": to_json::api_key(&created.key),
            "secret": created.secret.expose(),
        }))
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
        let keys = db.read(&ctx, |v| v.api_keys(group))?;
        out.json(&to_json::list(&keys, to_json::api_key))
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
        let k = db.write(&ctx, |tx| tx.revoke_api_key(key))?;
        out.json(&to_json::api_key(&k))
    })
}

/// `{"group", "email", "password", "name"}` (`name` only for sign-up).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialsRequest {
    group: String,
    email: String,
    password: String,
    name: Option<String>,
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
        let c: CredentialsRequest = raw.json(credentials, "credentials")?;
        let group: GroupId = parse_id(&c.group)?;
        let name = c.name.as_deref().unwrap_or_default();
        let signed = db
            .engine()
            .sign_up(&ctx, group, &c.email, &c.password, name)?;
        out.json(&json!({
            "person": to_json::thing(&signed.person),
            "verification": signed.verification.expose(),
        }))
    })
}

/// Signs a person in to a group with a password (the context needs `auth:signin`).
/// `*out` receives `{"id", "person", "group", "expires_at", "token": "ok_sess_…"}`; pass
/// the token to `one_ctx_session`.
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
        let c: CredentialsRequest = raw.json(credentials, "credentials")?;
        let group: GroupId = parse_id(&c.group)?;
        let s = db.engine().sign_in(&ctx, group, &c.email, &c.password)?;
        out.json(&json!({
            "id": s.id.to_string(),
            "person": s.person.to_string(),
            "group": s.group.to_string(),
            "expires_at": s.expires_at.as_millis(),
            "token": s.token.expose(),
        }))
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
