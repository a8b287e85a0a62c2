//! Memberships: who belongs to which group, with which role and permissions.
//!
//! A membership is a `member_of` connection from a person to a group; its metadata holds
//! `role`, `permissions` (a list of permission strings, see [`crate::access::memberships`]) and `status`
//! (`active`, or `pending` for an invitation not yet accepted). Every change needs
//! `members:manage` in the group, logs its event, and cannot give more than the actor has
//! there: a membership's permissions (the new ones, and the old ones of a membership being
//! changed or removed) must be a subset of the actor's own. A group keeps
//! at least one active owner (a role ending in `_owner`) once it has had one: removing or
//! demoting the last one is [`Error::LastOwner`].

use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::memberships::{MEMBERSHIP_STATUS, Membership};
use crate::access::policy::Op;
use crate::base::codec;
use crate::base::id::{GroupId, Ref, ThingId};
use crate::base::page::{Cursor, Page, page_size, scan_page};
use crate::base::permission::{Permission, PermissionSet, membership_permissions};
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::{Tx, View};
use crate::records::connection::{Connection, MEMBER_OF};
use crate::records::event::kinds;
use crate::records::group::GroupStatus;
use crate::records::thing::ThingStatus;
use crate::{Error, Result};

/// Whether a membership was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MembershipState {
    /// Accepted: it gives its permissions.
    Active,
    /// An invitation: it gives nothing yet.
    Pending,
}

impl MembershipState {
    fn as_str(self) -> &'static str {
        match self {
            MembershipState::Active => "active",
            MembershipState::Pending => "pending",
        }
    }
}

