//! The change feed: subscribe, then poll for changes (with a timeout, or none).

use std::ffi::{c_char, c_int};
use std::time::Duration;

use one::{ChangeFilter, Dimension, EventId, GroupId};
use serde::Deserialize;

use crate::boundary::{self, Failure, OneCtx, OneDb, OneSub, exported};

/// `{"group", "subtree", "dimensions": ["things", …], "types": ["product", …],
/// "after": "evt_…", "from_start": true}`, all optional: by default every change in the
/// context's group from the next commit on; `after` replays the stored changes after that
/// event first, `from_start` the whole log.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeRequest {
    #[serde(default)]
    group: Option<GroupId>,
    #[serde(default)]
    subtree: bool,
    #[serde(default)]
    dimensions: Vec<Dimension>,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default)]
    after: Option<EventId>,
    #[serde(default)]
    from_start: bool,
}

/// Subscribes the context to changes (`filter` is NULL or a JSON filter, see
/// bindings/README.md). Read them with `one_subscription_next` through the same database
/// handle; free the handle with `one_subscription_free`. An `after` later than every
/// committed event is `ONE_INVALID_CURSOR` (such a subscription could never deliver). Writers never wait for a subscription: one that falls more
/// than `FEED_BACKLOG` changes behind gets `ONE_LAGGED` once and then resumes from its
/// cursor.
///
/// # Safety
/// `filter` is NULL or a NUL-terminated string; `out` points to writable storage for a
/// handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_subscribe(
    db: *const OneDb,
    ctx: *const OneCtx,
    filter: *const c_char,
    out: *mut *mut OneSub,
) -> c_int {
    exported!(|raw| {
        let out = raw.out_handle(out)?;
        let db_handle = db;
        let (db, ctx) = (boundary::db(db)?, boundary::ctx(ctx)?);
        let request: SubscribeRequest = raw.optional_json(filter, "filter")?;
        let mut f = ChangeFilter::new();
        if let Some(g) = request.group {
            f = f.group(g);
        }
        if request.subtree {
            f = f.with_subtree();
        }
        for d in request.dimensions {
            f = f.dimension(d);
        }
        for t in request.types {
            f = f.kind(t);
        }
        let sub = match (request.after, request.from_start) {
            (Some(_), true) => {
                return Err(Failure::invalid(
                    "`filter`: give at most one of after and from_start",
                ));
            }
            (Some(after), false) => db.engine().subscribe_from(&ctx, f, Some(after))?,
            (None, true) => db.engine().subscribe_from(&ctx, f, None)?,
            (None, false) => db.engine().subscribe(&ctx, f)?,
        };
        out.set(boundary::new_sub(sub, db_handle));
        Ok(())
    })
}

/// The next change, as an event record: waits up to `timeout_ms` milliseconds for one (0
/// polls without waiting). When none arrives, returns `ONE_OK` with `*out` NULL.
/// `one_close` on the database wakes the wait: the call returns `ONE_MISUSE` at once. A
/// subscription read through a database handle other than the one it was made on is
/// `ONE_MISUSE`, and nothing is read.
/// `ONE_LAGGED` says the subscription fell behind (the next call resumes from its
/// cursor); `ONE_FORBIDDEN` that the context may no longer read the group (the stream has
/// ended). Calls on one subscription from several threads take turns.
///
/// # Safety
/// `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_subscription_next(
    db: *const OneDb,
    sub: *const OneSub,
    timeout_ms: u32,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let out = raw.out(out)?;
        let db_handle = db;
        let db = boundary::db(db)?;
        let sub = boundary::sub_of(sub, db_handle)?;
        let mut sub = sub.lock().unwrap_or_else(|p| p.into_inner());
        let next = if timeout_ms == 0 {
            sub.try_next(db.engine())?
        } else {
            sub.next_timeout(db.engine(), Duration::from_millis(timeout_ms.into()))?
        };
        if next.is_none() && !boundary::is_open(db_handle) {
            return Err(Failure::closed_while_waiting());
        }
        match next {
            Some(e) => out.json(&e),
            None => Ok(()),
        }
    })
}

/// The subscription's cursor: the id of the last change it has passed, to resume from
/// with `{"after": …}`; `*out` is NULL before the first.
///
/// # Safety
/// `out` points to writable storage for a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn one_subscription_cursor(
    sub: *const OneSub,
    out: *mut *mut c_char,
) -> c_int {
    exported!(|raw| {
        let out = raw.out(out)?;
        let sub = boundary::sub(sub)?;
        let cursor = sub.lock().unwrap_or_else(|p| p.into_inner()).cursor();
        match cursor {
            Some(id) => out.text(id.to_string()),
            None => Ok(()),
        }
    })
}

/// Ends a subscription. NULL does nothing; one already freed gets `ONE_MISUSE`.
#[unsafe(no_mangle)]
pub extern "C" fn one_subscription_free(sub: *mut OneSub) -> c_int {
    boundary::guard(|| {
        if sub.is_null() {
            Ok(())
        } else {
            boundary::free_sub(sub)
        }
    })
}
