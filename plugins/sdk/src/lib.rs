//! `one-plugin-sdk`: write ONE plugins — custom thing types — in safe Rust.
//!
//! A plugin is a `cdylib` built for `wasm32-unknown-unknown`. Implement [`Plugin`] on a
//! type and name it in [`export_plugin!`]; the macro writes the three exports of the ABI
//! (`plugins/ABI.md`), so author code needs no `unsafe`:
//!
//! ```
//! use one_plugin_sdk::{Field, Manifest, Plugin, Prepare, Properties, Rejection, TypeSchema};
//!
//! struct Tickets;
//!
//! impl Plugin for Tickets {
//!     fn manifest() -> Manifest {
//!         Manifest {
//!             name: "tickets".into(),
//!             version: "1.0.0".into(),
//!             types: vec![TypeSchema::new("ticket", "A seat at an event")
//!                 .field(Field::integer("seat").required().min(1.0))],
//!             reacts: false,
//!             ..Manifest::default()
//!         }
//!     }
//!
//!     fn prepare(input: Prepare) -> Result<Properties, Rejection> {
//!         Ok(input.properties)
//!     }
//! }
//!
//! one_plugin_sdk::export_plugin!(Tickets);
//! ```
//!
//! Build it with `cargo build --target wasm32-unknown-unknown --release` and install the
//! `.wasm` file from `target/wasm32-unknown-unknown/release/`. Every call runs in a fresh
//! instance: statics never survive from one call to the next.
//!
//! On wasm32 the SDK installs its own global allocator (feature `arena`, on by
//! default): a bump allocator over a 1 MiB static arena, so a call does not grow its
//! memory, which costs the host two TLB shootdowns a call. Memory freed is reused only
//! when it is the last block handed out; a plugin that churns far more memory than it
//! keeps in one call can use std's allocator with `default-features = false`.

pub mod abi;
#[cfg(all(target_arch = "wasm32", feature = "arena"))]
#[allow(
    unsafe_code,
    reason = "an allocator hands out raw memory: the arena's bounds, in one module"
)]
mod arena;
pub mod host;
pub mod wire;

/// The plugin's allocator: a bump allocator over a static arena, so a call never grows
/// its memory (see `arena.rs`; feature `arena`, on by default).
#[cfg(all(target_arch = "wasm32", feature = "arena"))]
#[global_allocator]
static ALLOCATOR: arena::Arena = arena::Arena::new();

pub use abi::{
    Action, Change, ConnectionSchema, EventSchema, Field, FieldType, Manifest, Map, Op, Prepare,
    Properties, Rejection, Thing, TypeSchema, Value,
};

/// What a plugin implements. Only [`Plugin::manifest`] is required.
pub trait Plugin {
    /// The plugin's name, version and thing types. Asked once, when it is installed.
    fn manifest() -> Manifest;

    /// Validates and normalises the properties of a thing of one of the plugin's types
    /// before it is stored: return the properties to store (trimmed, defaults filled,
    /// computed fields set) or a [`Rejection`] naming the field. The default keeps them.
    /// The host then checks the result against the declared fields.
    fn prepare(input: Prepare) -> Result<Properties, Rejection> {
        Ok(input.properties)
    }

    /// Hears about a committed change to a thing of one of the plugin's types, and may
    /// ask for follow-up actions. Called only if the manifest says `reacts: true`. The
    /// default asks for none.
    fn react(change: Change) -> Vec<Action> {
        let _ = change;
        Vec::new()
    }
}

/// Answers one request (binary, ABI version 2): the whole plugin side of the ABI apart
/// from memory handling. Safe, and usable from native tests of a plugin.
pub fn handle<P: Plugin>(request: &[u8]) -> Vec<u8> {
    match postcard::from_bytes::<abi::Request>(request) {
        Ok(abi::Request::Describe) => match serde_json::to_string(&P::manifest()) {
            Ok(json) => encode(&abi::Reply::Ok(json)),
            Err(e) => refuse(format!("the plugin could not encode its manifest: {e}")),
        },
        Ok(abi::Request::Prepare(input)) => encode(&abi::Reply::from(
            P::prepare(input).map(|properties| abi::Prepared { properties }),
        )),
        Ok(abi::Request::React(change)) => encode(&abi::Reply::Ok(abi::Reaction {
            actions: P::react(change),
        })),
        Err(e) => refuse(format!("the plugin could not read the request: {e}")),
    }
}

/// `v` in the ABI's binary encoding.
fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // These plain types always encode: their maps have string keys.
    postcard::to_allocvec(v)
        .unwrap_or_else(|e| refuse(format!("the plugin could not encode its answer: {e}")))
}

/// A refusal naming `why`, encoded.
fn refuse(why: String) -> Vec<u8> {
    postcard::to_allocvec(&abi::Reply::<()>::Error(Rejection::new(why))).unwrap_or_default()
}

