-- Each monitoring pass's measures of a channel, kept two weeks for the dashboard's lag charts:
-- the source's answer time, and the bytes received but not yet in the lake (a CDC slot's WAL, an
-- MLLP journal's backlog; NULL for channels that hold none).

CREATE TABLE link_samples (
    channel       TEXT NOT NULL,
    institution   TEXT NOT NULL,
    at            BIGINT NOT NULL,
    latency_ms    BIGINT,
    backlog_bytes BIGINT
);
CREATE INDEX link_samples_at ON link_samples (at);
CREATE INDEX link_samples_institution_at ON link_samples (institution, at);
