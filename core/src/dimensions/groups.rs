//! Groups: the hierarchical tenants.
//!
//! A group without a parent is a root: a tenant, whose records all live under its key
//! prefix. Children nest under a parent of the same tenant and can move only within it
//! (moving between tenants would move every key; export and import instead). Slugs are
//! unique among siblings, and top-level slugs among top-level groups. A tenant may have a
//! domain (`properties.domain`, normalised when written), unique in the database; only
//! a top-level group has one. Both are indexed in the directory, so a request's path or
//! host name finds its tenant in one lookup ([`Admin::tenant_by_slug`],
//! [`Admin::tenant_by_domain`]). A context acting in a group reaches that group and its
//! descendants, never its ancestors or siblings.

pub use one_vocabulary::records::group::{GroupUpdate, NewGroup};

use std::ops::ControlFlow;
use std::sync::Arc;

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::memberships::ParentAccess;
use crate::access::policy::Op;
use crate::base::context::Context;
use crate::base::id::{GroupId, Ref};
use crate::base::layout;
use crate::base::page::{Cursor, Page, page_size, scan_page};
use crate::base::permission::Permission;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::Admin;
use crate::kernel::{AfterTx, Scope, Tx, View};
use crate::metering::plans;
use crate::records::event::kinds;
use crate::records::group::Group;
use crate::records::group::GroupStatus;
use crate::records::group::MAX_DEPTH;
use crate::{Error, Result};
pub(crate) fn check_slug(slug: &str) -> Result<()> {
    if slug.is_empty() {
        return Err(Error::MissingField { field: "slug" });
    }
    let ok_chars = slug
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if slug.len() > 63 || !ok_chars || slug.starts_with('-') || slug.ends_with('-') {
        return Err(Error::invalid(
            "slug",
            format!("{slug:?} must be 1-63 characters of a-z, 0-9 and inner '-'"),
        ));
    }
    Ok(())
}

/// Checks a group's properties (the keys the engine reads: their types, the settings,
/// the billing block) and normalises its domain; what a created, updated or imported
/// group stores.
pub(crate) fn check_properties(properties: Value) -> Result<Value> {
    let properties = validate::map_value("properties", properties)?;
    if let Some(m) = properties.as_map() {
        for (key, want) in [
            ("domain", "string"),
            ("logo", "string"),
            ("description", "string"),
            ("plan", "string"),
            ("limits", "map"),
            ("settings", "map"),
        ] {
            if let Some(v) = m.get(key)
                && v.type_name() != want
            {
                return Err(Error::invalid(
                    format!("properties.{key}"),
                    format!("must be a {want}, not a {}", v.type_name()),
                ));
            }
        }
        if let Some(settings) = m.get("settings").and_then(Value::as_map) {
            check_settings(settings)?;
        }
        plans::check_billing_properties(m)?;
    }
    let mut properties = properties;
    if let Value::Map(m) = &mut properties
        && let Some(Value::String(domain)) = m.get_mut("domain")
    {
        *domain = normalise_domain("properties.domain", domain)?;
    }
    Ok(properties)
}

/// A domain name as tenants are found by it: ASCII letters (folded to lower case),
/// digits and inner hyphens, in dot-separated labels of 1 to 63 characters, at most 253
/// in all; a trailing dot (the DNS root) is dropped. An internationalised name is given
/// in its `xn--` (punycode) form. `field` names the input in errors.
pub(crate) fn normalise_domain(field: &str, text: &str) -> Result<String> {
    let lower = text.trim().to_ascii_lowercase();
    let domain = lower.strip_suffix('.').unwrap_or(&lower);
    let refuse = |why: &str| {
        Err(Error::invalid(
            field,
            format!("{text:?} is not a domain name: {why}"),
        ))
    };
    if domain.is_empty() {
        return refuse("it is empty");
    }
    if !domain.is_ascii() {
        return refuse("write an internationalised name in its ASCII (xn--) form");
    }
    if domain.len() > 253 {
        return refuse("it is longer than 253 characters");
    }
    for label in domain.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return refuse("each dot-separated label is 1-63 characters of a-z, 0-9 and inner '-'");
        }
    }
    Ok(domain.to_string())
}

