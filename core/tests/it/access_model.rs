//! Every permission decision of the engine against a small reference model.
//!
//! A random tenant (a tree of groups with random `parentAccess` settings), random
//! memberships (roles, permission strings, invitations), deleted people and API keys
//! (made by the system or by people, some revoked) are built through the public API.
//! Then `Engine::can` is asked about every principal, context group, target group and
//! permission, and each answer is compared with the model below, which follows the rules
//! of `access.rs` as written in its docs, by direct recursion. A random change follows
//! (so cached answers must be forgotten) and everything is asked again.

use std::collections::{BTreeMap, BTreeSet};

use one_core::*;
use proptest::prelude::*;

use crate::{Fixture, json};

const ROLES: [&str; 4] = ["group_owner", "group_admin", "group_user", "auditor"];
const STRINGS: [&str; 8] = [
    "read",
    "write",
    "admin",
    "billing",
    "*",
    "things:read",
    "members:manage",
    "keys:manage",
];
const SETTINGS: [Option<&str>; 4] = [None, Some("none"), Some("admins"), Some("members")];
const PEOPLE: usize = 3;

/// The implication table, written out again independently of the engine's.
fn fine(s: &str) -> Vec<&'static str> {
    let read = vec![
        "groups:read",
        "things:read",
        "connections:read",
        "events:read",
        "knowledge:read",
        "knowledge:query",
    ];
    let mut write = read.clone();
    write.extend([
        "things:write",
        "connections:write",
        "events:write",
        "knowledge:write",
    ]);
    let mut admin = write.clone();
    admin.extend([
        "groups:write",
        "members:manage",
        "keys:manage",
        "auth:signup",
        "auth:signin",
    ]);
    match s {
        "read" => read,
        "write" => write,
        "admin" => admin,
        "billing" => vec!["groups:read", "billing:manage"],
        "*" => Permission::ALL.iter().map(|p| p.as_str()).collect(),
        other => vec![
            Permission::ALL
                .iter()
                .map(|p| p.as_str())
                .find(|p| *p == other)
                .unwrap(),
        ],
    }
}

#[derive(Debug, Clone)]
struct Member {
    role: &'static str,
    strings: Vec<&'static str>,
    active: bool,
}

impl Member {
    fn permissions(&self) -> BTreeSet<&'static str> {
        let strings: Vec<&str> = if !self.strings.is_empty() {
            self.strings.clone()
        } else if self.role.ends_with("_owner") {
            vec!["*"]
        } else if self.role.ends_with("_admin") {
            vec!["admin"]
        } else {
            vec!["read", "write"]
        };
        strings.into_iter().flat_map(fine).collect()
    }

    /// Rights come from permissions, never from the role's name: a membership is
    /// administrative when it gives everything `admin` implies.
    fn administrative(&self) -> bool {
        let admin: BTreeSet<&str> = fine("admin").into_iter().collect();
        admin.is_subset(&self.permissions())
    }

    /// An owner's membership gives every permission.
    fn owner(&self) -> bool {
        self.active && self.permissions().len() == Permission::ALL.len()
    }
}

#[derive(Debug, Clone)]
struct Key {
    group: usize,
    strings: Vec<&'static str>,
    creator: Option<usize>,
    revoked: bool,
    /// A `test`-environment key: it never holds what changes live data.
    test: bool,
}

/// What a `test` context never holds, written out again.
const LIVE_ONLY: [&str; 4] = [
    "groups:write",
    "members:manage",
    "keys:manage",
    "billing:manage",
];

/// The state the engine should be in, and the rules, by direct recursion.
#[derive(Debug, Clone, Default)]
struct Model {
    parents: Vec<Option<usize>>,
    settings: Vec<Option<&'static str>>,
    members: BTreeMap<(usize, usize), Member>,
    deleted: BTreeSet<usize>,
    keys: Vec<Key>,
}

impl Model {
    /// `g`, its parent, …, the root.
    fn up(&self, g: usize) -> Vec<usize> {
        let mut out = vec![g];
        while let Some(p) = self.parents[*out.last().unwrap()] {
            out.push(p);
        }
        out
    }

    fn within(&self, g: usize, ancestor: usize) -> bool {
        self.up(g).contains(&ancestor)
    }

