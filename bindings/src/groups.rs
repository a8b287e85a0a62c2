//! Tenants and groups, people and their memberships, and usage.

use std::ffi::{c_char, c_int};

use one::serde_json::Value as Json;
use one::{GroupId, GroupType, GroupUpdate, NewGroup, NewPerson, ThingId};
use serde::Deserialize;

use crate::boundary::{self, OneCtx, OneDb, exported, parse_id};
use crate::json as to_json;
use crate::requests::{PageRequest, group_status, value};

/// `{"type": "business", "name": "Acme", "slug": "acme", "properties": {…}, "status": "active"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupRequest {
    #[serde(rename = "type")]
    kind: String,
    name: String,
    slug: String,
    properties: Option<Json>,
    status: Option<String>,
}

impl GroupRequest {
    fn build(self) -> Result<NewGroup, boundary::Failure> {
        let mut new = NewGroup::new(self.kind.parse::<GroupType>()?, self.name, self.slug);
        if let Some(p) = value(self.properties) {
            new = new.properties(p);
        }
        if let Some(s) = self.status {
            new = new.status(group_status(&s)?);
        }
        Ok(new)
    }
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
        let request: GroupRequest = raw.json(group, "group")?;
        let g = db.admin().create_root_group(request.build()?)?;
        out.json(&to_json::group(&g))
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
        let request: GroupRequest = raw.json(group, "group")?;
        let new = request.build()?;
        let g = db.write(&ctx, |tx| tx.create_group(parent, new))?;
        out.json(&to_json::group(&g))
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
        let g = db.read(&ctx, |v| v.get_group(group))?;
        out.json(&to_json::group(&g))
    })
}

/// `{"name", "slug", "parent", "status", "properties"}`, each optional; `properties` is
/// merged into the stored map (a `null` value removes a key).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupUpdateRequest {
    name: Option<String>,
    slug: Option<String>,
    parent: Option<String>,
    status: Option<String>,
    properties: Option<Json>,
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
        let request: GroupUpdateRequest = raw.json(update, "update")?;
        let mut change = GroupUpdate::default();
        if let Some(name) = request.name {
            change = change.name(name);
        }
        if let Some(slug) = request.slug {
            change = change.slug(slug);
        }
        if let Some(parent) = request.parent {
            change = change.parent(parse_id(&parent)?);
        }
        if let Some(status) = request.status {
            change = change.status(group_status(&status)?);
        }
        if let Some(patch) = value(request.properties) {
            change = change.properties(patch);
        }
        let g = db.write(&ctx, |tx| tx.update_group(group, change))?;
        out.json(&to_json::group(&g))
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
        let page: PageRequest = raw.optional_json(page, "page")?;
        let cursor = page.cursor();
        let p = db.read(&ctx, |v| v.children(group, page.limit, cursor.as_ref()))?;
        out.json(&to_json::page(&p, to_json::group))
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
        let usage = db.read(&ctx, |v| v.usage(group))?;
        out.json(&to_json::list(&usage, to_json::usage))
    })
}

/// `{"email", "name", "role", "properties", "group"}`; `role`, `properties` and `group`
/// (default: the context's) are optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PersonRequest {
    email: String,
    name: String,
    role: Option<String>,
    properties: Option<Json>,
    group: Option<String>,
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
        let request: PersonRequest = raw.json(person, "person")?;
        let mut new = NewPerson::new(request.email, request.name);
        if let Some(role) = request.role {
            new = new.role(role);
        }
        if let Some(p) = value(request.properties) {
            new = new.properties(p);
        }
        if let Some(g) = request.group {
            new = new.in_group(parse_id(&g)?);
        }
        let p = db.write(&ctx, |tx| tx.create_person(new))?;
        out.json(&to_json::thing(&p))
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
        let p = db.read(&ctx, |v| v.person_by_email(email))?;
        out.json(&to_json::thing(&p))
    })
}

/// `{"person", "group", "role", "permissions": ["things:read", …]}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberRequest {
    person: String,
    group: String,
    role: String,
    #[serde(default)]
    permissions: Vec<String>,
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
        let request: MemberRequest = raw.json(member, "member")?;
        let person: ThingId = parse_id(&request.person)?;
        let group: GroupId = parse_id(&request.group)?;
        let permissions: Vec<&str> = request.permissions.iter().map(String::as_str).collect();
        let c = db.write(&ctx, |tx| {
            tx.add_member(person, group, &request.role, &permissions)
        })?;
        out.json(&to_json::connection(&c))
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
        let c = db.write(&ctx, |tx| tx.remove_member(person, group))?;
        out.json(&to_json::connection(&c))
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
        let page: PageRequest = raw.optional_json(page, "page")?;
        let cursor = page.cursor();
        let p = db.read(&ctx, |v| v.members(group, page.limit, cursor.as_ref()))?;
        out.json(&to_json::page(&p, to_json::connection))
    })
}
