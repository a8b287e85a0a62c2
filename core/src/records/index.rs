//! Declared property indexes: fast range and equality lists on one property of one type.
//!
//! Without an index, [`View::things`] walks the type index of a group and filters
//! each record. [`Admin::create_index`] declares an index on `(type, properties.<path>)`;
//! from then on every write of a thing of that type keeps an entry
//! `p <group> <type> <path> <value> <thing>` in the same transaction, and a list whose
//! filter compares that path with `$eq`, `$gt`, `$gte`, `$lt` or `$lte` reads only the
//! matching slice of the index. Only booleans, numbers and strings are indexed; other
//! values (and missing ones) have no entry, which is exact for those operators since they
//! never match such values. The filter is still applied to every record the index yields,
//! so the index only narrows what is read and never changes an answer; it changes the
//! order, though: an indexed list comes back in the order of the value, then creation.
//!
//! Definitions live in the store and are read inside each transaction, so a writer never
//! misses an index that a concurrent `create_index` committed before it began: a writer
//! reads their version (`M X`, counted up by every transaction that changes them) and
//! takes the definitions the engine keeps for that version ([`DeclaredIndexes`]), or
//! reads them and keeps them. An index declared by [`Admin::create_index`]
//! (`M x <type> <path>`) serves every tenant; one declared by a tenant's plugin
//! (`T <root> 0x00 x <type> <path>`) serves that tenant alone, and goes with the plugin:
//! what one tenant installs never indexes, or costs, another tenant's writes.

pub use one_vocabulary::records::index::IndexDef;

use std::collections::HashMap;
use std::ops::{Bound, ControlFlow};
use std::sync::{Arc, Mutex, MutexGuard};

use one_storage::keys::{KeyBuf, prefix_successor};
use one_storage::{Direction, KeyRange, KvRead, WriteTx};

use crate::base::context::Env;
use crate::base::id::GroupId;
use crate::base::layout::{self, StructureKeys, TenantKeys};
use crate::base::page::Source;
use crate::base::validate;
use crate::base::value::Value;
use crate::kernel::Admin;
use crate::kernel::IdHasher;
use crate::kernel::{Tx, View};
use crate::records::filter::{FieldPath, Filter, Op};
use crate::records::thing::Thing;
use crate::{Error, Result};

/// The declared property indexes of a transaction's tenant, read on first use in the
/// transaction and forgotten when a declaration changes.
#[derive(Debug, Default)]
pub(crate) struct IndexCache(Option<Arc<[IndexDef]>>);

/// The declarations (property indexes of each tenant, text properties) the engine keeps
/// between transactions, for one version of them: a writer reads one key where it would
/// scan two ranges (about a tenth of a durable create's CPU, BENCHMARKS.md). A version
/// only ever describes one set of declarations: each change counts it up in the
/// transaction that makes it, and a transaction that changed them keeps nothing here
/// (it may yet abort, and its version be made again by another change).
#[derive(Debug, Default)]
pub(crate) struct DeclaredIndexes(Mutex<Declared>);

/// What [`DeclaredIndexes`] holds.
#[derive(Debug, Default)]
struct Declared {
    version: u64,
    tenants: HashMap<GroupId, Arc<[IndexDef]>, IdHasher>,
    text: Option<Arc<[IndexDef]>>,
}

/// How many tenants' declarations the engine keeps before starting over.
const DECLARED_TENANTS: usize = 10_000;

/// Marks a transaction that changes declarations, which keeps nothing in
/// [`DeclaredIndexes`].
#[derive(Debug, Default)]
struct DeclarationsChanged;

/// Installs the declarations the engine keeps between transactions.
pub(crate) fn install(parts: &mut crate::kernel::Parts) {
    parts.insert(DeclaredIndexes::default());
}

/// Counts the version of the declarations up, in a transaction that changes them.
pub(crate) fn declarations_changed(kv: &mut WriteTx<'_>) -> Result<()> {
    let version = declarations_version(&*kv)?;
    kv.put(
        layout::declarations_version(),
        version.saturating_add(1).to_be_bytes(),
    )?;
    kv.attached_mut::<DeclarationsChanged>();
    Ok(())
}

