//! The commit log: a durable commit is one sequential append and one sync.
//!
//! A durable write transaction's writes are appended to this log as one record, and the
//! commit is acknowledged once the record is synced and the commit is visible to readers
//! (published). Concurrent writers share syncs (group commit): whoever finds no sync
//! running, with its own record not yet durable, becomes the leader, writes every record
//! appended so far and syncs them once, while the others wait; each is woken alone, when
//! its commit is published or it is the one to lead the next sync. A commit is published
//! as soon as it is durable here; its writes reach redb later, in batches committed
//! without an fsync (see `embedded/batch.rs`). The page file is
//! checkpointed behind the log with a durable redb commit, after which the log is
//! written again from its start.
//!
//! After a crash, redb comes back at its last durable commit (the last checkpoint), whose
//! commit number it holds; the records after that number are applied again, in order.
//!
//! A record is
//!
//! ```text
//! magic "ONEL" | payload length u32 | commit number u64 | digest (16 bytes) | payload
//! payload: entries, each  1 | key length u32 | key | value length u32 | value  (a put)
//!                      or 0 | key length u32 | key                          (a delete)
//! ```
//!
//! little-endian, where the digest is the first 16 bytes of SHA-256 over the database's
//! id (a random number the page file holds), the length, the commit number and the
//! payload: a log left beside another database file never passes for its own. A cryptographic digest, because records carry tenants'
//! data: a torn record cannot be crafted to pass. Reading stops at the first record that
//! is cut short, fails its digest, or does not carry the next commit number: what follows
//! is an unfinished append or the remains of an earlier round of the log.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::thread::Thread;

use sha2::{Digest, Sha256};

use crate::StorageError;

const MAGIC: &[u8; 4] = b"ONEL";
/// Bytes of a record before its payload.
const HEADER: usize = 4 + 4 + 8 + 16;
/// The file grows by this many bytes of zeros at a time, ahead of the records: a sync
/// of bytes written over allocated ones costs the disk less than one that also grows
/// the file.
const GROWTH: u64 = 1 << 20;
/// The largest payload a record holds; a transaction that writes more is committed
/// durably to the page file instead (it is a checkpoint of its own).
pub const MAX_RECORD: usize = 16 << 20;

/// The log file of the database at `path`: the same name with `-log` added.
pub fn path_of(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-log");
    PathBuf::from(name)
}

/// One transaction's writes, encoded as a record's payload as they are applied.
#[derive(Debug, Default)]
pub struct Payload {
    bytes: Vec<u8>,
    /// Set once the payload passed [`MAX_RECORD`]: the transaction is not logged.
    overflowed: bool,
}

impl Payload {
    /// Adds a put (`Some`) or a delete (`None`) of `key`.
    pub fn push(&mut self, key: &[u8], value: Option<&[u8]>) {
        if self.overflowed {
            return;
        }
        let size = 1 + 4 + key.len() + value.map_or(0, |v| 4 + v.len());
        if self.bytes.len() + size > MAX_RECORD {
            self.overflowed = true;
            self.bytes = Vec::new();
            return;
        }
        self.bytes.push(u8::from(value.is_some()));
        put_bytes(&mut self.bytes, key);
        if let Some(v) = value {
            put_bytes(&mut self.bytes, v);
        }
    }

