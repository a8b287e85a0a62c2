//! The write path of a store with a commit log: transactions in batches that share one
//! redb write transaction (see the notes of `store/mod.rs`). [`Turn`] is the write lock
//! and the open [`Batch`] it guards, and its `Drop` decides when a batch is sealed.

use std::sync::atomic::Ordering;
use std::sync::{Arc, MutexGuard};

use super::{Commit, DATA, Notes, Outcome, Store, WriteTx, last_seq, set_last_seq};
use crate::StorageError;
use crate::log::{self, Log, Payload};

/// Commits not yet committed to redb, with a commit log: each is whole (its closure
/// returned `Ok`), and they share one redb write transaction, committed once for all of
/// them when the batch is sealed.
pub(super) struct Batch {
    txn: redb::WriteTransaction,
    /// The commit number of the batch's last commit (or of the last one before it).
    last: u64,
    pub(super) commits: Vec<Logged>,
    /// Bytes of the commits' log records.
    bytes: usize,
}

/// The most commits, and bytes of log records, one batch holds before it is sealed.
const BATCH_COMMITS: usize = 512;
const BATCH_BYTES: usize = log::MAX_RECORD;

/// A commit in a batch: what the listener will hear and the log will hold.
pub(super) struct Logged {
    seq: u64,
    notes: Notes,
    payload: Payload,
}

/// The right to write: the write lock, and the batch it guards. Dropped, it seals the
/// batch, unless none of the batch's commits is durable yet and another writer is queued
/// to add to it.
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
    /// for one): the log may sync it while the batch is still open.
    fn add(&mut self, commit: Logged) {
        if let (Some(batch), Some(log)) = (self.batch.as_mut(), &self.store.log) {
            if !commit.payload.overflowed() {
                log.append(commit.seq, &commit.payload);
            }
            batch.last = commit.seq;
            batch.bytes += commit.payload.len();
            batch.commits.push(commit);
        }
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

    /// Makes the open batch again from its commits' records, after a transaction that
    /// failed had written into its tree. A failure poisons the store.
    fn rebuild(&mut self) {
        let Some(old) = self.batch.take() else {
            return;
        };
        self.store.abort(old.txn);
        if old.commits.is_empty() || self.store.is_poisoned() {
            return;
        }
        let fresh = self.store.begin_batch().and_then(|fresh| {
            {
                let mut data = fresh.txn.open_table(DATA)?;
                for commit in &old.commits {
                    for (key, value) in commit.payload.writes()? {
                        match value {
                            Some(v) => data.insert(key.as_slice(), v.as_slice())?,
                            None => data.remove(key.as_slice())?,
                        };
                    }
                }
            }
            Ok(fresh)
        });
        if let Ok(fresh) = self.store.poison_on(fresh) {
            *self.batch = Some(Batch {
                last: old.last,
                commits: old.commits,
                bytes: old.bytes,
                ..fresh
            });
        }
    }

    /// Commits the open batch durably to the page file (a checkpoint of its own), once
    /// every commit appended to the log before it is durable, and publishes it.
    fn seal_durably(&mut self, log: &Log) -> Result<(), StorageError> {
        let store = self.store;
        let Some(batch) = self.batch.take() else {
            return Ok(());
        };
        // The batch's other commits are in the log: durable, they wait only for this.
        if let Err(e) = log.wait_durable(log.appended(), |to| store.publish(to)) {
            store.abort(batch.txn);
            return store.poison_on(Err(e));
        }
        let Batch {
            mut txn,
            last,
            commits,
            ..
        } = batch;
        if let Err(e) = set_last_seq(&txn, last).and_then(|()| store.set_durable(&mut txn)) {
            store.abort(txn);
            return store.poison_on(Err(e));
        }
        store.commit(txn)?;
        let snapshot = store.poison_on(store.snapshot())?;
        store
            .unpublished_queue()
            .extend(commits.into_iter().map(|c| Commit {
                seq: c.seq,
                notes: c.notes,
                snapshot: Arc::clone(&snapshot),
            }));
        // Published before the writers of the batch are told their commits are durable.
        store.publish(last);
        log.mark_durable(last);
        log.restart();
        Ok(())
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let Some(batch) = self.batch.as_ref() else {
            return;
        };
        let Some(log) = &self.store.log else {
            return;
        };
        // Left open while none of its commits is durable yet (they wait for a sync, not
        // for it) and a queued writer will take the lock, and so this decision, next.
        let leave_open = batch
            .commits
            .first()
            .is_some_and(|first| log.durable() < first.seq)
            && self.store.queued.load(Ordering::Acquire) > 0
            && batch.commits.len() < BATCH_COMMITS
            && batch.bytes < BATCH_BYTES;
        if !leave_open {
            // A failure poisons the store and tells the batch's waiting writers.
            let _ = self.seal();
        }
    }
}