    /// Whether a membership held in `a` reaches `g` through every group on the way down.
    fn passes(&self, m: &Member, a: usize, g: usize) -> bool {
        self.up(g)
            .into_iter()
            .take_while(|c| *c != a)
            .all(|c| match self.settings[c] {
                Some("none") => false,
                Some("members") => true,
                _ => m.administrative(),
            })
    }

    fn person(&self, p: usize, g: usize) -> BTreeSet<&'static str> {
        if self.deleted.contains(&p) {
            return BTreeSet::new();
        }
        let mut out = BTreeSet::new();
        for a in self.up(g) {
            if let Some(m) = self.members.get(&(p, a))
                && m.active
                && self.passes(m, a, g)
            {
                out.extend(m.permissions());
            }
        }
        out
    }

    fn key(&self, k: usize, target: usize) -> BTreeSet<&'static str> {
        let key = &self.keys[k];
        if key.revoked || !self.within(target, key.group) {
            return BTreeSet::new();
        }
        let given: BTreeSet<&str> = key
            .strings
            .iter()
            .copied()
            .flat_map(fine)
            .filter(|p| !(key.test && LIVE_ONLY.contains(p)))
            .collect();
        match key.creator {
            None => given,
            // The creator's rights at the target, not at the key's group.
            Some(p) => given
                .intersection(&self.person(p, target))
                .copied()
                .collect(),
        }
    }
}

/// A key to make: its creator (a person, or the system), its group, its permission strings,
/// whether it is revoked, and whether it is a `test`-environment key.
type KeySpec = (Option<u8>, u8, Vec<u8>, bool, bool);

#[derive(Debug, Clone)]
struct Scenario {
    parents: Vec<u8>,
    settings: Vec<u8>,
    members: Vec<(u8, u8, u8, Vec<u8>, bool)>,
    deleted: Vec<bool>,
    keys: Vec<KeySpec>,
    change: (u8, u8, u8),
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (1usize..6).prop_flat_map(|extra| {
        let strings = || prop::collection::vec(0u8..8, 0..3);
        (
            prop::collection::vec(any::<u8>(), extra),
            prop::collection::vec(0u8..4, extra + 1),
            prop::collection::vec(
                (
                    0u8..PEOPLE as u8,
                    any::<u8>(),
                    0u8..4,
                    strings(),
                    any::<bool>(),
                ),
                0..8,
            ),
            prop::collection::vec(prop::bool::weighted(0.15), PEOPLE),
            prop::collection::vec(
                (
                    prop::option::of(0u8..PEOPLE as u8),
                    any::<u8>(),
                    prop::collection::vec(0u8..8, 1..3),
                    prop::bool::weighted(0.2),
                    prop::bool::weighted(0.3),
                ),
                0..4,
            ),
            (0u8..4, any::<u8>(), any::<u8>()),
        )
            .prop_map(
                |(parents, settings, members, deleted, keys, change)| Scenario {
                    parents,
                    settings,
                    members,
                    deleted,
                    keys,
                    change,
                },
            )
    })
}

struct World {
    f: Fixture,
    groups: Vec<GroupId>,
    people: Vec<ThingId>,
    keys: Vec<(usize, KeyId, Context)>,
    model: Model,
}

fn settings_value(s: Option<&str>) -> Value {
    match s {
        Some(s) => json(serde_json::json!({ "settings": { "parentAccess": s } })),
        None => json(serde_json::json!({ "settings": { "parentAccess": null } })),
    }
}

