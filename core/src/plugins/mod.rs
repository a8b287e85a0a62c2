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
//! reopened engine loads plugins without compiling. Compiling happens only when a plugin
//! is installed or upgraded (or when the runtime can no longer use its cached code), never
//! while serving a request.
//!
//! When a thing of a plugin's type is created or updated, the plugin's `prepare` runs in
//! the same transaction; its answer is checked against the type's declared fields before
//! anything is stored. Any failure of the plugin is [`Error::PluginFailed`] and the whole
//! transaction is rolled back. After a commit, plugins that declared `reacts` hear about
//! the changes to their things and may log events about them (nothing else); their
//! failures are logged as `plugin_failed` events.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};

use one_plugin_sdk::abi::{self, Action, Change, FieldType, Manifest, Op, Prepare, Rejection};
use one_storage::{Direction, KeyRange, KvRead};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::clock::Timestamp;
use crate::base::codec::Record;
use crate::base::context::{Context, Env};
use crate::base::id::{GroupId, Ref};
use crate::base::layout::{self, StructureKeys};
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Engine, Hooks, Parts, Tx, View};
use crate::records::event::kinds;
use crate::records::thing::Thing;
use crate::{Error, Result};

pub use one_plugin_sdk::abi::{self as abi_types, Field, FieldType as FieldKind, TypeSchema};

/// The SHA-256 of a module's WASM bytes: its identity.
pub type ModuleHash = [u8; 32];

/// The largest module [`Engine::install_plugin`] accepts before asking the runtime,
/// which may set a lower limit.
pub const MAX_MODULE_BYTES: usize = 16 << 20;

/// What a module declared when it was compiled.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The plugin's answer to `describe`.
    pub manifest: Manifest,
    /// The runtime's compiled code, cached in the store and handed back to
    /// [`PluginRuntime::load`] when the engine is opened again.
    pub code: Vec<u8>,
}

/// The sandbox that runs plugin modules: the seam between core and a WASM engine.
///
/// Errors are the reason as text (`"ran out of fuel"`, `"trapped: unreachable"`); core
/// wraps them in [`Error::PluginFailed`] with the plugin's name. Implementations must
/// bound every call in time and memory and must not let one call see another's state.
pub trait PluginRuntime: Send + Sync + std::fmt::Debug {
    /// Checks `wasm` against the runtime's limits, compiles it, keeps it ready to run and
    /// asks it for its manifest. Slow; called only to install or upgrade.
    fn compile(&self, hash: &ModuleHash, wasm: &[u8]) -> std::result::Result<Compiled, String>;

    /// Makes a stored module ready to run, from `code` when that is compiled code this
    /// runtime can use, otherwise by compiling `wasm` again; returns the new code to
    /// cache in that case.
    fn load(
        &self,
        hash: &ModuleHash,
        wasm: &[u8],
        code: Option<&[u8]>,
    ) -> std::result::Result<Option<Vec<u8>>, String>;

    /// Forgets a module no tenant uses any more.
    fn unload(&self, hash: &ModuleHash);

    /// Whether the module is ready to run.
    fn is_loaded(&self, hash: &ModuleHash) -> bool;

    /// Runs the module's `prepare` hook: the properties to store, or the plugin's refusal.
    fn prepare(
        &self,
        hash: &ModuleHash,
        input: &Prepare,
    ) -> std::result::Result<std::result::Result<abi::Properties, Rejection>, String>;

    /// Runs the module's `react` hook: the actions it asks for.
    fn react(&self, hash: &ModuleHash, change: &Change)
    -> std::result::Result<Vec<Action>, String>;
}

/// An installed plugin, as stored in its tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PluginRecord {
    pub(crate) name: String,
    pub(crate) version: String,
    pub(crate) module: ModuleHash,
    pub(crate) enabled: bool,
    /// The manifest as the plugin wrote it (JSON text: its serde attributes do not suit
    /// postcard).
    pub(crate) manifest: String,
    pub(crate) installed_at: Timestamp,
    pub(crate) updated_at: Timestamp,
}

impl Record for PluginRecord {
    const NAME: &'static str = "plugin";
    const VERSION: u8 = 1;
}

/// An installed plugin, as the API shows it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// Its version text.
    pub version: String,
    /// The SHA-256 of its module, lower-case hex.
    pub module: String,
    /// Whether it runs; things of a disabled plugin's types cannot be written.
    pub enabled: bool,
    /// The thing types it defines.
    pub types: Vec<TypeSchema>,
    /// Whether it reacts to committed changes.
    pub reacts: bool,
    /// When it was first installed.
    pub installed_at: Timestamp,
    /// When it was last upgraded, enabled or disabled.
    pub updated_at: Timestamp,
}

