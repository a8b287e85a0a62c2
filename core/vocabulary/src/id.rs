//! Typed, 128-bit, time-ordered identifiers.
//!
//! An id is 48 bits of milliseconds since the Unix epoch followed by 80 bits that are
//! random for the first id of a millisecond and incremented for the next ones, so ids made
//! by one engine sort in creation order (the same scheme as ULID). Each kind of record has
//! its own id type, and a text form with a prefix that names the kind:
//! `grp_01jd8x…` for a group, `thg_` thing, `con_` connection, `evt_` event, `kno_`
//! knowledge, `key_` API key. The body is 26 characters of Crockford base32 (lower-case when printed,
//! either case when parsed). One kind of id never passes for another: parsing `thg_…` as a
//! [`GroupId`] is [`IdError::WrongKind`].

use schemars::JsonSchema;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
const BODY_LEN: usize = 26;

/// Why a text id did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The text was empty.
    #[error("empty id")]
    Empty,
    /// There was no `_` between prefix and body.
    #[error("id {text:?} has no `_` after its kind prefix (expected e.g. `thg_…`)")]
    MissingSeparator {
        /// The text given.
        text: String,
    },
    /// The prefix names no kind of id.
    #[error("id {text:?} has unknown prefix {prefix:?} (known: grp, thg, con, evt, kno, key, plg)")]
    UnknownPrefix {
        /// The text given.
        text: String,
        /// The prefix found.
        prefix: String,
    },
    /// The prefix names another kind than the one expected.
    #[error("id {text:?} is a {found} id, expected a {expected} id")]
    WrongKind {
        /// The text given.
        text: String,
        /// The kind wanted.
        expected: IdKind,
        /// The kind found.
        found: IdKind,
    },
    /// The body did not have 26 characters.
    #[error("id {text:?} has a body of {found} characters, expected 26")]
    BadLength {
        /// The text given.
        text: String,
        /// The body length found.
        found: usize,
    },
    /// The body held a character outside Crockford base32.
    #[error("id {text:?} has invalid character {ch:?} at body position {position}")]
    BadChar {
        /// The text given.
        text: String,
        /// The offending character.
        ch: char,
        /// Its position in the body, from 0.
        position: usize,
    },
    /// The body encodes more than 128 bits.
    #[error("id {text:?} is out of range (its first body character must be 0-7)")]
    Overflow {
        /// The text given.
        text: String,
    },
}

/// The kinds of id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// A group (`grp_`).
    Group,
    /// A thing (`thg_`); people are things of type `person`.
    Thing,
    /// A connection (`con_`).
    Connection,
    /// An event (`evt_`).
    Event,
    /// A knowledge chunk (`kno_`).
    Knowledge,
    /// An API key (`key_`).
    ApiKey,
    /// A plugin installed in a tenant, acting as itself (`plg_`).
    Plugin,
}

impl IdKind {
    /// The text prefix, without the `_`.
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Group => "grp",
            IdKind::Thing => "thg",
            IdKind::Connection => "con",
            IdKind::Event => "evt",
            IdKind::Knowledge => "kno",
            IdKind::ApiKey => "key",
            IdKind::Plugin => "plg",
        }
    }

    fn from_prefix(p: &str) -> Option<Self> {
        Some(match p {
            "grp" => IdKind::Group,
            "thg" => IdKind::Thing,
            "con" => IdKind::Connection,
            "evt" => IdKind::Event,
            "kno" => IdKind::Knowledge,
            "key" => IdKind::ApiKey,
            "plg" => IdKind::Plugin,
            _ => return None,
        })
    }

    /// The byte that stands for this kind inside keys. Never reuse a number.
    pub const fn tag(self) -> u8 {
        match self {
            IdKind::Group => 1,
            IdKind::Thing => 2,
            IdKind::Connection => 3,
            IdKind::Event => 4,
            IdKind::Knowledge => 5,
            IdKind::ApiKey => 6,
            IdKind::Plugin => 7,
        }
    }
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Group => "group",
            IdKind::Thing => "thing",
            IdKind::Connection => "connection",
            IdKind::Event => "event",
            IdKind::Knowledge => "knowledge",
            IdKind::ApiKey => "API key",
            IdKind::Plugin => "plugin",
        })
    }
}

