//! Reading and creating PEM key files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;

use crate::Zeroizing;
use crate::error::KeyError;

/// Maximum size in bytes of a key file that [`crate::SigningKey::read_pem_file`]
/// and [`crate::VerifyingKey::read_pem_file`] accept. A PEM Ed25519 key is
/// under 200 bytes, so a larger file is almost certainly the wrong path.
pub const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Reads a whole key file as UTF-8 into a buffer that is wiped on drop.
pub(crate) fn read_key_file(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    let read_error = |source: io::Error| KeyError::ReadFile {
        path: path.to_path_buf(),
        source,
    };

    let file = File::open(path).map_err(read_error)?;

    // Reserving the maximum up front keeps the buffer from reallocating, which
    // would leave unwiped copies of the key text on the heap.
    let mut text = Zeroizing::new(String::with_capacity(MAX_KEY_FILE_BYTES as usize + 1));
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(read_error)?;

    if text.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(KeyError::FileTooLarge {
            path: path.to_path_buf(),
            max_bytes: MAX_KEY_FILE_BYTES,
        });
    }
    Ok(text)
}

/// Creates a new key file containing `contents`, failing if the path already exists.
///
/// On Unix the file gets exactly the permission bits `unix_mode`, whatever the
/// umask. The file is created with those bits, so it is never readable more
/// widely, even for a moment. On other systems `unix_mode` is ignored and the
/// file gets the default permissions. If writing fails, the new file is removed
/// so that a retry is not blocked by a partial key file.
pub(crate) fn create_key_file(path: &Path, contents: &[u8], unix_mode: u32) -> Result<(), KeyError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(unix_mode);
    }
    #[cfg(not(unix))]
    let _ = unix_mode;

    // `create_new` fails if anything, a symbolic link included, already exists at
    // `path`, and the check and the creation are one atomic step.
    let file = match options.open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyError::FileExists {
                path: path.to_path_buf(),
            });
        }
        Err(source) => {
            return Err(KeyError::WriteFile {
                path: path.to_path_buf(),
                source,
            });
        }
    };

    if let Err(source) = write_and_sync(file, contents, unix_mode) {
        // Best effort: the write error is the one worth reporting, and the file
        // is ours because `create_new` just created it.
        let _ = fs::remove_file(path);
        return Err(KeyError::WriteFile {
            path: path.to_path_buf(),
            source,
        });
    }
    Ok(())
}

fn write_and_sync(mut file: File, contents: &[u8], unix_mode: u32) -> io::Result<()> {
    // The umask may have cleared bits of the mode passed to `open`, so set it again.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(unix_mode))?;
    }
    #[cfg(not(unix))]
    let _ = unix_mode;

    file.write_all(contents)?;
    file.sync_all()
}
