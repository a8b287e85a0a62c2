//! Plans and limits: what a group may use.
//!
//! A group is limited by its own `plan` (`starter`, `pro`, `enterprise`) and its own
//! `limits` overrides, both group properties. Every resource a record uses counts against
//! the group it belongs to **and every ancestor** (usage is kept as subtree totals), so a
//! thing created in a child group counts against the tenant's plan, and against the
//! child's own limits when the child has a plan or limits of its own. A group with neither
//! is not limited itself (its ancestors still are); a tenant without a plan is unlimited.
//!
//! | resource | kind | starter | pro | enterprise |
//! |---|---|---|---|---|
//! | `api_calls` | per month | 10,000 | 100,000 | unlimited |
//! | `users` (people) | total | 100 | 1,000 | unlimited |
//! | `things` | total | 1,000 | 10,000 | unlimited |
//! | `connections` | total | 5,000 | 50,000 | unlimited |
//! | `storage_bytes` | total | 1 GB (10⁹) | 10 GB | unlimited |
//! | `ai_tokens` | per month | 100,000 | 1,000,000 | unlimited |
//! | `embedding_tokens` | per month | 500,000 | 5,000,000 | unlimited |
//!
//! (`pro`'s connection and embedding limits are ours; the others are the product's.)
//! `limits` overrides any of them: `{"things": 5000, "users": -1}`; `-1` or `"unlimited"`
//! means no limit. Monthly resources count in calendar months (UTC) and start from zero on
//! the first of the month. Storage counts the bytes of the group's primary records (key and
//! value of each thing, connection and event), not index copies. Usage is kept per
//! environment: the `test` copy of a tenant has its own usage under the same limits.
//! Changing `plan`, `limits`, the revenue share or the `billing` block (payment ids,
//! payout addresses) needs `billing:manage` and logs `subscription_event`.

use serde::{Deserialize, Serialize};

use crate::base::id::Ref;
use crate::base::resource::Resource;
use crate::base::value::Value;
use crate::kernel::Tx;
use crate::records::event::kinds;
use crate::records::group::Group;
use crate::{Error, Result};

/// A billing plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Plan {
    /// The small plan.
    Starter,
    /// The middle plan.
    Pro,
    /// No limits.
    Enterprise,
}

impl Plan {
    /// Every plan.
    pub const ALL: [Plan; 3] = [Plan::Starter, Plan::Pro, Plan::Enterprise];

    /// The name, as stored in a group's `plan` property.
    pub const fn as_str(self) -> &'static str {
        match self {
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    /// The plan's default limit of `resource`; `None` for unlimited.
    pub const fn limit(self, resource: Resource) -> Option<u64> {
        use Resource as R;
        match self {
            Plan::Enterprise => None,
            Plan::Starter => Some(match resource {
                R::ApiCalls => 10_000,
                R::Users => 100,
                R::Things => 1_000,
                R::Connections => 5_000,
                R::StorageBytes => 1_000_000_000,
                R::AiTokens => 100_000,
                R::EmbeddingTokens => 500_000,
            }),
            Plan::Pro => Some(match resource {
                R::ApiCalls => 100_000,
                R::Users => 1_000,
                R::Things => 10_000,
                R::Connections => 50_000,
                R::StorageBytes => 10_000_000_000,
                R::AiTokens => 1_000_000,
                R::EmbeddingTokens => 5_000_000,
            }),
        }
    }
}

impl std::str::FromStr for Plan {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Plan::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "properties.plan",
                    format!("{s:?} is not a plan (starter, pro or enterprise)"),
                )
            })
    }
}

/// A limit override: a number, or no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// At most this much.
    Max(u64),
    /// No limit.
    Unlimited,
}

impl Limit {
    /// The value stored in `limits`: the number, or `-1`.
    pub fn to_value(self) -> Value {
        match self {
            Limit::Max(n) => Value::Int(i64::try_from(n).unwrap_or(i64::MAX)),
            Limit::Unlimited => Value::Int(-1),
        }
    }

    fn parse(resource: Resource, v: &Value) -> Result<Limit> {
        match v {
            Value::Int(-1) => Ok(Limit::Unlimited),
            Value::Int(n) if *n >= 0 => Ok(Limit::Max(*n as u64)),
            Value::String(s) if s == "unlimited" => Ok(Limit::Unlimited),
            other => Err(Error::invalid(
                format!("properties.limits.{resource}"),
                format!("{other} is not a limit (a count, -1 or \"unlimited\")"),
            )),
        }
    }
}

/// The plan a group names, if any.
pub(crate) fn plan_of(group: &Group) -> Result<Option<Plan>> {
    group
        .properties
        .get_path("plan")
        .and_then(Value::as_str)
        .map(str::parse)
        .transpose()
}

