//! The store: one ordered, transactional keyspace on one of two backends.
//!
//! [`Store`] is what the engine holds; it does not know which backend is underneath.
//! The embedded backend ([`crate::embedded`]) is a redb database file (or memory) in
//! this process, the default. The shared backend ([`crate::postgres`], feature
//! `postgres`) is one table on a PostgreSQL server, which several processes may use at
//! once. Both give the same contract: reads on a consistent snapshot ([`ReadTx`]), write
//! transactions that commit all of their writes or none ([`WriteTx`]), each with the next
//! commit sequence number, and a commit listener told of commits in commit order.

use std::path::Path;
use std::sync::Arc;

use crate::StorageError;
use crate::embedded;
use crate::kv::{Direction, Flow, KeyRange, KvRead};
#[cfg(feature = "postgres")]
use crate::postgres;
use crate::write::WriteTx;

/// What a successful commit guarantees after a crash or power cut.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// A commit is on disk when it returns. In a database file, its writes are appended to
    /// the commit log with a SHA-256 digest and synced (one sync, shared by the commits
    /// made meanwhile); the page file is checkpointed behind it with redb's two-phase
    /// commit (two fsyncs), which redb recommends for databases that hold untrusted input
    /// because the one-phase scheme relies on a non-cryptographic checksum to detect a
    /// torn commit. In memory, a redb two-phase commit. The default.
    #[default]
    Immediate,
    /// A commit is on disk when it returns, as with [`Durability::Immediate`], but
    /// checkpoints (and commits too large for the log) use redb's one-phase commit: one
    /// fsync and a checksum.
    ImmediateOnePhase,
    /// A commit is visible to readers at once but reaches the disk only with the next
    /// durable commit or when the store is closed. A crash loses the deferred commits, as
    /// a whole, and leaves the file consistent at the last durable one. [`Store::sync`]
    /// makes them durable when the application chooses.
    Deferred,
}

/// What a write transaction needs first ([`Store::write_planned`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct WritePlan<'a> {
    /// Keys it reads first.
    pub read: &'a [Vec<u8>],
    /// Keys in the partitions it writes (any key of a partition names it).
    pub write: &'a [Vec<u8>],
}

/// Options for opening a [`Store`].
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Durability of each commit. Default: [`Durability::Immediate`].
    pub durability: Durability,
    /// Bytes of buffered writes after which a write transaction applies them to the tree
    /// before it commits. Larger buffers turn more random inserts into sorted ones and hold
    /// more memory. Default: 64 MiB.
    pub write_buffer: usize,
    /// redb page cache size in bytes: an upper bound, filled on demand. Default: 1 GiB
    /// (redb's own default). Dirty pages of a large transaction that do not fit are written
    /// to the file before commit, which slows bulk loads.
    pub cache_size: usize,
    /// Bytes of commit log after which the page file is checkpointed and the log started
    /// again. Larger means fewer checkpoints and a longer replay after a crash. Default:
    /// 8 MiB.
    pub checkpoint_after: u64,
    /// Whether opening the file compacts it first ([`Store::compact`]): the space freed
    /// by deletes and rewrites goes back to the file system, at the price of rewriting
    /// part of the file while opening. Default: `false`. A read-only open that asks for
    /// it is refused with [`StorageError::ReadOnly`].
    pub compact: bool,
    /// How many leading bytes of a key name its partition on the shared backend: the
    /// tenant, which the PostgreSQL table keeps as the first column of its primary key
    /// (the column a distributed PostgreSQL such as Citus shards by). It must be
    /// order-consistent: keys that begin with the same byte get the same length, or all of
    /// their bytes when shorter. Default: 0, one partition. The embedded backend ignores it.
    pub partition: fn(&[u8]) -> usize,
}

/// The default [`StoreOptions::partition`]: one partition.
fn one_partition(_: &[u8]) -> usize {
    0
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            durability: Durability::default(),
            write_buffer: 64 << 20,
            cache_size: 1 << 30,
            checkpoint_after: 8 << 20,
            compact: false,
            partition: one_partition,
        }
    }
}

/// A function told of every commit: its sequence number and the entries its transaction
/// noted with [`WriteTx::note`], in the order they were noted. It runs while the next
/// write waits, so it must be quick and must not write to the store.
pub type CommitListener = Arc<dyn Fn(u64, Vec<(Vec<u8>, Vec<u8>)>) + Send + Sync>;

/// A store's place for its [`CommitListener`], which both backends tell in commit order.
#[derive(Default)]
pub(crate) struct Listener(std::sync::RwLock<Option<CommitListener>>);

