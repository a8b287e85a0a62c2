//! The wasmtime side: one engine per process, and one bounded, fresh instance per call.
//!
//! Every call gets a new `Store` and a new instance from the module's `InstancePre`
//! (pooling allocator: a few microseconds), so no memory, global or table survives from
//! one call — or one tenant — to the next. A call is bounded by fuel (counted per
//! instruction, charged by host functions too), by an epoch deadline (a background thread
//! advances the epoch every [`EPOCH_TICK`]), by a memory and table limiter that traps on
//! growth past the cap, by `max_wasm_stack`, and by the size of its answer. It runs on a
//! stack with room for `max_wasm_stack` plus the host's frames: when the calling thread
//! has less left, the call moves to a fresh stack segment.

use std::sync::OnceLock;

use wasmtime::{
    Caller, Config, Enabled, Engine, Extern, Instance, InstanceAllocationStrategy, InstancePre,
    Linker, Module, ModuleExport, OptLevel, PoolingAllocationConfig, ResourceLimiter, Store, Trap,
};

use one_core::plugins::HostReads;
use one_plugin_sdk::abi::{Read, Rejection, Reply};

use crate::encoding::Encoding;
use crate::limits::{EPOCH_TICK, Limits, MAX_MEMORY_BYTES};

/// The deepest WASM stack a call may use.
pub(crate) const MAX_WASM_STACK: usize = 512 << 10;
/// Stack a call needs beyond the WASM stack, for wasmtime's and our frames.
const HOST_STACK: usize = 256 << 10;
/// The size of a stack segment made for a call when the thread's own is too short.
const CALL_STACK: usize = 2 << 20;
/// The most instances alive at once, across all threads.
const MAX_CONCURRENT_CALLS: u32 = 256;
/// Bytes of each pooled memory reset in place rather than decommitted (a Rust plugin
/// touches its stack, data and a small heap: about 1.2 MiB).
const KEEP_RESIDENT: usize = 2 << 20;
/// The most bytes of a panic message kept.
const MAX_PANIC_MESSAGE: usize = 4 << 10;
/// The largest read a plugin may send.
pub const MAX_READ_BYTES: usize = 64 << 10;
/// Fuel one read costs, besides its bytes (one each way) and the records it visits.
pub const READ_FUEL: u64 = 10_000;
/// Fuel each record a read visits costs (a count visits one per thing counted): about
/// what the host spends on one, in instructions.
pub const ROW_FUEL: u64 = 100;

/// The process's one wasmtime engine (several engines in one process are what
/// wasmtime's advisories warn about), and the thread that advances its epoch.
pub(crate) fn engine() -> Result<&'static Engine, String> {
    static ENGINE: OnceLock<Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            // The pool reserves its address space up front (about 1 TiB for 256 slots of
            // 256 MiB plus guards). Where that is refused (`ulimit -v`, valgrind), calls
            // get their memories from mmap one at a time instead: slower, same limits.
            let engine = Engine::new(&config(InstanceAllocationStrategy::Pooling(pool())))
                .or_else(|pooled| {
                    Engine::new(&config(InstanceAllocationStrategy::OnDemand)).map_err(|e| {
                        format!("wasmtime: {e:#} (and with the pooling allocator: {pooled:#})")
                    })
                })?;
            let ticker = engine.clone();
            std::thread::Builder::new()
                .name("one-plugins-epoch".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(EPOCH_TICK);
                        ticker.increment_epoch();
                    }
                })
                .map_err(|e| format!("starting the epoch thread: {e}"))?;
            Ok(engine)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The pooling allocator: a slot per concurrent call, reset in place between calls.
