//! The embedded backend: the transactional key-value store on redb, in a file or memory.
//!
//! One redb table, `data`, holds every key; keys are raw bytes compared with memcmp, so
//! callers get ordered range scans over prefixes they design with [`crate::keys`]. A second
//! table, `meta`, holds the commit sequence number, which this layer assigns: every write
//! transaction takes the next number, whether or not it writes anything.
//!
//! Transactions are closures. [`Store::write`] opens a redb write transaction, hands the
//! closure a [`WriteTx`], and commits only if the closure returns `Ok`; an `Err` aborts and
//! leaves the file as it was. A panic inside the closure is caught before it can unwind
//! through the live redb transaction (which can leak pages in redb 4.x), the transaction is
//! aborted, and the panic resumes; the store keeps serving other writers. A failed commit
//! (or a failed abort) poisons the store: redb refuses writes after one, and so do we, until
//! the file is reopened.
//!
//! A database file with a durable [`Durability`] commits through its commit log
//! ([`crate::log`]): once the transaction's closure has returned `Ok`, its writes are
//! appended to the log, and the call returns once the log is synced, sharing each sync
//! with the writers that committed meanwhile. In redb, transactions are batched: each
//! runs in the open batch's redb write transaction (seeing the commits before it), and
//! the batch is committed to redb, without a sync, once for all of them, when it is full
//! or no writer is left (redb copies each page a transaction dirties, so commits that
//! share a transaction share those copies). While other writers are in flight, a
//! commit leaves its writes to the batch, which keeps the newest version of each key its
//! commits wrote and which later writers read through; the batch's tree gets them in one
//! sorted run when it is sealed (a group's counters, rewritten by every commit, reach
//! the tree once per batch). A writer alone, or one too large to wait (its buffer fills
//! up, or its record is too large for the log), applies its writes to the tree itself,
//! after the batch's. A transaction that fails after its writes reached the batch's tree
//! has the batch made again: a fresh redb transaction, every commit's writes left to the
//! seal. Readers and the commit listener see a commit
//! once it is durable, in commit order: until its batch reaches redb, readers find its
//! writes in the batch's [`Recent`] commits, and a batch reaches redb only once all of
//! its commits are durable, so no snapshot holds a commit that is not. The page file is
//! checkpointed (a durable redb commit) once the log has grown by
//! [`StoreOptions::checkpoint_after`] bytes, at [`Store::sync`] and at close.
//!
//! A commit whose call fails because the store failed under it (an I/O error that
//! poisons the store) may have reached the log before the failure, and then is found
//! after the file is reopened: as with any database, the outcome of a commit whose
//! acknowledgement failed is unknown.

use std::collections::VecDeque;
use std::ops::Bound;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use redb::{ReadableDatabase, ReadableTable, TableDefinition};

use crate::StorageError;
use crate::kv::{Direction, Flow, KeyRange};
use crate::log::{self, Log, Payload};
use crate::store::{self, CommitListener, Durability, Listener, ReadTx, StoreOptions};
use crate::write::{Base, Stored, WriteGuard, WriteTx, Writes, merge};

mod batch;
mod recent;

use batch::Batch;
use recent::Recent;

const DATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("data");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const META_SEQ: &str = "commit_seq";
const META_FORMAT: &str = "storage_format";
/// A random number given to a database when it is created, which its commit log's records
/// carry.
const META_ID: &str = "database_id";
/// The version of this layer's own layout (the two tables above). Only grows.
const STORAGE_FORMAT: u64 = 1;

/// Writes a new database file at `path` holding commit `seq` with the entries `copy`
/// inserts (in any order), and returns `seq`. Written whole or not at all, never over
/// an existing file ([`crate::files::write_new`]); the copy is a database of its own
/// (a new id: the source's commit log is not the copy's).
pub(crate) fn write_copy(
    path: &Path,
    seq: u64,
    copy: impl FnOnce(
        &mut dyn FnMut(&[u8], &[u8]) -> Result<(), StorageError>,
    ) -> Result<(), StorageError>,
) -> Result<u64, StorageError> {
    crate::files::write_new(path, |partial| {
        let file = redb::Builder::new()
            .create(partial)
            .map_err(|e| StorageError::opening(path, "cannot write a backup to", e))?;
        let txn = file.begin_write()?;
        {
            let mut data = txn.open_table(DATA)?;
            copy(&mut |k, v| {
                data.insert(k, v)?;
                Ok(())
            })?;
            let mut meta = txn.open_table(META)?;
            meta.insert(META_FORMAT, STORAGE_FORMAT)?;
            meta.insert(META_SEQ, seq)?;
            meta.insert(META_ID, random_id())?;
        }
        // A durable commit: the copy is on disk before it is renamed into place.
        txn.commit()?;
        Ok(seq)
    })
}

/// The redb snapshot under a read transaction of this backend.
fn own(read: &ReadTx) -> Result<&Snapshot, StorageError> {
    read.embedded()
        .ok_or_else(|| StorageError::Corrupt("a snapshot of another backend".into()))
}