impl Listener {
    /// Replaces the listener.
    pub(crate) fn set(&self, listener: CommitListener) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(listener);
    }

    /// Tells the listener, if there is one, of commit `seq` and its notes.
    pub(crate) fn tell(&self, seq: u64, notes: Vec<(Vec<u8>, Vec<u8>)>) {
        let listener = self.0.read().unwrap_or_else(|p| p.into_inner());
        if let Some(listener) = listener.as_ref() {
            listener(seq, notes);
        }
    }
}

/// The PostgreSQL server the test suites use: `ONE_TEST_POSTGRES` if set, else
/// `host=127.0.0.1 user=one password=one dbname=one_test` (what `.ci/postgres` makes).
#[cfg(feature = "postgres")]
pub fn test_server() -> String {
    std::env::var("ONE_TEST_POSTGRES")
        .unwrap_or_else(|_| "host=127.0.0.1 user=one password=one dbname=one_test".into())
}

/// An ordered, transactional key-value store: a redb database file or memory, or (with
/// the `postgres` feature) a table on a PostgreSQL server.
///
/// `Store` is `Send + Sync`; share it behind an `Arc`. Any number of read transactions
/// run beside write transactions; within one process, write transactions run one at a
/// time, in commit order.
#[derive(Debug)]
pub struct Store {
    backend: Backend,
}

#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one per store; the embedded default stays inline"
)]
enum Backend {
    Embedded(embedded::Store),
    #[cfg(feature = "postgres")]
    Postgres(postgres::Store),
}

/// Calls the same method on whichever backend `$store` has.
macro_rules! dispatch {
    ($store:expr, $b:ident => $call:expr) => {
        match $store {
            Backend::Embedded($b) => $call,
            #[cfg(feature = "postgres")]
            Backend::Postgres($b) => $call,
        }
    };
}

impl Store {
    fn embedded(store: embedded::Store) -> Self {
        Self {
            backend: Backend::Embedded(store),
        }
    }

    /// Opens the database file at `path`, creating it if it does not exist.
    ///
    /// A file that is not a sound redb database is [`StorageError::Corrupt`] or a
    /// [`StorageError::Backend`] error. redb 4.5 panics on some damaged files instead of
    /// returning an error; that panic is caught here and returned as `Corrupt` (the
    /// process's panic hook still sees it).
    ///
    /// Commits the commit log beside the file holds past the file's last durable commit
    /// (those of a process that crashed) are applied first.
    pub fn open(path: impl AsRef<Path>, options: &StoreOptions) -> Result<Self, StorageError> {
        embedded::Store::open(path, options).map(Self::embedded)
    }

    /// Opens a fresh store held in memory, gone when dropped. For tests and scratch work.
    pub fn in_memory(options: &StoreOptions) -> Result<Self, StorageError> {
        embedded::Store::in_memory(options).map(Self::embedded)
    }

    /// Opens a store on a custom redb backend: the seam for tests that inject I/O faults
    /// or simulate a crash by reopening the bytes a backend kept.
    pub fn with_backend(
        backend: impl redb::StorageBackend,
        options: &StoreOptions,
    ) -> Result<Self, StorageError> {
        embedded::Store::with_backend(backend, options).map(Self::embedded)
    }

