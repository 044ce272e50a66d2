//! All SQL of the accounts tables (`users`, `sessions`, `refresh_tokens`, `one_time_codes`).
//! Every statement is written once and runs on SQLite and PostgreSQL alike.

use crate::model::{CodePurpose, CodeRow, RefreshRow, Session, SessionState, UserRow};
use platform::db::{Db, DbError, Ts, Tx};
use platform::{execute_tx, execute_write, with_db, with_tx};
use uuid::Uuid;

macro_rules! user_columns {
    () => {
        "id, email, email_verified, phone, name, password_hash, locale, role, public_profile, disabled, created_at, updated_at, avatar_key"
    };
}

/// A user to insert.
#[derive(Debug, Clone)]
pub struct NewUser<'a> {
    pub email: Option<&'a str>,
    pub email_verified: bool,
    pub phone: Option<&'a str>,
    pub name: &'a str,
    pub password_hash: Option<&'a str>,
    pub role: &'a str,
    pub locale: &'a str,
}

pub async fn insert_user(tx: &mut Tx, new: &NewUser<'_>) -> Result<UserRow, DbError> {
    let now = Ts::now();
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, UserRow>(concat!(
            "INSERT INTO users (",
            user_columns!(),
            ")
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, false, false, $9, $9, NULL) RETURNING ",
            user_columns!()
        ))
        .bind(Uuid::now_v7())
        .bind(new.email)
        .bind(new.email_verified)
        .bind(new.phone)
        .bind(new.name)
        .bind(new.password_hash)
        .bind(new.locale)
        .bind(new.role)
        .bind(now)
        .fetch_one(conn)
        .await
    })?)
}

pub async fn find_user(db: &Db, id: Uuid) -> Result<Option<UserRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await
    })?)
}

/// A user by id, read inside an open transaction.
pub async fn find_user_in(tx: &mut Tx, id: Uuid) -> Result<Option<UserRow>, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(conn)
            .await
    })?)
}

/// The users among `ids` (any order; unknown ids are skipped).
pub async fn find_users(db: &Db, ids: &[Uuid]) -> Result<Vec<UserRow>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // In chunks: SQLite takes at most 32 766 parameters in one statement.
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        rows.extend(with_db!(db, |pool| {
            let mut query = sqlx::QueryBuilder::new(concat!("SELECT ", user_columns!(), " FROM users WHERE id IN ("));
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(")");
            query.build_query_as::<UserRow>().fetch_all(pool).await
        })?);
    }
    Ok(rows)
}

/// Users whose name, as stored or lower-cased, is one of `names` (SQLite lower-cases ASCII
/// letters only; both forms are indexed).
pub async fn find_users_named(db: &Db, names: &[String]) -> Result<Vec<UserRow>, DbError> {
    let mut rows = Vec::new();
    for chunk in names.chunks(250) {
        rows.extend(with_db!(db, |pool| {
            let mut query =
                sqlx::QueryBuilder::new(concat!("SELECT ", user_columns!(), " FROM users WHERE lower(name) IN ("));
            let mut list = query.separated(", ");
            for name in chunk {
                list.push_bind(name.as_str());
            }
            query.push(") OR name IN (");
            let mut list = query.separated(", ");
            for name in chunk {
                list.push_bind(name.as_str());
            }
            query.push(")");
            query.build_query_as::<UserRow>().fetch_all(pool).await
        })?);
    }
    Ok(rows)
}

pub async fn find_user_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1"))
            .bind(email)
            .fetch_optional(pool)
            .await
    })?)
}

pub async fn find_user_by_phone(db: &Db, phone: &str) -> Result<Option<UserRow>, DbError> {
    Ok(with_db!(db, |conn| {
        sqlx::query_as::<_, UserRow>(concat!("SELECT ", user_columns!(), " FROM users WHERE phone = $1"))
            .bind(phone)
            .fetch_optional(conn)
            .await
    })?)
}

/// Changes the given profile fields (None leaves a field as it is).
pub async fn update_profile(
    db: &Db,
    id: Uuid,
    name: Option<&str>,
    locale: Option<&str>,
    public_profile: Option<bool>,
) -> Result<UserRow, DbError> {
    let _turn = db.writer_turn().await?;
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, UserRow>(concat!(
            "UPDATE users SET name = COALESCE($2, name), locale = COALESCE($3, locale),
             public_profile = COALESCE($4, public_profile), updated_at = $5 WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(name)
        .bind(locale)
        .bind(public_profile)
        .bind(Ts::now())
        .fetch_one(pool)
        .await
    })?)
}

