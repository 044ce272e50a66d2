//! Builds the ferrobase application from a configuration: the platform, the enabled modules,
//! the HTTP router and the background worker. `main.rs` only parses the command line.

use accounts::Accounts;
use platform::Platform;
use platform::config::Config;
use platform::module::{Module, assemble};
use platform::outbox::Worker;
use tokio::sync::watch;

/// The modules of the product, in the order they are built (a module may use the services of
/// those before it). Adding a module is adding its crate and one line here.
pub const MODULES: &[&dyn Module] = &[
    &accounts::AccountsModule,
    &notifications::NotificationsModule,
    &chat::ChatModule,
    &work::WorkModule,
    &ticketing::TicketingModule,
    &freelance::FreelanceModule,
    &studio::StudioModule,
];

/// Every migration, in the order they are applied.
pub fn migrations() -> Vec<&'static [platform::db::Migration]> {
    platform::module::migrations(MODULES)
}

/// A built application, ready to serve.
pub struct App {
    /// The HTTP application.
    pub router: axum::Router,
    /// The shared services.
    pub platform: Platform,
    /// The accounts service (the CLI uses it directly).
    pub accounts: Accounts,
    /// The background worker, not yet started.
    pub worker: Worker,
    /// The gRPC services, when `FERROBASE_GRPC_BIND` is set.
    pub grpc: Option<tonic::service::Routes>,
}

/// Connects, migrates and assembles every module configured.
pub async fn build(config: Config) -> anyhow::Result<App> {
    // Opening a database that a half-done restore moved away would create an empty one.
    platform::backup::refuse_half_restored(&config)?;
    let assembled = assemble(config, MODULES).await?;
    let accounts =
        assembled.services.get::<Accounts>().cloned().ok_or_else(|| anyhow::anyhow!("accounts is missing"))?;
    Ok(App {
        router: assembled.router,
        platform: assembled.platform,
        accounts,
        worker: assembled.worker,
        grpc: assembled.grpc,
    })
}

/// Serves `app` on `listener` (and gRPC on `FERROBASE_GRPC_BIND` when set) until `shutdown`
/// resolves: stops accepting, finishes in-flight requests, then stops the worker and closes
/// the database.
pub async fn run(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_worker, worker_stopped) = watch::channel(false);
    let worker = tokio::spawn(app.worker.run(worker_stopped));
    let (stop, stopped) = watch::channel(false);
    // Its first round, at once, gives back what start-up built and dropped.
    let housekeeping = tokio::spawn(platform::housekeeping::run(app.platform.metrics.clone(), stopped.clone()));
    let checkpoints = {
        let (db, stopped) = (app.platform.db.clone(), stopped.clone());
        tokio::spawn(async move { db.checkpoints(stopped).await })
    };
    let grpc = match app.grpc {
        Some(routes) => {
            let grpc_listener = platform::listen(app.platform.config.grpc_bind.as_str()).await?;
            tracing::info!(address = %grpc_listener.local_addr()?, "gRPC ready");
            let mut stopped = stopped.clone();
            let until = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            Some(tokio::spawn(platform::grpc::serve(grpc_listener, routes, until)))
        }
        None => None,
    };
    let stopping = stop.clone();
    platform::serve(listener, app.router, async move {
        shutdown.await;
        let _ = stopping.send(true);
    })
    .await?;
    let _ = stop.send(true);
    let _ = housekeeping.await;
    let _ = checkpoints.await;
    if let Some(grpc) = grpc {
        grpc.await??;
    }
    let _ = stop_worker.send(true);
    let _ = worker.await;
    app.platform.db.close().await;
    Ok(())
}

/// Asks the server listening at `bind` on this machine for `/health/ready` (an unspecified
/// address, `0.0.0.0` or `::`, is asked on loopback); Ok when it answers 200 within `timeout`.
/// Plain HTTP/1.0 over a socket: the probe needs no client library and no runtime.
pub fn probe_ready(bind: std::net::SocketAddr, timeout: std::time::Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let address = SocketAddr::new(ip, bind.port());
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout).map_err(|e| format!("{address}: {e}"))?;
    stream.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET /health/ready HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())
        .map_err(|e| format!("{address}: {e}"))?;
    // The status line is all that is needed; the body of a 503 names what is down.
    let mut answer = Vec::new();
    stream.take(4096).read_to_end(&mut answer).map_err(|e| format!("{address}: {e}"))?;
    let answer = String::from_utf8_lossy(&answer);
    let status = answer.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
        Err(format!("{status} {body}").trim().to_string())
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
