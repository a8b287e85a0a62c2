//! `one-plugins`: runs untrusted WASM plugins — custom thing types — for ONE, in a
//! bounded wasmtime sandbox.
//!
//! [`Runtime`] implements core's [`PluginRuntime`] seam. Attach it to an engine and the
//! engine installs, stores, loads and calls plugins through it:
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use one_core::{Context, Engine, GroupType, NewGroup, SystemClock};
//!
//! let store = one_storage::Store::in_memory(&Default::default())?;
//! let runtime = one_plugins::Runtime::new(one_plugins::Limits::default())?;
//! let engine = Engine::new(store, Arc::new(SystemClock))?.with_plugins(Arc::new(runtime))?;
//! let shop = engine.admin().create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))?;
//! let ctx = Context::system(shop.id);
//! // engine.install_plugin(&ctx, &std::fs::read("one_plugin_product.wasm")?)?;
//! assert!(engine.read(&ctx, |v| v.plugins())?.is_empty());
//! # Ok(()) }
//! ```
//!
//! What it guarantees (details in `plugins/ABI.md`):
//! - Modules are checked against [`ModuleLimits`] before they are compiled, and compiled
//!   only when installed or upgraded (or when the cached code is from another wasmtime);
//!   compiled code is handed to the engine to cache in the database.
//! - Every call runs in a fresh instance (pooling allocator), with fuel, an epoch
//!   deadline, a memory and table cap, a bounded stack and a bounded answer ([`Limits`]).
//!   The only imports a module may have are `one.panic` and `one.read` (reads the engine
//!   answers through [`one_core::plugins::HostReads`], charged in fuel); there is no
//!   WASI, clock, random source, file or network.
//! - Every failure is a reason in words (`ran out of fuel (20000000 units)`,
//!   `exceeded its memory limit of 16777216 bytes`, `panicked: …`), which the engine
//!   reports as `PluginFailed` naming the plugin.

mod encoding;
#[cfg(feature = "internals")]
pub mod fuzz;
mod limits;
mod sandbox;

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use one_core::Value;
use one_core::plugins::{
    ChangeInput, Compiled, HostReads, ModuleHash, PluginRuntime, PrepareInput,
};
use one_plugin_sdk::abi::{Action, Reaction, Rejection, Reply, Request};
use sha2::{Digest, Sha256};
use wasmtime::{ExternType, FuncType, Module, ValType};

pub use limits::{EPOCH_TICK, Limits, MAX_MEMORY_BYTES, ModuleLimits, check_module};
pub use sandbox::{MAX_READ_BYTES, READ_FUEL, ROW_FUEL};

/// The sandbox: compiled modules ready to instantiate, and the bounds of every call.
pub struct Runtime {
    limits: Limits,
    /// Modules by the SHA-256 of their WASM bytes.
    modules: RwLock<HashMap<ModuleHash, Arc<sandbox::Ready>>>,
    /// What compiled code from this runtime starts with; code from another wasmtime or
    /// configuration is compiled again.
    code_tag: [u8; 20],
    /// Modules compiled (rather than loaded from cached code) so far.
    compilations: AtomicU64,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("limits", &self.limits)
            .field(
                "modules",
                &self.modules.read().unwrap_or_else(|p| p.into_inner()).len(),
            )
            .finish()
    }
}

/// Feeds `Hash` output into SHA-256, to fingerprint the engine's configuration.
struct Fingerprint(Sha256);

