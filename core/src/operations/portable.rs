//! Export and import: a group and everything below it as portable, versioned JSON lines,
//! so a tenant can leave one database, or move under another parent, without losing a
//! record.
//!
//! # Format (version 2)
//!
//! UTF-8 text, one JSON object per line, each naming its kind in `"record"`:
//!
//! 1. `{"record":"header","format":"one-export","version":2,"group":"grp_…"}`
//! 2. `group`: the exported group, then its descendants, parents first (breadth first).
//! 3. `plugin`: every plugin of the tenant, with its WASM module in hex (`module`).
//! 4. `api_key`: the keys of the exported groups: their metadata and the SHA-256 digest of
//!    the secret (so they keep working after a move); the secret itself is stored nowhere.
//! 5. For `live`, then `test` (field `env`): `thing`, `connection` (without sessions),
//!    `knowledge` (with its `vector`), then `event` (without the store-local commit number).
//!
//! Records are in their JSON form from `one-vocabulary`, the one every transport uses:
//! ids, principals and address ranges in their text form, enums as snake_case names, a
//! record's type in `type`, times as milliseconds, properties and metadata plain JSON.
//! Version 1, written only by pre-release builds, kept Rust's names (`kind`,
//! `Organization`) and is refused. Within a kind, lines are in key order, so exporting the same
//! data twice gives the same bytes.
//!
//! Not exported: passwords (people sign in again, by a magic link or a reset), sessions,
//! one-time tokens, external identity links, monthly usage counts and derived data (indexes,
//! counters and vector graphs are rebuilt by the import).
//!
//! # Import
//!
//! [`Admin::import`] restores an export in one transaction, keeping every id: as a new
//! tenant ([`ImportInto::NewTenant`]), or below a group of an existing tenant
//! ([`ImportInto::Under`]); or loads records alone into the groups a tenant already has
//! ([`ImportInto::Existing`], for migrations and bulk loads: the same lines without
//! groups, plugins and keys). Ids are unique across databases, so nothing is remapped; an
//! id that already exists is refused, as is a slug, email or plugin type that collides.
//! Events keep their ids, types, actors and metadata and get the import's commit number;
//! the import itself logs nothing, so export → import → export gives the same lines.

pub use one_vocabulary::operations::{ImportInto, PortableReport};

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead};
use serde::{Deserialize, Serialize};

use crate::access::policy::Op;
use crate::base::clock::Timestamp;
use crate::base::codec::{self, hex, unhex};
use crate::base::context::{Context, Env, Principal};
use crate::base::id::{EventId, GroupId, Ref};
use crate::base::layout::{self, Counter, SecretSection, StructureKeys, TenantKeys};
use crate::base::secret::SecretDigest;
use crate::kernel::Admin;
use crate::kernel::{AfterTx, Engine, Scope, Tx, View};
use crate::knowledge::chunks::{decode_vector, encode_vector};
use crate::plugins::PluginRecord;
use crate::records::connection::{Connection, SESSION, copy_keys};
use crate::records::event::Event;
use crate::records::group::Group;
use crate::records::key::{ApiKey, StoredKey};
use crate::records::knowledge::Knowledge;
use crate::records::person::{PERSON, email_of};
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// The `format` named in an export's header.
pub const EXPORT_FORMAT: &str = "one-export";
/// The version of the export format this build writes and reads.
pub const EXPORT_VERSION: u32 = 2;

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Line {
    Header {
        format: String,
        version: u32,
        group: GroupId,
    },
    Group(Group),
    Plugin(PortablePlugin),
    ApiKey(PortableKey),
    Thing(InEnv<Thing>),
    Connection(InEnv<Connection>),
    Knowledge(InEnv<PortableKnowledge>),
    Event(InEnv<PortableEvent>),
}

impl Line {
    /// The environment of a record that has one.
    fn env(&self) -> Option<Env> {
        match self {
            Line::Thing(r) => Some(r.env),
            Line::Connection(r) => Some(r.env),
            Line::Knowledge(r) => Some(r.env),
            Line::Event(r) => Some(r.env),
            Line::Header { .. } | Line::Group(_) | Line::Plugin(_) | Line::ApiKey(_) => None,
        }
    }
}

