//! What the kernel holds for the features above it, without knowing their insides.
//!
//! The kernel resolves contexts and runs transactions; everything else ONE does —
//! access, metering, knowledge, plugins, the change feed — is a feature that keeps its
//! own state in its own type and asks to be called at fixed points of a transaction's
//! life. [`Parts`] holds one value of each feature's type (a type map, like
//! `http::Extensions`); [`Hooks`] lists the functions the features registered. Both are
//! filled in `assembly.rs`, the one place that names every feature: a new feature adds
//! its own file and one line there, and the kernel does not change.

use std::any::{Any, TypeId};

use one_storage::KvRead;

use super::engine::{AfterTx, Engine, Tx};
use crate::Result;
use crate::base::context::{Context, Env};
use crate::base::id::GroupId;

/// One value per type, found by its type.
struct TypeMap<B: ?Sized>(Vec<(TypeId, Box<B>)>);

impl<B: ?Sized> Default for TypeMap<B> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<B: ?Sized> TypeMap<B> {
    fn position<T: 'static>(&self) -> Option<usize> {
        self.0.iter().position(|(id, _)| *id == TypeId::of::<T>())
    }
}

/// The state the engine keeps for its features: one value per feature type, put there
/// when the engine is assembled and alive as long as the engine.
#[derive(Default)]
pub(crate) struct Parts(TypeMap<dyn Any + Send + Sync>);

impl Parts {
    /// Puts `part` in, replacing the part of the same type if there is one.
    pub(crate) fn insert<T: Any + Send + Sync>(&mut self, part: T) {
        match self.0.position::<T>() {
            Some(i) => self.0.0[i].1 = Box::new(part),
            None => self.0.0.push((TypeId::of::<T>(), Box::new(part))),
        }
    }

    /// The part of type `T`.
    ///
    /// # Panics
    ///
    /// If no part of type `T` was installed: a mistake in `assembly.rs`, which every test
    /// that opens an engine would show.
    pub(crate) fn get<T: Any>(&self) -> &T {
        self.0
            .position::<T>()
            .and_then(|i| self.0.0[i].1.downcast_ref())
            .unwrap_or_else(|| not_installed::<T>())
    }

    /// The part of type `T`, to change while the engine is being configured.
    ///
    /// # Panics
    ///
    /// As [`Parts::get`].
    pub(crate) fn get_mut<T: Any>(&mut self) -> &mut T {
        match self.0.position::<T>() {
            Some(i) => self.0.0[i].1.downcast_mut(),
            None => None,
        }
        .unwrap_or_else(|| not_installed::<T>())
    }
}

fn not_installed<T>() -> ! {
    panic!(
        "the engine was assembled without its {} part",
        std::any::type_name::<T>()
    )
}

/// State the features keep for the length of one transaction (or of one of its
/// scopes), made empty on first use.
#[derive(Default)]
pub(crate) struct Locals(TypeMap<dyn Any>);

impl Locals {
    /// The value of type `T`, made with `T::default()` if there is none yet.
    pub(crate) fn get<T: Any + Default>(&mut self) -> &mut T {
        let i = match self.0.position::<T>() {
            Some(i) => i,
            None => {
                self.0.0.push((TypeId::of::<T>(), Box::new(T::default())));
                self.0.0.len() - 1
            }
        };
        match self.0.0[i].1.downcast_mut() {
            Some(value) => value,
            // The entry at `i` was stored under `T`'s own type id.
            None => unreachable!("a local stored under another type's id"),
        }
    }

    /// Takes the value of type `T` out, if there is one.
    pub(crate) fn take<T: Any>(&mut self) -> Option<T> {
        let i = self.0.position::<T>()?;
        let (_, value) = self.0.0.swap_remove(i);
        value.downcast().ok().map(|b| *b)
    }
}

impl std::fmt::Debug for Locals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locals")
            .field("len", &self.0.0.len())
            .finish()
    }
}