/// The domain a group's properties give it, if any (normalised when it was written).
fn domain_of(group: &Group) -> Option<&str> {
    group.properties.get_path("domain").and_then(Value::as_str)
}

/// The error for a domain given to a group below the top level.
fn domain_below_top() -> Error {
    Error::invalid(
        "properties.domain",
        "only a tenant (a top-level group) has a domain",
    )
}

/// Checks the settings the engine reads: `parentAccess` (see [`crate::access::memberships`]),
/// `allowSignups`, `requireEmailVerification` and `enableTwoFactor` (booleans),
/// `allowedDomains` (a list of domain names).
fn check_settings(settings: &std::collections::BTreeMap<String, Value>) -> Result<()> {
    if let Some(v) = settings.get("parentAccess")
        && v.as_str().and_then(ParentAccess::parse).is_none()
    {
        return Err(Error::invalid(
            "properties.settings.parentAccess",
            format!("{v} is not one of {:?}", ParentAccess::NAMES),
        ));
    }
    for flag in [
        "allowSignups",
        "requireEmailVerification",
        "enableTwoFactor",
    ] {
        if let Some(v) = settings.get(flag)
            && v.as_bool().is_none()
        {
            return Err(Error::invalid(
                format!("properties.settings.{flag}"),
                format!("must be a boolean, not a {}", v.type_name()),
            ));
        }
    }
    if let Some(v) = settings.get("allowedDomains") {
        let ok = match v {
            Value::List(items) => items
                .iter()
                .all(|d| d.as_str().is_some_and(|s| !s.is_empty())),
            _ => false,
        };
        if !ok {
            return Err(Error::invalid(
                "properties.settings.allowedDomains",
                "must be a list of domain names",
            ));
        }
    }
    Ok(())
}

fn slug_owner(parent: Option<GroupId>) -> String {
    parent.map_or_else(|| "the top level".to_string(), |p| p.to_string())
}

impl<K: KvRead> View<'_, K> {
    /// The group `id`, if the context can see it. Needs `groups:read`.
    pub fn get_group(&self, id: GroupId) -> Result<Group> {
        self.authorize(Op::GetGroup, id)?;
        self.check_scope(id).map(Arc::unwrap_or_clone)
    }

    /// The direct children of `id`, oldest first, a page at a time. Needs `groups:read`
    /// in `id`; children where the context lacks `groups:read` are left out.
    pub fn children(
        &self,
        id: GroupId,
        limit: Option<usize>,
        cursor: Option<&Cursor>,
    ) -> Result<Page<Group>> {
        self.authorize(Op::ListGroup, id)?;
        let prefix = self.scope.structure.children(id);
        scan_page(
            self.kv,
            &prefix,
            KeyRange::prefix(&prefix),
            Direction::Forward,
            cursor,
            page_size(limit)?,
            |k, _| {
                let child = GroupId::from_u128(layout::trailing_id(k)?);
                if !self.permits(child, Permission::GroupsRead)? {
                    return Ok(None);
                }
                self.load_group(child)
                    .map(|g| Some(Arc::unwrap_or_clone(g)))
            },
        )
    }

    /// How many levels of descendants `id` has (0 for a leaf).
    fn subtree_height(&self, id: GroupId) -> Result<usize> {
        let mut level = vec![id];
        let mut height = 0;
        loop {
            let mut next = Vec::new();
            for parent in &level {
                let prefix = self.scope.structure.children(*parent);
                self.kv
                    .scan(&KeyRange::prefix(&prefix), Direction::Forward, |k, _| {
                        next.push(GroupId::from_u128(layout::trailing_id(k)?));
                        Ok::<_, Error>(ControlFlow::Continue(()))
                    })?;
            }
            if next.is_empty() || height > MAX_DEPTH {
                return Ok(height);
            }
            height += 1;
            level = next;
        }
    }

    /// `id` and all of its descendants, breadth first. Needs `groups:read` in `id`;
    /// descendants where the context lacks `groups:read` are left out (their own
    /// descendants are listed if the context may read them).
    pub fn subtree(&self, id: GroupId) -> Result<Vec<Group>> {
        self.authorize(Op::ListGroup, id)?;
        let mut out = vec![Arc::unwrap_or_clone(self.check_scope(id)?)];
        for child in self.descendants(id)? {
            if self.permits(child, Permission::GroupsRead)? {
                out.push(Arc::unwrap_or_clone(self.load_group(child)?));
            }
        }
        Ok(out)
    }
}

