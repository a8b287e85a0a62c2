//! Connections as stored: typed, directed relationships with metadata, found from
//! either end or from their group.
//!
//! Making and removing them is in `dimensions/connections.rs`.

pub use one_vocabulary::records::connection::*;

use crate::base::codec::Record;

use crate::base::layout::TenantKeys;

impl Record for Connection {
    const NAME: &'static str = "connection";
    const VERSION: u8 = 1;
}

/// The copies of a connection's record that find it: its outgoing edge from `from`, its
/// incoming edge to `to`, and its entry in its group's list (by type, then creation
/// time). Each holds the record.
pub(crate) fn copy_keys(keys: &TenantKeys, c: &Connection) -> [Vec<u8>; 3] {
    [
        keys.edge(true, c.from, &c.kind, c.to, c.id),
        keys.edge(false, c.to, &c.kind, c.from, c.id),
        keys.group_connection(c.group, &c.kind, c.created_at, c.id),
    ]
}
