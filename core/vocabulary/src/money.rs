//! Money: integer minor units with a currency, exact shares, and splits that conserve the
//! total to the minor unit.
//!
//! [`Money`] is an `i64` count of minor units (cents for USD, satoshi-like units for a
//! token) and a [`Currency`]. Arithmetic is checked: mixing currencies is
//! [`Error::CurrencyMismatch`], leaving the `i64` range is [`Error::Overflow`]; nothing
//! wraps or saturates silently.
//!
//! A share is a [`Bps`]: basis points, an integer in `0..=10_000` (1 bp = 0.01 %), so a
//! revenue share is stored exactly, never as a float.
//!
//! # Rounding rule
//!
//! [`split`] divides a total among parties by integer weights with the **largest remainder
//! method**: each part first gets `floor(|total| * weight / sum)`; the minor units left over
//! (fewer than the number of parties) go one each to the parts with the largest remainders
//! `|total| * weight mod sum`, ties going to the earlier party. The parts sum exactly to the
//! total, none has the opposite sign of the total, a zero weight gets zero, and the result
//! depends only on the inputs. A negative total (a refund) is split as its absolute value
//! and negated. Products are computed in `i128`, so no weight or amount overflows.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A currency code: ISO 4217 (`USD`, `EUR`, `JPY`) for fiat, or a token symbol (`USDC`,
/// `ETH`): 3 to 6 upper-case ASCII letters or digits. In JSON, the code's text.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency {
    len: u8,
    code: [u8; 6],
}

/// The binary form of [`Currency`]: the derived one, fixed by stored records.
#[derive(Serialize, Deserialize, JsonSchema)]
struct CurrencyShadow {
    len: u8,
    code: [u8; 6],
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(self.as_str())
        } else {
            CurrencyShadow {
                len: self.len,
                code: self.code,
            }
            .serialize(s)
        }
    }
}

crate::text_form::text_schema!(
    Currency,
    "Currency",
    "A currency code: ISO 4217 (`USD`) or a token symbol (`USDC`).",
    pattern = "^[A-Z0-9]{3,6}$"
);

impl<'de> Deserialize<'de> for Currency {
    /// Text or bytes, checked either way: a code that `Currency::from_str` refuses is
    /// refused here too.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = if d.is_human_readable() {
            String::deserialize(d)?
        } else {
            let CurrencyShadow { len, code } = CurrencyShadow::deserialize(d)?;
            let bytes = code.get(..usize::from(len)).unwrap_or(&[]);
            String::from_utf8_lossy(bytes).into_owned()
        };
        text.parse().map_err(crate::decode::refuse)
    }
}

impl Currency {
    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only upper-case ASCII letters and digits are ever stored.
        std::str::from_utf8(&self.code[..usize::from(self.len)]).unwrap_or("???")
    }
}

impl std::str::FromStr for Currency {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let ok = (3..=6).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(Error::invalid(
                "currency",
                format!(
                    "{s:?} is not a currency code (3-6 upper-case letters or digits, e.g. USD)"
                ),
            ));
        }
        let mut code = [0u8; 6];
        code[..s.len()].copy_from_slice(s.as_bytes());
        Ok(Currency {
            len: s.len() as u8,
            code,
        })
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Debug for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money: integer minor units of one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Money {
    /// Minor units (cents, …). Negative for refunds and debits.
    pub minor: i64,
    /// The currency.
    pub currency: Currency,
}

impl Money {
    /// `minor` units of `currency` (a code such as `"USD"`).
    pub fn new(minor: i64, currency: &str) -> Result<Self> {
        Ok(Money {
            minor,
            currency: currency.parse()?,
        })
    }

    /// Zero of `currency`.
    pub fn zero(currency: Currency) -> Self {
        Money { minor: 0, currency }
    }

    fn same_currency(self, other: Money) -> Result<()> {
        if self.currency != other.currency {
            return Err(Error::CurrencyMismatch {
                left: self.currency.to_string(),
                right: other.currency.to_string(),
            });
        }
        Ok(())
    }

    /// `self + other`, in the same currency, without overflow.
    pub fn checked_add(self, other: Money) -> Result<Money> {
        self.same_currency(other)?;
        let minor = self.minor.checked_add(other.minor).ok_or(Error::Overflow {
            what: "money addition",
        })?;
        Ok(Money { minor, ..self })
    }

