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
//! means no limit. [`LIMIT_NAMES`] is every name `limits` takes: the engine's above, and
//! the seeds' (`apiCalls`, `storage` in gigabytes, `cycles`, …), one name per resource.
//!
//! The other billing properties a group may hold, each read by the engine:
//! `revenue_share_bps` / `revenue_share` / `revenueShare` (one of them, `metering/revenue.rs`);
//! `cycleEnabled` (`false`: the group and the groups below it may not spend AI tokens — an
//! `ai_tokens` limit of 0); `cycleModels` (a list of model names: `record_cycle` refuses
//! any other model in the group and below it, the nearest list deciding); and `billing`
//! (payment ids and payout addresses, the application's). The seeds' `trialEndsAt` and
//! `usage` are refused ([`refuse_inert`]): the engine runs no trials, and counts usage
//! itself. Monthly resources count in calendar months (UTC) and start from zero on
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

    /// Reads the value of `limits.<name>`, a number in `unit`.
    fn parse(name: &str, unit: LimitUnit, v: &Value) -> Result<Limit> {
        let bad = |why: &str| {
            Error::invalid(
                format!("properties.limits.{name}"),
                format!("{v} is not a limit ({why}, -1 or \"unlimited\")"),
            )
        };
        match (unit, v) {
            (_, Value::Int(-1)) => Ok(Limit::Unlimited),
            (_, Value::String(s)) if s == "unlimited" => Ok(Limit::Unlimited),
            (LimitUnit::Count, Value::Int(n)) if *n >= 0 => Ok(Limit::Max(*n as u64)),
            (LimitUnit::Count, _) => Err(bad("a whole count")),
            (LimitUnit::Gigabytes, Value::Int(n)) if *n >= 0 => (*n as u64)
                .checked_mul(GIGABYTE)
                .map(Limit::Max)
                .ok_or_else(|| bad("gigabytes up to 18,446,744,073")),
            (LimitUnit::Gigabytes, Value::Float(f)) if f.is_finite() && *f >= 0.0 => {
                let bytes = (f * GIGABYTE as f64).round();
                if bytes >= u64::MAX as f64 {
                    return Err(bad("gigabytes up to 18,446,744,073"));
                }
                Ok(Limit::Max(bytes as u64))
            }
            (LimitUnit::Gigabytes, _) => Err(bad("a number of gigabytes")),
        }
    }
}

/// The unit of a number in `limits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitUnit {
    /// The resource's own unit: calls, people, records, bytes, tokens.
    Count,
    /// Gigabytes of 10⁹ bytes (the plan table's unit), possibly fractional.
    Gigabytes,
}

const GIGABYTE: u64 = 1_000_000_000;

/// Every name `limits` takes, the resource each limits, and the unit of its number: the
/// engine's names ([`Resource::as_str`]) and the seeds'. `cycles` is the AI budget
/// `record_cycle` draws from, which the engine meters in tokens. A group names each
/// resource once.
pub const LIMIT_NAMES: [(&str, Resource, LimitUnit); 14] = [
    ("api_calls", Resource::ApiCalls, LimitUnit::Count),
    ("apiCalls", Resource::ApiCalls, LimitUnit::Count),
    ("users", Resource::Users, LimitUnit::Count),
    ("things", Resource::Things, LimitUnit::Count),
    ("connections", Resource::Connections, LimitUnit::Count),
    ("storage_bytes", Resource::StorageBytes, LimitUnit::Count),
    ("storageBytes", Resource::StorageBytes, LimitUnit::Count),
    ("storage", Resource::StorageBytes, LimitUnit::Gigabytes),
    ("ai_tokens", Resource::AiTokens, LimitUnit::Count),
    ("aiTokens", Resource::AiTokens, LimitUnit::Count),
    ("cycles", Resource::AiTokens, LimitUnit::Count),
    (
        "embedding_tokens",
        Resource::EmbeddingTokens,
        LimitUnit::Count,
    ),
    (
        "embeddingTokens",
        Resource::EmbeddingTokens,
        LimitUnit::Count,
    ),
    ("embeddings", Resource::EmbeddingTokens, LimitUnit::Count),
];

/// The resource and unit of a name in `limits`.
fn limit_name(name: &str) -> Result<(Resource, LimitUnit)> {
    LIMIT_NAMES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, r, u)| (*r, *u))
        .ok_or_else(|| {
            Error::invalid(
                format!("properties.limits.{name}"),
                format!(
                    "{name:?} is not a limit's name (one of {})",
                    LIMIT_NAMES.map(|(n, _, _)| n).join(", ")
                ),
            )
        })
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

/// The group's own limit of `resource`: 0 AI tokens when `cycleEnabled` is `false`, else
/// its `limits` override (under any of its [`LIMIT_NAMES`]), else its plan's; `None` when
/// the group itself does not limit it.
pub(crate) fn limit_of(group: &Group, resource: Resource) -> Result<Option<u64>> {
    if resource == Resource::AiTokens
        && group.properties.get_path("cycleEnabled") == Some(&Value::Bool(false))
    {
        return Ok(Some(0));
    }
    let limits = group.properties.get_path("limits").and_then(Value::as_map);
    for (name, v) in limits.into_iter().flatten() {
        let Ok((named, unit)) = limit_name(name) else {
            continue;
        };
        if named == resource {
            return Ok(match Limit::parse(name, unit, v)? {
                Limit::Max(n) => Some(n),
                Limit::Unlimited => None,
            });
        }
    }
    Ok(plan_of(group)?.and_then(|p| p.limit(resource)))
}

