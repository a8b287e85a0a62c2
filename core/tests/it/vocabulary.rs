//! The vocabulary of operations: a scenario that uses every operation runs once through
//! the typed API and once through `Engine::execute` (JSON text in, JSON text out, and a
//! postcard round trip), on two engines, and both give the same answers; every `Request`
//! variant is exercised; batches are all or nothing and resolve `{"$ref": n}`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Value as Json, json};

use crate::Fixture;
use one_core::*;

/// An operation through the typed API, given the ids earlier steps returned.
type Typed = Box<dyn Fn(&Engine, &Context, &[String]) -> Result<Response>>;

/// One step of the scenario: the request as JSON (where `"@n"` is the id step `n`
/// returned), and the same operation through the typed API.
struct Step {
    json: Json,
    typed: Typed,
    /// The step runs as this principal: the tenant's `system` context when `None`.
    person: Option<usize>,
}

fn step(
    json: Json,
    typed: impl Fn(&Engine, &Context, &[String]) -> Result<Response> + 'static,
) -> Step {
    Step {
        json,
        typed: Box::new(typed),
        person: None,
    }
}

/// The id step `n` returned, parsed.
fn id<T: std::str::FromStr>(ids: &[String], n: usize) -> T
where
    T::Err: std::fmt::Debug,
{
    ids[n].parse().unwrap()
}

/// Executes a request the way a transport does: JSON text in, postcard between Rust
/// programs, JSON text out; checks that both forms of the response read back equal.
fn execute_json(engine: &Engine, ctx: &Context, request: &Json) -> Result<Json, Failure> {
    let text = request.to_string();
    let request: Request = serde_json::from_str(&text)
        .map_err(|e| Failure::from(Error::invalid("request", e.to_string())))?;
    let request: Request = postcard::from_bytes(&postcard::to_stdvec(&request).unwrap()).unwrap();
    let response = engine.execute(ctx, request).map_err(Failure::from)?;
    let binary: Response = postcard::from_bytes(&postcard::to_stdvec(&response).unwrap()).unwrap();
    assert_eq!(
        binary, response,
        "the postcard form of a response reads back"
    );
    let text = serde_json::to_string(&response).unwrap();
    let back: Response = serde_json::from_str(&text).unwrap();
    assert_eq!(
        back, response,
        "the JSON form of a response reads back: {text}"
    );
    Ok(serde_json::from_str(&text).unwrap())
}