#[doc(hidden)]
pub mod __rt {
    //! The memory side of the ABI, used by [`crate::export_plugin!`]. Each call runs in a
    //! fresh instance, so nothing allocated here is ever freed: the instance is.
    #![allow(
        unsafe_code,
        reason = "the one place that turns ABI pointers into slices"
    )]

    use crate::Plugin;

    /// `one_alloc`: room for `len` bytes of input; 0 if `len` is negative.
    pub fn alloc(len: i32) -> i32 {
        let Ok(len) = usize::try_from(len) else {
            return 0;
        };
        let mut buf = Vec::<u8>::with_capacity(len);
        let ptr = buf.as_mut_ptr();
        std::mem::forget(buf);
        ptr as usize as i32
    }

    /// `one_call`: answers the request at `ptr..ptr+len`; returns the answer's address in
    /// the high 32 bits and its length in the low 32 bits.
    pub fn call<P: Plugin>(ptr: i32, len: i32) -> i64 {
        install_panic_hook();
        let input: &[u8] = match usize::try_from(len) {
            Ok(0) | Err(_) => &[],
            // SAFETY: the host wrote `len` bytes at `ptr`, a buffer `alloc` returned for
            // exactly that length; nothing else aliases it during this call.
            Ok(len) => unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len) },
        };
        let out = crate::handle::<P>(input);
        let packed = ((out.as_ptr() as usize as u64) << 32) | out.len() as u64;
        std::mem::forget(out);
        packed as i64
    }

    #[cfg(target_arch = "wasm32")]
    fn install_panic_hook() {
        #[link(wasm_import_module = "one")]
        unsafe extern "C" {
            #[link_name = "panic"]
            fn host_panic(ptr: i32, len: i32);
        }
        std::panic::set_hook(Box::new(|info| {
            let message = info.to_string();
            // SAFETY: the host only reads `len` bytes at `ptr`, which `message` owns.
            unsafe { host_panic(message.as_ptr() as usize as i32, message.len() as i32) }
        }));
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn install_panic_hook() {}

    /// Sends a read (binary) to the host through `one.read` and returns its answer, which
    /// the host wrote into a buffer it asked `one_alloc` for.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn host_read(request: &[u8]) -> Result<Vec<u8>, crate::Rejection> {
        #[link(wasm_import_module = "one")]
        unsafe extern "C" {
            #[link_name = "read"]
            fn host_read(ptr: i32, len: i32) -> i64;
        }
        // SAFETY: the host reads `len` bytes at `ptr`, which `request` owns.
        let packed =
            unsafe { host_read(request.as_ptr() as usize as i32, request.len() as i32) } as u64;
        let (at, len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        if len == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: the host wrote `len` bytes at `at`, a buffer `alloc(len)` made as a
        // `Vec<u8>` of exactly that capacity and forgot; nothing else owns it.
        Ok(unsafe { Vec::from_raw_parts(at as *mut u8, len, len) })
    }

    /// Outside the host there is nobody to read from.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn host_read(_request: &[u8]) -> Result<Vec<u8>, crate::Rejection> {
        Err(crate::Rejection::new(
            "host reads are answered by the ONE host; this plugin is not running in it",
        ))
    }
}

/// Writes the ABI exports (`one_abi_version`, `one_alloc`, `one_call`) for a type that
/// implements [`Plugin`]. Use it once, at the top level of the plugin crate.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The plugin ABI version this module speaks.
        #[unsafe(no_mangle)]
        pub extern "C" fn one_abi_version() -> i32 {
            $crate::abi::ABI_VERSION as i32
        }

        /// Room for the host to write a request of `len` bytes.
        #[unsafe(no_mangle)]
        pub extern "C" fn one_alloc(len: i32) -> i32 {
            $crate::__rt::alloc(len)
        }

        /// Answers the request the host wrote at `ptr`.
        #[unsafe(no_mangle)]
        pub extern "C" fn one_call(ptr: i32, len: i32) -> i64 {
            $crate::__rt::call::<$plugin>(ptr, len)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::{Op, Prepare, Prepared, Reply, Request};

    struct Upper;

    impl Plugin for Upper {
        fn manifest() -> Manifest {
            Manifest {
                name: "upper".into(),
                version: "1".into(),
                types: vec![TypeSchema::new("word", "")],
                ..Manifest::default()
            }
        }

        fn prepare(mut input: Prepare) -> Result<Properties, Rejection> {
            let text = input.properties["text"]
                .as_str()
                .ok_or_else(|| Rejection::field("text", "must be a string"))?
                .to_uppercase();
            input.properties.insert("text".into(), text.into());
            Ok(input.properties)
        }
    }

    fn ask(request: &Request) -> Vec<u8> {
        handle::<Upper>(&postcard::to_allocvec(request).unwrap())
    }

    #[test]
    fn a_plugin_answers_binary_requests_in_binary() {
        let describe: Reply<String> = postcard::from_bytes(&ask(&Request::Describe)).unwrap();
        let Reply::Ok(manifest) = describe else {
            panic!("a manifest")
        };
        assert_eq!(
            serde_json::from_str::<Manifest>(&manifest).unwrap(),
            Upper::manifest()
        );
        let prepare = |text: Value| {
            let mut properties = Properties::new();
            properties.insert("text".into(), text);
            Request::Prepare(Prepare {
                op: Op::Create,
                id: "thg_1".into(),
                group: "grp_1".into(),
                kind: "word".into(),
                name: "w".into(),
                properties,
                previous: None,
            })
        };
        let answer: Reply<Prepared> = postcard::from_bytes(&ask(&prepare("abc".into()))).unwrap();
        let Reply::Ok(prepared) = answer else {
            panic!("prepared properties")
        };
        assert_eq!(prepared.properties["text"], "ABC");
        let refused: Reply<Prepared> = postcard::from_bytes(&ask(&prepare(1.into()))).unwrap();
        assert_eq!(
            refused,
            Reply::Error(Rejection::field("text", "must be a string"))
        );
        let garbage: Reply<()> = postcard::from_bytes(&handle::<Upper>(b"{\"hook\"")).unwrap();
        let Reply::Error(why) = garbage else {
            panic!("a refusal")
        };
        assert!(
            why.message
                .starts_with("the plugin could not read the request")
        );
    }
}
