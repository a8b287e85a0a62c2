//! Filters on things and connections: `$eq $ne $gt $gte $lt $lte $in $exists` over
//! dotted paths.
//!
//! A path is one of a thing's fields (`name`, `status`, `created_at`, `updated_at`) or
//! `properties.` followed by one or more map keys (`properties.address.city`); for a
//! connection, `created_at` or `metadata.` followed by map keys (`metadata.share`). Comparisons
//! follow [`Value::compare`]: numbers compare with numbers (integers and floats alike),
//! strings with strings; a comparison between other types, or with a missing field, is
//! false. As in MongoDB, `$ne` and `$exists: false` match a missing field.
//!
//! The JSON form maps a path to a value (meaning `$eq`) or to an object of operators:
//! `{"properties.price": {"$gte": 10, "$lt": 20}, "status": "active"}`.

use std::cmp::Ordering;

use crate::records::connection::Connection;
use crate::records::thing::Thing;
use crate::value::Value;
use crate::{Error, Result};

/// What a condition reads from a thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    /// The thing's name.
    Name,
    /// The thing's status, as its lower-case name.
    Status,
    /// Creation time in milliseconds.
    CreatedAt,
    /// Last change in milliseconds.
    UpdatedAt,
    /// A property, by its dotted path below `properties`.
    Property(String),
    /// A connection's metadata, by its dotted path below `metadata`.
    Metadata(String),
}

impl FieldPath {
    /// Parses `name`, `status`, `created_at`, `updated_at` or `properties.<key>[.<key>…]`.
    pub fn parse(path: &str) -> Result<Self> {
        let bad = |reason: &str| Error::InvalidFilter {
            path: path.to_string(),
            reason: reason.to_string(),
        };
        match path {
            "name" => Ok(FieldPath::Name),
            "status" => Ok(FieldPath::Status),
            "created_at" => Ok(FieldPath::CreatedAt),
            "updated_at" => Ok(FieldPath::UpdatedAt),
            "properties" => Err(bad("name a property: `properties.<key>`")),
            "metadata" => Err(bad("name a metadata key: `metadata.<key>`")),
            _ => {
                let (rest, field): (&str, fn(String) -> FieldPath) = match (
                    path.strip_prefix("properties."),
                    path.strip_prefix("metadata."),
                ) {
                    (Some(rest), _) => (rest, FieldPath::Property),
                    (None, Some(rest)) => (rest, FieldPath::Metadata),
                    (None, None) => {
                        return Err(bad(
                            "paths are `name`, `status`, `created_at`, `updated_at`, `properties.<key>` or `metadata.<key>`",
                        ));
                    }
                };
                if rest.split('.').any(str::is_empty) {
                    return Err(bad("empty key in a dotted path"));
                }
                if rest.split('.').any(|k| k.starts_with('$')) {
                    return Err(bad("keys cannot start with `$`"));
                }
                Ok(field(rest.to_string()))
            }
        }
    }

    /// The path's text, as [`FieldPath::parse`] reads it.
    pub fn text(&self) -> String {
        match self {
            FieldPath::Name => "name".into(),
            FieldPath::Status => "status".into(),
            FieldPath::CreatedAt => "created_at".into(),
            FieldPath::UpdatedAt => "updated_at".into(),
            FieldPath::Property(p) => format!("properties.{p}"),
            FieldPath::Metadata(p) => format!("metadata.{p}"),
        }
    }
}

/// A record a filter reads: the value at a path, if it has one.
pub trait Fields {
    /// The value at `path`; `None` when the record has none there.
    fn field(&self, path: &FieldPath) -> Option<Value>;

    /// Whether a filter on this kind of record may name `path`.
    fn has_path(path: &FieldPath) -> bool;

    /// What the paths of this kind of record are, for an error.
    const PATHS: &'static str;
}

impl<R: Fields> Fields for &R {
    fn field(&self, path: &FieldPath) -> Option<Value> {
        (**self).field(path)
    }

    fn has_path(path: &FieldPath) -> bool {
        R::has_path(path)
    }

    const PATHS: &'static str = R::PATHS;
}

impl Fields for Thing {
    fn field(&self, path: &FieldPath) -> Option<Value> {
        match path {
            FieldPath::Name => Some(Value::from(self.name.as_str())),
            FieldPath::Status => Some(Value::from(self.status.as_str())),
            FieldPath::CreatedAt => Some(Value::Int(self.created_at.as_millis() as i64)),
            FieldPath::UpdatedAt => Some(Value::Int(self.updated_at.as_millis() as i64)),
            FieldPath::Property(p) => self.properties.get_path(p).cloned(),
            FieldPath::Metadata(_) => None,
        }
    }

