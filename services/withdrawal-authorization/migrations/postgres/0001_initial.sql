-- Schema of the withdrawal-authorization service (PostgreSQL).
-- The same tables, columns, keys, checks and indexes as
-- migrations/sqlite/0001_initial.sql, in PostgreSQL's types: SQLite's INTEGER
-- is BIGINT and BLOB is BYTEA. Money is NUMERIC, an exact decimal, never REAL
-- or float; without a precision it keeps each amount's scale as written, as
-- the SQLite text does. Instants are RFC 3339 text in UTC.
-- Signed envelopes are kept as their exact payload bytes, key id and
-- signature, so they can be verified again later without re-encoding.
-- Columns that queries sort or compare as ranges are COLLATE "C", so that
-- text order is byte order, as on SQLite, whatever the database's locale.

CREATE TABLE staff (
    staff_id       TEXT COLLATE "C" PRIMARY KEY,
    name           TEXT NOT NULL,
    branch_id      TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('teller', 'supervisor', 'auditor', 'admin')),
    approval_limit NUMERIC,
    limit_currency TEXT,
    active         BIGINT NOT NULL CHECK (active IN (0, 1)),
    enrolled_at    TEXT NOT NULL,
    deactivated_at TEXT
);

CREATE TABLE staff_keys (
    key_id      TEXT COLLATE "C" PRIMARY KEY,
    staff_id    TEXT COLLATE "C" NOT NULL REFERENCES staff (staff_id),
    public_key  BYTEA NOT NULL,
    valid_from  TEXT COLLATE "C" NOT NULL,
    valid_until TEXT,
    revoked_at  TEXT
);
CREATE INDEX staff_keys_by_staff ON staff_keys (staff_id);

CREATE TABLE closures (
    closure_id          TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL UNIQUE,
    passbook_number     TEXT NOT NULL,
    teller_staff_id     TEXT NOT NULL,
    instruction_payload BYTEA NOT NULL,
    instruction_key_id  TEXT NOT NULL,
    instruction_signature BYTEA NOT NULL,
    created_at          TEXT NOT NULL
);

CREATE TABLE authorizations (
    authorization_id      TEXT COLLATE "C" PRIMARY KEY,
    request_id            TEXT NOT NULL UNIQUE,
    closure_id            TEXT REFERENCES closures (closure_id),
    state                 TEXT NOT NULL CHECK (state IN
        ('pending', 'ready', 'releasing', 'released', 'rejected', 'failed', 'expired')),
    teller_staff_id       TEXT NOT NULL,
    branch_id             TEXT NOT NULL,
    passbook_number       TEXT NOT NULL,
    deposit_id            TEXT COLLATE "C" NOT NULL,
    amount                NUMERIC NOT NULL,
    payout_total          NUMERIC NOT NULL,
    currency_code         TEXT NOT NULL,
    whole_deposit         BIGINT NOT NULL CHECK (whole_deposit IN (0, 1)),
    loses_interest        BIGINT NOT NULL CHECK (loses_interest IN (0, 1)),
    instruction_payload   BYTEA NOT NULL,
    instruction_type      TEXT NOT NULL,
    instruction_key_id    TEXT NOT NULL,
    instruction_signature BYTEA NOT NULL,
    attestation_id        TEXT NOT NULL UNIQUE,
    attestation_payload   BYTEA NOT NULL,
    attestation_key_id    TEXT NOT NULL,
    attestation_signature BYTEA NOT NULL,
    attestation_expires_at TEXT NOT NULL,
    identity_check        BYTEA NOT NULL,
    flags                 TEXT NOT NULL,
    disclosure_zh_cn      TEXT,
    disclosure_en         TEXT,
    ack_payload           BYTEA,
    ack_key_id            TEXT,
    ack_signature         BYTEA,
    ack_recorded_at       TEXT,
    requirements_met_at   TEXT,
    order_id              TEXT UNIQUE,
    order_payload         BYTEA,
    order_key_id          TEXT,
    order_signature       BYTEA,
    payout                BYTEA,
    last_error_reason     TEXT,
    created_at            TEXT COLLATE "C" NOT NULL,
    updated_at            TEXT COLLATE "C" NOT NULL
);
-- At most one authorization per deposit is on its way to release, so two
-- tellers cannot both get one through for the same deposit.
CREATE UNIQUE INDEX authorizations_one_open_per_deposit ON authorizations (deposit_id)
    WHERE state IN ('pending', 'ready', 'releasing');
CREATE INDEX authorizations_by_branch_state ON authorizations (branch_id, state, created_at);
CREATE INDEX authorizations_by_passbook ON authorizations (passbook_number);
CREATE INDEX authorizations_by_closure ON authorizations (closure_id);

CREATE TABLE decisions (
    authorization_id    TEXT COLLATE "C" NOT NULL REFERENCES authorizations (authorization_id),
    position            BIGINT NOT NULL,
    supervisor_staff_id TEXT NOT NULL,
    approved            BIGINT NOT NULL CHECK (approved IN (0, 1)),
    reason              TEXT NOT NULL,
    payload_type        TEXT NOT NULL,
    payload             BYTEA NOT NULL,
    key_id              TEXT NOT NULL,
    signature           BYTEA NOT NULL,
    recorded_at         TEXT NOT NULL,
    PRIMARY KEY (authorization_id, position)
);

-- The append-only, hash-chained audit log. Rows are only ever inserted.
CREATE TABLE audit_log (
    sequence         BIGINT PRIMARY KEY,
    entry            BYTEA NOT NULL,
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
    response       BYTEA NOT NULL,
    created_at     TEXT NOT NULL
);
