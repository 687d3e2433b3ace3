DROP TABLE IF EXISTS search_word;
DROP TABLE IF EXISTS search_section;
-- pg_trgm stays: other objects may use it, and it costs nothing.
