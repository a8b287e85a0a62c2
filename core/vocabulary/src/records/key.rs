//! API keys: a tenant's credentials for applications, with their permissions, limits
//! and where they may be used from. The secret itself is never stored; a key keeps its
//! digest.

use schemars::JsonSchema;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::context::{Env, Principal};
use crate::id::{GroupId, KeyId};
use crate::permission::PermissionSet;
use crate::secret::Secret;
use crate::{Error, Result};

/// The longest allow-list a key may have.
pub const MAX_ALLOWED_RANGES: usize = 64;

/// Whether a key still works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    /// It works.
    Active,
    /// It was revoked (or rotated away); every call with it is [`Error::Revoked`].
    Revoked,
}

/// A range of addresses, IPv4 or IPv6, in CIDR form (`10.0.0.0/8`, `2001:db8::/32`; a
/// bare address is a range of one). In JSON, that text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    base: IpAddr,
    prefix: u8,
}

/// The binary form of [`IpRange`]: the derived one, fixed by stored records.
#[derive(Serialize, Deserialize)]
#[serde(remote = "IpRange")]
struct IpRangeShadow {
    base: IpAddr,
    prefix: u8,
}

crate::text_form::text_in_json!(IpRange, IpRangeShadow);
crate::text_form::text_schema!(
    IpRange,
    "IpRange",
    "An IPv4 or IPv6 address range in CIDR form (`10.0.0.0/8`), or one address."
);

impl IpRange {
    /// Whether `ip` is in the range. IPv4 addresses written as IPv6 (`::ffff:a.b.c.d`)
    /// count as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.base, canonical(ip)) {
            (IpAddr::V4(base), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(base) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(base), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(base) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl std::str::FromStr for IpRange {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::invalid("allowed_ips", format!("{s:?} {why}"));
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let base = canonical(
            addr.trim()
                .parse::<IpAddr>()
                .map_err(|_| bad("is not an IP address or CIDR range"))?,
        );
        let max = if base.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| bad(&format!("has a prefix length outside 0-{max}")))?,
            None => max,
        };
        Ok(IpRange { base, prefix })
    }
}

impl std::fmt::Display for IpRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// An API key, as listed: everything but its secret (which is stored nowhere) and the
/// secret's digest (which only the engine reads).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ApiKey {
    /// Its id.
    pub id: KeyId,
    /// The group it acts in (with the groups below it).
    pub group: GroupId,
    /// The environment it reads and writes.
    pub env: Env,
    /// A name for people.
    pub name: String,
    /// The first characters of the secret, to recognise it (`ok_live_AbC1`).
    pub prefix: String,
    /// What it may do, at most.
    pub permissions: PermissionSet,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// The address ranges it accepts calls from; empty for any.
    pub allowed_ips: Vec<IpRange>,
    /// Whether it works.
    pub status: KeyStatus,
    /// Who made it.
    pub created_by: Principal,
    /// The environment its creator acted in.
    pub created_in: Env,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
    /// When it was last presented.
    pub last_used_at: Option<Timestamp>,
    /// Calls in the month of `last_used_at` (UTC).
    pub calls_this_month: u64,
    /// The most calls a month, if limited.
    pub monthly_calls: Option<u64>,
    /// The per-second rate and burst, if limited.
    pub rate: Option<KeyRate>,
}

impl ApiKey {
    /// Whether it is neither revoked nor otherwise retired (its expiry is checked apart).
    pub fn is_active(&self) -> bool {
        self.status == KeyStatus::Active
    }
}

/// An API key's per-second rate and burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KeyRate {
    /// Sustained calls per second.
    pub per_second: u32,
    /// Calls that may arrive at once.
    pub burst: u32,
}

/// What a new API key needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// A name for people to recognise the key by.
    pub name: String,
    /// The permissions the key acts with.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// The environment the key reads and writes (`live` or `test`).
    #[serde(default)]
    pub env: Env,
    /// The group the key acts in; `None` is the context's group.
    #[serde(default)]
    pub group: Option<GroupId>,
    /// When the key stops working, if ever.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// The only addresses the key may be used from (none: any address).
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// A monthly call quota for the key alone.
    #[serde(default)]
    pub monthly_calls: Option<u64>,
    /// A per-second rate and burst for the key.
    #[serde(default)]
    pub rate: Option<KeyRate>,
}

impl NewApiKey {
    /// A live key named `name` with `permissions` (strings, coarse or fine).
    pub fn new<S: AsRef<str>>(name: impl Into<String>, permissions: &[S]) -> Self {
        Self {
            name: name.into(),
            permissions: permissions.iter().map(|p| p.as_ref().to_string()).collect(),
            env: Env::Live,
            group: None,
            expires_at: None,
            allowed_ips: Vec::new(),
            monthly_calls: None,
            rate: None,
        }
    }

    /// Limits the key to `calls` a calendar month (UTC); further calls are
    /// [`Error::RateLimited`] until the month ends.
    pub fn monthly_calls(mut self, calls: u64) -> Self {
        self.monthly_calls = Some(calls);
        self
    }

    /// Limits the key to `per_second` calls a second on average, `burst` at once.
    pub fn rate(mut self, per_second: u32, burst: u32) -> Self {
        self.rate = Some(KeyRate { per_second, burst });
        self
    }

    /// Makes a key of another environment (a test key: `ok_test_…`).
    pub fn env(mut self, env: Env) -> Self {
        self.env = env;
        self
    }

    /// Scopes the key to another group of the context's scope.
    pub fn in_group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }

    /// Makes the key stop working at `t`.
    pub fn expires_at(mut self, t: Timestamp) -> Self {
        self.expires_at = Some(t);
        self
    }

    /// Accepts calls only from these address ranges (CIDR or single addresses).
    pub fn allow_ips<S: AsRef<str>>(mut self, ranges: &[S]) -> Self {
        self.allowed_ips = ranges.iter().map(|r| r.as_ref().to_string()).collect();
        self
    }
}

/// A key just made: its record and its secret, which is not stored and cannot be shown
/// again.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct CreatedKey {
    /// The stored record.
    pub key: ApiKey,
    /// The key's text.
    pub secret: Secret,
}