fn build(s: &Scenario) -> World {
    let f = Fixture::new();
    let root = f.tenant("model");
    let sys = Context::system(root.id);
    let mut model = Model::default();
    let mut groups = vec![root.id];
    model.parents.push(None);
    model.settings.push(None);
    for (i, raw) in s.parents.iter().enumerate() {
        let parent = usize::from(*raw) % (i + 1);
        let setting = SETTINGS[usize::from(s.settings[i + 1])];
        let mut new = NewGroup::new(
            GroupType::Community,
            format!("G{}", i + 1),
            format!("g{}", i + 1),
        );
        if let Some(v) = setting {
            new = new.properties(json(
                serde_json::json!({ "settings": { "parentAccess": v } }),
            ));
        }
        let g = f
            .engine
            .write(&sys, |tx| tx.create_group(groups[parent], new.clone()))
            .unwrap();
        groups.push(g.id);
        model.parents.push(Some(parent));
        model.settings.push(setting);
    }
    // An owner who keeps the root owned, and three people who start as owners too.
    let anchor = f
        .engine
        .write(&sys, |tx| {
            let p = tx.create_person(NewPerson::new("anchor@model.io", "Anchor"))?;
            tx.add_member(p.id, root.id, "org_owner", &[])?;
            Ok(p.id)
        })
        .unwrap();
    let mut people = Vec::new();
    for i in 0..PEOPLE {
        let p = f
            .engine
            .write(&sys, |tx| {
                let p = tx.create_person(NewPerson::new(format!("p{i}@model.io"), "P"))?;
                tx.add_member(p.id, root.id, "org_owner", &[])?;
                Ok(p.id)
            })
            .unwrap();
        model.members.insert(
            (i, 0),
            Member {
                role: "org_owner",
                strings: vec![],
                active: true,
            },
        );
        people.push(p);
    }
    // Keys, made while their creators are root owners; a refusal must match the model.
    let mut keys = Vec::new();
    for (creator, group, strings, revoked, test) in &s.keys {
        let group = usize::from(*group) % groups.len();
        let strings: Vec<&'static str> = strings.iter().map(|i| STRINGS[usize::from(*i)]).collect();
        let creator = creator.map(usize::from);
        let ctx = match creator {
            Some(p) => Context::person(people[p], root.id),
            None => sys,
        };
        let made = f.engine.write(&ctx, |tx| {
            let env = if *test { Env::Test } else { Env::Live };
            tx.create_api_key(
                NewApiKey::new("k", &strings)
                    .in_group(groups[group])
                    .env(env),
            )
        });
        match made {
            Ok(k) => {
                let kctx = f
                    .engine
                    .context_for_api_key(k.secret.expose(), None)
                    .unwrap();
                model.keys.push(Key {
                    group,
                    strings,
                    creator,
                    revoked: *revoked,
                    test: *test,
                });
                keys.push((model.keys.len() - 1, k.key.id, kctx));
            }
            Err(e @ (Error::Forbidden { .. } | Error::NotFound { .. })) => {
                let p = creator.expect("the system is never refused");
                let held = model.person(p, group);
                let wanted: BTreeSet<&str> = strings.iter().copied().flat_map(fine).collect();
                assert!(
                    !held.contains("keys:manage") || !wanted.is_subset(&held),
                    "refused a key the creator could make"
                );
                // Refused by name only where the creator holds something, and so knows
                // the group; elsewhere it is as unknown as any id.
                assert_eq!(
                    matches!(e, Error::Forbidden { .. }),
                    !held.is_empty(),
                    "{e:?} with {held:?}"
                );
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    // The final memberships.
    let mut wanted: BTreeMap<(usize, usize), Member> = BTreeMap::new();
    for (p, g, role, strings, pending) in &s.members {
        let key = (usize::from(*p), usize::from(*g) % groups.len());
        wanted.entry(key).or_insert(Member {
            role: ROLES[usize::from(*role)],
            strings: strings.iter().map(|i| STRINGS[usize::from(*i)]).collect(),
            active: !*pending || key.1 == 0,
        });
    }
    for (p, id) in people.iter().enumerate() {
        if !wanted.contains_key(&(p, 0)) {
            f.engine
                .write(&sys, |tx| tx.remove_member(*id, root.id))
                .unwrap();
            model.members.remove(&(p, 0));
        }
    }
    for ((p, g), m) in wanted {
        f.engine
            .write(&sys, |tx| {
                if g == 0 {
                    tx.change_role(people[p], groups[g], m.role, &m.strings)
                } else if m.active {
                    tx.add_member(people[p], groups[g], m.role, &m.strings)
                } else {
                    tx.invite_member(people[p], groups[g], m.role, &m.strings)
                }
            })
            .unwrap();
        model.members.insert((p, g), m);
    }
    for (p, deleted) in s.deleted.iter().enumerate() {
        if *deleted {
            f.engine
                .write(&sys, |tx| tx.delete_thing(people[p]))
                .unwrap();
            model.deleted.insert(p);
        }
    }
    for (i, id, _) in &keys {
        if model.keys[*i].revoked {
            f.engine.write(&sys, |tx| tx.revoke_api_key(*id)).unwrap();
        }
    }
    let _ = anchor;
    World {
        f,
        groups,
        people,
        keys,
        model,
    }
}

/// Compares every decision; returns how many were compared.
fn compare(w: &World) -> usize {
    let m = &w.model;
    let mut compared = 0;
    let n = w.groups.len();
    for ctx_group in 0..n {
        for target in 0..n {
            let in_scope = m.within(target, ctx_group);
            let mut principals: Vec<(String, Context, BTreeSet<&str>)> = Vec::new();
            let all: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
            principals.push(("system".into(), Context::system(w.groups[ctx_group]), all));
            for (p, id) in w.people.iter().enumerate() {
                principals.push((
                    format!("person {p}"),
                    Context::person(*id, w.groups[ctx_group]),
                    m.person(p, target),
                ));
            }
            for (i, _, kctx) in &w.keys {
                principals.push((
                    format!("key {i}"),
                    kctx.in_group(w.groups[ctx_group]),
                    m.key(*i, target),
                ));
            }
            for (who, ctx, expected) in principals {
                for perm in Permission::ALL {
                    let want = in_scope && expected.contains(perm.as_str());
                    let got = w.f.engine.can(&ctx, *perm, w.groups[target]);
                    assert_eq!(
                        got, want,
                        "{who} acting in g{ctx_group}, {perm} in g{target}: engine {got}, model {want}\n{m:#?}"
                    );
                    compared += 1;
                }
            }
        }
    }
    compared
}

/// One change after the first comparison, applied to both.
fn change(w: &mut World, (what, a, b): (u8, u8, u8)) {
    let sys = Context::system(w.groups[0]);
    let n = w.groups.len();
    match what {
        0 if !w.keys.is_empty() => {
            let (i, id, _) = w.keys[usize::from(a) % w.keys.len()];
            if !w.model.keys[i].revoked {
                w.f.engine.write(&sys, |tx| tx.revoke_api_key(id)).unwrap();
                w.model.keys[i].revoked = true;
            }
        }
        1 if n > 1 => {
            let g = 1 + usize::from(a) % (n - 1);
            let setting = SETTINGS[usize::from(b) % 4];
            w.f.engine
                .write(&sys, |tx| {
                    tx.update_group(
                        w.groups[g],
                        GroupUpdate::default().properties(settings_value(setting)),
                    )
                })
                .unwrap();
            w.model.settings[g] = setting;
        }
        2 => {
            let key = (usize::from(a) % PEOPLE, usize::from(b) % n);
            let Some(m) = w.model.members.get(&key) else {
                return;
            };
            let is_owner = |m: &Member| m.owner();
            // At the root the anchor is an owner too.
            let other_owners = usize::from(key.1 == 0)
                + w.model
                    .members
                    .iter()
                    .filter(|((p, g), o)| *g == key.1 && *p != key.0 && is_owner(o))
                    .count();
            let last_owner = is_owner(m) && other_owners == 0;
            let r = w.f.engine.write(&sys, |tx| {
                tx.remove_member(w.people[key.0], w.groups[key.1])
            });
            if last_owner {
                assert!(matches!(r, Err(Error::LastOwner { .. })), "{r:?}");
            } else {
                r.unwrap();
                w.model.members.remove(&key);
            }
        }
        _ => {
            let p = usize::from(a) % PEOPLE;
            if w.model.deleted.insert(p) {
                w.f.engine
                    .write(&sys, |tx| tx.delete_thing(w.people[p]))
                    .unwrap();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: one_core::testkit::cases(40), ..ProptestConfig::default() })]

    #[test]
    fn the_engine_decides_as_the_model_does(s in scenario()) {
        let mut w = build(&s);
        let first = compare(&w);
        prop_assert!(first > 0);
        change(&mut w, s.change);
        compare(&w);
    }
}

// ---- Operations: every public operation, decided as the model decides ----
//
// The comparison above asks `can`. Below, real operations run: every principal (the
// system, each person, each key) acting in a context group, against targets in every
// group of the tenant and in another tenant, through each operation of the table in
// `OPS`. The expected outcome comes from the model alone: allowed (the call succeeds, or
// fails for a reason that is not access), `Forbidden` (the principal may know the target
// but lacks a permission), or `NotFound` (it may not know the target exists), answered
// exactly as for an unknown id. Writes run in a transaction that is then rolled back, so
// every operation meets the same state; a refused operation must leave every byte of
// every other tenant as it was, and log exactly one `access_denied` in its own tenant
// when it was `Forbidden`, none when it was `NotFound`.

/// What makes a target known, in the model.
#[derive(Debug, Clone, Copy)]
enum Known {
    /// Holding anything in the target's group.
    Group,
    /// Holding the read permission of the record's dimension there.
    Record(&'static str),
}

/// The records the operations work on, made by the system.
struct Targets {
    /// One thing in each group.
    things: Vec<ThingId>,
    /// A person with no membership, for `add_member`.
    spare: ThingId,
    /// Another tenant's group and thing.
    other_group: GroupId,
    other_thing: ThingId,
}

fn targets(w: &World) -> Targets {
    let sys = Context::system(w.groups[0]);
    let things = w
        .groups
        .iter()
        .map(|g| {
            w.f.engine
                .write(&sys, |tx| {
                    tx.create_thing(NewThing::new("doc", "d").in_group(*g))
                })
                .unwrap()
                .id
        })
        .collect();
    let spare =
        w.f.engine
            .write(&sys, |tx| {
                tx.create_person(NewPerson::new("spare@model.io", "S"))
            })
            .unwrap()
            .id;
    let other = w.f.tenant("elsewhere");
    let other_thing =
        w.f.engine
            .write(&Context::system(other.id), |tx| {
                tx.create_thing(NewThing::new("doc", "theirs"))
            })
            .unwrap()
            .id;
    Targets {
        things,
        spare,
        other_group: other.id,
        other_thing,
    }
}

/// Where an operation points: a group of the tenant (by index) or the other tenant.
#[derive(Debug, Clone, Copy)]
enum Target {
    Group(usize),
    Elsewhere,
}

/// An operation as the model sees it: what it needs at its target group, what makes the
/// target known, and how to run it against the engine.
struct OpCase {
    name: &'static str,
    needs: &'static [&'static str],
    known: Known,
    /// Whether it works on one of the live things made for it: in the `test` environment
    /// that thing does not exist.
    live_record: bool,
    run: fn(&World, &Targets, &Context, Target) -> Result<()>,
}

fn group_of(w: &World, t: &Targets, target: Target) -> GroupId {
    match target {
        Target::Group(g) => w.groups[g],
        Target::Elsewhere => t.other_group,
    }
}

fn thing_of(t: &Targets, target: Target) -> ThingId {
    match target {
        Target::Group(g) => t.things[g],
        Target::Elsewhere => t.other_thing,
    }
}

/// Runs `f` in a write transaction that is always rolled back: `Ok` if `f` succeeded.
fn rolled_back<R>(
    w: &World,
    ctx: &Context,
    mut f: impl FnMut(&mut Tx<'_, '_>) -> Result<R>,
) -> Result<()> {
    const ROLLBACK: &str = "model rollback";
    let r = w.f.engine.write(ctx, |tx| {
        f(tx)?;
        Err::<(), _>(Error::Corrupt {
            what: "test",
            reason: ROLLBACK.into(),
        })
    });
    match r {
        Err(Error::Corrupt { reason, .. }) if reason == ROLLBACK => Ok(()),
        other => other,
    }
}

const OPS: &[OpCase] = &[
    OpCase {
        name: "get_thing",
        needs: &["things:read"],
        known: Known::Record("things:read"),
        live_record: true,
        run: |w, t, ctx, at| {
            w.f.engine
                .read(ctx, |v| v.get_thing(thing_of(t, at)).map(drop))
        },
    },
    OpCase {
        name: "things",
        needs: &["things:read"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            let q = ThingQuery::of_type("doc").group(group_of(w, t, at));
            w.f.engine.read(ctx, |v| v.things(&q).map(drop))
        },
    },
    OpCase {
        name: "create_thing",
        needs: &["things:write"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                tx.create_thing(NewThing::new("doc", "n").in_group(group_of(w, t, at)))
            })
        },
    },
    OpCase {
        name: "update_thing",
        needs: &["things:write"],
        known: Known::Record("things:read"),
        live_record: true,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                tx.update_thing(thing_of(t, at), ThingUpdate::default().name("u"))
            })
        },
    },
    OpCase {
        name: "delete_thing",
        needs: &["things:write"],
        known: Known::Record("things:read"),
        live_record: true,
        run: |w, t, ctx, at| rolled_back(w, ctx, |tx| tx.delete_thing(thing_of(t, at))),
    },
    OpCase {
        name: "connect",
        needs: &["connections:write"],
        known: Known::Group,
        live_record: true,
        run: |w, t, ctx, at| {
            let thing = thing_of(t, at);
            rolled_back(w, ctx, |tx| {
                tx.connect(NewConnection::new(thing, "likes", thing).in_group(group_of(w, t, at)))
            })
        },
    },
    OpCase {
        name: "events",
        needs: &["events:read"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            let q = EventQuery::latest().group(group_of(w, t, at));
            w.f.engine.read(ctx, |v| v.events(&q).map(drop))
        },
    },
    OpCase {
        name: "create_group",
        needs: &["groups:write"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                tx.create_group(
                    group_of(w, t, at),
                    NewGroup::new(GroupType::Dao, "n", "new-one"),
                )
            })
        },
    },
    OpCase {
        name: "update_group",
        needs: &["groups:write"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                tx.update_group(group_of(w, t, at), GroupUpdate::default().name("Renamed"))
            })
        },
    },
    OpCase {
        name: "usage",
        needs: &["billing:manage"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            w.f.engine
                .read(ctx, |v| v.usage(group_of(w, t, at)).map(drop))
        },
    },
    OpCase {
        name: "api_keys",
        needs: &["keys:manage"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            w.f.engine
                .read(ctx, |v| v.api_keys(group_of(w, t, at)).map(drop))
        },
    },
    OpCase {
        name: "create_knowledge",
        needs: &["knowledge:write"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                tx.create_knowledge(NewKnowledge::new("text").in_group(group_of(w, t, at)))
            })
        },
    },
    OpCase {
        // Giving `read` needs holding it there too.
        name: "add_member",
        needs: &[
            "members:manage",
            "groups:read",
            "things:read",
            "connections:read",
            "events:read",
            "knowledge:read",
            "knowledge:query",
        ],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                tx.add_member(t.spare, group_of(w, t, at), "group_user", &["read"])
            })
        },
    },
    OpCase {
        name: "get_group",
        needs: &["groups:read"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            w.f.engine
                .read(ctx, |v| v.get_group(group_of(w, t, at)).map(drop))
        },
    },
    OpCase {
        name: "children",
        needs: &["groups:read"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            w.f.engine.read(ctx, |v| {
                v.children(group_of(w, t, at), None, None).map(drop)
            })
        },
    },
    OpCase {
        name: "create_person",
        needs: &["members:manage"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                tx.create_person(NewPerson::new("new@model.io", "N").in_group(group_of(w, t, at)))
            })
        },
    },
    OpCase {
        name: "record_revenue",
        needs: &["billing:manage"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                tx.record_revenue(group_of(w, t, at), Money::new(1000, "USD")?)
            })
        },
    },
    OpCase {
        name: "record_payment",
        needs: &["billing:manage"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            rolled_back(w, ctx, |tx| {
                let payment = Payment::new(Money::new(500, "EUR")?, PaymentRail::Fiat, "ref-1");
                tx.record_payment(group_of(w, t, at), payment)
            })
        },
    },
    OpCase {
        name: "query_knowledge",
        needs: &["knowledge:query"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            let q = KnowledgeQuery::text("anything").group(group_of(w, t, at));
            w.f.engine.read(ctx, |v| v.query_knowledge(&q).map(drop))
        },
    },
    OpCase {
        name: "subscribe to events",
        needs: &["events:read"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            let filter = ChangeFilter::new().group(group_of(w, t, at));
            w.f.engine.subscribe(ctx, filter).map(drop)
        },
    },
    OpCase {
        name: "subscribe to things",
        needs: &["things:read"],
        known: Known::Group,
        live_record: false,
        run: |w, t, ctx, at| {
            let filter = ChangeFilter::new()
                .group(group_of(w, t, at))
                .dimension(Dimension::Things);
            w.f.engine.subscribe(ctx, filter).map(drop)
        },
    },
];

