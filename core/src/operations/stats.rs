//! Counts per dimension, read from the counters every transaction keeps up to date.

pub use one_vocabulary::operations::{Counts, Stats};

use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::policy::Op;
use crate::base::context::{Context, Env};
use crate::base::id::GroupId;
use crate::base::layout::{self, Counter, TenantKeys};
use crate::kernel::Admin;
use crate::kernel::{Scope, View};
use crate::{Error, Result};

/// Adds up the counters under `keys`, optionally of one group only.
fn sum(kv: &impl KvRead, keys: &TenantKeys, group: Option<GroupId>) -> Result<Counts> {
    let prefix = keys.counters();
    let mut counts = Counts::default();
    kv.scan(&KeyRange::prefix(&prefix), Direction::Forward, |k, v| {
        let (g, counter) = layout::decode_counter(k, &prefix)?;
        if group.is_none_or(|want| want == g) {
            add_count(&mut counts, counter, layout::decode_u64(v, "counter")?);
        }
        Ok::<_, Error>(ControlFlow::Continue(()))
    })?;
    Ok(counts)
}

impl<K: KvRead> View<'_, K> {
    /// The counts of one group in the context's scope (not including its children). Needs
    /// `groups:read` there.
    pub fn counts(&self, group: GroupId) -> Result<Counts> {
        self.authorize(Op::ListGroup, group)?;
        let mut counts = Counts::default();
        for counter in [
            Counter::People,
            Counter::Things,
            Counter::Connections,
            Counter::Events,
        ] {
            if let Some(v) = self.kv.get(&self.scope.tenant.counter(group, counter))? {
                add_count(&mut counts, counter, layout::decode_u64(&v, "counter")?);
            }
        }
        Ok(counts)
    }
}

impl Admin<'_> {
    /// Counts across every tenant.
    pub fn stats(&self) -> Result<Stats> {
        let kv = self.engine.store().read()?;
        let mut stats = Stats {
            knowledge_upkeep: self.engine.maintenance_status(),
            ..Stats::default()
        };
        let mut roots = Vec::new();
        kv.scan(
            &KeyRange::prefix(&layout::group_directory()),
            Direction::Forward,
            |k, v| {
                stats.groups += 1;
                let group = layout::decode_group_root(k)?;
                let root = layout::decode_group_id(v, "group directory")?;
                if group == root {
                    roots.push(root);
                }
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        stats.tenants = roots.len() as u64;
        for root in roots {
            for env in [Env::Live, Env::Test] {
                let scope = Scope::new(Context::system(root).with_env(env), root);
                let c = sum(&kv, &scope.tenant, None)?;
                let slot = if env == Env::Live {
                    &mut stats.live
                } else {
                    &mut stats.test
                };
                slot.people += c.people;
                slot.things += c.things;
                slot.connections += c.connections;
                slot.events += c.events;
            }
        }
        Ok(stats)
    }
}

/// Adds `n` records of `counter`'s kind to `counts`.
fn add_count(counts: &mut Counts, counter: Counter, n: u64) {
    let slot = match counter {
        Counter::People => &mut counts.people,
        Counter::Things => &mut counts.things,
        Counter::Connections => &mut counts.connections,
        Counter::Events => &mut counts.events,
        // The text index's statistics are not counts of records.
        Counter::ThingTexts
        | Counter::ThingWords
        | Counter::KnowledgeTexts
        | Counter::KnowledgeWords => return,
    };
    *slot += n;
}