    /// Opens the database file at `path` for reading only: nothing is ever written to
    /// it, and every write is [`StorageError::ReadOnly`]. Other processes may read it too;
    /// a process that has it open for writing keeps it from opening (where the platform
    /// locks files). The file must exist and be a database ONE wrote.
    pub fn open_read_only(
        path: impl AsRef<Path>,
        options: &StoreOptions,
    ) -> Result<Self, StorageError> {
        embedded::Store::open_read_only(path, options).map(Self::embedded)
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:password@host/db`,
    /// or a `key=value` connection string), creating ONE's tables there if they do not
    /// exist: `one_kv (part, k, v)`, the keyspace with each key's partition
    /// ([`StoreOptions::partition`]) first in the primary key, and `one_meta`. Several
    /// processes may connect to one database at once. Reads run in REPEATABLE READ
    /// snapshots; write transactions in SERIALIZABLE ones that take turns across every
    /// process (each waits for a lock on `one_meta` before its snapshot, then takes the
    /// next commit number), so commit numbers follow commit order everywhere. A server that
    /// cannot be reached is [`StorageError::Unavailable`]; the next transaction connects
    /// again.
    #[cfg(feature = "postgres")]
    pub fn connect(url: &str, options: &StoreOptions) -> Result<Self, StorageError> {
        Ok(Self {
            backend: Backend::Postgres(postgres::Store::connect(url, options, None)?),
        })
    }

    /// Opens a fresh, empty database on the PostgreSQL server at `url`, in a schema of its
    /// own that is dropped when the store is closed or dropped: the PostgreSQL
    /// counterpart of [`Store::in_memory`], for tests.
    #[cfg(feature = "postgres")]
    pub fn scratch(url: &str, options: &StoreOptions) -> Result<Self, StorageError> {
        Ok(Self {
            backend: Backend::Postgres(postgres::Store::scratch(url, options)?),
        })
    }

    /// Another handle on the same PostgreSQL database (a second instance, as another
    /// process would open it: its own connections and its own commit listener); `None`
    /// for an embedded store, which one process owns.
    #[cfg(feature = "postgres")]
    pub fn another_instance(&self) -> Option<Result<Self, StorageError>> {
        match &self.backend {
            Backend::Embedded(_) => None,
            Backend::Postgres(store) => Some(store.another_instance().map(|store| Self {
                backend: Backend::Postgres(store),
            })),
        }
    }

    /// Whether other processes may write to the same database (PostgreSQL): what a
    /// process keeps in memory about the data must then be checked against it.
    pub fn is_shared(&self) -> bool {
        self.backend_name() == "postgres"
    }

    /// The PostgreSQL schema of a scratch store ([`Store::scratch`]): another process
    /// reaches the same database by adding `options=-csearch_path=<schema>` to the
    /// connection string.
    pub fn schema(&self) -> Option<&str> {
        match &self.backend {
            Backend::Embedded(_) => None,
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.schema(),
        }
    }

    /// The backend's name: `"redb"` or `"postgres"`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Embedded(_) => "redb",
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Gives the file's free space back to the file system (see
    /// [`StoreOptions::compact`]); returns whether anything was moved. A PostgreSQL
    /// database is left to its own vacuum: `Ok(false)`.
    pub fn compact(&mut self) -> Result<bool, StorageError> {
        match &mut self.backend {
            Backend::Embedded(store) => store.compact(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => Ok(false),
        }
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        match &self.backend {
            Backend::Embedded(store) => store.is_read_only(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => false,
        }
    }

    /// Writes a consistent copy of the last commit to a new database file at `path` (a
    /// redb file, whichever the backend), and returns the commit sequence number it holds.
    /// Writers go on meanwhile (the copy reads one snapshot). Written whole or not at all,
    /// never over an existing file ([`crate::files::write_new`]).
    pub fn backup(&self, path: impl AsRef<Path>) -> Result<u64, StorageError> {
        match &self.backend {
            Backend::Embedded(store) => store.backup(path),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => {
                let snapshot = store.read(&[])?;
                let seq = snapshot.seq()?;
                embedded::write_copy(path.as_ref(), seq, |insert| {
                    snapshot.scan(&KeyRange::all(), Direction::Forward, |k, v| {
                        insert(k, v)?;
                        Ok::<_, StorageError>(Flow::Continue(()))
                    })
                })
            }
        }
    }

    /// The durability commits get.
    pub fn durability(&self) -> Durability {
        dispatch!(&self.backend, s => s.durability())
    }

    /// Whether a failed commit or a panic has made this handle refuse writes.
    pub fn is_poisoned(&self) -> bool {
        dispatch!(&self.backend, s => s.is_poisoned())
    }

    /// A read transaction: a snapshot of the last commit, unaffected by later ones.
    ///
    /// In a database file, reads between two commits share one snapshot, so a read costs
    /// no redb transaction of its own; the next commit retires it (it lives on while a
    /// caller still holds it). On PostgreSQL, each is a REPEATABLE READ transaction on a
    /// pooled connection, ended when the last handle is dropped.
    pub fn read(&self) -> Result<Arc<ReadTx>, StorageError> {
        self.read_prefetching(&[])
    }

    /// [`Store::read`], saying which keys the caller reads first: on PostgreSQL they are
    /// read as the snapshot begins, in the same round trip; a file ignores the hint.
    pub fn read_prefetching(&self, keys: &[Vec<u8>]) -> Result<Arc<ReadTx>, StorageError> {
        #[cfg(not(feature = "postgres"))]
        let _ = keys;
        match &self.backend {
            Backend::Embedded(store) => store.read(),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.read(keys),
        }
    }

    /// Runs `f` in a write transaction and commits if it returns `Ok`.
    ///
    /// An `Err` from `f` aborts the transaction: nothing it wrote is kept. A panic in `f`
    /// aborts it too and then resumes unwinding; the store stays usable. The call returns
    /// once the commit is durable (with a durable [`Durability`]).
    ///
    /// In a file, writers take turns and `f` runs once. On PostgreSQL, the writers of
    /// each partition take turns, writers of different partitions run at once, and a
    /// transaction that conflicts with another (or writes a partition whose turn another
    /// writer holds) is rolled back and **`f` runs again**, on a fresh snapshot, a bounded
    /// number of times before [`StorageError::Conflict`]. So `f` must have no effect
    /// outside the transaction (nothing sent, nothing counted in memory) that running it
    /// twice would repeat. [`Store::write_planned`] names the partitions up front, which
    /// spares a run.
    pub fn write<R, E>(&self, f: impl FnMut(&mut WriteTx<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        self.write_planned(&WritePlan::default(), f)
    }

    /// [`Store::write`], saying what the transaction needs first: on PostgreSQL, the
    /// turns of the partitions of `plan.write` are taken before it begins and the keys of
    /// `plan.read` are read as it begins, in the same round trip. A file ignores the plan.
    pub fn write_planned<R, E>(
        &self,
        plan: &WritePlan<'_>,
        f: impl FnMut(&mut WriteTx<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        #[cfg(not(feature = "postgres"))]
        let _ = plan;
        match &self.backend {
            Backend::Embedded(store) => store.write(f),
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.write(plan, f),
        }
    }

    /// How many times a write transaction on this handle was rolled back after a
    /// conflict and its closure run again ([`Store::write`]): always 0 in a file.
    pub fn reruns(&self) -> u64 {
        match &self.backend {
            Backend::Embedded(_) => 0,
            #[cfg(feature = "postgres")]
            Backend::Postgres(store) => store.reruns(),
        }
    }

    /// Runs `f` while no write transaction of this handle is open: every commit before it
    /// has been told to the commit listener, and none after it has begun. Refused with
    /// [`StorageError::NestedWrite`] inside a write transaction on this thread.
    pub fn between_commits<R>(&self, f: impl FnOnce() -> R) -> Result<R, StorageError> {
        dispatch!(&self.backend, s => s.between_commits(f))
    }

    /// Sets the function told of every commit this handle makes from now on (replacing
    /// any earlier one).
    pub fn set_commit_listener(&self, listener: CommitListener) {
        dispatch!(&self.backend, s => s.set_commit_listener(listener))
    }

    /// Makes every commit so far durable, whatever the store's [`Durability`]: with
    /// `Deferred`, this is how an application chooses when to pay for an fsync; with a
    /// commit log, it is a checkpoint (the log starts again).
    pub fn sync(&self) -> Result<(), StorageError> {
        dispatch!(&self.backend, s => s.sync())
    }

    /// Makes every commit durable and closes the store.
    pub fn close(self) -> Result<(), StorageError> {
        dispatch!(self.backend, s => s.close())
    }
}

/// A read transaction: a consistent snapshot of the store.
pub struct ReadTx {
    snapshot: Snapshot,
}

/// The backend's snapshot under a [`ReadTx`].
#[allow(
    clippy::large_enum_variant,
    reason = "the embedded default stays inline; its snapshots are shared between commits"
)]
pub(crate) enum Snapshot {
    Embedded(embedded::Snapshot),
    #[cfg(feature = "postgres")]
    Postgres(postgres::Session),
}

impl std::fmt::Debug for ReadTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadTx").finish_non_exhaustive()
    }
}

impl ReadTx {
    pub(crate) fn new(snapshot: Snapshot) -> Self {
        Self { snapshot }
    }

    /// The embedded snapshot, for the redb backend's own use.
    pub(crate) fn embedded(&self) -> Option<&embedded::Snapshot> {
        match &self.snapshot {
            Snapshot::Embedded(s) => Some(s),
            #[cfg(feature = "postgres")]
            Snapshot::Postgres(_) => None,
        }
    }

    /// The commit sequence number of the snapshot (0 before the first write). Read on
    /// demand, so snapshots that never ask for it do not pay for it.
    pub fn seq(&self) -> Result<u64, StorageError> {
        match &self.snapshot {
            Snapshot::Embedded(s) => s.seq(),
            #[cfg(feature = "postgres")]
            Snapshot::Postgres(s) => s.last_seq(),
        }
    }
}

impl KvRead for ReadTx {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        match &self.snapshot {
            Snapshot::Embedded(s) => s.get(key),
            #[cfg(feature = "postgres")]
            Snapshot::Postgres(s) => s.get(key),
        }
    }

    fn get_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, StorageError> {
        match &self.snapshot {
            Snapshot::Embedded(s) => s.get_with(key, read),
            #[cfg(feature = "postgres")]
            Snapshot::Postgres(s) => Ok(s.get(key)?.map(|value| read(&value))),
        }
    }

    fn scan<E: From<StorageError>>(
        &self,
        range: &KeyRange,
        direction: Direction,
        visit: impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
    ) -> Result<(), E> {
        match &self.snapshot {
            Snapshot::Embedded(s) => s.scan(range, direction, visit),
            #[cfg(feature = "postgres")]
            Snapshot::Postgres(s) => s.scan(range, direction, visit),
        }
    }
}