/// Every group at or below `g`.
fn subtree(m: &Model, g: usize) -> Vec<usize> {
    (0..m.parents.len()).filter(|d| m.within(*d, g)).collect()
}

/// The expected outcome of one access decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allowed,
    Forbidden,
    NotFound,
}

fn decide(held: &BTreeSet<&str>, needs: &[&str], known: Known) -> Outcome {
    if needs.iter().all(|n| held.contains(n)) {
        Outcome::Allowed
    } else if match known {
        Known::Group => !held.is_empty(),
        Known::Record(read) => held.contains(read),
    } {
        Outcome::Forbidden
    } else {
        Outcome::NotFound
    }
}

fn outcome_of(r: &Result<()>) -> Outcome {
    match r {
        Err(Error::Forbidden { .. }) => Outcome::Forbidden,
        Err(Error::NotFound { .. }) => Outcome::NotFound,
        _ => Outcome::Allowed,
    }
}

/// The entries outside tenant `root`, less the id high-water mark.
fn outside(w: &World, root: GroupId) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut prefix = vec![b'T'];
    prefix.extend_from_slice(&root.to_be_bytes());
    w.f.dump()
        .into_iter()
        .filter(|(k, _)| !k.starts_with(&prefix) && k.as_slice() != b"Mi")
        .collect()
}

