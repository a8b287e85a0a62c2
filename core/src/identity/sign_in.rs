//! People sign-in: passwords, sessions, email verification, magic links and external
//! identities.
//!
//! - **Passwords** are hashed with argon2id ([`PasswordParams`], OWASP's recommended
//!   parameters by default) outside any transaction, and stored as a PHC string, never in
//!   clear. A sign-in for an unknown email checks the password against a dummy hash with
//!   the same parameters, so it costs the same time as a wrong password.
//! - **Sessions** are `session` connections from the person to the group, with an expiry;
//!   the token (`ok_sess_…`) is returned once, and only its SHA-256 is stored.
//!   [`Engine::context_for_session`] turns a token into the person's [`Context`].
//! - **One-time tokens** (`ok_once_…`) verify an email address, sign in by magic link, or
//!   set a new password (a reset, or a first password for a person who has none: invited,
//!   imported, created by the application). They expire, work once, and are stored hashed.
//!   ONE makes them; the application delivers them (ONE sends no email).
//! - **Changing a password** needs the current one and the session it is changed from;
//!   a change or a reset ends every other session of the person (a stolen session stops
//!   working), and a reset, which proves the address, verifies the email.
//! - **External identities** (Google, GitHub, Apple, passkeys, …) link a `(provider,
//!   subject)` pair to a person. The application verifies the identity with the provider;
//!   [`Engine::sign_in_external`] then trusts it and opens a session.
//!
//! A group's settings are enforced: `allowSignups` (default `true`), `allowedDomains`
//! (email domains that may sign up; empty or absent for any) and
//! `requireEmailVerification` (default `false`: when `true`, a password sign-in needs a
//! verified email; a magic link verifies the email it was sent to). Signing up makes the
//! person a `group_user` member of the group.
//!
//! Events: `sign_up`, `sign_in`, `sign_in_failed`, `sign_out`, `email_verified`, each with
//! `method` in its metadata (`password`, `magic_link`, `link`, or the provider's name);
//! `password_reset_requested` (logged for an unknown email too, without a target, so both
//! cost one commit), `password_reset`, `password_changed` and `password_change_failed`,
//! with the number of `sessions` ended.

pub use one_vocabulary::identity::{Session, SignedUp};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use one_storage::KvRead;
use serde::{Deserialize, Serialize};

use crate::access::policy::Op;
use crate::base::clock::Timestamp;
use crate::base::codec::{self, Record};
use crate::base::context::{Context, Env, Principal};
use crate::base::id::{GroupId, Ref, ThingId};
use crate::base::layout::{self, SecretSection, TenantKeys};
use crate::base::secret::Secret;
use crate::base::secret::{self, SecretDigest, SecretKind};
use crate::base::validate;
use crate::base::value::Value;
use crate::dimensions::members::MembershipState;
use crate::dimensions::people::NewPerson;
use crate::identity::credentials::{Credential, Credentials};
use crate::identity::two_factor::SignedIn;
use crate::kernel::{Engine, Parts, Tx, View};
use crate::records::connection::{Connection, SESSION};
use crate::records::event::kinds;
use crate::records::group::Group;
use crate::records::person::{PERSON, normalize_email};
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted, in bytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// The longest external subject accepted, in bytes.
pub const MAX_SUBJECT_BYTES: usize = 255;

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl PasswordParams {
    /// OWASP's recommendation for argon2id: 19 MiB, 2 passes, 1 lane. The default.
    pub const OWASP: PasswordParams = PasswordParams {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// The cheapest parameters argon2 accepts. For tests only: such hashes are weak.
    pub const INSECURE_FAST: PasswordParams = PasswordParams {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };

    fn hasher(self) -> Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| Error::invalid("password_params", e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self::OWASP
    }
}

/// How sign-in behaves: password cost and how long credentials last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthConfig {
    /// argon2id parameters for new passwords (stored hashes keep their own).
    pub password: PasswordParams,
    /// How long a session lasts. Default 30 days.
    pub session_ttl: Duration,
    /// How long an email verification token lasts. Default 2 days.
    pub verification_ttl: Duration,
    /// How long a magic link lasts. Default 15 minutes.
    pub magic_link_ttl: Duration,
    /// How long a password reset token lasts. Default 1 hour.
    pub password_reset_ttl: Duration,
    /// How long a sign-in waits for its second factor. Default 5 minutes.
    pub second_factor_ttl: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            password: PasswordParams::OWASP,
            session_ttl: Duration::from_secs(30 * 24 * 3600),
            verification_ttl: Duration::from_secs(2 * 24 * 3600),
            magic_link_ttl: Duration::from_secs(15 * 60),
            password_reset_ttl: Duration::from_secs(3600),
            second_factor_ttl: Duration::from_secs(5 * 60),
        }
    }
}

pub(crate) fn ttl_ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A person's password hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Password {
    /// argon2id PHC string (algorithm, parameters, salt and hash).
    phc: String,
}

