//! The integrity verifier: [`Engine::check`] reads one snapshot and checks every rule that
//! ties the stored keys together, the way `PRAGMA integrity_check` does for SQLite.
//!
//! redb checks its own pages; this checks ours. Every record must decode and sit under the
//! key its id and tenant give it; every derived entry (the type, property, edge, event,
//! group list, email, label and text indexes, the counters and the running totals of usage) must be exactly
//! what the records imply, with nothing missing and nothing extra; the directory must
//! agree with the tenants, and every account with the people linked to it (each link
//! both ways, every account with somebody, its email indexed); every id must be at most
//! the highest id issued, and every event
//! must carry a commit sequence number no later than the store's, growing with its id;
//! every thing and knowledge chunk must be named by an event of its environment (the one
//! that created it, logged in its own group). Groups are not held to that: the event of a
//! group's creation is logged in its parent, which an import below another parent leaves
//! behind.
//! The expected entries are computed by the same functions the writers use
//! (`indexes::index_keys`, `connections::copy_keys`, `events::index_keys`,
//! `usage::own_usage`), so a rule is stated once. Derived vector graphs are not checked:
//! they are never trusted (a damaged one is ignored and rebuilt).

pub use one_vocabulary::operations::{CheckReport, Problem};

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::ControlFlow;

use one_storage::keys::prefix_successor;
use one_storage::{Direction, KeyRange, KvRead};

use crate::access::plugins::{PluginGrants, principal_of};
use crate::base::codec::{self, Record, hex};
use crate::base::context::Env;
use crate::base::id::{GroupId, KeyId, Ref};
use crate::base::layout::{
    self, Corpus, Counter, Declared, SecretSection, StructureKeys, TenantKeys,
};
use crate::base::resource::Resource;
use crate::base::value::Value;
use crate::dimensions::groups::normalise_domain;
use crate::kernel::Engine;
use crate::metering::usage::{own_usage, subtree_totals};
use crate::plugins::PluginRecord;
use crate::records::connection::{Connection, copy_keys};
use crate::records::event::Event;
use crate::records::group::MAX_DEPTH;
use crate::records::group::{Group, tenant_roots};
use crate::records::index::load_defs;
use crate::records::key::StoredKey;
use crate::records::knowledge::Knowledge;
use crate::records::person::{PERSON, email_of};
use crate::records::text::{TextDoc, load_text_defs, thing_doc};
use crate::records::text_index::{LivePostings, Occurrence, read_all as read_text_index};
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// The highest id issued as stored under `key` (`M i`, or a tenant's own on a shared
/// store): 0 if none, and every id if it is damaged (the damage is not this check's to
/// report twice).
fn issued(kv: &impl KvRead, key: &[u8]) -> Result<u128> {
    Ok(match kv.get(key)? {
        Some(b) => u128::from_be_bytes(b.as_slice().try_into().unwrap_or([0xff; 16])),
        None => 0,
    })
}

/// The most problems a report lists; [`CheckReport::problem_count`] counts them all.
pub const MAX_LISTED_PROBLEMS: usize = 1000;

impl Engine {
    /// Checks the integrity of the whole database on one snapshot (writers go on while it
    /// runs) and reports every problem found; see the module docs of `check.rs` for the
    /// rules. `Err` means the check itself could not run (an I/O error); a damaged
    /// record is a [`Problem`], not an error. Reads every entry once and holds one
    /// tenant's derived entries in memory at a time.
    pub fn check(&self) -> Result<CheckReport> {
        let snapshot = self.store().read()?;
        let kv = &*snapshot;
        let last_id = issued(kv, &layout::last_id())?;
        let mut c = Checker {
            kv,
            report: CheckReport::default(),
            tenant: None,
            last_id,
            seq: snapshot.seq()?,
            members: HashSet::new(),
            domains: Expected::new(),
            account_people: Expected::new(),
        };
        let listed = tenant_roots(kv)?;
        let mut roots = c.stored_tenants()?;
        for root in &roots {
            if !listed.contains(root) {
                c.tenant = Some(*root);
                c.problem("the tenant is missing from the group directory");
            }
        }
        roots.extend(
            listed
                .into_iter()
                .filter(|r| !roots.contains(r))
                .collect::<Vec<_>>(),
        );
        c.report.tenants = roots.len();
        let mut highest = last_id;
        for root in roots {
            c.tenant = Some(root);
            // On a shared store, each tenant keeps the highest id issued in it.
            let tenant = layout::tenant_last_id(&layout::tenant(root));
            c.last_id = match tenant {
                Some(key) => last_id.max(issued(kv, &key)?),
                None => last_id,
            };
            highest = highest.max(c.last_id);
            c.tenant_structure(root)?;
        }
        c.tenant = None;
        c.last_id = highest;
        c.directory()?;
        Ok(c.report)
    }
}

