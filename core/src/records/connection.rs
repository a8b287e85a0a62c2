//! Connections as stored: typed, directed relationships with metadata, found from
//! either end.
//!
//! Making and removing them is in `dimensions/connections.rs`.

pub use one_vocabulary::records::connection::*;

use crate::base::codec::Record;
use crate::base::layout::TenantKeys;

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
