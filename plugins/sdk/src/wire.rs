//! How JSON values travel in ABI version 2's binary messages (postcard).
//!
//! Postcard is not self-describing, so it cannot carry a `serde_json::Value` as JSON
//! would. In binary messages a value is a tagged enum, the same one the engine stores
//! its own values as: `Null` 0, `Bool` 1, `Int` (i64) 2, `Float` (f64) 3, `String` 4,
//! `List` 5, `Map` 6 — the tag a varint, then the payload. Properties are a value that
//! must be a map. In JSON (ABI version 1, and anything human-readable) the serde
//! attributes here leave values as plain JSON.

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, VariantAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::abi::Properties;

/// The variant names of the binary value enum, by tag.
const VARIANTS: &[&str] = &["Null", "Bool", "Int", "Float", "String", "List", "Map"];

/// A value written as the binary enum.
struct Wire<'a>(&'a Value);

/// A map written as the binary enum's `Map`.
struct WireMap<'a>(&'a Map<String, Value>);

impl Serialize for Wire<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit_variant("Value", 0, "Null"),
            Value::Bool(b) => s.serialize_newtype_variant("Value", 1, "Bool", b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => s.serialize_newtype_variant("Value", 2, "Int", &i),
                // A `u64` past `i64::MAX` or a float; serde_json numbers are finite.
                None => s.serialize_newtype_variant(
                    "Value",
                    3,
                    "Float",
                    &n.as_f64().unwrap_or_default(),
                ),
            },
            Value::String(x) => s.serialize_newtype_variant("Value", 4, "String", x),
            Value::Array(l) => s.serialize_newtype_variant("Value", 5, "List", &WireList(l)),
            Value::Object(m) => WireMap(m).serialize(s),
        }
    }
}

impl Serialize for WireMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_newtype_variant("Value", 6, "Map", &WireEntries(self.0))
    }
}

struct WireList<'a>(&'a [Value]);

impl Serialize for WireList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Wire))
    }
}

struct WireEntries<'a>(&'a Map<String, Value>);

impl Serialize for WireEntries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, Wire(v))))
    }
}

/// A value read from the binary enum.
struct Owned(Value);

impl<'de> Deserialize<'de> for Owned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_enum("Value", VARIANTS, EnumVisitor)
            .map(Owned)
    }
}

struct EnumVisitor;

impl<'de> Visitor<'de> for EnumVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a binary value (tag 0-6)")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, variant): (u32, _) = data.variant()?;
        Ok(match tag {
            0 => {
                variant.unit_variant()?;
                Value::Null
            }
            1 => Value::Bool(variant.newtype_variant()?),
            2 => Value::from(variant.newtype_variant::<i64>()?),
            3 => Number::from_f64(variant.newtype_variant()?).map_or(Value::Null, Value::Number),
            4 => Value::String(variant.newtype_variant()?),
            5 => Value::Array(
                variant
                    .newtype_variant::<Vec<Owned>>()?
                    .into_iter()
                    .map(|v| v.0)
                    .collect(),
            ),
            6 => Value::Object(variant.newtype_variant_seed(EntriesSeed)?),
            _ => {
                return Err(de::Error::invalid_value(
                    de::Unexpected::Unsigned(u64::from(tag)),
                    &self,
                ));
            }
        })
    }
}

/// The entries of a binary `Map`.
struct EntriesSeed;

impl<'de> DeserializeSeed<'de> for EntriesSeed {
    type Value = Map<String, Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of values")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Map::new();
        while let Some((k, v)) = map.next_entry::<String, Owned>()? {
            out.insert(k, v.0);
        }
        Ok(out)
    }
}

/// Properties read from the binary enum: a value that must be a map.
fn read_properties<'de, D: Deserializer<'de>>(d: D) -> Result<Properties, D::Error> {
    match Owned::deserialize(d)?.0 {
        Value::Object(m) => Ok(m),
        other => Err(de::Error::custom(format!(
            "properties must be a map, not {other}"
        ))),
    }
}

/// `#[serde(with = "one_plugin_sdk::wire::properties")]` for [`Properties`]: plain JSON
/// when the format is human-readable, the binary value enum (a `Map`) otherwise.
pub mod properties {
    use super::*;

    /// Writes `m`.
    pub fn serialize<S: Serializer>(m: &Properties, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            m.serialize(s)
        } else {
            WireMap(m).serialize(s)
        }
    }

    /// Reads properties; in binary, a value that is not a map is refused.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Properties, D::Error> {
        if d.is_human_readable() {
            Properties::deserialize(d)
        } else {
            read_properties(d)
        }
    }
}

/// `#[serde(with)]` for `Option<Properties>`, as [`properties`] does for the map.
pub mod optional_properties {
    use super::*;

    /// Writes `m`.
    pub fn serialize<S: Serializer>(m: &Option<Properties>, s: S) -> Result<S::Ok, S::Error> {
        match m {
            _ if s.is_human_readable() => m.serialize(s),
            Some(m) => s.serialize_some(&WireMap(m)),
            None => s.serialize_none(),
        }
    }

    /// Reads optional properties.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Properties>, D::Error> {
        if d.is_human_readable() {
            return Option::<Properties>::deserialize(d);
        }
        struct Binary(Properties);
        impl<'de> Deserialize<'de> for Binary {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                read_properties(d).map(Binary)
            }
        }
        Ok(Option::<Binary>::deserialize(d)?.map(|b| b.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Holder {
        #[serde(with = "properties")]
        properties: Properties,
        #[serde(with = "optional_properties")]
        previous: Option<Properties>,
    }

    #[test]
    fn values_round_trip_in_binary_and_stay_plain_in_json() {
        let serde_json::Value::Object(properties) = serde_json::json!({
            "null": null, "yes": true, "int": -7, "big": 18446744073709551615u64,
            "float": 2.5, "text": "ünïcode", "list": [1, [2, {"x": "y"}]],
            "map": {"nested": {"deep": [null]}},
        }) else {
            unreachable!("an object")
        };
        let holder = Holder {
            properties: properties.clone(),
            previous: Some(properties.clone()),
        };
        let bytes = postcard::to_allocvec(&holder).unwrap();
        let back: Holder = postcard::from_bytes(&bytes).unwrap();
        // The u64 past i64::MAX travels as a float, as the engine stores it.
        assert_eq!(
            back.properties["big"],
            serde_json::json!(18446744073709551615.0)
        );
        assert_eq!(back.properties["list"], properties["list"]);
        assert_eq!(back.previous.as_ref().unwrap()["map"], properties["map"]);
        let none = Holder {
            properties: Properties::new(),
            previous: None,
        };
        let back: Holder = postcard::from_bytes(&postcard::to_allocvec(&none).unwrap()).unwrap();
        assert_eq!(back, none);
        let json = serde_json::to_value(&holder).unwrap();
        assert_eq!(json["properties"], serde_json::Value::Object(properties));
    }

    #[test]
    fn binary_properties_that_are_not_a_map_or_not_a_value_are_refused() {
        // Tag 4 (a string) where a map is expected, and an unknown tag 9.
        let string = postcard::to_allocvec(&(4u8, "x", 0u8)).unwrap();
        assert!(postcard::from_bytes::<Holder>(&string).is_err());
        assert!(postcard::from_bytes::<Holder>(&[9, 0]).is_err());
    }
}
