-- Quality control: rules (every version kept, so results name the version they were computed
-- with), runs, results per run × rule × institution (passes included, for trends), and
-- rectification tickets with their history. Failing records themselves are in the lake
-- (quality/failures).

CREATE TABLE quality_rules (
    id          TEXT PRIMARY KEY,
    dataset     TEXT NOT NULL,
    version     INTEGER NOT NULL,
    -- The rule as JSON (check, dimension, severity, threshold, scope).
    definition  TEXT NOT NULL,
    enabled     INTEGER NOT NULL,
    -- Derived from the regional standard (1) or written by a manager (0).
    builtin     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT NOT NULL
);

CREATE TABLE quality_rule_versions (
    id          TEXT NOT NULL,
    version     INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    PRIMARY KEY (id, version)
);

CREATE TABLE quality_runs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    -- incremental | full
    mode          TEXT NOT NULL,
    -- running | succeeded | failed
    state         TEXT NOT NULL,
    requested_by  TEXT NOT NULL,
    started_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    rows_checked  INTEGER NOT NULL DEFAULT 0,
    failures      INTEGER NOT NULL DEFAULT 0,
    error         TEXT,
    -- Per dataset, the newest arrival time (µs) this run checked, as JSON: where the next
    -- incremental run starts.
    watermarks    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX quality_runs_state ON quality_runs (state, id);
-- One run at a time: overlapping runs would read the same marks and count rows twice.
CREATE UNIQUE INDEX quality_runs_one_running ON quality_runs (state) WHERE state = 'running';

CREATE TABLE quality_results (
    run_id        INTEGER NOT NULL REFERENCES quality_runs (id),
    rule_id       TEXT NOT NULL,
    rule_version  INTEGER NOT NULL,
    dataset       TEXT NOT NULL,
    institution   TEXT NOT NULL,
    dimension     TEXT NOT NULL,
    severity      TEXT NOT NULL,
    threshold     REAL NOT NULL,
    checked       INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    checked_at    INTEGER NOT NULL,
    PRIMARY KEY (run_id, rule_id, institution)
);
CREATE INDEX quality_results_checked_at ON quality_results (checked_at);
CREATE INDEX quality_results_institution ON quality_results (institution, checked_at);

CREATE TABLE quality_tickets (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    institution   TEXT NOT NULL,
    rule_id       TEXT NOT NULL,
    dataset       TEXT NOT NULL,
    severity      TEXT NOT NULL,
    -- new | acknowledged | in_progress | resolved | verified | closed
    state         TEXT NOT NULL,
    opened_at     INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    due_at        INTEGER NOT NULL,
    last_run_id   INTEGER NOT NULL,
    checked       INTEGER NOT NULL,
    failed        INTEGER NOT NULL,
    threshold     REAL NOT NULL,
    reason        TEXT,
    comment       TEXT,
    resolved_at   INTEGER,
    closed_at     INTEGER,
    reopened      INTEGER NOT NULL DEFAULT 0,
    escalated_at  INTEGER
);
-- One ticket per (institution, rule) until it is closed: later runs update it.
CREATE UNIQUE INDEX quality_tickets_one_open ON quality_tickets (institution, rule_id)
    WHERE state <> 'closed';
CREATE INDEX quality_tickets_state ON quality_tickets (state, due_at);

CREATE TABLE quality_ticket_events (
    ticket_id   INTEGER NOT NULL REFERENCES quality_tickets (id),
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX quality_ticket_events_ticket ON quality_ticket_events (ticket_id, at);
