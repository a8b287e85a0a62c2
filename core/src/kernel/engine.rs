//! The engine and its transactions: where a [`Context`] becomes a tenant's key range.
//!
//! [`Engine::write`] runs a closure in one storage write transaction: every mutation the
//! closure makes, the events they log, their index entries and counters commit together,
//! or, if the closure returns an error, none of them do. [`Engine::read`] runs a closure
//! on a snapshot. Both first resolve the context's group to its root tenant; a [`Tx`] or
//! [`View`] can then only build keys under that tenant's prefix, so no call can reach
//! another tenant's records. Within the tenant, a context reaches its group and the
//! group's descendants, and there only what its principal's permissions allow
//! ([`crate::access::memberships`]).
//!
//! Reads and writes of each dimension are methods on [`View`] and [`Tx`], defined next to
//! the dimension (`groups.rs`, `things.rs`, …). The features above the kernel keep their
//! state in [`Parts`] and do their work at a transaction's fixed points through [`Hooks`]
//! (`parts.rs`); the kernel calls them without knowing what they are.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use one_storage::{KvRead, ReadTx, Store, WritePlan, WriteTx};

use super::parts::{Belongs, Hooks, Locals, Parts};
use crate::base::clock::{Clock, Timestamp};
use crate::base::codec::{self, Record};
use crate::base::context::{Context, Env, Principal};
use crate::base::id::{GroupId, IdGen};
use crate::base::layout::resource_of;
use crate::base::layout::{self, Counter, StructureKeys, TenantKeys};
use crate::base::permission::Permission;
use crate::base::resource::Resource;
use crate::{Error, Result};
use one_vocabulary::records::group::Group;

use super::versioned::{IdHasher, Versioned};

/// The ONE engine over a [`Store`].
///
/// `Engine` is `Send + Sync`; share it with an `Arc`. Reads run concurrently with each
/// other and with at most one write transaction.
pub struct Engine {
    store: Store,
    clock: Arc<dyn Clock>,
    ids: Mutex<IdGen>,
    /// Group to root tenant, for groups seen committed.
    roots: RwLock<HashMap<GroupId, GroupId, IdHasher>>,
    /// Principals found to belong to a tenant, in an environment.
    members: RwLock<HashSet<(Principal, Env, GroupId), IdHasher>>,
    /// Committed groups by tenant and id, for the walks up the tree every call makes;
    /// forgotten whenever a transaction changes access data (every change to a group
    /// does).
    groups: Versioned<(GroupId, GroupId), Arc<Group>>,
    /// Transactions that changed access data and have not ended yet.
    access_changes_in_flight: Arc<AtomicUsize>,
    /// Whether other instances may write to the store too (PostgreSQL): then the caches
    /// follow the access version stored in the database, and ids start after the last
    /// one stored.
    shared: bool,
    /// The stored access version the caches were last forgotten at (shared stores).
    access_version: AtomicU64,
    /// The features' state.
    parts: Parts,
    /// The features' work at a transaction's fixed points.
    hooks: Hooks,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// What a context resolved to: its tenant and the key prefixes it may use.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    pub(crate) ctx: Context,
    pub(crate) root: GroupId,
    pub(crate) structure: StructureKeys,
    pub(crate) tenant: TenantKeys,
    /// Groups found to be in scope during this transaction, so each is walked once.
    in_scope: RefCell<HashSet<GroupId, IdHasher>>,
    /// The access-cache epoch read before this call's snapshot was taken; `None` when
    /// the cache must not be used (the transaction changed access data itself).
    cache_epoch: Cell<Option<u64>>,
    /// The same for the engine's cache of committed groups.
    groups_epoch: Cell<Option<u64>>,
    /// Permissions refused during the call, logged as `access_denied` when it ends.
    denials: RefCell<Vec<(GroupId, Permission)>>,
    /// Whether the context's person is active, if the tenant boundary read it at the
    /// start of this call.
    principal_active: Cell<Option<bool>>,
}

/// The application's error from a closure, kept while the engine unwinds the call with
/// an error of its own.
struct AppError<E>(Option<E>);

impl<E> AppError<E> {
    /// Keeps `e` and gives the engine an error to stop the call with.
    fn park(&mut self, e: E) -> Error {
        self.0 = Some(e);
        Error::Internal {
            reason: "the application's closure failed".into(),
        }
    }
}

/// Runs `call` (an engine call whose closure parks the application's errors) and
/// returns the application's error if there was one, else the engine's, converted.
fn with_app_error<R, E: From<Error>>(
    call: impl FnOnce(&mut AppError<E>) -> Result<R>,
) -> std::result::Result<R, E> {
    let mut failed = AppError(None);
    call(&mut failed).map_err(|e| failed.0.take().unwrap_or_else(|| E::from(e)))
}

