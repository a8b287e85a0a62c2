//! Tenants and groups, people and their memberships, and usage.

use std::ffi::{c_char, c_int};

use one::serde_json::Value as Json;
use one::{GroupId, GroupUpdate, NewGroup, NewPerson, ThingId};

use crate::boundary::{self, Failure, OneCtx, OneDb, Outcome, exported};
use crate::execute::run;

/// The arguments of a paged list of `group`: the page `{"limit", "after"}` (`null` for
/// the first page of the default size) with the group added.
fn paged(page: Json, group: GroupId) -> Outcome<Json> {
    let mut args = match page {
        Json::Null => one::serde_json::Map::new(),
        Json::Object(map) => map,
        _ => {
            return Err(Failure::invalid(
                "`page`: a page is an object `{\"limit\", \"after\"}`",
            ));
        }
    };
    args.insert("group".into(), Json::String(group.to_string()));
    Ok(Json::Object(args))
}

/// Creates a tenant: a top-level group, made by the application itself (no context).
/// `group` is a JSON group request (bindings/README.md); `*out` receives the group.
///
/// # Safety
/// `group` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_tenant_create(
    db: *const OneDb,
    group: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let out = raw.out(out)?;
        let db = boundary::db(db)?;
        let new: NewGroup = raw.json(group, "group")?;
        out.json(&db.admin().create_root_group(new)?)
    })
}

/// Creates a group under `parent`. `group` is a JSON group request; `*out` receives the
/// group.
///
/// # Safety
/// `parent` and `group` are NUL-terminated strings; `out` points to writable storage
/// for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_group_create(
    db: *const OneDb,
    ctx: *const OneCtx,
    parent: *const c_char,
    group: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let parent: GroupId = raw.id(parent, "parent")?;
        let new: NewGroup = raw.json(group, "group")?;
        out.json(&db.write(&ctx, |tx| tx.create_group(parent, new.clone()))?)
    })
}

/// Reads a group.
///
/// # Safety
/// `group` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_group_get(
    db: *const OneDb,
    ctx: *const OneCtx,
    group: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let group: GroupId = raw.id(group, "group")?;
        out.json(&db.read(&ctx, |v| v.get_group(group))?)
    })
}

/// Changes a group. `update` is a JSON group update (bindings/README.md); `*out`
/// receives the group as it now is.
///
/// # Safety
/// `group` and `update` are NUL-terminated strings; `out` points to writable storage for
/// a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_group_update(
    db: *const OneDb,
    ctx: *const OneCtx,
    group: *const c_char,
    update: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let group: GroupId = raw.id(group, "group")?;
        let change: GroupUpdate = raw.json(update, "update")?;
        out.json(&db.write(&ctx, |tx| tx.update_group(group, change.clone()))?)
    })
}

/// Lists the children of a group, a page at a time. `page` is NULL or
/// `{"limit": n, "after": cursor}`; `*out` receives `{"items": [groups], "next": cursor}`.
///
/// # Safety
/// `group` is a NUL-terminated string, `page` NULL or one; `out` points to writable
/// storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_group_children(
    db: *const OneDb,
    ctx: *const OneCtx,
    group: *const c_char,
    page: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let group: GroupId = raw.id(group, "group")?;
        let args = paged(raw.optional_json(page, "page")?, group)?;
        out.json(&run(&db, &ctx, "children", args)?)
    })
}

/// What a group and its descendants have used of each metered resource, with its
/// limits: `*out` receives `[{"resource", "used", "limit", "resets_at"}]`.
///
/// # Safety
/// `group` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_usage(
    db: *const OneDb,
    ctx: *const OneCtx,
    group: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let group: GroupId = raw.id(group, "group")?;
        out.json(&db.read(&ctx, |v| v.usage(group))?)
    })
}

/// Creates a person (a thing of type `person` with a unique email in the tenant).
/// `*out` receives the person, as a thing.
///
/// # Safety
/// `person` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_person_create(
    db: *const OneDb,
    ctx: *const OneCtx,
    person: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let new: NewPerson = raw.json(person, "person")?;
        out.json(&db.write(&ctx, |tx| tx.create_person(new.clone()))?)
    })
}

/// Finds a person of the tenant by email (compared after normalisation).
///
/// # Safety
/// `email` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_person_by_email(
    db: *const OneDb,
    ctx: *const OneCtx,
    email: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let email = raw.text(email, "email")?;
        out.json(&db.read(&ctx, |v| v.person_by_email(email))?)
    })
}

/// Makes a person a member of a group with a role and permissions. `*out` receives the
/// `member_of` connection.
///
/// # Safety
/// `member` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_member_add(
    db: *const OneDb,
    ctx: *const OneCtx,
    member: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let args: Json = raw.json(member, "member")?;
        out.json(&run(&db, &ctx, "add_member", args)?)
    })
}

/// Ends a membership. `*out` receives the removed `member_of` connection.
///
/// # Safety
/// `person` and `group` are NUL-terminated strings; `out` points to writable storage for
/// a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_member_remove(
    db: *const OneDb,
    ctx: *const OneCtx,
    person: *const c_char,
    group: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let person: ThingId = raw.id(person, "person")?;
        let group: GroupId = raw.id(group, "group")?;
        out.json(&db.write(&ctx, |tx| tx.remove_member(person, group))?)
    })
}

/// Lists the memberships of a group, a page at a time (`page` as in
/// `one_group_children`): `*out` receives `{"items": [member_of connections], "next"}`.
///
/// # Safety
/// `group` is a NUL-terminated string, `page` NULL or one; `out` points to writable
/// storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_members(
    db: *const OneDb,
    ctx: *const OneCtx,
    group: *const c_char,
    page: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let group: GroupId = raw.id(group, "group")?;
        let args = paged(raw.optional_json(page, "page")?, group)?;
        out.json(&run(&db, &ctx, "members", args)?)
    })
}
