//! The plugin fuzz targets' bodies, run on stable with generated and hand-picked input.

use one_plugins::fuzz;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_answers_fail_cleanly_or_keep_the_schema(text in r#"\{"(ok|error)": ?\{"(properties|actions|field|message|name|types)": ?(\{"(price|tier|tags|x)": ?(-?[0-9]{1,3}(\.5)?|"[ab]"|\[\]|null|true|\{\})\}|\[\]|\[\{"log_event": ?\{"kind": ?"[a-z_]{0,12}"\}\}\]|"[a-z]{0,5}"|null)\}\}"#) {
        fuzz::answers(text.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_as_a_module_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut module = b"\0asm\x01\0\0\0".to_vec();
        module.extend_from_slice(&bytes);
        fuzz::module(&module);
        fuzz::module(&bytes);
    }
}

#[test]
fn hand_picked_answers() {
    for text in [
        "",
        "not json",
        r#"{"ok":{"properties":{"price":2}}}"#,
        r#"{"ok":{"properties":{"price":-1}}}"#,
        r#"{"ok":{"properties":{"price":"cheap"}}}"#,
        r#"{"ok":{"properties":{"price":1,"tier":"c"}}}"#,
        r#"{"ok":{"properties":{}}}"#,
        r#"{"ok":{"properties":{"price":1e308,"tags":[[[[[[]]]]]]}}}"#,
        r#"{"error":{"field":"price","message":"no"}}"#,
        r#"{"error":{"message":""}}"#,
        r#"{"ok":{"actions":[{"log_event":{"kind":"thing_created"}}]}}"#,
        r#"{"ok":{"actions":[{"log_event":{"kind":"restocked","data":{"n":1}}}]}}"#,
        r#"{"ok":{"name":"x","version":"1","types":[]}}"#,
        r#"{"ok":{"name":"x","version":"1","types":[{"name":"person"}]}}"#,
        r#"{"ok":{"name":"Bad Name","version":"1","types":[{"name":"gizmo"}]}}"#,
        r#"{"ok":{"name":"x","version":"1","types":[{"name":"gizmo","fields":[{"name":"a","type":"number","min":5,"max":1}]}]}}"#,
    ] {
        fuzz::answers(text.as_bytes());
    }
}

#[test]
fn hand_picked_modules() {
    let minimal = wat::parse_str(include_str!("../../examples/minimal.wat")).unwrap();
    for module in [
        &b""[..],
        b"\0asm",
        b"\0asm\x01\0\0\0",
        &minimal,
        &minimal[..minimal.len() / 2],
    ] {
        fuzz::module(module);
    }
}
