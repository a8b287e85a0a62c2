//! `Value`: the JSON-like data of properties and metadata.
//!
//! A `Value` is stored with postcard, which is not self-describing, so it is a plain
//! externally tagged enum (postcard cannot store `serde_json::Value`, which needs
//! `deserialize_any`). Conversions to and from `serde_json::Value` are explicit. Integers
//! are `i64`; JSON numbers outside `i64` become floats. Floats must be finite: NaN and the
//! infinities are refused on the way in ([`Value::validate`]), so every stored value has a
//! JSON form.

use schemars::JsonSchema;
use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The deepest nesting of lists and maps accepted in stored values.
pub const MAX_DEPTH: usize = 32;

/// A JSON-like value: null, bool, integer, float, string, list or map.
///
/// Serde: binary formats (postcard, on disk) store it as a tagged enum; human-readable
/// formats (JSON: exports, the C ABI) see plain JSON, converted as by [`Value::to_json`]
/// and [`Value::from_json`].
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// No value.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A finite 64-bit float.
    Float(f64),
    /// A UTF-8 string.
    String(String),
    /// An ordered list.
    List(Vec<Value>),
    /// A map with string keys, kept sorted.
    Map(BTreeMap<String, Value>),
}

/// Why a value cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// A float was NaN or infinite.
    #[error("non-finite number at {path}")]
    NonFinite {
        /// Where, as a dotted path.
        path: String,
    },
    /// Lists and maps nested deeper than [`MAX_DEPTH`].
    #[error("nested deeper than {MAX_DEPTH} levels at {path}")]
    TooDeep {
        /// Where, as a dotted path.
        path: String,
    },
}

impl Value {
    /// An empty map.
    pub fn map() -> Self {
        Value::Map(BTreeMap::new())
    }

    /// Adds `key: value` to a map (turning `Null` into a map first) and returns it.
    /// On a value that is neither a map nor null, replaces it with a one-entry map.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        if !matches!(self, Value::Map(_)) {
            self = Value::map();
        }
        if let Value::Map(m) = &mut self {
            m.insert(key.into(), value.into());
        }
        self
    }

    /// The entries, if this is a map.
    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number as `f64`, if this is an integer or a float.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The integer, if this is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value at a dotted path of map keys (`"address.city"`), if present.
    /// The empty path is the value itself.
    pub fn get_path(&self, path: &str) -> Option<&Value> {
        if path.is_empty() {
            return Some(self);
        }
        path.split('.')
            .try_fold(self, |v, key| v.as_map().and_then(|m| m.get(key)))
    }

    /// The name of the variant, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// Checks that the value can be stored: finite numbers, nesting at most [`MAX_DEPTH`].
    /// `root` names the value in the error's path.
    pub fn validate(&self, root: &str) -> Result<(), ValueError> {
        fn walk(v: &Value, path: &mut String, depth: usize) -> Result<(), ValueError> {
            if depth > MAX_DEPTH {
                return Err(ValueError::TooDeep { path: path.clone() });
            }
            match v {
                Value::Float(f) if !f.is_finite() => {
                    Err(ValueError::NonFinite { path: path.clone() })
                }
                Value::List(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let len = path.len();
                        path.push_str(&format!("[{i}]"));
                        walk(item, path, depth + 1)?;
                        path.truncate(len);
                    }
                    Ok(())
                }
                Value::Map(m) => {
                    for (k, item) in m {
                        let len = path.len();
                        path.push('.');
                        path.push_str(k);
                        walk(item, path, depth + 1)?;
                        path.truncate(len);
                    }
                    Ok(())
                }
                _ => Ok(()),
            }
        }
        walk(self, &mut root.to_string(), 0)
    }

    /// Applies a JSON merge patch (RFC 7386): maps merge key by key, recursively; a
    /// `Null` in the patch removes the key; anything else replaces the old value.
    pub fn merge(&mut self, patch: Value) {
        match patch {
            Value::Map(entries) => {
                if !matches!(self, Value::Map(_)) {
                    *self = Value::map();
                }
                if let Value::Map(target) = self {
                    for (k, v) in entries {
                        if v == Value::Null {
                            target.remove(&k);
                        } else {
                            target.entry(k).or_insert(Value::Null).merge(v);
                        }
                    }
                }
            }
            other => *self = other,
        }
    }

    /// Compares two values the way filters do: numbers with numbers (integers and floats
    /// mixed), strings with strings, bools with bools. Other pairs are unordered (`None`).
    pub fn compare(&self, other: &Value) -> Option<Ordering> {
        match (self, other) {
            (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
            (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
            (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
            (Value::Null, Value::Null) => Some(Ordering::Equal),
            (a, b) => match (a.as_f64(), b.as_f64()) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => None,
            },
        }
    }

    /// Equality as filters see it: like `==`, except that `1` equals `1.0`.
    pub fn loosely_equals(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.loosely_equals(y))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter()
                        .zip(b)
                        .all(|((ka, va), (kb, vb))| ka == kb && va.loosely_equals(vb))
            }
            _ => self.compare(other) == Some(Ordering::Equal),
        }
    }

    /// Converts from JSON. Integers that fit `i64` stay integers; others become floats.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON. A non-finite float (which validation keeps out of storage)
    /// becomes `null`, as in JavaScript's `JSON.stringify`.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Value::to_json).collect()),
            Value::Map(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
            }
        }
    }
}

