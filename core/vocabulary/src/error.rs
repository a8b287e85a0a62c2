//! The engine's error type, and the stable numeric code of each variant.

use crate::clock::Timestamp;
use crate::id::{IdError, IdKind};
use crate::permission::Permission;
use crate::resource::Resource;
use crate::value::ValueError;

/// Everything a call into the engine can fail with.
///
/// Each variant names the input at fault. [`Error::code`] gives a number that never changes
/// meaning, for callers across the C ABI and for logs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No record with this id exists where the context can see it. Records of other
    /// tenants, and of groups outside the context's scope, are reported this way too, so
    /// their existence does not leak.
    #[error("{kind} {id} not found")]
    NotFound {
        /// The kind of record.
        kind: IdKind,
        /// The id, in text form.
        id: String,
    },
    /// Id text did not parse.
    #[error("malformed id: {0}")]
    MalformedId(IdError),
    /// An id of one kind was given where another kind was needed.
    #[error("wrong kind of id: {id} is a {found} id, expected a {expected} id")]
    WrongIdKind {
        /// The id given.
        id: String,
        /// The kind needed.
        expected: IdKind,
        /// The kind given.
        found: IdKind,
    },
    /// Making `parent` the parent of `group` would make a group its own ancestor.
    #[error("parent cycle: {parent} is {group} or one of its descendants")]
    ParentCycle {
        /// The group being moved.
        group: String,
        /// The parent asked for.
        parent: String,
    },
    /// Another group under the same parent has this slug.
    #[error("duplicate slug {slug:?} under {parent}")]
    DuplicateSlug {
        /// The slug.
        slug: String,
        /// The parent group, or `"the top level"`.
        parent: String,
    },
    /// A person with this (normalised) email already exists in the tenant.
    #[error("duplicate email {email:?} in this tenant")]
    DuplicateEmail {
        /// The normalised email.
        email: String,
    },
    /// A required field was missing or empty.
    #[error("missing required field `{field}`")]
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field had a value it may not have.
    #[error("invalid `{field}`: {reason}")]
    InvalidField {
        /// The field (a dotted path for nested values).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value was larger than allowed.
    #[error("`{field}` is too large: {actual} bytes, the limit is {limit}")]
    TooLarge {
        /// The field.
        field: &'static str,
        /// The limit in bytes.
        limit: usize,
        /// The size given.
        actual: usize,
    },
    /// A filter named a path that cannot be filtered on, or used an operator wrongly.
    #[error("invalid filter on {path:?}: {reason}")]
    InvalidFilter {
        /// The path or operator at fault.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A pagination cursor was not one this query produced.
    #[error("invalid cursor: {reason}")]
    InvalidCursor {
        /// What is wrong.
        reason: String,
    },
    /// Amounts of different currencies were combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// The first currency.
        left: String,
        /// The second currency.
        right: String,
    },
    /// An amount or a count left the range of its integer type.
    #[error("overflow in {what}")]
    Overflow {
        /// What was being computed.
        what: &'static str,
    },
    /// The group is archived; it accepts no new records.
    #[error("group {group} is archived")]
    GroupArchived {
        /// The group.
        group: String,
    },
    /// The thing is deleted; it can be read (for audit) but not changed.
    #[error("thing {id} is deleted")]
    ThingDeleted {
        /// The thing.
        id: String,
    },
    /// The person already has a membership in the group.
    #[error("{person} is already a member of {group}")]
    AlreadyMember {
        /// The person.
        person: String,
        /// The group.
        group: String,
    },
    /// The change would leave a group without an owner.
    #[error("{group} would be left without an owner")]
    LastOwner {
        /// The group.
        group: String,
    },
    /// Another tenant already has this (normalised) domain.
    #[error("the domain {domain:?} is already another tenant's")]
    DuplicateDomain {
        /// The domain, normalised.
        domain: String,
    },
    /// The context lacks a permission the call needs in this group. Logged as an
    /// `access_denied` event.
    #[error("forbidden: {needed} is needed in {group}")]
    Forbidden {
        /// The permission that was missing.
        needed: Permission,
        /// The group it was needed in.
        group: String,
    },
    /// A secret (API key, token) or a password was not accepted. Says nothing about which
    /// part was wrong, or whether the account exists.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The operation is the platform's (creating tenants, maintenance, imports), and the
    /// principal is not the `system` one.
    #[error("`{operation}` is the platform's: only the system principal may run it")]
    PlatformOnly {
        /// The operation's name.
        operation: String,
    },
    /// The credential (API key, session, one-time token) has expired.
    #[error("credential expired")]
    Expired,
    /// The credential (API key) was revoked.
    #[error("credential revoked")]
    Revoked,
    /// The API key does not accept calls from this address.
    #[error("address {ip} is not in the API key's allow-list")]
    IpNotAllowed {
        /// The caller's address, or `unknown`.
        ip: String,
    },
    /// The group does not accept this sign-up (its settings `allowSignups` or
    /// `allowedDomains`).
    #[error("sign-up not allowed: {reason}")]
    SignupNotAllowed {
        /// Which setting refused it.
        reason: String,
    },
    /// The group requires a verified email before signing in.
    #[error("the email address has not been verified")]
    EmailNotVerified,
    /// The change would take a group over a limit of its plan. Nothing was changed. The
    /// first refusal per resource and period is logged as `quota_exceeded` (or
    /// `cycle_quota_exceeded` for AI tokens).
    #[error("quota exceeded: {resource} is at {used} of {limit}{}", resets_at.map_or(String::new(), |t| format!(", resets at {t}")))]
    QuotaExceeded {
        /// The resource.
        resource: Resource,
        /// The group's limit.
        limit: u64,
        /// What the group has used (this period, for monthly resources).
        used: u64,
        /// When the usage starts again from zero (monthly resources), if it does.
        resets_at: Option<Timestamp>,
    },
    /// Too many calls with this API key; try again after `retry_after_ms`.
    #[error("rate limited: retry after {retry_after_ms} ms")]
    RateLimited {
        /// Milliseconds until a call can succeed.
        retry_after_ms: u64,
    },
    /// A plugin failed: it trapped, ran out of fuel or memory, answered something that is
    /// not the ABI, could not be compiled or loaded, is disabled, or no plugin runtime is
    /// attached. The operation that called it changed nothing.
    #[error("plugin {plugin} failed: {reason}")]
    PluginFailed {
        /// The plugin's name; while a module is being installed, before it has named
        /// itself, `(module <first 12 hex digits of its SHA-256>)`.
        plugin: String,
        /// What went wrong.
        reason: String,
    },
    /// A plugin cannot be installed as asked: its name or one of its types is taken.
    #[error("plugin {plugin} conflicts: {reason}")]
    PluginConflict {
        /// The plugin's name.
        plugin: String,
        /// What it conflicts with.
        reason: String,
    },
    /// No plugin of that name is installed in the tenant.
    #[error("no plugin named {plugin:?} is installed")]
    PluginNotFound {
        /// The name asked for.
        plugin: String,
    },
    /// A change-feed subscriber fell more than `FEED_BACKLOG` changes behind;
    /// its next read resumes from its cursor (the last change it saw, `after`).
    #[error("the subscription lagged behind the writers; it resumes after {}", after.as_deref().unwrap_or("the beginning"))]
    Lagged {
        /// The id of the last change the subscription saw, if any.
        after: Option<String>,
    },
    /// A stored record has a format version this build does not know.
    #[error("stored {record} record has format version {version}, which this build cannot read")]
    UnsupportedVersion {
        /// Which kind of record.
        record: &'static str,
        /// The version byte found.
        version: u8,
    },
    /// Stored bytes failed to decode.
    #[error("corrupt {what}: {reason}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A file-system operation around the database failed (creating its folder, …).
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path involved.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file opened is not a database file.
    #[error("{} is not a database file", path.display())]
    NotADatabase {
        /// The file.
        path: std::path::PathBuf,
    },
    /// A commit (or the abort of a transaction) failed; the store refuses further writes
    /// on this handle. Close it and open the file again.
    #[error("the store refuses writes after a failed commit; reopen it")]
    Poisoned,
    /// The database file is already open, in this process or another.
    #[error("the database file is already open by another handle")]
    AlreadyOpen,
    /// A write transaction was started from inside another one's closure on the same
    /// thread, which would wait for itself forever. Do the work in the outer transaction.
    #[error("a write transaction was started inside another one on the same thread")]
    NestedWrite,
    /// The database is open read-only; nothing was written.
    #[error("the database is open read-only; nothing was written")]
    ReadOnly,
    /// The database server (PostgreSQL) cannot be reached, or the connection to it was
    /// lost. Nothing was committed, unless the connection was lost while a commit was
    /// under way, whose outcome is then unknown (as with any database). The next call
    /// connects again: retry once the server is back.
    #[error("the database server is unavailable: {reason}")]
    Unavailable {
        /// What the connection attempt or the server said.
        reason: String,
    },
    /// The transaction met concurrent ones (other processes writing to the same
    /// database) too many times in a row; nothing was committed. Retrying later may
    /// succeed.
    #[error(
        "the transaction conflicted with concurrent ones {attempts} time(s); nothing was committed"
    )]
    Conflict {
        /// How many times it was begun.
        attempts: u32,
    },
    /// The storage backend failed (an I/O error inside it, a full disk, …).
    #[error("{source}")]
    Storage {
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A bug in ONE: a panic inside a write transaction. That transaction was rolled back
    /// and nothing it did was kept; the engine goes on serving every other call.
    #[error("internal error, the transaction was rolled back: {reason}")]
    Internal {
        /// The panic's message.
        reason: String,
    },
}