impl Record for Password {
    const NAME: &'static str = "password";
    const VERSION: u8 = 1;
}

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Purpose {
    VerifyEmail,
    MagicLink,
    /// Sets a new password (or a first one).
    PasswordReset,
    /// Sets a new password of an account: issued only by the platform (a tenant's
    /// [`Purpose::PasswordReset`] never changes an account's password).
    AccountPasswordReset,
}

/// A one-time token, stored under its digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct OneTimeToken {
    purpose: Purpose,
    root: GroupId,
    env: Env,
    person: ThingId,
    group: GroupId,
    expires_at: Timestamp,
}

impl Record for OneTimeToken {
    const NAME: &'static str = "one-time token";
    const VERSION: u8 = 1;
}

fn check_password(password: &str) -> Result<()> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::TooLarge {
            field: "password",
            limit: MAX_PASSWORD_BYTES,
            actual: password.len(),
        });
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::invalid(
            "password",
            format!("must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    Ok(())
}

fn hash_password(params: PasswordParams, password: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| Error::Corrupt {
        what: "random source",
        reason: format!("the OS random source failed: {e}"),
    })?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::invalid("password", format!("salt: {e}")))?;
    Ok(params
        .hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::invalid("password", e.to_string()))?
        .to_string())
}

/// Whether `password` matches the PHC string `phc` (whose own parameters are used).
fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

fn setting<'g>(group: &'g Group, name: &str) -> Option<&'g Value> {
    group.properties.get_path(&format!("settings.{name}"))
}

fn unhex(text: &str) -> Option<SecretDigest> {
    crate::base::codec::unhex(text)?.try_into().ok()
}

impl<K: KvRead> View<'_, K> {
    /// Whom a one-time token asked for in `group` would be for: the person with `email`
    /// unless deleted. The context needs `auth:signin` in `group`.
    fn token_person(&self, group: GroupId, email: &str) -> Result<Option<Thing>> {
        self.authorize(Op::SignIn, group)?;
        self.check_scope(group)?;
        Ok(self
            .person_for_email(email)?
            .filter(|p| p.kind == PERSON && p.status != ThingStatus::Deleted))
    }

    /// The person with this email, unchecked (sign-in looks people up before anyone is
    /// signed in).
    fn person_for_email(&self, email: &str) -> Result<Option<Thing>> {
        let Some(id) = self.kv.get(&self.scope.tenant.email(email))? else {
            return Ok(None);
        };
        let id = layout::decode_thing_id(&id, "email index")?;
        self.get_record(&self.scope.tenant.thing(id))
    }

    /// Whether `group` accepts a sign-up with `email` from this context.
    fn check_sign_up(&self, group: GroupId, email: &str) -> Result<()> {
        self.authorize(Op::SignUp, group)?;
        let g = self.check_scope(group)?;
        if setting(&g, "allowSignups").and_then(Value::as_bool) == Some(false) {
            return Err(Error::SignupNotAllowed {
                reason: "the group does not accept sign-ups (allowSignups)".into(),
            });
        }
        if let Some(Value::List(domains)) = setting(&g, "allowedDomains")
            && !domains.is_empty()
        {
            let domain = email.rsplit('@').next().unwrap_or_default();
            if !domains.iter().any(|d| d.as_str() == Some(domain)) {
                return Err(Error::SignupNotAllowed {
                    reason: format!("{domain} is not in the group's allowedDomains"),
                });
            }
        }
        if self.person_for_email(email)?.is_some() {
            return Err(Error::DuplicateEmail {
                email: email.to_string(),
            });
        }
        Ok(())
    }

    fn password_of(&self, person: ThingId) -> Result<Option<Password>> {
        self.get_record(&self.credential_keys(person)?.password)
    }
}

/// What a sign-in's first factor proved, before its session (or its wait for the second
/// factor, `two_factor.rs`) is written.
pub(crate) struct Proven {
    pub(crate) person: ThingId,
    pub(crate) group: GroupId,
    /// `password`, `magic_link`, `switch`, or the external provider's name.
    pub(crate) method: String,
    /// The second factor this sign-in already proved (`totp`, `recovery_code`): a switch
    /// of tenant from a session that proved one.
    pub(crate) second_factor: Option<String>,
}

