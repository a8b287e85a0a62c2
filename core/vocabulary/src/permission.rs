//! Permissions: the fine-grained rights an operation needs, and the strings that name
//! them.
//!
//! Memberships and API keys hold permission strings: a fine permission by name
//! (`things:write`), or a coarse one that implies several:
//!
//! | string    | implies |
//! |-----------|---------|
//! | `read`    | `groups:read` `things:read` `connections:read` `events:read` `knowledge:read` `knowledge:query` |
//! | `write`   | everything `read` implies, and `things:write` `connections:write` `events:write` `knowledge:write` |
//! | `admin`   | everything `write` implies, and `groups:write` `members:manage` `keys:manage` `auth:signup` `auth:signin` |
//! | `billing` | `groups:read` `billing:manage` |
//! | `*`       | every permission |
//!
//! The table is [`COARSE`]; an unknown string is refused when a membership or key is made.
//! Who holds which permissions where is decided in `access/`.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident = $bit:literal, $text:literal;)*) => {
        /// A fine-grained permission. Each operation needs one, in one group:
        ///
        /// | permission | operations |
        /// |---|---|
        /// | `groups:read` | `get_group`, `children`, `subtree`, `counts`, `members`, `memberships` |
        /// | `groups:write` | `create_group` (in the parent), `update_group`, `archive_group` |
        /// | `things:read` | `get_thing`, `things`, `person_by_email` |
        /// | `things:write` | `create_thing`, `update_thing`, `delete_thing` |
        /// | `connections:read` | `get_connection`, `connections` |
        /// | `connections:write` | `connect`, `disconnect` |
        /// | `events:read` | `events` |
        /// | `events:write` | `log_event` |
        /// | `knowledge:read`, `knowledge:write`, `knowledge:query` | knowledge (its own issue) |
        /// | `members:manage` | `create_person`, `add_member`, `invite_member`, `change_role`, `remove_member`, `link_identity` |
        /// | `keys:manage` | `create_api_key`, `api_keys`, `revoke_api_key`, `rotate_api_key` |
        /// | `auth:signup` | `sign_up` |
        /// | `auth:signin` | `sign_in`, `magic_link`, `sign_in_external` |
        /// | `billing:manage` | plans, usage and revenue (the metering issue) |
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Permission {
            $($(#[$doc])* $name = $bit,)*
        }

        impl Permission {
            /// Every permission.
            pub const ALL: &'static [Permission] = &[$(Permission::$name,)*];

            /// The permission's name, e.g. `things:write`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$name => $text,)*
                }
            }
        }
    };
}

permissions! {
    /// Read group records and their members.
    GroupsRead = 0, "groups:read";
    /// Create child groups, change and archive groups.
    GroupsWrite = 1, "groups:write";
    /// Read things.
    ThingsRead = 2, "things:read";
    /// Create, change and delete things.
    ThingsWrite = 3, "things:write";
    /// Read connections.
    ConnectionsRead = 4, "connections:read";
    /// Create and delete connections.
    ConnectionsWrite = 5, "connections:write";
    /// Read the event log.
    EventsRead = 6, "events:read";
    /// Log custom events.
    EventsWrite = 7, "events:write";
    /// Read knowledge chunks.
    KnowledgeRead = 8, "knowledge:read";
    /// Add and remove knowledge chunks.
    KnowledgeWrite = 9, "knowledge:write";
    /// Run vector queries.
    KnowledgeQuery = 10, "knowledge:query";
    /// Create people, manage memberships and identities.
    MembersManage = 11, "members:manage";
    /// Create, list, revoke and rotate API keys.
    KeysManage = 12, "keys:manage";
    /// Sign people up.
    AuthSignup = 13, "auth:signup";
    /// Sign people in.
    AuthSignin = 14, "auth:signin";
    /// Plans, usage and revenue.
    BillingManage = 15, "billing:manage";
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Permission {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Permission::ALL
            .iter()
            .copied()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| unknown_permission(s))
    }
}

