//! [`Platform`]: the shared services built once from the configuration and handed to every
//! module, [`listen`], which binds the listeners, and [`serve`], which runs an app on a bound
//! listener (port 0 in tests).

use crate::auth::TokenKeys;
use crate::config::Config;
use crate::db::{self, Db, Migration};
use crate::mail::Mailer;
use crate::outbox::Outbox;
use crate::password::PasswordHasher;
use crate::ratelimit::RateLimiter;
use crate::secret::Secret;
use crate::sms::SmsSender;
use crate::storage::Storage;
use anyhow::Context;
use metrics_exporter_prometheus::PrometheusHandle;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

/// Everything a module needs from the platform. Cheap to clone: one reference count, as axum
/// clones a handler's state for every request (cloning the twenty handles inside, and dropping
/// them again, cost an eighth of a bare route's CPU). Fields read through [`Deref`].
///
/// [`Deref`]: std::ops::Deref
#[derive(Clone)]
pub struct Platform(Arc<PlatformParts>);

impl std::ops::Deref for Platform {
    type Target = PlatformParts;

    fn deref(&self) -> &PlatformParts {
        &self.0
    }
}

/// The parts of the [`Platform`].
pub struct PlatformParts {
    /// The configuration.
    pub config: Arc<Config>,
    /// The database.
    pub db: Db,
    /// Redis, when configured.
    pub redis: Option<redis::aio::ConnectionManager>,
    /// Rate limits (shared through Redis when configured).
    pub limiter: RateLimiter,
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Access-token keys.
    pub keys: TokenKeys,
    /// Key for hashing one-time codes.
    pub code_key: Secret,
    /// The outbox handle.
    pub outbox: Outbox,
    /// Outgoing mail (used by the worker).
    pub mailer: Mailer,
    /// Outgoing SMS (used by the worker).
    pub sms: SmsSender,
    /// Uploaded files.
    pub storage: Storage,
    /// Upload limits and the bounded image workers.
    pub uploads: crate::upload::Uploads,
    /// Signed URLs for private files.
    pub file_urls: crate::files::FileUrls,
    /// Prometheus handle.
    pub metrics: PrometheusHandle,
    /// Realtime topics (with the Redis backplane when Redis is configured).
    pub hub: crate::realtime::Hub,
    /// Keeps every module's caches exact: always on with SQLite (one process), on while the
    /// backplane is up with PostgreSQL (many instances).
    pub caches: crate::cache::Coherence,
}

impl Platform {
    /// Connects to everything configured and applies `migrations`.
    pub async fn init(config: Config, migrations: &[&[Migration]]) -> anyhow::Result<Self> {
        let secret = signing_secret(&config)?;
        let db =
            db::connect(&config.database_url(), config.db_pool_size()).await.context("connecting to the database")?;
        let applied = db::migrate(&db, migrations).await.context("applying migrations")?;
        if applied > 0 {
            tracing::info!(applied, "database migrated");
        }
        let hub = crate::realtime::Hub::new();
        let caches = match db.dialect() {
            db::Dialect::Sqlite => crate::cache::Coherence::single_process(),
            _ => crate::cache::Coherence::shared(),
        };
        let redis = if config.redis_url.is_empty() {
            None
        } else {
            let client = redis::Client::open(config.redis_url.expose()).context("parsing the redis url")?;
            // Short timeouts and few retries: a request never waits long on a Redis that is
            // gone (the limiter counts in process meanwhile, see ratelimit).
            let manager = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(std::time::Duration::from_secs(1)))
                .set_response_timeout(Some(std::time::Duration::from_secs(1)))
                .set_number_of_retries(1);
            // An instance (re)started while Redis is down still starts: it connects later, and
            // until then limits count in process and realtime stays within the instance.
            let eager = redis::aio::ConnectionManager::new_with_config(client.clone(), manager.clone());
            let conn = match tokio::time::timeout(std::time::Duration::from_secs(3), eager).await {
                Ok(Ok(conn)) => conn,
                failed => {
                    let why = failed.map_or_else(
                        |_| "no answer in 3 s".to_string(),
                        |r| r.err().map(|e| e.to_string()).unwrap_or_default(),
                    );
                    tracing::warn!(error = %why, "redis is unreachable at start; connecting when it returns");
                    redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), manager)
                        .context("setting up the redis connection")?
                }
            };
            crate::realtime::attach_backplane(&hub, &caches, client, conn.clone(), &config.redis_prefix).await;
            Some(conn)
        };
        let limiter = match &redis {
            Some(conn) => RateLimiter::redis(conn.clone(), &config.redis_prefix),
            None => RateLimiter::local(),
        };
        let cores = crate::config::cores();
        Ok(Self(Arc::new(PlatformParts {
            keys: TokenKeys::new(&secret, config.access_token_ttl_secs),
            code_key: Secret::new(crate::crypto::hmac_hex(secret.expose().as_bytes(), "one-time-codes")),
            mailer: Mailer::from_url(&config.mail_url(), &config.mail_from)?,
            sms: SmsSender::from_url(&config.sms_url())?,
            storage: Storage::from_url(&config.storage_url())?,
            uploads: crate::upload::Uploads {
                max_file_bytes: config.upload_body_limit as u64,
                max_pixels: config.upload_max_pixels,
                // Half the cores by default: a burst of uploads must leave room for requests.
                images: crate::images::ImageWorkers::new(match config.image_concurrency {
                    0 => (cores / 2).max(1),
                    n => n,
                }),
                staging: staging_dir(&config)?,
            },
            file_urls: crate::files::FileUrls::new(&secret, config.file_url_ttl_secs, &config.public_url),
            hasher: PasswordHasher::new(cores).map_err(|e| anyhow::anyhow!("{e}"))?,
            outbox: Outbox::new(),
            metrics: crate::telemetry::install_metrics(),
            hub,
            caches,
            config: Arc::new(config),
            db,
            redis,
            limiter,
        })))
    }
}

