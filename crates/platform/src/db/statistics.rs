//! Planner statistics kept fresh on PostgreSQL, whatever its autovacuum does.
//!
//! PostgreSQL plans each query from the statistics `ANALYZE` gathers. Its autovacuum daemon
//! gathers them as tables change, but it can be switched off (the machines this project is
//! tested and measured on run PostgreSQL with it off), and a table never analyzed is planned as
//! if it were nearly empty. The newest 50 messages of a room that had 1.8 million were then read
//! with a bitmap scan of all of them and a sort, 0.7 to 1.7 s of a core each time the cache
//! read them again, instead of 0.1 ms down the index (docs/benchmarks.md, the soak on
//! PostgreSQL). So a scheduled job does what autovacuum's analysis would have done: it
//! analyzes every table that changed by more than autovacuum's default threshold since anyone
//! last analyzed it. Where autovacuum is on it has usually been there first, and the job finds
//! nothing to do.

use super::{Db, DbError};

/// Changed rows since the last analysis beyond which a table is analyzed again: PostgreSQL's
/// defaults for autovacuum (`autovacuum_analyze_threshold` 50 rows plus
/// `autovacuum_analyze_scale_factor` 10 % of the table).
const STALE_TABLES: &str = "SELECT format('%I.%I', s.schemaname, s.relname)
      FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
     WHERE s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
       AND s.schemaname = ANY (current_schemas(false)) AND pg_has_role(c.relowner, 'USAGE')
     ORDER BY s.n_mod_since_analyze DESC";

/// Analyzes the stale tables of our schemas that we own; answers how many it analyzed. Nothing
/// to do on SQLite, whose planner needs no statistics for the indexed reads we make.
///
/// `ANALYZE` samples at most 30 000 rows of a table (at the default statistics target); its
/// lock lets reads and writes go on, but schema changes (a migration) wait for it. A table that
/// fails (dropped meanwhile) is logged and the others are still analyzed.
pub async fn analyze_stale_tables(db: &Db) -> Result<usize, DbError> {
    let Db::Postgres(pool) = db else { return Ok(0) };
    let stale: Vec<(String,)> = sqlx::query_as(STALE_TABLES).fetch_all(pool).await?;
    let mut analyzed = 0;
    for (table,) in &stale {
        // The name is quoted by `format('%I')` above, from PostgreSQL's own catalogue.
        match sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ANALYZE {table}"))).execute(pool).await {
            Ok(_) => analyzed += 1,
            Err(e) => tracing::warn!(table = %table, error = %e, "could not analyze a table"),
        }
    }
    Ok(analyzed)
}

/// The scheduled job running [`analyze_stale_tables`].
pub struct Analyze(pub Db);

#[async_trait::async_trait]
impl crate::outbox::Job for Analyze {
    fn name(&self) -> &'static str {
        "platform.analyze"
    }

    async fn run(&self) -> Result<(), String> {
        analyze_stale_tables(&self.0).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
