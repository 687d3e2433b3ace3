-- RFDs, their revisions (one per commit) and the PDFs rendered for them.
--
-- Differences from the reference service, and why:
--  * rfd.rfd_number is UNIQUE: one RFD per number, so lookups by number are exact.
--  * rfd.latest_revision_id / latest_major_change_at are maintained on every revision
--    write, so listing RFDs with their latest metadata is a single indexed join.
--  * one revision per (rfd, commit), keyed by the commit, not the file blob.

CREATE TYPE rfd_visibility AS ENUM ('public', 'private');
CREATE TYPE rfd_content_format AS ENUM ('asciidoc', 'markdown');
CREATE TYPE rfd_pdf_source AS ENUM ('github', 'google');

CREATE TABLE rfd (
    id uuid PRIMARY KEY,
    rfd_number integer NOT NULL,
    link varchar,
    visibility rfd_visibility NOT NULL DEFAULT 'private',
    latest_revision_id uuid,
    latest_major_change_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT rfd_number_unique UNIQUE (rfd_number),
    CONSTRAINT rfd_number_positive CHECK (rfd_number >= 0)
);

CREATE TABLE rfd_revision (
    id uuid PRIMARY KEY,
    rfd_id uuid NOT NULL REFERENCES rfd (id),
    title varchar NOT NULL,
    state varchar,
    discussion varchar,
    authors varchar,
    labels varchar,
    content text NOT NULL,
    content_format rfd_content_format NOT NULL,
    sha varchar NOT NULL,
    commit_sha varchar NOT NULL,
    committed_at timestamptz NOT NULL,
    major_change boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT rfd_revision_commit_unique UNIQUE (rfd_id, commit_sha)
);

-- Revision history of one RFD, newest first (list_rfd_revisions, latest lookups).
CREATE INDEX rfd_revision_history_idx
    ON rfd_revision (rfd_id, committed_at DESC, created_at DESC)
    WHERE deleted_at IS NULL;

ALTER TABLE rfd
    ADD CONSTRAINT rfd_latest_revision_fk
    FOREIGN KEY (latest_revision_id) REFERENCES rfd_revision (id)
    DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE rfd_pdf (
    id uuid PRIMARY KEY,
    rfd_revision_id uuid NOT NULL REFERENCES rfd_revision (id),
    rfd_id uuid NOT NULL REFERENCES rfd (id),
    source rfd_pdf_source NOT NULL,
    link varchar NOT NULL,
    external_id varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT rfd_pdf_revision_link_unique UNIQUE (rfd_revision_id, source, link)
);

CREATE INDEX rfd_pdf_rfd_idx ON rfd_pdf (rfd_id, created_at DESC) WHERE deleted_at IS NULL;
