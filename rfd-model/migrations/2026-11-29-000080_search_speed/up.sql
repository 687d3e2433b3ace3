-- Search speed (issue 5): rank from a narrow table with one small tsvector per field, so
-- a query reads a few narrow rows instead of ranking every matching section's body.
--
--  * search_match: one narrow row per search_section row (same object_id; deleted with
--    it). It holds what a query filters and orders by: the RFD's number, the section's
--    position and level, who may read it (copied from `rfd` and kept current by the
--    trigger below), and one tsvector per field: the title (preamble rows only), the
--    headings, title and headings together, and the whole section (`document`, weights
--    as before: title A on the preamble and C elsewhere, headings B, text D). The bodies'
--    tsvectors are large; a query reads them only through the GIN index, or for the few
--    rows at the top of the order (see search_hits()).
--  * search_hits() ranks by tier: the RFD title (on the preamble), then headings, then
--    title and headings together (the title on a section), then text; inside a tier,
--    newest RFD first, then document order. See the function for how each tier stays
--    cheap for both very common and rare words.
--  * search_section keeps the display fields; its own `document` column and GIN index
--    are no longer used and are dropped.

CREATE TABLE search_match (
    object_id varchar PRIMARY KEY REFERENCES search_section (object_id) ON DELETE CASCADE,
    rfd_id uuid NOT NULL,
    rfd_number integer NOT NULL,
    position integer NOT NULL,
    level smallint NOT NULL,
    -- Readable by anyone: the RFD is public and not deleted.
    public boolean NOT NULL,
    -- The RFD is deleted: nobody finds it.
    deleted boolean NOT NULL,
    title_doc tsvector NOT NULL,
    heading_doc tsvector NOT NULL,
    head_doc tsvector NOT NULL,
    document tsvector NOT NULL
);