/// The stored form of a [`Value`]: the same variants in the same order, so the derived
/// encoding is the one every stored record already uses.
#[derive(Serialize, JsonSchema)]
#[serde(rename = "Value")]
enum StoredRef<'a> {
    Null,
    Bool(&'a bool),
    Int(&'a i64),
    Float(&'a f64),
    String(&'a String),
    List(&'a Vec<Value>),
    Map(&'a BTreeMap<String, Value>),
}

/// [`StoredRef`], owned, for decoding.
#[derive(Deserialize)]
#[serde(rename = "Value")]
enum Stored {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// A stored [`Value`] read in place: its strings borrowed from the stored bytes, its lists
/// and maps as vectors. For a check that needs a few fields of a record (a membership's
/// role, a thing's status) without building its whole value; only the stored (binary)
/// form decodes to it. A map's entries keep their stored order (sorted by key).
#[derive(Debug, Clone, PartialEq)]
pub enum ValueRef<'a> {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A string, borrowed.
    String(&'a str),
    /// A list.
    List(Vec<ValueRef<'a>>),
    /// A map's entries, in key order.
    Map(Vec<(&'a str, ValueRef<'a>)>),
}

impl<'a> ValueRef<'a> {
    /// The value under `key`, if this is a map that has it. Of stored bytes that name a
    /// key twice (only damaged ones do), the last, as [`Value`] decodes them.
    pub fn get(&self, key: &str) -> Option<&ValueRef<'a>> {
        match self {
            ValueRef::Map(entries) => entries
                .iter()
                .rev()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Whether this is `value` read in place: the same variant and contents (a map's
    /// keys compared as [`ValueRef::get`] finds them).
    pub fn is(&self, value: &Value) -> bool {
        match (self, value) {
            (ValueRef::Null, Value::Null) => true,
            (ValueRef::Bool(a), Value::Bool(b)) => a == b,
            (ValueRef::Int(a), Value::Int(b)) => a == b,
            (ValueRef::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits(),
            (ValueRef::String(a), Value::String(b)) => *a == b.as_str(),
            (ValueRef::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.is(b))
            }
            (ValueRef::Map(a), Value::Map(b)) => {
                a.iter().all(|(k, _)| b.contains_key(*k))
                    && b.iter()
                        .all(|(k, v)| self.get(k).is_some_and(|mine| mine.is(v)))
            }
            _ => false,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&'a str> {
        match self {
            ValueRef::String(s) => Some(s),
            _ => None,
        }
    }

    /// The items, if this is a list.
    pub fn as_list(&self) -> Option<&[ValueRef<'a>]> {
        match self {
            ValueRef::List(items) => Some(items),
            _ => None,
        }
    }
}

/// [`Stored`], borrowing its strings, for [`ValueRef`].
#[derive(Deserialize)]
#[serde(rename = "Value")]
enum StoredIn<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(&'a str),
    List(#[serde(borrow)] Vec<ValueRef<'a>>),
    Map(#[serde(borrow)] Vec<(&'a str, ValueRef<'a>)>),
}

impl<'de: 'a, 'a> Deserialize<'de> for ValueRef<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            return Err(serde::de::Error::custom(
                "a ValueRef is read from a stored value only",
            ));
        }
        let _depth = DecodeDepth::enter().map_err(serde::de::Error::custom)?;
        // A map is stored as its length and then each key and value, exactly as a list of
        // pairs is: the two decode the same bytes.
        Ok(match StoredIn::deserialize(d)? {
            StoredIn::Null => ValueRef::Null,
            StoredIn::Bool(b) => ValueRef::Bool(b),
            StoredIn::Int(i) => ValueRef::Int(i),
            StoredIn::Float(f) => ValueRef::Float(f),
            StoredIn::String(x) => ValueRef::String(x),
            StoredIn::List(l) => ValueRef::List(l),
            StoredIn::Map(m) => ValueRef::Map(m),
        })
    }
}

thread_local! {
    /// How deep the stored value being decoded on this thread is nested so far.
    static DECODE_DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One level of nesting while decoding a stored value. Stored values are never deeper
/// than [`MAX_DEPTH`], so deeper bytes are damaged or hostile: refusing them keeps the
/// recursive decoder from exhausting the thread's stack.
struct DecodeDepth;

impl DecodeDepth {
    fn enter() -> Result<Self, String> {
        let depth = DECODE_DEPTH.with(|d| {
            d.set(d.get() + 1);
            d.get()
        });
        let guard = DecodeDepth;
        if depth > MAX_DEPTH + 1 {
            return Err(format!(
                "a stored value nested deeper than {MAX_DEPTH} levels"
            ));
        }
        Ok(guard)
    }
}

impl Drop for DecodeDepth {
    fn drop(&mut self) {
        DECODE_DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl schemars::JsonSchema for Value {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Value".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Any JSON value; numbers are finite, lists and maps nest at most 32 deep.",
        })
    }
}

impl Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            // Plain JSON, written straight out (as `to_json` would give it, without the tree).
            return match self {
                Value::Null => s.serialize_unit(),
                Value::Bool(b) => s.serialize_bool(*b),
                Value::Int(i) => s.serialize_i64(*i),
                Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
                Value::Float(_) => s.serialize_unit(),
                Value::String(x) => s.serialize_str(x),
                Value::List(l) => s.collect_seq(l),
                Value::Map(m) => s.collect_map(m),
            };
        }
        match self {
            Value::Null => StoredRef::Null,
            Value::Bool(b) => StoredRef::Bool(b),
            Value::Int(i) => StoredRef::Int(i),
            Value::Float(f) => StoredRef::Float(f),
            Value::String(x) => StoredRef::String(x),
            Value::List(l) => StoredRef::List(l),
            Value::Map(m) => StoredRef::Map(m),
        }
        .serialize(s)
    }
}

/// Reads a [`Value`] from plain JSON: integers that fit `i64` are `Int`, other numbers
/// `Float`; a map's later duplicate key wins.
struct PlainJson;

impl<'de> serde::de::Visitor<'de> for PlainJson {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(PlainJson)
    }
    fn visit_bool<E: serde::de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E: serde::de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E: serde::de::Error>(self, u: u64) -> Result<Value, E> {
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }
    fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E: serde::de::Error>(self, x: &str) -> Result<Value, E> {
        Ok(Value::String(x.to_string()))
    }
    fn visit_string<E: serde::de::Error>(self, x: String) -> Result<Value, E> {
        Ok(Value::String(x))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(PlainSeed)? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            out.insert(key, map.next_value_seed(PlainSeed)?);
        }
        Ok(Value::Map(out))
    }
}

/// A nested [`Value`] in plain JSON.
struct PlainSeed;

impl<'de> serde::de::DeserializeSeed<'de> for PlainSeed {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(PlainJson)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            // Plain JSON, read straight in (as `from_json` would read it, without the tree).
            return d.deserialize_any(PlainJson);
        }
        let _depth = DecodeDepth::enter().map_err(serde::de::Error::custom)?;
        Ok(match Stored::deserialize(d)? {
            Stored::Null => Value::Null,
            Stored::Bool(b) => Value::Bool(b),
            Stored::Int(i) => Value::Int(i),
            Stored::Float(f) => Value::Float(f),
            Stored::String(x) => Value::String(x),
            Stored::List(l) => Value::List(l),
            Stored::Map(m) => Value::Map(m),
        })
    }
}

impl From<serde_json::Value> for Value {
    fn from(json: serde_json::Value) -> Self {
        Value::from_json(&json)
    }
}

impl From<Value> for serde_json::Value {
    fn from(v: Value) -> Self {
        v.to_json()
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self { Value::Int(i64::from(v)) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_merge_and_validation() {
        let mut v = Value::map()
            .with("a", Value::map().with("b", 1))
            .with("c", "x");
        assert_eq!(v.get_path("a.b"), Some(&Value::Int(1)));
        assert_eq!(v.get_path("a.z"), None);
        v.merge(
            Value::map()
                .with("a", Value::map().with("d", 2))
                .with("c", Value::Null),
        );
        assert_eq!(v.to_json(), serde_json::json!({"a": {"b": 1, "d": 2}}));
        assert!(
            Value::map()
                .with("x", f64::NAN)
                .validate("properties")
                .is_err()
        );
        let mut deep = Value::Int(0);
        for _ in 0..=MAX_DEPTH {
            deep = Value::List(vec![deep]);
        }
        assert!(matches!(
            deep.validate("p"),
            Err(ValueError::TooDeep { .. })
        ));
        // The deepest storable value decodes; one level deeper is refused, and bytes
        // nested far deeper fail cleanly instead of exhausting the stack (found by the
        // `records` fuzz body).
        let mut deepest = Value::Int(0);
        for _ in 0..MAX_DEPTH {
            deepest = Value::List(vec![deepest]);
        }
        assert!(deepest.validate("p").is_ok());
        let bytes = postcard::to_stdvec(&deepest).unwrap();
        assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), deepest);
        assert!(postcard::from_bytes::<Value>(&postcard::to_stdvec(&deep).unwrap()).is_err());
        let mut hostile = [5u8, 1].repeat(200_000);
        hostile.push(0);
        assert!(postcard::from_bytes::<Value>(&hostile).is_err());
        assert_eq!(DECODE_DEPTH.with(std::cell::Cell::get), 0);
        assert!(postcard::from_bytes::<ValueRef>(&hostile).is_err());
        assert!(postcard::from_bytes::<ValueRef>(&postcard::to_stdvec(&deep).unwrap()).is_err());
        assert_eq!(DECODE_DEPTH.with(std::cell::Cell::get), 0);
        assert_eq!(
            Value::Int(2).compare(&Value::Float(2.5)),
            Some(Ordering::Less)
        );
        assert_eq!(Value::Int(2).compare(&Value::from("2")), None);
        assert_eq!(
            Value::from_json(&serde_json::json!(u64::MAX)).type_name(),
            "float"
        );
    }

    #[test]
    fn a_stored_value_reads_in_place_as_the_value_it_is() {
        let v = Value::map()
            .with("role", "member")
            .with(
                "permissions",
                Value::List(vec!["read".into(), "write".into()]),
            )
            .with("n", 3)
            .with("x", 2.5)
            .with("b", true)
            .with("none", Value::Null)
            .with("inner", Value::map().with("k", "v"));
        let bytes = postcard::to_stdvec(&v).unwrap();
        let r: ValueRef = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(r.get("role").and_then(ValueRef::as_str), Some("member"));
        let listed: Vec<&str> = r
            .get("permissions")
            .and_then(ValueRef::as_list)
            .unwrap()
            .iter()
            .filter_map(ValueRef::as_str)
            .collect();
        assert_eq!(listed, ["read", "write"]);
        assert_eq!(r.get("n"), Some(&ValueRef::Int(3)));
        assert_eq!(r.get("x"), Some(&ValueRef::Float(2.5)));
        assert_eq!(r.get("b"), Some(&ValueRef::Bool(true)));
        assert_eq!(r.get("none"), Some(&ValueRef::Null));
        assert_eq!(
            r.get("inner"),
            Some(&ValueRef::Map(vec![("k", ValueRef::String("v"))]))
        );
        assert_eq!(r.get("missing"), None);
        assert_eq!(ValueRef::Int(1).get("role"), None);
        assert!(r.is(&v));
        assert!(!r.is(&v.clone().with("n", 4)));
        assert!(!r.is(&Value::map()));
        // Damaged bytes that name a key twice: the last wins, as it does for `Value`.
        let twice = [6, 2, 1, b'a', 2, 2, 1, b'a', 2, 4];
        let value: Value = postcard::from_bytes(&twice).unwrap();
        let read: ValueRef = postcard::from_bytes(&twice).unwrap();
        assert_eq!(value, Value::map().with("a", 2));
        assert_eq!(read.get("a"), Some(&ValueRef::Int(2)));
        assert!(read.is(&value));
        // Only the stored form reads as a ValueRef.
        assert!(serde_json::from_str::<ValueRef>("{}").is_err());
    }
}
