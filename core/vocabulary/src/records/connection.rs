//! Connections: typed, directed relationships with metadata.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::id::{ConnectionId, GroupId, Ref};
use crate::page::Cursor;
use crate::value::Value;

/// The connection type of memberships.
pub const MEMBER_OF: &str = "member_of";

/// The connection type of sign-in sessions (from a person to a group).
pub const SESSION: &str = "session";

/// A connection, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Connection {
    /// Its id.
    pub id: ConnectionId,
    /// Where it starts.
    pub from: Ref,
    /// Where it ends.
    pub to: Ref,
    /// The relationship type (`owns`, `purchased`, `member_of`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// Details (a map).
    pub metadata: Value,
    /// The group it belongs to.
    pub group: GroupId,
    /// When it was made.
    pub created_at: Timestamp,
}

/// What a new connection needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConnection {
    /// The node it starts from.
    pub from: Ref,
    /// The node it points to.
    pub to: Ref,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Metadata (a map).
    #[serde(default = "Value::map")]
    pub metadata: Value,
    /// The group it goes in; `None` is the context's group.
    #[serde(default)]
    pub group: Option<GroupId>,
}

impl NewConnection {
    /// A `kind` connection from `from` to `to` (each a group or a thing).
    pub fn new(from: impl Into<Ref>, kind: impl Into<String>, to: impl Into<Ref>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
            kind: kind.into(),
            metadata: Value::map(),
            group: None,
        }
    }

    /// Sets the metadata (a map).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Puts the connection in another group of the context's scope.
    pub fn in_group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }
}

/// Which way to follow connections from a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EdgeDirection {
    /// Connections that start at the node. The default.
    #[default]
    Outgoing,
    /// Connections that end at the node.
    Incoming,
}

impl EdgeDirection {
    /// Both directions, in declaration order.
    pub const ALL: [EdgeDirection; 2] = [EdgeDirection::Outgoing, EdgeDirection::Incoming];

    /// The lower-case name (`outgoing`, `incoming`).
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeDirection::Outgoing => "outgoing",
            EdgeDirection::Incoming => "incoming",
        }
    }
}

impl std::str::FromStr for EdgeDirection {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        EdgeDirection::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| {
                crate::Error::invalid(
                    "direction",
                    format!("{s:?} is not one of outgoing or incoming"),
                )
            })
    }
}

crate::text_form::named_in_json!(EdgeDirection);

/// A query for one node's connections, oldest first within each type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectionQuery {
    /// The node whose connections are listed.
    pub node: Ref,
    /// Which of the node's connections: outgoing (the default) or incoming.
    #[serde(default)]
    pub direction: EdgeDirection,
    /// Only connections of this type; all types when `None`.
    #[serde(rename = "type")]
    #[serde(default)]
    pub kind: Option<String>,
    /// The page size: [`DEFAULT_PAGE`](crate::page::DEFAULT_PAGE) when `None`, at most [`MAX_PAGE`](crate::page::MAX_PAGE).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Resume after the page that returned this cursor (`after` in JSON).
    #[serde(default, rename = "after")]
    pub cursor: Option<Cursor>,
}

impl ConnectionQuery {
    /// Connections that start at `node`.
    pub fn outgoing(node: impl Into<Ref>) -> Self {
        Self {
            node: node.into(),
            direction: EdgeDirection::Outgoing,
            kind: None,
            limit: None,
            cursor: None,
        }
    }

    /// Connections that end at `node`.
    pub fn incoming(node: impl Into<Ref>) -> Self {
        Self {
            direction: EdgeDirection::Incoming,
            ..Self::outgoing(node)
        }
    }

    /// Only connections of type `kind`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// At most `n` connections (default 50, at most 1000).
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

/// A query for the connections of a group (or of a group and the groups below it), by
/// type, creation time and metadata: oldest first within each type, types in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupConnectionQuery {
    /// Only connections of this type; every type when `None`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The group read; `None` is the context's group.
    #[serde(default)]
    pub group: Option<GroupId>,
    /// Whether the groups below are read too (those the context may read connections in).
    #[serde(default)]
    pub include_children: bool,
    /// Only connections made at or after this time (milliseconds).
    #[serde(default)]
    pub since: Option<Timestamp>,
    /// Only connections made before this time (milliseconds).
    #[serde(default)]
    pub until: Option<Timestamp>,
    /// Conditions on `created_at` and `metadata.<key>` (the filter language of things).
    #[serde(default)]
    pub filter: crate::records::filter::Filter,
    /// Whether the newest come first.
    #[serde(default)]
    pub descending: bool,
    /// The page size: [`DEFAULT_PAGE`](crate::page::DEFAULT_PAGE) when `None`, at most [`MAX_PAGE`](crate::page::MAX_PAGE).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Resume after the page that returned this cursor (`after` in JSON).
    #[serde(default, rename = "after")]
    pub cursor: Option<Cursor>,
}

impl GroupConnectionQuery {
    /// Every connection of the context's group.
    pub fn new() -> Self {
        Self {
            kind: None,
            group: None,
            include_children: false,
            since: None,
            until: None,
            filter: crate::records::filter::Filter::new(),
            descending: false,
            limit: None,
            cursor: None,
        }
    }

    /// Only connections of type `kind`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Reads another group of the context's scope.
    pub fn group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }

    /// Also reads the groups below, where the context may read connections.
    pub fn include_children(mut self) -> Self {
        self.include_children = true;
        self
    }

    /// Only connections made in `since..until` (either end open when `None`).
    pub fn made(mut self, since: Option<Timestamp>, until: Option<Timestamp>) -> Self {
        self.since = since;
        self.until = until;
        self
    }

    /// Keeps only connections that match `filter`.
    pub fn filter(mut self, filter: crate::records::filter::Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Newest first.
    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    /// At most `n` connections (default 50, at most 1000).
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

impl Default for GroupConnectionQuery {
    fn default() -> Self {
        Self::new()
    }
}
