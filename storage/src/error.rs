//! The storage error type: what can go wrong below the domain.

/// An error from the key-value layer.
///
/// Every variant is a condition the caller can act on: `Poisoned` means the store must be
/// reopened, `Corrupt` that stored bytes failed a check, `Backend` that redb itself
/// reported a failure (I/O, a full disk, a lock held by another process).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A commit (or the abort of a transaction) failed; redb refuses further writes on this
    /// handle, so the store does too. Close it and open the file again.
    #[error("the store refuses writes after a failed commit; reopen it")]
    Poisoned,
    /// `write` was called from inside another write transaction's closure on the same
    /// thread, which would wait for itself forever. Do the work in the outer transaction.
    #[error("a write transaction was started inside another one on the same thread")]
    NestedWrite,
    /// The store was opened read-only ([`crate::Store::open_read_only`]); nothing was
    /// written.
    #[error("the database is open read-only; nothing was written")]
    ReadOnly,
    /// The database file is already open, in this process or another.
    #[error("the database file is already open by another handle")]
    AlreadyOpen,
    /// Stored bytes did not have the expected shape.
    #[error("corrupt storage: {0}")]
    Corrupt(String),
    /// redb reported an error.
    #[error("storage backend: {0}")]
    Backend(#[from] redb::Error),
    /// A file operation around the database failed (writing a backup).
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done (`"cannot create"`, …).
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The file at `path` is not a database file (another kind of file, or empty of any
    /// database header).
    #[error("{} is not a database file", path.display())]
    NotADatabase {
        /// The file.
        path: std::path::PathBuf,
    },
    /// The database file at `path` is damaged: its header or structure cannot be read.
    #[error("the database file {} is damaged: {reason}", path.display())]
    Damaged {
        /// The file.
        path: std::path::PathBuf,
        /// What the storage engine found.
        reason: String,
    },
    /// The database server cannot be reached, or the connection to it was lost (it was
    /// restarted, the network failed, an answer took too long). The transaction was not
    /// committed, unless the connection was lost while its commit was under way, whose
    /// outcome is then unknown. The next transaction connects again.
    #[error("the database server is unavailable: {reason}")]
    Unavailable {
        /// What the connection attempt or the server said.
        reason: String,
    },
    /// The transaction conflicted with concurrent ones (other processes writing to the
    /// same database) `attempts` times in a row. Nothing was committed; trying again
    /// later may succeed.
    #[error(
        "the transaction conflicted with concurrent ones {attempts} time(s); nothing was committed"
    )]
    Conflict {
        /// How many times the transaction was begun.
        attempts: u32,
    },
    /// The database server refused a statement (a full disk, a missing privilege, …).
    #[error("the database server refused: {reason}")]
    Server {
        /// The server's message and SQLSTATE code.
        reason: String,
    },
    /// A key failed to decode with the order-preserving key codec.
    #[error("malformed key: {0}")]
    Key(#[from] crate::keys::KeyError),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StorageError {
            fn from(e: $t) -> Self {
                StorageError::Backend(redb::Error::from(e))
            }
        }
    )*};
}

from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<redb::DatabaseError> for StorageError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StorageError::AlreadyOpen,
            other => StorageError::Backend(redb::Error::from(other)),
        }
    }
}

impl StorageError {
    /// What opening (or creating) the database file at `path` failed with, said about
    /// that file: a file-system failure names the path ([`StorageError::Io`]), a file of
    /// another kind is [`StorageError::NotADatabase`], a damaged one
    /// [`StorageError::Damaged`].
    pub(crate) fn opening(
        path: &std::path::Path,
        action: &'static str,
        e: redb::DatabaseError,
    ) -> Self {
        match redb::Error::from(e) {
            redb::Error::Io(io)
                if io.kind() == std::io::ErrorKind::InvalidData
                    && io.to_string().contains("Not a redb database") =>
            {
                StorageError::NotADatabase {
                    path: path.to_path_buf(),
                }
            }
            redb::Error::Io(source) => StorageError::Io {
                action,
                path: path.to_path_buf(),
                source,
            },
            redb::Error::Corrupted(reason) => StorageError::Damaged {
                path: path.to_path_buf(),
                reason,
            },
            redb::Error::DatabaseAlreadyOpen => StorageError::AlreadyOpen,
            other => StorageError::Backend(other),
        }
    }
}

// How a storage error reads as the engine's error. It lives here because Rust allows a
// conversion only beside one of its two types, and the vocabulary must know nothing of
// storage; so this crate knows the engine's error type, and nothing else of it.
use one_vocabulary::Error;

impl From<StorageError> for Error {
    /// A file operation's failure is [`Error::Io`] whichever layer met it.
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io {
                action,
                path,
                source,
            } => Error::Io {
                action,
                path,
                source,
            },
            StorageError::NotADatabase { path } => Error::NotADatabase { path },
            StorageError::Damaged { path, reason } => Error::Corrupt {
                what: "database file",
                reason: format!("{}: {reason}", path.display()),
            },
            StorageError::Poisoned => Error::Poisoned,
            StorageError::AlreadyOpen => Error::AlreadyOpen,
            StorageError::NestedWrite => Error::NestedWrite,
            StorageError::ReadOnly => Error::ReadOnly,
            StorageError::Unavailable { reason } => Error::Unavailable { reason },
            StorageError::Conflict { attempts } => Error::Conflict { attempts },
            other => Error::Storage {
                source: Box::new(other),
            },
        }
    }
}

impl From<crate::keys::KeyError> for Error {
    fn from(e: crate::keys::KeyError) -> Self {
        Error::Corrupt {
            what: "key",
            reason: e.to_string(),
        }
    }
}
