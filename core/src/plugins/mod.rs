//! Plugins: custom thing types defined by untrusted WASM modules, installed per tenant.
//!
//! Core owns every rule about plugins — who may install them, where they are stored, which
//! type belongs to which plugin, the schema check of properties, what a reaction may do —
//! and reaches the sandbox only through [`PluginRuntime`], which `one-plugins` implements
//! with wasmtime. Core never links a WASM engine.
//!
//! A plugin is installed into one root tenant (and serves all of its groups and both
//! environments); installing needs `groups:write` in the root group. The module's bytes
//! are stored once per distinct module (`M w <sha256>`), with the list of tenants using
//! them (`D p`), and the runtime's compiled code is cached beside them (`M c`), so a
//! reopened engine loads plugins without compiling. Compiling happens when a plugin is
//! installed or upgraded, and when the runtime can no longer use a module's cached code
//! (another wasmtime): then on a thread of its own, never in `with_plugins` or a request;
//! its types' writes answer "is compiling" until it is ready, and the new code is cached
//! at the next flush.
//!
//! When a thing of a plugin's type is created or updated, the plugin's `prepare` runs in
//! the same transaction, where it may read the tenant's records (`reads.rs`: with the
//! caller's permissions, within what the tenant granted the plugin); its answer is checked
//! against the type's declared fields before anything is stored. Connections and events
//! of the types a plugin declares are checked against their declarations (`declared.rs`). Any failure of the plugin is [`crate::Error::PluginFailed`] and the whole
//! transaction is rolled back. After a commit, plugins that declared `reacts` hear about
//! the changes to their things and may log events about them (nothing else); their
//! failures are logged as `plugin_failed` events.

mod bindings;
mod declared;
mod hooks;
mod lifecycle;
mod reads;
mod runtime;
mod schema;

pub use hooks::MAX_ACTIONS;
pub use lifecycle::PluginInfo;
pub(crate) use lifecycle::PluginRecord;
pub use runtime::{
    ChangeInput, Compiled, HostAnswer, HostReads, MAX_MODULE_BYTES, ModuleHash, PluginRuntime,
    PrepareInput, ReadThing, ReadValue, module_hash,
};
pub(crate) use schema::{asked, manifest_json, noun};

pub use one_plugin_sdk::abi::{
    self as abi_types, ConnectionSchema, EventSchema, Field, FieldType as FieldKind, TypeSchema,
};

use crate::kernel::{Hooks, Parts};
use hooks::Reaction;
use runtime::Plugins;

/// Installs the plugin feature: no runtime until one is attached, and reactions owed by
/// a write heard by their plugins once it commits.
pub(crate) fn install(parts: &mut Parts, hooks: &mut Hooks) {
    parts.insert(Plugins::default());
    bindings::install(parts, hooks);
    lifecycle::install(hooks);
    // A write's reactions are owed only if its closure succeeded...
    hooks.settle.push(|tx| {
        if let Some(mut owed) = tx.locals.take::<Vec<Reaction>>() {
            tx.after.leftovers.get::<Vec<Reaction>>().append(&mut owed);
        }
        Ok(())
    });
    // ...and its transaction committed.
    hooks.end.push(|engine, after, committed| {
        if let Some(reactions) = after.leftovers.take::<Vec<Reaction>>()
            && committed
        {
            engine.react(reactions);
        }
    });
    // Code compiled again in the background is cached before the store syncs or closes.
    hooks.flush.push(|engine| {
        let fresh = std::mem::take(
            &mut *engine
                .part::<Plugins>()
                .recompiling
                .fresh
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        if fresh.is_empty() {
            return Ok(());
        }
        engine.transact(|kv| {
            for (hash, code) in &fresh {
                // A module uninstalled meanwhile keeps no code.
                if one_storage::KvRead::contains(&*kv, &crate::base::layout::plugin_module(hash))? {
                    kv.put(crate::base::layout::plugin_code(hash), code.as_slice())?;
                }
            }
            Ok(())
        })
    });
}
