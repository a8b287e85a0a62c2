//! The access cache: answers of permission checks, valid for one version of access data.
//!
//! Deciding a permission walks memberships up the group tree; the answers are kept here
//! until a transaction changes access data ([`Versioned`]: an answer computed from a
//! snapshot older than the current version is never stored), and so are the principals
//! found in a tenant.

use std::collections::HashSet;
use std::sync::RwLock;

use crate::base::clock::Timestamp;
use crate::base::context::{Env, Principal};
use crate::base::id::GroupId;
use crate::base::permission::PermissionSet;
use crate::kernel::Versioned;

/// What a principal may do in one group, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) permissions: PermissionSet,
    pub(crate) until: Option<Timestamp>,
}

impl Grant {
    /// What the grant allows at `now`.
    pub(crate) fn at(self, now: Timestamp) -> PermissionSet {
        match self.until {
            Some(until) if now >= until => PermissionSet::EMPTY,
            _ => self.permissions,
        }
    }
}

/// Whose answer, in which environment, in which tenant, for which group.
pub(crate) type CacheKey = (Principal, Env, GroupId, GroupId);

/// How many tenant memberships the cache holds before it starts over.
const MEMBERS_LIMIT: usize = 100_000;

/// Answers of `View::grant` (`memberships.rs`), valid for one version of access data
/// ([`Versioned`]), and the principals found to belong to a tenant.
#[derive(Debug, Default)]
pub(crate) struct AccessCache {
    answers: Versioned<CacheKey, Grant>,
    /// Principals found to belong to a tenant (in an environment). A person's record and
    /// an API key never move to another tenant and are never removed, so a yes stays true.
    members: RwLock<HashSet<(Principal, Env, GroupId)>>,
}

impl AccessCache {
    /// The current version of access data; read it before taking the snapshot an answer
    /// is computed from.
    pub(crate) fn epoch(&self) -> u64 {
        self.answers.version()
    }

    /// Forgets every answer.
    pub(crate) fn invalidate(&self) {
        self.answers.invalidate();
    }

    /// Whether `principal` was found to belong to the tenant rooted at `root`.
    pub(crate) fn is_member(&self, principal: Principal, env: Env, root: GroupId) -> bool {
        let members = self.members.read().unwrap_or_else(|p| p.into_inner());
        members.contains(&(principal, env, root))
    }

    /// Remembers that `principal` belongs to the tenant rooted at `root`.
    pub(crate) fn remember_member(&self, principal: Principal, env: Env, root: GroupId) {
        let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
        if members.len() >= MEMBERS_LIMIT {
            members.clear();
        }
        members.insert((principal, env, root));
    }

    /// The cached answer for `key`.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Grant> {
        self.answers.get(key)
    }

    /// Caches `grant`, computed from a snapshot taken at `epoch`.
    pub(crate) fn insert(&self, key: CacheKey, grant: Grant, epoch: u64) {
        self.answers.insert(key, grant, epoch);
    }
}
