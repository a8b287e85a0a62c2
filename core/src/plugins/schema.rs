//! What a plugin declares and what its answers must respect: manifests (names, types,
//! fields, bounds) and the check of a thing's properties against its type's fields.

use one_plugin_sdk::abi::{FieldType, Manifest};

use super::runtime::failed;
use crate::base::validate;
use crate::base::value::Value;
use crate::{Error, Result};
use one_plugin_sdk::abi::TypeSchema;
pub(crate) fn parse_manifest(plugin: &str, json: &str) -> Result<Manifest> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt {
        what: "plugin manifest",
        reason: format!("{plugin}: {e}"),
    })
}

/// Checks what a module declared: names, types and fields. The plugin is named by what
/// it calls itself, since nothing else names it yet.
pub(crate) fn check_manifest(m: &Manifest) -> Result<()> {
    let bad = |reason: String| failed(&m.name, format!("invalid manifest: {reason}"));
    validate::type_name("plugin", &m.name).map_err(|e| bad(e.to_string()))?;
    if m.version.trim().is_empty() || m.version.len() > 64 {
        return Err(bad("the version must be 1 to 64 bytes".into()));
    }
    if m.types.is_empty() {
        return Err(bad("it defines no thing type".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for t in &m.types {
        validate::type_name("type", &t.name).map_err(|e| bad(e.to_string()))?;
        if t.name == crate::records::person::PERSON {
            return Err(bad("type `person` is the engine's own".into()));
        }
        if !seen.insert(t.name.as_str()) {
            return Err(bad(format!("type `{}` is declared twice", t.name)));
        }
        if t.description.len() > validate::MAX_NAME_BYTES {
            return Err(bad(format!("the description of `{}` is too long", t.name)));
        }
        let mut fields = std::collections::HashSet::new();
        for f in &t.fields {
            let at = format!("`{}.{}`", t.name, f.name);
            if f.name.is_empty() || f.name.len() > validate::MAX_TYPE_BYTES || f.name.contains('.')
            {
                return Err(bad(format!(
                    "field {at}: names are 1 to 64 bytes without `.`"
                )));
            }
            if !fields.insert(f.name.as_str()) {
                return Err(bad(format!("field {at} is declared twice")));
            }
            if f.min.is_some_and(|v| !v.is_finite()) || f.max.is_some_and(|v| !v.is_finite()) {
                return Err(bad(format!("field {at}: bounds must be finite")));
            }
            if let (Some(min), Some(max)) = (f.min, f.max)
                && min > max
            {
                return Err(bad(format!("field {at}: min is above max")));
            }
        }
    }
    Ok(())
}

/// Checks `properties` against the declared fields of `schema`: the last word on what a
/// thing of a plugin's type may hold, whatever the plugin answered.
pub(crate) fn check_properties(schema: &TypeSchema, properties: &Value) -> Result<()> {
    for field in &schema.fields {
        let at = || format!("properties.{}", field.name);
        let Some(value) = properties.as_map().and_then(|m| m.get(&field.name)) else {
            if field.required {
                return Err(Error::invalid(at(), "is required"));
            }
            continue;
        };
        if value == &Value::Null && !field.required {
            continue;
        }
        let type_ok = match field.kind {
            FieldType::String => matches!(value, Value::String(_)),
            FieldType::Integer => matches!(value, Value::Int(_)),
            FieldType::Number => matches!(value, Value::Int(_) | Value::Float(_)),
            FieldType::Boolean => matches!(value, Value::Bool(_)),
            FieldType::List => matches!(value, Value::List(_)),
            FieldType::Map => matches!(value, Value::Map(_)),
            FieldType::Any => true,
        };
        if !type_ok {
            let want = serde_json::to_value(field.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            return Err(Error::invalid(
                at(),
                format!("must be of type {want}, not {}", value.type_name()),
            ));
        }
        if let Some(n) = value
            .as_f64()
            .filter(|_| !matches!(value, Value::String(_)))
        {
            if let Some(min) = field.min
                && n < min
            {
                return Err(Error::invalid(at(), format!("must be at least {min}")));
            }
            if let Some(max) = field.max
                && n > max
            {
                return Err(Error::invalid(at(), format!("must be at most {max}")));
            }
        }
        if let Value::String(s) = value {
            if let Some(max) = field.max_length
                && s.chars().count() > max as usize
            {
                return Err(Error::invalid(
                    at(),
                    format!("must be at most {max} characters"),
                ));
            }
            if !field.one_of.is_empty() && !field.one_of.iter().any(|v| v == s) {
                return Err(Error::invalid(
                    at(),
                    format!("must be one of {}", field.one_of.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

pub(crate) fn manifest_json(m: &Manifest) -> Result<String> {
    serde_json::to_string(m).map_err(|e| failed(&m.name, format!("manifest: {e}")))
}

pub(crate) fn type_names(m: &Manifest) -> Value {
    Value::List(
        m.types
            .iter()
            .map(|t| Value::from(t.name.as_str()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use one_plugin_sdk::abi::Field;

    fn schema() -> TypeSchema {
        TypeSchema::new("product", "")
            .field(Field::number("price").required().min(0.0))
            .field(
                Field::string("currency")
                    .max_length(3)
                    .one_of(["EUR", "USD"]),
            )
            .field(Field::integer("stock"))
    }

    fn props(json: serde_json::Value) -> Value {
        Value::from(json)
    }

    #[test]
    fn properties_are_checked_against_declared_fields() {
        let s = schema();
        assert!(
            check_properties(
                &s,
                &props(
                    serde_json::json!({"price": 3.5, "currency": "EUR", "stock": 2, "extra": true})
                )
            )
            .is_ok()
        );
        let cases = [
            (serde_json::json!({}), "properties.price", "required"),
            (
                serde_json::json!({"price": -1}),
                "properties.price",
                "at least 0",
            ),
            (
                serde_json::json!({"price": "1"}),
                "properties.price",
                "type number",
            ),
            (
                serde_json::json!({"price": 1, "currency": "EURO"}),
                "properties.currency",
                "3 characters",
            ),
            (
                serde_json::json!({"price": 1, "currency": "GBP"}),
                "properties.currency",
                "one of",
            ),
            (
                serde_json::json!({"price": 1, "stock": 1.5}),
                "properties.stock",
                "type integer",
            ),
        ];
        for (json, field, reason) in cases {
            match check_properties(&s, &props(json.clone())) {
                Err(Error::InvalidField {
                    field: f,
                    reason: r,
                }) => {
                    assert_eq!(f, field, "{json}");
                    assert!(r.contains(reason), "{json}: {r}");
                }
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn manifests_with_bad_names_or_bounds_are_refused() {
        let ok = Manifest {
            name: "shop".into(),
            version: "1".into(),
            types: vec![schema()],
            reacts: false,
        };
        assert!(check_manifest(&ok).is_ok());
        let mut bad = Vec::new();
        bad.push(Manifest {
            name: "Shop".into(),
            ..ok.clone()
        });
        bad.push(Manifest {
            version: String::new(),
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![TypeSchema::new("person", "")],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![schema(), schema()],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![TypeSchema::new("t", "").field(Field::number("n").min(2.0).max(1.0))],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![TypeSchema::new("t", "").field(Field::number("a.b"))],
            ..ok.clone()
        });
        for m in bad {
            assert!(
                matches!(check_manifest(&m), Err(Error::PluginFailed { .. })),
                "{m:?}"
            );
        }
    }
}
