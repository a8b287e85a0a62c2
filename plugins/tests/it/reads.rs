//! A plugin's reads through the host (`one.read`): what it sees in its own tenant, that
//! it never sees another tenant or what the caller may not read, and what reads cost.

use super::*;

/// `one.read`, as a module imports it.
const IMPORT_READ: &str = r#"(import "one" "read" (func $read (param i32 i32) (result i64)))"#;

/// The probe's answer around the host's: `{"ok":{"properties":{"seen":` … `}}}`.
const PROBE_DATA: &str = r#"(data (i32.const 3000) "{\"ok\":{\"properties\":{\"seen\":")
  (data (i32.const 3100) "}}}")"#;

/// A hostile plugin (type `gadget`) that sends the thing's `properties`, exactly as the
/// caller wrote them, to the host as a read, and stores the host's answer as `seen`: it
/// finds `"properties":` in the request and takes what follows up to the trailing
/// `,"previous":null}` of a create.
fn probe() -> Vec<u8> {
    let key = i64::from_le_bytes(*b"\"propert");
    let body = format!(
        r#"(local $i i32) (local $start i32) (local $n i32) (local $packed i64) (local $at i32) (local $out i32)
    (local.set $i (local.get $ptr))
    (block $found
      (loop $scan
        (br_if $found (i64.eq (i64.load (local.get $i)) (i64.const {key})))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (local.set $start (i32.add (local.get $i) (i32.const 13)))
    (local.set $n (i32.sub (i32.sub (i32.add (local.get $ptr) (local.get $len)) (i32.const 17)) (local.get $start)))
    (local.set $packed (call $read (local.get $start) (local.get $n)))
    (local.set $at (i32.wrap_i64 (i64.shr_u (local.get $packed) (i64.const 32))))
    (local.set $n (i32.wrap_i64 (local.get $packed)))
    (local.set $out (global.get $next))
    (global.set $next (i32.add (global.get $next) (i32.add (local.get $n) (i32.const 31))))
    (memory.copy (local.get $out) (i32.const 3000) (i32.const 28))
    (memory.copy (i32.add (local.get $out) (i32.const 28)) (local.get $at) (local.get $n))
    (memory.copy (i32.add (i32.add (local.get $out) (i32.const 28)) (local.get $n)) (i32.const 3100) (i32.const 3))
    (call $answer (local.get $out) (i32.add (local.get $n) (i32.const 31)))"#
    );
    evil_asking(
        IMPORT_READ,
        &body,
        PROBE_DATA,
        &["things:read", "connections:read"],
    )
}

/// A fixture with the probe installed in its tenant.
fn probed() -> Fixture {
    let f = Fixture::new();
    f.engine.install_plugin(&f.ctx(), &probe()).unwrap();
    f
}

/// What the probe was answered when `ctx` created a gadget in `group` asking `read`.
fn seen(f: &Fixture, ctx: &Context, group: GroupId, read: serde_json::Value) -> serde_json::Value {
    let t = f
        .engine
        .write(ctx, |tx| {
            tx.create_thing(
                NewThing::new("gadget", "probe")
                    .in_group(group)
                    .properties(Value::from_json(&read)),
            )
        })
        .unwrap();
    t.properties.get_path("seen").expect("an answer").to_json()
}

/// The message of an error answer to a read (panics, showing it, if it is not one).
fn refusal(answer: &serde_json::Value) -> &str {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error answer: {answer}"))
}

fn thing(f: &Fixture, ctx: &Context, group: GroupId, kind: &str) -> Thing {
    f.engine
        .write(ctx, |tx| {
            tx.create_thing(NewThing::new(kind, format!("a {kind}")).in_group(group))
        })
        .unwrap()
}

#[test]
fn a_plugin_reads_things_connections_and_counts_of_its_tenant() {
    let f = probed();
    let (ctx, root) = (f.ctx(), f.tenant.id);
    let (w, v) = (
        thing(&f, &ctx, root, "widget"),
        thing(&f, &ctx, root, "widget"),
    );
    f.engine
        .write(&ctx, |tx| {
            tx.connect(NewConnection::new(w.id, "likes", v.id))
        })
        .unwrap();

    let got = seen(
        &f,
        &ctx,
        root,
        serde_json::json!({"get_thing": {"id": w.id}}),
    );
    assert_eq!(got["ok"]["id"], w.id.to_string());
    assert_eq!(got["ok"]["type"], "widget");
    assert_eq!(got["ok"]["group"], root.to_string());
    assert_eq!(got["ok"]["status"], "active");

    let exists = |from: ThingId, to: ThingId| {
        seen(
            &f,
            &ctx,
            root,
            serde_json::json!({"connection_exists": {"from": from, "kind": "likes", "to": to}}),
        )
    };
    assert_eq!(exists(w.id, v.id), serde_json::json!({"ok": true}));
    assert_eq!(exists(v.id, w.id), serde_json::json!({"ok": false}));

    let count = seen(
        &f,
        &ctx,
        root,
        serde_json::json!({"count_things": {"kind": "widget"}}),
    );
    assert_eq!(count, serde_json::json!({"ok": 2}));

    // Reads asked wrongly are answered with an error naming the problem.
    let bad = seen(
        &f,
        &ctx,
        root,
        serde_json::json!({"get_thing": {"id": "thg_nope"}}),
    );
    let message = refusal(&bad);
    assert!(
        message.contains("id") && message.contains("valid id"),
        "{bad}"
    );
    let bad = seen(&f, &ctx, root, serde_json::json!({"launch_missiles": {}}));
    assert!(
        refusal(&bad).contains("could not understand the read"),
        "{bad}"
    );
}

#[test]
fn a_plugin_never_sees_another_tenant() {
    let f = probed();
    let (ctx, root) = (f.ctx(), f.tenant.id);
    let rival = f.base_tenant("rival");
    let rctx = Context::system(rival.id);
    let (a, b) = (
        thing(&f, &rctx, rival.id, "widget"),
        thing(&f, &rctx, rival.id, "widget"),
    );
    f.engine
        .write(&rctx, |tx| {
            tx.connect(NewConnection::new(a.id, "likes", b.id))
        })
        .unwrap();
    let rival_before = f.engine.read(&rctx, |v| v.get_thing(a.id)).unwrap();

    for id in [a.id, b.id] {
        let got = seen(&f, &ctx, root, serde_json::json!({"get_thing": {"id": id}}));
        assert_eq!(got, serde_json::json!({"ok": null}), "{id}");
    }
    let got = seen(
        &f,
        &ctx,
        root,
        serde_json::json!({"connection_exists": {"from": a.id, "kind": "likes", "to": b.id}}),
    );
    assert_eq!(got, serde_json::json!({"ok": false}));
    let got = seen(
        &f,
        &ctx,
        root,
        serde_json::json!({"count_things": {"kind": "widget", "group": rival.id}}),
    );
    assert!(refusal(&got).contains("no group"), "{got}");
    // The root group of the rival tenant, read as a thing, is not one.
    let got = seen(
        &f,
        &ctx,
        root,
        serde_json::json!({"get_thing": {"id": rival.id}}),
    );
    assert!(got.get("error").is_some(), "{got}");
    assert_eq!(
        f.engine.read(&rctx, |v| v.get_thing(a.id)).unwrap(),
        rival_before
    );
}

#[test]
fn a_plugin_reads_with_the_callers_permissions_and_logs_no_denial_for_them() {
    let f = probed();
    let root = f.tenant.id;
    let sys = f.ctx();
    let (mine, theirs) = (f.group_under(root, "mine"), f.group_under(root, "theirs"));
    let person = f
        .engine
        .write(&sys, |tx| {
            let p = tx.create_person(NewPerson::new("ann@example.com", "Ann"))?;
            tx.add_member(p.id, mine, "editor", &["write"])?;
            Ok(p)
        })
        .unwrap();
    let ann = Context::person(person.id, mine);
    let visible = thing(&f, &sys, mine, "widget");
    let hidden = thing(&f, &sys, theirs, "widget");
    let denials = f.events("access_denied").len();

    let got = seen(
        &f,
        &ann,
        mine,
        serde_json::json!({"get_thing": {"id": visible.id}}),
    );
    assert_eq!(got["ok"]["id"], visible.id.to_string());
    let got = seen(
        &f,
        &ann,
        mine,
        serde_json::json!({"get_thing": {"id": hidden.id}}),
    );
    assert_eq!(got, serde_json::json!({"ok": null}));
    let got = seen(
        &f,
        &ann,
        mine,
        serde_json::json!({"count_things": {"kind": "widget", "group": theirs}}),
    );
    assert!(refusal(&got).contains("no group"), "{got}");
    // The system, creating the same probe, sees it.
    let got = seen(
        &f,
        &sys,
        mine,
        serde_json::json!({"get_thing": {"id": hidden.id}}),
    );
    assert_eq!(got["ok"]["id"], hidden.id.to_string());
    assert_eq!(f.events("access_denied").len(), denials);
}

#[test]
fn reads_cost_fuel_and_a_plugin_that_reads_forever_runs_out() {
    let f = Fixture::new();
    let forever = r#"(loop $again
      (global.set $next (i32.const 4096))
      (drop (call $read (i32.const 3000) (i32.const 2)))
      (br $again))
    (unreachable)"#;
    let extra = r#"(data (i32.const 3000) "{}")"#;
    f.engine
        .install_plugin(&f.ctx(), &evil_importing(IMPORT_READ, forever, extra))
        .unwrap();
    let before = f.dump();
    match f.create("gadget", serde_json::json!({})) {
        Err(Error::PluginFailed { plugin, reason }) => {
            assert_eq!(plugin, "evil");
            assert!(reason.contains("ran out of fuel"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.dump(), before);
}

#[test]
fn a_read_outside_the_plugins_memory_is_reported_as_such() {
    let f = Fixture::new();
    let body = "(drop (call $read (i32.const 0x7fff0000) (i32.const 64))) (call $ok)";
    f.engine
        .install_plugin(&f.ctx(), &evil_importing(IMPORT_READ, body, ""))
        .unwrap();
    match f.create("gadget", serde_json::json!({})) {
        Err(Error::PluginFailed { reason, .. }) => {
            assert!(reason.starts_with("sent a read at 0x7fff0000"), "{reason}");
            assert!(reason.contains("outside its memory"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_plugin_reads_only_what_its_tenant_granted_it() {
    let f = probed();
    let (ctx, root) = (f.ctx(), f.tenant.id);
    let w = thing(&f, &ctx, root, "widget");
    let info = f.engine.read(&ctx, |v| v.plugins()).unwrap().remove(0);
    assert_eq!(info.asks, ["things:read", "connections:read"]);
    assert_eq!(info.granted, ["things:read", "connections:read"]);

    let info = f
        .engine
        .grant_plugin(&ctx, "evil", &["connections:read"])
        .unwrap();
    assert_eq!(info.granted, ["connections:read"]);
    assert_eq!(f.events("plugin_granted").len(), 1);
    // Even the system, writing, cannot lend the plugin what its tenant withdrew.
    let got = seen(
        &f,
        &ctx,
        root,
        serde_json::json!({"get_thing": {"id": w.id}}),
    );
    let message = refusal(&got);
    assert!(
        message.contains("its tenant has not granted it things:read"),
        "{got}"
    );
    let got = seen(
        &f,
        &ctx,
        root,
        serde_json::json!({"connection_exists": {"from": w.id, "kind": "likes", "to": w.id}}),
    );
    assert_eq!(got, serde_json::json!({"ok": false}));

    // Only what it asks for, and only what the granting context holds, can be granted.
    let before = f.dump();
    match f.engine.grant_plugin(&ctx, "evil", &["events:write"]) {
        Err(Error::InvalidField { field, reason }) => {
            assert_eq!(field, "permissions");
            assert!(reason.contains("does not ask for events:write"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.dump(), before);
    let admin = f
        .engine
        .write(&ctx, |tx| {
            let p = tx.create_person(NewPerson::new("root@example.com", "Root"))?;
            tx.add_member(p.id, root, "plugin_admin", &["groups:write"])?;
            Ok(p)
        })
        .unwrap();
    let admin = Context::person(admin.id, root);
    match f.engine.grant_plugin(&admin, "evil", &["things:read"]) {
        Err(Error::Forbidden { needed, .. }) => assert_eq!(needed, Permission::ThingsRead),
        other => panic!("{other:?}"),
    }
    // Refused as any permission is (an `access_denied` event), and nothing granted.
    let denied = f.events("access_denied");
    assert_eq!(denied.len(), 1, "{denied:?}");
    let info = f.engine.read(&ctx, |v| v.plugins()).unwrap().remove(0);
    assert_eq!(info.granted, ["connections:read"]);
    assert_eq!(f.events("plugin_granted").len(), 1);
    // The person holds `groups:write` only: installing grants nothing it asks for.
    f.engine.uninstall_plugin(&ctx, "evil").unwrap();
    let info = f.engine.install_plugin(&admin, &probe()).unwrap();
    assert!(info.granted.is_empty(), "{info:?}");
    assert!(f.engine.check().unwrap().is_ok());
}

#[test]
fn a_manifest_asking_for_more_than_reads_and_events_is_refused() {
    let f = Fixture::new();
    let greedy = evil_asking("", BENIGN, "", &["members:manage"]);
    match f.engine.install_plugin(&f.ctx(), &greedy) {
        Err(Error::PluginFailed { reason, .. }) => {
            assert!(reason.contains("it asks for members:manage"), "{reason}");
            assert!(reason.contains("things:read"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let unknown = evil_asking("", BENIGN, "", &["things:fly"]);
    assert!(matches!(
        f.engine.install_plugin(&f.ctx(), &unknown),
        Err(Error::PluginFailed { .. })
    ));
}

#[test]
fn a_reaction_reads_after_the_commit_within_its_grant() {
    let f = Fixture::new();
    let read = r#"{"count_things":{"kind":"gadget"}}"#;
    let pre = r#"{"ok":{"actions":[{"log_event":{"kind":"counted","data":{"seen":"#;
    let post = "}}}]}}";
    let body = format!(
        r#"(local $packed i64) (local $at i32) (local $n i32) (local $out i32)
    (if (i32.eq (i32.load8_u offset=9 (local.get $ptr)) (i32.const 114))
      (then
        (local.set $packed (call $read (i32.const 3000) (i32.const {read_len})))
        (local.set $at (i32.wrap_i64 (i64.shr_u (local.get $packed) (i64.const 32))))
        (local.set $n (i32.wrap_i64 (local.get $packed)))
        (local.set $out (global.get $next))
        (global.set $next (i32.add (global.get $next) (i32.add (local.get $n) (i32.const 256))))
        (memory.copy (local.get $out) (i32.const 3200) (i32.const {pre_len}))
        (memory.copy (i32.add (local.get $out) (i32.const {pre_len})) (local.get $at) (local.get $n))
        (memory.copy (i32.add (i32.add (local.get $out) (i32.const {pre_len})) (local.get $n)) (i32.const 3400) (i32.const {post_len}))
        (return (call $answer (local.get $out) (i32.add (i32.add (local.get $n) (i32.const {pre_len})) (i32.const {post_len}))))))
    (call $ok)"#,
        read_len = read.len(),
        pre_len = pre.len(),
        post_len = post.len(),
    );
    let data = [(3000, read), (3200, pre), (3400, post)]
        .iter()
        .map(|(at, text)| format!(r#"(data (i32.const {at}) "{}")"#, text.replace('"', "\\\"")))
        .collect::<String>();
    let install = |permissions: &[&str]| {
        f.engine
            .install_plugin(
                &f.ctx(),
                &evil_reacting_with(IMPORT_READ, &body, &data, permissions),
            )
            .unwrap()
    };
    install(&["things:read", "events:write"]);
    f.create("gadget", serde_json::json!({})).unwrap();
    f.create("gadget", serde_json::json!({})).unwrap();
    // Each reaction ran after its commit: it counted the gadget just made.
    let counted = f.events("counted");
    let seen: Vec<_> = counted
        .iter()
        .map(|e| e.metadata.get_path("seen").unwrap().to_json())
        .collect();
    assert_eq!(
        seen,
        [serde_json::json!({"ok": 2}), serde_json::json!({"ok": 1})]
    );
    // Without `things:read` granted, the reaction's read is refused (and it logs that).
    f.engine
        .grant_plugin(&f.ctx(), "evil", &["events:write"])
        .unwrap();
    f.create("gadget", serde_json::json!({})).unwrap();
    let last = f.events("counted").remove(0);
    let seen = last.metadata.get_path("seen").unwrap().to_json();
    assert!(
        refusal(&seen).contains("not granted it things:read"),
        "{seen}"
    );
}

#[test]
fn a_read_of_a_negative_or_oversize_length_is_refused_naming_it() {
    for (len, expected) in [
        ("-1", "sent a read of negative length (-1)"),
        ("70000", "sent a read of 70000 bytes; the limit is 65536"),
    ] {
        let f = Fixture::new();
        let body = format!("(drop (call $read (i32.const 0) (i32.const {len}))) (call $ok)");
        f.engine
            .install_plugin(&f.ctx(), &evil_importing(IMPORT_READ, &body, ""))
            .unwrap();
        let before = f.dump();
        match f.create("gadget", serde_json::json!({})) {
            Err(Error::PluginFailed { reason, .. }) => assert_eq!(reason, expected),
            other => panic!("{other:?}"),
        }
        assert_eq!(f.dump(), before);
    }
}
