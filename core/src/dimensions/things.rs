//! Things: typed entities with free-form properties.
//!
//! A thing belongs to one group and has a type (`product`, `course`, …, or a type a plugin
//! defines), a name, a map of properties and a status. Updates merge properties (JSON
//! merge patch). Deleting is soft: the status becomes `deleted`, the record stays readable
//! by id for audit, and it leaves the type index, so lists no longer show it. People are
//! things of type `person`, made and changed through the rules in `people.rs`.

pub use one_vocabulary::records::thing::{NewThing, ThingOrder, ThingQuery, ThingUpdate};

use one_storage::{KeyRange, KvRead};

use crate::access::policy::Op;
use crate::base::codec;
use crate::base::id::{GroupId, Ref, ThingId};
use crate::base::layout;
use crate::base::layout::Counter;
use crate::base::page::{Page, Source, merged_page, order, page_size};
use crate::base::permission::Permission;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Tx, View};
use crate::records::event::kinds;
use crate::records::index::IndexDef;
use crate::records::person::PERSON;
use crate::records::thing::Thing;
use crate::records::thing::ThingStatus;
use crate::{Error, Result};
impl<K: KvRead> View<'_, K> {
    /// The thing `id`, deleted or not, if the context can see it. Needs `things:read` in
    /// its group.
    pub fn get_thing(&self, id: ThingId) -> Result<Thing> {
        self.get_scoped(
            &self.scope.tenant.thing(id),
            id,
            Op::GetThing,
            |t: &Thing| t.group,
        )
    }

    /// The property indexes that serve the context's tenant: those declared for the whole
    /// database and those its plugins declared. Needs `things:read` in the context's group.
    pub fn indexes(&self) -> Result<Vec<IndexDef>> {
        self.authorize(Op::ListThings, self.scope.ctx.group())?;
        crate::records::index::load_defs(self.kv, Some(&self.scope.structure), None)
    }

    /// Things of a group (and, with `include_children`, of every group below where the
    /// context may read things) that match the query's type and filter; never deleted
    /// ones. In the query's order; without one, oldest first, unless a declared index
    /// serves the filter (see [`crate::Admin::create_index`]): then in the order of the
    /// indexed value. Each group is read from an index (its type index, a property
    /// index, or its lists of every type), and several groups' are merged. Needs
    /// `things:read` in the group.
    pub fn things(&self, query: &ThingQuery) -> Result<Page<Thing>> {
        if let Some(kind) = &query.kind {
            validate::type_name("type", kind)?;
        }
        if let Some(ThingOrder::Property(path)) = &query.order {
            check_order_path(path)?;
        }
        query.filter.check_paths::<Thing>()?;
        let group = query.group.unwrap_or(self.scope.ctx.group());
        self.authorize(Op::ListThings, group)?;
        let limit = page_size(query.limit)?;
        let groups = self.groups_with(group, query.include_children, Permission::ThingsRead)?;
        let mut sources = Vec::with_capacity(groups.len());
        for g in groups {
            sources.push(self.list_source(g, query)?);
        }
        merged_page(
            self.kv,
            sources,
            order(query.descending),
            query.cursor.as_ref(),
            limit,
            |key, record| {
                let thing: Thing = if record.is_empty() {
                    let id = ThingId::from_u128(layout::trailing_id(key)?);
                    match self.get_record(&self.scope.tenant.thing(id))? {
                        Some(t) => t,
                        None => return Ok(None),
                    }
                } else {
                    codec::decode(record)?
                };
                let shown = thing.status != ThingStatus::Deleted
                    && query.kind.as_ref().is_none_or(|k| *k == thing.kind)
                    && query.filter.matches(&thing);
                Ok(shown.then_some(thing))
            },
        )
    }

    /// Where the things of `group` that `query` lists are read from, in its order.
    fn list_source(&self, group: GroupId, query: &ThingQuery) -> Result<Source> {
        let whole = |prefix: Vec<u8>| Source {
            range: KeyRange::prefix(&prefix),
            prefix,
        };
        match (&query.order, &query.kind) {
            (Some(ThingOrder::Updated), _) => Ok(whole(self.scope.tenant.things_by_update(group))),
            (Some(ThingOrder::Property(path)), Some(kind)) => self
                .plan_order(group, kind, path, &query.filter)?
                .ok_or_else(|| {
                    Error::invalid(
                        "order",
                        format!(
                            "no index on properties.{path} of {kind}: declare one with create_index"
                        ),
                    )
                }),
            (Some(ThingOrder::Property(_)), None) => Err(Error::invalid(
                "order",
                "ordering by a property needs the list's type",
            )),
            (Some(ThingOrder::Created), Some(kind)) => {
                Ok(whole(self.scope.tenant.things_by_type(group, kind)))
            }
            (None, Some(kind)) => Ok(match self.plan_list(group, kind, &query.filter)? {
                Some((prefix, range)) => Source { prefix, range },
                None => whole(self.scope.tenant.things_by_type(group, kind)),
            }),
            (Some(ThingOrder::Created) | None, None) => {
                Ok(whole(self.scope.tenant.things_of_group(group)))
            }
        }
    }
}

