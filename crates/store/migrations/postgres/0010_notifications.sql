-- Notifications: what the platform tells people (in the app), and its deliveries by e-mail and
-- webhook, kept until sent and retried with backoff, so a mail server that is down delays a
-- message without losing it.

ALTER TABLE users ADD COLUMN email TEXT;

CREATE TABLE notifications (
    id           BIGSERIAL PRIMARY KEY,
    created_at   BIGINT NOT NULL,
    -- e.g. ticket.opened, ticket.reopened, ticket.verified, ticket.escalated
    kind         TEXT NOT NULL,
    -- The institution concerned; its providers are told when the audience includes them.
    institution  TEXT NOT NULL,
    -- providers | managers | both
    audience     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    body         TEXT NOT NULL,
    link         TEXT NOT NULL
);
CREATE INDEX notifications_institution ON notifications (institution, created_at);

CREATE TABLE notification_deliveries (
    id               BIGSERIAL PRIMARY KEY,
    notification_id  BIGINT NOT NULL REFERENCES notifications (id),
    -- email | webhook
    channel          TEXT NOT NULL,
    target           TEXT NOT NULL,
    -- pending | sent | failed (gave up)
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_error       TEXT,
    sent_at          BIGINT
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt_at);