impl Store {
    /// A write transaction of a store with a commit log. Its closure runs in the batch's
    /// redb transaction, after the commits already in the batch (whose writes it sees);
    /// once it has returned `Ok`, it is a commit of the batch: its record is appended to
    /// the log at once, and the call returns when the record is synced and the batch
    /// committed to redb (published).
    ///
    /// Batching: every redb transaction costs a copy of each B-tree page it dirties and a
    /// commit, under the write lock. Commits that arrive while a sync runs share one redb
    /// transaction instead: a writer leaves the batch open while none of its commits is
    /// durable yet and another writer is queued for the lock, and seals it otherwise (see
    /// [`Turn`]). A writer alone seals at once: one writer's latency does not change.
    pub(super) fn write_logged<R, E>(
        &self,
        log: &Log,
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        let mut turn = self.turn();
        let batch = turn.open()?;
        let seq = batch.last + 1;
        let (outcome, touched) = self.run(&batch.txn, seq, f);
        let (r, notes, payload) = match outcome {
            Outcome::Done(r, notes, payload) => (r, notes, payload.unwrap_or_default()),
            Outcome::Failed(failure) => {
                if touched {
                    // Its writes reached the batch's tree: the batch is made again
                    // from the commits before it.
                    turn.rebuild();
                }
                drop(turn);
                return failure.raise();
            }
        };
        let overflowed = payload.overflowed();
        turn.add(Logged {
            seq,
            notes,
            payload,
        });
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

    /// The right to write: waits for the write lock, counted as queued meanwhile.
    pub(super) fn turn(&self) -> Turn<'_> {
        self.queued.fetch_add(1, Ordering::AcqRel);
        let batch = self.commit_order.lock().unwrap_or_else(|p| p.into_inner());
        self.queued.fetch_sub(1, Ordering::AcqRel);
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
        })
    }

    /// Commits a batch to redb (its commits' records are already in the log) and queues
    /// its commits to be published once durable: those already durable at once.
    fn seal(&self, log: &Log, batch: Batch) -> Result<(), StorageError> {
        let Batch {
            txn, last, commits, ..
        } = batch;
        if let Err(e) = set_last_seq(&txn, last) {
            self.abort(txn);
            return self.poison_on(Err(e));
        }
        self.commit(txn)?;
        let snapshot = self.poison_on(self.snapshot())?;
        self.unpublished_queue()
            .extend(commits.into_iter().map(|c| Commit {
                seq: c.seq,
                notes: c.notes,
                snapshot: Arc::clone(&snapshot),
            }));
        // Those the log already made durable are published now; the others by the sync
        // that makes them durable.
        log.mark_published(self.publish(log.durable()));
        Ok(())
    }

    /// Aborts a batch still open when the store ends, before the database it writes to
    /// does: only a store poisoned while a writer was queued leaves one (a sound store
    /// seals every batch before it syncs).
    pub(super) fn abort_open_batch(&mut self) {
        let open = self.commit_order.get_mut().map(Option::take);
        if let Ok(Some(batch)) = open {
            self.abort(batch.txn);
        }
    }
}
