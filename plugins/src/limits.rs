//! What a plugin may use: the per-call bounds, and the structural limits a module must
//! meet before it is compiled.
//!
//! Compiling is the one step fuel and epochs cannot bound. The compiler is single-pass
//! (Winch, `sandbox.rs`), so its time is linear in the module's size: the largest module
//! these limits allow compiles in well under a second here. [`check_module`] reads the
//! whole module with wasmparser — also linear and cheap — and refuses anything outside
//! [`ModuleLimits`] before the compiler sees it, which bounds the compiled code (about
//! 7× the module at worst: ~28 MB for 4 MiB of branches) and what an instance holds.

use std::time::Duration;

use wasmparser::{Operator, Parser, Payload, TypeRef};

/// The bounds of every plugin call.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest linear memory a call may grow to, in bytes (default 16 MiB, at most
    /// [`MAX_MEMORY_BYTES`]).
    pub memory_bytes: usize,
    /// The most table elements (default 10,000).
    pub table_elements: usize,
    /// The WASM instructions a call may run, roughly (default 20,000,000: about 50 ms
    /// here). Host functions charge fuel too.
    pub fuel: u64,
    /// Wall-clock bound of a call, enforced by epoch interruption every
    /// [`EPOCH_TICK`] (default 200 ms). Catches what fuel does not count, such as
    /// `memory.fill` over a large memory.
    pub deadline: Duration,
    /// The largest answer a plugin may return, in bytes (default 1 MiB).
    pub max_output_bytes: usize,
    /// What a module must meet to be compiled.
    pub module: ModuleLimits,
}

/// The upper bound of [`Limits::memory_bytes`]: the size of each memory slot the pooling
/// allocator reserves.
pub const MAX_MEMORY_BYTES: usize = 256 << 20;

/// How often the epoch advances; deadlines are counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_bytes: 16 << 20,
            table_elements: 10_000,
            fuel: 20_000_000,
            deadline: Duration::from_millis(200),
            max_output_bytes: 1 << 20,
            module: ModuleLimits::default(),
        }
    }
}

impl Limits {
    /// Sets the memory cap (clamped to [`MAX_MEMORY_BYTES`]).
    pub fn memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes.min(MAX_MEMORY_BYTES);
        self
    }

    /// Sets the fuel of a call.
    pub fn fuel(mut self, fuel: u64) -> Self {
        self.fuel = fuel;
        self
    }

    /// Sets the wall-clock bound of a call.
    pub fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sets the largest answer.
    pub fn max_output_bytes(mut self, bytes: usize) -> Self {
        self.max_output_bytes = bytes;
        self
    }

    /// Sets the structural limits of modules.
    pub fn module(mut self, module: ModuleLimits) -> Self {
        self.module = module;
        self
    }
}

/// Structural limits checked before a module is compiled. The defaults leave room for
/// Rust plugins several times the size of the examples; with the single-pass compiler,
/// any module that meets them compiles in under a second here (ABI.md, "Limits").
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ModuleLimits {
    /// The largest module, in bytes (default 4 MiB).
    pub max_bytes: usize,
    /// The most functions defined in the module (default 10,000).
    pub max_functions: u32,
    /// The largest function body, in bytes (default 256 KiB).
    pub max_body_bytes: usize,
    /// The most locals of one function (default 1,000).
    pub max_locals: u32,
    /// The deepest nesting of blocks, loops and ifs in one function (default 256).
    pub max_nesting: u32,
    /// The most globals defined in the module (default 10,000): each takes room in the
    /// instance, which the pooling allocator caps at 1 MiB.
    pub max_globals: u32,
}

impl Default for ModuleLimits {
    fn default() -> Self {
        Self {
            max_bytes: 4 << 20,
            max_functions: 10_000,
            max_body_bytes: 256 << 10,
            max_locals: 1_000,
            max_nesting: 256,
            max_globals: 10_000,
        }
    }
}

/// The imports a plugin may have: module `one`, with these names and signatures (as
/// [`signature`] writes them).
pub(crate) const HOST_IMPORTS: &[(&str, &str)] = &[
    ("panic", "(i32, i32) -> ()"),
    ("read", "(i32, i32) -> (i64)"),
];