fn encode_body(v: u128) -> [u8; BODY_LEN] {
    let mut out = [0u8; BODY_LEN];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 5 * (BODY_LEN - 1 - i);
        *slot = ALPHABET[((v >> shift) & 31) as usize];
    }
    out
}

fn decode_digit(c: u8) -> Option<u8> {
    let c = c.to_ascii_lowercase();
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Parses any id text into its kind and 128 bits.
pub fn parse_any(text: &str) -> Result<(IdKind, u128), IdError> {
    if text.is_empty() {
        return Err(IdError::Empty);
    }
    let Some((prefix, body)) = text.split_once('_') else {
        return Err(IdError::MissingSeparator { text: text.into() });
    };
    let kind = IdKind::from_prefix(prefix).ok_or_else(|| IdError::UnknownPrefix {
        text: text.into(),
        prefix: prefix.into(),
    })?;
    if body.len() != BODY_LEN {
        return Err(IdError::BadLength {
            text: text.into(),
            found: body.chars().count(),
        });
    }
    let mut v: u128 = 0;
    for (position, c) in body.bytes().enumerate() {
        let d = decode_digit(c).ok_or_else(|| IdError::BadChar {
            text: text.into(),
            ch: body[position..].chars().next().unwrap_or('?'),
            position,
        })?;
        if position == 0 && d > 7 {
            return Err(IdError::Overflow { text: text.into() });
        }
        v = (v << 5) | u128::from(d);
    }
    Ok((kind, v))
}

/// Ids are stored as 16 fixed bytes (a varint `u128` costs up to 19 bytes and decodes
/// slower) and shown to human-readable formats such as JSON in their text form.
fn serialize_id<S: serde::Serializer>(
    bits: u128,
    text: &impl fmt::Display,
    s: S,
) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        s.collect_str(text)
    } else {
        bits.to_be_bytes().serialize(s)
    }
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(u128);

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize_id(self.0, self, s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    let text = String::deserialize(d)?;
                    text.parse()
                        .map_err(|e: IdError| crate::decode::refuse(crate::Error::from(e)))
                } else {
                    Ok(Self(u128::from_be_bytes(<[u8; 16]>::deserialize(d)?)))
                }
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({
                    "type": "string",
                    "description": format!("The id of a {}, in its text form.", $kind),
                    "pattern": format!("^{}_[0-7][0-9a-hjkmnp-tv-z]{{25}}$", $kind.prefix()),
                })
            }
        }

        impl $name {
            /// The kind of id this type holds.
            pub const KIND: IdKind = $kind;

            /// Rebuilds an id from its 128 bits (as returned by [`Self::to_u128`]).
            pub const fn from_u128(v: u128) -> Self {
                Self(v)
            }

            /// The 128 bits of the id.
            pub const fn to_u128(self) -> u128 {
                self.0
            }

            /// The millisecond in which the id was made.
            pub const fn timestamp(self) -> Timestamp {
                Timestamp::from_millis((self.0 >> 80) as u64)
            }

            /// The 16 big-endian bytes (the form used in keys, which sorts like the id).
            pub const fn to_be_bytes(self) -> [u8; 16] {
                self.0.to_be_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let body = encode_body(self.0);
                f.write_str(Self::KIND.prefix())?;
                f.write_str("_")?;
                // The alphabet is ASCII, so the body is valid UTF-8.
                f.write_str(std::str::from_utf8(&body).map_err(|_| fmt::Error)?)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, IdError> {
                let (kind, v) = parse_any(text)?;
                if kind != Self::KIND {
                    return Err(IdError::WrongKind { text: text.into(), expected: Self::KIND, found: kind });
                }
                Ok(Self(v))
            }
        }

        impl From<$name> for Ref {
            fn from(id: $name) -> Ref {
                Ref::$name(id)
            }
        }
    };
}

id_type!(
    /// The id of a group (`grp_…`).
    GroupId, IdKind::Group);
id_type!(
    /// The id of a thing (`thg_…`). People are things of type `person`.
    ThingId, IdKind::Thing);
id_type!(
    /// The id of a connection (`con_…`).
    ConnectionId, IdKind::Connection);
