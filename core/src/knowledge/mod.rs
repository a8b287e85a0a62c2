//! Knowledge: text chunks with embeddings (`chunks.rs`), what turns text into vectors
//! (`embedder.rs`), k-nearest-neighbour search (`search.rs`) and the derived HNSW index
//! (`index.rs`).

pub(crate) mod chunks;
pub(crate) mod embedder;
pub(crate) mod index;
pub(crate) mod search;