/// The value under `key` in a redb table.
pub(crate) fn table_get<T: ReadableTable<&'static [u8], &'static [u8]>>(
    t: &T,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StorageError> {
    table_get_with(t, key, <[u8]>::to_vec)
}

/// [`KvRead::get_with`] on a redb table: `read` sees the value in redb's page.
pub(crate) fn table_get_with<T: ReadableTable<&'static [u8], &'static [u8]>, R>(
    t: &T,
    key: &[u8],
    read: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>, StorageError> {
    guarded("reading", || Ok(t.get(key)?.map(|g| read(g.value()))))
}

/// One key-value pair as a redb range yields it.
type Entry<'a> = (
    redb::AccessGuard<'a, &'static [u8]>,
    redb::AccessGuard<'a, &'static [u8]>,
);

pub(crate) fn table_scan<T, E>(
    t: &T,
    range: &KeyRange,
    direction: Direction,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
) -> Result<(), E>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
    E: From<StorageError>,
{
    if range.is_empty() {
        return Ok(());
    }
    // One guard for the whole scan (a guard per entry cost 3-7% on short scans). A panic
    // in redb becomes `Corrupt`; a panic in the visitor, the caller's code, goes on
    // unwinding as it was.
    let mut visiting = false;
    // The key visited last: a damaged file can link pages in a loop, or point a seek at
    // the wrong page, which shows as a key out of order or out of the range; either ends
    // the scan (a caller that seeks again from what it saw would otherwise loop forever).
    let mut last: Option<Vec<u8>> = None;
    let in_order = match direction {
        Direction::Forward => std::cmp::Ordering::Greater,
        Direction::Reverse => std::cmp::Ordering::Less,
    };
    let scanned = catch_unwind(AssertUnwindSafe(|| -> Result<(), E> {
        let mut iter = t
            .range::<&[u8]>(range.as_refs())
            .map_err(StorageError::from)?;
        loop {
            let item: Option<Result<Entry<'_>, redb::StorageError>> = match direction {
                Direction::Forward => iter.next(),
                Direction::Reverse => iter.next_back(),
            };
            let Some(item) = item else {
                return Ok(());
            };
            let (k, v) = item.map_err(StorageError::from)?;
            let (key, value) = (k.value(), v.value());
            if !range.contains(key) {
                return Err(out_of_range().into());
            }
            match &mut last {
                Some(previous) if key.cmp(previous.as_slice()) != in_order => {
                    return Err(StorageError::Corrupt(
                        "reading: the file's keys are out of order (its pages are damaged)".into(),
                    )
                    .into());
                }
                Some(previous) => {
                    previous.clear();
                    previous.extend_from_slice(key);
                }
                None => last = Some(key.to_vec()),
            }
            visiting = true;
            let flow = visit(key, value)?;
            visiting = false;
            if flow.is_break() {
                return Ok(());
            }
        }
    }));
    match scanned {
        Ok(r) => r,
        Err(panic) if visiting => resume_unwind(panic),
        Err(panic) => Err(corrupt("reading", &panic).into()),
    }
}

impl Stored for Entry<'_> {
    fn key(&self) -> &[u8] {
        self.0.value()
    }
    fn value(&self) -> &[u8] {
        self.1.value()
    }
}

/// The entries of `range` in a redb table, for a merge with buffered writes: a key
/// outside the range (a damaged file) is `Corrupt`.
pub(crate) fn table_range<'t, T>(
    t: &'t T,
    range: &'t KeyRange,
) -> Result<impl DoubleEndedIterator<Item = Result<Entry<'t>, StorageError>> + 't, StorageError>
where
    T: ReadableTable<&'static [u8], &'static [u8]>,
{
    let entries = t.range::<&[u8]>(range.as_refs())?;
    Ok(entries.map(move |entry| {
        let entry = entry?;
        if range.contains(entry.0.value()) {
            Ok(entry)
        } else {
            Err(out_of_range())
        }
    }))
}

/// Applies a transaction's buffered writes to the `data` table, in key order.
///
/// In a large transaction, new keys that fall into one gap between stored keys are
/// spliced in as a run through a redb cursor (one descent for the run instead of one
/// per key); a key that already exists, a new key alone in its gap, or a delete goes
/// through the ordinary insert or remove (a splice rebuilds the leaf it lands in, where
/// an insert into a page the transaction already copied shifts it in place: bulk
/// connections, whose incoming edges land alone in their gaps, load ~23% faster so). A
/// small transaction's keys rarely share a gap, and a cursor per key costs
/// more than an insert (about a sixth of a durable create's time): up to
/// [`SPLICE_FROM`] writes are plain inserts.
pub(crate) fn apply(
    data: &mut redb::Table<'_, &'static [u8], &'static [u8]>,
    entries: Writes,
) -> Result<(), StorageError> {
    let mut entries = entries.into_iter().peekable();
    if entries.len() <= SPLICE_FROM {
        for (key, value) in entries {
            match value {
                Some(v) => data.insert(key.as_slice(), v.as_slice())?,
                None => data.remove(key.as_slice())?,
            };
        }
        return Ok(());
    }
    while let Some((key, value)) = entries.next() {
        let Some(value) = value else {
            data.remove(key.as_slice())?;
            continue;
        };
        let mut cursor = data.lower_bound_mut(Bound::Included(key.as_slice()))?;
        if !shares_gap(&mut cursor, &key, entries.peek())? {
            // Alone in its gap, or already stored: a plain insert changes a page this
            // transaction already copied in place, where a splice rebuilds the leaf.
            cursor.close()?;
            data.insert(key.as_slice(), value.as_slice())?;
            continue;
        }
        // New, and strictly inside the gap the cursor stands in: never unordered.
        cursor
            .insert_before(key.as_slice(), value.as_slice())
            .map_err(|e| StorageError::Backend(e.into()))?;
        while let Some((next_key, Some(next_value))) = entries.peek() {
            match cursor.insert_before(next_key.as_slice(), next_value.as_slice()) {
                Ok(()) => {
                    entries.next();
                }
                Err(redb::CursorError::UnorderedKey) => break,
                Err(e) => return Err(StorageError::Backend(e.into())),
            }
        }
        cursor.close()?;
    }
    Ok(())
}

/// Whether `key`, a new key the cursor stands before, shares its gap between stored keys
/// with the next write, a put.
fn shares_gap(
    cursor: &mut redb::CursorMut<'_, &'static [u8], &'static [u8]>,
    key: &[u8],
    next: Option<&(Vec<u8>, Option<Vec<u8>>)>,
) -> Result<bool, StorageError> {
    let Some((next_key, Some(_))) = next else {
        return Ok(false);
    };
    Ok(match cursor.peek_next()? {
        Some((after, _)) => after.value() != key && next_key.as_slice() < after.value(),
        None => true,
    })
}

/// The error of a scan that met a key outside its range: a damaged file's seek.
fn out_of_range() -> StorageError {
    StorageError::Corrupt(
        "reading: a key outside the range scanned (the file's pages are damaged)".into(),
    )
}

/// Runs `f`, a call into redb, turning a panic inside it into [`StorageError::Corrupt`].
/// redb 4.5 panics on some damaged pages (out-of-bounds slices, invalid UTF-8, an
/// "unreachable" allocator state) instead of returning an error. `f` must not run the
/// caller's code, only redb's (scans tell the two apart themselves).
fn guarded<R>(
    action: &str,
    f: impl FnOnce() -> Result<R, StorageError>,
) -> Result<R, StorageError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| Err(corrupt(action, &panic)))
}

/// The error for a panic caught inside redb.
fn corrupt(action: &str, panic: &Box<dyn std::any::Any + Send>) -> StorageError {
    let why = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic");
    StorageError::Corrupt(format!("{action}: redb failed: {why}"))
}

