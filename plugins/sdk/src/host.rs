//! Reads from the host during `prepare`: a thing by id, whether a connection exists, how
//! many things of a type a group holds. The host answers inside the transaction being
//! prepared, in the plugin's tenant only, with the permissions of whoever is writing: a
//! record they may not read is answered as absent. Each read costs fuel (see
//! `plugins/ABI.md`).
//!
//! ```no_run
//! use one_plugin_sdk::{host, Prepare, Properties, Rejection};
//!
//! fn prepare(input: Prepare) -> Result<Properties, Rejection> {
//!     let show = input.properties.get("show").and_then(|v| v.as_str()).unwrap_or("");
//!     match host::get_thing(show)? {
//!         Some(t) if t.kind == "show" => Ok(input.properties),
//!         _ => Err(Rejection::field("show", "is not a show you can see")),
//!     }
//! }
//! ```
//!
//! Outside the host (a native test of a plugin) every read fails with a [`Rejection`]
//! saying so.

use serde::de::DeserializeOwned;

use crate::abi::{Read, Rejection, Reply, Thing};

/// The thing `id`, or `None` when the tenant has no such thing the caller may read (the
/// id of another tenant's thing is `None` too). An `Err` is a malformed id or a read the
/// host could not make.
pub fn get_thing(id: &str) -> Result<Option<Thing>, Rejection> {
    read(&Read::GetThing { id: id.into() })
}

/// Whether a connection of type `kind` joins `from` to `to` (thing or group ids) that the
/// caller may read.
pub fn connection_exists(from: &str, kind: &str, to: &str) -> Result<bool, Rejection> {
    read(&Read::ConnectionExists {
        from: from.into(),
        kind: kind.into(),
        to: to.into(),
    })
}

/// How many live things of type `kind` the group `group` holds, by default the group of
/// the thing being prepared (not counting subgroups). Each thing counted costs fuel.
pub fn count_things(kind: &str, group: Option<&str>) -> Result<u64, Rejection> {
    read(&Read::CountThings {
        kind: kind.into(),
        group: group.map(Into::into),
    })
}

/// Sends one read and decodes its answer.
fn read<T: DeserializeOwned>(read: &Read) -> Result<T, Rejection> {
    let request = postcard::to_allocvec(read)
        .map_err(|e| Rejection::new(format!("encoding a host read: {e}")))?;
    let answer = crate::__rt::host_read(&request)?;
    match postcard::from_bytes::<Reply<T>>(&answer) {
        Ok(Reply::Ok(v)) => Ok(v),
        Ok(Reply::Error(r)) => Err(r),
        Err(e) => Err(Rejection::new(format!(
            "the host answered a read with something unexpected: {e}"
        ))),
    }
}
