//! proptest strategies for every record kind, in one place: values, groups, people,
//! things, connections, knowledge, API keys and events, and whole tenants built from a
//! random list of operations ([`TenantOps`], applied by [`build_tenant`]). Tests that need
//! generated data take it from here.

use one_core::*;
use proptest::prelude::*;
use proptest::sample::Index;

/// Any storable value: finite numbers, strings with non-ASCII text, lists and maps nested
/// a few levels.
pub fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1e12f64..1e12).prop_map(Value::Float),
        "[a-zé😀 ]{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4).prop_map(Value::Map),
        ]
    })
}

/// A map of properties or metadata.
pub fn properties() -> impl Strategy<Value = Value> {
    prop::collection::btree_map("[a-z]{1,6}", value(), 0..4).prop_map(Value::Map)
}

/// A type name (of things, connections or events) from a small set, so records share
/// types and indexes have neighbours.
pub fn type_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["product", "note", "ticket", "order"]).prop_map(String::from)
}

/// A new group, as its type and name (its slug is made unique by the caller).
pub fn new_group() -> impl Strategy<Value = (GroupType, String)> {
    (
        prop::sample::select(vec![
            GroupType::Business,
            GroupType::Community,
            GroupType::FriendCircle,
            GroupType::Organization,
        ]),
        "[A-Z][a-z]{1,8}",
    )
        .prop_map(|(kind, name)| (kind, name))
}

/// A new thing (its group is set by the caller).
pub fn new_thing() -> impl Strategy<Value = NewThing> {
    (
        type_name(),
        "[A-Za-z][A-Za-z é]{0,11}",
        properties(),
        any::<i32>(),
    )
        .prop_map(|(kind, name, props, price)| {
            NewThing::new(kind, name)
                .properties(props)
                .property("price", i64::from(price))
        })
}

/// A new knowledge chunk with labels and metadata.
pub fn new_knowledge() -> impl Strategy<Value = NewKnowledge> {
    (
        "[a-z][a-z ]{0,39}",
        prop::collection::vec(prop::sample::select(vec!["faq", "docs", "b:1"]), 0..3),
        properties(),
    )
        .prop_map(|(text, labels, metadata)| {
            NewKnowledge::new(text).labels(&labels).metadata(metadata)
        })
}

/// A new API key with some permissions.
pub fn new_api_key() -> impl Strategy<Value = NewApiKey> {
    (
        "[a-z]{1,8}",
        prop::sample::subsequence(vec!["read", "things:write", "events:write"], 1..3),
        any::<bool>(),
    )
        .prop_map(|(name, perms, test)| {
            let key = NewApiKey::new(name, &perms);
            if test { key.env(Env::Test) } else { key }
        })
}

