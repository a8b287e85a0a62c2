//! `Engine::check`: a healthy database passes, and each kind of damage a crash, a bug or
//! a bad disk could leave is reported, naming what is wrong.

use one_core::*;

use crate::{Fixture, each_case};

/// The entries of one section of a tenant: `T <root> <env> <tag> …`.
fn section(f: &Fixture, root: GroupId, env: u8, tag: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
    f.dump()
        .into_iter()
        .filter(|(k, _)| {
            k.len() > 18
                && k[0] == b'T'
                && k[1..17] == root.to_be_bytes()
                && k[17] == env
                && k[18] == tag
        })
        .collect()
}

fn put(f: &Fixture, key: Vec<u8>, value: Vec<u8>) {
    f.engine
        .store()
        .write(|kv| kv.put(key.clone(), value.clone()).map(drop))
        .unwrap();
}

fn delete(f: &Fixture, key: &[u8]) {
    f.engine.store().write(|kv| kv.delete(key)).unwrap();
}

#[test]
fn a_populated_database_passes() {
    let f = Fixture::new();
    f.populated("acme");
    f.populated("globex");
    let report = f.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
    assert_eq!(report.tenants, 2);
    assert!(report.records > 40, "{report:?}");
    assert!(report.entries > report.records);
}

#[test]
fn every_kind_of_damage_is_reported() {
    type Damage = fn(&Fixture, GroupId);
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "type index entry removed",
            |f, r| delete(f, &section(f, r, 1, b'y')[0].0),
            "type index entry",
        ),
        (
            "property index entry removed",
            |f, r| delete(f, &section(f, r, 1, b'p')[0].0),
            "property index entry",
        ),
        (
            "stray edge",
            |f, r| {
                let (mut k, v) = section(f, r, 1, b'o').remove(0);
                *k.last_mut().unwrap() ^= 1;
                put(f, k, v)
            },
            "outgoing edge entry",
        ),
        (
            "edge copy differs",
            |f, r| {
                let (k, mut v) = section(f, r, 1, b'i').remove(0);
                v.push(0);
                put(f, k, v)
            },
            "differs from its record",
        ),
        (
            "thing record garbled",
            |f, r| {
                let (k, _) = section(f, r, 1, b't').remove(0);
                put(f, k, vec![1, 0xff, 0xff, 0xff])
            },
            "thing at key",
        ),
        (
            "counter wrong",
            |f, r| {
                let (k, _) = section(f, r, 1, b'n').remove(0);
                put(f, k, 99u64.to_be_bytes().to_vec())
            },
            "is 99",
        ),
        (
            "usage total wrong",
            |f, r| {
                let (k, v) = section(f, r, 1, b'u')
                    .into_iter()
                    .find(|(k, _)| k.ends_with(&[0; 4]))
                    .unwrap();
                let n = u64::from_be_bytes(v.try_into().unwrap());
                put(f, k, (n + 1).to_be_bytes().to_vec())
            },
            "usage",
        ),
        (
            "event index entry removed",
            |f, r| delete(f, &section(f, r, 1, b'G')[0].0),
            "event target index entry",
        ),
        (
            "event removed",
            |f, r| delete(f, &section(f, r, 1, b'E')[0].0),
            "has no record",
        ),
        (
            "vector removed",
            |f, r| delete(f, &section(f, r, 1, b'v')[0].0),
            "vector entry",
        ),
        (
            "label posting removed",
            |f, r| delete(f, &section(f, r, 1, b'l')[0].0),
            "label posting entry",
        ),
        (
            "email removed",
            |f, r| delete(f, &section(f, r, 1, b'm')[0].0),
            "email entry",
        ),
        (
            "child entry removed",
            |f, r| delete(f, &section(f, r, 0, b'c')[0].0),
            "child entry",
        ),
        (
            "group directory entry removed",
            |f, r| {
                let mut k = vec![b'D', b'g'];
                k.extend_from_slice(&r.to_be_bytes());
                delete(f, &k)
            },
            "has no directory entry",
        ),
        (
            "id high-water mark lowered",
            |f, r| {
                put(f, b"Mi".to_vec(), vec![0; 16]);
                // On a shared store each tenant keeps its own (`T <root> 0x00 i`).
                let mut tenant = vec![b'T'];
                tenant.extend(r.to_be_bytes());
                tenant.extend([0, b'i']);
                put(f, tenant, vec![0; 16]);
            },
            "above the highest issued",
        ),
        (
            "test-environment thing's type entry removed",
            |f, r| delete(f, &section(f, r, 2, b'y')[0].0),
            "type index entry",
        ),
    ];
    each_case(
        cases,
        |c| c.0.to_string(),
        |(name, damage, needle)| {
            let f = Fixture::new();
            let root = f.populated("acme");
            f.populated("globex");
            damage(&f, root.id);
            let report = f.engine.check().unwrap();
            assert!(!report.is_ok(), "{name}: not reported");
            assert!(
                report.problems.iter().any(|p| p.message.contains(needle)),
                "{name}: no problem mentions {needle:?}: {:#?}",
                report.problems
            );
            // Only the damaged tenant is named (the directory and meta have no tenant); the
            // id high-water mark is the engine's, so every tenant's ids are above it.
            assert!(
                name.starts_with("id high-water")
                    || report
                        .problems
                        .iter()
                        .all(|p| p.tenant.is_none() || p.tenant == Some(root.id)),
                "{name}: {:#?}",
                report.problems
            );
        },
    );
}

