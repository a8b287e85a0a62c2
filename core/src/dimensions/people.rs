//! People: persons who act, and their memberships.
//!
//! A person is a thing of type `person` whose properties hold a normalised `email`
//! (trimmed, lower-cased; unique within the root tenant and environment) and a `role`.
//! Membership in a group is a `member_of` connection from the person to the group whose
//! metadata carries the membership `role` and its `permissions` (strings such as `"*"`,
//! `"read"`, `"things:write"`). People belong to the whole tenant: a person created in one
//! group can join any group of the same tenant.

pub use one_vocabulary::records::person::NewPerson;

use one_storage::KvRead;

use crate::access::policy::Op;
use crate::base::id::ThingId;
use crate::base::layout;
use crate::base::validate;
use crate::dimensions::things::NewThing;
use crate::kernel::{Tx, View};
use crate::records::event::kinds;
use crate::records::person::PERSON;
use crate::records::person::email_of;
use crate::records::person::normalize_email;
use crate::records::thing::Thing;
use crate::{Error, Result};
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
            if self.view().account_of(new.id)?.is_some() {
                return Err(Error::invalid(
                    "properties.email",
                    "this person signs in with an account of their own, which owns the email",
                ));
            }
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
