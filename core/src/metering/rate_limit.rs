//! Rate limits and call counting for API keys, in memory.
//!
//! Each API key may have a monthly call quota and a per-second rate with a burst
//! ([`KeyRate`]). The rate is enforced with GCRA ([`Gcra`]: a token bucket kept as one
//! "theoretical arrival time"), on the engine's injected clock. Every accepted call also
//! counts against the `api_calls` usage of the key's group and its ancestors (see
//! [`crate::metering::plans`]), refused with [`crate::Error::QuotaExceeded`] over a plan limit.
//!
//! Counting a call writes nothing: counts live in memory ([`Meters`]) and are written in one
//! transaction at most every [`FLUSH_CALLS`] calls or [`FLUSH_INTERVAL_MS`], on
//! [`crate::Engine::flush_meters`], `sync` and `close`. A crash loses at most the calls
//! counted since the last write (usage is under-counted by at most that, never
//! over-counted: a count is cleared from memory only after the transaction that wrote it
//! committed). Burst state is not persisted: after a restart every key starts with a full
//! burst.
//!
//! Several instances on one shared database (PostgreSQL) each keep their own burst
//! state and their own counts: at one instant N instances admit at most N bursts of a
//! key, and a monthly or plan limit is passed by at most the calls the other instances
//! made that this one has not read yet. An instance writes its counts, and reads back the
//! totals every instance wrote, at least every [`FLUSH_CALLS`] calls or
//! [`FLUSH_INTERVAL_MS`] (checked at each call) and at `sync` and `close`: so a limit is
//! passed by at most what the other instances counted in about two such intervals.

pub use one_vocabulary::metering::RateLimit;

pub use one_vocabulary::metering::{Burst, KeyCall};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::base::clock::Timestamp;
use crate::base::context::{Context, Env};
use crate::base::id::{GroupId, KeyId};
use crate::base::layout::decode_u64;
use crate::base::resource::Resource;
use crate::kernel::{AfterTx, Engine, Hooks, Parts, Scope};
use crate::metering::usage::Breach;
use crate::records::key::KeyRate;
use crate::records::key::{ApiKey, StoredKey};
use crate::{Error, Result};
/// Calls counted in memory before they are written.
pub const FLUSH_CALLS: u64 = 10_000;
/// The longest time counted calls wait before they are written (checked at each call).
pub const FLUSH_INTERVAL_MS: u64 = 60_000;

/// The highest per-second rate a key may have: above it the interval between calls, in
/// nanoseconds, would round to nothing.
pub const MAX_PER_SECOND: u32 = 1_000_000;

/// The largest burst a key may have.
pub const MAX_BURST: u32 = 1_000_000;

/// The generic cell rate algorithm for one rate: `per_second` calls per second on
/// average, up to `burst` at once. Its state is one [`GcraState`] per caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Nanoseconds between calls at the sustained rate.
    interval: u64,
    /// How far ahead of now the arrival time may run: `(burst - 1) * interval`.
    tolerance: u64,
    burst: u32,
}

/// The state of one [`Gcra`] bucket: the theoretical arrival time, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcraState(u64);

impl Gcra {
    /// A rate; `per_second` must be in `1..=`[`MAX_PER_SECOND`] and `burst` in
    /// `1..=`[`MAX_BURST`].
    pub fn new(rate: KeyRate) -> Result<Self> {
        if !(1..=MAX_PER_SECOND).contains(&rate.per_second) {
            return Err(Error::invalid(
                "rate.per_second",
                format!(
                    "{} is outside 1..={MAX_PER_SECOND} calls per second",
                    rate.per_second
                ),
            ));
        }
        if !(1..=MAX_BURST).contains(&rate.burst) {
            return Err(Error::invalid(
                "rate.burst",
                format!("{} is outside 1..={MAX_BURST} calls", rate.burst),
            ));
        }
        let interval = 1_000_000_000 / u64::from(rate.per_second);
        Ok(Gcra {
            interval,
            tolerance: interval * u64::from(rate.burst - 1),
            burst: rate.burst,
        })
    }

