//! Accounts: one person in several tenants, with one email, one password and one second
//! factor.
//!
//! A person is a record of one tenant — its profile, its memberships, its sessions, its
//! events. A person who signed up in one tenant has credentials of their own (password,
//! authenticator) kept with that record. When the same human is also a person of another
//! tenant (a consultant in two client organisations, a member of several communities),
//! their credentials move up to an **account** (`D a <account>` in the directory, above
//! every tenant) that both person records are linked to:
//!
//! - **Switching is explicit**: [`Engine::switch_tenant`] takes a session and a group of
//!   another tenant, and opens a session there as the person of that tenant with the
//!   account's email. The first switch makes the account (the email must be verified) and
//!   links the other tenant's person, which must have no credentials of its own (an
//!   invited, imported or created person). A session opened with a second factor switches
//!   without asking for it again; a group that requires two factors still asks when the
//!   account has none.
//! - **The account owns its credentials**: signing in to any of its tenants checks the
//!   account's password and second factor. Only the account's holder changes them
//!   (`change_password`, `enroll_two_factor`, `disable_two_factor`); a tenant's principals
//!   cannot reset the password, remove the second factor or change the email of a linked
//!   person — only the platform (a `system` context) can. A change or reset of the
//!   password ends the sessions of every tenant (a generation number each session carries).
//! - **Tenants stay apart**: each tenant sees only its own person record, memberships,
//!   sessions and events. The link (`T <root> <env> a <person>` → account) is never
//!   exported or shown; nothing a tenant can read names the account or another tenant.
//!   Deleting a person unlinks them; an account with no person left is removed.
//!
//! External identities go with the credentials: a person of one tenant's are the tenant's
//! (`T … x`), an account's are the account's (`D x <provider> <subject>` → account) and
//! sign in to every tenant of the account; the first switch moves them up. Only the
//! holder (or the platform) links one to an account.

use one_storage::KvRead;

use crate::base::context::{Context, Env, Principal};
use crate::base::id::{GroupId, Ref, ThingId};
use crate::base::layout::{self, AccountKeys, TenantKeys};
use crate::base::value::Value;
use crate::identity::sign_in::{Password, Proven};
use crate::identity::two_factor::{SignedIn, TwoFactor};
use crate::kernel::{Engine, Tx, View};
use crate::records::account::Account;
use crate::records::event::kinds;
use crate::records::person::{PERSON, email_of};
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// Where a person's password and second factor are kept: with the person (a person of one
/// tenant) or with their account.
pub(crate) struct CredentialKeys {
    pub(crate) password: Vec<u8>,
    pub(crate) two_factor: Vec<u8>,
    /// The account, when the person has one.
    pub(crate) account: Option<u128>,
}

impl<K: KvRead> View<'_, K> {
    /// Where `person`'s credentials are.
    pub(crate) fn credential_keys(&self, person: ThingId) -> Result<CredentialKeys> {
        Ok(match self.account_of(person)? {
            Some(account) => {
                let keys = AccountKeys::new(account);
                CredentialKeys {
                    password: keys.password(),
                    two_factor: keys.two_factor(),
                    account: Some(account),
                }
            }
            None => CredentialKeys {
                password: self.scope.tenant.password(person),
                two_factor: self.scope.tenant.two_factor(person),
                account: None,
            },
        })
    }

    /// The person of this tenant an external identity signs in as: one the tenant linked
    /// it to, else the tenant's person of the account it is linked to.
    pub(crate) fn person_for_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<ThingId>> {
        if let Some(id) = self
            .kv
            .get(&self.scope.tenant.identity(provider, subject))?
        {
            return layout::decode_thing_id(&id, "identity index").map(Some);
        }
        let Some(account) = self.kv.get(&layout::account_identity(provider, subject))? else {
            return Ok(None);
        };
        let account = layout::decode_account_id(&account, "account identity")?;
        let here = AccountKeys::new(account).person_in(self.scope.root, self.scope.ctx.env());
        self.kv
            .get(&here)?
            .map(|id| layout::decode_thing_id(&id, "account person"))
            .transpose()
    }

    /// The generation a new session of `person` carries, when the person has an account.
    pub(crate) fn session_generation(&self, person: ThingId) -> Result<Option<u64>> {
        self.account_of(person)?
            .map(|a| self.account(a).map(|acc| acc.generation))
            .transpose()
    }

    /// Whether `person` of this tenant can be signed in to `group` as the holder of
    /// `account` (`None`: an account the switch will make): a living person, with no
    /// account or that one, and no credentials of their own when not yet linked. `true`
    /// when the link is still to be made.
    fn joinable(&self, person: ThingId, group: GroupId, account: Option<u128>) -> Result<bool> {
        let alive = self
            .get_record::<Thing>(&self.scope.tenant.thing(person))?
            .is_some_and(|t| t.kind == PERSON && t.status != ThingStatus::Deleted);
        if !alive {
            return Err(Error::not_found(group));
        }
        self.check_scope(group)?;
        match self.account_of(person)? {
            Some(a) if Some(a) == account => return Ok(false),
            Some(_) => return Err(Error::not_found(group)),
            None => {}
        }
        let own = self.credential_keys(person)?;
        if self.get_record::<Password>(&own.password)?.is_some()
            || self.get_record::<TwoFactor>(&own.two_factor)?.is_some()
        {
            return Err(Error::invalid(
                "group",
                "your person in that tenant has credentials of its own: sign in there with them",
            ));
        }
        Ok(true)
    }

    /// Refuses a tenant's principal acting on the credentials (`what`) of a person who
    /// has an account: the account's holder changes them, or the platform.
    pub(crate) fn ensure_own_credentials(&self, person: ThingId, what: &str) -> Result<()> {
        if self.scope.ctx.principal() == Principal::System || self.account_of(person)?.is_none() {
            return Ok(());
        }
        Err(Error::invalid(
            what,
            "this person signs in with an account of their own: only its holder changes its \
             credentials (or the platform, as the system)",
        ))
    }
}

