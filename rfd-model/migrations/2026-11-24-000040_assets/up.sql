-- Files of RFD folders (images and other static files) copied to blob storage.
--
-- One row per (revision, file): which object holds the file's bytes. A file is uploaded
-- once, under the commit that first had its content (rfd/NNNN/<commit>/<path>); later
-- revisions with the same git blob point at that same object, so unchanged files are
-- never uploaded again and a historic revision still finds its own images.
CREATE TABLE rfd_asset (
    rfd_revision_id uuid NOT NULL REFERENCES rfd_revision (id) ON DELETE CASCADE,
    rfd_id uuid NOT NULL REFERENCES rfd (id) ON DELETE CASCADE,
    path varchar NOT NULL,
    blob_sha varchar NOT NULL,
    storage_key varchar NOT NULL,
    content_type varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rfd_revision_id, path)
);

CREATE INDEX rfd_asset_blob_idx ON rfd_asset (rfd_id, path, blob_sha);