    fn has_path(path: &FieldPath) -> bool {
        !matches!(path, FieldPath::Metadata(_))
    }

    const PATHS: &'static str =
        "things are filtered on `name`, `status`, `created_at`, `updated_at` or `properties.<key>`";
}

impl Fields for Connection {
    fn field(&self, path: &FieldPath) -> Option<Value> {
        match path {
            FieldPath::CreatedAt => Some(Value::Int(self.created_at.as_millis() as i64)),
            FieldPath::Metadata(p) => self.metadata.get_path(p).cloned(),
            _ => None,
        }
    }

    fn has_path(path: &FieldPath) -> bool {
        matches!(path, FieldPath::CreatedAt | FieldPath::Metadata(_))
    }

    const PATHS: &'static str = "connections are filtered on `created_at` or `metadata.<key>`";
}

/// A comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Equal (`1 == 1.0`).
    Eq(Value),
    /// Not equal, or missing.
    Ne(Value),
    /// Greater than.
    Gt(Value),
    /// Greater than or equal.
    Gte(Value),
    /// Less than.
    Lt(Value),
    /// Less than or equal.
    Lte(Value),
    /// Equal to one of the values.
    In(Vec<Value>),
    /// Present (`true`) or missing (`false`).
    Exists(bool),
}

impl Op {
    fn matches(&self, v: Option<&Value>) -> bool {
        let cmp = |want: &Value, ok: fn(Ordering) -> bool| {
            v.and_then(|v| v.compare(want)).is_some_and(ok)
        };
        match self {
            Op::Eq(want) => v.is_some_and(|v| v.loosely_equals(want)),
            Op::Ne(want) => !v.is_some_and(|v| v.loosely_equals(want)),
            Op::Gt(want) => cmp(want, Ordering::is_gt),
            Op::Gte(want) => cmp(want, Ordering::is_ge),
            Op::Lt(want) => cmp(want, Ordering::is_lt),
            Op::Lte(want) => cmp(want, Ordering::is_le),
            Op::In(options) => v.is_some_and(|v| options.iter().any(|o| v.loosely_equals(o))),
            Op::Exists(want) => v.is_some() == *want,
        }
    }

    /// The operator's name and argument, as the JSON form writes them.
    fn to_parts(&self) -> (&'static str, Value) {
        match self {
            Op::Eq(v) => ("$eq", v.clone()),
            Op::Ne(v) => ("$ne", v.clone()),
            Op::Gt(v) => ("$gt", v.clone()),
            Op::Gte(v) => ("$gte", v.clone()),
            Op::Lt(v) => ("$lt", v.clone()),
            Op::Lte(v) => ("$lte", v.clone()),
            Op::In(items) => ("$in", Value::List(items.clone())),
            Op::Exists(b) => ("$exists", Value::Bool(*b)),
        }
    }

    fn parse(path: &str, op: &str, arg: &serde_json::Value) -> Result<Self> {
        let value = Value::from_json(arg);
        let bad = |reason: String| Error::InvalidFilter {
            path: path.to_string(),
            reason,
        };
        value.validate(path).map_err(|e| bad(e.to_string()))?;
        Ok(match op {
            "$eq" => Op::Eq(value),
            "$ne" => Op::Ne(value),
            "$gt" => Op::Gt(value),
            "$gte" => Op::Gte(value),
            "$lt" => Op::Lt(value),
            "$lte" => Op::Lte(value),
            "$in" => match value {
                Value::List(items) => Op::In(items),
                other => {
                    return Err(bad(format!(
                        "`$in` needs a list, not a {}",
                        other.type_name()
                    )));
                }
            },
            "$exists" => match value {
                Value::Bool(b) => Op::Exists(b),
                other => {
                    return Err(bad(format!(
                        "`$exists` needs true or false, not a {}",
                        other.type_name()
                    )));
                }
            },
            other => return Err(bad(format!("unknown operator `{other}`"))),
        })
    }
}

/// A conjunction of conditions; the empty filter matches everything.
///
/// Serialised, it is its JSON form: one object of paths, or, when one path has the same
/// operator twice, a list of such objects (all must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    conditions: Vec<(FieldPath, Op)>,
}