/// A refused permission, waiting to be logged.
#[derive(Debug, Clone)]
pub(crate) struct Denial {
    pub(crate) ctx: Context,
    pub(crate) root: GroupId,
    pub(crate) group: GroupId,
    pub(crate) needed: Permission,
}

/// What a transaction leaves for the features to do once it has ended (see
/// [`super::parts::OnEnd`]).
#[derive(Debug, Default)]
pub(crate) struct AfterTx {
    /// Permissions refused during the transaction.
    pub(crate) denials: Vec<Denial>,
    /// Whether the transaction changed memberships, groups, people, keys or plugins.
    pub(crate) access_changed: bool,
    /// Held from that change until the transaction has ended and the caches were
    /// forgotten: meanwhile no call uses them (see [`Engine::caches_usable`]).
    in_flight: Option<AccessChangeInFlight>,
    /// What the features left themselves (limits run into, reactions owed…).
    pub(crate) leftovers: Locals,
}

/// One transaction that changed access data and has not ended yet, counted in
/// [`Engine::caches_usable`]'s counter until dropped.
#[derive(Debug)]
struct AccessChangeInFlight(Arc<AtomicUsize>);

impl Drop for AccessChangeInFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Scope {
    pub(crate) fn new(ctx: Context, root: GroupId) -> Self {
        Self {
            ctx,
            root,
            structure: StructureKeys::new(root),
            tenant: TenantKeys::new(root, ctx.env()),
            in_scope: RefCell::default(),
            cache_epoch: Cell::new(None),
            groups_epoch: Cell::new(None),
            denials: RefCell::default(),
            principal_active: Cell::new(None),
        }
    }

    pub(crate) fn cache_epoch(&self) -> Option<u64> {
        self.cache_epoch.get()
    }

    /// Whether the context's person is active, as the tenant boundary read it at the
    /// start of this call, while nothing the call did since can have changed it (it may
    /// use the caches, so it changed no access data).
    pub(crate) fn principal_active(&self) -> Option<bool> {
        self.cache_epoch.get().and(self.principal_active.get())
    }

    /// Lets this call use the caches, at the versions read before its snapshot.
    fn use_caches(&self, access: u64, groups: u64) {
        self.cache_epoch.set(Some(access));
        self.groups_epoch.set(Some(groups));
    }

    /// Forbids this call the caches from now on: what it reads may not be committed.
    fn stop_caching(&self) {
        self.cache_epoch.set(None);
        self.groups_epoch.set(None);
    }

    /// Runs `f`, forgetting the permissions it was refused: a plugin's reads are not the
    /// caller's doing to audit.
    pub(crate) fn quietly<R>(&self, f: impl FnOnce() -> R) -> R {
        let before = self.denials.borrow().len();
        let r = f();
        self.denials.borrow_mut().truncate(before);
        r
    }

    pub(crate) fn deny(&self, group: GroupId, needed: Permission) {
        self.denials.borrow_mut().push((group, needed));
    }

    fn take_denials(&self, into: &mut Vec<Denial>) {
        into.extend(
            self.denials
                .take()
                .into_iter()
                .map(|(group, needed)| Denial {
                    ctx: self.ctx,
                    root: self.root,
                    group,
                    needed,
                }),
        );
    }

    pub(crate) fn known_in_scope(&self, group: GroupId) -> bool {
        self.in_scope.borrow().contains(&group)
    }

    pub(crate) fn remember_in_scope(&self, group: GroupId) {
        self.in_scope.borrow_mut().insert(group);
    }

    /// Points the tenant keys at another environment (for engine work that spans both).
    pub(crate) fn set_env(&mut self, env: crate::base::context::Env) {
        self.tenant = TenantKeys::new(self.root, env);
    }

    pub(crate) fn forget_scope_checks(&self) {
        self.in_scope.borrow_mut().clear();
    }
}

/// A value a transaction's closure consumes. In a file the closure runs once, and the
/// value is moved into that run; on a shared store, where it may run again
/// ([`Store::write`]), each run gets a copy.
pub(crate) struct Consumed<T> {
    value: Option<T>,
    copies: bool,
}

impl<T: Clone> Consumed<T> {
    /// The value, for this run of the closure.
    pub(crate) fn take(&mut self) -> Result<T> {
        let value = if self.copies {
            self.value.clone()
        } else {
            self.value.take()
        };
        value.ok_or_else(|| Error::Internal {
            reason: "a transaction's closure ran twice on a store that runs it once".into(),
        })
    }
}

/// The ids a shared store's transaction made sure sort after every id stored in the
/// tenants whose turns it held as it began.
struct TenantIds {
    /// Those tenants' partitions (and any other the transaction held).
    held: Vec<Vec<u8>>,
    /// The last id issued once they were observed: every id the transaction made is
    /// above it.
    floor: u128,
}

/// The highest id stored (`M i`; 0 before the first).
fn stored_last_id(kv: &impl KvRead) -> Result<u128> {
    stored_id_at(kv, &layout::last_id())
}