impl<K: KvRead> View<'_, K> {
    /// The memberships of a group (its `member_of` connections, invitations included),
    /// oldest first. Needs `groups:read` there.
    pub fn members(
        &self,
        group: GroupId,
        limit: Option<usize>,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Connection>> {
        self.authorize(Op::ListGroup, group)?;
        let prefix = self
            .scope
            .tenant
            .edges(false, Ref::from(group), Some(MEMBER_OF));
        scan_page(
            self.kv,
            &prefix,
            KeyRange::prefix(&prefix),
            Direction::Forward,
            cursor,
            page_size(limit)?,
            |_, record| codec::decode(record).map(Some),
        )
    }

    /// The groups a person is a member of (or invited to), as their `member_of`
    /// connections, limited to groups where the context has `groups:read`. Needs
    /// `things:read` where the person's record is: a person the context may not read is
    /// [`Error::NotFound`], as is an id that is not a person.
    pub fn memberships(&self, person: ThingId) -> Result<Vec<Connection>> {
        let record = self.load_person(person)?;
        self.authorize_record(Op::GetThing, record.group, Ref::from(person))?;
        let mut out = Vec::new();
        for c in self.memberships_of(person)? {
            if self.permits(c.group, Permission::GroupsRead)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// How many active owners `group` has.
    fn active_owners(&self, group: GroupId) -> Result<usize> {
        let prefix = self
            .scope
            .tenant
            .edges(false, Ref::from(group), Some(MEMBER_OF));
        let mut owners = 0;
        self.kv
            .scan(&KeyRange::prefix(&prefix), Direction::Forward, |_, v| {
                let m = Membership::of(&codec::decode(v)?)?;
                if m.active && m.is_owner() {
                    owners += 1;
                }
                Ok::<_, Error>(ControlFlow::Continue(()))
            })?;
        Ok(owners)
    }
}

impl Tx<'_, '_> {
    /// Makes `person` an active member of `group` with `role` and `permissions` (empty:
    /// the role's defaults). Logs `user_joined_group`.
    pub fn add_member(
        &mut self,
        person: ThingId,
        group: GroupId,
        role: &str,
        permissions: &[&str],
    ) -> Result<Connection> {
        let c = self.new_membership(person, group, role, permissions, MembershipState::Active)?;
        self.log(
            kinds::USER_JOINED_GROUP,
            group,
            Some(Ref::from(person)),
            Value::map().with("role", role).with("method", "added"),
        )?;
        Ok(c)
    }

    /// Invites `person` to `group`: a pending membership that gives nothing until
    /// [`Tx::accept_invitation`]. Logs `user_invited_to_group`.
    pub fn invite_member(
        &mut self,
        person: ThingId,
        group: GroupId,
        role: &str,
        permissions: &[&str],
    ) -> Result<Connection> {
        let c = self.new_membership(person, group, role, permissions, MembershipState::Pending)?;
        self.log(
            kinds::USER_INVITED_TO_GROUP,
            group,
            Some(Ref::from(person)),
            Value::map().with("role", role),
        )?;
        Ok(c)
    }

    /// Accepts `person`'s invitation to `group`. The person accepts for themselves; anyone
    /// else needs `members:manage` and every permission the person has. Logs
    /// `user_joined_group`.
    pub fn accept_invitation(&mut self, person: ThingId, group: GroupId) -> Result<Connection> {
        let mut c = self.membership(person, group)?;
        self.view()
            .authorize_over(Op::ChangeMember, group, Ref::from(c.id), person)?;
        if Membership::of(&c)?.active {
            return Err(Error::AlreadyMember {
                person: person.to_string(),
                group: group.to_string(),
            });
        }
        if self.view().check_scope(group)?.status == GroupStatus::Archived {
            return Err(Error::GroupArchived {
                group: group.to_string(),
            });
        }
        c.metadata = std::mem::take(&mut c.metadata)
            .with(MEMBERSHIP_STATUS, MembershipState::Active.as_str());
        self.replace_connection(&c)?;
        self.access_changed();
        let role = Membership::of(&c)?.role;
        self.log(
            kinds::USER_JOINED_GROUP,
            group,
            Some(Ref::from(person)),
            Value::map().with("role", role).with("method", "invitation"),
        )?;
        Ok(c)
    }

    /// Changes the role and permissions of `person`'s membership in `group`. Needs
    /// `members:manage` there (for one's own role too), every permission the person has,
    /// and every permission the new membership gives. Logs `user_role_changed`.
    pub fn change_role(
        &mut self,
        person: ThingId,
        group: GroupId,
        role: &str,
        permissions: &[&str],
    ) -> Result<Connection> {
        let mut c = self.membership(person, group)?;
        // Nobody changes the membership of someone who may do more than they may.
        self.view()
            .authorize_over(Op::ChangeRole, group, Ref::from(c.id), person)?;
        self.check_grantable(group, role, permissions)?;
        let old = Membership::of(&c)?;
        let new_permissions = membership_permissions(role, permissions)?;
        if old.active && old.is_owner() && new_permissions != PermissionSet::all() {
            self.keep_an_owner(group)?;
        }
        c.metadata = std::mem::take(&mut c.metadata)
            .with("role", role)
            .with("permissions", permissions.to_vec());
        self.replace_connection(&c)?;
        self.access_changed();
        self.log(
            kinds::USER_ROLE_CHANGED,
            group,
            Some(Ref::from(person)),
            Value::map().with("role", role).with("from", old.role),
        )?;
        Ok(c)
    }

    /// Ends `person`'s membership (or invitation) in `group`. A person may leave by
    /// themselves; anyone else needs `members:manage` and every permission the person has,
    /// wherever they have it. Logs `user_removed_from_group`.
    pub fn remove_member(&mut self, person: ThingId, group: GroupId) -> Result<Connection> {
        let c = self.membership(person, group)?;
        // A person may leave by themselves; anyone else must cover everything they have.
        self.view()
            .authorize_over(Op::ChangeMember, group, Ref::from(c.id), person)?;
        let m = Membership::of(&c)?;
        if m.active && m.is_owner() {
            self.keep_an_owner(group)?;
        }
        self.remove_connection(&c)?;
        self.access_changed();
        self.log(
            kinds::USER_REMOVED_FROM_GROUP,
            group,
            Some(Ref::from(person)),
            Value::map().with("role", m.role),
        )?;
        Ok(c)
    }

    /// Refuses to remove or demote the only active owner of `group`.
    fn keep_an_owner(&self, group: GroupId) -> Result<()> {
        if self.view().active_owners(group)? <= 1 {
            return Err(Error::LastOwner {
                group: group.to_string(),
            });
        }
        Ok(())
    }

    /// The membership (active or pending) of `person` in `group`.
    fn membership(&self, person: ThingId, group: GroupId) -> Result<Connection> {
        self.view().check_scope(group)?;
        self.view()
            .membership_connection(&self.scope.tenant, person, group)?
            .ok_or_else(|| Error::NotFound {
                kind: crate::base::id::IdKind::Connection,
                id: format!("membership of {person} in {group}"),
            })
    }

    /// Checks the role and permission strings, and that the actor holds every permission
    /// the membership would give.
    fn check_grantable(&self, group: GroupId, role: &str, permissions: &[&str]) -> Result<()> {
        validate::type_name("role", role)?;
        self.view()
            .ensure_holds(group, membership_permissions(role, permissions)?)
    }

    fn new_membership(
        &mut self,
        person: ThingId,
        group: GroupId,
        role: &str,
        permissions: &[&str],
        state: MembershipState,
    ) -> Result<Connection> {
        PermissionSet::parse(permissions)?;
        self.ensure_writable(group, Op::AddMember)?;
        self.check_grantable(group, role, permissions)?;
        let person_thing = self.view().load_person(person)?;
        if person_thing.status == ThingStatus::Deleted {
            return Err(Error::ThingDeleted {
                id: person.to_string(),
            });
        }
        if self
            .view()
            .membership_connection(&self.scope.tenant, person, group)?
            .is_some()
        {
            return Err(Error::AlreadyMember {
                person: person.to_string(),
                group: group.to_string(),
            });
        }
        self.insert_membership(person, group, role, permissions, state)
    }

    /// Writes a membership; the caller has checked who may give it, and logs the event.
    pub(crate) fn insert_membership(
        &mut self,
        person: ThingId,
        group: GroupId,
        role: &str,
        permissions: &[&str],
        state: MembershipState,
    ) -> Result<Connection> {
        let metadata = Value::map()
            .with("role", role)
            .with("permissions", permissions.to_vec())
            .with(MEMBERSHIP_STATUS, state.as_str());
        self.access_changed();
        self.insert_connection(
            Ref::from(person),
            Ref::from(group),
            MEMBER_OF,
            metadata,
            group,
        )
    }
}
