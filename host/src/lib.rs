//! ONE: an embedded, multi-tenant ontology engine.
//!
//! ONE keeps a SaaS backend's data in one file: **groups** (hierarchical tenants),
//! **people**, **things** (typed entities with properties), **connections** (typed
//! relationships), an append-only **event** trail of every change, and **knowledge** with
//! vector search. This crate is the facade applications depend on: it opens an
//! [`Ontology`] and re-exports, item by item, the API of `one-core` an application uses.
//! Reads and writes are on [`Ontology`]; everything else (sign-in, API keys, the change
//! feed, plugins, backups) is on the [`Engine`] behind [`Ontology::engine`].
//!
//! # Core concepts
//!
//! - [`Ontology`]: one open database. Open it once and share it (`Arc<Ontology>`); it is
//!   `Send + Sync`. Any number of readers run beside one writer.
//! - [`Context`]: who acts ([`Principal`]), in which group, in which [`Env`]. Every read
//!   and write takes one; it reaches its group and the group's descendants, in its own
//!   tenant only. Cheap to copy.
//! - [`Tx`]: one write transaction, alive inside [`Ontology::write`]. Every change made in
//!   it, with its events, index entries and counters, commits together or not at all.
//! - [`View`]: reads on one snapshot, alive inside [`Ontology::read`].
//! - [`Admin`]: the calls outside any tenant: creating tenants, counting.
//!
//! # Example
//!
//! ```
//! use one::*;
//!
//! let db = Ontology::in_memory()?;
//! let acme = db.admin().create_root_group(NewGroup::new(GroupType::Organization, "Acme", "acme"))?;
//! let ctx = Context::system(acme.id);
//! let (alice, mug) = db.write(&ctx, |tx| {
//!     let alice = tx.create_person(NewPerson::new("Alice@Example.com", "Alice").role("org_owner"))?;
//!     tx.add_member(alice.id, acme.id, "group_owner", &["*"])?;
//!     let mug = tx.create_thing(NewThing::new("product", "Mug").property("price", 1200))?;
//!     tx.connect(NewConnection::new(alice.id, "purchased", mug.id))?;
//!     Ok((alice, mug))
//! })?;
//! let as_alice = Context::person(alice.id, acme.id);
//! let cheap = db.read(&as_alice, |v| {
//!     v.things(&ThingQuery::of_type("product").filter(Filter::from_json(&serde_json::json!({
//!         "properties.price": {"$lt": 2000}
//!     }))?))
//! })?;
//! assert_eq!(cheap.items, vec![mug]);
//! let log = db.read(&as_alice, |v| v.events(&EventQuery::latest().limit(10)))?;
//! assert_eq!(log.items[0].kind, "connection_created");
//! # Ok::<(), one::Error>(())
//! ```

#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

use std::path::Path;
use std::sync::Arc;

// The API of `one-core`, named item by item: what an application meets in signatures.
// The GCRA arithmetic, the fuzz entry points and raw store access stay in `one-core`.

// The engine and its transactions.
mod local;
#[cfg(feature = "server")]
pub mod server;

pub use local::Local;
/// One trait for the embedded engine ([`Local`]) and a remote server (`one_client::Remote`).
pub use one_vocabulary::provider::{ChangeStream, DataProvider};