-- Fills search_match for the sections of one RFD (the indexer calls it in the
-- transaction that writes the sections). The RFD row is share-locked first, so a
-- concurrent visibility change waits for this transaction and its trigger then sees
-- these rows, or this statement waits for it and copies the new visibility.
CREATE FUNCTION search_match_index(p_rfd uuid) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    PERFORM 1 FROM rfd WHERE id = p_rfd FOR SHARE;
    INSERT INTO search_match (object_id, rfd_id, rfd_number, position, level, public, deleted,
                              title_doc, heading_doc, head_doc, document)
    SELECT s.object_id, s.rfd_id, s.rfd_number, s.position, s.level,
           r.visibility = 'public' AND r.deleted_at IS NULL, r.deleted_at IS NOT NULL,
           CASE WHEN s.level = 0 THEN setweight(to_tsvector('english', s.title), 'A') ELSE ''::tsvector END,
           setweight(to_tsvector('english', s.headings), 'B'),
           setweight(to_tsvector('english', s.title), CASE WHEN s.level = 0 THEN 'A' ELSE 'C' END::"char")
             || setweight(to_tsvector('english', s.headings), 'B'),
           setweight(to_tsvector('english', s.title), CASE WHEN s.level = 0 THEN 'A' ELSE 'C' END::"char")
             || setweight(to_tsvector('english', s.headings), 'B')
             || setweight(to_tsvector('english', s.content), 'D')
    FROM search_section s JOIN rfd r ON r.id = s.rfd_id
    WHERE s.rfd_id = p_rfd
    ON CONFLICT (object_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Every section indexed so far.
SELECT search_match_index(id) FROM rfd WHERE id IN (SELECT DISTINCT rfd_id FROM search_section);

ALTER TABLE search_section DROP COLUMN document;

-- Newest RFD first, then document order: the order inside a tier, and an index that
-- lets a tier of a very common word stop after one page.
CREATE INDEX search_match_order_idx ON search_match (rfd_number DESC, position);
CREATE INDEX search_match_preamble_idx ON search_match (rfd_number DESC) WHERE level = 0;
CREATE INDEX search_match_rfd_idx ON search_match (rfd_id);
-- GIN without a pending list: sections are written by jobs in the background, and a
-- pending list (up to 4 MB, flushed only by autovacuum or a full list) is scanned by
-- every query until then.
CREATE INDEX search_match_title_idx ON search_match USING GIN (title_doc) WITH (fastupdate = off) WHERE level = 0;
CREATE INDEX search_match_heading_idx ON search_match USING GIN (heading_doc) WITH (fastupdate = off) WHERE level > 0;
CREATE INDEX search_match_head_idx ON search_match USING GIN (head_doc) WITH (fastupdate = off) WHERE level > 0;
CREATE INDEX search_match_document_idx ON search_match USING GIN (document) WITH (fastupdate = off);


-- Visibility and deletion are copied into search_match: a change to the RFD is applied
-- to its rows in the same transaction, so the next query already sees it.
CREATE FUNCTION search_match_follow_rfd() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE search_match
    SET public = NEW.visibility = 'public' AND NEW.deleted_at IS NULL,
        deleted = NEW.deleted_at IS NOT NULL
    WHERE rfd_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER search_match_follow_rfd
    AFTER UPDATE OF visibility, deleted_at ON rfd
    FOR EACH ROW
    WHEN (OLD.visibility IS DISTINCT FROM NEW.visibility OR OLD.deleted_at IS DISTINCT FROM NEW.deleted_at)
    EXECUTE FUNCTION search_match_follow_rfd();

-- Parallel workers cost more to start than these queries take.
ALTER TABLE search_match SET (parallel_workers = 0);

-- The first `wanted` hits of `q` for a caller who reads every RFD (`all_rfds`) or the
-- public ones plus `granted`, best first: tier 3 (the title, on the preamble), 2 (the
-- headings), 1 (title and headings together), 0 (the text); inside a tier, newest RFD
-- first, then document order. Tiers are exclusive: a section is in its best one.
--
-- A tier's hits are found one of two ways, each cheap where the other is not:
--  * dense: read the first `window_rows` sections in order and keep those that match.
--    A common word fills the page from the first few dozen sections, however many
--    thousand match further down (ranking every match is what made it slow).
--  * sparse: when the window holds fewer than needed, the GIN index finds every match
--    (few, since the window was nearly empty of them) and they are sorted. The window's
--    hits are the first ones in order, so the sparse query continues after them.
-- The settings keep the sparse query on its bitmap index scan whatever the statistics
-- say (a sequential scan would decompress every section's tsvector) and keep workers
-- out of queries that take milliseconds.
CREATE FUNCTION search_hits(q tsquery, all_rfds boolean, granted integer[], wanted bigint, window_rows integer)
RETURNS TABLE (object_id varchar, tier integer, rfd_number integer, "position" integer)
LANGUAGE plpgsql STABLE
SET enable_seqscan = off
SET plan_cache_mode = force_generic_plan
SET max_parallel_workers_per_gather = 0
SET jit = off
AS $$
DECLARE
    got bigint := 0;
    n bigint;
    more bigint;
    need bigint;
BEGIN
    FOR t IN REVERSE 3..0 LOOP
        EXIT WHEN got >= wanted;
        need := wanted - got;
        IF t = 3 THEN
            RETURN QUERY SELECT w.object_id, 3, w.rfd_number, w.position FROM (
                SELECT m.object_id, m.rfd_number, m.position, m.title_doc FROM search_match m
                WHERE m.level = 0 AND NOT m.deleted AND (all_rfds OR m.public OR m.rfd_number = ANY(granted))
                ORDER BY m.rfd_number DESC LIMIT window_rows) w
              WHERE w.title_doc @@ q ORDER BY w.rfd_number DESC LIMIT need;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n < need THEN
                RETURN QUERY SELECT m.object_id, 3, m.rfd_number, m.position FROM search_match m
                  WHERE m.level = 0 AND m.title_doc @@ q
                    AND NOT m.deleted AND (all_rfds OR m.public OR m.rfd_number = ANY(granted))
                  ORDER BY m.rfd_number + 0 DESC LIMIT need - n OFFSET n;
                GET DIAGNOSTICS more = ROW_COUNT;
                n := n + more;
            END IF;
        ELSIF t = 2 THEN
            RETURN QUERY SELECT w.object_id, 2, w.rfd_number, w.position FROM (
                SELECT m.object_id, m.rfd_number, m.position, m.heading_doc FROM search_match m
                WHERE m.level > 0 AND NOT m.deleted AND (all_rfds OR m.public OR m.rfd_number = ANY(granted))
                ORDER BY m.rfd_number DESC, m.position LIMIT window_rows) w
              WHERE w.heading_doc @@ q ORDER BY w.rfd_number DESC, w.position LIMIT need;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n < need THEN
                RETURN QUERY SELECT m.object_id, 2, m.rfd_number, m.position FROM search_match m
                  WHERE m.level > 0 AND m.heading_doc @@ q
                    AND NOT m.deleted AND (all_rfds OR m.public OR m.rfd_number = ANY(granted))
                  ORDER BY m.rfd_number + 0 DESC, m.position LIMIT need - n OFFSET n;
                GET DIAGNOSTICS more = ROW_COUNT;
                n := n + more;
            END IF;
        ELSIF t = 1 THEN
            RETURN QUERY SELECT w.object_id, 1, w.rfd_number, w.position FROM (
                SELECT m.object_id, m.rfd_number, m.position, m.heading_doc, m.head_doc FROM search_match m
                WHERE m.level > 0 AND NOT m.deleted AND (all_rfds OR m.public OR m.rfd_number = ANY(granted))
                ORDER BY m.rfd_number DESC, m.position LIMIT window_rows) w
              WHERE w.head_doc @@ q AND NOT w.heading_doc @@ q
              ORDER BY w.rfd_number DESC, w.position LIMIT need;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n < need THEN
                RETURN QUERY SELECT m.object_id, 1, m.rfd_number, m.position FROM search_match m
                  WHERE m.level > 0 AND m.head_doc @@ q AND NOT m.heading_doc @@ q
                    AND NOT m.deleted AND (all_rfds OR m.public OR m.rfd_number = ANY(granted))
                  ORDER BY m.rfd_number + 0 DESC, m.position LIMIT need - n OFFSET n;
                GET DIAGNOSTICS more = ROW_COUNT;
                n := n + more;
            END IF;
        ELSE
            RETURN QUERY SELECT w.object_id, 0, w.rfd_number, w.position FROM (
                SELECT m.object_id, m.rfd_number, m.position, m.level, m.title_doc, m.head_doc, m.document
                FROM search_match m
                WHERE NOT m.deleted AND (all_rfds OR m.public OR m.rfd_number = ANY(granted))
                ORDER BY m.rfd_number DESC, m.position LIMIT window_rows) w
              WHERE w.document @@ q
                AND NOT (w.level = 0 AND w.title_doc @@ q) AND NOT (w.level > 0 AND w.head_doc @@ q)
              ORDER BY w.rfd_number DESC, w.position LIMIT need;
            GET DIAGNOSTICS n = ROW_COUNT;
            IF n < need THEN
                RETURN QUERY SELECT m.object_id, 0, m.rfd_number, m.position FROM search_match m
                  WHERE m.document @@ q
                    AND NOT (m.level = 0 AND m.title_doc @@ q) AND NOT (m.level > 0 AND m.head_doc @@ q)
                    AND NOT m.deleted AND (all_rfds OR m.public OR m.rfd_number = ANY(granted))
                  ORDER BY m.rfd_number + 0 DESC, m.position LIMIT need - n OFFSET n;
                GET DIAGNOSTICS more = ROW_COUNT;
                n := n + more;
            END IF;
        END IF;
        got := got + n;
    END LOOP;
END
$$;
