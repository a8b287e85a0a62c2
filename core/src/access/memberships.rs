//! Permissions: what a principal may do in a group, decided here and nowhere else.
//!
//! # Permissions and the implication table
//!
//! Every operation of the engine needs one fine-grained [`Permission`] in the group it
//! touches (the table in [`Permission`]'s docs says which). Memberships and API keys hold
//! permission strings: a fine permission by name (`things:write`), or a coarse one that
//! implies several:
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
//!
//! # Roles
//!
//! A membership has a role. When its permission list is empty, the role decides: a role
//! ending in `_owner` (`org_owner`, `group_owner`, `platform_owner`) gets `*`, one ending
//! in `_admin` gets `admin`, any other (`group_user`, `org_user`, custom roles) gets `read`
//! and `write`. A non-empty list replaces the role's default. The role name does nothing
//! else: rights come from permissions only. A membership is *administrative* when it gives
//! every permission `admin` implies, and an *owner's* when it gives every permission
//! (`*`), whatever its role is called.
//!
//! # Who may act in a group
//!
//! A person's permissions in group `G` are the union of the permissions of their active
//! (accepted) memberships in `G` and in `G`'s ancestors that reach `G`. A membership in an
//! ancestor `A` reaches `G` when every group on the way down from `A` (`A`'s child, …,
//! `G` itself) lets it through, by its setting `settings.parentAccess`:
//!
//! - `"admins"` (the default): memberships of parent groups pass only if administrative;
//! - `"members"`: every membership of parent groups passes;
//! - `"none"`: no membership of a parent group passes.
//!
//! A deleted person has no permissions. The system principal has every permission in the
//! tenant of its context. An API key has the permissions it was given, in its group and
//! the groups that group contains, and never more than its creator has there now: at
//! every check, a key's permissions are intersected with its creator's current ones at
//! the target group. A revoked or expired key, or one used outside its environment, has
//! none. A `test` context never has the live-only permissions ([`crate::access::policy`]).
//!
//! Which permission each operation needs, and how a refusal is answered, is decided in
//! [`crate::access::policy`].
//!
//! Whatever the permissions, a context only reaches its own group and that group's
//! descendants; anything else is [`Error::NotFound`].
//!
//! Answers are cached per principal, environment, context group and target group, and
//! valid API keys and session tokens per digest. Any transaction that changes a
//! membership, a group, a person's status, a session or an API key clears the cache when
//! it ends, so a revocation holds from the next call in any thread.

use std::sync::Arc;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::cache::{
    AccessCache, Grant, Held, LISTED_MEMBERSHIPS, PersonAccess, PersonEntry,
};
use crate::base::codec;
use crate::base::context::Context;
use crate::base::context::{Env, Principal};
use crate::base::id::{GroupId, KeyId, Ref, ThingId};
use crate::base::layout::TenantKeys;
use crate::base::permission::{Permission, PermissionSet, membership_permissions};
use crate::base::value::{Value, ValueRef};
use crate::kernel::{AfterTx, Hooks, Parts};
use crate::kernel::{Engine, View};
use crate::records::connection::{Connection, ConnectionHead, MEMBER_OF};
use crate::records::group::Group;
use crate::records::group::MAX_DEPTH;
use crate::records::person::PERSON;
use crate::records::thing::{Thing, ThingHead, ThingStatus};
use crate::{Error, Result};

/// What a child group lets through from memberships of its parent groups
/// (`settings.parentAccess`). Ordered from most to least restrictive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum ParentAccess {
    /// Nothing passes.
    None,
    /// Administrative memberships pass. The default.
    #[default]
    Admins,
    /// Every membership passes.
    Members,
}

impl ParentAccess {
    /// The names, as written in settings.
    pub const NAMES: [&'static str; 3] = ["none", "admins", "members"];

    /// Parses a setting value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(ParentAccess::None),
            "admins" => Some(ParentAccess::Admins),
            "members" => Some(ParentAccess::Members),
            _ => None,
        }
    }

    /// The setting of `group`, or the default.
    pub(crate) fn of(group: &Group) -> Self {
        group
            .properties
            .get_path("settings.parentAccess")
            .and_then(Value::as_str)
            .and_then(Self::parse)
            .unwrap_or_default()
    }
}

/// A membership, as read from a `member_of` connection's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership {
    /// The role.
    pub role: String,
    /// The permissions it gives (its list, or the role's defaults when the list is empty).
    pub permissions: PermissionSet,
    /// Whether it was accepted; a pending invitation gives nothing.
    pub active: bool,
}

