//! The `one` command-line tool.
//!
//! `one demo [PATH]` builds a small two-tenant example database (default
//! `./one-data/one.redb`, replaced if it exists) and prints what each tenant sees.
//! `one stats [PATH]` prints the counts per dimension of an existing database.
//! `one check [PATH]` verifies its integrity ([`Engine::check`]) and fails if it finds a
//! problem.
//! `one backup [PATH] DEST` copies it, consistently, while it may be in use.
//! `one compact [PATH]` gives the space freed by deletes and rewrites back to the file
//! system.
//! `one export [PATH] --group G [--out FILE]` writes a group and everything below it as
//! JSON lines; `one import [PATH] --from FILE [--under G | --into G]` restores such an
//! export, or loads records into existing groups (see
//! [`PORTABLE_USAGE`]).
//! `one watch [PATH] --group G …` prints the changes of a group as they commit (see
//! [`WATCH_USAGE`]).
//! `one key [PATH] --group G [--permissions P,…] [--name N] [--env live|test]` makes an
//! API key and prints its secret (the one time it is shown): the first credential of a
//! server.
//! `one serve [PATH] --listen ADDR …` serves the database over HTTP (feature `server`; see
//! [`SERVE_USAGE`]).

use std::path::PathBuf;
use std::process::ExitCode;

use one::serde_json::json;
use one::*;

const DEFAULT_PATH: &str = "one-data/one.redb";
const USAGE: &str = "usage: one demo [PATH] | one stats [PATH] | one check [PATH]\n       \
     | one compact [PATH] | one backup [PATH] DEST | one export [PATH] --group G [--out FILE]\n       \
     | one import [PATH] --from FILE [--under G | --into G] | one watch [PATH] --group G [...]\n       \
     | one key [PATH] --group G [--permissions P,...] | one serve [PATH] --listen ADDR [...]\n\
     (PATH defaults to ./one-data/one.redb, or is a postgres:// URL with the `postgres`
     feature; `one watch --help` for its options)";