/// A record of one environment.
#[derive(Debug, Serialize, Deserialize)]
struct InEnv<T> {
    env: Env,
    #[serde(flatten)]
    record: T,
}

/// An API key with the digest of its secret, so it keeps working after a move.
#[derive(Debug, Serialize, Deserialize)]
struct PortableKey {
    #[serde(flatten)]
    key: ApiKey,
    digest: SecretDigest,
}

/// A plugin with its module.
#[derive(Debug, Serialize, Deserialize)]
struct PortablePlugin {
    name: String,
    version: String,
    enabled: bool,
    installed_at: Timestamp,
    updated_at: Timestamp,
    /// The WASM module, in hex.
    module: String,
    /// What its tenant granted it (absent in exports from before grants: then what every
    /// plugin could do, `events:write`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    granted: Option<Vec<String>>,
}

/// A knowledge chunk with its embedding (as `f64`s, which print and parse exactly).
#[derive(Debug, Serialize, Deserialize)]
struct PortableKnowledge {
    #[serde(flatten)]
    knowledge: Knowledge,
    vector: Vec<f64>,
}

/// An event without its store-local commit number.
#[derive(Debug, Serialize, Deserialize)]
struct PortableEvent {
    id: EventId,
    kind: String,
    actor: Principal,
    group: GroupId,
    target: Option<Ref>,
    metadata: crate::base::value::Value,
}

/// How far after the engine's clock the time of an imported id may be (one hour), for
/// exports made on a machine whose clock runs a little ahead.
pub const MAX_IMPORT_SKEW_MS: u64 = 60 * 60 * 1000;

fn write_error(source: std::io::Error) -> Error {
    Error::Io {
        action: "cannot write the export to",
        path: "the output".into(),
        source,
    }
}

impl Engine {
    /// Writes `group` and everything below it, in both environments, to `out` as JSON
    /// lines (see the module docs of `portable.rs` for the format), from one snapshot:
    /// writers go on meanwhile. Needs `groups:read`, `things:read`, `connections:read`,
    /// `events:read`, `knowledge:read` and `keys:manage` in `group` and in every group
    /// below it: a child group that shuts its parents out (`parentAccess`) cannot be
    /// exported from above.
    pub fn export(&self, ctx: &Context, group: GroupId, out: impl Write) -> Result<PortableReport> {
        self.read(ctx, |v| {
            v.authorize(Op::Export, group)?;
            v.check_scope(group)?;
            for below in v.descendants(group)? {
                v.authorize(Op::Export, below)?;
            }
            Exporter::new(out).run(v, group)
        })
    }
}

impl Engine {
    /// [`Engine::export`] to a new file at `path`, whole or not at all, never over an
    /// existing file ([`one_storage::files::write_new`]).
    pub fn export_file(
        &self,
        ctx: &Context,
        group: GroupId,
        path: impl AsRef<std::path::Path>,
    ) -> Result<PortableReport> {
        let path = path.as_ref();
        one_storage::files::write_new(path, |partial| {
            let io = |action, source| Error::Io {
                action,
                path: path.to_path_buf(),
                source,
            };
            let file = std::fs::File::create(partial).map_err(|e| io("cannot create", e))?;
            let mut out = std::io::BufWriter::new(file);
            let report = self.export(ctx, group, &mut out)?;
            let file = out
                .into_inner()
                .map_err(|e| io("cannot write", e.into_error()))?;
            file.sync_all().map_err(|e| io("cannot sync", e))?;
            Ok(report)
        })
    }
}

impl Admin<'_> {
    /// [`Admin::import`] from the file at `path`.
    pub fn import_file(
        &self,
        path: impl AsRef<std::path::Path>,
        into: ImportInto,
    ) -> Result<PortableReport> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|source| Error::Io {
            action: "cannot open",
            path: path.to_path_buf(),
            source,
        })?;
        self.import(std::io::BufReader::new(file), into)
    }
}

struct Exporter<W> {
    out: W,
    report: PortableReport,
}

impl<W: Write> Exporter<W> {
    fn new(out: W) -> Self {
        Self {
            out,
            report: PortableReport::default(),
        }
    }

