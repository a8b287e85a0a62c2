//! The fuzz targets' bodies, run on stable with generated and hand-picked inputs.

use one_core::{Context, NewApiKey, fuzz};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn ids_never_panic(text in "(grp|thg|con|evt|kno|x)?_?[0-9a-zA-Z_é]{0,30}") {
        fuzz::parse_id(text.as_bytes());
    }

    #[test]
    fn filters_never_panic(json in r#"\{("properties\.[a-z.]{0,4}"|"name"|"x"): ?(1|"a"|\[1\]|\{"\$(gt|in|exists|ne|zz)": ?(1|true|\[\]|"s"|null)\})\}"#) {
        fuzz::parse_filter(json.as_bytes());
    }

    #[test]
    fn credentials_never_panic(text in "(ok_(live|test|sess|once)_)?[0-9A-Za-z_:/.,*é]{0,50}") {
        fuzz::parse_credentials(text.as_bytes());
    }

    #[test]
    fn money_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        fuzz::money(&bytes);
    }

    #[test]
    fn keys_round_trip_and_keep_their_order(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        fuzz::decode_keys(&bytes);
    }

    #[test]
    fn arbitrary_stores_are_checked_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        fuzz::check_store(&bytes);
    }

    #[test]
    fn imports_succeed_whole_or_change_nothing(text in r#"\{"record":"(header|group|thing|event)",("format":"one-export",)?("version":2,)?"(group|id|kind|env)":"[a-zA-Z_0-9]{0,30}"\}(\n\{"record":"group"\})?"#) {
        fuzz::import(text.as_bytes());
    }

    #[test]
    fn requests_decode_round_trip_and_fail_without_a_trace(text in r#"\{"(get_thing|create_thing|update_thing|things|connect|log_event|add_member|record_usage|create_group|query_knowledge|events)": ?\{("(id|type|name|parent|group|filter|from|to|resource|amount|text|vector|k|update|person|role)": ?("thg_[0-9a-z]{0,26}"|"grp_[0-9a-z]{0,26}"|"[a-z_ ]{0,8}"|-?[0-9]{1,3}|\[[0-9.,]{0,8}\]|\{"(name|properties\.price|\$gt)": ?[0-9a-z"]{0,4}\}|null|true),? ?){0,3}\}\}"#) {
        fuzz::requests(text.as_bytes());
    }

    #[test]
    fn batches_fail_without_a_trace(text in r#"\[((\{"create_thing": ?\{"type": ?"(product|Bad)", ?"name": ?"[a-z]{0,3}"\}\}|\{"get_thing": ?\{"id": ?(\{"\$ref": ?[0-9]\}|"thg_x")\}\}|"tenants"|5),? ?){0,4}\]"#) {
        fuzz::requests(text.as_bytes());
    }

    #[test]
    fn records_never_panic(mut bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        fuzz::decode_records(&bytes);
        if let Some(first) = bytes.first_mut() { *first = 1; }
        fuzz::decode_records(&bytes);
    }
}

#[test]
fn hand_picked_inputs() {
    for input in [
        &b""[..],
        b"grp_",
        b"grp_00000000000000000000000000",
        b"thg_7zzzzzzzzzzzzzzzzzzzzzzzzz",
        b"\xff\xfe",
        b"evt_8zzzzzzzzzzzzzzzzzzzzzzzzz",
    ] {
        fuzz::parse_id(input);
        fuzz::parse_filter(input);
        fuzz::decode_records(input);
        fuzz::parse_credentials(input);
    }
    fuzz::parse_filter(br#"{"properties.a.b": {"$in": [1, 2.5, "x"]}, "status": "active"}"#);
    // A real export imports whole; with a line cut short, it changes nothing.
    let from = crate::Fixture::new();
    let acme = from.populated("acme");
    let mut export = Vec::new();
    from.engine
        .export(&Context::system(acme.id), acme.id, &mut export)
        .unwrap();
    fuzz::import(&export);
    fuzz::import(&export[..export.len() - 20]);
    // A store of real entries, and the same with one value cut short, are checked.
    let mut entries = Vec::new();
    for (k, v) in from
        .dump()
        .into_iter()
        .filter(|(k, v)| k.len() < 256 && v.len() < 256)
    {
        entries.push(k.len() as u8);
        entries.extend_from_slice(&k);
        entries.push(v.len() as u8);
        entries.extend_from_slice(&v);
    }
    fuzz::check_store(&entries);
    fuzz::decode_keys(&entries[..200]);
    // Every stored value of a populated tenant (its people's memberships among them)
    // decodes, and reads in place as it decodes whole.
    for (_, v) in from.dump() {
        fuzz::decode_records(&v);
    }
    fuzz::decode_records(&[1, 0, 0, 0]);
    // Regression: a value nested 200,000 deep in stored bytes overflowed the stack.
    let mut deep = [5u8, 1].repeat(200_000);
    deep.push(0);
    fuzz::decode_records(&deep);
    // A real key exercises the accepting path.
    let f = crate::Fixture::new();
    let g = f.tenant("fuzz");
    let key = f
        .engine
        .write(&Context::system(g.id), |tx| {
            tx.create_api_key(NewApiKey::new("k", &["read"]))
        })
        .unwrap();
    fuzz::parse_credentials(key.secret.expose().as_bytes());
    fuzz::parse_credentials(b"10.0.0.0/8");
    fuzz::parse_credentials(b"read,things:write");
    // Requests that decode, succeed, fail, and a batch whose last step fails.
    for request in [
        &br#"{"create_thing":{"type":"product","name":"Lamp","properties":{"price":1.5e300,"tags":[-0.0,18446744073709551615]}}}"#[..],
        br#"{"things":{"type":"product","filter":[{"properties.price":{"$gt":1}},{"properties.price":{"$gt":2}}]}}"#,
        br#"{"create_thing":{"type":"Bad Type","name":"x"}}"#,
        br#"{"create_group":{"parent":"grp_00000000000000000000000000","group":{"type":"dao","name":"D","slug":"d"}}}"#,
        br#""tenants""#,
        br#"{"events":{"type":"thing_created","actor":"system"}}"#,
        br#"[{"create_thing":{"type":"product","name":"A"}},{"connect":{"from":{"$ref":0},"type":"x","to":{"$ref":0}}},{"get_thing":{"id":{"$ref":1}}}]"#,
    ] {
        fuzz::requests(request);
    }
}
