//! The key layout: every key the engine writes is built here, and nowhere else.
//!
//! ```text
//! M i                                         -> highest id issued (u128 BE) engine meta
//! M x <type> <path>                           -> ()                         declared indexes
//! M s <type> <path>                           -> ()                         declared text properties
//! M X                                         -> u64 big-endian             version of those two
//! M u                                         -> 1                          usage counted
//! M d                                         -> 1                          domains indexed
//! M n                                         -> 1                          plugin principals indexed
//! M T                                         -> 1                          later indexes built
//! M W                                         -> 2 (TEXT_LAYOUT)            text index layout
//! M a                                         -> u64 big-endian             access version
//! M k                                         -> u64 big-endian             (older files; unread)
//! M w <module:32>                             -> WASM bytes                 plugin modules
//! M c <module:32>                             -> compiled code (derived)    plugin code cache
//! D g <group:16>                              -> root group id (16 bytes)   directory
//! D r <slug>                                  -> root group id              top-level slugs
//! D k <digest:32>                             -> root id, key id            API keys by hash
//! D s <digest:32>                             -> root id, env, session id   sessions by hash
//! D t <digest:32>                             -> OneTimeToken record        verify / magic link
//! D f <digest:32>                             -> PendingSignIn record       awaiting a 2nd factor
//! D p <module:32> <root:16>                   -> ()                         tenants of a module
//! D d <domain>                                -> root group id              tenants' domains
//! T <root:16> 0x00 g <group:16>               -> Group record               tenant structure
//! T <root:16> 0x00 c <parent:16> <child:16>   -> ()                         children
//! T <root:16> 0x00 s <parent:16> <slug>       -> child group id             sibling slugs
//! T <root:16> 0x00 k <key:16>                 -> ApiKey record              API keys
//! T <root:16> 0x00 P <plugin>                 -> Plugin record              installed plugins
//! T <root:16> 0x00 G <plugin>                 -> PluginGrants record        what a plugin may do
//! T <root:16> 0x00 I <plugin id:16>           -> plugin name                plugin principals
//! T <root:16> 0x00 Q <type>                   -> plugin name                plugin-defined types
//! T <root:16> 0x00 x <type> <path>            -> ()                         the tenant's own indexes
//! T <root:16> 0x00 i                          -> highest id issued (u128 BE) shared stores only
//! T <root:16> <env> t <thing:16>              -> Thing record
//! T <root:16> <env> y <group:16> <type> <thing:16>            -> Thing record (copy)
//! T <root:16> <env> p <group:16> <type> <path> <value> <thing:16> -> Thing record (copy)
//! T <root:16> <env> Y <group:16> <thing:16>   -> ()                         things by group
//! T <root:16> <env> U <group:16> <updated:8> <thing:16> -> ()               by last change
//! T <root:16> <env> m <email>                 -> person thing id            emails
//! T <root:16> <env> w <person:16>             -> Password record (argon2id PHC string)
//! T <root:16> <env> f <person:16>             -> TwoFactor record (TOTP secret, hashed
//!                                                recovery codes)
//! T <root:16> <env> x <provider> <subject>    -> person thing id            external identities
//! T <root:16> <env> a <person:16>             -> account id (16 bytes)      the person's account
//! T <root:16> <env> c <connection:16>         -> Connection record
//! T <root:16> <env> o <from:17> <type> <to:17> <connection:16> -> Connection record (copy)
//! T <root:16> <env> i <to:17> <type> <from:17> <connection:16> -> Connection record (copy)
//! T <root:16> <env> C <group:16> <type> <created:8> <connection:16> -> Connection record (copy)
//! T <root:16> <env> E <group:16> <event:16>   -> Event record               events by group
//! T <root:16> <env> K <group:16> <type> <event:16>            -> ()         by type
//! T <root:16> <env> A <group:16> <actor> <event:16>           -> ()         by actor
//! T <root:16> <env> G <group:16> <target:17> <event:16>       -> ()         by target
//! T <root:16> <env> n <group:16> <counter:1>  -> u64 big-endian             counts
//! T <root:16> <env> u <group:16> <resource:1> <period:4> -> u64 big-endian  usage (subtree)
//! T <root:16> <env> q <group:16> <resource:1> <period:4> -> ()    quota_exceeded logged
//! T <root:16> <env> r <group:16> <currency> <event:16> -> 3 x i64 BE     revenue index
//! T <root:16> <env> k <knowledge:16>          -> Knowledge record
//! T <root:16> <env> v <group:16> <knowledge:16> -> f32 little-endian x dims   vectors
//! T <root:16> <env> h <group:16> <label> <chunk:4> -> bytes of an HNSW graph (derived;
//!                                                 label "" is the group's whole graph)
//! T <root:16> <env> l <group:16> <label> <knowledge:16> -> ()   chunks by label
//! T <root:16> <env> L <group:16> <label> <knowledge:16> -> ()   labels added by a relabel
//!                                                 since the label's graph was built
//! T <root:16> <env> z <group:16> <knowledge:16> -> ()    deleted since the graph was built
//! T <root:16> <env> W <group:16> <corpus:1>    -> segment list        text index directory
//! T <root:16> <env> W <group:16> <corpus:1> <segment:8> <word> -> a block of words from
//!                                                 this one on, each with the documents
//!                                                 holding it in that segment
//! ```
//!
//! `<env>` is `0x01` for live and `0x02` for test; `0x00` is the env-independent structure
//! of the tenant. A `<digest>` is the SHA-256 of a secret (API key, session token, one-time
//! token): secrets themselves are never stored. A `<module>` is the SHA-256 of a plugin's WASM bytes. `<type>`, `<slug>` and `<email>` are escaped strings
//! ([`one_storage::keys`]); a `:17` reference is a kind byte and 16 id bytes; an actor is
//! `0x00` (system), `0x01` and a thing id, `0x02` and an API key id, or `0x03` and a
//! plugin id. An indexed `<value>` is a type byte and an
//! order-preserving body: `0x10` + `0x00`/`0x01` for booleans, `0x20` + the ordered f64 for
//! numbers (integers too), `0x30` + an escaped string. Ids are big-endian, so within any prefix,
//! entries sort by creation time. A tenant (a root group and all of its descendants) is the
//! single range `T <root>`.
//!
//! The type index, property indexes and edge indexes are covering: each entry holds the
//! same bytes as the primary record, written in the same transaction, so a list or a hop
//! is one range scan. Deleted things have no index entries.

use one_storage::keys::{KeyBuf, KeyReader};

use crate::base::clock::Timestamp;
use crate::base::context::{Env, Principal};
use crate::base::id::{ConnectionId, EventId, GroupId, KeyId, KnowledgeId, PluginId, Ref, ThingId};
use crate::base::resource::Resource;
use crate::{Error, Result};

const DIRECTORY: u8 = b'D';
const META: u8 = b'M';
const TENANT: u8 = b'T';
const STRUCTURE: u8 = 0x00;

