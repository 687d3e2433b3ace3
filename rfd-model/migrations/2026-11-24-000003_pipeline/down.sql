DROP TABLE scanned_branch;
DROP TABLE job_warning;
DROP INDEX rfd_revision_tree_idx;
ALTER TABLE rfd_revision DROP COLUMN problems, DROP COLUMN tree_sha;