    /// Admits a call at `now` (updating `state`) or refuses it with the milliseconds until
    /// one would be admitted.
    pub fn check(&self, state: &mut GcraState, now: Timestamp) -> std::result::Result<Burst, u64> {
        let now_ns = now.as_millis().saturating_mul(1_000_000);
        let tat = state.0.max(now_ns);
        if tat - now_ns > self.tolerance {
            let wait = tat - now_ns - self.tolerance;
            return Err(wait.div_ceil(1_000_000));
        }
        let next = tat.saturating_add(self.interval);
        state.0 = next;
        let used = (next - now_ns).div_ceil(self.interval);
        Ok(Burst {
            limit: self.burst,
            remaining: self
                .burst
                .saturating_sub(u32::try_from(used).unwrap_or(u32::MAX)),
            reset: Timestamp::from_millis(next.div_ceil(1_000_000)),
        })
    }
}

/// What admitting a key's calls needs, read with its credential.
#[derive(Debug)]
pub(crate) struct KeyQuota {
    pub(crate) key: KeyId,
    pub(crate) root: GroupId,
    pub(crate) env: Env,
    pub(crate) monthly_calls: Option<u64>,
    pub(crate) rate: Option<Gcra>,
    /// The stored count and its month, to start counting from.
    pub(crate) stored: (u32, u64),
    /// The key's group and its ancestors, each with its `api_calls` limit.
    pub(crate) chain: Vec<(GroupId, Option<u64>)>,
}

#[derive(Debug, Clone, Copy)]
struct Count {
    month: u32,
    /// Written to the store.
    stored: u64,
    /// Counted since.
    pending: u64,
}

impl Count {
    fn roll(&mut self, month: u32) {
        if month > self.month {
            *self = Count {
                month,
                stored: 0,
                pending: 0,
            };
        }
    }

    fn used(&self) -> u64 {
        self.stored + self.pending
    }
}

#[derive(Debug)]
struct KeyMeter {
    root: GroupId,
    count: Count,
    last_used: Timestamp,
    gcra: GcraState,
}

#[derive(Debug)]
struct GroupMeter {
    root: GroupId,
    count: Count,
}

/// Counts of API key calls not yet written, and burst state.
#[derive(Debug, Default)]
pub(crate) struct Meters {
    inner: Mutex<MetersInner>,
}

#[derive(Debug, Default)]
struct MetersInner {
    /// Keyed by tenant and key: a key id is only meaningful inside its tenant.
    keys: HashMap<(GroupId, KeyId), KeyMeter>,
    groups: HashMap<(Env, GroupId), GroupMeter>,
    unwritten: u64,
    last_flush: Option<Timestamp>,
}

/// The totals a flush left in the store: per key and per group, for the month.
#[derive(Default)]
struct Written {
    keys: Vec<(GroupId, KeyId, u32, u64)>,
    groups: Vec<(Env, GroupId, u32, u64)>,
}

/// Counts taken out of memory to be written.
struct Flush {
    keys: Vec<(KeyId, GroupId, u32, u64, Timestamp)>,
    groups: Vec<(Env, GroupId, GroupId, u32, u64)>,
}

impl Meters {
    fn lock(&self) -> std::sync::MutexGuard<'_, MetersInner> {
        // The counts are plain numbers, valid whatever a panicking thread left.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls of `group` counted in memory for `month` and not yet written.
    pub(crate) fn pending_calls(&self, env: Env, group: GroupId, month: u32) -> u64 {
        self.lock()
            .groups
            .get(&(env, group))
            .filter(|m| m.count.month == month)
            .map_or(0, |m| m.count.pending)
    }

    /// A stored key with the calls not yet written added.
    pub(crate) fn merged(&self, root: GroupId, mut key: ApiKey) -> ApiKey {
        let inner = self.lock();
        if let Some(m) = inner.keys.get(&(root, key.id)) {
            let stored_month = key.last_used_at.map(Timestamp::month_index);
            if stored_month == Some(m.count.month) {
                key.calls_this_month += m.count.pending;
            } else if stored_month.is_none_or(|s| s < m.count.month) {
                key.calls_this_month = m.count.pending;
            }
            if m.count.pending > 0 {
                key.last_used_at = key.last_used_at.max(Some(m.last_used));
            }
        }
        key
    }

