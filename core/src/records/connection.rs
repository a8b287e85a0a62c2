//! Connections as stored: typed, directed relationships with metadata, found from
//! either end.
//!
//! Making and removing them is in `dimensions/connections.rs`.

use serde::{Deserialize, Serialize};

use crate::base::clock::Timestamp;
use crate::base::codec::Record;
use crate::base::id::{ConnectionId, GroupId, Ref};
use crate::base::layout::TenantKeys;
use crate::base::value::Value;

/// The connection type of memberships.
pub const MEMBER_OF: &str = "member_of";

/// The connection type of sign-in sessions (from a person to a group).
pub const SESSION: &str = "session";

/// A connection, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Connection {
    /// Its id.
    pub id: ConnectionId,
    /// Where it starts.
    pub from: Ref,
    /// Where it ends.
    pub to: Ref,
    /// The relationship type (`owns`, `purchased`, `member_of`, …).
    pub kind: String,
    /// Details (a map).
    pub metadata: Value,
    /// The group it belongs to.
    pub group: GroupId,
    /// When it was made.
    pub created_at: Timestamp,
}

impl Record for Connection {
    const NAME: &'static str = "connection";
    const VERSION: u8 = 1;
}

/// The two edge entries of a connection (outgoing from `from`, incoming to `to`), each
/// holding a copy of its record.
pub(crate) fn edge_keys(keys: &TenantKeys, c: &Connection) -> [Vec<u8>; 2] {
    [
        keys.edge(true, c.from, &c.kind, c.to, c.id),
        keys.edge(false, c.to, &c.kind, c.from, c.id),
    ]
}
