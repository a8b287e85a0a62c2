//! Metering as a caller sees it: usage per resource, the stages of an AI cycle, payments
//! and revenue reports, and the rate-limit figures of a key call. Amounts are
//! [`Money`].

use crate::clock::Timestamp;
use crate::context::Context;
use crate::money::Bps;
use crate::money::Money;
use crate::resource::Resource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
/// What a group has used of one resource, and its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceUsage {
    /// The resource.
    pub resource: Resource,
    /// Used by the group and its descendants (this month, for monthly resources).
    pub used: u64,
    /// The group's own limit, if it has one.
    pub limit: Option<u64>,
    /// When a monthly count starts again from zero.
    pub resets_at: Option<Timestamp>,
}

/// Which stage of an AI call `Tx::record_cycle` records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CycleStage {
    /// Before the call: refused if the tokens would exceed the `ai_tokens` limit; counts
    /// nothing. Logs `cycle_request`.
    Request,
    /// After the call: counts the tokens used, even past the limit (they were spent).
    /// Logs `cycle_completed`.
    Completed,
}

/// How a payment moved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentRail {
    /// A card, bank transfer or other fiat payment.
    Fiat,
    /// A transfer on a blockchain network (`ethereum`, `solana`, …).
    Crypto {
        /// The network's name.
        network: String,
    },
}

/// A payment to record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    /// How much (negative for a refund).
    pub amount: Money,
    /// How it moved.
    pub rail: PaymentRail,
    /// The processor's or the chain's reference (a charge id, a transaction hash).
    pub reference: String,
}

impl Payment {
    /// A payment of `amount` by `rail`, known by `reference`.
    pub fn new(amount: Money, rail: PaymentRail, reference: impl Into<String>) -> Self {
        Self {
            amount,
            rail,
            reference: reference.into(),
        }
    }
}

/// An amount split between a group and the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RevenueSplit {
    /// The whole amount.
    pub total: Money,
    /// The group's share.
    pub group: Money,
    /// The platform's share.
    pub platform: Money,
    /// The share the group had.
    pub share: Bps,
}

/// Revenue of a group in one currency over a time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RevenueReport {
    /// All recorded revenue.
    pub total: Money,
    /// The group's shares.
    pub group: Money,
    /// The platform's shares.
    pub platform: Money,
    /// How many entries were summed.
    pub entries: u64,
}

/// What a rate allows now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Burst {
    /// Calls that may arrive at once.
    pub limit: u32,
    /// Calls that may still arrive at once now.
    pub remaining: u32,
    /// When the burst is full again.
    pub reset: Timestamp,
}

/// A presented API key that was admitted.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct KeyCall {
    /// The context the call acts as.
    pub context: Context,
    /// What the key may still do.
    pub rate_limit: RateLimit,
}

/// What an API key may still do, for `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RateLimit {
    /// The key's monthly call quota, if it has one.
    pub limit: Option<u64>,
    /// Calls left this month under it.
    pub remaining: Option<u64>,
    /// When the monthly count starts again.
    pub reset: Timestamp,
    /// The per-second rate, if the key has one.
    pub burst: Option<Burst>,
}
