//! The seam to the sandbox: the [`PluginRuntime`] trait `one-plugins` implements with
//! wasmtime, the module hash that names a module, and the runtime an engine holds with
//! the manifests of the modules it loaded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use one_plugin_sdk::abi::{self, Action, Manifest, Op, Rejection};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::lifecycle::PluginRecord;
use super::schema::parse_manifest;
use crate::base::value::Value;
use crate::{Error, Result};
/// The SHA-256 of a module's WASM bytes: its identity.
pub type ModuleHash = [u8; 32];

/// The largest module [`crate::Engine::install_plugin`] accepts before asking the runtime,
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

    /// The largest module the runtime accepts (at most [`MAX_MODULE_BYTES`]), so that a
    /// module over it is refused with this limit before anything else is done.
    fn max_module_bytes(&self) -> usize {
        MAX_MODULE_BYTES
    }

    /// Makes a stored module ready to run, from `code` when that is compiled code this
    /// runtime can use, otherwise by compiling `wasm` again; returns the new code to
    /// cache in that case.
    fn load(
        &self,
        hash: &ModuleHash,
        wasm: &[u8],
        code: Option<&[u8]>,
    ) -> std::result::Result<Option<Vec<u8>>, String>;

    /// Makes a stored module ready to run from `code` alone, never compiling; `false` when
    /// the code is not this runtime's or not usable (the engine then compiles the module in
    /// the background, with [`PluginRuntime::load`], instead of making its open wait). The
    /// default never uses code.
    fn load_compiled(&self, hash: &ModuleHash, code: &[u8]) -> bool {
        let _ = (hash, code);
        false
    }

    /// Forgets a module no tenant uses any more.
    fn unload(&self, hash: &ModuleHash);

    /// Whether the module is ready to run.
    fn is_loaded(&self, hash: &ModuleHash) -> bool;

    /// Whether the module may read through the host (it imports `one.read`): a reaction
    /// of a module that cannot is run without opening a snapshot to answer reads from.
    /// The default assumes it may.
    fn reads(&self, hash: &ModuleHash) -> bool {
        let _ = hash;
        true
    }

    /// Runs the module's `prepare` hook: the properties to store (not checked yet), or
    /// the plugin's refusal. The plugin's reads (`one.read`) are answered by `reads`.
    fn prepare(
        &self,
        hash: &ModuleHash,
        input: &PrepareInput<'_>,
        reads: &mut dyn HostReads,
    ) -> std::result::Result<std::result::Result<Value, Rejection>, String>;

    /// Runs the module's `react` hook: the actions it asks for. The plugin's reads are
    /// answered by `reads`.
    fn react(
        &self,
        hash: &ModuleHash,
        change: &ChangeInput<'_>,
        reads: &mut dyn HostReads,
    ) -> std::result::Result<Vec<Action>, String>;
}

/// The input of a plugin's `prepare`, borrowed from the thing being written. It encodes
/// (JSON and binary) exactly as the ABI's [`abi::Prepare`].
#[derive(Debug, Clone, Serialize)]
pub struct PrepareInput<'a> {
    /// Create or update.
    pub op: Op,
    /// The thing's id.
    pub id: String,
    /// Its group's id.
    pub group: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its properties as they would be stored.
    pub properties: &'a Value,
    /// For an update, the properties stored before it.
    pub previous: Option<&'a Value>,
}

/// The input of a plugin's `react`, borrowed from the changed thing. It encodes exactly
/// as the ABI's [`abi::Change`].
#[derive(Debug, Clone, Serialize)]
pub struct ChangeInput<'a> {
    /// `thing_created`, `thing_updated` or `thing_deleted`.
    pub event: &'a str,
    /// The thing's id.
    pub thing: String,
    /// Its group's id.
    pub group: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its properties after the change.
    pub properties: &'a Value,
}

