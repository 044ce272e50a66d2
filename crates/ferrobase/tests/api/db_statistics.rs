//! PostgreSQL's planner statistics are kept fresh by the platform's own job, for the servers
//! whose autovacuum is off (a never-analyzed table is planned as if empty: docs/benchmarks.md).

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use platform::db::{Db, analyze_stale_tables};
use std::time::{Duration, Instant};

#[tokio::test]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn tables_that_changed_enough_are_analyzed_and_the_others_are_not() {
    let Some(base) = testkit::service_url("FERROBASE_TEST_POSTGRES_URL") else { return };
    let db = platform::db::connect(&testkit::fresh_postgres_database(&base).await, 2).await.unwrap();
    let Db::Postgres(pool) = &db else { unreachable!("a PostgreSQL URL") };
    // Autovacuum off for these two, whatever the server says, so that it cannot get there first.
    sqlx::raw_sql(
        "CREATE TABLE busy (id int) WITH (autovacuum_enabled = false);
         CREATE TABLE quiet (id int) WITH (autovacuum_enabled = false);
         INSERT INTO busy SELECT generate_series(1, 1000);
         INSERT INTO quiet SELECT generate_series(1, 10);",
    )
    .execute(pool)
    .await
    .unwrap();
    // A backend publishes its counters at most once a second, once idle.
    let counted = Instant::now() + Duration::from_secs(10);
    loop {
        let (changed,): (i64,) =
            sqlx::query_as("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = 'busy'")
                .fetch_one(pool)
                .await
                .unwrap();
        if changed >= 1000 {
            break;
        }
        assert!(Instant::now() < counted, "the inserts were never counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(analyze_stale_tables(&db).await.unwrap(), 1, "only the table that changed by more than 50 + 10 %");
    // `reltuples` changes with the analysis itself (-1: never analyzed).
    let tuples = |table: &'static str| async move {
        let (tuples,): (f32,) = sqlx::query_as("SELECT reltuples FROM pg_class WHERE relname = $1")
            .bind(table)
            .fetch_one(pool)
            .await
            .unwrap();
        tuples
    };
    assert_eq!(tuples("busy").await, 1000.0, "the planner now knows the table's size");
    assert_eq!(tuples("quiet").await, -1.0, "10 changed rows are below the threshold");
    assert_eq!(analyze_stale_tables(&db).await.unwrap(), 0, "nothing changed since");
}
