//! Knowledge: text chunks with embeddings (`chunks.rs`), what turns text into vectors
//! (`embedder.rs`), search by vector, text or both (`search.rs`), the derived HNSW index
//! (`index.rs`) and the thread that keeps it up to date (`maintenance.rs`).

pub(crate) mod chunks;
pub(crate) mod embedder;
pub(crate) mod index;
pub(crate) mod maintenance;
pub(crate) mod search;