/// The longest property path a list may be ordered by.
const MAX_ORDER_PATH_BYTES: usize = 256;

/// A property to order by is a dotted path below `properties`, as an index declares it.
fn check_order_path(path: &str) -> Result<()> {
    if path.len() > MAX_ORDER_PATH_BYTES {
        return Err(Error::TooLarge {
            field: "order",
            limit: MAX_ORDER_PATH_BYTES,
            actual: path.len(),
        });
    }
    match crate::records::filter::FieldPath::parse(&format!("properties.{path}")) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::invalid(
            "order",
            "a property to order by is a dotted path below `properties` (`price`, `address.city`)",
        )),
    }
}

impl Tx<'_, '_> {
    /// Decides a change of `thing` (which the context can read): `things:write` in its
    /// group, or, for a person, what acting on that principal needs.
    fn authorize_change(&mut self, thing: &Thing) -> Result<()> {
        if thing.kind == PERSON {
            self.ensure_writable(thing.group, Op::ChangePerson)?;
            self.view()
                .authorize_over(Op::ChangePerson, thing.group, thing.id.into(), thing.id)
        } else {
            self.ensure_writable(thing.group, Op::ChangeThing)
        }
    }

    /// Creates a thing. Type `person` is reserved: use [`Tx::create_person`]. Needs
    /// `things:write` in the thing's group.
    pub fn create_thing(&mut self, new: NewThing) -> Result<Thing> {
        if new.kind == PERSON {
            return Err(Error::invalid(
                "type",
                "people are created with create_person",
            ));
        }
        let mut thing = self.new_thing_record(new, Op::CreateThing)?;
        let plugin = self.prepare_thing(&mut thing, None)?;
        self.insert_thing(&thing, kinds::THING_CREATED)?;
        self.owe_reaction(&thing, kinds::THING_CREATED, plugin);
        Ok(thing)
    }

    /// Validates a new thing and decides `op` in its group.
    pub(crate) fn new_thing_record(&mut self, new: NewThing, op: Op) -> Result<Thing> {
        validate::type_name("type", &new.kind)?;
        if new.status == ThingStatus::Deleted {
            return Err(Error::invalid("status", "a new thing cannot be deleted"));
        }
        let group = new.group.unwrap_or(self.scope.ctx.group());
        let name = validate::name("name", &new.name)?;
        let properties = validate::map_value("properties", new.properties)?;
        self.ensure_writable(group, op)?;
        let now = self.now();
        Ok(Thing {
            id: ThingId::from_u128(self.engine.next_id()),
            group,
            kind: new.kind,
            name,
            properties,
            status: new.status,
            created_at: now,
            updated_at: now,
        })
    }

    /// Writes a new thing, its index entries, its counter and its event.
    pub(crate) fn insert_thing(&mut self, thing: &Thing, event: &str) -> Result<()> {
        self.store_thing(None, thing)?;
        let counter = if thing.kind == PERSON {
            Counter::People
        } else {
            Counter::Things
        };
        self.count(thing.group, counter, 1);
        let meta = Value::map()
            .with("type", thing.kind.as_str())
            .with("name", thing.name.as_str());
        self.log(event, thing.group, Some(Ref::from(thing.id)), meta)?;
        Ok(())
    }

