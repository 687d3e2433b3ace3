-- OAuth login (authorization code with PKCE, device code): what `login_attempt` (from
-- 000020) still lacked.
--
--  * remote_state_hash: the `state` we send to GitHub/Google is a fresh random value, not
--    the attempt id (as the reference did), and it doubles as the HttpOnly cookie that
--    binds the callback to the browser that started the login (CSRF). Only its SHA-256 is
--    stored, like every other secret we hand out.
--  * api_user_id: who a completed attempt logged in, for auditing.
--  * expires_at is indexed so expired attempts can be found and purged cheaply.
ALTER TABLE login_attempt
    ADD COLUMN remote_state_hash bytea,
    ADD COLUMN api_user_id uuid REFERENCES api_user (id),
    ADD CONSTRAINT login_attempt_grant_type_known
        CHECK (grant_type IN ('authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'));
CREATE UNIQUE INDEX login_attempt_remote_state_idx ON login_attempt (remote_state_hash)
    WHERE remote_state_hash IS NOT NULL;
CREATE INDEX login_attempt_expires_idx ON login_attempt (expires_at);
