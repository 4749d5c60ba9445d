-- Link monitoring (链路监控): reconciliation of each channel's datasets per day against the
-- source, and the alerts that monitoring raises.

CREATE TABLE reconciliations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    channel        TEXT NOT NULL,
    dataset        TEXT NOT NULL,
    institution    TEXT NOT NULL,
    -- The day (China Standard Time) of the rows' event time, YYYY-MM-DD; '' for rows without one.
    day            TEXT NOT NULL,
    source_rows    BIGINT NOT NULL,
    lake_rows      BIGINT NOT NULL,
    -- Source rows the mapping refuses (they are in quarantine, not in std).
    unmapped_rows  BIGINT NOT NULL,
    -- Order-independent checksums of the key columns, as 16 hex digits.
    source_checksum TEXT NOT NULL,
    lake_checksum  TEXT NOT NULL,
    checked_at     BIGINT NOT NULL,
    UNIQUE (channel, dataset, day)
);

CREATE INDEX ix_reconciliations_institution ON reconciliations (institution, day);

CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- reconciliation, volume_drop, volume_spike, zero_rows, run_failed, slot_lag
    kind        TEXT NOT NULL,
    channel     TEXT NOT NULL,
    institution TEXT NOT NULL,
    -- What within the channel: a dataset and day, an hour, a run.
    subject     TEXT NOT NULL,
    message     TEXT NOT NULL,
    -- open, acknowledged or resolved.
    status      TEXT NOT NULL,
    raised_at   BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    acknowledged_by TEXT,
    resolved_at BIGINT
);

-- One alert per problem until it is resolved: raising it again updates it.
CREATE UNIQUE INDEX ux_alerts_unresolved ON alerts (kind, channel, subject) WHERE status <> 'resolved';
CREATE INDEX ix_alerts_institution ON alerts (institution, raised_at);
