-- Outbound events (rfd_model::events): what changed, who should hear of it, and one job
-- per (event, subscriber) in the job queue, so a subscriber that is down loses nothing.

-- Event deliveries run through the job queue. The new value cannot be used in this
-- migration's own transaction, so nothing below refers to it.
ALTER TYPE job_kind ADD VALUE IF NOT EXISTS 'event_delivery';

-- The subscribers of the config file ([[events.subscribers]]), copied here at every start
-- of rfd-api and rfd-processor so that emitting an event is one SQL transaction with the
-- change. Secrets stay in the config file; only the processor that delivers reads them.
CREATE TABLE event_subscriber (
    name varchar PRIMARY KEY,
    kind varchar NOT NULL,
    enabled boolean NOT NULL,
    -- NULL: every repository; otherwise "owner/name" entries.
    repositories text[],
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE event (
    id uuid PRIMARY KEY,
    -- rfd.revision_created, rfd.state_changed, rfd.visibility_changed, rfd.pull_request_opened
    kind varchar NOT NULL,
    owner varchar NOT NULL,
    repository varchar NOT NULL,
    rfd_number integer NOT NULL,
    -- Set when the change can be seen twice (a retried job): the second emit is a no-op.
    dedupe_key varchar UNIQUE,
    -- The exact bytes every subscriber receives (and that the signature covers).
    body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX event_rfd_idx ON event (rfd_number, created_at DESC);

CREATE TABLE event_delivery (
    -- Sent as X-Rfd-Delivery: the same on every retry, so receivers can deduplicate.
    id uuid PRIMARY KEY,
    event_id uuid NOT NULL REFERENCES event (id) ON DELETE CASCADE,
    subscriber varchar NOT NULL,
    job_id integer NOT NULL UNIQUE REFERENCES job (id) ON DELETE CASCADE,
    delivered_at timestamptz,
    -- The subscriber's HTTP status of the last attempt, if it answered.
    last_status integer,
    UNIQUE (event_id, subscriber)
);
