//! Usage: what groups use, counted in the transaction that uses it, and refused over a
//! limit.
//!
//! Every mutation adds its usage to the transaction ([`Tx::meter`]): a thing, a person or a
//! connection made or removed, the bytes of the records written. When the transaction's
//! closure has succeeded, the deltas are added to the usage of the group and of each of its
//! ancestors, in the same write transaction; a rolled-back transaction counts nothing, and
//! a count never goes below zero. An increase that takes a group over its limit (see
//! [`crate::metering::plans`]) fails the whole transaction with [`Error::QuotaExceeded`]; the engine
//! then logs `quota_exceeded` (`cycle_quota_exceeded` for AI tokens) in a transaction of
//! its own, once per group, resource and period. Writers are serialised, so two racing for
//! the last unit cannot both have it.

pub use one_vocabulary::metering::{CycleStage, ResourceUsage};

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::policy::Op;
use crate::base::clock::Timestamp;
use crate::base::context::Context;
use crate::base::id::{GroupId, Ref};
use crate::base::layout::{self, TenantKeys};
use crate::base::resource::Resource;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Engine, Hooks, Tx, View};
use crate::metering::money::Money;
use crate::metering::plans::limit_of;
use crate::records::connection::Connection;
use crate::records::event::kinds;
use crate::records::group::Group;
use crate::records::person::PERSON;
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// Installs metering: usage counted once for old files, written and checked when a
/// write succeeds, its refusals logged when the write ends.
pub(crate) fn install(hooks: &mut Hooks) {
    hooks.open.push(Engine::count_usage_once);
    hooks.settle.push(|tx| tx.flush_usage());
    hooks.end.push(|engine, after, _committed| {
        if let Some(breaches) = after.leftovers.take::<Vec<Breach>>() {
            engine.log_breaches(breaches);
        }
    });
}

/// A refusal over a limit, logged once per group, resource and period.
#[derive(Debug, Clone)]
pub(crate) struct Breach {
    pub(crate) ctx: Context,
    pub(crate) root: GroupId,
    pub(crate) group: GroupId,
    pub(crate) resource: Resource,
    pub(crate) period: u32,
    pub(crate) limit: u64,
    pub(crate) used: u64,
}

/// The period usage of `resource` is kept in: the month index, or 0 for running totals.
pub(crate) fn period_of(resource: Resource, now: Timestamp) -> u32 {
    if resource.is_monthly() {
        now.month_index()
    } else {
        0
    }
}

/// When the usage of `resource` next starts from zero.
pub(crate) fn resets_at(resource: Resource, now: Timestamp) -> Option<Timestamp> {
    resource
        .is_monthly()
        .then(|| Timestamp::start_of_month(now.month_index() + 1))
}

