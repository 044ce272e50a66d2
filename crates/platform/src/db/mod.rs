//! The database: one handle over a SQLite or a PostgreSQL pool, chosen by the URL scheme.
//!
//! Every query is written once, in SQL both dialects accept, and run on whichever pool is live
//! through [`with_db!`](crate::with_db) and [`with_tx!`](crate::with_tx), which expand the same
//! code for both backends. A dialect branch is written only where no common SQL exists (claiming
//! jobs, schema introspection), and stays inside a `store.rs` or this module.

mod maintenance;
mod migrate;
mod schema;
mod statistics;
mod ts;

pub use migrate::{Migration, checksum, migrate};
pub use schema::{Schema, introspect};
pub use statistics::{Analyze, analyze_stale_tables};
pub use ts::{MAX_YEAR, MIN_YEAR, Ts, TsError};

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// A connection pool to one of the two supported databases.
#[derive(Clone, Debug)]
pub enum Db {
    /// The embedded default, with its queue of writers.
    Sqlite(SqlitePool, Writers),
    /// The scale-out database.
    Postgres(PgPool),
}

/// SQLite takes one writer at a time. Writers that find the write lock taken sleep in SQLite's
/// busy handler (1, 2, 5, 10 … 100 ms, whatever happens meanwhile) and so wait far longer than
/// the lock is held: under load most of the time went to those sleeps. Writers of this process
/// therefore queue here, in order, for their turn, and `BEGIN IMMEDIATE` finds the lock free.
/// (The busy handler stays for writes outside transactions and for other processes.)
#[derive(Clone, Debug)]
pub struct Writers(Arc<tokio::sync::Semaphore>);

impl Writers {
    fn new() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(1)))
    }

    /// This process's writer turn; waited for at most as long as SQLite's own busy timeout (a
    /// writer that waits longer fails the same way).
    async fn turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, DbError> {
        tokio::time::timeout(SQLITE_BUSY_TIMEOUT, self.0.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or(DbError::Unavailable(sqlx::Error::PoolTimedOut))
    }
}

/// An open transaction on either backend.
pub enum Tx {
    /// A SQLite transaction (begun `IMMEDIATE`, so writers queue instead of failing), holding
    /// this process's writer turn until it ends.
    Sqlite(Transaction<'static, Sqlite>, tokio::sync::OwnedSemaphorePermit),
    /// A PostgreSQL transaction.
    Postgres(Transaction<'static, Postgres>),
}

/// Which SQL dialect a handle speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Failures of the storage layer, sorted so that callers can answer precisely.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No row matched.
    #[error("not found")]
    NotFound,
    /// A unique constraint (or primary key) refused the write; carries its name in the form
    /// both backends agree on, `table(column, column)`, e.g. `work_members(project_id, user_id)`.
    #[error("duplicate in {0}")]
    Unique(String),
    /// A foreign key refused the write: the row it points at does not exist (or, on delete,
    /// rows still point here). PostgreSQL names the constraint; SQLite does not.
    #[error("foreign key violated")]
    ForeignKey,
    /// A migration already applied to this database was edited since.
    #[error("{0}")]
    MigrationChanged(String),
    /// The URL names no supported database.
    #[error("unsupported database url scheme: {0}")]
    UnsupportedScheme(String),
    /// The database cannot be reached (connection refused or lost, no connection free in
    /// time): a request answers 503 at once instead of hanging, and retries later succeed
    /// once the pool reconnects.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// Anything else: connection loss, a bug in SQL, a corrupt file.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => DbError::NotFound,
            // A broken conversation with the server (a connection cut while it was opened
            // answers garbage to the TLS request) is the server being unreachable, not a bug.
            sqlx::Error::Io(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(err),
            sqlx::Error::Database(db) if db.is_foreign_key_violation() => DbError::ForeignKey,
            sqlx::Error::Database(db) if db.is_unique_violation() => match unique_name(db.as_ref()) {
                Some(name) => DbError::Unique(name),
                None => DbError::Other(err),
            },
            _ => DbError::Other(err),
        }
    }
}

/// The `table(column, column)` a unique violation names, from either backend's report:
/// SQLite says "UNIQUE constraint failed: users.email" (or `t.a, t.b`); PostgreSQL gives the
/// table and, in its detail, "Key (a, b)=(…) already exists.".
fn unique_name(db: &dyn sqlx::error::DatabaseError) -> Option<String> {
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let table = pg.table()?;
        let columns = pg.detail()?.strip_prefix("Key (")?.split_once(")=")?.0;
        return Some(format!("{table}({columns})"));
    }
    let list = db.message().strip_prefix("UNIQUE constraint failed: ")?;
    let mut table = None;
    let mut columns = Vec::new();
    for qualified in list.split(", ") {
        let (t, c) = qualified.split_once('.')?;
        if table.is_some_and(|known| known != t) {
            return None;
        }
        table = Some(t);
        columns.push(c);
    }
    Some(format!("{}({})", table?, columns.join(", ")))
}

