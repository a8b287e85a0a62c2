//! Export and import: a tenant leaves one database and arrives whole in another, or moves
//! below a group of another tenant; export → import → export gives the same lines; bad
//! exports are refused and change nothing.

use one_core::*;
use proptest::prelude::*;

use crate::strategies::{build_tenant, tenant_ops};
use crate::{Fixture, each_case};

fn export(f: &Fixture, group: GroupId) -> Vec<u8> {
    let mut out = Vec::new();
    f.engine
        .export(&Context::system(group), group, &mut out)
        .unwrap();
    out
}

fn import(f: &Fixture, bytes: &[u8], into: ImportInto) -> Result<PortableReport> {
    f.engine.admin().import(bytes, into)
}

#[test]
fn a_tenant_moves_to_another_database_whole() {
    let from = Fixture::new();
    let acme = from.populated("acme");
    from.populated("globex");
    let bytes = export(&from, acme.id);
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.starts_with(r#"{"record":"header","format":"one-export","version":2,"#));
    assert!(!text.contains("password") && !text.contains("\"seq\""));

    let to = Fixture::new();
    let report = import(&to, &bytes, ImportInto::NewTenant).unwrap();
    assert_eq!(report.groups, 2);
    assert!(report.things >= 5 && report.events > 10, "{report:?}");
    let check = to.engine.check().unwrap();
    assert!(check.is_ok(), "{:#?}", check.problems);
    assert_eq!(
        export(&to, acme.id),
        bytes,
        "export → import → export differs"
    );

    // The same records answer the same queries.
    let ctx = Context::system(acme.id);
    let query = ThingQuery::of_type("product").limit(100);
    let list = |f: &Fixture, env| {
        f.engine
            .read(&ctx.with_env(env), |v| v.things(&query))
            .unwrap()
            .items
    };
    for env in [Env::Live, Env::Test] {
        assert_eq!(list(&from, env), list(&to, env));
    }
    let people = |f: &Fixture| {
        f.engine
            .read(&ctx, |v| v.person_by_email("ada@example.com"))
            .unwrap()
    };
    assert_eq!(people(&from), people(&to));
    // Running totals are counted again from the records; monthly counts stay behind.
    let usage = |f: &Fixture| {
        let all = f.engine.read(&ctx, |v| v.usage(acme.id)).unwrap();
        all.into_iter()
            .filter(|u| !u.resource.is_monthly())
            .collect::<Vec<_>>()
    };
    assert_eq!(usage(&from), usage(&to));
    let hits = |f: &Fixture| {
        f.engine
            .read(&ctx, |v| {
                v.query_knowledge(&KnowledgeQuery::text("coffee mugs").k(5))
            })
            .unwrap()
    };
    assert_eq!(
        hits(&from)
            .iter()
            .map(|h| h.knowledge.id)
            .collect::<Vec<_>>(),
        hits(&to).iter().map(|h| h.knowledge.id).collect::<Vec<_>>()
    );
    // API keys keep working: the digest travelled, the secret never did.
    let keys = |f: &Fixture| f.engine.read(&ctx, |v| v.api_keys(acme.id)).unwrap();
    assert_eq!(keys(&from), keys(&to));
    // New ids sort after every imported one.
    let newer = to
        .engine
        .write(&ctx, |tx| tx.create_thing(NewThing::new("note", "after")))
        .unwrap();
    assert!(text.lines().all(|l| !l.contains(&newer.id.to_string())));
    let check = to.engine.check().unwrap();
    assert!(check.is_ok(), "{:#?}", check.problems);
}

#[test]
fn a_subtree_moves_below_a_group_of_another_tenant() {
    let from = Fixture::new();
    let acme = from.populated("acme");
    let team = from.first_child(acme.id);
    let mut bytes = Vec::new();
    let report = from
        .engine
        .export(&Context::system(acme.id), team.id, &mut bytes)
        .unwrap();
    // Ada belongs to the root group: her membership of the team stays behind.
    assert_eq!(report.connections_left_out, 1);

    let to = Fixture::new();
    let globex = to.populated("globex");
    let dept = to
        .engine
        .write(&Context::system(globex.id), |tx| {
            tx.create_group(
                globex.id,
                NewGroup::new(GroupType::Business, "Dept", "dept"),
            )
        })
        .unwrap();
    // The slug `team` is taken below globex.
    let err = import(&to, &bytes, ImportInto::Under(globex.id)).unwrap_err();
    assert!(matches!(err, Error::DuplicateSlug { .. }), "{err}");
    let imported = import(&to, &bytes, ImportInto::Under(dept.id)).unwrap();
    assert_eq!(imported.groups, 1);
    let check = to.engine.check().unwrap();
    assert!(check.is_ok(), "{:#?}", check.problems);
    let ctx = Context::system(globex.id);
    let moved = to.engine.read(&ctx, |v| v.get_group(team.id)).unwrap();
    assert_eq!(moved.parent, Some(dept.id));
    let things = to
        .engine
        .read(&ctx, |v| {
            v.things(&ThingQuery::of_type("product").group(team.id))
        })
        .unwrap()
        .items;
    assert_eq!(things.len(), 1);
    // The moved things count in their new ancestors' usage.
    let usage = to.engine.read(&ctx, |v| v.usage(globex.id)).unwrap();
    let things_used = usage
        .iter()
        .find(|u| u.resource == Resource::Things)
        .unwrap()
        .used;
    assert_eq!(things_used, 3, "2 of globex's own live things + 1 moved");
    // Importing it again collides on every id.
    let before = to.dump();
    let err = import(&to, &bytes, ImportInto::Under(dept.id)).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(to.dump(), before);
}

/// A plugin line whose module is not hex.
const BAD_PLUGIN: &str = r#"{"record":"plugin","name":"p","version":"1","enabled":true,"installed_at":0,"updated_at":0,"module":"zz"}"#;

#[test]
fn bad_exports_are_refused_and_change_nothing() {
    let from = Fixture::new();
    let acme = from.populated("acme");
    let good = String::from_utf8(export(&from, acme.id)).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let without = |pred: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .filter(|l| !pred(l))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    };
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty", String::new(), "empty"),
        ("no header", lines[1..].join("\n"), "header"),
        (
            "other version",
            good.replacen("\"version\":2", "\"version\":3", 1),
            "version 3",
        ),
        (
            "the pre-release version",
            good.replacen("\"version\":2", "\"version\":1", 1),
            "pre-release",
        ),
        (
            "other format",
            good.replacen("one-export", "tar", 1),
            "format",
        ),
        ("not JSON", format!("{}\n{{oops\n", lines[0]), "line 2"),
        (
            "unknown record",
            format!("{}\n{{\"record\":\"spaceship\"}}\n", lines[0]),
            "line 2",
        ),
        (
            "malformed id",
            good.replacen(&acme.id.to_string(), "grp_nope", 1),
            "line 1",
        ),
        (
            "child before parent",
            {
                let mut l = lines.clone();
                l.swap(1, 2);
                l.join("\n")
            },
            "before its parent",
        ),
        (
            "a thing whose group is missing",
            without(&|l: &str| {
                l.contains("\"record\":\"group\"")
                    && !l.contains(&format!("\"id\":\"{}\"", acme.id))
            }),
            "not one of the groups this import writes in",
        ),
        (
            "a malformed slug",
            good.replacen("\"slug\":\"acme\"", "\"slug\":\"Not A Slug\"", 1),
            "slug",
        ),
        (
            "NaN in a vector",
            good.replacen("\"vector\":[", "\"vector\":[NaN,", 1),
            "line",
        ),
        (
            "deep nesting",
            good.replacen(
                "\"properties\":{\"price\"",
                &format!(
                    "\"properties\":{{\"deep\":{}1{},\"price\"",
                    "[".repeat(40),
                    "]".repeat(40)
                ),
                1,
            ),
            "nested deeper",
        ),
        (
            "bad module hex",
            {
                let mut l = lines.clone();
                l.insert(1, BAD_PLUGIN);
                l.join("\n")
            },
            "not hex",
        ),
        (
            "a plugin after the records",
            format!("{good}\n{BAD_PLUGIN}"),
            "an export lists those first",
        ),
        (
            "a group's limit that is no limit",
            with_group_property(&lines, "\"limits\":{\"things\":\"lots\"}"),
            "limits.things",
        ),
        (
            "a group's setting of the wrong type",
            with_group_property(&lines, "\"settings\":{\"enableTwoFactor\":\"yes\"}"),
            "enableTwoFactor",
        ),
        (
            "a group's usage, which the engine counts",
            with_group_property(&lines, "\"usage\":{\"users\":5}"),
            "properties.usage",
        ),
        (
            "a group after the records",
            {
                // Its records come first, so everything before the last line restores.
                let mut l = lines.clone();
                l.push(lines[1]);
                l.join("\n")
            },
            "an export lists those first",
        ),
    ];
    each_case(
        cases,
        |c| c.0.to_string(),
        |(name, text, needle)| {
            let to = Fixture::new();
            to.populated("globex");
            let before = to.dump();
            let err = import(&to, text.as_bytes(), ImportInto::NewTenant).unwrap_err();
            assert!(err.to_string().contains(needle), "{name}: {err}");
            assert_eq!(to.dump(), before, "{name}: the database changed");
        },
    );
}

