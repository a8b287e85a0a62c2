//! Installing, upgrading, enabling, disabling and uninstalling plugins per tenant, and
//! where their modules, compiled code and type bindings are stored.

pub use one_vocabulary::plugins::PluginInfo;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::{Arc, RwLock};

use one_plugin_sdk::abi::Manifest;
use one_storage::{Direction, KeyRange, KvRead};
use serde::{Deserialize, Serialize};

use super::runtime::Compiled;
use super::runtime::MAX_MODULE_BYTES;
use super::runtime::ModuleHash;
use super::runtime::PluginRuntime;
use super::runtime::Plugins;
use super::runtime::Recompiling;
use super::runtime::failed;
use super::runtime::module_hash;
use super::schema::asked;
use super::schema::check_manifest;
use super::schema::declared;
use super::schema::manifest_json;
use super::schema::noun;
use super::schema::type_names;
use crate::access::plugins::principal_of;
use crate::base::clock::Timestamp;
use crate::base::codec::Record;
use crate::base::context::Context;
use crate::base::id::GroupId;
use crate::base::layout::{self, StructureKeys};
use crate::base::permission::PermissionSet;
use crate::base::value::Value;
use crate::kernel::{AfterTx, Engine, Scope, Tx, View};
use crate::records::event::kinds;
use crate::{Error, Result};
use one_plugin_sdk::abi::TypeSchema;
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

/// How the API shows `record`, a plugin of the tenant rooted at `root`.
pub(crate) fn info(
    root: GroupId,
    record: &PluginRecord,
    manifest: &Manifest,
    granted: PermissionSet,
) -> Result<PluginInfo> {
    Ok(PluginInfo {
        principal: principal_of(root, &record.name),
        asks: manifest.permissions.clone(),
        granted: granted.names(),
        name: record.name.clone(),
        version: record.version.clone(),
        module: crate::base::codec::hex(&record.module),
        enabled: record.enabled,
        types: manifest.types.clone(),
        connections: manifest.connections.clone(),
        events: manifest.events.clone(),
        reacts: manifest.reacts,
        installed_at: record.installed_at,
        updated_at: record.updated_at,
    })
}