impl Error {
    /// The stable number of this kind of error. Numbers are never reused; ranges:
    /// 3 a bug in ONE (the C ABI's `ONE_INTERNAL`), 1xx input, 2xx state conflicts, 3xx
    /// access, 4xx metering, 5xx plugins, 9xx storage, files and corruption. Last added: 910.
    pub fn code(&self) -> u32 {
        match self {
            Error::NotFound { .. } => 100,
            Error::MalformedId(_) => 101,
            Error::WrongIdKind { .. } => 102,
            Error::MissingField { .. } => 103,
            Error::InvalidField { .. } => 104,
            Error::TooLarge { .. } => 105,
            Error::InvalidFilter { .. } => 106,
            Error::InvalidCursor { .. } => 107,
            Error::CurrencyMismatch { .. } => 108,
            Error::Overflow { .. } => 109,
            Error::ParentCycle { .. } => 200,
            Error::DuplicateSlug { .. } => 201,
            Error::DuplicateEmail { .. } => 202,
            Error::GroupArchived { .. } => 203,
            Error::ThingDeleted { .. } => 204,
            Error::AlreadyMember { .. } => 205,
            Error::LastOwner { .. } => 206,
            Error::DuplicateDomain { .. } => 207,
            Error::Forbidden { .. } => 300,
            Error::InvalidCredentials => 301,
            Error::Expired => 302,
            Error::Revoked => 303,
            Error::IpNotAllowed { .. } => 304,
            Error::SignupNotAllowed { .. } => 305,
            Error::EmailNotVerified => 306,
            Error::PlatformOnly { .. } => 307,
            Error::QuotaExceeded { .. } => 400,
            Error::RateLimited { .. } => 401,
            Error::PluginFailed { .. } => 500,
            Error::PluginConflict { .. } => 501,
            Error::PluginNotFound { .. } => 502,
            Error::Lagged { .. } => 600,
            Error::UnsupportedVersion { .. } => 900,
            Error::Corrupt { .. } => 901,
            Error::Poisoned => 902,
            Error::AlreadyOpen => 903,
            Error::NestedWrite => 906,
            Error::ReadOnly => 908,
            Error::Unavailable { .. } => 909,
            Error::Conflict { .. } => 910,
            Error::Storage { .. } => 904,
            Error::Io { .. } => 905,
            Error::NotADatabase { .. } => 907,
            Error::Internal { .. } => 3,
        }
    }

