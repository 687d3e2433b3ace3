-- RFD numbers handed out by `POST /rfd`.
--
-- The primary key is what makes a number unique: allocation takes a transaction-level
-- advisory lock and inserts max(known numbers) + 1, so concurrent reservations queue up
-- and each sees the one before it. A number stays reserved even when creating its branch
-- fails afterwards, so it is never handed out twice.
CREATE TABLE rfd_reservation (
    rfd_number integer PRIMARY KEY,
    title varchar NOT NULL,
    reserved_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The discussion (pull request) of an RFD as it was when a revision was processed.
--
-- A row here means the pipeline looked for the discussion of that revision and found its
-- pull request; its comments are in rfd_discussion_comment (possibly none).
CREATE TABLE rfd_discussion (
    rfd_revision_id uuid PRIMARY KEY REFERENCES rfd_revision (id) ON DELETE CASCADE,
    rfd_id uuid NOT NULL REFERENCES rfd (id) ON DELETE CASCADE,
    pull_request_number bigint NOT NULL,
    pull_request_url varchar NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now()
);

-- The comments of a discussion: conversation ("issue") comments and review comments on
-- lines of the diff. Replaced as a whole whenever the revision is processed again.
CREATE TABLE rfd_discussion_comment (
    rfd_revision_id uuid NOT NULL REFERENCES rfd_discussion (rfd_revision_id) ON DELETE CASCADE,
    kind varchar NOT NULL CHECK (kind IN ('issue', 'review')),
    comment_id bigint NOT NULL,
    author varchar NOT NULL,
    body text NOT NULL,
    html_url varchar NOT NULL,
    path varchar,
    line bigint,
    commit_sha varchar,
    in_reply_to bigint,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (rfd_revision_id, kind, comment_id)
);
