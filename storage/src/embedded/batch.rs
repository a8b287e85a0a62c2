//! The write path of a store with a commit log: transactions in batches that share one
//! redb write transaction (see the notes of `embedded/mod.rs`). [`Turn`] is the write
//! lock and the open [`Batch`] it guards; a batch is sealed when full, and by the last
//! writer to leave ([`Store::write_logged`]).

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use super::{Commit, DATA, Notes, Outcome, Store, WriteTx, Writes, last_seq, set_last_seq};
use crate::StorageError;
use crate::log::{Log, Payload};

/// Commits not yet committed to redb, with a commit log: each is whole (its closure
/// returned `Ok`), and they share one redb write transaction, committed once for all of
/// them when the batch is sealed; meanwhile readers find their writes in the store's
/// [`super::Recent`] commits.
pub(super) struct Batch {
    txn: redb::WriteTransaction,
    /// The commit number of the batch's last commit (or of the last one before it).
    last: u64,
    pub(super) commits: Vec<Logged>,
    /// Bytes of the commits' log records.
    bytes: usize,
    /// The newest version of each key the commits left to the batch, not yet in `txn`'s
    /// tree: it gets them in one sorted run when the batch is sealed.
    left: Writes,
}

/// The most commits, and bytes of log records, one batch holds before it is sealed.
const BATCH_COMMITS: usize = 512;
const BATCH_BYTES: usize = 4 << 20;

/// A commit in a batch: what the log holds of it.
pub(super) struct Logged {
    seq: u64,
    /// Shared with the store's [`super::Recent`] commits until the batch is sealed.
    payload: Arc<Payload>,
}

/// The right to write: the write lock, and the batch it guards. Dropped, it seals the
/// batch if the batch is full.
pub(super) struct Turn<'s> {
    store: &'s Store,
    batch: MutexGuard<'s, Option<Batch>>,
}

impl Turn<'_> {
    /// The open batch, begun if there is none.
    fn open(&mut self) -> Result<&mut Batch, StorageError> {
        if self.batch.is_none() {
            *self.batch = Some(self.store.begin_batch()?);
        }
        self.batch.as_mut().ok_or(StorageError::Poisoned)
    }

    /// Adds a commit to the open batch, and its record to the log (unless it is too large
    /// for one): the log may sync it, and publish it, while the batch is still open, so
    /// its writes are first added to what published snapshots read.
    fn add(&mut self, commit: Logged, notes: Notes) {
        let store = self.store;
        let (Some(batch), Some(log)) = (self.batch.as_mut(), &store.log) else {
            return;
        };
        let overflowed = commit.payload.overflowed();
        if !overflowed && let Some(recent) = store.recent() {
            recent.add(commit.seq, Arc::clone(&commit.payload));
        }
        store.unpublished_queue().push_back(Commit {
            seq: commit.seq,
            notes,
        });
        if !overflowed {
            log.append(commit.seq, &commit.payload);
        }
        batch.last = commit.seq;
        batch.bytes += commit.payload.len();
        batch.commits.push(commit);
    }

    /// Seals the open batch now, if it holds a commit.
    pub(super) fn seal(&mut self) -> Result<(), StorageError> {
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        match &self.store.log {
            Some(log) if !batch.commits.is_empty() => self.store.seal(log, batch),
            _ => {
                self.store.abort(batch.txn);
                Ok(())
            }
        }
    }

    /// Makes the open batch again, after a transaction that failed had written into its
    /// tree: a fresh redb transaction, every commit's writes (from their records) left
    /// to the seal. A failure poisons the store.
    fn rebuild(&mut self) {
        let Some(old) = self.batch.take() else {
            return;
        };
        self.store.abort(old.txn);
        if old.commits.is_empty() || self.store.is_poisoned() {
            return;
        }
        let fresh = self.store.begin_batch().and_then(|fresh| {
            let mut left = Writes::new();
            for commit in &old.commits {
                left.extend(commit.payload.writes()?);
            }
            Ok((fresh, left))
        });
        if let Ok((fresh, left)) = self.store.poison_on(fresh) {
            *self.batch = Some(Batch {
                last: old.last,
                commits: old.commits,
                bytes: old.bytes,
                left,
                ..fresh
            });
        }
    }

    /// Commits the open batch durably to the page file (a checkpoint of its own), once
    /// every commit appended to the log before it is published, and publishes its last.
    fn seal_durably(&mut self, log: &Log) -> Result<(), StorageError> {
        let store = self.store;
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        // The batch's other commits are in the log: published, they wait only for this.
        if let Err(e) = log.wait_published(log.appended(), |to| store.publish(to)) {
            store.abort(batch.txn);
            return store.poison_on(Err(e));
        }
        let Batch {
            mut txn,
            last,
            left,
            ..
        } = batch;
        let ready = apply_left(&txn, left)
            .and_then(|()| set_last_seq(&txn, last))
            .and_then(|()| store.set_durable(&mut txn));
        if let Err(e) = ready {
            store.abort(txn);
            return store.poison_on(Err(e));
        }
        store.commit(txn)?;
        store.poison_on(store.renew_view())?;
        // Published before the writers of the batch are told their commits are durable.
        store.publish(last);
        log.mark_durable(last);
        log.restart();
        Ok(())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let full = self
            .batch
            .as_ref()
            .is_some_and(|b| b.commits.len() >= BATCH_COMMITS || b.bytes >= BATCH_BYTES);
        if full && self.store.log.is_some() {
            // A failure poisons the store and tells the batch's waiting writers.
            let _ = self.seal();
        }
    }
}