/// An ordered, transactional key-value store: a redb database file, or memory.
///
/// `Store` is `Send + Sync`; share it behind an `Arc`. Any number of read transactions run
/// beside at most one write transaction; `write` blocks while another is open.
pub struct Store {
    /// `None` only once closed.
    db: Option<Db>,
    durability: Durability,
    write_buffer: usize,
    poisoned: AtomicBool,
    /// The snapshot reads share until the next commit is published.
    latest: Mutex<Option<Arc<ReadTx>>>,
    /// With a commit log: redb's last commit, and the commits of the open batch
    /// (published or about to be), from which every published snapshot is made.
    view: Mutex<Option<View>>,
    /// Writers inside [`Store::write`] with a commit log: the last to leave seals the
    /// open batch.
    in_flight: AtomicUsize,
    /// The write lock, held while a transaction's closure runs and until it is committed
    /// (without a log) or added to the batch it guards (with one): commits are made one
    /// at a time, in commit order.
    commit_order: Mutex<Option<Batch>>,
    /// Told of every commit, with the entries its transaction noted.
    listener: Listener,
    /// The commit log, for a database file with a durable [`Durability`].
    log: Option<Log>,
    /// Commits made but not yet durable, oldest first, waiting to be published.
    unpublished: Mutex<VecDeque<Commit>>,
    checkpoint_after: u64,
}

