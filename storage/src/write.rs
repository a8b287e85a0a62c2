//! The write transaction both backends share: a buffer of writes in key order over the
//! backend's own transaction, which reads see through.
//!
//! Writes are buffered in key order and handed to the backend in sorted runs (when the
//! buffer passes [`crate::StoreOptions::write_buffer`], and before commit). Index entries
//! of one logical change land far apart in the keyspace: applied as they come, each would
//! be a random B-tree insert in redb or a round trip to PostgreSQL; sorted and batched,
//! redb does them several times faster and PostgreSQL takes them in one statement.

use std::collections::BTreeMap;

use crate::StorageError;
use crate::embedded;
use crate::kv::{Direction, Flow, KeyRange, KvRead};
use std::any::Any;

use crate::log::Payload;
#[cfg(feature = "postgres")]
use crate::postgres;

/// A write transaction, alive only inside [`crate::Store::write`]. Reads see its own
/// writes.
pub struct WriteTx<'t> {
    pub(crate) base: Base<'t>,
    seq: u64,
    /// Buffered writes.
    pending: Writes,
    pending_bytes: usize,
    flush_at: usize,
    /// Whether any write reached the backend (an abort must undo it).
    pub(crate) touched: bool,
    /// The writes the open batch's commits before this transaction left to the batch,
    /// not in the backend's tree yet (a file with a commit log, see `embedded/batch.rs`):
    /// reads see them under this transaction's own writes, and a transaction that ends
    /// with them still here leaves its writes to the batch too (`left`). One that applies
    /// its writes before it ends (its buffer is full, or it is too large for the log)
    /// applies these first.
    batch: Option<&'t Writes>,
    /// This transaction's writes, once it has left them to the batch.
    left: Option<Writes>,
    /// Entries for the commit listener.
    pub(crate) notes: Vec<(Vec<u8>, Vec<u8>)>,
    /// The writes for the commit log, as they are applied (with a log).
    pub(crate) payload: Option<Payload>,
    /// What the layer above keeps beside the writes, one value per type.
    attached: Vec<Box<dyn Any + Send>>,
}