    /// Whether the transaction wrote too much to be logged.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Bytes of the encoded writes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The writes, decoded again.
    pub fn writes(&self) -> Result<Vec<LoggedWrite>, StorageError> {
        decode(&self.bytes)
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Lengths fit: a payload is at most MAX_RECORD bytes.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn digest(id: u64, length: u32, seq: u64, payload: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(id.to_le_bytes());
    h.update(length.to_le_bytes());
    h.update(seq.to_le_bytes());
    h.update(payload);
    let full = h.finalize();
    let mut out = [0; 16];
    out.copy_from_slice(&full[..16]);
    out
}

/// Appends the record of commit `seq` of database `id` to `out`.
fn encode(out: &mut Vec<u8>, id: u64, seq: u64, payload: &[u8]) {
    let length = payload.len() as u32;
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&digest(id, length, seq, payload));
    out.extend_from_slice(payload);
}

/// One write of a logged transaction: a put (`Some`) or a delete (`None`) of a key.
pub type LoggedWrite = (Vec<u8>, Option<Vec<u8>>);

/// The records of database `id` in a log file after commit `after`, in order: each
/// commit's number and writes. Reading stops where the log's valid records end (see the module's notes).
///
/// A first record after `after` that is not `after + 1` means records were lost:
/// [`StorageError::Corrupt`].
pub fn read(
    file: &mut File,
    path: &Path,
    id: u64,
    after: u64,
) -> Result<Vec<(u64, Vec<LoggedWrite>)>, StorageError> {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .map_err(|source| StorageError::Io {
            action: "cannot read the commit log",
            path: path.to_path_buf(),
            source,
        })?;
    let mut records = Vec::new();
    let mut at = 0;
    let mut last = None::<u64>;
    while let Some((seq, payload, next)) = record_at(&bytes, at, id) {
        match last {
            None if seq <= after => {}
            None if seq == after + 1 => last = Some(seq),
            None => {
                return Err(StorageError::Corrupt(format!(
                    "the commit log starts again at commit {seq}, but the database holds \
                     commits up to {after}: commits in between are missing"
                )));
            }
            Some(l) if seq == l + 1 => last = Some(seq),
            Some(_) => break,
        }
        if last.is_some() {
            records.push((seq, decode(payload)?));
        }
        at = next;
    }
    Ok(records)
}

/// The record at `at`, if a whole and sound one is there: its commit number, payload,
/// and where the next record starts.
fn record_at(bytes: &[u8], at: usize, id: u64) -> Option<(u64, &[u8], usize)> {
    let header = bytes.get(at..at.checked_add(HEADER)?)?;
    if &header[..4] != MAGIC {
        return None;
    }
    let length = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let seq = u64::from_le_bytes(header[8..16].try_into().ok()?);
    let end = (at + HEADER).checked_add(length as usize)?;
    let payload = bytes.get(at + HEADER..end)?;
    (digest(id, length, seq, payload) == header[16..32]).then_some((seq, payload, end))
}

fn decode(mut payload: &[u8]) -> Result<Vec<LoggedWrite>, StorageError> {
    let bad = || StorageError::Corrupt("a commit log record's writes do not parse".into());
    let take = |payload: &mut &[u8]| -> Result<Vec<u8>, StorageError> {
        let (len, rest) = payload.split_at_checked(4).ok_or_else(bad)?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| bad())?) as usize;
        let (value, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
        *payload = rest;
        Ok(value.to_vec())
    };
    let mut writes = Vec::new();
    while let Some((&tag, rest)) = payload.split_first() {
        payload = rest;
        let key = take(&mut payload)?;
        let value = match tag {
            1 => Some(take(&mut payload)?),
            0 => None,
            _ => return Err(bad()),
        };
        writes.push((key, value));
    }
    Ok(writes)
}

/// What the log's lock guards.
#[derive(Debug)]
struct State {
    /// Records appended and not yet handed to a sync.
    buffer: Vec<u8>,
    /// The commit number of the last record appended.
    appended: u64,
    /// Every commit up to this number is durable.
    durable: u64,
    /// Every commit up to this number is durable and visible to readers.
    published: u64,
    /// Whether a leader is writing and syncing.
    syncing: bool,
    /// Where the next write goes in the file.
    offset: u64,
    /// The file's length: bytes up to here are allocated.
    allocated: u64,
    /// Set when a write or sync failed: nothing is acknowledged after it.
    failed: Option<String>,
    /// The writers asleep in [`Log::wait`], each woken alone when it has something to do
    /// (see [`State::wake`]).
    waiters: Vec<Waiter>,
}

/// A writer asleep until its commit is published, or it may lead a sync.
#[derive(Debug)]
struct Waiter {
    seq: u64,
    thread: Thread,
}

impl State {
    /// Whether commit `seq` is published.
    fn reached(&self, seq: u64) -> bool {
        self.published >= seq
    }

    /// Whether the writer of commit `seq` should lead a sync now: none is running, and
    /// one would make its commit durable.
    fn may_lead(&self, seq: u64) -> bool {
        !self.syncing && seq <= self.appended && seq > self.durable
    }

    /// Wakes the waiters whose commits are published (all of them after a failure), and one more to lead a sync if none is running and a waiter's commit
    /// needs one. The others sleep on: waking every writer at each step would cost a
    /// context switch each, on the cores the writer holding the lock needs.
    fn wake(&mut self) {
        let mut leader = false;
        let mut i = 0;
        while i < self.waiters.len() {
            let w = &self.waiters[i];
            let wake =
                self.failed.is_some() || self.reached(w.seq) || (!leader && self.may_lead(w.seq));
            if wake {
                leader |= !self.reached(w.seq);
                self.waiters.swap_remove(i).thread.unpark();
            } else {
                i += 1;
            }
        }
    }
}

/// An open commit log.
#[derive(Debug)]
pub struct Log {
    path: PathBuf,
    /// The database's id, in every record's digest.
    id: u64,
    /// Locked only by the leader of a sync, of which there is one at a time (`syncing`),
    /// so never waited for.
    file: Mutex<File>,
    state: Mutex<State>,
}

