//! Hostile plugins, written as WAT: each fails only the operation that called it, with
//! an error naming the plugin and the cause, leaves the store byte-for-byte unchanged,
//! and leaves the engine usable.

use std::time::Duration;

use one_core::*;
use one_plugins::Limits;

use crate::{BENIGN, Fixture, evil, evil_importing, evil_reacting, module};

/// Expects `result` to be `PluginFailed` for `plugin` with a reason containing `cause`.
fn assert_failed<T: std::fmt::Debug>(result: Result<T>, plugin: &str, cause: &str) {
    match result {
        Err(Error::PluginFailed { plugin: p, reason }) => {
            assert!(p.contains(plugin), "named {p:?}, expected {plugin:?}");
            assert!(reason.contains(cause), "reason {reason:?} lacks {cause:?}");
        }
        other => panic!("expected PluginFailed({plugin}: {cause}), got {other:?}"),
    }
}

/// Installs `wasm`, then checks that creating a `gadget` fails with `cause`, changes
/// nothing, and that the engine still works (a plain thing can be created, and a
/// well-behaved plugin still runs).
fn fails_in_hook(f: &Fixture, wasm: &[u8], cause: &str) {
    f.engine.install_plugin(&f.ctx(), wasm).unwrap();
    let before = f.dump();
    assert_failed(f.create("gadget", serde_json::json!({})), "evil", cause);
    assert_eq!(f.dump(), before, "a failing plugin changed the store");
    // The engine stays usable: other writes work, and so does the plugin's next call.
    f.create("note", serde_json::json!({"text": "still here"}))
        .unwrap();
    assert_failed(f.create("gadget", serde_json::json!({})), "evil", cause);
    f.engine.uninstall_plugin(&f.ctx(), "evil").unwrap();
}

/// Checks that installing `wasm` fails with `cause` and changes nothing.
fn refused_at_install(f: &Fixture, wasm: &[u8], cause: &str) {
    let before = f.dump();
    assert_failed(f.engine.install_plugin(&f.ctx(), wasm), "(module ", cause);
    assert_eq!(f.dump(), before, "a refused install changed the store");
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    // The wall-clock deadline is set far beyond the fuel's reach, so a loaded machine
    // cannot make the deadline fire first.
    let f = Fixture::with_limits(Limits::default().deadline(Duration::from_secs(600)));
    fails_in_hook(
        &f,
        &evil("(loop $l (br $l)) (unreachable)", ""),
        "ran out of fuel",
    );
}

#[test]
fn an_infinite_loop_with_fuel_to_spare_hits_the_deadline() {
    let f = Fixture::with_limits(
        Limits::default()
            .fuel(u64::MAX / 4)
            .deadline(Duration::from_millis(30)),
    );
    fails_in_hook(
        &f,
        &evil("(loop $l (br $l)) (unreachable)", ""),
        "ran past its deadline of 30 ms",
    );
}

#[test]
fn a_memory_grow_bomb_hits_the_memory_cap() {
    let f = Fixture::new();
    let bomb = "(loop $l (drop (memory.grow (i32.const 64))) (br $l)) (unreachable)";
    fails_in_hook(
        &f,
        &evil(bomb, ""),
        "exceeded its memory limit of 16777216 bytes",
    );
}

#[test]
fn deep_recursion_overflows_the_wasm_stack_not_the_process() {
    let f = Fixture::new();
    let wasm = evil(
        "(call $down (i64.const 0))",
        "(func $down (param $n i64) (result i64) (call $down (i64.add (local.get $n) (i64.const 1))))",
    );
    fails_in_hook(&f, &wasm, "overflowed its stack");
    // From a thread whose own stack is smaller than the WASM stack limit: the call
    // moves to a stack of its own instead of overflowing the thread's.
    f.engine.install_plugin(&f.ctx(), &wasm).unwrap();
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .stack_size(128 << 10)
            .spawn_scoped(s, || {
                assert_failed(
                    f.create("gadget", serde_json::json!({})),
                    "evil",
                    "overflowed its stack",
                );
            })
            .unwrap()
            .join()
            .unwrap();
    });
}

