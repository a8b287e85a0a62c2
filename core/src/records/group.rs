//! Groups as stored: the hierarchical tenants and their tree.
//!
//! A group without a parent is a root: a tenant, whose records all live under its key
//! prefix. Children nest under a parent of the same tenant. The tree is walked here —
//! up to a group's ancestors, down to its descendants — and a context's scope (its group
//! and that group's descendants) is checked here; who may do what in a group is decided
//! in `access/`, and creating, changing and moving groups in `dimensions/groups.rs`.

pub use one_vocabulary::records::group::*;

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::sync::Arc;

use one_storage::{Direction, KeyRange, KvRead};

use crate::base::codec::Record;
use crate::base::id::GroupId;
use crate::base::layout;
use crate::kernel::View;
use crate::{Error, Result};

impl Record for Group {
    const NAME: &'static str = "group";
    const VERSION: u8 = 1;
}

impl<K: KvRead> View<'_, K> {
    /// Loads `group` and checks that it is the context's group or one of its descendants.
    /// Anything else, including groups of other tenants, is [`Error::NotFound`].
    pub(crate) fn check_scope(&self, group: GroupId) -> Result<Arc<Group>> {
        let found = self.load_group(group)?;
        // Every group stored in a tenant descends from its root: a context at the root
        // has them all in scope, with nothing to walk.
        if self.scope.known_in_scope(group) || self.scope.ctx.group() == self.scope.root {
            return Ok(found);
        }
        let mut current = Arc::clone(&found);
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

    /// Loads a group of this tenant without a scope check (shared: committed groups are
    /// cached by the engine).
    pub(crate) fn load_group(&self, id: GroupId) -> Result<Arc<Group>> {
        self.group_record(id)?.ok_or_else(|| Error::not_found(id))
    }

    /// `group` and its ancestors, nearest first: the chain a setting or a limit is looked
    /// up along.
    pub(crate) fn lineage(&self, group: GroupId) -> Result<Vec<Arc<Group>>> {
        let mut out = Vec::new();
        let mut next = Some(group);
        while let Some(id) = next {
            if out.len() > MAX_DEPTH {
                return Err(Error::Corrupt {
                    what: "group tree",
                    reason: "parent chain too long".into(),
                });
            }
            let g = self.load_group(id)?;
            next = g.parent;
            out.push(g);
        }
        Ok(out)
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
