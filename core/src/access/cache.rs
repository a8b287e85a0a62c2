//! The access cache: answers of permission checks, valid for one version of access data.
//!
//! Deciding a permission walks memberships up the group tree; the answers and the
//! principals found in a tenant are kept here until a transaction changes access data. An answer computed from a snapshot older than the
//! current version is never stored, so a stale answer is never used.

use std::collections::HashMap;
use std::sync::RwLock;

use crate::base::clock::Timestamp;
use crate::base::context::{Env, Principal};
use crate::base::id::GroupId;
use crate::base::permission::PermissionSet;

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

/// How many answers the cache holds before it starts over.
const CACHE_LIMIT: usize = 100_000;

/// Answers of `View::grant` (`access.rs`), valid for one epoch. The epoch moves on (and the cache
/// empties) after every transaction that changed access data; an answer computed from a
/// snapshot older than the current epoch is never stored.
#[derive(Debug, Default)]
pub(crate) struct AccessCache {
    inner: RwLock<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    epoch: u64,
    answers: HashMap<CacheKey, Grant>,
    /// Principals found to belong to a tenant (in an environment). A person's record and
    /// an API key never move to another tenant and are never removed, so a yes stays true.
    members: std::collections::HashSet<(Principal, Env, GroupId)>,
}

impl AccessCache {
    /// The current epoch; read it before taking the snapshot an answer is computed from.
    pub(crate) fn epoch(&self) -> u64 {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).epoch
    }

    /// Forgets every answer.
    pub(crate) fn invalidate(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        inner.epoch += 1;
        inner.answers.clear();
    }

    /// Whether `principal` was found to belong to the tenant rooted at `root`.
    pub(crate) fn is_member(&self, principal: Principal, env: Env, root: GroupId) -> bool {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.members.contains(&(principal, env, root))
    }

    /// Remembers that `principal` belongs to the tenant rooted at `root`.
    pub(crate) fn remember_member(&self, principal: Principal, env: Env, root: GroupId) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.members.len() >= CACHE_LIMIT {
            inner.members.clear();
        }
        inner.members.insert((principal, env, root));
    }

    pub(crate) fn get(&self, key: &CacheKey) -> Option<Grant> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.answers.get(key).copied()
    }

    pub(crate) fn insert(&self, key: CacheKey, grant: Grant, epoch: u64) {
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.epoch != epoch {
            return;
        }
        if inner.answers.len() >= CACHE_LIMIT {
            inner.answers.clear();
        }
        inner.answers.insert(key, grant);
    }
}
