//! The one policy point: what every operation needs, and the one function that decides.
//!
//! Every public operation of the engine names itself as an `Op`. `Op::needs` is the
//! table: the permissions the operation needs, at which group (always the group of the
//! record it targets, or the group the call names, never only the context's), which
//! permission lets a principal know that the target exists, and whether it acts on another
//! principal. `View::authorize` (and `View::authorize_over` for operations on a
//! principal) decides, in this order:
//!
//! 1. **Tenant boundary.** Settled before any call runs (`principal_in_tenant`): a
//!    context whose principal is not of the tenant its group belongs to is refused as an
//!    unknown group, and nothing is read, logged or charged in that tenant.
//! 2. **Scope.** A target group outside the context's group and its descendants is
//!    [`Error::NotFound`] for the id the caller named.
//! 3. **Environment.** A `test` context holds none of the [`LIVE_ONLY`] permissions:
//!    groups, memberships, keys, plans, limits and settings are live data.
//! 4. **Permissions.** The principal's permissions at the target group (see
//!    [`crate::access::memberships`]) must hold every permission the operation needs. A principal that
//!    may not even know the target exists (a group where it holds nothing; a record
//!    whose dimension it may not read) gets [`Error::NotFound`], byte-identical to an
//!    unknown id, and nothing is logged. One that may know it gets [`Error::Forbidden`],
//!    logged as `access_denied` in its own tenant.
//! 5. **Other principals.** An operation on another person (their memberships,
//!    sessions, identities, email, record) needs the actor to hold, at every group where
//!    that person has a membership, every permission the membership gives: nobody acts on
//!    someone whose rights they do not cover. Some such operations a person may do to
//!    themselves without the permissions (leaving a group, ending their own sessions);
//!    the table says which (`Needs::by_itself`), and which operations keys may never do
//!    (`Needs::by_keys`: a key never makes keys). A plugin, which holds only what its
//!    tenant granted, is bound by the same rows as a key.
//!
//! What a read returns is filtered by the same rules: `View::permits` for groups, and
//! [`event_permissions`] for events (billing events need `billing:manage`, key events
//! `keys:manage`).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use one_storage::{Direction, KeyRange, KvRead};

use crate::access::memberships::Membership;
use crate::base::codec;
use crate::base::codec::Record;
use crate::base::context::Context;
use crate::base::context::{Env, Principal};
use crate::base::id::{GroupId, Ref, ThingId};
use crate::base::layout::TenantKeys;
use crate::base::permission::{Permission, PermissionSet};
use crate::base::value::Value;
use crate::kernel::{AfterTx, Belongs, Denial, Engine, Get, Scope, View};
use crate::records::connection::{Connection, MEMBER_OF};
use crate::records::event::kinds;
use crate::records::person::PERSON;
use crate::records::thing::{Thing, ThingHead, ThingStatus};
use crate::{Error, Result};

use Permission as P;

/// The permissions a `test`-environment context never holds: they change or reveal live
/// data (groups, memberships, API keys, plans, limits, settings, usage and revenue).
pub const LIVE_ONLY: &[Permission] = &[
    P::GroupsWrite,
    P::MembersManage,
    P::KeysManage,
    P::BillingManage,
];

/// Refuses a platform operation (creating tenants, maintenance, imports: see
/// [`one_vocabulary::Request::platform`]) to every principal but the `system` one.
pub(crate) fn authorize_platform(ctx: &Context, operation: &str) -> Result<()> {
    match ctx.principal() {
        Principal::System => Ok(()),
        Principal::Person(_) | Principal::ApiKey(_) | Principal::Plugin(_) => {
            Err(Error::PlatformOnly {
                operation: operation.to_string(),
            })
        }
    }
}

/// What an operation needs; a row of the table in [`Op::needs`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs {
    /// Every permission the operation needs at its target group.
    pub(crate) permissions: &'static [Permission],
    /// What lets a principal know the target exists: without it, a refusal is
    /// [`Error::NotFound`], as for an unknown id.
    pub(crate) sees: Sees,
    /// Whether the operation acts on another principal (their membership, sessions,
    /// identities, email or record).
    pub(crate) over_principal: bool,
    /// Whether a person may do it to themselves without the permissions (leave a group,
    /// end their own sessions).
    pub(crate) by_itself: bool,
    /// Whether an API key (or a plugin, which acts on grants as a key does) may do it
    /// at all.
    pub(crate) by_keys: bool,
}