fn pool() -> PoolingAllocationConfig {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_core_instances(MAX_CONCURRENT_CALLS)
        .total_memories(MAX_CONCURRENT_CALLS)
        .total_tables(MAX_CONCURRENT_CALLS)
        .max_memory_size(MAX_MEMORY_BYTES)
        .max_unused_warm_slots(32)
        // A returned memory is reset by zeroing only the pages the call dirtied (found
        // with Linux's PAGEMAP_SCAN where the kernel has it), up to this much, instead of
        // `madvise`: the next call then takes no page faults and no TLB shootdowns.
        // Measured: it cut the example `product` plugin's call from 42 µs to 16 µs
        // (BENCHMARKS.md).
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(64 << 10)
        .pagemap_scan(Enabled::Auto);
    pool
}

/// The engine's settings: the single-pass compiler, fuel and epochs on, the WASM
/// features plugins may use.
///
/// Plugins are compiled by Winch, wasmtime's baseline compiler: one pass over each
/// function, so compile time grows linearly with the module, where an optimising
/// compiler's grows faster than linearly with what one function keeps live and how its
/// blocks branch — no structural limit bounds that short of refusing ordinary code.
/// Measured here (BENCHMARKS.md, "Plugins"): modules within every limit that took
/// Cranelift 25 s compile in 0.02–0.03 s, the largest module allowed in 0.34 s; the
/// example plugins' calls cost 2.5 µs (minimal) and 17.5 µs (`product`'s `prepare`, the
/// guest on std's allocator) against Cranelift's 2.5 and 15.0 µs. Cranelift still
/// compiles wasmtime's trampolines, hence its opt level.
fn config(strategy: InstanceAllocationStrategy) -> Config {
    // `table.grow` is charged no fuel per element asked for: the limiter caps a table at
    // `Limits::table_elements`, so the work is bounded already, and a growth past the
    // cap is then reported as what it is (the table limit) rather than as fuel spent
    // before the cap was ever checked. Every other cost is wasmtime's default.
    let mut cost = wasmtime::OperatorCost::new();
    cost.variable.table_grow_per_element = 0;
    let mut cfg = Config::new();
    cfg.operator_cost(cost);
    cfg.consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK)
        .strategy(wasmtime::Strategy::Winch)
        .cranelift_opt_level(OptLevel::Speed)
        .wasm_memory64(false)
        .wasm_multi_memory(false)
        .wasm_relaxed_simd(false)
        .allocation_strategy(strategy);
    cfg
}

/// What one call's store holds: its limits, who answers its reads, and what the plugin
/// told the host.
pub(crate) struct CallState {
    /// How the module's messages are written.
    encoding: Encoding,
    memory_cap: usize,
    table_cap: usize,
    /// Who answers `one.read` during this call, if anyone does.
    reads: Option<ReadsHandle>,
    /// Set when the limiter refused a growth, or a read needed more fuel than was left.
    exceeded: Option<String>,
    /// The message the plugin passed to `one.panic`.
    panic: Option<String>,
}

/// The engine's answerer of this call's reads, borrowed for the call.
///
/// A wasmtime store's data must be `'static`, and the answerer borrows the transaction
/// being prepared, so the borrow is kept as a pointer with its lifetime erased. That is
/// sound because the pointer lives only in the [`Store`] that [`with_instance`] makes
/// and drops before it returns, while the `&mut` it was made from is held: nothing else
/// can reach the answerer meanwhile, and the pointer never outlives it.
struct ReadsHandle(std::ptr::NonNull<dyn HostReads + 'static>);

// SAFETY: wasmtime wants a store's data to be `Send`; this store is made, used and
// dropped by `with_instance` on the one thread it runs on, so the answerer is never
// reached from another thread.
#[allow(
    unsafe_code,
    reason = "the store holding the handle never leaves its thread; see `ReadsHandle`"
)]
unsafe impl Send for ReadsHandle {}