#[test]
fn a_huge_answer_is_refused() {
    let f = Fixture::new();
    fails_in_hook(
        &f,
        &evil("(i64.const 0x7fffffff)", ""),
        "answered 2147483647 bytes, the limit is 1048576",
    );
    fails_in_hook(
        &f,
        &evil("(call $answer (i32.const 0x1fff0) (i32.const 0x1000))", ""),
        "outside its memory",
    );
}

#[test]
fn an_answer_that_is_not_the_abi_is_refused() {
    let f = Fixture::new();
    fails_in_hook(
        &f,
        &evil("(call $answer (i32.const 16) (i32.const 5))", ""),
        "answered something that is not the ABI",
    );
}

#[test]
fn a_trap_in_a_hook_after_a_clean_install_fails_the_write() {
    let f = Fixture::new();
    fails_in_hook(&f, &evil("(unreachable)", ""), "unreachable");
    let message = "boom at line 7";
    let panicking = evil_importing(
        r#"(import "one" "panic" (func $panic (param i32 i32)))"#,
        "(call $panic (i32.const 3000) (i32.const 14)) (unreachable)",
        &format!(r#"(data (i32.const 3000) "{message}")"#),
    );
    fails_in_hook(&f, &panicking, "panicked: boom at line 7");
}

/// A plugin that passes `len` bytes at 3000, where `data` is, to `one.panic`, then runs
/// `then`.
fn panics_then(len: u32, data: &str, then: &str) -> Vec<u8> {
    evil_importing(
        r#"(import "one" "panic" (func $panic (param i32 i32)))"#,
        &format!("(call $panic (i32.const 3000) (i32.const {len})) {then}"),
        &format!(r#"(data (i32.const 3000) "{data}")"#),
    )
}

#[test]
fn a_panic_message_is_printable_text_and_never_hides_the_real_cause() {
    let f = Fixture::with_limits(Limits::default().deadline(Duration::from_secs(600)));
    // A length far past the message: cut at its NUL, no raw memory.
    let huge = panics_then(0x7fff_ffff, "boom", "(unreachable)");
    f.engine.install_plugin(&f.ctx(), &huge).unwrap();
    match f.create("gadget", serde_json::json!({})) {
        Err(Error::PluginFailed { reason, .. }) => {
            assert!(reason.ends_with("panicked: boom"), "{reason:?}")
        }
        other => panic!("{other:?}"),
    }
    f.engine.uninstall_plugin(&f.ctx(), "evil").unwrap();
    // Control characters read as spaces.
    fails_in_hook(
        &f,
        &panics_then(9, "bell\\07ring", "(unreachable)"),
        "panicked: bell ring",
    );
    // A long message says it was cut.
    fails_in_hook(
        &f,
        &panics_then(5000, &"x".repeat(5000), "(unreachable)"),
        "(cut at 4096 bytes)",
    );
    // A panic, then an endless loop: the fuel ran out, and that is what is said first.
    fails_in_hook(
        &f,
        &panics_then(4, "boom", "(loop $l (br $l)) (unreachable)"),
        "ran out of fuel",
    );
}

#[test]
fn an_export_with_the_wrong_signature_is_refused_at_install() {
    let f = Fixture::new();
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1)
             (func (export "one_abi_version") (result i32) (i32.const 1))
             (func (export "one_alloc") (param i32) (result i32) (i32.const 0))
             (func (export "one_call") (param i32) (result i32) (i32.const 0)))"#,
    )
    .unwrap();
    refused_at_install(
        &f,
        &wasm,
        "export `one_call` has type (i32) -> (i32), the ABI wants (i32, i32) -> (i64)",
    );
    let no_memory =
        wat::parse_str(r#"(module (func (export "one_abi_version") (result i32) (i32.const 1)))"#)
            .unwrap();
    refused_at_install(&f, &no_memory, "exports no memory named `memory`");
}

#[test]
fn an_import_the_host_does_not_provide_is_refused_at_install() {
    let f = Fixture::new();
    let wasm = evil_importing(
        r#"(import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))"#,
        BENIGN,
        "",
    );
    refused_at_install(
        &f,
        &wasm,
        "imports `wasi_snapshot_preview1.clock_time_get`, which the host does not provide",
    );
}

#[test]
fn bytes_that_are_not_wasm_are_refused_at_install() {
    let f = Fixture::new();
    refused_at_install(
        &f,
        b"\x7fELF\x02\x01\x01\0not a plugin",
        "not a WebAssembly module",
    );
    refused_at_install(&f, b"", "not a WebAssembly module");
    refused_at_install(
        &f,
        b"\0asm\x01\0\0\0\x05\xff\xff",
        "not a valid WebAssembly module",
    );
}