/// A function type as the ABI and error messages write it: `(i32, i32) -> ()`.
fn signature(ty: &wasmparser::FuncType) -> String {
    let list = |types: &[wasmparser::ValType]| {
        types
            .iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("({}) -> ({})", list(ty.params()), list(ty.results()))
}

/// Checks `wasm` against `limits` without compiling it: a core module (not a
/// component), only the host's imports with the ABI's signatures, memories and tables
/// that start within the call limits, and every function within bounds.
pub fn check_module(wasm: &[u8], all: &Limits) -> Result<(), String> {
    let limits = &all.module;
    if wasm.len() > limits.max_bytes {
        return Err(format!(
            "the module is {} bytes, the limit is {}",
            wasm.len(),
            limits.max_bytes
        ));
    }
    if !wasm.starts_with(b"\0asm") {
        return Err("not a WebAssembly module (no `\\0asm` header)".into());
    }
    // The module's function types, by index, as far as the type section says.
    let mut types: Vec<Option<wasmparser::FuncType>> = Vec::new();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(|e| format!("not a valid WebAssembly module: {e}"))?;
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader.into_iter() {
                    let group = group.map_err(|e| format!("bad type section: {e}"))?;
                    for sub in group.into_types() {
                        types.push(match sub.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(f) => Some(f),
                            _ => None,
                        });
                    }
                }
            }
            Payload::Version { encoding, .. } if encoding != wasmparser::Encoding::Module => {
                return Err("components are not supported: build a core module".into());
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| format!("bad import section: {e}"))?;
                    let wanted = HOST_IMPORTS
                        .iter()
                        .find(|(name, _)| import.module == "one" && *name == import.name)
                        .map(|(_, signature)| *signature);
                    let Some(wanted) = wanted.filter(|_| matches!(import.ty, TypeRef::Func(_)))
                    else {
                        return Err(format!(
                            "imports `{}.{}`, which the host does not provide",
                            import.module, import.name
                        ));
                    };
                    if let TypeRef::Func(index) = import.ty {
                        let declared = types
                            .get(index as usize)
                            .and_then(Option::as_ref)
                            .map_or_else(|| format!("type {index}"), signature);
                        if declared != wanted {
                            return Err(format!(
                                "the module declares `one.{}` as {declared}; the ABI requires {wanted}",
                                import.name
                            ));
                        }
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    let memory = memory.map_err(|e| format!("bad memory section: {e}"))?;
                    let bytes = memory.initial.saturating_mul(64 << 10);
                    if bytes > all.memory_bytes as u64 {
                        return Err(format!(
                            "the module declares a memory of {} pages ({bytes} bytes) to start with; the memory limit is {} bytes ({} pages)",
                            memory.initial,
                            all.memory_bytes,
                            all.memory_bytes >> 16
                        ));
                    }
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    let table = table.map_err(|e| format!("bad table section: {e}"))?;
                    if table.ty.initial > all.table_elements as u64 {
                        return Err(format!(
                            "the module declares a table of {} elements to start with; the table limit is {} elements",
                            table.ty.initial, all.table_elements
                        ));
                    }
                }
            }
            Payload::FunctionSection(reader) => {
                let functions = reader.count();
                if functions > limits.max_functions {
                    return Err(format!(
                        "defines {functions} functions, the limit is {}",
                        limits.max_functions
                    ));
                }
            }
            Payload::GlobalSection(reader) => {
                let globals = reader.count();
                if globals > limits.max_globals {
                    return Err(format!(
                        "defines {globals} globals, the limit is {}",
                        limits.max_globals
                    ));
                }
            }
            Payload::CodeSectionEntry(body) => check_body(&body, limits)?,
            _ => {}
        }
    }
    Ok(())
}

fn check_body(body: &wasmparser::FunctionBody<'_>, limits: &ModuleLimits) -> Result<(), String> {
    let size = body.range().len();
    if size > limits.max_body_bytes {
        return Err(format!(
            "a function body is {size} bytes, the limit is {}",
            limits.max_body_bytes
        ));
    }
    let mut locals = 0u32;
    for group in body
        .get_locals_reader()
        .map_err(|e| format!("bad locals: {e}"))?
    {
        let (count, _) = group.map_err(|e| format!("bad locals: {e}"))?;
        locals = locals.saturating_add(count);
        if locals > limits.max_locals {
            return Err(format!(
                "a function has more than {} locals",
                limits.max_locals
            ));
        }
    }
    let mut depth = 0u32;
    let mut ops = body
        .get_operators_reader()
        .map_err(|e| format!("bad code: {e}"))?;
    while !ops.eof() {
        match ops.read().map_err(|e| format!("bad code: {e}"))? {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::TryTable { .. } => {
                depth += 1;
                if depth > limits.max_nesting {
                    return Err(format!(
                        "blocks are nested deeper than {} in a function",
                        limits.max_nesting
                    ));
                }
            }
            Operator::End => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wasm(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap()
    }

    #[test]
    fn modules_beyond_the_limits_are_refused_before_compiling() {
        let limits = Limits {
            module: ModuleLimits {
                max_locals: 10,
                max_nesting: 3,
                max_functions: 2,
                max_globals: 2,
                ..ModuleLimits::default()
            },
            ..Limits::default()
        };
        let ok = wasm("(module (func (local i32 i32) (block (block (nop)))))");
        check_module(&ok, &limits).unwrap();
        let cases = [
            (
                "(module (func (local i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i64)))",
                "more than 10 locals",
            ),
            (
                "(module (func (block (loop (if (i32.const 0) (then (block)))))))",
                "nested deeper than 3",
            ),
            ("(module (func) (func) (func))", "3 functions"),
            (
                "(module (global i32 (i32.const 0)) (global i32 (i32.const 0)) (global i32 (i32.const 0)))",
                "defines 3 globals, the limit is 2",
            ),
            (
                r#"(module (import "env" "fetch" (func)))"#,
                "imports `env.fetch`",
            ),
            (
                r#"(module (import "one" "panic" (memory 1)))"#,
                "imports `one.panic`",
            ),
            (
                r#"(module (import "one" "panic" (func (param i64) (result i32))))"#,
                "the module declares `one.panic` as (i64) -> (i32); the ABI requires (i32, i32) -> ()",
            ),
            (
                "(module (memory 65536))",
                "a memory of 65536 pages (4294967296 bytes) to start with; the memory limit is 16777216 bytes (256 pages)",
            ),
            (
                "(module (table 20000 funcref))",
                "a table of 20000 elements to start with; the table limit is 10000 elements",
            ),
        ];
        for (text, expected) in cases {
            let err = check_module(&wasm(text), &limits).unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
        let err = check_module(b"hello, not wasm", &limits).unwrap_err();
        assert!(err.contains("not a WebAssembly module"), "{err}");
        let err = check_module(b"\0asm\x01\0\0\0\x01\xff", &limits).unwrap_err();
        assert!(err.contains("not a valid WebAssembly module"), "{err}");
        let big = Limits {
            module: ModuleLimits {
                max_bytes: 8,
                ..ModuleLimits::default()
            },
            ..Limits::default()
        };
        assert!(
            check_module(&ok, &big)
                .unwrap_err()
                .contains("the limit is 8")
        );
    }
}
