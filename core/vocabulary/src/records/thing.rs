//! Things: typed entities with free-form properties.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::id::{GroupId, ThingId};
use crate::value::Value;

/// A thing's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ThingStatus {
    /// Not published yet.
    Draft,
    /// In use. The default.
    #[default]
    Active,
    /// Kept but retired.
    Archived,
    /// Deleted: readable by id for audit, absent from lists, unchangeable.
    Deleted,
}

impl ThingStatus {
    /// The lower-case name, as filters see it.
    pub fn as_str(self) -> &'static str {
        match self {
            ThingStatus::Draft => "draft",
            ThingStatus::Active => "active",
            ThingStatus::Archived => "archived",
            ThingStatus::Deleted => "deleted",
        }
    }
}

/// A thing, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    /// Its id.
    pub id: ThingId,
    /// The group it belongs to.
    pub group: GroupId,
    /// Its type.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Free-form properties (a map).
    pub properties: Value,
    /// Lifecycle state.
    pub status: ThingStatus,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}