/// What `one export` and `one import` do.
const PORTABLE_USAGE: &str = "usage: one export [PATH] --group GROUP [--out FILE]
       one import [PATH] --from FILE [--under GROUP | --into GROUP]
  export writes GROUP (a group id, or a tenant's slug or domain) and everything below it,
  in both environments, as versioned JSON lines, to FILE or standard output. import restores such
  an export with the same ids: as a new tenant, or below GROUP. With --into, FILE holds
  records only (things, connections, knowledge, events; its header names the tenant):
  they are loaded into the groups GROUP's tenant already has, a bulk load for migrations.
  Passwords, sessions and one-time tokens are not exported: people sign in again after a
  move.";
/// The options of `one watch`.
const WATCH_USAGE: &str =
    "usage: one watch [PATH] --group GROUP [--subtree] [--dimension D]... [--type T]...
                 [--after EVENT_ID] [--count N]
       one watch --url URL [--key TOKEN] [--group GROUP_ID] [same options]
  Prints the changes of GROUP (a group id, or a tenant's slug) in commit order, one JSON
  line each: first those already in the log (after EVENT_ID if given), then each new one
  as it commits, until N have been printed. D is groups, people, things, connections,
  knowledge or events; T is a thing's or connection's type. ONE is embedded: while watch
  holds the file, other processes cannot open it, so what follows the log is what this
  process commits; applications embedding ONE stream changes with `Engine::subscribe`.
  With --url, watch follows a server started with `one serve` (http://host:port) as the
  API key or session token TOKEN (default: $ONE_KEY), in GROUP_ID if given, and resumes
  by itself when the connection drops: every change once, in commit order.";

/// The options of `one serve`.
const SERVE_USAGE: &str = "usage: one serve [PATH | --db URL] --listen ADDR [--trusted-proxy-header NAME]
                 [--max-body BYTES] [--timeout SECONDS] [--max-concurrent N] [--quiet]
  Serves the database at PATH (or the PostgreSQL database at URL, postgres://…; several
  servers may share one, and need the `postgres` feature) over HTTP on ADDR (e.g. 127.0.0.1:8080) until SIGTERM or
  SIGINT: POST /v1/execute and /v1/batch (the vocabulary), resource routes under /v1,
  the live feed at GET /v1/feed (Server-Sent Events), GET /health. Callers authenticate
  with `Authorization: Bearer` and an API key or a session token. The client's address is
  the socket's unless NAME names the header a trusted reverse proxy sets. Plain HTTP: put a
  TLS-terminating proxy in front. Needs the `server` feature:
  cargo run -p one --features server -- serve ...";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = |i: usize| PathBuf::from(args.get(i).map_or(DEFAULT_PATH, String::as_str));
    let result = match args.first().map(String::as_str) {
        Some("demo") if args.len() <= 2 => demo(path(1)),
        Some("stats") if args.len() <= 2 => stats(path(1)),
        Some("check") if args.len() <= 2 => check(path(1)),
        Some("compact") if args.len() <= 2 => compact(path(1)),
        Some("backup") if (2..=3).contains(&args.len()) => {
            let (db, dest) = match &args[1..] {
                [dest] => (PathBuf::from(DEFAULT_PATH), dest),
                [db, dest, ..] => (PathBuf::from(db), dest),
                [] => unreachable!("two or three arguments"),
            };
            backup(db, PathBuf::from(dest))
        }
        Some("export" | "import") if args.iter().any(|a| a == "--help" || a == "-h") => {
            println!("{PORTABLE_USAGE}");
            Ok(())
        }
        Some(command @ ("export" | "import")) => match Options::parse(&args[1..]) {
            Ok(o) if command == "export" => export(o),
            Ok(o) => import(o),
            Err(why) => {
                eprintln!("{why}\n{PORTABLE_USAGE}");
                return ExitCode::from(2);
            }
        },
        Some("watch") if args.iter().any(|a| a == "--help" || a == "-h") => {
            println!("{WATCH_USAGE}");
            Ok(())
        }
        Some("watch") => match WatchArgs::parse(&args[1..]) {
            Ok(w) => watch(w),
            Err(why) => {
                eprintln!("{why}\n{WATCH_USAGE}");
                return ExitCode::from(2);
            }
        },
        Some("key") => match key(&args[1..]) {
            Err(KeyError::Usage(why)) => {
                eprintln!(
                    "{why}\nusage: one key [PATH] --group G [--permissions P,...] [--name N] [--env live|test]"
                );
                return ExitCode::from(2);
            }
            Err(KeyError::Engine(e)) => Err(e),
            Ok(()) => Ok(()),
        },
        Some("serve") if args.iter().any(|a| a == "--help" || a == "-h") => {
            println!("{SERVE_USAGE}");
            Ok(())
        }
        Some("serve") => match serve(&args[1..]) {
            Ok(()) => Ok(()),
            Err(ServeError::Usage(why)) => {
                eprintln!("{why}\n{SERVE_USAGE}");
                return ExitCode::from(2);
            }
            Err(ServeError::Engine(e)) => Err(e),
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            ExitCode::FAILURE
        }
    }
}

struct Tenant {
    group: Group,
    owner: Thing,
}

/// Whether a database argument is a PostgreSQL URL rather than a file.
fn is_url(path: &std::path::Path) -> bool {
    path.to_str()
        .is_some_and(|p| p.starts_with("postgres://") || p.starts_with("postgresql://"))
}

fn demo(path: PathBuf) -> Result<()> {
    // The database file and its commit log go together (a database on a server is
    // never removed: its tenants' slugs must then be new).
    let files = if is_url(&path) {
        vec![]
    } else {
        vec![path.clone(), one_storage::log_path(&path)]
    };
    for file in files {
        if file.exists() {
            std::fs::remove_file(&file).map_err(|source| Error::Io {
                action: "cannot replace",
                path: file.clone(),
                source,
            })?;
        }
    }
    let db = Ontology::open(&path)?;
    println!("ONE demo: building two tenants in {}\n", path.display());

    let acme = build_tenant(
        &db,
        NewGroup::new(GroupType::Organization, "Acme Coffee", "acme").properties(Value::from_json(
            &json!({"domain": "acme.example", "plan": "pro", "revenue_share_bps": 1500}),
        )),
        ("alice@acme.example", "Alice"),
        &[("bob@acme.example", "Bob"), ("carol@acme.example", "Carol")],
        &[
            ("Ethiopia Yirgacheffe", 1650),
            ("Colombia Huila", 1400),
            ("House Espresso", 1200),
            ("Decaf Swiss Water", 1500),
        ],
    )?;
    let books = build_tenant(
        &db,
        NewGroup::new(GroupType::Community, "Bookworms", "bookworms").properties(Value::from_json(
            &json!({"description": "A reading club", "plan": "starter"}),
        )),
        ("dana@books.example", "Dana"),
        &[("erin@books.example", "Erin")],
        &[("Dune", 999), ("Middlemarch", 1299)],
    )?;

    for tenant in [&acme, &books] {
        show_tenant(&db, tenant)?;
    }

    println!("== Isolation");
    let acme_ctx = Context::person(acme.owner.id, acme.group.id);
    let dana = books.owner.id;
    match db.read(&acme_ctx, |v| v.get_thing(dana)) {
        Err(e) => println!("  Acme's owner reading Bookworms' person {dana}: {e}"),
        Ok(t) => println!("  ISOLATION BROKEN: Acme read {t:?}"),
    }
    let books_slug = db.read(&acme_ctx, |v| v.get_group(books.group.id));
    println!(
        "  Acme's owner reading the Bookworms group: {}\n",
        books_slug.map(|g| g.name).unwrap_or_else(|e| e.to_string())
    );

    access(&db, &acme)?;
    billing(&db, &acme)?;
    knowledge(&db, &acme)?;
    print_stats(&db)?;
    db.close()?;
    println!("\nRun `cargo run -p one -- stats` to read the file again.");
    Ok(())
}

/// Keys, sign-up and sign-in, and what each context may do.
fn access(db: &Ontology, tenant: &Tenant) -> Result<()> {
    let group = tenant.group.id;
    let as_owner = Context::person(tenant.owner.id, group);
    println!("== Access ({})", tenant.group.name);
    let (web, reader) = db.write(&as_owner, |tx| {
        let web = tx.create_api_key(NewApiKey::new(
            "storefront",
            &["auth:signup", "auth:signin"],
        ))?;
        let reader = tx.create_api_key(NewApiKey::new("analytics", &["read"]))?;
        Ok((web, reader))
    })?;
    println!(
        "  API keys made by {}: {} (sign-up, sign-in) and {} (read); secrets shown once",
        tenant.owner.name, web.key.prefix, reader.key.prefix
    );
    let web_ctx = db.engine().context_for_api_key(web.secret.expose(), None)?;
    let up = db.engine().sign_up(
        &web_ctx,
        group,
        "frank@acme.example",
        "a long passphrase",
        "Frank",
    )?;
    let session = db
        .engine()
        .sign_in(&web_ctx, group, "frank@acme.example", "a long passphrase")?
        .session()
        .ok_or_else(|| one::Error::Internal {
            reason: "the demo's group asked for a second factor".into(),
        })?;
    let wrong = db
        .engine()
        .sign_in(&web_ctx, group, "frank@acme.example", "wrong passphrase");
    println!(
        "  Frank signed up ({}) and in; a wrong password: {}",
        up.person.id,
        wrong
            .err()
            .map_or("accepted?!".to_string(), |e| e.to_string())
    );
    let frank = db.engine().context_for_session(session.token.expose())?;
    for (who, ctx) in [
        ("Frank's session", frank),
        (
            "the analytics key",
            db.engine()
                .context_for_api_key(reader.secret.expose(), None)?,
        ),
    ] {
        let can: Vec<&str> = [
            Permission::ThingsRead,
            Permission::ThingsWrite,
            Permission::MembersManage,
        ]
        .into_iter()
        .filter(|p| db.engine().can(&ctx, *p, group))
        .map(|p| p.as_str())
        .collect();
        println!("  {who} may: {}", can.join(", "));
    }
    let reader_ctx = db
        .engine()
        .context_for_api_key(reader.secret.expose(), None)?;
    let refused = db.write(&reader_ctx, |tx| {
        tx.create_thing(NewThing::new("product", "Free coffee"))
    });
    println!(
        "  the analytics key creating a product: {}",
        refused.err().map_or("allowed?!".into(), |e| e.to_string())
    );
    db.write(&as_owner, |tx| tx.revoke_api_key(reader.key.id))?;
    let revoked = db
        .engine()
        .context_for_api_key(reader.secret.expose(), None);
    println!(
        "  after revoking it: {}",
        revoked.err().map_or("accepted?!".into(), |e| e.to_string())
    );
    let denied = db.read(&Context::system(group), |v| {
        v.events(&EventQuery::latest().kind(kinds::ACCESS_DENIED))
    })?;
    println!("  access_denied events logged: {}\n", denied.items.len());
    Ok(())
}

/// Usage against the plan, and revenue split exactly.
fn billing(db: &Ontology, tenant: &Tenant) -> Result<()> {
    let group = tenant.group.id;
    let ctx = Context::system(group);
    println!("== Billing ({}, plan pro)", tenant.group.name);
    db.engine().flush_meters()?;
    for u in db.read(&ctx, |v| v.usage(group))? {
        let limit = u.limit.map_or("unlimited".to_string(), |l| l.to_string());
        println!("  {:<17} {:>8} of {limit}", u.resource.as_str(), u.used);
    }
    let start = db.engine().clock().now();
    for cents in [1999, 4550, 1] {
        let split = db.write(&ctx, |tx| {
            tx.record_revenue(group, Money::new(cents, "USD")?)
        })?;
        println!(
            "  revenue {:>5} cents -> group {:>4} + platform {:>4} ({})",
            split.total.minor, split.group.minor, split.platform.minor, split.share
        );
    }
    let report = db.read(&ctx, |v| {
        v.revenue(
            group,
            "USD",
            start,
            db.engine().clock().now().plus_millis(1),
        )
    })?;
    println!(
        "  report: {} entries, total {} = group {} + platform {} cents\n",
        report.entries, report.total.minor, report.group.minor, report.platform.minor
    );
    Ok(())
}

/// Text chunks, embedded by the built-in embedder, searched by meaning-ish.
fn knowledge(db: &Ontology, tenant: &Tenant) -> Result<()> {
    let ctx = Context::system(tenant.group.id);
    println!("== Knowledge ({})", tenant.group.name);
    db.write(&ctx, |tx| {
        for (text, label) in [
            (
                "To reset your password, open Settings and choose Reset password.",
                "account",
            ),
            (
                "We ship coffee to Canada and Mexico; rates depend on weight.",
                "shipping",
            ),
            ("Decaf Swiss Water is roasted on Tuesdays.", "roasting"),
            (
                "Refunds are paid to the original card within five days.",
                "billing",
            ),
        ] {
            tx.create_knowledge(NewKnowledge::new(text).labels(&["faq", label]))?;
        }
        Ok(())
    })?;
    for question in [
        "how can I reset a forgotten password",
        "do you ship to canada",
    ] {
        let hits = db.read(&ctx, |v| {
            v.query_knowledge(&KnowledgeQuery::text(question).k(1).any_label(&["faq"]))
        })?;
        if let Some(hit) = hits.first() {
            println!(
                "  {question:?} -> {:?} (score {:.2})",
                hit.knowledge.text, hit.score
            );
        }
    }
    println!();
    Ok(())
}

fn build_tenant(
    db: &Ontology,
    new: NewGroup,
    owner: (&str, &str),
    customers: &[(&str, &str)],
    products: &[(&str, i64)],
) -> Result<Tenant> {
    let group = db.admin().create_root_group(new)?;
    let ctx = Context::system(group.id);
    let owner = db.write(&ctx, |tx| {
        let owner = tx.create_person(NewPerson::new(owner.0, owner.1).role("org_owner"))?;
        tx.add_member(owner.id, group.id, "group_owner", &["*"])?;
        let shop = tx.create_group(
            group.id,
            NewGroup::new(GroupType::Business, format!("{} Shop", group.name), "shop"),
        )?;
        tx.add_member(owner.id, shop.id, "group_owner", &["*"])?;
        Ok(owner)
    })?;
    let as_owner = Context::person(owner.id, group.id);
    db.write(&as_owner, |tx| {
        let mut catalogue = Vec::new();
        for (name, price) in products {
            let p = NewThing::new("product", *name)
                .property("price", *price)
                .property("currency", "USD");
            catalogue.push(tx.create_thing(p)?);
        }
        for (i, (email, name)) in customers.iter().enumerate() {
            let person = tx.create_person(NewPerson::new(*email, *name))?;
            tx.add_member(person.id, group.id, "group_user", &["read"])?;
            let product = &catalogue[i % catalogue.len()];
            let price = product
                .properties
                .get_path("price")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            tx.connect(
                NewConnection::new(person.id, "purchased", product.id).metadata(
                    Value::map()
                        .with("quantity", 2)
                        .with("total", price * 2)
                        .with("currency", "USD"),
                ),
            )?;
        }
        Ok(())
    })?;
    Ok(Tenant { group, owner })
}

fn show_tenant(db: &Ontology, tenant: &Tenant) -> Result<()> {
    let ctx = Context::person(tenant.owner.id, tenant.group.id);
    db.read(&ctx, |v| {
        println!(
            "== Tenant {} ({}), as {}",
            tenant.group.name, tenant.group.id, tenant.owner.name
        );
        for g in v.subtree(tenant.group.id)? {
            let depth = if g.parent.is_some() { "    " } else { "  " };
            println!(
                "{depth}group {} [{}] slug={} plan={}",
                g.name,
                g.kind.as_str(),
                g.slug,
                g.properties
                    .get_path("plan")
                    .and_then(Value::as_str)
                    .unwrap_or("-")
            );
        }
        let members = v.members(tenant.group.id, None, None)?;
        for m in &members.items {
            let person = v.get_thing(m.from.to_string().parse()?)?;
            println!(
                "  member {} <{}> role={}",
                person.name,
                person
                    .properties
                    .get_path("email")
                    .and_then(Value::as_str)
                    .unwrap_or("?"),
                m.metadata
                    .get_path("role")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
            );
        }
        let products = v.things(&ThingQuery::of_type("product"))?;
        for p in &products.items {
            let price = p
                .properties
                .get_path("price")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            println!(
                "  product {:<22} ${}.{:02}",
                p.name,
                price / 100,
                price % 100
            );
        }
        let filter = Filter::from_json(&json!({"properties.price": {"$gte": 1000, "$lt": 1500}}))?;
        let mid = v.things(&ThingQuery::of_type("product").filter(filter))?;
        println!(
            "  products priced $10.00-$14.99: {}",
            mid.items
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for m in &members.items {
            let person: ThingId = m.from.to_string().parse()?;
            for c in v
                .connections(&ConnectionQuery::outgoing(person).kind("purchased"))?
                .items
            {
                let product = v.get_thing(c.to.to_string().parse()?)?;
                println!(
                    "  purchase {} -> {} ({})",
                    v.get_thing(person)?.name,
                    product.name,
                    c.metadata
                );
            }
        }
        let events = v.events(&EventQuery::latest().limit(5))?;
        println!("  latest events:");
        for e in events.items {
            println!(
                "    #{:<3} {:<20} by {} on {}",
                e.seq,
                e.kind,
                e.actor,
                e.target.map_or("-".to_string(), |t| t.to_string())
            );
        }
        let c = v.counts(tenant.group.id)?;
        println!(
            "  counts: {} people, {} things, {} connections, {} events\n",
            c.people, c.things, c.connections, c.events
        );
        Ok(())
    })
}

fn stats(path: PathBuf) -> Result<()> {
    print_stats(&open_existing(path)?)
}

fn check(path: PathBuf) -> Result<()> {
    let db = open_existing(path.clone())?;
    let report = db.engine().check()?;
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    let unlisted = report.problem_count - report.problems.len() as u64;
    if unlisted > 0 {
        println!("… and {unlisted} more");
    }
    println!(
        "{}: {} tenants, {} records, {} entries checked: {}",
        path.display(),
        report.tenants,
        report.records,
        report.entries,
        if report.is_ok() { "ok" } else { "DAMAGED" }
    );
    if report.is_ok() {
        Ok(())
    } else {
        Err(Error::Corrupt {
            what: "database",
            reason: format!(
                "the integrity check found {} problems",
                report.problem_count
            ),
        })
    }
}

fn compact(path: PathBuf) -> Result<()> {
    let size = |p: &PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    require_existing(&path)?;
    let before = size(&path);
    Ontology::builder()
        .compact_on_open(true)
        .open(&path)?
        .close()?;
    let after = size(&path);
    println!(
        "{}: {} bytes before, {after} after ({:.1}% given back)",
        path.display(),
        before,
        100.0 * before.saturating_sub(after) as f64 / before.max(1) as f64
    );
    Ok(())
}

fn backup(path: PathBuf, dest: PathBuf) -> Result<()> {
    let db = open_existing(path)?;
    let seq = db.engine().backup(&dest)?;
    println!("{}: a copy as of commit {seq}", dest.display());
    Ok(())
}

/// The database path and `--name value` options of `one export` and `one import`.
struct Options {
    path: PathBuf,
    values: Vec<(String, String)>,
}

impl Options {
    const NAMES: [&str; 5] = ["--group", "--out", "--from", "--under", "--into"];

    fn parse(args: &[String]) -> std::result::Result<Self, String> {
        let mut path = None;
        let mut values = Vec::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            if Self::NAMES.contains(&arg.as_str()) {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                values.push((arg.clone(), value.clone()));
            } else if arg.starts_with("--") {
                return Err(format!("unknown option {arg}"));
            } else if path.is_none() {
                path = Some(PathBuf::from(arg));
            } else {
                return Err(format!("unexpected argument {arg:?}"));
            }
        }
        Ok(Self {
            path: path.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH)),
            values,
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn required(&self, name: &'static str) -> Result<&str> {
        self.get(name).ok_or(Error::MissingField { field: name })
    }
}

/// A group named by its id, or a tenant by its slug or its domain.
fn find_group(db: &Ontology, text: &str) -> Result<GroupId> {
    if let Ok(id) = text.parse::<GroupId>() {
        return Ok(id);
    }
    let admin = db.admin();
    let found = match admin.tenant_by_slug(text) {
        Ok(Some(tenant)) => Some(tenant),
        // Not a slug (a dot, say): perhaps a domain.
        Ok(None) | Err(Error::InvalidField { .. }) => admin.tenant_by_domain(text).ok().flatten(),
        Err(e) => return Err(e),
    };
    found.map(|g| g.id).ok_or_else(|| Error::NotFound {
        kind: IdKind::Group,
        id: format!("with slug or domain {text:?}"),
    })
}

fn export(o: Options) -> Result<()> {
    let db = open_existing(o.path.clone())?;
    let group = find_group(&db, o.required("--group")?)?;
    let ctx = Context::system(group);
    let report = match o.get("--out") {
        Some(file) => db.engine().export_file(&ctx, group, file)?,
        None => db.engine().export(&ctx, group, std::io::stdout().lock())?,
    };
    eprintln!(
        "exported {group}: {} lines ({}; {} connections to records outside left out)",
        report.lines,
        moved(&report),
        report.connections_left_out
    );
    Ok(())
}

fn import(o: Options) -> Result<()> {
    let from = o.required("--from")?;
    // Refuse a missing export before creating the database file.
    std::fs::metadata(from).map_err(|source| Error::Io {
        action: "cannot open",
        path: from.into(),
        source,
    })?;
    let db = Ontology::open(&o.path)?;
    let into = match (o.get("--under"), o.get("--into")) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid("--into", "give --under or --into, not both"));
        }
        (Some(g), None) => ImportInto::Under(find_group(&db, g)?),
        (None, Some(g)) => ImportInto::Existing(find_group(&db, g)?),
        (None, None) => ImportInto::NewTenant,
    };
    let report = db.admin().import_file(from, into)?;
    println!(
        "imported {}: {}",
        report.group.map(|g| g.to_string()).unwrap_or_default(),
        moved(&report)
    );
    Ok(())
}

