//! Connections as stored: typed, directed relationships with metadata, found from
//! either end or from their group.
//!
//! Making and removing them is in `dimensions/connections.rs`.

pub use one_vocabulary::records::connection::*;

use one_storage::KvRead;

use crate::base::codec::{self, Record};
use crate::base::id::{ConnectionId, GroupId, Ref};
use crate::base::layout::TenantKeys;
use crate::base::value::ValueRef;
use crate::kernel::View;
use crate::records::thing::{Thing, ThingHead, ThingPlace, ThingStatus};
use crate::{Error, Result};

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

/// A stored connection's fields up to its metadata, read in place
/// ([`codec::decode_in`] of a [`Connection`]): what a check of a membership needs,
/// without copying its metadata out.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ConnectionHead<'a> {
    _id: ConnectionId,
    _from: Ref,
    pub(crate) to: Ref,
    _kind: &'a str,
    #[serde(borrow)]
    pub(crate) metadata: ValueRef<'a>,
}

/// An end of a connection, as found: the group it is in (itself, for a group), its type
/// (`group`, or the thing's), and whether it is a deleted thing.
pub(crate) struct Node {
    pub(crate) group: GroupId,
    pub(crate) kind: String,
    pub(crate) deleted: bool,
}

/// The type name of a group end, as connection types declare their ends.
pub(crate) const GROUP_END: &str = "group";

impl<K: KvRead> View<'_, K> {
    /// The group of `node`, a group or a thing that must exist in the context's scope
    /// ([`Error::NotFound`] for `node` otherwise, as [`View::check_node`] says): the
    /// thing's properties are not read.
    pub(crate) fn node_group(&self, node: Ref) -> Result<GroupId> {
        let Ref::ThingId(t) = node else {
            return self.check_node(node, true).map(|n| n.group);
        };
        let place: ThingPlace = self
            .kv
            .get_with(
                &self.scope.tenant.thing(t),
                codec::decode_prefix::<Thing, _>,
            )?
            .transpose()?
            .ok_or_else(|| Error::not_found(t))?;
        if self.ensure_scope(place.group).is_err() {
            return Err(Error::not_found(t));
        }
        Ok(place.group)
    }

    /// Checks that a group or thing exists in this tenant; with `scoped`, that it is in
    /// the context's scope too.
    pub(crate) fn check_node(&self, node: Ref, scoped: bool) -> Result<Node> {
        let group = |group| Node {
            group,
            kind: GROUP_END.to_string(),
            deleted: false,
        };
        match node {
            Ref::GroupId(g) if scoped => self.check_scope(g).map(|_| group(g)),
            Ref::GroupId(g) => self.load_group(g).map(|_| group(g)),
            Ref::ThingId(t) => {
                let node = self
                    .kv
                    .get_with(&self.scope.tenant.thing(t), |bytes| {
                        codec::decode_in::<Thing, ThingHead>(bytes).map(|head| Node {
                            group: head.group,
                            deleted: head.status == ThingStatus::Deleted,
                            kind: head.kind.to_string(),
                        })
                    })?
                    .transpose()?
                    .ok_or_else(|| Error::not_found(t))?;
                if scoped && self.ensure_scope(node.group).is_err() {
                    return Err(Error::not_found(t));
                }
                Ok(node)
            }
            other => Err(Error::invalid(
                "node",
                format!(
                    "{other} is a {}; connections join groups and things",
                    other.kind()
                ),
            )),
        }
    }
}
