-- Magic-link sign-in attempts.
--
-- Differences from the reference service, and why:
--  * the attempt is stored (state 'new') BEFORE the email is sent, then marked 'sent' or
--    'failed': a crash or a failed send never leaves a link in someone's inbox that the
--    platform knows nothing about;
--  * the nonce is stored only as its SHA-256 digest (it is 32 random bytes), compared in
--    constant time, and the attempt is found by its id, not by a signature lookup;
--  * exchange is one locked state transition ('sent' -> 'complete'), so a link is used
--    at most once even under concurrent exchanges.
CREATE TABLE magic_link_attempt (
    id uuid PRIMARY KEY,
    attempt_state varchar NOT NULL DEFAULT 'new',
    magic_link_client_id uuid NOT NULL REFERENCES magic_link_client (id),
    medium varchar NOT NULL,
    channel varchar NOT NULL,
    recipient varchar NOT NULL,
    redirect_uri varchar NOT NULL,
    scope varchar NOT NULL DEFAULT '',
    nonce_hash bytea NOT NULL,
    -- Why sending failed (never contains the link).
    error varchar,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT magic_link_attempt_state_known
        CHECK (attempt_state IN ('new', 'sent', 'failed', 'complete')),
    CONSTRAINT magic_link_attempt_nonce_hash_length CHECK (octet_length(nonce_hash) = 32)
);
CREATE INDEX magic_link_attempt_client_idx ON magic_link_attempt (magic_link_client_id, created_at DESC);