    fn line(&mut self, line: &Line) -> Result<()> {
        serde_json::to_writer(&mut self.out, line).map_err(|e| match e.io_error_kind() {
            Some(kind) => write_error(std::io::Error::new(kind, e.to_string())),
            None => Error::invalid("export", e.to_string()),
        })?;
        self.out.write_all(b"\n").map_err(write_error)?;
        self.report.lines += 1;
        Ok(())
    }

    /// Every record under `prefix` that `keep` accepts, in key order.
    fn records<R: codec::Record, K: KvRead>(
        kv: &K,
        prefix: &[u8],
        mut keep: impl FnMut(&R) -> bool,
    ) -> Result<Vec<(Vec<u8>, R)>> {
        let mut out = Vec::new();
        kv.scan(&KeyRange::prefix(prefix), Direction::Forward, |k, v| {
            let r: R = codec::decode(v)?;
            if keep(&r) {
                out.push((k.to_vec(), r));
            }
            Ok::<_, Error>(ControlFlow::Continue(()))
        })?;
        Ok(out)
    }

    fn run<K: KvRead>(mut self, v: &View<'_, K>, top: GroupId) -> Result<PortableReport> {
        let kv = v.kv;
        let root = v.scope.root;
        self.report.group = Some(top);
        self.line(&Line::Header {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            group: top,
        })?;
        let mut ids = vec![top];
        ids.extend(v.descendants(top)?);
        let groups: HashSet<GroupId> = ids.iter().copied().collect();
        for id in ids {
            self.line(&Line::Group(std::sync::Arc::unwrap_or_clone(
                v.load_group(id)?,
            )))?;
            self.report.groups += 1;
        }
        let structure = StructureKeys::new(root);
        for (_, p) in Self::records::<PluginRecord, _>(kv, &structure.plugins(), |_| true)? {
            let module =
                kv.get(&layout::plugin_module(&p.module))?
                    .ok_or_else(|| Error::Corrupt {
                        what: "plugin module",
                        reason: format!("plugin {:?} has no stored module", p.name),
                    })?;
            let granted = Some(v.plugin_grants(&p.name)?.names());
            self.line(&Line::Plugin(PortablePlugin {
                granted,
                name: p.name,
                version: p.version,
                enabled: p.enabled,
                installed_at: p.installed_at,
                updated_at: p.updated_at,
                module: hex(&module),
            }))?;
            self.report.plugins += 1;
        }
        for (_, StoredKey { key, digest }) in
            Self::records::<StoredKey, _>(kv, &structure.api_keys(), |k| groups.contains(&k.group))?
        {
            self.line(&Line::ApiKey(PortableKey { key, digest }))?;
            self.report.api_keys += 1;
        }
        for env in [Env::Live, Env::Test] {
            let keys = TenantKeys::new(root, env);
            let mut things = HashSet::new();
            for (_, t) in
                Self::records::<Thing, _>(kv, &keys.things(), |t| groups.contains(&t.group))?
            {
                things.insert(t.id);
                self.line(&Line::Thing(InEnv { env, record: t }))?;
                self.report.things += 1;
            }
            let exported = |r: Ref| match r {
                Ref::ThingId(t) => things.contains(&t),
                Ref::GroupId(g) => groups.contains(&g),
                _ => false,
            };
            let kept = |c: &Connection| groups.contains(&c.group) && c.kind != SESSION;
            for (_, c) in Self::records::<Connection, _>(kv, &keys.connections(), kept)? {
                if !(exported(c.from) && exported(c.to)) {
                    self.report.connections_left_out += 1;
                    continue;
                }
                self.line(&Line::Connection(InEnv { env, record: c }))?;
                self.report.connections += 1;
            }
            let mut vector = Vec::new();
            for (_, k) in Self::records::<Knowledge, _>(kv, &keys.all_knowledge(), |k| {
                groups.contains(&k.group)
            })? {
                let bytes = kv.get(&keys.vector(k.group, k.id))?.unwrap_or_default();
                decode_vector(&bytes, &mut vector)?;
                let record = PortableKnowledge {
                    knowledge: k,
                    vector: vector.iter().map(|x| f64::from(*x)).collect(),
                };
                self.line(&Line::Knowledge(InEnv { env, record }))?;
                self.report.knowledge += 1;
            }
            for (_, e) in
                Self::records::<Event, _>(kv, &keys.all_events(), |e| groups.contains(&e.group))?
            {
                let record = PortableEvent {
                    id: e.id,
                    kind: e.kind,
                    actor: e.actor,
                    group: e.group,
                    target: e.target,
                    metadata: e.metadata,
                };
                self.line(&Line::Event(InEnv { env, record }))?;
                self.report.events += 1;
            }
        }
        self.out.flush().map_err(write_error)?;
        Ok(self.report)
    }
}

