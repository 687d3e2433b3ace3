//! Connection pools.

use std::time::Duration;

use diesel::IntoSql;
use diesel_async::pooled_connection::bb8::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;

use crate::error::StoreError;

/// Pool settings; every field has a default so the section may be left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolSettings {
    /// Most connections held open.
    pub max_connections: u32,
    /// How long to wait for a connection before reporting the database unavailable.
    pub connect_timeout_secs: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self { max_connections: 16, connect_timeout_secs: 3 }
    }
}

/// A pool of async PostgreSQL connections.
pub type DbPool = Pool<AsyncPgConnection>;

/// Builds a pool. It connects lazily, so a database that is down at start-up (or later)
/// shows as [`StoreError::Unavailable`] on use and recovers by itself when it returns.
///
/// A connection is checked when it is taken from the pool, but without a round trip (a
/// `SELECT 1` per use cost as much as the statement it guarded): one the server closed
/// (a restart, an idle timeout) is seen as closed by the client and replaced, as is one
/// left in a broken transaction. A connection whose peer vanished without closing it
/// fails its next query as unavailable and is then dropped by the pool.
pub fn pool(database_url: &str, settings: &PoolSettings) -> DbPool {
    let mut config = ManagerConfig::<AsyncPgConnection>::default();
    config.recycling_method = RecyclingMethod::CustomFunction(Box::new(|conn| {
        let broken = conn.is_broken();
        Box::pin(
            async move { if broken { Err(diesel::result::Error::BrokenTransactionManager) } else { Ok(()) } },
        )
    }));
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    Pool::builder()
        .max_size(settings.max_connections.max(1))
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(settings.connect_timeout_secs.max(1)))
        .test_on_check_out(true)
        .build_unchecked(manager)
}

/// Checks that the database answers a trivial query through the pool.
pub async fn ping(pool: &DbPool) -> Result<(), StoreError> {
    let mut conn = pool.get().await?;
    diesel::select(1.into_sql::<diesel::sql_types::Integer>()).execute(&mut conn).await?;
    Ok(())
}

/// A raw SQL statement (`diesel::sql_query`) that each connection prepares once and then
/// reuses, planned by PostgreSQL's plan cache instead of parsed and planned per call.
///
/// Diesel treats every `sql_query` as unsafe to cache, because its text may differ from
/// call to call; the statements wrapped here are fixed strings, and diesel-async keys its
/// statement cache by the SQL text and bind types, so each text gets its own prepared
/// statement. For the queue's statements, which are small but have several CTEs, parsing
/// and planning cost more than executing: a cached statement is also one round trip
/// instead of two (prepare, then execute). Measured in BENCHMARKS.md (Latest results).
///
/// Caching the statement is half of it: PostgreSQL must also choose to keep a generic
/// plan, which it does only when that plan's estimate is no worse than a custom plan's.
/// A `LIMIT $n` parameter, or arrays the planner can size, defeat that; see how the queue
/// writes its limits and arrays, and the test that reads `pg_prepared_statements`.
///
/// A statement wrapped here must name the columns it returns rather than `*`: a prepared
/// statement whose result type a later migration changed fails with "cached plan must not
/// change result type" until the connection is replaced.
#[derive(Debug, Clone)]
pub struct Prepared<Q>(pub Q);

impl<Q: diesel::query_builder::QueryFragment<diesel::pg::Pg>>
    diesel::query_builder::QueryFragment<diesel::pg::Pg> for Prepared<Q>
{
    fn walk_ast<'b>(
        &'b self,
        pass: diesel::query_builder::AstPass<'_, 'b, diesel::pg::Pg>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(pass)
    }

    fn is_safe_to_cache_prepared(&self, _backend: &diesel::pg::Pg) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

impl<Q> diesel::query_builder::QueryId for Prepared<Q> {
    // No static id: the statement cache is keyed by the SQL text and bind types.
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: diesel::query_builder::Query> diesel::query_builder::Query for Prepared<Q> {
    type SqlType = Q::SqlType;
}