/// The highest id stored in the tenant `root` by a shared store's transactions (0
/// before the first).
fn stored_tenant_last_id(kv: &impl KvRead, root: GroupId) -> Result<u128> {
    match layout::tenant_last_id(&layout::tenant(root)) {
        Some(key) => stored_id_at(kv, &key),
        None => Ok(0),
    }
}

/// The id high-water mark stored under `key` (0 if none). One this close to the end of
/// the id space can only come from a damaged store; refusing it keeps id generation from
/// ever overflowing.
fn stored_id_at(kv: &impl KvRead, key: &[u8]) -> Result<u128> {
    let Some(b) = kv.get(key)? else {
        return Ok(0);
    };
    let last = u128::from_be_bytes(b.as_slice().try_into().map_err(|_| Error::Corrupt {
        what: "last id",
        reason: format!("expected 16 bytes, found {}", b.len()),
    })?);
    if last > u128::MAX - (1 << 64) {
        return Err(Error::Corrupt {
            what: "last id",
            reason: format!("{last:#x} is out of range"),
        });
    }
    Ok(last)
}

/// The access version stored (0 before the first change on a shared store).
fn stored_access_version(kv: &impl KvRead) -> Result<u64> {
    match kv.get(&layout::access_version())? {
        Some(b) => layout::decode_u64(&b, "access version"),
        None => Ok(0),
    }
}

/// How many group-to-tenant mappings the engine keeps in memory before starting over.
const ROOT_CACHE_LIMIT: usize = 100_000;

/// How many principals known to belong to a tenant the engine keeps before starting over.
const MEMBER_CACHE_LIMIT: usize = 100_000;

/// How many committed groups the engine keeps in memory before starting over.
const GROUP_CACHE_LIMIT: usize = 20_000;

impl Engine {
    /// Resolves a context to its tenant ([`Engine::root_of`] its group), after the
    /// tenant boundary.
    fn resolve(&self, kv: &impl KvRead, ctx: &Context) -> Result<Scope> {
        let group = ctx.group();
        let root = self.root_of(kv, group)?;
        // The tenant boundary, before anything else: a principal of another tenant meets
        // this group as an unknown id.
        let scope = Scope::new(*ctx, root);
        match self.in_tenant(kv, root, ctx)? {
            Belongs::No => return Err(Error::not_found(group)),
            Belongs::Yes => {}
            Belongs::Person { active } => scope.principal_active.set(Some(active)),
        }
        Ok(scope)
    }

    /// The tenant (root group) of `group`; [`Error::NotFound`] if there is no such group.
    /// A group's tenant never changes and groups are never removed, so answers are
    /// cached; `kv` must hold nothing uncommitted (a snapshot, or a transaction that has
    /// not written yet).
    pub(crate) fn root_of(&self, kv: &impl KvRead, group: GroupId) -> Result<GroupId> {
        if let Some(root) = self.cached_root(group) {
            return Ok(root);
        }
        let bytes = kv
            .get(&layout::group_root(group))?
            .ok_or_else(|| Error::not_found(group))?;
        let root = layout::decode_group_id(&bytes, "group directory")?;
        let mut roots = self.roots.write().unwrap_or_else(|p| p.into_inner());
        if roots.len() >= ROOT_CACHE_LIMIT {
            roots.clear();
        }
        roots.insert(group, root);
        Ok(root)
    }

    /// The tenant of `group`, if [`Engine::root_of`] remembers it.
    fn cached_root(&self, group: GroupId) -> Option<GroupId> {
        self.roots
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&group)
            .copied()
    }

    /// Whether the principal of `ctx` belongs to the tenant rooted at `root`. The system
    /// acts in whichever tenant it names; anyone else is asked of the boundary hook once,
    /// and a yes is remembered: a person's record and an API key never move to another
    /// tenant and are never removed, and a plugin's id is derived from its tenant (once
    /// uninstalled, it is still of the tenant and holds nothing there).
    fn in_tenant(&self, kv: &impl KvRead, root: GroupId, ctx: &Context) -> Result<Belongs> {
        let (principal, env) = (ctx.principal(), ctx.env());
        if principal == Principal::System {
            return Ok(Belongs::Yes);
        }
        let key = (principal, env, root);
        if self
            .members
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key)
        {
            return Ok(Belongs::Yes);
        }
        let member = (self.hooks.boundary)(kv, root, ctx)?;
        if member != Belongs::No {
            let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
            if members.len() >= MEMBER_CACHE_LIMIT {
                members.clear();
            }
            members.insert(key);
        }
        Ok(member)
    }
}

