//! The migration runner: each module ships the same migrations for both dialects, applied in
//! order and recorded in `schema_migrations`, once per database however many instances start.

use super::{Db, DbError};
use crate::db::Ts;

/// One migration of one module, in both dialects (kept in two folders under the same file name).
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// The owning module, e.g. `accounts`.
    pub module: &'static str,
    /// Order within the module.
    pub version: i64,
    /// The file name, e.g. `0001_init.sql`.
    pub file: &'static str,
    /// The SQLite text.
    pub sqlite: &'static str,
    /// The PostgreSQL text.
    pub postgres: &'static str,
}

/// Declares a module's migrations from `migrations/{sqlite,postgres}/FILE` in the calling crate:
/// `platform::migrations!("accounts", 1 => "0001_init.sql")`.
#[macro_export]
macro_rules! migrations {
    ($module:literal, $($version:literal => $file:literal),+ $(,)?) => {
        &[$($crate::db::Migration {
            module: $module,
            version: $version,
            file: $file,
            sqlite: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file)),
            postgres: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file)),
        }),+]
    };
}

const BOOKKEEPING: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    module TEXT NOT NULL,
    version BIGINT NOT NULL,
    file TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    checksum TEXT,
    PRIMARY KEY (module, version))";

/// Databases migrated before checksums were kept gain the column (their rows take the
/// checksum of the text this build has, on first sight).
const ADD_CHECKSUM_SQLITE: &str = "ALTER TABLE schema_migrations ADD COLUMN checksum TEXT";
const ADD_CHECKSUM_POSTGRES: &str = "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum TEXT";

/// The SHA-256 of a migration's text, as recorded when it was applied.
pub fn checksum(sql: &str) -> String {
    crate::crypto::sha256_hex(sql)
}

/// Applies every migration in `sets` not yet recorded, each in its own transaction, and
/// refuses to start when a migration already applied has been edited since (its checksum
/// differs): the database would not match what the code expects. Returns how many were
/// applied. On PostgreSQL an advisory lock keeps two starting instances from racing; on SQLite
/// the immediate transaction does the same.
pub async fn migrate(db: &Db, sets: &[&[Migration]]) -> Result<usize, DbError> {
    let mut applied = 0;
    match db {
        Db::Sqlite(pool, _) => {
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql(BOOKKEEPING).execute(&mut *conn).await?;
            if let Err(e) = sqlx::raw_sql(ADD_CHECKSUM_SQLITE).execute(&mut *conn).await
                && !e.to_string().contains("duplicate column")
            {
                return Err(e.into());
            }
            for m in sets.iter().flat_map(|s| s.iter()) {
                let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
                let sum = checksum(m.sqlite);
                match recorded(&mut *tx, m).await? {
                    None => {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(m.sqlite)).execute(&mut *tx).await?;
                        record(&mut *tx, m, &sum).await?;
                        applied += 1;
                    }
                    Some(stored) => check(&mut *tx, m, stored, &sum).await?,
                }
                tx.commit().await?;
            }
        }
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock(727274)").execute(&mut *conn).await?;
            let result = async {
                sqlx::raw_sql(BOOKKEEPING).execute(&mut *conn).await?;
                sqlx::raw_sql(ADD_CHECKSUM_POSTGRES).execute(&mut *conn).await?;
                for m in sets.iter().flat_map(|s| s.iter()) {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    let sum = checksum(m.postgres);
                    match recorded(&mut *tx, m).await? {
                        None => {
                            sqlx::raw_sql(sqlx::AssertSqlSafe(m.postgres)).execute(&mut *tx).await?;
                            record(&mut *tx, m, &sum).await?;
                            applied += 1;
                        }
                        Some(stored) => check(&mut *tx, m, stored, &sum).await?,
                    }
                    tx.commit().await?;
                }
                Ok::<_, DbError>(())
            }
            .await;
            sqlx::query("SELECT pg_advisory_unlock(727274)").execute(&mut *conn).await?;
            result?;
        }
    }
    Ok(applied)
}

/// The checksum recorded for `m`: None when it was never applied, Some(None) when it was
/// applied before checksums were kept.
async fn recorded<'c, E>(conn: E, m: &Migration) -> Result<Option<Option<String>>, sqlx::Error>
where
    E: sqlx::Executor<'c>,
    i64: for<'q> sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> &'q str: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> <E::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<E::Database>,
    for<'r> (Option<String>,): sqlx::FromRow<'r, <E::Database as sqlx::Database>::Row>,
{
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT checksum FROM schema_migrations WHERE module = $1 AND version = $2")
            .bind(m.module)
            .bind(m.version)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| r.0))
}

/// Compares an applied migration with this build's text; fills in a missing checksum.
async fn check<'c, E>(conn: E, m: &Migration, stored: Option<String>, sum: &str) -> Result<(), DbError>
where
    E: sqlx::Executor<'c>,
    i64: for<'q> sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> &'q str: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> <E::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<E::Database>,
{
    match stored {
        Some(stored) if stored == sum => Ok(()),
        Some(_) => Err(DbError::MigrationChanged(format!(
            "migration {} of module {} ({}) was edited after it was applied to this database; \
             restore its original text and add the change as a new migration",
            m.version, m.module, m.file
        ))),
        None => {
            sqlx::query("UPDATE schema_migrations SET checksum = $1 WHERE module = $2 AND version = $3")
                .bind(sum)
                .bind(m.module)
                .bind(m.version)
                .execute(conn)
                .await?;
            Ok(())
        }
    }
}

async fn record<'c, E>(conn: E, m: &Migration, sum: &str) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'c>,
    i64: for<'q> sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> &'q str: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    String: for<'q> sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> <E::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<E::Database>,
{
    sqlx::query(
        "INSERT INTO schema_migrations (module, version, file, applied_at, checksum) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(m.module)
    .bind(m.version)
    .bind(m.file)
    .bind(Ts::now().to_rfc3339())
    .bind(sum)
    .execute(conn)
    .await?;
    Ok(())
}
