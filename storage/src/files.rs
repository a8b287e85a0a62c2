//! Writing a new file whole or not at all: backups and exports.
//!
//! The content goes to a temporary file of its own beside `path`
//! (`<path>.<process>-<n>.partial`, unique to the call); only once the writer has made it
//! durable is it published at `path` without replacing anything (a hard link, which fails
//! if `path` exists, then the temporary name is removed), and the folder is synced. So
//! `path` never holds half a file, an existing `path` is never overwritten, two calls
//! writing the same `path` at once never see or remove each other's temporary file (one
//! publishes, the other is refused), and a failed call removes only its own temporary
//! file. A process killed while writing leaves its temporary file behind: nothing reads
//! it, and it can be deleted by hand.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StorageError;

/// Numbers the temporary files of this process.
static NEXT_PARTIAL: AtomicU64 = AtomicU64::new(0);

/// Calls `write` with the temporary path to fill, then publishes it at `path`. `write`
/// must make its content durable (`fsync` it, or commit it durably) before it returns
/// `Ok`.
pub fn write_new<R, E: From<StorageError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<R, E>,
) -> Result<R, E> {
    let io = |action, source| StorageError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    let exists = || {
        io(
            "will not overwrite",
            std::io::ErrorKind::AlreadyExists.into(),
        )
    };
    if path.exists() {
        return Err(exists().into());
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(
        ".{}-{}.partial",
        std::process::id(),
        NEXT_PARTIAL.fetch_add(1, Ordering::Relaxed)
    ));
    let partial = PathBuf::from(partial);
    let written = write(&partial).and_then(|r| {
        publish(&partial, path).map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => exists(),
            _ => io("cannot publish a finished copy as", e),
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("cannot sync the folder of", e))?;
        }
        Ok(r)
    });
    // Published or not, the temporary name is this call's own to remove.
    let _ = std::fs::remove_file(&partial);
    written
}

/// Gives `partial`'s content the name `path` unless `path` exists: a hard link, which
/// the file system refuses atomically when `path` exists. Where links are not supported,
/// a rename after a check (a narrow race, on such file systems only).
fn publish(partial: &Path, path: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(partial, path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if path.exists() => Err(std::io::ErrorKind::AlreadyExists.into()),
        Err(_) => std::fs::rename(partial, path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let fail = write_new(&path, |partial| {
            std::fs::write(partial, b"half").unwrap();
            Err::<(), _>(StorageError::Corrupt("stopped".into()))
        });
        assert!(fail.is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_new(&path, |partial| {
            std::fs::write(partial, b"whole").map_err(|e| StorageError::Corrupt(e.to_string()))
        })
        .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        let again = write_new(&path, |_| Ok::<_, StorageError>(()));
        assert!(
            again
                .unwrap_err()
                .to_string()
                .contains("will not overwrite")
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn concurrent_writers_of_one_path_publish_one_file_and_leave_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copy");
        let barrier = std::sync::Barrier::new(8);
        let outcomes: Vec<Result<u8, StorageError>> = std::thread::scope(|s| {
            let writers: Vec<_> = (0..8u8)
                .map(|i| {
                    let (path, barrier) = (&path, &barrier);
                    s.spawn(move || {
                        write_new(path, |partial| {
                            std::fs::write(partial, vec![i; 1 << 16])
                                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
                            barrier.wait();
                            Ok(i)
                        })
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let won: Vec<u8> = outcomes
            .iter()
            .filter_map(|o| o.as_ref().ok().copied())
            .collect();
        assert_eq!(won.len(), 1, "{outcomes:?}");
        for lost in outcomes.iter().filter_map(|o| o.as_ref().err()) {
            assert!(lost.to_string().contains("will not overwrite"), "{lost}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), vec![won[0]; 1 << 16]);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    #[test]
    fn another_calls_temporary_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copy");
        let theirs = dir.path().join("copy.partial");
        std::fs::write(&theirs, b"someone else's").unwrap();
        write_new(&path, |partial| {
            assert_ne!(partial, theirs);
            std::fs::write(partial, b"mine").map_err(|e| StorageError::Corrupt(e.to_string()))
        })
        .unwrap();
        assert_eq!(std::fs::read(&theirs).unwrap(), b"someone else's");
        assert_eq!(std::fs::read(&path).unwrap(), b"mine");
    }
}