impl Hasher for Fingerprint {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn describe_func(ty: &FuncType) -> String {
    let list = |tys: &mut dyn Iterator<Item = ValType>| {
        tys.map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    };
    format!(
        "({}) -> ({})",
        list(&mut ty.params()),
        list(&mut ty.results())
    )
}

/// Checks that `module` exports what the ABI needs, with the right types.
fn check_exports(module: &Module) -> Result<(), String> {
    match module.get_export("memory") {
        Some(ExternType::Memory(_)) => {}
        Some(_) => return Err("export `memory` is not a memory".into()),
        None => return Err("exports no memory named `memory`".into()),
    }
    let wanted: [(&str, &[ValType], &[ValType]); 3] = [
        ("one_abi_version", &[], &[ValType::I32]),
        ("one_alloc", &[ValType::I32], &[ValType::I32]),
        ("one_call", &[ValType::I32, ValType::I32], &[ValType::I64]),
    ];
    for (name, params, results) in wanted {
        let Some(ExternType::Func(ty)) = module.get_export(name) else {
            return Err(format!("exports no function `{name}`"));
        };
        let same = |got: &mut dyn ExactSizeIterator<Item = ValType>, want: &[ValType]| {
            got.len() == want.len() && got.zip(want).all(|(g, w)| ValType::eq(&g, w))
        };
        if !same(&mut ty.params(), params) || !same(&mut ty.results(), results) {
            let want = FuncType::new(module.engine(), params.to_vec(), results.to_vec());
            return Err(format!(
                "export `{name}` has type {}, the ABI wants {}",
                describe_func(&ty),
                describe_func(&want)
            ));
        }
    }
    Ok(())
}

/// A request as the host sends it: from the engine's borrowed input, encoded exactly as
/// the SDK's [`Request`] (a request is not copied into the SDK's types to be sent).
type Outgoing<'a> = Request<&'a PrepareInput<'a>, &'a ChangeInput<'a>>;

/// `prepare`'s answer as the host reads it: the SDK's `Prepared`, straight into the
/// engine's values.
#[derive(serde::Deserialize)]
pub(crate) struct Prepared {
    pub(crate) properties: Value,
}

impl Runtime {
    /// A runtime whose calls are bounded by `limits`. Fails only if wasmtime cannot start
    /// (the first runtime of the process creates the shared engine).
    pub fn new(limits: Limits) -> Result<Self, String> {
        let engine = sandbox::engine()?;
        let mut fp = Fingerprint(Sha256::new());
        std::hash::Hash::hash(&engine.precompile_compatibility_hash(), &mut fp);
        fp.write(b"one-plugins code v2: winch");
        let digest = fp.0.finalize();
        let mut code_tag = [0u8; 20];
        code_tag[..4].copy_from_slice(b"ONEc");
        code_tag[4..].copy_from_slice(&digest[..16]);
        Ok(Self {
            limits,
            modules: RwLock::default(),
            code_tag,
            compilations: AtomicU64::new(0),
        })
    }

    /// The bounds of every call.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// How many modules this runtime has compiled, rather than loaded from cached code.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(Ordering::Relaxed)
    }

    fn ready(&self, hash: &ModuleHash) -> Result<Arc<sandbox::Ready>, String> {
        self.modules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(hash)
            .cloned()
            .ok_or_else(|| "its module is not loaded in this runtime".to_string())
    }

    fn keep(&self, hash: &ModuleHash, ready: sandbox::Ready) {
        self.modules
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(*hash, Arc::new(ready));
    }

    /// Checks and compiles `wasm`, and checks its exports and ABI version.
    fn build(&self, wasm: &[u8]) -> Result<(Module, sandbox::Ready), String> {
        check_module(wasm, &self.limits)?;
        self.compilations.fetch_add(1, Ordering::Relaxed);
        let module = Module::new(sandbox::engine()?, wasm)
            .map_err(|e| format!("does not compile: {e:#}"))?;
        check_exports(&module)?;
        let ready = sandbox::prepare(&module, &self.limits)?;
        Ok((module, ready))
    }

    fn code_of(&self, module: &Module) -> Result<Vec<u8>, String> {
        let body = module
            .serialize()
            .map_err(|e| format!("serialising compiled code: {e:#}"))?;
        let mut code = Vec::with_capacity(self.code_tag.len() + body.len());
        code.extend_from_slice(&self.code_tag);
        code.extend_from_slice(&body);
        Ok(code)
    }