/// A permission is its fine name (`things:read`) in every serde format.
impl Serialize for Permission {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Permission {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(crate::decode::refuse)
    }
}

impl schemars::JsonSchema for Permission {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Permission".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let names: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        schemars::json_schema!({
            "type": "string",
            "description": "A fine permission.",
            "enum": names,
        })
    }
}

impl schemars::JsonSchema for PermissionSet {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PermissionSet".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut names: Vec<&str> = COARSE.iter().map(|(name, _)| *name).collect();
        names.extend(Permission::ALL.iter().map(|p| p.as_str()));
        schemars::json_schema!({
            "type": "array",
            "description": "Permissions: fine names when written by the engine; coarse ones (`read`, `admin`, …) are accepted too.",
            "items": {"type": "string", "enum": names},
        })
    }
}

fn unknown_permission(s: &str) -> Error {
    Error::invalid(
        "permissions",
        format!(
            "{s:?} is not a permission (use *, read, write, admin, billing, or one of {})",
            Permission::ALL
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )
}

/// A set of [`Permission`]s. Stored as a bit set whose bit numbers never change; in JSON,
/// the list of their fine names (coarse names such as `read` are accepted too).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u32);

impl Serialize for PermissionSet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_seq(self.iter().map(Permission::as_str))
        } else {
            s.serialize_newtype_struct("PermissionSet", &self.0)
        }
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        if d.is_human_readable() {
            let names = Vec::<String>::deserialize(d)?;
            PermissionSet::parse(&names).map_err(crate::decode::refuse)
        } else {
            #[derive(Deserialize)]
            #[serde(rename = "PermissionSet")]
            struct Bits(u32);
            let Bits(bits) = Bits::deserialize(d)?;
            if bits & !PermissionSet::all().0 != 0 {
                return Err(serde::de::Error::custom(format!(
                    "permission bits {bits:#x} name permissions this build does not know"
                )));
            }
            Ok(PermissionSet(bits))
        }
    }
}

use Permission as P;

const READ: &[Permission] = &[
    P::GroupsRead,
    P::ThingsRead,
    P::ConnectionsRead,
    P::EventsRead,
    P::KnowledgeRead,
    P::KnowledgeQuery,
];
const WRITE: &[Permission] = &[
    P::ThingsWrite,
    P::ConnectionsWrite,
    P::EventsWrite,
    P::KnowledgeWrite,
];
const ADMIN: &[Permission] = &[
    P::GroupsWrite,
    P::MembersManage,
    P::KeysManage,
    P::AuthSignup,
    P::AuthSignin,
];

/// The coarse permission strings and the fine permissions each implies.
pub const COARSE: &[(&str, &[&[Permission]])] = &[
    ("read", &[READ]),
    ("write", &[READ, WRITE]),
    ("admin", &[READ, WRITE, ADMIN]),
    ("billing", &[&[P::GroupsRead, P::BillingManage]]),
    ("*", &[Permission::ALL]),
];

impl PermissionSet {
    /// Every permission the coarse `admin` implies: what makes a membership
    /// administrative.
    pub fn administrative() -> Self {
        [READ, WRITE, ADMIN]
            .iter()
            .fold(PermissionSet::EMPTY, |set, part| {
                set.union(PermissionSet::of(part))
            })
    }

    /// No permission.
    pub const EMPTY: PermissionSet = PermissionSet(0);

    /// Every permission.
    pub fn all() -> Self {
        Self::of(Permission::ALL)
    }

    /// The set of these permissions.
    pub fn of(permissions: &[Permission]) -> Self {
        PermissionSet(permissions.iter().fold(0, |acc, p| acc | (1 << *p as u32)))
    }

