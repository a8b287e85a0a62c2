//! The messages of the plugin ABI: what the host sends and what a plugin answers.
//! `plugins/ABI.md` describes the same messages for authors in other languages.
//!
//! Version 1 writes them as JSON, version 2 (what this SDK speaks) with postcard, a
//! compact binary encoding (values as in [`crate::wire`]); the messages are the same.
//! These types are plain data (serde), so the host decodes a plugin's answers with
//! exactly the definitions the SDK encodes them with.

use serde::{Deserialize, Serialize};

pub use serde_json::{Map, Value};

/// The ABI version this SDK speaks (binary messages); a plugin exports it as
/// `one_abi_version`.
pub const ABI_VERSION: u32 = 2;

/// The ABI version whose messages are JSON, which the host still speaks with modules
/// that export it.
pub const ABI_JSON: u32 = 1;

/// A JSON object: the properties of a thing.
pub type Properties = Map<String, Value>;

/// What a plugin defines: its identity, its thing types, and the connection and event
/// types it declares for its tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The plugin's name, `[a-z][a-z0-9_]*`. A new version of a plugin has the same name.
    pub name: String,
    /// Its version, free text shown to users (e.g. `1.2.0`).
    pub version: String,
    /// The thing types it defines (at least one).
    pub types: Vec<TypeSchema>,
    /// Whether the host should call `react` after changes to things of these types
    /// (each call costs a fresh instance, so plugins that do not react say `false`).
    #[serde(default)]
    pub reacts: bool,
    /// The connection types it declares: in its tenant, a connection of one of these
    /// types must join the declared endpoint types and carry metadata that fits the
    /// declared fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<ConnectionSchema>,
    /// The event types it declares: in its tenant, an event of one of these types must
    /// carry metadata that fits the declared fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventSchema>,
    /// The permissions it asks its tenant for: `things:read` and `connections:read` for
    /// its reads, `events:write` for the events its reactions log. The tenant grants them
    /// when it installs the plugin (as far as the installer holds them) and may withdraw
    /// them; a read or an action needing one not granted is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<String>,
}

/// A connection type a plugin declares: which records it may join, and its metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionSchema {
    /// The connection type (`holds`); not one of the engine's own (`member_of`,
    /// `session`).
    pub name: String,
    /// What it means, for people.
    #[serde(default)]
    pub description: String,
    /// The types its `from` end may have: thing types, `person`, or `group`. Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from: Vec<String>,
    /// The types its `to` end may have, as for `from`. Empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// The declared metadata keys. Keys not declared here are kept as they are.
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl ConnectionSchema {
    /// A connection type called `name`, joining anything to anything.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            from: Vec::new(),
            to: Vec::new(),
            fields: Vec::new(),
        }
    }

    /// Allows only these types at the `from` end.
    pub fn from<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.from = types.into_iter().map(Into::into).collect();
        self
    }

    /// Allows only these types at the `to` end.
    pub fn to<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Self {
        self.to = types.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a declared metadata key.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }
}

/// An event type a plugin declares: the metadata its events carry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSchema {
    /// The event type (`ticket_scanned`); not one of the engine's own.
    pub name: String,
    /// What it records, for people.
    #[serde(default)]
    pub description: String,
    /// The declared metadata keys. Keys not declared here are kept as they are.
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl EventSchema {
    /// An event type called `name`.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a declared metadata key.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }
}

/// One thing type: its name, what it is for, and the properties it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TypeSchema {
    /// The type name things are created with (`product`).
    pub name: String,
    /// What the type is, for people.
    #[serde(default)]
    pub description: String,
    /// The declared properties. Properties not declared here are kept as they are.
    #[serde(default)]
    pub fields: Vec<Field>,
}

impl TypeSchema {
    /// A type called `name`.
    pub fn new(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            fields: Vec::new(),
        }
    }

    /// Adds a declared property.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.push(field);
        self
    }
}

/// The JSON type a declared property must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A string.
    String,
    /// A whole number (a JSON number without a fraction).
    Integer,
    /// Any finite number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// A JSON array.
    List,
    /// A JSON object.
    Map,
    /// Anything.
    Any,
}

/// A declared property: the host checks every stored thing of the type against it, after
/// the plugin's `prepare` ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// The property's key in `properties`.
    pub name: String,
    /// Its JSON type.
    #[serde(rename = "type")]
    pub kind: FieldType,
    /// What it means, for people.
    #[serde(default)]
    pub description: String,
    /// Whether every thing of the type must have it.
    #[serde(default)]
    pub required: bool,
    /// The smallest allowed number (numbers and integers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The largest allowed number (numbers and integers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The longest allowed string, in characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u32>,
    /// The only allowed values (strings), if not empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<String>,
    /// Whether the host keeps a secondary index on it, for fast filtered lists.
    #[serde(default)]
    pub indexed: bool,
    /// Whether the plugin computes it (from the thing's other properties, or from other
    /// records it reads through the host): a caller may not set it — the host refuses a
    /// create that sends it and an update that changes it — and `prepare` must.
    #[serde(default)]
    pub computed: bool,
}

