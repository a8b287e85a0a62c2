//! Status codes: what every call returns, one per error kind of the Rust API.
//!
//! The numbers below 100 belong to the C boundary itself; every other number is
//! `one::Error::code` of the error the call met, so they are stable across releases.

use std::ffi::{CStr, c_char, c_int};

/// Success.
pub const ONE_OK: c_int = 0;
/// A bad argument at the boundary: a NULL pointer, text that is not UTF-8, JSON that is
/// not what the call expects.
pub const ONE_INVALID: c_int = 1;
/// A handle that is not open: closed, freed, never made, or of the wrong kind.
pub const ONE_MISUSE: c_int = 2;
/// A bug in ONE: a panic, caught at the boundary or inside a write transaction (which was
/// rolled back; the database goes on serving other calls). The message says where.
pub const ONE_INTERNAL: c_int = 3;
/// A record that does not exist, or that the context may not see.
pub const ONE_NOT_FOUND: c_int = 100;
/// An id that is not an id.
pub const ONE_MALFORMED_ID: c_int = 101;
/// An id of the wrong kind (a thing id where a group id was expected, …).
pub const ONE_WRONG_ID_KIND: c_int = 102;
/// A required field is missing.
pub const ONE_MISSING_FIELD: c_int = 103;
/// A field has an invalid value; the message names it.
pub const ONE_INVALID_FIELD: c_int = 104;
/// A field is larger than its limit.
pub const ONE_TOO_LARGE: c_int = 105;
/// A filter that cannot be parsed or applied.
pub const ONE_INVALID_FILTER: c_int = 106;
/// A page cursor that was not made by this query.
pub const ONE_INVALID_CURSOR: c_int = 107;
/// Money of two currencies combined.
pub const ONE_CURRENCY_MISMATCH: c_int = 108;
/// An arithmetic overflow.
pub const ONE_OVERFLOW: c_int = 109;
/// A group moved under itself or one of its descendants.
pub const ONE_PARENT_CYCLE: c_int = 200;
/// A slug already taken among the group's siblings.
pub const ONE_DUPLICATE_SLUG: c_int = 201;
/// An email already taken in the tenant.
pub const ONE_DUPLICATE_EMAIL: c_int = 202;
/// A write into an archived group.
pub const ONE_GROUP_ARCHIVED: c_int = 203;
/// A write to a deleted thing.
pub const ONE_THING_DELETED: c_int = 204;
/// The person is already a member of the group.
pub const ONE_ALREADY_MEMBER: c_int = 205;
/// The change would leave a group without an owner.
pub const ONE_LAST_OWNER: c_int = 206;
/// A domain already another tenant's.
pub const ONE_DUPLICATE_DOMAIN: c_int = 207;
/// The context lacks a permission; the message names it.
pub const ONE_FORBIDDEN: c_int = 300;
/// Wrong email, password, token or key.
pub const ONE_INVALID_CREDENTIALS: c_int = 301;
/// A credential past its expiry.
pub const ONE_EXPIRED: c_int = 302;
/// A revoked credential.
pub const ONE_REVOKED: c_int = 303;
/// An API key used from an address outside its allow-list.
pub const ONE_IP_NOT_ALLOWED: c_int = 304;
/// Sign-up is closed for the group.
pub const ONE_SIGNUP_NOT_ALLOWED: c_int = 305;
/// The group requires a verified email.
pub const ONE_EMAIL_NOT_VERIFIED: c_int = 306;
/// The operation is the platform's; only the system principal may run it.
pub const ONE_PLATFORM_ONLY: c_int = 307;
/// A quota of the group's plan is used up.
pub const ONE_QUOTA_EXCEEDED: c_int = 400;
/// A rate limit was hit; the message says when to retry.
pub const ONE_RATE_LIMITED: c_int = 401;
/// A plugin trapped, ran out of fuel or memory, answered badly, or is disabled.
pub const ONE_PLUGIN_FAILED: c_int = 500;
/// A plugin conflicts with an installed one (same name, or a type already defined).
pub const ONE_PLUGIN_CONFLICT: c_int = 501;
/// No plugin of that name is installed.
pub const ONE_PLUGIN_NOT_FOUND: c_int = 502;
/// A change-feed subscriber fell too far behind; it resumes from its cursor.
pub const ONE_LAGGED: c_int = 600;
/// A stored record of a newer format than this build reads.
pub const ONE_UNSUPPORTED_VERSION: c_int = 900;
/// Stored bytes that do not decode, or a damaged database file (the message names it).
pub const ONE_CORRUPT: c_int = 901;
/// The database is unusable after an earlier failure; reopen it.
pub const ONE_POISONED: c_int = 902;
/// The database file is open elsewhere.
pub const ONE_ALREADY_OPEN: c_int = 903;
/// Any other storage failure.
pub const ONE_STORAGE: c_int = 904;
/// A file-system failure; the message names the path.
pub const ONE_IO: c_int = 905;
/// A write transaction started inside another on the same thread.
pub const ONE_NESTED_WRITE: c_int = 906;
/// The file opened is not a database file; the message names it.
pub const ONE_NOT_A_DATABASE: c_int = 907;
/// A write on a database opened read-only; nothing was written.
pub const ONE_READ_ONLY: c_int = 908;
/// The database server cannot be reached; nothing was committed. Retry later.
pub const ONE_UNAVAILABLE: c_int = 909;
/// The transaction met concurrent writers too often; nothing was committed. Retry.
pub const ONE_CONFLICT: c_int = 910;

