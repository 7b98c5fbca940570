//! PEM encoding of keys and key files on disk.

use std::fs;

use attestation::{KeyError, MAX_KEY_FILE_BYTES, SigningKey, VerifyingKey, verify_with_key};
use ed25519_dalek::pkcs8::spki::AlgorithmIdentifierRef;
use ed25519_dalek::pkcs8::{ObjectIdentifier, PrivateKeyInfo, SecretDocument};

const PAYLOAD_TYPE: &str = "application/vnd.bank.staff-signature.v1+protobuf";

/// Ed25519 private key example of RFC 8410, section 10.3.
const RFC8410_PRIVATE_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC
-----END PRIVATE KEY-----
";

/// Ed25519 public key example of RFC 8410, section 10.1, which is the public
/// half of [`RFC8410_PRIVATE_KEY_PEM`] (checked with `openssl pkey -pubout`).
const RFC8410_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=
-----END PUBLIC KEY-----
";

/// Returns the DER bytes of `key`'s PKCS#8 encoding.
fn pkcs8_der(key: &SigningKey) -> Vec<u8> {
    let pem = key.to_pkcs8_pem().unwrap();
    let (label, document) = SecretDocument::from_pem(&pem).unwrap();
    assert_eq!(label, "PRIVATE KEY");
    document.as_bytes().to_vec()
}

/// Encodes a PKCS#8 private key with the given fields as PEM text.
fn encode_private_key_info(oid: ObjectIdentifier, private_key: &[u8], public_key: Option<&[u8]>) -> String {
    let private_key_info = PrivateKeyInfo {
        algorithm: AlgorithmIdentifierRef {
            oid,
            parameters: None,
        },
        private_key,
        public_key,
    };
    let document = SecretDocument::encode_msg(&private_key_info).unwrap();
    document
        .to_pem(
            "PRIVATE KEY",
            ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF,
        )
        .unwrap()
        .to_string()
}

fn assert_invalid_private_key(pem: &str, expected_reason: &str) {
    match SigningKey::from_pkcs8_pem(pem) {
        Err(KeyError::InvalidPrivateKey { path: None, reason }) => {
            assert!(
                reason.contains(expected_reason),
                "reason {reason:?} should contain {expected_reason:?} for input {pem:?}"
            );
        }
        other => panic!("expected InvalidPrivateKey for input {pem:?}, got {other:?}"),
    }
}

fn assert_invalid_public_key(pem: &str, expected_reason: &str) {
    match VerifyingKey::from_public_key_pem(pem) {
        Err(KeyError::InvalidPublicKey { path: None, reason }) => {
            assert!(
                reason.contains(expected_reason),
                "reason {reason:?} should contain {expected_reason:?} for input {pem:?}"
            );
        }
        other => panic!("expected InvalidPublicKey for input {pem:?}, got {other:?}"),
    }
}

#[test]
fn private_key_pem_file_round_trip() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("signer.pem");
    let original = SigningKey::generate();

    original.write_pem_file(&path).unwrap();
    let loaded = SigningKey::read_pem_file(&path).unwrap();

    assert_eq!(loaded.key_id(), original.key_id());
    assert_eq!(loaded.verifying_key(), original.verifying_key());
    let envelope = loaded.sign(PAYLOAD_TYPE, b"signed after reload".to_vec());
    assert_eq!(
        verify_with_key(&original.verifying_key(), &envelope, PAYLOAD_TYPE),
        Ok(b"signed after reload".as_slice())
    );
    assert_eq!(
        envelope,
        original.sign(PAYLOAD_TYPE, b"signed after reload".to_vec())
    );
}

#[test]
fn public_key_pem_file_round_trip() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("signer.pub.pem");
    let signing_key = SigningKey::generate();

    signing_key.verifying_key().write_pem_file(&path).unwrap();
    let loaded = VerifyingKey::read_pem_file(&path).unwrap();

    assert_eq!(loaded, signing_key.verifying_key());
    assert_eq!(loaded.key_id(), signing_key.key_id());
}