    /// Loads compiled code this runtime made (it starts with our tag); `None` if it is
    /// someone else's or wasmtime refuses it.
    #[allow(
        unsafe_code,
        reason = "wasmtime's deserialize trusts its input: it only gets code this runtime \
                  serialised, read back from the engine's own database, tag checked"
    )]
    fn load_code(&self, code: &[u8]) -> Option<Module> {
        let body = code.strip_prefix(&self.code_tag[..])?;
        let engine = sandbox::engine().ok()?;
        // SAFETY: `body` is `Module::serialize` output of an engine with this exact
        // configuration (the tag fingerprints it), stored by the engine in its database;
        // wasmtime checks its own version and configuration again.
        unsafe { Module::deserialize(engine, body) }.ok()
    }

    /// Runs one request against module `hash` and decodes its answer; its reads are
    /// answered by `reads`.
    fn request<T: serde::de::DeserializeOwned>(
        &self,
        hash: &ModuleHash,
        request: &Outgoing<'_>,
        reads: &mut dyn HostReads,
    ) -> Result<Reply<T>, String> {
        let ready = self.ready(hash)?;
        let input = ready
            .encoding
            .encode(request)
            .map_err(|e| format!("encoding the request: {e}"))?;
        let answer = sandbox::call(&ready, &self.limits, &input, Some(reads))?;
        ready.encoding.answer(&answer)
    }
}

impl PluginRuntime for Runtime {
    fn max_module_bytes(&self) -> usize {
        self.limits.module.max_bytes
    }

    fn compile(&self, hash: &ModuleHash, wasm: &[u8]) -> Result<Compiled, String> {
        let (module, ready) = self.build(wasm)?;
        let input = ready
            .encoding
            .encode(&Outgoing::Describe)
            .map_err(|e| format!("encoding the request: {e}"))?;
        let answer = sandbox::call(&ready, &self.limits, &input, None)?;
        let manifest = match ready.encoding.manifest(&answer)? {
            Reply::Ok(m) => m,
            Reply::Error(r) => return Err(format!("refused to describe itself: {}", r.message)),
        };
        let code = self.code_of(&module)?;
        self.keep(hash, ready);
        Ok(Compiled { manifest, code })
    }

    fn load(
        &self,
        hash: &ModuleHash,
        wasm: &[u8],
        code: Option<&[u8]>,
    ) -> Result<Option<Vec<u8>>, String> {
        if let Some(module) = code.and_then(|c| self.load_code(c)) {
            self.keep(hash, sandbox::prepare(&module, &self.limits)?);
            return Ok(None);
        }
        let (module, ready) = self.build(wasm)?;
        let code = self.code_of(&module)?;
        self.keep(hash, ready);
        Ok(Some(code))
    }

    fn load_compiled(&self, hash: &ModuleHash, code: &[u8]) -> bool {
        let Some(module) = self.load_code(code) else {
            return false;
        };
        match sandbox::prepare(&module, &self.limits) {
            Ok(ready) => {
                self.keep(hash, ready);
                true
            }
            Err(_) => false,
        }
    }

    fn unload(&self, hash: &ModuleHash) {
        self.modules
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(hash);
    }

    fn is_loaded(&self, hash: &ModuleHash) -> bool {
        self.modules
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(hash)
    }

    fn reads(&self, hash: &ModuleHash) -> bool {
        self.ready(hash).map_or(true, |r| r.reads)
    }

    fn prepare(
        &self,
        hash: &ModuleHash,
        input: &PrepareInput<'_>,
        reads: &mut dyn HostReads,
    ) -> Result<Result<Value, Rejection>, String> {
        Ok(
            match self.request::<Prepared>(hash, &Outgoing::Prepare(input), reads)? {
                Reply::Ok(p) => Ok(p.properties),
                Reply::Error(r) => Err(r),
            },
        )
    }

