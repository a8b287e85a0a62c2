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
use crate::kernel::View;

impl Record for ApiKey {
    const NAME: &'static str = "api key";
    const VERSION: u8 = 1;
}

impl<K: KvRead> View<'_, K> {
    /// The key `id` of this tenant, unchecked.
    pub(crate) fn load_api_key(&self, id: KeyId) -> Result<Option<ApiKey>> {
        self.get_record(&self.scope.structure.api_key(id))
    }
}
