//! How an engine is put together: the one place that names every feature.
//!
//! The kernel (`kernel/`) runs transactions and knows no feature; each feature keeps
//! its state in a part and does its work through hooks, and installs both here. The
//! order below is the order hooks run in: access first (the cache is forgotten and
//! denials are logged before anything else a transaction left), then metering, then
//! plugin reactions, which are new transactions of their own.

use std::sync::Arc;

use one_storage::Store;

use crate::kernel::{Engine, Parts};
use crate::{Clock, Result};

impl Engine {
    /// An engine over `store`, taking time from `clock`.
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Result<Self> {
        let mut parts = Parts::default();
        let mut hooks = crate::access::memberships::install(&mut parts);
        crate::identity::credentials::install(&mut parts, &mut hooks);
        crate::identity::sign_in::install(&mut parts);
        crate::operations::feed::install(&mut parts, &mut hooks);
        crate::metering::usage::install(&mut hooks);
        crate::dimensions::groups::install(&mut hooks);
        crate::records::upgrade::install(&mut hooks);
        crate::records::index::install(&mut parts);
        crate::records::text::install(&mut parts, &mut hooks);
        crate::metering::rate_limit::install(&mut parts, &mut hooks);
        crate::knowledge::index::install(&mut parts);
        crate::plugins::install(&mut parts, &mut hooks);
        Engine::assemble(store, clock, parts, hooks)
    }
}
