//! The SQLite and PostgreSQL migrations must describe the same schema: same tables, columns,
//! nullability and indexes. Two folders with the same file names cannot drift apart unnoticed.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use std::collections::BTreeSet;
use std::path::Path;

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect()
}

#[test]
fn both_dialects_have_the_same_migration_files() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir(crates).unwrap() {
        let migrations = entry.unwrap().path().join("migrations");
        if migrations.is_dir() {
            let sqlite = file_names(&migrations.join("sqlite"));
            let postgres = file_names(&migrations.join("postgres"));
            assert_eq!(sqlite, postgres, "migration files differ in {}", migrations.display());
            checked += 1;
        }
    }
    assert!(checked >= 2, "expected the platform and accounts migrations");
    let declared: usize = ferrobase::migrations().iter().map(|set| set.len()).sum();
    assert!(declared >= 2);
}

#[tokio::test]
#[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
async fn migrated_schemas_match() {
    let Some(base) = testkit::service_url("FERROBASE_TEST_POSTGRES_URL") else { return };
    let dir = tempfile::tempdir().unwrap();
    let sqlite = platform::db::connect(&format!("sqlite://{}/p.db", dir.path().display()), 2).await.unwrap();
    let postgres = platform::db::connect(&testkit::fresh_postgres_database(&base).await, 2).await.unwrap();
    for db in [&sqlite, &postgres] {
        platform::db::migrate(db, &ferrobase::migrations()).await.unwrap();
        // Running again applies nothing.
        assert_eq!(platform::db::migrate(db, &ferrobase::migrations()).await.unwrap(), 0);
    }
    let a = platform::db::introspect(&sqlite).await.unwrap();
    let b = platform::db::introspect(&postgres).await.unwrap();
    assert!(a.contains_key("users") && a.contains_key("outbox"));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "tables differ");
    for (table, sqlite_table) in &a {
        assert_eq!(sqlite_table, &b[table], "table {table} differs (left: SQLite, right: PostgreSQL)");
    }
}
