-- Scratch table of bank-load's commit floor: one row per write transaction.
-- The same columns as migrations/sqlite, in PostgreSQL's types.
CREATE TABLE commit_floor (
    row_id     TEXT PRIMARY KEY,
    task       BIGINT NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