/// Counters kept per group and environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Counter {
    Things = 1,
    Connections = 2,
    Events = 3,
    People = 4,
    /// Things (people included) in the text index; deleted ones are not.
    ThingTexts = 5,
    /// Words of those things' text.
    ThingWords = 6,
    /// Knowledge chunks in the text index.
    KnowledgeTexts = 7,
    /// Words of those chunks' text.
    KnowledgeWords = 8,
}

/// The text index's collections of documents, each searched on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Corpus {
    /// Things: their names and declared text properties.
    Things = 1,
    /// Knowledge chunks: their text.
    Knowledge = 2,
}

impl Corpus {
    /// The counters of this corpus's documents and of their words.
    pub(crate) fn counters(self) -> (Counter, Counter) {
        match self {
            Corpus::Things => (Counter::ThingTexts, Counter::ThingWords),
            Corpus::Knowledge => (Counter::KnowledgeTexts, Counter::KnowledgeWords),
        }
    }
}

fn env_byte(env: Env) -> u8 {
    match env {
        Env::Live => 0x01,
        Env::Test => 0x02,
    }
}

/// `M i`: the highest id issued by a committed transaction, so ids keep increasing across
/// restarts even if the clock steps back.
pub(crate) fn last_id() -> Vec<u8> {
    vec![META, b'i']
}

/// `M a`: the access version, counted up by every commit that changes access data on a
/// shared store, so each instance knows when its caches are out of date.
pub(crate) fn access_version() -> Vec<u8> {
    vec![META, b'a']
}

/// `T <root> 0x00 i`, for the partition `T <root>` of a tenant (`None` for any other):
/// on a shared store, the highest id issued by a committed transaction that held the
/// tenant's turn, so the tenant's ids grow with its commit order whichever instance made
/// them.
pub(crate) fn tenant_last_id(partition: &[u8]) -> Option<Vec<u8>> {
    (partition.len() == 17 && partition[0] == TENANT)
        .then(|| [partition, &[STRUCTURE, b'i']].concat())
}

/// How many leading bytes of `key` name its partition on a shared backend
/// ([`one_storage::StoreOptions::partition`]): its tenant (`T <root:16>`) for a tenant's
/// key, its section byte for the directory and the engine's meta keys.
pub fn tenant_partition(key: &[u8]) -> usize {
    match key.first() {
        Some(&TENANT) => key.len().min(17),
        Some(_) => 1,
        None => 0,
    }
}

/// `M x`: every declared property index.
pub(crate) fn index_defs() -> Vec<u8> {
    vec![META, b'x']
}

/// `M x <type>`: the property indexes declared for one thing type.
pub(crate) fn index_defs_of(kind: &str) -> Vec<u8> {
    KeyBuf::from_prefix(&index_defs()).str(kind).finish()
}

/// `M x <type> <path>`: one declared property index.
pub(crate) fn index_def(kind: &str, path: &str) -> Vec<u8> {
    KeyBuf::from_prefix(&index_defs_of(kind)).str(path).finish()
}

/// `M X`: the version of the declared property indexes and text properties (`M x`,
/// `M s`, and the tenants' `x`), counted up by every transaction that changes them.
pub(crate) fn declarations_version() -> Vec<u8> {
    vec![META, b'X']
}

/// `M s`: every declared text property.
pub(crate) fn text_defs() -> Vec<u8> {
    vec![META, b's']
}

/// `M s <type> <path>`: one declared text property.
pub(crate) fn text_def(kind: &str, path: &str) -> Vec<u8> {
    KeyBuf::from_prefix(&text_defs())
        .str(kind)
        .str(path)
        .finish()
}

/// `M T`: the indexes added after the first format (text, the groups' lists of things
/// and connections) hold every record; files written before them get them built once,
/// when opened (`records/upgrade.rs`).
pub(crate) fn later_indexes() -> Vec<u8> {
    vec![META, b'T']
}

/// `M W`: the layout of the text index's segments (`records/text_index.rs`), one byte:
/// [`TEXT_LAYOUT`]. A file whose text index has another (or predates segments) has it
/// rebuilt once, when opened for writing (`records/upgrade.rs`).
pub(crate) fn text_layout() -> Vec<u8> {
    vec![META, b'W']
}

/// The layout of the text index this engine writes: 2, entries of one width per word's
/// value ([`text_layout`]; 1 was 25 bytes an entry).
pub(crate) const TEXT_LAYOUT: u8 = 2;

/// `M u`: the running totals of usage were counted from the records (format 1 files
/// written before usage existed get them counted once, when opened).
pub(crate) fn usage_counted() -> Vec<u8> {
    vec![META, b'u']
}

/// `M n`: the installed plugins' principals were indexed (files written before plugins
/// had principals get the index once, when opened for writing).
pub(crate) fn plugin_principals_indexed() -> Vec<u8> {
    vec![META, b'n']
}

/// `M d`: the tenants' domains were indexed (files written before the index get it
/// once, when opened for writing).
pub(crate) fn domains_indexed() -> Vec<u8> {
    vec![META, b'd']
}

/// `M w <module>`: a plugin module's WASM bytes, shared by every tenant that installed it.
pub(crate) fn plugin_module(hash: &[u8; 32]) -> Vec<u8> {
    KeyBuf::new().u8(META).u8(b'w').raw(hash).finish()
}

/// `M w`: every stored plugin module.
pub(crate) fn plugin_modules() -> Vec<u8> {
    vec![META, b'w']
}

/// `M c <module>`: a plugin module compiled by the runtime (derived: dropped and made
/// again whenever the runtime cannot use it).
pub(crate) fn plugin_code(hash: &[u8; 32]) -> Vec<u8> {
    KeyBuf::new().u8(META).u8(b'c').raw(hash).finish()
}

/// `D p <module>`: the tenants that installed a module.
pub(crate) fn module_users(hash: &[u8; 32]) -> Vec<u8> {
    KeyBuf::new().u8(DIRECTORY).u8(b'p').raw(hash).finish()
}

/// `D p <module> <root>`: `root` installed the module.
pub(crate) fn module_user(hash: &[u8; 32], root: GroupId) -> Vec<u8> {
    KeyBuf::from_prefix(&module_users(hash))
        .raw(&root.to_be_bytes())
        .finish()
}

/// `D g <group>`: where a group's tenant is found.
pub(crate) fn group_root(group: GroupId) -> Vec<u8> {
    KeyBuf::new()
        .u8(DIRECTORY)
        .u8(b'g')
        .raw(&group.to_be_bytes())
        .finish()
}

/// `D g`: the whole group directory.
pub(crate) fn group_directory() -> Vec<u8> {
    vec![DIRECTORY, b'g']
}

/// `D r <slug>`: top-level slugs.
pub(crate) fn root_slug(slug: &str) -> Vec<u8> {
    KeyBuf::new().u8(DIRECTORY).u8(b'r').str(slug).finish()
}

