//! The example plugins, built from `plugins/examples` with the SDK, doing their jobs.

use one_core::*;

use crate::{Fixture, declaring, example};

fn json(v: serde_json::Value) -> Value {
    Value::from_json(&v)
}

fn invalid_field<T: std::fmt::Debug>(r: Result<T>) -> (String, String) {
    match r {
        Err(Error::InvalidField { field, reason }) => (field, reason),
        other => panic!("expected InvalidField, got {other:?}"),
    }
}

#[test]
fn product_normalises_checks_and_reacts() {
    let f = Fixture::new();
    let info = f
        .engine
        .install_plugin(&f.ctx(), &example("product"))
        .unwrap();
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("product", "1.0.0")
    );
    assert!(info.reacts);
    let types = f.engine.read(&f.ctx(), |v| v.thing_types()).unwrap();
    assert_eq!(types.len(), 1);
    assert_eq!(types[0].name, "product");
    assert!(
        types[0]
            .fields
            .iter()
            .any(|f| f.name == "price" && f.indexed)
    );

    let t = f
        .create(
            "product",
            serde_json::json!({"price": 12.5, "currency": " eur ", "sku": "ab-12", "color": "red"}),
        )
        .unwrap();
    assert_eq!(
        t.properties,
        json(serde_json::json!({
            "price": 12.5, "currency": "EUR", "sku": "AB-12", "stock": 0, "color": "red"
        }))
    );

    // Refusals name the field: the plugin's own rules, then the declared schema.
    let before = f.dump();
    let (field, reason) = invalid_field(f.create(
        "product",
        serde_json::json!({"price": 1, "currency": "euro", "sku": "AB-12"}),
    ));
    assert_eq!(field, "properties.currency");
    assert!(reason.contains("ISO 4217"), "{reason}");
    let (field, _) = invalid_field(f.create(
        "product",
        serde_json::json!({"price": 1, "currency": "EUR", "sku": "a b"}),
    ));
    assert_eq!(field, "properties.sku");
    let (field, reason) = invalid_field(f.create(
        "product",
        serde_json::json!({"price": -1, "currency": "EUR", "sku": "AB-12"}),
    ));
    assert_eq!(
        (field.as_str(), reason.as_str()),
        ("properties.price", "must be at least 0")
    );
    let (field, reason) = invalid_field(f.create(
        "product",
        serde_json::json!({"price": 1, "currency": "EUR", "sku": "AB-12", "stock": 2.5}),
    ));
    assert_eq!(field, "properties.stock");
    assert!(reason.contains("integer"), "{reason}");
    let (field, _) = invalid_field(f.create(
        "product",
        serde_json::json!({"currency": "EUR", "sku": "AB-12"}),
    ));
    assert_eq!(field, "properties.price");
    assert_eq!(f.dump(), before, "refused creates changed the store");

    // Updates run the plugin on the merged properties; low stock logs an event through
    // the plugin's reaction, after the commit.
    let updated = f
        .engine
        .write(&f.ctx(), |tx| {
            tx.update_thing(
                t.id,
                ThingUpdate::default()
                    .properties(json(serde_json::json!({"stock": 3, "currency": "usd"}))),
            )
        })
        .unwrap();
    assert_eq!(
        updated.properties.get_path("currency"),
        Some(&Value::from("USD"))
    );
    // One from the create (stock defaulted to 0), one from the update; newest first.
    let low = f.events("low_stock");
    assert_eq!(low.len(), 2);
    assert_eq!(low[0].target, Some(Ref::from(t.id)));
    assert_eq!(
        low[0].metadata.get_path("plugin"),
        Some(&Value::from("product"))
    );
    assert_eq!(low[0].metadata.get_path("stock"), Some(&Value::Int(3)));
    // The reaction acted as the plugin's own principal.
    assert_eq!(low[0].actor, Principal::Plugin(info.principal));

    // The declared index on `price` serves filtered lists.
    let cheap = f
        .engine
        .read(&f.ctx(), |v| {
            v.things(&ThingQuery::of_type("product").filter(Filter::from_json(
                &serde_json::json!({"properties.price": {"$lt": 20}}),
            )?))
        })
        .unwrap();
    assert_eq!(cheap.items.len(), 1);
    // The index serves the installing tenant alone.
    let price = IndexDef {
        kind: "product".into(),
        path: "price".into(),
    };
    assert!(
        f.engine
            .read(&f.ctx(), |v| v.indexes())
            .unwrap()
            .contains(&price)
    );
    assert!(!f.engine.admin().indexes().unwrap().contains(&price));
}