/// A commit waiting to be published (its writes already in [`View::recent`]): what the
/// listener hears.
struct Commit {
    seq: u64,
    notes: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What published snapshots are made of: redb's last commit, and the writes of the
/// commits after it (those of the open batch).
struct View {
    sealed: Arc<Sealed>,
    recent: Arc<Recent>,
}

/// Entries a transaction noted for the commit listener.
type Notes = Vec<(Vec<u8>, Vec<u8>)>;

/// Up to this many buffered writes are applied one by one rather than spliced in runs.
const SPLICE_FROM: usize = 64;

/// How a transaction's closure ended.
enum Outcome<R, E> {
    /// It returned `Ok` and its writes are in the tree, or left to the open batch: the
    /// value, its notes and its log record (with a log).
    Done(R, Notes, Option<Payload>),
    Failed(Failure<E>),
}

/// A transaction's run: how its closure ended, and where its writes went.
struct Ran<R, E> {
    outcome: Outcome<R, E>,
    /// Whether any of its writes reached redb's tree (a failure must undo them).
    touched: bool,
    /// Its writes, if it left them to the open batch (they reach redb's tree when the
    /// batch is sealed).
    left: Option<Writes>,
}

/// A transaction that did not commit: the closure's error, or its panic.
enum Failure<E> {
    Error(E),
    Panic(Box<dyn std::any::Any + Send>),
}

impl<E> Failure<E> {
    /// Returns the error, or resumes the panic.
    fn raise<R>(self) -> Result<R, E> {
        match self {
            Failure::Error(e) => Err(e),
            Failure::Panic(panic) => resume_unwind(panic),
        }
    }
}

/// The commit number of the last commit in `txn`'s snapshot (0 before the first).
fn last_seq(txn: &redb::WriteTransaction) -> Result<u64, StorageError> {
    let meta = txn.open_table(META)?;
    Ok(meta.get(META_SEQ)?.map(|g| g.value()).unwrap_or(0))
}

/// Records `seq` as the commit number of `txn`.
fn set_last_seq(txn: &redb::WriteTransaction, seq: u64) -> Result<(), StorageError> {
    txn.open_table(META)?.insert(META_SEQ, seq)?;
    Ok(())
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("durability", &self.durability)
            .field("poisoned", &self.poisoned.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Store {
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
        let path = path.as_ref();
        let mut store = guarded("opening the database file", || {
            let db = redb::Builder::new()
                .set_cache_size(options.cache_size)
                .create(path)
                .map_err(|e| StorageError::opening(path, "cannot open the database file", e))?;
            Self::init(db, options)
        })?;
        store.attach_log(path)?;
        if options.compact {
            store.compact()?;
        }
        Ok(store)
    }

    /// Gives the page file's free space back to the file system: makes every commit
    /// durable in the page file, then moves the live pages towards its start and
    /// truncates it (redb's `compact`, a series of crash-safe commits). Needs the store to
    /// itself: the snapshot reads share is dropped first, and a snapshot still held
    /// elsewhere refuses the work with [`StorageError::Backend`]. Returns whether anything
    /// was moved.
    pub fn compact(&mut self) -> Result<bool, StorageError> {
        self.sync()?;
        self.retire_snapshot();
        let compacted = guarded("compacting the database file", || match self.db.as_mut() {
            Some(Db::Writable(db)) => db
                .compact()
                .map_err(|e| StorageError::Backend(redb::Error::from(e))),
            Some(Db::ReadOnly(_)) => Err(StorageError::ReadOnly),
            None => Err(StorageError::Poisoned),
        });
        // Reads of a store with a log always find a published snapshot.
        if self.log.is_some() {
            self.renew_view()?;
        }
        compacted
    }

    /// Opens the commit log of the database file at `path`, applies the commits it holds
    /// after the file's last durable one, and (for a durable [`Durability`]) commits
    /// through it from now on.
    fn attach_log(&mut self, path: &Path) -> Result<(), StorageError> {
        let log_path = log::path_of(path);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&log_path)
            .map_err(|source| StorageError::Io {
                action: "cannot open the commit log",
                path: log_path.clone(),
                source,
            })?;
        let (id, checkpointed) = {
            let snapshot = self.read()?;
            (own(&snapshot)?.id()?, snapshot.seq()?)
        };
        let records = log::read(&mut file, &log_path, id, checkpointed)?;
        let mut durable = checkpointed;
        if let Some(&(last, _)) = records.last() {
            guarded("applying the commit log", || {
                let mut txn = self.db()?.writable()?.begin_write()?;
                txn.set_two_phase_commit(self.durability != Durability::ImmediateOnePhase);
                {
                    let mut data = txn.open_table(DATA)?;
                    for (_, writes) in &records {
                        for (key, value) in writes {
                            match value {
                                Some(v) => data.insert(key.as_slice(), v.as_slice())?,
                                None => data.remove(key.as_slice())?,
                            };
                        }
                    }
                    txn.open_table(META)?.insert(META_SEQ, last)?;
                }
                txn.commit()?;
                Ok(())
            })?;
            self.retire_snapshot();
            durable = last;
        }
        if self.durability != Durability::Deferred {
            self.log = Some(Log::new(file, log_path, id, durable));
            // From now on reads never start their own snapshot (it could hold commits not
            // yet durable): there is always a published one.
            self.renew_view()?;
        }
        Ok(())
    }

    /// The redb database, unless closed.
    fn db(&self) -> Result<&Db, StorageError> {
        self.db.as_ref().ok_or(StorageError::Poisoned)
    }

    /// Opens a fresh store held in memory, gone when dropped. For tests and scratch work.
    pub fn in_memory(options: &StoreOptions) -> Result<Self, StorageError> {
        let db = redb::Builder::new()
            .set_cache_size(options.cache_size)
            .create_with_backend(redb::backends::InMemoryBackend::new())?;
        Self::init(db, options)
    }

    /// Opens a store on a custom redb backend: the seam for tests that inject I/O faults
    /// or simulate a crash by reopening the bytes a backend kept.
    pub fn with_backend(
        backend: impl redb::StorageBackend,
        options: &StoreOptions,
    ) -> Result<Self, StorageError> {
        guarded("opening the database", || {
            let db = redb::Builder::new()
                .set_cache_size(options.cache_size)
                .create_with_backend(backend)?;
            Self::init(db, options)
        })
    }

    /// Opens the database file at `path` for reading only: nothing is ever written to
    /// it, and every write is [`StorageError::ReadOnly`]. Other processes may read it too;
    /// a process that has it open for writing keeps it from opening (where the platform
    /// locks files). The file must exist and be a database ONE wrote.
    pub fn open_read_only(
        path: impl AsRef<Path>,
        options: &StoreOptions,
    ) -> Result<Self, StorageError> {
        // Compacting writes the file: a read-only open that asks for it is refused
        // rather than silently not compacting.
        if options.compact {
            return Err(StorageError::ReadOnly);
        }
        let path = path.as_ref();
        guarded("opening the database file", || {
            let db = redb::Builder::new()
                .set_cache_size(options.cache_size)
                .open_read_only(path)
                .map_err(|e| StorageError::opening(path, "cannot open the database file", e))?;
            let txn = db.begin_read()?;
            let format = match txn.open_table(META) {
                Ok(meta) => meta.get(META_FORMAT)?.map(|g| g.value()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            };
            match format {
                Some(STORAGE_FORMAT) => {}
                None => {
                    return Err(StorageError::NotADatabase {
                        path: path.to_path_buf(),
                    });
                }
                Some(other) => {
                    return Err(StorageError::Corrupt(format!(
                        "storage format {other} is not supported (this build reads format {STORAGE_FORMAT})"
                    )));
                }
            }
            drop(txn);
            let store = Self::with_db(Db::ReadOnly(db), options);
            let log_path = log::path_of(path);
            if let Ok(mut file) = std::fs::File::open(&log_path) {
                let snapshot = store.read()?;
                let (id, durable) = (own(&snapshot)?.id()?, snapshot.seq()?);
                if !log::read(&mut file, &log_path, id, durable)?.is_empty() {
                    return Err(StorageError::Damaged {
                        path: path.to_path_buf(),
                        reason: format!(
                            "its commit log {} holds commits not yet in the file (the process \
                             that wrote it stopped without closing it); open it for writing \
                             once to apply them",
                            log_path.display()
                        ),
                    });
                }
            }
            Ok(store)
        })
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        matches!(self.db, Some(Db::ReadOnly(_)))
    }

    fn with_db(db: Db, options: &StoreOptions) -> Self {
        Self {
            db: Some(db),
            durability: options.durability,
            write_buffer: options.write_buffer,
            poisoned: AtomicBool::new(false),
            latest: Mutex::new(None),
            view: Mutex::new(None),
            in_flight: AtomicUsize::new(0),
            commit_order: Mutex::new(None),
            listener: Listener::default(),
            log: None,
            unpublished: Mutex::new(VecDeque::new()),
            checkpoint_after: options.checkpoint_after,
        }
    }

    fn init(db: redb::Database, options: &StoreOptions) -> Result<Self, StorageError> {
        let txn = db.begin_write()?;
        {
            txn.open_table(DATA)?;
            let mut meta = txn.open_table(META)?;
            let format = meta.get(META_FORMAT)?.map(|g| g.value());
            match format {
                None => {
                    meta.insert(META_FORMAT, STORAGE_FORMAT)?;
                }
                Some(STORAGE_FORMAT) => {}
                Some(other) => {
                    return Err(StorageError::Corrupt(format!(
                        "storage format {other} is not supported (this build reads format {STORAGE_FORMAT})"
                    )));
                }
            }
            if meta.get(META_ID)?.is_none() {
                meta.insert(META_ID, random_id())?;
            }
        }
        txn.commit()?;
        Ok(Self::with_db(Db::Writable(db), options))
    }

    /// Writes a consistent copy of the last commit to a new database file at `path`, and
    /// returns the commit sequence number it holds. Writers go on meanwhile (the copy
    /// reads one snapshot). Written whole or not at all, never over an existing file
    /// ([`crate::files::write_new`]).
    pub fn backup(&self, path: impl AsRef<Path>) -> Result<u64, StorageError> {
        let published = self.read()?;
        let snapshot = own(&published)?;
        write_copy(path.as_ref(), snapshot.seq()?, |insert| {
            snapshot.scan(&KeyRange::all(), Direction::Forward, |k, v| {
                insert(k, v)?;
                Ok::<_, StorageError>(Flow::Continue(()))
            })
        })
    }

    /// The durability commits get.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Whether a failed commit or a panic has made this handle refuse writes.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// A read transaction: a snapshot of the last commit, unaffected by later ones.
    ///
    /// Reads between two commits share one snapshot, so a read costs no redb transaction
    /// of its own; the next commit retires it (it lives on while a caller still holds it).
    pub fn read(&self) -> Result<Arc<ReadTx>, StorageError> {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(snapshot) = &*latest {
            return Ok(Arc::clone(snapshot));
        }
        let snapshot = self.snapshot()?;
        *latest = Some(Arc::clone(&snapshot));
        Ok(snapshot)
    }

    /// A new snapshot of redb's last commit.
    fn sealed(&self) -> Result<Arc<Sealed>, StorageError> {
        let (txn, data) = guarded("starting a read", || {
            let txn = self.db()?.begin_read()?;
            let data = txn.open_table(DATA)?;
            Ok((txn, data))
        })?;
        Ok(Arc::new(Sealed { txn, data }))
    }

    /// A new snapshot of the last commit made.
    fn snapshot(&self) -> Result<Arc<ReadTx>, StorageError> {
        Ok(Snapshot::of(self.sealed()?, None))
    }

    /// Drops the shared snapshot (and with a log, the view published ones are made of),
    /// so the next read sees the newest commit and old pages can be reused.
    fn retire_snapshot(&self) {
        self.latest.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.view.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// Starts the view afresh from redb's last commit, which holds every commit made
    /// (and, with a log, every one published): called with the write lock held, or
    /// before there is a writer. Reads see it at once.
    fn renew_view(&self) -> Result<(), StorageError> {
        let sealed = self.sealed()?;
        *self.view.lock().unwrap_or_else(|p| p.into_inner()) = Some(View {
            sealed: Arc::clone(&sealed),
            recent: Arc::default(),
        });
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(Snapshot::of(sealed, None));
        Ok(())
    }

    /// The writes of the open batch's commits, which published snapshots read.
    fn recent(&self) -> Option<Arc<Recent>> {
        let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
        view.as_ref().map(|v| Arc::clone(&v.recent))
    }

    /// Runs `f` in a write transaction and commits if it returns `Ok`.
    ///
    /// An `Err` from `f` aborts the transaction: nothing it wrote is kept. A panic in `f`
    /// aborts it too and then resumes unwinding; the store stays usable. With a commit
    /// log, the call returns once the commit is durable (see the module's notes).
    pub fn write<R, E>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        if self.is_poisoned() {
            return Err(StorageError::Poisoned.into());
        }
        let Some(_guard) = WriteGuard::enter() else {
            return Err(StorageError::NestedWrite.into());
        };
        match &self.log {
            Some(log) => self.write_logged(log, f),
            None => self.write_alone(f),
        }
    }

    /// A write transaction of a store without a commit log: its own redb transaction,
    /// committed with the store's durability.
    fn write_alone<R, E>(&self, f: impl FnOnce(&mut WriteTx<'_>) -> Result<R, E>) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        let _turn = self.turn();
        let mut txn = self
            .db()?
            .writable()?
            .begin_write()
            .map_err(StorageError::from)?;
        match self.durability {
            Durability::Deferred => {
                txn.set_durability(redb::Durability::None)
                    .map_err(StorageError::from)?;
            }
            Durability::Immediate => txn.set_two_phase_commit(true),
            Durability::ImmediateOnePhase => {}
        }
        let seq = last_seq(&txn)? + 1;
        let failure = match self.run(&txn, seq, None, f).outcome {
            Outcome::Done(r, notes, _) => match set_last_seq(&txn, seq) {
                Ok(()) => {
                    self.commit(txn)?;
                    self.retire_snapshot();
                    self.listener.tell(seq, notes);
                    return Ok(r);
                }
                Err(e) => Failure::Error(e.into()),
            },
            Outcome::Failed(failure) => failure,
        };
        self.abort(txn);
        failure.raise()
    }

    /// Runs a transaction's closure over `txn` as commit `seq`, and applies its writes to
    /// the tree if it succeeds. Also says whether any of its writes reached the tree
    /// (which an abort must then undo).
    fn run<R, E>(
        &self,
        txn: &redb::WriteTransaction,
        seq: u64,
        batch: Option<&Writes>,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<R, E>,
    ) -> Ran<R, E>
    where
        E: From<StorageError>,
    {
        let data = match txn.open_table(DATA) {
            Ok(data) => data,
            Err(e) => {
                let e = StorageError::from(e);
                return Ran {
                    outcome: Outcome::Failed(Failure::Error(e.into())),
                    touched: false,
                    left: None,
                };
            }
        };
        let mut tx = WriteTx::new(
            Base::Embedded(data),
            seq,
            self.write_buffer,
            self.log.is_some(),
        );
        if let Some(batch) = batch {
            tx.over_batch(batch);
        }
        let outcome = match catch_unwind(AssertUnwindSafe(|| f(&mut tx))) {
            Ok(Ok(r)) => match tx.finish() {
                Ok(()) => Outcome::Done(r, std::mem::take(&mut tx.notes), tx.payload.take()),
                Err(e) => Outcome::Failed(Failure::Error(e.into())),
            },
            Ok(Err(e)) => Outcome::Failed(Failure::Error(e)),
            // Caught before it could unwind through the redb transaction, so aborting
            // discards it cleanly and the store goes on serving other writers.
            Err(panic) => Outcome::Failed(Failure::Panic(panic)),
        };
        Ran {
            outcome,
            touched: tx.touched,
            left: tx.take_left(),
        }
    }

    /// Aborts a redb transaction, which only discards pages: if even that fails, the
    /// handle is suspect and the store is poisoned.
    fn abort(&self, txn: redb::WriteTransaction) {
        let _ = self.poison_on(txn.abort().map_err(StorageError::from));
    }

    /// Commits a redb transaction; a failure poisons the store.
    fn commit(&self, txn: redb::WriteTransaction) -> Result<(), StorageError> {
        let committed = txn.commit().map_err(StorageError::from);
        self.poison_on(committed)
    }

    /// `result`, poisoning the store if it is an error. Writers waiting for commits the
    /// log will now never make durable are told of the failure.
    fn poison_on<T>(&self, result: Result<T, StorageError>) -> Result<T, StorageError> {
        if let Err(e) = &result {
            self.poisoned.store(true, Ordering::Release);
            if let Some(log) = &self.log {
                log.fail(e.to_string());
            }
        }
        result
    }

    /// Makes `txn` a durable commit, with the phases the store's durability asks for.
    fn set_durable(&self, txn: &mut redb::WriteTransaction) -> Result<(), StorageError> {
        txn.set_durability(redb::Durability::Immediate)
            .map_err(StorageError::from)?;
        txn.set_two_phase_commit(self.durability != Durability::ImmediateOnePhase);
        Ok(())
    }

    fn unpublished_queue(&self) -> MutexGuard<'_, VecDeque<Commit>> {
        self.unpublished.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the commits up to `seq`, now durable, in commit order: readers see the
    /// last of them, and the listener hears each. Returns the last published (0 if none
    /// was waiting).
    fn publish(&self, seq: u64) -> u64 {
        let mut queue = self.unpublished_queue();
        let mut newest = None;
        while queue.front().is_some_and(|c| c.seq <= seq) {
            if let Some(commit) = queue.pop_front() {
                newest = Some(commit.seq);
                self.listener.tell(commit.seq, commit.notes);
            }
        }
        if let Some(newest) = newest {
            let view = self.view.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(view) = view.as_ref() {
                let snapshot = Snapshot::of(
                    Arc::clone(&view.sealed),
                    Some((Arc::clone(&view.recent), newest)),
                );
                *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(snapshot);
            }
        }
        newest.unwrap_or(0)
    }

    /// Checkpoints the page file: a durable redb commit of every commit so far, after
    /// which the log starts again. Unless `always`, only if the log has grown past
    /// [`StoreOptions::checkpoint_after`] (another writer may have checkpointed first).
    fn checkpoint(&self, always: bool) -> Result<(), StorageError> {
        let Some(log) = &self.log else {
            return Ok(());
        };
        let mut turn = self.turn();
        turn.seal()?;
        if !always && log.written() < self.checkpoint_after {
            return Ok(());
        }
        self.poison_on(log.wait_published(log.appended(), |to| self.publish(to)))?;
        let mut txn = self.db()?.writable()?.begin_write()?;
        self.set_durable(&mut txn)?;
        self.commit(txn)?;
        log.restart();
        Ok(())
    }

    /// Runs `f` while no write transaction is open: every commit before it has been
    /// told to the commit listener, and none after it has begun. Refused with
    /// [`StorageError::NestedWrite`] inside a write transaction on this thread.
    pub fn between_commits<R>(&self, f: impl FnOnce() -> R) -> Result<R, StorageError> {
        let Some(_guard) = WriteGuard::enter() else {
            return Err(StorageError::NestedWrite);
        };
        let mut turn = self.turn();
        if let Some(log) = &self.log {
            turn.seal()?;
            self.poison_on(log.wait_published(log.appended(), |to| self.publish(to)))?;
        }
        Ok(f())
    }

    /// Sets the function told of every commit from now on (replacing any earlier one).
    pub fn set_commit_listener(&self, listener: CommitListener) {
        self.listener.set(listener);
    }

    /// Makes every commit so far durable in the page file, whatever the store's
    /// [`Durability`]: with `Deferred`, this is how an application chooses when to pay
    /// for an fsync; with a commit log, it is a checkpoint (the log starts again).
    pub fn sync(&self) -> Result<(), StorageError> {
        if self.is_poisoned() {
            return Err(StorageError::Poisoned);
        }
        let Some(_guard) = WriteGuard::enter() else {
            return Err(StorageError::NestedWrite);
        };
        if self.log.is_some() {
            return self.checkpoint(true);
        }
        let Db::Writable(db) = self.db()? else {
            // Nothing was ever written: nothing to make durable.
            return Ok(());
        };
        let mut txn = db.begin_write()?;
        txn.set_two_phase_commit(true);
        self.commit(txn)
    }

    /// Makes every commit durable in the page file and closes it.
    pub fn close(mut self) -> Result<(), StorageError> {
        if (self.durability == Durability::Deferred || self.log.is_some()) && !self.is_poisoned() {
            self.sync()?;
        }
        self.retire_snapshot();
        self.abort_open_batch();
        match self.db.take() {
            Some(Db::Writable(db)) => db.close(),
            Some(Db::ReadOnly(db)) => db.close(),
            None => return Ok(()),
        }
        .map_err(|e| StorageError::Backend(e.into()))
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // A store dropped without `close` still leaves its log applied when it can, so
        // the file opens read-only without it.
        if self.db.is_some() && self.log.is_some() && !self.is_poisoned() {
            let _ = self.sync();
        }
        self.abort_open_batch();
    }
}

/// The redb database under a store: writable, or opened read-only.
enum Db {
    Writable(redb::Database),
    ReadOnly(redb::ReadOnlyDatabase),
}

impl Db {
    fn begin_read(&self) -> Result<redb::ReadTransaction, redb::TransactionError> {
        match self {
            Db::Writable(db) => db.begin_read(),
            Db::ReadOnly(db) => db.begin_read(),
        }
    }

    fn writable(&self) -> Result<&redb::Database, StorageError> {
        match self {
            Db::Writable(db) => Ok(db),
            Db::ReadOnly(_) => Err(StorageError::ReadOnly),
        }
    }
}

/// A redb read transaction: a snapshot of redb's last commit.
pub(crate) struct Sealed {
    txn: redb::ReadTransaction,
    data: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

/// A consistent snapshot of the store: redb's last commit, and with a commit log the
/// commits published after it, up to the snapshot's commit number.
pub(crate) struct Snapshot {
    sealed: Arc<Sealed>,
    /// The open batch's commits and the last of them this snapshot sees; `None` when
    /// redb holds every commit it sees.
    recent: Option<(Arc<Recent>, u64)>,
}

impl Snapshot {
    /// A read transaction over `sealed` and the `recent` commits up to a number.
    fn of(sealed: Arc<Sealed>, recent: Option<(Arc<Recent>, u64)>) -> Arc<ReadTx> {
        let recent = recent.filter(|(r, _)| !r.is_empty());
        Arc::new(ReadTx::new(store::Snapshot::Embedded(Snapshot {
            sealed,
            recent,
        })))
    }

    /// The commit sequence number of the snapshot (0 before the first write).
    pub(crate) fn seq(&self) -> Result<u64, StorageError> {
        if let Some((_, upto)) = &self.recent {
            return Ok(*upto);
        }
        guarded("reading the commit number", || {
            let meta = self.sealed.txn.open_table(META)?;
            Ok(meta.get(META_SEQ)?.map(|g| g.value()).unwrap_or(0))
        })
    }

    /// The database's id (0 for a file written before ids existed and never opened for
    /// writing since).
    fn id(&self) -> Result<u64, StorageError> {
        guarded("reading the database id", || {
            let meta = self.sealed.txn.open_table(META)?;
            Ok(meta.get(META_ID)?.map(|g| g.value()).unwrap_or(0))
        })
    }
}

/// A number unlikely to be drawn twice: the standard library's per-process random hash
/// keys, mixed with the time.
pub(crate) fn random_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    #[allow(
        clippy::disallowed_methods,
        reason = "entropy for an id, not the engine's notion of time"
    )]
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

impl Snapshot {
    /// The value stored under `key`, if any.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some((recent, upto)) = &self.recent
            && let Some(seen) = recent.get(key, *upto)?
        {
            return Ok(seen);
        }
        table_get(&self.sealed.data, key)
    }

    /// [`KvRead::get_with`]: `read` sees the value in redb's page (or in the open
    /// batch's writes).
    pub(crate) fn get_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, StorageError> {
        let Some((recent, upto)) = &self.recent else {
            return table_get_with(&self.sealed.data, key, read);
        };
        match recent.get(key, *upto)? {
            Some(seen) => Ok(seen.as_deref().map(read)),
            None => table_get_with(&self.sealed.data, key, read),
        }
    }

    /// Visits the entries of `range` in `direction` until `visit` breaks or fails.
    pub(crate) fn scan<E: From<StorageError>>(
        &self,
        range: &KeyRange,
        direction: Direction,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
    ) -> Result<(), E> {
        let seen = match &self.recent {
            Some((recent, upto)) => recent.range(range, *upto)?,
            None => Vec::new(),
        };
        if seen.is_empty() {
            return table_scan(&self.sealed.data, range, direction, visit);
        }
        let seen = seen.iter().map(|(k, v)| (k, v));
        let stored = table_range(&self.sealed.data, range)?;
        match direction {
            Direction::Forward => merge(seen, stored, direction, &mut visit),
            Direction::Reverse => merge(seen.rev(), stored.rev(), direction, &mut visit),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::KvRead;
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_can_be_shared_across_threads() {
        assert_send_sync::<super::Store>();
        assert_send_sync::<std::sync::Arc<crate::ReadTx>>();
    }

    /// A store whose first commit waits in an open batch (a writer counted in flight
    /// keeps it open) when `second` runs: `second`'s transaction then runs in that batch.
    fn with_a_commit_in_an_open_batch(
        options: super::StoreOptions,
        second: impl FnOnce(&super::Store),
    ) -> tempfile::TempDir {
        use super::*;

        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("t.redb"), &options).unwrap();
        store.in_flight.fetch_add(1, Ordering::AcqRel);
        store
            .write(|tx| tx.put(b"first".to_vec(), b"1".to_vec()))
            .unwrap();
        let open = store.commit_order.lock().unwrap();
        assert!(open.as_ref().is_some_and(|b| b.commits.len() == 1));
        drop(open);
        second(&store);
        store.in_flight.fetch_sub(1, Ordering::AcqRel);
        let read = store.read().unwrap();
        assert_eq!(read.get(b"first").unwrap(), Some(b"1".to_vec()));
        dir
    }

    #[test]
    fn a_transaction_that_fails_after_writing_into_a_batch_leaves_the_batch_whole() {
        use super::*;

        let options = StoreOptions {
            write_buffer: 256,
            ..StoreOptions::default()
        };
        let dir = with_a_commit_in_an_open_batch(options.clone(), |store| {
            let failed: Result<(), StorageError> = store.write(|tx| {
                // More than the buffer: flushed into the batch's tree before the error.
                for i in 0..64u8 {
                    tx.put(vec![b'x', i], vec![0; 64])?;
                }
                assert!(tx.touched);
                Err(StorageError::ReadOnly)
            });
            assert!(matches!(failed, Err(StorageError::ReadOnly)));
            // It took no number; the next commit does.
            store
                .write(|tx| {
                    assert_eq!(tx.seq_of(b"next").unwrap(), 2);
                    tx.put(b"next".to_vec(), b"2".to_vec())
                })
                .unwrap();
        });
        let store = Store::open(dir.path().join("t.redb"), &options).unwrap();
        let read = store.read().unwrap();
        assert_eq!(read.seq().unwrap(), 2);
        assert_eq!(read.get(b"first").unwrap(), Some(b"1".to_vec()));
        assert_eq!(read.get(b"next").unwrap(), Some(b"2".to_vec()));
        assert_eq!(read.get(&[b'x', 0]).unwrap(), None);
    }

    #[test]
    fn a_transaction_too_large_for_the_log_commits_its_batch_durably() {
        use super::*;

        let options = StoreOptions {
            checkpoint_after: u64::MAX,
            ..StoreOptions::default()
        };
        let dir = with_a_commit_in_an_open_batch(options.clone(), |store| {
            let big = vec![7u8; 1 << 20];
            store
                .write(|tx| {
                    for i in 0..20u8 {
                        tx.put(vec![b'b', i], big.clone())?;
                    }
                    Ok::<_, StorageError>(())
                })
                .unwrap();
            // The page file holds both commits durably: the log has started again.
            assert_eq!(store.log.as_ref().unwrap().written(), 0);
        });
        let store = Store::open(dir.path().join("t.redb"), &options).unwrap();
        let read = store.read().unwrap();
        assert_eq!(read.seq().unwrap(), 2);
        assert_eq!(read.get(b"first").unwrap(), Some(b"1".to_vec()));
        assert_eq!(
            read.get(&[b'b', 19]).unwrap().map(|v| v.len()),
            Some(1 << 20)
        );
    }

    #[test]
    fn the_commit_listener_hears_committed_notes_in_commit_order() {
        use std::sync::{Arc, Mutex};

        use super::*;

        let store = Store::in_memory(&StoreOptions::default()).unwrap();
        type Heard = Vec<(u64, Vec<u8>)>;
        let heard: Arc<Mutex<Heard>> = Arc::default();
        let sink = Arc::clone(&heard);
        store.set_commit_listener(Arc::new(move |seq, notes| {
            let mut sink = sink.lock().unwrap();
            sink.extend(notes.into_iter().map(|(k, _)| (seq, k)));
        }));
        let note = |key: &[u8]| {
            store.write(|tx| {
                tx.note(key.to_vec(), vec![]);
                Ok::<_, StorageError>(())
            })
        };
        note(b"a").unwrap();
        // An aborted transaction's notes are never heard, and it takes no number.
        let aborted: Result<(), StorageError> = store.write(|tx| {
            tx.note(b"lost".to_vec(), vec![]);
            Err(StorageError::Poisoned)
        });
        assert!(aborted.is_err());
        note(b"b").unwrap();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| note(b"c").unwrap());
            }
        });
        let heard = heard.lock().unwrap();
        let seqs: Vec<u64> = heard.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5, 6]);
        assert_eq!(heard[0].1, b"a");
        assert_eq!(heard[1].1, b"b");
        assert_eq!(
            store
                .between_commits(|| store.read().unwrap().seq().unwrap())
                .unwrap(),
            6
        );
        let nested = store.write(|_| store.between_commits(|| ()));
        assert!(matches!(nested, Err(StorageError::NestedWrite)));
    }

    /// A key of a small alphabet, so that commits overwrite and delete each other's.
    fn small_key() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(prop_oneof![Just(0u8), Just(1), Just(0xFF), 2..5u8], 0..3)
    }

    /// The entries a snapshot shows of `range`, walked both ways (the reverse walk given
    /// back in ascending order).
    fn both_ways(
        read: &impl crate::KvRead,
        range: &crate::KeyRange,
    ) -> [Vec<(Vec<u8>, Vec<u8>)>; 2] {
        use crate::{Direction, Flow, StorageError};
        let walk = |direction| {
            let mut out = Vec::new();
            read.scan(range, direction, |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                Ok::<_, StorageError>(Flow::Continue(()))
            })
            .unwrap();
            out
        };
        let forward = walk(Direction::Forward);
        let mut reverse = walk(Direction::Reverse);
        reverse.reverse();
        [forward, reverse]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

        /// While a batch stays open, each writer sees exactly the commits before it,
        /// whether they left their writes to the batch or applied them to its tree
        /// (those whose buffer filled up), through gets and scans both ways; one that
        /// fails after applying leaves the others whole; and the file holds the last
        /// state once the batch is sealed.
        #[test]
        fn writers_in_an_open_batch_see_exactly_the_commits_before_them(
            commits in proptest::collection::vec((proptest::collection::vec(
                (small_key(), proptest::option::of(proptest::prelude::any::<u8>())), 0..6),
                proptest::prelude::any::<bool>()), 1..10),
        ) {
            use super::*;
            use std::collections::BTreeMap;

            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.redb");
            // A buffer of about three writes: larger transactions apply theirs early.
            let options = StoreOptions { write_buffer: 160, ..StoreOptions::default() };
            let store = Store::open(&path, &options).unwrap();
            store.in_flight.fetch_add(1, Ordering::AcqRel);
            let mut model = BTreeMap::<Vec<u8>, Vec<u8>>::new();
            let all = |model: &BTreeMap<Vec<u8>, Vec<u8>>| -> Vec<(Vec<u8>, Vec<u8>)> {
                model.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            };
            for (ops, fails) in &commits {
                let mut staged = model.clone();
                let result = store.write(|tx| {
                    assert_eq!(both_ways(&*tx, &KeyRange::all()), [all(&model), all(&model)]);
                    for (k, v) in ops {
                        assert_eq!(crate::KvRead::get(tx, k).unwrap().as_ref(), staged.get(k));
                        match v {
                            Some(v) => { tx.put(k.clone(), vec![*v])?; staged.insert(k.clone(), vec![*v]); }
                            None => { tx.delete(k)?; staged.remove(k); }
                        }
                    }
                    assert_eq!(both_ways(&*tx, &KeyRange::all()), [all(&staged), all(&staged)]);
                    if *fails { Err(StorageError::Corrupt("fails".into())) } else { Ok(()) }
                });
                proptest::prop_assert_eq!(result.is_err(), *fails);
                if !fails {
                    model = staged;
                }
                proptest::prop_assert_eq!(both_ways(&store.read().unwrap(), &KeyRange::all())[0].clone(), all(&model));
            }
            store.in_flight.fetch_sub(1, Ordering::AcqRel);
            store.sync().unwrap();
            proptest::prop_assert_eq!(both_ways(&store.read().unwrap(), &KeyRange::all())[1].clone(), all(&model));
            drop(store);
            let store = Store::open(&path, &options).unwrap();
            proptest::prop_assert_eq!(both_ways(&store.read().unwrap(), &KeyRange::all())[0].clone(), all(&model));
        }

        /// While a batch stays open (a writer is in flight), each snapshot taken after a
        /// commit sees exactly the commits up to it, through gets and scans both ways,
        /// before and after the batch reaches redb; and the file holds the last state.
        #[test]
        fn snapshots_of_an_open_batch_see_exactly_the_commits_before_them(
            commits in proptest::collection::vec(proptest::collection::vec(
                (small_key(), proptest::option::of(proptest::prelude::any::<u8>())), 0..6), 1..8),
            start in small_key(),
            end in small_key(),
        ) {
            use super::*;
            use std::collections::BTreeMap;

            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.redb");
            let store = Store::open(&path, &StoreOptions::default()).unwrap();
            // A writer that never leaves: nobody seals the batch until `sync`.
            store.in_flight.fetch_add(1, Ordering::AcqRel);
            let range = KeyRange::between(start.clone(), end.clone());
            type Model = BTreeMap<Vec<u8>, Vec<u8>>;
            let mut model = Model::new();
            let mut taken = Vec::new();
            for ops in &commits {
                store.write(|tx| {
                    for (k, v) in ops {
                        match v {
                            Some(v) => tx.put(k.clone(), vec![*v])?,
                            None => tx.delete(k)?,
                        }
                    }
                    Ok::<_, StorageError>(())
                }).unwrap();
                for (k, v) in ops {
                    match v {
                        Some(v) => model.insert(k.clone(), vec![*v]),
                        None => model.remove(k),
                    };
                }
                let read = store.read().unwrap();
                if !ops.is_empty() {
                    proptest::prop_assert!(own(&read).unwrap().recent.is_some(), "read from the open batch");
                }
                taken.push((read, model.clone()));
            }
            let check = |taken: &[(Arc<ReadTx>, Model)]| {
                for (read, model) in taken {
                    let expected: Vec<_> = if start < end {
                        model.range(start.clone()..end.clone()).map(|(k, v)| (k.clone(), v.clone())).collect()
                    } else {
                        Vec::new()
                    };
                    let [forward, reverse] = both_ways(read, &range);
                    assert_eq!(forward, expected);
                    assert_eq!(reverse, expected);
                    let all: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    assert_eq!(both_ways(read, &KeyRange::all())[0], all);
                    for (ops_key, _) in commits.iter().flatten() {
                        assert_eq!(read.get(ops_key).unwrap().as_ref(), model.get(ops_key));
                    }
                }
            };
            check(&taken);
            store.in_flight.fetch_sub(1, Ordering::AcqRel);
            store.sync().unwrap();
            // Sealed: older snapshots still see what they saw; new ones see redb alone.
            check(&taken);
            let last = store.read().unwrap();
            proptest::prop_assert!(own(&last).unwrap().recent.is_none());
            check(&[(last, model.clone())]);
            drop(taken);
            drop(store);
            let store = Store::open(&path, &StoreOptions::default()).unwrap();
            check(&[(store.read().unwrap(), model)]);
        }
    }
}
