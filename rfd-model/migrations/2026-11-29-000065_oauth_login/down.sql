DROP INDEX IF EXISTS login_attempt_expires_idx;
DROP INDEX IF EXISTS login_attempt_remote_state_idx;
ALTER TABLE login_attempt
    DROP CONSTRAINT IF EXISTS login_attempt_grant_type_known,
    DROP COLUMN IF EXISTS api_user_id,
    DROP COLUMN IF EXISTS remote_state_hash;