/// What an export or import moved, for people.
fn moved(r: &PortableReport) -> String {
    format!(
        "{} groups, {} things, {} connections, {} knowledge, {} events, {} API keys, {} plugins",
        r.groups, r.things, r.connections, r.knowledge, r.events, r.api_keys, r.plugins
    )
}

/// Opens a database file that must exist already (rather than creating an empty one).
fn open_existing(path: PathBuf) -> Result<Ontology> {
    require_existing(&path)?;
    Ontology::open(&path)
}

/// Refuses a database file that does not exist (rather than creating an empty one). A
/// PostgreSQL URL is checked by connecting.
fn require_existing(path: &std::path::Path) -> Result<()> {
    if path.exists() || is_url(path) {
        return Ok(());
    }
    eprintln!("{} does not exist; run `one demo` first", path.display());
    Err(Error::Io {
        action: "cannot open",
        path: path.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::NotFound),
    })
}

fn print_stats(db: &Ontology) -> Result<()> {
    let s = db.admin().stats()?;
    println!("== Stats");
    println!("  tenants      {}", s.tenants);
    println!("  groups       {}", s.groups);
    for (env, c) in [("live", s.live), ("test", s.test)] {
        println!(
            "  {env}: people {}, things {}, connections {}, events {}",
            c.people, c.things, c.connections, c.events
        );
    }
    for g in db.admin().root_groups()? {
        println!("  tenant {:<12} {} ({})", g.slug, g.name, g.id);
    }
    Ok(())
}

