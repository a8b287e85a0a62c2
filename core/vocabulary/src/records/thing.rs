//! Things: typed entities with free-form properties.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::id::{GroupId, ThingId};
use crate::page::Cursor;
use crate::records::filter::Filter;
use crate::value::Value;

/// A thing's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
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

crate::text_form::named_in_json!(ThingStatus);

impl std::str::FromStr for ThingStatus {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        ThingStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                crate::Error::invalid(
                    "status",
                    format!("{s:?} is not one of draft, active, archived or deleted"),
                )
            })
    }
}

impl ThingStatus {
    /// Every status, in declaration order.
    pub const ALL: [ThingStatus; 4] = [
        ThingStatus::Draft,
        ThingStatus::Active,
        ThingStatus::Archived,
        ThingStatus::Deleted,
    ];

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Thing {
    /// Its id.
    pub id: ThingId,
    /// The group it belongs to.
    pub group: GroupId,
    /// Its type.
    #[serde(rename = "type")]
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

/// What a new thing needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewThing {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Display name.
    pub name: String,
    /// Properties (a map).
    #[serde(default = "Value::map")]
    pub properties: Value,
    /// The initial status.
    #[serde(default)]
    pub status: ThingStatus,
    /// The group it goes in; `None` is the context's group.
    #[serde(default)]
    pub group: Option<GroupId>,
}

impl NewThing {
    /// A thing of type `kind` named `name`, in the context's group.
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            name: name.into(),
            properties: Value::map(),
            status: ThingStatus::Active,
            group: None,
        }
    }

    /// Sets all properties (a map).
    pub fn properties(mut self, properties: Value) -> Self {
        self.properties = properties;
        self
    }

    /// Sets one property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties = self.properties.with(key, value);
        self
    }

    /// Sets the initial status (default active; not deleted).
    pub fn status(mut self, status: ThingStatus) -> Self {
        self.status = status;
        self
    }

    /// Puts the thing in another group of the context's scope.
    pub fn in_group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }
}

/// A change to a thing; fields left `None` stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThingUpdate {
    /// A new name.
    #[serde(default)]
    pub name: Option<String>,
    /// A merge patch for the properties: `null` removes a key.
    #[serde(default)]
    pub properties: Option<Value>,
    /// A new status.
    #[serde(default)]
    pub status: Option<ThingStatus>,
}

impl ThingUpdate {
    /// Renames the thing.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Merges `patch` into the properties (JSON merge patch: `null` removes a key).
    pub fn properties(mut self, patch: Value) -> Self {
        self.properties = Some(patch);
        self
    }

    /// Sets one property (a one-key merge patch).
    pub fn property(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties = Some(self.properties.take().unwrap_or_default().with(key, value));
        self
    }

    /// Changes the status (use `Tx::delete_thing` to delete).
    pub fn status(mut self, status: ThingStatus) -> Self {
        self.status = Some(status);
        self
    }
}

/// The order of a list of things.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ThingOrder {
    /// By creation, oldest first (`"created"`).
    Created,
    /// By last change, least recently changed first (`"updated"`).
    Updated,
    /// By a property with a declared index, smallest first: booleans, then numbers, then
    /// strings (`{"property": "price"}`). Needs the list's type. Things without a
    /// boolean, number or string at that path are not in such a list.
    Property(String),
}

/// A query for things of a group, or of a group and the groups below it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThingQuery {
    /// The type of things listed; every type when `None`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The group read; `None` is the context's group.
    #[serde(default)]
    pub group: Option<GroupId>,
    /// Whether the groups below are listed too (those the context may read things in).
    #[serde(default)]
    pub include_children: bool,
    /// Conditions the things must match.
    #[serde(default)]
    pub filter: Filter,
    /// The order; when `None`, oldest first, unless a declared index serves the filter
    /// (then by the indexed value).
    #[serde(default)]
    pub order: Option<ThingOrder>,
    /// Whether the order is reversed (newest, latest changed or largest first).
    #[serde(default)]
    pub descending: bool,
    /// The page size: [`DEFAULT_PAGE`](crate::page::DEFAULT_PAGE) when `None`, at most [`MAX_PAGE`](crate::page::MAX_PAGE).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Resume after the page that returned this cursor (`after` in JSON).
    #[serde(default, rename = "after")]
    pub cursor: Option<Cursor>,
}

impl ThingQuery {
    /// Things of type `kind` in the context's group.
    pub fn of_type(kind: impl Into<String>) -> Self {
        Self {
            kind: Some(kind.into()),
            ..Self::all()
        }
    }

    /// Things of every type in the context's group.
    pub fn all() -> Self {
        Self {
            kind: None,
            group: None,
            include_children: false,
            filter: Filter::new(),
            order: None,
            descending: false,
            limit: None,
            cursor: None,
        }
    }

    /// Also lists the groups below, where the context may read things.
    pub fn include_children(mut self) -> Self {
        self.include_children = true;
        self
    }

    /// Lists in `order`.
    pub fn order(mut self, order: ThingOrder) -> Self {
        self.order = Some(order);
        self
    }

    /// Reverses the order.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    /// Reads another group of the context's scope.
    pub fn group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }

    /// Keeps only things that match `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// At most `n` things (default 50, at most 1000).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Continues after a previous page.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }
}