/// The group's own limit of `resource`: its override, else its plan's; `None` when the
/// group itself does not limit it.
pub(crate) fn limit_of(group: &Group, resource: Resource) -> Result<Option<u64>> {
    let limits = group.properties.get_path("limits").and_then(Value::as_map);
    if let Some(v) = limits.and_then(|m| m.get(resource.as_str())) {
        return Ok(match Limit::parse(resource, v)? {
            Limit::Max(n) => Some(n),
            Limit::Unlimited => None,
        });
    }
    Ok(plan_of(group)?.and_then(|p| p.limit(resource)))
}

/// Checks the billing properties of a group: `plan`, `limits`, and the revenue share
/// (`revenue_share_bps`, an integer in `0..=10000`, or the older `revenue_share`, a number
/// in `[0, 1]` with at most four decimals).
pub(crate) fn check_billing_properties(
    properties: &std::collections::BTreeMap<String, Value>,
) -> Result<()> {
    if let Some(v) = properties.get("plan") {
        match v.as_str() {
            Some(s) => {
                s.parse::<Plan>()?;
            }
            None => {
                return Err(Error::invalid(
                    "properties.plan",
                    format!("must be a string, not a {}", v.type_name()),
                ));
            }
        }
    }
    if let Some(limits) = properties.get("limits").and_then(Value::as_map) {
        for (name, v) in limits {
            Limit::parse(name.parse()?, v)?;
        }
    }
    crate::metering::revenue::share_from_properties(properties)?;
    Ok(())
}

/// The property keys that only `billing:manage` may change: the plan, its limits, the
/// revenue share, and the `billing` block (payment ids, payout addresses), where a
/// change would redirect money.
pub(crate) const BILLING_KEYS: [&str; 5] = [
    "plan",
    "limits",
    "revenue_share",
    "revenue_share_bps",
    "billing",
];

/// Whether a property map or patch sets anything only `billing:manage` may set.
pub(crate) fn touches_billing(properties: &Value) -> bool {
    properties
        .as_map()
        .is_some_and(|m| BILLING_KEYS.iter().any(|k| m.contains_key(*k)))
}

/// Whether a property patch sets anything besides the billing settings (or is not a
/// map at all).
pub(crate) fn touches_more_than_billing(properties: &Value) -> bool {
    properties
        .as_map()
        .is_none_or(|m| m.keys().any(|k| !BILLING_KEYS.contains(&k.as_str())))
}

impl Tx<'_, '_> {
    /// Logs `subscription_event` on `new` if its plan, limits, revenue share or billing
    /// block differ from `old`'s: the record of every billing change.
    pub(crate) fn log_billing_change(&mut self, old: &Group, new: &Group) -> Result<()> {
        let billing_of = |g: &Group| BILLING_KEYS.map(|k| g.properties.get_path(k).cloned());
        if billing_of(old) == billing_of(new) {
            return Ok(());
        }
        let plan = |g: &Group| {
            g.properties
                .get_path("plan")
                .and_then(Value::as_str)
                .unwrap_or("none")
                .to_string()
        };
        let limits = new
            .properties
            .get_path("limits")
            .cloned()
            .unwrap_or(Value::Null);
        self.log(
            kinds::SUBSCRIPTION_EVENT,
            new.id,
            Some(Ref::from(new.id)),
            Value::map()
                .with("from", plan(old))
                .with("to", plan(new))
                .with("limits", limits),
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_tags_are_stable() {
        for r in Resource::ALL {
            assert_eq!(r.as_str().parse::<Resource>().unwrap(), r);
        }
        assert_eq!(Resource::ApiCalls.tag(), 1);
        assert_eq!(Resource::EmbeddingTokens.tag(), 7);
        for p in Plan::ALL {
            assert_eq!(p.as_str().parse::<Plan>().unwrap(), p);
        }
        assert!("gold".parse::<Plan>().is_err());
    }

    #[test]
    fn plan_defaults_match_the_table() {
        assert_eq!(Plan::Starter.limit(Resource::ApiCalls), Some(10_000));
        assert_eq!(Plan::Pro.limit(Resource::Things), Some(10_000));
        assert_eq!(Plan::Enterprise.limit(Resource::Things), None);
    }

    #[test]
    fn limits_parse_numbers_and_unlimited() {
        let r = Resource::Things;
        assert_eq!(Limit::parse(r, &Value::Int(5)).unwrap(), Limit::Max(5));
        assert_eq!(Limit::parse(r, &Value::Int(-1)).unwrap(), Limit::Unlimited);
        assert_eq!(
            Limit::parse(r, &Value::from("unlimited")).unwrap(),
            Limit::Unlimited
        );
        for bad in [Value::Int(-2), Value::Float(1.5), Value::from("lots")] {
            let e = Limit::parse(r, &bad).unwrap_err();
            assert!(e.to_string().contains("limits.things"), "{e}");
        }
    }
}