    /// Writes `thing`'s record and index entries, replacing those of its `old` version.
    ///
    /// The index entries (the type index and every declared property index of its type)
    /// each hold a copy of the record, so a list reads one range and nothing else; the
    /// text index holds the words of its declared text fields. A deleted thing keeps
    /// its record and has no index entries.
    pub(crate) fn store_thing(&mut self, old: Option<&Thing>, thing: &Thing) -> Result<()> {
        let bytes = codec::encode(thing)?;
        let key = self.scope.tenant.thing(thing.id);
        self.store_bytes(thing.group, &key, &bytes, 1);
        if let Some(old) = old {
            self.store_bytes(old.group, &key, &codec::encode(old)?, -1);
        }
        self.put(key, bytes.as_slice())?;
        if let Some(old) = old {
            self.index_thing(old, None)?;
        }
        if thing.status != ThingStatus::Deleted {
            self.index_thing(thing, Some(&bytes))?;
        }
        self.index_thing_text(old, thing)
    }

    /// Changes a thing: renames it, merges properties, or changes its status. Needs
    /// `things:write` in its group (for a person, `members:manage` and every permission the
    /// person has).
    pub fn update_thing(&mut self, id: ThingId, update: ThingUpdate) -> Result<Thing> {
        let old = self.view().get_thing(id)?;
        if old.status == ThingStatus::Deleted {
            return Err(Error::ThingDeleted { id: id.to_string() });
        }
        self.authorize_change(&old)?;
        let mut thing = old.clone();
        let mut changed = Value::map();
        if let Some(name) = update.name {
            thing.name = validate::name("name", &name)?;
            changed = changed.with("name", thing.name.as_str());
        }
        if let Some(status) = update.status {
            if status == ThingStatus::Deleted {
                return Err(Error::invalid("status", "use delete_thing to delete"));
            }
            thing.status = status;
            changed = changed.with("status", status.as_str());
        }
        if let Some(patch) = update.properties {
            changed = changed.with("properties", patch.clone());
            thing.properties.merge(patch);
            thing.properties = validate::map_value("properties", thing.properties)?;
        }
        let plugin = if thing.kind == PERSON {
            self.reindex_person(&old, &mut thing)?;
            None
        } else {
            self.prepare_thing(&mut thing, Some(&old))?
        };
        thing.updated_at = self.now();
        self.store_thing(Some(&old), &thing)?;
        self.log(
            kinds::THING_UPDATED,
            thing.group,
            Some(Ref::from(id)),
            changed,
        )?;
        self.owe_reaction(&thing, kinds::THING_UPDATED, plugin);
        Ok(thing)
    }

    /// Soft-deletes a thing: status `deleted`, out of every list, still readable by id.
    /// Needs `things:write` in its group (for a person, `members:manage` and every
    /// permission the person has). A deleted person can no longer act: their permissions
    /// and sessions end.
    pub fn delete_thing(&mut self, id: ThingId) -> Result<Thing> {
        let mut thing = self.view().get_thing(id)?;
        if thing.status == ThingStatus::Deleted {
            return Err(Error::ThingDeleted { id: id.to_string() });
        }
        self.authorize_change(&thing)?;
        let old = thing.clone();
        thing.status = ThingStatus::Deleted;
        thing.updated_at = self.now();
        self.store_thing(Some(&old), &thing)?;
        if thing.kind == PERSON {
            self.release_email(&thing)?;
            self.unlink_account(thing.id)?;
            self.access_changed();
        }
        let counter = if thing.kind == PERSON {
            Counter::People
        } else {
            Counter::Things
        };
        self.count(thing.group, counter, -1);
        self.log(
            kinds::THING_DELETED,
            thing.group,
            Some(Ref::from(id)),
            Value::map().with("type", thing.kind.as_str()),
        )?;
        let plugin = self.declared_by(crate::base::layout::Declared::Thing, &thing.kind)?;
        self.owe_reaction(&thing, kinds::THING_DELETED, plugin);
        Ok(thing)
    }
}
