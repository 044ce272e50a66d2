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
    PRIMARY KEY (module, version))";

/// Applies every migration in `sets` not yet recorded, each in its own transaction.
/// Returns how many were applied. On PostgreSQL an advisory lock keeps two starting instances
/// from racing; on SQLite the immediate transaction does the same.
pub async fn migrate(db: &Db, sets: &[&[Migration]]) -> Result<usize, DbError> {
    let mut applied = 0;
    match db {
        Db::Sqlite(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::raw_sql(BOOKKEEPING).execute(&mut *conn).await?;
            for m in sets.iter().flat_map(|s| s.iter()) {
                let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
                if !is_applied(&mut *tx, m).await? {
                    sqlx::raw_sql(m.sqlite).execute(&mut *tx).await?;
                    record(&mut *tx, m).await?;
                    applied += 1;
                }
                tx.commit().await?;
            }
        }
        Db::Postgres(pool) => {
            let mut conn = pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock(727274)").execute(&mut *conn).await?;
            let result = async {
                sqlx::raw_sql(BOOKKEEPING).execute(&mut *conn).await?;
                for m in sets.iter().flat_map(|s| s.iter()) {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    if !is_applied(&mut *tx, m).await? {
                        sqlx::raw_sql(m.postgres).execute(&mut *tx).await?;
                        record(&mut *tx, m).await?;
                        applied += 1;
                    }
                    tx.commit().await?;
                }
                Ok::<_, sqlx::Error>(())
            }
            .await;
            sqlx::query("SELECT pg_advisory_unlock(727274)").execute(&mut *conn).await?;
            result?;
        }
    }
    Ok(applied)
}

async fn is_applied<'c, E>(conn: E, m: &Migration) -> Result<bool, sqlx::Error>
where
    E: sqlx::Executor<'c>,
    i64: for<'q> sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> &'q str: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> <E::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<E::Database>,
    for<'r> (i64,): sqlx::FromRow<'r, <E::Database as sqlx::Database>::Row>,
{
    let row: Option<(i64,)> =
        sqlx::query_as("SELECT version FROM schema_migrations WHERE module = $1 AND version = $2")
            .bind(m.module)
            .bind(m.version)
            .fetch_optional(conn)
            .await?;
    Ok(row.is_some())
}

async fn record<'c, E>(conn: E, m: &Migration) -> Result<(), sqlx::Error>
where
    E: sqlx::Executor<'c>,
    i64: for<'q> sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> &'q str: sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    String: for<'q> sqlx::Encode<'q, E::Database> + sqlx::Type<E::Database>,
    for<'q> <E::Database as sqlx::Database>::Arguments: sqlx::IntoArguments<E::Database>,
{
    sqlx::query("INSERT INTO schema_migrations (module, version, file, applied_at) VALUES ($1, $2, $3, $4)")
        .bind(m.module)
        .bind(m.version)
        .bind(m.file)
        .bind(Ts::now().to_rfc3339())
        .execute(conn)
        .await?;
    Ok(())
}
