-- Schema of the deposit-status system of record (PostgreSQL).
-- The same tables, columns, keys and checks as migrations/sqlite/0001_initial.sql,
-- in PostgreSQL's types: SQLite's INTEGER is BIGINT and BLOB is BYTEA.
-- Money and rates are NUMERIC, exact decimals, never REAL or float. NUMERIC
-- without a precision keeps each value's scale as written ("80000.00",
-- "3.00"), as the SQLite text does; NUMERIC(p,s) would return a rate posted
-- as "3.00" as "3.000000" and a JPY amount "100" as "100.00".
-- Dates are ISO 8601 text (YYYY-MM-DD); instants are RFC 3339 text in UTC.
-- Columns that queries sort or compare as ranges are COLLATE "C", so that
-- text order is byte order, as on SQLite, whatever the database's locale.

CREATE TABLE passbooks (
    passbook_number             TEXT PRIMARY KEY,
    customer_id                 TEXT NOT NULL,
    customer_name               TEXT NOT NULL,
    masked_id_number            TEXT NOT NULL,
    branch_id                   TEXT NOT NULL,
    status                      TEXT NOT NULL
        CHECK (status IN ('active', 'reported_lost', 'replaced')),
    opened_at                   TEXT NOT NULL,
    reported_lost_at            TEXT,
    replaces_passbook_number    TEXT REFERENCES passbooks (passbook_number),
    replaced_by_passbook_number TEXT REFERENCES passbooks (passbook_number),
    reissued_on                 TEXT
);

CREATE TABLE deposits (
    deposit_id                  TEXT COLLATE "C" PRIMARY KEY,
    passbook_number             TEXT NOT NULL REFERENCES passbooks (passbook_number),
    currency_code               TEXT NOT NULL,
    principal                   NUMERIC NOT NULL,
    balance                     NUMERIC NOT NULL,
    term_months                 BIGINT NOT NULL,
    contract_rate_percent       NUMERIC NOT NULL,
    opened_on                   TEXT COLLATE "C" NOT NULL,
    maturity_date               TEXT NOT NULL,
    product_code                TEXT NOT NULL,
    day_basis                   TEXT NOT NULL CHECK (day_basis IN ('actual-360', 'actual-365')),
    minimum_remaining_principal NUMERIC NOT NULL,
    status                      TEXT NOT NULL CHECK (status IN ('open', 'withdrawn', 'closed')),
    partial_withdrawal_used     BIGINT NOT NULL DEFAULT 0 CHECK (partial_withdrawal_used IN (0, 1)),
    version                     BIGINT NOT NULL CHECK (version >= 1),
    closed_reason               TEXT
);

-- Every passbook a deposit was ever held in. A reissue adds rows for the new
-- number and keeps the old ones, so the old passbook still lists what it held.
CREATE TABLE passbook_deposits (
    passbook_number TEXT NOT NULL REFERENCES passbooks (passbook_number),
    deposit_id      TEXT COLLATE "C" NOT NULL REFERENCES deposits (deposit_id),
    PRIMARY KEY (passbook_number, deposit_id)
);

CREATE TABLE demand_rates (
    currency_code  TEXT NOT NULL,
    effective_from TEXT COLLATE "C" NOT NULL,
    rate_percent   NUMERIC NOT NULL,
    posted_at      TEXT NOT NULL,
    PRIMARY KEY (currency_code, effective_from)
);

CREATE TABLE attestations (
    attestation_id  TEXT PRIMARY KEY,
    deposit_id      TEXT COLLATE "C" NOT NULL REFERENCES deposits (deposit_id),
    deposit_version BIGINT NOT NULL,
    payload         BYTEA NOT NULL,
    key_id          TEXT NOT NULL,
    signature       BYTEA NOT NULL,
    issued_at       TEXT NOT NULL,
    expires_at      TEXT NOT NULL
);

-- One row per executed release order. The unique attestation_id is what
-- makes a second order for the same attestation fail.
CREATE TABLE executions (
    order_id       TEXT PRIMARY KEY,
    attestation_id TEXT NOT NULL UNIQUE REFERENCES attestations (attestation_id),
    deposit_id     TEXT COLLATE "C" NOT NULL REFERENCES deposits (deposit_id),
    order_payload  BYTEA NOT NULL,
    order_key_id   TEXT NOT NULL,
    order_signature BYTEA NOT NULL,
    payout         BYTEA NOT NULL,
    executed_at    TEXT NOT NULL
);

-- Responses of mutating requests by request_id (AIP-155), so that a retry
-- returns the first response instead of acting twice.
CREATE TABLE idempotency_keys (
    request_id     TEXT PRIMARY KEY,
    method         TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    response       BYTEA NOT NULL,
    created_at     TEXT NOT NULL
);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
