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
//! let page = engine.read(&ctx, |v| v.things(&ThingQuery::of_type("product")))?;
//! assert_eq!(page.items, vec![mug]);
//! # Ok::<(), one_core::Error>(())
//! ```

#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod access;
mod assembly;
mod base;
mod dimensions;
#[cfg(feature = "internals")]
pub mod fuzz;
mod identity;
mod kernel;
mod knowledge;
mod metering;
mod operations;
pub mod plugins;
mod records;
#[cfg(feature = "internals")]
pub mod testkit;

pub use access::memberships::{Membership, ParentAccess};
pub use access::policy::{LIVE_ONLY, event_permissions};
pub use base::clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use base::context::{Context, Env, Principal};
pub use base::error::{Error, Result};
pub use base::id::{
    ConnectionId, EventId, GroupId, IdError, IdKind, KeyId, KnowledgeId, PluginId, Ref, ThingId,
};
pub use base::layout::tenant_partition;
pub use base::page::{Cursor, DEFAULT_PAGE, MAX_PAGE, Page};
pub use base::permission::{
    COARSE, Permission, PermissionSet, membership_permissions, role_defaults,
};
pub use base::resource::Resource;
pub use base::secret::Secret;
pub use base::validate::{MAX_NAME_BYTES, MAX_TYPE_BYTES, MAX_VALUE_BYTES};
pub use base::value::{MAX_DEPTH as MAX_VALUE_DEPTH, Value, ValueError};
pub use dimensions::connections::{
    ConnectionQuery, EdgeDirection, GroupConnectionQuery, NewConnection,
};
pub use dimensions::events::{EventFilter, EventQuery};
pub use dimensions::groups::{GroupUpdate, NewGroup};
pub use dimensions::people::NewPerson;
pub use dimensions::search::{MAX_QUERY_BYTES, TextQuery, ThingHit};
pub use dimensions::things::{NewThing, ThingOrder, ThingQuery, ThingUpdate};
pub use identity::keys::{CreatedKey, NewApiKey};
pub use identity::sign_in::{
    AuthConfig, MAX_PASSWORD_BYTES, MAX_SUBJECT_BYTES, MIN_PASSWORD_CHARS, PasswordParams, Session,
    SignedUp,
};
pub use identity::two_factor::{
    FREE_SECOND_FACTOR_FAILURES, MAX_SECOND_FACTOR_FAILURES, RECOVERY_CODES, SecondFactor,
    SignedIn, TwoFactorEnabled, TwoFactorEnrollment,
};
pub use kernel::Admin;
pub use kernel::{Engine, Tx, View};
pub use knowledge::chunks::{IndexInfo, MAX_DIMS, MAX_LABELS, MAX_TEXT_BYTES, NewKnowledge};
pub use knowledge::embedder::{Embedder, HashingEmbedder};
pub use knowledge::index::{CompactReport, KnowledgeIndexConfig};
pub use knowledge::maintenance::{FULL_PASS_ROUNDS, KnowledgeMaintenance, MaintenanceStatus};
pub use knowledge::search::{Hit, KnowledgeQuery, MAX_K, Metric, QueryInput, RRF_K, SearchMode};
pub use metering::money::{Bps, Currency, Money, split, split_chain};
pub use metering::plans::{LIMIT_NAMES, Limit, LimitUnit, Plan};
pub use metering::rate_limit::{
    Burst, FLUSH_CALLS, FLUSH_INTERVAL_MS, Gcra, GcraState, KeyCall, MAX_BURST, MAX_PER_SECOND,
    RateLimit,
};
pub use metering::revenue::{Payment, PaymentRail, RevenueReport, RevenueSplit};
pub use metering::usage::{CycleStage, ResourceUsage};
pub use one_storage::vectors::IndexParams;
pub use one_vocabulary::records::search::MAX_QUERY_WORDS;
pub use one_vocabulary::{Failure, Request, Response, RunsIn};
pub use operations::check::{CheckReport, MAX_LISTED_PROBLEMS, Problem};
pub use operations::execute::MAX_BATCH_STEPS;
pub use operations::feed::{ChangeFilter, Changes, FEED_BACKLOG, MAX_FILTERS, Subscription};
pub use operations::portable::{
    EXPORT_FORMAT, EXPORT_VERSION, ImportInto, MAX_IMPORT_SKEW_MS, PortableReport,
};
pub use operations::stats::{Counts, Stats};
pub use plugins::{PluginInfo, PluginRuntime};
pub use records::connection::{Connection, MEMBER_OF, SESSION};
pub use records::event::Dimension;
pub use records::event::{Event, NewEvent, kinds};
pub use records::filter::{FieldPath, Fields, Filter, Op};
pub use records::group::{Group, GroupStatus, GroupType, MAX_DEPTH};
pub use records::index::IndexDef;
pub use records::key::KeyRate;
pub use records::key::{ApiKey, IpRange, KeyStatus, MAX_ALLOWED_RANGES};
pub use records::knowledge::Knowledge;
pub use records::person::{MAX_EMAIL_BYTES, PERSON, normalize_email};
pub use records::text::MAX_WORD_BYTES;
pub use records::thing::{Thing, ThingStatus};
