//! What a plugin may read while it runs: the engine's answers to `one.read`
//! ([`abi::Read`]), inside the call's transaction or snapshot, in the plugin's tenant only
//! (every key read is under the tenant's prefix, so another tenant's id is simply absent)
//! and with the permissions of the context the plugin runs for: what that context may not
//! read is answered as absent, exactly as a missing record. A plugin's reads log no
//! `access_denied` events in the caller's name. A plugin reads only what its tenant
//! granted it (`things:read`, `connections:read`), whoever it runs for.

use std::ops::ControlFlow;

use one_plugin_sdk::abi::{Read, Rejection};
use one_storage::{Direction, KeyRange, KvRead};

use super::runtime::{HostAnswer, HostReads, ReadThing, ReadValue};
use crate::access::policy::Op;
use crate::base::codec;
use crate::base::id::{GroupId, Ref, ThingId};
use crate::base::permission::{Permission, PermissionSet};
use crate::base::validate;
use crate::kernel::View;
use crate::records::connection::Connection;
use crate::records::thing::Thing;
use crate::{Error, Result};

/// Answers a plugin's reads from `view`.
pub(crate) struct Reads<'v, K> {
    view: View<'v, K>,
    /// The plugin reading.
    plugin: &'v str,
    /// What its tenant granted it, read at its first read.
    granted: Option<PermissionSet>,
    /// The group a count reads by default: the group of the thing being prepared.
    group: GroupId,
    /// The error a read met that is not the plugin's doing (the store failed): the
    /// operation returns it instead of whatever the plugin answered.
    pub(crate) failure: Option<Error>,
}

/// What a read found, before it is encoded for the plugin.
enum Found {
    /// A value for the plugin, and how many records were visited for it.
    Value(ReadValue, u64),
    /// Nothing the context may read.
    Absent(ReadValue),
}

impl<'v, K: KvRead> Reads<'v, K> {
    /// Reads for `plugin` from `view`; counts default to `group`.
    pub(crate) fn new(view: View<'v, K>, plugin: &'v str, group: GroupId) -> Self {
        Self {
            view,
            plugin,
            granted: None,
            group,
            failure: None,
        }
    }

    /// Refuses a read that needs `needed` unless the tenant granted it to the plugin.
    fn ensure_granted(&mut self, needed: Permission) -> Result<()> {
        let granted = match self.granted {
            Some(g) => g,
            None => *self.granted.insert(self.view.plugin_grants(self.plugin)?),
        };
        if granted.contains(needed) {
            return Ok(());
        }
        Err(Error::invalid(
            "permissions",
            format!(
                "plugin `{}` may not read this: its tenant has not granted it {needed}",
                self.plugin
            ),
        ))
    }