/// Changes role and/or the disabled flag (admin API and CLI).
pub async fn update_admin_fields(
    tx: &mut Tx,
    id: Uuid,
    role: Option<&str>,
    disabled: Option<bool>,
) -> Result<UserRow, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, UserRow>(concat!(
            "UPDATE users SET role = COALESCE($2, role), disabled = COALESCE($3, disabled), updated_at = $4
             WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(role)
        .bind(disabled)
        .bind(Ts::now())
        .fetch_one(conn)
        .await
    })?)
}

pub async fn mark_email_verified(tx: &mut Tx, id: Uuid) -> Result<UserRow, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, UserRow>(concat!(
            "UPDATE users SET email_verified = true, updated_at = $2 WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(Ts::now())
        .fetch_one(conn)
        .await
    })?)
}

pub async fn set_password(tx: &mut Tx, id: Uuid, hash: &str) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(hash)
            .bind(Ts::now())
    )?;
    Ok(())
}

/// Deletes a user; sessions and tokens go with it (foreign keys cascade).
pub async fn delete_user(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(tx, sqlx::query("DELETE FROM users WHERE id = $1").bind(id))?;
    Ok(n > 0)
}

/// Points the user's avatar at `key` (or at nothing).
pub async fn set_avatar(tx: &mut Tx, id: Uuid, key: Option<&str>) -> Result<UserRow, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, UserRow>(concat!(
            "UPDATE users SET avatar_key = $2, updated_at = $3 WHERE id = $1 RETURNING ",
            user_columns!()
        ))
        .bind(id)
        .bind(key)
        .bind(Ts::now())
        .fetch_one(conn)
        .await
    })?)
}

/// Users ordered by id (creation order), after `cursor`, matching `q` in email or name.
pub async fn list_users(db: &Db, q: Option<&str>, cursor: Option<Uuid>, limit: i64) -> Result<Vec<UserRow>, DbError> {
    let pattern = q.map(|q| platform::text::like_contains(&q.to_lowercase()));
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users
             WHERE ($1 IS NULL OR lower(COALESCE(email, '')) LIKE $1 ESCAPE '\\' OR lower(name) LIKE $1 ESCAPE '\\')
               AND ($2 IS NULL OR id > $2)
             ORDER BY id LIMIT $3"
        ))
        .bind(pattern.as_deref())
        .bind(cursor)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// Email accounts never verified and created before `before` (phone accounts are verified by
/// construction), by id after `after`, with their avatar keys.
pub async fn unverified_before(
    db: &Db,
    before: Ts,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<(Uuid, Option<String>)>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as(
            "SELECT id, avatar_key FROM users
             WHERE email_verified = false AND phone IS NULL AND created_at < $1 AND ($2 IS NULL OR id > $2)
             ORDER BY id LIMIT $3",
        )
        .bind(before)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
    })?)
}

/// Deletes a user only if still unverified (false otherwise).
pub async fn delete_unverified_user(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("DELETE FROM users WHERE id = $1 AND email_verified = false AND phone IS NULL").bind(id)
    )?;
    Ok(n > 0)
}

// --- sessions ---------------------------------------------------------------------------------

pub async fn insert_session(
    tx: &mut Tx,
    user_id: Uuid,
    expires_at: Ts,
    user_agent: Option<&str>,
    ip: Option<&str>,
) -> Result<Uuid, DbError> {
    let id = Uuid::now_v7();
    let now = Ts::now();
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
             VALUES ($1, $2, $3, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(user_agent)
        .bind(ip)
    )?;
    Ok(id)
}

/// The state of `session` if it belongs to `user`.
pub async fn session_state(db: &Db, user: Uuid, session: Uuid) -> Result<Option<SessionState>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, SessionState>(
            "SELECT u.role, u.disabled, s.revoked_at, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND s.user_id = $2",
        )
        .bind(session)
        .bind(user)
        .fetch_optional(pool)
        .await
    })?)
}

/// Live sessions of a user, newest first.
pub async fn list_sessions(db: &Db, user: Uuid, now: Ts) -> Result<Vec<Session>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, Session>(
            "SELECT id, created_at, last_used_at, expires_at, user_agent, ip FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY id DESC",
        )
        .bind(user)
        .bind(now)
        .fetch_all(pool)
        .await
    })?)
}

/// Revokes one session of `user`; false when there is no such live session.
pub async fn revoke_session(tx: &mut Tx, user: Uuid, session: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("UPDATE sessions SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL")
            .bind(session)
            .bind(user)
            .bind(Ts::now())
    )?;
    Ok(n > 0)
}

/// Revokes every live session of `user` except `keep`.
pub async fn revoke_all_sessions(tx: &mut Tx, user: Uuid, keep: Option<Uuid>) -> Result<u64, DbError> {
    Ok(execute_tx!(tx, sqlx::query(
            "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)",
        )
        .bind(user)
        .bind(keep)
        .bind(Ts::now()))?)
}