/// The `access_denied` events of the tenant, in both environments (a refusal is logged in
/// the environment of the refused context).
fn denials(w: &World) -> usize {
    let envs = [Env::Live, Env::Test];
    envs.iter()
        .flat_map(|env| w.groups.iter().map(move |g| (*env, *g)))
        .map(|(env, g)| {
            let sys = Context::system(w.groups[0]).with_env(env);
            w.f.engine
                .read(&sys, |v| {
                    v.events(
                        &EventQuery::latest()
                            .group(g)
                            .kind(kinds::ACCESS_DENIED)
                            .limit(1000),
                    )
                })
                .unwrap()
                .items
                .len()
        })
        .sum()
}

/// A principal acting in a context, with what the model says it holds at each group.
type Acting<'m> = (
    String,
    Context,
    Box<dyn Fn(usize) -> BTreeSet<&'static str> + 'm>,
);

/// Runs every operation for every principal, context group and target; returns how many.
fn compare_operations(w: &World, t: &Targets, ctx_groups: &[usize]) -> usize {
    let m = &w.model;
    let n = w.groups.len();
    let all: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    let mut compared = 0;
    for &cg in ctx_groups {
        // Who acts, and what each holds at a group of the tenant (in scope or not).
        let mut principals: Vec<Acting<'_>> = vec![(
            "system".into(),
            Context::system(w.groups[cg]),
            Box::new(|_| all.clone()),
        )];
        for (p, id) in w.people.iter().enumerate() {
            principals.push((
                format!("person {p}"),
                Context::person(*id, w.groups[cg]),
                Box::new(move |g| m.person(p, g)),
            ));
        }
        for (i, _, kctx) in &w.keys {
            let i = *i;
            principals.push((
                format!("key {i}"),
                kctx.in_group(w.groups[cg]),
                Box::new(move |g| m.key(i, g)),
            ));
        }
        for (who, ctx, held_at) in &principals {
            let in_scope = |g: usize| m.within(g, cg);
            let held = |g: usize| {
                if in_scope(g) {
                    held_at(g)
                } else {
                    BTreeSet::new()
                }
            };
            let targets = (0..n).map(Target::Group).chain([Target::Elsewhere]);
            for at in targets {
                for op in OPS {
                    let want = match at {
                        Target::Elsewhere => Outcome::NotFound,
                        Target::Group(_) if op.live_record && ctx.env() == Env::Test => {
                            Outcome::NotFound
                        }
                        Target::Group(g) => decide(&held(g), op.needs, op.known),
                    };
                    let before_outside = outside(w, w.groups[0]);
                    let before_denials = denials(w);
                    let got = (op.run)(w, t, ctx, at);
                    assert_eq!(
                        outcome_of(&got),
                        want,
                        "{who} in g{cg}: {} at {at:?} gave {got:?}\n{m:#?}",
                        op.name
                    );
                    assert_eq!(
                        outside(w, w.groups[0]),
                        before_outside,
                        "{who}: {} at {at:?} changed another tenant",
                        op.name
                    );
                    let logged = denials(w) - before_denials;
                    let expected_logs = usize::from(want == Outcome::Forbidden);
                    assert_eq!(
                        logged, expected_logs,
                        "{who}: {} at {at:?} logged {logged}",
                        op.name
                    );
                    compared += 1;
                }
                // Export needs every read permission and keys:manage in the whole subtree.
                if let Target::Group(g) = at {
                    const EXPORT: &[&str] = &[
                        "groups:read",
                        "things:read",
                        "connections:read",
                        "events:read",
                        "knowledge:read",
                        "keys:manage",
                    ];
                    let got =
                        outcome_of(&w.f.engine.export(ctx, w.groups[g], Vec::new()).map(drop));
                    let first = decide(&held(g), EXPORT, Known::Group);
                    let below: Vec<Outcome> = subtree(m, g)
                        .into_iter()
                        .map(|d| decide(&held(d), EXPORT, Known::Group))
                        .filter(|o| *o != Outcome::Allowed)
                        .collect();
                    match (first, below.as_slice()) {
                        (Outcome::Allowed, []) => {
                            assert_eq!(got, Outcome::Allowed, "{who}: export g{g}")
                        }
                        (Outcome::Allowed, refused) => {
                            assert!(refused.contains(&got), "{who}: export g{g} gave {got:?}")
                        }
                        (refusal, _) => assert_eq!(got, refusal, "{who}: export g{g}"),
                    }
                    compared += 1;
                }
            }
        }
    }
    compared
}

