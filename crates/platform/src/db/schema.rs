//! Schema introspection, used by the parity test that keeps the two migration folders in step.
//! Only this comparison needs dialect-specific catalogue queries.

use super::{Db, DbError};
use std::collections::{BTreeMap, BTreeSet};

/// One table: its columns (name → nullable) and its non-primary indexes (columns, unique).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Table {
    /// Column name → whether it accepts NULL.
    pub columns: BTreeMap<String, bool>,
    /// Indexes and unique constraints other than the primary key: (ordered columns, unique).
    pub indexes: BTreeSet<(Vec<String>, bool)>,
}

/// A whole schema, table name → table.
pub type Schema = BTreeMap<String, Table>;

/// Reads the schema of the database `db` points at.
pub async fn introspect(db: &Db) -> Result<Schema, DbError> {
    let mut schema = Schema::new();
    match db {
        Db::Sqlite(pool, _) => {
            let tables: Vec<(String,)> =
                sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                    .fetch_all(pool)
                    .await?;
            for (table,) in tables {
                let mut t = Table::default();
                let cols: Vec<(String, i64, i64)> =
                    sqlx::query_as("SELECT name, \"notnull\", pk FROM pragma_table_info($1)")
                        .bind(&table)
                        .fetch_all(pool)
                        .await?;
                for (name, notnull, pk) in cols {
                    // A primary key column is implicitly NOT NULL in PostgreSQL.
                    t.columns.insert(name, notnull == 0 && pk == 0);
                }
                let idx: Vec<(String, i64, String)> =
                    sqlx::query_as("SELECT name, \"unique\", origin FROM pragma_index_list($1)")
                        .bind(&table)
                        .fetch_all(pool)
                        .await?;
                for (name, unique, origin) in idx {
                    if origin == "pk" {
                        continue;
                    }
                    let cols: Vec<(String,)> = sqlx::query_as("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                        .bind(&name)
                        .fetch_all(pool)
                        .await?;
                    let cols: Vec<String> = cols.into_iter().map(|c| c.0).collect();
                    // Expression indexes (`lower(name)`) name no column; PostgreSQL's side
                    // reads column indexes only, so neither side compares them.
                    if cols.iter().any(String::is_empty) {
                        continue;
                    }
                    t.indexes.insert((cols, unique != 0));
                }
                schema.insert(table, t);
            }
        }
        Db::Postgres(pool) => {
            let tables: Vec<(String,)> = sqlx::query_as(
                "SELECT table_name::text FROM information_schema.tables
                 WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            )
            .fetch_all(pool)
            .await?;
            for (table,) in tables {
                let mut t = Table::default();
                let cols: Vec<(String, String)> = sqlx::query_as(
                    "SELECT column_name::text, is_nullable::text FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(&table)
                .fetch_all(pool)
                .await?;
                for (name, nullable) in cols {
                    t.columns.insert(name, nullable == "YES");
                }
                let idx: Vec<(bool, Vec<String>)> = sqlx::query_as(
                    "SELECT i.indisunique, array_agg(a.attname::text ORDER BY k.ord)
                     FROM pg_index i
                     JOIN pg_class c ON c.oid = i.indrelid
                     JOIN pg_namespace n ON n.oid = c.relnamespace
                     CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                     WHERE c.relname = $1 AND n.nspname = current_schema() AND NOT i.indisprimary
                     GROUP BY i.indexrelid, i.indisunique",
                )
                .bind(&table)
                .fetch_all(pool)
                .await?;
                for (unique, cols) in idx {
                    t.indexes.insert((cols, unique));
                }
                schema.insert(table, t);
            }
        }
    }
    Ok(schema)
}
