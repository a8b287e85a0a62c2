//! A plugin as a principal: the id its reactions act under, and what it holds — the
//! permissions its tenant granted it, in every group of the tenant, while it is enabled.
//!
//! A plugin's id is derived from its tenant and its name ([`principal_of`]), so it stays
//! the same across upgrades and a reinstall, and never names a plugin of another tenant.
//! The tenant indexes the ids of its *enabled* plugins (`I <plugin id> -> name`): the
//! tenant boundary admits a plugin principal only through that index, and a plugin that
//! is disabled or uninstalled holds nothing.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use one_storage::KvRead;

use crate::Result;
use crate::base::codec::Record;
use crate::base::id::{GroupId, PluginId};
use crate::base::permission::{Permission, PermissionSet};
use crate::kernel::{Tx, View};

/// What a tenant granted one of its plugins, stored beside its record (`G <name>`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct PluginGrants {
    pub(crate) granted: PermissionSet,
}

impl Record for PluginGrants {
    const NAME: &'static str = "plugin grants";
    const VERSION: u8 = 1;
}

/// What a plugin installed before tenants granted permissions may do: log events from
/// its reactions, as every plugin could then.
const BEFORE_GRANTS: [Permission; 1] = [Permission::EventsWrite];

/// The principal of the plugin `name` of the tenant rooted at `root`: the first 128 bits
/// of a SHA-256 over both.
pub(crate) fn principal_of(root: GroupId, name: &str) -> PluginId {
    let digest = Sha256::new()
        .chain_update(b"one plugin principal\0")
        .chain_update(root.to_be_bytes())
        .chain_update(name.as_bytes())
        .finalize();
    let mut bits = [0u8; 16];
    bits.copy_from_slice(&digest[..16]);
    PluginId::from_u128(u128::from_be_bytes(bits))
}

impl<K: KvRead> View<'_, K> {
    /// What the tenant granted its plugin `name` (see `Engine::grant_plugin`).
    pub(crate) fn plugin_grants(&self, name: &str) -> Result<PermissionSet> {
        Ok(
            match self.get_record::<PluginGrants>(&self.scope.structure.plugin_grants(name))? {
                Some(g) => g.granted,
                None => PermissionSet::of(&BEFORE_GRANTS),
            },
        )
    }

    /// What the plugin whose principal is `plugin` holds in every group of its tenant:
    /// its grants while it is enabled, nothing otherwise — nor when its entry names no
    /// installed plugin of that id (a damaged or stale entry grants nothing).
    pub(crate) fn plugin_principal_grants(&self, plugin: PluginId) -> Result<PermissionSet> {
        let structure = &self.scope.structure;
        let Some(name) = self.kv.get(&structure.plugin_principal(plugin))? else {
            return Ok(PermissionSet::EMPTY);
        };
        match String::from_utf8(name) {
            Ok(name)
                if principal_of(self.scope.root, &name) == plugin
                    && self.kv.contains(&structure.plugin(&name))? =>
            {
                self.plugin_grants(&name)
            }
            _ => Ok(PermissionSet::EMPTY),
        }
    }
}

impl Tx<'_, '_> {
    /// Stores what the tenant granted its plugin `name`.
    pub(crate) fn store_grants(&mut self, name: &str, granted: PermissionSet) -> Result<()> {
        let key = self.scope.structure.plugin_grants(name);
        self.access_changed();
        self.put_record(&key, &PluginGrants { granted })
    }

    /// Makes the plugin `name` a principal of this tenant (`enabled`), or takes that away
    /// (disabled or uninstalled).
    pub(crate) fn set_plugin_principal(&mut self, name: &str, enabled: bool) -> Result<()> {
        let key = self
            .scope
            .structure
            .plugin_principal(principal_of(self.scope.root, name));
        self.access_changed();
        if enabled {
            self.put(key, name.as_bytes())
        } else {
            self.delete(&key)
        }
    }
}