pub use one_core::{Admin, Engine, Tx, View};
// Contexts: who acts, where, in which environment.
pub use one_core::{Context, Env, Principal};
// Ids and references.
pub use one_core::{
    ConnectionId, EventId, GroupId, IdError, IdKind, KeyId, KnowledgeId, PluginId, Ref, ThingId,
};
// Values, time, errors and paging.
pub use one_core::{
    Clock, Cursor, DEFAULT_PAGE, Error, MAX_PAGE, MAX_VALUE_DEPTH, ManualClock, Page, Result,
    SystemClock, Timestamp, Value, ValueError,
};
// Limits on input sizes.
pub use one_core::{MAX_NAME_BYTES, MAX_TYPE_BYTES, MAX_VALUE_BYTES};
// Groups.
pub use one_core::{Group, GroupStatus, GroupType, GroupUpdate, MAX_DEPTH, NewGroup};
// People.
pub use one_core::{MAX_EMAIL_BYTES, NewPerson, PERSON, normalize_email};
// Things, filters and property indexes.
pub use one_core::{
    FieldPath, Fields, Filter, IndexDef, NewThing, Op, Thing, ThingOrder, ThingQuery, ThingStatus,
    ThingUpdate,
};
// Full-text search.
pub use one_core::{MAX_QUERY_BYTES, MAX_QUERY_WORDS, MAX_WORD_BYTES, TextQuery, ThingHit};
// Connections.
pub use one_core::{
    Connection, ConnectionQuery, EdgeDirection, GroupConnectionQuery, MEMBER_OF, NewConnection,
    SESSION,
};
// Events.
pub use one_core::{Event, EventFilter, EventQuery, NewEvent, kinds};
// Knowledge.
pub use one_core::{
    CompactReport, Embedder, HashingEmbedder, Hit, IndexInfo, IndexParams, Knowledge,
    KnowledgeIndexConfig, KnowledgeMaintenance, KnowledgeQuery, MAX_DIMS, MAX_K, MAX_LABELS,
    MAX_TEXT_BYTES, MaintenanceStatus, Metric, NewKnowledge, QueryInput, RRF_K, SearchMode,
};
// Access: permissions, memberships and the policy's constants.
pub use one_core::{
    COARSE, LIVE_ONLY, Membership, ParentAccess, Permission, PermissionSet, event_permissions,
    membership_permissions, role_defaults,
};
// API keys, sign-in, the second factor and sessions.
pub use one_core::{
    ApiKey, AuthConfig, CreatedKey, IpRange, KeyCall, KeyRate, KeyStatus, MAX_ALLOWED_RANGES,
    MAX_BURST, MAX_PASSWORD_BYTES, MAX_PER_SECOND, MAX_SECOND_FACTOR_FAILURES, MAX_SUBJECT_BYTES,
    MIN_PASSWORD_CHARS, NewApiKey, PasswordParams, RECOVERY_CODES, RateLimit, SecondFactor, Secret,
    Session, SignedIn, SignedUp, TwoFactorEnabled, TwoFactorEnrollment,
};
// Metering: plans, usage, money and revenue share.
pub use one_core::{
    Bps, Currency, CycleStage, FLUSH_CALLS, FLUSH_INTERVAL_MS, LIMIT_NAMES, Limit, LimitUnit,
    Money, Payment, PaymentRail, Plan, Resource, ResourceUsage, RevenueReport, RevenueSplit, split,
    split_chain,
};
// The change feed.
pub use one_core::{ChangeFilter, Changes, Dimension, FEED_BACKLOG, MAX_FILTERS, Subscription};
// Integrity check, export and import, counts.
pub use one_core::{
    CheckReport, Counts, EXPORT_FORMAT, EXPORT_VERSION, ImportInto, MAX_IMPORT_SKEW_MS,
    MAX_LISTED_PROBLEMS, PortableReport, Problem, Stats,
};
// The vocabulary: every operation as a request, its response, how a failure travels.
pub use one_core::{Failure, MAX_BATCH_STEPS, Request, Response, RunsIn};
/// Decoding requests from JSON with the typed error of a value that was refused.
pub use one_vocabulary::decode;
/// The JSON Schema of the vocabulary.
pub use one_vocabulary::schema;
// Plugins: the runtime seam and what installed plugins report.
pub use one_core::{PluginInfo, PluginRuntime, plugins};
// The read side of a snapshot, for helpers that take a [`View`].
pub use one_storage::{KvRead, ReadTx, WriteTx};