/// Reads by key: what the tenant-boundary check needs of a snapshot, whichever kind of
/// transaction it is.
pub(crate) trait Get {
    /// Lends the value stored under `key` to `read`, if there is one, without copying it
    /// out; whether there was one.
    fn read(&self, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool>;
}

impl<K: KvRead> Get for K {
    fn read(&self, key: &[u8], read: &mut dyn FnMut(&[u8])) -> Result<bool> {
        Ok(KvRead::get_with(self, key, read)?.is_some())
    }
}

/// Whether the principal of a context (a person or an API key) belongs to the tenant
/// rooted at a group; asked once per principal and tenant, the kernel remembers a yes.
pub(crate) type Boundary = fn(&dyn Get, GroupId, &Context) -> Result<Belongs>;

/// What the tenant boundary found of a principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Belongs {
    /// Not a principal of the tenant.
    No,
    /// A principal of the tenant.
    Yes,
    /// A person of the tenant, and whether they are active (not deleted), read with the
    /// record that proved they belong: the call that asked may use it instead of reading
    /// the record again ([`crate::kernel::Scope::principal_active`]).
    Person {
        /// Whether the person is active.
        active: bool,
    },
}

/// The version of the data permissions are derived from, read before a snapshot is
/// taken: answers cached in that version may be used on the snapshot. A closure over the
/// access feature's own state, since every call asks.
pub(crate) type AccessEpoch = Box<dyn Fn() -> u64 + Send + Sync>;

/// Whether anyone listens to the changes of a tenant's environment (the change feed's
/// subscribers): an event is handed to the commit listener only then.
pub(crate) type Listening = fn(&Engine, GroupId, Env) -> bool;

/// Work a feature does when the engine opens.
pub(crate) type OnOpen = fn(&Engine) -> Result<()>;

/// Work a feature does when a write's closure succeeded, before its changes are final;
/// an error refuses them all (a limit that would be exceeded).
pub(crate) type OnSettle = for<'a, 't> fn(&mut Tx<'a, 't>) -> Result<()>;

/// Work a feature does once a transaction has ended; `committed` says whether its
/// changes were committed (a read is never committed).
pub(crate) type OnEnd = fn(&Engine, &mut AfterTx, bool);

/// A feature forgets what it cached from access data: after a transaction that changed
/// it has ended (before the end hooks run), and when another instance changed it.
pub(crate) type OnForget = fn(&Engine);

/// Work a feature does before the store syncs, copies or closes: state kept in memory is
/// written.
pub(crate) type OnFlush = fn(&Engine) -> Result<()>;

/// The functions the features registered, called by the kernel in registration order.
pub(crate) struct Hooks {
    pub(crate) boundary: Boundary,
    pub(crate) access_epoch: AccessEpoch,
    pub(crate) listening: Listening,
    pub(crate) open: Vec<OnOpen>,
    pub(crate) settle: Vec<OnSettle>,
    pub(crate) end: Vec<OnEnd>,
    pub(crate) forget: Vec<OnForget>,
    pub(crate) flush: Vec<OnFlush>,
}

impl Hooks {
    /// Hooks with the access feature's two answers every call needs, and nothing else
    /// yet.
    pub(crate) fn new(boundary: Boundary, access_epoch: AccessEpoch) -> Self {
        Self {
            boundary,
            access_epoch,
            listening: |_, _, _| false,
            open: Vec::new(),
            settle: Vec::new(),
            end: Vec::new(),
            forget: Vec::new(),
            flush: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_is_found_by_its_type_and_replaced_by_one_of_the_same_type() {
        let mut parts = Parts::default();
        parts.insert(7u32);
        parts.insert(String::from("feed"));
        parts.insert(9u32);
        assert_eq!(*parts.get::<u32>(), 9);
        assert_eq!(parts.get::<String>(), "feed");
        *parts.get_mut::<String>() = "changed".into();
        assert_eq!(parts.get::<String>(), "changed");
    }

    #[test]
    fn a_missing_part_names_its_type() {
        let parts = Parts::default();
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| *parts.get::<u64>()))
            .unwrap_err();
        let message = panic.downcast_ref::<String>().unwrap();
        assert!(message.contains("u64"), "{message}");
    }

    #[test]
    fn locals_start_empty_and_are_taken_once() {
        let mut locals = Locals::default();
        assert_eq!(locals.take::<Vec<u8>>(), None);
        locals.get::<Vec<u8>>().push(1);
        locals.get::<Vec<u8>>().push(2);
        *locals.get::<u32>() += 5;
        assert_eq!(locals.take::<Vec<u8>>(), Some(vec![1, 2]));
        assert_eq!(locals.take::<Vec<u8>>(), None);
        assert_eq!(*locals.get::<u32>(), 5);
    }
}