impl Engine {
    /// An engine over `store` with the features' `parts` and `hooks` (see
    /// `assembly.rs`), whose open hooks have run.
    pub(crate) fn assemble(
        store: Store,
        clock: Arc<dyn Clock>,
        parts: Parts,
        hooks: Hooks,
    ) -> Result<Self> {
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).map_err(|e| Error::Corrupt {
            what: "random seed",
            reason: format!("the OS random source failed: {e}"),
        })?;
        let last = stored_last_id(&*store.read()?)?;
        let ids = Mutex::new(IdGen::new(u64::from_be_bytes(seed), last));
        let shared = store.is_shared();
        let engine = Self {
            store,
            clock,
            ids,
            roots: RwLock::default(),
            members: RwLock::default(),
            groups: Versioned::with_limit(GROUP_CACHE_LIMIT),
            access_changes_in_flight: Arc::default(),
            shared,
            access_version: AtomicU64::new(0),
            parts,
            hooks,
        };
        for open in &engine.hooks.open {
            open(&engine)?;
        }
        Ok(engine)
    }

    /// The feature state of type `T` (see [`Parts::get`]).
    pub(crate) fn part<T: std::any::Any>(&self) -> &T {
        self.parts.get()
    }

    /// The feature state of type `T`, while the engine is being configured.
    pub(crate) fn part_mut<T: std::any::Any>(&mut self) -> &mut T {
        self.parts.get_mut()
    }

    /// The store underneath, for ONE's own tests (feature `internals`): raw key-value
    /// access bypasses every rule of the engine.
    #[cfg(feature = "internals")]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store underneath.
    #[cfg(not(feature = "internals"))]
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }

    /// The clock every timestamp comes from.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Runs `f` on a snapshot, as `ctx`. Permissions `f` was refused are logged as
    /// `access_denied` events when it returns.
    pub fn read<R>(
        &self,
        ctx: &Context,
        f: impl FnOnce(&View<'_, ReadTx>) -> Result<R>,
    ) -> Result<R> {
        let mut after = AfterTx::default();
        let r = self.read_in(ctx, &mut after.denials, f);
        self.finish(after, false);
        r
    }

    /// [`Engine::read`] without logging denials: for questions such as [`Engine::can`].
    pub(crate) fn read_quietly<R>(
        &self,
        ctx: &Context,
        f: impl FnOnce(&View<'_, ReadTx>) -> Result<R>,
    ) -> Result<R> {
        self.read_in(ctx, &mut Vec::new(), f)
    }

    fn read_in<R>(
        &self,
        ctx: &Context,
        denials: &mut Vec<Denial>,
        f: impl FnOnce(&View<'_, ReadTx>) -> Result<R>,
    ) -> Result<R> {
        let (access, groups) = (self.access_epoch(), self.groups.version());
        let kv = if self.shared {
            // Read with the snapshot's start, in the same round trip.
            self.store.read_prefetching(&[layout::access_version()])?
        } else {
            self.store.read()?
        };
        let scope = self.resolve(&kv, ctx)?;
        if self.caches_usable() && self.caches_current(&kv)? {
            scope.use_caches(access, groups);
        }
        let r = f(&View {
            kv: &kv,
            scope: &scope,
            engine: self,
        });
        scope.take_denials(denials);
        r
    }

    /// Runs `f` in one write transaction, as `ctx`: all of its changes commit, or, if it
    /// returns an error, none do. A panic inside the transaction (in `f` or in the engine)
    /// rolls it back and returns [`Error::Internal`] to this caller alone: the store goes on
    /// serving every other writer.
    pub fn write<R>(
        &self,
        ctx: &Context,
        mut f: impl FnMut(&mut Tx<'_, '_>) -> Result<R>,
    ) -> Result<R> {
        let mut after = AfterTx::default();
        let r = self.transact_in(self.tenant_hint(ctx), |kv| {
            // What an earlier run of the transaction left is gone with it.
            self.abandon(std::mem::take(&mut after));
            let scope = self.resolve(&*kv, ctx)?;
            // Checked after the snapshot was taken: a change counted later is not in it.
            if self.caches_usable() && self.caches_current(&*kv)? {
                scope.use_caches(self.access_epoch(), self.groups.version());
            }
            self.write_in(kv, scope, &mut after, &mut f)
        });
        self.finish(after, r.is_ok());
        r
    }

    /// `value`, for a transaction's closure to consume ([`Consumed`]).
    pub(crate) fn consumed<T>(&self, value: T) -> Consumed<T> {
        Consumed {
            value: Some(value),
            copies: self.shared,
        }
    }

    /// The tenant a write as `ctx` will write in, when a shared store should take its
    /// turn before the transaction begins: known from the cache, or read (one round
    /// trip, once per group). `None` in a file, or if the group is not found (the
    /// transaction then reports it).
    fn tenant_hint(&self, ctx: &Context) -> Option<GroupId> {
        if !self.shared {
            return None;
        }
        let group = ctx.group();
        if let Some(root) = self.cached_root(group) {
            return Some(root);
        }
        let snapshot = self
            .store
            .read_prefetching(&[layout::group_root(group)])
            .ok()?;
        self.root_of(&*snapshot, group).ok()
    }

    /// Like [`Engine::write`], for a closure that returns the application's own error type:
    /// engine errors convert into it with `?`, and an `Err` from the closure rolls the
    /// whole transaction back and is returned as it was.
    ///
    /// A separate method because Rust cannot default a closure's error type: were `write`
    /// generic over it, every closure that uses `?` on engine calls would need a type
    /// annotation.
    pub fn write_with<R, E: From<Error>>(
        &self,
        ctx: &Context,
        mut f: impl FnMut(&mut Tx<'_, '_>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        with_app_error(|failed| {
            self.write(ctx, |tx| {
                // An error an earlier run of the transaction parked is not this run's.
                failed.0 = None;
                f(tx).map_err(|e| failed.park(e))
            })
        })
    }

    /// Like [`Engine::read`], for a closure that returns the application's own error
    /// type (see [`Engine::write_with`]).
    pub fn read_with<R, E: From<Error>>(
        &self,
        ctx: &Context,
        f: impl FnOnce(&View<'_, ReadTx>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        with_app_error(|failed| self.read(ctx, |view| f(view).map_err(|e| failed.park(e))))
    }

    /// Runs `f` in one storage write transaction, committed if it returns `Ok`. Every
    /// write of the engine goes through here: a panic inside `f` rolls the transaction
    /// back and becomes [`Error::Internal`] for this caller alone, so one bad call never
    /// stops the store from serving the others. On a shared store `f` may run more than
    /// once ([`Store::write`]).
    pub(crate) fn transact<R>(&self, f: impl FnMut(&mut WriteTx<'_>) -> Result<R>) -> Result<R> {
        self.transact_in(None, f)
    }

    /// [`Engine::transact`] for a transaction that writes in the tenant `root` (if
    /// known): on a shared store, it takes the tenant's turn before it begins and reads
    /// what every transaction reads first in the same round trip.
    fn transact_in<R>(
        &self,
        root: Option<GroupId>,
        mut f: impl FnMut(&mut WriteTx<'_>) -> Result<R>,
    ) -> Result<R> {
        let (mut read, mut write) = (Vec::new(), Vec::new());
        if self.shared {
            read.push(layout::access_version());
            if let Some(root) = root {
                let tenant = layout::tenant(root);
                read.extend(layout::tenant_last_id(&tenant));
                write.push(tenant);
            }
        }
        let plan = WritePlan {
            read: &read,
            write: &write,
        };
        self.store.write_planned(&plan, |kv| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(kv)))
                .unwrap_or_else(|panic| Err(Error::internal(&*panic)))
        })
    }

    /// Hands what a transaction left to the features' end hooks, once it has ended;
    /// `committed` says whether its changes were committed.
    pub(crate) fn finish(&self, mut after: AfterTx, committed: bool) {
        if after.access_changed {
            self.forget_caches();
        }
        for end in &self.hooks.end {
            end(self, &mut after, committed);
        }
        // Every cache is forgotten: calls may use them again.
        drop(after.in_flight.take());
    }

    /// Ends what a run of a transaction that runs again left (see [`Store::write`]): as
    /// at any rollback, caches that may hold what it changed are forgotten; its denials,
    /// refusals and reactions are the next run's to leave, so they are dropped.
    fn abandon(&self, mut after: AfterTx) {
        if after.access_changed {
            self.forget_caches();
        }
        drop(after.in_flight.take());
    }

    /// Forgets every cache derived from access data: the kernel's groups and what the
    /// features registered ([`Hooks::forget`]).
    fn forget_caches(&self) {
        self.groups.invalidate();
        for forget in &self.hooks.forget {
            forget(self);
        }
    }

    /// Whether anyone listens to the changes of the tenant `root` in `env`.
    pub(crate) fn is_listened(&self, root: GroupId, env: Env) -> bool {
        (self.hooks.listening)(self, root, env)
    }

    /// Whether a call whose snapshot is taken may use the caches derived from access data.
    /// Not while a transaction that changed access data is between its commit and the
    /// end where the caches are forgotten: a snapshot taken then may already hold the
    /// change while the caches still hold answers from before it. Asked after the
    /// snapshot is taken (a change counted later is not in it).
    fn caches_usable(&self) -> bool {
        self.access_changes_in_flight.load(Ordering::Acquire) == 0
    }

    /// Whether the caches hold answers for the access data of `kv`'s snapshot, as far as
    /// other instances are concerned. On a shared store, a commit that changes access
    /// data counts the stored access version up; an instance that finds a version newer
    /// than the one it last saw forgets every cache first (the next call refills them),
    /// and a snapshot older than that version does not use them. Alone on its store, an
    /// engine sees every change itself: always `true`.
    fn caches_current(&self, kv: &impl KvRead) -> Result<bool> {
        if !self.shared {
            return Ok(true);
        }
        let stored = stored_access_version(kv)?;
        if stored > self.access_version.load(Ordering::Acquire) {
            self.forget_caches();
            self.access_version.fetch_max(stored, Ordering::AcqRel);
        }
        Ok(stored == self.access_version.load(Ordering::Acquire))
    }

    /// The version of access data that cached permission answers must carry to be used.
    fn access_epoch(&self) -> u64 {
        (self.hooks.access_epoch)()
    }

    /// Runs `f` in a transaction already open on `kv`, for `scope`, and flushes counters.
    pub(crate) fn write_in<R>(
        &self,
        kv: &mut WriteTx<'_>,
        scope: Scope,
        after: &mut AfterTx,
        f: impl FnOnce(&mut Tx<'_, '_>) -> Result<R>,
    ) -> Result<R> {
        let tenant_ids = if self.shared {
            Some(self.begin_tenant_ids(kv, scope.root)?)
        } else {
            None
        };
        let mut tx = Tx {
            kv,
            scope,
            engine: self,
            counters: BTreeMap::new(),
            usage: BTreeMap::new(),
            locals: Locals::default(),
            access_changes: 0,
            after,
        };
        let r = f(&mut tx).and_then(|r| {
            tx.flush_counters()?;
            for settle in &self.hooks.settle {
                settle(&mut tx)?;
            }
            Ok(r)
        });
        tx.scope.take_denials(&mut tx.after.denials);
        let r = r?;
        if self.shared && tx.after.access_changed {
            let version = stored_access_version(&*tx.kv)?;
            tx.put(
                layout::access_version(),
                version.saturating_add(1).to_be_bytes(),
            )?;
        }
        match tenant_ids {
            Some(begun) => self.end_tenant_ids(tx.kv, &begun)?,
            // One writer at a time: the last id issued covers every id this transaction
            // stored.
            None => {
                let last = self.ids().last();
                tx.put(layout::last_id(), last.to_be_bytes())?;
            }
        }
        Ok(r)
    }

    /// On a shared store, where other instances make ids too, takes the turn of the
    /// tenant `root` (if the transaction's plan did not) and makes every later id sort
    /// after the last id stored in each tenant whose turn the transaction holds: a
    /// tenant's ids grow with its commit order, whichever instance made them.
    fn begin_tenant_ids(&self, kv: &mut WriteTx<'_>, root: GroupId) -> Result<TenantIds> {
        kv.seq_of(&layout::tenant(root))?;
        let held = kv.partitions();
        for part in &held {
            if let Some(key) = layout::tenant_last_id(part) {
                let stored = stored_id_at(&*kv, &key)?;
                self.ids().observe(stored);
            }
        }
        let floor = self.ids().last();
        Ok(TenantIds { held, floor })
    }

    /// Stores the last id issued in each tenant the transaction wrote in (never in one
    /// whose turn it only holds: a run that is a re-run holds the turns an earlier run
    /// learned it needed, perhaps for a tenant this run never makes). A tenant whose turn
    /// it took after it began (writing there) may hold ids made by another instance above
    /// some this transaction made: then it runs again, with that turn taken before it
    /// begins.
    fn end_tenant_ids(&self, kv: &mut WriteTx<'_>, begun: &TenantIds) -> Result<()> {
        let last = self.ids().last();
        for part in kv.written_partitions() {
            let Some(key) = layout::tenant_last_id(&part) else {
                continue;
            };
            if !begun.held.contains(&part) {
                let stored = stored_id_at(&*kv, &key)?;
                if stored > begun.floor {
                    self.ids().observe(stored);
                    return Err(kv.conflict().into());
                }
            }
            kv.put(key, last.to_be_bytes())?;
        }
        Ok(())
    }

    /// Makes every later id sort after the last id stored in `kv` for the tenant `root`
    /// (`M i`, and on a shared store the tenant's own), and returns that id: every
    /// record of the tenant committed in `kv` has an id at most this one, and every
    /// later commit's are above it.
    pub(crate) fn observe_stored_ids(&self, kv: &impl KvRead, root: GroupId) -> Result<u128> {
        let mut stored = stored_last_id(kv)?;
        if self.shared {
            stored = stored.max(stored_tenant_last_id(kv, root)?);
        }
        self.ids().observe(stored);
        Ok(stored)
    }

    /// The last id issued (ids grow with commit order).
    pub(crate) fn last_id(&self) -> u128 {
        self.ids().last()
    }

    pub(crate) fn ids(&self) -> std::sync::MutexGuard<'_, IdGen> {
        // A poisoned lock only means another thread panicked while holding it; the
        // generator's state is two integers and always valid.
        self.ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn next_id(&self) -> u128 {
        let now = self.clock.now();
        self.ids().next(now)
    }

    /// Writes API key calls counted in memory, and makes every commit so far durable (see
    /// [`one_storage::Durability::Deferred`]).
    pub fn sync(&self) -> Result<()> {
        self.flush_parts()?;
        Ok(self.store.sync()?)
    }

    /// Writes a consistent copy of the database, as of the last commit, to a new file at
    /// `path`, while writers go on, and returns the commit sequence number the copy holds.
    /// API key calls counted in memory are written first. The copy is a database file
    /// like any other (open it to restore); `path` never holds half a copy, and an
    /// existing file is never overwritten.
    pub fn backup(&self, path: impl AsRef<std::path::Path>) -> Result<u64> {
        self.flush_parts()?;
        Ok(self.store.backup(path)?)
    }

    /// Writes API key calls counted in memory, makes deferred commits durable and closes
    /// the store.
    pub fn close(self) -> Result<()> {
        self.flush_parts()?;
        Ok(self.store.close()?)
    }

    /// Runs the features' flush hooks: what they keep in memory is written (except on a
    /// read-only store, which is never written).
    fn flush_parts(&self) -> Result<()> {
        if self.store.is_read_only() {
            return Ok(());
        }
        for flush in &self.hooks.flush {
            flush(self)?;
        }
        Ok(())
    }
}

/// Read access to one tenant, as one context, on one snapshot.
pub struct View<'a, K> {
    pub(crate) kv: &'a K,
    pub(crate) scope: &'a Scope,
    pub(crate) engine: &'a Engine,
}

impl<K> Clone for View<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for View<'_, K> {}

impl<K> std::fmt::Debug for View<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("View")
            .field("context", &self.scope.ctx)
            .finish_non_exhaustive()
    }
}