    fn react(
        &self,
        hash: &ModuleHash,
        change: &ChangeInput<'_>,
        reads: &mut dyn HostReads,
    ) -> Result<Vec<Action>, String> {
        match self.request::<Reaction>(hash, &Outgoing::React(change), reads)? {
            Reply::Ok(r) => Ok(r.actions),
            Reply::Error(r) => Err(format!("refused the change: {}", r.message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::Encoding;
    use one_core::plugins::{ReadThing, ReadValue};
    use one_plugin_sdk::abi::{self, Change, Op, Prepare, Thing};

    /// The SDK's request.
    type Sdk = Request<Prepare, Change>;

    /// `host` and `sdk` encode to the same bytes in both encodings, and the SDK reads
    /// the host's bytes back as `sdk`.
    fn same<H, S>(host: &H, sdk: &S)
    where
        H: serde::Serialize,
        S: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        for encoding in [Encoding::Json, Encoding::Binary] {
            let sent = encoding.encode(host).unwrap();
            assert_eq!(sent, encoding.encode(sdk).unwrap(), "{encoding:?}");
            assert_eq!(&encoding.decode::<S>(&sent).unwrap(), sdk, "{encoding:?}");
        }
    }

    #[test]
    fn what_the_host_sends_is_the_abis_message_in_both_encodings() {
        let properties = Value::map()
            .with("price", 12.5)
            .with("tags", vec!["a", "b"])
            .with(
                "stock",
                Value::map().with("count", -3).with("none", Value::Null),
            );
        let json = |v: &Value| match v.to_json() {
            serde_json::Value::Object(m) => m,
            _ => unreachable!("a map"),
        };
        let input = PrepareInput {
            op: Op::Update,
            id: "thg_1".into(),
            group: "grp_1".into(),
            kind: "product",
            name: "Mug",
            properties: &properties,
            previous: Some(&properties),
        };
        let prepare = Prepare {
            op: Op::Update,
            id: "thg_1".into(),
            group: "grp_1".into(),
            kind: "product".into(),
            name: "Mug".into(),
            properties: json(&properties),
            previous: Some(json(&properties)),
        };
        same(&Outgoing::Prepare(&input), &Sdk::Prepare(prepare.clone()));
        let created = PrepareInput {
            op: Op::Create,
            previous: None,
            ..input
        };
        same(
            &Outgoing::Prepare(&created),
            &Sdk::Prepare(Prepare {
                op: Op::Create,
                previous: None,
                ..prepare
            }),
        );
        let change = ChangeInput {
            event: "thing_updated",
            thing: "thg_1".into(),
            group: "grp_1".into(),
            kind: "product",
            name: "Mug",
            properties: &properties,
        };
        let sdk_change = Change {
            event: "thing_updated".into(),
            thing: "thg_1".into(),
            group: "grp_1".into(),
            kind: "product".into(),
            name: "Mug".into(),
            properties: json(&properties),
        };
        same(&Outgoing::React(&change), &Sdk::React(sdk_change));
        same(&Outgoing::Describe, &Sdk::Describe);
        let thing = ReadThing {
            id: "thg_2".into(),
            group: "grp_1".into(),
            kind: "show".into(),
            name: "RustConf".into(),
            status: "active",
            properties: properties.clone(),
        };
        let sdk_thing = Thing {
            id: "thg_2".into(),
            group: "grp_1".into(),
            kind: "show".into(),
            name: "RustConf".into(),
            status: "active".into(),
            properties: json(&properties),
        };
        same(
            &Reply::Ok(ReadValue::Thing(Some(thing))),
            &Reply::Ok(Some(sdk_thing)),
        );
        same(
            &Reply::Ok(ReadValue::Thing(None)),
            &Reply::<Option<Thing>>::Ok(None),
        );
        same(&Reply::Ok(ReadValue::Bool(true)), &Reply::Ok(true));
        same(&Reply::Ok(ReadValue::Count(7)), &Reply::Ok(7u64));
    }

    #[test]
    fn what_a_plugin_answers_is_read_as_the_engines_values_in_both_encodings() {
        let serde_json::Value::Object(properties) =
            serde_json::json!({"price": 12.5, "tags": ["a"], "n": 3, "deep": {"x": null}})
        else {
            unreachable!("an object")
        };
        for encoding in [Encoding::Json, Encoding::Binary] {
            let sent = encoding
                .encode(&Reply::Ok(abi::Prepared {
                    properties: properties.clone(),
                }))
                .unwrap();
            let Reply::Ok(got) = encoding.answer::<Prepared>(&sent).unwrap() else {
                panic!("an ok answer")
            };
            assert_eq!(
                got.properties,
                Value::from(serde_json::Value::Object(properties.clone())),
                "{encoding:?}"
            );
        }
    }
}
