//! Revenue: what a group earned, its share and the platform's, payments, and reports.
//!
//! A group's revenue share is `properties.revenue_share_bps`, basis points in
//! `0..=10000`, or `revenue_share` (the seeds' `revenueShare`), a ratio in `[0, 1]` with at
//! most four decimals, read exactly as basis points; a group gives one of the three. [`Tx::record_revenue`] splits an amount into
//! the group's share and the platform's with [`Money::share`] (largest remainder: the parts
//! always add up to the total) and logs `group_revenue_generated`; each entry is also
//! written to a revenue index (`r <group> <currency> <event id>`), so
//! [`View::revenue`] sums a time range by scanning that index only, never the event log.
//! All of it needs `billing:manage`.

pub use one_vocabulary::metering::{Payment, PaymentRail, RevenueReport, RevenueSplit};

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::policy::Op;
use crate::base::clock::Timestamp;
use crate::base::id::{GroupId, Ref};
use crate::base::layout;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Tx, View};
use crate::metering::money::{Bps, Currency, Money};
use crate::records::event::{Event, kinds};
use crate::{Error, Result};

/// The longest payment or transfer reference accepted, in bytes.
pub const MAX_REFERENCE_BYTES: usize = 256;

/// A group's revenue share from its properties, if it has one.
pub(crate) fn share_from_properties(properties: &BTreeMap<String, Value>) -> Result<Option<Bps>> {
    if let Some(v) = properties.get("revenue_share_bps") {
        let bps = v
            .as_i64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| {
                Error::invalid(
                    "properties.revenue_share_bps",
                    format!("{v} is not a whole number of basis points"),
                )
            })?;
        return Bps::new(bps).map(Some).map_err(|_| {
            Error::invalid(
                "properties.revenue_share_bps",
                format!("{bps} is more than 10000"),
            )
        });
    }
    // The seeds write it `revenueShare`; the same ratio.
    let Some((key, v)) = ["revenue_share", "revenueShare"]
        .into_iter()
        .find_map(|k| properties.get(k).map(|v| (k, v)))
    else {
        return Ok(None);
    };
    let bad = || {
        Error::invalid(
            format!("properties.{key}"),
            format!("{v} is not a ratio in [0, 1] with at most four decimals (10% is 0.1)"),
        )
    };
    let f = v.as_f64().ok_or_else(bad)?;
    let bps = (f * 10_000.0).round();
    if !(0.0..=10_000.0).contains(&bps) || (f * 10_000.0 - bps).abs() > 1e-6 {
        return Err(bad());
    }
    Bps::new(bps as u32).map(Some).map_err(|_| bad())
}

fn check_reference(reference: &str) -> Result<()> {
    if reference.is_empty() {
        return Err(Error::MissingField { field: "reference" });
    }
    if reference.len() > MAX_REFERENCE_BYTES {
        return Err(Error::TooLarge {
            field: "reference",
            limit: MAX_REFERENCE_BYTES,
            actual: reference.len(),
        });
    }
    Ok(())
}

fn rail_metadata(meta: Value, rail: &PaymentRail) -> Result<Value> {
    Ok(match rail {
        PaymentRail::Fiat => meta.with("rail", "fiat"),
        PaymentRail::Crypto { network } => {
            validate::type_name("network", network)?;
            meta.with("rail", "crypto")
                .with("network", network.as_str())
        }
    })
}

fn money_metadata(meta: Value, key: &str, m: Money) -> Value {
    meta.with(key, m.minor)
        .with("currency", m.currency.as_str())
}

impl<K: KvRead> View<'_, K> {
    /// The revenue share of `group` (zero if it has none).
    pub fn revenue_share(&self, group: GroupId) -> Result<Bps> {
        self.authorize(Op::GetGroup, group)?;
        let g = self.check_scope(group)?;
        Ok(g.properties
            .as_map()
            .map(share_from_properties)
            .transpose()?
            .flatten()
            .unwrap_or(Bps::NONE))
    }

    /// Splits `total` up the group tree from `group`: `group` keeps its revenue share of
    /// the total, its parent its share of the rest, and so on up to the tenant; what is
    /// left is the platform's (`None`). The parts add up to the total exactly (see
    /// [`crate::split_chain`]). Needs `billing:manage` in `group`.
    pub fn revenue_chain(
        &self,
        group: GroupId,
        total: Money,
    ) -> Result<Vec<(Option<GroupId>, Money)>> {
        self.authorize(Op::Billing, group)?;
        let mut groups = Vec::new();
        let mut shares = Vec::new();
        let mut next = Some(group);
        while let Some(id) = next {
            let g = self.load_group(id)?;
            let share = g
                .properties
                .as_map()
                .map(share_from_properties)
                .transpose()?
                .flatten()
                .unwrap_or(Bps::NONE);
            groups.push(Some(id));
            shares.push(share);
            next = g.parent;
            if groups.len() > crate::records::group::MAX_DEPTH + 1 {
                return Err(Error::Corrupt {
                    what: "group tree",
                    reason: "parent chain too long".into(),
                });
            }
        }
        groups.push(None);
        let parts = crate::metering::money::split_chain(total.minor, &shares)?;
        Ok(groups
            .into_iter()
            .zip(parts)
            .map(|(g, minor)| (g, Money { minor, ..total }))
            .collect())
    }

    /// The revenue of `group` in `currency` recorded in `[from, until)`, summed from the
    /// revenue index. Needs `billing:manage`.
    pub fn revenue(
        &self,
        group: GroupId,
        currency: &str,
        from: Timestamp,
        until: Timestamp,
    ) -> Result<RevenueReport> {
        let currency: Currency = currency.parse()?;
        self.authorize(Op::Billing, group)?;
        let prefix = self.scope.tenant.revenue(group, currency.as_str());
        let bound = |t: Timestamp| {
            let ms = t.as_millis().min((1 << 48) - 1);
            layout::with_id(&prefix, u128::from(ms) << 80)
        };
        let mut range = KeyRange::prefix(&prefix);
        range.start = std::ops::Bound::Included(bound(from));
        range.end = std::ops::Bound::Excluded(bound(until));
        let mut sums = [0i128; 3];
        let mut entries = 0u64;
        self.kv.scan(&range, Direction::Forward, |_, v| {
            if v.len() != 24 {
                return Err(Error::Corrupt {
                    what: "revenue index",
                    reason: format!("expected 24 bytes, found {}", v.len()),
                });
            }
            for (i, sum) in sums.iter_mut().enumerate() {
                let mut b = [0u8; 8];
                b.copy_from_slice(&v[i * 8..i * 8 + 8]);
                *sum += i128::from(i64::from_be_bytes(b));
            }
            entries += 1;
            Ok::<_, Error>(ControlFlow::Continue(()))
        })?;
        let money = |sum: i128| -> Result<Money> {
            Ok(Money {
                minor: i64::try_from(sum).map_err(|_| Error::Overflow {
                    what: "revenue report",
                })?,
                currency,
            })
        };
        Ok(RevenueReport {
            total: money(sums[0])?,
            group: money(sums[1])?,
            platform: money(sums[2])?,
            entries,
        })
    }
}