    /// The groups of `chain` whose counts are not in memory yet.
    fn missing(&self, env: Env, chain: &[(GroupId, Option<u64>)]) -> Vec<GroupId> {
        let inner = self.lock();
        chain
            .iter()
            .map(|(g, _)| *g)
            .filter(|g| !inner.groups.contains_key(&(env, *g)))
            .collect()
    }

    /// Admits one call of the key in `q` at `now`, or refuses it. Returns the limits left
    /// and whether the counts are due to be written.
    fn admit(
        &self,
        q: &KeyQuota,
        now: Timestamp,
        loaded: Vec<(GroupId, u64)>,
        breaches: &mut Vec<(GroupId, u64, u64)>,
    ) -> Result<(RateLimit, bool)> {
        let month = now.month_index();
        let reset = Timestamp::start_of_month(month + 1);
        let mut inner = self.lock();
        for (g, stored) in loaded {
            inner.groups.entry((q.env, g)).or_insert(GroupMeter {
                root: q.root,
                count: Count {
                    month,
                    stored,
                    pending: 0,
                },
            });
        }
        let (stored_month, stored_calls) = q.stored;
        let key = inner.keys.entry((q.root, q.key)).or_insert(KeyMeter {
            root: q.root,
            count: Count {
                month: stored_month,
                stored: stored_calls,
                pending: 0,
            },
            last_used: now,
            gcra: GcraState::default(),
        });
        key.count.roll(month);
        if let Some(limit) = q.monthly_calls
            && key.count.used() >= limit
        {
            return Err(Error::RateLimited {
                retry_after_ms: reset.as_millis().saturating_sub(now.as_millis()),
            });
        }
        let mut gcra = key.gcra;
        let burst = match &q.rate {
            Some(rate) => Some(
                rate.check(&mut gcra, now)
                    .map_err(|retry_after_ms| Error::RateLimited { retry_after_ms })?,
            ),
            None => None,
        };
        for (g, limit) in &q.chain {
            let Some(meter) = inner.groups.get_mut(&(q.env, *g)) else {
                continue;
            };
            meter.count.roll(month);
            if let Some(limit) = limit
                && meter.count.used() >= *limit
            {
                breaches.push((*g, *limit, meter.count.used()));
                return Err(Error::QuotaExceeded {
                    resource: Resource::ApiCalls,
                    limit: *limit,
                    used: meter.count.used(),
                    resets_at: Some(reset),
                });
            }
        }
        // Admitted: count it everywhere.
        for (g, _) in &q.chain {
            if let Some(meter) = inner.groups.get_mut(&(q.env, *g)) {
                meter.count.pending += 1;
            }
        }
        let Some(key) = inner.keys.get_mut(&(q.root, q.key)) else {
            return Err(Error::Internal {
                reason: "a key's meter vanished while admitting a call".into(),
            });
        };
        key.gcra = gcra;
        key.count.pending += 1;
        key.last_used = key.last_used.max(now);
        let used = key.count.used();
        inner.unwritten += 1;
        let last_flush = *inner.last_flush.get_or_insert(now);
        let due = inner.unwritten >= FLUSH_CALLS
            || now.as_millis().saturating_sub(last_flush.as_millis()) >= FLUSH_INTERVAL_MS;
        Ok((
            RateLimit {
                limit: q.monthly_calls,
                remaining: q.monthly_calls.map(|l| l.saturating_sub(used)),
                reset,
                burst,
            },
            due,
        ))
    }

