//! The shared backend: the keyspace as one table on a PostgreSQL server, which several
//! processes (instances of the engine) use at once.
//!
//! ```text
//! one_kv   (part bytea, k bytea, v bytea, PRIMARY KEY (part, k))   every key
//! one_seq  (part bytea PRIMARY KEY, v bigint)                      commit number per partition
//! one_meta (name text PRIMARY KEY, v bigint)                       commit_seq (floor), storage_format
//! ```
//!
//! `part` is the key's first [`StoreOptions::partition`] bytes, its tenant: a distributed
//! PostgreSQL (Citus) shards the tables by it, and a scan within one tenant is a range of
//! the primary key. `bytea` compares like memcmp, so `(part, k)` sorts as `k` does.
//!
//! **Reads** run in a `REPEATABLE READ READ ONLY` transaction on a pooled connection: one
//! snapshot, taken when it begins, kept until the [`crate::ReadTx`] is dropped.
//! Scans fetch pages of rows in key order, so a scan that stops early reads little.
//!
//! **Writes** run in `SERIALIZABLE` transactions, and the writers of each partition take
//! turns. A transaction holds the turn of every partition it writes: a session-level
//! advisory lock, taken for the partitions the caller names ([`crate::WritePlan`])
//! *before* the transaction begins (so its snapshot holds every commit before its turn),
//! and for any other partition when the transaction first writes there
//! (`pg_try_advisory_lock`: never waiting while holding, so never a deadlock). Each turn
//! takes the partition's next commit number (`one_seq`), so a partition's commit numbers
//! follow its commit order with no gap and no duplicate, and its writers never conflict
//! with each other. Writers of different partitions run at once.
//!
//! A transaction that cannot be committed as it ran begins again and runs its closure
//! again, up to [`MAX_ATTEMPTS`] times: when PostgreSQL reports a serialization failure
//! or deadlock (40001, 40P01: writers of different partitions that read each other's
//! data), when a turn taken late finds that the partition changed after the snapshot, or
//! when another writer holds it. The next attempt takes every partition the last one
//! wrote before it begins. The closure must therefore have no effect outside the
//! transaction. A transaction that met [`ALONE_AFTER`] serialization failures runs alone
//! ([`BEGIN_ALONE`]: every writer holds `ROW SHARE` on `one_meta`, it takes `EXCLUSIVE`),
//! where none can befall it; after the last attempt the caller gets
//! [`StorageError::Conflict`]. The closure's writes are buffered and sent at commit (or
//! when the buffer fills) as one multi-row upsert and one delete per partition, pipelined
//! with `COMMIT` and the release of the turns.
//!
//! The engine is synchronous and may be called from inside an async runtime (the HTTP
//! server's), where blocking on a runtime panics; so the backend owns a small tokio
//! runtime, and each statement is sent to it and waited for on a channel. Every round
//! trip has a time limit; a connection that fails is dropped (the server then releases
//! its turns), and the next transaction opens a fresh one, so the engine recovers from a
//! server restart without being reopened. A server that cannot be reached is
//! [`StorageError::Unavailable`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage, Statement};

use crate::StorageError;
use crate::kv::{Direction, Flow, KeyRange};
use crate::store::{self, CommitListener, Durability, Listener, ReadTx, StoreOptions, WritePlan};
use crate::write::{Base, WriteGuard, WriteTx};

/// The version of this backend's layout. Only grows. Format 1 numbered every commit in
/// one sequence (`one_meta.commit_seq`); format 2 numbers each partition's commits
/// (`one_seq`), from where that sequence stopped. A format 1 database is upgraded when
/// opened.
const STORAGE_FORMAT: i64 = 2;

/// Creates the tables if they do not exist, and upgrades a database of format 1, under a
/// lock so two processes starting at once do not race.
const INSTALL: &str = "BEGIN;
SELECT pg_advisory_xact_lock(7236110);
CREATE TABLE IF NOT EXISTS one_kv (
    part bytea NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (part, k)
);
CREATE TABLE IF NOT EXISTS one_seq (part bytea PRIMARY KEY, v bigint NOT NULL)
    WITH (fillfactor = 50);
CREATE TABLE IF NOT EXISTS one_meta (name text PRIMARY KEY, v bigint NOT NULL);
INSERT INTO one_meta VALUES ('commit_seq', 0) ON CONFLICT DO NOTHING;
INSERT INTO one_meta VALUES ('storage_format', 2) ON CONFLICT DO NOTHING;
UPDATE one_meta SET v = 2 WHERE name = 'storage_format' AND v = 1;
COMMIT;";

/// Opens a read transaction. Its snapshot is taken by the statement sent right behind
/// it, in the same round trip: the read of the keys asked for up front (see
/// [`Session::begin_with`]), so the snapshot is the store's state when
/// [`crate::Store::read`] returns.
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
/// Opens a write transaction. It is sent after the turns of the partitions named up
/// front were taken, and the snapshot is taken by the statement behind it, which counts
/// their commit numbers up.
const BEGIN_WRITE: &str =
    "BEGIN ISOLATION LEVEL SERIALIZABLE; LOCK TABLE one_meta IN ROW SHARE MODE";
/// [`BEGIN_WRITE`] for a transaction that runs alone: it waits until no other write
/// transaction is open (they all hold `ROW SHARE` on `one_meta`), and none begins until it
/// ends. A write transaction with no other open cannot be a serialization failure's
/// victim, so one that met [`ALONE_AFTER`] of them runs alone and lands.
const BEGIN_ALONE: &str =
    "BEGIN ISOLATION LEVEL SERIALIZABLE; LOCK TABLE one_meta IN EXCLUSIVE MODE";
/// Serialization failures after which a transaction runs alone ([`BEGIN_ALONE`]).
const ALONE_AFTER: u32 = 2;
/// Makes the commit number row of partition `{part}` (from the floor format 1 left),
/// sent with its turn, outside the transaction: inside, a row is only updated (see
/// [`NEXT_SEQ`]).
const SEQ_ROW: &str = "INSERT INTO one_seq (part, v) \
     VALUES ('{part}', (SELECT v FROM one_meta WHERE name = 'commit_seq')) ON CONFLICT DO NOTHING;";