impl Tx<'_, '_> {
    /// Opens a session for a person whose credentials were just checked, and logs
    /// `sign_in` (with the second factor, if one was proven). Only
    /// [`Tx::finish_sign_in`], which asks for the second factor when one is needed, and
    /// the second step itself call it.
    pub(crate) fn open_session(&mut self, proven: &Proven, ttl: Duration) -> Result<Session> {
        let second_factor = proven.second_factor.as_deref();
        let text = secret::generate(SecretKind::Session)?;
        let digest = secret::digest(&text);
        let expires_at = self.now().plus_millis(ttl_ms(ttl));
        let mut metadata = Value::map()
            .with("expires_at", expires_at.as_millis() as i64)
            .with("method", proven.method.as_str())
            .with("token_sha256", crate::base::codec::hex(&digest));
        if let Some(second) = second_factor {
            metadata = metadata.with("second_factor", second);
        }
        if let Some(generation) = self.view().session_generation(proven.person)? {
            metadata = metadata.with(
                "account_generation",
                i64::try_from(generation).unwrap_or(i64::MAX),
            );
        }
        let c = self.insert_connection(
            Ref::from(proven.person),
            Ref::from(proven.group),
            SESSION,
            metadata,
            proven.group,
        )?;
        self.put(
            layout::secret_digest(SecretSection::Session, &digest),
            layout::session_locator(self.scope.root, self.scope.ctx.env(), c.id),
        )?;
        // A new session changes no cached answer: sessions grant nothing of their own
        // (permissions come from memberships), and the credential cache holds only
        // secrets found valid, so none of this one. Forgetting every cache here would
        // make each sign-in cost every other principal a cold check. Ending a session
        // does change access (`end_session`).
        let mut logged = Value::map().with("method", proven.method.as_str());
        if let Some(second) = second_factor {
            logged = logged.with("second_factor", second);
        }
        self.log(
            kinds::SIGN_IN,
            proven.group,
            Some(Ref::from(proven.person)),
            logged,
        )?;
        Ok(Session {
            id: c.id,
            person: proven.person,
            group: proven.group,
            expires_at,
            token: Secret(text),
        })
    }

    /// Ends one session: its connection and its directory entry.
    fn end_session(&mut self, c: &Connection) -> Result<()> {
        if let Some(digest) = c
            .metadata
            .get_path("token_sha256")
            .and_then(Value::as_str)
            .and_then(unhex)
        {
            self.delete(&layout::secret_digest(SecretSection::Session, &digest))?;
        }
        self.remove_connection(c)?;
        self.access_changed();
        Ok(())
    }

    /// Makes a one-time token for `person` and returns its text.
    fn issue_token(
        &mut self,
        purpose: Purpose,
        person: ThingId,
        group: GroupId,
        ttl: Duration,
    ) -> Result<Secret> {
        let text = secret::generate(SecretKind::OneTime)?;
        let token = OneTimeToken {
            purpose,
            root: self.scope.root,
            env: self.scope.ctx.env(),
            person,
            group,
            expires_at: self.now().plus_millis(ttl_ms(ttl)),
        };
        self.put_record(
            &layout::secret_digest(SecretSection::OneTime, &secret::digest(&text)),
            &token,
        )?;
        Ok(Secret(text))
    }

    /// Sets `email_verified` on a person and logs `email_verified`.
    fn mark_verified(&mut self, person: ThingId, group: GroupId, method: &str) -> Result<()> {
        let Some(old) = self
            .view()
            .get_record::<Thing>(&self.scope.tenant.thing(person))?
        else {
            return Err(Error::InvalidCredentials);
        };
        if old.properties.get_path("email_verified") == Some(&Value::Bool(true)) {
            return Ok(());
        }
        let mut new = old.clone();
        new.properties = std::mem::take(&mut new.properties).with("email_verified", true);
        new.updated_at = self.now();
        self.store_thing(Some(&old), &new)?;
        self.log(
            kinds::EMAIL_VERIFIED,
            group,
            Some(Ref::from(person)),
            Value::map().with("method", method),
        )?;
        Ok(())
    }

    /// Links an external identity (`provider`, e.g. `google`, and the provider's stable
    /// `subject` for the person) to `person`, for [`Engine::sign_in_external`]. For a
    /// person with an account (`accounts.rs`) it is the account's, and signs in to every
    /// tenant of the account: only the person themselves (or the system) links it. The person
    /// links their own; anyone else needs `members:manage` in the person's group and every
    /// permission the person has, wherever they have it (see the policy's operation table, `access/policy.rs`).
    pub fn link_identity(&mut self, person: ThingId, provider: &str, subject: &str) -> Result<()> {
        validate::type_name("provider", provider)?;
        if subject.is_empty() {
            return Err(Error::MissingField { field: "subject" });
        }
        if subject.len() > MAX_SUBJECT_BYTES {
            return Err(Error::TooLarge {
                field: "subject",
                limit: MAX_SUBJECT_BYTES,
                actual: subject.len(),
            });
        }
        let thing = self.view().load_person(person)?;
        self.view()
            .authorize_over(Op::ManageCredentials, thing.group, person.into(), person)?;
        if let Some(account) = self.view().account_of(person)? {
            // An account's identity signs in to all of its tenants: its holder links it.
            if self.scope.ctx.principal() != Principal::Person(person) {
                self.view().ensure_own_credentials(person, "person")?;
            }
            self.link_account_identity(account, provider, subject)?;
            return self
                .log(
                    kinds::IDENTITY_LINKED,
                    thing.group,
                    Some(Ref::from(person)),
                    Value::map().with("provider", provider),
                )
                .map(drop);
        }
        let key = self.scope.tenant.identity(provider, subject);
        if self.kv.contains(&key)? {
            return Err(Error::invalid(
                "subject",
                format!("this {provider} identity is already linked to a person"),
            ));
        }
        self.put(key, person.to_be_bytes())?;
        self.log(
            kinds::IDENTITY_LINKED,
            thing.group,
            Some(Ref::from(person)),
            Value::map().with("provider", provider),
        )?;
        Ok(())
    }

