//! Sign-in as a caller sees it: the session a sign-in opens and what a sign-up made.

use crate::clock::Timestamp;
use crate::id::ConnectionId;
use crate::id::GroupId;
use crate::id::ThingId;
use crate::records::thing::Thing;
use crate::secret::Secret;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
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
