//! Groups: the hierarchical tenants. A group without a parent is a root, a tenant;
//! children nest under a parent of the same tenant.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::id::GroupId;
use crate::value::Value;
use crate::{Error, Result};

/// How deep a group tree may nest. Deeper chains are refused when a group is created or
/// moved, so every walk up the tree is bounded.
pub const MAX_DEPTH: usize = 64;

/// The kinds of group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
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

crate::text_form::named_in_json!(GroupType);
crate::text_form::named_in_json!(GroupStatus);

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum GroupStatus {
    /// Being set up.
    Draft,
    /// In use. The default.
    #[default]
    Active,
    /// Read-only: it accepts no new things, connections, people or child groups.
    Archived,
}

impl std::str::FromStr for GroupStatus {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        GroupStatus::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "status",
                    format!("{s:?} is not one of draft, active or archived"),
                )
            })
    }
}

impl GroupStatus {
    /// Every status, in declaration order.
    pub const ALL: [GroupStatus; 3] = [
        GroupStatus::Draft,
        GroupStatus::Active,
        GroupStatus::Archived,
    ];

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// The parent, or `None` for a top-level group (a tenant).
    pub parent: Option<GroupId>,
    /// Its kind.
    #[serde(rename = "type")]
    pub kind: GroupType,
    /// Display name.
    pub name: String,
    /// URL-safe name, unique among siblings.
    pub slug: String,
    /// Lifecycle state.
    pub status: GroupStatus,
    /// A map with the well-known keys `domain`, `logo`, `description`, `plan` (strings),
    /// `limits`, `usage`, `settings` (maps), `plan` (see `Plan`) and
    /// `revenue_share_bps` (basis points, see `Bps`),
    /// and any others the application wants.
    pub properties: Value,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// What a new group needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroup {
    /// Its kind of group.
    #[serde(rename = "type")]
    pub kind: GroupType,
    /// Display name.
    pub name: String,
    /// URL-safe name, unique among siblings.
    pub slug: String,
    /// The initial status.
    #[serde(default)]
    pub status: GroupStatus,
    /// Properties (a map).
    #[serde(default = "Value::map")]
    pub properties: Value,
}

impl NewGroup {
    /// A group of `kind` named `name`, with URL name `slug`.
    pub fn new(kind: GroupType, name: impl Into<String>, slug: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            slug: slug.into(),
            status: GroupStatus::Active,
            properties: Value::map(),
        }
    }

    /// Sets the properties (a map).
    pub fn properties(mut self, properties: Value) -> Self {
        self.properties = properties;
        self
    }

    /// Sets the initial status (default active).
    pub fn status(mut self, status: GroupStatus) -> Self {
        self.status = status;
        self
    }
}

/// A change to a group; fields left `None` stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupUpdate {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A new slug.
    #[serde(default)]
    pub slug: Option<String>,
    /// A new parent in the same tenant: moves the group.
    #[serde(default)]
    pub parent: Option<GroupId>,
    /// A new status.
    #[serde(default)]
    pub status: Option<GroupStatus>,
    /// A merge patch for the properties: `null` removes a key.
    #[serde(default)]
    pub properties: Option<Value>,
}

impl GroupUpdate {
    /// Renames the group.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Changes the slug.
    pub fn slug(mut self, slug: impl Into<String>) -> Self {
        self.slug = Some(slug.into());
        self
    }

    /// Moves the group under another parent of the same tenant.
    pub fn parent(mut self, parent: GroupId) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Changes the status.
    pub fn status(mut self, status: GroupStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Merges `patch` into the properties (JSON merge patch: `null` removes a key).
    pub fn properties(mut self, patch: Value) -> Self {
        self.properties = Some(patch);
        self
    }
}
