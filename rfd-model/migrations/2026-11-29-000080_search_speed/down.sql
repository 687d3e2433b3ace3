DROP TRIGGER IF EXISTS search_match_follow_rfd ON rfd;
DROP FUNCTION IF EXISTS search_match_follow_rfd();
DROP FUNCTION IF EXISTS search_hits(tsquery, boolean, integer[], bigint, integer);
DROP FUNCTION IF EXISTS search_match_index(uuid);
DROP TABLE IF EXISTS search_match;
ALTER TABLE search_section ADD COLUMN document tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), CASE WHEN level = 0 THEN 'A' ELSE 'C' END::"char")
    || setweight(to_tsvector('english', headings), 'B')
    || setweight(to_tsvector('english', content), 'D')
) STORED;
CREATE INDEX search_section_document_idx ON search_section USING GIN (document);
