//! Test support: [`TestApp`] spawns the real application on port 0 with its own fresh database
//! (a temporary SQLite file, or a new PostgreSQL database), its own data directory and, when
//! configured, Redis under its own key prefix. Tests then talk HTTP to it like any client and
//! read the mail and SMS it writes to files.
//!
//! [`api_tests!`] runs each test on SQLite always, and on PostgreSQL + Redis when
//! `FERROBASE_TEST_POSTGRES_URL` (and `FERROBASE_TEST_REDIS_URL`) are set. With
//! `FERROBASE_TEST_REQUIRE_SERVICES=1` (set by CI) a missing service fails the test instead.

mod client;
pub mod contract;
pub mod files;
pub mod proxy;
pub mod ws;

pub use client::{PASSWORD, Resp, Session};
pub use files::{ReadMail, code_in, mails_to, read_mail, read_sms};
pub use proxy::Proxy;
pub use ws::{Ended, Ws};

use platform::config::Config;
use platform::secret::Secret;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::oneshot;

/// Which database a test app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh database on `FERROBASE_TEST_POSTGRES_URL` (plus Redis if configured).
    Postgres,
}

/// A running app.
pub struct TestApp {
    /// Its address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The configuration it runs with.
    pub config: Config,
    /// Which backend.
    pub backend: Backend,
    /// The app's realtime hub (tests publish on it directly).
    pub hub: platform::realtime::Hub,
    /// Its caches' coherence (whether it trusts its caches now).
    pub caches: platform::cache::Coherence,
    /// The app's file storage and URL signer (tests store private files and sign links to them).
    pub files: platform::files::FilesState,
    /// The OpenAPI document this app serves, which [`TestApp::call`] holds every answer to.
    pub contract: std::sync::Arc<contract::Contract>,
    /// The app's accounts service (tests run its scheduled work directly).
    pub accounts: accounts::Accounts,
    _data: Arc<tempfile::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// The fresh PostgreSQL database this app made (siblings share it and do not own it).
    owned_database: Option<String>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// True when CI demands that every configured service really be used.
pub fn services_required() -> bool {
    env("FERROBASE_TEST_REQUIRE_SERVICES").is_some_and(|v| v != "0")
}

/// The URL of the test service `name` (`FERROBASE_TEST_REDIS_URL` …), or None when it is not
/// configured and the test should be skipped; with `FERROBASE_TEST_REQUIRE_SERVICES` (CI) a
/// missing one fails the test instead.
pub fn service_url(name: &str) -> Option<String> {
    let url = env(name);
    if url.is_none() {
        assert!(!services_required(), "{name} must be set");
        eprintln!("skipped: {name} is not set");
    }
    url
}

/// The RabbitMQ of the tests (`FERROBASE_TEST_AMQP_URL`), if configured.
pub fn amqp_url() -> Option<String> {
    env("FERROBASE_TEST_AMQP_URL")
}

/// A fresh, empty PostgreSQL database on the test server; its URL.
pub async fn fresh_postgres_database(base: &str) -> String {
    use sqlx::Connection;
    let name = format!("ferrobase_test_{}", uuid::Uuid::now_v7().simple());
    let mut conn = sqlx::PgConnection::connect(base).await.expect("FERROBASE_TEST_POSTGRES_URL is unreachable");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let mut url = url::Url::parse(base).expect("FERROBASE_TEST_POSTGRES_URL is not a URL");
    url.set_path(&name);
    url.to_string()
}

/// A configuration for `backend` in `data_dir`, or None when the backend is not configured here.
pub async fn test_config(backend: Backend, data_dir: PathBuf) -> Option<Config> {
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir,
        jwt_secret: Secret::new("test-secret-0123456789abcdefghijklmnopqrstuvwxyz"),
        log_level: "warn".into(),
        jobs_interval_secs: 3600,
        redis_prefix: format!("fbtest-{}", uuid::Uuid::now_v7().simple()),
        ..Config::default()
    };
    if backend == Backend::Postgres {
        let Some(base) = env("FERROBASE_TEST_POSTGRES_URL") else {
            assert!(!services_required(), "FERROBASE_TEST_POSTGRES_URL must be set");
            eprintln!("skipped: FERROBASE_TEST_POSTGRES_URL is not set");
            return None;
        };
        config.database_url = Secret::new(fresh_postgres_database(&base).await);
        match env("FERROBASE_TEST_REDIS_URL") {
            Some(redis) => config.redis_url = Secret::new(redis),
            None => assert!(!services_required(), "FERROBASE_TEST_REDIS_URL must be set"),
        }
        match amqp_url() {
            Some(amqp) => config.amqp_url = Secret::new(amqp),
            None => assert!(!services_required(), "FERROBASE_TEST_AMQP_URL must be set"),
        }
    }
    Some(config)
}

impl TestApp {
    /// Spawns an app on `backend`; None when that backend is not configured (and not required).
    pub async fn spawn(backend: Backend) -> Option<Self> {
        Self::spawn_with(backend, |_| {}).await
    }

    /// Like [`TestApp::spawn`], after letting `adjust` change the configuration.
    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<Self> {
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(backend, data.path().to_path_buf()).await?;
        let owned = (backend == Backend::Postgres).then(|| config.database_url());
        adjust(&mut config);
        let mut app = Self::start(config, backend, Arc::new(data)).await;
        app.owned_database = owned;
        Some(app)
    }

