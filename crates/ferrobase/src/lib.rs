//! Builds the ferrobase application from a configuration: the platform, the enabled modules,
//! the HTTP router and the background worker. `main.rs` only parses the command line.

use accounts::Accounts;
use chat::Chat;
use notifications::Notifications;
use platform::auth::Authenticator;
use platform::config::Config;
use platform::outbox::{DELETE_FILES, DeleteFilesHandler, MailHandler, SEND_MAIL, SEND_SMS, SmsHandler, Worker};
use platform::realtime::{CommandHandler, Gateway};
use platform::{Platform, db};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use utoipa_axum::router::OpenApiRouter;
use work::Work;

/// Every module's migrations, in dependency order.
pub const MIGRATIONS: &[&[db::Migration]] =
    &[platform::MIGRATIONS, accounts::MIGRATIONS, notifications::MIGRATIONS, chat::MIGRATIONS, work::MIGRATIONS];

/// The modules of the product. Accounts is always served: every other module needs it.
pub const MODULES: &[&str] = &["accounts", "notifications", "chat", "work", "ticketing", "freelance", "studio"];

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
}

/// Connects, migrates and assembles everything configured.
pub async fn build(config: Config) -> anyhow::Result<App> {
    if let Some(unknown) = config.module_list().into_iter().find(|m| !MODULES.contains(&m.as_str())) {
        anyhow::bail!("FERROBASE_MODULES names an unknown module {unknown:?}; known: {}", MODULES.join(", "));
    }
    let platform = Platform::init(config, MIGRATIONS).await?;
    let accounts = Accounts::new(platform.clone());
    let auth = Authenticator { keys: platform.keys.clone(), sessions: Arc::new(accounts.clone()) };
    // Notifications are recorded by other modules even when their routes are not served.
    let notifications = Notifications::new(platform.clone(), accounts.clone());
    let mut commands: HashMap<String, Arc<dyn CommandHandler>> = HashMap::new();
    let chat = if platform.config.module_enabled("chat") {
        let chat = Chat::new(platform.clone(), accounts.clone(), notifications.clone());
        chat.ensure_default_rooms().await.map_err(|e| anyhow::anyhow!("creating the default chat rooms: {e}"))?;
        commands.insert("chat.send".into(), Arc::new(chat::realtime::SendCommand(chat.clone())));
        commands.insert("chat.typing".into(), Arc::new(chat::realtime::TypingCommand(chat.clone())));
        Some(chat)
    } else {
        None
    };
    let gateway = Gateway {
        hub: platform.hub.clone(),
        auth: auth.clone(),
        commands: Arc::new(commands),
        rate_per_sec: platform.config.ws_messages_per_sec,
        rate_burst: platform.config.ws_message_burst,
    };
    let mut api = OpenApiRouter::new()
        .merge(accounts::router(accounts.clone(), auth.clone(), platform.config.upload_body_limit))
        .merge(platform::realtime::gateway::router(gateway.clone()));
    if platform.config.module_enabled("notifications") {
        api = api.merge(notifications::router(notifications.clone(), auth.clone()));
    }
    if let Some(chat) = chat {
        api = api.merge(chat::router(chat, auth.clone(), gateway.clone()));
    }
    let work = platform.config.module_enabled("work").then(|| {
        let work = Work::new(platform.clone(), accounts.clone(), notifications.clone());
        accounts.observe(Arc::new(work::jobs::AcceptInvitations(work.clone())));
        work
    });
    let router = match &work {
        Some(work) => {
            api = api.merge(work::router(work.clone(), auth.clone()));
            let (socketio, _io) = work::socketio::layer(gateway.clone());
            platform::http::finish_with(api, &platform, |routes| routes.layer(socketio))
        }
        None => platform::http::finish(api, &platform),
    };
    let mut worker = Worker::new(
        platform.db.clone(),
        platform.outbox.clone(),
        Duration::from_secs(platform.config.jobs_interval_secs.max(1)),
    )
    .handler(SEND_MAIL, Arc::new(MailHandler(platform.mailer.clone())))
    .handler(SEND_SMS, Arc::new(SmsHandler(platform.sms.clone())))
    .handler(DELETE_FILES, Arc::new(DeleteFilesHandler(platform.storage.clone())))
    .job(Arc::new(accounts::jobs::Cleanup { db: platform.db.clone() }));
    if let Some(work) = work {
        worker = worker.job(Arc::new(work::jobs::DueReminders(work)));
    }
    Ok(App { router, platform, accounts, worker })
}

/// Serves `app` on `listener` until `shutdown` resolves: stops accepting, finishes in-flight
/// requests, then stops the worker and closes the database.
pub async fn run(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_worker, stopped) = watch::channel(false);
    let worker = tokio::spawn(app.worker.run(stopped));
    platform::serve(listener, app.router, shutdown).await?;
    let _ = stop_worker.send(true);
    let _ = worker.await;
    app.platform.db.close().await;
    Ok(())
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
