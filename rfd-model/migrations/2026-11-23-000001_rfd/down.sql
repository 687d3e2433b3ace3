DROP TABLE rfd_pdf;
ALTER TABLE rfd DROP CONSTRAINT rfd_latest_revision_fk;
DROP TABLE rfd_revision;
DROP TABLE rfd;
DROP TYPE rfd_pdf_source;
DROP TYPE rfd_content_format;
DROP TYPE rfd_visibility;
