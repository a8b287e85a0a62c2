//! Integration tests of plugins: real example plugins built from the SDK, hostile modules
//! written as WAT, and the install / upgrade / disable / uninstall lifecycle.

mod examples;
mod fuzz_bodies;
mod hostile;
mod lifecycle;
mod reads;

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use one_core::testkit;
use one_core::*;
use one_plugins::{Limits, Runtime};

/// The shared test fixture ([`one_core::testkit::Fixture`]) with the plugin runtime
/// attached, and one tenant.
pub struct Fixture {
    base: testkit::Fixture,
    /// The runtime the engine uses.
    pub runtime: Arc<Runtime>,
    /// The tenant's root group.
    pub tenant: Group,
}

impl std::ops::Deref for Fixture {
    type Target = testkit::Fixture;

    fn deref(&self) -> &testkit::Fixture {
        &self.base
    }
}

/// The clock of every fixture.
pub fn clock() -> Arc<ManualClock> {
    testkit::Fixture::new().clock
}

impl Default for Fixture {
    fn default() -> Self {
        Self::with_limits(Limits::default())
    }
}

impl Fixture {
    /// A fresh in-memory engine with default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// A fresh in-memory engine whose plugin calls are bounded by `limits`.
    pub fn with_limits(limits: Limits) -> Self {
        let runtime = Arc::new(Runtime::new(limits).unwrap());
        let attached = runtime.clone();
        let base = testkit::Fixture::new().map(|e| e.with_plugins(attached));
        let tenant = base
            .engine
            .admin()
            .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
            .unwrap();
        Self {
            base,
            runtime,
            tenant,
        }
    }

    /// The system acting in the tenant.
    pub fn ctx(&self) -> Context {
        Context::system(self.tenant.id)
    }

    /// Creates a thing as the system.
    pub fn create(&self, kind: &str, props: serde_json::Value) -> Result<Thing> {
        self.engine.write(&self.ctx(), |tx| {
            tx.create_thing(NewThing::new(kind, "a thing").properties(Value::from_json(&props)))
        })
    }

    /// Creates another tenant, with this slug.
    pub fn base_tenant(&self, slug: &str) -> Group {
        self.base.tenant(slug)
    }

    /// Creates a child group of `parent` with this slug, as the system.
    pub fn group_under(&self, parent: GroupId, slug: &str) -> GroupId {
        self.engine
            .write(&Context::system(parent), |tx| {
                tx.create_group(parent, NewGroup::new(GroupType::Business, slug, slug))
            })
            .unwrap()
            .id
    }

    /// The events of one type in the tenant, newest first.
    pub fn events(&self, kind: &str) -> Vec<Event> {
        self.engine
            .read(&self.ctx(), |v| v.events(&EventQuery::latest().kind(kind)))
            .unwrap()
            .items
    }
}

pub use one_core::testkit::dump;

/// The example plugins, built for wasm32 from `plugins/examples` once per test run.
///
/// A toolchain without the `wasm32-unknown-unknown` target (rustup installs it from
/// `rust-toolchain.toml` unless automatic installs are switched off) fails every test that
/// needs an example with one message naming the command that adds it, not a build log.
pub fn example(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build_examples) {
        Ok(dir) => std::fs::read(dir.join(format!("one_plugin_{name}.wasm"))).unwrap(),
        Err(why) => panic!("{why}"),
    }
}

fn build_examples() -> Result<PathBuf, String> {
    const TARGET: &str = "wasm32-unknown-unknown";
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target_dir = root.join("target").join("plugin-examples");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "--target", TARGET])
        .args(["-p", "one-plugin-product", "-p", "one-plugin-tickets"])
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .map_err(|e| format!("running cargo to build the example plugins: {e}"))?;
    if output.status.success() {
        return Ok(target_dir.join(TARGET).join("release"));
    }
    let log = String::from_utf8_lossy(&output.stderr);
    if log.contains("E0463") || log.contains("target may not be installed") {
        return Err(format!(
            "the example plugins are built for {TARGET}, which this toolchain lacks: \
             run `rustup target add {TARGET}` (rustup adds it by itself from \
             rust-toolchain.toml unless RUSTUP_AUTO_INSTALL=0)"
        ));
    }
    Err(format!("building the example plugins failed:\n{log}"))
}