/// Most ids bound in one statement by [`ids_among`]: SQLite takes at most 32 766 parameters.
pub const ID_CHUNK: usize = 500;

/// The ids among `ids` that `select` picks, for a `select` of one id column that ends where an
/// `IN (…)` list goes and has `scope` as its first parameter: `SELECT user_id FROM chat_members
/// WHERE room_id = $1 AND user_id IN`. Runs in chunks of [`ID_CHUNK`], so any number of ids works
/// on both backends. The SQL stays with the store that calls it.
pub async fn ids_among(
    db: &Db,
    select: &str,
    scope: uuid::Uuid,
    ids: &[uuid::Uuid],
) -> Result<Vec<uuid::Uuid>, DbError> {
    let (head, tail) = select.split_once("$1").unwrap_or((select, ""));
    let mut found = Vec::new();
    for chunk in ids.chunks(ID_CHUNK) {
        let rows: Vec<(uuid::Uuid,)> = crate::with_db!(db, |pool| {
            let mut query = sqlx::QueryBuilder::new(head);
            query.push_bind(scope).push(tail).push(" (");
            let mut list = query.separated(", ");
            for id in chunk {
                list.push_bind(*id);
            }
            query.push(")");
            query.build_query_as::<(uuid::Uuid,)>().fetch_all(pool).await
        })?;
        found.extend(rows.into_iter().map(|r| r.0));
    }
    Ok(found)
}

/// How long a SQLite writer waits for the write lock.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often [`Db::checkpoints`] copies SQLite's write-ahead log into the database.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Frames (pages) in the write-ahead log past which [`Db::checkpoints`] waits for old readers
/// to let the log restart: 16 MiB of 4 KiB pages.
pub const WAL_RESTART_FRAMES: i64 = 4096;

/// The size the write-ahead log is cut back to after it has grown past it (a burst of writes
/// while a long read kept the log from restarting).
const WAL_KEPT_BYTES: &str = "67108864";

/// How long a request waits for a PostgreSQL connection before it answers 503 `unavailable`.
pub const PG_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// Opens the pool for `url` (`sqlite://PATH`, `sqlite::memory:` or `postgres://…`).
pub async fn connect(url: &str, max_connections: u32) -> Result<Db, DbError> {
    if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        let options = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))
            .map_err(DbError::Other)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            // No checkpoint inside a commit: see `Db::checkpoints`.
            .pragma("wal_autocheckpoint", "0")
            .pragma("journal_size_limit", WAL_KEPT_BYTES);
        if let Some(parent) = std::path::Path::new(path).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| DbError::Other(sqlx::Error::Io(e)))?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(2))
            .min_connections(1)
            .connect_with(options)
            .await?;
        Ok(Db::Sqlite(pool, Writers::new()))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url).map_err(DbError::Other)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            // A request waits at most this long for a connection: when the server is gone the
            // answer is a quick 503, not a hang (see docs/decisions.md).
            .acquire_timeout(PG_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Db::Postgres(pool))
    } else {
        let scheme = url.split(':').next().unwrap_or_default().to_string();
        Err(DbError::UnsupportedScheme(scheme))
    }
}

