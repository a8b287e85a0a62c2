//! Groups as stored: the hierarchical tenants and their tree.
//!
//! A group without a parent is a root: a tenant, whose records all live under its key
//! prefix. Children nest under a parent of the same tenant. The tree is walked here —
//! up to a group's ancestors, down to its descendants — and a context's scope (its group
//! and that group's descendants) is checked here; who may do what in a group is decided
//! in `access/`, and creating, changing and moving groups in `dimensions/groups.rs`.

use std::collections::VecDeque;
use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead};
use serde::{Deserialize, Serialize};

use crate::base::clock::Timestamp;
use crate::base::codec::Record;
use crate::base::id::GroupId;
use crate::base::layout;
use crate::base::value::Value;
use crate::kernel::View;
use crate::{Error, Result};

/// How deep a group tree may nest. Deeper chains are refused when a group is created or
/// moved, so every walk up the tree is bounded.
pub const MAX_DEPTH: usize = 64;

/// The kinds of group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GroupType {
    /// A few people who know each other.
    FriendCircle,
    /// A company.
    Business,
    /// A community.
    Community,
    /// A decentralised autonomous organisation.
    Dao,
    /// A government body.
    Government,
    /// An organisation: the usual top-level tenant.
    Organization,
}

impl GroupType {
    /// Every group type.
    pub const ALL: [GroupType; 6] = [
        GroupType::FriendCircle,
        GroupType::Business,
        GroupType::Community,
        GroupType::Dao,
        GroupType::Government,
        GroupType::Organization,
    ];

    /// The snake_case name (`friend_circle`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::FriendCircle => "friend_circle",
            GroupType::Business => "business",
            GroupType::Community => "community",
            GroupType::Dao => "dao",
            GroupType::Government => "government",
            GroupType::Organization => "organization",
        }
    }
}

impl std::str::FromStr for GroupType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        GroupType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::invalid("type", format!("{s:?} is not a group type")))
    }
}

/// A group's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GroupStatus {
    /// Being set up.
    Draft,
    /// In use. The default.
    #[default]
    Active,
    /// Read-only: it accepts no new things, connections, people or child groups.
    Archived,
}

impl GroupStatus {
    /// The lower-case name (`draft`, `active`, `archived`).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Draft => "draft",
            GroupStatus::Active => "active",
            GroupStatus::Archived => "archived",
        }
    }
}

/// A group, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// The parent, or `None` for a top-level group (a tenant).
    pub parent: Option<GroupId>,
    /// Its kind.
    pub kind: GroupType,
    /// Display name.
    pub name: String,
    /// URL-safe name, unique among siblings.
    pub slug: String,
    /// Lifecycle state.
    pub status: GroupStatus,
    /// A map with the well-known keys `domain`, `logo`, `description`, `plan` (strings),
    /// `limits`, `usage`, `settings` (maps), `plan` (see [`crate::Plan`]) and
    /// `revenue_share_bps` (basis points, see [`crate::Bps`]),
    /// and any others the application wants.
    pub properties: Value,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Record for Group {
    const NAME: &'static str = "group";
    const VERSION: u8 = 1;
}

impl<K: KvRead> View<'_, K> {
    /// Loads `group` and checks that it is the context's group or one of its descendants.
    /// Anything else, including groups of other tenants, is [`Error::NotFound`].
    pub(crate) fn check_scope(&self, group: GroupId) -> Result<Group> {
        let found = self.load_group(group)?;
        if self.scope.known_in_scope(group) {
            return Ok(found);
        }
        let mut current = found.clone();
        for _ in 0..=MAX_DEPTH {
            if current.id == self.scope.ctx.group() {
                self.scope.remember_in_scope(group);
                return Ok(found);
            }
            match current.parent {
                Some(p) => current = self.load_group(p)?,
                None => return Err(Error::not_found(group)),
            }
        }
        Err(Error::Corrupt {
            what: "group tree",
            reason: format!("{group} is nested deeper than {MAX_DEPTH}"),
        })
    }

    /// Checks that `group` is in scope, loading nothing when it is the context's own group
    /// or one already checked in this transaction.
    pub(crate) fn ensure_scope(&self, group: GroupId) -> Result<()> {
        if group == self.scope.ctx.group() || self.scope.known_in_scope(group) {
            return Ok(());
        }
        self.check_scope(group).map(|_| ())
    }

    /// Loads a group of this tenant without a scope check.
    pub(crate) fn load_group(&self, id: GroupId) -> Result<Group> {
        self.get_record(&self.scope.structure.group(id))?
            .ok_or_else(|| Error::not_found(id))
    }

    /// The ancestors of a group of this tenant, nearest first.
    pub(crate) fn ancestors(&self, group: &Group) -> Result<Vec<GroupId>> {
        let mut out = Vec::new();
        let mut next = group.parent;
        while let Some(p) = next {
            if out.len() > MAX_DEPTH {
                return Err(Error::Corrupt {
                    what: "group tree",
                    reason: "parent chain too long".into(),
                });
            }
            out.push(p);
            next = self.load_group(p)?.parent;
        }
        Ok(out)
    }

    /// The descendants of `id`, breadth first, whatever the context may do in them.
    pub(crate) fn descendants(&self, id: GroupId) -> Result<Vec<GroupId>> {
        let mut out = Vec::new();
        let mut queue = VecDeque::from([id]);
        while let Some(parent) = queue.pop_front() {
            let prefix = self.scope.structure.children(parent);
            self.kv
                .scan(&KeyRange::prefix(&prefix), Direction::Forward, |k, _| {
                    let child = GroupId::from_u128(layout::trailing_id(k)?);
                    out.push(child);
                    queue.push_back(child);
                    Ok::<_, Error>(ControlFlow::Continue(()))
                })?;
        }
        Ok(out)
    }
}

/// The root group of every tenant in the database.
pub(crate) fn tenant_roots(kv: &impl KvRead) -> Result<Vec<GroupId>> {
    let mut out = Vec::new();
    kv.scan(
        &KeyRange::prefix(&layout::group_directory()),
        Direction::Forward,
        |k, v| {
            let group = layout::decode_group_root(k)?;
            if layout::decode_group_id(v, "group directory")? == group {
                out.push(group);
            }
            Ok::<_, Error>(ControlFlow::Continue(()))
        },
    )?;
    Ok(out)
}
