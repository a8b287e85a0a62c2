//! People: things of type `person`, known by their normalised email.

use crate::records::thing::Thing;
use crate::{Error, Result};

/// The thing type of people.
pub const PERSON: &str = "person";

/// The longest email accepted, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// Normalises an email address: trimmed and lower-cased, with one `@`, a non-empty local
/// part and a dotted domain. Errors name the field `email`.
pub fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    if e.is_empty() {
        return Err(Error::MissingField { field: "email" });
    }
    if e.len() > MAX_EMAIL_BYTES {
        return Err(Error::TooLarge {
            field: "email",
            limit: MAX_EMAIL_BYTES,
            actual: e.len(),
        });
    }
    let bad = |why: &str| Error::invalid("email", format!("{email:?} {why}"));
    if e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace"));
    }
    let Some((local, domain)) = e.split_once('@') else {
        return Err(bad("has no `@`"));
    };
    if local.is_empty() || domain.contains('@') {
        return Err(bad("must have one `@` after a non-empty local part"));
    }
    if !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(bad("needs a dotted domain such as example.com"));
    }
    Ok(e)
}

/// The normalised email of a person record.
pub fn email_of(thing: &Thing) -> Result<String> {
    let raw = thing
        .properties
        .get_path("email")
        .ok_or(Error::MissingField { field: "email" })?;
    let s = raw.as_str().ok_or_else(|| {
        Error::invalid(
            "properties.email",
            format!("must be a string, not a {}", raw.type_name()),
        )
    })?;
    normalize_email(s)
}
