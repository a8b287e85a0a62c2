//! Two-factor sign-in: an authenticator app's codes (TOTP, [`crate::identity::totp`]) as
//! the second factor, single-use recovery codes for a lost app, and the wait between the
//! two factors.
//!
//! - **Where it applies.** Every sign-in path (password, magic link, external identity)
//!   ends in [`Tx::finish_sign_in`]: a person with a confirmed authenticator, or signing in
//!   to a group whose `enableTwoFactor` setting (on the group or any group above it) is
//!   `true`, gets a [`SecondFactor`] — a pending sign-in whose token opens nothing but
//!   [`Engine::complete_sign_in`] — instead of a session. No other code opens a session.
//! - **Enrolment.** [`Engine::enroll_two_factor`] makes a secret (shown once, as base32 and
//!   as an `otpauth://` URI for a QR code); [`Engine::confirm_two_factor`] turns it on
//!   with a first code and returns ten recovery codes. Enrolling takes a session, or the
//!   token of a pending sign-in whose group requires two factors of a person who has none
//!   yet (the first sign-in after `enableTwoFactor` was set). A person who has an
//!   authenticator changes it only by turning it off first.
//! - **Codes.** A code is accepted in its 30-second step or a neighbour, once: the step of
//!   the last accepted code is stored and no code of that step or an earlier one is taken
//!   again (replay). Recovery codes (80 random bits each) are stored as SHA-256 digests
//!   and deleted when used. A pending sign-in takes [`MAX_SECOND_FACTOR_FAILURES`] wrong
//!   codes, then ends: the first factor must be proven again. Across sign-ins, after
//!   [`FREE_SECOND_FACTOR_FAILURES`] wrong codes in a row each further one makes the
//!   next wait (30 s, doubling to an hour; [`Error::RateLimited`] meanwhile), so someone
//!   who has the password cannot try the million codes by signing in again and again.
//! - **Turning it off** takes a session and a current code or a recovery code
//!   ([`Engine::disable_two_factor`]); someone managing the person (`members:manage` and
//!   every permission the person has, never the person themselves) may remove it for a
//!   lost app with [`Tx::reset_two_factor`].
//! - **Accounts.** A person with an account (`accounts.rs`) has the account's
//!   authenticator and recovery codes, in every tenant of the account.
//! - **Secrets stay inside.** The TOTP secret is stored (a TOTP check needs it), never
//!   logged, left out of `Debug` output and of exports; recovery codes only as digests.
//!
//! Events: `second_factor_required` (with the first factor's `method`),
//! `second_factor_failed`, `two_factor_enabled`, `two_factor_disabled`,
//! `recovery_code_used`, and `sign_in` with `second_factor` (`totp` or `recovery_code`)
//! in its metadata.

pub use one_vocabulary::identity::{SecondFactor, SignedIn, TwoFactorEnabled, TwoFactorEnrollment};

use one_storage::KvRead;
use serde::{Deserialize, Serialize};

use crate::access::policy::Op;
use crate::base::clock::Timestamp;
use crate::base::codec::{self, Record};
use crate::base::context::{Context, Env, Principal};
use crate::base::id::{GroupId, Ref, ThingId};
use crate::base::layout::{self, SecretSection};
use crate::base::secret::{self, Secret, SecretDigest, SecretKind};
use crate::base::value::Value;
use crate::identity::sign_in::{Proven, Session, ttl_ms};
use crate::identity::totp;
use crate::kernel::{Engine, Tx, View};
use crate::records::event::kinds;
use crate::records::person::PERSON;
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// Wrong codes a pending sign-in takes before it ends.
pub const MAX_SECOND_FACTOR_FAILURES: u8 = 5;
/// Wrong codes in a row (across sign-ins) a person's second factor takes before each
/// further one makes the next wait: 30 seconds, doubling up to an hour. A right code
/// starts the count again.
pub const FREE_SECOND_FACTOR_FAILURES: u32 = 5;
const FIRST_BLOCK_MS: u64 = 30_000;
const MAX_BLOCK_MS: u64 = 3_600_000;
/// Recovery codes made when two-factor sign-in is turned on.
pub const RECOVERY_CODES: usize = 10;
/// Random bytes of a recovery code: 80 bits, 16 base32 characters.
const RECOVERY_CODE_BYTES: usize = 10;

