//! The bodies of the fuzz targets in `fuzz/`, public so that the fuzzers and the ordinary
//! test suite (which runs them on stable, on generated inputs) share one definition.
//! Each takes arbitrary bytes and must never panic; each checks a round trip where the
//! input decodes.

use crate::codec;
use crate::connections::Connection;
use crate::events::Event;
use crate::filter::Filter;
use crate::groups::Group;
use crate::id::{GroupId, Ref, ThingId};
use crate::things::Thing;
use crate::value::Value;

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

/// Stored records: decoding arbitrary bytes as any record never panics, and what decodes
/// encodes back to the same bytes' meaning.
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
    check::<crate::api_keys::ApiKey>(data);
    if let Ok(v) = postcard::from_bytes::<Value>(data) {
        let _ = v.validate("fuzz");
        let _ = v.to_json();
    }
}

/// Presented credentials and access inputs: an API key or token, an IP range, and
/// permission strings never panic the parsers, and a secret that parses has the shape
/// the engine makes.
pub fn parse_credentials(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((_, digest)) = crate::secret::parse(text) {
        assert!(text.starts_with("ok_") && text.is_ascii());
        assert_eq!(digest, crate::secret::digest(text));
    }
    let _ = text.parse::<crate::api_keys::IpRange>();
    let _ = crate::access::PermissionSet::parse(&text.split(',').collect::<Vec<_>>());
}

/// Money inputs: a currency code, a share and a split computed from arbitrary bytes never
/// panic, and every split conserves its total.
pub fn money(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = text.parse::<crate::money::Currency>();
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
    if let Ok(parts) = crate::money::split(total, &words) {
        assert_eq!(
            parts.iter().map(|p| i128::from(*p)).sum::<i128>(),
            i128::from(total)
        );
    }
    if let Ok(share) = crate::money::Bps::new((first % 10_001) as u32)
        && let Ok(m) = crate::money::Money::new(total, "USD")
        && let Ok((a, b)) = m.share(share)
    {
        assert_eq!(i128::from(a.minor) + i128::from(b.minor), i128::from(total));
    }
}
