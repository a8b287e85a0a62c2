//! The boundary: handles, argument checks, returned strings, the last error, and the
//! panic guard every exported function runs inside.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use one::{Context, Ontology, Subscription};
use serde::de::DeserializeOwned;

use crate::status::{ONE_INTERNAL, ONE_INVALID, ONE_MISUSE, ONE_OK};

/// An open database, as C sees it: an opaque handle from `one_open`.
pub struct OneDb {
    _opaque: [u8; 0],
}

/// Who acts, as C sees it: an opaque handle from one of the `one_ctx_*` calls.
pub struct OneCtx {
    _opaque: [u8; 0],
}

/// A change-feed subscription, as C sees it: an opaque handle from `one_subscribe`.
pub struct OneSub {
    _opaque: [u8; 0],
}

/// Why a call failed: a status code and a message.
#[derive(Debug)]
pub(crate) struct Failure {
    code: c_int,
    message: String,
}

impl Failure {
    /// A bad argument at the boundary.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self {
            code: ONE_INVALID,
            message: message.into(),
        }
    }

    /// A wait for changes ended because its database was closed.
    pub(crate) fn closed_while_waiting() -> Self {
        Self {
            code: ONE_MISUSE,
            message: "`db` was closed while this call waited for changes".into(),
        }
    }

    fn misuse(what: &str) -> Self {
        Self {
            code: ONE_MISUSE,
            message: format!("`{what}` is not an open handle (closed, freed, or never made)"),
        }
    }
}

impl From<one::Error> for Failure {
    fn from(e: one::Error) -> Self {
        // Codes are below 1,000, so the conversion cannot fail.
        let code = c_int::try_from(e.code()).unwrap_or(ONE_INTERNAL);
        Self {
            code,
            message: e.to_string(),
        }
    }
}

impl From<one::Failure> for Failure {
    /// A failure of the vocabulary (a batch's step): its code, and a message that names
    /// the step.
    fn from(f: one::Failure) -> Self {
        Self {
            code: c_int::try_from(f.code).unwrap_or(ONE_INTERNAL),
            message: f.to_string(),
        }
    }
}

pub(crate) type Outcome<T = ()> = Result<T, Failure>;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// The longest message `one_last_error_message` returns, in bytes (without its NUL); a
/// longer one (it may quote an input) is cut at a character boundary and ends in `…`.
pub const ONE_MAX_MESSAGE_BYTES: usize = 4096;

fn set_last_error(mut message: String) {
    if message.len() > ONE_MAX_MESSAGE_BYTES {
        let mut end = ONE_MAX_MESSAGE_BYTES - '…'.len_utf8();
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    // A message with a NUL in it (from user text) is cut there rather than lost.
    let bytes: Vec<u8> = message
        .into_bytes()
        .into_iter()
        .take_while(|b| *b != 0)
        .collect();
    let text = CString::new(bytes).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
}

/// The message of the most recent call on this thread that failed (empty if none has),
/// at most `ONE_MAX_MESSAGE_BYTES` (4096) bytes. The pointer stays valid until the next
/// failing call on the same thread; never free it.
#[unsafe(no_mangle)]
pub extern "C" fn one_last_error_message() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// Runs one exported call: catches panics, records the message of a failure, and turns
/// the outcome into a status code.
pub(crate) fn guard(call: impl FnOnce() -> Outcome) -> c_int {
    let failure = match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(())) => return ONE_OK,
        Ok(Err(failure)) => failure,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            Failure {
                code: ONE_INTERNAL,
                message: format!("internal error: {what}"),
            }
        }
    };
    set_last_error(failure.message);
    failure.code
}

// ---- Handles ----

/// What a handle value stands for.
enum Handle {
    Db(Arc<Ontology>),
    Ctx(Context),
    /// A subscription, with the value of the database handle it was made on.
    Sub(Arc<Mutex<Subscription>>, usize),
}

impl Handle {
    /// The name C code knows the handle's kind by.
    fn kind(&self) -> &'static str {
        match self {
            Handle::Db(_) => "db",
            Handle::Ctx(_) => "ctx",
            Handle::Sub(..) => "sub",
        }
    }
}