/// A person's authenticator: the TOTP secret, whether a first code confirmed it, the step
/// of the last code accepted, and the digests of the unused recovery codes.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct TwoFactor {
    secret: Vec<u8>,
    confirmed: bool,
    last_step: u64,
    recovery: Vec<SecretDigest>,
    /// Wrong codes since the last right one, across sign-ins.
    failures: u32,
    /// No code is checked before this time (after [`FREE_SECOND_FACTOR_FAILURES`]).
    blocked_until: Timestamp,
}

impl Record for TwoFactor {
    const NAME: &'static str = "two-factor";
    const VERSION: u8 = 1;
}

impl std::fmt::Debug for TwoFactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactor")
            .field("secret", &"<redacted>")
            .field("confirmed", &self.confirmed)
            .field("last_step", &self.last_step)
            .field("recovery_codes", &self.recovery.len())
            .field("failures", &self.failures)
            .field("blocked_until", &self.blocked_until)
            .finish()
    }
}

/// A sign-in whose first factor was proven, waiting for the second; stored under its
/// token's digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct PendingSignIn {
    root: GroupId,
    env: Env,
    person: ThingId,
    group: GroupId,
    /// The first factor: `password`, `magic_link`, or the provider's name.
    method: String,
    failures: u8,
    expires_at: Timestamp,
}

impl Record for PendingSignIn {
    const NAME: &'static str = "pending sign-in";
    const VERSION: u8 = 1;
}

/// Why a second factor was refused.
enum Refused {
    /// The code was wrong (counted).
    Wrong,
    /// Too many wrong codes in a row: none is checked for this long.
    Blocked { retry_after_ms: u64 },
}

/// What a second factor proved.
enum Proof {
    /// A code of this step.
    Totp(u64),
    /// The recovery code at this index.
    Recovery(usize),
}

impl Proof {
    fn method(&self) -> &'static str {
        match self {
            Proof::Totp(_) => "totp",
            Proof::Recovery(_) => "recovery_code",
        }
    }
}

impl TwoFactor {
    /// What `code` proves: a TOTP code of a step after the last one used, or (once
    /// confirmed) an unused recovery code.
    fn check(&self, code: &str, now: Timestamp) -> Option<Proof> {
        if let Some(step) = totp::matching_step(&self.secret, code, now.as_millis()) {
            return (step > self.last_step).then_some(Proof::Totp(step));
        }
        if !self.confirmed {
            return None;
        }
        let digest = recovery_digest(code)?;
        // Every stored digest is compared, so the time does not say which one matched.
        let mut found = None;
        for (i, stored) in self.recovery.iter().enumerate() {
            if secret::constant_time_eq(stored, &digest) && found.is_none() {
                found = Some(i);
            }
        }
        found.map(Proof::Recovery)
    }

    /// Checks `code` at `now` and records the outcome: what a right code used (and the
    /// count of wrong ones starts again), or one more wrong code — and, past
    /// [`FREE_SECOND_FACTOR_FAILURES`], how long until the next is checked. While
    /// blocked, no code is checked at all.
    fn attempt(&mut self, code: &str, now: Timestamp) -> std::result::Result<Proof, Refused> {
        if now < self.blocked_until {
            return Err(Refused::Blocked {
                retry_after_ms: self.blocked_until.as_millis() - now.as_millis(),
            });
        }
        match self.check(code, now) {
            Some(proof) => {
                self.spend(&proof);
                self.failures = 0;
                Ok(proof)
            }
            None => {
                self.failures = self.failures.saturating_add(1);
                if let Some(over) = self.failures.checked_sub(FREE_SECOND_FACTOR_FAILURES) {
                    let wait = FIRST_BLOCK_MS
                        .saturating_mul(1u64 << over.min(20))
                        .min(MAX_BLOCK_MS);
                    self.blocked_until = now.plus_millis(wait);
                }
                Err(Refused::Wrong)
            }
        }
    }

    /// Records what `proof` used: the step, or the recovery code (deleted).
    fn spend(&mut self, proof: &Proof) {
        match *proof {
            Proof::Totp(step) => self.last_step = step,
            Proof::Recovery(i) => {
                self.recovery.remove(i);
            }
        }
    }
}

/// The digest a recovery code is stored as: of its 16 characters in lower case, without
/// the dashes and spaces it is shown or typed with. `None` for text of another shape.
fn recovery_digest(code: &str) -> Option<SecretDigest> {
    let bare: String = code
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (bare.len() == 16 && bare.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| secret::digest(&bare))
}