#[test]
fn a_call_larger_than_the_sdks_arena_grows_memory_and_answers_whole() {
    // The SDK's allocator serves a call from a 1 MiB static arena and grows memory past
    // it: here the request, the parsed properties and the answer each hold ~400 KB.
    let f = Fixture::new();
    f.engine
        .install_plugin(&f.ctx(), &example("product"))
        .unwrap();
    let notes: String = (0..400_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let t = f
        .create(
            "product",
            serde_json::json!({"price": 2, "currency": "usd", "sku": "big-1", "stock": 1, "notes": notes}),
        )
        .unwrap();
    assert_eq!(
        t.properties.get_path("notes"),
        Some(&Value::from(notes.as_str()))
    );
    assert_eq!(t.properties.get_path("currency"), Some(&Value::from("USD")));
    // The reaction (stock 1 is low) ran on the same large record.
    assert_eq!(f.events("low_stock").len(), 1);
}

#[test]
fn tickets_compute_their_total() {
    let f = Fixture::new();
    f.engine
        .install_plugin(&f.ctx(), &example("tickets"))
        .unwrap();
    let t = f
        .create(
            "event_ticket",
            serde_json::json!({"event": "RustConf", "price_cents": 1000, "quantity": 3, "tier": " Student "}),
        )
        .unwrap();
    assert_eq!(t.properties.get_path("tier"), Some(&Value::from("student")));
    assert_eq!(
        t.properties.get_path("total_cents"),
        Some(&Value::Int(1500))
    );
    let t = f
        .engine
        .write(&f.ctx(), |tx| {
            tx.update_thing(t.id, ThingUpdate::default().property("quantity", 4))
        })
        .unwrap();
    assert_eq!(
        t.properties.get_path("total_cents"),
        Some(&Value::Int(2000))
    );
    // A caller cannot set a computed field, on create or on update: the plugin does.
    let before = f.dump();
    let (field, reason) = invalid_field(f.engine.write(&f.ctx(), |tx| {
        tx.update_thing(t.id, ThingUpdate::default().property("total_cents", 1))
    }));
    assert_eq!(field, "properties.total_cents");
    assert!(reason.contains("computed by plugin `tickets`"), "{reason}");
    let (field, _) = invalid_field(f.create(
        "event_ticket",
        serde_json::json!({"event": "RustConf", "price_cents": 1000, "tier": "vip", "total_cents": 1}),
    ));
    assert_eq!(field, "properties.total_cents");
    assert_eq!(f.dump(), before);
    let (field, _) = invalid_field(f.create(
        "event_ticket",
        serde_json::json!({"event": "RustConf", "price_cents": 1000, "tier": "balcony"}),
    ));
    assert_eq!(field, "properties.tier");
    let (field, _) = invalid_field(f.create(
        "event_ticket",
        serde_json::json!({"event": "RustConf", "price_cents": 1000, "quantity": 0}),
    ));
    assert_eq!(field, "properties.quantity");
}

/// The largest function body (bytes), locals of one function, and block nesting.
fn shape(wasm: &[u8]) -> (usize, u32, u32) {
    let (mut body, mut locals, mut nesting) = (0, 0, 0);
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::CodeSectionEntry(b) = payload.unwrap() {
            body = body.max(b.range().len());
            let mut n = 0;
            for group in b.get_locals_reader().unwrap() {
                n += group.unwrap().0;
            }
            locals = locals.max(n);
            let (mut depth, mut ops) = (0u32, b.get_operators_reader().unwrap());
            while !ops.eof() {
                match ops.read().unwrap() {
                    wasmparser::Operator::Block { .. }
                    | wasmparser::Operator::Loop { .. }
                    | wasmparser::Operator::If { .. } => {
                        depth += 1;
                        nesting = nesting.max(depth);
                    }
                    wasmparser::Operator::End => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
    }
    (body, locals, nesting)
}

#[test]
fn the_examples_sit_well_inside_the_default_module_limits() {
    let limits = one_plugins::ModuleLimits::default();
    for name in ["product", "tickets"] {
        let wasm = example(name);
        let (body, locals, nesting) = shape(&wasm);
        println!(
            "{name}: {} bytes, largest body {body} bytes, most locals {locals}, deepest nesting {nesting}",
            wasm.len()
        );
        assert!(
            wasm.len() * 4 <= limits.max_bytes,
            "{name}: {} bytes",
            wasm.len()
        );
        assert!(body * 4 <= limits.max_body_bytes, "{name}: body {body}");
        assert!(locals * 4 <= limits.max_locals, "{name}: {locals} locals");
        assert!(
            nesting * 3 <= limits.max_nesting,
            "{name}: nesting {nesting}"
        );
    }
}

/// The property-index entries of one tenant (`T <root> <env> p …`).
fn index_entries(f: &Fixture, root: GroupId) -> usize {
    let mut prefix = vec![b'T'];
    prefix.extend_from_slice(&root.to_be_bytes());
    f.dump()
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix) && k.len() > 18 && k[17] != 0 && k[18] == b'p')
        .count()
}

#[test]
fn a_plugin_index_serves_its_tenant_alone_and_leaves_with_the_plugin() {
    let f = Fixture::new();
    let other = f
        .engine
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Other", "other"))
        .unwrap();
    // The other tenant has things named like the plugin's type, without the plugin.
    f.engine
        .write(&Context::system(other.id), |tx| {
            tx.create_thing(NewThing::new("product", "theirs").property("price", 3))
        })
        .unwrap();
    f.engine
        .install_plugin(&f.ctx(), &example("product"))
        .unwrap();
    f.create(
        "product",
        serde_json::json!({"price": 5, "currency": "eur", "sku": "AB-1"}),
    )
    .unwrap();
    assert_eq!(index_entries(&f, f.tenant.id), 1);
    assert_eq!(index_entries(&f, other.id), 0);
    let theirs = IndexDef {
        kind: "product".into(),
        path: "price".into(),
    };
    let seen = f
        .engine
        .read(&Context::system(other.id), |v| v.indexes())
        .unwrap();
    assert!(!seen.contains(&theirs));
    f.engine.uninstall_plugin(&f.ctx(), "product").unwrap();
    assert_eq!(index_entries(&f, f.tenant.id), 0);
    assert!(
        !f.engine
            .read(&f.ctx(), |v| v.indexes())
            .unwrap()
            .contains(&theirs)
    );
    assert!(f.engine.check().unwrap().is_ok());
}

#[test]
fn a_plugin_is_installed_used_and_managed_through_the_vocabulary() {
    let f = Fixture::new();
    let ctx = f.ctx();
    let run = |request: serde_json::Value| -> Response {
        let request: Request = serde_json::from_value(request).unwrap();
        f.engine.execute(&ctx, request).unwrap()
    };
    let hex: String = example("product")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let Response::Plugin(info) = run(serde_json::json!({"install_plugin": {"wasm": hex}})) else {
        panic!("install_plugin answers with a plugin")
    };
    assert_eq!(info.name, "product");
    let Response::ThingTypes(types) = run(serde_json::json!("thing_types")) else {
        panic!("thing_types answers with thing types")
    };
    assert_eq!(types[0].name, "product");
    // A batch writes a plugin type's things through the plugin, in one transaction.
    let done = f
        .engine
        .execute_batch(
            &ctx,
            &[
                serde_json::json!({"create_thing": {"type": "product", "name": "Mug", "properties": {"price": 3, "currency": "usd", "sku": "mug-1"}}}),
                serde_json::json!({"get_thing": {"id": {"$ref": 0}}}),
            ],
        )
        .unwrap();
    let Response::Thing(mug) = &done[1] else {
        panic!("{done:?}")
    };
    assert_eq!(
        mug.properties.get_path("currency"),
        Some(&Value::from("USD"))
    );
    let Response::Plugin(off) =
        run(serde_json::json!({"set_plugin_enabled": {"name": "product", "enabled": false}}))
    else {
        panic!("set_plugin_enabled answers with a plugin")
    };
    assert!(!off.enabled);
    assert_eq!(
        run(serde_json::json!({"uninstall_plugin": {"name": "product"}})),
        Response::Done
    );
    let Response::Plugins(left) = run(serde_json::json!("plugins")) else {
        panic!("plugins answers with plugins")
    };
    assert!(left.is_empty());
}

#[test]
fn tickets_check_the_show_they_name_by_reading_it() {
    let f = Fixture::new();
    f.engine
        .install_plugin(&f.ctx(), &example("tickets"))
        .unwrap();
    let show = f
        .create("show", serde_json::json!({"venue": "Hall 2"}))
        .unwrap();
    let ticket = |show: String| {
        f.create(
            "event_ticket",
            serde_json::json!({"event": "RustConf", "price_cents": 1000, "tier": "vip", "show": show}),
        )
    };
    let t = ticket(show.id.to_string()).unwrap();
    assert_eq!(
        t.properties.get_path("show_name"),
        Some(&Value::from("a thing"))
    );
    let before = f.dump();
    // Not a show, no such thing, a malformed id, another tenant's show: refused, naming
    // the field, nothing written.
    let (field, reason) = invalid_field(ticket(t.id.to_string()));
    assert_eq!(field, "properties.show");
    assert!(reason.contains("is a event_ticket, not a show"), "{reason}");
    let missing = ThingId::from_u128(show.id.to_u128() + 1_000_000);
    let (_, reason) = invalid_field(ticket(missing.to_string()));
    assert!(reason.contains("no show"), "{reason}");
    let (_, reason) = invalid_field(ticket("thg_x".into()));
    assert!(reason.contains("valid id"), "{reason}");
    assert_eq!(f.dump(), before);
    let rival = f.base_tenant("rival");
    f.engine
        .install_plugin(&Context::system(rival.id), &example("tickets"))
        .unwrap();
    let theirs = f
        .engine
        .write(&Context::system(rival.id), |tx| {
            tx.create_thing(NewThing::new("show", "Elsewhere"))
        })
        .unwrap();
    let (_, reason) = invalid_field(ticket(theirs.id.to_string()));
    assert!(reason.contains("no show"), "{reason}");
    // An archived show sells no tickets.
    f.engine
        .write(&f.ctx(), |tx| {
            tx.update_thing(
                show.id,
                ThingUpdate::default().status(ThingStatus::Archived),
            )
        })
        .unwrap();
    let (_, reason) = invalid_field(ticket(show.id.to_string()));
    assert!(reason.contains("is archived"), "{reason}");
}

#[test]
fn a_reaction_logs_events_only_if_its_tenant_granted_it_events_write() {
    let f = Fixture::new();
    let info = f
        .engine
        .install_plugin(&f.ctx(), &example("product"))
        .unwrap();
    assert_eq!(info.granted, ["events:write"]);
    f.engine.grant_plugin(&f.ctx(), "product", &[]).unwrap();
    f.create(
        "product",
        serde_json::json!({"price": 1, "currency": "eur", "sku": "ab-1", "stock": 1}),
    )
    .unwrap();
    assert!(f.events("low_stock").is_empty());
    let failed = f.events("plugin_failed");
    let reason = failed[0]
        .metadata
        .get_path("reason")
        .unwrap()
        .as_str()
        .unwrap();
    assert!(
        reason.contains("its tenant has not granted it events:write"),
        "{reason}"
    );
    f.engine
        .grant_plugin(&f.ctx(), "product", &["events:write"])
        .unwrap();
    f.create(
        "product",
        serde_json::json!({"price": 1, "currency": "eur", "sku": "ab-2", "stock": 1}),
    )
    .unwrap();
    assert_eq!(f.events("low_stock").len(), 1);
}

#[test]
fn tickets_read_the_show_only_while_granted_things_read() {
    let f = Fixture::new();
    f.engine
        .install_plugin(&f.ctx(), &example("tickets"))
        .unwrap();
    let show = f.create("show", serde_json::json!({})).unwrap();
    f.engine.grant_plugin(&f.ctx(), "tickets", &[]).unwrap();
    let (field, reason) = invalid_field(f.create(
        "event_ticket",
        serde_json::json!({"event": "E", "price_cents": 1, "tier": "vip", "show": show.id}),
    ));
    assert_eq!(field, "properties.show");
    assert!(reason.contains("not granted it things:read"), "{reason}");
}

#[test]
fn tickets_declare_who_holds_a_ticket_and_where_it_was_scanned() {
    let f = Fixture::new();
    let info = f
        .engine
        .install_plugin(&f.ctx(), &example("tickets"))
        .unwrap();
    assert_eq!(info.connections[0].name, "holds");
    assert_eq!(info.events[0].name, "ticket_scanned");
    let ticket = f
        .create(
            "event_ticket",
            serde_json::json!({"event": "RustConf", "price_cents": 1000, "tier": "vip"}),
        )
        .unwrap();
    let show = f.create("show", serde_json::json!({})).unwrap();
    let ann = f
        .engine
        .write(&f.ctx(), |tx| {
            tx.create_person(NewPerson::new("ann@example.com", "Ann"))
        })
        .unwrap();
    let connect = |from: Ref, to: Ref, meta: serde_json::Value| {
        f.engine.write(&f.ctx(), |tx| {
            tx.connect(NewConnection::new(from, "holds", to).metadata(Value::from_json(&meta)))
        })
    };
    let held = connect(
        ann.id.into(),
        ticket.id.into(),
        serde_json::json!({"seat": "A12"}),
    )
    .unwrap();
    let before = f.dump();
    let (field, reason) = invalid_field(connect(
        f.tenant.id.into(),
        ticket.id.into(),
        serde_json::json!({"seat": "A1"}),
    ));
    assert_eq!(field, "from");
    assert!(reason.contains("starts at person, not a group"), "{reason}");
    let (field, reason) = invalid_field(connect(
        ann.id.into(),
        show.id.into(),
        serde_json::json!({"seat": "A1"}),
    ));
    assert_eq!(field, "to");
    assert!(reason.contains("not a show"), "{reason}");
    let (field, _) = invalid_field(connect(
        ann.id.into(),
        ticket.id.into(),
        serde_json::json!({}),
    ));
    assert_eq!(field, "metadata.seat");
    let (field, _) = invalid_field(f.engine.write(&f.ctx(), |tx| {
        tx.update_connection(
            held.id,
            Value::from_json(&serde_json::json!({"seat": null})),
        )
    }));
    assert_eq!(field, "metadata.seat");
    let scan = |meta: serde_json::Value| {
        f.engine.write(&f.ctx(), |tx| {
            tx.log_event(
                "ticket_scanned",
                Some(ticket.id.into()),
                Value::from_json(&meta),
            )
        })
    };
    let (field, _) = invalid_field(scan(serde_json::json!({"gate": 7})));
    assert_eq!(field, "metadata.gate");
    assert_eq!(f.dump(), before);
    scan(serde_json::json!({"gate": "north"})).unwrap();

    // Another plugin may not declare the same types.
    match f.engine.install_plugin(
        &f.ctx(),
        &declaring("rival", r#""events":[{"name":"ticket_scanned"}]"#),
    ) {
        Err(Error::PluginConflict { reason, .. }) => assert!(
            reason.contains("event type `ticket_scanned` is declared by plugin `tickets`"),
            "{reason}"
        ),
        other => panic!("{other:?}"),
    }
    // A disabled plugin's declared types cannot be written; uninstalled, they are free.
    f.engine
        .set_plugin_enabled(&f.ctx(), "tickets", false)
        .unwrap();
    assert!(matches!(
        scan(serde_json::json!({"gate": "north"})),
        Err(Error::PluginFailed { .. })
    ));
    f.engine.uninstall_plugin(&f.ctx(), "tickets").unwrap();
    scan(serde_json::json!({"anything": true})).unwrap();
    connect(ann.id.into(), f.tenant.id.into(), serde_json::json!({})).unwrap();
    assert!(f.engine.check().unwrap().is_ok());
}