/// `D <section> <digest>`: where the holder of a secret with this SHA-256 is found.
pub(crate) fn secret_digest(section: SecretSection, digest: &[u8; 32]) -> Vec<u8> {
    KeyBuf::new()
        .u8(DIRECTORY)
        .u8(section as u8)
        .raw(digest)
        .finish()
}

/// The directory sections indexed by a secret's digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum SecretSection {
    ApiKey = b'k',
    Session = b's',
    OneTime = b't',
    /// Sign-ins waiting for their second factor.
    SecondFactor = b'f',
}

/// `D <section>`: every holder of one kind of secret.
pub(crate) fn secret_digests(section: SecretSection) -> Vec<u8> {
    vec![DIRECTORY, section as u8]
}

/// `D p`: every (module, tenant) pair of installed plugins.
pub(crate) fn all_module_users() -> Vec<u8> {
    vec![DIRECTORY, b'p']
}

/// `D r`: every top-level slug.
pub(crate) fn root_slugs() -> Vec<u8> {
    vec![DIRECTORY, b'r']
}

/// `D d <domain>`: the tenant whose domain (normalised) this is.
pub(crate) fn tenant_domain(domain: &str) -> Vec<u8> {
    KeyBuf::new().u8(DIRECTORY).u8(b'd').str(domain).finish()
}

/// `D d`: every tenant's domain.
pub(crate) fn tenant_domains() -> Vec<u8> {
    vec![DIRECTORY, b'd']
}

/// The keys of one account (`D a <account>`): its record, password, second factor and
/// the people it signs in as, one per tenant and environment.
pub(crate) struct AccountKeys {
    prefix: [u8; 18],
}

impl AccountKeys {
    pub(crate) fn new(account: u128) -> Self {
        let mut prefix = [0u8; 18];
        prefix[0] = DIRECTORY;
        prefix[1] = b'a';
        prefix[2..].copy_from_slice(&account.to_be_bytes());
        Self { prefix }
    }

    /// The account record; also the prefix of every key of the account.
    pub(crate) fn record(&self) -> Vec<u8> {
        self.prefix.to_vec()
    }

    pub(crate) fn password(&self) -> Vec<u8> {
        KeyBuf::from_prefix(&self.prefix).u8(b'w').finish()
    }

    pub(crate) fn two_factor(&self) -> Vec<u8> {
        KeyBuf::from_prefix(&self.prefix).u8(b'f').finish()
    }

    pub(crate) fn person_in(&self, root: GroupId, env: Env) -> Vec<u8> {
        KeyBuf::from_prefix(&self.prefix)
            .u8(b'l')
            .raw(&root.to_be_bytes())
            .u8(env_byte(env))
            .finish()
    }

    /// `l`: every person of the account.
    pub(crate) fn people(&self) -> Vec<u8> {
        KeyBuf::from_prefix(&self.prefix).u8(b'l').finish()
    }

    /// An external identity of the account (the entry that `D x` mirrors).
    pub(crate) fn identity(&self, provider: &str, subject: &str) -> Vec<u8> {
        KeyBuf::from_prefix(&self.prefix)
            .u8(b'x')
            .str(provider)
            .str(subject)
            .finish()
    }

    /// `x`: every external identity of the account.
    pub(crate) fn identities(&self) -> Vec<u8> {
        KeyBuf::from_prefix(&self.prefix).u8(b'x').finish()
    }
}

/// `D a`: every account and everything it holds.
pub(crate) fn all_accounts() -> Vec<u8> {
    vec![DIRECTORY, b'a']
}

/// `D x <provider> <subject>`: the account an external identity signs in as.
pub(crate) fn account_identity(provider: &str, subject: &str) -> Vec<u8> {
    KeyBuf::new()
        .u8(DIRECTORY)
        .u8(b'x')
        .str(provider)
        .str(subject)
        .finish()
}

/// `D x`: every account's external identities.
pub(crate) fn account_identities() -> Vec<u8> {
    vec![DIRECTORY, b'x']
}

/// `D e`: every account's email.
pub(crate) fn account_emails() -> Vec<u8> {
    vec![DIRECTORY, b'e']
}

/// The parts of a `D a <account> …` key: the account and what follows its id (empty for
/// the record, `w`, `f`, or `l` with a tenant and environment).
pub(crate) fn decode_account_key(key: &[u8]) -> Result<(u128, &[u8])> {
    let rest = after(key, &all_accounts(), "account key")?;
    if rest.len() < 16 {
        return Err(Error::Corrupt {
            what: "account key",
            reason: format!("{} bytes where an account id needs 16", rest.len()),
        });
    }
    Ok((decode_account_id(&rest[..16], "account key")?, &rest[16..]))
}

/// `D e <email>`: the account with this (normalised) email.
pub(crate) fn account_email(email: &str) -> Vec<u8> {
    KeyBuf::new().u8(DIRECTORY).u8(b'e').str(email).finish()
}

/// Reads an account id stored as 16 big-endian bytes.
pub(crate) fn decode_account_id(bytes: &[u8], what: &'static str) -> Result<u128> {
    let arr: [u8; 16] = bytes.try_into().map_err(|_| Error::Corrupt {
        what,
        reason: format!("expected a 16-byte account id, found {} bytes", bytes.len()),
    })?;
    Ok(u128::from_be_bytes(arr))
}

pub(crate) fn decode_group_id(bytes: &[u8], what: &'static str) -> Result<GroupId> {
    let arr: [u8; 16] = bytes.try_into().map_err(|_| Error::Corrupt {
        what,
        reason: format!("expected 16 bytes, found {}", bytes.len()),
    })?;
    Ok(GroupId::from_u128(u128::from_be_bytes(arr)))
}

/// A big-endian `u64` value (counters, usage, dimensions).
pub(crate) fn decode_u64(bytes: &[u8], what: &'static str) -> Result<u64> {
    Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| {
        Error::Corrupt {
            what,
            reason: format!("expected 8 bytes, found {}", bytes.len()),
        }
    })?))
}

pub(crate) fn decode_thing_id(bytes: &[u8], what: &'static str) -> Result<ThingId> {
    decode_group_id(bytes, what).map(|g| ThingId::from_u128(g.to_u128()))
}

/// `T`: the data of every tenant.
pub(crate) fn all_tenants() -> Vec<u8> {
    vec![TENANT]
}

/// `T <root>`: one tenant's whole range, structure and both environments.
pub(crate) fn tenant(root: GroupId) -> Vec<u8> {
    KeyBuf::new().u8(TENANT).raw(&root.to_be_bytes()).finish()
}

/// The keys of one tenant's structure: its groups, shared by both environments.
#[derive(Debug, Clone)]
pub(crate) struct StructureKeys {
    prefix: [u8; 18],
}