/// Fresh recovery codes (`abcd-efgh-ijkl-mnop`) and their digests.
fn new_recovery_codes() -> Result<(Vec<Secret>, Vec<SecretDigest>)> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut digests = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let bare = data_encoding::BASE32_NOPAD
            .encode(&random_bytes::<RECOVERY_CODE_BYTES>()?)
            .to_ascii_lowercase();
        let shown = bare
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-");
        digests.push(secret::digest(&bare));
        codes.push(Secret(shown));
    }
    Ok((codes, digests))
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Corrupt {
        what: "random source",
        reason: format!("the OS random source failed: {e}"),
    })?;
    Ok(bytes)
}

impl<K: KvRead> View<'_, K> {
    fn two_factor_of(&self, person: ThingId) -> Result<Option<TwoFactor>> {
        self.get_record(&self.credential_keys(person)?.two_factor)
    }

    /// Whether `group` or a group above it sets `enableTwoFactor`.
    fn requires_two_factor(&self, group: GroupId) -> Result<bool> {
        Ok(self
            .lineage(group)?
            .iter()
            .any(|g| g.properties.get_path("settings.enableTwoFactor") == Some(&Value::Bool(true))))
    }
}

/// Who holds a credential given to an enrolment: a signed-in person, or a pending
/// sign-in (its key in the store, and the record).
struct Holder {
    ctx: Context,
    person: ThingId,
    group: GroupId,
    pending: Option<(Vec<u8>, PendingSignIn)>,
}

impl Tx<'_, '_> {
    /// The end of every sign-in path: a session, or — for a person with an authenticator,
    /// or in a group that requires two factors — a pending sign-in.
    pub(crate) fn finish_sign_in(&mut self, proven: &Proven) -> Result<SignedIn> {
        let config = *self.engine.auth_config();
        // A second factor proven already (a tenant switch from such a session).
        if proven.second_factor.is_some() {
            return self
                .open_session(proven, config.session_ttl)
                .map(SignedIn::Session);
        }
        let enrolled = self
            .view()
            .two_factor_of(proven.person)?
            .is_some_and(|t| t.confirmed);
        if !enrolled && !self.view().requires_two_factor(proven.group)? {
            return self
                .open_session(proven, config.session_ttl)
                .map(SignedIn::Session);
        }
        let text = secret::generate(SecretKind::OneTime)?;
        let expires_at = self.now().plus_millis(ttl_ms(config.second_factor_ttl));
        let pending = PendingSignIn {
            root: self.scope.root,
            env: self.scope.ctx.env(),
            person: proven.person,
            group: proven.group,
            method: proven.method.clone(),
            failures: 0,
            expires_at,
        };
        self.put_record(
            &layout::secret_digest(SecretSection::SecondFactor, &secret::digest(&text)),
            &pending,
        )?;
        self.log(
            kinds::SECOND_FACTOR_REQUIRED,
            proven.group,
            Some(Ref::from(proven.person)),
            Value::map().with("method", proven.method.as_str()),
        )?;
        Ok(SignedIn::SecondFactor(SecondFactor {
            person: proven.person,
            group: proven.group,
            enrolled,
            expires_at,
            token: Secret(text),
        }))
    }

    /// Removes `person`'s authenticator and recovery codes, for a person who lost them.
    /// Needs `members:manage` in the person's group and every permission the person has;
    /// a person never resets their own (they turn it off with a code,
    /// [`Engine::disable_two_factor`]). Logs `two_factor_disabled` with `method: reset`.
    /// Returns whether the person had one. A group that requires two factors asks the
    /// person to enrol again at their next sign-in.
    pub fn reset_two_factor(&mut self, person: ThingId) -> Result<bool> {
        let thing = self.view().load_person(person)?;
        self.view()
            .authorize_over(Op::ResetTwoFactor, thing.group, person.into(), person)?;
        if self.scope.ctx.principal() == Principal::Person(person) {
            return Err(Error::invalid(
                "person",
                "your own second factor is turned off with one of its codes (disable_two_factor)",
            ));
        }
        self.view().ensure_own_credentials(person, "person")?;
        let key = self.view().credential_keys(person)?.two_factor;
        let had = self.kv.remove(&key)?.is_some();
        if had {
            self.log(
                kinds::TWO_FACTOR_DISABLED,
                thing.group,
                Some(Ref::from(person)),
                Value::map().with("method", "reset"),
            )?;
        }
        Ok(had)
    }