impl Db {
    /// The dialect of this handle.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(..) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Begins a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`):
    /// a deferred transaction that later upgrades can fail with `SQLITE_BUSY` despite the timeout.
    pub async fn begin(&self) -> Result<Tx, DbError> {
        Ok(match self {
            Db::Sqlite(pool, writers) => {
                let turn = writers.turn().await?;
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, turn)
            }
            Db::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// For a write of one statement outside any transaction (which commits on its own): on
    /// SQLite, waits for this process's writer turn like [`Db::begin`] and holds it until the
    /// returned guard is dropped; nothing on PostgreSQL. One round trip instead of the three of
    /// `BEGIN`, the statement and `COMMIT`.
    pub async fn writer_turn(&self) -> Result<Option<tokio::sync::OwnedSemaphorePermit>, DbError> {
        match self {
            Db::Sqlite(_, writers) => Ok(Some(writers.turn().await?)),
            Db::Postgres(_) => Ok(None),
        }
    }

    /// True when a trivial query succeeds (the readiness probe).
    pub async fn ping(&self) -> bool {
        crate::execute!(self, sqlx::query("SELECT 1")).is_ok()
    }

    /// On SQLite, copies the write-ahead log into the database every [`CHECKPOINT_EVERY`] until
    /// `stopped` turns true; nothing on PostgreSQL. The server runs it for as long as it serves.
    ///
    /// SQLite's own checkpoint runs inside whichever commit takes the log past 1 000 pages, and
    /// that commit, holding the writer turn, made every write queued behind it wait while it
    /// copied. Connections are opened with automatic checkpoints off, and this task does it:
    /// - first `PASSIVE`ly, without the turn: the bulk of the copying, while readers and the
    ///   writer go on;
    /// - then, holding the turn, once more for what was written meanwhile (a few frames): the
    ///   log is then wholly in the database, and the next writer starts it again from its
    ///   beginning. Copied without the turn only, it never caught up with the writer, never
    ///   restarted, and grew by 8 MB a second under the soak's posts;
    /// - and if readers that kept older snapshots have still let it grow past
    ///   [`WAL_RESTART_FRAMES`], `RESTART`: wait for them, holding the turn, at most 100 ms
    ///   (a longer reader postpones the restart to a later round).
    ///
    /// A process that opens the database without running this (a CLI command) leaves the log
    /// to be checkpointed when its last connection closes, as SQLite does.
    pub async fn checkpoints(&self, mut stopped: tokio::sync::watch::Receiver<bool>) {
        let Db::Sqlite(pool, writers) = self else { return };
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A cycle waits for a connection and the turn: shutting down does not wait for it.
            tokio::select! {
                () = async {
                    let _ = stopped.wait_for(|s| *s).await;
                } => break,
                done = async {
                    every.tick().await;
                    checkpoint_cycle(pool, writers).await
                } => {
                    if let Err(e) = done {
                        tracing::warn!(error = %e, "WAL checkpoint failed");
                    }
                }
            }
        }
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        crate::with_db!(self, |pool| pool.close().await)
    }
}

/// One round of [`Db::checkpoints`] on one connection, taken before the turn so that no
/// writer waits for the pool behind it.
async fn checkpoint_cycle(pool: &SqlitePool, writers: &Writers) -> Result<(), DbError> {
    const PASSIVE: &str = "PRAGMA wal_checkpoint(PASSIVE)";
    let mut conn = pool.acquire().await?;
    // (busy, frames in the log, frames copied)
    sqlx::query_as::<_, (i64, i64, i64)>(PASSIVE).fetch_one(&mut *conn).await?;
    let _turn = writers.turn().await?;
    let (_, frames, _) = sqlx::query_as::<_, (i64, i64, i64)>(PASSIVE).fetch_one(&mut *conn).await?;
    if frames > WAL_RESTART_FRAMES {
        // Waits for the old readers at most RESTART_WAIT, not the 10 s busy timeout: every write
        // of the process waits meanwhile. If they are not done, the next round tries again.
        // The connection is closed afterwards rather than returned with the shorter timeout.
        conn.close_on_drop();
        sqlx::query(RESTART_WAIT_PRAGMA).execute(&mut *conn).await?;
        let restarted =
            sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(RESTART)").fetch_one(&mut *conn).await?;
        if restarted.0 != 0 {
            tracing::debug!(frames, "WAL restart postponed: readers still on the log");
        }
    }
    Ok(())
}

/// How long a `RESTART` checkpoint waits for old readers (see [`checkpoint_cycle`]).
const RESTART_WAIT_PRAGMA: &str = "PRAGMA busy_timeout = 100";

impl Tx {
    /// Commits; nothing written in the transaction is visible before this returns.
    pub async fn commit(self) -> Result<(), DbError> {
        self.commit_then(|| ()).await
    }

    /// Commits, then runs `then` before this process's next writer may begin (on SQLite, still
    /// holding the writer turn): for an announcement that must come before any later write is
    /// seen, such as dropping a cache that another writer would otherwise bring up to date
    /// without this commit's rows. `then` runs whatever the commit's outcome, also when the
    /// caller stops waiting half way (a client that hung up): the commit may have landed all the
    /// same, and announcing a change that did not happen only drops cache entries.
    pub async fn commit_then<T>(self, then: impl FnOnce() -> T) -> Result<T, DbError> {
        let mut then = Then(Some(then));
        match self {
            Tx::Sqlite(tx, turn) => {
                let committed = tx.commit().await;
                let done = then.run();
                drop(turn);
                committed?;
                Ok(done)
            }
            Tx::Postgres(tx) => {
                let committed = tx.commit().await;
                let done = then.run();
                committed?;
                Ok(done)
            }
        }
    }

