//! Who acts, in which group, in which environment.
//!
//! Every public read and write takes a [`Context`]. Its group decides which tenant's key
//! range the call can touch (the group's root tenant, never another) and which part of that
//! tenant (the group and its descendants). Its environment picks the `live` or `test` copy
//! of the tenant's data. Its principal decides what the call may do there (see
//! `access::memberships`).
//!
//! Contexts come from [`Context::system`], from a signed-in session
//! (`Engine::context_for_session`) or from an API key
//! (`Engine::context_for_api_key`). [`Context::person`] is for applications that
//! authenticate people themselves: the engine then trusts that the person is who the
//! application says, and still checks what the person may do.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::id::{GroupId, KeyId, PluginId, Ref, ThingId};
use crate::{Error, Result};

/// The acting principal, recorded as the actor of every event. In JSON, its text:
/// `system`, a person's id (`thg_…`), a key's id (`key_…`) or a plugin's (`plg_…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Principal {
    /// The application itself, or an administrator: bootstrapping and maintenance.
    System,
    /// A person (a thing of type `person`).
    Person(ThingId),
    /// An API key, acting with the permissions it was given.
    ApiKey(KeyId),
    /// A plugin of the tenant, in its reactions: it holds what the tenant granted it, in
    /// every group of the tenant, and nothing while it is disabled.
    Plugin(PluginId),
}

/// The binary form of [`Principal`]: the derived one, fixed by stored records.
#[derive(Serialize, Deserialize)]
#[serde(remote = "Principal")]
enum PrincipalShadow {
    System,
    Person(ThingId),
    ApiKey(KeyId),
    Plugin(PluginId),
}

crate::text_form::text_in_json!(Principal, PrincipalShadow);
crate::text_form::text_schema!(
    Principal,
    "Principal",
    "Who acted: `system`, a person's id, an API key's id or a plugin's id.",
    pattern = "^(system|(thg|key|plg)_[0-7][0-9a-hjkmnp-tv-z]{25})$"
);

impl std::str::FromStr for Principal {
    type Err = Error;

    /// `system`, a person's id, an API key's id or a plugin's id.
    fn from_str(s: &str) -> Result<Self> {
        if s == "system" {
            return Ok(Principal::System);
        }
        match s.parse::<Ref>()? {
            Ref::ThingId(id) => Ok(Principal::Person(id)),
            Ref::KeyId(id) => Ok(Principal::ApiKey(id)),
            Ref::PluginId(id) => Ok(Principal::Plugin(id)),
            _ => Err(Error::invalid(
                "principal",
                format!("{s:?} is not `system`, a person's id, an API key's id or a plugin's id"),
            )),
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::System => f.write_str("system"),
            Principal::Person(id) => id.fmt(f),
            Principal::ApiKey(id) => id.fmt(f),
            Principal::Plugin(id) => id.fmt(f),
        }
    }
}

/// Which copy of a tenant's data a call reads and writes. Group records are shared by
/// both; things, connections, events and knowledge are kept apart.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Env {
    /// Production data. The default.
    #[default]
    Live,
    /// Test data, written by test API keys; never mixed with live data.
    Test,
}

impl Env {
    /// Both environments, in declaration order.
    pub const ALL: [Env; 2] = [Env::Live, Env::Test];

    /// The lower-case name (`live`, `test`).
    pub fn as_str(self) -> &'static str {
        match self {
            Env::Live => "live",
            Env::Test => "test",
        }
    }
}

crate::text_form::named_in_json!(Env);

impl std::str::FromStr for Env {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        Env::ALL
            .into_iter()
            .find(|e| e.as_str() == s)
            .ok_or_else(|| {
                crate::Error::invalid("env", format!("{s:?} is not one of live or test"))
            })
    }
}

/// The principal, group and environment a call acts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct Context {
    principal: Principal,
    group: GroupId,
    env: Env,
}

impl Context {
    /// The system acting in `group` (and its descendants). Named as such in every event.
    /// For bootstrapping and administration; application requests should act as a person.
    pub fn system(group: GroupId) -> Self {
        Self {
            principal: Principal::System,
            group,
            env: Env::Live,
        }
    }

    /// `person` acting in `group`, with the permissions the person's memberships give. The
    /// application vouches that the person was signed in; to have the engine check a
    /// session instead, use `Engine::context_for_session`.
    pub fn person(person: ThingId, group: GroupId) -> Self {
        Self {
            principal: Principal::Person(person),
            group,
            env: Env::Live,
        }
    }

    /// An API key acting in its group and environment; made only by
    /// `Engine::context_for_api_key`.
    pub fn api_key(key: KeyId, group: GroupId, env: Env) -> Self {
        Self {
            principal: Principal::ApiKey(key),
            group,
            env,
        }
    }

    /// `plugin` acting in `group` and `env`: what the engine runs a plugin's reactions as.
    /// It holds what its tenant granted the plugin (`Engine::grant_plugin`), never more;
    /// an application may act as one of its tenants' plugins the same way.
    pub fn plugin(plugin: PluginId, group: GroupId, env: Env) -> Self {
        Self {
            principal: Principal::Plugin(plugin),
            group,
            env,
        }
    }

    /// The same context in another environment. An API key context moved out of its
    /// key's environment can do nothing.
    pub fn with_env(self, env: Env) -> Self {
        Self { env, ..self }
    }

    /// The same principal acting in another group.
    pub fn in_group(self, group: GroupId) -> Self {
        Self { group, ..self }
    }

    /// The acting principal.
    pub fn principal(&self) -> Principal {
        self.principal
    }

    /// The group the call acts in.
    pub fn group(&self) -> GroupId {
        self.group
    }

    /// The environment.
    pub fn env(&self) -> Env {
        self.env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{IdKind, PluginId};

    /// Every principal, with the variant index its stored form starts with: fixed by the
    /// records and event index keys already written, so a new kind is only ever appended.
    fn every_principal() -> [(Principal, u8); 4] {
        let bits = 0x0123_4567_89ab_cdef_0123_4567_89ab_cdef;
        [
            (Principal::System, 0),
            (Principal::Person(ThingId::from_u128(bits)), 1),
            (Principal::ApiKey(KeyId::from_u128(bits)), 2),
            (Principal::Plugin(PluginId::from_u128(bits)), 3),
        ]
    }

    #[test]
    fn principals_keep_their_text_and_stored_forms() {
        for (principal, variant) in every_principal() {
            let text = principal.to_string();
            assert_eq!(text.parse::<Principal>().unwrap(), principal, "{text}");
            let json = serde_json::to_string(&principal).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Principal>(&json).unwrap(), principal);
            let bytes = postcard::to_stdvec(&principal).unwrap();
            assert_eq!(bytes[0], variant, "{text}");
            assert_eq!(bytes.len(), if variant == 0 { 1 } else { 17 }, "{text}");
            assert_eq!(
                postcard::from_bytes::<Principal>(&bytes).unwrap(),
                principal
            );
        }
        let plugin = PluginId::from_u128(7).to_string();
        assert!(plugin.starts_with(IdKind::Plugin.prefix()));
        // Ids of other kinds are not principals.
        let group = GroupId::from_u128(7).to_string();
        assert!(matches!(
            group.parse::<Principal>(),
            Err(Error::InvalidField { .. })
        ));
    }
}
