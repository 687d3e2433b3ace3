-- The trigger id of POST /trigger/{id} (git servers' post-receive hooks), stored only as
-- its SHA-256. One row at most: rotating replaces it, so the old id stops working at once.
CREATE TABLE trigger_secret (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    hash bytea NOT NULL CHECK (octet_length(hash) = 32),
    rotated_at timestamptz NOT NULL DEFAULT now()
);
