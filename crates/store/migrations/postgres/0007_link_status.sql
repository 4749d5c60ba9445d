-- The last probe of each link node: a channel's source (reachable, latency) and the lake
-- (writable, latency; channel '').

CREATE TABLE link_status (
    channel    TEXT NOT NULL,
    -- source or lake.
    node       TEXT NOT NULL,
    ok         BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    -- The error when not ok, or what was seen (tables listed, files waiting).
    detail     TEXT NOT NULL,
    checked_at BIGINT NOT NULL,
    PRIMARY KEY (channel, node)
);
