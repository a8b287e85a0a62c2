//! Full-text search over things: the query and its hits.
//!
//! Text is cut into words at Unicode word boundaries (UAX #29); each word is folded to
//! lower case with its accents removed (`Crème` is found by `creme`). A thing's text is
//! made of the fields declared for its type with `Admin::create_text_index` (`name`,
//! `properties.<key>`); things of types with none are not searched.
//! Every word of a query must occur in a hit; with `prefix`, the last word matches every
//! word that starts with it (search as you type). Hits are ranked by BM25 (k1 = 1.2,
//! b = 0.75, SQLite FTS5's formula) over the documents of the groups searched.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::id::GroupId;
use crate::page::Cursor;
use crate::records::filter::Filter;
use crate::records::thing::Thing;

/// The most words a query may have.
pub const MAX_QUERY_WORDS: usize = 32;

/// A full-text search for things.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TextQuery {
    /// The words to find; every one must occur in a hit.
    pub text: String,
    /// Whether the last word also matches the words it begins (search as you type).
    #[serde(default)]
    pub prefix: bool,
    /// Only things of this type; every type when `None`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The group searched; `None` is the context's group.
    #[serde(default)]
    pub group: Option<GroupId>,
    /// Whether the groups below are searched too (those the context may read things in).
    #[serde(default)]
    pub include_children: bool,
    /// Conditions the things must match (status, properties…), as in lists.
    #[serde(default)]
    pub filter: Filter,
    /// The page size: [`DEFAULT_PAGE`](crate::page::DEFAULT_PAGE) when `None`, at most [`MAX_PAGE`](crate::page::MAX_PAGE).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Resume after the page that returned this cursor (`after` in JSON).
    #[serde(default, rename = "after")]
    pub cursor: Option<Cursor>,
}

impl TextQuery {
    /// Things of the context's group whose text holds every word of `text`.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            prefix: false,
            kind: None,
            group: None,
            include_children: false,
            filter: Filter::new(),
            limit: None,
            cursor: None,
        }
    }

    /// Lets the last word match the words it begins.
    pub fn prefix(mut self) -> Self {
        self.prefix = true;
        self
    }

    /// Only things of type `kind`.
    pub fn kind(mut self, kind: impl Into<String>) -> Self {
        self.kind = Some(kind.into());
        self
    }

    /// Searches another group of the context's scope.
    pub fn group(mut self, group: GroupId) -> Self {
        self.group = Some(group);
        self
    }

    /// Also searches the groups below, where the context may read things.
    pub fn include_children(mut self) -> Self {
        self.include_children = true;
        self
    }

    /// Keeps only things that match `filter`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// At most `n` hits a page (default 50, at most 1000).
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Continues after a previous page.
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.cursor = Some(cursor);
        self
    }
}

/// A thing found by a text search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ThingHit {
    /// The thing.
    pub thing: Thing,
    /// Its BM25 score: higher is more relevant.
    pub score: f32,
}
