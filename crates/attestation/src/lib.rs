//! Signed envelopes for the deposit-status and withdrawal-authorization services.
//!
//! Attestations, release orders and staff signatures (teller as maker, supervisor
//! as checker) travel as an [`Envelope`]: the serialized payload bytes, the
//! payload type, the signer's key id and an Ed25519 signature. The signature
//! covers the DSSE v1 pre-authentication encoding of payload type and payload
//! (see [`pae`]), so a signature made for one payload type never verifies as
//! another. The crate treats payloads as opaque bytes and does not depend on gRPC
//! or protobuf.
//!
//! Invariants:
//! - Verifiers check the exact bytes they received. [`Keyring::verify`] and
//!   [`verify_with_key`] return the verified payload bytes, and callers decode
//!   those bytes only after verification and never re-encode a payload to check it.
//! - A key id is derived from the public key (see [`VerifyingKey::key_id`]), so a
//!   key id names exactly one key.
//! - No secret key is ever logged or printed by `Debug`. The `Debug` output of
//!   [`SigningKey`] shows only its key id, and PEM text of a private key is
//!   returned in a [`Zeroizing`] buffer that is wiped on drop.
//! - No input panics: malformed PEM, short or long signatures, empty payloads
//!   and oversized key files all return errors.
#![forbid(unsafe_code)]

mod envelope;
mod error;
mod key_file;
mod keyring;
mod pae;
mod signing_key;
mod verify;
mod verifying_key;

pub use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;

pub use envelope::Envelope;
pub use error::{KeyError, KeyringError, VerifyError};
pub use key_file::MAX_KEY_FILE_BYTES;
pub use keyring::{Keyring, KeyringEntry};
pub use pae::pae;
pub use signing_key::SigningKey;
pub use verify::verify_with_key;
pub use verifying_key::{KEY_ID_PREFIX, SIGNATURE_LENGTH, VerifyingKey, is_well_formed_key_id};