/// The head of an export, read and checked line by line: everything before its first
/// record of an environment (groups, plugins, API keys).
struct Head {
    top: GroupId,
    groups: Vec<Group>,
    plugins: Vec<PortablePlugin>,
    keys: Vec<PortableKey>,
}

/// The records of an export after its head, read one line at a time while they are
/// restored: an import holds one line in memory, not the export.
struct Records<B> {
    input: std::io::Lines<B>,
    /// Lines read so far.
    n: u64,
    /// A record read but not taken yet.
    next: Option<Line>,
}

fn bad_line(n: u64, reason: impl Into<String>) -> Error {
    Error::InvalidField {
        field: format!("line {n}"),
        reason: reason.into(),
    }
}

/// The next line of `input` that is not blank, and its number; `None` at the end.
fn next_line(
    input: &mut impl Iterator<Item = std::io::Result<String>>,
    n: &mut u64,
) -> Result<Option<Line>> {
    for text in input {
        *n += 1;
        let text = text.map_err(|source| Error::Io {
            action: "cannot read the export from",
            path: "the input".into(),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        return serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| bad_line(*n, e.to_string()));
    }
    Ok(None)
}

impl<B: BufRead> Records<B> {
    /// The environment of the next record; `None` at the end of the export.
    fn peek_env(&mut self) -> Result<Option<Env>> {
        if self.next.is_none() {
            self.next = next_line(&mut self.input, &mut self.n)?;
            if let Some(line) = &self.next
                && line.env().is_none()
            {
                return Err(bad_line(
                    self.n,
                    "a header, group, plugin or API key after the first record: an export \
                     lists those first",
                ));
            }
        }
        Ok(self.next.as_ref().and_then(Line::env))
    }

    /// The next record, if it is of `env`.
    fn next_in(&mut self, env: Env) -> Result<Option<Line>> {
        Ok(if self.peek_env()? == Some(env) {
            self.next.take()
        } else {
            None
        })
    }
}

/// Reads and checks the head of an export; its records follow in the [`Records`].
fn parse_head<B: BufRead>(input: B) -> Result<(Head, Records<B>)> {
    let mut lines = input.lines();
    let mut n = 0u64;
    let Some(first) = next_line(&mut lines, &mut n)? else {
        return Err(bad_line(1, "the export is empty"));
    };
    let Line::Header {
        format,
        version,
        group,
    } = first
    else {
        return Err(bad_line(n, "the first line must be the export's header"));
    };
    if format != EXPORT_FORMAT {
        return Err(bad_line(
            n,
            format!("format {format:?} is not {EXPORT_FORMAT:?}"),
        ));
    }
    if version == 1 {
        return Err(bad_line(
            n,
            "export version 1 was written by a pre-release build, which kept Rust's \
             names; export the data again with this build",
        ));
    }
    if version != EXPORT_VERSION {
        return Err(bad_line(
            n,
            format!(
                "export version {version} is not supported (this build reads {EXPORT_VERSION})"
            ),
        ));
    }
    let mut head = Head {
        top: group,
        groups: Vec::new(),
        plugins: Vec::new(),
        keys: Vec::new(),
    };
    let records_first = loop {
        let Some(line) = next_line(&mut lines, &mut n)? else {
            break None;
        };
        match line {
            Line::Header { .. } => return Err(bad_line(n, "a second header")),
            Line::Group(g) => {
                let known = g.id == head.top && head.groups.is_empty()
                    || g.parent
                        .is_some_and(|parent| head.groups.iter().any(|x| x.id == parent));
                if !known {
                    return Err(bad_line(
                        n,
                        format!(
                            "group {} comes before its parent or outside the exported group",
                            g.id
                        ),
                    ));
                }
                head.groups.push(g);
            }
            Line::Plugin(plugin) => head.plugins.push(plugin),
            Line::ApiKey(k) => head.keys.push(k),
            record => break Some(record),
        }
    };
    Ok((
        head,
        Records {
            input: lines,
            n,
            next: records_first,
        },
    ))
}

impl Admin<'_> {
    /// Restores an export written by [`Engine::export`] in one transaction, keeping every
    /// id, into a new tenant, below an existing group, or (records only) into the groups
    /// of an existing tenant (see the module docs of `portable.rs`). Refuses, changing
    /// nothing, an export of another format or version, a malformed line (the error names
    /// it), and any id, slug, email or plugin type that already exists where it would go.
    ///
    /// The records are read from `input` while they are restored, one line at a time, so
    /// an import's memory does not grow with the export (the transaction's own writes
    /// aside); the write transaction is open while `input` is read.
    pub fn import(&self, input: impl BufRead, into: ImportInto) -> Result<PortableReport> {
        let engine = self.engine;
        let (mut p, mut records) = parse_head(input)?;
        let with_groups = !matches!(into, ImportInto::Existing(_));
        if with_groups && p.groups.first().map(|g| g.id) != Some(p.top) {
            return Err(bad_line(
                records.n,
                format!("the export has no record of its group {}", p.top),
            ));
        }
        let has_structure = !(p.groups.is_empty() && p.plugins.is_empty() && p.keys.is_empty());
        if !with_groups && has_structure {
            return Err(Error::invalid(
                "into",
                "an import into existing groups takes records only (things, connections, \
                 knowledge, events): no group, plugin or API-key lines",
            ));
        }
        // Plugins compile outside the transaction: the slow part.
        let mut compiled = Vec::new();
        for plugin in &p.plugins {
            let wasm = unhex(&plugin.module).ok_or_else(|| {
                Error::invalid("module", format!("plugin {:?}: not hex", plugin.name))
            })?;
            let (hash, code) = engine.compile_plugin(&wasm)?;
            compiled.push((wasm, hash, code));
        }
        let root = match into {
            ImportInto::NewTenant => {
                p.groups[0].parent = None;
                p.top
            }
            ImportInto::Under(parent) => {
                p.groups[0].parent = Some(parent);
                engine.root_of(&*engine.store().read()?, parent)?
            }
            ImportInto::Existing(group) => {
                let root = engine.root_of(&*engine.store().read()?, group)?;
                if p.top != root {
                    return Err(bad_line(
                        1,
                        format!(
                            "the header names {}, not the tenant {root} of {group}",
                            p.top
                        ),
                    ));
                }
                root
            }
        };
        let mut report = PortableReport {
            group: Some(p.top),
            ..PortableReport::default()
        };
        let mut after = AfterTx::default();
        let r = engine.transact(|kv| {
            let scope = |env| Scope::new(Context::system(root).with_env(env), root);
            let groups: HashSet<GroupId> = if with_groups {
                engine.write_in(kv, scope(Env::Live), &mut after, |tx| {
                    tx.restore_structure(&p, &compiled, into, &mut report)
                })?;
                p.groups.iter().map(|g| g.id).collect()
            } else {
                engine.write_in(kv, scope(Env::Live), &mut after, |tx| {
                    // People and memberships may arrive.
                    tx.access_changed();
                    Ok(tx
                        .view()
                        .descendants(root)?
                        .into_iter()
                        .chain([root])
                        .collect())
                })?
            };
            // Each run of records of one environment in that environment's keys.
            while let Some(env) = records.peek_env()? {
                engine.write_in(kv, scope(env), &mut after, |tx| {
                    tx.restore_data(&mut records, env, &groups, !with_groups, &mut report)
                })?;
            }
            for env in [Env::Live, Env::Test] {
                // Usage is counted afresh from the records, now all in place.
                engine.write_in(kv, scope(env), &mut after, |tx| tx.recount_running_totals())?;
            }
            Ok(())
        });
        engine.finish(after, r.is_ok());
        report.lines = records.n;
        r.map(|()| report)
    }
}

