//! Knowledge chunks: text with labels, a source and an embedding.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

use crate::clock::Timestamp;
use crate::id::Ref;
use crate::id::{GroupId, KnowledgeId};
use crate::value::Value;
/// A knowledge chunk, as stored (its vector is stored beside it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Knowledge {
    /// Its id.
    pub id: KnowledgeId,
    /// The group it belongs to.
    pub group: GroupId,
    /// The text.
    pub text: String,
    /// Labels, sorted and unique (`[a-z0-9][a-z0-9_:.-]*`).
    pub labels: Vec<String>,
    /// Where it came from: a thing (a document, a person) or a group.
    pub source: Option<Ref>,
    /// Free-form metadata (a map).
    pub metadata: Value,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// How search scores a vector against the query; higher is closer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Cosine similarity, in `[-1, 1]` (0 against a zero vector). The default.
    #[default]
    Cosine,
    /// Dot product.
    Dot,
}

impl Metric {
    /// Both metrics, in declaration order.
    pub const ALL: [Metric; 2] = [Metric::Cosine, Metric::Dot];

    /// The lower-case name (`cosine`, `dot`).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Metric::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| Error::invalid("metric", format!("{s:?} is not one of cosine or dot")))
    }
}

crate::text_form::named_in_json!(Metric);

/// What to search with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryInput {
    /// A vector of the database's dimension.
    Vector(Vec<f32>),
    /// Text: its words for text ranking, its embedding (by the engine's embedder) for
    /// vector ranking.
    Text(String),
    /// Text for text ranking and a vector for vector ranking, for a hybrid search whose
    /// embedding the caller computed.
    TextAndVector(String, Vec<f32>),
}

impl QueryInput {
    /// The text given, if any.
    pub fn text(&self) -> Option<&str> {
        match self {
            QueryInput::Text(t) | QueryInput::TextAndVector(t, _) => Some(t),
            QueryInput::Vector(_) => None,
        }
    }
}

/// How a knowledge search ranks chunks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SearchMode {
    /// By the similarity of their vectors to the query's (k-nearest neighbours). The
    /// default.
    #[default]
    Vector,
    /// By the BM25 relevance of their text to the query's words, every word required;
    /// the score is the BM25 score.
    Text,
    /// Both rankings fused by reciprocal rank: a chunk scores `1/(60 + rank)` in each
    /// ranking it is in, summed, each ranking taken to its best `max(4k, 50)` (at most
    /// `MAX_K`); a chunk need not hold every word.
    Hybrid,
}

impl SearchMode {
    /// Every mode, in declaration order.
    pub const ALL: [SearchMode; 3] = [SearchMode::Vector, SearchMode::Text, SearchMode::Hybrid];

    /// The lower-case name (`vector`, `text`, `hybrid`).
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Vector => "vector",
            SearchMode::Text => "text",
            SearchMode::Hybrid => "hybrid",
        }
    }
}

impl std::str::FromStr for SearchMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        SearchMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "mode",
                    format!("{s:?} is not one of vector, text or hybrid"),
                )
            })
    }
}

crate::text_form::named_in_json!(SearchMode);

/// A knowledge search: by vector, by text, or both (see [`SearchMode`]). Serialised flat:
/// `text` or `vector` gives the input (both, in `hybrid` mode).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(try_from = "KnowledgeQueryForm", into = "KnowledgeQueryForm")]
pub struct KnowledgeQuery {
    /// What to search for: a vector, or text the engine's embedder turns into one.
    pub input: QueryInput,
    /// How many hits at most.
    pub k: usize,
    /// The group searched; `None` is the context's group.
    pub group: Option<GroupId>,
    /// Whether the group's descendants are searched too.
    pub include_children: bool,
    /// Only chunks with at least one of these labels (none: no condition).
    pub any_labels: Vec<String>,
    /// Only chunks with every one of these labels.
    pub all_labels: Vec<String>,
    /// Only chunks from this source.
    pub source: Option<Ref>,
    /// How closeness is scored.
    pub metric: Metric,
    /// How chunks are ranked: by vector, by text, or both.
    pub mode: SearchMode,
}

