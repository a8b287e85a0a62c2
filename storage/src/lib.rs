//! `one-storage`: the ordered, transactional key-value layer under ONE.
//!
//! It knows bytes, not things. A [`Store`] is one ordered keyspace on one of two backends:
//! a redb database (a file, or memory for tests), the embedded default, or (feature
//! `postgres`) a table on a PostgreSQL server that several processes share. [`ReadTx`] is
//! a snapshot, [`WriteTx`] lives inside [`Store::write`] and commits all of its writes or
//! none. [`keys`] encodes tuples so that
//! byte order equals tuple order, which is what makes prefix and range scans meaningful.
//! [`vectors`] is the approximate nearest-neighbour index (HNSW) the engine derives from
//! stored vectors.
//!
//! ```
//! use one_storage::{Direction, KeyRange, KvRead, Store, StoreOptions, StorageError};
//! use one_storage::keys::KeyBuf;
//! use std::ops::ControlFlow;
//!
//! let store = Store::in_memory(&StoreOptions::default())?;
//! store.write(|tx| {
//!     for n in [3u64, 1, 2] {
//!         tx.put(KeyBuf::new().str("tenant-a").u64(n).finish(), *b"v")?;
//!     }
//!     Ok::<_, StorageError>(())
//! })?;
//! let read = store.read()?;
//! let mut seen = Vec::new();
//! let prefix = KeyBuf::new().str("tenant-a").finish();
//! read.scan(&KeyRange::prefix(&prefix), Direction::Reverse, |k, _| {
//!     seen.push(k[k.len() - 1]);
//!     Ok::<_, StorageError>(ControlFlow::Continue(()))
//! })?;
//! assert_eq!(seen, [3, 2, 1]);
//! assert_eq!(read.seq()?, 1);
//! # Ok::<(), StorageError>(())
//! ```

#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

mod embedded;
mod error;
pub mod files;
pub mod keys;
mod kv;
mod log;
#[cfg(feature = "postgres")]
mod postgres;
mod store;
pub mod vectors;
mod write;

pub use error::StorageError;
pub use kv::{Direction, Flow, KeyRange, KvRead};
pub use log::path_of as log_path;
#[cfg(feature = "postgres")]
pub use store::test_server;
pub use store::{CommitListener, Durability, ReadTx, Store, StoreOptions, WritePlan};
pub use write::WriteTx;