/// The runtime attached to an engine, and the manifests of the modules it loaded.
#[derive(Debug, Default)]
pub(crate) struct Plugins {
    runtime: Option<Arc<dyn PluginRuntime>>,
    /// Parsed manifests by module (a module's manifest never changes).
    manifests: RwLock<HashMap<ModuleHash, Arc<Manifest>>>,
    /// Why a stored module could not be loaded when the engine was opened.
    broken: RwLock<HashMap<ModuleHash, String>>,
}

/// The plugin that defines a thing type, with its manifest.
#[derive(Debug, Clone)]
pub(crate) struct TypePlugin {
    record: PluginRecord,
    manifest: Arc<Manifest>,
}

/// A reaction owed after commit: a change to a thing of a reacting plugin's type.
#[derive(Debug, Clone)]
pub(crate) struct Reaction {
    root: GroupId,
    env: Env,
    plugin: String,
    module: ModuleHash,
    thing: Thing,
    event: &'static str,
}

/// Installs the plugin feature: no runtime until one is attached, and reactions owed by
/// a write heard by their plugins once it commits.
pub(crate) fn install(parts: &mut Parts, hooks: &mut Hooks) {
    parts.insert(Plugins::default());
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
}

/// The SHA-256 of `wasm`.
pub fn module_hash(wasm: &[u8]) -> ModuleHash {
    Sha256::digest(wasm).into()
}

fn failed(plugin: &str, reason: impl Into<String>) -> Error {
    Error::PluginFailed {
        plugin: plugin.to_string(),
        reason: reason.into(),
    }
}

fn parse_manifest(plugin: &str, json: &str) -> Result<Manifest> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt {
        what: "plugin manifest",
        reason: format!("{plugin}: {e}"),
    })
}

