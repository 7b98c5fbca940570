//! The signed envelope.

/// A serialized payload with the signature that authenticates it.
///
/// `payload` contains the exact bytes that were signed. A verifier checks these
/// bytes as received and hands them back for decoding, so no party re-encodes
/// a payload to check its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// Name of the payload's schema and encoding, e.g.
    /// `application/vnd.bank.deposit-attestation.v1+protobuf`. Covered by the signature.
    pub payload_type: String,
    /// Serialized payload, signed as is. May be empty.
    pub payload: Vec<u8>,
    /// Key id of the signing key, as returned by [`crate::VerifyingKey::key_id`].
    /// Not covered by the signature. It only selects the key to verify with, and a
    /// changed key id selects a key that the signature does not verify under.
    pub key_id: String,
    /// Ed25519 signature (64 bytes) over [`crate::pae`]`(payload_type, payload)`.
    pub signature: Vec<u8>,
}