/// Where uploads are staged: `<data dir>/staging`. Staged files left by a crash (older than an
/// hour, so that another instance sharing the directory keeps its uploads in flight) are removed.
fn staging_dir(config: &Config) -> anyhow::Result<std::path::PathBuf> {
    let dir = config.data_dir.join("staging");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let hour = std::time::Duration::from_secs(3600);
    for entry in std::fs::read_dir(&dir)?.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > hour);
        if stale && entry.file_name().to_string_lossy().starts_with("upload-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(dir)
}

/// The configured signing secret, or the one kept in the data dir (created on first start, mode 0600).
fn signing_secret(config: &Config) -> anyhow::Result<Secret> {
    if !config.jwt_secret.is_empty() {
        anyhow::ensure!(config.jwt_secret.expose().len() >= 32, "FERROBASE_JWT_SECRET must be at least 32 characters");
        return Ok(config.jwt_secret.clone());
    }
    let path = config.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return Ok(Secret::new(existing.trim()));
    }
    std::fs::create_dir_all(&config.data_dir).context("creating the data dir")?;
    let secret = crate::crypto::random_token();
    write_private(&path, &secret).context("writing the signing secret")?;
    tracing::info!(path = %path.display(), "generated a new token signing secret");
    Ok(Secret::new(secret))
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents.as_bytes())
}

/// Connections the kernel holds for a listener while they wait to be accepted. tokio's
/// `TcpListener::bind` asks for 128 (since mio 1.2, the standard library's value), which
/// overflows when more clients than that connect at once (a thousand sockets reconnecting after
/// a restart): the kernel drops the rest, and each waits for its SYN to be sent again, one
/// second later and then three. Linux caps it at `net.core.somaxconn` (4 096 by default since
/// 5.4; on older kernels raise that setting too).
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a TCP listener on `addr` with [`LISTEN_BACKLOG`]. A host name may resolve to several
/// addresses: each is tried in turn, as `TcpListener::bind` does (`localhost` may give `::1`
/// first on a machine without IPv6). On Unix `SO_REUSEADDR` is set, as tokio does, so that a
/// restart can bind while the old connections linger in `TIME_WAIT` (on Linux it does not let
/// a second process listen on the same port; on Windows it would, so it is not set there).
pub async fn listen(
    addr: impl tokio::net::ToSocketAddrs + std::fmt::Display,
) -> std::io::Result<tokio::net::TcpListener> {
    let bind = |at: SocketAddr| -> std::io::Result<tokio::net::TcpListener> {
        let socket = if at.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
        #[cfg(not(windows))]
        socket.set_reuseaddr(true)?;
        socket.bind(at)?;
        socket.listen(LISTEN_BACKLOG)
    };
    let named = |e: std::io::Error| std::io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"));
    let mut last = None;
    for at in tokio::net::lookup_host(&addr).await.map_err(named)? {
        match bind(at) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(named(last.unwrap_or_else(|| std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address"))))
}

/// Serves `router` on `listener` until `shutdown` resolves, then finishes in-flight requests.
///
/// Every accepted connection has Nagle's algorithm turned off (`TCP_NODELAY`). A response is
/// written whole, but a socket writes again while its last write may be unacknowledged (the
/// next burst of events); with Nagle that write waits for the client's delayed ACK, tens of
/// milliseconds on Linux, added to the delivery of every message in it.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|stream| {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted connection");
        }
    });
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The backlog asked for is what the kernel holds: hundreds of connections at once to a
    /// listener that accepts none yet all complete, none dropped (a dropped one waits a second
    /// for its SYN to be sent again, past the deadline). Sized to what the machine allows: with
    /// `net.core.somaxconn` at 128 or less no backlog can do better, and the test says so.
    #[tokio::test]
    async fn listeners_hold_hundreds_of_waiting_connections() {
        let cap: usize = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(4096);
        let clients = cap.min(500);
        if clients <= 128 {
            eprintln!("net.core.somaxconn is {cap}: the backlog cannot be tested above the default here");
            return;
        }
        let listener = listen("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Nothing accepts: every connection must wait in the backlog.
        let connecting: Vec<_> = (0..clients).map(|_| tokio::net::TcpStream::connect(addr)).collect();
        let connected =
            tokio::time::timeout(std::time::Duration::from_millis(900), futures::future::join_all(connecting))
                .await
                .expect("a connection waited for a SYN to be sent again: the backlog overflowed");
        assert!(connected.iter().all(Result::is_ok));
        // Taken: the error names the address.
        let taken = listen(addr).await.map(|_| ()).unwrap_err();
        assert!(taken.to_string().contains(&addr.to_string()), "{taken}");
    }

    #[test]
    fn secret_is_generated_once_with_private_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let config = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        let a = signing_secret(&config).unwrap();
        let b = signing_secret(&config).unwrap();
        assert_eq!(a.expose(), b.expose());
        let mode = std::fs::metadata(dir.path().join("jwt-secret")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn short_configured_secrets_are_refused() {
        let config = Config { jwt_secret: Secret::new("short"), ..Config::default() };
        assert!(signing_secret(&config).is_err());
    }
}