/// The serialised form of a [`KnowledgeQuery`].
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "KnowledgeQuery")]
struct KnowledgeQueryForm {
    /// Text to embed and search for; give this or `vector`.
    #[serde(default)]
    text: Option<String>,
    /// A vector of the database's dimension; give this or `text`.
    #[serde(default)]
    vector: Option<Vec<f32>>,
    /// How many hits at most (default 10).
    #[serde(default = "default_k")]
    k: usize,
    /// The group searched; the context's group when absent.
    #[serde(default)]
    group: Option<GroupId>,
    /// Whether the group's descendants are searched too.
    #[serde(default)]
    include_children: bool,
    /// Only chunks with at least one of these labels.
    #[serde(default)]
    any_labels: Vec<String>,
    /// Only chunks with every one of these labels.
    #[serde(default)]
    all_labels: Vec<String>,
    /// Only chunks from this source.
    #[serde(default)]
    source: Option<Ref>,
    /// How closeness is scored (default cosine).
    #[serde(default)]
    metric: Metric,
    /// How chunks are ranked: `vector` (the default), `text` or `hybrid`.
    #[serde(default)]
    mode: SearchMode,
}

fn default_k() -> usize {
    10
}

impl TryFrom<KnowledgeQueryForm> for KnowledgeQuery {
    type Error = Error;
    fn try_from(f: KnowledgeQueryForm) -> Result<Self> {
        let refuse = |reason: &str| crate::decode::refused(|| Error::invalid("query", reason));
        let input = match (f.text, f.vector, f.mode) {
            (Some(text), None, _) => QueryInput::Text(text),
            (None, Some(_), SearchMode::Text) => {
                return Err(refuse("a text search needs `text`"));
            }
            (None, Some(vector), _) => QueryInput::Vector(vector),
            (Some(text), Some(vector), SearchMode::Hybrid) => {
                QueryInput::TextAndVector(text, vector)
            }
            (Some(_), Some(_), _) => {
                return Err(refuse(
                    "give one of `text` and `vector` (both only in `hybrid` mode)",
                ));
            }
            (None, None, _) => return Err(refuse("give one of `text` and `vector`")),
        };
        Ok(KnowledgeQuery {
            input,
            k: f.k,
            group: f.group,
            include_children: f.include_children,
            any_labels: f.any_labels,
            all_labels: f.all_labels,
            source: f.source,
            metric: f.metric,
            mode: f.mode,
        })
    }
}

impl From<KnowledgeQuery> for KnowledgeQueryForm {
    fn from(q: KnowledgeQuery) -> Self {
        let (text, vector) = match q.input {
            QueryInput::Text(text) => (Some(text), None),
            QueryInput::Vector(vector) => (None, Some(vector)),
            QueryInput::TextAndVector(text, vector) => (Some(text), Some(vector)),
        };
        KnowledgeQueryForm {
            text,
            vector,
            k: q.k,
            group: q.group,
            include_children: q.include_children,
            any_labels: q.any_labels,
            all_labels: q.all_labels,
            source: q.source,
            metric: q.metric,
            mode: q.mode,
        }
    }
}

impl KnowledgeQuery {
    /// The 10 chunks nearest to `v`.
    pub fn vector(v: Vec<f32>) -> Self {
        Self::of(QueryInput::Vector(v))
    }

    /// The 10 chunks nearest to the embedding of `text`.
    pub fn text(text: impl Into<String>) -> Self {
        Self::of(QueryInput::Text(text.into()))
    }

    fn of(input: QueryInput) -> Self {
        Self {
            input,
            k: default_k(),
            group: None,
            include_children: false,
            any_labels: Vec::new(),
            all_labels: Vec::new(),
            source: None,
            metric: Metric::Cosine,
            mode: SearchMode::Vector,
        }
    }

    /// The chunks whose text is most relevant to the words of `text` (BM25; every word
    /// required).
    pub fn words(text: impl Into<String>) -> Self {
        Self::text(text).mode(SearchMode::Text)
    }

    /// The chunks best by both their text's relevance to `text` and their vector's
    /// closeness to its embedding (reciprocal rank fusion).
    pub fn hybrid(text: impl Into<String>) -> Self {
        Self::text(text).mode(SearchMode::Hybrid)
    }

    /// Ranks with `mode`.
    pub fn mode(mut self, mode: SearchMode) -> Self {
        self.mode = mode;
        self
    }

    /// For a hybrid search: ranks by closeness to `v` instead of the text's embedding.
    pub fn with_vector(mut self, v: Vec<f32>) -> Self {
        self.input = match self.input {
            QueryInput::Text(t) | QueryInput::TextAndVector(t, _) => {
                QueryInput::TextAndVector(t, v)
            }
            QueryInput::Vector(_) => QueryInput::Vector(v),
        };
        self
    }