/// `T <root> <section>`: the 18-byte prefix of one section of a tenant.
fn tenant_prefix(root: GroupId, section: u8) -> [u8; 18] {
    let mut p = [0u8; 18];
    p[0] = TENANT;
    p[1..17].copy_from_slice(&root.to_be_bytes());
    p[17] = section;
    p
}

impl StructureKeys {
    pub(crate) fn new(root: GroupId) -> Self {
        Self {
            prefix: tenant_prefix(root, STRUCTURE),
        }
    }

    fn key(&self, tag: u8) -> KeyBuf {
        KeyBuf::from_prefix(&self.prefix).u8(tag)
    }

    pub(crate) fn group(&self, g: GroupId) -> Vec<u8> {
        self.key(b'g').raw(&g.to_be_bytes()).finish()
    }

    /// `g`: every group record of the tenant.
    pub(crate) fn groups(&self) -> Vec<u8> {
        self.key(b'g').finish()
    }

    pub(crate) fn child(&self, parent: GroupId, child: GroupId) -> Vec<u8> {
        self.key(b'c')
            .raw(&parent.to_be_bytes())
            .raw(&child.to_be_bytes())
            .finish()
    }

    pub(crate) fn children(&self, parent: GroupId) -> Vec<u8> {
        self.key(b'c').raw(&parent.to_be_bytes()).finish()
    }

    pub(crate) fn sibling_slug(&self, parent: GroupId, slug: &str) -> Vec<u8> {
        self.key(b's').raw(&parent.to_be_bytes()).str(slug).finish()
    }

    pub(crate) fn api_key(&self, key: KeyId) -> Vec<u8> {
        self.key(b'k').raw(&key.to_be_bytes()).finish()
    }

    pub(crate) fn api_keys(&self) -> Vec<u8> {
        self.key(b'k').finish()
    }

    pub(crate) fn plugin(&self, name: &str) -> Vec<u8> {
        self.key(b'P').str(name).finish()
    }

    /// `I <plugin:16>`: the name of the plugin whose principal this is.
    pub(crate) fn plugin_principal(&self, id: PluginId) -> Vec<u8> {
        self.key(b'I').raw(&id.to_be_bytes()).finish()
    }

    /// `I`: the principals of every plugin the tenant installed.
    pub(crate) fn plugin_principals(&self) -> Vec<u8> {
        self.key(b'I').finish()
    }

    /// `G <name>`: what the tenant granted one of its plugins.
    pub(crate) fn plugin_grants(&self, name: &str) -> Vec<u8> {
        self.key(b'G').str(name).finish()
    }

    /// `G`: the grants of every plugin of the tenant.
    pub(crate) fn all_plugin_grants(&self) -> Vec<u8> {
        self.key(b'G').finish()
    }

    /// `P`: every plugin the tenant installed.
    pub(crate) fn plugins(&self) -> Vec<u8> {
        self.key(b'P').finish()
    }

    /// `c`: every parent-child entry of the tenant.
    pub(crate) fn all_children(&self) -> Vec<u8> {
        self.key(b'c').finish()
    }

    /// `s`: every sibling-slug entry of the tenant.
    pub(crate) fn sibling_slugs(&self) -> Vec<u8> {
        self.key(b's').finish()
    }

    /// `Q` / `R` / `V`: every plugin-declared thing, connection or event type of the
    /// tenant.
    pub(crate) fn plugin_types(&self, of: Declared) -> Vec<u8> {
        self.key(of.tag()).finish()
    }

    /// `Q <type>` / `R <type>` / `V <type>`: which plugin declares a thing, connection or
    /// event type in this tenant.
    pub(crate) fn plugin_type(&self, of: Declared, kind: &str) -> Vec<u8> {
        self.key(of.tag()).str(kind).finish()
    }

    /// `x`: the property indexes declared for this tenant alone (by its plugins).
    pub(crate) fn index_defs(&self) -> Vec<u8> {
        self.key(b'x').finish()
    }

    /// `x <type> <path>`: one property index declared for this tenant alone.
    pub(crate) fn index_def(&self, kind: &str, path: &str) -> Vec<u8> {
        self.key(b'x').str(kind).str(path).finish()
    }
}

/// What a plugin can declare a type of in its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Declared {
    /// A thing type.
    Thing,
    /// A connection type.
    Connection,
    /// An event type.
    Event,
}

impl Declared {
    /// Every kind of declaration.
    pub(crate) const ALL: [Declared; 3] = [Declared::Thing, Declared::Connection, Declared::Event];

    fn tag(self) -> u8 {
        match self {
            Declared::Thing => b'Q',
            Declared::Connection => b'R',
            Declared::Event => b'V',
        }
    }
}

/// The keys of one tenant's data in one environment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TenantKeys {
    prefix: [u8; 18],
}

pub(crate) fn push_ref(k: KeyBuf, r: Ref) -> KeyBuf {
    k.u8(r.kind().tag()).u128(r.to_u128())
}

fn push_principal(k: KeyBuf, p: Principal) -> KeyBuf {
    match p {
        Principal::System => k.u8(0),
        Principal::Person(id) => k.u8(1).raw(&id.to_be_bytes()),
        Principal::ApiKey(id) => k.u8(2).raw(&id.to_be_bytes()),
        Principal::Plugin(id) => k.u8(3).raw(&id.to_be_bytes()),
    }
}

impl TenantKeys {
    pub(crate) fn new(root: GroupId, env: Env) -> Self {
        Self {
            prefix: tenant_prefix(root, env_byte(env)),
        }
    }

    fn key(&self, tag: u8) -> KeyBuf {
        KeyBuf::from_prefix(&self.prefix).u8(tag)
    }

    pub(crate) fn thing(&self, id: ThingId) -> Vec<u8> {
        self.key(b't').raw(&id.to_be_bytes()).finish()
    }

    pub(crate) fn things_by_type(&self, group: GroupId, kind: &str) -> Vec<u8> {
        self.key(b'y').raw(&group.to_be_bytes()).str(kind).finish()
    }

    pub(crate) fn thing_by_type(&self, group: GroupId, kind: &str, id: ThingId) -> Vec<u8> {
        KeyBuf::from_prefix(&self.things_by_type(group, kind))
            .raw(&id.to_be_bytes())
            .finish()
    }

    /// `Y <group>`: the live things of one group, of every type, by id.
    pub(crate) fn things_of_group(&self, group: GroupId) -> Vec<u8> {
        self.key(b'Y').raw(&group.to_be_bytes()).finish()
    }

    /// `U <group>`: the live things of one group by the time of their last change.
    pub(crate) fn things_by_update(&self, group: GroupId) -> Vec<u8> {
        self.key(b'U').raw(&group.to_be_bytes()).finish()
    }

