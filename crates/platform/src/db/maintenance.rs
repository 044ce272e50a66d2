//! What backups ask of a database: a consistent copy, a check of its pages, and the
//! migrations it records (see `crate::backup`).

use super::{Db, DbError};

impl Db {
    /// On SQLite, writes a consistent copy of the whole database to the new file `path`
    /// (`VACUUM INTO`): one read transaction, so the server's writers go on meanwhile and the
    /// copy holds exactly the transactions committed before it began. False on PostgreSQL,
    /// whose own tools (`pg_dump`) do this.
    pub async fn snapshot_into(&self, path: &std::path::Path) -> Result<bool, DbError> {
        let Db::Sqlite(pool, _) = self else { return Ok(false) };
        let path =
            path.to_str().ok_or_else(|| DbError::Other(sqlx::Error::Protocol("a path that is not UTF-8".into())))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(pool).await?;
        Ok(true)
    }

    /// The migrations recorded in the database, as (module, version, checksum of its text).
    pub async fn applied_migrations(&self) -> Result<Vec<(String, i64, Option<String>)>, DbError> {
        let rows: Vec<(String, i64, Option<String>)> = crate::with_db!(self, |pool| {
            sqlx::query_as("SELECT module, version, checksum FROM schema_migrations").fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// SQLite's `PRAGMA quick_check` (every page and index readable and well-formed): the
    /// problems it lists, none for a sound database. Nothing is checked on PostgreSQL.
    pub async fn quick_check(&self) -> Result<Vec<String>, DbError> {
        let Db::Sqlite(pool, _) = self else { return Ok(Vec::new()) };
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA quick_check").fetch_all(pool).await?;
        Ok(rows.into_iter().map(|(line,)| line).filter(|line| line != "ok").collect())
    }
}