impl<K: KvRead> View<'_, K> {
    /// The stored usage of `resource` by `group` (and its descendants) in `period`.
    pub(crate) fn stored_usage(
        &self,
        tenant: &TenantKeys,
        group: GroupId,
        resource: Resource,
        period: u32,
    ) -> Result<u64> {
        match self.kv.get(&tenant.usage(group, resource, period))? {
            Some(b) => layout::decode_u64(&b, "usage counter"),
            None => Ok(0),
        }
    }

    /// What `group` and its descendants use of every resource, with the group's limits.
    /// Includes API calls counted in memory and not yet written. Needs `billing:manage`.
    pub fn usage(&self, group: GroupId) -> Result<Vec<ResourceUsage>> {
        self.authorize(Op::Billing, group)?;
        let record = self.load_group(group)?;
        let now = self.engine.clock().now();
        Resource::ALL
            .into_iter()
            .map(|resource| {
                let period = period_of(resource, now);
                let mut used = self.stored_usage(&self.scope.tenant, group, resource, period)?;
                if resource == Resource::ApiCalls {
                    used += self
                        .engine
                        .part::<crate::metering::rate_limit::Meters>()
                        .pending_calls(self.scope.ctx.env(), group, period);
                }
                Ok(ResourceUsage {
                    resource,
                    used,
                    limit: limit_of(&record, resource)?,
                    resets_at: resets_at(resource, now),
                })
            })
            .collect()
    }

    /// Refuses `model` unless the nearest `cycleModels` list of `group` and its ancestors
    /// names it (no list: any model).
    fn check_model(&self, group: GroupId, model: &str) -> Result<()> {
        for g in self.lineage(group)? {
            if let Some(models) = crate::metering::plans::cycle_models(&g) {
                if models.contains(&model) {
                    return Ok(());
                }
                return Err(Error::invalid(
                    "model",
                    format!(
                        "{model:?} is not one of the models group {} allows (cycleModels: {})",
                        g.id,
                        models.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `group` and its ancestors, nearest first, each with its own limit of `resource`.
    pub(crate) fn limit_chain(
        &self,
        group: GroupId,
        resource: Resource,
    ) -> Result<Vec<(GroupId, Option<u64>)>> {
        self.lineage(group)?
            .iter()
            .map(|g| Ok((g.id, limit_of(g, resource)?)))
            .collect()
    }
}

impl Tx<'_, '_> {
    /// Writes the usage deltas of this transaction (its counted records among them),
    /// checking limits: the metering feature's settle hook.
    fn flush_usage(&mut self) -> Result<()> {
        let usage = self.take_usage();
        if usage.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let mut groups: HashMap<GroupId, std::sync::Arc<Group>> = HashMap::new();
        for ((group, resource), delta) in usage {
            if delta.amount == 0 {
                continue;
            }
            let period = period_of(resource, now);
            let mut next = Some(group);
            let mut depth = 0;
            while let Some(id) = next {
                depth += 1;
                if depth > crate::records::group::MAX_DEPTH + 1 {
                    return Err(Error::Corrupt {
                        what: "group tree",
                        reason: "parent chain too long".into(),
                    });
                }
                let record = match groups.entry(id) {
                    Entry::Occupied(e) => e.into_mut(),
                    Entry::Vacant(e) => e.insert(self.view().load_group(id)?),
                };
                let key = self.scope.tenant.usage(id, resource, period);
                let old = match self.kv.get(&key)? {
                    Some(b) => layout::decode_u64(&b, "usage counter")?,
                    None => 0,
                };
                // A counter never goes below zero; past `u64::MAX` the transaction fails.
                let new = u64::try_from((i128::from(old) + delta.amount).max(0))
                    .map_err(|_| Error::Overflow { what: "usage" })?;
                if delta.amount > 0
                    && delta.enforce
                    && let Some(limit) = limit_of(record, resource)?
                    && new > limit
                {
                    return Err(self.breach(id, resource, period, limit, old));
                }
                next = record.parent;
                self.kv.put(key, new.to_be_bytes())?;
            }
        }
        Ok(())
    }

    /// Notes a refusal for logging and returns its error.
    fn breach(
        &mut self,
        group: GroupId,
        resource: Resource,
        period: u32,
        limit: u64,
        used: u64,
    ) -> Error {
        self.after.leftovers.get::<Vec<Breach>>().push(Breach {
            ctx: self.scope.ctx,
            root: self.scope.root,
            group,
            resource,
            period,
            limit,
            used,
        });
        Error::QuotaExceeded {
            resource,
            limit,
            used,
            resets_at: resets_at(resource, self.now()),
        }
    }

    /// Refuses if `amount` more of `resource` would take `group` or an ancestor over its
    /// limit, counting what this transaction has already metered.
    fn ensure_room(&mut self, group: GroupId, resource: Resource, amount: u64) -> Result<()> {
        let now = self.now();
        let period = period_of(resource, now);
        let pending = u64::try_from(self.pending_usage(group, resource).max(0)).unwrap_or(u64::MAX);
        for (id, limit) in self.view().limit_chain(group, resource)? {
            let Some(limit) = limit else { continue };
            let used = self
                .view()
                .stored_usage(&self.scope.tenant, id, resource, period)?
                .saturating_add(pending);
            if used.saturating_add(amount) > limit {
                return Err(self.breach(id, resource, period, limit, used));
            }
        }
        Ok(())
    }

    /// Counts `amount` of `ai_tokens` or `embedding_tokens` against the context's group and its ancestors; over a limit the
    /// transaction fails with [`Error::QuotaExceeded`]. Needs `events:write`.
    pub fn record_usage(&mut self, resource: Resource, amount: u64) -> Result<()> {
        if !resource.is_monthly() || resource == Resource::ApiCalls {
            return Err(Error::invalid(
                "resource",
                format!("{resource} is counted by the engine itself"),
            ));
        }
        let group = self.scope.ctx.group();
        self.view().authorize(Op::LogEvent, group)?;
        let amount = i64::try_from(amount).map_err(|_| Error::Overflow { what: "usage" })?;
        self.meter(group, resource, amount);
        Ok(())
    }

    /// Records an AI call ("cycle") of `model` using `tokens`, which cost `price`, in the
    /// context's group: see [`CycleStage`]. Needs `events:write`.
    pub fn record_cycle(
        &mut self,
        stage: CycleStage,
        model: &str,
        tokens: u64,
        price: Money,
    ) -> Result<crate::records::event::Event> {
        validate::name("model", model)?;
        let group = self.scope.ctx.group();
        self.view().authorize(Op::LogEvent, group)?;
        self.view().check_model(group, model)?;
        let amount = i64::try_from(tokens).map_err(|_| Error::Overflow { what: "tokens" })?;
        let kind = match stage {
            CycleStage::Request => {
                self.ensure_room(group, Resource::AiTokens, tokens)?;
                kinds::CYCLE_REQUEST
            }
            CycleStage::Completed => {
                self.charge(group, Resource::AiTokens, amount);
                kinds::CYCLE_COMPLETED
            }
        };
        self.log(
            kind,
            group,
            None,
            Value::map()
                .with("model", model)
                .with("tokens", amount)
                .with("price", price.minor)
                .with("currency", price.currency.as_str()),
        )
    }
}

impl Engine {
    /// Logs the refusals of a transaction that ended, once per group, resource and
    /// period, in one transaction of their own.
    pub(crate) fn log_breaches(&self, breaches: Vec<Breach>) {
        if breaches.is_empty() {
            return;
        }
        // A failure here loses only the notice; the refusal itself was returned.
        let _ = self.transact(|kv| {
            for b in &breaches {
                let scope = crate::kernel::Scope::new(b.ctx, b.root);
                self.write_in(kv, scope, &mut crate::kernel::AfterTx::default(), |tx| {
                    let marker = tx.scope.tenant.quota_logged(b.group, b.resource, b.period);
                    if tx.kv.contains(&marker)? {
                        return Ok(());
                    }
                    tx.put(marker, [])?;
                    let kind = if b.resource == Resource::AiTokens {
                        kinds::CYCLE_QUOTA_EXCEEDED
                    } else {
                        kinds::QUOTA_EXCEEDED
                    };
                    let used = i64::try_from(b.used).unwrap_or(i64::MAX);
                    let limit = i64::try_from(b.limit).unwrap_or(i64::MAX);
                    tx.log(
                        kind,
                        b.group,
                        Some(Ref::from(b.group)),
                        Value::map()
                            .with("resource", b.resource.as_str())
                            .with("limit", limit)
                            .with("used", used)
                            .with("period", i64::from(b.period)),
                    )
                    .map(drop)
                })?;
            }
            Ok::<_, Error>(())
        });
    }
}

/// What each group of one tenant and environment holds itself, counted from its
/// records: users, things, connections (live ones) and storage bytes. The running totals
/// of usage are these summed up the group tree ([`subtree_totals`]).
pub(crate) fn own_usage(
    kv: &impl KvRead,
    keys: &TenantKeys,
) -> Result<HashMap<(GroupId, Resource), u64>> {
    let mut own: HashMap<(GroupId, Resource), u64> = HashMap::new();
    kv.scan(
        &KeyRange::prefix(&keys.things()),
        Direction::Forward,
        |k, v| {
            let t: Thing = crate::base::codec::decode(v)?;
            *own.entry((t.group, Resource::StorageBytes)).or_default() +=
                (k.len() + v.len()) as u64;
            if t.status != ThingStatus::Deleted {
                let r = if t.kind == PERSON {
                    Resource::Users
                } else {
                    Resource::Things
                };
                *own.entry((t.group, r)).or_default() += 1;
            }
            Ok::<_, Error>(ControlFlow::Continue(()))
        },
    )?;
    kv.scan(
        &KeyRange::prefix(&keys.connections()),
        Direction::Forward,
        |k, v| {
            let c: Connection = crate::base::codec::decode(v)?;
            *own.entry((c.group, Resource::StorageBytes)).or_default() +=
                (k.len() + v.len()) as u64;
            *own.entry((c.group, Resource::Connections)).or_default() += 1;
            Ok::<_, Error>(ControlFlow::Continue(()))
        },
    )?;
    kv.scan(
        &KeyRange::prefix(&keys.all_knowledge()),
        Direction::Forward,
        |k, v| {
            let chunk: crate::records::knowledge::Knowledge = crate::base::codec::decode(v)?;
            *own.entry((chunk.group, Resource::StorageBytes))
                .or_default() += (k.len() + v.len()) as u64;
            Ok::<_, Error>(ControlFlow::Continue(()))
        },
    )?;
    for prefix in [keys.all_vectors(), keys.all_events()] {
        kv.scan(&KeyRange::prefix(&prefix), Direction::Forward, |k, v| {
            let group = layout::decode_leading_group(k, &prefix, "vector or event key")?;
            *own.entry((group, Resource::StorageBytes)).or_default() += (k.len() + v.len()) as u64;
            Ok::<_, Error>(ControlFlow::Continue(()))
        })?;
    }
    Ok(own)
}

/// Sums what each group holds itself into every ancestor: the running totals of usage.
/// `parents` maps each group of the tenant to its parent.
pub(crate) fn subtree_totals(
    own: &HashMap<(GroupId, Resource), u64>,
    parents: &HashMap<GroupId, Option<GroupId>>,
) -> HashMap<(GroupId, Resource), u64> {
    let mut totals: HashMap<(GroupId, Resource), u64> = HashMap::new();
    for (&(group, resource), &n) in own {
        let mut next = Some(group);
        let mut depth = 0;
        while let Some(g) = next {
            depth += 1;
            if depth > crate::records::group::MAX_DEPTH + 1 {
                break;
            }
            *totals.entry((g, resource)).or_default() += n;
            next = parents.get(&g).copied().flatten();
        }
    }
    totals
}

impl Tx<'_, '_> {
    /// Recomputes the running totals (users, things, connections, storage) of every group
    /// of this tenant and environment from its records; monthly counts are kept.
    pub(crate) fn recount_running_totals(&mut self) -> Result<()> {
        let mut parents: HashMap<GroupId, Option<GroupId>> = HashMap::new();
        let groups_prefix = self.scope.structure.groups();
        self.kv.scan(
            &KeyRange::prefix(&groups_prefix),
            Direction::Forward,
            |_, v| {
                let g: Group = crate::base::codec::decode(v)?;
                parents.insert(g.id, g.parent);
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        let keys = self.scope.tenant.clone();
        let own = own_usage(&*self.kv, &keys)?;
        // Replace every running total.
        let mut stale = Vec::new();
        self.kv.scan(
            &KeyRange::prefix(&keys.usages()),
            Direction::Forward,
            |k, _| {
                if k.ends_with(&0u32.to_be_bytes()) {
                    stale.push(k.to_vec());
                }
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        for k in stale {
            self.delete(&k)?;
        }
        for ((group, resource), n) in subtree_totals(&own, &parents) {
            self.put(keys.usage(group, resource, 0), n.to_be_bytes())?;
        }
        Ok(())
    }

    /// Moves the usage of `group` (every resource and period) from its old ancestors to
    /// its new ones. Limits are not checked on a move.
    pub(crate) fn move_usage(
        &mut self,
        group: GroupId,
        old_parent: GroupId,
        new_parent: GroupId,
    ) -> Result<()> {
        let mut carried = Vec::new();
        let prefix = self.scope.tenant.usage_of(group);
        self.kv
            .scan(&KeyRange::prefix(&prefix), Direction::Forward, |k, v| {
                if let Some((tag, period)) = layout::decode_usage(k, &prefix)? {
                    carried.push((tag, period, layout::decode_u64(v, "usage counter")?));
                }
                Ok::<_, Error>(ControlFlow::Continue(()))
            })?;
        for (tag, period, n) in carried {
            let Some(resource) = Resource::ALL.into_iter().find(|r| r.tag() == tag) else {
                continue;
            };
            for (start, add) in [(old_parent, false), (new_parent, true)] {
                for (g, _) in self.view().limit_chain(start, resource)? {
                    let key = self.scope.tenant.usage(g, resource, period);
                    let old = match self.kv.get(&key)? {
                        Some(b) => layout::decode_u64(&b, "usage counter")?,
                        None => 0,
                    };
                    let new = if add {
                        old.saturating_add(n)
                    } else {
                        old.saturating_sub(n)
                    };
                    self.kv.put(key, new.to_be_bytes())?;
                }
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Counts the running totals of usage once for a database written before they
    /// existed.
    pub(crate) fn count_usage_once(&self) -> Result<()> {
        // A read-only store is never written; an old file opened so keeps its totals
        // uncounted until it is opened for writing.
        if self.store().is_read_only() {
            return Ok(());
        }
        if self
            .store()
            .read()?
            .get(&layout::usage_counted())?
            .is_some()
        {
            return Ok(());
        }
        self.admin().recount_usage()
    }
}

impl crate::kernel::Admin<'_> {
    /// Recomputes the running totals of usage (users, things, connections, storage) of
    /// every group from the records, in one transaction. The engine keeps them exact as it
    /// goes; this is for databases written before usage existed (done automatically when
    /// they are opened) and for checking. Monthly counts are kept as they are.
    pub fn recount_usage(&self) -> Result<()> {
        self.engine.transact(|kv| {
            for root in crate::records::group::tenant_roots(&*kv)? {
                for env in [
                    crate::base::context::Env::Live,
                    crate::base::context::Env::Test,
                ] {
                    let scope =
                        crate::kernel::Scope::new(Context::system(root).with_env(env), root);
                    self.engine.write_in(
                        kv,
                        scope,
                        &mut crate::kernel::AfterTx::default(),
                        |tx| tx.recount_running_totals(),
                    )?;
                }
            }
            kv.put(layout::usage_counted(), [1])?;
            Ok(())
        })
    }
}