    /// The snake_case name of [`Error::code`] (`not_found`, `invalid_field`, …): the C
    /// ABI's status names without their `ONE_` prefix, in lower case.
    pub fn name(&self) -> &'static str {
        match self.code() {
            100 => "not_found",
            101 => "malformed_id",
            102 => "wrong_id_kind",
            103 => "missing_field",
            104 => "invalid_field",
            105 => "too_large",
            106 => "invalid_filter",
            107 => "invalid_cursor",
            108 => "currency_mismatch",
            109 => "overflow",
            200 => "parent_cycle",
            201 => "duplicate_slug",
            202 => "duplicate_email",
            203 => "group_archived",
            204 => "thing_deleted",
            205 => "already_member",
            206 => "last_owner",
            207 => "duplicate_domain",
            300 => "forbidden",
            301 => "invalid_credentials",
            302 => "expired",
            303 => "revoked",
            304 => "ip_not_allowed",
            305 => "signup_not_allowed",
            306 => "email_not_verified",
            307 => "platform_only",
            400 => "quota_exceeded",
            401 => "rate_limited",
            500 => "plugin_failed",
            501 => "plugin_conflict",
            502 => "plugin_not_found",
            600 => "lagged",
            900 => "unsupported_version",
            901 => "corrupt",
            902 => "poisoned",
            903 => "already_open",
            904 => "storage",
            905 => "io",
            906 => "nested_write",
            907 => "not_a_database",
            908 => "read_only",
            909 => "unavailable",
            910 => "conflict",
            _ => "internal",
        }
    }

    /// The input at fault, when the error names one: a field, a filter's path, the
    /// permission that was missing.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::MissingField { field } | Error::TooLarge { field, .. } => Some(field),
            Error::InvalidField { field, .. } => Some(field),
            Error::InvalidFilter { path, .. } => Some(path),
            Error::Forbidden { needed, .. } => Some(needed.as_str()),
            _ => None,
        }
    }

    /// [`Error::NotFound`] for the record `id`.
    pub fn not_found(id: impl Into<crate::id::Ref>) -> Self {
        let r = id.into();
        Error::NotFound {
            kind: r.kind(),
            id: r.to_string(),
        }
    }

    /// The [`Error::Internal`] of a caught panic, with its message.
    pub fn internal(panic: &(dyn std::any::Any + Send)) -> Self {
        let reason = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into());
        Error::Internal { reason }
    }

    /// [`Error::InvalidField`] for `field`, saying what is wrong with it.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// [`Error::InvalidField`] for a value that failed its checks, naming its path.
    pub fn value(e: ValueError) -> Self {
        let field = match &e {
            ValueError::NonFinite { path } | ValueError::TooDeep { path } => path.clone(),
        };
        Error::InvalidField {
            field,
            reason: e.to_string(),
        }
    }
}

impl From<IdError> for Error {
    fn from(e: IdError) -> Self {
        match e {
            IdError::WrongKind {
                text,
                expected,
                found,
            } => Error::WrongIdKind {
                id: text,
                expected,
                found,
            },
            other => Error::MalformedId(other),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
