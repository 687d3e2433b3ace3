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

diesel::joinable!(rfd_revision -> rfd (rfd_id));
diesel::joinable!(rfd_pdf -> rfd_revision (rfd_revision_id));

diesel::allow_tables_to_appear_in_same_query!(rfd, rfd_revision, rfd_pdf, job, webhook_delivery);