    /// `Y <group> <thing>` and `U <group> <updated> <thing>`: a live thing's entries in
    /// its group's two lists.
    pub(crate) fn thing_listed(
        &self,
        group: GroupId,
        thing: ThingId,
        updated: Timestamp,
    ) -> [Vec<u8>; 2] {
        let id = thing.to_be_bytes();
        [
            KeyBuf::from_prefix(&self.things_of_group(group))
                .raw(&id)
                .finish(),
            KeyBuf::from_prefix(&self.things_by_update(group))
                .u64(updated.as_millis())
                .raw(&id)
                .finish(),
        ]
    }

    /// `Y`, then `U`: every entry of the two group lists.
    pub(crate) fn group_lists(&self) -> [Vec<u8>; 2] {
        [b'Y', b'U'].map(|tag| self.key(tag).finish())
    }

    /// `p <group> <type> <path>`: one property index of one group.
    pub(crate) fn property_index(&self, group: GroupId, kind: &str, path: &str) -> Vec<u8> {
        self.key(b'p')
            .raw(&group.to_be_bytes())
            .str(kind)
            .str(path)
            .finish()
    }

    /// `p`: every property index entry of the tenant in this environment.
    pub(crate) fn property_indexes(&self) -> Vec<u8> {
        self.key(b'p').finish()
    }

    /// `y`: every type-index entry of the tenant in this environment.
    pub(crate) fn type_indexes(&self) -> Vec<u8> {
        self.key(b'y').finish()
    }

    /// `C <group>`: the connections of one group, by type, then creation time.
    pub(crate) fn group_connections(&self, group: GroupId) -> Vec<u8> {
        self.key(b'C').raw(&group.to_be_bytes()).finish()
    }

    /// `C <group> <type>`: the connections of one type in one group, by creation time.
    pub(crate) fn group_connections_of(&self, group: GroupId, kind: &str) -> Vec<u8> {
        KeyBuf::from_prefix(&self.group_connections(group))
            .str(kind)
            .finish()
    }

    /// `C <group> <type> <created:8> <connection>`: a connection's entry in its group's
    /// list.
    pub(crate) fn group_connection(
        &self,
        group: GroupId,
        kind: &str,
        created: Timestamp,
        id: ConnectionId,
    ) -> Vec<u8> {
        KeyBuf::from_prefix(&self.group_connections_of(group, kind))
            .u64(created.as_millis())
            .raw(&id.to_be_bytes())
            .finish()
    }

    /// `C`: every entry of the groups' connection lists.
    pub(crate) fn all_group_connections(&self) -> Vec<u8> {
        self.key(b'C').finish()
    }

    /// `o` (outgoing) or `i` (incoming): every edge entry in one direction.
    pub(crate) fn all_edges(&self, outgoing: bool) -> Vec<u8> {
        self.key(if outgoing { b'o' } else { b'i' }).finish()
    }

    /// `K`, `A` and `G`: the event indexes by type, by actor and by target.
    pub(crate) fn event_indexes(&self) -> [Vec<u8>; 3] {
        [b'K', b'A', b'G'].map(|tag| self.key(tag).finish())
    }

    /// `m`: every email of the tenant in this environment.
    pub(crate) fn emails(&self) -> Vec<u8> {
        self.key(b'm').finish()
    }

    /// `l`: every label posting of the tenant in this environment.
    pub(crate) fn all_postings(&self) -> Vec<u8> {
        self.key(b'l').finish()
    }

    /// `t`: every thing of the tenant in this environment.
    pub(crate) fn things(&self) -> Vec<u8> {
        self.key(b't').finish()
    }

    pub(crate) fn email(&self, email: &str) -> Vec<u8> {
        self.key(b'm').str(email).finish()
    }

    pub(crate) fn password(&self, person: ThingId) -> Vec<u8> {
        self.key(b'w').raw(&person.to_be_bytes()).finish()
    }

    pub(crate) fn two_factor(&self, person: ThingId) -> Vec<u8> {
        self.key(b'f').raw(&person.to_be_bytes()).finish()
    }

    pub(crate) fn account_of(&self, person: ThingId) -> Vec<u8> {
        self.key(b'a').raw(&person.to_be_bytes()).finish()
    }

    /// `a`: every person of the tenant in this environment who has an account.
    pub(crate) fn account_links(&self) -> Vec<u8> {
        self.key(b'a').finish()
    }

    pub(crate) fn identity(&self, provider: &str, subject: &str) -> Vec<u8> {
        self.key(b'x').str(provider).str(subject).finish()
    }

    /// `x`: every external identity linked in the tenant in this environment.
    pub(crate) fn identities(&self) -> Vec<u8> {
        self.key(b'x').finish()
    }

    pub(crate) fn connection(&self, id: ConnectionId) -> Vec<u8> {
        self.key(b'c').raw(&id.to_be_bytes()).finish()
    }

    /// `c`: every connection of the tenant in this environment.
    pub(crate) fn connections(&self) -> Vec<u8> {
        self.key(b'c').finish()
    }

    /// `E`: every event of the tenant in this environment.
    pub(crate) fn all_events(&self) -> Vec<u8> {
        self.key(b'E').finish()
    }

    pub(crate) fn knowledge(&self, id: KnowledgeId) -> Vec<u8> {
        self.key(b'k').raw(&id.to_be_bytes()).finish()
    }

    /// `k`: every knowledge record of the tenant in this environment.
    pub(crate) fn all_knowledge(&self) -> Vec<u8> {
        self.key(b'k').finish()
    }

    /// `v <group>`: the vectors of one group's knowledge.
    pub(crate) fn vectors(&self, group: GroupId) -> Vec<u8> {
        self.key(b'v').raw(&group.to_be_bytes()).finish()
    }

    pub(crate) fn vector(&self, group: GroupId, id: KnowledgeId) -> Vec<u8> {
        KeyBuf::from_prefix(&self.vectors(group))
            .raw(&id.to_be_bytes())
            .finish()
    }

    /// `v`: every vector of the tenant in this environment.
    pub(crate) fn all_vectors(&self) -> Vec<u8> {
        self.key(b'v').finish()
    }

    /// `h <group>`: every graph of one group.
    pub(crate) fn graphs_of(&self, group: GroupId) -> Vec<u8> {
        self.key(b'h').raw(&group.to_be_bytes()).finish()
    }

    /// `h <group> <label>`: the pieces of one graph (label `""`: the whole group's).
    pub(crate) fn graph(&self, group: GroupId, label: &str) -> Vec<u8> {
        KeyBuf::from_prefix(&self.graphs_of(group))
            .str(label)
            .finish()
    }

    pub(crate) fn graph_chunk(&self, group: GroupId, label: &str, n: u32) -> Vec<u8> {
        KeyBuf::from_prefix(&self.graph(group, label))
            .raw(&n.to_be_bytes())
            .finish()
    }

    /// `l <group>`: every label posting of one group.
    pub(crate) fn postings_of(&self, group: GroupId) -> Vec<u8> {
        self.key(b'l').raw(&group.to_be_bytes()).finish()
    }

