//! Groups: the hierarchical tenants. A group without a parent is a root, a tenant;
//! children nest under a parent of the same tenant.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::id::GroupId;
use crate::value::Value;
use crate::{Error, Result};

/// How deep a group tree may nest. Deeper chains are refused when a group is created or
/// moved, so every walk up the tree is bounded.
pub const MAX_DEPTH: usize = 64;

/// The kinds of group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GroupType {
    /// A few people who know each other.
    FriendCircle,
    /// A company.
    Business,
    /// A community.
    Community,
    /// A decentralised autonomous organisation.
    Dao,
    /// A government body.
    Government,
    /// An organisation: the usual top-level tenant.
    Organization,
}

impl GroupType {
    /// Every group type.
    pub const ALL: [GroupType; 6] = [
        GroupType::FriendCircle,
        GroupType::Business,
        GroupType::Community,
        GroupType::Dao,
        GroupType::Government,
        GroupType::Organization,
    ];

    /// The snake_case name (`friend_circle`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::FriendCircle => "friend_circle",
            GroupType::Business => "business",
            GroupType::Community => "community",
            GroupType::Dao => "dao",
            GroupType::Government => "government",
            GroupType::Organization => "organization",
        }
    }
}

impl std::str::FromStr for GroupType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        GroupType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::invalid("type", format!("{s:?} is not a group type")))
    }
}

/// A group's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GroupStatus {
    /// Being set up.
    Draft,
    /// In use. The default.
    #[default]
    Active,
    /// Read-only: it accepts no new things, connections, people or child groups.
    Archived,
}

impl GroupStatus {
    /// The lower-case name (`draft`, `active`, `archived`).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Draft => "draft",
            GroupStatus::Active => "active",
            GroupStatus::Archived => "archived",
        }
    }
}

/// A group, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// The parent, or `None` for a top-level group (a tenant).
    pub parent: Option<GroupId>,
    /// Its kind.
    pub kind: GroupType,
    /// Display name.
    pub name: String,
    /// URL-safe name, unique among siblings.
    pub slug: String,
    /// Lifecycle state.
    pub status: GroupStatus,
    /// A map with the well-known keys `domain`, `logo`, `description`, `plan` (strings),
    /// `limits`, `usage`, `settings` (maps), `plan` (see [`crate::Plan`]) and
    /// `revenue_share_bps` (basis points, see [`crate::Bps`]),
    /// and any others the application wants.
    pub properties: Value,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}
