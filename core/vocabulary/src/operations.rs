//! Work over the data as a whole, as a caller sees it: counts and statistics, the report
//! of a consistency check, export and import reports, and which changes a feed delivers.

use crate::id::GroupId;
use crate::records::event::Dimension;
use crate::records::event::Event;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
/// How many records of each dimension a group (or the whole database) holds. Deleted
/// things and people are not counted; events are never deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Counts {
    /// People (things of type `person`).
    pub people: u64,
    /// Things other than people.
    pub things: u64,
    /// Connections, memberships included.
    pub connections: u64,
    /// Events.
    pub events: u64,
}

/// Counts for the whole database, and what its background upkeep is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    /// Top-level groups.
    pub tenants: u64,
    /// All groups, top-level ones included.
    pub groups: u64,
    /// Live data.
    pub live: Counts,
    /// Test data.
    pub test: Counts,
    /// The background upkeep of the vector graphs (of this process).
    #[serde(default)]
    pub knowledge_upkeep: crate::records::knowledge::MaintenanceStatus,
}

/// One broken rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Problem {
    /// The tenant (root group) it was found in; `None` for the directory and engine meta.
    pub tenant: Option<GroupId>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.tenant {
            Some(t) => write!(f, "tenant {t}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What `Engine::check` found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CheckReport {
    /// Tenants checked.
    pub tenants: usize,
    /// Records checked: groups, API keys, plugins, things, connections, events, knowledge.
    pub records: u64,
    /// Stored entries read, records and derived entries together.
    pub entries: u64,
    /// The problems found, at most `MAX_LISTED_PROBLEMS` of them, in the order found.
    pub problems: Vec<Problem>,
    /// How many problems were found in all.
    pub problem_count: u64,
}

impl CheckReport {
    /// Whether the database passed: no problem found.
    pub fn is_ok(&self) -> bool {
        self.problem_count == 0
    }
}

/// Where `Admin::import` puts the exported group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportInto {
    /// As a new tenant: the exported group becomes a top-level group.
    NewTenant,
    /// Below this group, in its tenant.
    Under(GroupId),
    /// Into the groups that already exist in this group's tenant: a bulk load, such as a
    /// migration from another system. The export holds records only (things, connections,
    /// knowledge, events, with their own ids, times and actors), its header names the
    /// tenant, and it has no group, plugin or API-key lines.
    Existing(GroupId),
}

/// What an export or an import moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PortableReport {
    /// The exported group (for an import: the group now at the top of what was restored).
    pub group: Option<GroupId>,
    /// Lines written or read, the header included.
    pub lines: u64,
    /// Groups.
    pub groups: u64,
    /// Things (people included), both environments.
    pub things: u64,
    /// Connections, both environments.
    pub connections: u64,
    /// Knowledge chunks, both environments.
    pub knowledge: u64,
    /// Events, both environments.
    pub events: u64,
    /// API keys.
    pub api_keys: u64,
    /// Plugins.
    pub plugins: u64,
    /// Connections left out of an export because one of their ends is outside it (such
    /// as the membership of a person who belongs to a group above the exported one).
    pub connections_left_out: u64,
}

/// The most filters one subscription may follow at once.
pub const MAX_FILTERS: usize = 32;

/// Which changes a subscription receives: those of one group (or its subtree), of some
/// dimensions, of some types. Empty lists match everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeFilter {
    /// Only changes in this group; `None` is the subscriber's group.
    #[serde(default)]
    pub group: Option<GroupId>,
    /// Whether changes in the group's descendants are delivered too.
    #[serde(default)]
    pub subtree: bool,
    /// Only changes of these dimensions (none: every dimension).
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// Only changes to records of these types (none: every type).
    #[serde(default)]
    pub types: Vec<String>,
}

impl ChangeFilter {
    /// Every change in the context's group (not its descendants).
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes in `group` instead of the context's group.
    pub fn group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }

    /// Changes in the group's descendants too.
    pub fn with_subtree(mut self) -> Self {
        self.subtree = true;
        self
    }

    /// Changes of `dimension` (may be given several times).
    pub fn dimension(mut self, dimension: Dimension) -> Self {
        self.dimensions.push(dimension);
        self
    }

    /// Changes of records of type `kind`: a thing's or a connection's type, as the
    /// event's `metadata.type` holds it (may be given several times).
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.types.push(kind.into());
        self
    }

    /// Checks the filters of one subscription: 1 to [`MAX_FILTERS`] of them.
    pub fn check_all(filters: &[ChangeFilter]) -> Result<(), crate::Error> {
        if filters.is_empty() || filters.len() > MAX_FILTERS {
            return Err(crate::Error::invalid(
                "filters",
                format!(
                    "a subscription follows 1 to {MAX_FILTERS} filters, not {}",
                    filters.len()
                ),
            ));
        }
        Ok(())
    }

    /// Whether the event `e` passes the filter.
    pub fn matches(&self, e: &Event) -> bool {
        (self.dimensions.is_empty() || self.dimensions.contains(&Dimension::of(&e.kind)))
            && (self.types.is_empty()
                || e.metadata
                    .get_path("type")
                    .and_then(crate::value::Value::as_str)
                    .is_some_and(|t| self.types.iter().any(|k| k == t)))
    }
}