    /// Answers a refused second factor: a wait while blocked ([`Error::RateLimited`],
    /// nothing counted), else [`Tx::second_factor_failed`].
    fn second_factor_refused(&mut self, holder: &Holder, refused: Refused) -> Result<Error> {
        match refused {
            Refused::Blocked { retry_after_ms } => Ok(Error::RateLimited { retry_after_ms }),
            Refused::Wrong => self.second_factor_failed(holder),
        }
    }

    /// Counts a wrong second factor: logs `second_factor_failed`, and for a pending
    /// sign-in counts the failure, ending it at the limit. Returns the error to answer.
    fn second_factor_failed(&mut self, holder: &Holder) -> Result<Error> {
        if let Some((key, pending)) = &holder.pending {
            let failures = pending.failures.saturating_add(1);
            if failures >= MAX_SECOND_FACTOR_FAILURES {
                self.delete(key)?;
            } else {
                let mut counted = pending.clone();
                counted.failures = failures;
                self.put_record(key, &counted)?;
            }
        }
        self.log(
            kinds::SECOND_FACTOR_FAILED,
            holder.group,
            Some(Ref::from(holder.person)),
            Value::map(),
        )?;
        Ok(Error::InvalidCredentials)
    }

    /// The authenticator of the credential's holder and its key: `Ok(Err(…))` (an answer
    /// to give, nothing to undo) when the credential is no longer current or the person
    /// has none.
    fn authenticator_of(
        &self,
        holder: &Holder,
    ) -> Result<std::result::Result<(Vec<u8>, TwoFactor), Error>> {
        if !self.holder_current(holder)? {
            return Ok(Err(Error::InvalidCredentials));
        }
        let key = self.view().credential_keys(holder.person)?.two_factor;
        Ok(match self.view().get_record::<TwoFactor>(&key)? {
            Some(tf) => Ok((key, tf)),
            None => Err(not_enrolled()),
        })
    }

    /// Whether the credential `holder` presented is still there (not signed out, not
    /// used by another thread since it was read).
    fn holder_current(&self, holder: &Holder) -> Result<bool> {
        match &holder.pending {
            Some((key, pending)) => Ok(self
                .kv
                .get(key)?
                .map(|b| codec::decode::<PendingSignIn>(&b))
                .transpose()?
                .is_some_and(|p| p == *pending)),
            None => {
                let active = self
                    .view()
                    .get_record::<Thing>(&self.scope.tenant.thing(holder.person))?
                    .is_some_and(|p| p.kind == PERSON && p.status != ThingStatus::Deleted);
                Ok(active)
            }
        }
    }
}

/// Which credentials a two-factor operation takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// A session.
    Session,
    /// A pending sign-in.
    Pending,
    /// Either.
    Either,
}

impl Engine {
    /// Who holds `token`, if it is a credential of a kind the operation `takes`: a
    /// session or a sign-in waiting for its second factor. Anything else, used up or
    /// expired, is refused.
    fn two_factor_holder(&self, token: &str, takes: Takes) -> Result<Holder> {
        let (kind, digest) = secret::parse(token)?;
        match kind {
            SecretKind::Session if takes != Takes::Pending => {
                let ctx = self.context_for_session(token)?;
                let Principal::Person(person) = ctx.principal() else {
                    return Err(Error::InvalidCredentials);
                };
                let group = ctx.group();
                Ok(Holder {
                    ctx,
                    person,
                    group,
                    pending: None,
                })
            }
            SecretKind::OneTime if takes != Takes::Session => {
                let key = layout::secret_digest(SecretSection::SecondFactor, &digest);
                let pending: PendingSignIn = self
                    .store()
                    .read()?
                    .get(&key)?
                    .map(|b| codec::decode(&b))
                    .transpose()?
                    .ok_or(Error::InvalidCredentials)?;
                if self.clock().now() >= pending.expires_at {
                    self.transact(|kv| Ok(kv.delete(&key)?))?;
                    return Err(Error::Expired);
                }
                Ok(Holder {
                    ctx: Context::person(pending.person, pending.group).with_env(pending.env),
                    person: pending.person,
                    group: pending.group,
                    pending: Some((key, pending)),
                })
            }
            _ => Err(Error::InvalidCredentials),
        }
    }