/// The state of one check run.
struct Checker<'a, K> {
    kv: &'a K,
    report: CheckReport,
    /// The tenant being checked, named in problems.
    tenant: Option<GroupId>,
    /// The highest id issued (`M i`).
    last_id: u128,
    /// The store's commit sequence number.
    seq: u64,
    /// The dimension of stored vectors (`M k`).
    /// Every declared property index.
    /// (tenant, group) for every group record found.
    members: HashSet<(GroupId, GroupId)>,
    /// The domain index entry each tenant with a domain must have: key → root id.
    domains: Expected,
    /// The account entry each linked person implies: `D a <account> l <root> <env>` →
    /// person id.
    account_people: Expected,
}

/// Derived entries expected under one prefix: key → the value it must hold (`None`: any).
type Expected = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

impl<K: KvRead> Checker<'_, K> {
    fn problem(&mut self, message: impl Into<String>) {
        self.report.problem_count += 1;
        if self.report.problems.len() < MAX_LISTED_PROBLEMS {
            self.report.problems.push(Problem {
                tenant: self.tenant,
                message: message.into(),
            });
        }
    }

    /// Every entry under `prefix`, in key order.
    fn entries(&mut self, prefix: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut out = Vec::new();
        self.kv
            .scan(&KeyRange::prefix(prefix), Direction::Forward, |k, v| {
                out.push((k.to_vec(), v.to_vec()));
                Ok::<_, Error>(ControlFlow::Continue(()))
            })?;
        self.report.entries += out.len() as u64;
        Ok(out)
    }

    /// Every tenant that has data (`T <root> …`), whether or not the directory lists it:
    /// one seek per tenant.
    fn stored_tenants(&mut self) -> Result<Vec<GroupId>> {
        let all = layout::all_tenants();
        let end = prefix_successor(&all).unwrap_or_default();
        let mut out = Vec::new();
        let mut start = all;
        loop {
            let mut next = None;
            self.kv.scan(
                &KeyRange::between(start, end.clone()),
                Direction::Forward,
                |k, _| {
                    next = Some(layout::decode_tenant_root(k));
                    Ok::<_, Error>(ControlFlow::Break(()))
                },
            )?;
            let Some(root) = next else { break };
            match root {
                Ok(r) => out.push(r),
                Err(e) => {
                    self.problem(format!("a tenant key is too short: {e}"));
                    break;
                }
            }
            let Some(after) = prefix_successor(&layout::tenant(out[out.len() - 1])) else {
                break;
            };
            start = after;
        }
        Ok(out)
    }

    /// Decodes a record, reporting it (and returning `None`) if it does not decode.
    fn record<R: Record>(&mut self, key: &[u8], value: &[u8]) -> Option<R> {
        self.report.records += 1;
        match codec::decode(value) {
            Ok(r) => Some(r),
            Err(e) => {
                self.problem(format!("{} at key {}: {e}", R::NAME, hex(key)));
                None
            }
        }
    }

    /// What every record shares: it is stored under its own key, with an id no higher than
    /// the highest issued (`M i`), and, when it belongs to a group, in a group of its tenant.
    fn placed(
        &mut self,
        id: Ref,
        key: &[u8],
        own_key: &[u8],
        group: Option<GroupId>,
        groups: &HashMap<GroupId, Group>,
    ) {
        if key != own_key {
            self.problem(format!("{id} is stored under key {}", hex(key)));
        }
        if id.to_u128() > self.last_id {
            self.problem(format!(
                "{id} has an id above the highest issued ({:032x})",
                self.last_id
            ));
        }
        if let Some(g) = group
            && !groups.contains_key(&g)
        {
            self.problem(format!("{id} is in a missing group {g}"));
        }
    }

    /// The entries under `prefix` must be exactly `expected`, each holding its value.
    fn derived(&mut self, what: &str, prefix: &[u8], mut expected: Expected) -> Result<()> {
        for (k, v) in self.entries(prefix)? {
            match expected.remove(&k) {
                Some(Some(want)) if want != v => {
                    self.problem(format!("{what} entry {} differs from its record", hex(&k)))
                }
                Some(_) => {}
                None => self.problem(format!("{what} entry {} has no record", hex(&k))),
            }
        }
        for k in expected.into_keys() {
            self.problem(format!("{what} entry {} is missing", hex(&k)));
        }
        Ok(())
    }

    /// The text index must be well formed and hold exactly the `expected` postings.
    fn text_index(&mut self, keys: &TenantKeys, mut expected: LivePostings) -> Result<()> {
        let (stored, problems) = read_text_index(self.kv, keys)?;
        for p in problems {
            self.problem(p);
        }
        for (posting, occurrence) in stored {
            let (group, _, word, doc) = &posting;
            match expected.remove(&posting) {
                Some(want) if want == occurrence => {}
                Some(_) => self.problem(format!(
                    "text posting of {word:?} for {doc:032x} in {group} differs from its record"
                )),
                None => self.problem(format!(
                    "text posting of {word:?} for {doc:032x} in {group} has no record"
                )),
            }
        }
        for (group, _, word, doc) in expected.into_keys() {
            self.problem(format!(
                "text posting of {word:?} for {doc:032x} in {group} is missing"
            ));
        }
        Ok(())
    }

    /// The `stored` counts (big-endian `u64`) must equal `expected`; an absent count is
    /// zero.
    fn counts(
        &mut self,
        what: &str,
        stored: Vec<(Vec<u8>, Vec<u8>)>,
        mut expected: HashMap<Vec<u8>, u64>,
    ) {
        for (k, v) in stored {
            let want = expected.remove(&k).unwrap_or(0);
            match layout::decode_u64(&v, "count") {
                Ok(n) if n == want => {}
                Ok(n) => self.problem(format!(
                    "{what} {} is {n}, the records give {want}",
                    hex(&k)
                )),
                Err(e) => self.problem(format!("{what} {}: {e}", hex(&k))),
            }
        }
        for (k, want) in expected {
            if want != 0 {
                self.problem(format!(
                    "{what} {} is missing, the records give {want}",
                    hex(&k)
                ));
            }
        }
    }

    fn tenant_structure(&mut self, root: GroupId) -> Result<()> {
        let structure = StructureKeys::new(root);
        let mut groups: HashMap<GroupId, Group> = HashMap::new();
        for (k, v) in self.entries(&structure.groups())? {
            let Some(g) = self.record::<Group>(&k, &v) else {
                continue;
            };
            self.placed(Ref::from(g.id), &k, &structure.group(g.id), None, &groups);
            match self.kv.get(&layout::group_root(g.id))? {
                Some(r) if r == root.to_be_bytes() => {}
                _ => self.problem(format!("group {} has no directory entry", g.id)),
            }
            self.members.insert((root, g.id));
            groups.insert(g.id, g);
        }
        match groups.get(&root) {
            None => self.problem("the root group's record is missing"),
            Some(g) if g.parent.is_some() => self.problem("the root group has a parent"),
            Some(g) => {
                if self.kv.get(&layout::root_slug(&g.slug))? != Some(root.to_be_bytes().to_vec()) {
                    self.problem(format!(
                        "top-level slug {:?} does not name the root",
                        g.slug
                    ));
                }
                // A domain stored before domains were checked may not be one: it was
                // never indexed, and is not expected to be.
                let domain = g.properties.get_path("domain").and_then(Value::as_str);
                if let Some(Ok(domain)) = domain.map(|d| normalise_domain("domain", d)) {
                    self.domains.insert(
                        layout::tenant_domain(&domain),
                        Some(root.to_be_bytes().to_vec()),
                    );
                }
            }
        }
        let mut children = Expected::new();
        let mut slugs = Expected::new();
        for g in groups.values() {
            let Some(parent) = g.parent else { continue };
            children.insert(structure.child(parent, g.id), Some(Vec::new()));
            slugs.insert(
                structure.sibling_slug(parent, &g.slug),
                Some(g.id.to_be_bytes().to_vec()),
            );
        }
        let mut broken = Vec::new();
        for g in groups.values() {
            if g.id == root {
                continue;
            }
            let mut at = g.parent;
            let mut depth = 0;
            while let Some(p) = at {
                depth += 1;
                if p == root {
                    break;
                }
                if depth > MAX_DEPTH {
                    broken.push(format!("group {} is in a parent cycle", g.id));
                    break;
                }
                match groups.get(&p) {
                    Some(pg) => at = pg.parent,
                    None => {
                        broken.push(format!("group {} has a missing ancestor {p}", g.id));
                        break;
                    }
                }
            }
            if g.parent.is_none() {
                broken.push(format!("group {} has no parent and is not the root", g.id));
            }
        }
        for b in broken {
            self.problem(b);
        }
        self.derived("child", &structure.all_children(), children)?;
        self.derived("sibling slug", &structure.sibling_slugs(), slugs)?;
        self.api_keys(root, &structure, &groups)?;
        self.plugins(root, &structure)?;
        for env in [Env::Live, Env::Test] {
            self.tenant_env(root, env, &groups)?;
        }
        Ok(())
    }

    fn api_keys(
        &mut self,
        root: GroupId,
        structure: &StructureKeys,
        groups: &HashMap<GroupId, Group>,
    ) -> Result<()> {
        for (k, v) in self.entries(&structure.api_keys())? {
            let Some(key) = self.record::<StoredKey>(&k, &v) else {
                continue;
            };
            self.placed(
                Ref::from(key.id),
                &k,
                &structure.api_key(key.id),
                Some(key.group),
                groups,
            );
            let found = self
                .kv
                .get(&layout::secret_digest(SecretSection::ApiKey, &key.digest))?;
            if found
                .as_deref()
                .map(layout::decode_key_locator)
                .and_then(Result::ok)
                != Some((root, key.id))
            {
                self.problem(format!("API key {} has no directory entry", key.id));
            }
        }
        Ok(())
    }

    fn plugins(&mut self, root: GroupId, structure: &StructureKeys) -> Result<()> {
        let mut names = HashSet::new();
        // The principal entries the enabled plugins need, and the name each must hold.
        let mut principals = HashMap::new();
        for (k, v) in self.entries(&structure.plugins())? {
            let Some(p) = self.record::<PluginRecord>(&k, &v) else {
                continue;
            };
            if !self.kv.contains(&layout::plugin_module(&p.module))? {
                self.problem(format!("plugin {:?} has no stored module", p.name));
            }
            if !self.kv.contains(&layout::module_user(&p.module, root))? {
                self.problem(format!(
                    "plugin {:?} is missing from its module's tenants",
                    p.name
                ));
            }
            if p.enabled {
                let key = structure.plugin_principal(principal_of(root, &p.name));
                principals.insert(key, p.name.clone().into_bytes());
            }
            names.insert(p.name.into_bytes());
        }
        for (k, v) in self.entries(&structure.plugin_principals())? {
            if principals.remove(&k).is_none_or(|name| name != v) {
                self.problem(format!(
                    "plugin principal entry {} names no enabled plugin of that id",
                    hex(&k)
                ));
            }
        }
        for name in principals.into_values() {
            self.problem(format!(
                "enabled plugin {:?} has no principal entry",
                String::from_utf8_lossy(&name)
            ));
        }
        let granted: HashSet<Vec<u8>> = names
            .iter()
            .map(|n| structure.plugin_grants(&String::from_utf8_lossy(n)))
            .collect();
        for (k, v) in self.entries(&structure.all_plugin_grants())? {
            let _ = self.record::<PluginGrants>(&k, &v);
            if !granted.contains(&k) {
                self.problem(format!(
                    "plugin grants entry {} names no installed plugin",
                    hex(&k)
                ));
            }
        }
        for of in Declared::ALL {
            for (k, v) in self.entries(&structure.plugin_types(of))? {
                if !names.contains(&v) {
                    self.problem(format!(
                        "{} entry {} names no installed plugin",
                        crate::plugins::noun(of),
                        hex(&k)
                    ));
                }
            }
        }
        Ok(())
    }

    fn tenant_env(
        &mut self,
        root: GroupId,
        env: Env,
        groups: &HashMap<GroupId, Group>,
    ) -> Result<()> {
        let keys = TenantKeys::new(root, env);
        let mut targets = HashSet::new();
        let mut counters: HashMap<Vec<u8>, u64> = HashMap::new();
        let mut count_n = |group: GroupId, counter: Counter, n: u64| {
            *counters.entry(keys.counter(group, counter)).or_default() += n;
        };
        let mut needs_event: Vec<Ref> = Vec::new();

        // Things, their type and property indexes (the database's and the tenant's own),
        // and people's emails.
        let defs = load_defs(self.kv, Some(&StructureKeys::new(root)), None)?;
        let text_defs = load_text_defs(self.kv)?;
        let mut texts = LivePostings::new();
        let mut group_lists: [Expected; 2] = Default::default();
        let type_prefix = keys.type_indexes();
        let (mut by_type, mut by_property, mut emails) =
            (Expected::new(), Expected::new(), Expected::new());
        for (k, v) in self.entries(&keys.things())? {
            let Some(t) = self.record::<Thing>(&k, &v) else {
                continue;
            };
            self.placed(
                Ref::from(t.id),
                &k,
                &keys.thing(t.id),
                Some(t.group),
                groups,
            );
            needs_event.push(Ref::from(t.id));
            if t.status == ThingStatus::Deleted {
                continue;
            }
            count_n(
                t.group,
                if t.kind == PERSON {
                    Counter::People
                } else {
                    Counter::Things
                },
                1,
            );
            if let Some(doc) = thing_doc(&text_defs, &t) {
                count_n(t.group, Counter::ThingTexts, 1);
                count_n(t.group, Counter::ThingWords, u64::from(doc.len));
                expect_text(&mut texts, t.group, Corpus::Things, t.id.to_u128(), &doc);
            }
            let [by_id, by_update] = crate::records::index::list_keys(&keys, &t);
            group_lists[0].insert(by_id, Some(Vec::new()));
            group_lists[1].insert(by_update, Some(Vec::new()));
            for index in crate::records::index::index_keys(&keys, &defs, &t) {
                let map = if index.starts_with(&type_prefix) {
                    &mut by_type
                } else {
                    &mut by_property
                };
                map.insert(index, Some(v.clone()));
            }
            if t.kind == PERSON {
                match email_of(&t) {
                    Ok(email) => {
                        emails.insert(keys.email(&email), Some(t.id.to_be_bytes().to_vec()));
                    }
                    Err(e) => self.problem(format!("person {}: {e}", t.id)),
                }
            }
        }
        // People's accounts: each link names a living person, and its account lists them.
        for (k, v) in self.entries(&keys.account_links())? {
            let person = layout::decode_thing_id(&k[k.len().saturating_sub(16)..], "account link");
            let account = layout::decode_account_id(&v, "account link");
            match (person, account) {
                (Ok(person), Ok(account)) if k == keys.account_of(person) => {
                    let alive = self
                        .kv
                        .get(&keys.thing(person))?
                        .and_then(|b| codec::decode::<Thing>(&b).ok())
                        .is_some_and(|t| t.kind == PERSON && t.status != ThingStatus::Deleted);
                    if !alive {
                        self.problem(format!("account link of {person}, who is no living person"));
                    }
                    self.account_people.insert(
                        layout::AccountKeys::new(account).person_in(root, env),
                        Some(person.to_be_bytes().to_vec()),
                    );
                }
                _ => self.problem(format!("account link {} does not decode", hex(&k))),
            }
        }
        self.derived("type index", &type_prefix, by_type)?;
        let [ids, updates] = group_lists;
        let [ids_prefix, updates_prefix] = keys.group_lists();
        self.derived("group list", &ids_prefix, ids)?;
        self.derived("group list by change", &updates_prefix, updates)?;
        self.derived("property index", &keys.property_indexes(), by_property)?;
        self.derived("email", &keys.emails(), emails)?;

        // Connections and their two edge copies.
        let out_prefix = keys.all_edges(true);
        let (mut outgoing, mut incoming, mut group_listed) =
            (Expected::new(), Expected::new(), Expected::new());
        for (k, v) in self.entries(&keys.connections())? {
            let Some(c) = self.record::<Connection>(&k, &v) else {
                continue;
            };
            self.placed(
                Ref::from(c.id),
                &k,
                &keys.connection(c.id),
                Some(c.group),
                groups,
            );
            count_n(c.group, Counter::Connections, 1);
            let [out, into, listed] = copy_keys(&keys, &c);
            outgoing.insert(out, Some(v.clone()));
            incoming.insert(into, Some(v.clone()));
            group_listed.insert(listed, Some(v.clone()));
        }
        self.derived("outgoing edge", &out_prefix, outgoing)?;
        self.derived("incoming edge", &keys.all_edges(false), incoming)?;
        self.derived(
            "group connection",
            &keys.all_group_connections(),
            group_listed,
        )?;

        // Events, their three indexes, and their commit order.
        let index_prefixes = keys.event_indexes();
        let mut event_indexes: [Expected; 3] = Default::default();
        let mut last_in_group: Option<(GroupId, u64)> = None;
        for (k, v) in self.entries(&keys.all_events())? {
            let Some(e) = self.record::<Event>(&k, &v) else {
                continue;
            };
            self.placed(
                Ref::from(e.id),
                &k,
                &keys.event(e.group, e.id),
                Some(e.group),
                groups,
            );
            if e.seq > self.seq {
                self.problem(format!(
                    "event {} has commit number {} beyond the store's {}",
                    e.id, e.seq, self.seq
                ));
            }
            if let Some((g, seq)) = last_in_group
                && g == e.group
                && e.seq < seq
            {
                self.problem(format!(
                    "event {} was committed before an older event",
                    e.id
                ));
            }
            last_in_group = Some((e.group, e.seq));
            count_n(e.group, Counter::Events, 1);
            if let Some(t) = e.target {
                targets.insert(t);
            }
            for index in crate::records::event::index_keys(&keys, &e) {
                if let Some(i) = index_prefixes.iter().position(|p| index.starts_with(p)) {
                    event_indexes[i].insert(index, Some(Vec::new()));
                }
            }
        }
        let names = [
            "event type index",
            "event actor index",
            "event target index",
        ];
        for ((name, prefix), expected) in names.iter().zip(&index_prefixes).zip(event_indexes) {
            self.derived(name, prefix, expected)?;
        }

        // Knowledge: vectors (all of one dimension in a tenant's environment) and label
        // postings.
        let dims = crate::knowledge::chunks::tenant_dims(self.kv, &keys)?.map(|d| d as u64);
        let (mut vectors, mut postings) = (Expected::new(), Expected::new());
        for (k, v) in self.entries(&keys.all_knowledge())? {
            let Some(chunk) = self.record::<Knowledge>(&k, &v) else {
                continue;
            };
            self.placed(
                Ref::from(chunk.id),
                &k,
                &keys.knowledge(chunk.id),
                Some(chunk.group),
                groups,
            );
            needs_event.push(Ref::from(chunk.id));
            let vector_key = keys.vector(chunk.group, chunk.id);
            match (self.kv.get(&vector_key)?, dims) {
                (Some(bytes), Some(dims)) if bytes.len() as u64 == dims * 4 => {}
                (Some(bytes), dims) => self.problem(format!(
                    "knowledge {} has a vector of {} bytes; the dimension is {dims:?}",
                    chunk.id,
                    bytes.len()
                )),
                (None, _) => {}
            }
            vectors.insert(vector_key, None);
            for label in &chunk.labels {
                postings.insert(
                    layout::with_id(&keys.postings(chunk.group, label), chunk.id.to_u128()),
                    Some(Vec::new()),
                );
            }
            let doc = TextDoc::of([chunk.text.as_str()]);
            count_n(chunk.group, Counter::KnowledgeTexts, 1);
            count_n(chunk.group, Counter::KnowledgeWords, u64::from(doc.len));
            expect_text(
                &mut texts,
                chunk.group,
                Corpus::Knowledge,
                chunk.id.to_u128(),
                &doc,
            );
        }
        self.text_index(&keys, texts)?;
        self.derived("vector", &keys.all_vectors(), vectors)?;
        self.derived("label posting", &keys.all_postings(), postings)?;

        for r in needs_event {
            if !targets.contains(&r) {
                self.problem(format!("{r} has no event naming it"));
            }
        }
        let stored = self.entries(&keys.counters())?;
        self.counts("counter", stored, counters);

        // The running totals of usage: what each group holds, summed up the tree.
        match own_usage(self.kv, &keys) {
            Ok(own) => {
                let parents = groups.values().map(|g| (g.id, g.parent)).collect();
                let totals = subtree_totals(&own, &parents)
                    .into_iter()
                    .map(|((g, r), n)| (keys.usage(g, r, 0), n))
                    .collect();
                // Monthly counts are not derived from records: only running totals here.
                let mut stored = Vec::new();
                for g in groups.keys() {
                    for r in Resource::ALL.into_iter().filter(|r| !r.is_monthly()) {
                        let key = keys.usage(*g, r, 0);
                        if let Some(v) = self.kv.get(&key)? {
                            stored.push((key, v));
                        }
                    }
                }
                self.counts("usage", stored, totals);
            }
            Err(e) => self.problem(format!("usage cannot be counted from the records: {e}")),
        }
        Ok(())
    }

    /// The engine-wide directory: every entry names a group, key or plugin that exists.
    fn directory(&mut self) -> Result<()> {
        for (k, v) in self.entries(&layout::group_directory())? {
            let group = layout::decode_group_root(&k);
            let root = layout::decode_group_id(&v, "group directory");
            match (group, root) {
                (Ok(g), Ok(r)) if self.members.contains(&(r, g)) => {}
                (Ok(g), _) => self.problem(format!("directory entry of {g} names no group")),
                (Err(e), _) => self.problem(format!("directory entry {}: {e}", hex(&k))),
            }
        }
        for (k, v) in self.entries(&layout::root_slugs())? {
            match layout::decode_group_id(&v, "slug directory") {
                Ok(r) if self.members.contains(&(r, r)) => {}
                _ => self.problem(format!("top-level slug entry {} names no tenant", hex(&k))),
            }
        }
        let domains = std::mem::take(&mut self.domains);
        self.derived("domain index", &layout::tenant_domains(), domains)?;
        self.accounts()?;
        for (k, v) in self.entries(&layout::secret_digests(SecretSection::ApiKey))? {
            let found = match layout::decode_key_locator(&v) {
                Ok((root, id)) => self.key_digest(root, id)?,
                Err(_) => None,
            };
            if found.as_deref() != layout::decode_secret_digest(&k, SecretSection::ApiKey).ok() {
                self.problem(format!(
                    "API key directory entry {} names no such key",
                    hex(&k)
                ));
            }
        }
        let prefix = layout::all_module_users();
        for (k, _) in self.entries(&prefix)? {
            let used = match layout::decode_module_user(&k) {
                Ok((module, root)) => self.tenant_uses(root, &module)?,
                Err(_) => false,
            };
            if !used {
                self.problem(format!(
                    "module tenant entry {} names no installed plugin",
                    hex(&k)
                ));
            }
        }
        Ok(())
    }

    /// The accounts: each record decodes, its password and second factor decode, it has
    /// at least one person and each person entry is one a tenant's link implies, and the
    /// email and identity indexes are exactly what the accounts hold.
    fn accounts(&mut self) -> Result<()> {
        let mut people = std::mem::take(&mut self.account_people);
        let mut emails = Expected::new();
        let mut identities = Expected::new();
        let mut linked: HashSet<u128> = HashSet::new();
        let mut records: Vec<u128> = Vec::new();
        for (k, v) in self.entries(&layout::all_accounts())? {
            let (account, rest) = match layout::decode_account_key(&k) {
                Ok(parts) => parts,
                Err(e) => {
                    self.problem(format!("account entry {}: {e}", hex(&k)));
                    continue;
                }
            };
            match rest.first() {
                None => {
                    if let Some(a) = self.record::<crate::records::account::Account>(&k, &v) {
                        emails.insert(
                            layout::account_email(&a.email),
                            Some(account.to_be_bytes().to_vec()),
                        );
                        records.push(account);
                    }
                }
                Some(b'w') if rest.len() == 1 => {
                    self.record::<crate::identity::sign_in::Password>(&k, &v);
                }
                Some(b'f') if rest.len() == 1 => {
                    self.record::<crate::identity::two_factor::TwoFactor>(&k, &v);
                }
                Some(b'x') => {
                    let prefix = layout::AccountKeys::new(account).identities();
                    match layout::decode_identity(&k, &prefix) {
                        Ok((provider, subject)) => {
                            identities.insert(
                                layout::account_identity(&provider, &subject),
                                Some(account.to_be_bytes().to_vec()),
                            );
                        }
                        Err(e) => self.problem(format!("account identity {}: {e}", hex(&k))),
                    }
                }
                Some(b'l') => match people.remove(&k) {
                    Some(Some(want)) if want == v => {
                        linked.insert(account);
                    }
                    _ => self.problem(format!(
                        "account person entry {} has no link from the tenant",
                        hex(&k)
                    )),
                },
                _ => self.problem(format!("account entry {} is of no known kind", hex(&k))),
            }
        }
        for k in people.into_keys() {
            self.problem(format!("account person entry {} is missing", hex(&k)));
        }
        for account in records {
            if !linked.contains(&account) {
                self.problem(format!("account {account:032x} has nobody"));
            }
        }
        self.derived(
            "account identity",
            &layout::account_identities(),
            identities,
        )?;
        self.derived("account email", &layout::account_emails(), emails)
    }

    /// The digest stored in API key `id` of tenant `root`, if it exists and decodes.
    fn key_digest(&self, root: GroupId, id: KeyId) -> Result<Option<Vec<u8>>> {
        let key = StructureKeys::new(root).api_key(id);
        Ok(self
            .kv
            .get(&key)?
            .and_then(|v| codec::decode::<StoredKey>(&v).ok())
            .map(|k| k.digest.to_vec()))
    }

    /// Whether tenant `root` has a plugin installed from `module`.
    fn tenant_uses(&self, root: GroupId, module: &[u8; 32]) -> Result<bool> {
        let mut used = false;
        self.kv.scan(
            &KeyRange::prefix(&StructureKeys::new(root).plugins()),
            Direction::Forward,
            |_, v| {
                used |= codec::decode::<PluginRecord>(v).is_ok_and(|p| &p.module == module);
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        Ok(used)
    }
}

/// Adds the postings of one document to what the text index must hold.
fn expect_text(into: &mut LivePostings, group: GroupId, corpus: Corpus, doc: u128, text: &TextDoc) {
    for (word, tf) in &text.counts {
        into.insert(
            (group, corpus, word.clone(), doc),
            Occurrence {
                tf: *tf,
                len: text.len,
            },
        );
    }
}