impl ReadsHandle {
    #[allow(
        unsafe_code,
        reason = "erases the lifetime of the call's reads answerer; see `ReadsHandle`"
    )]
    fn new(reads: &mut (dyn HostReads + '_)) -> Self {
        let ptr = std::ptr::NonNull::from(reads);
        // SAFETY: only the lifetime changes (same fat pointer); the handle lives in one
        // call's store, dropped before the borrow `reads` ends (see the type's note).
        Self(unsafe {
            std::mem::transmute::<
                std::ptr::NonNull<dyn HostReads + '_>,
                std::ptr::NonNull<dyn HostReads + 'static>,
            >(ptr)
        })
    }

    #[allow(
        unsafe_code,
        reason = "reaches the call's reads answerer; see `ReadsHandle`"
    )]
    fn get(&mut self) -> &mut dyn HostReads {
        // SAFETY: the answerer outlives the store holding this handle, and the only way
        // to it during the call is this handle, borrowed mutably here.
        unsafe { self.0.as_mut() }
    }
}

impl ResourceLimiter for CallState {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_cap {
            let why = format!(
                "exceeded its memory limit of {} bytes (asked for {desired})",
                self.memory_cap
            );
            self.exceeded = Some(why.clone());
            return Err(wasmtime::Error::msg(why));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_cap {
            let why = format!(
                "exceeded its table limit of {} elements (asked for {desired})",
                self.table_cap
            );
            self.exceeded = Some(why.clone());
            return Err(wasmtime::Error::msg(why));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        1
    }

    fn memories(&self) -> usize {
        1
    }
}

/// A compiled module with its imports resolved, ready to instantiate, and the encoding
/// of its messages.
pub(crate) struct Ready {
    pre: InstancePre<CallState>,
    /// What its `one_abi_version` asked for.
    pub(crate) encoding: Encoding,
    /// Whether it imports `one.read`.
    pub(crate) reads: bool,
    /// Its exports `memory`, `one_alloc` and `one_call`, found once rather than by name
    /// in every call.
    memory: ModuleExport,
    alloc: ModuleExport,
    call: ModuleExport,
}

/// Resolves `module`'s imports against the host's functions and asks it which ABI
/// version it speaks (refused unless the host speaks it too).
pub(crate) fn prepare(module: &Module, limits: &Limits) -> Result<Ready, String> {
    let export = |name: &str| {
        module
            .get_export_index(name)
            .ok_or_else(|| format!("exports nothing named `{name}`"))
    };
    let (memory, alloc, call) = (export("memory")?, export("one_alloc")?, export("one_call")?);
    let pre = link(module)?;
    let version = abi_version(&pre, limits)?;
    Ok(Ready {
        pre,
        encoding: Encoding::of_version(version)?,
        reads: module
            .imports()
            .any(|i| i.module() == "one" && i.name() == "read"),
        memory,
        alloc,
        call,
    })
}

/// Resolves `module`'s imports against the host's functions.
fn link(module: &Module) -> Result<InstancePre<CallState>, String> {
    let mut linker: Linker<CallState> = Linker::new(module.engine());
    linker
        .func_wrap("one", "read", host_read)
        .map_err(|e| format!("linking: {e:#}"))?;
    linker
        .func_wrap(
            "one",
            "panic",
            |mut caller: Caller<'_, CallState>, ptr: i32, len: i32| -> wasmtime::Result<()> {
                let asked = usize::try_from(len).unwrap_or(0);
                let kept = asked.min(MAX_PANIC_MESSAGE);
                charge(&mut caller, 1_000 + kept as u64)?;
                let mut buf = vec![0u8; kept];
                let read = caller
                    .get_export("memory")
                    .and_then(|e| e.into_memory())
                    .map(|m| m.read(&caller, ptr as u32 as usize, &mut buf).is_ok())
                    .unwrap_or(false);
                caller.data_mut().panic = Some(if read {
                    panic_text(&buf, asked > kept)
                } else {
                    "(its message was outside its memory)".into()
                });
                Ok(())
            },
        )
        .map_err(|e| format!("linking: {e:#}"))?;
    linker
        .instantiate_pre(module)
        .map_err(|e| format!("linking: {e:#}"))
}

