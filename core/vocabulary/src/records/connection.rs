//! Connections: typed, directed relationships with metadata.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::id::{ConnectionId, GroupId, Ref};
use crate::value::Value;

/// The connection type of memberships.
pub const MEMBER_OF: &str = "member_of";

/// The connection type of sign-in sessions (from a person to a group).
pub const SESSION: &str = "session";

/// A connection, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