/// A writer inside [`Store::write_logged`]: the last to leave seals the open batch, so a
/// store nobody writes to has no open batch (its readers read redb alone).
struct InFlight<'s>(&'s Store);

impl<'s> InFlight<'s> {
    fn enter(store: &'s Store) -> Self {
        store.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(store)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let store = self.0;
        if store.in_flight.fetch_sub(1, Ordering::AcqRel) != 1 || std::thread::panicking() {
            return;
        }
        let mut turn = store.turn();
        // A writer that came in meanwhile seals when it leaves.
        if store.in_flight.load(Ordering::Acquire) == 0 {
            // A failure poisons the store: the commits were acknowledged, and are in the
            // log.
            let _ = turn.seal();
        }
    }
}

impl Store {
    /// A write transaction of a store with a commit log. Its closure runs in the batch's
    /// redb transaction, after the commits already in the batch (whose writes it sees,
    /// in redb's tree or still in the writes they left to the batch, to which it leaves
    /// its own too unless it is alone or large: see [`WriteTx::finish`]);
    /// once it has returned `Ok`, it is a commit of the batch: its record is appended to
    /// the log at once, and the call returns when the record is synced and the commit
    /// published (readers find it in the batch's [`super::Recent`] commits until the
    /// batch reaches redb).
    ///
    /// Batching: every redb transaction costs a copy of each B-tree page it dirties and a
    /// commit, under the write lock. Commits share one redb transaction instead, until
    /// the batch is full ([`Turn`]) or the last writer leaves (`InFlight`): a writer
    /// alone seals at once, so one writer's latency does not change, and a file nobody
    /// writes to is read from redb alone.
    pub(super) fn write_logged<R, E>(
        &self,
        log: &Log,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        let _in_flight = InFlight::enter(self);
        let mut turn = self.turn();
        let batch = turn.open()?;
        let seq = batch.last + 1;
        // It reads through the batch's commits when some are not in its tree yet, and
        // leaves its writes to the batch when other writers are in flight (the batch
        // outlives it); a writer alone applies its own at once, as it seals next.
        let over_batch = !batch.left.is_empty() || self.in_flight.load(Ordering::Acquire) > 1;
        let ran = self.run(&batch.txn, seq, over_batch.then_some(&batch.left), f);
        let (r, notes, payload) = match ran.outcome {
            Outcome::Done(r, notes, payload) => {
                if let Some(left) = ran.left {
                    batch.left.extend(left);
                } else if ran.touched {
                    // It applied the batch's writes before its own.
                    batch.left.clear();
                }
                (r, notes, payload.unwrap_or_default())
            }
            Outcome::Failed(failure) => {
                if ran.touched {
                    // Its writes reached the batch's tree: the batch is made again
                    // from the commits before it.
                    turn.rebuild();
                }
                drop(turn);
                return failure.raise();
            }
        };
        let overflowed = payload.overflowed();
        turn.add(
            Logged {
                seq,
                payload: Arc::new(payload),
            },
            notes,
        );
        if overflowed {
            // Too large for the log: the batch, with it, is committed durably to the
            // page file, a checkpoint of its own.
            turn.seal_durably(log)?;
            return Ok(r);
        }
        drop(turn);
        self.poison_on(log.wait_published(seq, |to| self.publish(to)))?;
        if log.written() >= self.checkpoint_after {
            // The commit is durable: a checkpoint that fails poisons the store for the
            // calls after this one, not this one.
            let _ = self.checkpoint(false);
        }
        Ok(r)
    }

    /// The right to write: waits for the write lock.
    pub(super) fn turn(&self) -> Turn<'_> {
        let batch = self.commit_order.lock().unwrap_or_else(|p| p.into_inner());
        Turn { store: self, batch }
    }

    /// A new batch: a redb write transaction committed without a sync (the log makes its
    /// commits durable).
    fn begin_batch(&self) -> Result<Batch, StorageError> {
        let mut txn = self.db()?.writable()?.begin_write()?;
        txn.set_durability(redb::Durability::None)?;
        let last = last_seq(&txn)?;
        Ok(Batch {
            txn,
            last,
            commits: Vec::new(),
            bytes: 0,
            left: Writes::new(),
        })
    }

    /// Commits a batch to redb (its commits' records are already in the log), once all of
    /// its commits are published: a snapshot of redb then never holds a commit that is
    /// not durable. Published snapshots are made of redb alone from then on.
    fn seal(&self, log: &Log, batch: Batch) -> Result<(), StorageError> {
        let Batch {
            txn, last, left, ..
        } = batch;
        let sealed = apply_left(&txn, left)
            .and_then(|()| log.wait_published(last, |to| self.publish(to)))
            .and_then(|()| set_last_seq(&txn, last));
        if let Err(e) = sealed {
            self.abort(txn);
            return self.poison_on(Err(e));
        }
        self.commit(txn)?;
        self.poison_on(self.renew_view())
    }

    /// Aborts a batch still open when the store ends, before the database it writes to
    /// does: only a store poisoned while a writer was in flight leaves one (a sound store
    /// seals every batch when it syncs).
    pub(super) fn abort_open_batch(&mut self) {
        let open = self.commit_order.get_mut().map(Option::take);
        if let Ok(Some(batch)) = open {
            self.abort(batch.txn);
        }
    }
}

/// Gives a batch's tree the writes its commits left to it, in one sorted run.
fn apply_left(txn: &redb::WriteTransaction, left: Writes) -> Result<(), StorageError> {
    if left.is_empty() {
        return Ok(());
    }
    let mut data = txn.open_table(DATA)?;
    super::apply(&mut data, left)
}
