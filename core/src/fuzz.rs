//! The bodies of the fuzz targets in `fuzz/`, public so that the fuzzers and the ordinary
//! test suite (which runs them on stable, on generated inputs) share one definition.
//! Each takes arbitrary bytes and must never panic; each checks a round trip where the
//! input decodes.

use crate::base::codec;
use crate::base::id::{GroupId, Ref, ThingId};
use crate::base::value::{Value, ValueRef};
use crate::records::connection::{Connection, ConnectionHead};
use crate::records::event::Event;
use crate::records::filter::Filter;
use crate::records::group::Group;
use crate::records::thing::{Thing, ThingHead};

/// Id text: parsing never panics, and a parsed id prints back to the same id.
pub fn parse_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = text.parse::<Ref>() {
        let printed = r.to_string();
        assert_eq!(printed.parse::<Ref>().ok(), Some(r));
        assert_eq!(printed.to_lowercase(), text.to_lowercase());
    }
    let _ = text.parse::<GroupId>();
    let _ = text.parse::<ThingId>();
}

/// Filter JSON: parsing never panics, and a parsed filter can be evaluated.
pub fn parse_filter(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(filter) = Filter::from_json(&json) {
        let _ = filter.is_empty();
    }
}

/// Stored records: decoding arbitrary bytes as every kind of record (groups, things,
/// connections, events, API keys, knowledge, plugins, passwords, one-time tokens, and a
/// bare `Value`) never panics, and what decodes encodes back to the same bytes' meaning.
pub fn decode_records(data: &[u8]) {
    fn check<R: codec::Record + PartialEq + std::fmt::Debug>(data: &[u8]) {
        if let Ok(record) = codec::decode::<R>(data)
            && let Ok(bytes) = codec::encode(&record)
        {
            let again: R = codec::decode(&bytes).expect("re-decoding an encoded record");
            assert_eq!(codec::encode(&again).ok(), Some(bytes));
        }
    }
    check::<Group>(data);
    check::<Thing>(data);
    check::<Connection>(data);
    check::<Event>(data);
    check::<crate::records::key::StoredKey>(data);
    check::<crate::records::knowledge::Knowledge>(data);
    check::<crate::plugins::PluginRecord>(data);
    check::<crate::identity::sign_in::Password>(data);
    check::<crate::identity::sign_in::OneTimeToken>(data);
    check::<crate::identity::two_factor::TwoFactor>(data);
    check::<crate::identity::two_factor::PendingSignIn>(data);
    check::<crate::records::account::Account>(data);
    if let Ok(v) = postcard::from_bytes::<Value>(data) {
        let _ = v.validate("fuzz");
        let _ = v.to_json();
    }
    // What the engine reads in place agrees with the whole record, whatever the bytes.
    if let Ok(value) = postcard::from_bytes::<Value>(data) {
        let read: ValueRef =
            postcard::from_bytes(data).expect("a value that decodes reads in place");
        assert!(read.is(&value), "{read:?} read in place, {value:?} decoded");
    }
    if let Ok(thing) = codec::decode::<Thing>(data) {
        let head: ThingHead =
            codec::decode_in::<Thing, _>(data).expect("a thing that decodes reads in place");
        assert_eq!(
            (head.group, head.kind, head.status),
            (thing.group, thing.kind.as_str(), thing.status)
        );
    }
    if let Ok(connection) = codec::decode::<Connection>(data) {
        let head: ConnectionHead = codec::decode_in::<Connection, _>(data)
            .expect("a connection that decodes reads in place");
        assert_eq!(head.to, connection.to);
        assert!(head.metadata.is(&connection.metadata));
    }
}

/// Presented credentials and access inputs: an API key or token, an IP range, and
/// permission strings never panic the parsers, and a secret that parses has the shape
/// the engine makes.
pub fn parse_credentials(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((_, digest)) = crate::base::secret::parse(text) {
        assert!(text.starts_with("ok_") && text.is_ascii());
        assert_eq!(digest, crate::base::secret::digest(text));
    }
    let _ = text.parse::<crate::records::key::IpRange>();
    let _ = crate::base::permission::PermissionSet::parse(&text.split(',').collect::<Vec<_>>());
}

/// Money inputs: a currency code, a share and a split computed from arbitrary bytes never
/// panic, and every split conserves its total.
pub fn money(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<crate::metering::money::Currency>();
    }
    let mut words = data
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect::<Vec<_>>();
    let Some(first) = words.pop() else {
        return;
    };
    let total = first as i64;
    if let Ok(parts) = crate::metering::money::split(total, &words) {
        assert_eq!(
            parts.iter().map(|p| i128::from(*p)).sum::<i128>(),
            i128::from(total)
        );
    }
    if let Ok(share) = crate::metering::money::Bps::new((first % 10_001) as u32)
        && let Ok(m) = crate::metering::money::Money::new(total, "USD")
        && let Ok((a, b)) = m.share(share)
    {
        assert_eq!(i128::from(a.minor) + i128::from(b.minor), i128::from(total));
    }
}