    /// The dialect of this transaction.
    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(..) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

/// What [`Tx::commit_then`] runs after the commit: once, and on drop if the commit was abandoned.
struct Then<T, F: FnOnce() -> T>(Option<F>);

impl<T, F: FnOnce() -> T> Then<T, F> {
    fn run(&mut self) -> T {
        let then = self.0.take();
        // Taken only here and in `drop`, which comes after: always there.
        then.map(|f| f()).unwrap_or_else(|| unreachable!("commit_then runs its closure once"))
    }
}

impl<T, F: FnOnce() -> T> Drop for Then<T, F> {
    fn drop(&mut self) {
        if let Some(then) = self.0.take() {
            then();
        }
    }
}

/// Runs the same code on whichever pool `db` holds: `with_db!(db, |pool| query.fetch_one(pool).await)`.
/// The body is compiled once per backend, so one SQL string serves both.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool, _) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Runs a statement on whichever pool `db` holds and answers the number of rows it changed:
/// `execute!(db, sqlx::query("…").bind(x))`.
#[macro_export]
macro_rules! execute {
    ($db:expr, $query:expr) => {
        $crate::with_db!($db, |pool| $query.execute(pool).await.map(|r| r.rows_affected()))
    };
}

/// [`execute!`] for a write of one statement outside any transaction: on SQLite it first takes
/// this process's writer turn ([`Db::writer_turn`]), so it queues behind the transactions in
/// flight instead of sleeping in SQLite's busy handler. Like [`execute!`] it answers the
/// statement's result; waiting for the turn returns early from the calling function with a
/// [`DbError`]: `execute_write!(db, sqlx::query("…").bind(x))?`.
#[macro_export]
macro_rules! execute_write {
    ($db:expr, $query:expr) => {{
        let _turn = $db.writer_turn().await?;
        $crate::execute!($db, $query)
    }};
}

/// [`execute!`] inside an open [`Tx`].
#[macro_export]
macro_rules! execute_tx {
    ($tx:expr, $query:expr) => {
        $crate::with_tx!($tx, |conn| $query.execute(conn).await.map(|r| r.rows_affected()))
    };
}

/// Like [`with_db!`] for an open [`Tx`]: `with_tx!(tx, |conn| query.execute(conn).await)`.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {
        match $tx {
            $crate::db::Tx::Sqlite(inner, _) => {
                let $conn = &mut **inner;
                $body
            }
            $crate::db::Tx::Postgres(inner) => {
                let $conn = &mut **inner;
                $body
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The last valid frame of the log and the frames already copied into the database, read
    /// from the WAL index (`-shm`): `mxFrame` at byte 16 of its header and `nBackfill` at byte
    /// 96 (sqlite.org/walformat.html), in the machine's byte order.
    fn wal_frames(db_path: &std::path::Path) -> (u32, u32) {
        let shm = std::fs::read(db_path.with_extension("db-shm")).expect("the WAL index");
        let word = |at: usize| u32::from_ne_bytes(shm[at..at + 4].try_into().expect("four bytes"));
        (word(16), word(96))
    }

    #[tokio::test]
    async fn commits_never_checkpoint_and_the_background_task_does() -> Result<(), DbError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = connect(&format!("sqlite://{}", path.display()), 2).await?;
        execute_write!(&db, sqlx::query("CREATE TABLE pages (id INTEGER PRIMARY KEY, body BLOB NOT NULL)"))?;
        // About 1 500 pages: past the 1 000 at which SQLite's own checkpoint would run in a commit.
        for _ in 0..1500 {
            execute_write!(&db, sqlx::query("INSERT INTO pages (body) VALUES (zeroblob(3000))"))?;
        }
        let (frames, copied) = wal_frames(&path);
        assert!(frames > 1000, "{frames} frames in the log");
        assert_eq!(copied, 0, "a commit checkpointed");

        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn({
            let db = db.clone();
            async move { db.checkpoints(stopped).await }
        });
        tokio::time::sleep(CHECKPOINT_EVERY * 3).await;
        let (frames, copied) = wal_frames(&path);
        assert_eq!(copied, frames, "the log was not copied in the background");
        // Wholly copied, the log starts again at the next write instead of growing.
        execute_write!(&db, sqlx::query("INSERT INTO pages (body) VALUES (zeroblob(3000))"))?;
        let (frames, _) = wal_frames(&path);
        assert!(frames < 10, "the log did not restart: {frames} frames");
        stop.send(true).unwrap();
        task.await.unwrap();
        db.close().await;
        Ok(())
    }
}