#[test]
fn check_runs_beside_a_writer() {
    let f = Fixture::new();
    let root = f.populated("acme");
    let ctx = Context::system(root.id);
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..200 {
                f.engine
                    .write(&ctx, |tx| {
                        tx.create_thing(
                            NewThing::new("product", format!("P{i}")).property("price", i),
                        )
                    })
                    .unwrap();
            }
        });
        for _ in 0..5 {
            let report = f.engine.check().unwrap();
            assert!(report.is_ok(), "{:#?}", report.problems);
        }
    });
}

/// Ann signed up at Acme and switched to Globex: an account with two people. Returns
/// Globex's root.
fn linked(f: &Fixture) -> GroupId {
    let acme = f.tenant("acme");
    let globex = f.tenant("globex");
    let (up, session) = f.signed_in(&Context::system(acme.id), acme.id, "ann@example.com");
    f.engine.verify_email(up.verification.expose()).unwrap();
    f.engine
        .write(&Context::system(acme.id), |tx| {
            tx.link_identity(up.person.id, "github", "ann")
        })
        .unwrap();
    f.engine
        .write(&Context::system(globex.id), |tx| {
            tx.create_person(NewPerson::new("ann@example.com", "Ann").in_group(globex.id))
        })
        .unwrap();
    f.engine
        .switch_tenant(session.token.expose(), globex.id)
        .unwrap();
    globex.id
}

/// The directory entries of one section: `D <tag> …`.
fn directory(f: &Fixture, tag: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
    f.dump()
        .into_iter()
        .filter(|(k, _)| k.len() > 2 && k[0] == b'D' && k[1] == tag)
        .collect()
}

#[test]
fn account_damage_is_reported() {
    type Damage = fn(&Fixture, GroupId);
    let cases: Vec<(&str, Damage, &str)> = vec![
        (
            "a tenant's link to the account removed",
            |f, r| delete(f, &section(f, r, 1, b'a')[0].0),
            "has no link from the tenant",
        ),
        (
            "the account's person entries removed",
            |f, _| {
                for (k, _) in directory(f, b'a').into_iter().filter(|(k, _)| k.len() > 18) {
                    if k[18] == b'l' {
                        delete(f, &k);
                    }
                }
            },
            "is missing",
        ),
        (
            "the account's email entry removed",
            |f, _| delete(f, &directory(f, b'e')[0].0),
            "account email entry",
        ),
        (
            "the account's identity index entry removed",
            |f, _| delete(f, &directory(f, b'x')[0].0),
            "account identity entry",
        ),
        (
            "the account record removed",
            |f, _| delete(f, &directory(f, b'a')[0].0),
            "account email entry",
        ),
        (
            "the account's password garbled",
            |f, _| {
                let key = directory(f, b'a')
                    .into_iter()
                    .map(|(k, _)| k)
                    .find(|k| k.len() == 19 && k[18] == b'w')
                    .unwrap();
                put(f, key, vec![1, 0xff]);
            },
            "password",
        ),
    ];
    each_case(
        cases,
        |c| c.0.to_string(),
        |(name, damage, needle)| {
            let f = Fixture::new();
            let globex = linked(&f);
            let before = f.engine.check().unwrap();
            assert!(before.is_ok(), "{name}: {:#?}", before.problems);
            damage(&f, globex);
            let report = f.engine.check().unwrap();
            assert!(
                report.problems.iter().any(|p| p.message.contains(needle)),
                "{name}: no problem mentions {needle:?}: {:#?}",
                report.problems
            );
        },
    );
}
