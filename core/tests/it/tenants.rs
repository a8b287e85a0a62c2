//! Finding a tenant by its slug or its domain: the lookup a request handler starts with.
//! A domain is normalised when written, belongs to one tenant in the database, and only a
//! top-level group has one; the index follows every change, import and check.

use one_core::*;
use proptest::prelude::*;

use crate::{Fixture, json};

fn with_domain(slug: &str, domain: &str) -> NewGroup {
    NewGroup::new(GroupType::Organization, slug.to_uppercase(), slug)
        .properties(json(serde_json::json!({ "domain": domain })))
}

/// Creates the tenant `slug` with `domain`.
fn tenant_with_domain(f: &Fixture, slug: &str, domain: &str) -> Result<Group> {
    f.engine
        .admin()
        .create_root_group(with_domain(slug, domain))
}

fn domain_patch(domain: serde_json::Value) -> GroupUpdate {
    GroupUpdate::default().properties(json(serde_json::json!({ "domain": domain })))
}

fn found(f: &Fixture, host: &str) -> Option<GroupId> {
    f.engine
        .admin()
        .tenant_by_domain(host)
        .unwrap()
        .map(|g| g.id)
}

fn invalid_field(e: Error) -> String {
    match e {
        Error::InvalidField { field, .. } => field,
        other => panic!("expected an invalid field, got {other:?}"),
    }
}

#[test]
fn a_tenant_is_found_by_its_slug_and_by_its_domain_in_normal_form() {
    let f = Fixture::new();
    let acme = tenant_with_domain(&f, "acme", " Shop.ACME.example. ").unwrap();
    assert_eq!(
        acme.properties.get_path("domain").and_then(Value::as_str),
        Some("shop.acme.example"),
        "stored in normal form"
    );
    f.tenant("globex");
    for host in [
        "shop.acme.example",
        "SHOP.Acme.Example",
        "shop.acme.example.",
        "shop.acme.example:8443",
    ] {
        assert_eq!(found(&f, host), Some(acme.id), "{host}");
    }
    assert_eq!(found(&f, "acme.example"), None);
    assert_eq!(found(&f, "globex.example"), None);
    let admin = f.engine.admin();
    assert_eq!(
        admin.tenant_by_slug("acme").unwrap().map(|g| g.id),
        Some(acme.id)
    );
    assert_eq!(
        admin.tenant_by_slug(" ACME ").unwrap().map(|g| g.id),
        Some(acme.id)
    );
    assert!(admin.tenant_by_slug("initech").unwrap().is_none());
    // Text that cannot be a slug or a domain names the field.
    assert_eq!(
        invalid_field(admin.tenant_by_slug("a b").unwrap_err()),
        "slug"
    );
    for host in ["", "not a domain", "[::1]:8080", "a..b", "ü.example"] {
        assert_eq!(
            invalid_field(admin.tenant_by_domain(host).unwrap_err()),
            "domain",
            "{host:?}"
        );
    }
}

#[test]
fn a_domain_belongs_to_one_tenant_and_moves_with_every_change() {
    let f = Fixture::new();
    let acme = tenant_with_domain(&f, "acme", "acme.example").unwrap();
    let before = f.dump();
    let taken = tenant_with_domain(&f, "globex", "ACME.example").unwrap_err();
    assert!(
        matches!(&taken, Error::DuplicateDomain { domain } if domain == "acme.example"),
        "{taken:?}"
    );
    assert_eq!(taken.code(), 207);
    assert_eq!(f.dump(), before, "a refused tenant leaves nothing behind");
    let globex = f.tenant("globex");
    let as_system = |g: GroupId| Context::system(g);
    let update = |g: GroupId, patch: GroupUpdate| {
        f.engine
            .write(&as_system(g), |tx| tx.update_group(g, patch.clone()))
    };
    assert!(matches!(
        update(globex.id, domain_patch("acme.example".into())),
        Err(Error::DuplicateDomain { .. })
    ));
    // A new domain frees the old one, which another tenant may then take.
    update(acme.id, domain_patch("acme.io".into())).unwrap();
    assert_eq!(found(&f, "acme.io"), Some(acme.id));
    assert_eq!(found(&f, "acme.example"), None);
    update(globex.id, domain_patch("acme.example".into())).unwrap();
    assert_eq!(found(&f, "acme.example"), Some(globex.id));
    // A change that leaves the domain alone leaves the index alone.
    update(acme.id, GroupUpdate::default().name("Acme Corp")).unwrap();
    assert_eq!(found(&f, "acme.io"), Some(acme.id));
    // Removing it frees it.
    update(acme.id, domain_patch(serde_json::Value::Null)).unwrap();
    assert_eq!(found(&f, "acme.io"), None);
    let report = f.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
}

