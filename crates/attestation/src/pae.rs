//! DSSE v1 pre-authentication encoding.

/// Tag that starts every encoding, so that a DSSE v1 message cannot be
/// mistaken for a message of another protocol or version.
const PAE_TAG: &[u8] = b"DSSEv1";

/// Encodes `payload_type` and `payload` into the message that is signed and verified.
///
/// The layout is the pre-authentication encoding of DSSE v1
/// (<https://github.com/secure-systems-lab/dsse/blob/master/protocol.md>):
/// `"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, where SP is one
/// 0x20 byte and LEN is the byte length in ASCII decimal with no leading zeros.
/// Because both lengths are part of the message, a signature over one payload
/// type does not verify for another type or for another split of the same bytes.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let type_length = payload_type.len().to_string();
    let payload_length = payload.len().to_string();

    let capacity =
        PAE_TAG.len() + type_length.len() + payload_type.len() + payload_length.len() + payload.len() + 4;
    let mut encoded = Vec::with_capacity(capacity);

    encoded.extend_from_slice(PAE_TAG);
    encoded.push(b' ');
    encoded.extend_from_slice(type_length.as_bytes());
    encoded.push(b' ');
    encoded.extend_from_slice(payload_type.as_bytes());
    encoded.push(b' ');
    encoded.extend_from_slice(payload_length.as_bytes());
    encoded.push(b' ');
    encoded.extend_from_slice(payload);
    encoded
}

#[cfg(test)]
mod tests {
    use super::pae;

    #[test]
    fn pae_matches_dsse_spec_example() {
        // Test vector from the "Test Vectors" section of DSSE protocol.md v1.0.0.
        let encoded = pae("http://example.com/HelloWorld", b"hello world");

        assert_eq!(
            encoded,
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn pae_layout_byte_for_byte() {
        let payload = [0x00, b' ', 0xff, b'\n', b'1', b'2'];

        let encoded = pae("t y", &payload);

        let mut expected = Vec::new();
        expected.extend_from_slice(&[0x44, 0x53, 0x53, 0x45, 0x76, 0x31]); // "DSSEv1"
        expected.push(0x20);
        expected.push(b'3'); // LEN("t y")
        expected.push(0x20);
        expected.extend_from_slice(b"t y");
        expected.push(0x20);
        expected.push(b'6'); // LEN(payload)
        expected.push(0x20);
        expected.extend_from_slice(&payload);
        assert_eq!(encoded, expected);
    }

    #[test]
    fn pae_empty_type_and_payload() {
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn pae_multi_digit_lengths() {
        let payload = vec![b'x'; 1234];
        let payload_type = "a".repeat(10);

        let encoded = pae(&payload_type, &payload);

        let prefix = b"DSSEv1 10 aaaaaaaaaa 1234 ";
        assert_eq!(&encoded[..prefix.len()], prefix);
        assert_eq!(&encoded[prefix.len()..], &payload[..]);
    }

    #[test]
    fn pae_length_of_multibyte_type_counts_bytes() {
        // "é" is two bytes in UTF-8, so LEN is 2, not the character count 1.
        assert_eq!(pae("é", b""), "DSSEv1 2 é 0 ".as_bytes().to_vec());
    }

    #[test]
    fn pae_distinguishes_type_payload_split() {
        // The same concatenated bytes split differently must encode differently.
        assert_ne!(pae("a b", b"c"), pae("a", b"b c"));
        assert_ne!(pae("ab", b""), pae("a", b"b"));
    }
}