/// Open handles by value. Values come from a counter and are never reused, so a closed
/// handle is always recognised; C never dereferences them.
static HANDLES: RwLock<Option<HashMap<usize, Handle>>> = RwLock::new(None);
static NEXT_HANDLE: AtomicUsize = AtomicUsize::new(1);

fn register(handle: Handle) -> usize {
    // Aligned, non-null values, so they look like pointers to debuggers and sanitizers.
    let value = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed) << 4;
    HANDLES
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(HashMap::new)
        .insert(value, handle);
    value
}

/// Removes a handle of `kind`; the handle's value then never means anything again.
fn unregister(value: usize, kind: &'static str) -> Outcome {
    let removed = {
        let mut handles = HANDLES.write().unwrap_or_else(PoisonError::into_inner);
        handles.as_mut().and_then(|map| {
            if map.get(&value)?.kind() == kind {
                map.remove(&value)
            } else {
                None
            }
        })
    };
    // Dropped outside the lock: closing a database may take a while.
    removed.map(drop).ok_or_else(|| Failure::misuse(kind))
}

fn lookup<T>(
    value: usize,
    kind: &'static str,
    pick: impl FnOnce(&Handle) -> Option<T>,
) -> Outcome<T> {
    let handles = HANDLES.read().unwrap_or_else(PoisonError::into_inner);
    handles
        .as_ref()
        .and_then(|map| map.get(&value))
        .and_then(pick)
        .ok_or_else(|| Failure::misuse(kind))
}

/// Makes a database handle.
pub(crate) fn new_db(db: Ontology) -> *mut OneDb {
    std::ptr::without_provenance_mut(register(Handle::Db(Arc::new(db))))
}

/// Makes a context handle.
pub(crate) fn new_ctx(ctx: Context) -> *mut OneCtx {
    std::ptr::without_provenance_mut(register(Handle::Ctx(ctx)))
}

/// Makes a handle for a subscription made on the database `db`.
pub(crate) fn new_sub(sub: Subscription, db: *const OneDb) -> *mut OneSub {
    std::ptr::without_provenance_mut(register(Handle::Sub(Arc::new(Mutex::new(sub)), db.addr())))
}

/// The database behind a handle; it stays open while the returned `Arc` lives.
pub(crate) fn db(handle: *const OneDb) -> Outcome<Arc<Ontology>> {
    lookup(handle.addr(), "db", |h| match h {
        Handle::Db(db) => Some(Arc::clone(db)),
        _ => None,
    })
}

/// The context behind a handle.
pub(crate) fn ctx(handle: *const OneCtx) -> Outcome<Context> {
    lookup(handle.addr(), "ctx", |h| match h {
        Handle::Ctx(ctx) => Some(*ctx),
        _ => None,
    })
}

/// The subscription behind a handle.
pub(crate) fn sub(handle: *const OneSub) -> Outcome<Arc<Mutex<Subscription>>> {
    sub_on(handle).map(|(sub, _)| sub)
}

/// The subscription behind a handle, if it was made on the database handle `db`: a
/// subscription read through another database (or through the same file opened again)
/// is a misuse, refused before anything is read.
pub(crate) fn sub_of(handle: *const OneSub, db: *const OneDb) -> Outcome<Arc<Mutex<Subscription>>> {
    let (sub, made_on) = sub_on(handle)?;
    if made_on != db.addr() {
        return Err(Failure {
            code: ONE_MISUSE,
            message: "`sub` was made on another database handle (a subscription does not \
                      outlive the handle it was made on); nothing was read"
                .into(),
        });
    }
    Ok(sub)
}

fn sub_on(handle: *const OneSub) -> Outcome<(Arc<Mutex<Subscription>>, usize)> {
    lookup(handle.addr(), "sub", |h| match h {
        Handle::Sub(sub, db) => Some((Arc::clone(sub), *db)),
        _ => None,
    })
}

/// Whether `handle` is an open database handle.
pub(crate) fn is_open(handle: *const OneDb) -> bool {
    db(handle).is_ok()
}