#[test]
fn private_key_pem_text_round_trip() {
    let key = SigningKey::generate();

    let pem = key.to_pkcs8_pem().unwrap();
    let parsed = SigningKey::from_pkcs8_pem(&pem).unwrap();

    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "label");
    assert!(pem.ends_with("-----END PRIVATE KEY-----\n"), "trailer");
    assert_eq!(parsed.key_id(), key.key_id());
}

#[test]
fn private_key_pem_is_pkcs8_v1() {
    let key = SigningKey::generate();

    let der = pkcs8_der(&key);

    // RFC 8410, section 7: SEQUENCE { INTEGER 0 (v1), SEQUENCE { OID 1.3.101.112 },
    // OCTET STRING { OCTET STRING (32 bytes) } }, 48 bytes in total.
    let expected_prefix = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
    ];
    assert_eq!(der.len(), 48);
    assert_eq!(der[..16], expected_prefix);
    let private_key_info = PrivateKeyInfo::try_from(der.as_slice()).unwrap();
    assert!(private_key_info.public_key.is_none());
}

#[test]
fn public_key_pem_text_round_trip() {
    let key = SigningKey::generate().verifying_key();

    let pem = key.to_public_key_pem().unwrap();
    let parsed = VerifyingKey::from_public_key_pem(&pem).unwrap();

    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"), "{pem}");
    assert_eq!(parsed, key);
}

#[test]
fn raw_public_key_round_trip() {
    let key = SigningKey::generate().verifying_key();

    let bytes = key.to_bytes();
    let parsed = VerifyingKey::from_bytes(&bytes).unwrap();

    assert_eq!(bytes.len(), 32);
    assert_eq!(parsed, key);
}

#[test]
fn rfc8410_example_keys_parse_and_match() {
    let private_key = SigningKey::from_pkcs8_pem(RFC8410_PRIVATE_KEY_PEM).unwrap();
    let public_key = VerifyingKey::from_public_key_pem(RFC8410_PUBLIC_KEY_PEM).unwrap();

    assert_eq!(private_key.verifying_key(), public_key);
    assert_eq!(
        hex::encode(public_key.to_bytes()),
        "19bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
    );
    assert_eq!(
        private_key.to_pkcs8_pem().unwrap().as_str(),
        RFC8410_PRIVATE_KEY_PEM
    );
    assert_eq!(public_key.to_public_key_pem().unwrap(), RFC8410_PUBLIC_KEY_PEM);
}

#[test]
fn pkcs8_v2_with_matching_public_key_accepted() {
    let key = SigningKey::generate();
    let der = pkcs8_der(&key);
    let public_key = key.verifying_key().to_bytes();

    let pem = encode_private_key_info(ed25519_dalek::pkcs8::ALGORITHM_OID, &der[14..], Some(&public_key));
    let parsed = SigningKey::from_pkcs8_pem(&pem).unwrap();

    assert_eq!(parsed.key_id(), key.key_id());
}

#[test]
fn pkcs8_v2_with_other_public_key_rejected() {
    let key = SigningKey::generate();
    let der = pkcs8_der(&key);
    let other_public_key = SigningKey::generate().verifying_key().to_bytes();

    let pem = encode_private_key_info(
        ed25519_dalek::pkcs8::ALGORITHM_OID,
        &der[14..],
        Some(&other_public_key),
    );

    assert_invalid_private_key(&pem, "embedded public key does not match");
}

#[test]
fn non_ed25519_private_key_rejected() {
    let key = SigningKey::generate();
    let der = pkcs8_der(&key);
    let x25519 = ObjectIdentifier::new_unwrap("1.3.101.110");

    let pem = encode_private_key_info(x25519, &der[14..], None);

    assert_invalid_private_key(&pem, "not an Ed25519 key (algorithm OID 1.3.101.110");
}

#[test]
fn short_private_key_field_rejected() {
    let pem = encode_private_key_info(ed25519_dalek::pkcs8::ALGORITHM_OID, &[0x04, 0x1f, 0x00], None);

    assert_invalid_private_key(&pem, "not a 32-byte Ed25519 seed");
}