/// The export `lines` with `property` (a `"key":value` pair) added to the first group's
/// properties.
fn with_group_property(lines: &[&str], property: &str) -> String {
    let mut l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let group = &mut l[1];
    assert!(group.contains("\"record\":\"group\""), "{group}");
    *group = if group.contains("\"properties\":{}") {
        group.replacen(
            "\"properties\":{}",
            &format!("\"properties\":{{{property}}}"),
            1,
        )
    } else {
        group.replacen(
            "\"properties\":{",
            &format!("\"properties\":{{{property},"),
            1,
        )
    };
    l.join("\n")
}

/// An export that fails to read after `good` bytes, as a file on a failing disk would.
struct FailsAfter<'a> {
    good: &'a [u8],
}

impl std::io::Read for FailsAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good.is_empty() {
            return Err(std::io::Error::other("the disk went away"));
        }
        let n = buf.len().min(self.good.len()).min(100);
        buf[..n].copy_from_slice(&self.good[..n]);
        self.good = &self.good[n..];
        Ok(n)
    }
}

#[test]
fn an_import_that_fails_while_reading_its_records_changes_nothing() {
    let from = Fixture::new();
    let acme = from.populated("acme");
    let good = export(&from, acme.id);
    let to = Fixture::new();
    to.populated("globex");
    let before = to.dump();
    // The records are restored as they are read: the failure comes after some of them
    // were written into the transaction, which must then keep none.
    for cut in [good.len() / 2, good.len() * 9 / 10] {
        let input = std::io::BufReader::with_capacity(64, FailsAfter { good: &good[..cut] });
        let err = to
            .engine
            .admin()
            .import(input, ImportInto::NewTenant)
            .unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert_eq!(to.dump(), before, "a failed import changed the database");
    }
    // The whole export, read the same way, arrives whole.
    let input = std::io::BufReader::with_capacity(64, &good[..]);
    to.engine
        .admin()
        .import(input, ImportInto::NewTenant)
        .unwrap();
    assert_eq!(export(&to, acme.id), good);
}

