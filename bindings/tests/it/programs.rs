//! C and Python programs against the built library: `tests/c/api_test.c` (also under
//! valgrind), `examples/quickstart.c` (linked to the shared and to the static library),
//! and `python/test_one.py`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/<profile>/deps`, where cargo built `libone_ffi.so` with the library this test
/// links (`target/<profile>/libone_ffi.so` is only refreshed by `cargo build`).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().to_path_buf()
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compiles one C file against `include/one.h` and the shared library.
fn compile(source: &Path, exe: &Path) {
    let lib = library_dir();
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-o"])
        .arg(exe)
        .arg(source)
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lone_ffi")
        .status()
        .expect("cc runs");
    assert!(status.success(), "compiling {} failed", source.display());
}

/// The plugin modules the C test installs: one that fills in a property, one that loops.
fn plugins(dir: &Path) -> (PathBuf, PathBuf) {
    let minimal = wat::parse_str(include_str!("../../../plugins/examples/minimal.wat")).unwrap();
    let looping = wat::parse_str(
        r#"(module
          (memory (export "memory") 1)
          (data (i32.const 16) "{\"ok\":{\"name\":\"looping\",\"version\":\"1\",\"types\":[{\"name\":\"spinner\"}]}}")
          (func (export "one_abi_version") (result i32) (i32.const 1))
          (func (export "one_alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "one_call") (param $ptr i32) (param $len i32) (result i64)
            (if (i32.ne (i32.load8_u offset=9 (local.get $ptr)) (i32.const 100))
              (then (loop $spin (br $spin))))
            (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 68))))"#,
    )
    .unwrap();
    let (a, b) = (dir.join("minimal.wasm"), dir.join("looping.wasm"));
    std::fs::write(&a, minimal).unwrap();
    std::fs::write(&b, looping).unwrap();
    (a, b)
}

/// Runs a program to success; its stdout and stderr.
fn run(command: &mut Command) -> (String, String) {
    // cargo's LD_LIBRARY_PATH for tests lists `target/<profile>` too, whose copy of the
    // library may be stale; the programs are linked with an rpath to the fresh one.
    let output = match command.env_remove("LD_LIBRARY_PATH").output() {
        Ok(output) => output,
        Err(e) => panic!(
            "{:?} did not start ({e}); the C ABI's tests need cc, valgrind and python3 \
             (Debian: apt-get install gcc valgrind python3)",
            command.get_program()
        ),
    };
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{stderr}",
        output.status,
    );
    (stdout, stderr)
}

fn api_test(dir: &Path) -> Command {
    let exe = dir.join("api_test");
    compile(&crate_dir().join("tests/c/api_test.c"), &exe);
    let (minimal, looping) = plugins(dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut command = Command::new(exe);
    command.arg(minimal).arg(looping).arg(data);
    command
}

#[test]
fn c_api_test_passes() {
    let dir = tempfile::tempdir().unwrap();
    let (stdout, _) = run(&mut api_test(dir.path()));
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}

#[test]
fn c_api_test_is_clean_under_valgrind() {
    let dir = tempfile::tempdir().unwrap();
    let test = api_test(dir.path());
    let mut command = Command::new("valgrind");
    command
        .args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect",
        ])
        .arg(test.get_program())
        .args(test.get_args());
    let (stdout, stderr) = run(&mut command);
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(stderr.contains("ERROR SUMMARY: 0 errors"), "{stderr}");
    for line in stderr.lines() {
        if line.contains("definitely lost:") || line.contains("indirectly lost:") {
            assert!(line.contains(" 0 bytes in 0 blocks"), "{stderr}");
        }
    }
}

#[test]
fn c_quickstart_runs() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("quickstart");
    compile(&crate_dir().join("examples/quickstart.c"), &exe);
    let (stdout, _) = run(Command::new(exe).arg(dir.path().join("data/one.redb")));
    assert!(stdout.contains("Mug"), "{stdout}");
}

#[test]
fn c_quickstart_links_statically() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("quickstart");
    let status = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-o"])
        .arg(&exe)
        .arg(crate_dir().join("examples/quickstart.c"))
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg(library_dir().join("libone_ffi.a"))
        // What the Rust standard library needs from the system.
        .args(["-lpthread", "-ldl", "-lm", "-lgcc_s"])
        .status()
        .expect("cc runs");
    assert!(status.success(), "linking the static library failed");
    let (stdout, _) = run(Command::new(exe).arg(dir.path().join("data/one.redb")));
    assert!(stdout.contains("Mug"), "{stdout}");
}

#[test]
fn python_wrapper_test_passes() {
    let dir = tempfile::tempdir().unwrap();
    let lib = library_dir().join("libone_ffi.so");
    let (stdout, _) = run(Command::new("python3")
        .arg(crate_dir().join("python/test_one.py"))
        .env("ONE_LIBRARY", lib)
        .env("ONE_TEST_DIR", dir.path()));
    assert!(stdout.contains("python: ok"), "{stdout}");
}