/// Every code with its name, in one table: `one_errstr` and the tests read it.
pub(crate) const NAMES: &[(c_int, &CStr)] = &[
    (ONE_OK, c"ONE_OK"),
    (ONE_INVALID, c"ONE_INVALID"),
    (ONE_MISUSE, c"ONE_MISUSE"),
    (ONE_INTERNAL, c"ONE_INTERNAL"),
    (ONE_NOT_FOUND, c"ONE_NOT_FOUND"),
    (ONE_MALFORMED_ID, c"ONE_MALFORMED_ID"),
    (ONE_WRONG_ID_KIND, c"ONE_WRONG_ID_KIND"),
    (ONE_MISSING_FIELD, c"ONE_MISSING_FIELD"),
    (ONE_INVALID_FIELD, c"ONE_INVALID_FIELD"),
    (ONE_TOO_LARGE, c"ONE_TOO_LARGE"),
    (ONE_INVALID_FILTER, c"ONE_INVALID_FILTER"),
    (ONE_INVALID_CURSOR, c"ONE_INVALID_CURSOR"),
    (ONE_CURRENCY_MISMATCH, c"ONE_CURRENCY_MISMATCH"),
    (ONE_OVERFLOW, c"ONE_OVERFLOW"),
    (ONE_PARENT_CYCLE, c"ONE_PARENT_CYCLE"),
    (ONE_DUPLICATE_SLUG, c"ONE_DUPLICATE_SLUG"),
    (ONE_DUPLICATE_EMAIL, c"ONE_DUPLICATE_EMAIL"),
    (ONE_GROUP_ARCHIVED, c"ONE_GROUP_ARCHIVED"),
    (ONE_THING_DELETED, c"ONE_THING_DELETED"),
    (ONE_ALREADY_MEMBER, c"ONE_ALREADY_MEMBER"),
    (ONE_LAST_OWNER, c"ONE_LAST_OWNER"),
    (ONE_DUPLICATE_DOMAIN, c"ONE_DUPLICATE_DOMAIN"),
    (ONE_FORBIDDEN, c"ONE_FORBIDDEN"),
    (ONE_INVALID_CREDENTIALS, c"ONE_INVALID_CREDENTIALS"),
    (ONE_EXPIRED, c"ONE_EXPIRED"),
    (ONE_REVOKED, c"ONE_REVOKED"),
    (ONE_IP_NOT_ALLOWED, c"ONE_IP_NOT_ALLOWED"),
    (ONE_SIGNUP_NOT_ALLOWED, c"ONE_SIGNUP_NOT_ALLOWED"),
    (ONE_EMAIL_NOT_VERIFIED, c"ONE_EMAIL_NOT_VERIFIED"),
    (ONE_PLATFORM_ONLY, c"ONE_PLATFORM_ONLY"),
    (ONE_QUOTA_EXCEEDED, c"ONE_QUOTA_EXCEEDED"),
    (ONE_RATE_LIMITED, c"ONE_RATE_LIMITED"),
    (ONE_PLUGIN_FAILED, c"ONE_PLUGIN_FAILED"),
    (ONE_PLUGIN_CONFLICT, c"ONE_PLUGIN_CONFLICT"),
    (ONE_PLUGIN_NOT_FOUND, c"ONE_PLUGIN_NOT_FOUND"),
    (ONE_LAGGED, c"ONE_LAGGED"),
    (ONE_UNSUPPORTED_VERSION, c"ONE_UNSUPPORTED_VERSION"),
    (ONE_CORRUPT, c"ONE_CORRUPT"),
    (ONE_POISONED, c"ONE_POISONED"),
    (ONE_ALREADY_OPEN, c"ONE_ALREADY_OPEN"),
    (ONE_STORAGE, c"ONE_STORAGE"),
    (ONE_IO, c"ONE_IO"),
    (ONE_NESTED_WRITE, c"ONE_NESTED_WRITE"),
    (ONE_NOT_A_DATABASE, c"ONE_NOT_A_DATABASE"),
    (ONE_READ_ONLY, c"ONE_READ_ONLY"),
    (ONE_UNAVAILABLE, c"ONE_UNAVAILABLE"),
    (ONE_CONFLICT, c"ONE_CONFLICT"),
];

/// The name of a status code (`"ONE_NOT_FOUND"`), or `"ONE_UNKNOWN"` for a number that
/// is not one. The string is static: never free it.
#[unsafe(no_mangle)]
pub extern "C" fn one_errstr(code: c_int) -> *const c_char {
    NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(c"ONE_UNKNOWN", |(_, name)| name)
        .as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rust_error_code_has_a_name() {
        // The codes `one::Error::code` returns, read from its source so a new variant
        // without a C name fails here.
        let source = include_str!("../../core/vocabulary/src/error.rs");
        let codes: Vec<c_int> = source
            .lines()
            .filter(|l| l.contains("Error::") && l.contains("=> "))
            .filter_map(|l| l.rsplit("=> ").next()?.trim_end_matches(',').parse().ok())
            .collect();
        assert!(codes.len() >= 36, "read only {} codes", codes.len());
        for code in codes {
            assert!(
                NAMES.iter().any(|(c, _)| *c == code),
                "no ONE_ name for {code}"
            );
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, (a, _)) in NAMES.iter().enumerate() {
            assert!(NAMES[i + 1..].iter().all(|(b, _)| a != b), "{a} twice");
        }
    }
}