impl Tx<'_, '_> {
    fn restore_structure(
        &mut self,
        p: &Head,
        compiled: &[(
            Vec<u8>,
            crate::plugins::ModuleHash,
            crate::plugins::Compiled,
        )],
        into: ImportInto,
        report: &mut PortableReport,
    ) -> Result<()> {
        for g in &p.groups {
            if self.kv.contains(&layout::group_root(g.id))? {
                return Err(Error::invalid(
                    "group",
                    format!("group {} already exists", g.id),
                ));
            }
            crate::metering::plans::refuse_inert(&g.properties)?;
            let g = Group {
                properties: crate::dimensions::groups::check_properties(g.properties.clone())?,
                name: crate::base::validate::name("name", &g.name)?,
                ..g.clone()
            };
            crate::dimensions::groups::check_slug(&g.slug)?;
            match g.parent {
                None => self.link_root(&g)?,
                Some(parent) => self.link_child(parent, &g)?,
            }
            self.store_group(&g)?;
            self.observe_imported(g.id)?;
            report.groups += 1;
        }
        if let ImportInto::Under(parent) = into {
            // The parent's tenant must allow one more level for the deepest imported group.
            let parent_group = self.view().load_group(parent)?;
            let depth = self.view().ancestors(&parent_group)?.len() + 1;
            let deepest = p
                .groups
                .iter()
                .map(|g| chain_len(&p.groups, g))
                .max()
                .unwrap_or(1);
            if depth + deepest > crate::records::group::MAX_DEPTH {
                return Err(Error::invalid(
                    "parent",
                    format!(
                        "groups nest at most {} deep",
                        crate::records::group::MAX_DEPTH
                    ),
                ));
            }
        }
        for (plugin, (wasm, hash, code)) in p.plugins.iter().zip(compiled) {
            match self.plugin_record(&plugin.name)? {
                Some(existing) if existing.module == *hash => continue,
                Some(_) => {
                    return Err(Error::PluginConflict {
                        plugin: plugin.name.clone(),
                        reason: "the tenant has another version of it installed".into(),
                    });
                }
                None => {}
            }
            let record = PluginRecord {
                name: plugin.name.clone(),
                version: plugin.version.clone(),
                module: *hash,
                enabled: plugin.enabled,
                manifest: crate::plugins::manifest_json(&code.manifest)?,
                installed_at: plugin.installed_at,
                updated_at: plugin.updated_at,
            };
            if record.name != code.manifest.name {
                return Err(Error::invalid(
                    "plugin",
                    format!(
                        "{:?} is the module of plugin {:?}",
                        plugin.name, code.manifest.name
                    ),
                ));
            }
            self.store_plugin(&record, wasm, code, None)?;
            if let Some(granted) = &plugin.granted {
                let granted = crate::base::permission::PermissionSet::parse(granted)?
                    .intersection(crate::plugins::asked(&code.manifest)?);
                self.store_grants(&record.name, granted)?;
            }
            report.plugins += 1;
        }
        let groups: HashSet<GroupId> = p.groups.iter().map(|g| g.id).collect();
        for PortableKey { key, digest } in &p.keys {
            let record_key = self.scope.structure.api_key(key.id);
            let digest_key = layout::secret_digest(SecretSection::ApiKey, digest);
            if self.kv.contains(&record_key)? || self.kv.contains(&digest_key)? {
                return Err(Error::invalid(
                    "api_key",
                    format!("API key {} already exists", key.id),
                ));
            }
            if !groups.contains(&key.group) {
                return Err(Error::invalid(
                    "api_key",
                    format!("API key {} is outside the export", key.id),
                ));
            }
            self.put(digest_key, layout::key_locator(self.scope.root, key.id))?;
            self.put_record(
                &record_key,
                &StoredKey {
                    key: key.clone(),
                    digest: *digest,
                },
            )?;
            self.observe_imported(key.id)?;
            report.api_keys += 1;
        }
        self.access_changed();
        Ok(())
    }

