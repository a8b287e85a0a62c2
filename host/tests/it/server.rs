//! `one::server` over a real socket: credentials, the vocabulary and resource routes, the
//! status of errors, rate-limit headers, the live feed and its resumption, and bad input.
//!
//! The client is a few lines of HTTP/1.1 over a `TcpStream`, so the tests can also send
//! what no HTTP library would: invalid UTF-8, broken JSON, oversize bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use one::server::{Server, ServerConfig};
use one::*;
use serde_json::{Value as Json, json};

/// A response: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Json {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends one request and reads the whole response.
fn http(addr: SocketAddr, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if let Some(t) = token {
        head.push_str(&format!("authorization: Bearer {t}\r\n"));
    }
    head.push_str("content-type: application/json\r\n\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// A server on loopback over a database with a tenant, a thing, and a key of each kind.
struct Live {
    db: Arc<Ontology>,
    server: Option<Server>,
    tenant: Group,
    mug: Thing,
    /// A key that may read and write things.
    key: String,
    /// A key with a rate of 1 call per second and a burst of 2.
    slow_key: String,
}

impl Live {
    fn new() -> Self {
        Self::on(Arc::new(Ontology::in_memory().unwrap()))
    }

    fn on(db: Arc<Ontology>) -> Self {
        let tenant = db
            .admin()
            .create_root_group(NewGroup::new(GroupType::Business, "Shop", "shop"))
            .unwrap();
        let ctx = Context::system(tenant.id);
        let (mug, key, slow_key) = db
            .write(&ctx, |tx| {
                let mug = tx.create_thing(NewThing::new("product", "Mug").property("price", 3))?;
                let key = tx.create_api_key(NewApiKey::new("app", &["read", "write"]))?;
                let slow = tx.create_api_key(NewApiKey::new("slow", &["read"]).rate(1, 2))?;
                Ok((
                    mug,
                    key.secret.expose().to_string(),
                    slow.secret.expose().to_string(),
                ))
            })
            .unwrap();
        let server = start(db.clone());
        Live {
            db,
            server: Some(server),
            tenant,
            mug,
            key,
            slow_key,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr()
    }

    fn call(&self, method: &str, path: &str, body: Json) -> Reply {
        let body = if body.is_null() {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        http(self.addr(), method, path, Some(&self.key), &body)
    }
}

fn start(db: Arc<Ontology>) -> Server {
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.log_requests = false;
    config.max_body_bytes = 64 * 1024;
    config.feed_heartbeat = Duration::from_millis(200);
    Server::start(db, config).unwrap()
}

#[test]
fn health_answers_without_a_credential_and_everything_else_needs_one() {
    let live = Live::new();
    let health = http(live.addr(), "GET", "/health", None, b"");
    assert_eq!(
        (health.status, health.body.as_str()),
        (200, r#"{"status":"ok"}"#)
    );
    let anonymous = http(live.addr(), "POST", "/v1/execute", None, br#""plugins""#);
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.json()["name"], "invalid_credentials");
    let forged = http(
        live.addr(),
        "POST",
        "/v1/execute",
        Some("ok_live_forged"),
        br#""plugins""#,
    );
    assert_eq!(forged.status, 401);
}

#[test]
fn the_vocabulary_runs_over_http_with_the_rate_limit_figures_of_the_key() {
    // Time stands still, so the burst's window cannot refill between the calls however
    // slowly they run.
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)));
    let live = Live::on(Arc::new(
        Ontology::builder().clock(clock).in_memory().unwrap(),
    ));
    let got = live.call(
        "POST",
        "/v1/execute",
        json!({"get_thing": {"id": live.mug.id}}),
    );
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(got.json()["thing"]["name"], "Mug");
    // A key without limits has no figures to send.
    assert_eq!(got.header("x-ratelimit-limit"), None);

    let slow = |body: &[u8]| {
        http(
            live.addr(),
            "POST",
            "/v1/execute",
            Some(&live.slow_key),
            body,
        )
    };
    let first = slow(br#""plugins""#);
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("x-ratelimit-limit"), Some("2"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    assert!(
        first
            .header("ratelimit-policy")
            .unwrap()
            .contains("\"burst\";q=2;w=1")
    );
    let second = slow(br#""plugins""#);
    assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
    // The third call inside the burst's window is refused, saying when to come back.
    let third = slow(br#""plugins""#);
    assert_eq!(third.status, 429, "{}", third.body);
    assert_eq!(third.json()["name"], "rate_limited");
    let retry: u64 = third.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert!(third.json()["retry_after_ms"].as_u64().unwrap() <= 1000);
}

#[test]
fn a_batch_is_one_transaction() {
    let live = Live::new();
    let done = live.call(
        "POST",
        "/v1/batch",
        json!([
            {"create_thing": {"type": "product", "name": "Lid"}},
            {"connect": {"from": {"$ref": 0}, "type": "fits", "to": live.mug.id}},
        ]),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(done.json()[1]["connection"]["to"], json!(live.mug.id));
    let before = one_core::testkit::dump(live.db.engine());
    let failed = live.call(
        "POST",
        "/v1/batch",
        json!([
            {"create_thing": {"type": "product", "name": "Ghost"}},
            {"get_thing": {"id": "thg_00000000000000000000000000"}},
        ]),
    );
    assert_eq!(failed.status, 404, "{}", failed.body);
    assert_eq!(failed.json()["step"], 1);
    assert!(
        before == one_core::testkit::dump(live.db.engine()),
        "a failed batch left a change"
    );
}

#[test]
fn an_id_out_of_scope_answers_exactly_as_an_unknown_one() {
    let live = Live::new();
    let other = live
        .db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Other", "other"))
        .unwrap();
    let theirs = live
        .db
        .write(&Context::system(other.id), |tx| {
            tx.create_thing(NewThing::new("product", "Secret"))
        })
        .unwrap();
    let unknown: ThingId = "thg_00000000000000000000000000".parse().unwrap();
    let a = live.call("GET", &format!("/v1/things/{}", theirs.id), Json::Null);
    let b = live.call("GET", &format!("/v1/things/{unknown}"), Json::Null);
    assert_eq!((a.status, b.status), (404, 404));
    // The bodies differ only by the id each names.
    assert_eq!(
        a.body.replace(&theirs.id.to_string(), "ID"),
        b.body.replace(&unknown.to_string(), "ID")
    );
    // Choosing the other tenant's group is the same unknown group.
    let mut stream = TcpStream::connect(live.addr()).unwrap();
    write!(
        stream,
        "POST /v1/execute HTTP/1.1\r\nhost: t\r\nconnection: close\r\nauthorization: Bearer {}\r\nx-organization-id: {}\r\ncontent-length: 9\r\n\r\n\"plugins\"",
        live.key, other.id
    )
    .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");
}

#[test]
fn resource_routes_name_operations_of_the_vocabulary() {
    let live = Live::new();
    let made = live.call(
        "POST",
        "/v1/things",
        json!({"type": "product", "name": "Lamp", "properties": {"price": 40}}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let lamp = made.json();
    let id = lamp["id"].as_str().unwrap();
    assert_eq!(
        live.call("GET", &format!("/v1/things/{id}"), Json::Null)
            .json()["name"],
        "Lamp"
    );
    let changed = live.call(
        "PATCH",
        &format!("/v1/things/{id}"),
        json!({"properties": {"price": 45}}),
    );
    assert_eq!(
        changed.json()["properties"]["price"],
        45,
        "{}",
        changed.body
    );
    let filter = "%7B%22properties.price%22%3A%7B%22%24gt%22%3A10%7D%7D";
    let listed = live.call(
        "GET",
        &format!("/v1/things?type=product&limit=10&filter={filter}"),
        Json::Null,
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    let items = listed.json()["items"].clone();
    let names: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Lamp"]);
    let gone = live.call("DELETE", &format!("/v1/things/{id}"), Json::Null);
    assert_eq!(gone.json()["status"], "deleted");
    let events = live.call("GET", "/v1/events?type=thing_deleted&limit=5", Json::Null);
    assert_eq!(
        events.json()["items"][0]["target"],
        json!(id),
        "{}",
        events.body
    );
}

#[test]
fn search_group_lists_and_connection_updates_run_over_http() {
    let live = Live::new();
    live.db
        .admin()
        .create_text_index("product", "name")
        .unwrap();
    let made = live.call(
        "POST",
        "/v1/things",
        json!({"type": "product", "name": "Blue ceramic mug"}),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let blue = made.json()["id"].as_str().unwrap().to_string();
    let found = live.call(
        "POST",
        "/v1/things/search",
        json!({"text": "CERAMIC mu", "prefix": true}),
    );
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(
        found.json()["items"][0]["thing"]["id"],
        json!(blue),
        "{}",
        found.body
    );
    let refused = live.call("POST", "/v1/things/search", json!({"text": " ,, "}));
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(refused.json()["field"], "text");
    let linked = live.call(
        "POST",
        "/v1/connections",
        json!({"from": blue, "type": "pairs_with", "to": live.mug.id, "metadata": {"score": 1}}),
    );
    assert_eq!(linked.status, 201, "{}", linked.body);
    let link = linked.json()["id"].as_str().unwrap().to_string();
    let patched = live.call(
        "PATCH",
        &format!("/v1/connections/{link}"),
        json!({"score": 2}),
    );
    assert_eq!(patched.json()["metadata"]["score"], 2, "{}", patched.body);
    let filter = "%7B%22metadata.score%22%3A%7B%22%24gte%22%3A2%7D%7D";
    let listed = live.call(
        "GET",
        &format!(
            "/v1/groups/{}/connections?type=pairs_with&filter={filter}",
            live.tenant.id
        ),
        Json::Null,
    );
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(
        listed.json()["items"][0]["id"],
        json!(link),
        "{}",
        listed.body
    );
    let everything = live.call(
        "GET",
        "/v1/things?order=updated&descending=true",
        Json::Null,
    );
    assert_eq!(everything.status, 200, "{}", everything.body);
    assert_eq!(
        everything.json()["items"][0]["id"],
        json!(blue),
        "{}",
        everything.body
    );
}

#[test]
fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let live = Live::new();
    let before = one_core::testkit::dump(live.db.engine());
    let post = |path: &str, body: &[u8]| http(live.addr(), "POST", path, Some(&live.key), body);
    let cases: Vec<(&str, Reply, u16, &str)> = vec![
        (
            "broken JSON",
            post("/v1/execute", b"{\"get_thing\":"),
            400,
            "invalid",
        ),
        (
            "not UTF-8",
            post("/v1/execute", b"\"\xff\xfe\""),
            400,
            "invalid",
        ),
        (
            "unknown operation",
            post("/v1/execute", br#"{"launch":{}}"#),
            400,
            "invalid",
        ),
        (
            "malformed id",
            post("/v1/execute", br#"{"get_thing":{"id":"thg_x"}}"#),
            422,
            "malformed_id",
        ),
        (
            "invalid field",
            post("/v1/things", br#"{"type":"Bad Type","name":"x"}"#),
            422,
            "invalid_field",
        ),
        (
            "a batch that is not a list",
            post("/v1/batch", b"{}"),
            400,
            "invalid",
        ),
        (
            "oversize body",
            post("/v1/execute", &vec![b' '; 65 * 1024]),
            413,
            "too_large",
        ),
        (
            "unknown route",
            post("/v1/nowhere", b"{}"),
            404,
            "not_found",
        ),
        (
            "a feed's filter that is not JSON",
            http(
                live.addr(),
                "GET",
                "/v1/feed?filter=%7Bgroup",
                Some(&live.key),
                b"",
            ),
            400,
            "invalid",
        ),
        (
            "a feed's filter and its parameters both",
            http(
                live.addr(),
                "GET",
                "/v1/feed?filter=%7B%7D&subtree=true",
                Some(&live.key),
                b"",
            ),
            400,
            "invalid",
        ),
        (
            "a feed's parameter given twice",
            http(
                live.addr(),
                "GET",
                "/v1/feed?types=a&types=b",
                Some(&live.key),
                b"",
            ),
            400,
            "invalid",
        ),
        (
            "platform operation",
            post("/v1/execute", br#""tenants""#),
            403,
            "platform_only",
        ),
    ];
    for (name, reply, status, error) in cases {
        assert_eq!(reply.status, status, "{name}: {}", reply.body);
        assert_eq!(reply.json()["name"], error, "{name}: {}", reply.body);
        assert_eq!(
            reply.header("content-type"),
            Some("application/json"),
            "{name}"
        );
    }
    assert!(
        before == one_core::testkit::dump(live.db.engine()),
        "bad input left a change"
    );
}

/// Reads server-sent events from `stream` until `n` changes came (or the stream ended),
/// returning the change events' ids and the names of the other events.
fn read_events(reader: &mut impl BufRead, n: usize) -> (Vec<String>, Vec<String>) {
    let (mut ids, mut others) = (Vec::new(), Vec::new());
    let (mut id, mut event) = (None, None);
    let mut line = String::new();
    while ids.len() < n {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            break;
        }
        let l = line.trim_end();
        if let Some(v) = l.strip_prefix("id:") {
            id = Some(v.trim().to_string());
        } else if let Some(v) = l.strip_prefix("event:") {
            event = Some(v.trim().to_string());
        } else if l.is_empty() {
            match (event.take(), id.take()) {
                (Some(e), Some(i)) if e == "change" => ids.push(i),
                (Some(e), _) => others.push(e),
                _ => {}
            }
        }
    }
    (ids, others)
}

/// Opens the feed; `last` resumes after that event id.
fn open_feed(addr: SocketAddr, key: &str, query: &str, last: Option<&str>) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let resume = last
        .map(|l| format!("last-event-id: {l}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET /v1/feed?{query} HTTP/1.1\r\nhost: t\r\nauthorization: Bearer {key}\r\n{resume}\r\n"
    )
    .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    // Skip the response's head.
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
    }
    reader
}

#[test]
fn the_feed_resumes_exactly_after_the_last_event_id_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.redb");
    let mut live = Live::on(Arc::new(Ontology::open(&path).unwrap()));
    let ctx = Context::system(live.tenant.id);
    let write = |db: &Ontology, name: &str| {
        db.write(&ctx, |tx| tx.create_thing(NewThing::new("note", name)))
            .unwrap()
    };
    let mut feed = open_feed(live.addr(), &live.key, "dimensions=things", None);
    // The stream is open before these commit: it gets them live.
    for n in 0..3 {
        write(&live.db, &format!("n{n}"));
    }
    let (seen, _) = read_events(&mut feed, 2);
    assert_eq!(seen.len(), 2);
    drop(feed);
    // The server restarts; more is written while the client is away.
    live.server.take().unwrap().shutdown().unwrap();
    let count = Arc::strong_count(&live.db);
    let db = Arc::into_inner(live.db)
        .unwrap_or_else(|| panic!("the server let go of the database: {count}"));
    db.close().unwrap();
    let db = Arc::new(Ontology::open(&path).unwrap());
    for n in 3..5 {
        write(&db, &format!("n{n}"));
    }
    live.db = db.clone();
    live.server = Some(start(db));
    let mut resumed = open_feed(live.addr(), &live.key, "dimensions=things", Some(&seen[1]));
    let (rest, _) = read_events(&mut resumed, 3);
    // Every later change once, in commit order: n2, n3, n4.
    let names: Vec<String> = rest
        .iter()
        .map(|id| {
            let id: EventId = id.parse().unwrap();
            let e = live
                .db
                .read(&ctx, |v| v.events(&EventQuery::latest().limit(50)))
                .unwrap()
                .items
                .into_iter()
                .find(|e| e.id == id)
                .unwrap();
            let thing: ThingId = match e.target {
                Some(Ref::ThingId(t)) => t,
                other => panic!("{other:?}"),
            };
            live.db.read(&ctx, |v| v.get_thing(thing)).unwrap().name
        })
        .collect();
    assert_eq!(names, ["n2", "n3", "n4"]);
}

#[test]
fn the_feed_sends_only_what_the_subscriber_may_read_and_closes_on_shutdown() {
    let live = Live::new();
    let ctx = Context::system(live.tenant.id);
    let (team, reader_key) = live
        .db
        .write(&ctx, |tx| {
            let team = tx.create_group(
                live.tenant.id,
                NewGroup::new(GroupType::Business, "Team", "team"),
            )?;
            let key = tx.create_api_key(NewApiKey::new("team", &["read"]).in_group(team.id))?;
            Ok((team, key.secret.expose().to_string()))
        })
        .unwrap();
    let mut feed = open_feed(live.addr(), &reader_key, "subtree=true", None);
    // A change in the parent is out of the key's scope; one in its group is not.
    live.db
        .write(&ctx, |tx| {
            tx.create_thing(NewThing::new("note", "parent's"))
        })
        .unwrap();
    let mine = live
        .db
        .write(&Context::system(team.id), |tx| {
            tx.create_thing(NewThing::new("note", "team's").in_group(team.id))
        })
        .unwrap();
    let (ids, _) = read_events(&mut feed, 1);
    let id: EventId = ids[0].parse().unwrap();
    let event = live
        .db
        .read(&Context::system(team.id), |v| {
            v.events(&EventQuery::latest().group(team.id))
        })
        .unwrap()
        .items
        .into_iter()
        .find(|e| e.id == id)
        .unwrap();
    assert_eq!(event.target, Some(Ref::from(mine.id)));
    live.server.unwrap().shutdown().unwrap();
    let (_, others) = read_events(&mut feed, 1);
    assert!(others.contains(&"close".to_string()), "{others:?}");
}

#[test]
fn the_committed_openapi_document_is_the_generated_one_and_is_served() {
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = serde_json::to_string_pretty(&one::server::openapi::document()).unwrap() + "\n";
    if std::env::var_os("ONE_BLESS").is_some() {
        std::fs::write(&committed, &generated).unwrap();
    }
    assert!(
        std::fs::read_to_string(&committed).unwrap_or_default() == generated,
        "host/openapi.json is not what the code generates: run \
         `ONE_BLESS=1 cargo test -p one --test it openapi` and commit the file"
    );
    let live = Live::new();
    let served = http(live.addr(), "GET", "/v1/openapi.json", None, b"");
    assert_eq!(served.status, 200);
    assert_eq!(
        served.json(),
        serde_json::from_str::<Json>(&generated).unwrap()
    );
    // Every operation of the table is in it, with its answer's schema.
    let doc = served.json();
    assert!(doc["paths"]["/v1/things/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .is_some_and(|r| r.ends_with("/Thing")));
}

#[test]
fn every_error_code_has_its_documented_status() {
    use one::server::status_of;
    let table: &[(&[u32], u16)] = &[
        (&[1], 400),
        (&[4], 503),
        (&[3], 500),
        (&[100, 502], 404),
        (&[101, 102, 103, 104, 106, 107, 108, 109, 500], 422),
        (&[105], 413),
        (&[200, 201, 202, 203, 204, 205, 206, 501, 600, 910], 409),
        (&[301, 302, 303], 401),
        (&[300, 304, 305, 306, 307, 908], 403),
        (&[400, 401], 429),
        (&[902, 903, 909], 503),
        (&[900, 901, 904, 905, 906, 907], 500),
    ];
    for (codes, status) in table {
        for code in *codes {
            assert_eq!(status_of(*code).as_u16(), *status, "code {code}");
        }
    }
}

#[test]
fn a_client_too_slow_to_send_its_head_is_disconnected() {
    let db = Arc::new(Ontology::in_memory().unwrap());
    let mut config = ServerConfig::new("127.0.0.1:0".parse().unwrap());
    config.log_requests = false;
    config.header_timeout = Duration::from_millis(300);
    let server = Server::start(db, config).unwrap();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    // Half a head, then nothing: the server does not wait for the rest.
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: slow\r\n")
        .unwrap();
    let mut answer = String::new();
    let read = stream.read_to_string(&mut answer);
    assert!(read.is_ok(), "the server closed the connection: {read:?}");
    assert!(!answer.contains("200 OK"), "{answer}");
    // Everyone else is still served.
    assert_eq!(http(server.addr(), "GET", "/health", None, b"").status, 200);
    server.shutdown().unwrap();
}

#[test]
fn huge_headers_are_refused_and_the_server_goes_on() {
    let live = Live::new();
    let send = |head: String| {
        let mut stream = TcpStream::connect(live.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        // The server may answer and close before it has read everything sent.
        let _ = stream.write_all(head.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        String::from_utf8_lossy(&answer).into_owned()
    };
    let one_huge = format!(
        "GET /health HTTP/1.1\r\nhost: t\r\nx-big: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    let many: String = (0..1_000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let too_many = format!("GET /health HTTP/1.1\r\nhost: t\r\n{many}\r\n");
    for (name, head) in [
        ("one huge header", one_huge),
        ("too many headers", too_many),
    ] {
        let answer = send(head);
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "{name}: {}",
            &answer[..answer.len().min(200)]
        );
    }
    assert_eq!(http(live.addr(), "GET", "/health", None, b"").status, 200);
}

#[test]
fn two_factor_sign_in_runs_over_http() {
    let clock = Arc::new(ManualClock::new(Timestamp::from_millis(1_800_000_000_000)));
    let live = Live::on(Arc::new(
        Ontology::builder()
            .clock(clock.clone())
            .auth(AuthConfig {
                password: PasswordParams::INSECURE_FAST,
                ..AuthConfig::default()
            })
            .in_memory()
            .unwrap(),
    ));
    let app = live
        .db
        .write(&Context::system(live.tenant.id), |tx| {
            tx.create_api_key(NewApiKey::new("auth", &["admin"]))
        })
        .unwrap();
    let as_app = |path: &str, body: Json| {
        http(
            live.addr(),
            "POST",
            path,
            Some(app.secret.expose()),
            body.to_string().as_bytes(),
        )
    };
    let credentials =
        json!({"group": live.tenant.id, "email": "ann@shop.io", "password": "a long passphrase"});
    let up = as_app("/v1/auth/sign-up", credentials.clone());
    assert_eq!(up.status, 201, "{}", up.body);
    let signed_in = as_app("/v1/auth/sign-in", credentials.clone()).json();
    let session = signed_in["session"]["token"].as_str().unwrap().to_string();
    let enrolled = as_app("/v1/auth/two-factor/enroll", json!({"token": session})).json();
    let secret = Secret(enrolled["secret"].as_str().unwrap().to_string());
    assert!(
        enrolled["uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let code = |at| one_core::testkit::totp_code(&secret, at);
    let on = as_app(
        "/v1/auth/two-factor/confirm",
        json!({"token": session, "code": code(clock.now())}),
    );
    assert_eq!(on.status, 200, "{}", on.body);
    assert_eq!(on.json()["recovery_codes"].as_array().unwrap().len(), 10);

    clock.advance(30_000);
    let pending = as_app("/v1/auth/sign-in", credentials).json();
    let token = pending["second_factor"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(pending.get("session").is_none(), "{pending}");
    // The pending token is no credential.
    let refused = http(
        live.addr(),
        "GET",
        "/v1/things?type=product",
        Some(&token),
        b"",
    );
    assert_eq!(refused.status, 401);
    let wrong = as_app(
        "/v1/auth/second-factor",
        json!({"token": token, "code": "000000x"}),
    );
    assert_eq!(wrong.status, 401, "{}", wrong.body);
    assert_eq!(wrong.json()["name"], "invalid_credentials");
    let done = as_app(
        "/v1/auth/second-factor",
        json!({"token": token, "code": code(clock.now())}),
    );
    assert_eq!(done.status, 200, "{}", done.body);
    let session = done.json()["token"].as_str().unwrap().to_string();
    let read = http(
        live.addr(),
        "GET",
        &format!("/v1/things/{}", live.mug.id),
        Some(&session),
        b"",
    );
    assert_eq!(read.status, 200, "{}", read.body);
}