#[test]
fn another_abi_version_is_refused_at_install() {
    let f = Fixture::new();
    for version in [0, 3] {
        refused_at_install(
            &f,
            &module("evil", "1", version, BENIGN, ""),
            &format!(
                "speaks plugin ABI version {version}; this host runs versions 1 (JSON) and \
                 2 (binary)"
            ),
        );
    }
    // A module that says version 2 (binary) but answers in JSON is told so.
    refused_at_install(
        &f,
        &module("evil", "1", 2, BENIGN, ""),
        "answered something that is not the ABI",
    );
}

#[test]
fn nothing_of_one_call_reaches_the_next() {
    let f = Fixture::new();
    // Marks a byte of its memory on each call and traps if it finds it already marked:
    // it would on the second call if instances were reused.
    let wasm = evil(
        "(if (i32.load8_u (i32.const 1000)) (then (unreachable)))
         (i32.store8 (i32.const 1000) (i32.const 1))
         (global.set $next (i32.add (global.get $next) (i32.const 1)))
         (call $ok)",
        "",
    );
    f.engine.install_plugin(&f.ctx(), &wasm).unwrap();
    for _ in 0..20 {
        let t = f.create("gadget", serde_json::json!({})).unwrap();
        assert_eq!(
            t.properties,
            Value::from_json(&serde_json::json!({"size": 1}))
        );
    }
}

#[test]
fn a_second_tenant_is_not_affected_by_the_first_ones_plugin() {
    let f = Fixture::new();
    f.engine
        .install_plugin(&f.ctx(), &evil("(unreachable)", ""))
        .unwrap();
    let other = f
        .engine
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Other", "other"))
        .unwrap();
    // In the other tenant, `gadget` is a plain type: no plugin runs.
    let t = f
        .engine
        .write(&Context::system(other.id), |tx| {
            tx.create_thing(NewThing::new("gadget", "plain").property("size", -3))
        })
        .unwrap();
    assert_eq!(t.properties.get_path("size"), Some(&Value::Int(-3)));
}

#[test]
fn a_module_built_to_compile_for_minutes_is_refused_before_compiling() {
    // 50,000 locals in one function: Cranelift, the optimising compiler used before,
    // took 126 s on such a module here.
    let f = Fixture::new();
    let locals = " i64".repeat(50_000);
    let wasm = evil(BENIGN, &format!("(func (local{locals}))"));
    refused_at_install(&f, &wasm, "a function has more than 1000 locals");
    // Deep nesting: refused the same way.
    let nested = format!("(func {}{})", "(block ".repeat(300), ")".repeat(300));
    refused_at_install(&f, &evil(BENIGN, &nested), "nested deeper than 256");
    assert_eq!(f.runtime.compilations(), 0, "a refused module was compiled");
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "the issue's bound on install time is a wall-clock bound"
)]
fn modules_an_optimising_compiler_takes_seconds_over_install_at_once() {
    // Both within every structural limit. Cranelift took 25 s on each in a release build
    // here (BENCHMARKS.md, "Plugins"); the single-pass compiler 0.02-0.03 s. The bound
    // asserted is ABI.md's for the largest module allowed, far above what either takes.
    let f = Fixture::new();
    let values: String = (0..32_000)
        .map(|i| format!(" (i64.mul (local.get 0) (i64.const {i}))"))
        .collect();
    let stack = format!(
        "(func (param i64) (result i64){values}{})",
        " (i64.add)".repeat(31_999)
    );
    let branches: String = (0..50_000)
        .map(|i| format!(" (br_if {} (local.get 0))", i % 255))
        .collect();
    let nested = format!(
        "(func (param i32){}{branches}{})",
        " (block".repeat(255),
        ")".repeat(255)
    );
    for body in [stack, nested] {
        let wasm = evil(BENIGN, &body);
        let started = std::time::Instant::now();
        f.engine.install_plugin(&f.ctx(), &wasm).unwrap();
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(10),
            "a {} byte module took {took:?} to install",
            wasm.len()
        );
        // It works like any other plugin.
        f.create("gadget", serde_json::json!({})).unwrap();
        f.engine.uninstall_plugin(&f.ctx(), "evil").unwrap();
    }
}

