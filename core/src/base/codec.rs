//! How records are stored: one version byte, then postcard.
//!
//! postcard is not self-describing and a struct's layout is frozen once written (adding a
//! field breaks reading old bytes), so every stored value starts with the format version
//! of its record type. A reader that meets a version it does not know fails with
//! [`Error::UnsupportedVersion`] instead of misreading. To change a record, add a new
//! version, keep the old layout as a frozen struct, and migrate on read. `core/FORMAT.md`
//! lists every version.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A type stored as a versioned record.
pub(crate) trait Record: Serialize + DeserializeOwned {
    /// The record's name in errors.
    const NAME: &'static str;
    /// The format version written now.
    const VERSION: u8;
}

/// Lower-case hexadecimal text of `bytes` (digests in events, module bytes in exports).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of hexadecimal text (either case); `None` if it is not an even number of
/// hex digits.
pub(crate) fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
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
    decode_prefix::<R, R>(bytes)
}

/// Decodes the leading fields of a record of type `R` written by [`encode`] as `P` (a
/// struct of `R`'s first fields, in order, that is never stored), leaving the rest of the
/// record unread: what a check of a large record needs of it.
pub(crate) fn decode_prefix<R: Record, P: DeserializeOwned>(bytes: &[u8]) -> Result<P> {
    decode_in::<R, P>(bytes)
}

/// [`decode_prefix`] into a `P` that borrows from `bytes` (its strings, and values as
/// [`crate::base::value::ValueRef`]): nothing of the record is copied out that `P` does
/// not keep.
pub(crate) fn decode_in<'a, R: Record, P: Deserialize<'a>>(bytes: &'a [u8]) -> Result<P> {
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
