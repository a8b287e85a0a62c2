//! Connections: typed, directed relationships with metadata.
//!
//! A connection joins two records of the same tenant (groups or things) and belongs to a
//! group, by default the context's. Both directions are indexed (`o <from> <type> <to>` and
//! `i <to> <type> <from>`), so listing a node's outgoing or incoming connections of a type
//! is one range scan, never a scan of the group; each group also lists its connections
//! by type and creation time (`C <group> <type> <created>`), so "all purchases of this
//! group last week" is one range scan too. Metadata changes by merge patch. Deleting a connection removes it and its
//! index entries; its `connection_deleted` event keeps the record for audit.
//! `member_of` is reserved for memberships, made by [`Tx::add_member`].

pub use one_vocabulary::records::connection::{
    ConnectionQuery, EdgeDirection, GroupConnectionQuery, NewConnection,
};

use std::ops::Bound;

use one_storage::keys::KeyBuf;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::policy::Op;
use crate::base::clock::Timestamp;
use crate::base::codec;
use crate::base::id::{ConnectionId, GroupId, Ref};
use crate::base::layout::Counter;
use crate::base::page::{Page, Source, merged_page, order, page_size, scan_page};
use crate::base::permission::Permission;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Tx, View};
use crate::records::connection::Connection;
use crate::records::connection::MEMBER_OF;
use crate::records::connection::SESSION;
use crate::records::connection::copy_keys;
use crate::records::event::kinds;
use crate::{Error, Result};
impl<K: KvRead> View<'_, K> {
    /// The connection `id`, if the context can see its group. Needs `connections:read`
    /// there.
    pub fn get_connection(&self, id: ConnectionId) -> Result<Connection> {
        self.get_scoped(
            &self.scope.tenant.connection(id),
            id,
            Op::GetConnection,
            |c: &Connection| c.group,
        )
    }

    /// A node's connections in one direction, optionally of one type. Needs
    /// `connections:read` where the node is. Connections that
    /// belong to groups outside the context's scope, or where it lacks
    /// `connections:read`, are left out.
    pub fn connections(&self, query: &ConnectionQuery) -> Result<Page<Connection>> {
        if let Some(kind) = &query.kind {
            validate::type_name("kind", kind)?;
        }
        let group = self.node_group(query.node)?;
        self.authorize_record(Op::ListConnections, group, query.node)?;
        let outgoing = query.direction == EdgeDirection::Outgoing;
        let prefix = self
            .scope
            .tenant
            .edges(outgoing, query.node, query.kind.as_deref());
        scan_page(
            self.kv,
            &prefix,
            KeyRange::prefix(&prefix),
            Direction::Forward,
            query.cursor.as_ref(),
            page_size(query.limit)?,
            |_, record| {
                let c: Connection = codec::decode(record)?;
                Ok(self
                    .permits(c.group, Permission::ConnectionsRead)?
                    .then_some(c))
            },
        )
    }

    /// The connections of a group, and with `include_children` of every group below
    /// where the context may read connections, of the query's type, made in its time
    /// range, that match its filter: by type, then oldest first (newest first when
    /// `descending`). Each group's list is an index by type and creation time, so a type
    /// and a time range read only the matching slice. Needs `connections:read` in the
    /// group.
    pub fn group_connections(&self, query: &GroupConnectionQuery) -> Result<Page<Connection>> {
        if let Some(kind) = &query.kind {
            validate::type_name("type", kind)?;
        }
        query.filter.check_paths::<Connection>()?;
        if let (Some(since), Some(until)) = (query.since, query.until)
            && until < since
        {
            return Err(Error::invalid("until", "is before `since`"));
        }
        let group = query.group.unwrap_or(self.scope.ctx.group());
        self.authorize(Op::ListConnections, group)?;
        let limit = page_size(query.limit)?;
        let groups =
            self.groups_with(group, query.include_children, Permission::ConnectionsRead)?;
        let sources = groups
            .into_iter()
            .map(|g| match &query.kind {
                Some(kind) => {
                    let prefix = self.scope.tenant.group_connections_of(g, kind);
                    let at =
                        |t: Timestamp| KeyBuf::from_prefix(&prefix).u64(t.as_millis()).finish();
                    let mut range = KeyRange::prefix(&prefix);
                    if let Some(since) = query.since {
                        range.start = Bound::Included(at(since));
                    }
                    if let Some(until) = query.until {
                        range.end = Bound::Excluded(at(until));
                    }
                    Source { prefix, range }
                }
                None => {
                    let prefix = self.scope.tenant.group_connections(g);
                    Source {
                        range: KeyRange::prefix(&prefix),
                        prefix,
                    }
                }
            })
            .collect();
        merged_page(
            self.kv,
            sources,
            order(query.descending),
            query.cursor.as_ref(),
            limit,
            |_, record| {
                let c: Connection = codec::decode(record)?;
                let in_time = query.since.is_none_or(|s| c.created_at >= s)
                    && query.until.is_none_or(|u| c.created_at < u);
                Ok((in_time && query.filter.matches(&c)).then_some(c))
            },
        )
    }
}

