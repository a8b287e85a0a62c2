//! API keys as stored: a tenant's credentials for applications, with their permissions,
//! limits and where they may be used from.
//!
//! Making, listing, revoking and verifying keys is in `identity/keys.rs`; what a key may
//! do is decided in `access/`.

pub use one_vocabulary::records::key::*;

use one_storage::KvRead;

use crate::Result;
use crate::base::codec::Record;
use crate::base::id::KeyId;
use crate::base::secret::SecretDigest;
use crate::kernel::View;
use serde::{Deserialize, Serialize};

/// An API key as stored: its public record and the SHA-256 of its secret. The digest is
/// the last field, so the stored bytes are the record's followed by the digest's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StoredKey {
    /// What callers see.
    pub(crate) key: ApiKey,
    /// The SHA-256 of its secret.
    pub(crate) digest: SecretDigest,
}

impl std::ops::Deref for StoredKey {
    type Target = ApiKey;
    fn deref(&self) -> &ApiKey {
        &self.key
    }
}

impl Record for StoredKey {
    const NAME: &'static str = "api key";
    const VERSION: u8 = 1;
}

impl<K: KvRead> View<'_, K> {
    /// The key `id` of this tenant, unchecked.
    pub(crate) fn load_api_key(&self, id: KeyId) -> Result<Option<StoredKey>> {
        self.get_record(&self.scope.structure.api_key(id))
    }
}
