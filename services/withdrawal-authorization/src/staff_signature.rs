//! Verification of staff signatures against the staff directory.

use attestation::{Envelope, VerifyingKey};
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use crate::error::AuthorizationError;
use crate::store::{self, Role, StaffRow};

/// Verifies that `envelope` carries `expected_type`, signed by an enrolled,
/// active staff member with one of `roles` (the first names the signer in
/// messages) and a key that is neither revoked nor out
/// of its validity at `now`. Returns the signer and the verified payload.
///
/// A key id that is not of the form of a derived id (see
/// [`attestation::is_well_formed_key_id`]) is rejected like an unknown one,
/// before any query.
///
/// The signer is found through the envelope's key id and the signature is
/// checked before the signer's status, so nothing in the payload and nothing
/// about the signer is used before the signature verifies. Callers then check
/// that the staff id inside the payload is the signer's.
pub async fn verify_staff_signature(
    connection: &mut AnyConnection,
    envelope: &Envelope,
    expected_type: &str,
    roles: &[Role],
    now: DateTime<Utc>,
) -> Result<(StaffRow, Vec<u8>), AuthorizationError> {
    let what = match roles.first().copied().unwrap_or(Role::Admin) {
        Role::Teller => "teller",
        Role::Supervisor => "supervisor",
        Role::Auditor => "auditor",
        Role::Admin => "admin",
    };
    let invalid = |detail: String| AuthorizationError::SignatureInvalid { what, detail };

    let not_enrolled = || invalid(format!("key id {:?} is not enrolled", truncate(&envelope.key_id)));
    // A key id of another form names no key. It never reaches the query,
    // because PostgreSQL rejects a NUL byte in text with an error.
    if !attestation::is_well_formed_key_id(&envelope.key_id) {
        return Err(not_enrolled());
    }
    let key = store::find_staff_key(connection, &envelope.key_id)
        .await?
        .ok_or_else(not_enrolled)?;
    // The signature is checked before anything about the key's owner is
    // looked at, so a forged envelope learns nothing about the staff
    // directory and never reaches the audit log.
    let public_key = VerifyingKey::from_bytes(&key.public_key).map_err(|error| {
        AuthorizationError::Store(store::StoreError::Corrupt {
            table: "staff_keys",
            column: "public_key",
            value: format!("{}: {error}", key.key_id),
        })
    })?;
    let payload = attestation::verify_with_key(&public_key, envelope, expected_type)
        .map_err(|error| invalid(error.to_string()))?;

    let staff = store::find_staff(connection, &key.staff_id)
        .await?
        .ok_or_else(|| AuthorizationError::StaffNotEnrolled(key.staff_id.clone()))?;
    if !staff.active {
        return Err(AuthorizationError::StaffInactive(staff.staff_id));
    }
    if !roles.contains(&staff.role) {
        return Err(AuthorizationError::WrongRole {
            staff_id: staff.staff_id,
            expected: what,
        });
    }
    if key.revoked_at.is_some() {
        return Err(AuthorizationError::KeyRevoked {
            staff_id: staff.staff_id,
            key_id: key.key_id,
        });
    }
    let valid = key.valid_from <= now && key.valid_until.is_none_or(|until| now < until);
    if !valid {
        return Err(AuthorizationError::KeyNotValid {
            staff_id: staff.staff_id,
            key_id: key.key_id,
        });
    }
    Ok((staff, payload.to_vec()))
}

/// Checks that the staff id a payload names is the signer's.
pub fn require_signer(
    signer: &StaffRow,
    claimed_staff_id: &str,
    what: &'static str,
) -> Result<(), AuthorizationError> {
    if signer.staff_id == claimed_staff_id {
        return Ok(());
    }
    Err(AuthorizationError::SignatureInvalid {
        what,
        detail: format!(
            "the payload names staff member {:?} but {} signed it",
            truncate(claimed_staff_id),
            signer.staff_id
        ),
    })
}

/// Shortens caller-supplied text for messages and logs.
fn truncate(text: &str) -> String {
    text.chars().take(80).collect()
}