    /// Returns at most `k` chunks (1 to `MAX_K`).
    pub fn k(mut self, k: usize) -> Self {
        self.k = k;
        self
    }

    /// Searches another group of the context's scope.
    pub fn group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }

    /// Also searches the groups below, where the context has `knowledge:read`.
    pub fn include_children(mut self) -> Self {
        self.include_children = true;
        self
    }

    /// Keeps chunks with at least one of these labels.
    pub fn any_label<S: AsRef<str>>(mut self, labels: &[S]) -> Self {
        self.any_labels = labels.iter().map(|l| l.as_ref().to_string()).collect();
        self
    }

    /// Keeps chunks with all of these labels.
    pub fn all_labels<S: AsRef<str>>(mut self, labels: &[S]) -> Self {
        self.all_labels = labels.iter().map(|l| l.as_ref().to_string()).collect();
        self
    }

    /// Keeps chunks from this source.
    pub fn source(mut self, source: impl Into<Ref>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Scores with `metric`.
    pub fn metric(mut self, metric: Metric) -> Self {
        self.metric = metric;
        self
    }

    /// Whether the chunk `k` passes the label and source conditions.
    pub fn accepts(&self, k: &Knowledge) -> bool {
        let has = |l: &String| k.labels.binary_search(l).is_ok();
        (self.any_labels.is_empty() || self.any_labels.iter().any(has))
            && self.all_labels.iter().all(has)
            && self.source.is_none_or(|s| k.source == Some(s))
    }
}

/// A search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Hit {
    /// The chunk.
    pub knowledge: Knowledge,
    /// Its score (higher is closer).
    pub score: f32,
}

/// What a new chunk needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKnowledge {
    /// The text.
    pub text: String,
    /// Labels to filter searches by.
    #[serde(default)]
    pub labels: Vec<String>,
    /// The record the text comes from.
    #[serde(default)]
    pub source: Option<Ref>,
    /// Metadata (a map).
    #[serde(default = "Value::map")]
    pub metadata: Value,
    /// The embedding; `None` lets the engine's embedder compute it from the text.
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The group it goes in; `None` is the context's group.
    #[serde(default)]
    pub group: Option<GroupId>,
}

impl NewKnowledge {
    /// A chunk of `text`, embedded by the engine's embedder unless a vector is given.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            labels: Vec::new(),
            source: None,
            metadata: Value::map(),
            embedding: None,
            group: None,
        }
    }

    /// Sets the labels.
    pub fn labels<S: AsRef<str>>(mut self, labels: &[S]) -> Self {
        self.labels = labels.iter().map(|l| l.as_ref().to_string()).collect();
        self
    }

    /// Sets the source.
    pub fn source(mut self, source: impl Into<Ref>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the metadata (a map).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = metadata;
        self
    }

    /// Uses this vector instead of embedding the text.
    pub fn embedding(mut self, v: Vec<f32>) -> Self {
        self.embedding = Some(v);
        self
    }

    /// Puts the chunk in another group of the context's scope.
    pub fn in_group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }
}

/// What a group's approximate index covers, for monitoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IndexInfo {
    /// Vectors in the group's built graph (0 without one: every search is exact).
    pub indexed: usize,
    /// Vectors added since the graph was built, searched exactly.
    pub fresh: usize,
    /// Chunks deleted since the graph was built, filtered out of its results.
    pub deleted: usize,
}

/// What the background upkeep of the vector graphs is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct MaintenanceStatus {
    /// Whether the upkeep thread runs.
    pub running: bool,
    /// Rounds it finished.
    pub rounds: u64,
    /// Graphs it built.
    pub graphs_built: u64,
    /// Merges of text index segments it stored (those too large for a writer).
    #[serde(default)]
    pub text_merges: u64,
    /// The group whose graphs it is building now, if any.
    pub building: Option<GroupId>,
    /// The last error a round met (it goes on with the next group and round).
    pub last_error: Option<String>,
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CompactReport {
    /// Groups whose graph was (re)built.
    pub built: usize,
    /// Vectors in those graphs.
    pub vectors: usize,
    /// Groups whose graph was dropped (too few vectors left).
    pub dropped: usize,
}
