//! Keeping a database sound and moving it: the integrity check, backups, and export and
//! import of a group's subtree as JSON lines (files named by path).

use one::serde_json::json;
use one::{GroupId, ImportInto};
use std::ffi::{c_char, c_int};

use crate::boundary::{self, OneCtx, OneDb, exported};

/// Verifies the whole database (`Engine::check`): `*out` receives `{"ok", "tenants",
/// "records", "entries", "problem_count", "problems": [text]}` (at most 1,000 problems
/// listed). A damaged database is `ONE_OK` with `"ok": false`; an error means the check
/// could not run.
///
/// # Safety
/// `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_check(db: *const OneDb, out: *mut *mut c_char) -> c_int {
    exported!(|raw| {
        let out = raw.out(out)?;
        let r = boundary::db(db)?.engine().check()?;
        out.json(&json!({
            "ok": r.is_ok(),
            "tenants": r.tenants,
            "records": r.records,
            "entries": r.entries,
            "problem_count": r.problem_count,
            "problems": r.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))
    })
}

/// Writes a consistent copy of the database to a new file at `path` while writers go on
/// (`Engine::backup`); never overwrites a file. `*seq` receives the commit number the
/// copy holds.
///
/// # Safety
/// `path` is a NUL-terminated string; `seq` points to writable storage for a `uint64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_backup(db: *const OneDb, path: *const c_char, seq: *mut u64) -> c_int {
    exported!(|raw| {
        let seq = raw.out_u64(seq, "seq")?;
        let db = boundary::db(db)?;
        let path = raw.text(path, "path")?;
        seq.set(db.engine().backup(path)?);
        Ok(())
    })
}

/// Writes `group` and everything below it to a new file at `path` as versioned JSON lines
/// (`Engine::export`). `*out` receives `{"group", "lines", "groups", "things",
/// "connections", "knowledge", "events", "api_keys", "plugins", "connections_left_out"}`.
///
/// # Safety
/// `group` and `path` are NUL-terminated strings; `out` points to writable storage for a
/// pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_export(
    db: *const OneDb,
    ctx: *const OneCtx,
    group: *const c_char,
    path: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let group: GroupId = raw.id(group, "group")?;
        let path = raw.text(path, "path")?;
        out.json(&(db.engine().export_file(&ctx, group, path)?))
    })
}

/// Restores an export from the file at `path` (`Admin::import`), keeping its ids: as a
/// new tenant when `under` is NULL, otherwise below the group `under`. All or nothing.
/// `*out` receives the same counts as `one_export`.
///
/// # Safety
/// `path` is a NUL-terminated string, `under` NULL or one; `out` points to writable
/// storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_import(
    db: *const OneDb,
    path: *const c_char,
    under: *const c_char,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let out = raw.out(out)?;
        let db = boundary::db(db)?;
        let path = raw.text(path, "path")?;
        let into = match raw.optional_text(under, "under")? {
            Some(g) => ImportInto::Under(boundary::parse_id(g)?),
            None => ImportInto::NewTenant,
        };
        out.json(&(db.admin().import_file(path, into)?))
    })
}