    /// `L <group>`: every label added by a relabel since the group's graphs were built.
    pub(crate) fn relabels_of(&self, group: GroupId) -> Vec<u8> {
        self.key(b'L').raw(&group.to_be_bytes()).finish()
    }

    /// `L <group> <label>`: chunks that got `label` by a relabel since its graph was built.
    pub(crate) fn relabels(&self, group: GroupId, label: &str) -> Vec<u8> {
        KeyBuf::from_prefix(&self.relabels_of(group))
            .str(label)
            .finish()
    }

    /// `l <group> <label>`: the chunks of one group with one label.
    pub(crate) fn postings(&self, group: GroupId, label: &str) -> Vec<u8> {
        KeyBuf::from_prefix(&self.postings_of(group))
            .str(label)
            .finish()
    }

    /// `W <group> <corpus>`: the directory of the text index's segments of one corpus of
    /// one group (`records/text_index.rs`).
    pub(crate) fn text_segments(&self, group: GroupId, corpus: Corpus) -> Vec<u8> {
        self.key(b'W')
            .raw(&group.to_be_bytes())
            .u8(corpus as u8)
            .finish()
    }

    /// `W <group> <corpus> <segment:8>`: every entry of one segment.
    pub(crate) fn text_segment(&self, group: GroupId, corpus: Corpus, segment: u64) -> Vec<u8> {
        KeyBuf::from_prefix(&self.text_segments(group, corpus))
            .u64(segment)
            .finish()
    }

    /// `W`: the whole text index of the tenant in this environment.
    pub(crate) fn all_text(&self) -> Vec<u8> {
        self.key(b'W').finish()
    }

    /// `S`: the text postings of the tenant as files written before the text index had
    /// segments kept them (one key per word and document); deleted when such a file is
    /// opened for writing.
    pub(crate) fn old_text_postings(&self) -> Vec<u8> {
        self.key(b'S').finish()
    }

    /// `h`: every graph of the tenant in this environment.
    pub(crate) fn all_graphs(&self) -> Vec<u8> {
        self.key(b'h').finish()
    }

    /// `z <group>`: the chunks of one group deleted since its graph was built.
    pub(crate) fn tombstones(&self, group: GroupId) -> Vec<u8> {
        self.key(b'z').raw(&group.to_be_bytes()).finish()
    }

    /// `u <group>`: every usage counter of one group.
    pub(crate) fn usage_of(&self, group: GroupId) -> Vec<u8> {
        self.key(b'u').raw(&group.to_be_bytes()).finish()
    }

    /// `u`: every usage counter of the tenant in this environment.
    pub(crate) fn usages(&self) -> Vec<u8> {
        self.key(b'u').finish()
    }

    /// `o <from>` or `i <to>`, then optionally `<type>`: the prefix of one node's edges.
    pub(crate) fn edges(&self, outgoing: bool, node: Ref, kind: Option<&str>) -> Vec<u8> {
        let k = push_ref(self.key(if outgoing { b'o' } else { b'i' }), node);
        match kind {
            Some(kind) => k.str(kind).finish(),
            None => k.finish(),
        }
    }

    /// `o <near> <type> <far>` (or `i …`): the connections of one type between two nodes.
    pub(crate) fn edges_between(&self, outgoing: bool, near: Ref, kind: &str, far: Ref) -> Vec<u8> {
        push_ref(
            KeyBuf::from_prefix(&self.edges(outgoing, near, Some(kind))),
            far,
        )
        .finish()
    }

    pub(crate) fn edge(
        &self,
        outgoing: bool,
        near: Ref,
        kind: &str,
        far: Ref,
        id: ConnectionId,
    ) -> Vec<u8> {
        KeyBuf::from_prefix(&self.edges_between(outgoing, near, kind, far))
            .raw(&id.to_be_bytes())
            .finish()
    }

    pub(crate) fn events(&self, group: GroupId) -> Vec<u8> {
        self.key(b'E').raw(&group.to_be_bytes()).finish()
    }

    pub(crate) fn event(&self, group: GroupId, id: EventId) -> Vec<u8> {
        KeyBuf::from_prefix(&self.events(group))
            .raw(&id.to_be_bytes())
            .finish()
    }

    pub(crate) fn events_by_type(&self, group: GroupId, kind: &str) -> Vec<u8> {
        self.key(b'K').raw(&group.to_be_bytes()).str(kind).finish()
    }

    pub(crate) fn events_by_actor(&self, group: GroupId, actor: Principal) -> Vec<u8> {
        push_principal(self.key(b'A').raw(&group.to_be_bytes()), actor).finish()
    }

    pub(crate) fn events_by_target(&self, group: GroupId, target: Ref) -> Vec<u8> {
        push_ref(self.key(b'G').raw(&group.to_be_bytes()), target).finish()
    }

    pub(crate) fn counter(&self, group: GroupId, counter: Counter) -> Vec<u8> {
        self.key(b'n')
            .raw(&group.to_be_bytes())
            .u8(counter as u8)
            .finish()
    }

    pub(crate) fn counters(&self) -> Vec<u8> {
        self.key(b'n').finish()
    }

    /// `u <group> <resource> <period>`: what `group` and its descendants used of a
    /// resource in a period (a month index, or 0 for running totals).
    pub(crate) fn usage(&self, group: GroupId, resource: Resource, period: u32) -> Vec<u8> {
        self.key(b'u')
            .raw(&group.to_be_bytes())
            .u8(resource.tag())
            .raw(&period.to_be_bytes())
            .finish()
    }

    /// `q <group> <resource> <period>`: the quota-exceeded event of this period was logged.
    pub(crate) fn quota_logged(&self, group: GroupId, resource: Resource, period: u32) -> Vec<u8> {
        self.key(b'q')
            .raw(&group.to_be_bytes())
            .u8(resource.tag())
            .raw(&period.to_be_bytes())
            .finish()
    }

    /// `r <group> <currency>`: the revenue entries of a group in one currency, by event id.
    pub(crate) fn revenue(&self, group: GroupId, currency: &str) -> Vec<u8> {
        self.key(b'r')
            .raw(&group.to_be_bytes())
            .str(currency)
            .finish()
    }
}

/// Appends an id to a prefix.
pub(crate) fn with_id(prefix: &[u8], id: u128) -> Vec<u8> {
    KeyBuf::from_prefix(prefix).u128(id).finish()
}

/// The tenant root and environment a tenant key (`T <root> <env> …`) belongs to.
pub(crate) fn tenant_env_of(key: &[u8]) -> Option<(GroupId, Env)> {
    if key.first() != Some(&TENANT) {
        return None;
    }
    let root = u128::from_be_bytes(key.get(1..17)?.try_into().ok()?);
    let byte = *key.get(17)?;
    let env = [Env::Live, Env::Test]
        .into_iter()
        .find(|e| env_byte(*e) == byte)?;
    Some((GroupId::from_u128(root), env))
}

