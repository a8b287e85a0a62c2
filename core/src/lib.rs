//! `one-core`: the domain of ONE, the rules, and nothing else.
//!
//! Six dimensions over one ordered key-value store ([`one_storage`]):
//! **groups** (hierarchical tenants), **people** (things of type `person` with an email
//! and memberships), **things** (typed entities with properties), **connections** (typed
//! relationships), **events** (the append-only audit trail), and **knowledge** (text chunks
//! with embeddings and k-nearest-neighbour search).
//!
//! Everything happens through an [`Engine`]. Writes run in [`Engine::write`], whose
//! closure gets a [`Tx`]; a mutation, its event, its index entries and its counters commit
//! together. Reads run in [`Engine::read`] on a [`View`] of one snapshot. Both take a
//! [`Context`]: the acting [`Principal`], the group it acts in, and the environment. A
//! context reaches its group and that group's descendants, in its tenant only; records
//! elsewhere are [`Error::NotFound`]. Tenants are created through [`Engine::admin`].
//!
//! ```
//! use std::sync::Arc;
//! use one_core::*;
//! use one_storage::{Store, StoreOptions};
//!
//! let engine = Engine::new(Store::in_memory(&StoreOptions::default())?, Arc::new(SystemClock))?;
//! let acme = engine.admin().create_root_group(NewGroup::new(GroupType::Organization, "Acme", "acme"))?;
//! let ctx = Context::system(acme.id);
//! let mug = engine.write(&ctx, |tx| tx.create_thing(NewThing::new("product", "Mug").property("price", 12)))?;
//! let page = engine.read(&ctx, |v| v.list_things(&ThingQuery::of_type("product")))?;
//! assert_eq!(page.items, vec![mug]);
//! # Ok::<(), one_core::Error>(())
//! ```

#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod access;
mod access_cache;
mod api_keys;
mod assembly;
mod auth;
mod check;
mod clock;
mod codec;
mod connections;
mod context;
mod embedder;
mod error;
mod events;
mod feed;
mod filter;
pub mod fuzz;
mod groups;
mod id;
mod indexes;
mod kernel;
mod knowledge;
pub mod knowledge_index;
mod layout;
mod members;
mod money;
mod page;
mod people;
mod plans;
pub mod plugins;
pub mod policy;
mod portable;
pub mod rate_limit;
mod revenue;
mod secret;
mod stats;
mod things;
mod usage;
mod validate;
mod value;

pub use access::{Membership, ParentAccess, Permission, PermissionSet};
pub use api_keys::{ApiKey, CreatedKey, IpRange, KeyStatus, MAX_ALLOWED_RANGES, NewApiKey, Secret};
pub use auth::{
    AuthConfig, MAX_PASSWORD_BYTES, MAX_SUBJECT_BYTES, MIN_PASSWORD_CHARS, PasswordParams, Session,
    SignedUp,
};
pub use check::{CheckReport, MAX_LISTED_PROBLEMS, Problem};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use connections::{
    Connection, ConnectionQuery, EdgeDirection, MEMBER_OF, NewConnection, SESSION,
};
pub use context::{Context, Env, Principal};
pub use embedder::{Embedder, HashingEmbedder};
pub use error::{Error, Result};
pub use events::{Event, EventFilter, EventQuery, kinds};
pub use feed::{ChangeFilter, Changes, Dimension, FEED_BACKLOG, Subscription};
pub use filter::{FieldPath, Filter, Op};
pub use groups::{Admin, Group, GroupStatus, GroupType, GroupUpdate, MAX_DEPTH, NewGroup};
pub use id::{ConnectionId, EventId, GroupId, IdError, IdKind, KeyId, KnowledgeId, Ref, ThingId};
pub use indexes::IndexDef;
pub use kernel::{Engine, Tx, View};
pub use knowledge::{
    Hit, IndexInfo, Knowledge, KnowledgeQuery, MAX_DIMS, MAX_K, MAX_LABELS, MAX_TEXT_BYTES, Metric,
    NewKnowledge, QueryInput,
};
pub use knowledge_index::{CompactReport, KnowledgeIndexConfig};
pub use money::{Bps, Currency, Money, split, split_chain};
pub use one_storage::vectors::IndexParams;
pub use page::{Cursor, DEFAULT_PAGE, MAX_PAGE, Page};
pub use people::{MAX_EMAIL_BYTES, NewPerson, PERSON, normalize_email};
pub use plans::{Limit, Plan, Resource};
pub use plugins::{PluginInfo, PluginRuntime};
pub use portable::{EXPORT_FORMAT, EXPORT_VERSION, ImportInto, MAX_IMPORT_SKEW_MS, PortableReport};
pub use rate_limit::{
    Burst, Gcra, GcraState, KeyCall, KeyRate, MAX_BURST, MAX_PER_SECOND, RateLimit,
};
pub use revenue::{Payment, PaymentRail, RevenueReport, RevenueSplit};
pub use stats::{Counts, Stats};
pub use things::{NewThing, Thing, ThingQuery, ThingStatus, ThingUpdate};
pub use usage::{CycleStage, ResourceUsage};
pub use validate::{MAX_NAME_BYTES, MAX_TYPE_BYTES, MAX_VALUE_BYTES};
pub use value::{MAX_DEPTH as MAX_VALUE_DEPTH, Value, ValueError};