/// Checks what a module declared: names, types and fields. The plugin is named by what
/// it calls itself, since nothing else names it yet.
fn check_manifest(m: &Manifest) -> Result<()> {
    let bad = |reason: String| failed(&m.name, format!("invalid manifest: {reason}"));
    validate::type_name("plugin", &m.name).map_err(|e| bad(e.to_string()))?;
    if m.version.trim().is_empty() || m.version.len() > 64 {
        return Err(bad("the version must be 1 to 64 bytes".into()));
    }
    if m.types.is_empty() {
        return Err(bad("it defines no thing type".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for t in &m.types {
        validate::type_name("type", &t.name).map_err(|e| bad(e.to_string()))?;
        if t.name == crate::records::person::PERSON {
            return Err(bad("type `person` is the engine's own".into()));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(bad(format!("type `{}` is declared twice", t.name)));
        }
        if t.description.len() > validate::MAX_NAME_BYTES {
            return Err(bad(format!("the description of `{}` is too long", t.name)));
        }
        let mut fields = std::collections::HashSet::new();
        for f in &t.fields {
            let at = format!("`{}.{}`", t.name, f.name);
            if f.name.is_empty() || f.name.len() > validate::MAX_TYPE_BYTES || f.name.contains('.')
            {
                return Err(bad(format!(
                    "field {at}: names are 1 to 64 bytes without `.`"
                )));
            }
            if !fields.insert(f.name.as_str()) {
                return Err(bad(format!("field {at} is declared twice")));
            }
            if f.min.is_some_and(|v| !v.is_finite()) || f.max.is_some_and(|v| !v.is_finite()) {
                return Err(bad(format!("field {at}: bounds must be finite")));
            }
            if let (Some(min), Some(max)) = (f.min, f.max)
                && min > max
            {
                return Err(bad(format!("field {at}: min is above max")));
            }
        }
    }
    Ok(())
}

/// Checks `properties` against the declared fields of `schema`: the last word on what a
/// thing of a plugin's type may hold, whatever the plugin answered.
pub(crate) fn check_properties(schema: &TypeSchema, properties: &Value) -> Result<()> {
    for field in &schema.fields {
        let at = || format!("properties.{}", field.name);
        let Some(value) = properties.as_map().and_then(|m| m.get(&field.name)) else {
            if field.required {
                return Err(Error::invalid(at(), "is required"));
            }
            continue;
        };
        if value == &Value::Null && !field.required {
            continue;
        }
        let type_ok = match field.kind {
            FieldType::String => matches!(value, Value::String(_)),
            FieldType::Integer => matches!(value, Value::Int(_)),
            FieldType::Number => matches!(value, Value::Int(_) | Value::Float(_)),
            FieldType::Boolean => matches!(value, Value::Bool(_)),
            FieldType::List => matches!(value, Value::List(_)),
            FieldType::Map => matches!(value, Value::Map(_)),
            FieldType::Any => true,
        };
        if !type_ok {
            let want = serde_json::to_value(field.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Err(Error::invalid(
                at(),
                format!("must be of type {want}, not {}", value.type_name()),
            ));
        }
        if let Some(n) = value
            .as_f64()
            .filter(|_| !matches!(value, Value::String(_)))
        {
            if let Some(min) = field.min
                && n < min
            {
                return Err(Error::invalid(at(), format!("must be at least {min}")));
            }
            if let Some(max) = field.max
                && n > max
            {
                return Err(Error::invalid(at(), format!("must be at most {max}")));
            }
        }
        if let Value::String(s) = value {
            if let Some(max) = field.max_length
                && s.chars().count() > max as usize
            {
                return Err(Error::invalid(
                    at(),
                    format!("must be at most {max} characters"),
                ));
            }
            if !field.one_of.is_empty() && !field.one_of.iter().any(|v| v == s) {
                return Err(Error::invalid(
                    at(),
                    format!("must be one of {}", field.one_of.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

impl Plugins {
    fn runtime(&self, plugin: &str) -> Result<&Arc<dyn PluginRuntime>> {
        self.runtime
            .as_ref()
            .ok_or_else(|| failed(plugin, "no plugin runtime is attached to this engine"))
    }

    fn manifest(&self, record: &PluginRecord) -> Result<Arc<Manifest>> {
        if let Some(m) = self
            .manifests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&record.module)
        {
            return Ok(m.clone());
        }
        let m = Arc::new(parse_manifest(&record.name, &record.manifest)?);
        self.manifests
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.module, m.clone());
        Ok(m)
    }
}

impl Engine {
    /// Attaches the sandbox that runs plugins, and loads every installed module into it —
    /// from its cached compiled code, or by compiling it again (and caching the result)
    /// when the runtime cannot use that code. A module that fails to load does not stop
    /// the engine: writes of its types fail with [`Error::PluginFailed`] saying why.
    pub fn with_plugins(mut self, runtime: Arc<dyn PluginRuntime>) -> Result<Self> {
        let mut stored: Vec<(ModuleHash, Vec<u8>)> = Vec::new();
        let mut orphans = Vec::new();
        {
            let kv = self.store().read()?;
            kv.scan(
                &KeyRange::prefix(&layout::plugin_modules()),
                Direction::Forward,
                |k, v| {
                    let hash: ModuleHash = layout::decode_plugin_module(k)?;
                    stored.push((hash, v.to_vec()));
                    Ok::<_, Error>(ControlFlow::Continue(()))
                },
            )?;
            let mut used = Vec::with_capacity(stored.len());
            for (hash, wasm) in stored {
                if in_use(&kv, &hash)? {
                    used.push((hash, wasm));
                } else {
                    orphans.push(hash);
                }
            }
            stored = used;
        }
        let mut fresh = Vec::new();
        let mut broken = HashMap::new();
        for (hash, wasm) in &stored {
            let code = self.store().read()?.get(&layout::plugin_code(hash))?;
            match runtime.load(hash, wasm, code.as_deref()) {
                Ok(Some(code)) => fresh.push((*hash, code)),
                Ok(None) => {}
                Err(reason) => {
                    broken.insert(*hash, reason);
                }
            }
        }
        if !fresh.is_empty() || !orphans.is_empty() {
            self.transact(|kv| {
                for (hash, code) in &fresh {
                    kv.put(layout::plugin_code(hash), code.as_slice())?;
                }
                for hash in &orphans {
                    kv.delete(&layout::plugin_module(hash))?;
                    kv.delete(&layout::plugin_code(hash))?;
                }
                Ok::<_, Error>(())
            })?;
        }
        *self.part_mut::<Plugins>() = Plugins {
            runtime: Some(runtime),
            manifests: RwLock::default(),
            broken: RwLock::new(broken),
        };
        Ok(self)
    }

    /// Installs a plugin from its WASM bytes into the context's tenant, and logs
    /// `plugin_installed`. The module is checked and compiled first (outside any
    /// transaction: this is the slow part), then stored with its compiled code, so later
    /// opens do not compile it. Needs `groups:write` in the tenant's root group. Fails if
    /// a plugin of that name is installed (use [`Engine::upgrade_plugin`]) or if another
    /// plugin already defines one of its types.
    pub fn install_plugin(&self, ctx: &Context, wasm: &[u8]) -> Result<PluginInfo> {
        let (hash, compiled) = self.compile_plugin(wasm)?;
        let name = compiled.manifest.name.clone();
        let r = self.write(ctx, |tx| {
            tx.authorize_plugins()?;
            if tx.plugin_record(&name)?.is_some() {
                return Err(Error::PluginConflict {
                    plugin: name.clone(),
                    reason: "it is already installed; upgrade it instead".into(),
                });
            }
            let now = tx.now();
            let record = PluginRecord {
                name: name.clone(),
                version: compiled.manifest.version.clone(),
                module: hash,
                enabled: true,
                manifest: manifest_json(&compiled.manifest)?,
                installed_at: now,
                updated_at: now,
            };
            tx.store_plugin(&record, wasm, &compiled, &[])?;
            let meta = Value::map()
                .with("plugin", name.as_str())
                .with("version", record.version.as_str())
                .with("module", crate::base::codec::hex(&hash))
                .with("types", type_names(&compiled.manifest));
            tx.log(kinds::PLUGIN_INSTALLED, tx.scope.root, None, meta)?;
            info(&record, &compiled.manifest)
        });
        self.forget_unused(&[hash]);
        r
    }

    /// Replaces an installed plugin with a new version of it (same name), and logs
    /// `plugin_upgraded`. Types the new version no longer defines become plain types (their
    /// things stay as they are). Needs `groups:write` in the root group.
    pub fn upgrade_plugin(&self, ctx: &Context, wasm: &[u8]) -> Result<PluginInfo> {
        let (hash, compiled) = self.compile_plugin(wasm)?;
        let name = compiled.manifest.name.clone();
        let mut old_module = None;
        let r = self.write(ctx, |tx| {
            tx.authorize_plugins()?;
            let old = tx
                .plugin_record(&name)?
                .ok_or_else(|| Error::PluginNotFound {
                    plugin: name.clone(),
                })?;
            let old_manifest = self.part::<Plugins>().manifest(&old)?;
            let record = PluginRecord {
                version: compiled.manifest.version.clone(),
                module: hash,
                manifest: manifest_json(&compiled.manifest)?,
                updated_at: tx.now(),
                ..old.clone()
            };
            old_module = Some(old.module);
            tx.release_module(&old.module)?;
            tx.store_plugin(&record, wasm, &compiled, &old_manifest.types)?;
            let meta = Value::map()
                .with("plugin", name.as_str())
                .with("from", old.version.as_str())
                .with("to", record.version.as_str())
                .with("module", crate::base::codec::hex(&hash))
                .with("types", type_names(&compiled.manifest));
            tx.log(kinds::PLUGIN_UPGRADED, tx.scope.root, None, meta)?;
            info(&record, &compiled.manifest)
        });
        self.forget_unused(
            &[Some(hash), old_module]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>(),
        );
        r
    }

    /// Enables or disables an installed plugin; things of a disabled plugin's types can be
    /// read but not created or changed. Logs `plugin_enabled` or `plugin_disabled`. Needs
    /// `groups:write` in the root group.
    pub fn set_plugin_enabled(
        &self,
        ctx: &Context,
        name: &str,
        enabled: bool,
    ) -> Result<PluginInfo> {
        self.write(ctx, |tx| {
            tx.authorize_plugins()?;
            let mut record = tx
                .plugin_record(name)?
                .ok_or_else(|| Error::PluginNotFound {
                    plugin: name.to_string(),
                })?;
            let manifest = self.part::<Plugins>().manifest(&record)?;
            if record.enabled != enabled {
                record.enabled = enabled;
                record.updated_at = tx.now();
                let key = tx.scope.structure.plugin(name);
                tx.put_record(&key, &record)?;
                let kind = if enabled {
                    kinds::PLUGIN_ENABLED
                } else {
                    kinds::PLUGIN_DISABLED
                };
                tx.log(kind, tx.scope.root, None, Value::map().with("plugin", name))?;
            }
            info(&record, &manifest)
        })
    }

    /// Uninstalls a plugin and logs `plugin_removed`. Its types become plain types: their
    /// things stay, readable and writable without the plugin's checks. Needs
    /// `groups:write` in the root group.
    pub fn uninstall_plugin(&self, ctx: &Context, name: &str) -> Result<()> {
        let mut module = None;
        let r = self.write(ctx, |tx| {
            tx.authorize_plugins()?;
            let record = tx
                .plugin_record(name)?
                .ok_or_else(|| Error::PluginNotFound {
                    plugin: name.to_string(),
                })?;
            let manifest = self.part::<Plugins>().manifest(&record)?;
            for t in &manifest.types {
                let key = tx.scope.structure.plugin_type(&t.name);
                tx.delete(&key)?;
            }
            tx.undeclare_indexes(&manifest.types)?;
            let key = tx.scope.structure.plugin(name);
            tx.delete(&key)?;
            module = Some(record.module);
            tx.release_module(&record.module)?;
            let meta = Value::map()
                .with("plugin", name)
                .with("version", record.version.as_str());
            tx.log(kinds::PLUGIN_REMOVED, tx.scope.root, None, meta)
                .map(drop)
        });
        self.forget_unused(&module.into_iter().collect::<Vec<_>>());
        r
    }

    pub(crate) fn compile_plugin(&self, wasm: &[u8]) -> Result<(ModuleHash, Compiled)> {
        if wasm.len() > MAX_MODULE_BYTES {
            return Err(Error::TooLarge {
                field: "module",
                limit: MAX_MODULE_BYTES,
                actual: wasm.len(),
            });
        }
        let hash = module_hash(wasm);
        // Until it has described itself, a module is named by its hash.
        let unnamed = format!("(module {})", &crate::base::codec::hex(&hash)[..12]);
        let runtime = self.part::<Plugins>().runtime(&unnamed)?;
        let compiled = runtime
            .compile(&hash, wasm)
            .map_err(|reason| failed(&unnamed, reason))?;
        self.part::<Plugins>()
            .broken
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&hash);
        if let Err(e) = check_manifest(&compiled.manifest) {
            self.forget_unused(&[hash]);
            return Err(e);
        }
        Ok((hash, compiled))
    }

    /// Unloads the modules among `modules` that no tenant uses (after an install, upgrade
    /// or uninstall, whether it committed or not). Should another thread install one of
    /// them meanwhile, its first call loads it again from the store.
    fn forget_unused(&self, modules: &[ModuleHash]) {
        let Some(runtime) = &self.part::<Plugins>().runtime else {
            return;
        };
        let Ok(kv) = self.store().read() else {
            return;
        };
        for hash in modules {
            if matches!(in_use(&kv, hash), Ok(false)) {
                runtime.unload(hash);
                self.part::<Plugins>()
                    .manifests
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(hash);
            }
        }
    }

    /// Runs the reactions a committed transaction owes: each reacting plugin hears about
    /// the change and its actions are applied in one transaction per reaction. Failures
    /// are logged as `plugin_failed` events; they cannot undo the commit.
    pub(crate) fn react(&self, reactions: Vec<Reaction>) {
        for r in reactions {
            let outcome = self
                .part::<Plugins>()
                .runtime(&r.plugin)
                .and_then(|rt| {
                    rt.react(&r.module, &change_of(&r))
                        .map_err(|reason| failed(&r.plugin, reason))
                })
                .and_then(|actions| self.apply_actions(&r, actions));
            if let Err(e) = outcome {
                let meta = Value::map()
                    .with("plugin", r.plugin.as_str())
                    .with("hook", "react")
                    .with("reason", e.to_string());
                let ctx = Context::system(r.thing.group).with_env(r.env);
                // If even this fails the store is failing; the commit it follows stands.
                let _ = self.write(&ctx, |tx| {
                    tx.log(
                        kinds::PLUGIN_FAILED,
                        r.thing.group,
                        Some(Ref::from(r.thing.id)),
                        meta,
                    )
                    .map(drop)
                });
            }
        }
    }

    fn apply_actions(&self, r: &Reaction, actions: Vec<Action>) -> Result<()> {
        if actions.is_empty() {
            return Ok(());
        }
        if actions.len() > MAX_ACTIONS {
            return Err(failed(
                &r.plugin,
                format!(
                    "asked for {} actions, at most {MAX_ACTIONS} are allowed",
                    actions.len()
                ),
            ));
        }
        let ctx = Context::system(r.thing.group).with_env(r.env);
        self.write(&ctx, |tx| {
            debug_assert_eq!(tx.scope.root, r.root);
            for action in actions {
                match action {
                    Action::LogEvent { kind, data } => {
                        validate::type_name("kind", &kind)
                            .map_err(|e| failed(&r.plugin, e.to_string()))?;
                        if kinds::is_builtin(&kind) {
                            return Err(failed(
                                &r.plugin,
                                format!("may not log the engine's own event type `{kind}`"),
                            ));
                        }
                        let meta = Value::from(serde_json::Value::Object(data))
                            .with("plugin", r.plugin.as_str());
                        let meta = validate::map_value("metadata", meta)
                            .map_err(|e| failed(&r.plugin, e.to_string()))?;
                        tx.log(&kind, r.thing.group, Some(Ref::from(r.thing.id)), meta)?;
                    }
                }
            }
            Ok(())
        })
    }
}

/// The most follow-up actions one reaction may ask for.
pub const MAX_ACTIONS: usize = 16;

pub(crate) fn manifest_json(m: &Manifest) -> Result<String> {
    serde_json::to_string(m).map_err(|e| failed(&m.name, format!("manifest: {e}")))
}

fn type_names(m: &Manifest) -> Value {
    Value::List(
        m.types
            .iter()
            .map(|t| Value::from(t.name.as_str()))
            .collect(),
    )
}

fn info(record: &PluginRecord, manifest: &Manifest) -> Result<PluginInfo> {
    Ok(PluginInfo {
        name: record.name.clone(),
        version: record.version.clone(),
        module: crate::base::codec::hex(&record.module),
        enabled: record.enabled,
        types: manifest.types.clone(),
        reacts: manifest.reacts,
        installed_at: record.installed_at,
        updated_at: record.updated_at,
    })
}

fn change_of(r: &Reaction) -> Change {
    Change {
        event: r.event.to_string(),
        thing: r.thing.id.to_string(),
        group: r.thing.group.to_string(),
        kind: r.thing.kind.clone(),
        name: r.thing.name.clone(),
        properties: json_map(&r.thing.properties),
    }
}

fn json_map(v: &Value) -> abi::Properties {
    match v.to_json() {
        serde_json::Value::Object(m) => m,
        _ => abi::Properties::new(),
    }
}

/// Whether any tenant uses `module`.
fn in_use(kv: &impl KvRead, module: &ModuleHash) -> Result<bool> {
    let mut found = false;
    kv.scan(
        &KeyRange::prefix(&layout::module_users(module)),
        Direction::Forward,
        |_, _| {
            found = true;
            Ok::<_, Error>(ControlFlow::Break(()))
        },
    )?;
    Ok(found)
}

fn plugin_records(kv: &impl KvRead, keys: &StructureKeys) -> Result<Vec<PluginRecord>> {
    let mut out = Vec::new();
    kv.scan(
        &KeyRange::prefix(&keys.plugins()),
        Direction::Forward,
        |_, v| {
            out.push(crate::base::codec::decode(v)?);
            Ok::<_, Error>(ControlFlow::Continue(()))
        },
    )?;
    Ok(out)
}

impl<K: KvRead> View<'_, K> {
    /// The plugins installed in the context's tenant. Needs `things:read` in the context's
    /// group (the types they define are what things may be).
    pub fn plugins(&self) -> Result<Vec<PluginInfo>> {
        self.authorize(
            crate::access::policy::Op::ListThings,
            self.scope.ctx.group(),
        )?;
        plugin_records(self.kv, &self.scope.structure)?
            .iter()
            .map(|r| info(r, &*self.engine.part::<Plugins>().manifest(r)?))
            .collect()
    }

    /// The thing types enabled plugins define in the context's tenant, with their declared
    /// fields: what a user interface can show and check. Needs `things:read`.
    pub fn thing_types(&self) -> Result<Vec<TypeSchema>> {
        Ok(self
            .plugins()?
            .into_iter()
            .filter(|p| p.enabled)
            .flat_map(|p| p.types)
            .collect())
    }
}

impl Tx<'_, '_> {
    fn authorize_plugins(&self) -> Result<()> {
        self.view()
            .authorize(crate::access::policy::Op::ManagePlugins, self.scope.root)
    }

    pub(crate) fn plugin_record(&self, name: &str) -> Result<Option<PluginRecord>> {
        self.view().get_record(&self.scope.structure.plugin(name))
    }

    /// Writes a plugin's record, its module and code (if new), its tenant's use of the
    /// module and its type bindings, replacing the bindings of `old_types`. Declared
    /// indexes of its fields are created.
    pub(crate) fn store_plugin(
        &mut self,
        record: &PluginRecord,
        wasm: &[u8],
        compiled: &Compiled,
        old_types: &[TypeSchema],
    ) -> Result<()> {
        for t in old_types {
            let key = self.scope.structure.plugin_type(&t.name);
            self.delete(&key)?;
        }
        self.undeclare_indexes(old_types)?;
        for t in &compiled.manifest.types {
            let key = self.scope.structure.plugin_type(&t.name);
            if let Some(owner) = self.kv.get(&key)?
                && owner != record.name.as_bytes()
            {
                return Err(Error::PluginConflict {
                    plugin: record.name.clone(),
                    reason: format!(
                        "type `{}` is defined by plugin `{}`",
                        t.name,
                        String::from_utf8_lossy(&owner)
                    ),
                });
            }
            self.put(key, record.name.as_bytes())?;
            for f in t.fields.iter().filter(|f| f.indexed) {
                let path = format!("properties.{}", f.name);
                crate::records::index::declare_for_tenant(
                    self.kv,
                    self.scope.root,
                    &t.name,
                    &path,
                )?;
                self.locals.take::<crate::records::index::IndexCache>();
            }
        }
        let module_key = layout::plugin_module(&record.module);
        if !self.kv.contains(&module_key)? {
            self.put(module_key, wasm)?;
            self.put(
                layout::plugin_code(&record.module),
                compiled.code.as_slice(),
            )?;
        }
        self.put(layout::module_user(&record.module, self.scope.root), [])?;
        let key = self.scope.structure.plugin(&record.name);
        self.put_record(&key, record)
    }

    /// Removes this tenant's indexes of the indexed fields of `types` (and their entries).
    fn undeclare_indexes(&mut self, types: &[TypeSchema]) -> Result<()> {
        for t in types {
            for f in t.fields.iter().filter(|f| f.indexed) {
                let path = format!("properties.{}", f.name);
                crate::records::index::undeclare_for_tenant(
                    self.kv,
                    self.scope.root,
                    &t.name,
                    &path,
                )?;
                self.locals.take::<crate::records::index::IndexCache>();
            }
        }
        Ok(())
    }

    /// Drops this tenant's use of a module; removes the module and its code if no tenant
    /// uses it any more.
    fn release_module(&mut self, module: &ModuleHash) -> Result<()> {
        self.delete(&layout::module_user(module, self.scope.root))?;
        if !in_use(&*self.kv, module)? {
            self.delete(&layout::plugin_module(module))?;
            self.delete(&layout::plugin_code(module))?;
        }
        Ok(())
    }

    /// The plugin that defines `kind` in this tenant, if one does, enabled or not.
    pub(crate) fn plugin_of(&self, kind: &str) -> Result<Option<TypePlugin>> {
        let Some(name) = self.kv.get(&self.scope.structure.plugin_type(kind))? else {
            return Ok(None);
        };
        let name = String::from_utf8(name).map_err(|e| Error::Corrupt {
            what: "plugin type binding",
            reason: e.to_string(),
        })?;
        let record = self.plugin_record(&name)?.ok_or_else(|| Error::Corrupt {
            what: "plugin type binding",
            reason: format!("type `{kind}` names plugin `{name}`, which is not installed"),
        })?;
        let manifest = self.engine.part::<Plugins>().manifest(&record)?;
        Ok(Some(TypePlugin { record, manifest }))
    }

    /// Makes sure the runtime has `plugin`'s module: a module can be missing if it failed
    /// to load when the engine opened (an error saying why), or if it was unloaded while
    /// another tenant installed it (loaded again here, from the stored code).
    fn ensure_loaded(&self, plugin: &PluginRecord) -> Result<&Arc<dyn PluginRuntime>> {
        let plugins = self.engine.part::<Plugins>();
        let runtime = plugins.runtime(&plugin.name)?;
        if let Some(reason) = plugins
            .broken
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&plugin.module)
        {
            return Err(failed(
                &plugin.name,
                format!("could not be loaded: {reason}"),
            ));
        }
        if !runtime.is_loaded(&plugin.module) {
            let wasm = self
                .kv
                .get(&layout::plugin_module(&plugin.module))?
                .ok_or_else(|| Error::Corrupt {
                    what: "plugin module",
                    reason: format!("the module of plugin `{}` is missing", plugin.name),
                })?;
            let code = self.kv.get(&layout::plugin_code(&plugin.module))?;
            runtime
                .load(&plugin.module, &wasm, code.as_deref())
                .map_err(|reason| failed(&plugin.name, format!("could not be loaded: {reason}")))?;
        }
        Ok(runtime)
    }

    /// Has the plugin that defines `thing`'s type (if any) validate and normalise its
    /// properties, then checks them against the type's declared fields. `previous` is the
    /// stored version, for an update. Returns the plugin, for [`Tx::owe_reaction`].
    pub(crate) fn prepare_thing(
        &mut self,
        thing: &mut Thing,
        previous: Option<&Thing>,
    ) -> Result<Option<TypePlugin>> {
        let Some(plugin) = self.plugin_of(&thing.kind)? else {
            return Ok(None);
        };
        let record = &plugin.record;
        if !record.enabled {
            return Err(failed(&record.name, "is disabled"));
        }
        let input = Prepare {
            op: if previous.is_some() {
                Op::Update
            } else {
                Op::Create
            },
            kind: thing.kind.clone(),
            name: thing.name.clone(),
            properties: json_map(&thing.properties),
            previous: previous.map(|p| json_map(&p.properties)),
        };
        let answer = self
            .ensure_loaded(record)?
            .prepare(&record.module, &input)
            .map_err(|reason| failed(&record.name, reason))?;
        let properties = match answer {
            Ok(p) => Value::from(serde_json::Value::Object(p)),
            Err(rejection) => {
                let field = rejection
                    .field
                    .map_or_else(|| "properties".to_string(), |f| format!("properties.{f}"));
                return Err(Error::invalid(field, rejection.message));
            }
        };
        // The input passed these checks before the plugin saw it: a failure now is the
        // plugin's answer.
        thing.properties = validate::map_value("properties", properties).map_err(|e| {
            failed(
                &record.name,
                format!("answered properties that cannot be stored: {e}"),
            )
        })?;
        if let Some(schema) = plugin.manifest.types.iter().find(|t| t.name == thing.kind) {
            check_properties(schema, &thing.properties)?;
        }
        Ok(Some(plugin))
    }

    /// Notes that `thing` changed, for `plugin` (the one of its type, if any) to hear
    /// after commit if it is enabled and reacts.
    pub(crate) fn owe_reaction(
        &mut self,
        thing: &Thing,
        event: &'static str,
        plugin: Option<TypePlugin>,
    ) {
        let Some(TypePlugin { record, manifest }) = plugin else {
            return;
        };
        if record.enabled && manifest.reacts {
            self.locals.get::<Vec<Reaction>>().push(Reaction {
                root: self.scope.root,
                env: self.scope.ctx.env(),
                plugin: record.name,
                module: record.module,
                thing: thing.clone(),
                event,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use one_plugin_sdk::abi::Field;

    fn schema() -> TypeSchema {
        TypeSchema::new("product", "")
            .field(Field::number("price").required().min(0.0))
            .field(
                Field::string("currency")
                    .max_length(3)
                    .one_of(["EUR", "USD"]),
            )
            .field(Field::integer("stock"))
    }

    fn props(json: serde_json::Value) -> Value {
        Value::from(json)
    }

    #[test]
    fn properties_are_checked_against_declared_fields() {
        let s = schema();
        assert!(
            check_properties(
                &s,
                &props(
                    serde_json::json!({"price": 3.5, "currency": "EUR", "stock": 2, "extra": true})
                )
            )
            .is_ok()
        );
        let cases = [
            (serde_json::json!({}), "properties.price", "required"),
            (
                serde_json::json!({"price": -1}),
                "properties.price",
                "at least 0",
            ),
            (
                serde_json::json!({"price": "1"}),
                "properties.price",
                "type number",
            ),
            (
                serde_json::json!({"price": 1, "currency": "EURO"}),
                "properties.currency",
                "3 characters",
            ),
            (
                serde_json::json!({"price": 1, "currency": "GBP"}),
                "properties.currency",
                "one of",
            ),
            (
                serde_json::json!({"price": 1, "stock": 1.5}),
                "properties.stock",
                "type integer",
            ),
        ];
        for (json, field, reason) in cases {
            match check_properties(&s, &props(json.clone())) {
                Err(Error::InvalidField {
                    field: f,
                    reason: r,
                }) => {
                    assert_eq!(f, field, "{json}");
                    assert!(r.contains(reason), "{json}: {r}");
                }
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn manifests_with_bad_names_or_bounds_are_refused() {
        let ok = Manifest {
            name: "shop".into(),
            version: "1".into(),
            types: vec![schema()],
            reacts: false,
        };
        assert!(check_manifest(&ok).is_ok());
        let mut bad = Vec::new();
        bad.push(Manifest {
            name: "Shop".into(),
            ..ok.clone()
        });
        bad.push(Manifest {
            version: String::new(),
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![TypeSchema::new("person", "")],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![schema(), schema()],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![TypeSchema::new("t", "").field(Field::number("n").min(2.0).max(1.0))],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![TypeSchema::new("t", "").field(Field::number("a.b"))],
            ..ok.clone()
        });
        for m in bad {
            assert!(
                matches!(check_manifest(&m), Err(Error::PluginFailed { .. })),
                "{m:?}"
            );
        }
    }
}
