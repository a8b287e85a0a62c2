//! Plugins as a caller sees them: what is installed, and the thing, connection and event
//! types each declares.

use crate::clock::Timestamp;
use crate::id::PluginId;
pub use one_plugin_sdk::abi::{ConnectionSchema, EventSchema, TypeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
/// An installed plugin, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PluginInfo {
    /// Its name.
    pub name: String,
    /// The principal its reactions act as, the actor of the events they log: holds what
    /// its tenant granted it while it is enabled.
    pub principal: PluginId,
    /// Its version text.
    pub version: String,
    /// The SHA-256 of its module, lower-case hex.
    pub module: String,
    /// Whether it runs; things of a disabled plugin's types cannot be written.
    pub enabled: bool,
    /// The thing types it defines.
    #[schemars(with = "Vec<serde_json::Value>")]
    pub types: Vec<TypeSchema>,
    /// The connection types it declares for its tenant.
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Value>")]
    pub connections: Vec<ConnectionSchema>,
    /// The event types it declares for its tenant.
    #[serde(default)]
    #[schemars(with = "Vec<serde_json::Value>")]
    pub events: Vec<EventSchema>,
    /// Whether it reacts to committed changes.
    pub reacts: bool,
    /// The permissions it asks its tenant for, for its reads and reactions.
    #[serde(default)]
    pub asks: Vec<String>,
    /// The permissions its tenant granted it (some or all of those it asks for): its
    /// reads and reactions may do nothing else.
    #[serde(default)]
    pub granted: Vec<String>,
    /// When it was first installed.
    pub installed_at: Timestamp,
    /// When it was last upgraded, enabled or disabled.
    pub updated_at: Timestamp,
}