#[test]
fn only_a_tenant_has_a_domain_and_only_a_domain_name_is_one() {
    let f = Fixture::new();
    let root = f.tenant("acme");
    let ctx = Context::system(root.id);
    let before = f.dump();
    let child = f.engine.write(&ctx, |tx| {
        tx.create_group(
            root.id,
            NewGroup::new(GroupType::Business, "Shop", "shop")
                .properties(json(serde_json::json!({ "domain": "shop.example" }))),
        )
    });
    assert_eq!(invalid_field(child.unwrap_err()), "properties.domain");
    let team = f.team(root.id);
    let moved = f.engine.write(&ctx, |tx| {
        tx.update_group(team.id, domain_patch("team.example".into()))
    });
    assert_eq!(invalid_field(moved.unwrap_err()), "properties.domain");
    for bad in [
        "exa mple.com",
        "-acme.example",
        "acme-.example",
        "acme..example",
        "bücher.example",
        "acme.example:443",
        &format!("{}.example", "a".repeat(64)),
        &format!("{}a", "a.".repeat(127)),
    ] {
        let refused = tenant_with_domain(&f, "globex", bad).unwrap_err();
        assert_eq!(invalid_field(refused), "properties.domain", "{bad:?}");
    }
    let longest = format!("{}.example", "a".repeat(63));
    tenant_with_domain(&f, "globex", &longest).unwrap();
    assert!(found(&f, &longest).is_some());
    assert_ne!(f.dump(), before);
}

#[test]
fn the_platform_asks_through_the_vocabulary() {
    let f = Fixture::new();
    let acme = tenant_with_domain(&f, "acme", "acme.example").unwrap();
    let ask = |ctx: &Context, request: Request| f.engine.execute(ctx, request);
    let system = Context::system(acme.id);
    match ask(
        &system,
        Request::TenantByDomain {
            domain: "ACME.example:80".into(),
        },
    )
    .unwrap()
    {
        Response::Tenant(Some(g)) => assert_eq!(g.id, acme.id),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        ask(
            &system,
            Request::TenantBySlug {
                slug: "nobody".into()
            }
        )
        .unwrap(),
        Response::Tenant(None)
    );
    let (up, _) = f.signed_in(&system, acme.id, "ann@acme.example");
    let ann = Context::person(up.person.id, acme.id);
    assert!(matches!(
        ask(
            &ann,
            Request::TenantBySlug {
                slug: "acme".into()
            }
        ),
        Err(Error::PlatformOnly { .. })
    ));
}

#[test]
fn an_import_claims_the_domain_or_changes_nothing() {
    let source = Fixture::new();
    let acme = tenant_with_domain(&source, "acme", "acme.example").unwrap();
    let mut export = Vec::new();
    source
        .engine
        .export(&Context::system(acme.id), acme.id, &mut export)
        .unwrap();
    let target = Fixture::new();
    let report = target
        .engine
        .admin()
        .import(export.as_slice(), ImportInto::NewTenant)
        .unwrap();
    assert_eq!(found(&target, "acme.example"), report.group);
    // A second copy of the tenant needs its own slug and domain: refused whole.
    let other = Fixture::new();
    tenant_with_domain(&other, "initech", "acme.example").unwrap();
    let before = other.dump();
    let refused = other
        .engine
        .admin()
        .import(export.as_slice(), ImportInto::NewTenant)
        .unwrap_err();
    assert!(
        matches!(refused, Error::DuplicateDomain { .. }),
        "{refused:?}"
    );
    assert_eq!(other.dump(), before);
}