/// What `one watch` was asked to do.
struct WatchArgs {
    path: PathBuf,
    /// A server to follow instead of a file, with the credential to follow it as.
    url: Option<(String, String)>,
    group: String,
    filter: ChangeFilter,
    after: Option<EventId>,
    count: Option<usize>,
}

impl WatchArgs {
    fn parse(args: &[String]) -> std::result::Result<Self, String> {
        let mut path = None;
        let (mut group, mut after, mut count) = (None, None, None);
        let (mut url, mut key) = (None, std::env::var("ONE_KEY").ok());
        let mut filter = ChangeFilter::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match arg.as_str() {
                "--group" => group = Some(value("--group")?),
                "--url" => url = Some(value("--url")?),
                "--key" => key = Some(value("--key")?),
                "--subtree" => filter = filter.with_subtree(),
                "--type" => filter = filter.kind(value("--type")?),
                "--dimension" => {
                    let d: Dimension = value("--dimension")?.parse().map_err(|e| format!("{e}"))?;
                    filter = filter.dimension(d);
                }
                "--after" => {
                    let text = value("--after")?;
                    after = Some(text.parse().map_err(|e| format!("--after: {e}"))?);
                }
                "--count" => {
                    let text = value("--count")?;
                    count = Some(
                        text.parse()
                            .map_err(|_| format!("--count: {text:?} is not a number"))?,
                    );
                }
                other if other.starts_with("--") => return Err(format!("unknown option {other}")),
                other if path.is_none() => path = Some(PathBuf::from(other)),
                other => return Err(format!("unexpected argument {other:?}")),
            }
        }
        let url = match (url, key) {
            (Some(u), Some(k)) => Some((u, k)),
            (Some(_), None) => return Err("--url needs --key (or $ONE_KEY)".into()),
            (None, _) => None,
        };
        if url.is_none() && group.is_none() {
            return Err("--group is required".into());
        }
        Ok(Self {
            path: path.unwrap_or_else(|| PathBuf::from(DEFAULT_PATH)),
            url,
            group: group.unwrap_or_default(),
            filter,
            after,
            count,
        })
    }
}

