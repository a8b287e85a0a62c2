//! Secondary indexes on thing properties, as declared.

/// A declared index: things of type `kind`, by the property at `path`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IndexDef {
    /// The thing type.
    pub kind: String,
    /// The dotted path below `properties` (`price`, `address.city`).
    pub path: String,
}