/// The metadata key of a membership's state: `"active"` or `"pending"`.
pub(crate) const MEMBERSHIP_STATUS: &str = "status";

impl Membership {
    /// Whether the membership is administrative: it gives every permission of `admin`.
    /// Administrative memberships of a parent group pass a child's default
    /// `parentAccess` (`"admins"`).
    pub fn is_administrative(&self) -> bool {
        PermissionSet::administrative().is_subset(self.permissions)
    }

    /// Whether the membership is an owner's: it gives every permission. A group keeps at
    /// least one active owner.
    pub fn is_owner(&self) -> bool {
        self.permissions == PermissionSet::all()
    }

    /// Reads a membership from its connection. Missing fields are the defaults: no
    /// explicit permissions, active.
    pub fn of(c: &Connection) -> Result<Self> {
        Self::of_terms(&Terms::of(&c.metadata))
    }

    /// Reads a membership from what its metadata says.
    fn of_terms(terms: &Terms<'_>) -> Result<Self> {
        let role = terms.role.unwrap_or("group_user");
        // Strings are checked when a membership is written; one stored by an older version
        // that this one does not know grants nothing rather than failing every check.
        let known: Vec<&str> = terms
            .listed
            .iter()
            .copied()
            .filter(|s| PermissionSet::parse(&[*s]).is_ok())
            .collect();
        let permissions = if !terms.listed.is_empty() && known.is_empty() {
            PermissionSet::EMPTY
        } else {
            membership_permissions(role, &known)?
        };
        Ok(Membership {
            role: role.to_string(),
            permissions,
            active: terms.status != Some("pending"),
        })
    }
}

/// What a membership's metadata says of what it gives: its role, the permissions it
/// lists, and its state — read from a connection in memory or in place from a stored one.
struct Terms<'m> {
    role: Option<&'m str>,
    listed: Vec<&'m str>,
    status: Option<&'m str>,
}

impl<'m> Terms<'m> {
    /// From a connection's metadata.
    fn of(metadata: &'m Value) -> Self {
        let listed = match metadata.get_path("permissions") {
            Some(Value::List(items)) => items.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        Terms {
            role: metadata.get_path("role").and_then(Value::as_str),
            listed,
            status: metadata.get_path(MEMBERSHIP_STATUS).and_then(Value::as_str),
        }
    }

    /// From a stored connection's metadata, read in place.
    fn of_stored(metadata: &ValueRef<'m>) -> Self {
        let listed = match metadata.get("permissions") {
            Some(ValueRef::List(items)) => items.iter().filter_map(ValueRef::as_str).collect(),
            _ => Vec::new(),
        };
        Terms {
            role: metadata.get("role").and_then(ValueRef::as_str),
            listed,
            status: metadata.get(MEMBERSHIP_STATUS).and_then(ValueRef::as_str),
        }
    }
}

/// Where a walk up the tree for a person's permissions ended.
enum Walked {
    /// At the root, having passed the group it had to (if any): the permissions held.
    Met(PermissionSet),
    /// Not walked: the person is not an active person of the tenant (holds nothing).
    Inactive,
    /// At the root without passing the group it had to: outside the context's scope.
    Outside,
}

impl Held {
    /// What `m` gives.
    pub(crate) fn of(m: &Membership) -> Self {
        Held {
            permissions: m.permissions,
            active: m.active,
            administrative: m.is_administrative(),
        }
    }
}

impl<K: KvRead> View<'_, K> {
    /// Everything the context may do in `group` now; [`Error::NotFound`] if the group is
    /// out of its scope.
    pub fn permissions_in(&self, group: GroupId) -> Result<PermissionSet> {
        let ctx = self.scope.ctx;
        let in_env = |set| crate::access::policy::in_env(set, ctx.env());
        let key = match ctx.principal() {
            Principal::System => {
                self.ensure_scope(group)?;
                return Ok(in_env(PermissionSet::all()));
            }
            Principal::Person(person) => return self.person_permissions_in(person, group),
            Principal::Plugin(plugin) => {
                self.ensure_scope(group)?;
                return Ok(in_env(self.plugin_principal_grants(plugin)?));
            }
            Principal::ApiKey(key) => key,
        };
        let now = self.engine.clock().now();
        let cache = self.engine.part::<Arc<AccessCache>>();
        let cache_key = (ctx.principal(), ctx.env(), ctx.group(), group);
        let epoch = self.scope.cache_epoch();
        if epoch.is_some()
            && let Some(grant) = cache.get(&cache_key)
        {
            return Ok(grant.at(now));
        }
        self.ensure_scope(group)?;
        let grant = self.key_grant(key, ctx.env(), group)?;
        let grant = Grant {
            permissions: in_env(grant.permissions),
            ..grant
        };
        if let Some(epoch) = epoch {
            cache.insert(cache_key, grant, epoch);
        }
        Ok(grant.at(now))
    }

