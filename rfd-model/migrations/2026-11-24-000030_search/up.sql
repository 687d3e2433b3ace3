-- Full-text search over RFD sections (the embedded search backend).
--
--  * search_section: one row per section of an RFD's indexed revision (the preamble is
--    position 0). `document` weighs the RFD title highest on the preamble (A), the
--    section's headings next (B), the title on other sections (C) and the text lowest
--    (D), so title matches rank first. Visibility is not copied here: queries join
--    `rfd`, so a visibility change is reflected at once. Rows go with their RFD.
--  * search_word: every word indexed, with a trigram index, to find the indexed words
--    one or two typos away from a query word (pg_trgm, in PostgreSQL's contrib, which
--    Debian's server package includes). Words are never removed: a stale word only
--    adds an alternative that matches nothing.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE search_section (
    object_id varchar PRIMARY KEY,
    rfd_id uuid NOT NULL REFERENCES rfd (id) ON DELETE CASCADE,
    rfd_number integer NOT NULL,
    revision_id uuid NOT NULL,
    position integer NOT NULL,
    level smallint NOT NULL,
    anchor varchar,
    url varchar,
    hierarchy text[] NOT NULL,
    hierarchy_radio text[] NOT NULL,
    title text NOT NULL,
    headings text NOT NULL,
    content text NOT NULL,
    document tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), CASE WHEN level = 0 THEN 'A' ELSE 'C' END::"char")
        || setweight(to_tsvector('english', headings), 'B')
        || setweight(to_tsvector('english', content), 'D')
    ) STORED,
    indexed_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT search_section_position_unique UNIQUE (rfd_id, position)
);

CREATE INDEX search_section_document_idx ON search_section USING GIN (document);
CREATE INDEX search_section_rfd_number_idx ON search_section (rfd_number);

CREATE TABLE search_word (
    word varchar PRIMARY KEY
);

CREATE INDEX search_word_trgm_idx ON search_word USING GIN (word gin_trgm_ops);