/// Whether any tenant uses `module`.
pub(crate) fn in_use(kv: &impl KvRead, module: &ModuleHash) -> Result<bool> {
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

pub(crate) fn plugin_records(kv: &impl KvRead, keys: &StructureKeys) -> Result<Vec<PluginRecord>> {
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

/// Installs the plugins' open hook: the index of plugin principals of files written
/// before plugins had principals.
pub(crate) fn install(hooks: &mut crate::kernel::Hooks) {
    hooks.open.push(index_principals_once);
}

/// Indexes the principal of every enabled plugin once, for a database written before
/// plugins had principals (`access/plugins.rs`).
fn index_principals_once(engine: &Engine) -> Result<()> {
    // A read-only store is never written; no reaction runs there either.
    let store = engine.store();
    if store.is_read_only()
        || store
            .read()?
            .get(&layout::plugin_principals_indexed())?
            .is_some()
    {
        return Ok(());
    }
    engine.transact(|kv| {
        for root in crate::records::group::tenant_roots(&*kv)? {
            let scope = Scope::new(Context::system(root), root);
            engine.write_in(kv, scope, &mut AfterTx::default(), |tx| {
                for record in plugin_records(&*tx.kv, &tx.scope.structure)? {
                    tx.set_plugin_principal(&record.name, record.enabled)?;
                }
                Ok(())
            })?;
        }
        kv.put(layout::plugin_principals_indexed(), [1])?;
        Ok(())
    })
}

impl Engine {
    /// Attaches the sandbox that runs plugins, and loads every installed module into it
    /// from its cached compiled code. A module whose code the runtime cannot use (another
    /// version, another configuration) is compiled again on a thread of its own, so this
    /// never waits for a compiler: until it is ready, writes of its types fail with
    /// [`Error::PluginFailed`] saying it is compiling; its new code is cached at the next
    /// sync, backup or close. A module that fails to load does not stop the engine:
    /// writes of its types fail with [`Error::PluginFailed`] saying why.
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
        let broken: Arc<RwLock<HashMap<ModuleHash, String>>> = Arc::default();
        let recompiling: Arc<Recompiling> = Arc::default();
        for (hash, wasm) in stored {
            let code = self.store().read()?.get(&layout::plugin_code(&hash))?;
            if code.is_some_and(|c| runtime.load_compiled(&hash, &c)) {
                continue;
            }
            // The stored code is not this runtime's (another wasmtime, another
            // configuration): compile again on a thread of its own; its types' writes
            // answer "compiling" until it is ready.
            recompiling
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash);
            let (rt, broken_then, state) = (runtime.clone(), broken.clone(), recompiling.clone());
            let spawned = std::thread::Builder::new()
                .name("one-plugin-compile".into())
                .spawn(move || {
                    match rt.load(&hash, &wasm, None) {
                        Ok(Some(code)) => state
                            .fresh
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((hash, code)),
                        Ok(None) => {}
                        Err(reason) => {
                            broken_then
                                .write()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(hash, reason);
                        }
                    }
                    state
                        .pending
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&hash);
                });
            if let Err(e) = spawned {
                recompiling
                    .pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&hash);
                broken
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(hash, format!("cannot start compiling it: {e}"));
            }
        }
        if !orphans.is_empty() {
            self.transact(|kv| {
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
            broken,
            recompiling,
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
            tx.store_plugin(&record, wasm, &compiled, None)?;
            // The installer consents to what the plugin asks for, as far as it holds it.
            let held = tx.view().permissions_in(tx.scope.root)?;
            let granted = asked(&compiled.manifest)?.intersection(held);
            tx.store_grants(&name, granted)?;
            let meta = Value::map()
                .with("plugin", name.as_str())
                .with("version", record.version.as_str())
                .with("module", crate::base::codec::hex(&hash))
                .with("types", type_names(&compiled.manifest))
                .with("granted", granted.names());
            tx.log(kinds::PLUGIN_INSTALLED, tx.scope.root, None, meta)?;
            info(tx.scope.root, &record, &compiled.manifest, granted)
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
            let (old, old_manifest) = tx.managed_plugin(&name)?;
            let record = PluginRecord {
                version: compiled.manifest.version.clone(),
                module: hash,
                manifest: manifest_json(&compiled.manifest)?,
                updated_at: tx.now(),
                ..old.clone()
            };
            old_module = Some(old.module);
            tx.release_module(&old.module)?;
            tx.store_plugin(&record, wasm, &compiled, Some(&old_manifest))?;
            // A new version keeps what was granted and it still asks for; more is granted
            // only by the tenant (`grant_plugin`).
            let granted = tx
                .view()
                .plugin_grants(&name)?
                .intersection(asked(&compiled.manifest)?);
            tx.store_grants(&name, granted)?;
            let meta = Value::map()
                .with("plugin", name.as_str())
                .with("from", old.version.as_str())
                .with("to", record.version.as_str())
                .with("module", crate::base::codec::hex(&hash))
                .with("types", type_names(&compiled.manifest));
            tx.log(kinds::PLUGIN_UPGRADED, tx.scope.root, None, meta)?;
            info(tx.scope.root, &record, &compiled.manifest, granted)
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
            let (mut record, manifest) = tx.managed_plugin(name)?;
            if record.enabled != enabled {
                record.enabled = enabled;
                record.updated_at = tx.now();
                let key = tx.scope.structure.plugin(name);
                tx.put_record(&key, &record)?;
                tx.set_plugin_principal(name, enabled)?;
                let kind = if enabled {
                    kinds::PLUGIN_ENABLED
                } else {
                    kinds::PLUGIN_DISABLED
                };
                tx.log(kind, tx.scope.root, None, Value::map().with("plugin", name))?;
            }
            info(
                tx.scope.root,
                &record,
                &manifest,
                tx.view().plugin_grants(name)?,
            )
        })
    }

    /// Sets what a plugin is granted: `permissions` (names, as `things:read`), each one
    /// the plugin asks for and the context holds in the tenant's root group; what it asks
    /// for and is not listed is withdrawn. Its reads and reactions can do nothing else.
    /// Logs `plugin_granted`. Needs `groups:write` in the root group.
    pub fn grant_plugin(
        &self,
        ctx: &Context,
        name: &str,
        permissions: &[&str],
    ) -> Result<PluginInfo> {
        self.write(ctx, |tx| {
            let (record, manifest) = tx.managed_plugin(name)?;
            let wanted = PermissionSet::parse(permissions)?;
            let asks = asked(&manifest)?;
            if !wanted.is_subset(asks) {
                return Err(Error::invalid(
                    "permissions",
                    format!(
                        "plugin `{name}` does not ask for {}",
                        wanted.difference(asks).names().join(", ")
                    ),
                ));
            }
            let root = tx.scope.root;
            let held = tx.view().permissions_in(root)?;
            if let Some(needed) = wanted.difference(held).iter().next() {
                // One cannot grant what one does not hold; refused as any permission is.
                tx.scope.deny(root, needed);
                return Err(Error::Forbidden {
                    needed,
                    group: root.to_string(),
                });
            }
            tx.store_grants(name, wanted)?;
            let meta = Value::map()
                .with("plugin", name)
                .with("granted", wanted.names());
            tx.log(kinds::PLUGIN_GRANTED, root, None, meta)?;
            info(tx.scope.root, &record, &manifest, wanted)
        })
    }

    /// Uninstalls a plugin and logs `plugin_removed`. Its types become plain types: their
    /// things stay, readable and writable without the plugin's checks. Needs
    /// `groups:write` in the root group.
    pub fn uninstall_plugin(&self, ctx: &Context, name: &str) -> Result<()> {
        let mut module = None;
        let r = self.write(ctx, |tx| {
            let (record, manifest) = tx.managed_plugin(name)?;
            tx.undeclare(&manifest)?;
            let key = tx.scope.structure.plugin(name);
            tx.delete(&key)?;
            let key = tx.scope.structure.plugin_grants(name);
            tx.delete(&key)?;
            tx.set_plugin_principal(name, false)?;
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
        let limit = runtime.max_module_bytes().min(MAX_MODULE_BYTES);
        if wasm.len() > limit {
            return Err(Error::TooLarge {
                field: "module",
                limit,
                actual: wasm.len(),
            });
        }
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
    pub(crate) fn forget_unused(&self, modules: &[ModuleHash]) {
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
            .map(|r| {
                info(
                    self.scope.root,
                    r,
                    &*self.engine.part::<Plugins>().manifest(r)?,
                    self.plugin_grants(&r.name)?,
                )
            })
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
    pub(crate) fn authorize_plugins(&self) -> Result<()> {
        self.view()
            .authorize(crate::access::policy::Op::ManagePlugins, self.scope.root)
    }

    /// The installed plugin `name` and its manifest, for a change to it: needs
    /// `groups:write` in the root group ([`Error::PluginNotFound`] if there is none).
    fn managed_plugin(&self, name: &str) -> Result<(PluginRecord, Arc<Manifest>)> {
        self.authorize_plugins()?;
        let record = self
            .plugin_record(name)?
            .ok_or_else(|| Error::PluginNotFound {
                plugin: name.to_string(),
            })?;
        let manifest = self.engine.part::<Plugins>().manifest(&record)?;
        Ok((record, manifest))
    }

    pub(crate) fn plugin_record(&self, name: &str) -> Result<Option<PluginRecord>> {
        self.view().get_record(&self.scope.structure.plugin(name))
    }

    /// Removes what `manifest` declared in this tenant: its type bindings and the
    /// indexes of its indexed fields.
    pub(crate) fn undeclare(&mut self, manifest: &Manifest) -> Result<()> {
        self.access_changed();
        for (of, name) in declared(manifest) {
            let key = self.scope.structure.plugin_type(of, name);
            self.delete(&key)?;
        }
        self.undeclare_indexes(&manifest.types)
    }

    /// Writes a plugin's record, its module and code (if new), its tenant's use of the
    /// module and its type bindings, replacing what its `old` version declared.
    /// Declared indexes of its fields are created.
    pub(crate) fn store_plugin(
        &mut self,
        record: &PluginRecord,
        wasm: &[u8],
        compiled: &Compiled,
        old: Option<&Manifest>,
    ) -> Result<()> {
        // What the tenant's plugins are is access data: the caches derived from it
        // (`bindings.rs`) are forgotten.
        self.access_changed();
        if let Some(old) = old {
            self.undeclare(old)?;
        }
        for (of, name) in declared(&compiled.manifest) {
            let key = self.scope.structure.plugin_type(of, name);
            if let Some(owner) = self.kv.get(&key)?
                && owner != record.name.as_bytes()
            {
                return Err(Error::PluginConflict {
                    plugin: record.name.clone(),
                    reason: format!(
                        "{} `{name}` is declared by plugin `{}`",
                        noun(of),
                        String::from_utf8_lossy(&owner)
                    ),
                });
            }
            self.put(key, record.name.as_bytes())?;
        }
        for t in &compiled.manifest.types {
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
        self.put_record(&key, record)?;
        self.set_plugin_principal(&record.name, record.enabled)
    }

    /// Removes this tenant's indexes of the indexed fields of `types` (and their entries).
    pub(crate) fn undeclare_indexes(&mut self, types: &[TypeSchema]) -> Result<()> {
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
    pub(crate) fn release_module(&mut self, module: &ModuleHash) -> Result<()> {
        self.delete(&layout::module_user(module, self.scope.root))?;
        if !in_use(&*self.kv, module)? {
            self.delete(&layout::plugin_module(module))?;
            self.delete(&layout::plugin_code(module))?;
        }
        Ok(())
    }
}