    /// Ends every session of `person` (sign out everywhere). The person does it for
    /// themselves; anyone else needs `members:manage` in the person's group and every
    /// permission the person has (see the policy's operation table, `access/policy.rs`). Logs one
    /// `sign_out` with `method: everywhere` and returns how many sessions ended.
    pub fn sign_out_everywhere(&mut self, person: ThingId) -> Result<usize> {
        let thing = self.view().load_person(person)?;
        self.view()
            .authorize_over(Op::ManageCredentials, thing.group, person.into(), person)?;
        let ended = self.end_sessions(person, None)?;
        self.log(
            kinds::SIGN_OUT,
            thing.group,
            Some(Ref::from(person)),
            Value::map()
                .with("method", "everywhere")
                .with("sessions", ended as i64),
        )?;
        Ok(ended)
    }

    /// Ends every session of `person` but `keep`; returns how many ended.
    fn end_sessions(
        &mut self,
        person: ThingId,
        keep: Option<crate::base::id::ConnectionId>,
    ) -> Result<usize> {
        let prefix = self
            .scope
            .tenant
            .edges(true, Ref::from(person), Some(SESSION));
        let mut sessions = Vec::new();
        self.kv.scan(
            &one_storage::KeyRange::prefix(&prefix),
            one_storage::Direction::Forward,
            |_, v| {
                let c = codec::decode::<Connection>(v)?;
                if Some(c.id) != keep {
                    sessions.push(c);
                }
                Ok::<_, Error>(std::ops::ControlFlow::Continue(()))
            },
        )?;
        for c in &sessions {
            self.end_session(c)?;
        }
        Ok(sessions.len())
    }
}

/// The sign-in feature's state: its settings, and the hash unknown emails' sign-ins are
/// checked against.
#[derive(Debug, Default)]
pub(crate) struct SignIn {
    config: AuthConfig,
    dummy_hash: OnceLock<String>,
}

/// Installs the sign-in feature with the default settings.
pub(crate) fn install(parts: &mut Parts) {
    parts.insert(SignIn::default());
}

impl Engine {
    /// Sets how passwords are hashed and how long credentials last.
    pub fn with_auth(mut self, config: AuthConfig) -> Self {
        *self.part_mut::<SignIn>() = SignIn {
            config,
            dummy_hash: OnceLock::new(),
        };
        self
    }

    /// The sign-in configuration.
    pub fn auth_config(&self) -> &AuthConfig {
        &self.part::<SignIn>().config
    }

    /// A hash of nothing in particular, with the configured parameters: what an unknown
    /// email's sign-in is checked against, so it takes as long as a known one's.
    fn dummy_hash(&self) -> &str {
        let sign_in = self.part::<SignIn>();
        sign_in.dummy_hash.get_or_init(|| {
            hash_password(sign_in.config.password, "not a password of anyone").unwrap_or_default()
        })
    }

    /// Signs a person up in `group` with an email and a password, as `ctx` (which needs
    /// `auth:signup` there, e.g. an application's API key). The group's `allowSignups`
    /// and `allowedDomains` settings must allow it. An empty `name` is the email. Makes
    /// the person a `group_user` member, logs `sign_up`, and returns an email
    /// verification token.
    pub fn sign_up(
        &self,
        ctx: &Context,
        group: GroupId,
        email: &str,
        password: &str,
        name: &str,
    ) -> Result<SignedUp> {
        let email = normalize_email(email)?;
        check_password(password)?;
        // A person needs a name: without one, the email is it.
        let name = if name.trim().is_empty() {
            email.as_str()
        } else {
            name
        };
        // Refuse early, before the slow hash; then check again in the transaction.
        self.read(ctx, |v| v.check_sign_up(group, &email))?;
        let phc = hash_password(self.auth_config().password, password)?;
        self.write(ctx, |tx| {
            tx.view().check_sign_up(group, &email)?;
            let person = tx.create_person_as(
                NewPerson::new(email.as_str(), name)
                    .role("group_user")
                    .in_group(group),
                Op::SignUp,
            )?;
            tx.put_record(
                &tx.scope.tenant.password(person.id),
                &Password { phc: phc.clone() },
            )?;
            tx.insert_membership(person.id, group, "group_user", &[], MembershipState::Active)?;
            tx.log(
                kinds::USER_JOINED_GROUP,
                group,
                Some(Ref::from(person.id)),
                Value::map()
                    .with("role", "group_user")
                    .with("method", "sign_up"),
            )?;
            tx.log(
                kinds::SIGN_UP,
                group,
                Some(Ref::from(person.id)),
                Value::map().with("method", "password"),
            )?;
            let verification = tx.issue_token(
                Purpose::VerifyEmail,
                person.id,
                group,
                self.auth_config().verification_ttl,
            )?;
            Ok(SignedUp {
                person,
                verification,
            })
        })
    }

