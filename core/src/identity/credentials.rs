//! The credentials found valid: API keys and session tokens by digest, each with the
//! context it acts as, valid for one version of access data.
//!
//! Verifying a presented secret reads its record; the answer is kept here until a
//! transaction changes access data (a revoked key or an ended session holds from the
//! next call in any thread). An answer read from a snapshot older than the current
//! version is never stored. Time- and address-dependent checks are made on every use.

use std::sync::Arc;

use crate::base::clock::Timestamp;
use crate::base::context::Context;
use crate::base::secret::SecretDigest;
use crate::kernel::{Hooks, Parts, Versioned};
use crate::metering::rate_limit::KeyQuota;
use crate::records::key::IpRange;

/// What a presented secret (an API key or a session token) was found to be, for the
/// epoch it was read in. Time- and address-dependent checks are made on every use.
#[derive(Debug, Clone)]
pub(crate) struct Credential {
    /// The context the secret acts as.
    pub(crate) ctx: Context,
    /// When it stops working.
    pub(crate) expires_at: Option<Timestamp>,
    /// Where it may be used from (API keys); empty for anywhere.
    pub(crate) allowed_ips: Arc<[IpRange]>,
    /// What admitting an API key's calls needs (`None` for sessions).
    pub(crate) quota: Option<Arc<KeyQuota>>,
}

/// The credentials found valid, for the current version of access data.
#[derive(Debug, Default)]
pub(crate) struct Credentials(Versioned<SecretDigest, Credential>);

impl Credentials {
    /// The current version; read it before taking the snapshot a secret is verified on.
    pub(crate) fn epoch(&self) -> u64 {
        self.0.version()
    }

    /// A secret found valid in the current version.
    pub(crate) fn get(&self, digest: &SecretDigest) -> Option<Credential> {
        self.0.get(digest)
    }

    /// Remembers a valid secret, if no access data changed since `epoch`.
    pub(crate) fn insert(&self, digest: SecretDigest, c: Credential, epoch: u64) {
        self.0.insert(digest, c, epoch);
    }
}

/// Installs the credential cache, forgotten whenever access data changes.
pub(crate) fn install(parts: &mut Parts, hooks: &mut Hooks) {
    parts.insert(Credentials::default());
    hooks
        .forget
        .push(|engine| engine.part::<Credentials>().0.invalidate());
}