/// The id in the last 16 bytes of an index key.
pub(crate) fn trailing_id(key: &[u8]) -> Result<u128> {
    let start = key.len().checked_sub(16).ok_or_else(|| Error::Corrupt {
        what: "index key",
        reason: "shorter than an id".into(),
    })?;
    Ok(KeyReader::new(&key[start..]).u128()?)
}

// Reading keys back. Each decoder reads what a builder above wrote, so no other file
// knows at which byte a key's parts start.

/// The rest of `key` after `prefix` (the key a scan of `prefix` found).
fn after<'k>(key: &'k [u8], prefix: &[u8], what: &'static str) -> Result<&'k [u8]> {
    key.strip_prefix(prefix).ok_or_else(|| Error::Corrupt {
        what,
        reason: "a key outside the range scanned".into(),
    })
}

/// A word as the text index's keys and blocks hold it: escaped and terminated, so words
/// sort as strings and a word's form is never the beginning of another's.
pub(crate) fn text_word(word: &str) -> Vec<u8> {
    KeyBuf::new().str(word).finish()
}

/// A word of the text index back from its form ([`text_word`]).
pub(crate) fn decode_text_word(form: &[u8]) -> Result<String> {
    Ok(KeyReader::new(form).string()?)
}

/// What a key of the text index ([`TenantKeys::all_text`], given as `all`) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKey<'k> {
    /// `W <group> <corpus>`: a directory of segments.
    Directory(GroupId, Corpus),
    /// `W <group> <corpus> <segment> <word>`: a block of a segment, from that word
    /// (its form) on.
    Block(GroupId, Corpus, u64, &'k [u8]),
}

/// Reads a key of the text index back.
pub(crate) fn decode_text_key<'k>(key: &'k [u8], all: &[u8]) -> Result<TextKey<'k>> {
    let mut r = KeyReader::new(after(key, all, "text index key")?);
    let group = GroupId::from_u128(r.u128()?);
    let corpus = match r.u8()? {
        1 => Corpus::Things,
        2 => Corpus::Knowledge,
        n => {
            return Err(Error::Corrupt {
                what: "text index key",
                reason: format!("a corpus numbered {n}"),
            });
        }
    };
    if r.is_empty() {
        return Ok(TextKey::Directory(group, corpus));
    }
    let segment = r.u64()?;
    Ok(TextKey::Block(group, corpus, segment, r.rest()))
}

/// The form of the first word of a block of segment `segment_key` from its key.
pub(crate) fn decode_block_word<'k>(key: &'k [u8], segment_key: &[u8]) -> Result<&'k [u8]> {
    after(key, segment_key, "text index block key")
}

/// `D g <group>` ([`group_root`]): the group a directory entry is for.
pub(crate) fn decode_group_root(key: &[u8]) -> Result<GroupId> {
    decode_group_id(
        after(key, &group_directory(), "group directory")?,
        "group directory",
    )
}

/// `M w <module>` ([`plugin_module`]): the module's hash.
pub(crate) fn decode_plugin_module(key: &[u8]) -> Result<[u8; 32]> {
    let rest = after(key, &plugin_modules(), "plugin module key")?;
    rest.try_into().map_err(|_| Error::Corrupt {
        what: "plugin module key",
        reason: format!("{} bytes", key.len()),
    })
}

/// `D p <module> <root>` ([`module_user`]): the module and the tenant that uses it.
pub(crate) fn decode_module_user(key: &[u8]) -> Result<([u8; 32], GroupId)> {
    let rest = after(key, &all_module_users(), "module tenants")?;
    let (module, root) = rest.split_at_checked(32).ok_or_else(|| Error::Corrupt {
        what: "module tenants",
        reason: format!("{} bytes", key.len()),
    })?;
    let module = module.try_into().map_err(|_| Error::Corrupt {
        what: "module tenants",
        reason: format!("{} bytes", key.len()),
    })?;
    Ok((module, decode_group_id(root, "module tenants")?))
}

/// `D <section> <digest>` ([`secret_digest`]): the digest.
pub(crate) fn decode_secret_digest(key: &[u8], section: SecretSection) -> Result<&[u8]> {
    after(key, &secret_digests(section), "secret directory")
}

/// `T <root> …` ([`tenant`]): the tenant a key belongs to.
pub(crate) fn decode_tenant_root(key: &[u8]) -> Result<GroupId> {
    let rest = after(key, &all_tenants(), "tenant key")?;
    decode_group_id(rest.get(..16).unwrap_or(rest), "tenant key")
}

/// `… x <type> <path>` after `prefix` ([`index_def`], [`StructureKeys::index_def`]): a
/// declared index's thing type and property path.
pub(crate) fn decode_index_def(key: &[u8], prefix: &[u8]) -> Result<(String, String)> {
    let mut r = KeyReader::new(after(key, prefix, "index definition")?);
    Ok((r.string()?, r.string()?))
}

/// `… x <provider> <subject>` after `prefix` (a tenant's or an account's identities, or
/// `D x`): an external identity.
pub(crate) fn decode_identity(key: &[u8], prefix: &[u8]) -> Result<(String, String)> {
    let mut r = KeyReader::new(after(key, prefix, "identity key")?);
    Ok((r.string()?, r.string()?))
}

/// `p <group> <type> <path> …` after [`TenantKeys::property_indexes`]: the group, thing
/// type and property path of a property-index entry.
pub(crate) fn decode_property_entry(
    key: &[u8],
    prefix: &[u8],
) -> Result<(GroupId, String, String)> {
    let mut r = KeyReader::new(after(key, prefix, "property index entry")?);
    Ok((GroupId::from_u128(r.u128()?), r.string()?, r.string()?))
}

/// `n <group> <counter>` after [`TenantKeys::counters`]: whose counter, and which.
pub(crate) fn decode_counter(key: &[u8], prefix: &[u8]) -> Result<(GroupId, Counter)> {
    let mut r = KeyReader::new(after(key, prefix, "counter key")?);
    Ok((GroupId::from_u128(r.u128()?), counter_from_byte(r.u8()?)?))
}

/// `<resource> <period>` after [`TenantKeys::usage_of`]: a usage counter's resource tag
/// and period, or `None` for a key of another shape.
pub(crate) fn decode_usage(key: &[u8], prefix: &[u8]) -> Result<Option<(u8, u32)>> {
    let rest = after(key, prefix, "usage key")?;
    Ok(match rest {
        [tag, a, b, c, d] => Some((*tag, u32::from_be_bytes([*a, *b, *c, *d]))),
        _ => None,
    })
}

/// `<group> …` after `prefix`: the group of a key whose group comes first (vectors,
/// graphs, events).
pub(crate) fn decode_leading_group(
    key: &[u8],
    prefix: &[u8],
    what: &'static str,
) -> Result<GroupId> {
    let rest = after(key, prefix, what)?;
    decode_group_id(rest.get(..16).unwrap_or(rest), what)
}

