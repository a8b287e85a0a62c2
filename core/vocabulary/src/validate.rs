//! Input checks shared by every dimension: names, type names, sizes.
//!
//! Each check returns the typed error that names the field, so a caller learns which
//! input was wrong and the store is never touched by a bad one.

use crate::value::Value;
use crate::{Error, Result};

/// The longest name (of a group, thing or person), in bytes.
pub const MAX_NAME_BYTES: usize = 1024;
/// The largest encoded `properties` or `metadata` value, in bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// The longest type name (of a thing, connection or event), in bytes.
pub const MAX_TYPE_BYTES: usize = 64;

/// A required, trimmed, bounded name.
pub fn name(field: &'static str, name: &str) -> Result<String> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(Error::MissingField { field });
    }
    if trimmed.len() > MAX_NAME_BYTES {
        return Err(Error::TooLarge {
            field,
            limit: MAX_NAME_BYTES,
            actual: trimmed.len(),
        });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Error::invalid(field, "contains a control character"));
    }
    Ok(trimmed.to_string())
}

/// A type name: `[a-z][a-z0-9_]*`, at most [`MAX_TYPE_BYTES`].
pub fn type_name(field: &'static str, kind: &str) -> Result<()> {
    if kind.is_empty() {
        return Err(Error::MissingField { field });
    }
    if kind.len() > MAX_TYPE_BYTES {
        return Err(Error::TooLarge {
            field,
            limit: MAX_TYPE_BYTES,
            actual: kind.len(),
        });
    }
    let mut chars = kind.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(Error::invalid(
            field,
            format!("{kind:?} must match [a-z][a-z0-9_]*"),
        ));
    }
    Ok(())
}

/// A map (or null, read as an empty map) of finite values, bounded in depth and size.
pub fn map_value(field: &'static str, v: Value) -> Result<Value> {
    let v = match v {
        Value::Null => Value::map(),
        Value::Map(_) => v,
        other => {
            return Err(Error::invalid(
                field,
                format!("must be a map, not a {}", other.type_name()),
            ));
        }
    };
    v.validate(field).map_err(Error::value)?;
    let size = postcard::experimental::serialized_size(&v)
        .map_err(|e| Error::invalid(field, e.to_string()))?;
    if size > MAX_VALUE_BYTES {
        return Err(Error::TooLarge {
            field,
            limit: MAX_VALUE_BYTES,
            actual: size,
        });
    }
    Ok(v)
}
