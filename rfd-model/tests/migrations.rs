//! Migrations against a real, empty PostgreSQL database.

use rfd_model::migrations::migrate;

async fn table_names(url: &str) -> Vec<String> {
    let client = rfd_devdb::connect(url).await.unwrap_or_else(|err| panic!("connect: {err}"));
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap_or_else(|err| panic!("list tables: {err}"));
    rows.iter().map(|row| row.get(0)).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_apply_on_empty_database_and_are_idempotent() {
    let db = rfd_devdb::empty_database().await;
    assert!(!table_names(&db.url).await.contains(&"rfd".to_string()));

    let first = migrate(&db.url).await.unwrap_or_else(|err| panic!("first migrate: {err}"));
    assert!(!first.is_empty(), "an empty database gets every migration");
    let tables = table_names(&db.url).await;
    for table in ["rfd", "rfd_revision", "rfd_pdf", "__diesel_schema_migrations"] {
        assert!(tables.contains(&table.to_string()), "{table} missing from {tables:?}");
    }

    let second = migrate(&db.url).await.unwrap_or_else(|err| panic!("second migrate: {err}"));
    assert!(second.is_empty(), "nothing left to apply, got {second:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_migrations_both_succeed() {
    let db = rfd_devdb::empty_database().await;
    let (a, b) = tokio::join!(migrate(&db.url), migrate(&db.url));
    let a = a.unwrap_or_else(|err| panic!("first migrator: {err}"));
    let b = b.unwrap_or_else(|err| panic!("second migrator: {err}"));
    // One of them applied everything, the other found nothing to do.
    assert!(a.is_empty() != b.is_empty(), "a={a:?} b={b:?}");

    let client = rfd_devdb::connect(&db.url).await.unwrap_or_else(|err| panic!("connect: {err}"));
    let applied: i64 = client
        .query_one("SELECT count(*) FROM __diesel_schema_migrations", &[])
        .await
        .unwrap_or_else(|err| panic!("count: {err}"))
        .get(0);
    assert_eq!(applied as usize, a.len().max(b.len()));
}