/// The next commit number of partition `$1`. A plain update of one row found by its key
/// (a HOT update: the table leaves room on its pages), so writers of different partitions
/// do not meet in SERIALIZABLE's read tracking, as an upsert's index check would make
/// them.
const NEXT_SEQ: &str = "UPDATE one_seq SET v = v + 1 WHERE part = $1 RETURNING v";
/// The turn of partition `$1` (lock `$2`) taken inside a transaction, if no one holds
/// it, and then its next commit number: no row if someone holds it. Under SERIALIZABLE,
/// counting up a number another writer counted after this transaction's snapshot is a
/// serialization failure, so a turn taken late is never taken on a stale snapshot.
const TAKE_TURN: &str = "WITH turn AS (SELECT pg_try_advisory_lock($2) AS held) \
     INSERT INTO one_seq AS s (part, v) \
     SELECT $1, (SELECT v FROM one_meta WHERE name = 'commit_seq') + 1 FROM turn WHERE held \
     ON CONFLICT (part) DO UPDATE SET v = s.v + 1 RETURNING v";
/// Gives back the turns a session holds; sent after its `COMMIT` or `ROLLBACK`.
const GIVE_BACK_TURNS: &str = "SELECT pg_advisory_unlock_all()";

/// How many times a write transaction is run before the caller is told
/// [`StorageError::Conflict`].
const MAX_ATTEMPTS: u32 = 32;
/// The most connections one store keeps open.
const MAX_CONNECTIONS: usize = 32;
/// The time limit of one round trip to the server (and of waiting for a connection).
const ROUND_TRIP_LIMIT: Duration = Duration::from_secs(30);
/// Rows fetched by a scan's first page; later pages grow up to [`MAX_PAGE`].
const FIRST_PAGE: i64 = 32;
const MAX_PAGE: i64 = 1024;

/// A store on a PostgreSQL database.
pub(crate) struct Store {
    shared: Arc<Shared>,
    listener: Listener,
    write_buffer: usize,
    /// The schema this store made and drops when it ends ([`Store::scratch`]).
    scratch: Option<String>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("postgres::Store")
            .field("schema", &self.shared.schema)
            .finish_non_exhaustive()
    }
}

/// What sessions share with their store: the runtime, the connection settings, the pool.
struct Shared {
    runtime: Option<tokio::runtime::Runtime>,
    config: Config,
    schema: Option<String>,
    durability: Durability,
    partition: fn(&[u8]) -> usize,
    pool: Arc<Pool>,
    /// The turns this process's transactions hold.
    turns: LocalTurns,
    /// Runs of write transactions that were rolled back and run again.
    reruns: AtomicU64,
}

/// The partitions whose turns this process's write transactions hold. A transaction
/// takes them here before it asks the server, so one process has at most one connection
/// waiting for a partition's turn, and tells the commit listener of a partition's commits
/// in their order.
#[derive(Default)]
struct LocalTurns {
    held: Mutex<HashSet<Vec<u8>>>,
    freed: Condvar,
}

