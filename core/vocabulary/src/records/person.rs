//! People: things of type `person`, known by their normalised email.

use crate::id::GroupId;
use crate::records::thing::Thing;
use crate::value::Value;
use crate::{Error, Result};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

/// What a new person needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// Email address; stored normalised (trimmed, lower-case).
    pub email: String,
    /// Display name.
    pub name: String,
    /// The role of its membership in the group; `user` when not given.
    #[serde(default = "default_role")]
    pub role: String,
    /// Properties (a map).
    #[serde(default = "Value::map")]
    pub properties: Value,
    /// The group it goes in; `None` is the context's group.
    #[serde(default)]
    pub group: Option<GroupId>,
}

fn default_role() -> String {
    "user".into()
}

impl NewPerson {
    /// A person with `email` and display `name`, role `user`.
    pub fn new(email: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            name: name.into(),
            role: default_role(),
            properties: Value::map(),
            group: None,
        }
    }

    /// Sets the person's role (`[a-z][a-z0-9_]*`, e.g. `org_owner`).
    pub fn role(mut self, role: impl Into<String>) -> Self {
        self.role = role.into();
        self
    }

    /// Sets further properties (a map); `email` and `role` are set from the fields above.
    pub fn properties(mut self, properties: Value) -> Self {
        self.properties = properties;
        self
    }

    /// Creates the person in another group of the context's scope.
    pub fn in_group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }
}
