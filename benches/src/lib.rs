//! The benchmark workload, shared by the criterion benches and the SQLite baseline.
//!
//! One tenant with 100 child groups; things of 5 types with properties `price`, `status`
//! and `name`; connections of 5 types from the first 20,000 things (so a 1-hop query by
//! type returns about 5 neighbours); events of 5 types in one group. Sizes can be divided
//! by `ONE_BENCH_SCALE` (default 1) for a quick run.

#![deny(missing_docs)]

pub mod corpus;
#[cfg(feature = "sqlite")]
pub mod sqlite;
pub mod timing;

use one::{
    Context, Durability, GroupId, GroupType, NewConnection, NewGroup, NewThing, Ontology, Result,
    ThingId, Value,
};

/// Groups in the tenant.
pub const GROUPS: usize = 100;
/// Thing types.
pub const TYPES: [&str; 5] = ["product", "course", "ticket", "article", "listing"];
/// Connection types.
pub const LINKS: [&str; 5] = ["owns", "purchased", "likes", "follows", "reviewed"];
/// Event types.
pub const EVENTS: [&str; 5] = ["page_view", "click", "signup", "checkout", "refund"];
/// Things whose outgoing connections the workload makes.
pub const SOURCES: usize = 20_000;
/// Prices are uniform in `0..PRICE_RANGE` cents.
pub const PRICE_RANGE: i64 = 10_000;

/// The example plugin `name` (`product`, `tickets`), built for wasm32 from
/// `plugins/examples` into `target/plugin-examples` as the plugin tests build it.
///
/// # Panics
///
/// When cargo cannot build it (no `wasm32-unknown-unknown` target, say): a benchmark has
/// nothing to measure without it.
pub fn plugin_example(name: &str) -> Vec<u8> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = root.join("target").join("plugin-examples");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = std::process::Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "--target", "wasm32-unknown-unknown"])
        .args(["-p", &format!("one-plugin-{name}"), "--target-dir"])
        .arg(&target)
        .status()
        .expect("running cargo");
    assert!(status.success(), "building the example plugins failed");
    std::fs::read(target.join(format!(
        "wasm32-unknown-unknown/release/one_plugin_{name}.wasm"
    )))
    .expect("the built example")
}

/// The divisor applied to every size (environment variable `ONE_BENCH_SCALE`).
pub fn scale() -> usize {
    std::env::var("ONE_BENCH_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// How many things, connections and events the workload makes.
pub fn sizes() -> (usize, usize, usize) {
    let s = scale();
    (200_000 / s, 500_000 / s, 500_000 / s)
}

/// A small deterministic generator (SplitMix64), so every run and both engines see the
/// same data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// The `i`th thing of the workload: group index, type, name, price, status.
pub fn thing(i: usize, rng: &mut Rng) -> (usize, &'static str, String, i64, &'static str) {
    let group = i * GROUPS / sizes().0.max(1);
    let kind = TYPES[i % TYPES.len()];
    let price = (rng.next_u64() % PRICE_RANGE as u64) as i64;
    let status = if i.is_multiple_of(10) {
        "draft"
    } else {
        "active"
    };
    (
        group.min(GROUPS - 1),
        kind,
        format!("item {i}"),
        price,
        status,
    )
}

/// A ONE database loaded with the workload.
pub struct OneDb {
    /// The database.
    pub db: Ontology,
    /// The tenant (root group).
    pub root: GroupId,
    /// The child groups.
    pub groups: Vec<GroupId>,
    /// Every thing, in creation order, with its group index.
    pub things: Vec<(ThingId, usize)>,
    /// The database file.
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl OneDb {
    /// An empty database file in a temporary folder with the tenant and its groups, and a
    /// declared index on `price` for every type.
    pub fn empty(durability: Durability) -> Result<Self> {
        let dir = tempfile::tempdir().map_err(|source| one::Error::Io {
            action: "cannot create temporary folder",
            path: std::env::temp_dir(),
            source,
        })?;
        let db = Ontology::builder()
            .durability(durability)
            .open(dir.path().join("bench.redb"))?;
        let path = dir.path().join("bench.redb");
        let root = db
            .admin()
            .create_root_group(NewGroup::new(GroupType::Organization, "Bench", "bench"))?
            .id;
        let groups = db.write(&Context::system(root), |tx| {
            (0..GROUPS)
                .map(|i| {
                    Ok(tx
                        .create_group(
                            root,
                            NewGroup::new(GroupType::Business, format!("g{i}"), format!("g{i}")),
                        )?
                        .id)
                })
                .collect::<Result<Vec<_>>>()
        })?;
        for kind in TYPES {
            db.admin().create_index(kind, "properties.price")?;
        }
        Ok(Self {
            db,
            root,
            groups,
            things: Vec::new(),
            path,
            _dir: dir,
        })
    }

    /// Closes the database, keeping its folder (and the file at `path`) until the
    /// returned folder is dropped.
    pub fn close(self) -> Result<tempfile::TempDir> {
        self.db.close()?;
        Ok(self._dir)
    }

    /// Creates `n` things in one transaction.
    pub fn bulk_things(&mut self, n: usize) -> Result<()> {
        let mut rng = Rng::new(1);
        let groups = self.groups.clone();
        let made = self.db.write(&Context::system(self.root), |tx| {
            (0..n)
                .map(|i| {
                    let (g, kind, name, price, status) = thing(i, &mut rng);
                    let props = Value::map()
                        .with("price", price)
                        .with("status", status)
                        .with("name", name.as_str());
                    Ok((
                        tx.create_thing(
                            NewThing::new(kind, name)
                                .properties(props)
                                .in_group(groups[g]),
                        )?
                        .id,
                        g,
                    ))
                })
                .collect::<Result<Vec<_>>>()
        })?;
        self.things.extend(made);
        Ok(())
    }

    /// Creates `n` connections in one transaction.
    pub fn bulk_connections(&self, n: usize) -> Result<()> {
        let mut rng = Rng::new(2);
        let sources = SOURCES.min(self.things.len());
        self.db.write(&Context::system(self.root), |tx| {
            for i in 0..n {
                let (from, g) = self.things[i % sources];
                let (to, _) = self.things[rng.below(self.things.len())];
                let link = NewConnection::new(from, LINKS[(i / sources) % LINKS.len()], to)
                    .metadata(Value::map().with("weight", (i % 7) as i64))
                    .in_group(self.groups[g]);
                tx.connect(link)?;
            }
            Ok(())
        })
    }

    /// Appends `n` events to the tenant's root group in one transaction.
    pub fn bulk_events(&self, n: usize) -> Result<()> {
        self.db.write(&Context::system(self.root), |tx| {
            for i in 0..n {
                let target = self.things[i % self.things.len()].0;
                tx.log_event(
                    EVENTS[i % EVENTS.len()],
                    Some(target.into()),
                    Value::map().with("n", i as i64),
                )?;
            }
            Ok(())
        })
    }
}

/// The example's numeric arguments, each defaulting to its place in `defaults` when
/// absent.
pub fn numeric_args<const N: usize>(defaults: [usize; N]) -> [usize; N] {
    let given: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("the arguments are numbers"))
        .collect();
    let mut out = defaults;
    for (slot, value) in out.iter_mut().zip(given) {
        *slot = value;
    }
    out
}