/// Replaces what differs between two engines doing the same thing — ids, secrets and
/// the cursors built from ids — by numbered placeholders, in order of appearance.
fn normalize(json: &Json, names: &mut BTreeMap<String, String>) -> Json {
    match json {
        Json::String(s) => Json::String(normalize_text(s, names)),
        Json::Array(items) => Json::Array(items.iter().map(|v| normalize(v, names)).collect()),
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), normalize(v, names)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn normalize_text(s: &str, names: &mut BTreeMap<String, String>) -> String {
    const PREFIXES: &[&str] = &["grp_", "thg_", "con_", "evt_", "kno_", "key_", "ok_"];
    let is_cursor =
        s.len() > 8 && s.starts_with('c') && s[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if is_cursor {
        return placeholder(s, names);
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some((at, prefix)) = PREFIXES
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, p)))
        .min()
    {
        out.push_str(&rest[..at]);
        let tail = &rest[at + prefix.len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push_str(&placeholder(&rest[at..at + prefix.len() + end], names));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn placeholder(s: &str, names: &mut BTreeMap<String, String>) -> String {
    let n = names.len();
    names
        .entry(s.to_string())
        .or_insert(format!("<{n}>"))
        .clone()
}

/// The id of the one record a response (as JSON) is about, if it is about one.
fn id_in(response: &Json) -> Option<String> {
    let (_, body) = response.as_object()?.iter().next()?;
    let record = body
        .get("key")
        .or_else(|| body.get("person"))
        .unwrap_or(body);
    match record.get("id").unwrap_or(record) {
        Json::String(id) => Some(id.clone()),
        _ => None,
    }
}

/// Replaces every `"@n"` in `json` by `ids[n]`.
fn fill(json: &Json, ids: &[String]) -> Json {
    match json {
        Json::String(s) if s.starts_with('@') => {
            Json::String(ids[s[1..].parse::<usize>().unwrap()].clone())
        }
        Json::Array(items) => Json::Array(items.iter().map(|v| fill(v, ids)).collect()),
        Json::Object(m) => Json::Object(m.iter().map(|(k, v)| (k.clone(), fill(v, ids))).collect()),
        other => other.clone(),
    }
}

fn to_json<T: Serialize>(r: &Result<T>) -> std::result::Result<Json, Failure> {
    match r {
        Ok(v) => Ok(serde_json::from_str(&serde_json::to_string(v).unwrap()).unwrap()),
        Err(e) => Err(Failure::from(e)),
    }
}

/// A tiny valid WASM module that is not a plugin: installing it fails the same way on
/// both paths.
const NOT_A_PLUGIN: &[u8] = b"\0asm\x01\0\0\0";

fn scenario() -> Vec<Step> {
    let usd = |minor| Money::new(minor, "USD").unwrap();
    vec![
        // 0: a child group of the tenant ("@t" is the tenant, filled in by `run`).
        step(
            json!({"create_group": {"parent": "@t", "group": {"type": "business", "name": "Shop", "slug": "shop"}}}),
            |e, c, _| {
                e.write(c, |tx| {
                    tx.create_group(
                        c.group(),
                        NewGroup::new(GroupType::Business, "Shop", "shop"),
                    )
                })
                .map(Response::Group)
            },
        ),
        // 1
        step(json!({"get_group": {"id": "@0"}}), |e, c, ids| {
            e.read(c, |v| v.get_group(id(ids, 0))).map(Response::Group)
        }),
        // 2
        step(
            json!({"update_group": {"id": "@0", "update": {"name": "Shop 2"}}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.update_group(id(ids, 0), GroupUpdate::default().name("Shop 2"))
                })
                .map(Response::Group)
            },
        ),
        // 3
        step(
            json!({"children": {"group": "@t", "limit": 10}}),
            |e, c, _| {
                e.read(c, |v| v.children(c.group(), Some(10), None))
                    .map(Response::GroupPage)
            },
        ),
        // 4
        step(json!({"subtree": {"group": "@t"}}), |e, c, _| {
            e.read(c, |v| v.subtree(c.group())).map(Response::Groups)
        }),
        // 5: a thing
        step(
            json!({"create_thing": {"type": "product", "name": "Mug", "properties": {"price": 12, "tags": ["a"]}}}),
            |e, c, _| {
                e.write(c, |tx| {
                    tx.create_thing(
                        NewThing::new("product", "Mug")
                            .property("price", 12)
                            .property("tags", Value::List(vec![Value::from("a")])),
                    )
                })
                .map(Response::Thing)
            },
        ),
        // 6
        step(json!({"get_thing": {"id": "@5"}}), |e, c, ids| {
            e.read(c, |v| v.get_thing(id(ids, 5))).map(Response::Thing)
        }),
        // 7
        step(
            json!({"update_thing": {"id": "@5", "update": {"properties": {"price": 15}}}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.update_thing(id(ids, 5), ThingUpdate::default().property("price", 15))
                })
                .map(Response::Thing)
            },
        ),
        // 8
        step(
            json!({"things": {"type": "product", "filter": {"properties.price": {"$gte": 10}}, "limit": 5}}),
            |e, c, _| {
                let f = Filter::new()
                    .and("properties.price", Op::Gte(Value::Int(10)))
                    .unwrap();
                e.read(c, |v| {
                    v.things(&ThingQuery::of_type("product").filter(f).limit(5))
                })
                .map(Response::ThingPage)
            },
        ),
        // 9: a person
        step(
            json!({"create_person": {"email": "Ann@Example.com", "name": "Ann", "role": "group_user"}}),
            |e, c, _| {
                e.write(c, |tx| {
                    tx.create_person(NewPerson::new("Ann@Example.com", "Ann").role("group_user"))
                })
                .map(Response::Thing)
            },
        ),
        // 10
        step(
            json!({"person_by_email": {"email": "ann@example.com"}}),
            |e, c, _| {
                e.read(c, |v| v.person_by_email("ann@example.com"))
                    .map(Response::Thing)
            },
        ),
        // 11
        step(
            json!({"connect": {"from": "@9", "type": "owns", "to": "@5", "metadata": {"since": 2020}}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.connect(
                        NewConnection::new(id::<ThingId>(ids, 9), "owns", id::<ThingId>(ids, 5))
                            .metadata(json_value(json!({"since": 2020}))),
                    )
                })
                .map(Response::Connection)
            },
        ),
        // 12
        step(json!({"get_connection": {"id": "@11"}}), |e, c, ids| {
            e.read(c, |v| v.get_connection(id(ids, 11)))
                .map(Response::Connection)
        }),
        // 13
        step(
            json!({"connections": {"node": "@9", "direction": "outgoing", "type": "owns"}}),
            |e, c, ids| {
                e.read(c, |v| {
                    v.connections(&ConnectionQuery::outgoing(id::<ThingId>(ids, 9)).kind("owns"))
                })
                .map(Response::ConnectionPage)
            },
        ),
        // 14
        step(
            json!({"add_member": {"person": "@9", "group": "@0", "role": "group_admin"}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.add_member(id(ids, 9), id(ids, 0), "group_admin", &[])
                })
                .map(Response::Connection)
            },
        ),
        // 15
        step(
            json!({"change_role": {"person": "@9", "group": "@0", "role": "group_user", "permissions": ["read"]}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.change_role(id(ids, 9), id(ids, 0), "group_user", &["read"])
                })
                .map(Response::Connection)
            },
        ),
        // 16
        step(json!({"members": {"group": "@0"}}), |e, c, ids| {
            e.read(c, |v| v.members(id(ids, 0), None, None))
                .map(Response::ConnectionPage)
        }),
        // 17
        step(json!({"memberships": {"person": "@9"}}), |e, c, ids| {
            e.read(c, |v| v.memberships(id(ids, 9)))
                .map(Response::Connections)
        }),
        // 18
        step(json!({"permissions_in": {"group": "@0"}}), |e, c, ids| {
            e.read(c, |v| v.permissions_in(id(ids, 0)))
                .map(Response::Permissions)
        }),
        // 19
        step(
            json!({"can": {"permission": "things:write", "group": "@0"}}),
            |e, c, ids| {
                Ok(Response::Allowed(e.can(
                    c,
                    Permission::ThingsWrite,
                    id(ids, 0),
                )))
            },
        ),
        // 20
        step(
            json!({"remove_member": {"person": "@9", "group": "@0"}}),
            |e, c, ids| {
                e.write(c, |tx| tx.remove_member(id(ids, 9), id(ids, 0)))
                    .map(Response::Connection)
            },
        ),
        // 21
        step(
            json!({"invite_member": {"person": "@9", "group": "@0", "role": "group_user"}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.invite_member(id(ids, 9), id(ids, 0), "group_user", &[])
                })
                .map(Response::Connection)
            },
        ),
        // 22 (as the invited person: see `run`)
        Step {
            person: Some(9),
            ..step(
                json!({"accept_invitation": {"person": "@9", "group": "@0"}}),
                |e, c, ids| {
                    e.write(c, |tx| tx.accept_invitation(id(ids, 9), id(ids, 0)))
                        .map(Response::Connection)
                },
            )
        },
        // 23
        step(
            json!({"log_event": {"type": "shipped", "target": "@5", "metadata": {"carrier": "ups"}}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.log_event(
                        "shipped",
                        Some(id::<Ref>(ids, 5)),
                        json_value(json!({"carrier": "ups"})),
                    )
                })
                .map(Response::Event)
            },
        ),
        // 24
        step(
            json!({"events": {"type": "shipped", "limit": 3}}),
            |e, c, _| {
                e.read(c, |v| {
                    v.events(&EventQuery::latest().kind("shipped").limit(3))
                })
                .map(Response::EventPage)
            },
        ),
        // 25
        step(
            json!({"create_api_key": {"name": "ci", "permissions": ["read"], "monthly_calls": 100, "rate": {"per_second": 5, "burst": 10}, "allowed_ips": ["10.0.0.0/8"]}}),
            |e, c, _| {
                e.write(c, |tx| {
                    tx.create_api_key(
                        NewApiKey::new("ci", &["read"])
                            .monthly_calls(100)
                            .rate(5, 10)
                            .allow_ips(&["10.0.0.0/8"]),
                    )
                })
                .map(Response::CreatedKey)
            },
        ),
        // 26
        step(json!({"api_keys": {"group": "@t"}}), |e, c, _| {
            e.read(c, |v| v.api_keys(c.group())).map(Response::ApiKeys)
        }),
        // 27: the call is refused from outside the allowed range, alike on both paths
        step(
            json!({"check_api_key": {"key": "ok_live_notakey", "client_ip": "192.168.1.1"}}),
            |e, _, _| {
                e.check_api_key("ok_live_notakey", Some("192.168.1.1".parse().unwrap()))
                    .map(Response::KeyCall)
            },
        ),
        // 28
        step(json!({"rotate_api_key": {"id": "@25"}}), |e, c, ids| {
            e.write(c, |tx| tx.rotate_api_key(id(ids, 25)))
                .map(Response::CreatedKey)
        }),
        // 29
        step(json!({"revoke_api_key": {"id": "@28"}}), |e, c, ids| {
            e.write(c, |tx| tx.revoke_api_key(id(ids, 28)))
                .map(Response::ApiKey)
        }),
        // 30: sign-up is off by default for a group: refused alike
        step(
            json!({"sign_up": {"group": "@t", "email": "bob@example.com", "password": "correct horse battery staple", "name": "Bob"}}),
            |e, c, _| {
                e.sign_up(c, c.group(), "bob@example.com", crate::PASSWORD, "Bob")
                    .map(Response::SignedUp)
            },
        ),
        // 31
        step(
            json!({"sign_in": {"group": "@t", "email": "ann@example.com", "password": "wrong password!"}}),
            |e, c, _| {
                e.sign_in(c, c.group(), "ann@example.com", "wrong password!")
                    .map(Response::SignedIn)
            },
        ),
        // 32
        step(
            json!({"link_identity": {"person": "@9", "provider": "github", "subject": "ann"}}),
            |e, c, ids| {
                e.write(c, |tx| tx.link_identity(id(ids, 9), "github", "ann"))
                    .map(|()| Response::Done)
            },
        ),
        // 33
        step(
            json!({"sign_in_external": {"group": "@t", "provider": "github", "subject": "nobody"}}),
            |e, c, _| {
                e.sign_in_external(c, c.group(), "github", "nobody")
                    .map(Response::SignedIn)
            },
        ),
        // 34
        step(
            json!({"magic_link": {"group": "@t", "email": "nobody@example.com"}}),
            |e, c, _| {
                e.magic_link(c, c.group(), "nobody@example.com")
                    .map(Response::Secret)
            },
        ),
        // 35
        step(
            json!({"sign_in_with_magic_link": {"token": "ok_once_bad"}}),
            |e, _, _| {
                e.sign_in_with_magic_link("ok_once_bad")
                    .map(Response::SignedIn)
            },
        ),
        // 36
        step(
            json!({"email_verification": {"person": "@9"}}),
            |e, c, ids| e.email_verification(c, id(ids, 9)).map(Response::Secret),
        ),
        // 37
        step(
            json!({"verify_email": {"token": "ok_once_bad"}}),
            |e, _, _| e.verify_email("ok_once_bad").map(Response::ThingId),
        ),
        // 38
        step(
            json!({"session_context": {"token": "ok_sess_bad"}}),
            |e, _, _| e.context_for_session("ok_sess_bad").map(Response::Context),
        ),
        // 39
        step(json!({"sign_out": {"token": "ok_sess_bad"}}), |e, _, _| {
            e.sign_out("ok_sess_bad").map(|()| Response::Done)
        }),
        // 40
        step(
            json!({"sign_out_everywhere": {"person": "@9"}}),
            |e, c, ids| {
                e.write(c, |tx| tx.sign_out_everywhere(id(ids, 9)))
                    .map(|n| Response::Count(n as u64))
            },
        ),
        // 41
        step(
            json!({"record_usage": {"resource": "ai_tokens", "amount": 1000}}),
            |e, c, _| {
                e.write(c, |tx| tx.record_usage(Resource::AiTokens, 1000))
                    .map(|()| Response::Done)
            },
        ),
        // 42
        step(json!({"usage": {"group": "@t"}}), |e, c, _| {
            e.read(c, |v| v.usage(c.group())).map(Response::Usage)
        }),
        // 43
        step(
            json!({"record_cycle": {"stage": "completed", "model": "m", "tokens": 10, "price": {"minor": 3, "currency": "USD"}}}),
            move |e, c, _| {
                e.write(c, |tx| {
                    tx.record_cycle(CycleStage::Completed, "m", 10, usd(3))
                })
                .map(Response::Event)
            },
        ),
        // 44
        step(json!({"revenue_share": {"group": "@0"}}), |e, c, ids| {
            e.read(c, |v| v.revenue_share(id(ids, 0)))
                .map(Response::Bps)
        }),
        // 45
        step(
            json!({"revenue_chain": {"group": "@0", "total": {"minor": 1000, "currency": "USD"}}}),
            move |e, c, ids| {
                e.read(c, |v| v.revenue_chain(id(ids, 0), usd(1000)))
                    .map(Response::RevenueChain)
            },
        ),
        // 46
        step(
            json!({"record_revenue": {"group": "@0", "total": {"minor": 1000, "currency": "USD"}}}),
            move |e, c, ids| {
                e.write(c, |tx| tx.record_revenue(id(ids, 0), usd(1000)))
                    .map(Response::RevenueSplit)
            },
        ),
        // 47
        step(
            json!({"record_payment": {"group": "@0", "payment": {"amount": {"minor": 500, "currency": "USD"}, "rail": "fiat", "reference": "inv-1"}}}),
            move |e, c, ids| {
                e.write(c, |tx| {
                    tx.record_payment(
                        id(ids, 0),
                        Payment::new(usd(500), PaymentRail::Fiat, "inv-1"),
                    )
                })
                .map(Response::Event)
            },
        ),
        // 48
        step(
            json!({"distribute_revenue_share": {"group": "@0", "amount": {"minor": 100, "currency": "USD"}, "rail": {"crypto": {"network": "ethereum"}}, "reference": "tx-1"}}),
            move |e, c, ids| {
                e.write(c, |tx| {
                    tx.distribute_revenue_share(
                        id(ids, 0),
                        usd(100),
                        PaymentRail::Crypto {
                            network: "ethereum".into(),
                        },
                        "tx-1",
                    )
                })
                .map(Response::Event)
            },
        ),
        // 49
        step(
            json!({"revenue": {"group": "@0", "currency": "USD", "from": 0, "until": 4_000_000_000_000u64}}),
            |e, c, ids| {
                e.read(c, |v| {
                    v.revenue(
                        id(ids, 0),
                        "USD",
                        Timestamp::from_millis(0),
                        Timestamp::from_millis(4_000_000_000_000),
                    )
                })
                .map(Response::RevenueReport)
            },
        ),
        // 50
        step(
            json!({"create_knowledge": {"text": "red mugs", "labels": ["faq"], "embedding": [1.0, 0.0, 0.5]}}),
            |e, c, _| {
                e.write(c, |tx| {
                    tx.create_knowledge(
                        NewKnowledge::new("red mugs")
                            .labels(&["faq"])
                            .embedding(vec![1.0, 0.0, 0.5]),
                    )
                })
                .map(Response::Knowledge)
            },
        ),
        // 51
        step(json!({"get_knowledge": {"id": "@50"}}), |e, c, ids| {
            e.read(c, |v| v.get_knowledge(id(ids, 50)))
                .map(Response::Knowledge)
        }),
        // 52
        step(
            json!({"set_knowledge_labels": {"id": "@50", "labels": ["faq", "mugs"]}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.set_knowledge_labels(id(ids, 50), &["faq", "mugs"])
                })
                .map(Response::Knowledge)
            },
        ),
        // 53
        step(
            json!({"query_knowledge": {"vector": [1.0, 0.0, 0.4], "k": 3, "any_labels": ["mugs"]}}),
            |e, c, _| {
                e.read(c, |v| {
                    v.query_knowledge(
                        &KnowledgeQuery::vector(vec![1.0, 0.0, 0.4])
                            .k(3)
                            .any_label(&["mugs"]),
                    )
                })
                .map(Response::Hits)
            },
        ),
        // 54
        step(json!({"knowledge_index": {"group": "@t"}}), |e, c, _| {
            e.read(c, |v| v.knowledge_index(c.group()))
                .map(Response::IndexInfo)
        }),
        // 55
        step(json!({"delete_knowledge": {"id": "@50"}}), |e, c, ids| {
            e.write(c, |tx| tx.delete_knowledge(id(ids, 50)))
                .map(Response::Knowledge)
        }),
        // 56: no plugin runtime in core's tests: refused alike
        step(
            json!({"install_plugin": {"wasm": "0061736d01000000"}}),
            |e, c, _| e.install_plugin(c, NOT_A_PLUGIN).map(Response::Plugin),
        ),
        // 57
        step(
            json!({"upgrade_plugin": {"wasm": "0061736d01000000"}}),
            |e, c, _| e.upgrade_plugin(c, NOT_A_PLUGIN).map(Response::Plugin),
        ),
        // 58
        step(
            json!({"set_plugin_enabled": {"name": "nope", "enabled": false}}),
            |e, c, _| e.set_plugin_enabled(c, "nope", false).map(Response::Plugin),
        ),
        // 59
        step(json!({"uninstall_plugin": {"name": "nope"}}), |e, c, _| {
            e.uninstall_plugin(c, "nope").map(|()| Response::Done)
        }),
        // 60
        step(json!("plugins"), |e, c, _| {
            e.read(c, |v| v.plugins()).map(Response::Plugins)
        }),
        // 61
        step(json!("thing_types"), |e, c, _| {
            e.read(c, |v| v.thing_types()).map(Response::ThingTypes)
        }),
        // 62
        step(
            json!({"changes": {"filter": {"dimensions": ["things"]}, "limit": 2}}),
            |e, c, _| {
                let mut sub =
                    e.subscribe_from(c, ChangeFilter::new().dimension(Dimension::Things), None)?;
                let mut events = Vec::new();
                while events.len() < 2 {
                    match sub.try_next(e)? {
                        Some(ev) => events.push(ev),
                        None => break,
                    }
                }
                Ok(Response::Changes {
                    events,
                    cursor: sub.cursor(),
                })
            },
        ),
        // 63
        step(json!({"export": {"group": "@0"}}), |e, c, ids| {
            let mut out = Vec::new();
            let report = e.export(c, id(ids, 0), &mut out)?;
            Ok(Response::Export {
                text: String::from_utf8(out).unwrap(),
                report,
            })
        }),
        // 64
        step(json!({"counts": {"group": "@t"}}), |e, c, _| {
            e.read(c, |v| v.counts(c.group())).map(Response::Counts)
        }),
        // 65
        step(
            json!({"create_tenant": {"type": "organization", "name": "Other", "slug": "other"}}),
            |e, _, _| {
                e.admin()
                    .create_root_group(NewGroup::new(GroupType::Organization, "Other", "other"))
                    .map(Response::Group)
            },
        ),
        // 66
        step(json!("tenants"), |e, _, _| {
            e.admin().root_groups().map(Response::Groups)
        }),
        // 67
        step(
            json!({"create_index": {"type": "product", "path": "properties.price"}}),
            |e, _, _| {
                e.admin()
                    .create_index("product", "properties.price")
                    .map(Response::Index)
            },
        ),
        // 68
        step(json!("indexes"), |e, _, _| {
            e.admin().indexes().map(Response::Indexes)
        }),
        // 69
        step(
            json!({"drop_index": {"type": "product", "path": "properties.price"}}),
            |e, _, _| {
                e.admin()
                    .drop_index("product", "properties.price")
                    .map(Response::Removed)
            },
        ),
        // 70
        step(json!("stats"), |e, _, _| {
            e.admin().stats().map(Response::Stats)
        }),
        // 71
        step(json!("check"), |e, _, _| {
            e.check().map(Response::CheckReport)
        }),
        // 72
        step(json!("recount_usage"), |e, _, _| {
            e.admin().recount_usage().map(|()| Response::Done)
        }),
        // 73
        step(json!("compact_knowledge"), |e, _, _| {
            e.admin().compact_knowledge().map(Response::CompactReport)
        }),
        // 74
        step(json!("flush_meters"), |e, _, _| {
            e.flush_meters().map(|()| Response::Done)
        }),
        // 75: an import that collides with what is there: refused alike
        step(
            json!({"import": {"text": "{\"record\":\"header\"}", "into": "new_tenant"}}),
            |e, _, _| {
                e.admin()
                    .import("{\"record\":\"header\"}".as_bytes(), ImportInto::NewTenant)
                    .map(Response::PortableReport)
            },
        ),
        // 76
        step(json!({"delete_thing": {"id": "@5"}}), |e, c, ids| {
            e.write(c, |tx| tx.delete_thing(id(ids, 5)))
                .map(Response::Thing)
        }),
        // 77
        step(json!({"disconnect": {"id": "@11"}}), |e, c, ids| {
            e.write(c, |tx| tx.disconnect(id(ids, 11)))
                .map(Response::Connection)
        }),
        // 78
        step(json!({"archive_group": {"id": "@0"}}), |e, c, ids| {
            e.write(c, |tx| tx.archive_group(id(ids, 0)))
                .map(Response::Group)
        }),
        // 79: the tenant made at step 65, by slug (case folded)
        step(json!({"tenant_by_slug": {"slug": "OTHER"}}), |e, _, _| {
            e.admin().tenant_by_slug("OTHER").map(Response::Tenant)
        }),
        // 80: no tenant has a domain here; a port is ignored
        step(
            json!({"tenant_by_domain": {"domain": "other.example:8443"}}),
            |e, _, _| {
                e.admin()
                    .tenant_by_domain("other.example:8443")
                    .map(Response::Tenant)
            },
        ),
        // 81: an email that is nobody's gets no token, alike
        step(
            json!({"password_reset": {"group": "@t", "email": "nobody@example.com"}}),
            |e, c, _| {
                e.password_reset(c, c.group(), "nobody@example.com")
                    .map(Response::ResetToken)
            },
        ),
        // 82
        step(
            json!({"reset_password": {"token": "ok_once_bad", "password": "a long passphrase"}}),
            |e, _, _| {
                e.reset_password("ok_once_bad", "a long passphrase")
                    .map(Response::ThingId)
            },
        ),
        // 83
        step(
            json!({"change_password": {"session": "ok_sess_bad", "current_password": "x", "new_password": "a long passphrase"}}),
            |e, _, _| {
                e.change_password("ok_sess_bad", "x", "a long passphrase")
                    .map(|()| Response::Done)
            },
        ),
        // 84
        step(
            json!({"complete_sign_in": {"token": "ok_once_bad", "code": "123456"}}),
            |e, _, _| {
                e.complete_sign_in("ok_once_bad", "123456")
                    .map(Response::Session)
            },
        ),
        // 85
        step(
            json!({"enroll_two_factor": {"token": "ok_sess_bad"}}),
            |e, _, _| {
                e.enroll_two_factor("ok_sess_bad")
                    .map(Response::TwoFactorEnrollment)
            },
        ),
        // 86
        step(
            json!({"confirm_two_factor": {"token": "ok_sess_bad", "code": "123456"}}),
            |e, _, _| {
                e.confirm_two_factor("ok_sess_bad", "123456")
                    .map(Response::TwoFactorEnabled)
            },
        ),
        // 87
        step(
            json!({"disable_two_factor": {"session": "ok_sess_bad", "code": "123456"}}),
            |e, _, _| {
                e.disable_two_factor("ok_sess_bad", "123456")
                    .map(|()| Response::Done)
            },
        ),
        // 88: the person has no authenticator
        step(
            json!({"reset_two_factor": {"person": "@9"}}),
            |e, c, ids| {
                e.write(c, |tx| tx.reset_two_factor(id(ids, 9)))
                    .map(Response::Removed)
            },
        ),
        // 89
        step(
            json!({"switch_tenant": {"session": "ok_sess_bad", "group": "@t"}}),
            |e, c, _| {
                e.switch_tenant("ok_sess_bad", c.group())
                    .map(Response::SignedIn)
            },
        ),
        // 90
        step(
            json!({"create_text_index": {"type": "product", "path": "name"}}),
            |e, _, _| {
                e.admin()
                    .create_text_index("product", "name")
                    .map(Response::Index)
            },
        ),
        // 91
        step(json!("text_indexes"), |e, _, _| {
            e.admin().text_indexes().map(Response::Indexes)
        }),
        // 92
        step(
            json!({"search_things": {"text": "mu", "prefix": true, "type": "product", "limit": 2}}),
            |e, c, _| {
                e.read(c, |v| {
                    v.search_things(&TextQuery::new("mu").prefix().kind("product").limit(2))
                })
                .map(Response::ThingHits)
            },
        ),
        // 93
        step(
            json!({"drop_text_index": {"type": "product", "path": "name"}}),
            |e, _, _| {
                e.admin()
                    .drop_text_index("product", "name")
                    .map(Response::Removed)
            },
        ),
        // 94
        step(
            json!({"query_knowledge": {"text": "coffee mugs", "mode": "hybrid", "k": 2}}),
            |e, c, _| {
                e.read(c, |v| {
                    v.query_knowledge(&KnowledgeQuery::hybrid("coffee mugs").k(2))
                })
                .map(Response::Hits)
            },
        ),
        // 95
        step(
            json!({"things": {"include_children": true, "order": "updated", "descending": true, "limit": 3}}),
            |e, c, _| {
                e.read(c, |v| {
                    v.things(
                        &ThingQuery::all()
                            .include_children()
                            .order(ThingOrder::Updated)
                            .descending()
                            .limit(3),
                    )
                })
                .map(Response::ThingPage)
            },
        ),
        // 96
        step(
            json!({"connect": {"from": "@t", "type": "likes", "to": "@9", "metadata": {"stars": 4}}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.connect(
                        NewConnection::new(c.group(), "likes", id::<ThingId>(ids, 9))
                            .metadata(json_value(json!({"stars": 4}))),
                    )
                })
                .map(Response::Connection)
            },
        ),
        // 97
        step(
            json!({"update_connection": {"id": "@96", "metadata": {"stars": 5}}}),
            |e, c, ids| {
                e.write(c, |tx| {
                    tx.update_connection(id(ids, 96), json_value(json!({"stars": 5})))
                })
                .map(Response::Connection)
            },
        ),
        // 98
        step(
            json!({"group_connections": {"type": "likes", "filter": {"metadata.stars": {"$gte": 5}}, "descending": true}}),
            |e, c, _| {
                let f = Filter::new()
                    .and("metadata.stars", Op::Gte(Value::Int(5)))
                    .unwrap();
                e.read(c, |v| {
                    v.group_connections(
                        &GroupConnectionQuery::new()
                            .kind("likes")
                            .filter(f)
                            .descending(),
                    )
                })
                .map(Response::ConnectionPage)
            },
        ),
        // 99
        step(
            json!({"grant_plugin": {"name": "nope", "permissions": ["things:read"]}}),
            |e, c, _| {
                e.grant_plugin(c, "nope", &["things:read"])
                    .map(Response::Plugin)
            },
        ),
    ]
}