/// One step in building a tenant. Indexes pick among what earlier steps made (and do
/// nothing when there is nothing to pick).
#[derive(Debug, Clone)]
pub enum Op {
    /// A group below an existing one.
    Group(Index, (GroupType, String)),
    /// A person in a group.
    Person(Index, String),
    /// A membership of a person in a group.
    Member(Index, Index, &'static str),
    /// A thing in a group, in the live or test environment.
    Thing(Index, NewThing, bool),
    /// A property change.
    Update(Index, Value),
    /// A deletion.
    Delete(Index),
    /// A connection between two things.
    Connect(Index, Index, String, Value),
    /// A knowledge chunk in a group.
    Knowledge(Index, NewKnowledge),
    /// A deleted chunk.
    DeleteKnowledge(Index),
    /// An API key in a group.
    Key(Index, NewApiKey),
    /// An application event about a thing.
    Event(Index, Value),
}

/// A list of steps that builds a tenant.
pub type TenantOps = Vec<Op>;

/// A random tenant: up to `n` steps.
pub fn tenant_ops(n: usize) -> impl Strategy<Value = TenantOps> {
    let op = prop_oneof![
        (any::<Index>(), new_group()).prop_map(|(i, g)| Op::Group(i, g)),
        (any::<Index>(), "[a-z]{1,8}").prop_map(|(i, e)| Op::Person(i, e)),
        (
            any::<Index>(),
            any::<Index>(),
            prop::sample::select(vec!["group_user", "group_admin"])
        )
            .prop_map(|(p, g, r)| Op::Member(p, g, r)),
        (any::<Index>(), new_thing(), prop::bool::weighted(0.2))
            .prop_map(|(i, t, test)| Op::Thing(i, t, test)),
        (any::<Index>(), properties()).prop_map(|(i, p)| Op::Update(i, p)),
        any::<Index>().prop_map(Op::Delete),
        (any::<Index>(), any::<Index>(), type_name(), properties())
            .prop_map(|(a, b, k, m)| Op::Connect(a, b, k, m)),
        (any::<Index>(), new_knowledge()).prop_map(|(i, k)| Op::Knowledge(i, k)),
        any::<Index>().prop_map(Op::DeleteKnowledge),
        (any::<Index>(), new_api_key()).prop_map(|(i, k)| Op::Key(i, k)),
        (any::<Index>(), properties()).prop_map(|(i, m)| Op::Event(i, m)),
    ];
    prop::collection::vec(op, 1..n)
}

/// Applies `ops` to a new tenant with this slug, one transaction per step. Steps the
/// engine refuses (a duplicate slug, a membership already held) are skipped: they change
/// nothing.
pub fn build_tenant(engine: &Engine, slug: &str, ops: &TenantOps) -> Group {
    let root = engine
        .admin()
        .create_root_group(NewGroup::new(GroupType::Organization, slug, slug))
        .unwrap();
    let live = Context::system(root.id);
    let mut groups = vec![root.id];
    let mut people: Vec<ThingId> = Vec::new();
    let mut things: Vec<(ThingId, Env)> = Vec::new();
    let mut chunks: Vec<KnowledgeId> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let pick_group = |i: &Index| groups[i.index(groups.len())];
        let r: Result<()> = match op {
            Op::Group(i, g) => {
                let g = NewGroup::new(g.0, g.1.clone(), format!("g{n}"));
                engine
                    .write(&live, |tx| tx.create_group(pick_group(i), g.clone()))
                    .map(|g| groups.push(g.id))
            }
            Op::Person(i, email) => engine
                .write(&live, |tx| {
                    tx.create_person(
                        NewPerson::new(format!("{email}{n}@example.com"), email.clone())
                            .in_group(pick_group(i)),
                    )
                })
                .map(|p| people.push(p.id)),
            Op::Member(p, g, role) if !people.is_empty() => engine
                .write(&live, |tx| {
                    tx.add_member(people[p.index(people.len())], pick_group(g), role, &[])
                })
                .map(drop),
            Op::Thing(i, t, test) => {
                let env = if *test { Env::Test } else { Env::Live };
                engine
                    .write(&live.with_env(env), |tx| {
                        tx.create_thing(t.clone().in_group(pick_group(i)))
                    })
                    .map(|t| things.push((t.id, env)))
            }
            Op::Update(i, p) if !things.is_empty() => {
                let (id, env) = things[i.index(things.len())];
                engine
                    .write(&live.with_env(env), |tx| {
                        tx.update_thing(id, ThingUpdate::default().properties(p.clone()))
                    })
                    .map(drop)
            }
            Op::Delete(i) if !things.is_empty() => {
                let (id, env) = things[i.index(things.len())];
                engine
                    .write(&live.with_env(env), |tx| tx.delete_thing(id))
                    .map(drop)
            }
            Op::Connect(a, b, kind, meta) if !things.is_empty() => {
                let (from, env) = things[a.index(things.len())];
                let (to, env_to) = things[b.index(things.len())];
                if env != env_to {
                    continue;
                }
                engine
                    .write(&live.with_env(env), |tx| {
                        tx.connect(
                            NewConnection::new(from, kind.as_str(), to).metadata(meta.clone()),
                        )
                    })
                    .map(drop)
            }
            Op::Knowledge(i, k) => engine
                .write(&live, |tx| {
                    tx.create_knowledge(k.clone().in_group(pick_group(i)))
                })
                .map(|k| chunks.push(k.id)),
            Op::DeleteKnowledge(i) if !chunks.is_empty() => {
                let id = chunks.remove(i.index(chunks.len()));
                engine.write(&live, |tx| tx.delete_knowledge(id)).map(drop)
            }
            Op::Key(i, k) => engine
                .write(&live, |tx| {
                    tx.create_api_key(k.clone().in_group(pick_group(i)))
                })
                .map(drop),
            Op::Event(i, meta) if !things.is_empty() => {
                let (id, env) = things[i.index(things.len())];
                engine
                    .write(&live.with_env(env), |tx| {
                        tx.log_event("noted", Some(Ref::from(id)), meta.clone())
                    })
                    .map(drop)
            }
            _ => Ok(()),
        };
        match r {
            Ok(())
            | Err(
                Error::DuplicateSlug { .. }
                | Error::AlreadyMember { .. }
                | Error::ThingDeleted { .. },
            ) => {}
            Err(e) => panic!("step {n} {op:?}: {e}"),
        }
    }
    root
}
