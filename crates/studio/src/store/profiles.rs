//! The SQL of studio profiles: tiers and credits.

use crate::model::ProfileRow;
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, with_db, with_tx};
use uuid::Uuid;

/// Most credits a balance may hold (grants beyond it are refused).
pub const MAX_CREDITS: i64 = 1_000_000;

/// Makes the user's profile, with `credits`, unless they have one.
pub async fn ensure(tx: &mut Tx, user: Uuid, credits: i64, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO studio_profiles (user_id, tier, credits, created_at, updated_at) VALUES ($1, 'free', $2, $3, $3)
             ON CONFLICT (user_id) DO NOTHING"
        )
        .bind(user)
        .bind(credits)
        .bind(now)
    )?;
    Ok(())
}

pub async fn find(db: &Db, user: Uuid) -> Result<Option<ProfileRow>, DbError> {
    let sql = "SELECT user_id, tier, credits, created_at, updated_at FROM studio_profiles WHERE user_id = $1";
    Ok(with_db!(db, |pool| sqlx::query_as::<_, ProfileRow>(sql).bind(user).fetch_optional(pool).await)?)
}

pub async fn find_tx(tx: &mut Tx, user: Uuid) -> Result<ProfileRow, DbError> {
    let sql = "SELECT user_id, tier, credits, created_at, updated_at FROM studio_profiles WHERE user_id = $1";
    with_tx!(tx, |conn| sqlx::query_as::<_, ProfileRow>(sql).bind(user).fetch_optional(conn).await)?
        .ok_or(DbError::NotFound)
}

/// Takes one credit; answers false when there is none.
pub async fn reserve(tx: &mut Tx, user: Uuid, now: Ts) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query(
            "UPDATE studio_profiles SET credits = credits - 1, updated_at = $2 WHERE user_id = $1 AND credits > 0"
        )
        .bind(user)
        .bind(now)
    )?;
    Ok(n == 1)
}

/// Gives one credit back.
pub async fn refund(tx: &mut Tx, user: Uuid, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("UPDATE studio_profiles SET credits = credits + 1, updated_at = $2 WHERE user_id = $1")
            .bind(user)
            .bind(now)
    )?;
    Ok(())
}

/// Sets the tier and raises the balance to `allowance` if it is below.
pub async fn set_tier(tx: &mut Tx, user: Uuid, tier: &str, allowance: i64, now: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query(
            "UPDATE studio_profiles SET tier = $2, credits = CASE WHEN credits < $3 THEN $3 ELSE credits END,
               updated_at = $4
             WHERE user_id = $1"
        )
        .bind(user)
        .bind(tier)
        .bind(allowance)
        .bind(now)
    )?;
    Ok(())
}

/// Adds `amount` credits unless the balance would pass [`MAX_CREDITS`]; answers whether it did.
pub async fn grant(tx: &mut Tx, user: Uuid, amount: i64, now: Ts) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query(
            "UPDATE studio_profiles SET credits = credits + $2, updated_at = $3 WHERE user_id = $1 AND credits <= $4 - $2"
        )
        .bind(user)
        .bind(amount)
        .bind(now)
        .bind(MAX_CREDITS)
    )?;
    Ok(n == 1)
}