fn json_value(j: Json) -> Value {
    Value::from_json(&j)
}

/// The outcome of each step on one engine, normalised, with the names of the
/// operations run.
fn run(through_execute: bool) -> (Vec<std::result::Result<Json, Json>>, BTreeSet<String>) {
    let f = Fixture::new();
    let tenant = f.tenant("acme");
    let system = Context::system(tenant.id);
    let mut ids: Vec<String> = Vec::new();
    let mut outcomes = Vec::new();
    let mut names = BTreeSet::new();
    let mut placeholders = BTreeMap::new();
    placeholder(&tenant.id.to_string(), &mut placeholders);
    for (i, s) in scenario().iter().enumerate() {
        let ctx = match s.person {
            Some(n) => Context::person(id(&ids, n), id(&ids, 0)),
            None => system,
        };
        let mut with_tenant = ids.clone();
        with_tenant.push(tenant.id.to_string());
        let request = fill(
            &s.json
                .to_string()
                .replace("\"@t\"", &format!("\"@{}\"", ids.len()))
                .parse::<Json>()
                .unwrap(),
            &with_tenant,
        );
        let outcome = if through_execute {
            let r: Request = serde_json::from_value(request.clone())
                .unwrap_or_else(|e| panic!("step {i}: {request} does not parse: {e}"));
            names.insert(r.name().to_string());
            execute_json(&f.engine, &ctx, &request)
        } else {
            to_json(&(s.typed)(&f.engine, &ctx, &ids))
        };
        ids.push(outcome.as_ref().ok().and_then(id_in).unwrap_or_default());
        outcomes.push(match outcome {
            Ok(r) => Ok(normalize(&r, &mut placeholders)),
            Err(failure) => Err(normalize(
                &serde_json::to_value(failure).unwrap(),
                &mut placeholders,
            )),
        });
    }
    (outcomes, names)
}

