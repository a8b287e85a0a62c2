//! Time, injected: every timestamp the engine writes comes from a [`Clock`].

use schemars::JsonSchema;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    Serialize,
    Deserialize,
    JsonSchema,
)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The timestamp `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus `ms` milliseconds, saturating at the end of time.
    pub const fn plus_millis(self, ms: u64) -> Self {
        Self(self.0.saturating_add(ms))
    }

    /// The first millisecond of the month with index `month` (see [`Timestamp::month_index`]).
    pub const fn start_of_month(month: u32) -> Self {
        // Howard Hinnant's days-from-civil algorithm, for the first day of the month.
        let (year, m) = ((month / 12) as i64, (month % 12) as i64 + 1);
        let y = if m <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Self(if days < 0 {
            0
        } else {
            days as u64 * 86_400_000
        })
    }

    /// The calendar month (UTC) this time falls in, as `year * 12 + (month - 1)`: the
    /// period of monthly counters.
    pub const fn month_index(self) -> u32 {
        // Howard Hinnant's days-to-civil algorithm, for days on or after the epoch.
        let z = (self.0 / 86_400_000) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
        (year * 12 + month - 1) as u32
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A source of the current time. The engine never reads the system clock directly.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "this is the one place that reads the system clock"
    )]
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// A clock that moves only when told to: for tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(AtomicU64::new(start.0))
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms` milliseconds.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;

    #[test]
    fn month_index_follows_the_calendar() {
        let month = |ms: u64| {
            let i = Timestamp::from_millis(ms).month_index();
            (i / 12, i % 12 + 1)
        };
        assert_eq!(month(0), (1970, 1));
        // 2024-02-29T23:59:59.999Z and the next millisecond.
        assert_eq!(month(1_709_251_199_999), (2024, 2));
        assert_eq!(month(1_709_251_200_000), (2024, 3));
        // 2026-12-31T23:59:59.999Z and 2027-01-01.
        assert_eq!(month(1_798_761_599_999), (2026, 12));
        assert_eq!(month(1_798_761_600_000), (2027, 1));
        for ms in [0, 1_709_251_199_999, 1_709_251_200_000, 1_798_761_600_000] {
            let i = Timestamp::from_millis(ms).month_index();
            let start = Timestamp::start_of_month(i);
            assert!(start.as_millis() <= ms);
            assert_eq!(start.month_index(), i);
            if start.as_millis() > 0 {
                assert_eq!(
                    Timestamp::from_millis(start.as_millis() - 1).month_index(),
                    i - 1
                );
            }
            assert_eq!(Timestamp::start_of_month(i + 1).month_index(), i + 1);
        }
    }
}
