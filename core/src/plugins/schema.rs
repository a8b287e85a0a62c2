//! What a plugin declares and what its answers must respect: manifests (names, thing,
//! connection and event types, fields, bounds) and the check of a record's map
//! (properties, metadata) against declared fields.

use one_plugin_sdk::abi::{Field, FieldType, Manifest};

use super::runtime::failed;
use crate::base::layout::Declared;
use crate::base::permission::{Permission, PermissionSet};
use crate::base::validate;
use crate::base::value::Value;
use crate::records::connection::{MEMBER_OF, SESSION};
use crate::records::event::kinds;
use crate::{Error, Result};
pub(crate) fn parse_manifest(plugin: &str, json: &str) -> Result<Manifest> {
    serde_json::from_str(json).map_err(|e| Error::Corrupt {
        what: "plugin manifest",
        reason: format!("{plugin}: {e}"),
    })
}

/// Every type a manifest declares, with what it is a type of.
pub(crate) fn declared(m: &Manifest) -> impl Iterator<Item = (Declared, &str)> {
    let things = m.types.iter().map(|t| (Declared::Thing, t.name.as_str()));
    let connections = m
        .connections
        .iter()
        .map(|c| (Declared::Connection, c.name.as_str()));
    let events = m.events.iter().map(|e| (Declared::Event, e.name.as_str()));
    things.chain(connections).chain(events)
}

/// What a declared type of `of` is called in messages.
pub(crate) fn noun(of: Declared) -> &'static str {
    match of {
        Declared::Thing => "thing type",
        Declared::Connection => "connection type",
        Declared::Event => "event type",
    }
}

/// Checks what a module declared: names, types and fields. The plugin is named by what
/// it calls itself, since nothing else names it yet.
pub(crate) fn check_manifest(m: &Manifest) -> Result<()> {
    let bad = |reason: String| failed(&m.name, format!("invalid manifest: {reason}"));
    validate::type_name("plugin", &m.name).map_err(|e| bad(e.to_string()))?;
    if m.version.trim().is_empty() || m.version.len() > 64 {
        return Err(bad("the version must be 1 to 64 bytes".into()));
    }
    if m.types.is_empty() && m.connections.is_empty() && m.events.is_empty() {
        return Err(bad("it declares no thing, connection or event type".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for (of, name) in declared(m) {
        validate::type_name("type", name).map_err(|e| bad(format!("{} {e}", noun(of))))?;
        let reserved = match of {
            Declared::Thing => name == crate::records::person::PERSON,
            Declared::Connection => name == MEMBER_OF || name == SESSION,
            Declared::Event => kinds::is_builtin(name),
        };
        if reserved {
            return Err(bad(format!("{} `{name}` is the engine's own", noun(of))));
        }
        if !seen.insert((of, name)) {
            return Err(bad(format!("{} `{name}` is declared twice", noun(of))));
        }
    }
    for t in &m.types {
        check_declaration(m, &t.name, &t.description, &t.fields)?;
    }
    for c in &m.connections {
        check_declaration(m, &c.name, &c.description, &c.fields)?;
        for end in c.from.iter().chain(&c.to) {
            validate::type_name("type", end)
                .map_err(|e| bad(format!("an end of connection type `{}`: {e}", c.name)))?;
        }
    }
    for e in &m.events {
        check_declaration(m, &e.name, &e.description, &e.fields)?;
    }
    asked(m)?;
    Ok(())
}

/// The permissions a plugin may ask its tenant for: what its reads and reactions need.
pub(crate) const ASKABLE: [Permission; 3] = [
    Permission::ThingsRead,
    Permission::ConnectionsRead,
    Permission::EventsWrite,
];

/// The permissions `m` asks for; an unknown name, or one a plugin cannot ask for, is the
/// manifest's fault.
pub(crate) fn asked(m: &Manifest) -> Result<PermissionSet> {
    let bad = |reason: String| failed(&m.name, format!("invalid manifest: {reason}"));
    let set = PermissionSet::parse(&m.permissions).map_err(|e| bad(e.to_string()))?;
    let askable = PermissionSet::of(&ASKABLE);
    if !set.is_subset(askable) {
        return Err(bad(format!(
            "it asks for {}; a plugin may ask for {}",
            set.difference(askable).names().join(", "),
            askable.names().join(", ")
        )));
    }
    Ok(set)
}

/// Checks one declared type's description and fields.
fn check_declaration(m: &Manifest, name: &str, description: &str, fields: &[Field]) -> Result<()> {
    let bad = |reason: String| failed(&m.name, format!("invalid manifest: {reason}"));
    if description.len() > validate::MAX_NAME_BYTES {
        return Err(bad(format!("the description of `{name}` is too long")));
    }
    let mut names = std::collections::HashSet::new();
    for f in fields {
        let at = format!("`{name}.{}`", f.name);
        if f.name.is_empty() || f.name.len() > validate::MAX_TYPE_BYTES || f.name.contains('.') {
            return Err(bad(format!(
                "field {at}: names are 1 to 64 bytes without `.`"
            )));
        }
        if !names.insert(f.name.as_str()) {
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
    Ok(())
}

/// Checks `map` (a record's `properties` or `metadata`, named `at`) against declared
/// `fields`: the last word on what a record of a plugin's type may hold, whatever the
/// plugin answered.
pub(crate) fn check_fields(fields: &[Field], at: &str, map: &Value) -> Result<()> {
    for field in fields {
        let at = || format!("{at}.{}", field.name);
        let Some(value) = map.as_map().and_then(|m| m.get(&field.name)) else {
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
    use one_plugin_sdk::abi::{ConnectionSchema, EventSchema, TypeSchema};

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
            check_fields(
                &s.fields,
                "properties",
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
            match check_fields(&s.fields, "properties", &props(json.clone())) {
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
            ..Manifest::default()
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
        bad.push(Manifest {
            connections: vec![ConnectionSchema::new("member_of", "")],
            ..ok.clone()
        });
        bad.push(Manifest {
            connections: vec![ConnectionSchema::new("holds", "").to(["Not A Type"])],
            ..ok.clone()
        });
        bad.push(Manifest {
            events: vec![EventSchema::new("thing_created", "")],
            ..ok.clone()
        });
        bad.push(Manifest {
            events: vec![
                EventSchema::new("scanned", ""),
                EventSchema::new("scanned", ""),
            ],
            ..ok.clone()
        });
        bad.push(Manifest {
            types: vec![],
            connections: vec![],
            events: vec![],
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
