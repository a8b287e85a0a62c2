//! The shared backend: the keyspace as one table on a PostgreSQL server, which several
//! processes (instances of the engine) use at once.
//!
//! ```text
//! one_kv   (part bytea, k bytea, v bytea, PRIMARY KEY (part, k))   every key
//! one_meta (name text PRIMARY KEY, v bigint)                       commit_seq, storage_format
//! ```
//!
//! `part` is the key's first [`StoreOptions::partition`] bytes, its tenant: a distributed
//! PostgreSQL (Citus) shards the table by it, and a scan within one tenant is a range of
//! the primary key. `bytea` compares like memcmp, so `(part, k)` sorts as `k` does.
//!
//! **Reads** run in a `REPEATABLE READ READ ONLY` transaction on a pooled connection: one
//! snapshot, taken when it begins, kept until the [`crate::ReadTx`] is dropped.
//! Scans fetch pages of rows in key order, so a scan that stops early reads little.
//!
//! **Writes** run in a `SERIALIZABLE` transaction that first waits for its turn, a lock
//! on `one_meta` that only writers take (`LOCK TABLE … IN EXCLUSIVE MODE`: readers are
//! not held up), then takes the next commit number (`UPDATE one_meta SET v = v + 1 …
//! RETURNING v`). The lock comes before the transaction's first query, so its snapshot
//! holds every commit before it: writers of every instance take turns in the order they
//! asked (PostgreSQL queues lock requests), commit numbers follow commit order with no
//! gap and no duplicate, and no writer of ONE's can conflict with another. Were a
//! serialization failure (40001, 40P01) to reach the start of a transaction anyway, it is
//! begun again, before its closure has run. Within one process, writers also take turns
//! on a mutex (as in the embedded backend), so the commit listener hears this process's
//! commits in order and a process holds at most one connection waiting for the lock. The
//! closure's writes are buffered and sent at commit (or when the buffer fills) as one
//! multi-row upsert and one multi-row delete. A conflict after the closure ran (only a
//! writer outside ONE's protocol can cause one) is [`StorageError::Conflict`]: nothing
//! was committed, and the caller may retry.
//!
//! The engine is synchronous and may be called from inside an async runtime (the HTTP
//! server's), where blocking on a runtime panics; so the backend owns a small tokio
//! runtime, and each statement is sent to it and waited for on a channel. Every round
//! trip has a time limit; a connection that fails is dropped, and the next transaction
//! opens a fresh one, so the engine recovers from a server restart without being
//! reopened. A server that cannot be reached is [`StorageError::Unavailable`].

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Config, NoTls, SimpleQueryMessage, Statement};

use crate::StorageError;
use crate::kv::{Direction, Flow, KeyRange};
use crate::store::{self, CommitListener, Durability, Listener, ReadTx, StoreOptions};
use crate::write::{Base, WriteGuard, WriteTx};

/// The version of this backend's layout. Only grows.
const STORAGE_FORMAT: i64 = 1;

/// Creates the tables if they do not exist, under a lock so two processes starting at
/// once do not race.
const INSTALL: &str = "BEGIN;
SELECT pg_advisory_xact_lock(7236110);
CREATE TABLE IF NOT EXISTS one_kv (
    part bytea NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (part, k)
);
CREATE TABLE IF NOT EXISTS one_meta (name text PRIMARY KEY, v bigint NOT NULL);
INSERT INTO one_meta VALUES ('commit_seq', 0) ON CONFLICT DO NOTHING;
INSERT INTO one_meta VALUES ('storage_format', 1) ON CONFLICT DO NOTHING;
COMMIT;";

/// Opens a read transaction. Its snapshot is taken by the statement sent right behind
/// it, in the same round trip: the read of the keys asked for up front (see
/// [`Session::begin_with`]), so the snapshot is the store's state when
/// [`crate::Store::read`] returns.
const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
/// Opens a write transaction, waits for its turn and takes its commit number (see the
/// module's notes). The lock comes before any query, so the snapshot is taken once the
/// turn has come.
const BEGIN_WRITE: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE; \
     LOCK TABLE one_meta IN EXCLUSIVE MODE; \
     UPDATE one_meta SET v = v + 1 WHERE name = 'commit_seq' RETURNING v";

/// How many times a write transaction begins again after a conflict over its commit
/// number before the caller is told [`StorageError::Conflict`].
const MAX_ATTEMPTS: u32 = 64;
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
    /// Taken by each write transaction of this process, for its whole length.
    write_lock: Mutex<()>,
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

/// The statements of one connection. Those on several keys match `part = ANY($1) AND
/// k = ANY($2)`, which the primary key answers directly (a join with `UNNEST` was planned
/// as a scan of the whole table); the cross product of the two lists finds nothing more,
/// because a key's partition is a prefix of the key itself.
struct Statements {
    get: Statement,
    /// The values of several keys at once.
    get_many: Statement,
    /// Scans: forward or reverse, with an upper bound or without.
    forward: Statement,
    forward_open: Statement,
    reverse: Statement,
    reverse_open: Statement,
    upsert: Statement,
    delete: Statement,
    seq: Statement,
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
            get_many: client
                .prepare("SELECT k, v FROM one_kv WHERE part = ANY($1) AND k = ANY($2)")
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
                .prepare("DELETE FROM one_kv WHERE part = ANY($1) AND k = ANY($2)")
                .await?,
            seq: client
                .prepare("SELECT v FROM one_meta WHERE name = 'commit_seq'")
                .await?,
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
    let mut setup = String::new();
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
            write_lock: Mutex::new(()),
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