    /// Two instances on one PostgreSQL database and one Redis (scale-out tests), or None when
    /// PostgreSQL or Redis is not configured and the test should be skipped; with
    /// `FERROBASE_TEST_REQUIRE_SERVICES` (CI) a missing Redis fails the test instead.
    pub async fn pair_on_redis() -> Option<(Self, Self)> {
        let first = Self::spawn(Backend::Postgres).await?;
        if first.config.redis_url.is_empty() {
            assert!(!services_required(), "FERROBASE_TEST_REDIS_URL must be set");
            return None;
        }
        let second = first.sibling().await;
        Some((first, second))
    }

    /// A second instance sharing this one's database, Redis and secret (scale-out tests).
    pub async fn sibling(&self) -> Self {
        self.sibling_with(|_| {}).await
    }

    /// Like [`TestApp::sibling`], with `adjust` applied to its configuration (a proxied Redis).
    pub async fn sibling_with(&self, adjust: impl FnOnce(&mut Config)) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = self.config.clone();
        adjust(&mut config);
        if self.backend == Backend::Sqlite {
            config.database_url = Secret::new(self.config.database_url());
        }
        config.data_dir = data.path().to_path_buf();
        Self::start(config, self.backend, Arc::new(data)).await
    }

    async fn start(mut config: Config, backend: Backend, data: Arc<tempfile::TempDir>) -> Self {
        platform::logging::init(&config);
        // Bound first, so that the links the app hands out (on its public URL) reach it.
        let listener = platform::listen(config.bind).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        config.public_url = format!("http://{addr}");
        let app = ferrobase::build(config.clone()).await.expect("build app");
        let hub = app.platform.hub.clone();
        let caches = app.platform.caches.clone();
        let accounts = app.accounts.clone();
        let files =
            platform::files::FilesState { urls: app.platform.file_urls.clone(), storage: app.platform.storage.clone() };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            ferrobase::run(app, listener, async {
                let _ = stopped.await;
            })
            .await
            .expect("app run");
        });
        let http = reqwest::Client::builder().no_proxy().build().expect("http client");
        let doc: serde_json::Value = http
            .get(format!("http://{addr}/api/v1/openapi.json"))
            .send()
            .await
            .expect("fetch the OpenAPI document")
            .json()
            .await
            .expect("the OpenAPI document is JSON");
        let contract = std::sync::Arc::new(contract::Contract::new(doc));
        Self {
            addr,
            base: format!("http://{addr}"),
            http,
            config,
            backend,
            hub,
            caches,
            files,
            contract,
            accounts,
            _data: data,
            stop: Some(stop),
            task: Some(task),
            owned_database: None,
        }
    }

    /// The full URL of `path`; a link the app handed out (already absolute) as it is.
    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http://") || path.starts_with("https://") {
            return path.to_string();
        }
        format!("{}{}", self.base, path)
    }

    /// Where the app writes mail.
    pub fn mail_dir(&self) -> PathBuf {
        self.config.data_dir.join("mail")
    }

    /// Where the app writes SMS.
    pub fn sms_dir(&self) -> PathBuf {
        self.config.data_dir.join("sms")
    }

    /// A direct handle on the app's database (for checks the API cannot show).
    pub async fn db(&self) -> platform::db::Db {
        platform::db::connect(&self.config.database_url(), 2).await.expect("connect test db")
    }

    /// Waits (up to 10 s) until the outbox holds no mail, SMS or file removal due now: every
    /// side effect queued so far has been delivered (or dropped by its handler), so a test can
    /// count what went out.
    pub async fn outbox_idle(&self) {
        let db = self.db().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let now = platform::db::Ts::now();
            let (left,): (i64,) = platform::with_db!(&db, |pool| {
                sqlx::query_as(
                    "SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND kind <> 'domain.event'
                       AND next_attempt_at <= $1",
                )
                .bind(now)
                .fetch_one(pool)
                .await
            })
            .expect("count outbox rows");
            if left == 0 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{left} outbox rows were not delivered in 10 s");
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, stop the worker.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(url) = self.owned_database.take() {
            drop_database(&url);
        }
    }
}

/// Drops a test database, ending the connections still open to it: all tests share one
/// process, and an app whose runtime ended mid-shutdown may not have closed its pool, which
/// would otherwise exhaust the server's connections over a full run.
fn drop_database(url: &str) {
    let (Some(base), Ok(parsed)) = (env("FERROBASE_TEST_POSTGRES_URL"), url::Url::parse(url)) else { return };
    let name = parsed.path().trim_start_matches('/').to_string();
    if !name.starts_with("ferrobase_test_") {
        return;
    }
    let database = name.clone();
    let dropped = std::thread::spawn(move || {
        use sqlx::Connection;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        runtime.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
            let sql = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.ok()?;
            conn.close().await.ok()
        })
    })
    .join();
    if !matches!(dropped, Ok(Some(()))) {
        eprintln!("could not drop the test database {name}");
    }
}

/// Declares API tests that run once per backend: `api_tests!(register_works, login_works);`
/// with each name an `async fn(TestApp)` in scope.
#[macro_export]
macro_rules! api_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let app = $crate::TestApp::spawn($crate::Backend::Sqlite).await.expect("sqlite app");
                    super::$name(app).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
                async fn $name() {
                    if let Some(app) = $crate::TestApp::spawn($crate::Backend::Postgres).await {
                        super::$name(app).await;
                    }
                }
            )+
        }
    };
}

/// Like [`api_tests!`] for tests that start their apps themselves (with their own settings):
/// each name is an `async fn(Backend)`, run once per backend.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(ferrobase_postgres), ignore = "needs FERROBASE_TEST_POSTGRES_URL")]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await;
                }
            )+
        }
    };
}
