-- Channels (采集通道) and the worker cluster that runs them. A channel's definition is its kind
-- and a JSON spec that hdos-ingest reads; the store keeps it as text. Batch channels run on a
-- cron schedule or on request; streaming channels run all the time. Whichever worker holds a
-- channel's lease runs it; a lease not renewed by its expiry may be taken by another worker.

CREATE TABLE channels (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    name                TEXT NOT NULL UNIQUE,
    -- The institution whose data it collects: providers see their own institution's channels.
    institution         TEXT NOT NULL,
    kind                TEXT NOT NULL,
    spec                TEXT NOT NULL,
    -- A five-field cron expression (batch kinds); NULL runs only on request.
    schedule            TEXT,
    enabled             BIGINT NOT NULL DEFAULT 1,
    -- When the schedule, or a retry after a failure, runs the channel next.
    next_run_at         BIGINT,
    run_requested_at    BIGINT,
    cancel_requested_at BIGINT,
    -- Failed runs in a row: the retry backoff grows with it.
    failures            BIGINT NOT NULL DEFAULT 0,
    last_error          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

CREATE INDEX ix_channels_institution ON channels (institution);

CREATE TABLE channel_leases (
    channel     TEXT PRIMARY KEY,
    worker      TEXT NOT NULL,
    -- Grows by one with each new holder, so a holder that lost the lease cannot renew it.
    token       BIGINT NOT NULL,
    acquired_at BIGINT NOT NULL,
    renewed_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE workers (
    id         TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    started_at BIGINT NOT NULL,
    seen_at    BIGINT NOT NULL,
    -- The channels it runs, comma-separated, as of seen_at.
    running    TEXT NOT NULL DEFAULT '',
    stopped_at BIGINT
);