/// Closes a database handle; the database closes when the calls running on it finish.
/// Calls waiting for changes are woken first, so none holds the file open.
pub(crate) fn close_db(handle: *mut OneDb) -> Outcome {
    // Unregistered before the waits end, so a woken call finds its handle closed.
    let open = db(handle);
    let closed = unregister(handle.addr(), "db");
    if let Ok(db) = open {
        db.engine().end_waits();
    }
    closed
}

/// Frees a context handle.
pub(crate) fn free_ctx(handle: *mut OneCtx) -> Outcome {
    unregister(handle.addr(), "ctx")
}

/// Frees a subscription handle.
pub(crate) fn free_sub(handle: *mut OneSub) -> Outcome {
    unregister(handle.addr(), "sub")
}

// ---- The one trust ----

/// Proof that the code holding it runs inside an exported call, whose caller keeps the
/// contract `one.h` states for every function: each pointer argument is NULL or valid
/// for the length of the call — strings NUL-terminated, byte buffers as long as their
/// length says, output pointers writable. Made only by [`exported!`], once per call, and
/// never sent elsewhere: every raw pointer a call receives is read through it, so that
/// promise is relied on in this one place.
pub(crate) struct Raw {
    _in_one_call: std::marker::PhantomData<*const ()>,
}

impl Raw {
    /// Takes the caller's promise for the arguments of the current exported call.
    ///
    /// # Safety
    /// Only inside an exported function, for its own arguments (see [`Raw`]).
    pub(crate) unsafe fn trust() -> Self {
        Self {
            _in_one_call: std::marker::PhantomData,
        }
    }

    /// A NUL-terminated UTF-8 argument.
    pub(crate) fn text<'a>(&self, ptr: *const c_char, name: &str) -> Outcome<&'a str> {
        // SAFETY: an argument of the exported call, valid as `Raw` says.
        unsafe { text(ptr, name) }
    }

    /// Like [`Raw::text`], but NULL is `None`.
    pub(crate) fn optional_text<'a>(
        &self,
        ptr: *const c_char,
        name: &str,
    ) -> Outcome<Option<&'a str>> {
        // SAFETY: an argument of the exported call, valid as `Raw` says.
        unsafe { optional_text(ptr, name) }
    }

    /// An id argument; a malformed or wrong-kind id is the engine's own error.
    pub(crate) fn id<T: FromStr<Err = one::IdError>>(
        &self,
        ptr: *const c_char,
        name: &str,
    ) -> Outcome<T> {
        parse_id(self.text(ptr, name)?)
    }

    /// A JSON argument decoded into `T`.
    pub(crate) fn json<T: DeserializeOwned>(&self, ptr: *const c_char, name: &str) -> Outcome<T> {
        // SAFETY: an argument of the exported call, valid as `Raw` says.
        unsafe { json(ptr, name) }
    }

    /// Like [`Raw::json`], but NULL is `T::default()`.
    pub(crate) fn optional_json<T: DeserializeOwned + Default>(
        &self,
        ptr: *const c_char,
        name: &str,
    ) -> Outcome<T> {
        // SAFETY: an argument of the exported call, valid as `Raw` says.
        unsafe { optional_json(ptr, name) }
    }

    /// A byte buffer argument of `len` bytes, refused before it is touched if `len` is
    /// over `max` (a length from a failed `ftell` is `(size_t)-1`).
    pub(crate) fn bytes<'a>(
        &self,
        ptr: *const u8,
        len: usize,
        max: usize,
        name: &str,
    ) -> Outcome<&'a [u8]> {
        if ptr.is_null() {
            return Err(Failure::invalid(format!("`{name}` is NULL")));
        }
        if len > max {
            return Err(Failure::invalid(format!(
                "`{name}` is {len} bytes; at most {max} are accepted"
            )));
        }
        // SAFETY: non-null, at most `max` long, and an argument of the exported call:
        // `len` readable bytes, as `Raw` says.
        Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    /// A number output (`uint64_t *`), checked and set to 0 before anything else is done.
    pub(crate) fn out_u64(&self, out: *mut u64, name: &str) -> Outcome<OutU64> {
        if out.is_null() {
            return Err(Failure::invalid(format!("`{name}` is NULL")));
        }
        // SAFETY: non-null, and an argument of the exported call: writable, as `Raw` says.
        unsafe { out.write(0) };
        Ok(OutU64(out))
    }

    /// The call's string output, checked and cleared before anything else is done.
    pub(crate) fn out(&self, out: *mut *mut c_char) -> Outcome<Out> {
        // SAFETY: an argument of the exported call, valid as `Raw` says.
        unsafe { Out::new(out) }
    }

    /// The call's handle output, checked and cleared before anything else is done.
    pub(crate) fn out_handle<T>(&self, out: *mut *mut T) -> Outcome<OutHandle<T>> {
        // SAFETY: an argument of the exported call, valid as `Raw` says.
        unsafe { OutHandle::new(out) }
    }

    /// What most calls start with: the string output (checked first, so a bad one
    /// leaves nothing behind), then the database and the context the call acts as.
    pub(crate) fn call(
        &self,
        db_handle: *const OneDb,
        ctx_handle: *const OneCtx,
        out: *mut *mut c_char,
    ) -> Outcome<(Arc<Ontology>, Context, Out)> {
        let out = self.out(out)?;
        Ok((db(db_handle)?, ctx(ctx_handle)?, out))
    }
}