    /// Parses permission strings, coarse or fine. An unknown string is
    /// [`Error::InvalidField`] naming `permissions`.
    pub fn parse<S: AsRef<str>>(strings: &[S]) -> Result<Self> {
        let mut set = PermissionSet::EMPTY;
        for s in strings {
            let s = s.as_ref();
            set = set.union(match COARSE.iter().find(|(name, _)| *name == s) {
                Some((_, parts)) => parts
                    .iter()
                    .fold(PermissionSet::EMPTY, |acc, p| acc.union(Self::of(p))),
                None => Self::of(&[s.parse()?]),
            });
        }
        Ok(set)
    }

    /// Whether `p` is in the set.
    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u32) != 0
    }

    /// Whether every permission of `self` is in `other`.
    pub fn is_subset(self, other: PermissionSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Permissions in either set.
    pub fn union(self, other: PermissionSet) -> Self {
        PermissionSet(self.0 | other.0)
    }

    /// Permissions in `self` and not in `other`.
    pub fn difference(self, other: PermissionSet) -> Self {
        PermissionSet(self.0 & !other.0)
    }

    /// Permissions in both sets.
    pub fn intersection(self, other: PermissionSet) -> Self {
        PermissionSet(self.0 & other.0)
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The permissions in the set, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(move |p| self.contains(*p))
    }

    /// The fine names of the permissions, as stored in records.
    pub fn names(self) -> Vec<String> {
        self.iter().map(|p| p.as_str().to_string()).collect()
    }
}

impl std::fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|p| p.as_str()))
            .finish()
    }
}

/// The permissions a role has when its membership lists none: a role ending in `_owner`
/// gets `*`, one ending in `_admin` gets `admin`, any other `read` and `write`. The name
/// only picks these defaults; what a membership may do, whether it is administrative or
/// an owner, is decided from the permissions it ends up with (`Membership`, in `access/`).
pub fn role_defaults(role: &str) -> PermissionSet {
    let coarse: &[&str] = if role.ends_with("_owner") {
        &["*"]
    } else if role.ends_with("_admin") {
        &["admin"]
    } else {
        &["read", "write"]
    };
    // The strings above are all in the table.
    PermissionSet::parse(coarse).unwrap_or_default()
}

/// What a membership with `role` and the permission strings `listed` gives: the
/// strings' permissions, or the role's defaults when there are none.
pub fn membership_permissions<S: AsRef<str>>(role: &str, listed: &[S]) -> Result<PermissionSet> {
    if listed.is_empty() {
        Ok(role_defaults(role))
    } else {
        PermissionSet::parse(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_permissions_imply_fine_ones() {
        let read = PermissionSet::parse(&["read"]).unwrap();
        assert!(read.contains(P::ThingsRead) && !read.contains(P::ThingsWrite));
        let write = PermissionSet::parse(&["write"]).unwrap();
        assert!(read.is_subset(write) && write.contains(P::EventsWrite));
        let admin = PermissionSet::parse(&["admin"]).unwrap();
        assert!(write.is_subset(admin) && admin.contains(P::KeysManage));
        assert!(!admin.contains(P::BillingManage));
        assert_eq!(PermissionSet::parse(&["*"]).unwrap(), PermissionSet::all());
        assert_eq!(
            PermissionSet::parse(&["things:read", "billing"]).unwrap(),
            PermissionSet::of(&[P::ThingsRead, P::GroupsRead, P::BillingManage])
        );
    }

    #[test]
    fn unknown_permission_strings_are_refused() {
        let err = PermissionSet::parse(&["things:fly"]).unwrap_err();
        assert!(err.to_string().contains("things:fly"), "{err}");
    }

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>().unwrap(), *p);
        }
        let set = PermissionSet::parse(&["write", "keys:manage"]).unwrap();
        assert_eq!(PermissionSet::parse(&set.names()).unwrap(), set);
    }

    #[test]
    fn role_defaults_follow_the_documented_rule() {
        assert_eq!(role_defaults("org_owner"), PermissionSet::all());
        assert_eq!(
            role_defaults("group_admin"),
            PermissionSet::parse(&["admin"]).unwrap()
        );
        assert_eq!(
            role_defaults("group_user"),
            PermissionSet::parse(&["write"]).unwrap()
        );
    }
}
