//! Who calls: the credential of a request (`Authorization: Bearer …`, an API key or a
//! session token) turned into a [`Context`] by the engine, the group the call acts in,
//! and the rate-limit figures a key-authenticated response carries.
//!
//! The client's address is the socket's, or, only when the server is told to trust a
//! proxy, the first address of the header that proxy sets. An API key counts one call per
//! request and is refused past its limits (429); a session token is checked, not counted.

use std::net::{IpAddr, SocketAddr};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use super::status::ApiError;
use crate::{Context, Error, GroupId, Ontology, RateLimit, Timestamp};

/// The header that chooses the group a call acts in, within the credential's scope.
pub const GROUP_HEADER: &str = "x-organization-id";

/// A caller the engine admitted.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// What the call acts as.
    pub ctx: Context,
    /// What the key may still do, when the credential is an API key.
    pub rate_limit: Option<RateLimit>,
}

/// The bearer token of `headers`, or [`Error::InvalidCredentials`].
fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::from(Error::InvalidCredentials))
}

/// The client's address: the socket's, or the first one in `trusted_header` when the
/// server trusts a proxy to set it.
pub fn client_ip(headers: &HeaderMap, peer: SocketAddr, trusted_header: Option<&str>) -> IpAddr {
    trusted_header
        .and_then(|name| headers.get(name))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|first| first.trim().parse().ok())
        .unwrap_or(peer.ip())
}

/// Admits the caller of a request (blocking: it reads the store).
pub fn admit(db: &Ontology, headers: &HeaderMap, ip: IpAddr) -> Result<Caller, ApiError> {
    let token = bearer(headers)?;
    let now = db.engine().clock().now();
    let (ctx, rate_limit) = if token.starts_with("ok_sess_") {
        (db.engine().context_for_session(token), None)
    } else {
        match db.engine().check_api_key(token, Some(ip)) {
            Ok(call) => (Ok(call.context), Some(call.rate_limit)),
            Err(e) => (Err(e), None),
        }
    };
    let ctx = ctx.map_err(|e| ApiError::at(e, now))?;
    let ctx = match headers.get(GROUP_HEADER) {
        None => ctx,
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| ApiError::invalid(format!("`{GROUP_HEADER}` is not text")))?;
            let group: GroupId = text.trim().parse().map_err(Error::from)?;
            // Out of the credential's scope, the engine answers as for an unknown group.
            ctx.in_group(group)
        }
    };
    Ok(Caller { ctx, rate_limit })
}

/// The rate-limit headers of a key-authenticated response: the seeds' `X-RateLimit-*`
/// (the tightest window: the per-second burst if the key has one, else the monthly quota;
/// `Reset` in Unix seconds) and the IETF draft's `RateLimit-Policy` and `RateLimit`
/// (every window, `t` in seconds from now).
pub fn rate_limit_headers(limit: &RateLimit, now: Timestamp) -> Vec<(HeaderName, HeaderValue)> {
    let until = |t: Timestamp| t.as_millis().saturating_sub(now.as_millis()).div_ceil(1000);
    let mut windows: Vec<(&str, u64, u64, Timestamp, u64)> = Vec::new();
    if let Some(b) = &limit.burst {
        windows.push((
            "burst",
            u64::from(b.limit),
            u64::from(b.remaining),
            b.reset,
            1,
        ));
    }
    if let (Some(quota), Some(remaining)) = (limit.limit, limit.remaining) {
        // The month's length is the window the quota counts in.
        let month = 30 * 24 * 3600;
        windows.push(("monthly", quota, remaining, limit.reset, month));
    }
    let mut headers = Vec::new();
    let Some(&(_, quota, remaining, reset, _)) = windows.first() else {
        return headers;
    };
    let value = |s: String| HeaderValue::from_str(&s).ok();
    let mut push = |name: &'static str, v: Option<HeaderValue>| {
        if let Some(v) = v {
            headers.push((HeaderName::from_static(name), v));
        }
    };
    push("x-ratelimit-limit", value(quota.to_string()));
    push("x-ratelimit-remaining", value(remaining.to_string()));
    push(
        "x-ratelimit-reset",
        value(reset.as_millis().div_ceil(1000).to_string()),
    );
    let policy: Vec<String> = windows
        .iter()
        .map(|(name, q, _, _, w)| format!("\"{name}\";q={q};w={w}"))
        .collect();
    push("ratelimit-policy", value(policy.join(", ")));
    let current: Vec<String> = windows
        .iter()
        .map(|(name, _, r, t, _)| format!("\"{name}\";r={r};t={}", until(*t)))
        .collect();
    push("ratelimit", value(current.join(", ")));
    headers
}
