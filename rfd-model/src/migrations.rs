//! The embedded migrations, applied under an advisory lock.

use diesel::{Connection, RunQueryDsl};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::StoreError;

/// The migrations of `rfd-model/migrations`, compiled into every binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// The advisory-lock key serialising migrations across processes ("RFD_MIGR").
pub const MIGRATION_LOCK_KEY: i64 = 0x5246_445f_4d49_4752;

/// Applies every pending migration and returns the versions applied.
///
/// Runs on its own connection under a session-level advisory lock, so processes that
/// start together apply migrations one after the other instead of colliding; a process
/// that waited finds nothing left to do.
pub async fn migrate(database_url: &str) -> Result<Vec<String>, StoreError> {
    let url = database_url.to_string();
    tokio::task::spawn_blocking(move || migrate_blocking(&url))
        .await
        .map_err(|err| StoreError::Migration(format!("migration task failed: {err}")))?
}

fn migrate_blocking(database_url: &str) -> Result<Vec<String>, StoreError> {
    let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(database_url)
        .map_err(|err| StoreError::Unavailable(err.to_string()))?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)?;
    let result = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|err| StoreError::Migration(err.to_string()));
    // The lock is released with the session anyway; unlocking early lets a waiting
    // process go on without waiting for this connection to close.
    let _unlock = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<diesel::sql_types::BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn);
    result
}

/// Applies migrations, waiting with backoff while the database is unreachable (a
/// service manager may start us before PostgreSQL). Any other failure is returned.
pub async fn migrate_when_ready(database_url: &str) -> Result<(), StoreError> {
    let mut delay = std::time::Duration::from_millis(250);
    loop {
        match migrate(database_url).await {
            Ok(applied) => {
                if !applied.is_empty() {
                    tracing::info!(count = applied.len(), "migrations applied");
                }
                return Ok(());
            }
            Err(err) if err.is_transient() => {
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "database not ready");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
            Err(err) => return Err(err),
        }
    }
}
