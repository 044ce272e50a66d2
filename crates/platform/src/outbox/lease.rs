//! Leases: a row per name saying which instance may do a thing until when. Scheduled jobs and
//! the event relay each run under one, so that however many instances run, one does the work.

use crate::db::{Db, DbError, Ts};
use crate::execute_write;

/// Takes (or renews) the lease `name` for `holder` until `until`, if it is free, expired, or
/// already `holder`'s. One statement, so two instances asking at once cannot both win.
pub async fn acquire(db: &Db, name: &str, holder: &str, now: Ts, until: Ts) -> Result<bool, DbError> {
    let n = execute_write!(
        db,
        sqlx::query(
            "INSERT INTO job_leases (name, holder, expires_at) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
             WHERE job_leases.expires_at <= $4 OR job_leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until)
        .bind(now)
    )?;
    Ok(n == 1)
}

/// Gives the lease up at once (on shutdown), if `holder` has it.
pub async fn release(db: &Db, name: &str, holder: &str) -> Result<(), DbError> {
    execute_write!(db, sqlx::query("DELETE FROM job_leases WHERE name = $1 AND holder = $2").bind(name).bind(holder))?;
    Ok(())
}