    /// Restores the records of `records` up to the first of another environment than
    /// `env` (this transaction's). `appending` (records loaded into existing groups): each
    /// event must be newer than every event of its group, since the trail grows in id
    /// order (a subscriber's cursor is an event id).
    fn restore_data(
        &mut self,
        records: &mut Records<impl BufRead>,
        env: Env,
        groups: &HashSet<GroupId>,
        appending: bool,
        report: &mut PortableReport,
    ) -> Result<()> {
        let mut newest_in: std::collections::HashMap<GroupId, Option<EventId>> =
            std::collections::HashMap::new();
        let keys = self.scope.tenant.clone();
        let outside = |what: &str, id: &dyn std::fmt::Display, group: GroupId| {
            Error::invalid(
                what,
                format!("{id} is in group {group}, not one of the groups this import writes in"),
            )
        };
        while let Some(line) = records.next_in(env)? {
            match &line {
                Line::Thing(InEnv { record: t, .. }) => {
                    if !groups.contains(&t.group) {
                        return Err(outside("thing", &t.id, t.group));
                    }
                    if self.kv.contains(&keys.thing(t.id))? {
                        return Err(Error::invalid("thing", format!("{} already exists", t.id)));
                    }
                    crate::base::validate::type_name("type", &t.kind)?;
                    let t = Thing {
                        name: crate::base::validate::name("name", &t.name)?,
                        properties: crate::base::validate::map_value(
                            "properties",
                            t.properties.clone(),
                        )?,
                        ..t.clone()
                    };
                    self.store_thing(None, &t)?;
                    if t.status != ThingStatus::Deleted {
                        let counter = if t.kind == PERSON {
                            self.claim_email(&email_of(&t)?, t.id)?;
                            Counter::People
                        } else {
                            Counter::Things
                        };
                        self.count_unmetered(t.group, counter, 1);
                    }
                    self.observe_imported(t.id)?;
                    report.things += 1;
                }
                Line::Connection(InEnv { record: c, .. }) => {
                    if !groups.contains(&c.group) {
                        return Err(outside("connection", &c.id, c.group));
                    }
                    if self.kv.contains(&keys.connection(c.id))? {
                        return Err(Error::invalid(
                            "connection",
                            format!("{} already exists", c.id),
                        ));
                    }
                    for end in [c.from, c.to] {
                        if !self.holds(end, groups)? {
                            return Err(Error::invalid(
                                "connection",
                                format!("{}: {end} is not a thing or group of the export", c.id),
                            ));
                        }
                    }
                    crate::base::validate::type_name("type", &c.kind)?;
                    let c = Connection {
                        metadata: crate::base::validate::map_value("metadata", c.metadata.clone())?,
                        ..c.clone()
                    };
                    let bytes = codec::encode(&c)?;
                    self.put(keys.connection(c.id), bytes.as_slice())?;
                    for edge in copy_keys(&keys, &c) {
                        self.put(edge, bytes.as_slice())?;
                    }
                    self.count_unmetered(c.group, Counter::Connections, 1);
                    self.observe_imported(c.id)?;
                    report.connections += 1;
                }
                Line::Knowledge(InEnv { record, .. }) => {
                    let k = &record.knowledge;
                    if !groups.contains(&k.group) {
                        return Err(outside("knowledge", &k.id, k.group));
                    }
                    if self.kv.contains(&keys.knowledge(k.id))? {
                        return Err(Error::invalid(
                            "knowledge",
                            format!("{} already exists", k.id),
                        ));
                    }
                    let vector: Vec<f32> = record.vector.iter().map(|x| *x as f32).collect();
                    crate::knowledge::chunks::check_dims(&vector, self.view().stored_dims()?)?;
                    let k = Knowledge {
                        labels: crate::knowledge::chunks::check_labels(&k.labels)?,
                        metadata: crate::base::validate::map_value("metadata", k.metadata.clone())?,
                        ..k.clone()
                    };
                    self.put_record(&keys.knowledge(k.id), &k)?;
                    self.put(keys.vector(k.group, k.id), encode_vector(&vector))?;
                    for label in &k.labels {
                        self.put(
                            layout::with_id(&keys.postings(k.group, label), k.id.to_u128()),
                            [],
                        )?;
                    }
                    self.index_knowledge_text(&k, true)?;
                    self.observe_imported(k.id)?;
                    report.knowledge += 1;
                }
                Line::Event(InEnv { record: e, .. }) => {
                    if !groups.contains(&e.group) {
                        return Err(outside("event", &e.id, e.group));
                    }
                    if appending {
                        let newest = match newest_in.get(&e.group) {
                            Some(id) => *id,
                            None => self.newest_event(e.group)?,
                        };
                        if let Some(newest) = newest.filter(|n| n.to_u128() >= e.id.to_u128()) {
                            return Err(Error::invalid(
                                "event",
                                format!(
                                    "{} is not newer than {newest}, the newest event of group \
                                     {}: a group's trail only grows, in id order, so older \
                                     history travels as the records' own times, or into new \
                                     groups (an import below a group)",
                                    e.id, e.group
                                ),
                            ));
                        }
                        newest_in.insert(e.group, Some(e.id));
                    }
                    let event = Event {
                        id: e.id,
                        seq: self.seq()?,
                        kind: e.kind.clone(),
                        actor: e.actor,
                        group: e.group,
                        target: e.target,
                        metadata: crate::base::validate::map_value("metadata", e.metadata.clone())?,
                    };
                    crate::base::validate::type_name("type", &event.kind)?;
                    let key = keys.event(e.group, e.id);
                    if self.kv.contains(&key)? {
                        return Err(Error::invalid("event", format!("{} already exists", e.id)));
                    }
                    self.put_record(&key, &event)?;
                    for index in crate::records::event::index_keys(&keys, &event) {
                        self.put(index, [])?;
                    }
                    self.count_unmetered(e.group, Counter::Events, 1);
                    self.observe_imported(e.id)?;
                    report.events += 1;
                }
                Line::Header { .. } | Line::Group(_) | Line::Plugin(_) | Line::ApiKey(_) => {}
            }
        }
        Ok(())
    }

