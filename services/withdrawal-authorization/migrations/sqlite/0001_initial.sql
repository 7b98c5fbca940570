-- Schema of the withdrawal-authorization service (SQLite).
-- Money is exact decimal text, never REAL. Instants are RFC 3339 text in UTC.
-- Signed envelopes are kept as their exact payload bytes, key id and
-- signature, so they can be verified again later without re-encoding.

CREATE TABLE staff (
    staff_id       TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    branch_id      TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('teller', 'supervisor', 'auditor', 'admin')),
    approval_limit TEXT,
    limit_currency TEXT,
    active         INTEGER NOT NULL CHECK (active IN (0, 1)),
    enrolled_at    TEXT NOT NULL,
    deactivated_at TEXT
);

CREATE TABLE staff_keys (
    key_id      TEXT PRIMARY KEY,
    staff_id    TEXT NOT NULL REFERENCES staff (staff_id),
    public_key  BLOB NOT NULL,
    valid_from  TEXT NOT NULL,
    valid_until TEXT,
    revoked_at  TEXT
);
CREATE INDEX staff_keys_by_staff ON staff_keys (staff_id);

CREATE TABLE closures (
    closure_id          TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL UNIQUE,
    passbook_number     TEXT NOT NULL,
    teller_staff_id     TEXT NOT NULL,
    instruction_payload BLOB NOT NULL,
    instruction_key_id  TEXT NOT NULL,
    instruction_signature BLOB NOT NULL,
    created_at          TEXT NOT NULL
);

CREATE TABLE authorizations (
    authorization_id      TEXT PRIMARY KEY,
    request_id            TEXT NOT NULL UNIQUE,
    closure_id            TEXT REFERENCES closures (closure_id),
    state                 TEXT NOT NULL CHECK (state IN
        ('pending', 'ready', 'releasing', 'released', 'rejected', 'failed', 'expired')),
    teller_staff_id       TEXT NOT NULL,
    branch_id             TEXT NOT NULL,
    passbook_number       TEXT NOT NULL,
    deposit_id            TEXT NOT NULL,
    amount                TEXT NOT NULL,
    payout_total          TEXT NOT NULL,
    currency_code         TEXT NOT NULL,
    whole_deposit         INTEGER NOT NULL CHECK (whole_deposit IN (0, 1)),
    loses_interest        INTEGER NOT NULL CHECK (loses_interest IN (0, 1)),
    instruction_payload   BLOB NOT NULL,
    instruction_type      TEXT NOT NULL,
    instruction_key_id    TEXT NOT NULL,
    instruction_signature BLOB NOT NULL,
    attestation_id        TEXT NOT NULL UNIQUE,
    attestation_payload   BLOB NOT NULL,
    attestation_key_id    TEXT NOT NULL,
    attestation_signature BLOB NOT NULL,
    attestation_expires_at TEXT NOT NULL,
    identity_check        BLOB NOT NULL,
    flags                 TEXT NOT NULL,
    disclosure_zh_cn      TEXT,
    disclosure_en         TEXT,
    ack_payload           BLOB,
    ack_key_id            TEXT,
    ack_signature         BLOB,
    ack_recorded_at       TEXT,
    requirements_met_at   TEXT,
    order_id              TEXT UNIQUE,
    order_payload         BLOB,
    order_key_id          TEXT,
    order_signature       BLOB,
    payout                BLOB,
    last_error_reason     TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
);
-- At most one authorization per deposit is on its way to release, so two
-- tellers cannot both get one through for the same deposit.
CREATE UNIQUE INDEX authorizations_one_open_per_deposit ON authorizations (deposit_id)
    WHERE state IN ('pending', 'ready', 'releasing');
CREATE INDEX authorizations_by_branch_state ON authorizations (branch_id, state, created_at);
CREATE INDEX authorizations_by_passbook ON authorizations (passbook_number);
CREATE INDEX authorizations_by_closure ON authorizations (closure_id);

CREATE TABLE decisions (
    authorization_id    TEXT NOT NULL REFERENCES authorizations (authorization_id),
    position            INTEGER NOT NULL,
    supervisor_staff_id TEXT NOT NULL,
    approved            INTEGER NOT NULL CHECK (approved IN (0, 1)),
    reason              TEXT NOT NULL,
    payload_type        TEXT NOT NULL,
    payload             BLOB NOT NULL,
    key_id              TEXT NOT NULL,
    signature           BLOB NOT NULL,
    recorded_at         TEXT NOT NULL,
    PRIMARY KEY (authorization_id, position)
);

-- The append-only, hash-chained audit log. Rows are only ever inserted.
CREATE TABLE audit_log (
    sequence         INTEGER PRIMARY KEY,
    entry            BLOB NOT NULL,
    previous_sha256  TEXT NOT NULL,
    record_sha256    TEXT NOT NULL,
    authorization_id TEXT,
    passbook_number  TEXT
);
CREATE INDEX audit_log_by_authorization ON audit_log (authorization_id);
CREATE INDEX audit_log_by_passbook ON audit_log (passbook_number);

CREATE TABLE idempotency_keys (
    request_id     TEXT PRIMARY KEY,
    method         TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    response       BLOB NOT NULL,
    created_at     TEXT NOT NULL
);
