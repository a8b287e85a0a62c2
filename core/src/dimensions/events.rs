//! Events: the append-only audit trail.
//!
//! Every mutation logs its event in the same write transaction, so a change and its
//! event commit together or not at all; nothing ever edits or removes an event. An event
//! belongs to the group where the action happened and carries the commit sequence number
//! of its transaction. Its time is the timestamp of its id, so the primary key
//! `E <group> <event id>` orders a group's events by time, and the three indexes (by
//! type, actor and target) end with the event id too: every query below is one range
//! scan, newest first.

pub use one_vocabulary::records::event::{EventFilter, EventQuery};

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::policy::Op;
use crate::base::clock::Timestamp;
use crate::base::id::{EventId, Ref};
use crate::base::layout;
use crate::base::page::{Page, page_size, scan_page};
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Tx, View};
use crate::records::event::Event;
use crate::{Error, Result};
/// The smallest key of an event at time `t` under `prefix`. Ids hold 48 bits of
/// milliseconds, so later times are clamped to the last one ids can express.
fn time_bound(prefix: &[u8], t: Timestamp) -> Vec<u8> {
    let ms = t.as_millis().min((1 << 48) - 1);
    layout::with_id(prefix, u128::from(ms) << 80)
}

impl<K: KvRead> View<'_, K> {
    /// Events of a group in the context's scope, newest first. Needs `events:read` there.
    pub fn events(&self, query: &EventQuery) -> Result<Page<Event>> {
        let group = query.group.unwrap_or(self.scope.ctx.group());
        self.authorize(Op::ListEvents, group)?;
        let held = self.permits_set(group)?;
        // Whoever holds everything any event may need reads them all unfiltered.
        let reads_all = crate::access::policy::any_event_permissions().is_subset(held);
        let keys = &self.scope.tenant;
        let prefix = match &query.filter {
            EventFilter::All => keys.events(group),
            EventFilter::Kind(kind) => {
                validate::type_name("kind", kind)?;
                keys.events_by_type(group, kind)
            }
            EventFilter::Actor(actor) => keys.events_by_actor(group, *actor),
            EventFilter::Target(target) => keys.events_by_target(group, *target),
        };
        let mut range = KeyRange::prefix(&prefix);
        if let Some(since) = query.since {
            range.start = std::ops::Bound::Included(time_bound(&prefix, since));
        }
        if let Some(until) = query.until {
            range.end = std::ops::Bound::Excluded(time_bound(&prefix, until));
        }
        let primary = matches!(query.filter, EventFilter::All);
        scan_page(
            self.kv,
            &prefix,
            range,
            Direction::Reverse,
            query.cursor.as_ref(),
            page_size(query.limit)?,
            |k, v| {
                let event = if primary {
                    Some(crate::base::codec::decode::<Event>(v)?)
                } else {
                    let id = EventId::from_u128(layout::trailing_id(k)?);
                    Some(self.get_record(&keys.event(group, id))?.ok_or_else(|| {
                        Error::Corrupt {
                            what: "event index",
                            reason: format!("{id} is indexed but missing"),
                        }
                    })?)
                };
                // Billing and key events need their own rights on top of `events:read`.
                Ok(event.filter(|e| {
                    reads_all || crate::access::policy::event_permissions(&e.kind).is_subset(held)
                }))
            },
        )
    }
}

impl Tx<'_, '_> {
    /// Logs a custom event in the context's group. `kind` is `[a-z][a-z0-9_]*`; `metadata`
    /// a map. The engine logs its own events itself, and their types ([`crate::kinds::ALL`]) are
    /// reserved: an application's event named like one is refused, so nobody can forge an
    /// audit entry. Needs `events:write`.
    pub fn log_event(&mut self, kind: &str, target: Option<Ref>, metadata: Value) -> Result<Event> {
        self.log_custom_event(kind, target, metadata)
    }
}
