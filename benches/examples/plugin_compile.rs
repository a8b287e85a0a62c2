//! How long the slowest modules that pass `ModuleLimits` take to compile: the bound that
//! the structural check puts on install time (compiling cannot be interrupted).
//!
//! `cargo run --release -p one-benches --example plugin_compile`

#![allow(
    clippy::disallowed_methods,
    reason = "a measuring tool reads the wall clock"
)]

use std::fmt::Write;
use std::time::Instant;

use one::plugins::{PluginRuntime, module_hash};
use one::wasm::{Limits, ModuleLimits, Runtime};

/// The start of a module that follows the ABI: its memory, and exports that answer any
/// call with a manifest of one type (the module is left open for more functions).
const ABI_EXPORTS: &str = r#"(module (memory (export "memory") 1)
        (data (i32.const 16) "{\"ok\":{\"name\":\"heavy\",\"version\":\"1\",\"types\":[{\"name\":\"heavy\"}]}}")
        (func (export "one_abi_version") (result i32) (i32.const 1))
        (func (export "one_alloc") (param i32) (result i32) (i32.const 1024))
        (func (export "one_call") (param i32 i32) (result i64)
          (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 64)))"#;

/// An ABI-following module with `functions` extra functions, each with `locals` i64
/// locals and a body of about `body` bytes mixing them (high register pressure), nested
/// `nesting` blocks deep.
fn adversarial(functions: usize, locals: usize, body: usize, nesting: usize) -> Vec<u8> {
    let mut text = String::from(ABI_EXPORTS);
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    for _ in 0..functions {
        text.push_str("(func (local");
        text.push_str(&" i64".repeat(locals));
        text.push(')');
        text.push_str(&"(block ".repeat(nesting));
        // Each step is at most 10 bytes of code (LEB128 local indices up to 2 bytes).
        for _ in 0..body / 10 {
            let (a, b, c) = (next(locals), next(locals), next(locals));
            write!(
                text,
                "(local.set {c} (i64.add (local.get {a}) (local.get {b})))"
            )
            .unwrap();
        }
        text.push_str(&")".repeat(nesting));
        text.push(')');
    }
    text.push(')');
    wat::parse_str(&text).unwrap()
}

/// The ABI's exports, then `body`: the module the bombs below wrap.
fn abi_module(body: &str) -> Vec<u8> {
    wat::parse_str(format!("{ABI_EXPORTS} {body})")).unwrap()
}

/// One function with no locals (one parameter) that keeps `values` values on the operand stack at once,
/// then adds them up: what makes an optimising compiler's register allocation slow.
fn stack_bomb(values: usize) -> Vec<u8> {
    let mut body = String::from("(func (param i64) (result i64)");
    for i in 0..values {
        write!(body, " (i64.mul (local.get 0) (i64.const {}))", 1_000 + i).unwrap();
    }
    body.push_str(&" (i64.add)".repeat(values - 1));
    body.push(')');
    abi_module(&body)
}

/// `functions` functions with blocks nested `nesting` deep and, in the innermost,
/// `branches` conditional branches spread over every level: many edges into every block.
fn branch_bomb(functions: usize, nesting: usize, branches: usize) -> Vec<u8> {
    let mut body = String::new();
    for _ in 0..functions {
        body.push_str("(func (param i32)");
        body.push_str(&" (block".repeat(nesting));
        for i in 0..branches {
            write!(body, " (br_if {} (local.get 0))", i % nesting).unwrap();
        }
        body.push_str(&")".repeat(nesting));
        body.push(')');
    }
    abi_module(&body)
}

fn main() {
    // `stack N…` / `branch N…`: the bombs at these sizes (values kept, branches);
    // `branches N…`: N functions of the largest branch bomb; `file PATH…`: modules on
    // disk (`.wat` read as text).
    if let Some(kind) = std::env::args().nth(1) {
        let runtime = Runtime::new(Limits::default()).unwrap();
        for arg in std::env::args().skip(2) {
            let wasm = match kind.as_str() {
                "stack" => stack_bomb(arg.parse().unwrap()),
                "branch" => branch_bomb(1, 255, arg.parse().unwrap()),
                "branches" => branch_bomb(arg.parse().unwrap(), 255, 57_000),
                _ if arg.ends_with(".wat") => wat::parse_file(&arg).unwrap(),
                _ => std::fs::read(&arg).unwrap(),
            };
            timed_compile(&runtime, &format!("{kind} {arg}"), &wasm);
        }
        return;
    }
    let limits = ModuleLimits::default();
    let runtime = Runtime::new(Limits::default()).unwrap();
    let cases = [
        (
            "one function at every limit",
            1,
            limits.max_locals as usize - 1,
            limits.max_body_bytes - 4096,
            limits.max_nesting as usize - 1,
        ),
        (
            "4 MiB of such functions",
            15,
            limits.max_locals as usize - 1,
            limits.max_body_bytes - 4096,
            8,
        ),
        (
            "the most functions allowed",
            limits.max_functions as usize - 3,
            50,
            300,
            8,
        ),
    ];
    for (name, functions, locals, body, nesting) in cases {
        let wasm = adversarial(functions, locals, body, nesting);
        let label =
            format!("{name}, {functions} × ({locals} locals, ~{body} B body, nesting {nesting})");
        timed_compile(&runtime, &label, &wasm);
    }
}

/// Compiles `wasm` and prints `label`, its size, the time taken and the outcome.
fn timed_compile(runtime: &Runtime, label: &str, wasm: &[u8]) {
    let started = Instant::now();
    let result = runtime.compile(&module_hash(wasm), wasm);
    println!(
        "{label}: {} bytes: {:.3} s, {}",
        wasm.len(),
        started.elapsed().as_secs_f64(),
        match result {
            Ok(compiled) => format!("compiled, {} bytes of code", compiled.code.len()),
            Err(e) => format!("refused: {e}"),
        }
    );
}