impl Tx<'_, '_> {
    /// Records revenue `total` earned in `group`: splits it into the group's share and the
    /// platform's, logs `group_revenue_generated` with both, and indexes it for
    /// [`View::revenue`]. Needs `billing:manage`.
    pub fn record_revenue(&mut self, group: GroupId, total: Money) -> Result<RevenueSplit> {
        self.view().authorize(Op::Billing, group)?;
        let share = self.view().revenue_share(group)?;
        let (group_part, platform) = total.share(share)?;
        let meta = money_metadata(Value::map(), "total", total)
            .with("group_share", group_part.minor)
            .with("platform_share", platform.minor)
            .with("share_bps", i64::from(share.get()));
        let event = self.log(
            kinds::GROUP_REVENUE_GENERATED,
            group,
            Some(Ref::from(group)),
            meta,
        )?;
        let mut entry = Vec::with_capacity(24);
        for m in [total, group_part, platform] {
            entry.extend_from_slice(&m.minor.to_be_bytes());
        }
        let key = layout::with_id(
            &self.scope.tenant.revenue(group, total.currency.as_str()),
            event.id.to_u128(),
        );
        self.put(key, entry)?;
        Ok(RevenueSplit {
            total,
            group: group_part,
            platform,
            share,
        })
    }

    /// Records that `amount` of revenue share was paid out to `group`, by `rail`, known by
    /// `reference`; logs `revenue_share_distributed` with the group's share. Needs
    /// `billing:manage`.
    pub fn distribute_revenue_share(
        &mut self,
        group: GroupId,
        amount: Money,
        rail: PaymentRail,
        reference: &str,
    ) -> Result<Event> {
        self.view().authorize(Op::Billing, group)?;
        check_reference(reference)?;
        let share = self.view().revenue_share(group)?;
        let meta = money_metadata(Value::map(), "amount", amount)
            .with("percentage_bps", i64::from(share.get()))
            .with("reference", reference);
        let meta = rail_metadata(meta, &rail)?;
        self.log(
            kinds::REVENUE_SHARE_DISTRIBUTED,
            group,
            Some(Ref::from(group)),
            meta,
        )
    }

    /// Records a payment made by or to `group`; logs `payment_event`. Needs
    /// `billing:manage`.
    pub fn record_payment(&mut self, group: GroupId, payment: Payment) -> Result<Event> {
        self.view().authorize(Op::Billing, group)?;
        check_reference(&payment.reference)?;
        let meta = money_metadata(Value::map(), "amount", payment.amount)
            .with("reference", payment.reference.as_str());
        let meta = rail_metadata(meta, &payment.rail)?;
        self.log(kinds::PAYMENT_EVENT, group, Some(Ref::from(group)), meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(v: Value) -> BTreeMap<String, Value> {
        Value::map().with("x", v).as_map().unwrap().clone()
    }

    #[test]
    fn shares_are_read_exactly() {
        let bps = |k: &str, v: Value| {
            let mut m = BTreeMap::new();
            m.insert(k.to_string(), v);
            share_from_properties(&m)
        };
        assert_eq!(
            bps("revenue_share_bps", Value::Int(1500)).unwrap(),
            Some(Bps::new(1500).unwrap())
        );
        assert_eq!(
            bps("revenue_share", Value::Float(0.15)).unwrap(),
            Some(Bps::new(1500).unwrap())
        );
        assert_eq!(
            bps("revenue_share", Value::Float(0.1234)).unwrap(),
            Some(Bps::new(1234).unwrap())
        );
        assert!(bps("revenue_share", Value::Float(0.12345)).is_err());
        assert!(bps("revenue_share", Value::Float(1.5)).is_err());
        assert_eq!(
            bps("revenueShare", Value::Float(0.3)).unwrap(),
            Some(Bps::new(3000).unwrap())
        );
        let e = bps("revenueShare", Value::Int(10)).unwrap_err();
        assert!(e.to_string().contains("revenueShare"), "{e}");
        assert!(bps("revenue_share_bps", Value::Int(10_001)).is_err());
        assert!(bps("revenue_share_bps", Value::Float(15.0)).is_err());
        assert_eq!(share_from_properties(&props(Value::Int(1))).unwrap(), None);
    }
}