impl Field {
    fn new(name: impl Into<String>, kind: FieldType) -> Self {
        Self {
            name: name.into(),
            kind,
            description: String::new(),
            required: false,
            min: None,
            max: None,
            max_length: None,
            one_of: Vec::new(),
            indexed: false,
            computed: false,
        }
    }

    /// A string property.
    pub fn string(name: impl Into<String>) -> Self {
        Self::new(name, FieldType::String)
    }

    /// A whole-number property.
    pub fn integer(name: impl Into<String>) -> Self {
        Self::new(name, FieldType::Integer)
    }

    /// A number property.
    pub fn number(name: impl Into<String>) -> Self {
        Self::new(name, FieldType::Number)
    }

    /// A boolean property.
    pub fn boolean(name: impl Into<String>) -> Self {
        Self::new(name, FieldType::Boolean)
    }

    /// A property of any other JSON type.
    pub fn of_type(name: impl Into<String>, kind: FieldType) -> Self {
        Self::new(name, kind)
    }

    /// Describes it.
    pub fn describe(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Makes it required.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets the smallest allowed number.
    pub fn min(mut self, min: f64) -> Self {
        self.min = Some(min);
        self
    }

    /// Sets the largest allowed number.
    pub fn max(mut self, max: f64) -> Self {
        self.max = Some(max);
        self
    }

    /// Sets the longest allowed string, in characters.
    pub fn max_length(mut self, n: u32) -> Self {
        self.max_length = Some(n);
        self
    }

    /// Allows only these strings.
    pub fn one_of<S: Into<String>>(mut self, values: impl IntoIterator<Item = S>) -> Self {
        self.one_of = values.into_iter().map(Into::into).collect();
        self
    }

    /// Asks the host to index it.
    pub fn indexed(mut self) -> Self {
        self.indexed = true;
        self
    }

    /// Marks it as computed by the plugin.
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }
}

/// A call from the host: which hook, and its input.
///
/// In JSON (version 1) the hook is a field, `{"hook": "prepare", …the input's fields}`;
/// in binary (version 2) it is the enum's tag (0 `describe`, 1 `prepare`, 2 `react`)
/// followed by the input. The host writes requests from borrowed data of its own that
/// encodes exactly as [`Prepare`] and [`Change`] do, hence the type parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum Request<P = Prepare, C = Change> {
    /// Asks for the [`Manifest`]; answered with `{"ok": Manifest}` in JSON, and in binary
    /// with [`Reply`]`<String>` holding the manifest's JSON (a manifest is read once, at
    /// install, and kept as JSON).
    Describe,
    /// Asks to validate and normalise a thing's properties; answered with
    /// `{"ok": Prepared}` or `{"error": Rejection}`.
    Prepare(P),
    /// Tells the plugin about a committed change; answered with `{"ok": Reaction}`.
    React(C),
}

/// [`Request`] as JSON: the hook named by a field.
#[derive(Serialize, Deserialize)]
#[serde(tag = "hook", rename_all = "snake_case")]
enum Named<P, C> {
    Describe,
    Prepare(P),
    React(C),
}

/// [`Request`] in binary: the hook as the enum's tag.
#[derive(Serialize, Deserialize)]
enum Tagged<P, C> {
    Describe,
    Prepare(P),
    React(C),
}

impl<P: Serialize, C: Serialize> Serialize for Request<P, C> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match (self, s.is_human_readable()) {
            (Request::Describe, true) => Named::<&P, &C>::Describe.serialize(s),
            (Request::Prepare(p), true) => Named::<&P, &C>::Prepare(p).serialize(s),
            (Request::React(c), true) => Named::<&P, &C>::React(c).serialize(s),
            (Request::Describe, false) => Tagged::<&P, &C>::Describe.serialize(s),
            (Request::Prepare(p), false) => Tagged::<&P, &C>::Prepare(p).serialize(s),
            (Request::React(c), false) => Tagged::<&P, &C>::React(c).serialize(s),
        }
    }
}

impl<'de, P: Deserialize<'de>, C: Deserialize<'de>> Deserialize<'de> for Request<P, C> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(if d.is_human_readable() {
            match Named::<P, C>::deserialize(d)? {
                Named::Describe => Request::Describe,
                Named::Prepare(p) => Request::Prepare(p),
                Named::React(c) => Request::React(c),
            }
        } else {
            match Tagged::<P, C>::deserialize(d)? {
                Tagged::Describe => Request::Describe,
                Tagged::Prepare(p) => Request::Prepare(p),
                Tagged::React(c) => Request::React(c),
            }
        })
    }
}