#[test]
fn every_operation_answers_the_same_through_execute_as_through_the_typed_api() {
    let (typed, _) = run(false);
    let (executed, _) = run(true);
    for (i, (t, x)) in typed.iter().zip(&executed).enumerate() {
        assert_eq!(t, x, "step {i}: typed (left) and execute (right) differ");
    }
    // The scenario does things, not only fail: most steps succeed.
    let succeeded = typed.iter().filter(|o| o.is_ok()).count();
    assert!(
        succeeded > 55,
        "only {succeeded} steps succeeded: {typed:#?}"
    );
}

#[test]
fn every_request_variant_is_exercised_through_execute() {
    let (_, names) = run(true);
    let missing: Vec<&str> = Request::NAMES
        .iter()
        .copied()
        .filter(|n| !names.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "not exercised through execute: {missing:?}"
    );
}

fn batch() -> Vec<Json> {
    vec![
        json!({"create_thing": {"type": "product", "name": "Mug"}}),
        json!({"create_person": {"email": "a@example.com", "name": "A"}}),
        json!({"connect": {"from": {"$ref": 1}, "type": "owns", "to": {"$ref": 0}}}),
        json!({"update_thing": {"id": {"$ref": 0}, "update": {"properties": {"owner": {"$ref": 1}}}}}),
        json!({"get_thing": {"id": {"$ref": 0}}}),
    ]
}

