//! Metering: what a group may use and what it has used, how fast API keys may call, and
//! money: plans and limits, usage counters, rate limits, exact splits and revenue share.

pub(crate) use one_vocabulary::money;
pub(crate) mod plans;
pub(crate) mod rate_limit;
pub(crate) mod revenue;
pub(crate) mod usage;
