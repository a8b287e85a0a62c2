//! Installing, upgrading, disabling and uninstalling plugins; who may; what a reopened
//! engine has; and the compiled-code cache.

use std::sync::Arc;

use one_core::plugins::PluginRuntime;
use one_core::testkit;
use one_core::*;
use one_plugins::{Limits, Runtime};
use one_storage::{KvRead, Store, StoreOptions};

use crate::{BENIGN, Fixture, clock, example, module};

fn gadget_v(version: &str) -> Vec<u8> {
    module("gadgets", version, 1, BENIGN, "")
}

#[test]
fn install_upgrade_disable_uninstall() {
    let f = Fixture::new();
    // A plain type until a plugin declares it; from the next write on, the plugin's.
    let plain = f.create("gadget", serde_json::json!({"size": 9})).unwrap();
    assert_eq!(plain.properties.get_path("size"), Some(&Value::Int(9)));
    let v1 = f.engine.install_plugin(&f.ctx(), &gadget_v("1")).unwrap();
    assert!(v1.enabled);
    assert_eq!(f.events(kinds::PLUGIN_INSTALLED).len(), 1);
    assert_eq!(
        f.create("gadget", serde_json::json!({"size": 9}))
            .unwrap()
            .properties,
        Value::from_json(&serde_json::json!({"size": 1}))
    );

    // The same name again is a conflict, and so is another plugin defining `gadget`.
    let before = f.dump();
    assert!(matches!(
        f.engine.install_plugin(&f.ctx(), &gadget_v("1")),
        Err(Error::PluginConflict { .. })
    ));
    match f
        .engine
        .install_plugin(&f.ctx(), &module("rival", "1", 1, BENIGN, ""))
    {
        Err(Error::PluginConflict { plugin, reason }) => {
            assert_eq!(plugin, "rival");
            assert!(
                reason.contains("thing type `gadget` is declared by plugin `gadgets`"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.dump(), before);

    let v2 = f.engine.upgrade_plugin(&f.ctx(), &gadget_v("2")).unwrap();
    assert_eq!(v2.version, "2");
    assert_ne!(v2.module, v1.module);
    assert_eq!(v2.installed_at, v1.installed_at);
    let upgraded = f.events(kinds::PLUGIN_UPGRADED);
    assert_eq!(
        upgraded[0].metadata.get_path("from"),
        Some(&Value::from("1"))
    );
    assert_eq!(upgraded[0].metadata.get_path("to"), Some(&Value::from("2")));
    assert!(matches!(
        f.engine
            .upgrade_plugin(&f.ctx(), &module("unknown", "1", 1, BENIGN, "")),
        Err(Error::PluginNotFound { .. })
    ));

    f.engine
        .set_plugin_enabled(&f.ctx(), "gadgets", false)
        .unwrap();
    match f.create("gadget", serde_json::json!({})) {
        Err(Error::PluginFailed { plugin, reason }) => {
            assert_eq!(
                (plugin.as_str(), reason.as_str()),
                ("gadgets", "is disabled")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        f.engine
            .read(&f.ctx(), |v| v.thing_types())
            .unwrap()
            .is_empty()
    );
    f.engine
        .set_plugin_enabled(&f.ctx(), "gadgets", true)
        .unwrap();
    f.create("gadget", serde_json::json!({})).unwrap();

    f.engine.uninstall_plugin(&f.ctx(), "gadgets").unwrap();
    assert_eq!(f.events(kinds::PLUGIN_REMOVED).len(), 1);
    // Its type is plain again.
    let plain = f.create("gadget", serde_json::json!({"size": -1})).unwrap();
    assert_eq!(plain.properties.get_path("size"), Some(&Value::Int(-1)));
    assert!(f.engine.read(&f.ctx(), |v| v.plugins()).unwrap().is_empty());
    assert!(matches!(
        f.engine.uninstall_plugin(&f.ctx(), "gadgets"),
        Err(Error::PluginNotFound { .. })
    ));
}

#[test]
fn only_those_who_may_change_the_tenant_install_plugins() {
    let f = Fixture::new();
    let person = f
        .engine
        .write(&f.ctx(), |tx| {
            let p = tx.create_person(NewPerson::new("ann@example.com", "Ann"))?;
            tx.add_member(p.id, f.tenant.id, "group_user", &[])?;
            Ok(p)
        })
        .unwrap();
    let ann = Context::person(person.id, f.tenant.id);
    let before = f.dump();
    assert!(matches!(
        f.engine.install_plugin(&ann, &gadget_v("1")),
        Err(Error::Forbidden { .. })
    ));
    // The refusal is logged; nothing else changed.
    let after = f.dump();
    assert!(after.len() > before.len());
    assert!(f.engine.read(&f.ctx(), |v| v.plugins()).unwrap().is_empty());
}

#[test]
fn a_reopened_engine_has_its_plugins_without_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.redb");
    let open = |runtime: Option<Arc<Runtime>>| {
        let store = Store::open(&path, &StoreOptions::default()).unwrap();
        let engine = Engine::new(store, clock()).unwrap();
        match runtime {
            Some(rt) => engine.with_plugins(rt).unwrap(),
            None => engine,
        }
    };
    let tenant;
    {
        let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
        let engine = open(Some(runtime.clone()));
        tenant = engine
            .admin()
            .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
            .unwrap();
        engine
            .install_plugin(&Context::system(tenant.id), &example("tickets"))
            .unwrap();
        assert_eq!(runtime.compilations(), 1);
        engine.close().unwrap();
    }
    let ticket = |engine: &Engine| {
        engine.write(&Context::system(tenant.id), |tx| {
            tx.create_thing(
                NewThing::new("event_ticket", "t").properties(Value::from_json(
                    &serde_json::json!({"event": "E", "price_cents": 10, "quantity": 2}),
                )),
            )
        })
    };
    {
        let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
        let engine = open(Some(runtime.clone()));
        let t = ticket(&engine).unwrap();
        assert_eq!(t.properties.get_path("total_cents"), Some(&Value::Int(20)));
        assert_eq!(runtime.compilations(), 0, "the cached code was not used");
        engine.close().unwrap();
    }
    {
        // Without a runtime, writes of the plugin's types fail rather than skip its rules.
        let engine = open(None);
        match ticket(&engine) {
            Err(Error::PluginFailed { plugin, reason }) => {
                assert_eq!(plugin, "tickets");
                assert!(reason.contains("no plugin runtime"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        engine.close().unwrap();
    }
    {
        // Cached code that this runtime cannot use is replaced by a fresh compile.
        let store = Store::open(&path, &StoreOptions::default()).unwrap();
        store
            .write(|kv| {
                let hash = one_core::plugins::module_hash(&example("tickets"));
                let mut key = vec![b'M', b'c'];
                key.extend_from_slice(&hash);
                assert!(kv.get(&key)?.is_some(), "no cached code under M c");
                kv.put(key, b"stale code".as_slice())
            })
            .unwrap();
        store.close().unwrap();
        let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
        let engine = open(Some(runtime.clone()));
        // Compiled again in the background: writes of its types wait for it.
        let mut tries = 0;
        while let Err(Error::PluginFailed { reason, .. }) = ticket(&engine) {
            assert!(
                reason.contains("is compiling") && tries < 30_000,
                "{reason}"
            );
            tries += 1;
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(runtime.compilations(), 1);
        engine.close().unwrap();
        let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
        let engine = open(Some(runtime.clone()));
        assert_eq!(runtime.compilations(), 0, "the fresh code was not cached");
        ticket(&engine).unwrap();
    }
}

#[test]
fn two_tenants_share_one_stored_module() {
    let f = Fixture::new();
    let other = f
        .engine
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Other", "other"))
        .unwrap();
    let wasm = gadget_v("1");
    f.engine.install_plugin(&f.ctx(), &wasm).unwrap();
    f.engine
        .install_plugin(&Context::system(other.id), &wasm)
        .unwrap();
    let modules = |f: &Fixture| {
        f.dump()
            .into_iter()
            .filter(|(k, _)| k.starts_with(b"Mw"))
            .count()
    };
    assert_eq!(modules(&f), 1);
    f.engine.uninstall_plugin(&f.ctx(), "gadgets").unwrap();
    assert_eq!(modules(&f), 1, "still used by the other tenant");
    f.engine
        .write(&Context::system(other.id), |tx| {
            tx.create_thing(NewThing::new("gadget", "g"))
        })
        .unwrap();
    f.engine
        .uninstall_plugin(&Context::system(other.id), "gadgets")
        .unwrap();
    assert_eq!(modules(&f), 0);
    assert!(
        !f.dump()
            .iter()
            .any(|(k, _)| k.starts_with(b"Mc") || k.starts_with(b"Dp")),
        "cached code or users left behind"
    );
}

#[test]
fn a_module_unloaded_under_a_tenant_is_loaded_again_from_its_stored_code() {
    let f = Fixture::new();
    let wasm = gadget_v("1");
    f.engine.install_plugin(&f.ctx(), &wasm).unwrap();
    let hash = one_core::plugins::module_hash(&wasm);
    assert!(f.runtime.is_loaded(&hash));
    let compiled = f.runtime.compilations();
    f.runtime.unload(&hash);
    f.create("gadget", serde_json::json!({})).unwrap();
    assert!(f.runtime.is_loaded(&hash));
    assert_eq!(
        f.runtime.compilations(),
        compiled,
        "it was compiled, not loaded"
    );
}

/// The real runtime, whose compiles wait until the test opens a gate: to see what the
/// engine does while a module compiles.
#[derive(Debug)]
struct Gated {
    inner: Runtime,
    open: std::sync::Mutex<bool>,
    opened: std::sync::Condvar,
}

impl Gated {
    fn release(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl PluginRuntime for Gated {
    fn compile(
        &self,
        hash: &plugins::ModuleHash,
        wasm: &[u8],
    ) -> std::result::Result<plugins::Compiled, String> {
        self.inner.compile(hash, wasm)
    }

    fn load(
        &self,
        hash: &plugins::ModuleHash,
        wasm: &[u8],
        code: Option<&[u8]>,
    ) -> std::result::Result<Option<Vec<u8>>, String> {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        self.inner.load(hash, wasm, code)
    }

    fn load_compiled(&self, hash: &plugins::ModuleHash, code: &[u8]) -> bool {
        self.inner.load_compiled(hash, code)
    }

    fn unload(&self, hash: &plugins::ModuleHash) {
        self.inner.unload(hash)
    }

    fn is_loaded(&self, hash: &plugins::ModuleHash) -> bool {
        self.inner.is_loaded(hash)
    }

    fn prepare(
        &self,
        hash: &plugins::ModuleHash,
        input: &plugins::PrepareInput<'_>,
        reads: &mut dyn plugins::HostReads,
    ) -> std::result::Result<
        std::result::Result<one_core::Value, one_plugin_sdk::abi::Rejection>,
        String,
    > {
        self.inner.prepare(hash, input, reads)
    }

    fn react(
        &self,
        hash: &plugins::ModuleHash,
        change: &plugins::ChangeInput<'_>,
        reads: &mut dyn plugins::HostReads,
    ) -> std::result::Result<Vec<one_plugin_sdk::abi::Action>, String> {
        self.inner.react(hash, change, reads)
    }
}

#[test]
fn opening_never_waits_for_a_module_compiled_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.redb");
    let open = |runtime: Arc<dyn PluginRuntime>| {
        let store = Store::open(&path, &StoreOptions::default()).unwrap();
        Engine::new(store, clock())
            .unwrap()
            .with_plugins(runtime)
            .unwrap()
    };
    let tenant;
    let hash;
    {
        let engine = open(Arc::new(Runtime::new(Limits::default()).unwrap()));
        tenant = engine
            .admin()
            .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
            .unwrap();
        let wasm = example("tickets");
        hash = plugins::module_hash(&wasm);
        engine
            .install_plugin(&Context::system(tenant.id), &wasm)
            .unwrap();
        // Code another runtime made: this one cannot use it.
        let key = [b"Mc".as_slice(), hash.as_slice()].concat();
        engine
            .store()
            .write(|kv| kv.put(key.clone(), b"ONEc another runtime's code".to_vec()))
            .unwrap();
        engine.close().unwrap();
    }
    let ticket = |engine: &Engine| {
        engine.write(&Context::system(tenant.id), |tx| {
            tx.create_thing(
                NewThing::new("event_ticket", "t").properties(Value::from_json(
                    &serde_json::json!({"event": "E", "price_cents": 10, "quantity": 2}),
                )),
            )
        })
    };
    let gated = Arc::new(Gated {
        inner: Runtime::new(Limits::default()).unwrap(),
        open: std::sync::Mutex::new(false),
        opened: std::sync::Condvar::new(),
    });
    // The compile cannot finish before the gate opens, and yet the engine is open.
    let engine = open(gated.clone());
    match ticket(&engine) {
        Err(Error::PluginFailed { reason, .. }) => {
            assert!(reason.contains("is compiling"), "{reason}")
        }
        other => panic!("expected the plugin to be compiling, got {other:?}"),
    }
    // Other writes go on meanwhile.
    engine
        .write(&Context::system(tenant.id), |tx| {
            tx.create_thing(NewThing::new("note", "still open"))
        })
        .unwrap();
    gated.release();
    let mut written = None;
    for _ in 0..30_000 {
        match ticket(&engine) {
            Ok(t) => {
                written = Some(t);
                break;
            }
            Err(Error::PluginFailed { reason, .. }) if reason.contains("is compiling") => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    let t = written.expect("the module never finished compiling");
    assert_eq!(t.properties.get_path("total_cents"), Some(&Value::Int(20)));
    // The new code was cached at close: the next open compiles nothing.
    engine.close().unwrap();
    let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
    let engine = open(runtime.clone());
    ticket(&engine).unwrap();
    assert_eq!(
        runtime.compilations(),
        0,
        "the recompiled code was not cached"
    );
    assert!(engine.check().unwrap().is_ok());
}

#[test]
fn an_export_carries_what_a_plugin_was_granted() {
    let f = Fixture::new();
    let expo = f.base_tenant("expo");
    let ctx = Context::system(expo.id);
    f.engine
        .install_plugin(&ctx, &crate::example("tickets"))
        .unwrap();
    f.engine.grant_plugin(&ctx, "tickets", &[]).unwrap();
    let mut out = Vec::new();
    f.engine.export(&ctx, expo.id, &mut out).unwrap();
    assert!(String::from_utf8_lossy(&out).contains(r#""granted":[]"#));

    let other = Fixture::new();
    let report = other
        .engine
        .admin()
        .import(out.as_slice(), ImportInto::NewTenant)
        .unwrap();
    assert_eq!(report.plugins, 1);
    let info = other
        .engine
        .read(&ctx, |v| v.plugins())
        .unwrap()
        .into_iter()
        .find(|p| p.name == "tickets")
        .unwrap();
    assert_eq!(info.asks, ["things:read"]);
    assert!(info.granted.is_empty(), "{info:?}");
    assert!(other.engine.check().unwrap().is_ok());
}

/// Instances of one shared store each keep which plugin declares which type: a plugin
/// installed, disabled or uninstalled through one applies on the other at its next write.
#[test]
fn a_plugin_changed_through_one_instance_applies_on_another_at_its_next_write() {
    let a = testkit::Fixture::on(testkit::postgres_store());
    let store = a.engine.store().another_instance().unwrap().unwrap();
    let b = testkit::Fixture::on(store);
    let [a, b] = [a, b].map(|f| {
        let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
        f.map(|e| e.with_plugins(runtime))
    });
    let tenant = a.tenant("shop");
    let ctx = Context::system(tenant.id);
    let size = |f: &testkit::Fixture| -> Result<Option<Value>> {
        let thing = f.engine.write(&ctx, |tx| {
            tx.create_thing(
                NewThing::new("gadget", "a gadget")
                    .properties(Value::from_json(&serde_json::json!({"size": 9}))),
            )
        })?;
        Ok(thing.properties.get_path("size").cloned())
    };
    // B writes the type while it is plain, and remembers that no plugin declares it.
    assert_eq!(size(&b).unwrap(), Some(Value::Int(9)));
    assert_eq!(size(&b).unwrap(), Some(Value::Int(9)));
    a.engine.install_plugin(&ctx, &gadget_v("1")).unwrap();
    assert_eq!(size(&b).unwrap(), Some(Value::Int(1)));
    a.engine.set_plugin_enabled(&ctx, "gadgets", false).unwrap();
    match size(&b) {
        Err(Error::PluginFailed { plugin, reason }) => {
            assert_eq!(
                (plugin.as_str(), reason.as_str()),
                ("gadgets", "is disabled")
            );
        }
        other => panic!("{other:?}"),
    }
    a.engine.uninstall_plugin(&ctx, "gadgets").unwrap();
    assert_eq!(size(&b).unwrap(), Some(Value::Int(9)));
}

/// The plugin principal's entries of `root` (`T <root> 0x00 I …`) and the engine's
/// marker that they were indexed (`M n`): what a file written before plugins had
/// principals lacks.
fn principal_entries(engine: &Engine, root: GroupId) -> Vec<Vec<u8>> {
    let mut found: Vec<Vec<u8>> = testkit::dump(engine)
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            k.len() > 18
                && k[0] == b'T'
                && k[1..17] == root.to_be_bytes()
                && k[17] == 0
                && k[18] == b'I'
        })
        .collect();
    if engine.store().read().unwrap().get(b"Mn").unwrap().is_some() {
        found.push(b"Mn".to_vec());
    }
    found
}

#[test]
fn a_plugin_acts_as_its_own_principal_holding_what_its_tenant_granted() {
    let f = Fixture::new();
    let info = f
        .engine
        .install_plugin(&f.ctx(), &example("product"))
        .unwrap();
    let me = Principal::Plugin(info.principal);
    assert!(info.principal.to_string().starts_with("plg_"));
    assert_eq!(info.principal.to_string().parse::<Principal>().unwrap(), me);
    // Its reactions' events name it as their actor, and are found by it.
    f.create(
        "product",
        serde_json::json!({"price": 1, "currency": "eur", "sku": "ab-1", "stock": 1}),
    )
    .unwrap();
    let by_it = f
        .engine
        .read(&f.ctx(), |v| v.events(&EventQuery::latest().actor(me)))
        .unwrap()
        .items;
    assert_eq!(by_it.len(), 1);
    assert_eq!(by_it[0].kind, "low_stock");

    // Acting as it: what it was granted (`events:write`) in every group of its tenant,
    // in both environments, and nothing else.
    let team = f.group_under(f.tenant.id, "team");
    let log = |ctx: Context| {
        f.engine
            .write(&ctx, |tx| tx.log_event("noted", None, Value::map()))
    };
    for env in Env::ALL {
        let event = log(Context::plugin(info.principal, team, env)).unwrap();
        assert_eq!(event.actor, me);
    }
    let as_it = Context::plugin(info.principal, f.tenant.id, Env::Live);
    let denied = f
        .engine
        .write(&as_it, |tx| tx.create_thing(NewThing::new("note", "n")))
        .unwrap_err();
    assert!(
        matches!(
            denied,
            Error::Forbidden {
                needed: Permission::ThingsWrite,
                ..
            }
        ),
        "{denied:?}"
    );
    // Refused as any principal is: logged in its tenant, in its name.
    let denials = f.events(kinds::ACCESS_DENIED);
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0].actor, me);
    let hidden = f
        .engine
        .read(&as_it, |v| v.things(&ThingQuery::of_type("product")))
        .unwrap_err();
    assert!(
        matches!(
            hidden,
            Error::Forbidden {
                needed: Permission::ThingsRead,
                ..
            }
        ),
        "{hidden:?}"
    );
    let platform = f.engine.execute(&as_it, Request::Tenants).unwrap_err();
    assert!(
        matches!(platform, Error::PlatformOnly { .. }),
        "{platform:?}"
    );

    // Granted nothing, disabled or uninstalled, it holds nothing.
    f.engine.grant_plugin(&f.ctx(), "product", &[]).unwrap();
    assert!(matches!(log(as_it), Err(Error::NotFound { .. })));
    f.engine
        .grant_plugin(&f.ctx(), "product", &["events:write"])
        .unwrap();
    log(as_it).unwrap();
    f.engine
        .set_plugin_enabled(&f.ctx(), "product", false)
        .unwrap();
    assert!(matches!(log(as_it), Err(Error::NotFound { .. })));
    f.engine
        .set_plugin_enabled(&f.ctx(), "product", true)
        .unwrap();
    log(as_it).unwrap();
    // An entry that names another plugin than its id's (damaged) grants nothing.
    let entry = principal_entries(&f.engine, f.tenant.id)
        .into_iter()
        .find(|k| k[0] == b'T')
        .unwrap();
    let put = |name: &[u8]| {
        f.engine
            .store()
            .write(|kv| kv.put(entry.clone(), name.to_vec()).map(drop))
            .unwrap()
    };
    put(b"someone-else");
    assert!(matches!(log(as_it), Err(Error::NotFound { .. })));
    put(b"product");
    log(as_it).unwrap();
    f.engine.uninstall_plugin(&f.ctx(), "product").unwrap();
    assert!(matches!(log(as_it), Err(Error::NotFound { .. })));

    // Installed again, it is the same principal; in another tenant, another one, and
    // neither acts in the other's tenant.
    let again = f
        .engine
        .install_plugin(&f.ctx(), &example("product"))
        .unwrap();
    assert_eq!(again.principal, info.principal);
    let rival = f.base_tenant("rival");
    let theirs = f
        .engine
        .install_plugin(&Context::system(rival.id), &example("product"))
        .unwrap();
    assert_ne!(theirs.principal, info.principal);
    let across = log(Context::plugin(theirs.principal, f.tenant.id, Env::Live)).unwrap_err();
    assert!(matches!(across, Error::NotFound { .. }), "{across:?}");
    log(Context::plugin(theirs.principal, rival.id, Env::Live)).unwrap();
    let report = f.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
}

#[test]
fn a_file_written_before_plugin_principals_gets_them_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.redb");
    let open = || {
        let store = Store::open(&path, &StoreOptions::default()).unwrap();
        let runtime = Arc::new(Runtime::new(Limits::default()).unwrap());
        Engine::new(store, clock())
            .unwrap()
            .with_plugins(runtime)
            .unwrap()
    };
    let (tenant, principal);
    {
        let engine = open();
        tenant = engine
            .admin()
            .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
            .unwrap();
        let ctx = Context::system(tenant.id);
        principal = engine
            .install_plugin(&ctx, &example("product"))
            .unwrap()
            .principal;
        engine.install_plugin(&ctx, &example("tickets")).unwrap();
        engine.set_plugin_enabled(&ctx, "tickets", false).unwrap();
        // Only the enabled plugin is a principal.
        assert_eq!(principal_entries(&engine, tenant.id).len(), 2);
        // As an older engine left the file: no principals, no marker.
        let gone = principal_entries(&engine, tenant.id);
        engine
            .store()
            .write(|kv| gone.iter().try_for_each(|k| kv.delete(k)))
            .unwrap();
        let report = engine.check().unwrap();
        assert_eq!(report.problem_count, 1, "{:#?}", report.problems);
        assert!(
            report.problems[0]
                .message
                .contains("enabled plugin \"product\" has no principal entry"),
            "{:#?}",
            report.problems
        );
        engine.close().unwrap();
    }
    let engine = open();
    assert_eq!(principal_entries(&engine, tenant.id).len(), 2);
    let report = engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
    let ctx = Context::system(tenant.id);
    engine
        .write(&ctx, |tx| {
            tx.create_thing(NewThing::new("product", "p").properties(Value::from_json(
                &serde_json::json!({"price": 1, "currency": "eur", "sku": "ab-1", "stock": 1}),
            )))
        })
        .unwrap();
    let low = engine
        .read(&ctx, |v| v.events(&EventQuery::latest().kind("low_stock")))
        .unwrap()
        .items;
    assert_eq!(low.len(), 1);
    assert_eq!(low[0].actor, Principal::Plugin(principal));
}

#[test]
fn writes_after_an_install_or_uninstall_keep_the_plugins_indexes() {
    let f = Fixture::new();
    let product = |sku: &str| {
        f.create(
            "product",
            serde_json::json!({"price": 5, "currency": "eur", "sku": sku}),
        )
        .unwrap()
    };
    let cheap = || {
        f.engine
            .read(&f.ctx(), |v| {
                v.things(&ThingQuery::of_type("product").filter(Filter::from_json(
                    &serde_json::json!({"properties.price": {"$lt": 10}}),
                )?))
            })
            .unwrap()
            .items
            .len()
    };
    // A write before the plugin declares `product` and its index on `price`...
    let plain = product("ab-0");
    f.engine
        .install_plugin(&f.ctx(), &example("product"))
        .unwrap();
    // ...and writes after it: every one is in the index the install declared.
    product("ab-1");
    f.engine
        .write(&f.ctx(), |tx| {
            tx.update_thing(plain.id, ThingUpdate::default().property("price", 6))
        })
        .unwrap();
    assert_eq!(cheap(), 2);
    let report = f.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
    // Uninstalled, the index goes, and later writes leave none of its entries.
    f.engine.uninstall_plugin(&f.ctx(), "product").unwrap();
    product("ab-2");
    assert_eq!(cheap(), 3);
    let report = f.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
}