/// The groups found writable (for an operation) in this transaction, while it has not
/// changed access data since ([`Tx::access_changes`]): a group's update, a membership
/// removed or a person deleted may take the right away within the transaction.
#[derive(Debug, Default)]
struct WritableGroups {
    /// The transaction's count of access changes when these were decided.
    at: u32,
    checked: std::collections::HashSet<(GroupId, Op)>,
}

impl Tx<'_, '_> {
    /// Loads `group`, decides `op` there (see [`crate::access::policy`]), and checks that it
    /// is not archived: a group new records may join.
    pub(crate) fn writable_group(&self, group: GroupId, op: Op) -> Result<Arc<Group>> {
        self.view().authorize(op, group)?;
        let g = self.view().check_scope(group)?;
        if g.status == GroupStatus::Archived {
            return Err(Error::GroupArchived {
                group: group.to_string(),
            });
        }
        Ok(g)
    }

    /// Like [`Tx::writable_group`], remembering the answer for the rest of the transaction
    /// while it changes no access data.
    pub(crate) fn ensure_writable(&mut self, group: GroupId, op: Op) -> Result<()> {
        let at = self.access_changes();
        let known = self.locals.get::<WritableGroups>();
        if known.at != at {
            *known = WritableGroups {
                at,
                checked: Default::default(),
            };
        }
        if !known.checked.contains(&(group, op)) {
            self.writable_group(group, op)?;
            self.locals
                .get::<WritableGroups>()
                .checked
                .insert((group, op));
        }
        Ok(())
    }

    /// Creates a child group of `parent` (which must be in scope and not archived). Needs
    /// `groups:write` in `parent`.
    pub fn create_group(&mut self, parent: GroupId, new: NewGroup) -> Result<Group> {
        let parent_group = self.writable_group(parent, Op::CreateGroup)?;
        if plans::touches_billing(&new.properties) {
            self.view().authorize(Op::Billing, parent)?;
        }
        if self.view().ancestors(&parent_group)?.len() + 1 >= MAX_DEPTH {
            return Err(Error::invalid(
                "parent",
                format!("groups nest at most {MAX_DEPTH} deep"),
            ));
        }
        let group =
            self.new_group_record(GroupId::from_u128(self.engine.next_id()), Some(parent), new)?;
        self.link_child(parent, &group)?;
        self.insert_group(&group, parent)?;
        Ok(group)
    }

    /// Enters `group` among `parent`'s children, its slug unique among its siblings.
    pub(crate) fn link_child(&mut self, parent: GroupId, group: &Group) -> Result<()> {
        let slug_key = self.scope.structure.sibling_slug(parent, &group.slug);
        if self.kv.contains(&slug_key)? {
            return Err(Error::DuplicateSlug {
                slug: group.slug.clone(),
                parent: slug_owner(Some(parent)),
            });
        }
        self.put(slug_key, group.id.to_be_bytes())?;
        self.put(self.scope.structure.child(parent, group.id), [])
    }

    /// Enters a top-level group's slug, unique among top-level groups, and its domain,
    /// unique in the database.
    pub(crate) fn link_root(&mut self, group: &Group) -> Result<()> {
        let slug_key = layout::root_slug(&group.slug);
        if self.kv.contains(&slug_key)? {
            return Err(Error::DuplicateSlug {
                slug: group.slug.clone(),
                parent: slug_owner(None),
            });
        }
        self.put(slug_key, group.id.to_be_bytes())?;
        // An imported group's domain was written by another version: normalised here.
        let domain = domain_of(group)
            .map(|d| normalise_domain("properties.domain", d))
            .transpose()?;
        self.move_domain(group.id, None, domain.as_deref())
    }