    /// What the context's person may do in `group`: an answer kept with their standing,
    /// or one walk up from `group` that gathers their memberships and checks the scope.
    fn person_permissions_in(&self, person: ThingId, group: GroupId) -> Result<PermissionSet> {
        let (env, within) = (self.scope.ctx.env(), self.scope.ctx.group());
        let entry = self.person_entry(person, env)?;
        let epoch = self.scope.cache_epoch();
        if epoch.is_some()
            && let Some(set) = entry.answer(within, group)
        {
            return Ok(set);
        }
        let set = crate::access::policy::in_env(
            self.person_permissions_in_scope(&entry.access, person, env, group)?,
            env,
        );
        if let Some(epoch) = epoch {
            let cache = self.engine.part::<Arc<AccessCache>>();
            cache.remember(&entry, within, group, set, epoch);
        }
        Ok(set)
    }

    /// [`View::person_permissions`] at a `group` that must be in the context's scope
    /// ([`Error::NotFound`] for `group` otherwise, as [`View::ensure_scope`] says): the
    /// walk up from `group` checks that it passes the context's group.
    fn person_permissions_in_scope(
        &self,
        access: &PersonAccess,
        person: ThingId,
        env: Env,
        group: GroupId,
    ) -> Result<PermissionSet> {
        let within = self.scope.ctx.group();
        let check_scope = !(group == within || self.scope.known_in_scope(group));
        match self.person_walk(access, person, env, group, check_scope.then_some(within))? {
            Walked::Met(set) => {
                if check_scope {
                    self.scope.remember_in_scope(group);
                }
                Ok(set)
            }
            Walked::Inactive if check_scope => {
                self.ensure_scope(group).map(|()| PermissionSet::EMPTY)
            }
            Walked::Inactive => Ok(PermissionSet::EMPTY),
            Walked::Outside => Err(Error::not_found(group)),
        }
    }

    /// The union of the person's memberships that reach `group` (see the module docs).
    pub(crate) fn person_permissions(
        &self,
        person: ThingId,
        env: Env,
        group: GroupId,
    ) -> Result<PermissionSet> {
        let entry = self.person_entry(person, env)?;
        Ok(
            match self.person_walk(&entry.access, person, env, group, None)? {
                Walked::Met(set) => set,
                Walked::Inactive | Walked::Outside => PermissionSet::EMPTY,
            },
        )
    }

    /// Walks up from `group`, gathering the person's memberships that reach it; with
    /// `within`, also whether the walk passed that group.
    fn person_walk(
        &self,
        access: &PersonAccess,
        person: ThingId,
        env: Env,
        group: GroupId,
        within: Option<GroupId>,
    ) -> Result<Walked> {
        if *access == PersonAccess::Inactive {
            return Ok(Walked::Inactive);
        }
        let tenant = TenantKeys::new(self.scope.root, env);
        let held_at = |group: GroupId| -> Result<Option<Held>> {
            Ok(match access {
                PersonAccess::Listed(list) => list
                    .iter()
                    .find(|(g, _)| *g == group)
                    .map(|(_, held)| *held),
                _ => self
                    .membership_at(&tenant, person, group)?
                    .map(|m| Held::of(&m)),
            })
        };
        let mut set = PermissionSet::EMPTY;
        let mut reach = ParentAccess::Members;
        let mut met = within.is_none();
        let mut current = self.load_group(group)?;
        for _ in 0..=MAX_DEPTH {
            met |= within == Some(current.id);
            if reach > ParentAccess::None
                && let Some(m) = held_at(current.id)?
                && m.active
                && (reach == ParentAccess::Members || m.administrative)
            {
                set = set.union(m.permissions);
            }
            reach = reach.min(ParentAccess::of(&current));
            match current.parent {
                Some(p) => current = self.load_group(p)?,
                None if met => return Ok(Walked::Met(set)),
                None => return Ok(Walked::Outside),
            }
        }
        Err(Error::Corrupt {
            what: "group tree",
            reason: format!("{group} is nested deeper than {MAX_DEPTH}"),
        })
    }

