//! Sign-in as a caller sees it: what a sign-in gave (a session, or a wait for the second
//! factor), what a sign-up made, and the two-factor enrolment.

use crate::clock::Timestamp;
use crate::id::ConnectionId;
use crate::id::GroupId;
use crate::id::ThingId;
use crate::records::thing::Thing;
use crate::secret::Secret;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a sign-in gave. A person with two-factor sign-in on, or signing in to a group
/// whose `enableTwoFactor` setting requires it, proves the first factor (password, magic
/// link, external identity) and then the second with `complete_sign_in`; only then is
/// there a session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignedIn {
    /// Signed in.
    Session(Session),
    /// The first factor was right; the second is asked for.
    SecondFactor(SecondFactor),
}

impl SignedIn {
    /// The session, or `None` when the second factor is asked for.
    pub fn session(self) -> Option<Session> {
        match self {
            SignedIn::Session(s) => Some(s),
            SignedIn::SecondFactor(_) => None,
        }
    }
}

/// A sign-in waiting for its second factor: a code of the person's authenticator app or
/// one of their recovery codes, given with the token to `complete_sign_in`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct SecondFactor {
    /// Who is signing in.
    pub person: ThingId,
    /// Where.
    pub group: GroupId,
    /// Whether the person has an authenticator app. `false` when the group requires two
    /// factors of a person who has none yet: the token then enrols one
    /// (`enroll_two_factor`, then `confirm_two_factor`, which completes the sign-in).
    pub enrolled: bool,
    /// When the token stops working (a few minutes; a few wrong codes also end it).
    pub expires_at: Timestamp,
    /// The pending sign-in's token (`ok_once_…`). It is not a session: it opens nothing
    /// but the second step.
    pub token: Secret,
}

/// A new authenticator for a person, to confirm with a first code. Shown once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct TwoFactorEnrollment {
    /// The shared secret in base32, for typing into an authenticator app.
    pub secret: Secret,
    /// The same as an `otpauth://totp/…` URI, for a QR code.
    pub uri: Secret,
}

/// Two-factor sign-in, just turned on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct TwoFactorEnabled {
    /// Single-use codes that stand in for the app when it is lost. Shown once; only their
    /// hashes are stored.
    pub recovery_codes: Vec<Secret>,
    /// The session the enrolment completes, when it was made from a pending sign-in.
    pub session: Option<Session>,
}

/// A session, just opened. Its token is shown once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct Session {
    /// The `session` connection.
    pub id: ConnectionId,
    /// Who signed in.
    pub person: ThingId,
    /// Where.
    pub group: GroupId,
    /// When the session ends.
    pub expires_at: Timestamp,
    /// The session token (`ok_sess_…`), for `Engine::context_for_session`.
    pub token: Secret,
}

/// A person just signed up.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, JsonSchema)]
pub struct SignedUp {
    /// The new person.
    pub person: Thing,
    /// An email verification token (`ok_once_…`) for `Engine::verify_email`; deliver it
    /// to the address.
    pub verification: Secret,
}
