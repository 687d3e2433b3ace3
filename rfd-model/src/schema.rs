//! Diesel table definitions, kept in step with `migrations/` by hand (and checked by
//! the storage tests, which run every query against a migrated database).

/// PostgreSQL enum types declared by the migrations.
pub mod sql_types {
    /// `rfd_visibility`
    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType, Debug, Clone, Copy)]
    #[diesel(postgres_type(name = "rfd_visibility"))]
    pub struct RfdVisibility;

    /// `rfd_content_format`
    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType, Debug, Clone, Copy)]
    #[diesel(postgres_type(name = "rfd_content_format"))]
    pub struct RfdContentFormat;

    /// `job_state`
    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType, Debug, Clone, Copy)]
    #[diesel(postgres_type(name = "job_state"))]
    pub struct JobState;

    /// `job_kind`
    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType, Debug, Clone, Copy)]
    #[diesel(postgres_type(name = "job_kind"))]
    pub struct JobKind;

    /// `rfd_pdf_source`
    #[derive(diesel::query_builder::QueryId, diesel::sql_types::SqlType, Debug, Clone, Copy)]
    #[diesel(postgres_type(name = "rfd_pdf_source"))]
    pub struct RfdPdfSource;
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::RfdVisibility;

    rfd (id) {
        id -> Uuid,
        rfd_number -> Int4,
        link -> Nullable<Varchar>,
        visibility -> RfdVisibility,
        latest_revision_id -> Nullable<Uuid>,
        latest_major_change_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::RfdContentFormat;

    rfd_revision (id) {
        id -> Uuid,
        rfd_id -> Uuid,
        title -> Varchar,
        state -> Nullable<Varchar>,
        discussion -> Nullable<Varchar>,
        authors -> Nullable<Varchar>,
        labels -> Nullable<Varchar>,
        content -> Text,
        content_format -> RfdContentFormat,
        sha -> Varchar,
        commit_sha -> Varchar,
        committed_at -> Timestamptz,
        major_change -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
        tree_sha -> Nullable<Varchar>,
        problems -> Array<Text>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::RfdPdfSource;

    rfd_pdf (id) {
        id -> Uuid,
        rfd_revision_id -> Uuid,
        rfd_id -> Uuid,
        source -> RfdPdfSource,
        link -> Varchar,
        external_id -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    webhook_delivery (id) {
        id -> Uuid,
        event -> Varchar,
        jobs_created -> Int4,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::sql_types::{JobKind, JobState};

    job (id) {
        id -> Int4,
        kind -> JobKind,
        owner -> Varchar,
        repository -> Varchar,
        branch -> Varchar,
        sha -> Varchar,
        rfd -> Nullable<Int4>,
        webhook_delivery_id -> Nullable<Uuid>,
        committed_at -> Timestamptz,
        processed -> Bool,
        created_at -> Timestamptz,
        started_at -> Nullable<Timestamptz>,
        state -> JobState,
        attempts -> Int4,
        max_attempts -> Int4,
        run_at -> Timestamptz,
        lease_owner -> Nullable<Varchar>,
        lease_expires_at -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        completed_actions -> Array<Text>,
        finished_at -> Nullable<Timestamptz>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    job_warning (id) {
        id -> Int8,
        job_id -> Int4,
        attempt -> Int4,
        action -> Varchar,
        message -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    scanned_branch (owner, repository, branch) {
        owner -> Varchar,
        repository -> Varchar,
        branch -> Varchar,
        head_sha -> Varchar,
        scanned_at -> Timestamptz,
    }
}

diesel::joinable!(rfd_revision -> rfd (rfd_id));
diesel::joinable!(rfd_pdf -> rfd_revision (rfd_revision_id));

diesel::allow_tables_to_appear_in_same_query!(
    rfd,
    rfd_revision,
    rfd_pdf,
    job,
    webhook_delivery,
    job_warning,
    scanned_branch,
    api_user,
    api_user_provider,
    api_user_contact_email,
    api_key,
    api_user_access_token,
    access_group,
    access_group_membership,
    mapper,
    mapper_event,
    oauth_client,
    oauth_client_secret,
    oauth_client_redirect_uri,
    magic_link_client,
    magic_link_client_secret,
    magic_link_client_redirect_uri,
    login_attempt,
    link_request,
    rfd_asset,
    search_section,
    search_word,
);

// Users, credentials, groups, mappers and clients (migration 2026-11-24-000020_auth).

diesel::table! {
    api_user (id) {
        id -> Uuid,
        permissions -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_user_provider (id) {
        id -> Uuid,
        api_user_id -> Uuid,
        provider -> Varchar,
        provider_id -> Varchar,
        emails -> Array<Text>,
        display_names -> Array<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_user_contact_email (id) {
        id -> Uuid,
        api_user_id -> Uuid,
        email -> Varchar,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_key (id) {
        id -> Uuid,
        api_user_id -> Uuid,
        key_hash -> Bytea,
        permission_boundary -> Nullable<Jsonb>,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    api_user_access_token (id) {
        id -> Uuid,
        api_user_id -> Uuid,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    access_group (id) {
        id -> Uuid,
        name -> Varchar,
        permissions -> Jsonb,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    access_group_membership (access_group_id, api_user_id) {
        access_group_id -> Uuid,
        api_user_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    mapper (id) {
        id -> Uuid,
        name -> Varchar,
        rule -> Jsonb,
        source -> Varchar,
        activations -> Int4,
        max_activations -> Nullable<Int4>,
        depleted_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    mapper_event (id) {
        id -> Uuid,
        mapper_id -> Uuid,
        mapper_name -> Varchar,
        api_user_id -> Uuid,
        rule -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    oauth_client (id) {
        id -> Uuid,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    oauth_client_secret (id) {
        id -> Uuid,
        oauth_client_id -> Uuid,
        secret_hash -> Bytea,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    oauth_client_redirect_uri (id) {
        id -> Uuid,
        oauth_client_id -> Uuid,
        redirect_uri -> Varchar,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    magic_link_client (id) {
        id -> Uuid,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    magic_link_client_secret (id) {
        id -> Uuid,
        magic_link_client_id -> Uuid,
        secret_hash -> Bytea,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    magic_link_client_redirect_uri (id) {
        id -> Uuid,
        magic_link_client_id -> Uuid,
        redirect_uri -> Varchar,
        created_at -> Timestamptz,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    login_attempt (id) {
        id -> Uuid,
        attempt_state -> Varchar,
        grant_type -> Varchar,
        client_id -> Uuid,
        redirect_uri -> Nullable<Varchar>,
        state -> Nullable<Varchar>,
        pkce_challenge -> Nullable<Varchar>,
        pkce_challenge_method -> Nullable<Varchar>,
        authz_code_hash -> Nullable<Bytea>,
        device_code_hash -> Nullable<Bytea>,
        scope -> Varchar,
        provider -> Varchar,
        provider_pkce_verifier -> Nullable<Varchar>,
        provider_authz_code -> Nullable<Varchar>,
        provider_device_code -> Nullable<Varchar>,
        provider_error -> Nullable<Varchar>,
        error -> Nullable<Varchar>,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        // Added by 2026-11-29-000065_oauth_login.
        remote_state_hash -> Nullable<Bytea>,
        api_user_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    link_request (id) {
        id -> Uuid,
        source_provider_id -> Uuid,
        source_api_user_id -> Uuid,
        target_api_user_id -> Uuid,
        secret_hash -> Bytea,
        expires_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(api_user_provider -> api_user (api_user_id));
diesel::joinable!(api_key -> api_user (api_user_id));
diesel::joinable!(api_user_access_token -> api_user (api_user_id));
diesel::joinable!(access_group_membership -> access_group (access_group_id));
diesel::joinable!(access_group_membership -> api_user (api_user_id));

// Full-text search over RFD sections (migration 2026-11-24-000030_search). What queries
// match on lives in `search_match` (migration 2026-11-29-000080_search_speed), which only
// SQL reads and writes, so it is not declared here.

diesel::table! {
    search_section (object_id) {
        object_id -> Varchar,
        rfd_id -> Uuid,
        rfd_number -> Int4,
        revision_id -> Uuid,
        position -> Int4,
        level -> Int2,
        anchor -> Nullable<Varchar>,
        url -> Nullable<Varchar>,
        hierarchy -> Array<Nullable<Text>>,
        hierarchy_radio -> Array<Nullable<Text>>,
        title -> Text,
        headings -> Text,
        content -> Text,
        indexed_at -> Timestamptz,
    }
}

diesel::table! {
    search_word (word) {
        word -> Varchar,
    }
}

diesel::joinable!(search_section -> rfd (rfd_id));

// Files of RFD folders copied to blob storage (migration 2026-11-24-000040_assets).

diesel::table! {
    rfd_asset (rfd_revision_id, path) {
        rfd_revision_id -> Uuid,
        rfd_id -> Uuid,
        path -> Varchar,
        blob_sha -> Varchar,
        storage_key -> Varchar,
        content_type -> Varchar,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(rfd_asset -> rfd_revision (rfd_revision_id));

// Reserved RFD numbers and discussions per revision (migration 2026-11-29-000055_rfd_write).

diesel::table! {
    rfd_reservation (rfd_number) {
        rfd_number -> Int4,
        title -> Varchar,
        reserved_by -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    rfd_discussion (rfd_revision_id) {
        rfd_revision_id -> Uuid,
        rfd_id -> Uuid,
        pull_request_number -> Int8,
        pull_request_url -> Varchar,
        fetched_at -> Timestamptz,
    }
}

diesel::table! {
    rfd_discussion_comment (rfd_revision_id, kind, comment_id) {
        rfd_revision_id -> Uuid,
        kind -> Varchar,
        comment_id -> Int8,
        author -> Varchar,
        body -> Text,
        html_url -> Varchar,
        path -> Nullable<Varchar>,
        line -> Nullable<Int8>,
        commit_sha -> Nullable<Varchar>,
        in_reply_to -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(rfd_discussion -> rfd_revision (rfd_revision_id));
diesel::joinable!(rfd_discussion_comment -> rfd_discussion (rfd_revision_id));

// Magic-link sign-in attempts (migration 2026-11-29-000060_magic_link).

diesel::table! {
    magic_link_attempt (id) {
        id -> Uuid,
        attempt_state -> Varchar,
        magic_link_client_id -> Uuid,
        medium -> Varchar,
        channel -> Varchar,
        recipient -> Varchar,
        redirect_uri -> Varchar,
        scope -> Varchar,
        nonce_hash -> Bytea,
        error -> Nullable<Varchar>,
        expires_at -> Timestamptz,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

// The trigger id's hash (migration 2026-11-29-000070_trigger).

diesel::table! {
    trigger_secret (id) {
        id -> Int2,
        hash -> Bytea,
        rotated_at -> Timestamptz,
    }
}

// Outbound events (migration 2026-11-29-000090_events).

diesel::table! {
    event_subscriber (name) {
        name -> Varchar,
        kind -> Varchar,
        enabled -> Bool,
        repositories -> Nullable<Array<Text>>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    event (id) {
        id -> Uuid,
        kind -> Varchar,
        owner -> Varchar,
        repository -> Varchar,
        rfd_number -> Int4,
        dedupe_key -> Nullable<Varchar>,
        body -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    event_delivery (id) {
        id -> Uuid,
        event_id -> Uuid,
        subscriber -> Varchar,
        job_id -> Int4,
        delivered_at -> Nullable<Timestamptz>,
        last_status -> Nullable<Int4>,
    }
}

diesel::joinable!(event_delivery -> event (event_id));
diesel::joinable!(event_delivery -> job (job_id));
diesel::allow_tables_to_appear_in_same_query!(event, event_delivery, job);