#[test]
fn a_batch_commits_every_step_and_a_step_names_what_an_earlier_one_made() {
    let f = Fixture::new();
    let ctx = Context::system(f.tenant("acme").id);
    let out = f.engine.execute_batch(&ctx, &batch()).unwrap();
    let (Response::Thing(mug), Response::Thing(person), Response::Connection(owns)) =
        (&out[0], &out[1], &out[2])
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        (owns.from, owns.to),
        (Ref::from(person.id), Ref::from(mug.id))
    );
    let Response::Thing(read) = &out[4] else {
        panic!("{out:?}")
    };
    assert_eq!(
        read.properties.get_path("owner"),
        Some(&Value::from(person.id.to_string()))
    );
    assert_eq!(f.engine.read(&ctx, |v| v.get_thing(mug.id)).unwrap(), *read);
}

#[test]
fn a_batch_that_fails_at_any_step_changes_nothing_and_names_the_step() {
    let failures = [
        // An unknown id.
        json!({"get_thing": {"id": "thg_00000000000000000000000000"}}),
        // An invalid field.
        json!({"create_thing": {"type": "product", "name": ""}}),
        // A reference to a step that is not earlier.
        json!({"get_thing": {"id": {"$ref": 99}}}),
        // An operation that runs on the engine as a whole.
        json!({"sign_out": {"token": "ok_sess_x"}}),
        // Not a request.
        json!({"launch_rockets": {}}),
        // A platform operation.
        json!("tenants"),
    ];
    for k in 0..batch().len() {
        for failure in &failures {
            let f = Fixture::new();
            let ctx = Context::system(f.tenant("acme").id);
            let before = f.dump();
            let mut steps = batch();
            steps[k] = failure.clone();
            let err = f.engine.execute_batch(&ctx, &steps).unwrap_err();
            // A step after the failing one may fail first only if it is refused before
            // anything runs; the one injected here is always the first refused.
            assert_eq!(err.step, Some(k as u32), "{failure} at {k}: {err}");
            assert_eq!(f.dump(), before, "{failure} at {k} changed the database");
        }
    }
}