/// Whether a thing is being created or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// A new thing.
    Create,
    /// A change to an existing thing.
    Update,
}

/// The input of `prepare`: a thing about to be stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepare {
    /// Create or update.
    pub op: Op,
    /// The thing's id (`thg_…`), new on a create.
    #[serde(default)]
    pub id: String,
    /// The id of its group (`grp_…`).
    #[serde(default)]
    pub group: String,
    /// The thing's type (one the plugin declared).
    #[serde(rename = "type")]
    pub kind: String,
    /// The thing's name.
    pub name: String,
    /// Its properties as they would be stored (for an update: after merging the patch).
    #[serde(with = "crate::wire::properties")]
    pub properties: Properties,
    /// For an update, the properties stored before it.
    #[serde(default, with = "crate::wire::optional_properties")]
    pub previous: Option<Properties>,
}

/// The answer of `prepare`: the properties to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    /// The normalised properties, with computed ones filled in.
    #[serde(with = "crate::wire::properties")]
    pub properties: Properties,
}

/// A committed change to a thing of one of the plugin's types, the input of `react`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `thing_created`, `thing_updated` or `thing_deleted`.
    pub event: String,
    /// The thing's id (`thg_…`).
    pub thing: String,
    /// Its group's id (`grp_…`).
    pub group: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    pub name: String,
    /// Its properties after the change.
    #[serde(with = "crate::wire::properties")]
    pub properties: Properties,
}

/// The answer of `react`: what the host should do next.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reaction {
    /// Follow-up actions, applied in order in one transaction.
    #[serde(default)]
    pub actions: Vec<Action>,
}

/// A follow-up action a plugin may ask for. The host applies it with the plugin's own
/// limited rights: only in the group of the thing that changed, only about that thing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Logs a custom event targeting the thing.
    LogEvent {
        /// The event type (not one of the engine's own).
        kind: String,
        /// Its metadata.
        #[serde(default, with = "crate::wire::properties")]
        data: Properties,
    },
}

/// A read a plugin asks the host for during a call, through the import `one.read`. The
/// host answers within the transaction being prepared, in the plugin's tenant only, and
/// with the caller's permissions: what the caller may not read is answered as absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Read {
    /// The thing `id`: answered with a [`Thing`], or `null` when there is no such thing
    /// the caller may read.
    GetThing {
        /// A thing id (`thg_…`).
        id: String,
    },
    /// Whether a connection of type `kind` joins `from` to `to` that the caller may
    /// read: answered with `true` or `false`.
    ConnectionExists {
        /// A thing or group id.
        from: String,
        /// The connection type.
        kind: String,
        /// A thing or group id.
        to: String,
    },
    /// How many live things of type `kind` a group holds (not counting its subgroups):
    /// answered with a whole number. Each thing counted costs fuel.
    CountThings {
        /// The thing type.
        kind: String,
        /// A group id (`grp_…`); by default the group of the thing being prepared.
        #[serde(default)]
        group: Option<String>,
    },
}

/// A thing as a plugin reads it, answering [`Read::GetThing`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thing {
    /// Its id (`thg_…`).
    pub id: String,
    /// Its group's id (`grp_…`).
    pub group: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its name.
    pub name: String,
    /// `active`, `archived`, `draft` or `deleted`.
    pub status: String,
    /// Its properties.
    #[serde(with = "crate::wire::properties")]
    pub properties: Properties,
}

/// A refusal: the input is not acceptable, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rejection {
    /// The property at fault, if one is.
    #[serde(default)]
    pub field: Option<String>,
    /// What is wrong, for people.
    pub message: String,
}

impl Rejection {
    /// A refusal of the property `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// A refusal of the thing as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            field: None,
            message: message.into(),
        }
    }
}

/// Every answer: `{"ok": …}` or `{"error": Rejection}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply<T> {
    /// The hook succeeded.
    Ok(T),
    /// The hook refused its input.
    Error(Rejection),
}

impl<T> From<Result<T, Rejection>> for Reply<T> {
    fn from(r: Result<T, Rejection>) -> Self {
        match r {
            Ok(v) => Reply::Ok(v),
            Err(e) => Reply::Error(e),
        }
    }
}

impl<T> From<Reply<T>> for Result<T, Rejection> {
    fn from(r: Reply<T>) -> Self {
        match r {
            Reply::Ok(v) => Ok(v),
            Reply::Error(e) => Err(e),
        }
    }
}