/// Operations on another principal: a person's membership and credentials. The actor
/// needs the operation's permissions where it points and must cover every right of the
/// person (every permission of each of their memberships, at that membership's group);
/// a person may act on themselves.
fn compare_principal_operations(w: &World, ctx_groups: &[usize]) -> usize {
    let m = &w.model;
    let mut compared = 0;
    for &cg in ctx_groups {
        let in_scope = |g: usize| m.within(g, cg);
        for (p, id) in w.people.iter().enumerate() {
            let ctx = Context::person(*id, w.groups[cg]);
            let held = |g: usize| {
                if in_scope(g) {
                    m.person(p, g)
                } else {
                    BTreeSet::new()
                }
            };
            for (q, qid) in w.people.iter().enumerate() {
                let covers = m
                    .members
                    .iter()
                    .filter(|((who, _), _)| *who == q)
                    .all(|((_, g), mem)| mem.permissions().is_subset(&held(*g)));
                // Credentials: the person's record is in the root.
                let want = if p == q {
                    if in_scope(0) {
                        Outcome::Allowed
                    } else {
                        Outcome::NotFound
                    }
                } else {
                    match decide(&held(0), &["members:manage"], Known::Record("things:read")) {
                        Outcome::Allowed if !covers => Outcome::Forbidden,
                        other => other,
                    }
                };
                let got = rolled_back(w, &ctx, |tx| tx.sign_out_everywhere(*qid));
                assert_eq!(
                    outcome_of(&got),
                    want,
                    "person {p} in g{cg} signs out person {q}: {got:?}\n{m:#?}"
                );
                let got = rolled_back(w, &ctx, |tx| tx.link_identity(*qid, "idp", "subject"));
                assert_eq!(
                    outcome_of(&got),
                    want,
                    "person {p} in g{cg} links person {q}: {got:?}"
                );
                // Resetting a second factor: never by the person themselves without
                // `members:manage` (they turn it off with a code instead).
                let want = match decide(&held(0), &["members:manage"], Known::Record("things:read"))
                {
                    Outcome::Allowed if p != q && !covers => Outcome::Forbidden,
                    other => other,
                };
                let got = rolled_back(w, &ctx, |tx| tx.reset_two_factor(*qid));
                assert_eq!(
                    outcome_of(&got),
                    want,
                    "person {p} in g{cg} resets the second factor of person {q}: {got:?}"
                );
                compared += 3;
                // Removing a membership: found only in scope and when it exists.
                for g in 0..w.groups.len() {
                    let want = if !in_scope(g) || !m.members.contains_key(&(q, g)) {
                        Outcome::NotFound
                    } else if p == q {
                        Outcome::Allowed
                    } else {
                        match decide(&held(g), &["members:manage"], Known::Group) {
                            Outcome::Allowed if !covers => Outcome::Forbidden,
                            other => other,
                        }
                    };
                    let got = rolled_back(w, &ctx, |tx| tx.remove_member(*qid, w.groups[g]));
                    assert_eq!(
                        outcome_of(&got),
                        want,
                        "person {p} in g{cg} removes person {q} from g{g}: {got:?}\n{m:#?}"
                    );
                    compared += 1;
                }
            }
        }
    }
    compared
}

proptest! {
    #![proptest_config(ProptestConfig { cases: one_core::testkit::cases(12), ..ProptestConfig::default() })]

    #[test]
    fn every_operation_is_decided_as_the_model_decides(s in scenario(), pick in any::<u8>()) {
        let w = build(&s);
        let t = targets(&w);
        // The root, and one other context group.
        let ctx_groups = [0, usize::from(pick) % w.groups.len()];
        prop_assert!(compare_operations(&w, &t, &ctx_groups) > 0);
        prop_assert!(compare_principal_operations(&w, &ctx_groups) > 0);
    }
}
