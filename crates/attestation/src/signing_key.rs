//! Ed25519 private keys, their PKCS#8 PEM form and signing.

use std::fmt;
use std::path::Path;

use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::spki::AlgorithmIdentifierRef;
use ed25519_dalek::pkcs8::spki::der::pem::{self, LineEnding};
use ed25519_dalek::pkcs8::{PrivateKeyInfo, SecretDocument};
use rand_core::OsRng;

use crate::Zeroizing;
use crate::envelope::Envelope;
use crate::error::KeyError;
use crate::key_file::{create_key_file, read_key_file};
use crate::pae::pae;
use crate::verifying_key::VerifyingKey;

/// PEM label of an unencrypted PKCS#8 private key (RFC 7468, section 10).
const PRIVATE_KEY_PEM_LABEL: &str = "PRIVATE KEY";

/// PEM label of an encrypted PKCS#8 private key (RFC 7468, section 11).
const ENCRYPTED_PRIVATE_KEY_PEM_LABEL: &str = "ENCRYPTED PRIVATE KEY";

/// Permission bits of a private key file written on Unix: owner read and write only.
const PRIVATE_KEY_FILE_MODE: u32 = 0o600;

/// DER header of the OCTET STRING that wraps the 32-byte Ed25519 seed inside
/// the PKCS#8 `privateKey` field (RFC 8410, section 7): tag 0x04, length 32.
const SEED_OCTET_STRING_HEADER: [u8; 2] = [0x04, 0x20];

/// Ed25519 private key that signs envelopes.
///
/// The key is wiped from memory on drop. Its `Debug` output shows only the key
/// id, and no method of this type logs.
pub struct SigningKey {
    inner: ed25519_dalek::SigningKey,
}

impl SigningKey {
    /// Generates a new key from the operating system's random number generator.
    pub fn generate() -> Self {
        Self {
            inner: ed25519_dalek::SigningKey::generate(&mut OsRng),
        }
    }

    /// Parses an unencrypted PKCS#8 Ed25519 private key in PEM form
    /// ("-----BEGIN PRIVATE KEY-----").
    ///
    /// Accepts PKCS#8 v1 and also v2 (RFC 5958), whose embedded public key
    /// must then match the private key. Encrypted keys are rejected.
    pub fn from_pkcs8_pem(pem_text: &str) -> Result<Self, KeyError> {
        let inner = decode_pkcs8_pem(pem_text)
            .map_err(|reason| KeyError::InvalidPrivateKey { path: None, reason })?;
        Ok(Self { inner })
    }

    /// Encodes the key as an unencrypted PKCS#8 v1 PEM document
    /// ("-----BEGIN PRIVATE KEY-----", LF line endings), the form that
    /// `openssl genpkey -algorithm ed25519` writes.
    ///
    /// The returned text is wiped from memory on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>, KeyError> {
        let encode_error = |error: ed25519_dalek::pkcs8::spki::der::Error| KeyError::Encode {
            reason: error.to_string(),
        };

        let mut private_key = Zeroizing::new([0u8; 34]);
        private_key[..2].copy_from_slice(&SEED_OCTET_STRING_HEADER);
        private_key[2..].copy_from_slice(self.inner.as_bytes());

