-- The columns each channel last saw in each source table, to detect schema drift (an added,
-- dropped or retyped column) between runs.

CREATE TABLE source_schemas (
    channel      TEXT NOT NULL,
    source_table TEXT NOT NULL,
    -- JSON: [{"name": …, "declared_type": …}, …] in source order.
    columns      TEXT NOT NULL,
    seen_at      BIGINT NOT NULL,
    PRIMARY KEY (channel, source_table)
);
