//! People: persons who act, and their memberships.
//!
//! A person is a thing of type `person` whose properties hold a normalised `email`
//! (trimmed, lower-cased; unique within the root tenant and environment) and a `role`.
//! Membership in a group is a `member_of` connection from the person to the group whose
//! metadata carries the membership `role` and its `permissions` (strings such as `"*"`,
//! `"read"`, `"things:write"`). People belong to the whole tenant: a person created in one
//! group can join any group of the same tenant.

use one_storage::KvRead;

use crate::access::policy::Op;
use crate::base::id::{GroupId, ThingId};
use crate::base::layout;
use crate::base::validate;
use crate::base::value::Value;
use crate::dimensions::events::kinds;
use crate::dimensions::things::{NewThing, Thing};
use crate::kernel::{Tx, View};
use crate::{Error, Result};

/// The thing type of people.
pub const PERSON: &str = "person";
/// The longest email accepted, in bytes (RFC 5321's path limit).
pub const MAX_EMAIL_BYTES: usize = 254;

/// What a new person needs.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPerson {
    email: String,
    name: String,
    role: String,
    properties: Value,
    group: Option<GroupId>,
}

impl NewPerson {
    /// A person with `email` and display `name`, role `user`.
    pub fn new(email: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            email: email.into(),
            name: name.into(),
            role: "user".into(),
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

pub(crate) fn email_of(thing: &Thing) -> Result<String> {
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

impl<K: KvRead> View<'_, K> {
    /// The person with this email in the tenant (any case, surrounding spaces ignored).
    pub fn person_by_email(&self, email: &str) -> Result<Thing> {
        let email = normalize_email(email)?;
        let unknown = || Error::NotFound {
            kind: crate::base::id::IdKind::Thing,
            id: format!("with email {email:?}"),
        };
        let id = self
            .kv
            .get(&self.scope.tenant.email(&email))?
            .ok_or_else(unknown)?;
        // A person the context may not see is answered as an unknown email: neither the
        // address nor the person's id leaks.
        match self.get_thing(layout::decode_thing_id(&id, "email index")?) {
            Err(Error::NotFound { .. }) => Err(unknown()),
            other => other,
        }
    }

    /// Loads a person of this tenant, in any of its groups.
    pub(crate) fn load_person(&self, id: ThingId) -> Result<Thing> {
        let thing: Thing = self
            .get_record(&self.scope.tenant.thing(id))?
            .ok_or_else(|| Error::not_found(id))?;
        // Another kind of thing is answered as no person at all: the answer must not tell
        // a caller what type a record it may not read has.
        if thing.kind != PERSON {
            return Err(Error::not_found(id));
        }
        Ok(thing)
    }
}

impl Tx<'_, '_> {
    /// Creates a person. The email must be new to the tenant. Needs `members:manage` in
    /// the person's group.
    pub fn create_person(&mut self, new: NewPerson) -> Result<Thing> {
        self.create_person_as(new, Op::CreatePerson)
    }

    /// Creates a person, checking `need` in the person's group (sign-up checks
    /// `auth:signup`).
    pub(crate) fn create_person_as(&mut self, new: NewPerson, op: Op) -> Result<Thing> {
        let email = normalize_email(&new.email)?;
        validate::type_name("role", &new.role)?;
        let properties = validate::map_value("properties", new.properties)?
            .with("email", email.as_str())
            .with("role", new.role.as_str());
        let mut draft = NewThing::new(PERSON, new.name).properties(properties);
        draft.group = new.group;
        let thing = self.new_thing_record(draft, op)?;
        self.claim_email(&email, thing.id)?;
        self.insert_thing(&thing, kinds::PERSON_CREATED)?;
        Ok(thing)
    }

    pub(crate) fn claim_email(&mut self, email: &str, id: ThingId) -> Result<()> {
        let key = self.scope.tenant.email(email);
        if self.kv.contains(&key)? {
            return Err(Error::DuplicateEmail {
                email: email.to_string(),
            });
        }
        self.put(key, id.to_be_bytes())
    }

    /// Keeps the email index right when a person's properties change.
    pub(crate) fn reindex_person(&mut self, old: &Thing, new: &mut Thing) -> Result<()> {
        let (before, after) = (email_of(old)?, email_of(new)?);
        new.properties = std::mem::take(&mut new.properties).with("email", after.as_str());
        if before != after {
            self.claim_email(&after, new.id)?;
            self.delete(&self.scope.tenant.email(&before))?;
        }
        Ok(())
    }

    /// Frees a deleted person's email for reuse.
    pub(crate) fn release_email(&mut self, person: &Thing) -> Result<()> {
        let email = email_of(person)?;
        self.delete(&self.scope.tenant.email(&email))
    }
}
