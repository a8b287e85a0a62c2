//! Pages of results and the cursors that resume them, shared by every list query.
//!
//! A cursor is opaque to callers: the engine writes into it the key of the last item
//! returned, relative to the query's own key prefix, so a cursor can never move a scan
//! outside the range its query may read.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The most items one page may hold.
pub const MAX_PAGE: usize = 1000;
/// The page size when none is given.
pub const DEFAULT_PAGE: usize = 50;

/// Where the next page starts. Opaque; pass it back unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Cursor(String);

impl Cursor {
    /// The cursor's text, to hand to a client.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A cursor from text a client sent back. It is checked when used.
    pub fn from_text(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    /// The cursor that resumes after the key whose part below the query's prefix is
    /// `suffix`.
    pub fn from_key_suffix(suffix: &[u8]) -> Self {
        let mut s = String::with_capacity(1 + 2 * suffix.len());
        s.push('c');
        for b in suffix {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }

    /// The key suffix written into the cursor, or [`Error::InvalidCursor`].
    pub fn key_suffix(&self) -> Result<Vec<u8>> {
        let bad = |reason: &str| Error::InvalidCursor {
            reason: reason.to_string(),
        };
        let hex = self
            .0
            .strip_prefix('c')
            .ok_or_else(|| bad("does not start with `c`"))?;
        if hex.len() % 2 != 0 {
            return Err(bad("odd number of hex digits"));
        }
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad("not hexadecimal"))
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One page of results and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "PageOf{T}")]
pub struct Page<T> {
    /// The items, in the query's order.
    pub items: Vec<T>,
    /// The cursor for the next page, if there are more items.
    pub next: Option<Cursor>,
}

/// Checks a requested page size: `None` means [`DEFAULT_PAGE`].
pub fn page_size(limit: Option<usize>) -> Result<usize> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(n) => Err(Error::invalid(
            "limit",
            format!("{n} is outside 1..={MAX_PAGE}"),
        )),
    }
}