/// Writes in key order: `Some(value)` to store, `None` to delete.
pub(crate) type Writes = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// The backend's transaction under the buffer.
pub(crate) enum Base<'t> {
    /// The `data` table of a redb write transaction.
    Embedded(redb::Table<'t, &'static [u8], &'static [u8]>),
    /// A PostgreSQL connection inside its SERIALIZABLE transaction.
    #[cfg(feature = "postgres")]
    Postgres(&'t postgres::Session),
}

impl std::fmt::Debug for WriteTx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteTx")
            .field("seq", &self.seq)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl<'t> WriteTx<'t> {
    /// A transaction over `base` that will be commit `seq`, applying its buffer once it
    /// holds `flush_at` bytes; `logged` keeps a record of its writes for a commit log.
    pub(crate) fn new(base: Base<'t>, seq: u64, flush_at: usize, logged: bool) -> Self {
        Self {
            base,
            seq,
            pending: BTreeMap::new(),
            pending_bytes: 0,
            flush_at,
            touched: false,
            batch: None,
            left: None,
            notes: Vec::new(),
            payload: logged.then(Payload::default),
            attached: Vec::new(),
        }
    }
}

impl<'t> WriteTx<'t> {
    /// Makes this transaction read over the writes the open batch's commits left to it,
    /// and leave its own to the batch too (see the field).
    pub(crate) fn over_batch(&mut self, batch: &'t Writes) {
        self.batch = Some(batch);
    }
}

impl WriteTx<'_> {
    /// This transaction's writes, if it ended by leaving them to the open batch (they
    /// are in its log record, not in the backend's tree).
    pub(crate) fn take_left(&mut self) -> Option<Writes> {
        self.left.take()
    }

    /// The commit sequence number this transaction will have, if it commits, in the
    /// partition of `key` ([`crate::StoreOptions::partition`]). A file has one sequence,
    /// the same for every key. On PostgreSQL, each partition numbers its own commits, and
    /// asking takes the partition's turn, as a write there would; this can fail, like a
    /// write (the transaction is then run again, see [`crate::Store::write`]).
    pub fn seq_of(&self, key: &[u8]) -> Result<u64, StorageError> {
        #[cfg(not(feature = "postgres"))]
        let _ = key;
        match &self.base {
            Base::Embedded(_) => Ok(self.seq),
            #[cfg(feature = "postgres")]
            Base::Postgres(session) => session.turn(key),
        }
    }

    /// The partitions this transaction holds the turns of, on PostgreSQL (those it wrote
    /// in or asked [`WriteTx::seq_of`] of, and those its plan named): none in a file,
    /// whose writers take one turn for the whole store.
    pub fn partitions(&self) -> Vec<Vec<u8>> {
        match &self.base {
            Base::Embedded(_) => Vec::new(),
            #[cfg(feature = "postgres")]
            Base::Postgres(session) => session.held(),
        }
    }

    /// The partitions this transaction wrote in, on PostgreSQL (a subset of
    /// [`WriteTx::partitions`]); none in a file.
    pub fn written_partitions(&self) -> Vec<Vec<u8>> {
        match &self.base {
            Base::Embedded(_) => Vec::new(),
            #[cfg(feature = "postgres")]
            Base::Postgres(session) => session.written(),
        }
    }

    /// Ends this run of the transaction as a conflict and returns the error for the
    /// closure to return: nothing is committed. On PostgreSQL the transaction runs again
    /// (see [`crate::Store::write`]), with the turns this run held taken before it
    /// begins; a file, whose writers take turns on the whole store, has nothing another
    /// run would see differently, so its caller gets the error.
    pub fn conflict(&self) -> StorageError {
        #[cfg(feature = "postgres")]
        if let Base::Postgres(session) = &self.base {
            session.mark_conflicted();
        }
        StorageError::Conflict { attempts: 1 }
    }

    /// Hands an entry to the store's commit listener, if this transaction commits
    /// (nothing is stored by noting it).
    pub fn note(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.notes.push((key, value));
    }

    fn buffer(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> Result<(), StorageError> {
        #[cfg(feature = "postgres")]
        if let Base::Postgres(session) = &self.base {
            session.turn_to_write(&key)?;
        }
        self.pending_bytes += key.len() + value.as_ref().map_or(0, Vec::len) + 48;
        self.pending.insert(key, value);
        if self.pending_bytes >= self.flush_at {
            self.flush()?;
        }
        Ok(())
    }

    /// The buffered writes, taken (for a backend that sends them with its commit).
    #[cfg(feature = "postgres")]
    pub(crate) fn take_pending(&mut self) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.pending_bytes = 0;
        std::mem::take(&mut self.pending)
    }

    /// Applies the buffered writes to the backend, in key order (after the open batch's
    /// writes not applied yet).
    pub(crate) fn flush(&mut self) -> Result<(), StorageError> {
        self.record();
        self.apply()
    }

    /// Ends the writes of a transaction whose closure returned `Ok`: records them for the
    /// log and applies them, unless they can be left to the open batch (see `batch`;
    /// [`WriteTx::take_left`] then has them).
    pub(crate) fn finish(&mut self) -> Result<(), StorageError> {
        self.record();
        let logged = self.payload.as_ref().is_some_and(|p| !p.overflowed());
        if self.batch.is_some() && logged {
            self.pending_bytes = 0;
            self.left = Some(std::mem::take(&mut self.pending));
            return Ok(());
        }
        self.apply()
    }

    /// Adds the buffered writes to the log record.
    fn record(&mut self) {
        if let Some(payload) = &mut self.payload {
            for (key, value) in &self.pending {
                payload.push(key, value.as_deref());
            }
        }
    }

    /// Applies the buffered writes to the backend, after the open batch's.
    fn apply(&mut self) -> Result<(), StorageError> {
        if let Some(batch) = self.batch.take()
            && let Base::Embedded(data) = &mut self.base
        {
            self.touched = true;
            embedded::apply(data, batch.clone())?;
        }
        self.touched |= !self.pending.is_empty();
        let entries = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        match &mut self.base {
            Base::Embedded(data) => embedded::apply(data, entries),
            #[cfg(feature = "postgres")]
            Base::Postgres(session) => session.apply(entries),
        }
    }

    /// State the layer above keeps for the life of this transaction beside its writes:
    /// the value of type `T`, made on first use. Reads of the transaction find it with
    /// [`KvRead::attached`] (the engine's text index keeps the postings it has not
    /// folded into the store yet here, so the transaction's own searches see them). It
    /// is never stored: it goes with the transaction.
    pub fn attached_mut<T: Any + Send + Default>(&mut self) -> &mut T {
        let at = match self.attached.iter().position(|a| a.is::<T>()) {
            Some(at) => at,
            None => {
                self.attached.push(Box::new(T::default()));
                self.attached.len() - 1
            }
        };
        self.attached[at]
            .downcast_mut()
            .expect("the value at `at` is a T")
    }

    /// Takes the value of type `T` kept beside this transaction, if there is one.
    pub fn take_attached<T: Any + Send>(&mut self) -> Option<T> {
        let at = self.attached.iter().position(|a| a.is::<T>())?;
        self.attached.swap_remove(at).downcast().ok().map(|b| *b)
    }

    /// Stores `value` under `key`, replacing what was there.
    ///
    /// Takes owned bytes (or copies borrowed ones) because the write is buffered.
    pub fn put(
        &mut self,
        key: impl Into<Vec<u8>>,
        value: impl Into<Vec<u8>>,
    ) -> Result<(), StorageError> {
        self.buffer(key.into(), Some(value.into()))
    }

    /// Stores `value` under `key` and returns what was there before.
    pub fn replace(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let old = self.get(key)?;
        self.buffer(key.to_vec(), Some(value.to_vec()))?;
        Ok(old)
    }

    /// Removes `key`, present or not. Reads nothing: the delete is only buffered.
    pub fn delete(&mut self, key: &[u8]) -> Result<(), StorageError> {
        self.buffer(key.to_vec(), None)
    }

    /// Removes every key that starts with `prefix` (those this transaction wrote too), and
    /// returns how many there were.
    pub fn delete_prefix(&mut self, prefix: &[u8]) -> Result<usize, StorageError> {
        let mut doomed = Vec::new();
        self.scan(&KeyRange::prefix(prefix), Direction::Forward, |k, _| {
            doomed.push(k.to_vec());
            Ok::<_, StorageError>(Flow::Continue(()))
        })?;
        for k in &doomed {
            self.delete(k)?;
        }
        Ok(doomed.len())
    }

    /// Removes `key` and returns what was there, which costs a read.
    pub fn remove(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        let old = self.get(key)?;
        self.buffer(key.to_vec(), None)?;
        Ok(old)
    }
}

