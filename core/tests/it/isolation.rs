//! Random operations across three tenants never let one tenant's context read, list,
//! update or delete another tenant's records.

use std::collections::HashMap;

use one_core::*;
use proptest::prelude::*;

use crate::Fixture;

#[derive(Debug, Clone)]
enum Op {
    CreateThing {
        tenant: usize,
        in_child: bool,
    },
    CreatePerson {
        tenant: usize,
    },
    Connect {
        tenant: usize,
        a: usize,
        b: usize,
    },
    LogEvent {
        tenant: usize,
    },
    Attack {
        attacker: usize,
        victim: usize,
        action: Action,
    },
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Read,
    Update,
    Delete,
    ListEvents,
    ListConnections,
    WriteInto,
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..3usize;
    prop_oneof![
        3 => (t.clone(), any::<bool>()).prop_map(|(tenant, in_child)| Op::CreateThing { tenant, in_child }),
        1 => t.clone().prop_map(|tenant| Op::CreatePerson { tenant }),
        2 => (t.clone(), any::<usize>(), any::<usize>()).prop_map(|(tenant, a, b)| Op::Connect { tenant, a, b }),
        1 => t.clone().prop_map(|tenant| Op::LogEvent { tenant }),
        4 => (t, any::<usize>(), prop_oneof![
            Just(Action::Read), Just(Action::Update), Just(Action::Delete),
            Just(Action::ListEvents), Just(Action::ListConnections), Just(Action::WriteInto)
        ]).prop_map(|(attacker, victim, action)| Op::Attack { attacker, victim, action }),
    ]
}

struct World {
    f: Fixture,
    roots: Vec<GroupId>,
    children: Vec<GroupId>,
    /// Every record made, with its tenant.
    records: Vec<(usize, Ref)>,
    owner: HashMap<u128, usize>,
}

impl World {
    fn new() -> Self {
        let f = Fixture::new();
        let mut w = World {
            f,
            roots: vec![],
            children: vec![],
            records: vec![],
            owner: HashMap::new(),
        };
        for (i, slug) in ["t0", "t1", "t2"].into_iter().enumerate() {
            let root = w.f.tenant(slug);
            let child =
                w.f.engine
                    .write(&Context::system(root.id), |tx| {
                        tx.create_group(
                            root.id,
                            NewGroup::new(GroupType::Business, "Child", "child"),
                        )
                    })
                    .unwrap();
            w.roots.push(root.id);
            w.children.push(child.id);
            w.add(i, Ref::from(root.id));
            w.add(i, Ref::from(child.id));
        }
        w
    }

    fn add(&mut self, tenant: usize, r: Ref) {
        self.records.push((tenant, r));
        self.owner.insert(r.to_u128(), tenant);
    }

    fn ctx(&self, tenant: usize) -> Context {
        Context::system(self.roots[tenant])
    }

