//! The access cache: answers of permission checks, and the memberships of the people
//! who asked, valid for one version of access data.
//!
//! Deciding a permission walks memberships up the group tree; the answers are kept here
//! until a transaction changes access data ([`Versioned`]: an answer computed from a
//! snapshot older than the current version is never stored). Real traffic has many
//! principals, each asking about many groups: a person's memberships are kept too, so
//! that the first check at a group costs a walk up the (cached) tree in memory, not a
//! lookup per level. A person's answers are kept with their memberships
//! ([`PersonEntry`]), so that their first check adds one entry to one map, not two (in
//! a map of a hundred thousand entries, each insert is a miss of the CPU's caches).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::base::clock::Timestamp;
use crate::base::context::{Env, Principal};

use crate::base::id::{GroupId, ThingId};
use crate::base::permission::PermissionSet;
use crate::kernel::{IdHasher, Versioned};

/// How many memberships of one person are kept in memory; a person with more is looked
/// up in the store at each level of a walk. With the cache's 100,000 people, this bounds
/// its memory to tens of megabytes.
pub(crate) const LISTED_MEMBERSHIPS: usize = 16;

/// What one membership gives, as the walk up the tree needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Held {
    pub(crate) permissions: PermissionSet,
    /// Accepted (not a pending invitation).
    pub(crate) active: bool,
    /// Passes a child group's default `parentAccess`.
    pub(crate) administrative: bool,
}

/// A person's standing in one tenant and environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PersonAccess {
    /// Not an active person: holds nothing.
    Inactive,
    /// Every membership (and invitation) of the person, by group.
    Listed(Vec<(GroupId, Held)>),
    /// More memberships than are kept: each is looked up where it is needed.
    Many,
}

/// Whose memberships: the tenant's root, the environment and the person.
pub(crate) type PersonKey = (GroupId, Env, ThingId);

/// How many answers the people's entries hold in all before the cache starts over (as
/// many as the answers of API keys).
const PERSON_ANSWERS: usize = LIMIT;

/// A person's standing, and the answers already decided from it for contexts of the
/// person in its tenant and environment.
#[derive(Debug)]
pub(crate) struct PersonEntry {
    /// Whether they are active, and their memberships.
    pub(crate) access: PersonAccess,
    /// What was decided from it so far, by the context's group and the group asked about.
    answers: Mutex<Answers>,
}

/// Which groups' answers: the context's group and the group asked about.
type Pair = (GroupId, GroupId);

/// A person's answers. Most people ask about a few groups, which a short list holds more
/// cheaply than a map (measured: a map for every person made checks of people already
/// met 0.4 µs slower); one who asks about many (a list over a large subtree checks each
/// group) gets a map.
#[derive(Debug)]
enum Answers {
    Few(Vec<(Pair, PermissionSet)>),
    Many(HashMap<Pair, PermissionSet, IdHasher>),
}

/// The most answers a person's list holds before it becomes a map.
const FEW: usize = 32;

impl Answers {
    fn get(&self, pair: Pair) -> Option<PermissionSet> {
        match self {
            Answers::Few(list) => list.iter().find(|(p, _)| *p == pair).map(|(_, set)| *set),
            Answers::Many(map) => map.get(&pair).copied(),
        }
    }

    fn insert(&mut self, pair: Pair, set: PermissionSet) {
        match self {
            Answers::Few(list) if list.len() < FEW => {
                match list.iter_mut().find(|(p, _)| *p == pair) {
                    Some(kept) => kept.1 = set,
                    None => list.push((pair, set)),
                }
            }
            Answers::Few(list) => {
                let mut map: HashMap<Pair, PermissionSet, IdHasher> = list.drain(..).collect();
                map.insert(pair, set);
                *self = Answers::Many(map);
            }
            Answers::Many(map) => {
                map.insert(pair, set);
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            Answers::Few(list) => list.len(),
            Answers::Many(map) => map.len(),
        }
    }
}

impl PersonEntry {
    /// An entry with no answers yet.
    pub(crate) fn new(access: PersonAccess) -> Self {
        Self {
            access,
            answers: Mutex::new(Answers::Few(Vec::new())),
        }
    }

    /// Forgets the answers kept.
    fn forget_answers(&self) {
        *self.answers.lock().unwrap_or_else(|p| p.into_inner()) = Answers::Few(Vec::new());
    }

    /// What the person may do in `group` with a context at `within`, if decided already.
    pub(crate) fn answer(&self, within: GroupId, group: GroupId) -> Option<PermissionSet> {
        let answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.get((within, group))
    }
}

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
#[derive(Debug)]
pub(crate) struct AccessCache {
    /// The answers of API keys.
    answers: Versioned<CacheKey, Grant>,
    /// People's standings, each with its answers.
    people: Versioned<PersonKey, Arc<PersonEntry>>,
    /// About how many answers the people's entries hold (a bound on their memory, not an
    /// exact count).
    person_answers: AtomicUsize,
}

impl Default for AccessCache {
    fn default() -> Self {
        let answers = Versioned::with_limit(LIMIT);
        let people = answers.alongside(PEOPLE_LIMIT);
        Self {
            answers,
            people,
            person_answers: AtomicUsize::new(0),
        }
    }
}

/// How many answers of API keys the cache holds before it starts over.
const LIMIT: usize = 100_000;

/// How many people's standings the cache holds before it starts over.
const PEOPLE_LIMIT: usize = 100_000;

impl AccessCache {
    /// An empty cache of other answers derived from access data, holding at most
    /// `limit`, whose version is this cache's [`AccessCache::epoch`]. Whoever makes one
    /// invalidates it wherever this cache is forgotten.
    pub(crate) fn alongside<K, V>(&self, limit: usize) -> Versioned<K, V> {
        self.answers.alongside(limit)
    }