id_type!(
    /// The id of an event (`evt_…`).
    EventId, IdKind::Event);
id_type!(
    /// The id of a knowledge chunk (`kno_…`).
    KnowledgeId, IdKind::Knowledge);
id_type!(
    /// The id of an API key (`key_…`). It names the key; the secret is never stored.
    KeyId, IdKind::ApiKey);
id_type!(
    /// The id of a plugin installed in a tenant (`plg_…`): the principal its reactions
    /// act as. Derived from the tenant and the plugin's name, so it stays the same across
    /// upgrades and a reinstall.
    PluginId, IdKind::Plugin);

/// An id of any kind: the endpoint of a connection, or the target of an event. In JSON,
/// its text (`thg_…`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(
    clippy::enum_variant_names,
    reason = "the variants are named after the id types they hold"
)]
pub enum Ref {
    /// A group.
    GroupId(GroupId),
    /// A thing (or person).
    ThingId(ThingId),
    /// A connection.
    ConnectionId(ConnectionId),
    /// An event.
    EventId(EventId),
    /// A knowledge chunk.
    KnowledgeId(KnowledgeId),
    /// An API key.
    KeyId(KeyId),
    /// A plugin of a tenant.
    PluginId(PluginId),
}

/// The binary form of [`Ref`]: the derived one, fixed by stored records.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Ref")]
#[allow(
    clippy::enum_variant_names,
    reason = "the variants are named after the id types they hold"
)]
enum RefShadow {
    GroupId(GroupId),
    ThingId(ThingId),
    ConnectionId(ConnectionId),
    EventId(EventId),
    KnowledgeId(KnowledgeId),
    KeyId(KeyId),
    PluginId(PluginId),
}

crate::text_form::text_in_json!(Ref, RefShadow);
crate::text_form::text_schema!(
    Ref,
    "Ref",
    "The id of a record of any kind, in its text form.",
    pattern = "^(grp|thg|con|evt|kno|key|plg)_[0-7][0-9a-hjkmnp-tv-z]{25}$"
);

impl Ref {
    /// The kind of id held.
    pub fn kind(self) -> IdKind {
        match self {
            Ref::GroupId(_) => IdKind::Group,
            Ref::ThingId(_) => IdKind::Thing,
            Ref::ConnectionId(_) => IdKind::Connection,
            Ref::EventId(_) => IdKind::Event,
            Ref::KnowledgeId(_) => IdKind::Knowledge,
            Ref::KeyId(_) => IdKind::ApiKey,
            Ref::PluginId(_) => IdKind::Plugin,
        }
    }

    /// The 128 bits of the id.
    pub fn to_u128(self) -> u128 {
        match self {
            Ref::GroupId(i) => i.0,
            Ref::ThingId(i) => i.0,
            Ref::ConnectionId(i) => i.0,
            Ref::EventId(i) => i.0,
            Ref::KnowledgeId(i) => i.0,
            Ref::KeyId(i) => i.0,
            Ref::PluginId(i) => i.0,
        }
    }

    /// The id of `kind` with the 128 bits `v`.
    pub fn from_parts(kind: IdKind, v: u128) -> Ref {
        match kind {
            IdKind::Group => Ref::GroupId(GroupId(v)),
            IdKind::Thing => Ref::ThingId(ThingId(v)),
            IdKind::Connection => Ref::ConnectionId(ConnectionId(v)),
            IdKind::Event => Ref::EventId(EventId(v)),
            IdKind::Knowledge => Ref::KnowledgeId(KnowledgeId(v)),
            IdKind::ApiKey => Ref::KeyId(KeyId(v)),
            IdKind::Plugin => Ref::PluginId(PluginId(v)),
        }
    }
}

impl fmt::Display for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ref::GroupId(i) => i.fmt(f),
            Ref::ThingId(i) => i.fmt(f),
            Ref::ConnectionId(i) => i.fmt(f),
            Ref::EventId(i) => i.fmt(f),
            Ref::KnowledgeId(i) => i.fmt(f),
            Ref::KeyId(i) => i.fmt(f),
            Ref::PluginId(i) => i.fmt(f),
        }
    }
}

impl fmt::Debug for Ref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Ref {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        let (kind, v) = parse_any(text)?;
        Ok(Ref::from_parts(kind, v))
    }
}