    /// `self - other`, in the same currency, without overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money> {
        self.same_currency(other)?;
        let minor = self.minor.checked_sub(other.minor).ok_or(Error::Overflow {
            what: "money subtraction",
        })?;
        Ok(Money { minor, ..self })
    }

    /// The parts of this amount by `weights` (see the module's rounding rule).
    pub fn split(self, weights: &[u64]) -> Result<Vec<Money>> {
        Ok(split(self.minor, weights)?
            .into_iter()
            .map(|minor| Money { minor, ..self })
            .collect())
    }

    /// `(share, rest)`: the part `share` of this amount, and what is left (the split of
    /// [`split`] with weights `share` and `10000 - share`).
    pub fn share(self, share: Bps) -> Result<(Money, Money)> {
        let (kept, rest) = split_two(self.minor, share);
        Ok((
            Money {
                minor: kept,
                ..self
            },
            Money {
                minor: rest,
                ..self
            },
        ))
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} (minor units)", self.minor, self.currency)
    }
}

/// A ratio in basis points, `0..=10_000` (10,000 bp = 100 %). Serialised, its number;
/// a number over 10,000 is refused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(try_from = "u16", into = "u16")]
pub struct Bps(u16);

impl TryFrom<u16> for Bps {
    type Error = Error;
    fn try_from(bps: u16) -> Result<Self> {
        let make = || Bps::new(u32::from(bps));
        make().map_err(|_| {
            crate::decode::refused(|| make().err().unwrap_or(Error::Overflow { what: "bps" }))
        })
    }
}

impl From<Bps> for u16 {
    fn from(bps: Bps) -> u16 {
        bps.0
    }
}

impl Bps {
    /// 100 %.
    pub const ALL: Bps = Bps(10_000);
    /// 0 %.
    pub const NONE: Bps = Bps(0);

    /// `bps` basis points; more than 10,000 is an error naming `field`.
    pub fn new(bps: u32) -> Result<Self> {
        u16::try_from(bps)
            .ok()
            .filter(|b| *b <= 10_000)
            .map(Bps)
            .ok_or_else(|| Error::invalid("share", format!("{bps} bp is more than 100 %")))
    }

    /// The ratio in basis points.
    pub fn get(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for Bps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02} %", self.0 / 100, self.0 % 100)
    }
}

/// Splits `total` minor units by `weights` (see the module's rounding rule). An empty or
/// all-zero weight list is [`Error::InvalidField`].
pub fn split(total: i64, weights: &[u64]) -> Result<Vec<i64>> {
    let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if sum == 0 {
        return Err(Error::invalid(
            "weights",
            "need at least one positive weight",
        ));
    }
    let negative = total < 0;
    let magnitude = u128::from(total.unsigned_abs());
    let mut parts: Vec<u128> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    let mut given: u128 = 0;
    for (i, w) in weights.iter().enumerate() {
        // magnitude < 2^64 and w < 2^64: the product fits in u128.
        let product = magnitude * u128::from(*w);
        parts.push(product / sum);
        given += product / sum;
        remainders.push((product % sum, i));
    }
    // Fewer than `weights.len()` units are left, one for each largest remainder.
    let left = magnitude - given;
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.iter().take(left as usize) {
        parts[*i] += 1;
    }
    parts
        .into_iter()
        .map(|p| {
            // Each part is at most |total|, which fits: i64::MIN's magnitude only as a whole.
            let p = i128::try_from(p).map_err(|_| Error::Overflow { what: "split" })?;
            let signed = if negative { -p } else { p };
            i64::try_from(signed).map_err(|_| Error::Overflow { what: "split" })
        })
        .collect()
}

/// [`split`] with the weights `share` and `10000 - share`, without allocating.
fn split_two(total: i64, share: Bps) -> (i64, i64) {
    const SUM: u128 = 10_000;
    let magnitude = u128::from(total.unsigned_abs());
    let (w0, w1) = (u128::from(share.0), SUM - u128::from(share.0));
    let (mut p0, r0) = ((magnitude * w0) / SUM, (magnitude * w0) % SUM);
    let (mut p1, r1) = ((magnitude * w1) / SUM, (magnitude * w1) % SUM);
    // r0 + r1 is 0 or SUM: at most one unit is left, for the larger remainder (ties: first).
    if p0 + p1 < magnitude {
        if r0 >= r1 {
            p0 += 1;
        } else {
            p1 += 1;
        }
    }
    // Each part is at most |total|; it fits once the sign is back.
    let signed = |p: u128| {
        let p = p as i128;
        (if total < 0 { -p } else { p }) as i64
    };
    (signed(p0), signed(p1))
}