/// The body of an exported function: runs it inside [`guard`] with the call's [`Raw`],
/// `exported!(|raw| { ... })`.
macro_rules! exported {
    (|$raw:ident| $body:expr) => {
        $crate::boundary::guard(|| {
            // SAFETY: this expands only in the body of an exported function, whose caller
            // keeps the contract of `one.h` for its arguments: what `Raw` stands for.
            let $raw = unsafe { $crate::boundary::Raw::trust() };
            $body
        })
    };
}
pub(crate) use exported;

// ---- Arguments ----

/// A borrowed NUL-terminated UTF-8 argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string valid for the call.
unsafe fn text<'a>(ptr: *const c_char, name: &str) -> Outcome<&'a str> {
    if ptr.is_null() {
        return Err(Failure::invalid(format!("`{name}` is NULL")));
    }
    // SAFETY: non-null, and the caller promises a NUL-terminated string.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes
        .to_str()
        .map_err(|e| Failure::invalid(format!("`{name}` is not UTF-8: {e}")))
}

/// Like [`text`], but NULL is `None`.
///
/// # Safety
/// As [`text`].
unsafe fn optional_text<'a>(ptr: *const c_char, name: &str) -> Outcome<Option<&'a str>> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: as the caller promised.
    unsafe { text(ptr, name) }.map(Some)
}

/// Parses an id; a malformed or wrong-kind id is the engine's own error.
pub(crate) fn parse_id<T: FromStr<Err = one::IdError>>(text: &str) -> Outcome<T> {
    text.parse()
        .map_err(|e: one::IdError| Failure::from(one::Error::from(e)))
}

/// A JSON argument decoded into `T`.
///
/// # Safety
/// As [`text`].
unsafe fn json<T: DeserializeOwned>(ptr: *const c_char, name: &str) -> Outcome<T> {
    // SAFETY: as the caller promised.
    let text = unsafe { text(ptr, name) }?;
    one::decode::from_json(text).map_err(|e| match e {
        one::decode::Undecodable::Value(error) => Failure::from(error),
        one::decode::Undecodable::Shape(reason) => Failure::invalid(format!("`{name}`: {reason}")),
    })
}

/// Like [`json`], but NULL is `T::default()`.
///
/// # Safety
/// As [`text`].
unsafe fn optional_json<T: DeserializeOwned + Default>(
    ptr: *const c_char,
    name: &str,
) -> Outcome<T> {
    if ptr.is_null() {
        return Ok(T::default());
    }
    // SAFETY: as the caller promised.
    unsafe { json(ptr, name) }
}

// ---- Results ----

/// Where a call writes the string it returns. Checked before the call does anything, so
/// a NULL `out` never leaves a change behind.
pub(crate) struct Out(*mut *mut c_char);

impl Out {
    /// Checks `out` and clears `*out`.
    ///
    /// # Safety
    /// `out` is NULL or points to writable storage for one pointer.
    pub(crate) unsafe fn new(out: *mut *mut c_char) -> Outcome<Self> {
        if out.is_null() {
            return Err(Failure::invalid("`out` is NULL"));
        }
        // SAFETY: non-null and writable, as the caller promised.
        unsafe { out.write(std::ptr::null_mut()) };
        Ok(Self(out))
    }