impl LocalTurns {
    fn held(&self) -> MutexGuard<'_, HashSet<Vec<u8>>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes every one of `parts`, once none of them is held (all at once: a
    /// transaction never holds some while it waits for others, so none waits for
    /// another that waits for it).
    fn take_all(&self, parts: &[Vec<u8>]) {
        let mut held = self.held();
        while parts.iter().any(|p| held.contains(p)) {
            held = self.freed.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        held.extend(parts.iter().cloned());
    }

    /// Takes `part` if no one here holds it.
    fn try_take(&self, part: &[u8]) -> bool {
        self.held().insert(part.to_vec())
    }

    fn give_back(&self, parts: impl Iterator<Item = Vec<u8>>) {
        let mut held = self.held();
        for p in parts {
            held.remove(&p);
        }
        drop(held);
        self.freed.notify_all();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Allowed anywhere, also inside another runtime (a plain drop blocks).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Open connections: the idle ones, and how many there are in all.
#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<Conn>,
    open: usize,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives back a connection that is idle again (outside any transaction).
    fn put(&self, conn: Conn) {
        self.lock().idle.push(conn);
        self.returned.notify_one();
    }

    /// Forgets a connection that was closed or failed.
    fn forget(&self) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(1);
        self.returned.notify_one();
    }
}

/// One connection and its prepared statements.
#[derive(Clone)]
struct Conn {
    client: Arc<Client>,
    statements: Arc<Statements>,
}

/// The statements of one connection. Each names one partition (`part = $1`), so the
/// primary key answers it directly: with several (`part = ANY($1) AND k = ANY($2)`),
/// PostgreSQL may scan every row of the partitions named and filter on `k` (milliseconds
/// on a large tenant), and a join with `UNNEST` was planned as a scan of the whole table.
struct Statements {
    get: Statement,
    /// Scans: forward or reverse, with an upper bound or without.
    forward: Statement,
    forward_open: Statement,
    reverse: Statement,
    reverse_open: Statement,
    upsert: Statement,
    delete: Statement,
    /// The highest commit number of any partition.
    seq: Statement,
    /// [`NEXT_SEQ`].
    next_seq: Statement,
    /// [`TAKE_TURN`].
    take_turn: Statement,
}

impl Statements {
    async fn prepare(client: &Client) -> Result<Self, tokio_postgres::Error> {
        let scan = |order: &str, bounded: bool| {
            let range = if bounded {
                "part >= $1 AND part <= $2 AND k >= $3 AND k < $4 ORDER BY part {order}, k {order} LIMIT $5"
            } else {
                "part >= $1 AND k >= $2 ORDER BY part {order}, k {order} LIMIT $3"
            };
            format!(
                "SELECT k, v FROM one_kv WHERE {}",
                range.replace("{order}", order)
            )
        };
        Ok(Self {
            get: client
                .prepare("SELECT v FROM one_kv WHERE part = $1 AND k = $2")
                .await?,
            forward: client.prepare(&scan("ASC", true)).await?,
            forward_open: client.prepare(&scan("ASC", false)).await?,
            reverse: client.prepare(&scan("DESC", true)).await?,
            reverse_open: client.prepare(&scan("DESC", false)).await?,
            upsert: client
                .prepare(
                    "INSERT INTO one_kv (part, k, v) \
                     SELECT * FROM UNNEST($1::bytea[], $2::bytea[], $3::bytea[]) \
                     ON CONFLICT (part, k) DO UPDATE SET v = EXCLUDED.v",
                )
                .await?,
            delete: client
                .prepare("DELETE FROM one_kv WHERE part = $1 AND k = ANY($2)")
                .await?,
            seq: client
                .prepare(
                    "SELECT greatest((SELECT v FROM one_meta WHERE name = 'commit_seq'), \
                     (SELECT max(v) FROM one_seq))",
                )
                .await?,
            next_seq: client.prepare(NEXT_SEQ).await?,
            take_turn: client.prepare(TAKE_TURN).await?,
        })
    }
}

/// The storage error for a PostgreSQL error.
fn error_of(e: &tokio_postgres::Error) -> StorageError {
    let code = e.code();
    if code == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
        || code == Some(&SqlState::T_R_DEADLOCK_DETECTED)
    {
        return StorageError::Conflict { attempts: 1 };
    }
    let connection_lost = e.is_closed()
        || code.is_none()
        || code.is_some_and(|c| {
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        });
    if connection_lost {
        StorageError::Unavailable {
            reason: with_causes(e),
        }
    } else {
        StorageError::Server {
            reason: match e.as_db_error() {
                Some(db) => format!("{} ({})", db.message(), db.code().code()),
                None => e.to_string(),
            },
        }
    }
}

/// An error's message followed by its causes' (tokio-postgres keeps the reason a
/// connection failed, such as "Connection refused", in the source).
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

impl Shared {
    /// What the sessions of a new store share, with a runtime of its own (one worker
    /// thread: the work is waiting on sockets) and an empty pool.
    fn new(
        config: Config,
        schema: Option<String>,
        durability: Durability,
        partition: fn(&[u8]) -> usize,
    ) -> Result<Arc<Self>, StorageError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("one-postgres")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Unavailable {
                reason: format!("cannot start the PostgreSQL runtime: {e}"),
            })?;
        Ok(Arc::new(Self {
            runtime: Some(runtime),
            config,
            schema,
            durability,
            partition,
            pool: Arc::default(),
            turns: LocalTurns::default(),
            reruns: AtomicU64::new(0),
        }))
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime, StorageError> {
        self.runtime
            .as_ref()
            .ok_or_else(|| StorageError::Unavailable {
                reason: "the store is closed".into(),
            })
    }

    /// Runs `work` on the backend's runtime and waits for it, at most
    /// [`ROUND_TRIP_LIMIT`].
    fn block<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, StorageError>> + Send + 'static,
    ) -> Result<T, StorageError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime()?.spawn(async move {
            let answer = tokio::time::timeout(ROUND_TRIP_LIMIT, work)
                .await
                .unwrap_or_else(|_| {
                    Err(StorageError::Unavailable {
                        reason: format!("no answer within {ROUND_TRIP_LIMIT:?}"),
                    })
                });
            let _ = tx.send(answer);
        });
        rx.recv().unwrap_or_else(|_| {
            Err(StorageError::Unavailable {
                reason: "the connection task stopped".into(),
            })
        })
    }

    /// Opens a new connection, set up for this store, with its statements prepared.
    fn open(&self) -> Result<Conn, StorageError> {
        let (config, schema, durability) =
            (self.config.clone(), self.schema.clone(), self.durability);
        self.block(async move {
            let client = connect(&config, schema.as_deref(), durability).await?;
            let statements = Statements::prepare(&client)
                .await
                .map_err(|e| error_of(&e))?;
            Ok(Conn {
                client: Arc::new(client),
                statements: Arc::new(statements),
            })
        })
    }

    /// An idle connection, or a new one; waits while [`MAX_CONNECTIONS`] are in use.
    fn checkout(&self) -> Result<Conn, StorageError> {
        let mut state = self.pool.lock();
        loop {
            while let Some(conn) = state.idle.pop() {
                if !conn.client.is_closed() {
                    return Ok(conn);
                }
                state.open = state.open.saturating_sub(1);
            }
            if state.open < MAX_CONNECTIONS {
                state.open += 1;
                drop(state);
                return self.open().inspect_err(|_| self.pool.forget());
            }
            let (next, waited) = self
                .pool
                .returned
                .wait_timeout(state, ROUND_TRIP_LIMIT)
                .unwrap_or_else(|p| p.into_inner());
            state = next;
            if waited.timed_out() && state.idle.is_empty() {
                return Err(StorageError::Unavailable {
                    reason: format!("all {MAX_CONNECTIONS} connections stayed busy"),
                });
            }
        }
    }
}

/// Connects to the server and sets the session up for a store.
async fn connect(
    config: &Config,
    schema: Option<&str>,
    durability: Durability,
) -> Result<Client, StorageError> {
    let (client, connection) =
        config
            .connect(NoTls)
            .await
            .map_err(|e| StorageError::Unavailable {
                reason: with_causes(&e),
            })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    // Every statement of the backend names a partition and a key range of the primary
    // key: an index scan is always right, and SERIALIZABLE then tracks pages, where a
    // scan of a small table would lock the whole table against every other writer.
    let mut setup = String::from("SET enable_seqscan TO off;");
    if let Some(schema) = schema {
        setup.push_str(&format!("SET search_path TO {};", quote_ident(schema)));
    }
    if durability == Durability::Deferred {
        setup.push_str("SET synchronous_commit TO off;");
    }
    if !setup.is_empty() {
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| error_of(&e))?;
    }
    Ok(client)
}