    /// The person's standing in this tenant and `env` (whether they are an active
    /// person, and their memberships when they have few), from the access cache when
    /// this call may use it.
    fn person_entry(&self, person: ThingId, env: Env) -> Result<Arc<PersonEntry>> {
        let tenant = TenantKeys::new(self.scope.root, env);
        let key = (self.scope.root, env, person);
        let epoch = self.scope.cache_epoch();
        let cache = self.engine.part::<Arc<AccessCache>>();
        if epoch.is_some()
            && let Some(entry) = cache.person(&key)
        {
            return Ok(entry);
        }
        // The tenant boundary read the context's own person at the start of this call.
        let own =
            self.scope.ctx.principal() == Principal::Person(person) && self.scope.ctx.env() == env;
        let active = match self.scope.principal_active().filter(|_| own) {
            Some(active) => Some(active),
            None => self
                .kv
                .get_with(&tenant.thing(person), |bytes| {
                    codec::decode_in::<Thing, ThingHead>(bytes)
                        .map(|head| head.kind == PERSON && head.status != ThingStatus::Deleted)
                })?
                .transpose()?,
        };
        let Some(active) = active else {
            // Nothing is remembered of an id that names nobody.
            return Ok(Arc::new(PersonEntry::new(PersonAccess::Inactive)));
        };
        let access = if !active {
            PersonAccess::Inactive
        } else {
            let prefix = tenant.edges(true, Ref::from(person), Some(MEMBER_OF));
            let mut listed = Vec::new();
            let mut many = false;
            self.kv
                .scan(&KeyRange::prefix(&prefix), Direction::Forward, |_, v| {
                    if listed.len() == LISTED_MEMBERSHIPS {
                        many = true;
                        return Ok(std::ops::ControlFlow::Break(()));
                    }
                    let c = codec::decode_in::<Connection, ConnectionHead>(v)?;
                    let group = match c.to {
                        Ref::GroupId(g) => g,
                        _ => return Ok::<_, Error>(std::ops::ControlFlow::Continue(())),
                    };
                    let terms = Terms::of_stored(&c.metadata);
                    listed.push((group, Held::of(&Membership::of_terms(&terms)?)));
                    Ok(std::ops::ControlFlow::Continue(()))
                })?;
            if many {
                PersonAccess::Many
            } else {
                PersonAccess::Listed(listed)
            }
        };
        let entry = Arc::new(PersonEntry::new(access));
        if let Some(epoch) = epoch {
            cache.insert_person(key, Arc::clone(&entry), epoch);
        }
        Ok(entry)
    }

    /// The person's membership in exactly `group`, if any.
    pub(crate) fn membership_at(
        &self,
        tenant: &TenantKeys,
        person: ThingId,
        group: GroupId,
    ) -> Result<Option<Membership>> {
        self.membership_connection(tenant, person, group)?
            .map(|c| Membership::of(&c))
            .transpose()
    }

    /// The `member_of` connection from `person` to `group`, if any.
    pub(crate) fn membership_connection(
        &self,
        tenant: &TenantKeys,
        person: ThingId,
        group: GroupId,
    ) -> Result<Option<Connection>> {
        let prefix = crate::base::layout::push_ref(
            one_storage::keys::KeyBuf::from_prefix(&tenant.edges(
                true,
                Ref::from(person),
                Some(MEMBER_OF),
            )),
            Ref::from(group),
        )
        .finish();
        let mut found = None;
        self.kv
            .scan(&KeyRange::prefix(&prefix), Direction::Forward, |_, v| {
                found = Some(codec::decode::<Connection>(v)?);
                Ok::<_, Error>(std::ops::ControlFlow::Break(()))
            })?;
        Ok(found)
    }

    /// What an API key may do in `group`: its permissions if it is active, in its
    /// environment, and `group` is its group or below it; intersected with its creator's.
    fn key_grant(&self, key: KeyId, env: Env, group: GroupId) -> Result<Grant> {
        let none = Grant {
            permissions: PermissionSet::EMPTY,
            until: None,
        };
        let Some(k) = self.load_api_key(key)? else {
            return Ok(none);
        };
        if !k.is_active() || k.env != env || !self.is_within(group, k.group)? {
            return Ok(none);
        }
        // The creator's rights now, at the target: a key never reaches further than the
        // person who made it could (a child group that shuts its parents out shuts out
        // their keys too).
        let creator = match k.created_by {
            Principal::System => PermissionSet::all(),
            Principal::Person(p) => self.person_permissions(p, k.created_in, group)?,
            Principal::ApiKey(_) | Principal::Plugin(_) => PermissionSet::EMPTY,
        };
        Ok(Grant {
            permissions: k.permissions.intersection(creator),
            until: k.expires_at,
        })
    }

