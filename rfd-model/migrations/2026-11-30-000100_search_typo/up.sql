-- Typo alternatives of query words, through the trigram index.
--
-- The lookup used to be a lateral subquery in the application; with the term a run-time
-- value the planner estimated a few hundred matches and read all of `search_word`
-- (25,000 words: 35-40 ms per query on the benchmark's data) instead of the trigram index
-- (2-6 ms). As in search_hits(), the function's settings keep the index in use whatever
-- the statistics say.
--
-- For each term not itself an indexed word: up to `per_term` indexed words similar to it
-- (pg_trgm `%`, the similarity threshold), most similar first. The caller keeps those
-- within the allowed edit distance.
CREATE FUNCTION search_typo_alternatives(terms varchar[], per_term integer)
RETURNS TABLE (term varchar, word varchar)
LANGUAGE sql STABLE
SET enable_seqscan = off
SET jit = off
AS $$
    SELECT t.term, w.word FROM unnest(terms) AS t(term)
    CROSS JOIN LATERAL (
        SELECT s.word FROM search_word s
        WHERE s.word % t.term
        ORDER BY similarity(s.word, t.term) DESC, s.word
        LIMIT per_term) AS w
    WHERE NOT EXISTS (SELECT 1 FROM search_word x WHERE x.word = t.term)
$$;
