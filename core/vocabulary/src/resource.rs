//! Resources: what a group uses and a plan limits, and which counted records use which.

use schemars::JsonSchema;
use serde::Serialize;

use crate::{Error, Result};

/// Something a group uses and a plan limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    /// Calls made with the group's API keys, per month.
    ApiCalls = 1,
    /// People (things of type `person`).
    Users = 2,
    /// Things other than people.
    Things = 3,
    /// Connections.
    Connections = 4,
    /// Bytes of primary records.
    StorageBytes = 5,
    /// AI tokens recorded with `record_cycle`, per month.
    AiTokens = 6,
    /// Embedding tokens, per month.
    EmbeddingTokens = 7,
}

impl Resource {
    /// Every resource.
    pub const ALL: [Resource; 7] = [
        Resource::ApiCalls,
        Resource::Users,
        Resource::Things,
        Resource::Connections,
        Resource::StorageBytes,
        Resource::AiTokens,
        Resource::EmbeddingTokens,
    ];

    /// The name used in `limits` and in events.
    pub const fn as_str(self) -> &'static str {
        match self {
            Resource::ApiCalls => "api_calls",
            Resource::Users => "users",
            Resource::Things => "things",
            Resource::Connections => "connections",
            Resource::StorageBytes => "storage_bytes",
            Resource::AiTokens => "ai_tokens",
            Resource::EmbeddingTokens => "embedding_tokens",
        }
    }

    /// Whether usage is counted per calendar month (otherwise it is a running total).
    pub const fn is_monthly(self) -> bool {
        matches!(
            self,
            Resource::ApiCalls | Resource::AiTokens | Resource::EmbeddingTokens
        )
    }

    /// The stable byte that stands for the resource in keys.
    pub const fn tag(self) -> u8 {
        self as u8
    }
}

impl std::fmt::Display for Resource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::text_form::named_in_json!(Resource);

impl std::str::FromStr for Resource {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Resource::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "resource",
                    format!(
                        "{s:?} is not a resource (one of {})",
                        Resource::ALL.map(Resource::as_str).join(", ")
                    ),
                )
            })
    }
}