/// Keys: reading arbitrary bytes as order-preserving components never panics, what reads
/// encodes back to the bytes it came from, the encoding keeps the order of what it
/// encodes, and the layout's key parsers never panic.
pub fn decode_keys(data: &[u8]) {
    use one_storage::keys::{KeyBuf, KeyReader};
    let mut reader = KeyReader::new(data);
    let mut consumed = 0;
    while let Ok(component) = reader.bytes() {
        let rest = reader.rest().len();
        assert_eq!(
            KeyBuf::new().bytes(&component).finish(),
            data[consumed..data.len() - rest],
            "a component decodes from bytes it does not encode to"
        );
        consumed = data.len() - rest;
        if reader.is_empty() {
            break;
        }
    }
    let _ = crate::base::layout::tenant_env_of(data);
    let _ = crate::base::layout::trailing_id(data);
    if let Some((&split, rest)) = data.split_first() {
        let (a, b) = rest.split_at(usize::from(split).min(rest.len()));
        let (ka, kb) = (
            KeyBuf::new().bytes(a).finish(),
            KeyBuf::new().bytes(b).finish(),
        );
        assert_eq!(
            ka.cmp(&kb),
            a.cmp(b),
            "the key encoding reorders {a:?} and {b:?}"
        );
        if let (Ok(x), Ok(y)) = (
            <[u8; 8]>::try_from(&rest[..8.min(rest.len())]),
            <[u8; 8]>::try_from(&rest[8.min(rest.len())..16.min(rest.len())]),
        ) {
            let (x, y) = (f64::from_le_bytes(x), f64::from_le_bytes(y));
            if let Some(order) = x.partial_cmp(&y).filter(|_| x != 0.0 || y != 0.0) {
                let (ex, ey) = (
                    one_storage::keys::encode_f64(x),
                    one_storage::keys::encode_f64(y),
                );
                assert_eq!(ex.cmp(&ey), order, "the f64 encoding reorders {x} and {y}");
            }
        }
    }
}

/// A store holding arbitrary entries: opening an engine on it and checking it never
/// panics; the check reports damage as problems.
pub fn check_store(data: &[u8]) {
    use one_storage::{Store, StoreOptions};
    let Ok(store) = Store::in_memory(&StoreOptions::default()) else {
        return;
    };
    // Entries are `<key len> <key> <value len> <value>`, each length one byte.
    let mut entries = Vec::new();
    let mut rest = data;
    while let Some((&kl, r)) = rest.split_first() {
        let Some((key, r)) = r.split_at_checked(usize::from(kl)) else {
            break;
        };
        let Some((&vl, r)) = r.split_first() else {
            break;
        };
        let Some((value, r)) = r.split_at_checked(usize::from(vl)) else {
            break;
        };
        entries.push((key.to_vec(), value.to_vec()));
        rest = r;
    }
    let written = store.write(|kv| {
        for (k, v) in &entries {
            if !k.is_empty() {
                kv.put(k.clone(), v.clone())?;
            }
        }
        Ok::<_, one_storage::StorageError>(())
    });
    if written.is_err() {
        return;
    }
    if let Ok(engine) = crate::Engine::new(store, std::sync::Arc::new(crate::SystemClock)) {
        let _ = engine.check();
    }
}

/// An export's text: importing it into a database either succeeds, leaving a database
/// that passes [`crate::Engine::check`], or fails and changes nothing.
pub fn import(data: &[u8]) {
    let (engine, _) = engine_with_a_tenant();
    let before = dump(&engine);
    match engine.admin().import(data, crate::ImportInto::NewTenant) {
        Ok(_) => {
            let report = engine.check().expect("a check runs");
            assert!(
                report.is_ok(),
                "an import left damage: {:?}",
                report.problems
            );
        }
        Err(_) => assert!(
            before == dump(&engine),
            "a failed import changed the database"
        ),
    }
}

/// A request (or a batch) as JSON text, the way the C ABI and the server receive one:
/// decoding never panics, what decodes reads back equal from both of its forms, and
/// executing it on a database with data either succeeds or fails leaving the database as
/// it was (but for the `access_denied` event a refusal logs).
pub fn requests(data: &[u8]) {
    use one_vocabulary::decode::from_json;
    use one_vocabulary::request::{Request, RunsIn};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (engine, tenant) = engine_with_a_tenant();
    let ctx = crate::Context::system(tenant.id);
    engine
        .write(&ctx, |tx| {
            tx.create_thing(crate::NewThing::new("product", "Mug").property("price", 3))
        })
        .expect("a thing in a new tenant");
    let before = dump(&engine);
    let unchanged = |what: &str, e: &crate::Error| {
        if !matches!(e, crate::Error::Forbidden { .. }) {
            assert!(
                before == dump(&engine),
                "a failed {what} changed the database: {e}"
            );
        }
    };
    if let Ok(steps) = serde_json::from_str::<Vec<serde_json::Value>>(text) {
        if let Err(f) = engine.execute_batch(&ctx, &steps) {
            assert!(
                before == dump(&engine),
                "a failed batch changed the database: {f}"
            );
        }
        return;
    }
    let Ok(request) = from_json::<Request>(text) else {
        return;
    };
    let json = serde_json::to_string(&request).expect("a request serialises");
    assert_eq!(
        from_json::<Request>(&json).ok().as_ref(),
        Some(&request),
        "{json}"
    );
    let bytes = postcard::to_stdvec(&request).expect("a request serialises");
    assert_eq!(
        postcard::from_bytes::<Request>(&bytes).ok().as_ref(),
        Some(&request)
    );
    let runs_in = request.runs_in();
    if let Err(e) = engine.execute(&ctx, request)
        && runs_in != RunsIn::Engine
    {
        unchanged("request", &e);
    }
}

/// An engine in memory, on a manual clock, with one tenant.
fn engine_with_a_tenant() -> (crate::Engine, crate::Group) {
    use one_storage::{Store, StoreOptions};
    let engine = crate::Engine::new(
        Store::in_memory(&StoreOptions::default()).expect("a store in memory"),
        std::sync::Arc::new(crate::ManualClock::new(crate::Timestamp::from_millis(
            1_700_000_000_000,
        ))),
    )
    .expect("an empty engine opens");
    let tenant = engine
        .admin()
        .create_root_group(crate::NewGroup::new(
            crate::GroupType::Business,
            "Here",
            "here",
        ))
        .expect("a tenant in an empty engine");
    (engine, tenant)
}

pub use crate::testkit::dump;