    /// Moves tenant `root`'s entry in the domain index from `old` to `new` (either may be
    /// none). A domain another tenant has is refused.
    fn move_domain(&mut self, root: GroupId, old: Option<&str>, new: Option<&str>) -> Result<()> {
        // A domain stored before domains were normalised is found by its normal form.
        let old = old.and_then(|d| normalise_domain("properties.domain", d).ok());
        if old.as_deref() == new {
            return Ok(());
        }
        if let Some(new) = new {
            let key = layout::tenant_domain(new);
            if self.kv.contains(&key)? {
                return Err(Error::DuplicateDomain {
                    domain: new.to_string(),
                });
            }
            self.put(key, root.to_be_bytes())?;
        }
        if let Some(old) = old {
            self.delete(&layout::tenant_domain(&old))?;
        }
        Ok(())
    }

    fn new_group_record(
        &self,
        id: GroupId,
        parent: Option<GroupId>,
        new: NewGroup,
    ) -> Result<Group> {
        check_slug(&new.slug)?;
        if parent.is_some() && new.properties.get_path("domain").is_some() {
            return Err(domain_below_top());
        }
        plans::refuse_inert(&new.properties)?;
        let now = self.now();
        Ok(Group {
            id,
            parent,
            kind: new.kind,
            name: validate::name("name", &new.name)?,
            slug: new.slug,
            status: new.status,
            properties: check_properties(new.properties)?,
            created_at: now,
            updated_at: now,
        })
    }

    /// Writes a new group's record and directory entry, and logs `group_created` in `log_group`.
    fn insert_group(&mut self, group: &Group, log_group: GroupId) -> Result<()> {
        self.store_group(group)?;
        let meta = Value::map()
            .with("name", group.name.as_str())
            .with("slug", group.slug.as_str())
            .with("type", group.kind.as_str());
        self.log(
            kinds::GROUP_CREATED,
            log_group,
            Some(Ref::from(group.id)),
            meta,
        )?;
        Ok(())
    }

    /// Writes a group's record and its directory entry (`D g`, naming its tenant).
    pub(crate) fn store_group(&mut self, group: &Group) -> Result<()> {
        self.structure_changed();
        self.put(layout::group_root(group.id), self.scope.root.to_be_bytes())?;
        self.put_record(&self.scope.structure.group(group.id), group)
    }