#[test]
fn exporting_needs_every_read_permission_and_key_management() {
    let f = Fixture::new();
    let acme = f.populated("acme");
    let ada = f
        .engine
        .read(&Context::system(acme.id), |v| {
            v.person_by_email("ada@example.com")
        })
        .unwrap();
    // Ada administers a team below acme, not acme: she cannot even see it.
    let err = f
        .engine
        .export(&Context::person(ada.id, acme.id), acme.id, Vec::new())
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    // A reader of acme sees it, and is refused by name: exports need keys:manage too.
    let sys = Context::system(acme.id);
    let reader = f
        .engine
        .write(&sys, |tx| {
            let p = tx.create_person(NewPerson::new("reader@example.com", "R"))?;
            tx.add_member(p.id, acme.id, "auditor", &["read"])?;
            Ok(p.id)
        })
        .unwrap();
    let err = f
        .engine
        .export(&Context::person(reader, acme.id), acme.id, Vec::new())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Forbidden {
                needed: Permission::KeysManage,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn export_files_appear_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let f = Fixture::new();
    let acme = f.populated("acme");
    let ctx = Context::system(acme.id);
    let path = dir.path().join("acme.jsonl");
    let report = f.engine.export_file(&ctx, acme.id, &path).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), export(&f, acme.id));
    assert_eq!(
        report.lines,
        std::fs::read_to_string(&path).unwrap().lines().count() as u64
    );
    let err = f.engine.export_file(&ctx, acme.id, &path).unwrap_err();
    assert!(err.to_string().contains("will not overwrite"), "{err}");
    // A refused export leaves no file behind, not even a partial one.
    let ada = f
        .engine
        .read(&ctx, |v| v.person_by_email("ada@example.com"))
        .unwrap();
    let other = dir.path().join("other.jsonl");
    let err = f
        .engine
        .export_file(&Context::person(ada.id, acme.id), acme.id, &other)
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    // And it imports from the file.
    let to = Fixture::new();
    to.engine
        .admin()
        .import_file(&path, ImportInto::NewTenant)
        .unwrap();
    let missing = to
        .engine
        .admin()
        .import_file(dir.path().join("nope"), ImportInto::NewTenant);
    assert!(matches!(missing, Err(Error::Io { .. })));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn export_import_export_gives_the_same_lines(ops in tenant_ops(30)) {
        let from = Fixture::new();
        let root = build_tenant(&from.engine, "rt", &ops);
        let first = export(&from, root.id);
        let to = Fixture::new();
        import(&to, &first, ImportInto::NewTenant).unwrap();
        let report = to.engine.check().unwrap();
        prop_assert!(report.is_ok(), "{:#?}", report.problems);
        let second = export(&to, root.id);
        prop_assert_eq!(String::from_utf8(second).unwrap(), String::from_utf8(first).unwrap());
    }
}