    /// Takes the unwritten counts out (they stay counted as `stored` once written).
    fn take(&self, now: Timestamp) -> Flush {
        let mut inner = self.lock();
        inner.unwritten = 0;
        inner.last_flush = Some(now);
        let keys = inner
            .keys
            .iter_mut()
            .filter(|(_, m)| m.count.pending > 0)
            .map(|((_, id), m)| {
                let n = std::mem::take(&mut m.count.pending);
                m.count.stored += n;
                (*id, m.root, m.count.month, n, m.last_used)
            })
            .collect();
        let groups = inner
            .groups
            .iter_mut()
            .filter(|(_, m)| m.count.pending > 0)
            .map(|((env, g), m)| {
                let n = std::mem::take(&mut m.count.pending);
                m.count.stored += n;
                (*env, *g, m.root, m.count.month, n)
            })
            .collect();
        Flush { keys, groups }
    }

    /// Sets the counts just written to what the store now holds: with other instances
    /// writing their own counts to the same database, the stored total is more than
    /// this instance counted.
    fn settle(&self, written: Written) {
        let mut inner = self.lock();
        for (root, id, month, total) in written.keys {
            if let Some(m) = inner.keys.get_mut(&(root, id))
                && m.count.month == month
            {
                m.count.stored = m.count.stored.max(total);
            }
        }
        for (env, g, month, total) in written.groups {
            if let Some(m) = inner.groups.get_mut(&(env, g))
                && m.count.month == month
            {
                m.count.stored = m.count.stored.max(total);
            }
        }
    }

    /// Puts back counts whose write failed.
    fn restore(&self, flush: Flush) {
        let mut inner = self.lock();
        for (id, root, month, n, _) in flush.keys {
            if let Some(m) = inner.keys.get_mut(&(root, id))
                && m.count.month == month
            {
                m.count.stored -= n;
                m.count.pending += n;
            }
        }
        for (env, g, _, month, n) in flush.groups {
            if let Some(m) = inner.groups.get_mut(&(env, g))
                && m.count.month == month
            {
                m.count.stored -= n;
                m.count.pending += n;
            }
        }
    }
}

/// Installs rate limiting: the calls counted in memory, written when the store syncs,
/// copies or closes.
pub(crate) fn install(parts: &mut Parts, hooks: &mut Hooks) {
    parts.insert(Meters::default());
    hooks.flush.push(Engine::flush_meters);
}