    /// Changes a group. Moving it checks the new parent is in scope, in the same tenant,
    /// and not the group itself or one of its descendants. Needs `groups:write` in the
    /// group (and in the new parent, when moving).
    pub fn update_group(&mut self, id: GroupId, update: GroupUpdate) -> Result<Group> {
        let billing = update
            .properties
            .as_ref()
            .is_some_and(plans::touches_billing);
        let other = update.name.is_some()
            || update.slug.is_some()
            || update.parent.is_some()
            || update.status.is_some()
            || update
                .properties
                .as_ref()
                .is_some_and(plans::touches_more_than_billing);
        if billing {
            self.view().authorize(Op::Billing, id)?;
        }
        if other || !billing {
            self.view().authorize(Op::UpdateGroup, id)?;
        }
        let old = Arc::unwrap_or_clone(self.view().check_scope(id)?);
        // A move or a settings change can change scopes and permissions: forget what was
        // checked (an access change forgets the groups found writable).
        self.scope.forget_scope_checks();
        self.access_changed();
        let mut group = old.clone();
        let mut changed = Value::map();
        if let Some(name) = update.name {
            group.name = validate::name("name", &name)?;
            changed = changed.with("name", group.name.as_str());
        }
        if let Some(slug) = update.slug {
            check_slug(&slug)?;
            group.slug = slug;
        }
        if let Some(new_parent) = update.parent {
            let Some(_) = old.parent else {
                return Err(Error::invalid(
                    "parent",
                    format!(
                        "{id} is a top-level group (a tenant) and cannot be moved under another"
                    ),
                ));
            };
            let parent_group = self.writable_group(new_parent, Op::UpdateGroup)?;
            let ancestors = self.view().ancestors(&parent_group)?;
            if new_parent == id || ancestors.contains(&id) {
                return Err(Error::ParentCycle {
                    group: id.to_string(),
                    parent: new_parent.to_string(),
                });
            }
            // The moved group brings its subtree: its deepest descendant must still fit.
            let below = self.view().subtree_height(id)?;
            if ancestors.len() + 2 + below > MAX_DEPTH {
                return Err(Error::invalid(
                    "parent",
                    format!("groups nest at most {MAX_DEPTH} deep"),
                ));
            }
            group.parent = Some(new_parent);
            changed = changed.with("parent", new_parent.to_string());
        }
        if let Some(status) = update.status {
            group.status = status;
            changed = changed.with("status", format!("{status:?}").to_lowercase());
        }
        if let Some(patch) = update.properties {
            if group.parent.is_some() && patch.get_path("domain").is_some_and(|d| *d != Value::Null)
            {
                return Err(domain_below_top());
            }
            plans::refuse_inert(&patch)?;
            let mut props = group.properties.clone();
            props.merge(patch);
            group.properties = check_properties(props)?;
            changed = changed.with("properties", true);
            if group.parent.is_none() {
                self.move_domain(id, domain_of(&old), domain_of(&group))?;
            }
        }
        if group.slug != old.slug || group.parent != old.parent {
            self.move_slug(&old, &group)?;
            changed = changed.with("slug", group.slug.as_str());
        }
        if let (Some(from), Some(to)) = (old.parent, group.parent)
            && from != to
        {
            self.delete(&self.scope.structure.child(from, id))?;
            self.put(self.scope.structure.child(to, id), [])?;
            // Usage is kept as subtree totals in both environments: it moves with the group.
            for env in [
                crate::base::context::Env::Live,
                crate::base::context::Env::Test,
            ] {
                let here = self.scope.ctx.env();
                self.scope.set_env(env);
                let moved = self.move_usage(id, from, to);
                self.scope.set_env(here);
                moved?;
            }
        }
        group.updated_at = self.now();
        self.put_record(&self.scope.structure.group(id), &group)?;
        self.log_billing_change(&old, &group)?;
        let kind = if group.status == GroupStatus::Archived && old.status != GroupStatus::Archived {
            kinds::GROUP_ARCHIVED
        } else {
            kinds::GROUP_UPDATED
        };
        self.log(
            kind,
            group.parent.unwrap_or(id),
            Some(Ref::from(id)),
            changed,
        )?;
        Ok(group)
    }

    fn move_slug(&mut self, old: &Group, new: &Group) -> Result<()> {
        let key_for = |g: &Group| match g.parent {
            Some(p) => self.scope.structure.sibling_slug(p, &g.slug),
            None => layout::root_slug(&g.slug),
        };
        let (old_key, new_key) = (key_for(old), key_for(new));
        if self.kv.contains(&new_key)? {
            return Err(Error::DuplicateSlug {
                slug: new.slug.clone(),
                parent: slug_owner(new.parent),
            });
        }
        self.delete(&old_key)?;
        self.put(new_key, new.id.to_be_bytes())
    }

    /// Archives a group: it stays readable and accepts nothing new. Its children are not
    /// affected.
    pub fn archive_group(&mut self, id: GroupId) -> Result<Group> {
        self.update_group(id, GroupUpdate::default().status(GroupStatus::Archived))
    }
}

/// Installs the groups' open hook: the domain index of files written before it existed.
pub(crate) fn install(hooks: &mut crate::kernel::Hooks) {
    hooks.open.push(index_domains_once);
}