/// The version of the declarations `kv` sees (0 before the first change).
fn declarations_version(kv: &impl KvRead) -> Result<u64> {
    match kv.get(&layout::declarations_version())? {
        Some(b) => layout::decode_u64(&b, "declarations version"),
        None => Ok(0),
    }
}

impl DeclaredIndexes {
    /// The declarations kept for `version`, forgetting those of any other.
    fn at(&self, version: u64) -> MutexGuard<'_, Declared> {
        let mut declared = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if declared.version != version || declared.tenants.len() >= DECLARED_TENANTS {
            *declared = Declared {
                version,
                ..Declared::default()
            };
        }
        declared
    }

    /// The version `kv` sees, if what it reads may be kept (it did not change the
    /// declarations).
    fn keepable(kv: &impl KvRead) -> Result<Option<u64>> {
        if kv.attached::<DeclarationsChanged>().is_some() {
            return Ok(None);
        }
        declarations_version(kv).map(Some)
    }

    /// The property indexes that serve the tenant rooted at `root`, as `kv` sees them.
    pub(crate) fn property(&self, kv: &impl KvRead, root: GroupId) -> Result<Arc<[IndexDef]>> {
        let version = Self::keepable(kv)?;
        if let Some(v) = version
            && let Some(defs) = self.at(v).tenants.get(&root)
        {
            return Ok(Arc::clone(defs));
        }
        let defs: Arc<[IndexDef]> = load_defs(kv, Some(&StructureKeys::new(root)), None)?.into();
        if let Some(v) = version {
            self.at(v).tenants.insert(root, Arc::clone(&defs));
        }
        Ok(defs)
    }

    /// The declared text properties, as `kv` sees them.
    pub(crate) fn text(&self, kv: &impl KvRead) -> Result<Arc<[IndexDef]>> {
        let version = Self::keepable(kv)?;
        if let Some(v) = version
            && let Some(defs) = &self.at(v).text
        {
            return Ok(Arc::clone(defs));
        }
        let defs: Arc<[IndexDef]> = crate::records::text::load_text_defs(kv)?.into();
        if let Some(v) = version {
            self.at(v).text = Some(Arc::clone(&defs));
        }
        Ok(defs)
    }
}

/// The order-preserving key form of an indexable value.
fn encode_value(k: KeyBuf, v: &Value) -> Option<KeyBuf> {
    Some(match v {
        Value::Bool(b) => k.u8(0x10).u8(u8::from(*b)),
        Value::Int(_) | Value::Float(_) => k.u8(0x20).f64(v.as_f64()?),
        Value::String(s) => k.u8(0x30).str(s),
        _ => return None,
    })
}