#[test]
fn a_database_written_before_the_index_gets_it_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let acme = {
        let f = Fixture::file(&path);
        let acme = tenant_with_domain(&f, "acme", "acme.example").unwrap();
        // What an older version left: no domain index and no mark that it was built.
        f.engine
            .store()
            .write(|kv| {
                let index: Vec<Vec<u8>> = f
                    .dump()
                    .into_iter()
                    .map(|(k, _)| k)
                    .filter(|k| k.starts_with(b"Dd") || k.as_slice() == b"Md")
                    .collect();
                assert_eq!(index.len(), 2, "one domain entry and the mark");
                for k in index {
                    kv.delete(&k)?;
                }
                Ok::<_, one_storage::StorageError>(())
            })
            .unwrap();
        assert_eq!(found(&f, "acme.example"), None);
        acme
    };
    let reopened = Fixture::file(&path);
    assert_eq!(found(&reopened, "acme.example"), Some(acme.id));
    let report = reopened.engine.check().unwrap();
    assert!(report.is_ok(), "{:#?}", report.problems);
}

#[test]
fn check_reports_a_domain_entry_missing_or_astray() {
    let f = Fixture::new();
    let acme = tenant_with_domain(&f, "acme", "acme.example").unwrap();
    let entry: Vec<u8> = f
        .dump()
        .into_iter()
        .map(|(k, _)| k)
        .find(|k| k.starts_with(b"Dd"))
        .unwrap();
    f.engine.store().write(|kv| kv.delete(&entry)).unwrap();
    let report = f.engine.check().unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("domain index")),
        "{:#?}",
        report.problems
    );
    let mut astray = entry.clone();
    astray.extend_from_slice(b"x");
    f.engine
        .store()
        .write(|kv| {
            kv.put(entry.clone(), acme.id.to_be_bytes())?;
            kv.put(astray.clone(), acme.id.to_be_bytes())
        })
        .unwrap();
    let report = f.engine.check().unwrap();
    assert_eq!(report.problem_count, 1, "{:#?}", report.problems);
    assert!(report.problems[0].message.contains("domain index"));
}

/// Text that is sometimes a domain name and often nearly one: letters of both cases,
/// digits, dots, hyphens, a trailing dot, spaces, a port, non-ASCII.
fn domainish() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9]{1,12}(\\.[a-zA-Z0-9-]{1,12}){0,3}\\.?",
        "[a-zA-Z0-9.: é-]{0,24}",
        "[a-z]{1,8}\\.[a-z]{2,6}:[0-9]{1,5}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the text: a tenant gets it as its domain in one normal form, or it is
    /// refused naming the field and nothing is written; the normal form finds the tenant
    /// from any casing and with a trailing dot, and no second tenant can take it. A lookup
    /// of any text answers a tenant, none, or an invalid field — never anything else.
    #[test]
    fn a_domain_is_stored_in_one_normal_form_or_refused(text in domainish(), probe in domainish()) {
        let f = Fixture::new();
        let before = f.dump();
        match tenant_with_domain(&f, "acme", &text) {
            Ok(acme) => {
                let stored = acme.properties.get_path("domain").and_then(Value::as_str).unwrap().to_string();
                prop_assert_eq!(&stored, &stored.to_ascii_lowercase());
                prop_assert!(!stored.ends_with('.') && !stored.contains(':'));
                for host in [stored.clone(), stored.to_ascii_uppercase(), format!("{stored}."), format!("{stored}:443")] {
                    prop_assert_eq!(found(&f, &host), Some(acme.id), "{}", host);
                }
                let again = tenant_with_domain(&f, "globex", &stored.to_ascii_uppercase());
                prop_assert!(matches!(again, Err(Error::DuplicateDomain { .. })), "{:?}", again);
            }
            Err(Error::InvalidField { field, .. }) => {
                prop_assert_eq!(field, "properties.domain");
                prop_assert_eq!(f.dump(), before);
            }
            Err(other) => prop_assert!(false, "{text:?}: {other:?}"),
        }
        match f.engine.admin().tenant_by_domain(&probe) {
            Ok(_) => {}
            Err(Error::InvalidField { field, .. }) => prop_assert_eq!(field, "domain"),
            Err(other) => prop_assert!(false, "{probe:?}: {other:?}"),
        }
    }
}