#[test]
fn malformed_private_key_pem_gives_key_error() {
    let valid = SigningKey::generate().to_pkcs8_pem().unwrap();
    let truncated = &valid[..valid.len() / 2];
    let body_cut = valid.replacen("MC4CAQAw", "MC4C", 1);
    let cases: [(&str, &str); 9] = [
        ("", "not PEM text"),
        ("not a key", "not PEM text"),
        ("-----BEGIN PRIVATE KEY-----\n", "not PEM text"),
        (
            "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            "invalid PEM or DER encoding",
        ),
        (
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "invalid PEM or DER encoding",
        ),
        // SEQUENCE { INTEGER 0 }: valid DER, but not a PrivateKeyInfo.
        (
            "-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n",
            "invalid PKCS#8 structure",
        ),
        (truncated, "not PEM text"),
        (&body_cut, "invalid P"),
        (RFC8410_PUBLIC_KEY_PEM, "unexpected PEM label \"PUBLIC KEY\""),
    ];

    for (input, expected_reason) in cases {
        assert_invalid_private_key(input, expected_reason);
    }
}

#[test]
fn encrypted_private_key_rejected_with_hint() {
    let pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";

    assert_invalid_private_key(pem, "the key is encrypted. Decrypt it first");
}

#[test]
fn malformed_public_key_pem_gives_key_error() {
    let cases = [
        ("", "not PEM text"),
        (RFC8410_PRIVATE_KEY_PEM, "unexpected PEM label \"PRIVATE KEY\""),
        (
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
            "not an Ed25519 public key",
        ),
    ];

    for (input, expected_reason) in cases {
        assert_invalid_public_key(input, expected_reason);
    }
}

#[test]
fn raw_public_key_errors() {
    let wrong_length = VerifyingKey::from_bytes(&[7; 33]).unwrap_err();
    assert!(
        wrong_length.to_string().contains("expected 32 bytes, got 33"),
        "{wrong_length}"
    );

    // y = 2 has no x on the curve, so these bytes do not decompress to a point.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    let error = VerifyingKey::from_bytes(&not_a_point).unwrap_err();
    assert!(error.to_string().contains("not a point"), "{error}");
}

#[test]
fn write_refuses_to_overwrite_key_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("signer.pem");
    let first = SigningKey::generate();
    let second = SigningKey::generate();
    first.write_pem_file(&path).unwrap();

    let result = second.write_pem_file(&path);

    match result {
        Err(KeyError::FileExists { path: reported }) => assert_eq!(reported, path),
        other => panic!("expected FileExists, got {other:?}"),
    }
    assert_eq!(SigningKey::read_pem_file(&path).unwrap().key_id(), first.key_id());
}

#[test]
fn write_refuses_to_overwrite_other_file() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("notes.txt");
    fs::write(&path, "keep me").unwrap();

    let private_result = SigningKey::generate().write_pem_file(&path);
    let public_result = SigningKey::generate().verifying_key().write_pem_file(&path);

    assert!(
        matches!(private_result, Err(KeyError::FileExists { .. })),
        "{private_result:?}"
    );
    assert!(
        matches!(public_result, Err(KeyError::FileExists { .. })),
        "{public_result:?}"
    );
    assert_eq!(fs::read_to_string(&path).unwrap(), "keep me");
}

#[test]
fn file_exists_message_says_what_to_do() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("signer.pem");
    SigningKey::generate().write_pem_file(&path).unwrap();

    let message = SigningKey::generate()
        .write_pem_file(&path)
        .unwrap_err()
        .to_string();

    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("never overwritten"), "{message}");
    assert!(message.contains("Move or delete the old file"), "{message}");
}

#[cfg(unix)]
#[test]
fn private_key_file_mode_is_0600() {
    use std::os::unix::fs::PermissionsExt;

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("signer.pem");

    SigningKey::generate().write_pem_file(&path).unwrap();

    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
}

#[cfg(unix)]
#[test]
fn public_key_file_mode_is_0644() {
    use std::os::unix::fs::PermissionsExt;

    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("signer.pub.pem");

    SigningKey::generate()
        .verifying_key()
        .write_pem_file(&path)
        .unwrap();

    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "mode {mode:o}");
}