/// The AI models a group allows (`cycleModels`), if it lists them.
pub(crate) fn cycle_models(group: &Group) -> Option<Vec<&str>> {
    match group.properties.get_path("cycleModels")? {
        Value::List(items) => Some(items.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// Refuses the seeds' properties the engine gives no meaning, when a new group or a
/// patch sets them (`null`, which removes one, is accepted): a setting stored and never
/// read would look enforced and not be.
pub(crate) fn refuse_inert(properties: &Value) -> Result<()> {
    let set = |key: &str| properties.get_path(key).is_some_and(|v| *v != Value::Null);
    if set("usage") {
        return Err(Error::invalid(
            "properties.usage",
            "usage is counted by the engine as records are written; read it with `usage`",
        ));
    }
    if set("trialEndsAt") {
        return Err(Error::invalid(
            "properties.trialEndsAt",
            "the engine runs no trials: keep the date under `billing` (which only \
             billing:manage changes) and change `plan` when the trial ends",
        ));
    }
    Ok(())
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
        let mut named: Vec<(Resource, &str)> = Vec::new();
        for (name, v) in limits {
            let (resource, unit) = limit_name(name)?;
            Limit::parse(name, unit, v)?;
            if let Some((_, first)) = named.iter().find(|(r, _)| *r == resource) {
                return Err(Error::invalid(
                    format!("properties.limits.{name}"),
                    format!("limits.{first} already limits {resource}: give one of them"),
                ));
            }
            named.push((resource, name));
        }
    }
    let shares = ["revenue_share_bps", "revenue_share", "revenueShare"]
        .into_iter()
        .filter(|k| properties.contains_key(*k))
        .collect::<Vec<_>>();
    if let [first, second, ..] = shares.as_slice() {
        return Err(Error::invalid(
            format!("properties.{second}"),
            format!("properties.{first} already sets the revenue share: give one of them"),
        ));
    }
    crate::metering::revenue::share_from_properties(properties)?;
    if let Some(v) = properties.get("cycleEnabled")
        && v.as_bool().is_none()
    {
        return Err(Error::invalid(
            "properties.cycleEnabled",
            format!("must be a boolean, not a {}", v.type_name()),
        ));
    }
    if let Some(v) = properties.get("cycleModels") {
        let ok = match v {
            Value::List(items) => items.iter().all(|m| {
                m.as_str()
                    .is_some_and(|s| crate::base::validate::name("model", s).is_ok())
            }),
            _ => false,
        };
        if !ok {
            return Err(Error::invalid(
                "properties.cycleModels",
                "must be a list of model names",
            ));
        }
    }
    Ok(())
}

/// The property keys that only `billing:manage` may change: the plan, its limits, the
/// revenue share, the AI switches, and the `billing` block (payment ids, payout addresses), where a
/// change would redirect money.
pub(crate) const BILLING_KEYS: [&str; 8] = [
    "plan",
    "limits",
    "revenue_share",
    "revenue_share_bps",
    "revenueShare",
    "cycleEnabled",
    "cycleModels",
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
        let c = LimitUnit::Count;
        assert_eq!(
            Limit::parse("things", c, &Value::Int(5)).unwrap(),
            Limit::Max(5)
        );
        assert_eq!(
            Limit::parse("things", c, &Value::Int(-1)).unwrap(),
            Limit::Unlimited
        );
        assert_eq!(
            Limit::parse("things", c, &Value::from("unlimited")).unwrap(),
            Limit::Unlimited
        );
        for bad in [Value::Int(-2), Value::Float(1.5), Value::from("lots")] {
            let e = Limit::parse("things", c, &bad).unwrap_err();
            assert!(e.to_string().contains("limits.things"), "{e}");
        }
    }

    #[test]
    fn gigabytes_are_ten_to_the_ninth_bytes() {
        let g = LimitUnit::Gigabytes;
        assert_eq!(
            Limit::parse("storage", g, &Value::Int(10)).unwrap(),
            Limit::Max(10_000_000_000)
        );
        assert_eq!(
            Limit::parse("storage", g, &Value::Float(0.5)).unwrap(),
            Limit::Max(500_000_000)
        );
        for bad in [
            Value::Int(-3),
            Value::Int(i64::MAX),
            Value::Float(f64::NAN),
            Value::Float(1e300),
            Value::from("big"),
        ] {
            let e = Limit::parse("storage", g, &bad).unwrap_err();
            assert!(e.to_string().contains("limits.storage"), "{e}");
        }
    }

    #[test]
    fn every_resource_has_its_own_name_and_names_are_unique() {
        for r in Resource::ALL {
            assert_eq!(limit_name(r.as_str()).unwrap(), (r, LimitUnit::Count));
        }
        let mut names = LIMIT_NAMES.map(|(n, _, _)| n).to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), LIMIT_NAMES.len());
        assert!(
            limit_name("bandwidth")
                .unwrap_err()
                .to_string()
                .contains("apiCalls")
        );
    }
}