impl<K: KvRead> View<'_, K> {
    /// The context this view reads as.
    pub fn context(&self) -> &Context {
        &self.scope.ctx
    }

    /// The root group (tenant) of the context.
    pub fn tenant(&self) -> GroupId {
        self.scope.root
    }

    pub(crate) fn get_record<R: Record>(&self, key: &[u8]) -> Result<Option<R>> {
        self.kv.get_with(key, codec::decode)?.transpose()
    }

    /// The group `id` of this tenant, without a scope check: from the engine's cache of
    /// committed groups when this call may use it, else decoded from the store (and
    /// remembered when it may be). `None` if the tenant has no such group.
    pub(crate) fn group_record(&self, id: GroupId) -> Result<Option<Arc<Group>>> {
        let key = (self.scope.root, id);
        let epoch = self.scope.groups_epoch.get();
        if epoch.is_some()
            && let Some(group) = self.engine.groups.get(&key)
        {
            return Ok(Some(group));
        }
        let Some(group) = self.get_record::<Group>(&self.scope.structure.group(id))? else {
            return Ok(None);
        };
        let group = Arc::new(group);
        if let Some(epoch) = epoch {
            self.engine.groups.insert(key, Arc::clone(&group), epoch);
        }
        Ok(Some(group))
    }
}

