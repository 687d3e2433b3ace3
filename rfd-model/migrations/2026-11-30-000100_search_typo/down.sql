DROP FUNCTION search_typo_alternatives(varchar[], integer);