/// The body of a hook that answers `prepare` well and does `react` (request byte 9 is
/// `r`) with `react`.
fn on_react(react: &str) -> String {
    format!(
        "(if (i32.eq (i32.load8_u offset=9 (local.get $ptr)) (i32.const 114)) (then {react})) (call $ok)"
    )
}

#[test]
fn a_reaction_that_fails_is_logged_and_cannot_undo_its_commit() {
    let f = Fixture::new();
    f.engine
        .install_plugin(&f.ctx(), &evil_reacting(&on_react("(unreachable)"), ""))
        .unwrap();
    let t = f.create("gadget", serde_json::json!({})).unwrap();
    let got = f.engine.read(&f.ctx(), |v| v.get_thing(t.id)).unwrap();
    assert_eq!(got, t, "the commit stands");
    let failed = f.events(kinds::PLUGIN_FAILED);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].target, Some(Ref::from(t.id)));
    assert_eq!(
        failed[0].metadata.get_path("plugin"),
        Some(&Value::from("evil"))
    );
    let reason = failed[0]
        .metadata
        .get_path("reason")
        .unwrap()
        .as_str()
        .unwrap();
    assert!(
        reason.contains("plugin evil failed") && reason.contains("unreachable"),
        "{reason}"
    );
}

#[test]
fn a_reaction_may_not_forge_the_engines_own_events() {
    let f = Fixture::new();
    let forged = r#"{"ok":{"actions":[{"log_event":{"kind":"thing_deleted","data":{}}}]}}"#;
    let body = on_react(&format!(
        "(return (call $answer (i32.const 3000) (i32.const {})))",
        forged.len()
    ));
    let data = format!(
        r#"(data (i32.const 3000) "{}")"#,
        forged.replace('"', "\\\"")
    );
    f.engine
        .install_plugin(&f.ctx(), &evil_reacting(&body, &data))
        .unwrap();
    f.create("gadget", serde_json::json!({})).unwrap();
    assert!(f.events(kinds::THING_DELETED).is_empty());
    let failed = f.events(kinds::PLUGIN_FAILED);
    assert_eq!(failed.len(), 1);
    let reason = failed[0]
        .metadata
        .get_path("reason")
        .unwrap()
        .as_str()
        .unwrap();
    assert!(
        reason.contains("asked to log `thing_deleted`")
            && reason.contains("is an event type the engine logs itself"),
        "{reason}"
    );
}

#[test]
fn properties_a_plugin_makes_unstorable_fail_the_plugin() {
    let f = Fixture::new();
    // Valid JSON, but nested deeper than a stored value may be.
    let deep = format!(
        r#"{{"ok":{{"properties":{{"a":{}1{}}}}}}}"#,
        "[".repeat(100),
        "]".repeat(100)
    );
    let body = format!("(call $answer (i32.const 3000) (i32.const {}))", deep.len());
    let data = format!(r#"(data (i32.const 3000) "{}")"#, deep.replace('"', "\\\""));
    fails_in_hook(
        &f,
        &evil(&body, &data),
        "answered properties that cannot be stored",
    );
}

#[test]
fn what_a_module_declares_beyond_the_limits_is_refused_at_install_by_name() {
    let f = Fixture::new();
    // The host's import under another signature: said the module's way round, before
    // anything is compiled.
    let wasm = evil_importing(
        r#"(import "one" "panic" (func (param i64) (result i32)))"#,
        BENIGN,
        "",
    );
    refused_at_install(
        &f,
        &wasm,
        "the module declares `one.panic` as (i64) -> (i32); the ABI requires (i32, i32) -> ()",
    );
    // Memories and tables that start beyond what a call may have: the limits of the ABI,
    // not the allocator's.
    refused_at_install(
        &f,
        &wat::parse_str("(module (memory 65536))").unwrap(),
        "a memory of 65536 pages (4294967296 bytes) to start with; the memory limit is 16777216 bytes (256 pages)",
    );
    refused_at_install(
        &f,
        &evil(BENIGN, "(table 20000 funcref)"),
        "a table of 20000 elements to start with; the table limit is 10000 elements",
    );
    // A module over the runtime's size limit (4 MiB), under the engine's (16 MiB): the
    // runtime's limit is the one named.
    let mut big = b"\0asm\x01\0\0\0".to_vec();
    let payload = 5usize << 20;
    let mut section = vec![3, b'p', b'a', b'd'];
    section.resize(section.len() + payload, 0);
    big.push(0);
    let mut n = section.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        big.push(if n == 0 { byte } else { byte | 0x80 });
        if n == 0 {
            break;
        }
    }
    big.extend_from_slice(&section);
    let before = f.dump();
    match f.engine.install_plugin(&f.ctx(), &big) {
        Err(Error::TooLarge {
            field: "module",
            limit,
            actual,
        }) => {
            assert_eq!(limit, Limits::default().module.max_bytes);
            assert_eq!(actual, big.len());
        }
        other => panic!("expected too_large, got {other:?}"),
    }
    assert_eq!(f.dump(), before);
}