/// The definitions that serve a tenant (`None`: the database-wide ones only), optionally
/// for one type, each once.
pub(crate) fn load_defs(
    kv: &impl KvRead,
    tenant: Option<&StructureKeys>,
    kind: Option<&str>,
) -> Result<Vec<IndexDef>> {
    let mut out = Vec::new();
    let mut scan = |all: Vec<u8>| {
        let prefix = match kind {
            Some(kind) => KeyBuf::from_prefix(&all).str(kind).finish(),
            None => all.clone(),
        };
        kv.scan(&KeyRange::prefix(&prefix), Direction::Forward, |k, _| {
            let (kind, path) = layout::decode_index_def(k, &all)?;
            out.push(IndexDef { kind, path });
            Ok::<_, Error>(ControlFlow::Continue(()))
        })
    };
    scan(layout::index_defs())?;
    if let Some(tenant) = tenant {
        scan(tenant.index_defs())?;
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn entry_key(keys: &TenantKeys, def: &IndexDef, thing: &Thing) -> Option<Vec<u8>> {
    let value = thing.properties.get_path(&def.path)?;
    let k = KeyBuf::from_prefix(&keys.property_index(thing.group, &def.kind, &def.path));
    Some(
        encode_value(k, value)?
            .raw(&thing.id.to_be_bytes())
            .finish(),
    )
}

/// The index slice that holds every thing the conditions on one path can match.
struct Slice {
    prefix: Vec<u8>,
    range: KeyRange,
}

/// Narrows `prefix` (an index of one path) by the comparisons in `conds`; `None` when none
/// of them can use the index.
fn plan_slice(prefix: Vec<u8>, conds: &[&Op]) -> Option<Slice> {
    let mut lower: Option<Vec<u8>> = None;
    let mut upper: Option<Vec<u8>> = None;
    let mut tag: Option<u8> = None;
    for op in conds {
        let (v, is_lower, is_upper) = match op {
            Op::Eq(v) => (v, true, true),
            Op::Gt(v) | Op::Gte(v) => (v, true, false),
            Op::Lt(v) | Op::Lte(v) => (v, false, true),
            _ => continue,
        };
        let enc = encode_value(KeyBuf::new(), v)?.finish();
        // Comparisons only hold between values of one type: restrict to its section.
        if tag.is_some_and(|t| t != enc[0]) {
            return Some(Slice {
                range: KeyRange::between(prefix.clone(), prefix.clone()),
                prefix,
            });
        }
        tag = Some(enc[0]);
        // Bounds are inclusive of every id under the value, so an imprecise float form of
        // a large integer can only widen the slice; the filter rechecks each record.
        if is_lower && lower.as_ref().is_none_or(|l| enc > *l) {
            lower = Some(enc.clone());
        }
        if is_upper && upper.as_ref().is_none_or(|u| enc < *u) {
            upper = Some(enc);
        }
    }
    let tag = tag?;
    let join = |suffix: &[u8]| [prefix.as_slice(), suffix].concat();
    let start = join(&lower.unwrap_or_else(|| vec![tag]));
    let end = match upper {
        Some(u) => prefix_successor(&join(&u)),
        None => prefix_successor(&join(&[tag])),
    };
    let range = KeyRange {
        start: Bound::Included(start),
        end: end.map_or(Bound::Unbounded, Bound::Excluded),
    };
    Some(Slice { prefix, range })
}

impl<K: KvRead> View<'_, K> {
    /// The best index slice for listing `kind` in `group` with `filter`, if any index helps.
    pub(crate) fn plan_list(
        &self,
        group: GroupId,
        kind: &str,
        filter: &Filter,
    ) -> Result<Option<(Vec<u8>, KeyRange)>> {
        if filter.is_empty() {
            return Ok(None);
        }
        for def in load_defs(self.kv, Some(&self.scope.structure), Some(kind))? {
            let conds: Vec<&Op> = filter
                .conditions()
                .iter()
                .filter(|(p, _)| matches!(p, FieldPath::Property(path) if *path == def.path))
                .map(|(_, op)| op)
                .collect();
            let prefix = self.scope.tenant.property_index(group, kind, &def.path);
            if let Some(slice) = plan_slice(prefix, &conds) {
                return Ok(Some((slice.prefix, slice.range)));
            }
        }
        Ok(None)
    }
}

impl<K: KvRead> View<'_, K> {
    /// The index of `properties.<path>` of `kind` in `group`, narrowed by the filter's
    /// comparisons on that path, to list in the order of its values; `None` when no such
    /// index is declared.
    pub(crate) fn plan_order(
        &self,
        group: GroupId,
        kind: &str,
        path: &str,
        filter: &Filter,
    ) -> Result<Option<Source>> {
        let declared = load_defs(self.kv, Some(&self.scope.structure), Some(kind))?
            .into_iter()
            .any(|d| d.path == path);
        if !declared {
            return Ok(None);
        }
        let prefix = self.scope.tenant.property_index(group, kind, path);
        let conds: Vec<&Op> = filter
            .conditions()
            .iter()
            .filter(|(p, _)| matches!(p, FieldPath::Property(p) if p == path))
            .map(|(_, op)| op)
            .collect();
        Ok(Some(match plan_slice(prefix.clone(), &conds) {
            Some(slice) => Source {
                prefix: slice.prefix,
                range: slice.range,
            },
            None => Source {
                range: KeyRange::prefix(&prefix),
                prefix,
            },
        }))
    }
}

