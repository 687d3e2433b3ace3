DROP TABLE magic_link_attempt;