/// `<label> …` after `prefix` ([`TenantKeys::postings_of`], [`TenantKeys::graphs_of`]):
/// the label.
pub(crate) fn decode_label(key: &[u8], prefix: &[u8]) -> Result<String> {
    Ok(KeyReader::new(after(key, prefix, "knowledge label key")?).string()?)
}

fn counter_from_byte(b: u8) -> Result<Counter> {
    Ok(match b {
        1 => Counter::Things,
        2 => Counter::Connections,
        3 => Counter::Events,
        4 => Counter::People,
        5 => Counter::ThingTexts,
        6 => Counter::ThingWords,
        7 => Counter::KnowledgeTexts,
        8 => Counter::KnowledgeWords,
        other => {
            return Err(Error::Corrupt {
                what: "counter key",
                reason: format!("unknown counter {other}"),
            });
        }
    })
}

/// Where the directory says a key lives: `root` (16 bytes) then the key id (16 bytes).
pub(crate) fn key_locator(root: GroupId, key: KeyId) -> Vec<u8> {
    let mut v = Vec::with_capacity(32);
    v.extend_from_slice(&root.to_be_bytes());
    v.extend_from_slice(&key.to_be_bytes());
    v
}

/// Reads a [`key_locator`].
pub(crate) fn decode_key_locator(bytes: &[u8]) -> Result<(GroupId, KeyId)> {
    if bytes.len() != 32 {
        return Err(Error::Corrupt {
            what: "API key directory",
            reason: format!("expected 32 bytes, found {}", bytes.len()),
        });
    }
    let root = decode_group_id(&bytes[..16], "API key directory")?;
    let key = decode_group_id(&bytes[16..], "API key directory")?;
    Ok((root, KeyId::from_u128(key.to_u128())))
}

/// Where the directory says a session lives: root (16), env (1), connection (16).
pub(crate) fn session_locator(root: GroupId, env: Env, id: ConnectionId) -> Vec<u8> {
    let mut v = Vec::with_capacity(33);
    v.extend_from_slice(&root.to_be_bytes());
    v.push(matches!(env, Env::Test).into());
    v.extend_from_slice(&id.to_be_bytes());
    v
}

/// Reads a [`session_locator`].
pub(crate) fn decode_session_locator(bytes: &[u8]) -> Result<(GroupId, Env, ConnectionId)> {
    let corrupt = || Error::Corrupt {
        what: "session directory",
        reason: format!("expected 33 bytes, found {}", bytes.len()),
    };
    if bytes.len() != 33 {
        return Err(corrupt());
    }
    let root = decode_group_id(&bytes[..16], "session directory")?;
    let env = match bytes[16] {
        0 => Env::Live,
        1 => Env::Test,
        _ => return Err(corrupt()),
    };
    let id = decode_group_id(&bytes[17..], "session directory")?;
    Ok((root, env, ConnectionId::from_u128(id.to_u128())))
}

/// The resource a counter's changes also use.
pub(crate) fn resource_of(counter: Counter) -> Option<Resource> {
    match counter {
        Counter::Things => Some(Resource::Things),
        Counter::People => Some(Resource::Users),
        Counter::Connections => Some(Resource::Connections),
        Counter::Events
        | Counter::ThingTexts
        | Counter::ThingWords
        | Counter::KnowledgeTexts
        | Counter::KnowledgeWords => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: GroupId = GroupId::from_u128(7);
    const GROUP: GroupId = GroupId::from_u128(9);

    #[test]
    fn every_decoder_reads_what_its_builder_wrote() {
        assert_eq!(decode_group_root(&group_root(GROUP)).unwrap(), GROUP);
        let module = [3u8; 32];
        assert_eq!(
            decode_plugin_module(&plugin_module(&module)).unwrap(),
            module
        );
        assert_eq!(
            decode_module_user(&module_user(&module, ROOT)).unwrap(),
            (module, ROOT)
        );
        let digest = [5u8; 32];
        let key = secret_digest(SecretSection::Session, &digest);
        assert_eq!(
            decode_secret_digest(&key, SecretSection::Session).unwrap(),
            digest
        );
        assert!(decode_secret_digest(&key, SecretSection::ApiKey).is_err());
        let keys = TenantKeys::new(ROOT, Env::Test);
        assert_eq!(
            decode_tenant_root(&keys.thing(ThingId::from_u128(1))).unwrap(),
            ROOT
        );
        assert_eq!(
            decode_index_def(&index_def("product", "price"), &index_defs()).unwrap(),
            ("product".into(), "price".into())
        );
        let structure = StructureKeys::new(ROOT);
        assert_eq!(
            decode_index_def(&structure.index_def("a b", "c.d"), &structure.index_defs()).unwrap(),
            ("a b".into(), "c.d".into())
        );
        assert_eq!(
            decode_property_entry(
                &keys.property_index(GROUP, "product", "price"),
                &keys.property_indexes()
            )
            .unwrap(),
            (GROUP, "product".into(), "price".into())
        );
        assert_eq!(
            decode_counter(&keys.counter(GROUP, Counter::People), &keys.counters()).unwrap(),
            (GROUP, Counter::People)
        );
        assert_eq!(
            decode_usage(
                &keys.usage(GROUP, Resource::Things, 42),
                &keys.usage_of(GROUP)
            )
            .unwrap(),
            Some((Resource::Things.tag(), 42))
        );
        let vector = keys.vector(GROUP, KnowledgeId::from_u128(3));
        assert_eq!(
            decode_leading_group(&vector, &keys.all_vectors(), "vector").unwrap(),
            GROUP
        );
        assert_eq!(
            decode_label(&keys.postings(GROUP, "faq"), &keys.postings_of(GROUP)).unwrap(),
            "faq"
        );
        let key_id = KeyId::from_u128(11);
        assert_eq!(
            decode_key_locator(&key_locator(ROOT, key_id)).unwrap(),
            (ROOT, key_id)
        );
        let session = ConnectionId::from_u128(13);
        assert_eq!(
            decode_session_locator(&session_locator(ROOT, Env::Test, session)).unwrap(),
            (ROOT, Env::Test, session)
        );
    }

    #[test]
    fn decoders_refuse_keys_of_another_shape() {
        assert!(decode_group_root(&root_slug("acme")).is_err());
        assert!(decode_plugin_module(&[META, b'w', 1, 2]).is_err());
        assert!(decode_module_user(&[DIRECTORY, b'p', 1]).is_err());
        assert!(decode_key_locator(&[0; 31]).is_err());
        assert!(decode_session_locator(&[0; 33].map(|_| 9)).is_err());
        let keys = TenantKeys::new(ROOT, Env::Live);
        assert!(decode_counter(&keys.usage_of(GROUP), &keys.counters()).is_err());
        assert_eq!(
            decode_usage(&keys.usage_of(GROUP), &keys.usage_of(GROUP)).unwrap(),
            None
        );
    }
}