/// Splits `total` up a chain of parties, each keeping `shares[i]` of what reaches it and
/// passing the rest on; the last element of the result is what is left after the last
/// party (the platform's part). Each step is a two-party [`split`], so the parts sum to
/// the total exactly.
pub fn split_chain(total: i64, shares: &[Bps]) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(shares.len() + 1);
    let mut reaching = total;
    for share in shares {
        let (kept, rest) = split_two(reaching, *share);
        out.push(kept);
        reaching = rest;
    }
    out.push(reaching);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn largest_remainder_by_hand() {
        // 100 by 1:1:1 -> 33.33 each; one unit left, to the first (tie).
        assert_eq!(split(100, &[1, 1, 1]).unwrap(), [34, 33, 33]);
        // 10 by 1:2:3 -> 1.67, 3.33, 5: remainders 4, 2, 0 (of 6) -> the first gets it.
        assert_eq!(split(10, &[1, 2, 3]).unwrap(), [2, 3, 5]);
        assert_eq!(split(-100, &[1, 1, 1]).unwrap(), [-34, -33, -33]);
        assert_eq!(split(5, &[0, 1]).unwrap(), [0, 5]);
        assert!(split(5, &[]).is_err() && split(5, &[0, 0]).is_err());
        assert_eq!(split(i64::MIN, &[1]).unwrap(), [i64::MIN]);
        assert_eq!(
            split(i64::MAX, &[u64::MAX, u64::MAX])
                .unwrap()
                .iter()
                .sum::<i64>(),
            i64::MAX
        );
    }

    #[test]
    fn shares_and_chains() {
        let m = Money::new(1999, "USD").unwrap();
        let (group, platform) = m.share(Bps::new(1500).unwrap()).unwrap();
        assert_eq!((group.minor, platform.minor), (300, 1699));
        assert_eq!(
            split_chain(10_000, &[Bps::new(1000).unwrap(), Bps::new(5000).unwrap()]).unwrap(),
            [1000, 4500, 4500]
        );
        assert!(Bps::new(10_001).is_err());
        assert_eq!(Bps::new(1234).unwrap().to_string(), "12.34 %");
    }

    #[test]
    fn money_refuses_mixed_currencies_and_overflow() {
        let usd = Money::new(i64::MAX, "USD").unwrap();
        let eur = Money::new(1, "EUR").unwrap();
        assert!(matches!(
            usd.checked_add(eur),
            Err(Error::CurrencyMismatch { .. })
        ));
        assert!(matches!(
            usd.checked_add(Money::new(1, "USD").unwrap()),
            Err(Error::Overflow { .. })
        ));
        for bad in ["usd", "US", "DOLLARS!", ""] {
            assert!(Money::new(1, bad).is_err(), "{bad}");
        }
        assert_eq!(Money::new(5, "USDC").unwrap().currency.as_str(), "USDC");
    }

    proptest! {
        #[test]
        fn splits_conserve_the_total(
            total in -(i64::MAX / 2)..=(i64::MAX / 2),
            weights in prop::collection::vec(any::<u64>(), 1..12),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let parts = split(total, &weights).unwrap();
            prop_assert_eq!(parts.len(), weights.len());
            prop_assert_eq!(parts.iter().map(|p| i128::from(*p)).sum::<i128>(), i128::from(total));
            for (p, w) in parts.iter().zip(&weights) {
                let same_sign = if total >= 0 { *p >= 0 } else { *p <= 0 };
                prop_assert!(same_sign);
                if *w == 0 { prop_assert_eq!(*p, 0); }
            }
            prop_assert_eq!(split(total, &weights).unwrap(), parts);
        }

        #[test]
        fn small_weights_round_each_part_by_less_than_one_unit(
            total in 0i64..=(i64::MAX / 2),
            weights in prop::collection::vec(0u64..1_000_000, 1..12),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let sum: u128 = weights.iter().map(|w| u128::from(*w)).sum();
            for (p, w) in split(total, &weights).unwrap().iter().zip(&weights) {
                let exact_floor = (total as u128 * u128::from(*w)) / sum;
                prop_assert!(*p as u128 == exact_floor || *p as u128 == exact_floor + 1);
            }
        }

        #[test]
        fn two_way_splits_follow_the_general_rule(
            total in any::<i64>(),
            bps in 0u32..=10_000,
        ) {
            let share = Bps::new(bps).unwrap();
            let general = split(total, &[u64::from(bps), u64::from(10_000 - bps)]).unwrap();
            let (a, b) = split_two(total, share);
            prop_assert_eq!(vec![a, b], general);
        }

        #[test]
        fn chains_conserve_the_total(
            total in -(i64::MAX / 2)..=(i64::MAX / 2),
            shares in prop::collection::vec(0u32..=10_000, 0..10),
        ) {
            let shares: Vec<Bps> = shares.into_iter().map(|s| Bps::new(s).unwrap()).collect();
            let parts = split_chain(total, &shares).unwrap();
            prop_assert_eq!(parts.iter().map(|p| i128::from(*p)).sum::<i128>(), i128::from(total));
        }
    }
}