fn print_change(e: &Event) {
    println!(
        "{}",
        json!({
            "seq": e.seq,
            "id": e.id.to_string(),
            "time": e.time().as_millis(),
            "group": e.group.to_string(),
            "type": e.kind,
            "actor": e.actor.to_string(),
            "target": e.target.map(|t| t.to_string()),
            "metadata": e.metadata.to_json(),
        })
    );
}

/// `one watch --url`: follows a server through the remote client.
fn watch_remote(args: &WatchArgs, url: &str, key: &str) -> Result<()> {
    let failed = |f: Failure| Error::InvalidField {
        field: "watch".into(),
        reason: format!("{} ({}): {}", f.name, f.code, f.message),
    };
    let mut remote = one_client::Remote::connect(url, key).map_err(failed)?;
    if !args.group.is_empty() {
        remote = remote.in_group(args.group.parse::<GroupId>()?);
    }
    let mut feed = remote
        .follow(args.filter.clone(), args.after)
        .map_err(failed)?;
    for _ in 0..args.count.unwrap_or(usize::MAX) {
        loop {
            if let Some(e) = feed
                .next_change(std::time::Duration::from_secs(3600))
                .map_err(failed)?
            {
                print_change(&e);
                break;
            }
        }
    }
    Ok(())
}

fn watch(args: WatchArgs) -> Result<()> {
    if let Some((url, key)) = &args.url {
        return watch_remote(&args, url, key);
    }
    let db = open_existing(args.path)?;
    let group = find_group(&db, &args.group)?;
    let ctx = Context::system(group);
    let mut subscription =
        db.engine()
            .subscribe_from(&ctx, args.filter.group(group), args.after)?;
    for change in subscription
        .iter(db.engine())
        .take(args.count.unwrap_or(usize::MAX))
    {
        print_change(&change?);
    }
    Ok(())
}

