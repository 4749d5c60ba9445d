-- Source connections, defined once and shared by channels. The password is stored sealed with
-- the master key (enc:v1:…); the store never sees it in clear.

CREATE TABLE connections (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    -- The institution whose system this is: providers see their own institution's connections.
    institution     TEXT NOT NULL,
    host            TEXT NOT NULL,
    port            INTEGER NOT NULL,
    database_name   TEXT NOT NULL,
    username        TEXT NOT NULL,
    sealed_password TEXT,
    -- The schema holding the HIS tables.
    schema_name     TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE INDEX ix_connections_institution ON connections (institution);
