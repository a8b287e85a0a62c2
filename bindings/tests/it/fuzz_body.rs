//! The `c_json` fuzz target's body, run on stable with generated and hand-picked JSON.

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_arguments_never_panic(text in r#"\{("name"|"type"|"from"|"to"|"text"|"limit"|"email"|"password"|"permissions"|"after"|"filter"|"k"|"embedding"|"zz"): ?(1|-1|1e400|"a"|"grp_x"|\[\]|\[1, ?"b"\]|\{\}|null|true|"[a-z@.]{0,12}")\}"#) {
        one_ffi::fuzz::json_inputs(text.as_bytes());
    }
}

#[test]
fn hand_picked_json_arguments() {
    for text in [
        "",
        "{",
        "null",
        "[]",
        "{}",
        r#"{"type":"product","name":"Mug","properties":{"price":12}}"#,
        r#"{"type":"product","name":"Mug","properties":[1]}"#,
        r#"{"text":"hello","embedding":[1e39, 0]}"#,
        r#"{"limit":18446744073709551615}"#,
        r#"{"limit":-1}"#,
        r#"{"email":"a@b.co","password":"correct horse battery","name":"A"}"#,
        r#"{"name":"k","permissions":["*","nonsense"]}"#,
        r#"{"dimension":["everything"]}"#,
        "\u{1F600}",
    ] {
        one_ffi::fuzz::json_inputs(text.as_bytes());
    }
    let deep = format!(
        "{{\"type\":\"t\",\"name\":\"n\",\"properties\":{{\"a\":{}1{}}}}}",
        "[".repeat(500),
        "]".repeat(500)
    );
    one_ffi::fuzz::json_inputs(deep.as_bytes());
}
