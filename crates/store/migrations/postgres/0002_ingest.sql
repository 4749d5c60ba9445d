-- Collection: the committed position of each channel's source table, and the history of runs.

CREATE TABLE ingest_checkpoints (
    channel      TEXT NOT NULL,
    source_table TEXT NOT NULL,
    -- The last chunk committed to the lake (Delta application-transaction version).
    seq          BIGINT NOT NULL,
    -- Where the next read starts, as JSON; NULL before the first chunk.
    position     TEXT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (channel, source_table)
);

CREATE TABLE ingest_runs (
    id               BIGSERIAL PRIMARY KEY,
    channel          TEXT NOT NULL,
    source_table     TEXT NOT NULL,
    -- The collecting institution's code: providers see their own institution's runs.
    institution      TEXT NOT NULL,
    mode             TEXT NOT NULL,
    status           TEXT NOT NULL,
    started_at       BIGINT NOT NULL,
    finished_at      BIGINT,
    rows_read        BIGINT NOT NULL DEFAULT 0,
    rows_written     BIGINT NOT NULL DEFAULT 0,
    rows_quarantined BIGINT NOT NULL DEFAULT 0,
    bytes            BIGINT NOT NULL DEFAULT 0,
    error            TEXT
);

CREATE INDEX ix_ingest_runs_channel ON ingest_runs (channel, started_at);
CREATE INDEX ix_ingest_runs_institution ON ingest_runs (institution, started_at);
