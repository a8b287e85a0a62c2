//! Installing and managing plugins (WASM modules that define thing types).

use std::ffi::{c_char, c_int};

use one::{Context, Engine, PluginInfo};

use crate::boundary::{self, OneCtx, OneDb, Outcome, Raw, exported};

/// Installs a plugin from the `len` bytes of its WASM module into the context's tenant
/// (the context needs `groups:write` at the tenant's root). `*out` receives the plugin.
/// `len` is at most 16 MiB (`MAX_MODULE_BYTES`); a larger one (such as a failed `ftell`'s
/// `(size_t)-1`) is `ONE_INVALID` before the buffer is read.
///
/// # Safety
/// `wasm` points to `len` readable bytes; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_plugin_install(
    db: *const OneDb,
    ctx: *const OneCtx,
    wasm: *const u8,
    len: usize,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| with_module(&raw, db, ctx, wasm, len, out, Engine::install_plugin))
}

/// Replaces an installed plugin by a new version of it (the module names the plugin).
/// `*out` receives the plugin. `len` is bounded as for `one_plugin_install`.
///
/// # Safety
/// `wasm` points to `len` readable bytes; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_plugin_upgrade(
    db: *const OneDb,
    ctx: *const OneCtx,
    wasm: *const u8,
    len: usize,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| with_module(&raw, db, ctx, wasm, len, out, Engine::upgrade_plugin))
}

/// Runs `op` on a module argument as the context; `*out` receives the plugin.
fn with_module(
    raw: &Raw,
    db: *const OneDb,
    ctx: *const OneCtx,
    wasm: *const u8,
    len: usize,
    out: *mut *mut c_char,
    op: fn(&Engine, &Context, &[u8]) -> one::Result<PluginInfo>,
) -> Outcome {
    let (db, ctx, out) = raw.call(db, ctx, out)?;
    let wasm = raw.bytes(wasm, len, one::plugins::MAX_MODULE_BYTES, "wasm")?;
    let p = op(db.engine(), &ctx, wasm)?;
    out.json(&p)
}

/// Enables (`enabled` non-zero) or disables a plugin; things of a disabled plugin's types
/// cannot be written. `*out` receives the plugin.
///
/// # Safety
/// `name` is a NUL-terminated string; `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_plugin_set_enabled(
    db: *const OneDb,
    ctx: *const OneCtx,
    name: *const c_char,
    enabled: c_int,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let name = raw.text(name, "name")?;
        let p = db.engine().set_plugin_enabled(&ctx, name, enabled != 0)?;
        out.json(&p)
    })
}

/// Uninstalls a plugin. Things of its types stay, and cannot be written until a plugin
/// defines the type again.
///
/// # Safety
/// `name` is a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_plugin_uninstall(
    db: *const OneDb,
    ctx: *const OneCtx,
    name: *const c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx) = (boundary::db(db)?, boundary::ctx(ctx)?);
        let name = raw.text(name, "name")?;
        Ok(db.engine().uninstall_plugin(&ctx, name)?)
    })
}

/// Lists the plugins installed in the context's tenant.
///
/// # Safety
/// `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_plugins(
    db: *const OneDb,
    ctx: *const OneCtx,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let (db, ctx, out) = raw.call(db, ctx, out)?;
        let plugins = db.read(&ctx, |v| v.plugins())?;
        out.json(&plugins)
    })
}
