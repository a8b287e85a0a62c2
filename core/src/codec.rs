//! How records are stored: one version byte, then postcard.
//!
//! postcard is not self-describing and a struct's layout is frozen once written (adding a
//! field breaks reading old bytes), so every stored value starts with the format version
//! of its record type. A reader that meets a version it does not know fails with
//! [`Error::UnsupportedVersion`] instead of misreading. To change a record, add a new
//! version, keep the old layout as a frozen struct, and migrate on read. `core/FORMAT.md`
//! lists every version.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Error, Result};

/// A type stored as a versioned record.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// The record's name in errors.
    const NAME: &'static str;
    /// The format version written now.
    const VERSION: u8;
}

/// Encodes `record` with its version byte.
pub(crate) fn encode<R: Record>(record: &R) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    out.push(R::VERSION);
    postcard::to_extend(record, out).map_err(|e| Error::Corrupt {
        what: R::NAME,
        reason: format!("cannot encode: {e}"),
    })
}

/// Decodes a record written by [`encode`].
pub(crate) fn decode<R: Record>(bytes: &[u8]) -> Result<R> {
    match bytes.split_first() {
        Some((&v, body)) if v == R::VERSION => {
            postcard::from_bytes(body).map_err(|e| Error::Corrupt {
                what: R::NAME,
                reason: e.to_string(),
            })
        }
        Some((&version, _)) => Err(Error::UnsupportedVersion {
            record: R::NAME,
            version,
        }),
        None => Err(Error::Corrupt {
            what: R::NAME,
            reason: "empty record".into(),
        }),
    }
}