    /// Signs a person in to `group` with email and password, as `ctx` (which needs
    /// `auth:signin` there). A wrong password and an unknown email are the same
    /// [`Error::InvalidCredentials`], take the same time, and log `sign_in_failed`. With
    /// the group's `requireEmailVerification`, an unverified email is
    /// [`Error::EmailNotVerified`].
    pub fn sign_in(
        &self,
        ctx: &Context,
        group: GroupId,
        email: &str,
        password: &str,
    ) -> Result<SignedIn> {
        let email = normalize_email(email).map_err(|_| Error::InvalidCredentials)?;
        let (person, phc, require_verified) = self.read(ctx, |v| {
            v.authorize(Op::SignIn, group)?;
            let g = v.check_scope(group)?;
            let person = v.person_for_email(&email)?;
            let phc = match &person {
                Some(p) => v.password_of(p.id)?.map(|p| p.phc),
                None => None,
            };
            let require = setting(&g, "requireEmailVerification").and_then(Value::as_bool);
            Ok((person, phc, require == Some(true)))
        })?;
        let ok = match &phc {
            Some(phc) => verify_password(phc, password),
            None => {
                // The same work as a real check, and always a failure.
                let _ = verify_password(self.dummy_hash(), password);
                false
            }
        };
        let person = match person {
            Some(p) if ok && p.kind == PERSON && p.status != ThingStatus::Deleted => p,
            other => {
                let target = other.map(|p| Ref::from(p.id));
                self.write(ctx, |tx| {
                    tx.log(
                        kinds::SIGN_IN_FAILED,
                        group,
                        target,
                        Value::map().with("method", "password"),
                    )
                })?;
                return Err(Error::InvalidCredentials);
            }
        };
        if require_verified
            && person.properties.get_path("email_verified") != Some(&Value::Bool(true))
        {
            return Err(Error::EmailNotVerified);
        }
        let proven = Proven {
            person: person.id,
            group,
            method: "password".into(),
            second_factor: None,
        };
        self.write(ctx, |tx| tx.finish_sign_in(&proven))
    }

    /// Signs in a person whose external identity the application has verified with the
    /// provider, as `ctx` (which needs `auth:signin` in `group`). An identity not linked
    /// with [`Tx::link_identity`] is [`Error::InvalidCredentials`].
    pub fn sign_in_external(
        &self,
        ctx: &Context,
        group: GroupId,
        provider: &str,
        subject: &str,
    ) -> Result<SignedIn> {
        validate::type_name("provider", provider)?;
        self.write(ctx, |tx| {
            tx.view().authorize(Op::SignIn, group)?;
            tx.view().check_scope(group)?;
            let Some(person) = tx.view().person_for_identity(provider, subject)? else {
                return Err(Error::InvalidCredentials);
            };
            let active = tx
                .view()
                .get_record::<Thing>(&tx.scope.tenant.thing(person))?
                .is_some_and(|t| t.status != ThingStatus::Deleted);
            if !active {
                return Err(Error::InvalidCredentials);
            }
            let proven = Proven {
                person,
                group,
                method: provider.to_string(),
                second_factor: None,
            };
            tx.finish_sign_in(&proven)
        })
    }

    /// Makes a magic sign-in link token for the person with `email`, as `ctx` (which
    /// needs `auth:signin` in `group` and, since the token signs the person in, every
    /// permission the person has). Deliver it to the address; it signs in once,
    /// within [`AuthConfig::magic_link_ttl`], and verifies the email.
    pub fn magic_link(&self, ctx: &Context, group: GroupId, email: &str) -> Result<Secret> {
        let email = normalize_email(email)?;
        self.write(ctx, |tx| {
            let person = tx
                .view()
                .token_person(group, &email)?
                .ok_or_else(|| Error::NotFound {
                    kind: crate::base::id::IdKind::Thing,
                    id: format!("with email {email:?}"),
                })?;
            tx.view()
                .authorize_over(Op::MagicLink, group, person.id.into(), person.id)?;
            tx.issue_token(
                Purpose::MagicLink,
                person.id,
                group,
                self.auth_config().magic_link_ttl,
            )
        })
    }