/// A plugin module written in WAT: plugin `evil` defining type `gadget`. It answers
/// `describe` properly, and runs `prepare` (the body of a function `(param $ptr i32)
/// (param $len i32) (result i64)`) for any other hook. `extra` adds module fields.
pub fn evil(prepare: &str, extra: &str) -> Vec<u8> {
    module("evil", "1", 1, prepare, extra)
}

/// [`evil`] with `imports` (which WAT wants before any definition).
pub fn evil_importing(imports: &str, prepare: &str, extra: &str) -> Vec<u8> {
    evil_asking(imports, prepare, extra, &[])
}

/// [`evil_importing`] whose manifest asks its tenant for `permissions`.
pub fn evil_asking(imports: &str, prepare: &str, extra: &str, permissions: &[&str]) -> Vec<u8> {
    let asks = serde_json::to_string(permissions).unwrap();
    wasm(&text(
        "evil",
        "1",
        1,
        imports,
        false,
        prepare,
        extra,
        &format!(r#","permissions":{asks}"#),
    ))
}

/// A well-behaved plugin `name` defining type `gadget` whose manifest also has
/// `declares` (JSON members, such as `"connections":[…]`).
pub fn declaring(name: &str, declares: &str) -> Vec<u8> {
    wasm(&text(
        name,
        "1",
        1,
        "",
        false,
        BENIGN,
        "",
        &format!(",{declares}"),
    ))
}

/// [`evil`] that declares `reacts` and asks for `events:write`: `body` answers `react` as
/// well as `prepare` (byte 9 of the request is `r` for react, `p` for prepare).
pub fn evil_reacting(body: &str, extra: &str) -> Vec<u8> {
    evil_reacting_with("", body, extra, &["events:write"])
}

/// [`evil_reacting`] with `imports`, asking its tenant for `permissions`.
pub fn evil_reacting_with(imports: &str, body: &str, extra: &str, permissions: &[&str]) -> Vec<u8> {
    let asks = serde_json::to_string(permissions).unwrap();
    wasm(&text(
        "evil",
        "1",
        1,
        imports,
        true,
        body,
        extra,
        &format!(r#","permissions":{asks}"#),
    ))
}

fn wasm(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// A plugin module in WAT named `name` at `version`, speaking ABI version `abi`, defining
/// type `gadget`.
pub fn module(name: &str, version: &str, abi: u32, prepare: &str, extra: &str) -> Vec<u8> {
    wasm(&text(name, version, abi, "", false, prepare, extra, ""))
}

#[allow(clippy::too_many_arguments, reason = "a test's module template")]
fn text(
    name: &str,
    version: &str,
    abi: u32,
    imports: &str,
    reacts: bool,
    prepare: &str,
    extra: &str,
    declares: &str,
) -> String {
    let manifest = format!(
        r#"{{"ok":{{"name":"{name}","version":"{version}","reacts":{reacts},"types":[{{"name":"gadget","fields":[{{"name":"size","type":"integer","min":0}}]}}]{declares}}}}}"#
    );
    let ok = r#"{"ok":{"properties":{"size":1}}}"#;
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 2)
  (global $next (mut i32) (i32.const 4096))
  (data (i32.const 16) "{manifest}")
  (data (i32.const 2048) "{ok}")
  (func (export "one_abi_version") (result i32) (i32.const {abi}))
  (func (export "one_alloc") (param $len i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (global.get $next) (local.get $len)))
    (local.get $p))
  (func $answer (param $at i32) (param $len i32) (result i64)
    (i64.or (i64.shl (i64.extend_i32_u (local.get $at)) (i64.const 32))
            (i64.extend_i32_u (local.get $len))))
  (func $ok (result i64) (call $answer (i32.const 2048) (i32.const {ok_len})))
  (func $hook (param $ptr i32) (param $len i32) (result i64) {prepare})
  (func (export "one_call") (param $ptr i32) (param $len i32) (result i64)
    ;; `{{"hook":"d…`: byte 9 is `d` for describe.
    (if (result i64) (i32.eq (i32.load8_u offset=9 (local.get $ptr)) (i32.const 100))
      (then (call $answer (i32.const 16) (i32.const {manifest_len})))
      (else (call $hook (local.get $ptr) (local.get $len)))))
  {extra})"#,
        manifest = manifest.replace('"', "\\\""),
        manifest_len = manifest.len(),
        ok = ok.replace('"', "\\\""),
        ok_len = ok.len(),
    )
}

/// The `prepare` body of a well-behaved WAT plugin: answers `{"size": 1}`.
pub const BENIGN: &str = "(call $ok)";