/// Why `one key` did not run.
enum KeyError {
    Usage(String),
    Engine(Error),
}

impl From<Error> for KeyError {
    fn from(e: Error) -> Self {
        KeyError::Engine(e)
    }
}

/// `one key`: makes an API key of a group (a group id, or a tenant's slug) as the system,
/// and prints `{"id", "secret"}`.
fn key(args: &[String]) -> Result<(), KeyError> {
    let mut path = PathBuf::from(DEFAULT_PATH);
    let (mut group, mut name, mut env) = (None, "cli".to_string(), Env::Live);
    let mut permissions = vec!["read".to_string(), "write".to_string()];
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |n: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| KeyError::Usage(format!("{n} needs a value")))
        };
        match arg.as_str() {
            "--group" => group = Some(value("--group")?),
            "--name" => name = value("--name")?,
            "--permissions" => {
                permissions = value("--permissions")?
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            "--env" => env = value("--env")?.parse()?,
            other if !other.starts_with("--") => path = PathBuf::from(other),
            other => return Err(KeyError::Usage(format!("unknown option {other}"))),
        }
    }
    let group = group.ok_or_else(|| KeyError::Usage("--group is required".into()))?;
    let db = open_existing(path)?;
    let group = find_group(&db, &group)?;
    let made = db.write(&Context::system(group), |tx| {
        tx.create_api_key(NewApiKey::new(name.clone(), &permissions).env(env))
    })?;
    println!(
        "{}",
        json!({"id": made.key.id.to_string(), "secret": made.secret.expose()})
    );
    Ok(())
}