    /// Issues a new email verification token for `person`, as `ctx` (the person
    /// themselves, or someone with `members:manage` in the person's group who holds every
    /// permission the person has).
    pub fn email_verification(&self, ctx: &Context, person: ThingId) -> Result<Secret> {
        self.write(ctx, |tx| {
            let thing = tx.view().load_person(person)?;
            tx.view()
                .authorize_over(Op::ManageCredentials, thing.group, person.into(), person)?;
            tx.issue_token(
                Purpose::VerifyEmail,
                person,
                thing.group,
                self.auth_config().verification_ttl,
            )
        })
    }

    /// A one-time token that sets a new password for the person with `email`, as `ctx`
    /// (which needs `auth:signin` in `group` and, since the token lets its holder into the
    /// account, every permission the person has). It also gives a first password to a
    /// person who has none (invited, imported, or created by the application). Deliver
    /// it to the address; it works once, within [`AuthConfig::password_reset_ttl`], with
    /// [`Engine::reset_password`].
    ///
    /// An unknown email is `Ok(None)`, not an error, and costs the same one commit (its
    /// `password_reset_requested` event has no target): the application answers both
    /// alike, so its users cannot tell which addresses have accounts.
    pub fn password_reset(
        &self,
        ctx: &Context,
        group: GroupId,
        email: &str,
    ) -> Result<Option<Secret>> {
        let email = normalize_email(email)?;
        self.write(ctx, |tx| {
            let Some(person) = tx.view().token_person(group, &email)? else {
                tx.log(kinds::PASSWORD_RESET_REQUESTED, group, None, Value::map())?;
                return Ok(None);
            };
            tx.view()
                .authorize_over(Op::MagicLink, group, person.id.into(), person.id)?;
            tx.view().ensure_own_credentials(person.id, "email")?;
            tx.log(
                kinds::PASSWORD_RESET_REQUESTED,
                group,
                Some(Ref::from(person.id)),
                Value::map(),
            )?;
            let purpose = match tx.view().account_of(person.id)? {
                Some(_) => Purpose::AccountPasswordReset,
                None => Purpose::PasswordReset,
            };
            tx.issue_token(
                purpose,
                person.id,
                group,
                self.auth_config().password_reset_ttl,
            )
            .map(Some)
        })
    }

    /// Uses a password reset token: sets `new_password` (the same rules as at sign-up),
    /// ends every session of the person, verifies their email (the token reached it),
    /// and logs `password_reset`. Returns the person, who signs in next.
    pub fn reset_password(&self, token: &str, new_password: &str) -> Result<ThingId> {
        check_password(new_password)?;
        // The slow hash only for a token that can be used.
        const RESETS: &[Purpose] = &[Purpose::PasswordReset, Purpose::AccountPasswordReset];
        self.peek_token(token, RESETS)?;
        let phc = hash_password(self.auth_config().password, new_password)?;
        self.redeem(token, RESETS, |tx, t| {
            let active = tx
                .view()
                .get_record::<Thing>(&tx.scope.tenant.thing(t.person))?
                .is_some_and(|p| p.kind == PERSON && p.status != ThingStatus::Deleted);
            if !active {
                return Err(Error::InvalidCredentials);
            }
            let keys = tx.view().credential_keys(t.person)?;
            // A token a tenant asked for before the person joined an account does not
            // set the account's password.
            if keys.account.is_some() && t.purpose != Purpose::AccountPasswordReset {
                return Err(Error::InvalidCredentials);
            }
            let key = keys.password;
            tx.put_record(&key, &Password { phc: phc.clone() })?;
            let ended = tx.end_sessions(t.person, None)?;
            tx.credentials_changed(t.person, None)?;
            tx.mark_verified(t.person, t.group, "password_reset")?;
            tx.log(
                kinds::PASSWORD_RESET,
                t.group,
                Some(Ref::from(t.person)),
                Value::map().with("sessions", ended as i64),
            )?;
            Ok(t.person)
        })
    }