impl KvRead for WriteTx<'_> {
    fn attached<T: Any>(&self) -> Option<&T> {
        self.attached.iter().find_map(|a| a.downcast_ref())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_with(key, <[u8]>::to_vec)
    }

    fn get_with<R>(
        &self,
        key: &[u8],
        read: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, StorageError> {
        if let Some(buffered) = self.pending.get(key) {
            return Ok(buffered.as_deref().map(read));
        }
        if let Some(left) = self.batch.and_then(|batch| batch.get(key)) {
            return Ok(left.as_deref().map(read));
        }
        match &self.base {
            Base::Embedded(data) => embedded::table_get_with(data, key, read),
            #[cfg(feature = "postgres")]
            Base::Postgres(session) => Ok(session.get(key)?.map(|value| read(&value))),
        }
    }

    fn scan<E: From<StorageError>>(
        &self,
        range: &KeyRange,
        direction: Direction,
        visit: impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
    ) -> Result<(), E> {
        let batch = self.batch.filter(|batch| !batch.is_empty());
        if self.pending.is_empty() && batch.is_none() {
            return match &self.base {
                Base::Embedded(data) => embedded::table_scan(data, range, direction, visit),
                #[cfg(feature = "postgres")]
                Base::Postgres(session) => session.scan(range, direction, visit),
            };
        }
        if range.is_empty() {
            return Ok(());
        }
        let pending = self.pending.range::<[u8], _>(range.as_refs());
        let Some(batch) = batch else {
            return self.scan_over(pending, range, direction, visit);
        };
        let buffered = over(pending, batch.range::<[u8], _>(range.as_refs()));
        self.scan_over(buffered.into_iter(), range, direction, visit)
    }
}