#[test]
fn the_limits_in_abi_md_are_the_limits_enforced() {
    let abi = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ABI.md")).unwrap();
    let l = Limits::default();
    let thousands = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let size = |bytes: usize| match bytes {
        b if b.is_multiple_of(1 << 20) => format!("{} MiB", b >> 20),
        b => format!("{} KiB", b >> 10),
    };
    let rows = [
        format!("| module size | {} |", size(l.module.max_bytes)),
        format!(
            "| functions / body size / locals per function / block nesting | {} / {} / {} / {} |",
            thousands(u64::from(l.module.max_functions)),
            size(l.module.max_body_bytes),
            thousands(u64::from(l.module.max_locals)),
            l.module.max_nesting
        ),
        format!(
            "| globals | {} |",
            thousands(u64::from(l.module.max_globals))
        ),
        format!("| fuel per call | {} |", thousands(l.fuel)),
        format!(
            "| wall clock per call (epoch, {} ms ticks) | {} ms |",
            one_plugins::EPOCH_TICK.as_millis(),
            l.deadline.as_millis()
        ),
        format!(
            "| linear memory | {} (configurable up to {}) |",
            size(l.memory_bytes),
            size(one_plugins::MAX_MEMORY_BYTES)
        ),
        format!(
            "| table elements | {} |",
            thousands(l.table_elements as u64)
        ),
        format!("| answer | {} |", size(l.max_output_bytes)),
        format!(
            "| host read | {} fuel + 1 a byte each way + {} a record visited; {} sent |",
            thousands(one_plugins::READ_FUEL),
            one_plugins::ROW_FUEL,
            size(one_plugins::MAX_READ_BYTES)
        ),
    ];
    for row in rows {
        assert!(abi.contains(&row), "ABI.md lacks the row starting {row:?}");
    }
}

#[test]
fn a_huge_table_grow_is_reported_as_the_table_limit() {
    let f = Fixture::with_limits(Limits::default().deadline(Duration::from_secs(600)));
    fails_in_hook(
        &f,
        &evil(
            "(drop (table.grow $t (ref.null func) (i32.const -1))) (unreachable)",
            "(table $t 1 funcref)",
        ),
        "exceeded its table limit of 10000 elements",
    );
}

#[test]
fn a_value_the_plugin_made_is_blamed_on_the_plugin() {
    let f = Fixture::new();
    let answer = r#"{"ok":{"properties":{"size":-5}}}"#;
    let wasm = evil(
        &format!(
            "(call $answer (i32.const 3000) (i32.const {}))",
            answer.len()
        ),
        &format!(
            r#"(data (i32.const 3000) "{}")"#,
            answer.replace('"', "\\\"")
        ),
    );
    // The caller sent a good size; the plugin answered one its own type refuses.
    fails_in_hook(
        &f,
        &wasm,
        "answered `properties.size`, which its own type refuses",
    );
}

#[test]
fn too_many_globals_are_refused_before_they_reach_the_instance_size_cap() {
    let f = Fixture::new();
    // The module's own `$next` is one more.
    let globals = "(global i64 (i64.const 0))".repeat(10_000);
    refused_at_install(
        &f,
        &evil(BENIGN, &globals),
        "defines 10001 globals, the limit is 10000",
    );
    // At the limit, the module installs: its instance fits the pool's slot.
    f.engine
        .install_plugin(
            &f.ctx(),
            &evil(BENIGN, &"(global i64 (i64.const 0))".repeat(9_999)),
        )
        .unwrap();
}