/// `one.read`: answers the plugin's read (at `ptr..ptr+len`, in its ABI's encoding) with
/// the engine's answerer, and writes the answer into a buffer the plugin's `one_alloc`
/// gives; returns its address in the high 32 bits and its length in the low 32 bits.
fn host_read(mut caller: Caller<'_, CallState>, ptr: i32, len: i32) -> wasmtime::Result<i64> {
    let Ok(len) = usize::try_from(len) else {
        return Err(wasmtime::Error::msg(format!(
            "sent a read of negative length ({len})"
        )));
    };
    if len > MAX_READ_BYTES {
        return Err(wasmtime::Error::msg(format!(
            "sent a read of {len} bytes; the limit is {MAX_READ_BYTES}"
        )));
    }
    charge(&mut caller, READ_FUEL + len as u64)?;
    let memory = caller
        .get_export("memory")
        .and_then(|e| e.into_memory())
        .ok_or_else(|| wasmtime::Error::msg("exports no memory named `memory`"))?;
    let mut request = vec![0u8; len];
    memory
        .read(&caller, ptr as u32 as usize, &mut request)
        .map_err(|_| {
            wasmtime::Error::msg(format!(
                "sent a read at {ptr:#x} of {len} bytes, outside its memory"
            ))
        })?;
    let encoding = caller.data().encoding;
    let reply = match encoding.decode::<Read>(&request) {
        Err(e) => Reply::Error(Rejection::new(format!(
            "the host could not understand the read: {e}"
        ))),
        Ok(read) => {
            let left = caller.get_fuel()?;
            let max_rows = left / ROW_FUEL;
            let Some(reads) = caller.data_mut().reads.as_mut() else {
                return answer(
                    &mut caller,
                    memory,
                    &Reply::<()>::Error(Rejection::new(
                        "reads are answered during `prepare` and `react` only",
                    )),
                );
            };
            let found = reads
                .get()
                .read(&read, max_rows)
                .map_err(wasmtime::Error::msg)?;
            if found.rows > max_rows {
                caller.data_mut().exceeded = Some(format!(
                    "ran out of fuel: its read visited more records ({max_rows}) than the \
                     fuel it had left ({left} units, {ROW_FUEL} a record) pays for"
                ));
                caller.set_fuel(0)?;
                return Err(Trap::OutOfFuel.into());
            }
            charge(&mut caller, found.rows.saturating_mul(ROW_FUEL))?;
            Reply::from(found.reply)
        }
    };
    answer(&mut caller, memory, &reply)
}

/// Writes `reply` into the plugin's memory, in a buffer its `one_alloc` gives.
fn answer<T: serde::Serialize>(
    caller: &mut Caller<'_, CallState>,
    memory: wasmtime::Memory,
    reply: &Reply<T>,
) -> wasmtime::Result<i64> {
    let out = caller
        .data()
        .encoding
        .encode(reply)
        .map_err(wasmtime::Error::msg)?;
    charge(caller, out.len() as u64)?;
    let alloc = caller
        .get_export("one_alloc")
        .and_then(|e| e.into_func())
        .ok_or_else(|| wasmtime::Error::msg("exports no function `one_alloc`"))?
        .typed::<i32, i32>(&*caller)?;
    let len = i32::try_from(out.len())?;
    let at = alloc.call(&mut *caller, len)?;
    memory
        .write(&mut *caller, at as u32 as usize, &out)
        .map_err(|_| {
            wasmtime::Error::msg(format!(
                "`one_alloc({len})` returned {at:#x} for a read's answer, which is outside its memory"
            ))
        })?;
    Ok((((at as u32 as u64) << 32) | out.len() as u64) as i64)
}

