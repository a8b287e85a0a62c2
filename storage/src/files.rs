//! Writing a new file whole or not at all: backups and exports.
//!
//! The content goes to `<path>.partial`; only once the writer has made it durable is it
//! renamed to `path` (and the folder synced), so `path` never holds half a file. An
//! existing `path` is never overwritten, and a failed write leaves nothing behind.

use std::path::{Path, PathBuf};

use crate::StorageError;

/// Calls `write` with the temporary path to fill, then renames it to `path`. `write` must
/// make its content durable (`fsync` it, or commit it durably) before it returns `Ok`.
pub fn write_new<R, E: From<StorageError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<R, E>,
) -> Result<R, E> {
    let io = |action, source| StorageError::Io {
        action,
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        let exists = std::io::Error::from(std::io::ErrorKind::AlreadyExists);
        return Err(io("will not overwrite", exists).into());
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    match std::fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("cannot remove a stale partial copy of", e).into()),
    }
    let written = write(&partial).and_then(|r| {
        std::fs::rename(&partial, path).map_err(|e| io("cannot rename a finished copy to", e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("cannot sync the folder of", e))?;
        }
        Ok(r)
    });
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    written
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
    }
}
