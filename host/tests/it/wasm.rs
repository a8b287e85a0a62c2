//! The facade with the wasmtime sandbox attached (feature `wasm`): a plugin installed
//! through `Ontology` checks the things of its type.

use one::*;

/// A plugin in WAT: type `badge`, whose `prepare` refuses everything with a message
/// naming the field `level`.
const STRICT: &str = r#"(module
  (memory (export "memory") 1)
  (data (i32.const 16) "{\"ok\":{\"name\":\"strict\",\"version\":\"1\",\"types\":[{\"name\":\"badge\"}]}}")
  (data (i32.const 512) "{\"error\":{\"field\":\"level\",\"message\":\"too low\"}}")
  (func (export "one_abi_version") (result i32) (i32.const 1))
  (func (export "one_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "one_call") (param $ptr i32) (param $len i32) (result i64)
    (if (result i64) (i32.eq (i32.load8_u offset=9 (local.get $ptr)) (i32.const 100))
      (then (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 65)))
      (else (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.const 47))))))"#;

#[test]
fn plugins_run_behind_the_facade() {
    let db = Ontology::builder()
        .wasm_plugins(wasm::Limits::default())
        .unwrap()
        .in_memory()
        .unwrap();
    let shop = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
        .unwrap();
    let ctx = Context::system(shop.id);
    let info = db
        .engine()
        .install_plugin(&ctx, &wat::parse_str(STRICT).unwrap())
        .unwrap();
    assert_eq!(info.name, "strict");
    let refused = db.write(&ctx, |tx| tx.create_thing(NewThing::new("badge", "b")));
    match refused {
        Err(Error::InvalidField { field, reason }) => {
            assert_eq!(
                (field.as_str(), reason.as_str()),
                ("properties.level", "too low")
            );
        }
        other => panic!("{other:?}"),
    }
}