/// Indexes the tenants' domains once, for a database written before the index existed:
/// each top-level group's domain that is a domain name and not already another
/// tenant's (`Engine::check` reports the ones left out).
fn index_domains_once(engine: &crate::kernel::Engine) -> Result<()> {
    // A read-only store is never written; an old file opened so finds no tenant by
    // domain until it is opened for writing.
    let store = engine.store();
    if store.is_read_only() || store.read()?.get(&layout::domains_indexed())?.is_some() {
        return Ok(());
    }
    engine.transact(|kv| {
        for root in crate::records::group::tenant_roots(&*kv)? {
            let scope = Scope::new(Context::system(root), root);
            engine.write_in(kv, scope, &mut AfterTx::default(), |tx| {
                let group = tx.view().load_group(root)?;
                if let Some(Ok(domain)) =
                    domain_of(&group).map(|d| normalise_domain("properties.domain", d))
                    && !tx.kv.contains(&layout::tenant_domain(&domain))?
                {
                    tx.put(layout::tenant_domain(&domain), root.to_be_bytes())?;
                }
                Ok(())
            })?;
        }
        kv.put(layout::domains_indexed(), [1])?;
        Ok(())
    })
}

impl Admin<'_> {
    /// The tenant whose top-level slug this is, if any: the lookup of a request whose
    /// path names its tenant. One index read; the group itself comes from the engine's
    /// cache of committed groups when warm. The slug is compared with case folded; text
    /// that is not a slug is [`Error::InvalidField`] `slug`.
    pub fn tenant_by_slug(&self, slug: &str) -> Result<Option<Group>> {
        let slug = slug.trim().to_ascii_lowercase();
        check_slug(&slug)?;
        self.tenant_at(&layout::root_slug(&slug))
    }

    /// The tenant whose domain this is, if any: the lookup of a request whose host name
    /// names its tenant. `host` is compared in normal form (case folded, a trailing dot
    /// dropped) and may carry a port, as an HTTP `Host` header does (`acme.example:8443`);
    /// text that is not a domain name is [`Error::InvalidField`] `domain`.
    pub fn tenant_by_domain(&self, host: &str) -> Result<Option<Group>> {
        let name = match host.rsplit_once(':') {
            Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                name
            }
            _ => host,
        };
        let domain = normalise_domain("domain", name)?;
        self.tenant_at(&layout::tenant_domain(&domain))
    }

    /// The tenant a directory entry (slug or domain) names, if there is one.
    fn tenant_at(&self, key: &[u8]) -> Result<Option<Group>> {
        let Some(bytes) = self.engine.store().read()?.get(key)? else {
            return Ok(None);
        };
        let root = layout::decode_group_id(&bytes, "tenant directory")?;
        self.engine
            .read(&Context::system(root), |v| v.load_group(root))
            .map(|g| Some(Arc::unwrap_or_clone(g)))
    }

    /// Creates a top-level group: a new tenant. Its slug is unique among top-level groups.
    pub fn create_root_group(&self, new: NewGroup) -> Result<Group> {
        self.engine.transact(|kv| {
            let id = GroupId::from_u128(self.engine.next_id());
            let scope = Scope::new(Context::system(id), id);
            self.engine
                .write_in(kv, scope, &mut AfterTx::default(), |tx| {
                    let group = tx.new_group_record(id, None, new.clone())?;
                    tx.link_root(&group)?;
                    tx.insert_group(&group, id)?;
                    Ok(group)
                })
        })
    }

    /// Every top-level group, in slug order.
    pub fn root_groups(&self) -> Result<Vec<Group>> {
        let kv = self.engine.store().read()?;
        let mut out = Vec::new();
        kv.scan(
            &KeyRange::prefix(&layout::root_slugs()),
            Direction::Forward,
            |_, v| {
                let id = layout::decode_group_id(v, "slug index")?;
                let view = View {
                    kv: &kv,
                    scope: &Scope::new(Context::system(id), id),
                    engine: self.engine,
                };
                out.push(Arc::unwrap_or_clone(view.load_group(id)?));
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        Ok(out)
    }
}