impl Tx<'_, '_> {
    /// Puts the index entries of `thing`, each holding `record` (its encoded record), or,
    /// with `None`, removes them: its type-index entry, one per declared property index
    /// of its type that it has an indexable value for, and its (empty) entries in the
    /// group's lists of every type.
    pub(crate) fn index_thing(&mut self, thing: &Thing, record: Option<&[u8]>) -> Result<()> {
        if self.locals.get::<IndexCache>().0.is_none() {
            let defs = self
                .engine
                .part::<DeclaredIndexes>()
                .property(&*self.kv, self.scope.root)?;
            self.locals.get::<IndexCache>().0 = Some(defs);
        }
        let defs = self
            .locals
            .get::<IndexCache>()
            .0
            .clone()
            .unwrap_or_default();
        for key in index_keys(&self.scope.tenant, &defs, thing) {
            match record {
                Some(bytes) => self.put(key, bytes)?,
                None => self.delete(&key)?,
            }
        }
        for key in list_keys(&self.scope.tenant, thing) {
            match record {
                Some(_) => self.put(key, [])?,
                None => self.delete(&key)?,
            }
        }
        Ok(())
    }
}

/// The index entries of a live thing: its type-index entry, and one per declared property
/// index of its type (`defs` may hold other types' too) that it has an indexable value for.
pub(crate) fn index_keys(keys: &TenantKeys, defs: &[IndexDef], thing: &Thing) -> Vec<Vec<u8>> {
    let type_key = keys.thing_by_type(thing.group, &thing.kind, thing.id);
    let property_keys = defs
        .iter()
        .filter(|d| d.kind == thing.kind)
        .filter_map(|def| entry_key(keys, def, thing));
    std::iter::once(type_key).chain(property_keys).collect()
}

/// The entries of a live thing in its group's lists of every type: by id, and by the
/// time of its last change. They hold nothing; a list reads the record.
pub(crate) fn list_keys(keys: &TenantKeys, thing: &Thing) -> [Vec<u8>; 2] {
    keys.thing_listed(thing.group, thing.id, thing.updated_at)
}

/// Every (tenant, environment) key set in the database.
fn all_tenants(kv: &impl KvRead) -> Result<Vec<TenantKeys>> {
    Ok(crate::records::group::tenant_roots(kv)?
        .into_iter()
        .flat_map(tenant_envs)
        .collect())
}

/// The key sets of both environments of the tenant rooted at `root`.
fn tenant_envs(root: GroupId) -> [TenantKeys; 2] {
    [Env::Live, Env::Test].map(|env| TenantKeys::new(root, env))
}

impl Admin<'_> {
    /// Declares an index on `properties.<path>` of things of type `kind`, and builds it
    /// for every tenant in one transaction. Declaring an existing index does nothing.
    pub fn create_index(&self, kind: &str, path: &str) -> Result<IndexDef> {
        let def = parse_def(kind, path)?;
        self.engine.transact(|kv| declare_def(kv, &def))?;
        Ok(def)
    }

    /// Removes a declared index and its entries. Returns whether it existed.
    pub fn drop_index(&self, kind: &str, path: &str) -> Result<bool> {
        let def = parse_def(kind, path)?;
        self.engine.transact(|kv| {
            if kv
                .remove(&layout::index_def(&def.kind, &def.path))?
                .is_none()
            {
                return Ok(false);
            }
            declarations_changed(kv)?;
            for root in crate::records::group::tenant_roots(&*kv)? {
                // A tenant whose plugin declared the same index keeps its entries.
                if !kv.contains(&StructureKeys::new(root).index_def(&def.kind, &def.path))? {
                    remove_entries(kv, root, &def)?;
                }
            }
            Ok(true)
        })
    }

    /// Every index declared for the whole database (not those of tenants' plugins).
    pub fn indexes(&self) -> Result<Vec<IndexDef>> {
        load_defs(&self.engine.store().read()?, None, None)
    }
}