/// `name` as a quoted SQL identifier.
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Store {
    /// Connects to the database at `url`; `scratch` names a schema of its own to make
    /// (and drop at the end).
    pub(crate) fn connect(
        url: &str,
        options: &StoreOptions,
        scratch: Option<String>,
    ) -> Result<Self, StorageError> {
        let mut config = Config::from_str(url).map_err(|e| StorageError::Unavailable {
            reason: format!("the connection string is not valid: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("one");
        }
        let shared = Shared::new(
            config,
            scratch.clone(),
            options.durability,
            options.partition,
        )?;
        shared.install(scratch.is_some())?;
        Ok(Self::on(shared, options.write_buffer, scratch))
    }

    /// A store on `shared`, with no writer and no listener yet.
    fn on(shared: Arc<Shared>, write_buffer: usize, scratch: Option<String>) -> Self {
        Self {
            shared,
            listener: Listener::default(),
            write_buffer,
            scratch,
        }
    }

    /// A fresh database in a new schema of its own on the server at `url`.
    pub(crate) fn scratch(url: &str, options: &StoreOptions) -> Result<Self, StorageError> {
        let name = format!("one_scratch_{:016x}", crate::embedded::random_id());
        Self::connect(url, options, Some(name))
    }

    /// A second handle on the same database, with its own connections, as another process
    /// would open it.
    pub(crate) fn another_instance(&self) -> Result<Self, StorageError> {
        let shared = &self.shared;
        let fresh = Shared::new(
            shared.config.clone(),
            shared.schema.clone(),
            shared.durability,
            shared.partition,
        )?;
        Ok(Self::on(fresh, self.write_buffer, None))
    }

    pub(crate) fn durability(&self) -> Durability {
        self.shared.durability
    }

    /// The schema this store's connections use, if it set one.
    pub(crate) fn schema(&self) -> Option<&str> {
        self.shared.schema.as_deref()
    }

    /// Never: a failure on PostgreSQL fails one transaction, and the next starts afresh.
    pub(crate) fn is_poisoned(&self) -> bool {
        false
    }

    /// A snapshot, with `keys` read as it begins (in the same round trip).
    pub(crate) fn read(&self, keys: &[Vec<u8>]) -> Result<Arc<ReadTx>, StorageError> {
        let session = Session::begin(&self.shared)?;
        session.begin_with(BEGIN_READ, keys)?;
        Ok(Arc::new(ReadTx::new(store::Snapshot::Postgres(session))))
    }

    /// A write transaction: the turns of the partitions of `plan.write` taken, `plan.read`
    /// read as it begins (in the same round trip), and run again while it conflicts (see
    /// the module's notes).
    pub(crate) fn write<R, E>(
        &self,
        plan: &WritePlan<'_>,
        mut f: impl FnMut(&mut WriteTx<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        let Some(_guard) = WriteGuard::enter() else {
            return Err(StorageError::NestedWrite.into());
        };
        let mut turns: Vec<Vec<u8>> = plan.write.iter().map(|k| self.part_of(k)).collect();
        let mut failures = 0;
        for attempt in 1..=MAX_ATTEMPTS {
            if attempt > 1 {
                // Jitter, so writers that met do not meet again at once.
                let most = 200 * u64::from(attempt.min(10));
                std::thread::sleep(Duration::from_micros(
                    50 + crate::embedded::random_id() % most,
                ));
            }
            let session = Session::begin(&self.shared)?;
            match session.begin_write(&turns, plan.read, failures >= ALONE_AFTER) {
                Ok(()) => {}
                // Met as it began (a deadlock with a writer outside ONE's turns, or a
                // serialization failure on its commit numbers): nothing ran yet.
                Err(StorageError::Conflict { .. }) => {
                    failures += 1;
                    self.shared.reruns.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
            let mut tx = WriteTx::new(Base::Postgres(&session), 0, self.write_buffer, false);
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut tx)));
            let r = match ran {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            };
            if !session.must_retry() {
                let r = r?;
                let notes = std::mem::take(&mut tx.notes);
                let last = tx.take_pending();
                match session.commit(last) {
                    Ok(()) => {
                        self.listener.tell(session.first_seq(), notes);
                        return Ok(r);
                    }
                    Err(StorageError::Conflict { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // A turn it could not take is waited for next time; anything else is a
            // serialization failure.
            if session.turns().missed.is_empty() {
                failures += 1;
            }
            turns = session.turns_wanted();
            self.shared.reruns.fetch_add(1, Ordering::Relaxed);
        }
        Err(StorageError::Conflict {
            attempts: MAX_ATTEMPTS,
        }
        .into())
    }

    /// How many runs of write transactions were rolled back and run again.
    pub(crate) fn reruns(&self) -> u64 {
        self.shared.reruns.load(Ordering::Relaxed)
    }

    /// The partition of `key`.
    fn part_of(&self, key: &[u8]) -> Vec<u8> {
        key[..(self.shared.partition)(key).min(key.len())].to_vec()
    }

    /// Runs `f`. Commits of this process on this store are told to the listener as they
    /// end, and the feed reads other processes' commits from the store: there is no
    /// moment between all commits to wait for.
    pub(crate) fn between_commits<R>(&self, f: impl FnOnce() -> R) -> Result<R, StorageError> {
        let Some(_guard) = WriteGuard::enter() else {
            return Err(StorageError::NestedWrite);
        };
        Ok(f())
    }

    pub(crate) fn set_commit_listener(&self, listener: CommitListener) {
        self.listener.set(listener);
    }

    /// Commits are durable when they return, unless the store's durability is
    /// `Deferred` (`synchronous_commit` off): then one synchronous commit flushes the
    /// server's log up to it, and so every commit before it.
    pub(crate) fn sync(&self) -> Result<(), StorageError> {
        if self.shared.durability != Durability::Deferred {
            return Ok(());
        }
        let session = Session::begin(&self.shared)?;
        session
            .execute("BEGIN; SET LOCAL synchronous_commit TO on; SELECT txid_current(); COMMIT")?;
        session.done();
        Ok(())
    }

    pub(crate) fn close(mut self) -> Result<(), StorageError> {
        self.drop_scratch()
    }

    /// Drops the schema of a scratch store.
    fn drop_scratch(&mut self) -> Result<(), StorageError> {
        let Some(schema) = self.scratch.take() else {
            return Ok(());
        };
        let session = Session::begin(&self.shared)?;
        session.execute(&format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            quote_ident(&schema)
        ))?;
        session.done();
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.drop_scratch();
    }
}

impl Shared {
    /// Creates the schema (for a scratch store) and the tables, and checks the format.
    fn install(self: &Arc<Self>, create_schema: bool) -> Result<(), StorageError> {
        let (config, schema, durability) =
            (self.config.clone(), self.schema.clone(), self.durability);
        let format = self.block(async move {
            let client = connect(&config, None, durability).await?;
            let mut sql = String::new();
            if let (true, Some(schema)) = (create_schema, &schema) {
                sql.push_str(&format!(
                    "CREATE SCHEMA IF NOT EXISTS {};",
                    quote_ident(schema)
                ));
            }
            if let Some(schema) = &schema {
                sql.push_str(&format!("SET search_path TO {};", quote_ident(schema)));
            }
            sql.push_str(INSTALL);
            client.batch_execute(&sql).await.map_err(|e| error_of(&e))?;
            let row = client
                .query_one("SELECT v FROM one_meta WHERE name = 'storage_format'", &[])
                .await
                .map_err(|e| error_of(&e))?;
            Ok(row.get::<_, i64>(0))
        })?;
        if format != STORAGE_FORMAT {
            return Err(StorageError::Corrupt(format!(
                "storage format {format} is not supported (this build reads format {STORAGE_FORMAT})"
            )));
        }
        Ok(())
    }
}

/// A connection inside a transaction: a read snapshot, or a write transaction.
pub(crate) struct Session {
    shared: Arc<Shared>,
    conn: Conn,
    state: AtomicU8,
    /// Keys read as the transaction began ([`Session::begin_with`]), and their values
    /// (`None`: absent), until the transaction writes them.
    prefetched: Mutex<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    /// The partitions whose turns a write transaction holds.
    turns: Mutex<Turns>,
}

/// The turns of a write transaction (see the module's notes).
#[derive(Default)]
struct Turns {
    /// The partitions whose turns it holds, each with its commit number there, in the
    /// order they were taken.
    held: Vec<(Vec<u8>, u64)>,
    /// Partitions whose turn it could not take: another writer held it, or it changed
    /// after the snapshot.
    missed: Vec<Vec<u8>>,
    /// The partitions whose turns it holds in this process ([`LocalTurns`]), given back
    /// when the session ends.
    local: Vec<Vec<u8>>,
    /// The partitions it wrote in (a turn may be held without writing: taken up front
    /// for a run that then went another way, or to read a commit number).
    written: Vec<Vec<u8>>,
}

/// [`Session::state`]: in its transaction, finished (committed), failed.
const OPEN: u8 = 0;
const DONE: u8 = 1;
const FAILED: u8 = 2;
const CONFLICTED: u8 = 3;

impl Session {
    fn begin(shared: &Arc<Shared>) -> Result<Self, StorageError> {
        Ok(Self {
            shared: Arc::clone(shared),
            conn: shared.checkout()?,
            state: AtomicU8::new(OPEN),
            prefetched: Mutex::default(),
            turns: Mutex::default(),
        })
    }

    fn turns(&self) -> MutexGuard<'_, Turns> {
        self.turns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The advisory lock that is the turn of partition `part` of this store: a hash of
    /// the schema and the partition (two partitions that meet on a hash only take turns
    /// they did not need to).
    fn lock_of(&self, part: &[u8]) -> i64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let schema = self.shared.schema.as_deref().unwrap_or("").as_bytes();
        for &b in schema.iter().chain(&[0xff]).chain(part) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        i64::from_be_bytes(hash.to_be_bytes())
    }

    /// Takes the turns of `parts` (waiting for them, in the order of their locks, so two
    /// writers never wait for each other), then begins the write transaction, counts the
    /// partitions' commit numbers up (which takes the snapshot) and reads `keys`: one
    /// round trip.
    fn begin_write(
        &self,
        parts: &[Vec<u8>],
        keys: &[Vec<u8>],
        alone: bool,
    ) -> Result<(), StorageError> {
        let mut parts: Vec<(i64, Vec<u8>)> =
            parts.iter().map(|p| (self.lock_of(p), p.clone())).collect();
        parts.sort();
        parts.dedup_by(|a, b| a.1 == b.1);
        let mut locks = String::new();
        for (lock, part) in &parts {
            locks.push_str(&format!("SELECT pg_advisory_lock({lock});"));
            locks.push_str(&SEQ_ROW.replace("{part}", &format!("\\x{}", hex(part))));
        }
        let parts: Vec<Vec<u8>> = parts.into_iter().map(|(_, p)| p).collect();
        self.shared.turns.take_all(&parts);
        self.turns().local.clone_from(&parts);
        let wanted = self.with_parts(keys);
        let (numbered, rows) = self.run(move |c| {
            Box::pin(async move {
                // Polled together, the requests go out before any answer is read, and the
                // server runs them in order: the turns, then the transaction.
                let take = async {
                    if locks.is_empty() {
                        return Ok(Vec::new());
                    }
                    c.client.simple_query(&locks).await
                };
                let (client, next_seq) = (&c.client, &c.statements.next_seq);
                let number = futures_util::future::join_all(parts.iter().map(|part| async move {
                    let row = client.query_one(next_seq, &[part]).await?;
                    Ok::<_, tokio_postgres::Error>((part.clone(), row.get::<_, i64>(0)))
                }));
                let (taken, began, numbered, rows) = tokio::join!(
                    take,
                    c.client
                        .simple_query(if alone { BEGIN_ALONE } else { BEGIN_WRITE }),
                    number,
                    read_keys(&c, &wanted)
                );
                taken?;
                began?;
                let numbered: Result<Vec<_>, _> = numbered.into_iter().collect();
                Ok((numbered?, rows?))
            })
        })?;
        self.turns().held = numbered
            .into_iter()
            .map(|(part, seq)| (part, u64::try_from(seq).unwrap_or(0)))
            .collect();
        self.remember(rows);
        Ok(())
    }

    /// Notes the values of keys read as the transaction began.
    fn remember(&self, values: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
        self.prefetched().extend(values);
    }

    /// Each of `keys` with its partition, as parameters.
    fn with_parts(&self, keys: &[Vec<u8>]) -> Vec<(Vec<u8>, Vec<u8>)> {
        keys.iter().map(|k| (self.part_of(k), k.clone())).collect()
    }

    /// The commit number of this write transaction in the partition of `key`, its turn
    /// taken there first if it does not hold it: without waiting, so a turn another
    /// writer holds, or one that changed after this transaction's snapshot, is
    /// [`StorageError::Conflict`] and the transaction is run again (with that turn taken
    /// before it begins).
    pub(crate) fn turn(&self, key: &[u8]) -> Result<u64, StorageError> {
        let len = (self.shared.partition)(key).min(key.len());
        let part = &key[..len];
        if let Some((_, seq)) = self.turns().held.iter().find(|(p, _)| p == part) {
            return Ok(*seq);
        }
        let (part, lock) = (part.to_vec(), self.lock_of(part));
        if !self.shared.turns.try_take(&part) {
            self.turns().missed.push(part);
            self.state.store(CONFLICTED, Ordering::Release);
            return Err(StorageError::Conflict { attempts: 1 });
        }
        self.turns().local.push(part.clone());
        let taken = {
            let part = part.clone();
            self.run(move |c| {
                Box::pin(async move {
                    c.client
                        .query_opt(&c.statements.take_turn, &[&part, &lock])
                        .await
                })
            })
        };
        let mut turns = self.turns();
        match taken {
            Ok(Some(row)) => {
                let seq = u64::try_from(row.get::<_, i64>(0)).unwrap_or(0);
                turns.held.push((part, seq));
                Ok(seq)
            }
            Ok(None) => {
                turns.missed.push(part);
                self.state.store(CONFLICTED, Ordering::Release);
                Err(StorageError::Conflict { attempts: 1 })
            }
            Err(e) => {
                turns.missed.push(part);
                Err(e)
            }
        }
    }

    /// The partitions whose turns this transaction holds.
    pub(crate) fn held(&self) -> Vec<Vec<u8>> {
        self.turns().held.iter().map(|(p, _)| p.clone()).collect()
    }

    /// [`Session::turn`] for a write of `key`: the partition is noted as written.
    pub(crate) fn turn_to_write(&self, key: &[u8]) -> Result<u64, StorageError> {
        let seq = self.turn(key)?;
        let len = (self.shared.partition)(key).min(key.len());
        let mut turns = self.turns();
        if !turns.written.iter().any(|p| p[..] == key[..len]) {
            turns.written.push(key[..len].to_vec());
        }
        Ok(seq)
    }

    /// The partitions this transaction wrote in.
    pub(crate) fn written(&self) -> Vec<Vec<u8>> {
        self.turns().written.clone()
    }

    /// Makes this transaction run again rather than commit.
    pub(crate) fn mark_conflicted(&self) {
        self.state.store(CONFLICTED, Ordering::Release);
    }

    /// Whether this transaction must be run again rather than committed: it met a
    /// conflict, or a turn it could not take.
    fn must_retry(&self) -> bool {
        self.state.load(Ordering::Acquire) == CONFLICTED
    }

    /// The partitions the next attempt takes before it begins: every one this attempt
    /// held or wanted.
    fn turns_wanted(&self) -> Vec<Vec<u8>> {
        let turns = self.turns();
        let held = turns.held.iter().map(|(p, _)| p.clone());
        held.chain(turns.missed.iter().cloned()).collect()
    }

    /// The commit number in the first partition this transaction took, or 0 if it took
    /// none (it wrote nothing).
    fn first_seq(&self) -> u64 {
        self.turns().held.first().map_or(0, |(_, seq)| *seq)
    }

    fn prefetched(&self) -> MutexGuard<'_, HashMap<Vec<u8>, Option<Vec<u8>>>> {
        self.prefetched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sends `begin` (simple query protocol) and, right behind it in the same round
    /// trip, the read of `keys` in the transaction it opens (which takes the snapshot),
    /// remembered for [`Session::get`]. Returns the rows `begin` answered.
    fn begin_with(
        &self,
        begin: &'static str,
        keys: &[Vec<u8>],
    ) -> Result<Vec<SimpleQueryMessage>, StorageError> {
        let wanted = self.with_parts(keys);
        let (messages, rows) = self.run(move |c| {
            Box::pin(async move {
                // Polled together, the requests go out before any answer is read.
                let (began, rows) =
                    tokio::join!(c.client.simple_query(begin), read_keys(&c, &wanted));
                Ok((began?, rows?))
            })
        })?;
        self.remember(rows);
        Ok(messages)
    }

    /// Runs `work` with this session's connection, noting a failure (after which the
    /// server has aborted the transaction).
    fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(
            Conn,
        ) -> std::pin::Pin<
            Box<dyn Future<Output = Result<T, tokio_postgres::Error>> + Send>,
        >,
    ) -> Result<T, StorageError> {
        let state = self.state.load(Ordering::Acquire);
        if state == CONFLICTED {
            return Err(StorageError::Conflict { attempts: 1 });
        }
        if state == FAILED {
            return Err(StorageError::Unavailable {
                reason: "the transaction failed earlier and was rolled back".into(),
            });
        }
        let fut = work(self.conn.clone());
        let answer = self
            .shared
            .block(async move { fut.await.map_err(|e| error_of(&e)) });
        if let Err(e) = &answer {
            let state = if matches!(e, StorageError::Conflict { .. }) {
                CONFLICTED
            } else {
                FAILED
            };
            self.state.store(state, Ordering::Release);
        }
        answer
    }

    fn execute(&self, sql: &str) -> Result<(), StorageError> {
        let sql = sql.to_owned();
        self.run(move |c| Box::pin(async move { c.client.batch_execute(&sql).await }))
    }

    /// Marks the transaction as ended: the connection goes back to the pool as it is.
    fn done(&self) {
        self.state.store(DONE, Ordering::Release);
    }

    /// The partition of `key` and the key, as parameters.
    fn part_of(&self, key: &[u8]) -> Vec<u8> {
        key[..(self.shared.partition)(key).min(key.len())].to_vec()
    }

    pub(crate) fn last_seq(&self) -> Result<u64, StorageError> {
        let v = self
            .run(|c| Box::pin(async move { c.client.query_one(&c.statements.seq, &[]).await }))?;
        Ok(u64::try_from(v.get::<_, i64>(0)).unwrap_or(0))
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(value) = self.prefetched().get(key) {
            return Ok(value.clone());
        }
        let (part, key) = (self.part_of(key), key.to_vec());
        self.run(move |c| {
            Box::pin(async move {
                let row = c
                    .client
                    .query_opt(&c.statements.get, &[&part, &key])
                    .await?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
        })
    }

    /// The entries of `range` in `direction`, fetched a page at a time.
    pub(crate) fn entries<'s>(
        &'s self,
        range: &KeyRange,
        direction: Direction,
    ) -> impl Iterator<Item = Result<(Vec<u8>, Vec<u8>), StorageError>> + 's {
        use std::ops::Bound;
        let lower = match &range.start {
            Bound::Unbounded => Vec::new(),
            Bound::Included(s) => s.clone(),
            Bound::Excluded(s) => successor(s),
        };
        let upper = match &range.end {
            Bound::Unbounded => None,
            Bound::Excluded(e) => Some(e.clone()),
            Bound::Included(e) => Some(successor(e)),
        };
        Pages {
            session: self,
            lower,
            upper,
            direction,
            page: FIRST_PAGE,
            buffered: std::collections::VecDeque::new(),
            finished: range.is_empty(),
        }
    }

    pub(crate) fn scan<E: From<StorageError>>(
        &self,
        range: &KeyRange,
        direction: Direction,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<Flow, E>,
    ) -> Result<(), E> {
        for entry in self.entries(range, direction) {
            let (k, v) = entry?;
            if visit(&k, &v)?.is_break() {
                break;
            }
        }
        Ok(())
    }

    /// Sends buffered writes: one upsert, one delete.
    pub(crate) fn apply(
        &self,
        entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        self.send(entries, false)
    }

    /// Sends the last buffered writes and commits, in one round trip; the connection
    /// goes back to the pool.
    fn commit(&self, entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Result<(), StorageError> {
        self.send(entries, true)?;
        self.done();
        Ok(())
    }

    /// One upsert and one delete for `entries` (each only if needed), then `COMMIT` if
    /// `commit`: pipelined, so they cost one round trip. An error in any fails the call
    /// (PostgreSQL answers the `COMMIT` of a failed transaction with a rollback).
    fn send(
        &self,
        entries: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        commit: bool,
    ) -> Result<(), StorageError> {
        {
            let mut prefetched = self.prefetched();
            for key in entries.keys() {
                prefetched.remove(key);
            }
        }
        let (mut parts, mut keys, mut values) = (Vec::new(), Vec::new(), Vec::new());
        // Deletes by partition: `part = $1 AND k = ANY($2)` is always an index scan on
        // both columns.
        let mut gone: BTreeMap<Vec<u8>, Vec<Vec<u8>>> = BTreeMap::new();
        for (key, value) in entries {
            match value {
                Some(value) => {
                    parts.push(self.part_of(&key));
                    keys.push(key);
                    values.push(value);
                }
                None => {
                    gone.entry(self.part_of(&key)).or_default().push(key);
                }
            }
        }
        if keys.is_empty() && gone.is_empty() && !commit {
            return Ok(());
        }
        let turns = commit && !self.turns().held.is_empty();
        self.run(move |c| {
            Box::pin(async move {
                let st = &c.statements;
                let upsert = async {
                    if keys.is_empty() {
                        return Ok(0);
                    }
                    c.client
                        .execute(&st.upsert, &[&parts, &keys, &values])
                        .await
                };
                let client = &c.client;
                let delete =
                    futures_util::future::join_all(gone.iter().map(|(part, keys)| async move {
                        client.execute(&st.delete, &[part, keys]).await
                    }));
                let end = async {
                    if commit {
                        c.client.batch_execute("COMMIT").await
                    } else {
                        Ok(())
                    }
                };
                // After the commit, whether it succeeded or not.
                let give_back = async {
                    if turns {
                        c.client.batch_execute(GIVE_BACK_TURNS).await
                    } else {
                        Ok(())
                    }
                };
                let (upserted, deleted, ended, given) =
                    tokio::join!(upsert, delete, end, give_back);
                upserted?;
                for d in deleted {
                    d?;
                }
                ended?;
                given
            })
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let local = std::mem::take(&mut self.turns().local);
        self.shared.turns.give_back(local.into_iter());
        let pool = Arc::clone(&self.shared.pool);
        let conn = self.conn.clone();
        if self.state.load(Ordering::Acquire) == DONE {
            return pool.put(conn);
        }
        // Rolled back on the runtime; the connection is reused once it is idle again,
        // and forgotten if it is gone.
        match self.shared.runtime() {
            Ok(runtime) if !conn.client.is_closed() => {
                runtime.spawn(async move {
                    let end = format!("ROLLBACK; {GIVE_BACK_TURNS}");
                    match conn.client.batch_execute(&end).await {
                        Ok(()) => pool.put(conn),
                        Err(_) => pool.forget(),
                    }
                });
            }
            _ => pool.forget(),
        }
    }
}

/// The values of `keys` (each with its partition), one statement per key, pipelined: one
/// round trip. (One statement for all, `part = ANY($1) AND k = ANY($2)`, was planned as a
/// scan of each partition named, with `k` as a filter: milliseconds on a large tenant.)
/// Sent first in a transaction, it takes the transaction's snapshot, even with no keys.
async fn read_keys(
    c: &Conn,
    keys: &[(Vec<u8>, Vec<u8>)],
) -> Result<Vec<(Vec<u8>, Option<Vec<u8>>)>, tokio_postgres::Error> {
    if keys.is_empty() {
        c.client.simple_query("SELECT 1").await?;
        return Ok(Vec::new());
    }
    let reads = keys.iter().map(|(part, key)| async move {
        let row = c.client.query_opt(&c.statements.get, &[part, key]).await?;
        Ok::<_, tokio_postgres::Error>((key.clone(), row.map(|r| r.get::<_, Vec<u8>>(0))))
    });
    futures_util::future::join_all(reads)
        .await
        .into_iter()
        .collect()
}

/// `bytes` in lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The key right after `key` in byte order: `key` followed by a zero byte.
fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

/// A scan's pages: `[lower, upper)` in `direction`, a page of rows per round trip.
struct Pages<'s> {
    session: &'s Session,
    lower: Vec<u8>,
    upper: Option<Vec<u8>>,
    direction: Direction,
    page: i64,
    buffered: std::collections::VecDeque<(Vec<u8>, Vec<u8>)>,
    finished: bool,
}

impl Pages<'_> {
    fn fetch(&mut self) -> Result<(), StorageError> {
        let session = self.session;
        let part_lower = session.part_of(&self.lower);
        let part_upper = self.upper.as_deref().map(|u| session.part_of(u));
        let (lower, upper, limit) = (self.lower.clone(), self.upper.clone(), self.page);
        let direction = self.direction;
        let rows = session.run(move |c| {
            Box::pin(async move {
                let st = &c.statements;
                let rows = match (direction, &upper) {
                    (Direction::Forward, Some(upper)) => {
                        c.client
                            .query(
                                &st.forward,
                                &[&part_lower, &part_upper, &lower, upper, &limit],
                            )
                            .await?
                    }
                    (Direction::Reverse, Some(upper)) => {
                        c.client
                            .query(
                                &st.reverse,
                                &[&part_lower, &part_upper, &lower, upper, &limit],
                            )
                            .await?
                    }
                    (Direction::Forward, None) => {
                        c.client
                            .query(&st.forward_open, &[&part_lower, &lower, &limit])
                            .await?
                    }
                    (Direction::Reverse, None) => {
                        c.client
                            .query(&st.reverse_open, &[&part_lower, &lower, &limit])
                            .await?
                    }
                };
                Ok(rows
                    .into_iter()
                    .map(|r| (r.get::<_, Vec<u8>>(0), r.get::<_, Vec<u8>>(1)))
                    .collect::<Vec<_>>())
            })
        })?;
        if (rows.len() as i64) < self.page {
            self.finished = true;
        }
        if let Some((last, _)) = rows.last() {
            match self.direction {
                Direction::Forward => self.lower = successor(last),
                Direction::Reverse => self.upper = Some(last.clone()),
            }
        }
        self.page = (self.page * 4).min(MAX_PAGE);
        self.buffered.extend(rows);
        Ok(())
    }
}

impl Iterator for Pages<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>), StorageError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buffered.is_empty()
            && !self.finished
            && let Err(e) = self.fetch()
        {
            self.finished = true;
            return Some(Err(e));
        }
        self.buffered.pop_front().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KvRead;

    /// A scratch store whose connections carry `name`, so another can end them.
    fn named(name: &str) -> Store {
        let url = format!("{} application_name={name}", crate::test_server());
        let schema = format!("one_scratch_{:016x}", crate::embedded::random_id());
        Store::connect(&url, &StoreOptions::default(), Some(schema)).unwrap()
    }

    #[test]
    fn connections_the_server_ends_are_typed_errors_then_replaced_without_reopening() {
        let store = named("one_restart_victim");
        let killer = named("one_restart_killer");
        store
            .write(&WritePlan::default(), |tx| {
                tx.put(b"before".to_vec(), b"1".to_vec())
            })
            .unwrap();
        let held = store.read(&[]).unwrap();
        // What a server restart does to this store's connections.
        let session = Session::begin(&killer.shared).unwrap();
        session
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE application_name = 'one_restart_victim'",
            )
            .unwrap();
        session.done();
        // A snapshot open across the restart fails, with the typed error.
        let lost = loop {
            match held.get(b"before") {
                Err(e) => break e,
                // The termination may not have reached the connection yet.
                Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        assert!(matches!(lost, StorageError::Unavailable { .. }), "{lost:?}");
        drop(held);
        // The next transactions connect again: nothing lost, nothing half-written.
        let mut failures = 0;
        loop {
            match store.write(&WritePlan::default(), |tx| {
                tx.put(b"after".to_vec(), b"2".to_vec())
            }) {
                Ok(()) => break,
                Err(StorageError::Unavailable { .. }) if failures < 3 => failures += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        let read = store.read(&[]).unwrap();
        assert_eq!(read.get(b"before").unwrap(), Some(b"1".to_vec()));
        assert_eq!(read.get(b"after").unwrap(), Some(b"2".to_vec()));
        // A transaction the lost connection failed took no commit number.
        assert_eq!(read.seq().unwrap(), 2);
    }
}
