//! The committed JSON Schema is the one the types generate, and it documents every
//! operation.

use std::path::Path;

use one_vocabulary::Request;

fn committed() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.json")
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let generated =
        serde_json::to_string_pretty(&one_vocabulary::schema::json_schema()).unwrap() + "\n";
    if std::env::var_os("ONE_BLESS").is_some() {
        std::fs::write(committed(), &generated).unwrap();
    }
    let on_disk = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        on_disk == generated,
        "core/vocabulary/schema.json is not what the types generate: run \
         `ONE_BLESS=1 cargo test -p one-vocabulary --test schema` and commit the file"
    );
}

#[test]
fn the_schema_describes_every_request() {
    let schema = one_vocabulary::schema::json_schema();
    let variants = schema["$defs"]["Request"]["oneOf"]
        .as_array()
        .expect("Request is a oneOf");
    for name in Request::NAMES {
        let variant = variants
            .iter()
            .find(|v| {
                v["const"] == *name
                    || v["enum"]
                        .as_array()
                        .is_some_and(|e| e.iter().any(|x| x == name))
                    || v["properties"].get(name).is_some()
            })
            .unwrap_or_else(|| panic!("`{name}` is not in the schema"));
        let described = variant["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty());
        assert!(
            described,
            "`{name}` has no description in the schema: {variant}"
        );
    }
}