#[test]
fn records_load_into_the_groups_a_tenant_already_has() {
    // The target: a tenant with its own groups, made first, as a migration makes them.
    let to = Fixture::new();
    let globex = to.populated("globex").id;
    let shop = to.tenant("shop");
    let team_to = to.team(shop.id);
    // The source: records made after that (the trail of a group only grows), exported.
    let from = Fixture::new();
    from.clock.advance(60_000);
    let acme = from.populated("acme");
    let team_from = from.first_child(acme.id);
    let text = String::from_utf8(export(&from, acme.id)).unwrap();
    // Records only, their groups renamed to the target's, the header naming its tenant.
    let rename = |l: &str| {
        l.replace(&team_from.id.to_string(), &team_to.id.to_string())
            .replace(&acme.id.to_string(), &shop.id.to_string())
    };
    let records_only = |text: &str| {
        text.lines()
            .filter(|l| {
                !["group", "api_key", "plugin"]
                    .iter()
                    .any(|kind| l.contains(&format!("\"record\":\"{kind}\"")))
            })
            .map(rename)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let load = records_only(&text);
    let into = ImportInto::Existing(team_to.id);
    let report = import(&to, load.as_bytes(), into).unwrap();
    assert_eq!(report.groups, 0);
    assert!(report.things >= 4 && report.events > 10, "{report:?}");
    let check = to.engine.check().unwrap();
    assert!(check.is_ok(), "{:#?}", check.problems);
    // The records answer as they did at the source, in the target's groups.
    let ctx = Context::system(shop.id);
    let cap = to
        .engine
        .read(&ctx, |v| {
            v.things(&ThingQuery::of_type("product").group(team_to.id))
        })
        .unwrap()
        .items;
    assert_eq!(cap.len(), 1);
    assert_eq!(cap[0].name, "Cap");
    let ada = to
        .engine
        .read(&ctx, |v| v.person_by_email("ada@example.com"))
        .unwrap();
    assert!(to.engine.can(
        &Context::person(ada.id, shop.id),
        Permission::ThingsWrite,
        team_to.id
    ));
    // Events keep their ids, actors and times.
    let events = |f: &Fixture, root: GroupId| {
        f.engine
            .read(&Context::system(root), |v| {
                v.events(&EventQuery::latest().kind(kinds::THING_CREATED).limit(100))
            })
            .unwrap()
            .items
            .into_iter()
            .map(|e| (e.id, e.actor, e.target))
            .collect::<Vec<_>>()
    };
    assert_eq!(events(&to, shop.id), events(&from, acme.id));
    // Loading the same records again is refused whole: their ids exist.
    let before = to.dump();
    let again = import(&to, load.as_bytes(), into).unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
    assert_eq!(to.dump(), before);
    // Refused before anything: structure lines, a header naming another tenant, a record
    // in a group of another tenant, and an event older than its group's trail.
    to.clock.advance(120_000);
    to.engine
        .write(&ctx, |tx| {
            tx.create_thing(NewThing::new("note", "Newer").in_group(team_to.id))
        })
        .unwrap();
    let before = to.dump();
    let header = rename(text.lines().next().unwrap());
    let old_event = load
        .lines()
        .find(|l| l.contains("\"record\":\"event\"") && l.contains(&team_to.id.to_string()))
        .unwrap();
    let cap_line = load
        .lines()
        .find(|l| l.contains("\"name\":\"Cap\""))
        .unwrap();
    let cases = [
        (text.clone(), "records only"),
        (
            load.replacen(&shop.id.to_string(), &globex.to_string(), 1),
            "not the tenant",
        ),
        (
            format!("{header}\n{cap_line}").replace(
                &team_to.id.to_string(),
                &to.first_child(globex).id.to_string(),
            ),
            "not one of the groups",
        ),
        (format!("{header}\n{old_event}"), "is not newer than"),
    ];
    for (bad, needle) in cases {
        let err = import(&to, bad.as_bytes(), into).unwrap_err();
        assert!(err.to_string().contains(needle), "{needle}: {err}");
        assert_eq!(to.dump(), before, "{needle}: the database changed");
    }
}
