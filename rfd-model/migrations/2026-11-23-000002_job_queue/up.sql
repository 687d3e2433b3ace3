-- Webhook deliveries and the durable job queue.
--
-- A delivery row and the jobs it creates commit in one transaction; the delivery id is
-- the primary key, so a redelivery finds its row and queues nothing new.
CREATE TABLE webhook_delivery (
    id uuid PRIMARY KEY,
    event varchar NOT NULL,
    jobs_created integer NOT NULL DEFAULT 0,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TYPE job_state AS ENUM ('queued', 'running', 'succeeded', 'failed', 'superseded');
CREATE TYPE job_kind AS ENUM ('rfd_update', 'branch_reconcile');

-- The reference service's columns (GET /job stays compatible) plus what a real queue
-- needs: a state machine, attempts with backoff, a lease renewed by heartbeats, the last
-- error of a failed attempt, and the actions already completed (so a retry resumes).
CREATE TABLE job (
    id serial PRIMARY KEY,
    kind job_kind NOT NULL DEFAULT 'rfd_update',
    owner varchar NOT NULL,
    repository varchar NOT NULL,
    branch varchar NOT NULL,
    sha varchar NOT NULL,
    -- NULL only for branch reconciles, which concern every RFD of a branch.
    rfd integer,
    webhook_delivery_id uuid REFERENCES webhook_delivery (id),
    committed_at timestamptz NOT NULL,
    processed boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    state job_state NOT NULL DEFAULT 'queued',
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 8,
    run_at timestamptz NOT NULL DEFAULT now(),
    lease_owner varchar,
    lease_expires_at timestamptz,
    last_error text,
    completed_actions text[] NOT NULL DEFAULT '{}',
    finished_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT job_rfd_kind CHECK ((kind = 'rfd_update') = (rfd IS NOT NULL)),
    CONSTRAINT job_attempts_bounded CHECK (attempts >= 0 AND max_attempts >= 1)
);

-- One job per (repository, branch, commit, RFD): redeliveries and scans deduplicate.
CREATE UNIQUE INDEX job_dedupe_idx ON job (owner, repository, branch, sha, rfd) WHERE kind = 'rfd_update';
CREATE UNIQUE INDEX job_reconcile_dedupe_idx ON job (owner, repository, branch, sha) WHERE kind = 'branch_reconcile';

-- Never two running jobs for the same RFD, enforced by the database itself.
CREATE UNIQUE INDEX job_one_running_per_rfd ON job (rfd) WHERE state = 'running' AND rfd IS NOT NULL;

-- The claim query: due queued jobs in order.
CREATE INDEX job_due_idx ON job (run_at, id) WHERE state = 'queued';
-- The lease reaper.
CREATE INDEX job_lease_idx ON job (lease_expires_at) WHERE state = 'running';
-- GET /job?rfd=N, newest first; and the supersede check per (rfd, branch).
CREATE INDEX job_rfd_idx ON job (rfd, created_at DESC, id DESC);
CREATE INDEX job_rfd_branch_done_idx ON job (rfd, branch, committed_at DESC) WHERE state = 'succeeded';
-- Listing by state (dead letters first of all).
CREATE INDEX job_state_idx ON job (state, id DESC);
