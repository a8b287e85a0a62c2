//! Rules of the repository that the compiler does not check.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && name != "target" && !name.starts_with('.') {
            rust_files(&path, out);
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_starts_with_a_doc_comment() {
    let mut files = Vec::new();
    for dir in [
        "storage", "core", "plugins", "host", "bindings", "benches", "fuzz",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    assert!(files.len() > 20);
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let first = text
            .lines()
            .find(|l| !l.starts_with("#!["))
            .unwrap_or_default();
        assert!(
            first.starts_with("//!"),
            "{} must start with a `//!` paragraph saying what it is for",
            f.display()
        );
    }
}

fn dependencies(manifest: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join(manifest)).unwrap();
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
        } else if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            deps.push(name.trim().to_string());
        }
    }
    deps
}

#[test]
fn dependencies_point_the_way_the_design_says() {
    let vocabulary = dependencies("core/vocabulary/Cargo.toml");
    assert!(
        !vocabulary
            .iter()
            .any(|d| (d.starts_with("one") && d != "one-plugin-sdk")
                || ["redb", "wasmtime", "instant-distance"].contains(&d.as_str())),
        "the vocabulary depends on nothing of ONE but the plugin ABI's types, nothing of \
         storage and nothing of wasmtime: {vocabulary:?}"
    );
    let storage = dependencies("storage/Cargo.toml");
    assert!(
        storage
            .iter()
            .all(|d| !d.starts_with("one") || d == "one-vocabulary"),
        "storage depends on nothing of ONE but the vocabulary (for its error type): {storage:?}"
    );
    let core = dependencies("core/Cargo.toml");
    assert!(core.contains(&"one-storage".to_string()));
    for banned in ["wasmtime", "one", "one-plugins", "one-ffi", "libc"] {
        assert!(
            !core.contains(&banned.to_string()),
            "one-core must not depend on {banned}"
        );
        assert!(
            !storage.contains(&banned.to_string()),
            "one-storage must not depend on {banned}"
        );
    }
    assert!(
        !dependencies("host/Cargo.toml").contains(&"wasmtime".to_string()),
        "only plugins links wasmtime"
    );
    let client = dependencies("host/client/Cargo.toml");
    assert!(
        client
            .iter()
            .all(|d| ["one-vocabulary", "serde", "serde_json"].contains(&d.as_str())),
        "the remote client depends on the vocabulary and serde alone: {client:?}"
    );
    let sdk = dependencies("plugins/sdk/Cargo.toml");
    assert!(
        !sdk.iter().any(|d| d.starts_with("one") || d == "wasmtime"),
        "the guest SDK depends on nothing of the host side: {sdk:?}"
    );
    assert!(dependencies("plugins/Cargo.toml").contains(&"wasmtime".to_string()));
}

#[test]
fn only_bindings_speaks_c() {
    let mut files = Vec::new();
    for dir in ["storage/src", "core/src", "plugins/src", "host/src"] {
        rust_files(&root().join(dir), &mut files);
    }
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(
            !text.contains("no_mangle") && !text.contains("extern \"C\""),
            "{} exports a C symbol: only bindings/ speaks C",
            f.display()
        );
    }
    let ffi = dependencies("bindings/Cargo.toml");
    assert!(
        ffi.contains(&"one".to_string()),
        "bindings sit on the facade: {ffi:?}"
    );
}

#[test]
fn core_rooms_use_only_the_rooms_below_them() {
    let src = root().join("core/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let sources: Vec<crate::layers::Source> = files
        .iter()
        .map(|f| crate::layers::Source {
            path: f
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/"),
            text: std::fs::read_to_string(f).unwrap(),
        })
        .collect();
    assert!(sources.len() > 30);
    let found = crate::layers::violations(&sources);
    assert!(
        found.is_empty(),
        "the layer rule of core/src (host/tests/it/layers.rs) is broken:\n{}",
        found.join("\n")
    );
}

#[test]
fn every_room_says_what_it_is_for() {
    let src = root().join("core/src");
    for (room, purpose) in crate::layers::ROOMS {
        let module = src.join(room).join("mod.rs");
        let text = std::fs::read_to_string(&module).unwrap_or_else(|e| {
            panic!("room `{room}` ({purpose}) needs {}: {e}", module.display())
        });
        assert!(
            text.starts_with("//!"),
            "{} must open with what the room is for",
            module.display()
        );
    }
    let architecture = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    for (room, _) in crate::layers::ROOMS {
        assert!(
            architecture.contains(&format!("`{room}/`")),
            "ARCHITECTURE.md must describe the room `{room}/`"
        );
    }
}