    /// Completes a sign-in waiting for its second factor ([`SignedIn::SecondFactor`])
    /// with a code of the person's authenticator app or one of their recovery codes, and
    /// opens the session. A wrong code is [`Error::InvalidCredentials`] and logs
    /// `second_factor_failed`; after [`MAX_SECOND_FACTOR_FAILURES`] of them the token
    /// is used up. A code already used (this step or an earlier one) is wrong. A person
    /// without an authenticator enrols first ([`Engine::enroll_two_factor`] with the same
    /// token).
    pub fn complete_sign_in(&self, token: &str, code: &str) -> Result<Session> {
        let holder = self.two_factor_holder(token, Takes::Pending)?;
        self.write(&holder.ctx, |tx| {
            let (key, mut tf) = match tx.authenticator_of(&holder)? {
                Ok(found) if found.1.confirmed => found,
                Ok(_) => return Ok(Err(not_enrolled())),
                Err(e) => return Ok(Err(e)),
            };
            let outcome = tf.attempt(code, tx.now());
            tx.put_record(&key, &tf)?;
            let proof = match outcome {
                Ok(proof) => proof,
                Err(refused) => return tx.second_factor_refused(&holder, refused).map(Err),
            };
            if let Proof::Recovery(_) = proof {
                tx.log(
                    kinds::RECOVERY_CODE_USED,
                    holder.group,
                    Some(Ref::from(holder.person)),
                    Value::map().with("remaining", tf.recovery.len() as i64),
                )?;
            }
            tx.finish_pending(&holder, &proof).map(Ok)
        })?
    }

    /// Makes a new authenticator secret for a person, to confirm with
    /// [`Engine::confirm_two_factor`]: `token` is their session, or a pending sign-in
    /// ([`SecondFactor::enrolled`] `false`) in a group that requires two factors. A
    /// person who already has a confirmed authenticator is refused (turn it off first,
    /// [`Engine::disable_two_factor`]); an unconfirmed one is replaced. The account name
    /// in the URI is the person's email, the issuer the tenant's name.
    pub fn enroll_two_factor(&self, token: &str) -> Result<TwoFactorEnrollment> {
        let holder = self.two_factor_holder(token, Takes::Either)?;
        let secret = random_bytes::<{ totp::SECRET_BYTES }>()?;
        self.write(&holder.ctx, |tx| {
            if !tx.holder_current(&holder)? {
                return Err(Error::InvalidCredentials);
            }
            let key = tx.view().credential_keys(holder.person)?.two_factor;
            if tx
                .view()
                .get_record::<TwoFactor>(&key)?
                .is_some_and(|t| t.confirmed)
            {
                return Err(Error::invalid(
                    "two_factor",
                    "the person already has an authenticator: turn it off first (disable_two_factor)",
                ));
            }
            let person = tx.view().load_person(holder.person)?;
            let account = person
                .properties
                .get_path("email")
                .and_then(Value::as_str)
                .unwrap_or(person.name.as_str())
                .to_string();
            let issuer = tx.view().load_group(tx.scope.root)?.name.clone();
            tx.put_record(
                &key,
                &TwoFactor {
                    secret: secret.to_vec(),
                    confirmed: false,
                    last_step: 0,
                    recovery: Vec::new(),
                    failures: 0,
                    blocked_until: Timestamp::from_millis(0),
                },
            )?;
            Ok(TwoFactorEnrollment {
                secret: Secret(totp::secret_text(&secret)),
                uri: Secret(totp::provisioning_uri(&issuer, &account, &secret)),
            })
        })
    }