impl Filter {
    /// The filter that matches everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a condition on `path` (see [`FieldPath::parse`]).
    pub fn and(mut self, path: &str, op: Op) -> Result<Self> {
        self.conditions.push((FieldPath::parse(path)?, op));
        Ok(self)
    }

    /// Parses the JSON form: an object from paths to values or operator objects, or a
    /// list of such objects, all of which must hold.
    pub fn from_json(json: &serde_json::Value) -> Result<Self> {
        if let Some(parts) = json.as_array() {
            let mut filter = Filter::new();
            for part in parts {
                filter
                    .conditions
                    .extend(Filter::from_json(part)?.conditions);
            }
            return Ok(filter);
        }
        let obj = json.as_object().ok_or_else(|| Error::InvalidFilter {
            path: String::new(),
            reason: "a filter is a JSON object of paths, or a list of them".into(),
        })?;
        let mut filter = Filter::new();
        for (path, cond) in obj {
            let field = FieldPath::parse(path)?;
            match cond.as_object() {
                Some(ops) if ops.keys().any(|k| k.starts_with('$')) => {
                    if !ops.keys().all(|k| k.starts_with('$')) {
                        return Err(Error::InvalidFilter {
                            path: path.clone(),
                            reason: "mixes operators and plain keys".into(),
                        });
                    }
                    for (op, arg) in ops {
                        filter
                            .conditions
                            .push((field.clone(), Op::parse(path, op, arg)?));
                    }
                }
                _ => filter
                    .conditions
                    .push((field, Op::parse(path, "$eq", cond)?)),
            }
        }
        Ok(filter)
    }

    /// The JSON form, which [`Filter::from_json`] reads back to an equal filter.
    pub fn to_json(&self) -> serde_json::Value {
        let mut parts: Vec<serde_json::Map<String, serde_json::Value>> = Vec::new();
        for (path, op) in &self.conditions {
            let (name, arg) = op.to_parts();
            let (path, arg) = (path.text(), arg.to_json());
            // The first object where this path does not have this operator yet.
            let free = parts.iter().position(|p| {
                p.get(&path)
                    .and_then(serde_json::Value::as_object)
                    .is_none_or(|ops| !ops.contains_key(name))
            });
            let part = match free {
                Some(i) => &mut parts[i],
                None => {
                    parts.push(serde_json::Map::new());
                    parts.last_mut().expect("just pushed")
                }
            };
            if let serde_json::Value::Object(ops) = part
                .entry(path)
                .or_insert_with(|| serde_json::Value::Object(Default::default()))
            {
                ops.insert(name.to_string(), arg);
            }
        }
        match parts.len() {
            0 => serde_json::Value::Object(Default::default()),
            1 => serde_json::Value::Object(parts.remove(0)),
            _ => {
                serde_json::Value::Array(parts.into_iter().map(serde_json::Value::Object).collect())
            }
        }
    }

    /// Whether `record` satisfies every condition.
    pub fn matches<R: Fields>(&self, record: &R) -> bool {
        self.conditions
            .iter()
            .all(|(path, op)| op.matches(record.field(path).as_ref()))
    }

    /// Checks that every path is one a record of type `R` has:
    /// [`Error::InvalidFilter`] names the first that is not.
    pub fn check_paths<R: Fields>(&self) -> Result<()> {
        match self.conditions.iter().find(|(p, _)| !R::has_path(p)) {
            Some((path, _)) => Err(Error::InvalidFilter {
                path: path.text(),
                reason: R::PATHS.to_string(),
            }),
            None => Ok(()),
        }
    }

    /// The conditions, in the order given.
    pub fn conditions(&self) -> &[(FieldPath, Op)] {
        &self.conditions
    }

    /// Whether the filter has no conditions.
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }
}

impl schemars::JsonSchema for Filter {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Filter".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Conditions on things or connections, all of which must hold: an object from paths (`name`, `status`, `created_at`, `updated_at`, `properties.<key>…` of things; `created_at`, `metadata.<key>…` of connections) to a value (equality) or to an object of operators (`$eq $ne $gt $gte $lt $lte $in $exists`), or a list of such objects.",
            "type": ["object", "array"],
        })
    }
}

impl serde::Serialize for Filter {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        Value::from_json(&self.to_json()).serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Filter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = <Value as serde::Deserialize>::deserialize(d)?;
        Filter::from_json(&value.to_json()).map_err(crate::decode::refuse)
    }
}