    fn nodes_of(&self, tenant: usize) -> Vec<Ref> {
        self.records
            .iter()
            .filter(|(t, r)| *t == tenant && matches!(r.kind(), IdKind::Thing | IdKind::Group))
            .map(|(_, r)| *r)
            .collect()
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::CreateThing { tenant, in_child } => {
                let group = if in_child {
                    self.children[tenant]
                } else {
                    self.roots[tenant]
                };
                let t = self
                    .f
                    .engine
                    .write(&self.ctx(tenant), |tx| {
                        tx.create_thing(NewThing::new("item", "x").in_group(group))
                    })
                    .unwrap();
                self.add(tenant, Ref::from(t.id));
            }
            Op::CreatePerson { tenant } => {
                let n = self.records.len();
                let p = self
                    .f
                    .engine
                    .write(&self.ctx(tenant), |tx| {
                        tx.create_person(NewPerson::new(format!("p{n}@x.io"), "P"))
                    })
                    .unwrap();
                self.add(tenant, Ref::from(p.id));
            }
            Op::Connect { tenant, a, b } => {
                let nodes = self.nodes_of(tenant);
                let (from, to) = (nodes[a % nodes.len()], nodes[b % nodes.len()]);
                if let Ok(c) = self.f.engine.write(&self.ctx(tenant), |tx| {
                    tx.connect(NewConnection::new(from, "links", to))
                }) {
                    self.add(tenant, Ref::from(c.id));
                }
            }
            Op::LogEvent { tenant } => {
                let e = self
                    .f
                    .engine
                    .write(&self.ctx(tenant), |tx| {
                        tx.log_event("noted", None, Value::map())
                    })
                    .unwrap();
                self.add(tenant, Ref::from(e.id));
            }
            Op::Attack {
                attacker,
                victim,
                action,
            } => {
                let (owner, target) = self.records[victim % self.records.len()];
                if owner == attacker
                    && matches!((action, target), (Action::Delete, Ref::GroupId(_)))
                {
                    return; // archiving one's own group would only stop later writes
                }
                let ctx = self.ctx(attacker);
                let before = self.f.dump();
                let r = self.attack(&ctx, target, action);
                if let Ok(Some(made)) = r {
                    self.add(attacker, made);
                }
                if owner != attacker {
                    assert!(
                        matches!(r, Err(Error::NotFound { .. })),
                        "tenant {attacker} reached {target} of tenant {owner} with {action:?}: {r:?}"
                    );
                    assert_eq!(
                        self.f.dump(),
                        before,
                        "a refused cross-tenant {action:?} changed the store"
                    );
                }
            }
        }
    }

    fn attack(&self, ctx: &Context, target: Ref, action: Action) -> Result<Option<Ref>> {
        let e = &self.f.engine;
        match (action, target) {
            (Action::Read, Ref::GroupId(g)) => e.read(ctx, |v| v.get_group(g)).map(|_| None),
            (Action::Read, Ref::ThingId(t)) => e.read(ctx, |v| v.get_thing(t)).map(|_| None),
            (Action::Read, Ref::ConnectionId(c)) => {
                e.read(ctx, |v| v.get_connection(c)).map(|_| None)
            }
            (Action::Read | Action::ListEvents, Ref::EventId(_)) => e
                .read(ctx, |v| v.events(&EventQuery::latest().target(target)))
                .and_then(|p| {
                    // Reading by a foreign target is allowed but must come back empty.
                    if p.items.is_empty() {
                        Err(Error::NotFound {
                            kind: IdKind::Event,
                            id: target.to_string(),
                        })
                    } else {
                        Ok(None)
                    }
                }),
            (Action::Update, Ref::GroupId(g)) => e
                .write(ctx, |tx| {
                    tx.update_group(g, GroupUpdate::default().name("pwned"))
                })
                .map(|_| None),
            (Action::Update, Ref::ThingId(t)) => e
                .write(ctx, |tx| {
                    tx.update_thing(t, ThingUpdate::default().name("pwned"))
                })
                .map(|_| None),
            (Action::Delete, Ref::ThingId(t)) => {
                e.write(ctx, |tx| tx.delete_thing(t)).map(|_| None)
            }
            (Action::Delete, Ref::ConnectionId(c)) => {
                e.write(ctx, |tx| tx.disconnect(c)).map(|_| None)
            }
            (Action::Delete, Ref::GroupId(g)) => {
                e.write(ctx, |tx| tx.archive_group(g)).map(|_| None)
            }
            (Action::ListEvents, Ref::GroupId(g)) => e
                .read(ctx, |v| v.events(&EventQuery::latest().group(g)))
                .map(|_| None),
            (Action::ListEvents, _) => e
                .read(ctx, |v| v.events(&EventQuery::latest().target(target)))
                .and_then(|p| {
                    if p.items.is_empty() {
                        Err(Error::NotFound {
                            kind: target.kind(),
                            id: target.to_string(),
                        })
                    } else {
                        Ok(None)
                    }
                }),
            (Action::ListConnections, Ref::GroupId(_) | Ref::ThingId(_)) => e
                .read(ctx, |v| v.connections(&ConnectionQuery::outgoing(target)))
                .map(|_| None),
            (Action::WriteInto, Ref::GroupId(g)) => e
                .write(ctx, |tx| {
                    tx.create_thing(NewThing::new("item", "x").in_group(g))
                })
                .map(|t| Some(Ref::from(t.id))),
            (Action::WriteInto, Ref::ThingId(t)) => {
                let own = self.roots[self.owner[&ctx.group().to_u128()]];
                e.write(ctx, |tx| tx.connect(NewConnection::new(own, "links", t)))
                    .map(|c| Some(Ref::from(c.id)))
            }
            (_, other) => Err(Error::NotFound {
                kind: other.kind(),
                id: other.to_string(),
            }),
        }
    }

    /// Every list a tenant can make returns only its own records.
    fn check_lists(&self) {
        for tenant in 0..3 {
            let ctx = self.ctx(tenant);
            let mine = |id: u128| self.owner.get(&id) == Some(&tenant);
            self.f
                .engine
                .read(&ctx, |v| {
                    for group in [self.roots[tenant], self.children[tenant]] {
                        for t in v
                            .things(&ThingQuery::of_type("item").group(group).limit(1000))?
                            .items
                        {
                            assert!(mine(t.id.to_u128()));
                        }
                        for e in v
                            .events(&EventQuery::latest().group(group).limit(1000))?
                            .items
                        {
                            assert!(e.target.is_none_or(|r| mine(r.to_u128())));
                        }
                    }
                    for g in v.subtree(self.roots[tenant])? {
                        assert!(mine(g.id.to_u128()));
                    }
                    for node in self.nodes_of(tenant) {
                        for c in v
                            .connections(&ConnectionQuery::outgoing(node).limit(1000))?
                            .items
                        {
                            assert!(mine(c.to.to_u128()) && mine(c.id.to_u128()));
                        }
                    }
                    Ok(())
                })
                .unwrap();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_context_reaches_another_tenant(ops in proptest::collection::vec(op(), 1..40)) {
        let mut world = World::new();
        for op in &ops {
            world.apply(op);
        }
        world.check_lists();
    }
}