/// What makes a target known to a principal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sees {
    /// A group: holding any permission in it.
    Group,
    /// A record: holding its dimension's read permission in its group.
    Record(Permission),
}

const fn needs(permissions: &'static [Permission], sees: Sees) -> Needs {
    Needs {
        permissions,
        sees,
        over_principal: false,
        by_itself: false,
        by_keys: true,
    }
}

/// An operation on another principal, which a person may do to themselves.
const fn over(permissions: &'static [Permission], sees: Sees) -> Needs {
    Needs {
        over_principal: true,
        by_itself: true,
        ..needs(permissions, sees)
    }
}

impl Needs {
    /// Not even for oneself without the permissions.
    const fn not_by_itself(self) -> Self {
        Needs {
            by_itself: false,
            ..self
        }
    }

    /// Never by an API key.
    const fn not_by_keys(self) -> Self {
        Needs {
            by_keys: false,
            ..self
        }
    }
}

/// Everything an export reads: every dimension, and the keys' metadata.
const EXPORT: &[Permission] = &[
    P::GroupsRead,
    P::ThingsRead,
    P::ConnectionsRead,
    P::EventsRead,
    P::KnowledgeRead,
    P::KeysManage,
];

macro_rules! ops {
    ($($(#[$doc:meta])* $name:ident => $needs:expr;)*) => {
        /// Every public operation of the engine, by name. [`Op::needs`] says what each needs.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Op {
            $($(#[$doc])* $name,)*
        }

        impl Op {
            /// Every operation, for tests that walk the table.
            #[cfg(test)]
            pub(crate) const ALL: &'static [Op] = &[$(Op::$name,)*];

            /// The table: what each operation needs, at the group of its target.
            pub(crate) const fn needs(self) -> Needs {
                match self {
                    $(Op::$name => $needs,)*
                }
            }
        }
    };
}

ops! {
    // Groups: the target is the group named.
    /// `get_group`.
    GetGroup => needs(&[P::GroupsRead], Sees::Group);
    /// `children`, `subtree`, `counts`, `members`.
    ListGroup => needs(&[P::GroupsRead], Sees::Group);
    /// `create_group`, at the parent.
    CreateGroup => needs(&[P::GroupsWrite], Sees::Group);
    /// `update_group` and `archive_group`, outside the billing block.
    UpdateGroup => needs(&[P::GroupsWrite], Sees::Group);
    /// Plans, limits, revenue shares and usage: the billing block of a group, and
    /// `usage`, `revenue`, `record_revenue`, `distribute_revenue_share`, `record_payment`.
    Billing => needs(&[P::BillingManage], Sees::Group);
    // Things: the target is the thing's group (or the group a new one joins).
    /// `get_thing`.
    GetThing => needs(&[P::ThingsRead], Sees::Record(P::ThingsRead));
    /// `things`, `person_by_email`, `plugins`.
    ListThings => needs(&[P::ThingsRead], Sees::Group);
    /// `create_thing`.
    CreateThing => needs(&[P::ThingsWrite], Sees::Group);
    /// `update_thing`, `delete_thing`.
    ChangeThing => needs(&[P::ThingsWrite], Sees::Record(P::ThingsRead));
    // People: records of principals.
    /// `create_person`, and a person joining by `sign_up` as an admin would add them.
    CreatePerson => needs(&[P::MembersManage], Sees::Group);
    /// `update_thing` and `delete_thing` of a person: acts on that principal (their
    /// own record too needs `members:manage`).
    ChangePerson => over(&[P::MembersManage], Sees::Record(P::ThingsRead)).not_by_itself();
    // Connections: the target is the connection's group.
    /// `get_connection`.
    GetConnection => needs(&[P::ConnectionsRead], Sees::Record(P::ConnectionsRead));
    /// `connections`, `group_connections`.
    ListConnections => needs(&[P::ConnectionsRead], Sees::Group);
    /// `connect`.
    Connect => needs(&[P::ConnectionsWrite], Sees::Group);
    /// `disconnect`.
    Disconnect => needs(&[P::ConnectionsWrite], Sees::Record(P::ConnectionsRead));
    /// `update_connection`.
    UpdateConnection => needs(&[P::ConnectionsWrite], Sees::Record(P::ConnectionsRead));
    // Events.
    /// `events`, and subscribing to the change feed of events.
    ListEvents => needs(&[P::EventsRead], Sees::Group);
    /// `log_event`, `record_usage`, `record_cycle`.
    LogEvent => needs(&[P::EventsWrite], Sees::Group);
    // Knowledge.
    /// `get_knowledge`.
    GetKnowledge => needs(&[P::KnowledgeRead], Sees::Record(P::KnowledgeRead));
    /// `knowledge_index`.
    ListKnowledge => needs(&[P::KnowledgeRead], Sees::Group);
    /// `query_knowledge`.
    QueryKnowledge => needs(&[P::KnowledgeQuery], Sees::Group);
    /// `create_knowledge`.
    CreateKnowledge => needs(&[P::KnowledgeWrite], Sees::Group);
    /// `set_knowledge_labels`, `delete_knowledge`.
    ChangeKnowledge => needs(&[P::KnowledgeWrite], Sees::Record(P::KnowledgeRead));
    // Memberships: the target is the group of the membership.
    /// `add_member`, `invite_member`.
    AddMember => needs(&[P::MembersManage], Sees::Group);
    /// `remove_member`, `accept_invitation`: a person may do it for themselves.
    ChangeMember => over(&[P::MembersManage], Sees::Group);
    /// `change_role`: nobody changes a role without `members:manage`, their own included.
    ChangeRole => over(&[P::MembersManage], Sees::Group).not_by_itself();
    // Credentials.
    /// `api_keys`, `revoke_api_key`, `rotate_api_key`, in the key's group.
    ManageKeys => needs(&[P::KeysManage], Sees::Group);
    /// `create_api_key`: a key's rights are bounded by its creator's memberships, and a
    /// key has none, so keys never make keys.
    CreateKey => needs(&[P::KeysManage], Sees::Group).not_by_keys();
    /// `sign_up`.
    SignUp => needs(&[P::AuthSignup], Sees::Group);
    /// `sign_in`, `sign_in_external`: the caller proves who the person is.
    SignIn => needs(&[P::AuthSignin], Sees::Group);
    /// `magic_link`: hands the caller a secret that signs the person in, so it acts on
    /// that principal.
    MagicLink => over(&[P::AuthSignin], Sees::Group).not_by_itself();
    /// `link_identity`, `sign_out_everywhere`, `email_verification` for a person: acts on
    /// that principal's credentials.
    ManageCredentials => over(&[P::MembersManage], Sees::Record(P::ThingsRead));
    /// `reset_two_factor`: removes a person's second factor without one of its codes, so
    /// never by the person themselves (they turn it off with a code).
    ResetTwoFactor => over(&[P::MembersManage], Sees::Record(P::ThingsRead)).not_by_itself();
    // Tenants.
    /// `install_plugin`, `upgrade_plugin`, `set_plugin_enabled`, `uninstall_plugin`, at
    /// the tenant's root.
    ManagePlugins => needs(&[P::GroupsWrite], Sees::Group);
    /// `export`, at every group exported.
    Export => needs(EXPORT, Sees::Group);
    // The change feed: a subscription needs the read permission of each dimension it
    // follows, in its group (and, as it goes, in each group a change comes from).
    /// Following groups' changes.
    WatchGroups => needs(&[P::GroupsRead], Sees::Group);
    /// Following things' changes.
    WatchThings => needs(&[P::ThingsRead], Sees::Group);
    /// Following connections' changes.
    WatchConnections => needs(&[P::ConnectionsRead], Sees::Group);
    /// Following knowledge's changes.
    WatchKnowledge => needs(&[P::KnowledgeRead], Sees::Group);
    /// Following events of every kind.
    WatchEvents => needs(&[P::EventsRead], Sees::Group);
}

impl Needs {
    /// The permissions, as a set.
    pub(crate) fn set(self) -> PermissionSet {
        PermissionSet::of(self.permissions)
    }
}

/// The permissions a principal holds in `env`: a `test` context never holds the
/// [`LIVE_ONLY`] ones.
pub(crate) fn in_env(held: PermissionSet, env: Env) -> PermissionSet {
    match env {
        Env::Live => held,
        Env::Test => held.difference(PermissionSet::of(LIVE_ONLY)),
    }
}

/// The permissions reading an event of `kind` needs, besides being in scope: its
/// dimension's read permission, plus `billing:manage` for billing events and
/// `keys:manage` for API key events.
pub fn event_permissions(kind: &str) -> PermissionSet {
    let base = crate::records::event::Dimension::of(kind).permission();
    let extra: &[Permission] = match kind {
        kinds::SUBSCRIPTION_EVENT
        | kinds::GROUP_REVENUE_GENERATED
        | kinds::REVENUE_SHARE_DISTRIBUTED
        | kinds::PAYMENT_EVENT
        | kinds::QUOTA_EXCEEDED
        | kinds::CYCLE_QUOTA_EXCEEDED
        | kinds::CYCLE_REQUEST
        | kinds::CYCLE_COMPLETED => &[P::BillingManage],
        kinds::API_KEY_CREATED | kinds::API_KEY_REVOKED | kinds::API_KEY_ROTATED => {
            &[P::KeysManage]
        }
        _ => &[],
    };
    PermissionSet::of(&[base]).union(PermissionSet::of(extra))
}

/// Every permission reading some event may need: holding them all reads every event.
pub(crate) fn any_event_permissions() -> PermissionSet {
    PermissionSet::of(&[
        P::GroupsRead,
        P::ThingsRead,
        P::ConnectionsRead,
        P::KnowledgeRead,
        P::EventsRead,
        P::BillingManage,
        P::KeysManage,
    ])
}

/// Whether the principal of `ctx` belongs to the tenant rooted at `root`: the system
/// always does, a person if their record is in the tenant, an API key if it was issued
/// there, a plugin if the tenant installed it. Decided before anything else of a call (the kernel asks once per principal and
/// tenant and remembers a yes), so a principal of one tenant pointed at another tenant's
/// group meets that group as an unknown id.
pub(crate) fn principal_in_tenant(kv: &dyn Get, root: GroupId, ctx: &Context) -> Result<Belongs> {
    let (principal, env) = (ctx.principal(), ctx.env());
    let yes = |yes: bool| if yes { Belongs::Yes } else { Belongs::No };
    Ok(match principal {
        // The system is the application itself, in whichever tenant it names.
        Principal::System => Belongs::Yes,
        Principal::Person(person) => {
            let key = TenantKeys::new(root, env).thing(person);
            let mut found = Ok(Belongs::No);
            kv.read(&key, &mut |bytes| {
                found = codec::decode_in::<Thing, ThingHead>(bytes).map(|t| match t.kind {
                    PERSON => Belongs::Person {
                        active: t.status != ThingStatus::Deleted,
                    },
                    _ => Belongs::No,
                });
            })?;
            found?
        }
        Principal::ApiKey(key) => yes(kv.read(
            &crate::base::layout::StructureKeys::new(root).api_key(key),
            &mut |_| {},
        )?),
        Principal::Plugin(plugin) => yes(kv.read(
            &crate::base::layout::StructureKeys::new(root).plugin_principal(plugin),
            &mut |_| {},
        )?),
    })
}

impl<K: KvRead> View<'_, K> {
    /// Loads the record of `id` at `key` and decides `op` on it at its group (read by
    /// `group_of`). A missing record and one the context may not see are both `NotFound`
    /// for `id`, so records outside the scope do not reveal that they exist.
    pub(crate) fn get_scoped<R: Record>(
        &self,
        key: &[u8],
        id: impl Into<Ref>,
        op: Op,
        group_of: impl FnOnce(&R) -> GroupId,
    ) -> Result<R> {
        let id = id.into();
        let record: R = self.get_record(key)?.ok_or_else(|| Error::not_found(id))?;
        self.authorize_record(op, group_of(&record), id)?;
        Ok(record)
    }

    /// Decides whether the context may run `op` on a target in `group`: see the module
    /// docs. A refusal the principal may not know about is [`Error::NotFound`] for
    /// `group`.
    pub(crate) fn authorize(&self, op: Op, group: GroupId) -> Result<()> {
        self.decide(op, group, Ref::from(group), None)
    }

    /// [`View::authorize`] for a target record: a refusal the principal may not know
    /// about is [`Error::NotFound`] for `named`, exactly as if it did not exist.
    pub(crate) fn authorize_record(&self, op: Op, group: GroupId, named: Ref) -> Result<()> {
        self.decide(op, group, named, None)
    }

    /// [`View::authorize`] for an operation on `person`, a principal. The person may do
    /// it for themselves (within the context's scope); anyone else needs the operation's
    /// permissions and must cover every right the person has.
    pub(crate) fn authorize_over(
        &self,
        op: Op,
        group: GroupId,
        named: Ref,
        person: ThingId,
    ) -> Result<()> {
        self.decide(op, group, named, Some(person))
    }

    /// The one function that decides.
    fn decide(&self, op: Op, group: GroupId, named: Ref, person: Option<ThingId>) -> Result<()> {
        let needs = op.needs();
        let held = match self.permissions_in(group) {
            Ok(held) => held,
            Err(Error::NotFound { .. }) => return Err(Error::not_found(named)),
            Err(other) => return Err(other),
        };
        let principal = self.scope.ctx.principal();
        let itself = person.is_some_and(|p| principal == Principal::Person(p));
        if itself && needs.by_itself {
            return Ok(());
        }
        let usable = match principal {
            Principal::ApiKey(_) | Principal::Plugin(_) if !needs.by_keys => PermissionSet::EMPTY,
            _ => held,
        };
        if let Some(missing) = needs.set().difference(usable).iter().next() {
            let known = match needs.sees {
                Sees::Group => !held.is_empty(),
                Sees::Record(read) => held.contains(read),
            };
            if !known {
                return Err(Error::not_found(named));
            }
            return Err(self.refuse(group, missing));
        }
        if let Some(person) = person.filter(|_| !itself) {
            debug_assert!(
                needs.over_principal,
                "{op:?} is not marked as over a principal"
            );
            self.ensure_covers(group, person)?;
        }
        Ok(())
    }

    /// A logged [`Error::Forbidden`] for `needed` in `group`.
    fn refuse(&self, group: GroupId, needed: Permission) -> Error {
        self.scope.deny(group, needed);
        Error::Forbidden {
            needed,
            group: group.to_string(),
        }
    }

    /// Refuses, as a logged [`Error::Forbidden`] at `group`, unless the context holds,
    /// at every group where `person` has a membership (or an invitation), every
    /// permission it gives.
    fn ensure_covers(&self, group: GroupId, person: ThingId) -> Result<()> {
        for m in self.memberships_of(person)? {
            let given = Membership::of(&m)?.permissions;
            let held = self.permits_set(m.group)?;
            if let Some(missing) = given.difference(held).iter().next() {
                return Err(self.refuse(group, missing));
            }
        }
        Ok(())
    }

    /// Refuses, as a logged [`Error::Forbidden`], to hand out permissions (to a membership
    /// or a key) that the context does not hold in `group` itself.
    pub(crate) fn ensure_holds(&self, group: GroupId, given: PermissionSet) -> Result<()> {
        let held = self.permissions_in(group)?;
        if let Some(missing) = given.difference(held).iter().next() {
            return Err(self.refuse(group, missing));
        }
        Ok(())
    }

    /// Whether the context has `need` in `group`, for filtering what a list returns;
    /// `false` for groups out of scope. Logs nothing.
    pub(crate) fn permits(&self, group: GroupId, need: Permission) -> Result<bool> {
        Ok(self.permits_set(group)?.contains(need))
    }

    /// `group` (already authorized by the caller) and, with `below`, every group under
    /// it where the context has `need` (as each one's `parentAccess` allows), parents
    /// first.
    pub(crate) fn groups_with(
        &self,
        group: GroupId,
        below: bool,
        need: Permission,
    ) -> Result<Vec<GroupId>> {
        let mut groups = vec![group];
        if below {
            for g in self.descendants(group)? {
                if self.permits(g, need)? {
                    groups.push(g);
                }
            }
        }
        Ok(groups)
    }

    /// Everything the context may do in `group`; nothing for groups out of scope. Logs
    /// nothing.
    pub(crate) fn permits_set(&self, group: GroupId) -> Result<PermissionSet> {
        match self.permissions_in(group) {
            Ok(set) => Ok(set),
            Err(Error::NotFound { .. }) => Ok(PermissionSet::EMPTY),
            Err(e) => Err(e),
        }
    }

    /// Whether the context may read an event of `kind` in `group`.
    pub(crate) fn may_read_event(&self, group: GroupId, kind: &str) -> Result<bool> {
        Ok(event_permissions(kind).is_subset(self.permits_set(group)?))
    }

    /// Every `member_of` connection of `person` (memberships and invitations) in the
    /// context's tenant and environment.
    pub(crate) fn memberships_of(&self, person: ThingId) -> Result<Vec<Connection>> {
        let prefix = self
            .scope
            .tenant
            .edges(true, Ref::from(person), Some(MEMBER_OF));
        let mut out = Vec::new();
        self.kv
            .scan(&KeyRange::prefix(&prefix), Direction::Forward, |_, v| {
                out.push(codec::decode::<Connection>(v)?);
                Ok::<_, Error>(std::ops::ControlFlow::Continue(()))
            })?;
        Ok(out)
    }
}

/// How many denials wait at most for a chance to be logged.
const MAX_PENDING_DENIALS: usize = 10_000;

/// Denials that could not be logged yet (their call ran inside a write transaction on
/// the same thread, or the store could not be written).
#[derive(Debug, Default)]
pub(crate) struct DenialLog {
    pending: Mutex<Vec<Denial>>,
    any: AtomicBool,
}

impl Engine {
    /// Logs refused permissions as `access_denied` events, each in its tenant, in one
    /// transaction. When that is impossible now (the call ran inside a write transaction
    /// on this thread), they wait for the next call that ends.
    pub(crate) fn log_denials(&self, mut denials: Vec<Denial>) {
        let log = self.part::<DenialLog>();
        if log.any.load(Ordering::Acquire) {
            let mut pending = log.pending.lock().unwrap_or_else(|p| p.into_inner());
            denials.append(&mut pending);
            log.any.store(false, Ordering::Release);
        }
        // A read-only store is never written: its refusals are returned, not logged.
        if denials.is_empty() || self.store().is_read_only() {
            return;
        }
        let logged = self.transact(|kv| {
            for d in &denials {
                let meta = Value::map()
                    .with("needed", d.needed.as_str())
                    .with("context_group", d.ctx.group().to_string());
                self.write_in(
                    kv,
                    Scope::new(d.ctx, d.root),
                    &mut AfterTx::default(),
                    |tx| tx.log(kinds::ACCESS_DENIED, d.group, None, meta).map(drop),
                )?;
            }
            Ok::<_, Error>(())
        });
        if logged.is_err() {
            let mut pending = log.pending.lock().unwrap_or_else(|p| p.into_inner());
            // Bounded: a store that cannot be written loses the oldest denials first.
            pending.extend(denials);
            let excess = pending.len().saturating_sub(MAX_PENDING_DENIALS);
            pending.drain(..excess);
            log.any.store(true, Ordering::Release);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_needs_something_and_records_are_known_by_reading() {
        let read = PermissionSet::parse(&["read"]).unwrap();
        for op in Op::ALL {
            let needs = op.needs();
            assert!(!needs.permissions.is_empty(), "{op:?} needs nothing");
            if let Sees::Record(p) = needs.sees {
                assert!(
                    read.contains(p),
                    "{op:?} is known by {p}, not a read permission"
                );
            }
        }
    }

    #[test]
    fn a_test_context_holds_no_live_only_permission() {
        let all = PermissionSet::all();
        let test = in_env(all, Env::Test);
        for p in LIVE_ONLY {
            assert!(!test.contains(*p));
        }
        assert!(test.contains(P::ThingsWrite));
        assert_eq!(in_env(all, Env::Live), all);
    }

    #[test]
    fn holding_every_event_permission_reads_every_event() {
        for kind in kinds::ALL.iter().chain(&["custom_kind"]) {
            assert!(
                event_permissions(kind).is_subset(any_event_permissions()),
                "{kind}"
            );
        }
    }

    #[test]
    fn billing_and_key_events_need_their_rights() {
        assert!(event_permissions(kinds::PAYMENT_EVENT).contains(P::BillingManage));
        assert!(event_permissions(kinds::API_KEY_REVOKED).contains(P::KeysManage));
        assert_eq!(
            event_permissions(kinds::THING_CREATED),
            PermissionSet::of(&[P::ThingsRead])
        );
    }
}
