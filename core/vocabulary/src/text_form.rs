//! Types that read as text in JSON and keep their compact form in binary encodings.
//!
//! Human-readable formats (JSON: the C ABI, HTTP, exports) see an id reference, a
//! principal or an address range as the text it prints as (`thg_…`, `system`,
//! `10.0.0.0/8`) and parse it back with `FromStr`. Binary formats (postcard: on disk and
//! between Rust programs) see the derived form of a private shadow type, which never
//! changes, so stored records keep their bytes.

/// A value read from its text with `FromStr`; a refused text keeps its typed error (see
/// [`crate::decode`]).
pub(crate) fn from_text<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: std::str::FromStr,
    crate::Error: From<T::Err>,
    D: serde::Deserializer<'de>,
{
    let text = <String as serde::Deserialize>::deserialize(d)?;
    text.parse::<T>()
        .map_err(|e| crate::decode::refuse(crate::Error::from(e)))
}

/// Implements `Serialize` and `Deserialize` for `$t`: its `Display`/`FromStr` text when
/// the format is human-readable, the `#[serde(remote = "…")]` shadow `$shadow` otherwise.
macro_rules! text_in_json {
    ($t:ty, $shadow:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.collect_str(self)
                } else {
                    <$shadow>::serialize(self, s)
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    $crate::text_form::from_text(d)
                } else {
                    <$shadow>::deserialize(d)
                }
            }
        }
    };
}

pub(crate) use text_in_json;

/// Implements `JsonSchema` for `$t`, named `$name`: a string (matching `$pattern` when
/// given) that `$description` explains.
macro_rules! text_schema {
    ($t:ty, $name:expr, $description:expr $(, pattern = $pattern:expr)?) => {
        impl schemars::JsonSchema for $t {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                #[allow(unused_mut, reason = "a pattern is optional")]
                let mut schema = schemars::json_schema!({
                    "type": "string",
                    "description": $description,
                });
                $(schema.insert("pattern".into(), serde_json::Value::from($pattern));)?
                schema
            }
        }
    };
}

pub(crate) use text_schema;

/// Implements `Deserialize` for the unit-variant enum `$t`, whose derived `Serialize`
/// writes its snake_case name in JSON and its variant index in binary formats: JSON is
/// read with `FromStr` (so an unknown name gets the engine's typed error), binary with
/// the index into `$t::ALL`, which lists the variants in declaration order.
macro_rules! named_in_json {
    ($t:ty) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                if d.is_human_readable() {
                    $crate::text_form::from_text(d)
                } else {
                    let index = u32::deserialize(d)?;
                    usize::try_from(index)
                        .ok()
                        .and_then(|i| <$t>::ALL.get(i).copied())
                        .ok_or_else(|| {
                            serde::de::Error::custom(format!(
                                "variant index {index} is not a {}",
                                stringify!($t)
                            ))
                        })
                }
            }
        }
    };
}

pub(crate) use named_in_json;

#[cfg(test)]
mod tests {
    use crate::context::Env;
    use crate::records::event::Dimension;
    use crate::records::group::{GroupStatus, GroupType};
    use crate::records::thing::ThingStatus;
    use crate::resource::Resource;

    /// The derived `Serialize` writes a variant's index; `named_in_json!` reads it back
    /// through `ALL`, so `ALL` must list the variants in declaration order.
    fn round_trips<T>(all: &[T])
    where
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    {
        for v in all {
            let bytes = postcard::to_stdvec(v).unwrap();
            assert_eq!(&postcard::from_bytes::<T>(&bytes).unwrap(), v);
            let text = serde_json::to_string(v).unwrap();
            assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), v, "{text}");
        }
    }

    #[test]
    fn named_enums_read_back_what_they_write_in_both_forms() {
        round_trips(&GroupType::ALL);
        round_trips(&GroupStatus::ALL);
        round_trips(&ThingStatus::ALL);
        round_trips(&Env::ALL);
        round_trips(&Resource::ALL);
        round_trips(&Dimension::ALL);
        round_trips(&crate::records::knowledge::Metric::ALL);
        round_trips(&crate::records::connection::EdgeDirection::ALL);
    }

    #[test]
    fn an_unknown_name_keeps_its_typed_error() {
        let err = crate::decode::from_json::<GroupType>("\"castle\"").unwrap_err();
        assert!(
            matches!(
                err,
                crate::decode::Undecodable::Value(crate::Error::InvalidField { .. })
            ),
            "{err:?}"
        );
        let err = crate::decode::from_json::<crate::id::ThingId>("\"thg_x\"").unwrap_err();
        assert!(
            matches!(
                err,
                crate::decode::Undecodable::Value(crate::Error::MalformedId(_))
            ),
            "{err:?}"
        );
        let err = crate::decode::from_json::<crate::id::ThingId>("5").unwrap_err();
        assert!(
            matches!(err, crate::decode::Undecodable::Shape(_)),
            "{err:?}"
        );
    }
}
