//! Secondary indexes on thing properties, and text fields, as declared.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
/// A declared index: things of type `kind`, by the property at `path`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
pub struct IndexDef {
    /// The thing type.
    #[serde(rename = "type")]
    pub kind: String,
    /// The dotted path below `properties` (`price`, `address.city`); for a text index,
    /// the field itself: `name` or `properties.<key>`.
    pub path: String,
}