#[test]
fn platform_operations_need_the_system_principal() {
    let f = Fixture::new();
    let acme = f.tenant("acme");
    let app = Context::system(acme.id);
    let (signed_up, _) = f.signed_in(&app, acme.id, "owner@example.com");
    let person = Context::person(signed_up.person.id, acme.id);
    let before = f.dump();
    for request in [
        Request::Tenants,
        Request::TenantBySlug {
            slug: "acme".into(),
        },
        Request::TenantByDomain {
            domain: "acme.example".into(),
        },
        Request::Check,
        Request::CreateTenant(NewGroup::new(GroupType::Organization, "X", "x")),
    ] {
        let err = f.engine.execute(&person, request).unwrap_err();
        assert!(matches!(err, Error::PlatformOnly { .. }), "{err}");
        assert_eq!(err.code(), 307);
    }
    assert_eq!(f.dump(), before);
}

#[test]
fn malformed_requests_are_refused_with_the_field_at_fault() {
    for (text, needle) in [
        (r#"{"get_thing": {"id": 5}}"#, "invalid type"),
        (
            r#"{"get_thing": {"id": "grp_00000000000000000000000000"}}"#,
            "group",
        ),
        (r#"{"get_thing": {}}"#, "missing field `id`"),
        (
            r#"{"get_thing": {"id": "thg_00000000000000000000000000", "extra": 1}}"#,
            "unknown field",
        ),
        (
            r#"{"create_thing": {"type": "p", "name": "n", "colour": "red"}}"#,
            "unknown field `colour`",
        ),
        (
            r#"{"record_usage": {"resource": "gold", "amount": 1}}"#,
            "is not a resource",
        ),
        (
            r#"{"things": {"type": "p", "filter": {"price": 1}}}"#,
            "paths are",
        ),
        (r#"{"install_plugin": {"wasm": "xyz"}}"#, "hex"),
        (
            r#"{"can": {"permission": "root", "group": "grp_x"}}"#,
            "not a permission",
        ),
        (r#"["get_thing"]"#, "expected"),
    ] {
        let err = serde_json::from_str::<Request>(text).unwrap_err();
        assert!(err.to_string().contains(needle), "{text}: {err}");
    }
}