    /// The newest event of `group` in this transaction's environment, if any.
    fn newest_event(&self, group: GroupId) -> Result<Option<EventId>> {
        let mut newest = None;
        self.kv.scan(
            &KeyRange::prefix(&self.scope.tenant.events(group)),
            Direction::Reverse,
            |k, _| {
                newest = Some(EventId::from_u128(layout::trailing_id(k)?));
                Ok::<_, Error>(ControlFlow::Break(()))
            },
        )?;
        Ok(newest)
    }

    /// Whether `r` names a group of the export, or a thing (of this environment) in one:
    /// an import never reaches outside the subtree it brings, so it cannot make anyone a
    /// member of, or connect anything to, a group it did not bring.
    fn holds(&self, r: Ref, groups: &HashSet<GroupId>) -> Result<bool> {
        Ok(match r {
            Ref::ThingId(t) => self
                .view()
                .get_record::<Thing>(&self.scope.tenant.thing(t))?
                .is_some_and(|t| groups.contains(&t.group)),
            Ref::GroupId(g) => groups.contains(&g),
            _ => false,
        })
    }

    /// Lets later ids sort after an imported one, once it is known to be sane: an id
    /// dated more than [`MAX_IMPORT_SKEW_MS`] after the engine's clock is refused (every
    /// later id of every tenant would carry its time, and the end of the id space is
    /// near).
    fn observe_imported(&self, id: impl Into<Ref>) -> Result<()> {
        let id = id.into();
        let dated = u64::try_from(id.to_u128() >> 80).unwrap_or(u64::MAX);
        let now = self.now().as_millis();
        if dated > now.saturating_add(MAX_IMPORT_SKEW_MS) {
            return Err(Error::invalid(
                "id",
                format!(
                    "{id} is dated {dated} ms since 1970, more than {MAX_IMPORT_SKEW_MS} ms after the clock ({now})"
                ),
            ));
        }
        self.engine.ids().observe(id.to_u128());
        Ok(())
    }
}

/// How many groups of the export, counting `g`, lead from the exported group down to `g`.
fn chain_len(groups: &[Group], g: &Group) -> usize {
    let mut n = 1;
    let mut at = g.parent;
    while let Some(p) = at {
        match groups.iter().find(|x| x.id == p) {
            Some(pg) if n <= groups.len() => {
                n += 1;
                at = pg.parent;
            }
            _ => break,
        }
    }
    n
}