impl Tx<'_, '_> {
    /// Moves the credentials of `person` up to a new account, linked to the person.
    fn make_account(&mut self, person: &Thing) -> Result<u128> {
        let email = email_of(person)?;
        ensure_verified(person)?;
        if self.kv.contains(&layout::account_email(&email))? {
            return Err(Error::invalid(
                "email",
                "another account already has this email: sign in to its tenants with it",
            ));
        }
        let account = crate::identity::accounts::new_account_id()?;
        let keys = AccountKeys::new(account);
        let own = TenantKeys::new(self.scope.root, self.scope.ctx.env());
        for (from, to) in [
            (own.password(person.id), keys.password()),
            (own.two_factor(person.id), keys.two_factor()),
        ] {
            if let Some(bytes) = self.kv.remove(&from)? {
                self.put(to, bytes)?;
            }
        }
        self.put_record(
            &keys.record(),
            &Account {
                email: email.clone(),
                generation: 0,
                kept: None,
            },
        )?;
        self.put(layout::account_email(&email), account.to_be_bytes())?;
        self.link_account(account, person.id)?;
        // The person's external identities become the account's.
        let mut identities = Vec::new();
        self.kv.scan(
            &one_storage::KeyRange::prefix(&own.identities()),
            one_storage::Direction::Forward,
            |k, v| {
                if v == person.id.to_be_bytes().as_slice() {
                    identities.push(k.to_vec());
                }
                Ok::<_, Error>(std::ops::ControlFlow::Continue(()))
            },
        )?;
        for key in identities {
            let (provider, subject) = layout::decode_identity(&key, &own.identities())?;
            self.delete(&key)?;
            self.link_account_identity(account, &provider, &subject)?;
        }
        Ok(account)
    }

    /// Links an external identity to `account`: it signs in to every tenant of the
    /// account. One identity, one account.
    pub(crate) fn link_account_identity(
        &mut self,
        account: u128,
        provider: &str,
        subject: &str,
    ) -> Result<()> {
        let key = layout::account_identity(provider, subject);
        if self.kv.contains(&key)? {
            return Err(Error::invalid(
                "subject",
                format!("this {provider} identity is already linked to an account"),
            ));
        }
        self.put(key, account.to_be_bytes())?;
        self.put(
            AccountKeys::new(account).identity(provider, subject),
            Vec::new(),
        )
    }

    /// Links a person of this tenant to `account`.
    fn link_account(&mut self, account: u128, person: ThingId) -> Result<()> {
        let (root, env) = (self.scope.root, self.scope.ctx.env());
        self.put(
            AccountKeys::new(account).person_in(root, env),
            person.to_be_bytes(),
        )?;
        self.put(self.scope.tenant.account_of(person), account.to_be_bytes())
    }

    /// After a password change or reset of a person with an account: the sessions of
    /// every tenant opened before it stop working, except `kept` (the session the change
    /// was made from).
    pub(crate) fn credentials_changed(
        &mut self,
        person: ThingId,
        kept: Option<crate::base::id::ConnectionId>,
    ) -> Result<()> {
        let Some(account) = self.view().account_of(person)? else {
            return Ok(());
        };
        let key = AccountKeys::new(account).record();
        let mut record = self.view().account(account)?;
        record.generation = record.generation.wrapping_add(1);
        record.kept = kept.map(|id| (self.scope.root, self.scope.ctx.env(), id));
        self.put_record(&key, &record)?;
        self.access_changed();
        Ok(())
    }
}

