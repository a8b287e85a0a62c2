//! Events as stored: the append-only audit trail, and the one way to add to it.
//!
//! Every mutation logs its event in the same write transaction ([`Tx::log`]), so a
//! change and its event commit together or not at all; nothing ever edits or removes an
//! event. An event belongs to the group where the action happened and carries the commit
//! sequence number of its transaction. Its time is the timestamp of its id, so the
//! primary key `E <group> <event id>` orders a group's events by time, and the three
//! indexes (by type, actor and target) end with the event id too. Reading the trail is
//! in `dimensions/events.rs`.

pub use one_vocabulary::records::event::*;

use crate::Result;
use crate::base::codec::Record;
use crate::base::id::{EventId, GroupId, Ref};
use crate::base::layout::{self, Counter, TenantKeys};
use crate::base::value::Value;
use crate::kernel::Tx;
impl Record for Event {
    const NAME: &'static str = "event";
    const VERSION: u8 = 1;
}

impl Tx<'_, '_> {
    /// Appends an event and its index entries.
    pub(crate) fn log(
        &mut self,
        kind: &str,
        group: GroupId,
        target: Option<Ref>,
        metadata: Value,
    ) -> Result<Event> {
        let event = Event {
            id: EventId::from_u128(self.engine.next_id()),
            seq: self.seq()?,
            kind: kind.to_string(),
            actor: self.scope.ctx.principal(),
            group,
            target,
            metadata,
        };
        let keys = self.scope.tenant.clone();
        let key = keys.event(group, event.id);
        let bytes = crate::base::codec::encode(&event)?;
        self.store_bytes(group, &key, &bytes, 1);
        // The change feed delivers it once the transaction commits.
        if self
            .engine
            .is_listened(self.scope.root, self.scope.ctx.env())
        {
            self.kv.note(key.clone(), bytes.clone());
        }
        self.put(key, bytes)?;
        for index in index_keys(&keys, &event) {
            self.put(index, [])?;
        }
        self.count(group, Counter::Events, 1);
        Ok(event)
    }
}

/// The index entries of an event: by type, by actor, and by target if it has one.
pub(crate) fn index_keys(keys: &TenantKeys, event: &Event) -> Vec<Vec<u8>> {
    let (group, id) = (event.group, event.id.to_u128());
    let mut out = vec![
        layout::with_id(&keys.events_by_type(group, &event.kind), id),
        layout::with_id(&keys.events_by_actor(group, event.actor), id),
    ];
    if let Some(t) = event.target {
        out.push(layout::with_id(&keys.events_by_target(group, t), id));
    }
    out
}