/// A panic message as people read it: the bytes up to the first NUL (a C string's end),
/// as UTF-8 with invalid bytes replaced, control characters shown as spaces, and a mark
/// when the plugin sent more than [`MAX_PANIC_MESSAGE`] bytes.
fn panic_text(bytes: &[u8], cut: bool) -> String {
    let end = bytes.iter().position(|b| *b == 0);
    let text: String = String::from_utf8_lossy(&bytes[..end.unwrap_or(bytes.len())])
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    match (text.is_empty(), cut && end.is_none()) {
        (true, _) => "(an empty message)".into(),
        (false, true) => format!("{text}… (cut at {MAX_PANIC_MESSAGE} bytes)"),
        (false, false) => text.to_string(),
    }
}

/// Takes `cost` fuel from the caller, trapping when it has less.
fn charge(caller: &mut Caller<'_, CallState>, cost: u64) -> wasmtime::Result<()> {
    let left = caller.get_fuel()?;
    caller.set_fuel(left.saturating_sub(cost))?;
    if left < cost {
        return Err(Trap::OutOfFuel.into());
    }
    Ok(())
}

/// Runs `f` on a fresh instance of `ready` in a new store bounded by `limits`, on a
/// stack with room for it.
fn with_instance<T>(
    pre: &InstancePre<CallState>,
    encoding: Encoding,
    limits: &Limits,
    reads: Option<&mut (dyn HostReads + '_)>,
    f: impl FnOnce(&mut Store<CallState>, Instance) -> Result<T, Failure>,
) -> Result<T, String> {
    stacker::maybe_grow(MAX_WASM_STACK + HOST_STACK, CALL_STACK, || {
        let mut store = Store::new(
            pre.module().engine(),
            CallState {
                encoding,
                memory_cap: limits.memory_bytes,
                table_cap: limits.table_elements,
                reads: reads.map(ReadsHandle::new),
                exceeded: None,
                panic: None,
            },
        );
        store.limiter(|s| s);
        let ticks = limits.deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store
            .set_fuel(limits.fuel)
            .map_err(|e| format!("setting fuel: {e:#}"))?;
        let outcome = pre
            .instantiate(&mut store)
            .map_err(Failure::Wasm)
            .and_then(|instance| f(&mut store, instance));
        outcome.map_err(|e| explain(e, store.data(), limits))
    })
}

/// Sends `input` to a fresh instance of `ready` and returns its answer, within `limits`;
/// the plugin's reads are answered by `reads` (without one, they are refused).
pub(crate) fn call(
    ready: &Ready,
    limits: &Limits,
    input: &[u8],
    reads: Option<&mut (dyn HostReads + '_)>,
) -> Result<Vec<u8>, String> {
    with_instance(
        &ready.pre,
        ready.encoding,
        limits,
        reads,
        |store, instance| exchange(ready, store, instance, limits, input),
    )
}

/// Asks a fresh instance for the ABI version it speaks.
fn abi_version(pre: &InstancePre<CallState>, limits: &Limits) -> Result<i32, String> {
    // No message is exchanged: the encoding is not used.
    with_instance(pre, Encoding::Json, limits, None, |store, instance| {
        let version = instance
            .get_typed_func::<(), i32>(&mut *store, "one_abi_version")
            .map_err(|e| Failure::Abi(format!("export `one_abi_version`: {e:#}")))?;
        Ok(version.call(&mut *store, ())?)
    })
}

/// Why a call failed, in words, from the error and what the store saw.
fn explain(e: Failure, state: &CallState, limits: &Limits) -> String {
    match e {
        Failure::Abi(reason) => reason,
        Failure::Wasm(e) => {
            // A limit the call hit is the cause; a panic message only explains a trap
            // the plugin made itself (an `unreachable` after it, say).
            let limit = match (&state.exceeded, e.downcast_ref::<Trap>()) {
                (Some(why), _) => Some(why.clone()),
                (None, Some(Trap::OutOfFuel)) => {
                    Some(format!("ran out of fuel ({} units)", limits.fuel))
                }
                (None, Some(Trap::Interrupt)) => Some(format!(
                    "ran past its deadline of {} ms",
                    limits.deadline.as_millis()
                )),
                (None, Some(Trap::StackOverflow)) => Some("overflowed its stack".into()),
                _ => None,
            };
            match (limit, &state.panic) {
                (Some(limit), Some(message)) => format!("{limit}, after it panicked: {message}"),
                (Some(limit), None) => limit,
                (None, Some(message)) => format!("panicked: {message}"),
                (None, None) => match e.downcast_ref::<Trap>() {
                    Some(trap) => format!("trapped: {trap}"),
                    // A host function's error (a read outside its memory…): its own
                    // words, without the WASM backtrace wasmtime wraps it in.
                    None => e.root_cause().to_string(),
                },
            }
        }
    }
}

enum Failure {
    /// The module broke the ABI.
    Abi(String),
    /// WASM trapped or wasmtime refused.
    Wasm(wasmtime::Error),
}

impl From<wasmtime::Error> for Failure {
    fn from(e: wasmtime::Error) -> Self {
        Failure::Wasm(e)
    }
}

/// Sends `input` to `instance` (of `ready`) and reads its answer.
fn exchange(
    ready: &Ready,
    store: &mut Store<CallState>,
    instance: Instance,
    limits: &Limits,
    input: &[u8],
) -> Result<Vec<u8>, Failure> {
    let mut export = |at: &ModuleExport| instance.get_module_export(&mut *store, at);
    let memory = export(&ready.memory)
        .and_then(Extern::into_memory)
        .ok_or_else(|| Failure::Abi("exports no memory named `memory`".into()))?;
    let alloc = export(&ready.alloc).and_then(Extern::into_func);
    let entry = export(&ready.call).and_then(Extern::into_func);
    let alloc = alloc
        .ok_or_else(|| Failure::Abi("exports no function `one_alloc`".into()))?
        .typed::<i32, i32>(&*store)
        .map_err(|e| Failure::Abi(format!("export `one_alloc`: {e:#}")))?;
    let entry = entry
        .ok_or_else(|| Failure::Abi("exports no function `one_call`".into()))?
        .typed::<(i32, i32), i64>(&*store)
        .map_err(|e| Failure::Abi(format!("export `one_call`: {e:#}")))?;
    let len = i32::try_from(input.len())
        .map_err(|_| Failure::Abi(format!("a request of {} bytes is too large", input.len())))?;
    let ptr = alloc.call(&mut *store, len)?;
    memory
        .write(&mut *store, ptr as u32 as usize, input)
        .map_err(|_| {
            Failure::Abi(format!(
                "`one_alloc({len})` returned {ptr:#x}, which is outside its memory"
            ))
        })?;
    let packed = entry.call(&mut *store, (ptr, len))? as u64;
    let (at, size) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
    if size > limits.max_output_bytes {
        return Err(Failure::Abi(format!(
            "answered {size} bytes, the limit is {}",
            limits.max_output_bytes
        )));
    }
    let mut out = vec![0u8; size];
    memory.read(&*store, at, &mut out).map_err(|_| {
        Failure::Abi(format!(
            "answered {size} bytes at {at:#x}, outside its memory"
        ))
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panic_messages_are_printable_and_say_when_cut() {
        assert_eq!(panic_text(b"boom\0\0\0garbage", true), "boom");
        assert_eq!(panic_text(b"bell\x07ring\n", false), "bell ring");
        assert_eq!(panic_text(b"\0\0", true), "(an empty message)");
        assert_eq!(panic_text(&[0xff, b'x'], false), "\u{fffd}x");
        let long = vec![b'x'; MAX_PANIC_MESSAGE];
        assert!(panic_text(&long, true).ends_with("(cut at 4096 bytes)"));
        assert!(!panic_text(&long, false).contains("cut"));
    }
}
