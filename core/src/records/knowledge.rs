//! Knowledge chunks as stored: text with labels, a source and an embedding.
//!
//! Adding, searching and indexing them is in `knowledge/`.

use serde::{Deserialize, Serialize};

use crate::base::clock::Timestamp;
use crate::base::codec::Record;
use crate::base::id::Ref;
use crate::base::id::{GroupId, KnowledgeId};
use crate::base::value::Value;
/// A knowledge chunk, as stored (its vector is stored beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Knowledge {
    /// Its id.
    pub id: KnowledgeId,
    /// The group it belongs to.
    pub group: GroupId,
    /// The text.
    pub text: String,
    /// Labels, sorted and unique (`[a-z0-9][a-z0-9_:.-]*`).
    pub labels: Vec<String>,
    /// Where it came from: a thing (a document, a person) or a group.
    pub source: Option<Ref>,
    /// Free-form metadata (a map).
    pub metadata: Value,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Record for Knowledge {
    const NAME: &'static str = "knowledge";
    const VERSION: u8 = 1;
}
