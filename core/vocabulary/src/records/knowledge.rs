//! Knowledge chunks: text with labels, a source and an embedding.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::id::Ref;
use crate::id::{GroupId, KnowledgeId};
use crate::value::Value;
/// A knowledge chunk, as stored (its vector is stored beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
