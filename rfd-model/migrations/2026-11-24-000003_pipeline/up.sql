-- What the pipeline and the scanner keep.
--
--  * rfd_revision.tree_sha: the git tree id of the RFD folder at the revision's commit.
--    Equal tree ids mean identical folders, so the scanner can tell from one tree listing
--    which RFDs have content that was never stored, without a call per RFD.
--  * rfd_revision.problems: what is wrong with the document (no title, no state, an
--    unknown state). Such documents are stored and flagged, never dropped.
--  * job_warning: errors of actions that let the pipeline continue. They are kept with
--    the job, not only logged, so nothing fails silently.
--  * scanned_branch: the head of each branch the scanner has already examined, so a scan
--    in which nothing moved costs one branch listing.

ALTER TABLE rfd_revision
    ADD COLUMN tree_sha varchar,
    ADD COLUMN problems text[] NOT NULL DEFAULT '{}';

CREATE INDEX rfd_revision_tree_idx ON rfd_revision (rfd_id, tree_sha) WHERE deleted_at IS NULL;

CREATE TABLE job_warning (
    id bigserial PRIMARY KEY,
    job_id integer NOT NULL REFERENCES job (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    action varchar NOT NULL,
    message text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX job_warning_job_idx ON job_warning (job_id, id);

CREATE TABLE scanned_branch (
    owner varchar NOT NULL,
    repository varchar NOT NULL,
    branch varchar NOT NULL,
    head_sha varchar NOT NULL,
    scanned_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, repository, branch)
);