/// A write transaction of one tenant, as one context. Lives inside [`Engine::write`].
pub struct Tx<'a, 't> {
    pub(crate) kv: &'a mut WriteTx<'t>,
    pub(crate) scope: Scope,
    pub(crate) engine: &'a Engine,
    /// Counter changes, wide enough that no sum of `i64` changes overflows.
    counters: BTreeMap<(GroupId, Counter), i128>,
    /// Usage changes, written (and checked against limits) by the metering feature when
    /// the closure succeeds.
    usage: BTreeMap<(GroupId, Resource), UsageDelta>,
    /// The features' state for this transaction.
    pub(crate) locals: Locals,
    /// How many times this transaction changed access data so far
    /// ([`Tx::access_changes`]).
    access_changes: u32,
    /// What the whole storage transaction leaves for when it ends.
    pub(crate) after: &'a mut AfterTx,
}

impl std::fmt::Debug for Tx<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tx")
            .field("context", &self.scope.ctx)
            .field("root", &self.scope.root)
            .finish_non_exhaustive()
    }
}

impl<'t> Tx<'_, 't> {
    /// Reads, seeing this transaction's own writes.
    pub fn view(&self) -> View<'_, WriteTx<'t>> {
        View {
            kv: &*self.kv,
            scope: &self.scope,
            engine: self.engine,
        }
    }

    /// Notes that this transaction changed what someone may do: cached answers are not
    /// used for the rest of it, and all are forgotten when it ends.
    pub(crate) fn access_changed(&mut self) {
        // Only compared for equality: wrapping is harmless.
        self.access_changes = self.access_changes.wrapping_add(1);
        self.after.access_changed = true;
        if self.after.in_flight.is_none() {
            let count = &self.engine.access_changes_in_flight;
            count.fetch_add(1, Ordering::AcqRel);
            self.after.in_flight = Some(AccessChangeInFlight(Arc::clone(count)));
        }
        self.scope.stop_caching();
    }

    /// How many times this transaction changed what someone may do so far: a decision
    /// a feature remembers for the rest of the transaction holds only while this stays
    /// the same.
    pub(crate) fn access_changes(&self) -> u32 {
        self.access_changes
    }

    /// Notes that this transaction created a group: what it reads from now on may never
    /// be committed, so no cache is used or filled for the rest of it. Nothing committed
    /// changed, so nothing cached is forgotten.
    pub(crate) fn structure_changed(&mut self) {
        self.scope.stop_caching();
    }

    /// The context this transaction writes as.
    pub fn context(&self) -> &Context {
        &self.scope.ctx
    }

    /// The commit sequence number this transaction will have in its tenant; its events
    /// carry it. In a file, commits are numbered in one sequence; on a shared store, each
    /// tenant numbers its own.
    pub fn seq(&self) -> Result<u64> {
        Ok(self.kv.seq_of(&layout::tenant(self.scope.root))?)
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.engine.clock.now()
    }

    pub(crate) fn put_record<R: Record>(&mut self, key: &[u8], record: &R) -> Result<()> {
        let bytes = codec::encode(record)?;
        Ok(self.kv.put(key, bytes)?)
    }

    pub(crate) fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Result<()> {
        Ok(self.kv.put(key, value)?)
    }

    pub(crate) fn delete(&mut self, key: &[u8]) -> Result<()> {
        Ok(self.kv.delete(key)?)
    }

    /// Adds `delta` to a counter without it counting as usage (records restored by an
    /// import, whose usage is counted afresh); written once, when the transaction's
    /// closure succeeds.
    pub(crate) fn count_unmetered(&mut self, group: GroupId, counter: Counter, delta: i64) {
        *self.counters.entry((group, counter)).or_default() += i128::from(delta);
    }

    /// Adds `delta` to a counter, as [`Tx::count_unmetered`], and to the usage of the
    /// resource its records use, if any.
    pub(crate) fn count(&mut self, group: GroupId, counter: Counter, delta: i64) {
        self.count_unmetered(group, counter, delta);
        if let Some(resource) = resource_of(counter) {
            self.meter(group, resource, delta);
        }
    }

    /// Adds `amount` to `group`'s usage of `resource` when the transaction succeeds; an
    /// increase over a limit will fail it.
    pub(crate) fn meter(&mut self, group: GroupId, resource: Resource, amount: i64) {
        let d = self.usage.entry((group, resource)).or_default();
        d.amount += i128::from(amount);
        d.enforce = true;
    }

    /// Like [`Tx::meter`], never refused (recording what already happened, such as a
    /// completed AI call).
    pub(crate) fn charge(&mut self, group: GroupId, resource: Resource, amount: i64) {
        self.usage.entry((group, resource)).or_default().amount += i128::from(amount);
    }

    /// Counts the bytes of a primary record (its key and value) against `group`'s storage.
    pub(crate) fn store_bytes(&mut self, group: GroupId, key: &[u8], value: &[u8], sign: i64) {
        let bytes = i64::try_from(key.len() + value.len()).unwrap_or(i64::MAX);
        self.meter(group, Resource::StorageBytes, sign.saturating_mul(bytes));
    }

    /// How much of `resource` this transaction has metered to `group` so far.
    pub(crate) fn pending_usage(&self, group: GroupId, resource: Resource) -> i128 {
        self.usage.get(&(group, resource)).map_or(0, |d| d.amount)
    }

    /// The usage changes so far, taken (to be written).
    pub(crate) fn take_usage(&mut self) -> BTreeMap<(GroupId, Resource), UsageDelta> {
        std::mem::take(&mut self.usage)
    }

    fn flush_counters(&mut self) -> Result<()> {
        for ((group, counter), delta) in std::mem::take(&mut self.counters) {
            if delta == 0 {
                continue;
            }
            let key = self.scope.tenant.counter(group, counter);
            let old = match self.kv.get(&key)? {
                Some(b) => layout::decode_u64(&b, "counter")?,
                None => 0,
            };
            // Counts of records: they stay within `0..=u64::MAX` (clamped, never wrapped).
            let new = u64::try_from((i128::from(old) + delta).clamp(0, i128::from(u64::MAX)))
                .unwrap_or(u64::MAX);
            self.kv.put(key, new.to_be_bytes())?;
        }
        Ok(())
    }
}

/// A pending change to one group's usage of one resource.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UsageDelta {
    /// Wide enough that no sequence of `i64` changes in one transaction can overflow it;
    /// the stored counter's own range is checked when the delta is written.
    pub(crate) amount: i128,
    /// Whether an increase is refused over the limit (recording what already happened,
    /// such as a completed AI call, is not).
    pub(crate) enforce: bool,
}

/// Administration: the calls that act outside any one tenant. Every event they log names
/// [`crate::Principal::System`] as the actor.
#[derive(Debug, Clone, Copy)]
pub struct Admin<'e> {
    pub(crate) engine: &'e Engine,
}

impl Engine {
    /// Administration calls: creating tenants, listing them, counting.
    pub fn admin(&self) -> Admin<'_> {
        Admin { engine: self }
    }
}
