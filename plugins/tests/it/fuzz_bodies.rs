//! The plugin fuzz targets' bodies, run on stable with generated and hand-picked input.

use one_plugin_sdk::abi::{Action, Prepared, Properties, Reaction, Rejection, Reply};
use one_plugins::fuzz;
use proptest::prelude::*;

/// `answer` as JSON (the fuzz body's first byte: even).
fn json(answer: &str) -> Vec<u8> {
    [&[0u8][..], answer.as_bytes()].concat()
}

/// `answer` in the binary encoding (the fuzz body's first byte: odd).
fn binary(answer: &[u8]) -> Vec<u8> {
    [&[1u8][..], answer].concat()
}

/// `reply` encoded as ABI version 2 does, for the fuzz body.
fn encoded<T: serde::Serialize>(reply: &Reply<T>) -> Vec<u8> {
    binary(&postcard::to_allocvec(reply).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_answers_fail_cleanly_or_keep_the_schema(text in r#"\{"(ok|error)": ?\{"(properties|actions|field|message|name|types)": ?(\{"(price|tier|tags|x)": ?(-?[0-9]{1,3}(\.5)?|"[ab]"|\[\]|null|true|\{\})\}|\[\]|\[\{"log_event": ?\{"kind": ?"[a-z_]{0,12}"\}\}\]|"[a-z]{0,5}"|null)\}\}"#) {
        fuzz::answers(&json(&text));
    }

    #[test]
    fn arbitrary_bytes_as_a_binary_answer_fail_cleanly_or_keep_the_schema(
        bytes in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        fuzz::answers(&binary(&bytes));
        // Also after a well-formed start: `ok`, then a `Map` of that many entries.
        fuzz::answers(&binary(&[&[0u8, 6][..], &bytes].concat()));
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
        fuzz::answers(&json(text));
    }
    let properties = |json: serde_json::Value| match json {
        serde_json::Value::Object(m) => m,
        _ => Properties::new(),
    };
    let deep = (0..40).fold(serde_json::json!(1), |v, _| serde_json::json!([v]));
    for answer in [
        encoded(&Reply::Ok(Prepared {
            properties: properties(serde_json::json!({"price": 2, "tier": "a"})),
        })),
        encoded(&Reply::Ok(Prepared {
            properties: properties(serde_json::json!({"price": -1})),
        })),
        encoded(&Reply::Ok(Prepared {
            properties: properties(serde_json::json!({"price": 1, "tags": deep})),
        })),
        encoded(&Reply::<Prepared>::Error(Rejection::field("price", "no"))),
        encoded(&Reply::Ok(Reaction {
            actions: vec![Action::LogEvent {
                kind: "thing_created".into(),
                data: Properties::new(),
            }],
        })),
        encoded(&Reply::Ok(
            r#"{"name":"x","version":"1","types":[{"name":"person"}]}"#.to_string(),
        )),
        // A float that is not finite, as the value enum's `Float` (tag 3).
        binary(&[&[0u8, 6, 1, 5][..], b"price", &[3], &f64::NAN.to_le_bytes()].concat()),
        // A map claiming more entries than there are bytes.
        binary(&[0, 6, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        binary(b"{\"ok\":{\"properties\":{}}}"),
    ] {
        fuzz::answers(&answer);
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