impl Log {
    /// The log of database `id` over `file`, whose records up to commit `durable` are all
    /// applied: new records are written from its start.
    pub fn new(file: File, path: PathBuf, id: u64, durable: u64) -> Log {
        let allocated = file.metadata().map_or(0, |m| m.len());
        Log {
            path,
            id,
            file: Mutex::new(file),
            state: Mutex::new(State {
                buffer: Vec::new(),
                appended: durable,
                durable,
                published: durable,
                syncing: false,
                offset: 0,
                allocated,
                failed: None,
                waiters: Vec::new(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends the record of commit `seq` (the next number) to what the next sync
    /// writes. No one is woken: the writer of the commit waits for it next, and leads a
    /// sync if none is running.
    pub fn append(&self, seq: u64, payload: &Payload) {
        let mut state = self.state();
        encode(&mut state.buffer, self.id, seq, &payload.bytes);
        state.appended = seq;
    }

    /// Refuses every wait from now on: the commits not yet published never will be (the
    /// store failed under them).
    pub fn fail(&self, why: String) {
        let mut state = self.state();
        state.failed.get_or_insert(why);
        state.wake();
    }

    /// Notes that every commit up to `seq` is durable, and published, without the log (a
    /// durable commit of the page file). Called with no record appended after `seq`.
    pub fn mark_durable(&self, seq: u64) {
        let mut state = self.state();
        state.appended = state.appended.max(seq);
        state.durable = state.durable.max(seq);
        state.published = state.published.max(seq);
        state.wake();
    }

    /// The commit number of the last record appended.
    pub fn appended(&self) -> u64 {
        self.state().appended
    }

    /// Bytes written to the file since it was last started again.
    pub fn written(&self) -> u64 {
        self.state().offset
    }

    /// Waits until commit `seq` is published (durable, and visible to readers: see
    /// the store's `publish`), leading syncs while none is running. A leader calls
    /// `publish` with the last commit its sync made durable, before anyone waiting is
    /// told that it is (so what a caller reads after this returns includes its commit);
    /// it returns the last commit published.
    ///
    /// A commit is waited for whatever its state: appended, being synced, durable but not
    /// yet published (its sync's leader is publishing it). A failure ([`Log::fail`]) ends
    /// every wait.
    pub fn wait_published(
        &self,
        seq: u64,
        publish: impl Fn(u64) -> u64,
    ) -> Result<(), StorageError> {
        let mut state = self.state();
        loop {
            if state.reached(seq) {
                return Ok(());
            }
            if let Some(why) = &state.failed {
                return Err(StorageError::Io {
                    action: "cannot write the commit log",
                    path: self.path.clone(),
                    source: std::io::Error::other(why.clone()),
                });
            }
            // Lead only a sync that would make this commit durable; otherwise sleep until
            // woken (`State::wake`; a wake-up may also come early, so it is checked again).
            if !state.may_lead(seq) {
                state.waiters.push(Waiter {
                    seq,
                    thread: std::thread::current(),
                });
                drop(state);
                std::thread::park();
                state = self.state();
                let me = std::thread::current().id();
                state.waiters.retain(|w| w.thread.id() != me);
                continue;
            }
            // Lead: write and sync everything appended so far.
            state.syncing = true;
            let batch = std::mem::take(&mut state.buffer);
            let (to, offset, allocated) = (state.appended, state.offset, state.allocated);
            drop(state);
            let written = self.write_at(offset, &batch, allocated);
            state = self.state();
            state.syncing = false;
            match written {
                Ok(allocated) => {
                    state.allocated = allocated;
                    state.offset = offset + batch.len() as u64;
                    state.durable = state.durable.max(to);
                    drop(state);
                    let published = publish(to);
                    state = self.state();
                    state.published = state.published.max(published);
                }
                Err(e) => {
                    state.failed = Some(e.to_string());
                }
            }
            state.wake();
        }
    }

    /// Writes `bytes` at `offset` and syncs them, first growing the file (of `allocated`
    /// bytes) with zeros if they would not fit; returns the file's length.
    fn write_at(&self, offset: u64, bytes: &[u8], allocated: u64) -> std::io::Result<u64> {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        let end = offset + bytes.len() as u64;
        let mut length = allocated;
        if end > allocated {
            length = end.div_ceil(GROWTH) * GROWTH;
            file.seek(SeekFrom::Start(allocated))?;
            std::io::copy(&mut std::io::repeat(0).take(length - allocated), &mut *file)?;
        }
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(bytes)?;
        file.sync_data()?;
        Ok(length)
    }

    /// Starts the log again from its start, after a checkpoint made every record in it
    /// durable in the page file. Called under the store's write lock with every record
    /// durable, so no sync runs.
    pub fn restart(&self) {
        let mut state = self.state();
        debug_assert!(!state.syncing && state.buffer.is_empty());
        state.offset = 0;
    }
}