    /// Changes the password of the person signed in with `session`, who proves it again
    /// with `current_password`; `new_password` follows the sign-up rules. Every other
    /// session of the person ends (whoever else holds one is signed out); this one goes
    /// on. Logs `password_changed`. A wrong current password is
    /// [`Error::InvalidCredentials`] and logs `password_change_failed`; a person without a
    /// password sets one with [`Engine::password_reset`].
    pub fn change_password(
        &self,
        session: &str,
        current_password: &str,
        new_password: &str,
    ) -> Result<()> {
        let ctx = self.context_for_session(session)?;
        let (_, _, current) = self.find_session(session)?;
        let Principal::Person(person) = ctx.principal() else {
            return Err(Error::InvalidCredentials);
        };
        let group = ctx.group();
        let stored = self.read(&ctx, |v| v.password_of(person))?;
        let ok = match &stored {
            Some(p) => verify_password(&p.phc, current_password),
            None => {
                let _ = verify_password(self.dummy_hash(), current_password);
                false
            }
        };
        if !ok {
            self.write(&ctx, |tx| {
                tx.log(
                    kinds::PASSWORD_CHANGE_FAILED,
                    group,
                    Some(Ref::from(person)),
                    Value::map(),
                )
            })?;
            return Err(Error::InvalidCredentials);
        }
        check_password(new_password)?;
        let phc = hash_password(self.auth_config().password, new_password)?;
        self.write(&ctx, |tx| {
            // Changed by someone else since it was checked: check again.
            if tx.view().password_of(person)? != stored
                || tx
                    .kv
                    .get(&tx.scope.tenant.connection(current.id))?
                    .is_none()
            {
                return Err(Error::InvalidCredentials);
            }
            let key = tx.view().credential_keys(person)?.password;
            tx.put_record(&key, &Password { phc: phc.clone() })?;
            let ended = tx.end_sessions(person, Some(current.id))?;
            tx.credentials_changed(person, Some(current.id))?;
            tx.log(
                kinds::PASSWORD_CHANGED,
                group,
                Some(Ref::from(person)),
                Value::map().with("sessions", ended as i64),
            )?;
            Ok(())
        })
    }

    /// The one-time token of `token`'s text if it is of one of `purposes` and unexpired,
    /// without using it.
    fn peek_token(&self, token: &str, purposes: &[Purpose]) -> Result<OneTimeToken> {
        let (kind, digest) = secret::parse(token)?;
        if kind != SecretKind::OneTime {
            return Err(Error::InvalidCredentials);
        }
        let found: OneTimeToken = self
            .store()
            .read()?
            .get(&layout::secret_digest(SecretSection::OneTime, &digest))?
            .map(|b| codec::decode(&b))
            .transpose()?
            .ok_or(Error::InvalidCredentials)?;
        if !purposes.contains(&found.purpose) {
            return Err(Error::InvalidCredentials);
        }
        if self.clock().now() >= found.expires_at {
            return Err(Error::Expired);
        }
        Ok(found)
    }

    /// Uses a one-time token of one of `purposes`: checks it, deletes it (used or expired), and
    /// runs `then` in the same transaction, as the token's person.
    fn redeem<R>(
        &self,
        token: &str,
        purposes: &[Purpose],
        mut then: impl FnMut(&mut Tx<'_, '_>, &OneTimeToken) -> Result<R>,
    ) -> Result<R> {
        let (kind, digest) = secret::parse(token)?;
        if kind != SecretKind::OneTime {
            return Err(Error::InvalidCredentials);
        }
        let key = layout::secret_digest(SecretSection::OneTime, &digest);
        let found: OneTimeToken = self
            .store()
            .read()?
            .get(&key)?
            .map(|b| codec::decode(&b))
            .transpose()?
            .ok_or(Error::InvalidCredentials)?;
        if !purposes.contains(&found.purpose) {
            return Err(Error::InvalidCredentials);
        }
        let ctx = Context::person(found.person, found.group).with_env(found.env);
        let now = self.clock().now();
        if now >= found.expires_at {
            // An expired token is useless; forget it.
            self.transact(|kv| Ok(kv.delete(&key)?))?;
            return Err(Error::Expired);
        }
        self.write(&ctx, |tx| {
            // Another thread may have used it since it was read.
            if tx.kv.remove(&key)?.is_none() {
                return Err(Error::InvalidCredentials);
            }
            then(tx, &found)
        })
    }

    /// Uses an email verification token: marks the person's email verified
    /// (`properties.email_verified = true`) and logs `email_verified`. Returns the person.
    pub fn verify_email(&self, token: &str) -> Result<ThingId> {
        self.redeem(token, &[Purpose::VerifyEmail], |tx, t| {
            tx.mark_verified(t.person, t.group, "link")?;
            Ok(t.person)
        })
    }

    /// Uses a magic link token: verifies the email and opens a session.
    pub fn sign_in_with_magic_link(&self, token: &str) -> Result<SignedIn> {
        self.redeem(token, &[Purpose::MagicLink], |tx, t| {
            let active = tx
                .view()
                .get_record::<Thing>(&tx.scope.tenant.thing(t.person))?
                .is_some_and(|p| p.status != ThingStatus::Deleted);
            if !active {
                return Err(Error::InvalidCredentials);
            }
            tx.mark_verified(t.person, t.group, "magic_link")?;
            let proven = Proven {
                person: t.person,
                group: t.group,
                method: "magic_link".into(),
                second_factor: None,
            };
            tx.finish_sign_in(&proven)
        })
    }

    /// Finds the live session of a token: its tenant, environment and connection.
    pub(crate) fn find_session(&self, token: &str) -> Result<(GroupId, Env, Connection)> {
        let (kind, digest) = secret::parse(token)?;
        if kind != SecretKind::Session {
            return Err(Error::InvalidCredentials);
        }
        self.find_session_digest(&self.store().read()?, &digest)
    }