    /// A write transaction, with `keys` read as it begins (in the same round trip).
    pub(crate) fn write<R, E>(
        &self,
        keys: &[Vec<u8>],
        f: impl FnOnce(&mut WriteTx<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<StorageError>,
    {
        let Some(_guard) = WriteGuard::enter() else {
            return Err(StorageError::NestedWrite.into());
        };
        let _turn = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let (session, seq) = self.begin_write(keys)?;
        let mut tx = WriteTx::new(Base::Postgres(&session), seq, self.write_buffer, false);
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&mut tx)));
        let (r, notes) = match ran {
            Ok(Ok(r)) => {
                let notes = std::mem::take(&mut tx.notes);
                let last = tx.take_pending();
                drop(tx);
                session.commit(last)?;
                (r, notes)
            }
            // Dropping the session rolls the transaction back.
            Ok(Err(e)) => return Err(session.conflict().map_or(e, E::from)),
            Err(panic) => std::panic::resume_unwind(panic),
        };
        self.listener.tell(seq, notes);
        Ok(r)
    }

    /// Opens a write transaction and takes its commit number, beginning again while it
    /// conflicts with another writer's.
    fn begin_write(&self, keys: &[Vec<u8>]) -> Result<(Session, u64), StorageError> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let session = Session::begin(&self.shared)?;
            match session.begin_write(keys) {
                Ok(seq) => return Ok((session, seq)),
                Err(StorageError::Conflict { .. }) if attempts < MAX_ATTEMPTS => {
                    drop(session);
                    // Jitter, so writers that met do not meet again at once.
                    let micros = 50 + crate::embedded::random_id() % (100 * u64::from(attempts));
                    std::thread::sleep(Duration::from_micros(micros));
                }
                Err(StorageError::Conflict { .. }) => {
                    return Err(StorageError::Conflict { attempts });
                }
                Err(e) => return Err(e),
            }
        }
    }

    pub(crate) fn between_commits<R>(&self, f: impl FnOnce() -> R) -> Result<R, StorageError> {
        let Some(_guard) = WriteGuard::enter() else {
            return Err(StorageError::NestedWrite);
        };
        let _turn = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
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
        })
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
        let parts: Vec<Vec<u8>> = keys.iter().map(|k| self.part_of(k)).collect();
        let wanted = keys.to_vec();
        let (messages, rows) = self.run(move |c| {
            Box::pin(async move {
                // Polled together, the two requests go out before either answer is read.
                let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&parts, &wanted];
                let (began, rows) = tokio::join!(
                    c.client.simple_query(begin),
                    c.client.query(&c.statements.get_many, &params)
                );
                Ok((began?, rows?))
            })
        })?;
        let mut prefetched = self.prefetched();
        prefetched.extend(keys.iter().map(|k| (k.clone(), None)));
        for row in rows {
            prefetched.insert(row.get::<_, Vec<u8>>(0), Some(row.get::<_, Vec<u8>>(1)));
        }
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
        if self.state.load(Ordering::Acquire) >= FAILED {
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

    /// Runs [`BEGIN_WRITE`], reads `keys`, and returns the commit number taken.
    fn begin_write(&self, keys: &[Vec<u8>]) -> Result<u64, StorageError> {
        let messages = self.begin_with(BEGIN_WRITE, keys)?;
        let seq = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse::<u64>().ok()),
            _ => None,
        });
        seq.ok_or_else(|| StorageError::Corrupt("the commit number row is missing".into()))
    }

    /// Marks the transaction as ended: the connection goes back to the pool as it is.
    fn done(&self) {
        self.state.store(DONE, Ordering::Release);
    }

    /// [`StorageError::Conflict`] if a statement of this transaction failed with one.
    fn conflict(&self) -> Option<StorageError> {
        (self.state.load(Ordering::Acquire) == CONFLICTED)
            .then_some(StorageError::Conflict { attempts: 1 })
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
        let (mut gone_parts, mut gone_keys) = (Vec::new(), Vec::new());
        for (key, value) in entries {
            match value {
                Some(value) => {
                    parts.push(self.part_of(&key));
                    keys.push(key);
                    values.push(value);
                }
                None => {
                    gone_parts.push(self.part_of(&key));
                    gone_keys.push(key);
                }
            }
        }
        if keys.is_empty() && gone_keys.is_empty() && !commit {
            return Ok(());
        }
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
                let delete = async {
                    if gone_keys.is_empty() {
                        return Ok(0);
                    }
                    c.client
                        .execute(&st.delete, &[&gone_parts, &gone_keys])
                        .await
                };
                let end = async {
                    if commit {
                        c.client.batch_execute("COMMIT").await
                    } else {
                        Ok(())
                    }
                };
                let (upserted, deleted, ended) = tokio::join!(upsert, delete, end);
                upserted?;
                deleted?;
                ended
            })
        })
    }
}

impl Drop for Session {
    fn drop(&mut self) {
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
                    match conn.client.batch_execute("ROLLBACK").await {
                        Ok(()) => pool.put(conn),
                        Err(_) => pool.forget(),
                    }
                });
            }
            _ => pool.forget(),
        }
    }
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
            .write(&[], |tx| tx.put(b"before".to_vec(), b"1".to_vec()))
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
            match store.write(&[], |tx| tx.put(b"after".to_vec(), b"2".to_vec())) {
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