#[test]
fn write_into_missing_directory_fails() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("missing").join("signer.pem");

    let result = SigningKey::generate().write_pem_file(&path);

    match result {
        Err(KeyError::WriteFile { path: reported, .. }) => assert_eq!(reported, path),
        other => panic!("expected WriteFile, got {other:?}"),
    }
}

#[test]
fn read_missing_file_names_path() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("absent.pem");

    let error = SigningKey::read_pem_file(&path).unwrap_err();

    assert!(matches!(error, KeyError::ReadFile { .. }), "{error:?}");
    assert!(error.to_string().contains(&path.display().to_string()), "{error}");
}

#[test]
fn read_oversized_file_rejected() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("huge.pem");
    fs::write(&path, vec![b'A'; MAX_KEY_FILE_BYTES as usize + 1]).unwrap();

    let private_error = SigningKey::read_pem_file(&path).unwrap_err();
    let public_error = VerifyingKey::read_pem_file(&path).unwrap_err();

    for error in [private_error, public_error] {
        match error {
            KeyError::FileTooLarge {
                path: reported,
                max_bytes,
            } => {
                assert_eq!(reported, path);
                assert_eq!(max_bytes, MAX_KEY_FILE_BYTES);
            }
            other => panic!("expected FileTooLarge, got {other:?}"),
        }
    }
}

#[test]
fn read_non_utf8_file_fails() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("binary.der");
    fs::write(&path, [0xff, 0xfe, 0x00, 0x80]).unwrap();

    let error = SigningKey::read_pem_file(&path).unwrap_err();

    assert!(matches!(error, KeyError::ReadFile { .. }), "{error:?}");
}

#[test]
fn invalid_key_file_error_names_path() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().join("broken.pem");
    fs::write(
        &path,
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();

    let private_error = SigningKey::read_pem_file(&path).unwrap_err();
    let public_error = VerifyingKey::read_pem_file(&path).unwrap_err();

    match &private_error {
        KeyError::InvalidPrivateKey {
            path: Some(reported), ..
        } => assert_eq!(reported, &path),
        other => panic!("expected InvalidPrivateKey with path, got {other:?}"),
    }
    match &public_error {
        KeyError::InvalidPublicKey {
            path: Some(reported), ..
        } => assert_eq!(reported, &path),
        other => panic!("expected InvalidPublicKey with path, got {other:?}"),
    }
    let message = private_error.to_string();
    assert!(
        message.starts_with(&format!("invalid private key in key file {}", path.display())),
        "{message}"
    );
    assert!(message.contains("-----BEGIN PRIVATE KEY-----"), "{message}");
}

#[test]
fn debug_output_redacts_secret() {
    let key = SigningKey::generate();
    let der = pkcs8_der(&key);
    let seed_hex = hex::encode(&der[16..]);
    let pem = key.to_pkcs8_pem().unwrap();
    let pem_body = pem.lines().nth(1).unwrap().to_string();

    for output in [format!("{key:?}"), format!("{key:#?}")] {
        assert!(output.contains(&key.key_id()), "{output}");
        assert!(!output.contains(&seed_hex), "{output}");
        assert!(!output.contains(&pem_body), "{output}");
        assert!(!output.to_lowercase().contains(&seed_hex[..16]), "{output}");
    }
}

#[test]
fn debug_output_of_errors_has_no_secret() {
    // A rejected v2 key file must not echo its private key in the error.
    let key = SigningKey::generate();
    let der = pkcs8_der(&key);
    let seed_hex = hex::encode(&der[16..]);
    let other_public_key = SigningKey::generate().verifying_key().to_bytes();
    let pem = encode_private_key_info(
        ed25519_dalek::pkcs8::ALGORITHM_OID,
        &der[14..],
        Some(&other_public_key),
    );

    let error = SigningKey::from_pkcs8_pem(&pem).unwrap_err();

    let output = format!("{error:?} {error}");
    assert!(!output.contains(&seed_hex), "{output}");
    assert!(!output.contains(pem.lines().nth(1).unwrap()), "{output}");
}