    fn answer(&mut self, read: &Read, max_rows: u64) -> Result<Found> {
        self.ensure_granted(match read {
            Read::GetThing { .. } | Read::CountThings { .. } => Permission::ThingsRead,
            Read::ConnectionExists { .. } => Permission::ConnectionsRead,
        })?;
        match read {
            Read::GetThing { id } => {
                let id: ThingId = parse("id", id)?;
                let found = self.view.get_scoped(
                    &self.view.scope.tenant.thing(id),
                    id,
                    Op::GetThing,
                    |t: &Thing| t.group,
                );
                absent_if_hidden(found, ReadValue::Thing(None), |t| {
                    Ok(Found::Value(ReadValue::Thing(Some(plugin_thing(t))), 1))
                })
            }
            Read::ConnectionExists { from, kind, to } => {
                let (from, to): (Ref, Ref) = (parse("from", from)?, parse("to", to)?);
                absent_if_hidden(
                    self.connects(from, kind, to),
                    ReadValue::Bool(false),
                    |found| Ok(Found::Value(ReadValue::Bool(found), 1)),
                )
            }
            Read::CountThings { kind, group } => {
                let group = match group {
                    Some(g) => parse("group", g)?,
                    None => self.group,
                };
                match self.count_things(group, kind, max_rows) {
                    Ok(n) => Ok(Found::Value(ReadValue::Count(n), n.max(1))),
                    Err(Error::NotFound { .. } | Error::Forbidden { .. }) => Err(Error::invalid(
                        "group",
                        format!("no group {group} whose things the caller may read"),
                    )),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// Whether a connection of type `kind` joins `from` to `to` that the context may
    /// read. Needs `connections:read` where `from` is, as listing its connections does.
    fn connects(&self, from: Ref, kind: &str, to: Ref) -> Result<bool> {
        validate::type_name("kind", kind)?;
        let group = self.view.node_group(from)?;
        self.view
            .authorize_record(Op::ListConnections, group, from)?;
        let prefix = self.view.scope.tenant.edges_between(true, from, kind, to);
        let mut found = false;
        self.view.kv.scan(
            &KeyRange::prefix(&prefix),
            Direction::Forward,
            |_, record| {
                let c: Connection = codec::decode(record)?;
                found = self.view.permits(c.group, Permission::ConnectionsRead)?;
                Ok::<_, Error>(if found {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            },
        )?;
        Ok(found)
    }

    /// How many live things of type `kind` `group` holds (not its subgroups), counting at
    /// most `max + 1`. Needs `things:read` in the group, as listing them does.
    fn count_things(&self, group: GroupId, kind: &str, max: u64) -> Result<u64> {
        validate::type_name("type", kind)?;
        self.view.authorize(Op::ListThings, group)?;
        let prefix = self.view.scope.tenant.things_by_type(group, kind);
        let mut n = 0u64;
        self.view
            .kv
            .scan(&KeyRange::prefix(&prefix), Direction::Forward, |_, _| {
                n += 1;
                Ok::<_, Error>(if n > max {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                })
            })?;
        Ok(n)
    }
}

impl<K: KvRead> HostReads for Reads<'_, K> {
    fn read(&mut self, read: &Read, max_rows: u64) -> std::result::Result<HostAnswer, String> {
        let scope = self.view.scope;
        let answer = scope.quietly(|| self.answer(read, max_rows));
        match answer {
            Ok(Found::Value(value, rows)) => Ok(HostAnswer {
                reply: Ok(value),
                rows,
            }),
            Ok(Found::Absent(value)) => Ok(HostAnswer {
                reply: Ok(value),
                rows: 1,
            }),
            Err(e) if asked_wrongly(&e) => Ok(HostAnswer {
                reply: Err(Rejection::new(e.to_string())),
                rows: 1,
            }),
            Err(e) => {
                let why = format!("the host could not answer its read: {e}");
                self.failure = Some(e);
                Err(why)
            }
        }
    }
}

/// `found`'s value, or `absent` when the record does not exist or the context may not
/// read it (the two are answered alike).
fn absent_if_hidden<T>(
    found: Result<T>,
    absent: ReadValue,
    value: impl FnOnce(T) -> Result<Found>,
) -> Result<Found> {
    match found {
        Ok(t) => value(t),
        Err(Error::NotFound { .. } | Error::Forbidden { .. }) => Ok(Found::Absent(absent)),
        Err(e) => Err(e),
    }
}

/// Whether `e` is the plugin's mistake in asking (answered to it as an error) rather than
/// the host's failure (which stops the operation).
fn asked_wrongly(e: &Error) -> bool {
    matches!(
        e,
        Error::MalformedId(_)
            | Error::WrongIdKind { .. }
            | Error::InvalidField { .. }
            | Error::MissingField { .. }
            | Error::TooLarge { .. }
    )
}

/// The id in `text`, or an error naming the read's `field`.
fn parse<T: std::str::FromStr<Err = crate::base::id::IdError>>(
    field: &'static str,
    text: &str,
) -> Result<T> {
    text.parse::<T>()
        .map_err(|e| Error::invalid(field, format!("is not a valid id: {e}")))
}

/// A thing as a plugin reads it.
fn plugin_thing(t: Thing) -> ReadThing {
    ReadThing {
        id: t.id.to_string(),
        group: t.group.to_string(),
        status: t.status.as_str(),
        kind: t.kind,
        name: t.name,
        properties: t.properties,
    }
}