impl Tx<'_, '_> {
    /// Connects two records of the tenant. `from` must be in the context's scope; `to` may
    /// be anywhere in the tenant. Needs `connections:write` in the connection's group.
    /// `member_of` and `session` connections are made by the membership and sign-in calls.
    pub fn connect(&mut self, new: NewConnection) -> Result<Connection> {
        validate::type_name("kind", &new.kind)?;
        if new.kind == MEMBER_OF || new.kind == SESSION {
            return Err(Error::invalid(
                "kind",
                format!(
                    "{} connections are made by the membership and sign-in calls",
                    new.kind
                ),
            ));
        }
        let metadata = validate::map_value("metadata", new.metadata)?;
        let group = new.group.unwrap_or(self.scope.ctx.group());
        let mut ends = [String::new(), String::new()];
        for (end, (node, scoped)) in ends.iter_mut().zip([(new.from, true), (new.to, false)]) {
            let found = self.view().check_node(node, scoped)?;
            if found.deleted {
                return Err(Error::ThingDeleted {
                    id: node.to_string(),
                });
            }
            *end = found.kind;
        }
        self.ensure_writable(group, Op::Connect)?;
        self.check_connection_type(&new.kind, Some([&ends[0], &ends[1]]), &metadata)?;
        self.insert_connection(new.from, new.to, &new.kind, metadata, group)
    }

    pub(crate) fn insert_connection(
        &mut self,
        from: Ref,
        to: Ref,
        kind: &str,
        metadata: Value,
        group: GroupId,
    ) -> Result<Connection> {
        let c = Connection {
            id: ConnectionId::from_u128(self.engine.next_id()),
            from,
            to,
            kind: kind.to_string(),
            metadata,
            group,
            created_at: self.now(),
        };
        // Both edge entries hold a copy of the record, so following edges reads no further.
        let bytes = codec::encode(&c)?;
        let keys = self.scope.tenant.clone();
        self.store_bytes(group, &keys.connection(c.id), &bytes, 1);
        self.put(keys.connection(c.id), bytes.as_slice())?;
        for edge in copy_keys(&keys, &c) {
            self.put(edge, bytes.as_slice())?;
        }
        self.count(group, Counter::Connections, 1);
        let meta = Value::map()
            .with("type", kind)
            .with("from", from.to_string())
            .with("to", to.to_string());
        self.log(
            kinds::CONNECTION_CREATED,
            group,
            Some(Ref::from(c.id)),
            meta,
        )?;
        Ok(c)
    }

    /// Deletes a connection and its index entries; its event keeps what it was. Needs
    /// `connections:write` in its group. Memberships and sessions end through their own
    /// calls.
    pub fn disconnect(&mut self, id: ConnectionId) -> Result<Connection> {
        let c = self.view().get_connection(id)?;
        if c.kind == MEMBER_OF || c.kind == SESSION {
            return Err(Error::invalid(
                "id",
                format!(
                    "{id} is a {} connection; use remove_member or sign_out",
                    c.kind
                ),
            ));
        }
        self.view()
            .authorize_record(Op::Disconnect, c.group, Ref::from(id))?;
        self.remove_connection(&c)?;
        let meta = Value::map()
            .with("type", c.kind.as_str())
            .with("from", c.from.to_string())
            .with("to", c.to.to_string())
            .with("metadata", c.metadata.clone());
        self.log(
            kinds::CONNECTION_DELETED,
            c.group,
            Some(Ref::from(id)),
            meta,
        )?;
        Ok(c)
    }

    /// Changes a connection's metadata by a merge patch (`null` removes a key); logs
    /// `connection_updated` with the patch. Needs `connections:write` in its group.
    /// Memberships change through `change_role`; sessions do not change.
    pub fn update_connection(&mut self, id: ConnectionId, patch: Value) -> Result<Connection> {
        let old = self.view().get_connection(id)?;
        if old.kind == MEMBER_OF || old.kind == SESSION {
            return Err(Error::invalid(
                "id",
                format!(
                    "{id} is a {} connection; memberships change with change_role, sessions do not change",
                    old.kind
                ),
            ));
        }
        self.view()
            .authorize_record(Op::UpdateConnection, old.group, Ref::from(id))?;
        self.ensure_writable(old.group, Op::UpdateConnection)?;
        if !matches!(patch, Value::Map(_)) {
            return Err(Error::invalid(
                "metadata",
                format!("a merge patch is a map, not a {}", patch.type_name()),
            ));
        }
        let mut c = old.clone();
        c.metadata.merge(patch.clone());
        c.metadata = validate::map_value("metadata", c.metadata)?;
        self.check_connection_type(&c.kind, None, &c.metadata)?;
        self.replace_connection(&c)?;
        let meta = Value::map()
            .with("type", c.kind.as_str())
            .with("metadata", patch);
        self.log(
            kinds::CONNECTION_UPDATED,
            c.group,
            Some(Ref::from(id)),
            meta,
        )?;
        Ok(c)
    }

    /// Deletes a connection's record and index entries; the caller logs the event.
    pub(crate) fn remove_connection(&mut self, c: &Connection) -> Result<()> {
        let keys = self.scope.tenant.clone();
        self.store_bytes(c.group, &keys.connection(c.id), &codec::encode(c)?, -1);
        self.delete(&keys.connection(c.id))?;
        for edge in copy_keys(&keys, c) {
            self.delete(&edge)?;
        }
        self.count(c.group, Counter::Connections, -1);
        Ok(())
    }

    /// Rewrites a connection's record and both edge copies (same id, ends and type).
    pub(crate) fn replace_connection(&mut self, c: &Connection) -> Result<()> {
        let bytes = codec::encode(c)?;
        let keys = self.scope.tenant.clone();
        let key = keys.connection(c.id);
        if let Some(old) = self.kv.get(&key)? {
            self.store_bytes(c.group, &key, &old, -1);
        }
        self.store_bytes(c.group, &key, &bytes, 1);
        self.put(keys.connection(c.id), bytes.as_slice())?;
        for edge in copy_keys(&keys, c) {
            self.put(edge, bytes.as_slice())?;
        }
        Ok(())
    }
}