pub async fn touch_session(tx: &mut Tx, session: Uuid, expires_at: Ts) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("UPDATE sessions SET last_used_at = $2, expires_at = $3 WHERE id = $1")
            .bind(session)
            .bind(Ts::now())
            .bind(expires_at)
    )?;
    Ok(())
}

pub async fn delete_dead_sessions(db: &Db, before: Ts) -> Result<u64, DbError> {
    Ok(execute_write!(db, sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1").bind(before))?)
}

// --- refresh tokens ---------------------------------------------------------------------------

pub async fn insert_refresh_token(tx: &mut Tx, hash: &str, session: Uuid) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, $3)")
            .bind(hash)
            .bind(session)
            .bind(Ts::now())
    )?;
    Ok(())
}

pub async fn find_refresh_token(db: &Db, hash: &str) -> Result<Option<RefreshRow>, DbError> {
    Ok(with_db!(db, |conn| {
        sqlx::query_as::<_, RefreshRow>(
            "SELECT s.id AS session_id, s.user_id, r.spent_at, s.revoked_at, s.expires_at, s.user_agent, s.ip
             FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
        )
        .bind(hash)
        .fetch_optional(conn)
        .await
    })?)
}

/// Marks a token spent; false if it already was (a concurrent refresh won).
pub async fn spend_refresh_token(tx: &mut Tx, hash: &str) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1 AND spent_at IS NULL")
            .bind(hash)
            .bind(Ts::now())
    )?;
    Ok(n == 1)
}

// --- one-time codes ---------------------------------------------------------------------------

/// Stores a new code, replacing any unused code for the same purpose and destination.
pub async fn insert_code(
    tx: &mut Tx,
    purpose: CodePurpose,
    destination: &str,
    hash: &str,
    expires_at: Ts,
) -> Result<(), DbError> {
    execute_tx!(
        tx,
        sqlx::query("DELETE FROM one_time_codes WHERE purpose = $1 AND destination = $2 AND consumed_at IS NULL")
            .bind(purpose.as_str())
            .bind(destination)
    )?;
    execute_tx!(
        tx,
        sqlx::query(
            "INSERT INTO one_time_codes (id, purpose, destination, code_hash, attempts, expires_at, created_at)
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(Uuid::now_v7())
        .bind(purpose.as_str())
        .bind(destination)
        .bind(hash)
        .bind(expires_at)
        .bind(Ts::now())
    )?;
    Ok(())
}

/// The live (unused, unexpired) code for a purpose and destination.
pub async fn live_code(db: &Db, purpose: CodePurpose, destination: &str, now: Ts) -> Result<Option<CodeRow>, DbError> {
    Ok(with_db!(db, |pool| {
        sqlx::query_as::<_, CodeRow>(
            "SELECT id, destination, code_hash, attempts, expires_at FROM one_time_codes
             WHERE purpose = $1 AND destination = $2 AND consumed_at IS NULL AND expires_at > $3
             ORDER BY id DESC LIMIT 1",
        )
        .bind(purpose.as_str())
        .bind(destination)
        .bind(now)
        .fetch_optional(pool)
        .await
    })?)
}

/// The live token with this hash (reset tokens are looked up by value, not by destination).
pub async fn live_code_by_hash(
    tx: &mut Tx,
    purpose: CodePurpose,
    hash: &str,
    now: Ts,
) -> Result<Option<CodeRow>, DbError> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_as::<_, CodeRow>(
            "SELECT id, destination, code_hash, attempts, expires_at FROM one_time_codes
             WHERE purpose = $1 AND code_hash = $2 AND consumed_at IS NULL AND expires_at > $3",
        )
        .bind(purpose.as_str())
        .bind(hash)
        .bind(now)
        .fetch_optional(conn)
        .await
    })?)
}

/// Counts an attempt before the code is compared; false when the attempts are used up.
pub async fn take_attempt(db: &Db, id: Uuid, max: i64) -> Result<bool, DbError> {
    let n =
        execute_write!(db, sqlx::query(
            "UPDATE one_time_codes SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2 AND consumed_at IS NULL",
        )
        .bind(id)
        .bind(max))?;
    Ok(n == 1)
}

/// Uses a code up; false if something else used it first.
pub async fn consume_code(tx: &mut Tx, id: Uuid) -> Result<bool, DbError> {
    let n = execute_tx!(
        tx,
        sqlx::query("UPDATE one_time_codes SET consumed_at = $2 WHERE id = $1 AND consumed_at IS NULL")
            .bind(id)
            .bind(Ts::now())
    )?;
    Ok(n == 1)
}

pub async fn delete_old_codes(db: &Db, before: Ts) -> Result<u64, DbError> {
    Ok(execute_write!(db, sqlx::query("DELETE FROM one_time_codes WHERE expires_at < $1").bind(before))?)
}