    /// Whether `group` is `ancestor` or one of its descendants.
    pub(crate) fn is_within(&self, group: GroupId, ancestor: GroupId) -> Result<bool> {
        let mut current = Some(group);
        for _ in 0..=MAX_DEPTH + 1 {
            match current {
                Some(g) if g == ancestor => return Ok(true),
                Some(g) => current = self.load_group(g)?.parent,
                None => return Ok(false),
            }
        }
        Ok(false)
    }
}

/// Installs the access feature, which every call goes through: its cache and its denial
/// log, and the kernel's hooks, which start from the tenant boundary and the version of
/// access data; when a transaction ends, cached answers are forgotten if it changed
/// access data, and the permissions it was refused are logged.
pub(crate) fn install(parts: &mut Parts) -> Hooks {
    let cache = Arc::new(AccessCache::default());
    parts.insert(cache.clone());
    parts.insert(crate::access::policy::DenialLog::default());
    let mut hooks = Hooks::new(
        crate::access::policy::principal_in_tenant,
        Box::new(move || cache.epoch()),
    );
    hooks.end.push(after_transaction);
    hooks.forget.push(forget);
    hooks
}

fn forget(engine: &Engine) {
    engine.part::<Arc<AccessCache>>().invalidate();
}

fn after_transaction(engine: &Engine, after: &mut AfterTx, _committed: bool) {
    engine.log_denials(std::mem::take(&mut after.denials));
}

impl Engine {
    /// Whether `ctx` may do `permission` in `group` now. `false` also when the group does
    /// not exist or is out of the context's scope. Logs nothing.
    pub fn can(&self, ctx: &Context, permission: Permission, group: GroupId) -> bool {
        self.read_quietly(ctx, |v| v.permits(group, permission))
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::clock::Timestamp;

    #[test]
    fn stored_unknown_permission_strings_grant_nothing() {
        let c = |perms: Vec<&str>| Connection {
            id: crate::base::id::ConnectionId::from_u128(1),
            from: Ref::from(ThingId::from_u128(2)),
            to: Ref::from(GroupId::from_u128(3)),
            kind: MEMBER_OF.into(),
            metadata: Value::map()
                .with("role", "group_user")
                .with("permissions", perms),
            group: GroupId::from_u128(3),
            created_at: Timestamp::from_millis(0),
        };
        let m = Membership::of(&c(vec!["things:fly"])).unwrap();
        assert_eq!(m.permissions, PermissionSet::EMPTY);
        let m = Membership::of(&c(vec!["things:fly", "read"])).unwrap();
        assert_eq!(m.permissions, PermissionSet::parse(&["read"]).unwrap());
        assert!(m.active);
    }

    #[test]
    fn a_membership_read_in_place_from_its_stored_record_is_the_same_membership() {
        let c = |metadata: Value| Connection {
            id: crate::base::id::ConnectionId::from_u128(1),
            from: Ref::from(ThingId::from_u128(2)),
            to: Ref::from(GroupId::from_u128(3)),
            kind: MEMBER_OF.into(),
            metadata,
            group: GroupId::from_u128(3),
            created_at: Timestamp::from_millis(0),
        };
        for metadata in [
            Value::map(),
            Value::map().with("role", "org_owner"),
            Value::map()
                .with("role", "group_admin")
                .with("status", "pending"),
            Value::map()
                .with("role", "member")
                .with("permissions", vec!["read", "things:fly", "write"])
                .with("status", "active"),
            Value::map().with("permissions", vec!["things:fly"]),
            Value::map().with("role", 7).with("permissions", "read"),
        ] {
            let connection = c(metadata);
            let bytes = codec::encode(&connection).unwrap();
            let head: ConnectionHead = codec::decode_in::<Connection, _>(&bytes).unwrap();
            assert_eq!(head.to, connection.to);
            assert_eq!(
                Membership::of_terms(&Terms::of_stored(&head.metadata)).unwrap(),
                Membership::of(&connection).unwrap(),
                "{:?}",
                connection.metadata
            );
        }
    }
}