impl WriteTx<'_> {
    /// Visits the union of `buffered` writes (in key order) and the backend's entries of
    /// `range`, a buffered write hiding the stored entry of its key.
    fn scan_over<'p, E: From<StorageError>>(
        &self,
        buffered: impl DoubleEndedIterator<Item = Buffered<'p>>,
        range: &KeyRange,
        direction: Direction,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
    ) -> Result<(), E> {
        match &self.base {
            Base::Embedded(data) => {
                let stored = embedded::table_range(data, range)?;
                match direction {
                    Direction::Forward => merge(buffered, stored, direction, &mut visit),
                    Direction::Reverse => {
                        merge(buffered.rev(), stored.rev(), direction, &mut visit)
                    }
                }
            }
            #[cfg(feature = "postgres")]
            Base::Postgres(session) => {
                let stored = session.entries(range, direction);
                match direction {
                    Direction::Forward => merge(buffered, stored, direction, &mut visit),
                    Direction::Reverse => merge(buffered.rev(), stored, direction, &mut visit),
                }
            }
        }
    }
}

/// A buffered write: a key, and its value (`None`: deleted).
type Buffered<'p> = (&'p Vec<u8>, &'p Option<Vec<u8>>);

/// The union of two runs of writes in key order, the `top` run's write winning where
/// both have a key.
fn over<'p>(
    top: impl Iterator<Item = Buffered<'p>>,
    under: impl Iterator<Item = Buffered<'p>>,
) -> Vec<Buffered<'p>> {
    let mut out = Vec::new();
    let mut under = under.peekable();
    for write in top {
        while let Some(below) = under.next_if(|below| below.0 < write.0) {
            out.push(below);
        }
        under.next_if(|below| below.0 == write.0);
        out.push(write);
    }
    out.extend(under);
    out
}

/// A stored entry a backend's scan yields.
pub(crate) trait Stored {
    /// Its key.
    fn key(&self) -> &[u8];
    /// Its value.
    fn value(&self) -> &[u8];
}

impl Stored for (Vec<u8>, Vec<u8>) {
    fn key(&self) -> &[u8] {
        &self.0
    }
    fn value(&self) -> &[u8] {
        &self.1
    }
}

/// Visits the union of buffered and stored entries in scan order (both iterators walk
/// `direction`). A buffered entry hides the stored one with the same key, and a buffered
/// delete hides it without a visit.
pub(crate) fn merge<'p, S: Stored, E: From<StorageError>>(
    buffered: impl Iterator<Item = (&'p Vec<u8>, &'p Option<Vec<u8>>)>,
    mut stored: impl Iterator<Item = Result<S, StorageError>>,
    direction: Direction,
    visit: &mut impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
) -> Result<(), E> {
    let first = match direction {
        Direction::Forward => std::cmp::Ordering::Less,
        Direction::Reverse => std::cmp::Ordering::Greater,
    };
    let mut buffered = buffered.peekable();
    let mut next_stored = stored.next().transpose()?;
    loop {
        let take_buffered = match (buffered.peek(), &next_stored) {
            (None, None) => return Ok(()),
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((bk, _)), Some(s)) => {
                let order = bk.as_slice().cmp(s.key());
                if order == std::cmp::Ordering::Equal {
                    next_stored = stored.next().transpose()?;
                    true
                } else {
                    order == first
                }
            }
        };
        let flow = if take_buffered {
            match buffered.next() {
                Some((k, Some(v))) => visit(k, v)?,
                _ => Flow::Continue(()),
            }
        } else {
            let s = next_stored
                .take()
                .ok_or_else(|| StorageError::Corrupt("merge lost an entry".into()))?;
            let flow = visit(s.key(), s.value())?;
            next_stored = stored.next().transpose()?;
            flow
        };
        if flow.is_break() {
            return Ok(());
        }
    }
}

thread_local! {
    /// Whether this thread is inside [`crate::Store::write`].
    static IN_WRITE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the current thread as writing, for as long as it lives: a write transaction
/// started inside another on the same thread would wait for itself forever.
pub(crate) struct WriteGuard;

impl WriteGuard {
    /// `None` if this thread is already writing.
    pub(crate) fn enter() -> Option<Self> {
        IN_WRITE.with(|w| (!w.replace(true)).then_some(WriteGuard))
    }
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        IN_WRITE.with(|w| w.set(false));
    }
}
