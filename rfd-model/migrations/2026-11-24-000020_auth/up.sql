-- Users, credentials, groups, mappers and the OAuth / magic-link clients.
--
-- Differences from the reference service (v-api), and why:
--  * every secret we hand out (API tokens, OAuth client secrets, magic-link secrets,
--    link tokens, authorization and device codes) is stored only as its SHA-256 digest:
--    they are high-entropy random values, so a digest cannot be reversed, and (unlike the
--    reference's RSA signatures) verifying one does not depend on the JWT signing key;
--  * group membership is a table with foreign keys, not a uuid[] on the user, so adding
--    and removing members are single-row writes that cannot lose a concurrent update;
--  * names of groups and mappers are unique among live rows only, so a deleted one's
--    name can be reused;
--  * access tokens record their expiry, so revocation checks and clean-ups are indexed.

CREATE TABLE api_user (
    id uuid PRIMARY KEY,
    -- The user's direct permissions, in the API's JSON encoding.
    permissions jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT api_user_permissions_array CHECK (jsonb_typeof(permissions) = 'array')
);

CREATE TABLE api_user_provider (
    id uuid PRIMARY KEY,
    api_user_id uuid NOT NULL REFERENCES api_user (id),
    provider varchar NOT NULL,
    provider_id varchar NOT NULL,
    emails text[] NOT NULL DEFAULT '{}',
    display_names text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT api_user_provider_unique UNIQUE (provider, provider_id)
);
CREATE INDEX api_user_provider_user_idx ON api_user_provider (api_user_id);

CREATE TABLE api_user_contact_email (
    id uuid PRIMARY KEY,
    api_user_id uuid NOT NULL REFERENCES api_user (id),
    email varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT api_user_contact_email_user_unique UNIQUE (api_user_id)
);

CREATE TABLE api_key (
    id uuid PRIMARY KEY,
    api_user_id uuid NOT NULL REFERENCES api_user (id),
    -- SHA-256 of the token; the token itself is shown once and never stored.
    key_hash bytea NOT NULL,
    -- Optional: the token never carries more than these (intersected with the user's).
    permission_boundary jsonb,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT api_key_hash_unique UNIQUE (key_hash),
    CONSTRAINT api_key_hash_length CHECK (octet_length(key_hash) = 32)
);
CREATE INDEX api_key_user_idx ON api_key (api_user_id, created_at DESC);

-- One row per JWT issued; the id is the token's `jti`.
CREATE TABLE api_user_access_token (
    id uuid PRIMARY KEY,
    api_user_id uuid NOT NULL REFERENCES api_user (id),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_user_access_token_user_idx ON api_user_access_token (api_user_id) WHERE revoked_at IS NULL;

CREATE TABLE access_group (
    id uuid PRIMARY KEY,
    name varchar NOT NULL,
    permissions jsonb NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT access_group_permissions_array CHECK (jsonb_typeof(permissions) = 'array')
);
CREATE UNIQUE INDEX access_group_name_live_idx ON access_group (name) WHERE deleted_at IS NULL;

CREATE TABLE access_group_membership (
    access_group_id uuid NOT NULL REFERENCES access_group (id),
    api_user_id uuid NOT NULL REFERENCES api_user (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (access_group_id, api_user_id)
);
CREATE INDEX access_group_membership_user_idx ON access_group_membership (api_user_id);

CREATE TABLE mapper (
    id uuid PRIMARY KEY,
    name varchar NOT NULL,
    rule jsonb NOT NULL,
    -- 'dynamic' (created through the API) or 'preset' (owned by mappers.toml).
    source varchar NOT NULL DEFAULT 'dynamic',
    activations integer NOT NULL DEFAULT 0,
    max_activations integer,
    depleted_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT mapper_source_known CHECK (source IN ('dynamic', 'preset')),
    CONSTRAINT mapper_activations_bounded
        CHECK (activations >= 0 AND (max_activations IS NULL OR activations <= max_activations)),
    CONSTRAINT mapper_max_activations_positive CHECK (max_activations IS NULL OR max_activations >= 0)
);
CREATE UNIQUE INDEX mapper_name_live_idx ON mapper (name) WHERE deleted_at IS NULL;

-- Which users each mapper has been applied to (once per user: `max_activations` counts
-- distinct users, so a user logging in again does not use up a mapper).
CREATE TABLE mapper_event (
    id uuid PRIMARY KEY,
    mapper_id uuid NOT NULL REFERENCES mapper (id),
    mapper_name varchar NOT NULL,
    api_user_id uuid NOT NULL REFERENCES api_user (id),
    rule jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX mapper_event_mapper_user_idx ON mapper_event (mapper_id, api_user_id);

CREATE TABLE oauth_client (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);

CREATE TABLE oauth_client_secret (
    id uuid PRIMARY KEY,
    oauth_client_id uuid NOT NULL REFERENCES oauth_client (id),
    secret_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT oauth_client_secret_hash_unique UNIQUE (secret_hash)
);
CREATE INDEX oauth_client_secret_client_idx ON oauth_client_secret (oauth_client_id);

CREATE TABLE oauth_client_redirect_uri (
    id uuid PRIMARY KEY,
    oauth_client_id uuid NOT NULL REFERENCES oauth_client (id),
    redirect_uri varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX oauth_client_redirect_uri_client_idx ON oauth_client_redirect_uri (oauth_client_id);

CREATE TABLE magic_link_client (
    id uuid PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);

CREATE TABLE magic_link_client_secret (
    id uuid PRIMARY KEY,
    magic_link_client_id uuid NOT NULL REFERENCES magic_link_client (id),
    secret_hash bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT magic_link_client_secret_hash_unique UNIQUE (secret_hash)
);
CREATE INDEX magic_link_client_secret_client_idx ON magic_link_client_secret (magic_link_client_id);

CREATE TABLE magic_link_client_redirect_uri (
    id uuid PRIMARY KEY,
    magic_link_client_id uuid NOT NULL REFERENCES magic_link_client (id),
    redirect_uri varchar NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz
);
CREATE INDEX magic_link_client_redirect_uri_client_idx ON magic_link_client_redirect_uri (magic_link_client_id);

-- An OAuth login in progress (authorization code with PKCE, or device code).
CREATE TABLE login_attempt (
    id uuid PRIMARY KEY,
    attempt_state varchar NOT NULL DEFAULT 'new',
    grant_type varchar NOT NULL DEFAULT 'authorization_code',
    client_id uuid NOT NULL REFERENCES oauth_client (id),
    redirect_uri varchar,
    -- The client's opaque state, echoed back to it.
    state varchar,
    pkce_challenge varchar,
    pkce_challenge_method varchar,
    -- SHA-256 of the code we hand the client; single use (state 'complete' after).
    authz_code_hash bytea,
    -- SHA-256 of the device code we hand the client.
    device_code_hash bytea,
    scope varchar NOT NULL DEFAULT '',
    provider varchar NOT NULL,
    provider_pkce_verifier varchar,
    provider_authz_code varchar,
    provider_device_code varchar,
    provider_error varchar,
    error varchar,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT login_attempt_state_known
        CHECK (attempt_state IN ('new', 'remote_authenticated', 'failed', 'complete'))
);
CREATE UNIQUE INDEX login_attempt_authz_code_idx ON login_attempt (authz_code_hash) WHERE authz_code_hash IS NOT NULL;
CREATE UNIQUE INDEX login_attempt_device_code_idx ON login_attempt (device_code_hash) WHERE device_code_hash IS NOT NULL;

-- A request to move a provider identity from one user to another.
CREATE TABLE link_request (
    id uuid PRIMARY KEY,
    source_provider_id uuid NOT NULL REFERENCES api_user_provider (id),
    source_api_user_id uuid NOT NULL REFERENCES api_user (id),
    target_api_user_id uuid NOT NULL REFERENCES api_user (id),
    secret_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT link_request_secret_hash_unique UNIQUE (secret_hash)
);