/// Refuses to make an account of a person whose email is not verified: the account owns
/// the email in every tenant.
fn ensure_verified(person: &Thing) -> Result<()> {
    if person.properties.get_path("email_verified") != Some(&Value::Bool(true)) {
        return Err(Error::EmailNotVerified);
    }
    Ok(())
}

/// A fresh random account id.
fn new_account_id() -> Result<u128> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Corrupt {
        what: "random source",
        reason: format!("the OS random source failed: {e}"),
    })?;
    Ok(u128::from_be_bytes(bytes))
}

impl Engine {
    /// Whether a session of a person with an account is still valid: opened in the
    /// account's current generation, or the one session a password change kept.
    pub(crate) fn session_current(
        &self,
        kv: &impl KvRead,
        root: GroupId,
        env: Env,
        person: ThingId,
        session: &crate::records::connection::Connection,
    ) -> Result<bool> {
        let Some(account) = kv
            .get(&TenantKeys::new(root, env).account_of(person))?
            .map(|b| layout::decode_account_id(&b, "account link"))
            .transpose()?
        else {
            return Ok(true);
        };
        let record: Account = kv
            .get(&AccountKeys::new(account).record())?
            .map(|b| crate::base::codec::decode(&b))
            .transpose()?
            .ok_or(Error::InvalidCredentials)?;
        let carried = session
            .metadata
            .get_path("account_generation")
            .and_then(Value::as_i64)
            .and_then(|g| u64::try_from(g).ok())
            .unwrap_or(0);
        Ok(carried == record.generation || record.kept == Some((root, env, session.id)))
    }

    /// Opens a session in another tenant for the person signed in with `session`: as the
    /// person of the tenant of `group` whose email is the session person's, in `group`.
    /// The first switch gives the person an account (their email must be verified:
    /// [`Error::EmailNotVerified`]) and links the other tenant's person to it, which must
    /// have no password or authenticator of its own. A session opened with a second
    /// factor switches without one; otherwise the usual rule applies (a wait for the
    /// second factor when the account has one or the group requires one). A group the
    /// account has no person in, or a group of the session's own tenant, is
    /// [`Error::NotFound`]: the answer does not say whether the tenant exists.
    /// Logs `account_linked` (first time) and `sign_in` with `method: switch` in the
    /// other tenant, nothing in the first.
    pub fn switch_tenant(&self, session: &str, group: GroupId) -> Result<SignedIn> {
        let ctx = self.context_for_session(session)?;
        let (_, _, current) = self.find_session(session)?;
        let Principal::Person(person) = ctx.principal() else {
            return Err(Error::InvalidCredentials);
        };
        let second_factor = current
            .metadata
            .get_path("second_factor")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (me, mine) = self.read(&ctx, |v| {
            Ok((v.load_person(person)?, v.account_of(person)?))
        })?;
        let email = email_of(&me)?;
        if mine.is_none() {
            ensure_verified(&me)?;
        }
        // The other tenant's person with that email, found as the platform would.
        let env = ctx.env();
        let other = {
            let kv = self.store().read()?;
            let target_root = self.root_of(&*kv, group)?;
            if target_root == self.root_of(&*kv, ctx.group())? {
                return Err(Error::not_found(group));
            }
            let Some(id) = kv.get(&TenantKeys::new(target_root, env).email(&email))? else {
                return Err(Error::not_found(group));
            };
            layout::decode_thing_id(&id, "email index")?
        };
        let as_other = Context::person(other, group).with_env(env);
        // Everything that could refuse the switch, before anything is written.
        self.read(&as_other, |v| v.joinable(other, group, mine))?;
        // This tenant's side: the account (made now, the first time).
        let account = match mine {
            Some(a) => a,
            None => self.write(&ctx, |tx| match tx.view().account_of(person)? {
                Some(a) => Ok(a),
                None => tx.make_account(&me),
            })?,
        };
        self.write(&as_other, |tx| {
            if tx.view().joinable(other, group, Some(account))? {
                tx.link_account(account, other)?;
                tx.log(
                    kinds::ACCOUNT_LINKED,
                    tx.view().load_person(other)?.group,
                    Some(Ref::from(other)),
                    Value::map(),
                )?;
            }
            let proven = Proven {
                person: other,
                group,
                method: "switch".into(),
                second_factor: second_factor.clone(),
            };
            tx.finish_sign_in(&proven)
        })
    }
}