        // Leaving out the public key makes this a v1 PrivateKeyInfo (RFC 5208).
        let private_key_info = PrivateKeyInfo {
            algorithm: ed25519_dalek::pkcs8::ALGORITHM_ID,
            private_key: &private_key[..],
            public_key: None,
        };
        let document = SecretDocument::encode_msg(&private_key_info).map_err(encode_error)?;
        document
            .to_pem(PRIVATE_KEY_PEM_LABEL, LineEnding::LF)
            .map_err(encode_error)
    }

    /// Reads a PKCS#8 PEM private key file, such as one written by
    /// [`SigningKey::write_pem_file`] or `openssl genpkey -algorithm ed25519`.
    ///
    /// NOTE: the file's permissions are not checked, so a key file that other
    /// users can read is accepted.
    pub fn read_pem_file(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = read_key_file(path)?;
        Self::from_pkcs8_pem(&text).map_err(|error| error.with_path(path))
    }

    /// Writes the key as a new PKCS#8 v1 PEM file with mode 0600 on Unix.
    ///
    /// Fails with [`KeyError::FileExists`] if anything already exists at
    /// `path`, so an existing key is never overwritten.
    pub fn write_pem_file(&self, path: impl AsRef<Path>) -> Result<(), KeyError> {
        let text = self.to_pkcs8_pem()?;
        create_key_file(path.as_ref(), text.as_bytes(), PRIVATE_KEY_FILE_MODE)
    }

    /// Returns the public half of the key.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::of_signing_key(&self.inner)
    }

    /// Returns the key id of the public half (see [`VerifyingKey::key_id`]).
    pub fn key_id(&self) -> String {
        self.verifying_key().key_id()
    }

    /// Signs [`pae`]`(payload_type, payload)` and returns the envelope with the
    /// payload, its type, this key's id and the signature.
    pub fn sign(&self, payload_type: &str, payload: impl Into<Vec<u8>>) -> Envelope {
        let payload = payload.into();
        let signature = self.inner.sign(&pae(payload_type, &payload));

        Envelope {
            payload_type: payload_type.to_string(),
            payload,
            key_id: self.key_id(),
            signature: signature.to_bytes().to_vec(),
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("SigningKey")
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// Decodes PKCS#8 PEM text into a key, or returns the reason it is not a usable key.
///
/// This follows the `ed25519` crate's PKCS#8 decoder but keeps the decoded
/// seed only in buffers that are wiped on drop. That decoder (ed25519 2.2) copies
/// the seed into a struct that is wiped only with the `ed25519/zeroize` feature,
/// which ed25519-dalek 2.2 does not turn on.
fn decode_pkcs8_pem(pem_text: &str) -> Result<ed25519_dalek::SigningKey, String> {
    let label = pem::decode_label(pem_text.as_bytes()).map_err(|error| format!("not PEM text ({error})"))?;
    if label == ENCRYPTED_PRIVATE_KEY_PEM_LABEL {
        return Err(
            "the key is encrypted. Decrypt it first, e.g. with `openssl pkey -in ENCRYPTED -out PLAIN`"
                .to_string(),
        );
    }
    if label != PRIVATE_KEY_PEM_LABEL {
        return Err(format!(
            "unexpected PEM label {label:?}, expected {PRIVATE_KEY_PEM_LABEL:?}"
        ));
    }

    let (_, document) = SecretDocument::from_pem(pem_text)
        .map_err(|error| format!("invalid PEM or DER encoding ({error})"))?;
    let private_key_info = PrivateKeyInfo::try_from(document.as_bytes())
        .map_err(|error| format!("invalid PKCS#8 structure ({error})"))?;

    check_ed25519_algorithm(&private_key_info.algorithm)?;

    let seed_bytes = private_key_info
        .private_key
        .strip_prefix(&SEED_OCTET_STRING_HEADER)
        .filter(|seed| seed.len() == ed25519_dalek::SECRET_KEY_LENGTH)
        .ok_or("the private key field is not a 32-byte Ed25519 seed")?;
    let mut seed = Zeroizing::new([0u8; ed25519_dalek::SECRET_KEY_LENGTH]);
    seed.copy_from_slice(seed_bytes);
    let signing_key = ed25519_dalek::SigningKey::from_bytes(&seed);

    if let Some(embedded_public_key) = private_key_info.public_key
        && embedded_public_key != signing_key.verifying_key().as_bytes()
    {
        return Err("the embedded public key does not match the private key".to_string());
    }
    Ok(signing_key)
}

fn check_ed25519_algorithm(algorithm: &AlgorithmIdentifierRef<'_>) -> Result<(), String> {
    if algorithm.oid != ed25519_dalek::pkcs8::ALGORITHM_OID {
        return Err(format!(
            "not an Ed25519 key (algorithm OID {}, expected {})",
            algorithm.oid,
            ed25519_dalek::pkcs8::ALGORITHM_OID
        ));
    }
    // RFC 8410, section 3: the parameters of the Ed25519 algorithm identifier must be absent.
    if algorithm.parameters.is_some() {
        return Err("the Ed25519 algorithm identifier has parameters, which must be absent".to_string());
    }
    Ok(())
}