/// Why `one serve` did not run.
enum ServeError {
    /// The arguments are wrong (or the build has no server).
    Usage(String),
    /// The database or the server failed.
    Engine(Error),
}

impl From<Error> for ServeError {
    fn from(e: Error) -> Self {
        ServeError::Engine(e)
    }
}

#[cfg(not(feature = "server"))]
fn serve(_: &[String]) -> Result<(), ServeError> {
    Err(ServeError::Usage(
        "this build has no server: rebuild with `--features server`".into(),
    ))
}

#[cfg(feature = "server")]
fn serve(args: &[String]) -> Result<(), ServeError> {
    use one::server::{Server, ServerConfig};
    let mut path = PathBuf::from(DEFAULT_PATH);
    let mut listen = None;
    type Edit = Box<dyn FnOnce(&mut ServerConfig)>;
    let mut config_edits: Vec<Edit> = Vec::new();
    let mut it = args.iter();
    let bad = |why: String| ServeError::Usage(why);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| bad(format!("{name} needs a value")))
        };
        match arg.as_str() {
            "--listen" => {
                let text = value("--listen")?;
                listen = Some(text.parse::<std::net::SocketAddr>().map_err(|e| {
                    bad(format!(
                        "--listen {text}: {e} (an address such as 127.0.0.1:8080)"
                    ))
                })?);
            }
            "--trusted-proxy-header" => {
                let name = value("--trusted-proxy-header")?.to_ascii_lowercase();
                config_edits.push(Box::new(move |c| c.trusted_proxy_header = Some(name)));
            }
            "--max-body" => {
                let n: usize = value("--max-body")?
                    .parse()
                    .map_err(|_| bad("--max-body takes a number of bytes".into()))?;
                config_edits.push(Box::new(move |c| c.max_body_bytes = n));
            }
            "--timeout" => {
                let s: u64 = value("--timeout")?
                    .parse()
                    .map_err(|_| bad("--timeout takes a number of seconds".into()))?;
                config_edits.push(Box::new(move |c| {
                    c.request_timeout = std::time::Duration::from_secs(s)
                }));
            }
            "--max-concurrent" => {
                let n: usize = value("--max-concurrent")?
                    .parse()
                    .map_err(|_| bad("--max-concurrent takes a number".into()))?;
                config_edits.push(Box::new(move |c| c.max_concurrent = n.max(1)));
            }
            "--quiet" => config_edits.push(Box::new(|c| c.log_requests = false)),
            "--db" => path = PathBuf::from(value("--db")?),
            other if !other.starts_with("--") => path = PathBuf::from(other),
            other => return Err(bad(format!("unknown option {other}"))),
        }
    }
    let listen = listen.ok_or_else(|| bad("--listen is required".into()))?;
    let mut config = ServerConfig::new(listen);
    for edit in config_edits {
        edit(&mut config);
    }
    let db = std::sync::Arc::new(Ontology::open(&path)?);
    let server = Server::start(db, config)?;
    eprintln!(
        "{}",
        json!({"serving": path.display().to_string(), "listen": server.addr().to_string()})
    );
    server.run_until_signal()?;
    Ok(())
}