/// Declares the index on `properties.<path>` of `kind` for the tenant rooted at `root`
/// alone, inside a transaction, and builds it there; declaring an existing index does
/// nothing. (Plugins declare the indexes of their fields with the transaction that
/// installs them.)
pub(crate) fn declare_for_tenant(
    kv: &mut WriteTx<'_>,
    root: GroupId,
    kind: &str,
    path: &str,
) -> Result<()> {
    let def = parse_def(kind, path)?;
    let key = StructureKeys::new(root).index_def(&def.kind, &def.path);
    if kv.contains(&key)? {
        return Ok(());
    }
    kv.put(key, [])?;
    declarations_changed(kv)?;
    if kv.contains(&layout::index_def(&def.kind, &def.path))? {
        return Ok(());
    }
    build_entries(kv, &tenant_envs(root), &def)
}

/// Removes the tenant's own declaration of an index, and its entries unless the index is
/// also declared for the whole database.
pub(crate) fn undeclare_for_tenant(
    kv: &mut WriteTx<'_>,
    root: GroupId,
    kind: &str,
    path: &str,
) -> Result<()> {
    let def = parse_def(kind, path)?;
    if kv
        .remove(&StructureKeys::new(root).index_def(&def.kind, &def.path))?
        .is_none()
    {
        return Ok(());
    }
    declarations_changed(kv)?;
    if kv.contains(&layout::index_def(&def.kind, &def.path))? {
        return Ok(());
    }
    remove_entries(kv, root, &def)
}

/// Deletes the entries of one index in both environments of one tenant.
fn remove_entries(kv: &mut WriteTx<'_>, root: GroupId, def: &IndexDef) -> Result<()> {
    for keys in tenant_envs(root) {
        let prefix = keys.property_indexes();
        let mut doomed = Vec::new();
        kv.scan(&KeyRange::prefix(&prefix), Direction::Forward, |k, _| {
            let (_, kind, path) = layout::decode_property_entry(k, &prefix)?;
            if kind == def.kind && path == def.path {
                doomed.push(k.to_vec());
            }
            Ok::<_, Error>(ControlFlow::Continue(()))
        })?;
        for k in doomed {
            kv.delete(&k)?;
        }
    }
    Ok(())
}

fn declare_def(kv: &mut WriteTx<'_>, def: &IndexDef) -> Result<()> {
    let key = layout::index_def(&def.kind, &def.path);
    if kv.contains(&key)? {
        return Ok(());
    }
    kv.put(key, [])?;
    declarations_changed(kv)?;
    let tenants = all_tenants(&*kv)?;
    build_entries(kv, &tenants, def)
}

/// Writes the entries of `def` for the live things of each key set.
fn build_entries(kv: &mut WriteTx<'_>, tenants: &[TenantKeys], def: &IndexDef) -> Result<()> {
    for keys in tenants {
        let keys = keys.clone();
        let mut entries = Vec::new();
        kv.scan(
            &KeyRange::prefix(&keys.things()),
            Direction::Forward,
            |_, v| {
                let thing: Thing = crate::base::codec::decode(v)?;
                if thing.kind == def.kind
                    && thing.status != crate::records::thing::ThingStatus::Deleted
                {
                    entries.extend(entry_key(&keys, def, &thing).map(|k| (k, v.to_vec())));
                }
                Ok::<_, Error>(ControlFlow::Continue(()))
            },
        )?;
        for (key, record) in entries {
            kv.put(key, record)?;
        }
    }
    Ok(())
}

fn parse_def(kind: &str, path: &str) -> Result<IndexDef> {
    validate::type_name("type", kind)?;
    match FieldPath::parse(path)? {
        FieldPath::Property(p) => Ok(IndexDef {
            kind: kind.to_string(),
            path: p,
        }),
        _ => Err(Error::InvalidFilter {
            path: path.to_string(),
            reason: "only `properties.<key>` paths can be indexed".into(),
        }),
    }
}