    fn find_session_digest(
        &self,
        kv: &impl KvRead,
        digest: &SecretDigest,
    ) -> Result<(GroupId, Env, Connection)> {
        let found = kv
            .get(&layout::secret_digest(SecretSection::Session, digest))?
            .ok_or(Error::InvalidCredentials)?;
        let (root, env, id) = layout::decode_session_locator(&found)?;
        let c: Connection = kv
            .get(&TenantKeys::new(root, env).connection(id))?
            .map(|b| codec::decode(&b))
            .transpose()?
            .ok_or(Error::InvalidCredentials)?;
        let stored = c
            .metadata
            .get_path("token_sha256")
            .and_then(Value::as_str)
            .and_then(unhex);
        if !stored.is_some_and(|s| secret::constant_time_eq(&s, digest)) {
            return Err(Error::InvalidCredentials);
        }
        Ok((root, env, c))
    }

    /// The context of a session token: the signed-in person, acting in the session's
    /// group and environment. An unknown or signed-out token is
    /// [`Error::InvalidCredentials`], an expired session [`Error::Expired`]; a deleted
    /// person's sessions are invalid.
    pub fn context_for_session(&self, token: &str) -> Result<Context> {
        let (kind, digest) = secret::parse(token)?;
        if kind != SecretKind::Session {
            return Err(Error::InvalidCredentials);
        }
        let found = match self.part::<Credentials>().get(&digest) {
            Some(c) => c,
            None => self.load_session_credential(&digest)?,
        };
        if found.expires_at.is_none_or(|t| self.clock().now() >= t) {
            return Err(Error::Expired);
        }
        Ok(found.ctx)
    }

    /// Reads a session from the store, checks its person, and caches it.
    fn load_session_credential(&self, digest: &SecretDigest) -> Result<Credential> {
        let epoch = self.part::<Credentials>().epoch();
        let kv = self.store().read()?;
        let (root, env, c) = self.find_session_digest(&kv, digest)?;
        let expires_at = c
            .metadata
            .get_path("expires_at")
            .and_then(Value::as_i64)
            .and_then(|ms| u64::try_from(ms).ok())
            .map(Timestamp::from_millis);
        let (Ref::ThingId(person), Ref::GroupId(group)) = (c.from, c.to) else {
            return Err(Error::Corrupt {
                what: "session",
                reason: format!("{} does not join a person to a group", c.id),
            });
        };
        let active = kv
            .get(&TenantKeys::new(root, env).thing(person))?
            .map(|b| codec::decode::<Thing>(&b))
            .transpose()?
            .is_some_and(|t| t.status != ThingStatus::Deleted);
        if !active || !self.session_current(&*kv, root, env, person, &c)? {
            return Err(Error::InvalidCredentials);
        }
        let credential = Credential {
            ctx: Context::person(person, group).with_env(env),
            expires_at,
            allowed_ips: Arc::from([]),
            quota: None,
        };
        self.part::<Credentials>()
            .insert(*digest, credential.clone(), epoch);
        Ok(credential)
    }

    /// Ends the session of `token` (sign out) and logs `sign_out`. An unknown token is
    /// [`Error::InvalidCredentials`].
    pub fn sign_out(&self, token: &str) -> Result<()> {
        let (_, env, c) = self.find_session(token)?;
        let (Ref::ThingId(person), Ref::GroupId(group)) = (c.from, c.to) else {
            return Err(Error::InvalidCredentials);
        };
        let ctx = Context::person(person, group).with_env(env);
        self.write(&ctx, |tx| {
            // Gone already if another thread signed it out first.
            if tx.kv.get(&tx.scope.tenant.connection(c.id))?.is_none() {
                return Err(Error::InvalidCredentials);
            }
            tx.end_session(&c)?;
            tx.log(
                kinds::SIGN_OUT,
                group,
                Some(Ref::from(person)),
                Value::map().with("method", "session"),
            )?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let phc = hash_password(PasswordParams::INSECURE_FAST, "correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(!phc.contains("correct horse"));
        assert!(verify_password(&phc, "correct horse"));
        assert!(!verify_password(&phc, "correct horsf"));
        assert!(!verify_password("not a hash", "correct horse"));
    }

    #[test]
    fn password_rules_name_the_field() {
        assert!(
            check_password("short")
                .unwrap_err()
                .to_string()
                .contains("password")
        );
        let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
        assert!(matches!(check_password(&long), Err(Error::TooLarge { .. })));
        check_password("long enough").unwrap();
    }

    #[test]
    fn digests_round_trip_through_hex() {
        let d = secret::digest("ok_sess_x");
        assert_eq!(unhex(&crate::base::codec::hex(&d)), Some(d));
        assert_eq!(unhex("zz"), None);
    }
}
