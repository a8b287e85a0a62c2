//! The access cache: answers of permission checks, valid for one version of access data.
//!
//! Deciding a permission walks memberships up the group tree; the answers are kept here
//! until a transaction changes access data ([`Versioned`]: an answer computed from a
//! snapshot older than the current version is never stored).

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

/// Answers of `View::grant` (`memberships.rs`), valid for one version of access data
/// ([`Versioned`]).
#[derive(Debug, Default)]
pub(crate) struct AccessCache {
    answers: Versioned<CacheKey, Grant>,
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

    /// The cached answer for `key`.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Grant> {
        self.answers.get(key)
    }

    /// Caches `grant`, computed from a snapshot taken at `epoch`.
    pub(crate) fn insert(&self, key: CacheKey, grant: Grant, epoch: u64) {
        self.answers.insert(key, grant, epoch);
    }
}
