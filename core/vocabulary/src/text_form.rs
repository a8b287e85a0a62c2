//! Types that read as text in JSON and keep their compact form in binary encodings.
//!
//! Human-readable formats (JSON: the C ABI, HTTP, exports) see an id reference, a
//! principal or an address range as the text it prints as (`thg_…`, `system`,
//! `10.0.0.0/8`) and parse it back with `FromStr`. Binary formats (postcard: on disk and
//! between Rust programs) see the derived form of a private shadow type, which never
//! changes, so stored records keep their bytes.

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
                    let text = String::deserialize(d)?;
                    text.parse().map_err(serde::de::Error::custom)
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