/// Reads on one snapshot, as [`Ontology::read`] gives them: name it in a helper
/// function without depending on `one-storage`.
///
/// ```
/// use one::*;
/// fn product_names(v: &ReadView<'_>) -> Result<Vec<String>> {
///     Ok(v.things(&ThingQuery::of_type("product"))?.items.into_iter().map(|t| t.name).collect())
/// }
/// let db = Ontology::in_memory()?;
/// let shop = db.admin().create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))?;
/// let ctx = Context::system(shop.id);
/// db.write(&ctx, |tx| tx.create_thing(NewThing::new("product", "Mug")))?;
/// assert_eq!(db.read(&ctx, product_names)?, ["Mug"]);
/// # Ok::<(), one::Error>(())
/// ```
pub type ReadView<'a> = View<'a, ReadTx>;
/// ONE's plugin sandbox on wasmtime (feature `wasm`).
#[cfg(feature = "wasm")]
pub use one_plugins as wasm;
pub use one_storage::{Durability, StorageError, StoreOptions};
/// The JSON crate `Value` and `Filter` convert from and to.
pub use serde_json;

/// Options for opening an [`Ontology`]. Start from [`Ontology::builder`].
#[derive(Debug, Clone)]
pub struct Builder {
    store: StoreOptions,
    clock: Arc<dyn Clock>,
    auth: AuthConfig,
    embedder: Arc<dyn Embedder>,
    knowledge_index: KnowledgeIndexConfig,
    knowledge_upkeep: Option<std::time::Duration>,
    plugins: Option<Arc<dyn PluginRuntime>>,
}

/// How often the background upkeep of the vector graphs looks for work by default.
pub const KNOWLEDGE_UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl Default for Builder {
    fn default() -> Self {
        Self {
            store: StoreOptions {
                // On PostgreSQL, each tenant's keys are one partition of the table.
                partition: one_core::tenant_partition,
                ..StoreOptions::default()
            },
            clock: Arc::new(SystemClock),
            auth: AuthConfig::default(),
            embedder: Arc::new(HashingEmbedder::default()),
            knowledge_index: KnowledgeIndexConfig::default(),
            knowledge_upkeep: Some(KNOWLEDGE_UPKEEP_INTERVAL),
            plugins: None,
        }
    }
}