impl Engine {
    /// Admits one call of the key described by `q`, loading group counts as needed.
    pub(crate) fn admit_call(&self, ctx: &Context, q: &KeyQuota) -> Result<RateLimit> {
        let now = self.clock().now();
        let missing = self.part::<Meters>().missing(q.env, &q.chain);
        let mut loaded = Vec::new();
        if !missing.is_empty() {
            let kv = self.store().read()?;
            let tenant = crate::base::layout::TenantKeys::new(q.root, q.env);
            let period = now.month_index();
            for g in missing {
                let stored = match one_storage::KvRead::get(
                    &*kv,
                    &tenant.usage(g, Resource::ApiCalls, period),
                )? {
                    Some(b) => decode_u64(&b, "usage counter")?,
                    None => 0,
                };
                loaded.push((g, stored));
            }
        }
        let mut breaches = Vec::new();
        let admitted = self.part::<Meters>().admit(q, now, loaded, &mut breaches);
        self.log_breaches(
            breaches
                .into_iter()
                .map(|(group, limit, used)| Breach {
                    ctx: *ctx,
                    root: q.root,
                    group,
                    resource: Resource::ApiCalls,
                    period: now.month_index(),
                    limit,
                    used,
                })
                .collect(),
        );
        let (rate_limit, due) = admitted?;
        if due {
            // Inside a write transaction on this thread the write waits for a later call.
            match self.flush_meters() {
                Ok(()) | Err(Error::NestedWrite) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(rate_limit)
    }

    /// Writes the API calls counted in memory: each key's `last_used_at` and
    /// `calls_this_month`, and the `api_calls` usage of the groups, in one transaction.
    /// Run by [`Engine::sync`] and [`Engine::close`], and automatically (see
    /// [`FLUSH_CALLS`]).
    pub fn flush_meters(&self) -> Result<()> {
        let flush = self.part::<Meters>().take(self.clock().now());
        if flush.keys.is_empty() && flush.groups.is_empty() {
            return Ok(());
        }
        let written = self.transact(|kv| {
            let mut totals = Written::default();
            for (id, root, month, n, last) in &flush.keys {
                let scope = Scope::new(Context::system(*root), *root);
                self.write_in(kv, scope, &mut AfterTx::default(), |tx| {
                    let path = tx.scope.structure.api_key(*id);
                    if let Some(mut stored) = tx.view().get_record::<StoredKey>(&path)? {
                        let key = &mut stored.key;
                        match key.last_used_at.map(Timestamp::month_index) {
                            Some(m) if m == *month => key.calls_this_month += n,
                            Some(m) if m > *month => {}
                            _ => key.calls_this_month = *n,
                        }
                        key.last_used_at = key.last_used_at.max(Some(*last));
                        if key.last_used_at.map(Timestamp::month_index) == Some(*month) {
                            totals.keys.push((*root, *id, *month, key.calls_this_month));
                        }
                        tx.put_record(&path, &stored)?;
                    }
                    Ok(())
                })?;
            }
            for (env, group, root, month, n) in &flush.groups {
                let scope = Scope::new(Context::system(*root).with_env(*env), *root);
                self.write_in(kv, scope, &mut AfterTx::default(), |tx| {
                    let key = tx.scope.tenant.usage(*group, Resource::ApiCalls, *month);
                    let old = match one_storage::KvRead::get(&*tx.kv, &key)? {
                        Some(b) => decode_u64(&b, "usage counter")?,
                        None => 0,
                    };
                    let total = old.saturating_add(*n);
                    totals.groups.push((*env, *group, *month, total));
                    tx.put(key, total.to_be_bytes())
                })?;
            }
            Ok::<_, Error>(totals)
        });
        match written {
            Ok(totals) => {
                self.part::<Meters>().settle(totals);
                Ok(())
            }
            Err(e) => {
                self.part::<Meters>().restore(flush);
                Err(e)
            }
        }
    }
}

/// Builds what admitting a key's calls needs.
pub(crate) fn key_quota(
    key: &ApiKey,
    root: GroupId,
    chain: Vec<(GroupId, Option<u64>)>,
) -> Result<Arc<KeyQuota>> {
    Ok(Arc::new(KeyQuota {
        key: key.id,
        root,
        env: key.env,
        monthly_calls: key.monthly_calls,
        rate: key.rate.map(Gcra::new).transpose()?,
        stored: (
            key.last_used_at.map_or(0, Timestamp::month_index),
            key.calls_this_month,
        ),
        chain,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn gcra_allows_a_burst_then_the_rate() {
        let g = Gcra::new(KeyRate {
            per_second: 10,
            burst: 3,
        })
        .unwrap();
        let mut s = GcraState::default();
        let t = 1_000_000;
        let remaining: Vec<u32> = (0..3)
            .map(|_| g.check(&mut s, at(t)).unwrap().remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        // The fourth must wait one interval (100 ms).
        assert_eq!(g.check(&mut s, at(t)), Err(100));
        assert_eq!(g.check(&mut s, at(t + 99)), Err(1));
        assert_eq!(g.check(&mut s, at(t + 100)).unwrap().remaining, 0);
        // After a quiet second the burst is full again.
        let b = g.check(&mut s, at(t + 2_000)).unwrap();
        assert_eq!((b.limit, b.remaining), (3, 2));
        assert!(
            Gcra::new(KeyRate {
                per_second: 0,
                burst: 1
            })
            .is_err()
        );
    }

    #[test]
    fn gcra_never_admits_more_than_burst_plus_rate() {
        let g = Gcra::new(KeyRate {
            per_second: 50,
            burst: 5,
        })
        .unwrap();
        let mut s = GcraState::default();
        let start = 10_000u64;
        let admitted = (0..2_000u64)
            .filter(|i| g.check(&mut s, at(start + i / 2)).is_ok())
            .count();
        // 1,000 ms at 50/s plus the burst.
        assert!(admitted <= 5 + 50, "{admitted}");
        assert!(admitted >= 50, "{admitted}");
    }
}