/// Makes time-ordered ids: strictly increasing within one generator, even when the clock
/// stands still or steps back (the last millisecond is reused and the random part counts up).
#[derive(Debug)]
pub struct IdGen {
    last: u128,
    rng: u64,
}

const RAND_BITS: u32 = 80;
const RAND_MASK: u128 = (1 << RAND_BITS) - 1;

impl IdGen {
    /// A generator whose ids all sort after `last`.
    pub fn new(seed: u64, last: u128) -> Self {
        Self { last, rng: seed }
    }

    /// The last id made.
    pub fn last(&self) -> u128 {
        self.last
    }

    /// Makes every later id sort after `id` (ids restored by an import).
    pub fn observe(&mut self, id: u128) {
        self.last = self.last.max(id);
    }

    fn next_random(&mut self) -> u128 {
        // SplitMix64: cheap, and the ids only need to be unique, not unguessable.
        let mut next = || {
            self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.rng;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        // Keep the top bit clear so the counter has room to count up within a millisecond.
        ((u128::from(next()) << 64 | u128::from(next())) & RAND_MASK) >> 1
    }

    /// The next id's bits at `now`: later than every id this generator made before.
    pub fn next(&mut self, now: Timestamp) -> u128 {
        let ms = u128::from(now.as_millis() & ((1 << 48) - 1));
        let candidate = (ms << RAND_BITS) | self.next_random();
        let id = if candidate > self.last {
            candidate
        } else {
            self.last + 1
        };
        self.last = id;
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_sorts_like_bits() {
        let mut g = IdGen::new(7, 0);
        let mut prev: Option<ThingId> = None;
        for ms in [5u64, 5, 5, 4, 1_700_000_000_000] {
            let id = ThingId(g.next(Timestamp::from_millis(ms)));
            let text = id.to_string();
            assert!(text.starts_with("thg_"));
            assert_eq!(text.parse::<ThingId>().unwrap(), id);
            assert_eq!(
                text.to_uppercase()
                    .replace("THG_", "thg_")
                    .parse::<ThingId>()
                    .unwrap(),
                id
            );
            if let Some(p) = prev {
                assert!(p < id);
                assert!(p.to_string() < text);
            }
            prev = Some(id);
        }
        assert_eq!(
            prev.unwrap().timestamp(),
            Timestamp::from_millis(1_700_000_000_000)
        );
    }

    #[test]
    fn ids_are_text_in_json_and_16_bytes_in_postcard() {
        let id = ThingId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<ThingId>(&json).unwrap(), id);
        assert!(
            serde_json::from_str::<GroupId>(&json).is_err(),
            "the kind is checked"
        );
        let bytes = postcard::to_stdvec(&id).unwrap();
        assert_eq!(bytes, id.to_be_bytes());
        assert_eq!(postcard::from_bytes::<ThingId>(&bytes).unwrap(), id);
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        let g = GroupId(42).to_string();
        assert_eq!("".parse::<GroupId>(), Err(IdError::Empty));
        assert!(matches!(
            "grp".parse::<GroupId>(),
            Err(IdError::MissingSeparator { .. })
        ));
        assert!(
            matches!("xyz_00".parse::<GroupId>(), Err(IdError::UnknownPrefix { prefix, .. }) if prefix == "xyz")
        );
        assert!(matches!(
            g.replace("grp", "thg").parse::<GroupId>(),
            Err(IdError::WrongKind {
                expected: IdKind::Group,
                found: IdKind::Thing,
                ..
            })
        ));
        assert!(matches!(
            "grp_123".parse::<GroupId>(),
            Err(IdError::BadLength { found: 3, .. })
        ));
        let bad = format!("{}u", &g[..g.len() - 1]);
        assert!(matches!(
            bad.parse::<GroupId>(),
            Err(IdError::BadChar {
                ch: 'u',
                position: 25,
                ..
            })
        ));
        let over = format!("grp_8{}", &g[5..]);
        assert!(matches!(
            over.parse::<GroupId>(),
            Err(IdError::Overflow { .. })
        ));
        let multibyte = format!("grp_é{}", &g[6..]);
        assert!(multibyte.parse::<GroupId>().is_err());
    }
}
