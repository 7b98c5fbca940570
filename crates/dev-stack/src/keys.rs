//! The data folder and the keys in it: deposit-status's attestation key,
//! withdrawal-authorization's release key and one key per demo staff member.
//! Each is generated once and reused on every later start.

use std::path::{Path, PathBuf};

use attestation::SigningKey;

/// Files of one data folder.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
    pub fn new(root: &Path) -> DataDir {
        DataDir {
            root: root.to_path_buf(),
        }
    }

    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }

    /// Private key file of `name`; its public half is the same path plus
    /// ".pub".
    pub fn key_file(&self, name: &str) -> PathBuf {
        self.keys().join(format!("{name}.pem"))
    }

    pub fn public_key_file(&self, name: &str) -> PathBuf {
        self.keys().join(format!("{name}.pem.pub"))
    }

    pub fn deposit_database(&self) -> PathBuf {
        self.root.join("deposit-status.db")
    }

    pub fn authorization_database(&self) -> PathBuf {
        self.root.join("withdrawal-authorization.db")
    }

    /// True when both databases exist, so this start reuses earlier data.
    pub fn has_data(&self) -> bool {
        self.deposit_database().exists() && self.authorization_database().exists()
    }
}

/// Failure to prepare the data folder.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("cannot create {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] attestation::KeyError),
}

/// Reads the key `name` from the data folder, or generates and writes it
/// (PATH mode 0600 and PATH.pub) when it does not exist yet. Returns the key
/// and whether it was generated now.
pub fn ensure_key(data_dir: &DataDir, name: &str) -> Result<(SigningKey, bool), KeysError> {
    let directory = data_dir.keys();
    std::fs::create_dir_all(&directory).map_err(|source| KeysError::CreateDir {
        path: directory.display().to_string(),
        source,
    })?;
    let private = data_dir.key_file(name);
    let public = data_dir.public_key_file(name);
    let (key, generated) = if private.exists() {
        (SigningKey::read_pem_file(&private)?, false)
    } else {
        let key = SigningKey::generate();
        key.write_pem_file(&private)?;
        (key, true)
    };
    if !public.exists() {
        key.verifying_key().write_pem_file(&public)?;
    }
    Ok((key, generated))
}