    /// The current version of access data; read it before taking the snapshot an answer
    /// is computed from.
    pub(crate) fn epoch(&self) -> u64 {
        self.answers.version()
    }

    /// Forgets every answer.
    pub(crate) fn invalidate(&self) {
        self.answers.invalidate();
        self.people.invalidate();
        self.person_answers.store(0, Ordering::Relaxed);
    }

    /// The cached answer for `key`.
    pub(crate) fn get(&self, key: &CacheKey) -> Option<Grant> {
        self.answers.get(key)
    }

    /// Caches `grant`, computed from a snapshot taken at `epoch`.
    pub(crate) fn insert(&self, key: CacheKey, grant: Grant, epoch: u64) {
        self.answers.insert(key, grant, epoch);
    }

    /// The cached standing of a person.
    pub(crate) fn person(&self, key: &PersonKey) -> Option<Arc<PersonEntry>> {
        self.people.get(key)
    }

    /// Caches a person's standing, read from a snapshot taken at `epoch` (read from
    /// [`AccessCache::epoch`]: both caches share one version).
    pub(crate) fn insert_person(&self, key: PersonKey, entry: Arc<PersonEntry>, epoch: u64) {
        self.people.insert(key, entry, epoch);
    }

    /// Keeps what the person of `entry` may do in `group` with a context at `within`,
    /// decided from a snapshot taken at `epoch`, unless access data changed since. An
    /// entry in the cache was read at the version it is kept for (an invalidation empties
    /// the cache), so an answer is added only to an entry of its own version, or to one
    /// already forgotten, which nobody reads again.
    pub(crate) fn remember(
        &self,
        entry: &PersonEntry,
        within: GroupId,
        group: GroupId,
        set: PermissionSet,
        epoch: u64,
    ) {
        if self.epoch() != epoch {
            return;
        }
        if self.person_answers.fetch_add(1, Ordering::Relaxed) >= PERSON_ANSWERS {
            // Full: the people's answers start over; their standings stay (the version
            // too: what the entries held was valid).
            self.people.for_each(|entry| entry.forget_answers());
            self.person_answers.store(0, Ordering::Relaxed);
            return;
        }
        let mut answers = entry.answers.lock().unwrap_or_else(|p| p.into_inner());
        answers.insert((within, group), set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persons_answer_decided_before_a_change_is_never_kept() {
        let cache = AccessCache::default();
        let (root, person) = (GroupId::from_u128(1), ThingId::from_u128(2));
        let (within, group) = (root, GroupId::from_u128(3));
        let read = PermissionSet::parse(&["read"]).unwrap();
        let before = cache.epoch();
        let entry = Arc::new(PersonEntry::new(PersonAccess::Listed(Vec::new())));
        cache.insert_person((root, Env::Live, person), Arc::clone(&entry), before);
        cache.invalidate();
        // Decided from a snapshot older than the change: dropped, and the entry it was
        // read with is no longer in the cache either.
        cache.remember(&entry, within, group, read, before);
        assert_eq!(entry.answer(within, group), None);
        assert!(cache.person(&(root, Env::Live, person)).is_none());
        let now = cache.epoch();
        let fresh = Arc::new(PersonEntry::new(PersonAccess::Listed(Vec::new())));
        cache.insert_person((root, Env::Live, person), Arc::clone(&fresh), now);
        cache.remember(&fresh, within, group, read, now);
        let kept = cache.person(&(root, Env::Live, person)).unwrap();
        assert_eq!(kept.answer(within, group), Some(read));
        assert_eq!(kept.answer(group, group), None);
        // Bounded: past PERSON_ANSWERS in all, the people's answers start over, and
        // their standings stay.
        for n in 1..PERSON_ANSWERS as u128 {
            cache.remember(&fresh, within, GroupId::from_u128(100 + n), read, now);
        }
        assert_eq!(kept.answer(within, GroupId::from_u128(101)), Some(read));
        assert_eq!(fresh.answers.lock().unwrap().len(), PERSON_ANSWERS);
        cache.remember(&fresh, within, group, read, now);
        assert_eq!(kept.answer(within, GroupId::from_u128(101)), None);
        assert_eq!(fresh.answers.lock().unwrap().len(), 0);
        assert!(cache.person(&(root, Env::Live, person)).is_some());
        assert_eq!(
            cache.epoch(),
            now,
            "starting over is not a change of access data"
        );
        cache.remember(&fresh, within, group, read, now);
        assert_eq!(kept.answer(within, group), Some(read));
    }
}