    /// Hands `value`, as JSON text, to the caller.
    pub(crate) fn json(self, value: &impl serde::Serialize) -> Outcome {
        let text = serde_json::to_string(value)
            .map_err(|e| Failure::invalid(format!("the result cannot be shown as JSON: {e}")))?;
        self.text(text)
    }

    /// Hands `text` to the caller, who frees it with `one_string_free`.
    pub(crate) fn text(self, text: String) -> Outcome {
        let text = CString::new(text)
            .map_err(|_| Failure::invalid("the result has a NUL character in it"))?;
        // SAFETY: checked in `new`.
        unsafe { self.0.write(text.into_raw()) };
        Ok(())
    }
}

/// Where a call writes a handle it makes.
pub(crate) struct OutHandle<T>(*mut *mut T);

impl<T> OutHandle<T> {
    /// Checks `out` and clears `*out`.
    ///
    /// # Safety
    /// `out` is NULL or points to writable storage for one pointer.
    pub(crate) unsafe fn new(out: *mut *mut T) -> Outcome<Self> {
        if out.is_null() {
            return Err(Failure::invalid("`out` is NULL"));
        }
        // SAFETY: non-null and writable, as the caller promised.
        unsafe { out.write(std::ptr::null_mut()) };
        Ok(Self(out))
    }

    /// Hands the handle to the caller.
    pub(crate) fn set(self, handle: *mut T) {
        // SAFETY: checked in `new`.
        unsafe { self.0.write(handle) };
    }
}

/// Where a call writes a number it returns.
pub(crate) struct OutU64(*mut u64);

impl OutU64 {
    /// Hands `value` to the caller.
    pub(crate) fn set(self, value: u64) {
        // SAFETY: checked in `Raw::out_u64`.
        unsafe { self.0.write(value) };
    }
}

/// Frees a string that ONE returned. NULL is allowed and does nothing. Freeing any other
/// pointer, or the same one twice, is undefined behaviour (as with `free`).
///
/// # Safety
/// `s` is NULL or a string returned by ONE and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: made by `CString::into_raw` in `Out::text`, as the caller promised.
        drop(unsafe { CString::from_raw(s) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        // SAFETY: the pointer is valid until the next failing call on this thread.
        unsafe { CStr::from_ptr(one_last_error_message()) }
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn a_panic_becomes_one_internal_with_its_message() {
        let code = guard(|| panic!("the engine broke"));
        assert_eq!(code, ONE_INTERNAL);
        assert_eq!(last_error(), "internal error: the engine broke");
        let code = guard(|| panic!("{} and {}", "formatted", "owned"));
        assert_eq!(code, ONE_INTERNAL);
        assert_eq!(last_error(), "internal error: formatted and owned");
    }

    #[test]
    fn a_message_with_a_nul_is_cut_there() {
        let code = guard(|| Err(Failure::invalid("before\0after")));
        assert_eq!(code, ONE_INVALID);
        assert_eq!(last_error(), "before");
    }

    #[test]
    fn the_last_error_is_per_thread() {
        guard(|| Err(Failure::invalid("on the main thread")));
        std::thread::spawn(|| {
            assert_eq!(last_error(), "");
            guard(|| Err(Failure::invalid("on another thread")));
        })
        .join()
        .unwrap();
        assert_eq!(last_error(), "on the main thread");
    }

    #[test]
    fn handles_are_never_reused_and_keep_their_kind() {
        let ctx = new_ctx(Context::system(one::GroupId::from_u128(1)));
        assert!(self::ctx(ctx).is_ok());
        assert!(db(ctx.cast()).is_err(), "a context is not a database");
        assert!(free_ctx(ctx).is_ok());
        assert!(free_ctx(ctx).is_err(), "freed twice");
        let again = new_ctx(Context::system(one::GroupId::from_u128(1)));
        assert_ne!(again, ctx);
        assert!(free_ctx(again).is_ok());
    }
}
