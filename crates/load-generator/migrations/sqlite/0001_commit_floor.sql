-- Scratch table of bank-load's commit floor: one row per write transaction.
CREATE TABLE commit_floor (
    row_id     TEXT PRIMARY KEY,
    task       INTEGER NOT NULL,
    payload    TEXT NOT NULL,
    created_at TEXT NOT NULL
);