impl Builder {
    /// What a commit guarantees. Default [`Durability::Immediate`]: a call that returned
    /// `Ok` survives a crash or power cut (its writes appended to the commit log beside
    /// the file and synced, one sync shared by the commits made meanwhile).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.store.durability = durability;
        self
    }

    /// Bytes of commit log after which the database file is checkpointed and the log
    /// started again. Default 8 MiB; larger means fewer checkpoints and a longer replay
    /// after a crash.
    pub fn checkpoint_after(mut self, bytes: u64) -> Self {
        self.store.checkpoint_after = bytes;
        self
    }

    /// Whether opening the file compacts it first: the space freed by deletes and
    /// rewrites goes back to the file system (the file shrinks to about its live data),
    /// at the price of rewriting part of the file while opening. Default `false`. `one
    /// compact PATH` does this to a file no process has open.
    pub fn compact_on_open(mut self, compact: bool) -> Self {
        self.store.compact = compact;
        self
    }

    /// The page cache, in bytes: an upper bound, filled on demand. Default 1 GiB.
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.store.cache_size = bytes;
        self
    }

    /// How many bytes of writes one transaction buffers (and sorts) before applying them
    /// to the tree. Default 64 MiB; larger makes big transactions faster and hungrier.
    pub fn write_buffer(mut self, bytes: usize) -> Self {
        self.store.write_buffer = bytes;
        self
    }

    /// The clock all timestamps and ids come from. Default: the system clock.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Password hashing cost and credential lifetimes. Default: argon2id with OWASP's
    /// parameters, 30-day sessions.
    pub fn auth(mut self, auth: AuthConfig) -> Self {
        self.auth = auth;
        self
    }

    /// The embedder for knowledge text. Default: [`HashingEmbedder`] (256 dimensions,
    /// lexical; see its docs). Its dimension must match the vectors the database stores.
    pub fn embedder(mut self, embedder: Arc<dyn Embedder>) -> Self {
        self.embedder = embedder;
        self
    }

    /// When groups get an HNSW graph for knowledge search, and its `ef_construction` and
    /// `ef_search`. Default: groups of 1,000 vectors or more, 100 and 100.
    pub fn knowledge_index(mut self, config: KnowledgeIndexConfig) -> Self {
        self.knowledge_index = config;
        self
    }

    /// How often a background thread keeps the vector graphs up to date (see
    /// [`KnowledgeMaintenance`]); `None` turns it off, for an application that calls
    /// [`Admin::compact_knowledge`] on its own schedule. Default: every
    /// [`KNOWLEDGE_UPKEEP_INTERVAL`]. A read-only database has no upkeep.
    pub fn knowledge_upkeep(mut self, every: Option<std::time::Duration>) -> Self {
        self.knowledge_upkeep = every;
        self
    }

    /// Runs plugins in `runtime`: installed plugins are loaded when the database opens,
    /// and [`Engine::install_plugin`] becomes available. Without one, writes of
    /// plugin-defined types fail with [`Error::PluginFailed`]. With the `wasm` feature,
    /// [`Builder::wasm_plugins`] attaches ONE's wasmtime sandbox.
    pub fn plugins(mut self, runtime: Arc<dyn PluginRuntime>) -> Self {
        self.plugins = Some(runtime);
        self
    }

    /// Runs plugins in ONE's wasmtime sandbox ([`wasm::Runtime`]), each call bounded by
    /// `limits`.
    #[cfg(feature = "wasm")]
    pub fn wasm_plugins(self, limits: wasm::Limits) -> Result<Self> {
        let runtime = wasm::Runtime::new(limits).map_err(|reason| Error::PluginFailed {
            plugin: "(runtime)".into(),
            reason,
        })?;
        Ok(self.plugins(Arc::new(runtime)))
    }

    /// Opens (or creates) the database file at `path`, creating its folder if needed, and
    /// its commit log `<path>-log` (commits a crashed process left there are applied
    /// first). The two files go together: copy, move or delete both.
    ///
    /// A `path` that is a PostgreSQL URL (`postgres://…` or `postgresql://…`) connects
    /// to that database instead ([`Builder::connect`]).
    pub fn open(self, path: impl AsRef<Path>) -> Result<Ontology> {
        let path = path.as_ref();
        if let Some(url) = postgres_url(path) {
            return self.connect(url);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| Error::Io {
                action: "cannot create folder",
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let store = one_storage::Store::open(path, &self.store)?;
        self.finish(store)
    }

    /// Opens the existing database file at `path` for reading only: reads work as usual
    /// (also beside other read-only handles), every write is refused with the code
    /// 908 (`Error::Storage(StorageError::ReadOnly)`), and nothing is ever written to the
    /// file — not even what a read-write open would record on the side, such as
    /// `access_denied` events or API calls counted for rate limits.
    ///
    /// ```
    /// use one::*;
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("one.redb");
    /// let db = Ontology::open(&path)?;
    /// let acme = db.admin().create_root_group(NewGroup::new(GroupType::Business, "Acme", "acme"))?;
    /// db.close()?;
    /// let ro = Ontology::builder().open_read_only(&path)?;
    /// assert_eq!(ro.read(&Context::system(acme.id), |v| v.get_group(acme.id))?.slug, "acme");
    /// let refused = ro.write(&Context::system(acme.id), |tx| tx.create_thing(NewThing::new("note", "n")));
    /// assert_eq!(refused.unwrap_err().code(), 908);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open_read_only(self, path: impl AsRef<Path>) -> Result<Ontology> {
        let store = one_storage::Store::open_read_only(path, &self.store)?;
        self.finish(store)
    }

    /// Opens a new database held in memory, gone when dropped.
    pub fn in_memory(self) -> Result<Ontology> {
        let store = one_storage::Store::in_memory(&self.store)?;
        self.finish(store)
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:password@host/db`,
    /// or a `key=value` connection string), creating ONE's two tables there if they do not
    /// exist: the backend for several engine instances (processes, machines) sharing one
    /// database. Writers of every instance take turns on the database's commit number, so
    /// commits are numbered in commit order across instances; each instance checks its
    /// caches against the access version stored with the data at every call; a server
    /// that cannot be reached gives `Error::Storage` (code 904) naming the cause, and the
    /// next call connects again. Needs the `postgres` feature; see "Scaling out" in the
    /// README.
    #[cfg(feature = "postgres")]
    pub fn connect(self, url: &str) -> Result<Ontology> {
        let store = one_storage::Store::connect(url, &self.store)?;
        self.finish(store)
    }

    /// Without the `postgres` feature, a PostgreSQL URL is refused by name.
    #[cfg(not(feature = "postgres"))]
    pub fn connect(self, url: &str) -> Result<Ontology> {
        let _ = url;
        Err(Error::invalid(
            "database",
            "this build of ONE has no PostgreSQL backend (build `one` with the `postgres` feature)",
        ))
    }

    fn finish(self, store: one_storage::Store) -> Result<Ontology> {
        let read_only = store.is_read_only();
        let mut engine = Engine::new(store, self.clock)?
            .with_auth(self.auth)
            .with_embedder(self.embedder)
            .with_knowledge_index(self.knowledge_index);
        if let Some(runtime) = self.plugins {
            engine = engine.with_plugins(runtime)?;
        }
        let engine = Arc::new(engine);
        let upkeep = match self.knowledge_upkeep {
            Some(every) if !read_only => Some(KnowledgeMaintenance::start(&engine, every)?),
            _ => None,
        };
        Ok(Ontology {
            engine: Some(engine),
            upkeep,
        })
    }
}

/// The PostgreSQL URL `path` is, if it is one.
fn postgres_url(path: &Path) -> Option<&str> {
    let text = path.to_str()?;
    (text.starts_with("postgres://") || text.starts_with("postgresql://")).then_some(text)
}

/// An open ONE database.
#[derive(Debug)]
pub struct Ontology {
    /// Shared with the upkeep thread for the short steps of its rounds; `None` only once
    /// closed.
    engine: Option<Arc<Engine>>,
    /// The background upkeep of the vector graphs; stopped before the engine closes.
    upkeep: Option<KnowledgeMaintenance>,
}

impl Ontology {
    /// Options for opening a database.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use one::*;
    /// let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    /// let db = Ontology::builder()
    ///     .durability(Durability::ImmediateOnePhase)
    ///     .clock(clock.clone())
    ///     .in_memory()?;
    /// let g = db.admin().create_root_group(NewGroup::new(GroupType::Dao, "DAO", "dao"))?;
    /// assert_eq!(g.created_at, clock.now());
    /// # Ok::<(), one::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Opens (or creates) the database file at `path` with default options.
    ///
    /// ```
    /// let dir = tempfile::tempdir()?;
    /// let db = one::Ontology::open(dir.path().join("data/one.redb"))?;
    /// assert_eq!(db.admin().stats()?.tenants, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Builder::default().open(path)
    }

    /// Opens a new database in memory, for tests and scratch work.
    ///
    /// ```
    /// let db = one::Ontology::in_memory()?;
    /// assert!(db.admin().root_groups()?.is_empty());
    /// # Ok::<(), one::Error>(())
    /// ```
    pub fn in_memory() -> Result<Self> {
        Builder::default().in_memory()
    }

    /// Runs `f` in one write transaction as `ctx`: everything it changes commits together,
    /// or, if it returns an error, nothing does.
    ///
    /// `f` is `FnMut` because on PostgreSQL ([`Builder::postgres`]) a transaction that
    /// conflicts with a concurrent one is rolled back and `f` runs again, on a fresh
    /// snapshot (a bounded number of times, then [`Error::Conflict`]). Keep effects
    /// outside the transaction (messages sent, counters in memory) out of `f`, or make
    /// them safe to repeat. On the embedded file `f` runs once.
    ///
    /// ```
    /// use one::*;
    /// let db = Ontology::in_memory()?;
    /// let g = db.admin().create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))?;
    /// let ctx = Context::system(g.id);
    /// let failed = db.write(&ctx, |tx| {
    ///     tx.create_thing(NewThing::new("product", "Kept?"))?;
    ///     tx.create_thing(NewThing::new("Bad Type", "x"))      // invalid: aborts both
    /// });
    /// assert!(matches!(failed, Err(Error::InvalidField { .. })));
    /// assert!(db.read(&ctx, |v| v.things(&ThingQuery::of_type("product")))?.items.is_empty());
    /// # Ok::<(), one::Error>(())
    /// ```
    pub fn write<R>(
        &self,
        ctx: &Context,
        f: impl FnMut(&mut Tx<'_, '_>) -> Result<R>,
    ) -> Result<R> {
        self.engine().write(ctx, f)
    }

    /// Like [`Ontology::write`], for a closure that returns the application's own error
    /// type: engine errors convert into it with `?`, and an `Err` rolls everything back.
    ///
    /// ```
    /// use one::*;
    /// #[derive(Debug)]
    /// enum AppError { Engine(#[allow(dead_code)] one::Error), OutOfStock }
    /// impl From<one::Error> for AppError {
    ///     fn from(e: one::Error) -> Self { AppError::Engine(e) }
    /// }
    /// let db = Ontology::in_memory()?;
    /// let shop = db.admin().create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))?;
    /// let ctx = Context::system(shop.id);
    /// let r = db.write_with(&ctx, |tx| {
    ///     tx.create_thing(NewThing::new("order", "#1"))?;
    ///     Err::<(), _>(AppError::OutOfStock)
    /// });
    /// assert!(matches!(r, Err(AppError::OutOfStock)));
    /// assert!(db.read(&ctx, |v| v.things(&ThingQuery::of_type("order")))?.items.is_empty());
    /// # Ok::<(), one::Error>(())
    /// ```
    pub fn write_with<R, E: From<Error>>(
        &self,
        ctx: &Context,
        f: impl FnMut(&mut Tx<'_, '_>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        self.engine().write_with(ctx, f)
    }

    /// Like [`Ontology::read`], for a closure that returns the application's own error
    /// type.
    pub fn read_with<R, E: From<Error>>(
        &self,
        ctx: &Context,
        f: impl FnOnce(&ReadView<'_>) -> std::result::Result<R, E>,
    ) -> std::result::Result<R, E> {
        self.engine().read_with(ctx, f)
    }

    /// Runs `f` on a consistent snapshot as `ctx`.
    ///
    /// ```
    /// use one::*;
    /// let db = Ontology::in_memory()?;
    /// let g = db.admin().create_root_group(NewGroup::new(GroupType::Community, "Club", "club"))?;
    /// let group = db.read(&Context::system(g.id), |v| v.get_group(g.id))?;
    /// assert_eq!(group.slug, "club");
    /// # Ok::<(), one::Error>(())
    /// ```
    pub fn read<R>(&self, ctx: &Context, f: impl FnOnce(&ReadView<'_>) -> Result<R>) -> Result<R> {
        self.engine().read(ctx, f)
    }

    /// Executes one [`Request`] of the vocabulary as `ctx`: the same typed method a Rust
    /// caller would use, reached by name. What the C ABI, the server and the remote client
    /// carry.
    ///
    /// ```
    /// use one::*;
    /// let db = Ontology::in_memory()?;
    /// let shop = db.admin().create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))?;
    /// let ctx = Context::system(shop.id);
    /// let request: Request = serde_json::from_str(r#"{"create_thing":{"type":"product","name":"Mug"}}"#)?;
    /// let Response::Thing(mug) = db.execute(&ctx, request)? else { unreachable!() };
    /// assert_eq!(mug.name, "Mug");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute(&self, ctx: &Context, request: Request) -> Result<Response> {
        self.engine().execute(ctx, request)
    }

    /// Executes the steps of a batch (requests in their JSON form) in one write
    /// transaction, all or nothing; a step names the id an earlier step returned with
    /// `{"$ref": n}`. See [`Engine::execute_batch`].
    ///
    /// ```
    /// use one::*;
    /// use serde_json::json;
    /// let db = Ontology::in_memory()?;
    /// let shop = db.admin().create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))?;
    /// let ctx = Context::system(shop.id);
    /// let done = db.execute_batch(&ctx, &[
    ///     json!({"create_thing": {"type": "product", "name": "Mug"}}),
    ///     json!({"create_person": {"email": "ann@example.com", "name": "Ann"}}),
    ///     json!({"connect": {"from": {"$ref": 1}, "type": "owns", "to": {"$ref": 0}}}),
    /// ])?;
    /// assert!(matches!(done[2], Response::Connection(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn execute_batch(
        &self,
        ctx: &Context,
        steps: &[serde_json::Value],
    ) -> std::result::Result<Vec<Response>, Failure> {
        self.engine().execute_batch(ctx, steps)
    }

    /// Administration: create tenants, list them, count records, declare indexes.
    ///
    /// ```
    /// use one::*;
    /// let db = Ontology::in_memory()?;
    /// let acme = db.admin().create_root_group(NewGroup::new(GroupType::Organization, "Acme", "acme"))?;
    /// db.admin().create_index("product", "properties.price")?;
    /// db.write(&Context::system(acme.id), |tx| tx.create_thing(NewThing::new("product", "Mug")))?;
    /// let stats = db.admin().stats()?;
    /// assert_eq!((stats.tenants, stats.live.things), (1, 1));
    /// # Ok::<(), one::Error>(())
    /// ```
    pub fn admin(&self) -> Admin<'_> {
        self.engine().admin()
    }

    /// The engine underneath: everything beyond reads, writes and administration —
    /// turning API keys and sessions into contexts, [`Engine::can`], sign-up and
    /// sign-in, the change feed, plugins, [`Engine::check`], backups, export and import.
    ///
    /// ```
    /// use one::*;
    /// let db = Ontology::in_memory()?;
    /// let shop = db.admin().create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))?;
    /// let key = db.write(&Context::system(shop.id), |tx| {
    ///     tx.create_api_key(NewApiKey::new("storefront", &["read"]))
    /// })?;
    /// let ctx = db.engine().context_for_api_key(key.secret.expose(), None)?;
    /// assert!(db.engine().can(&ctx, Permission::ThingsRead, shop.id));
    /// assert!(!db.engine().can(&ctx, Permission::ThingsWrite, shop.id));
    /// # Ok::<(), one::Error>(())
    /// ```
    pub fn engine(&self) -> &Engine {
        self.engine
            .as_deref()
            .expect("an Ontology has its engine until it is closed or dropped")
    }

    /// Makes every commit so far durable. Only needed with [`Durability::Deferred`], where
    /// it is how the application decides when to pay for the fsync.
    pub fn sync(&self) -> Result<()> {
        self.engine().sync()
    }

    /// Flushes deferred commits and closes the file. Dropping also closes it, but cannot
    /// report errors.
    pub fn close(mut self) -> Result<()> {
        match self.take_engine() {
            Some(engine) => engine.close(),
            None => Ok(()),
        }
    }

    /// Stops the upkeep thread and takes the engine back from it: the thread holds the
    /// engine only for the short steps of a round (never while it builds), so this waits
    /// at most for one of those.
    fn take_engine(&mut self) -> Option<Engine> {
        if let Some(mut upkeep) = self.upkeep.take() {
            upkeep.stop();
        }
        let mut engine = self.engine.take()?;
        loop {
            match Arc::try_unwrap(engine) {
                Ok(engine) => return Some(engine),
                Err(shared) => {
                    engine = shared;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
    }
}

impl Drop for Ontology {
    /// Stops the upkeep thread, so the engine (and its file) is released here, not later
    /// on that thread.
    fn drop(&mut self) {
        drop(self.take_engine());
    }
}

/// The README's example, compiled and run as a doctest so it cannot rot.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
