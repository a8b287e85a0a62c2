//! `include/one.h` is what cbindgen makes of the crate today.

#[test]
fn header_is_current() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let config = cbindgen::Config::from_file(format!("{dir}/cbindgen.toml")).unwrap();
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen parses the crate")
        .write(&mut fresh);
    let path = format!("{dir}/include/one.h");
    if std::env::var_os("ONE_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "bindings/include/one.h is stale; regenerate it with \
         `ONE_BLESS=1 cargo test -p one-ffi --test it header`"
    );
}