    /// Turns two-factor sign-in on with a first code of the authenticator
    /// [`Engine::enroll_two_factor`] made, and returns the recovery codes (shown once).
    /// With a pending sign-in's token, the sign-in completes: the answer holds its
    /// session. A wrong code is [`Error::InvalidCredentials`] (and counts against a
    /// pending sign-in). Logs `two_factor_enabled`.
    pub fn confirm_two_factor(&self, token: &str, code: &str) -> Result<TwoFactorEnabled> {
        let holder = self.two_factor_holder(token, Takes::Either)?;
        let (codes, digests) = new_recovery_codes()?;
        self.write(&holder.ctx, |tx| {
            if !tx.holder_current(&holder)? {
                return Ok(Err(Error::InvalidCredentials));
            }
            let key = tx.view().credential_keys(holder.person)?.two_factor;
            let mut tf = match tx.view().get_record::<TwoFactor>(&key)? {
                Some(t) if !t.confirmed => t,
                Some(_) => {
                    return Ok(Err(Error::invalid(
                        "two_factor",
                        "the person's authenticator is already confirmed",
                    )));
                }
                None => return Ok(Err(not_enrolled())),
            };
            let proof = match tf.attempt(code, tx.now()) {
                Ok(proof) => proof,
                Err(refused) => {
                    tx.put_record(&key, &tf)?;
                    return tx.second_factor_refused(&holder, refused).map(Err);
                }
            };
            tf.confirmed = true;
            tf.recovery = digests.clone();
            tx.put_record(&key, &tf)?;
            tx.log(
                kinds::TWO_FACTOR_ENABLED,
                holder.group,
                Some(Ref::from(holder.person)),
                Value::map(),
            )?;
            let session = match holder.pending {
                Some(_) => Some(tx.finish_pending(&holder, &proof)?),
                None => None,
            };
            Ok(Ok(TwoFactorEnabled {
                recovery_codes: codes.clone(),
                session,
            }))
        })?
    }

    /// Turns two-factor sign-in off for the person signed in with `session`, who proves
    /// it again with a current code or a recovery code. A wrong code is
    /// [`Error::InvalidCredentials`] and logs `second_factor_failed`. Logs
    /// `two_factor_disabled` with `method: self`. A group that requires two factors asks
    /// the person to enrol again at their next sign-in.
    pub fn disable_two_factor(&self, session: &str, code: &str) -> Result<()> {
        let holder = self.two_factor_holder(session, Takes::Session)?;
        self.write(&holder.ctx, |tx| {
            let (key, mut tf) = match tx.authenticator_of(&holder)? {
                Ok(found) => found,
                Err(e) => return Ok(Err(e)),
            };
            if let Err(refused) = tf.attempt(code, tx.now()) {
                tx.put_record(&key, &tf)?;
                return tx.second_factor_refused(&holder, refused).map(Err);
            }
            tx.delete(&key)?;
            tx.log(
                kinds::TWO_FACTOR_DISABLED,
                holder.group,
                Some(Ref::from(holder.person)),
                Value::map().with("method", "self"),
            )?;
            Ok(Ok(()))
        })?
    }
}

impl Tx<'_, '_> {
    /// Ends a pending sign-in whose second factor was just proven, and opens its session.
    fn finish_pending(&mut self, holder: &Holder, proof: &Proof) -> Result<Session> {
        let Some((key, pending)) = &holder.pending else {
            return Err(Error::InvalidCredentials);
        };
        self.delete(key)?;
        let person_active = self
            .view()
            .get_record::<Thing>(&self.scope.tenant.thing(pending.person))?
            .is_some_and(|p| p.kind == PERSON && p.status != ThingStatus::Deleted);
        if !person_active {
            return Err(Error::InvalidCredentials);
        }
        let proven = Proven {
            person: pending.person,
            group: pending.group,
            method: pending.method.clone(),
            second_factor: Some(proof.method().to_string()),
        };
        let ttl = self.engine.auth_config().session_ttl;
        self.open_session(&proven, ttl)
    }
}

/// The error for a second factor asked of a person without a confirmed authenticator.
fn not_enrolled() -> Error {
    Error::invalid(
        "two_factor",
        "the person has no confirmed authenticator: enrol one (enroll_two_factor, then confirm_two_factor)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_read_as_typed() {
        let (codes, digests) = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let shown = codes[0].expose();
        assert_eq!(shown.len(), 19, "{shown}");
        assert_eq!(recovery_digest(shown), Some(digests[0]));
        assert_eq!(
            recovery_digest(&shown.to_ascii_uppercase().replace('-', " ")),
            Some(digests[0])
        );
        assert_eq!(recovery_digest("short"), None);
        assert_ne!(codes[0], codes[1]);
    }

    #[test]
    fn debug_hides_the_secret() {
        let tf = TwoFactor {
            secret: b"sekret-sekret-sekret".to_vec(),
            confirmed: true,
            last_step: 3,
            recovery: vec![[9u8; 32]],
            failures: 0,
            blocked_until: Timestamp::from_millis(0),
        };
        let shown = format!("{tf:?}");
        assert!(!shown.contains("115"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