/// The engine's side of a plugin's reads (`one.read`, [`abi::Read`]): answers them inside
/// the call's transaction, in the plugin's tenant, with the permissions of the context
/// the plugin runs for.
pub trait HostReads {
    /// Answers `read`, visiting at most `max_rows` records for it (what the fuel the call
    /// has left pays for): a read that needs more answers with `rows` above `max_rows`,
    /// and the runtime stops the call as out of fuel. `Err` stops the call too: the host
    /// could not read (the engine reports its own error for the operation).
    fn read(&mut self, read: &abi::Read, max_rows: u64) -> std::result::Result<HostAnswer, String>;
}

/// The answerer of a call that cannot read (its module does not import `one.read`).
#[derive(Debug)]
pub(crate) struct NoReads;

impl HostReads for NoReads {
    fn read(&mut self, _: &abi::Read, _: u64) -> std::result::Result<HostAnswer, String> {
        Err("the module does not import `one.read`".into())
    }
}

/// The answer to one of a plugin's reads.
#[derive(Debug, Clone, PartialEq)]
pub struct HostAnswer {
    /// What the plugin gets: a value, or a refusal of a read it asked wrongly (a
    /// malformed id, an invalid type name).
    pub reply: std::result::Result<ReadValue, Rejection>,
    /// How many records the host visited to answer it.
    pub rows: u64,
}

/// What a read found, as the plugin receives it (encoded as the value alone).
#[derive(Debug, Clone, PartialEq)]
pub enum ReadValue {
    /// [`abi::Read::GetThing`]'s answer: the thing, or none the caller may read.
    Thing(Option<ReadThing>),
    /// [`abi::Read::ConnectionExists`]'s answer.
    Bool(bool),
    /// [`abi::Read::CountThings`]'s answer.
    Count(u64),
}

impl Serialize for ReadValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            ReadValue::Thing(t) => t.serialize(s),
            ReadValue::Bool(b) => b.serialize(s),
            ReadValue::Count(n) => n.serialize(s),
        }
    }
}

/// A thing as a plugin reads it; encodes exactly as the ABI's [`abi::Thing`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadThing {
    /// Its id.
    pub id: String,
    /// Its group's id.
    pub group: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    pub name: String,
    /// `active`, `archived`, `draft` or `deleted`.
    pub status: &'static str,
    /// Its properties.
    pub properties: Value,
}

/// The SHA-256 of `wasm`.
pub fn module_hash(wasm: &[u8]) -> ModuleHash {
    Sha256::digest(wasm).into()
}

/// The runtime attached to an engine, and the manifests of the modules it loaded.
#[derive(Debug, Default)]
pub(crate) struct Plugins {
    pub(crate) runtime: Option<Arc<dyn PluginRuntime>>,
    /// Parsed manifests by module (a module's manifest never changes).
    pub(crate) manifests: RwLock<HashMap<ModuleHash, Arc<Manifest>>>,
    /// Why a stored module could not be loaded when the engine was opened.
    pub(crate) broken: Arc<RwLock<HashMap<ModuleHash, String>>>,
    /// Stored modules being compiled again in the background, and the code made so far.
    pub(crate) recompiling: Arc<Recompiling>,
}

/// The modules whose stored code a runtime could not use, compiled again on threads of
/// their own so that opening the engine never waits for a compiler.
#[derive(Debug, Default)]
pub(crate) struct Recompiling {
    /// The modules still compiling.
    pub(crate) pending: Mutex<HashSet<ModuleHash>>,
    /// Code compiled since, not stored yet (written by the next flush: sync, backup,
    /// close).
    pub(crate) fresh: Mutex<Vec<(ModuleHash, Vec<u8>)>>,
}

impl Recompiling {
    /// Whether `hash` is still compiling.
    pub(crate) fn is_pending(&self, hash: &ModuleHash) -> bool {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(hash)
    }
}

impl Plugins {
    pub(crate) fn runtime(&self, plugin: &str) -> Result<&Arc<dyn PluginRuntime>> {
        self.runtime
            .as_ref()
            .ok_or_else(|| failed(plugin, "no plugin runtime is attached to this engine"))
    }

    pub(crate) fn manifest(&self, record: &PluginRecord) -> Result<Arc<Manifest>> {
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

pub(crate) fn failed(plugin: &str, reason: impl Into<String>) -> Error {
    Error::PluginFailed {
        plugin: plugin.to_string(),
        reason: reason.into(),
    }
}
