//! The JSON inputs calls accept: decoded strictly (unknown fields are refused), then
//! checked by the engine like any Rust caller's input.

use one::serde_json::Value as Json;
use one::{Cursor, GroupStatus, Ref, ThingStatus, Timestamp, Value};
use serde::Deserialize;

use crate::boundary::{Failure, Outcome, parse_id};

/// Paging of a list call: `{"limit": 50, "after": "<next from the previous page>"}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageRequest {
    pub limit: Option<usize>,
    pub after: Option<String>,
}

impl PageRequest {
    pub(crate) fn cursor(&self) -> Option<Cursor> {
        self.after.clone().map(Cursor::from_text)
    }
}

/// Free-form JSON (properties, metadata) as a stored value.
pub(crate) fn value(json: Option<Json>) -> Option<Value> {
    json.as_ref().map(Value::from_json)
}

/// An id of any kind.
pub(crate) fn any_id(text: &str) -> Outcome<Ref> {
    parse_id(text)
}

/// A thing's status by name (`deleted` is set by deleting, not given).
pub(crate) fn thing_status(name: &str) -> Outcome<ThingStatus> {
    [
        ThingStatus::Draft,
        ThingStatus::Active,
        ThingStatus::Archived,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
    .ok_or_else(|| invalid_field("status", name, "draft, active or archived"))
}

/// A group's status by name.
pub(crate) fn group_status(name: &str) -> Outcome<GroupStatus> {
    [
        GroupStatus::Draft,
        GroupStatus::Active,
        GroupStatus::Archived,
    ]
    .into_iter()
    .find(|s| s.as_str() == name)
    .ok_or_else(|| invalid_field("status", name, "draft, active or archived"))
}

/// A time in milliseconds since the Unix epoch.
pub(crate) fn time(ms: u64) -> Timestamp {
    Timestamp::from_millis(ms)
}

fn invalid_field(field: &'static str, given: &str, expected: &str) -> Failure {
    one::Error::InvalidField {
        field: field.into(),
        reason: format!("{given:?} is not one of {expected}"),
    }
    .into()
}
