//! Which plugin declares each type of a tenant, kept in memory.
//!
//! Every write of a thing, a connection or an application event asks whether a plugin
//! declares its type: a binding (`T <root> 0x00 Q`), and for a declared type the
//! plugin's record and parsed manifest. The answers, "none" included, are kept for one
//! version of access data ([`Versioned`], alongside the access cache): every change of a
//! plugin's record, grants or bindings counts as an access change, which forgets them in
//! this instance and, on a shared store, in every other.

use std::sync::Arc;

use one_plugin_sdk::abi::Manifest;
use one_storage::KvRead;

use super::runtime::{ModuleHash, Plugins, failed};
use crate::access::cache::AccessCache;
use crate::base::id::GroupId;
use crate::base::layout::Declared;
use crate::kernel::{Hooks, Parts, Tx, Versioned};
use crate::{Error, Result};

/// The plugin that declares a type, as a write of that type needs it.
#[derive(Debug)]
pub(crate) struct TypePlugin {
    pub(crate) name: String,
    pub(crate) module: ModuleHash,
    pub(crate) enabled: bool,
    pub(crate) manifest: Arc<Manifest>,
}

/// Whose binding: the tenant's root, what kind of type, and its name.
type BindingKey = (GroupId, Declared, String);

/// The plugin declaring each type asked about (`None`: no plugin does), by tenant.
struct Bindings(Versioned<BindingKey, Option<Arc<TypePlugin>>>);

/// How many answers are kept before the cache starts over.
const LIMIT: usize = 10_000;

/// Installs the cache, forgotten whenever access data changes.
pub(crate) fn install(parts: &mut Parts, hooks: &mut Hooks) {
    let cache = parts.get::<Arc<AccessCache>>().alongside(LIMIT);
    parts.insert(Bindings(cache));
    hooks
        .forget
        .push(|engine| engine.part::<Bindings>().0.invalidate());
}

impl Tx<'_, '_> {
    /// The plugin that declares the thing, connection or event type `kind` in this
    /// tenant, if one does, enabled or not.
    pub(crate) fn declared_by(&self, of: Declared, kind: &str) -> Result<Option<Arc<TypePlugin>>> {
        let epoch = self.scope.cache_epoch();
        let cache = &self.engine.part::<Bindings>().0;
        let key = (self.scope.root, of, kind.to_string());
        if epoch.is_some()
            && let Some(answer) = cache.get(&key)
        {
            return Ok(answer);
        }
        let answer = self.read_binding(of, kind)?.map(Arc::new);
        if let Some(epoch) = epoch {
            cache.insert(key, answer.clone(), epoch);
        }
        Ok(answer)
    }

    /// The plugin that declares `kind` of `of`, if any plugin does, for a write of that
    /// type: [`crate::Error::PluginFailed`] if the plugin is disabled.
    pub(crate) fn declaring(&self, of: Declared, kind: &str) -> Result<Option<Arc<TypePlugin>>> {
        match self.declared_by(of, kind)? {
            Some(plugin) if !plugin.enabled => Err(failed(&plugin.name, "is disabled")),
            declared => Ok(declared),
        }
    }

    fn read_binding(&self, of: Declared, kind: &str) -> Result<Option<TypePlugin>> {
        let Some(name) = self.kv.get(&self.scope.structure.plugin_type(of, kind))? else {
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
        Ok(Some(TypePlugin {
            name: record.name,
            module: record.module,
            enabled: record.enabled,
            manifest,
        }))
    }
}
