//! The bodies of the plugin fuzz targets, public so that the fuzzers and the ordinary
//! test suite share them.
//!
//! [`module`] hands arbitrary bytes to the runtime as a module. [`answers`] makes
//! arbitrary bytes a plugin's answer to each hook (its first byte picks JSON or binary):
//! decoded the way the runtime decodes what a module returns, then handed to the engine
//! through a scripted runtime, so the host's checks of a plugin's answers run on them. A bad answer must fail its operation
//! with a typed error and change nothing; a good one must leave a database that passes
//! `Engine::check`.

use std::sync::{Arc, OnceLock};

use one_core::fuzz::dump;
use one_core::plugins::{
    ChangeInput, Compiled, HostReads, ModuleHash, PluginRuntime, PrepareInput,
};
use one_core::{Context, Engine, GroupType, NewGroup, NewThing, SystemClock, Value};
use one_plugin_sdk::abi::{Action, Manifest, Reaction, Rejection, Reply};
use one_storage::{Store, StoreOptions};

use crate::encoding::Encoding;
use crate::{Limits, Prepared, Runtime};

/// Arbitrary bytes as a module: compiling never panics (limits are checked first).
pub fn module(data: &[u8]) {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| Runtime::new(Limits::default()).expect("a runtime"));
    let hash = one_core::plugins::module_hash(data);
    if runtime.compile(&hash, data).is_ok() {
        runtime.unload(&hash);
    }
}

/// A manifest that declares a typed, indexed field, so prepared answers meet checks.
const MANIFEST: &str = r#"{"name":"scripted","version":"1","reacts":true,"types":[{"name":"widget",
  "fields":[{"name":"price","type":"number","required":true,"indexed":true,"min":0},
            {"name":"tier","type":"string","one_of":["a","b"]},
            {"name":"tags","type":"list"}]}]}"#;

/// A runtime whose answers are given, not computed.
#[derive(Debug)]
struct Scripted {
    manifest: Manifest,
    prepared: Result<Result<Value, Rejection>, String>,
    reaction: Result<Vec<Action>, String>,
}

impl PluginRuntime for Scripted {
    fn compile(&self, _: &ModuleHash, _: &[u8]) -> Result<Compiled, String> {
        Ok(Compiled {
            manifest: self.manifest.clone(),
            code: Vec::new(),
        })
    }

    fn load(&self, _: &ModuleHash, _: &[u8], _: Option<&[u8]>) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }

    fn unload(&self, _: &ModuleHash) {}

    fn is_loaded(&self, _: &ModuleHash) -> bool {
        true
    }

    fn prepare(
        &self,
        _: &ModuleHash,
        _: &PrepareInput<'_>,
        _: &mut dyn HostReads,
    ) -> Result<Result<Value, Rejection>, String> {
        self.prepared.clone()
    }

    fn react(
        &self,
        _: &ModuleHash,
        _: &ChangeInput<'_>,
        _: &mut dyn HostReads,
    ) -> Result<Vec<Action>, String> {
        self.reaction.clone()
    }
}

/// What a hook answered, as the runtime sees it: a decoded reply, or the reason it is
/// not one.
fn reply<T: serde::de::DeserializeOwned>(
    encoding: Encoding,
    data: &[u8],
) -> Result<Result<T, Rejection>, String> {
    encoding.answer::<T>(data).map(Result::from)
}

/// Arbitrary bytes as the answer of `describe`, `prepare` and `react`: the first byte
/// chooses the encoding (even: JSON, odd: binary), the rest is the answer.
pub fn answers(data: &[u8]) {
    let Some((&first, data)) = data.split_first() else {
        return;
    };
    let encoding = if first % 2 == 0 {
        Encoding::Json
    } else {
        Encoding::Binary
    };
    let fixed: Manifest = serde_json::from_str(MANIFEST).expect("the scripted manifest");
    let manifest = match encoding.manifest(data) {
        Ok(Reply::Ok(m)) => m,
        _ => fixed.clone(),
    };
    let describes_itself = manifest != fixed;
    let scripted = Scripted {
        manifest,
        prepared: reply::<Prepared>(encoding, data).map(|r| r.map(|p| p.properties)),
        reaction: reply::<Reaction>(encoding, data)
            .and_then(|r| r.map(|r| r.actions).map_err(|r| r.message)),
    };
    let store = Store::in_memory(&StoreOptions::default()).expect("a store");
    let engine = Engine::new(store, Arc::new(SystemClock))
        .expect("an engine")
        .with_plugins(Arc::new(scripted))
        .expect("a runtime attaches");
    let tenant = engine
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Fuzz", "fuzz"))
        .expect("a tenant");
    let ctx = Context::system(tenant.id);
    let installed = engine.install_plugin(&ctx, b"scripted module");
    if describes_itself {
        // Only the describe answer was arbitrary: installing takes it or refuses it.
        assert_healthy(&engine);
        return;
    }
    installed.expect("the fixed manifest installs");
    let before = dump(&engine);
    let created = engine.write(&ctx, |tx| {
        tx.create_thing(NewThing::new("widget", "w").property("price", 1))
    });
    match created {
        Ok(thing) => {
            let price = thing
                .properties
                .get_path("price")
                .and_then(one_core::Value::as_f64);
            assert!(
                price.is_some_and(|p| p >= 0.0),
                "a prepared answer broke the schema: {thing:?}"
            );
        }
        Err(_) => assert!(
            before == dump(&engine),
            "a refused answer changed the database"
        ),
    }
    assert_healthy(&engine);
}

fn assert_healthy(engine: &Engine) {
    let report = engine.check().expect("a check runs");
    assert!(report.is_ok(), "{:?}", report.problems);
}
