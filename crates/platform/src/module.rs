//! The module interface: the one place where a module plugs into the platform.
//!
//! A module is a crate that implements [`Module`]. The binary lists the modules and hands them to
//! [`assemble`], which connects to everything configured, applies every module's migrations,
//! lets each module build its services ([`Module::init`], in list order, so a module finds the
//! services of the modules before it), then lets each module that `FERROBASE_MODULES` enables
//! serve ([`Module::serve`]: routes, topics, gateway commands, jobs). Outbox handlers and
//! account hooks are registered whether a module is served or not: rows written before an
//! operator switched a module off must still be delivered, and a user's export and deletion
//! concern every module that holds their data.

use crate::app::Platform;
use crate::auth::{Authenticator, SessionCheck};
use crate::config::Config;
use crate::db::{Migration, Tx};
use crate::events::{Broker, Relay, Subscriber};
use crate::outbox::{
    DELETE_FILES, DeleteFilesHandler, Handler, Job, MailHandler, OnBehalfHandler, SEND_MAIL, SEND_MAIL_ON_BEHALF,
    SEND_SMS, SmsHandler, Wanted, Worker,
};
use crate::realtime::{CommandHandler, CommandTable, Gateway, TopicAuthorizer};
use anyhow::Context;
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

/// A kind of notification a module sends, registered with the notifications module so that
/// preferences list it (and refuse kinds nobody registered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotificationKind {
    /// The stored and serialised name, e.g. `task_assigned`.
    pub name: &'static str,
    /// One line for the preferences document, e.g. "A task was assigned to me".
    pub description: &'static str,
}

/// The name shown, in every module, as the author of what a deleted account left behind.
pub const DELETED_USER_NAME: &str = "Deleted user";

/// What a module does with a user's data when the user asks for it or leaves.
#[async_trait::async_trait]
pub trait AccountHooks: Send + Sync {
    /// This module's part of `GET /api/v1/users/me/export`, placed under the module's name.
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value>;

    /// Runs inside the transaction that deletes `user`, before the user's row goes, so that a
    /// module can hand shared objects on; it fails the deletion by failing. What it returns
    /// runs once the deletion has committed (announce what went, drop cached rows), and never
    /// if it rolled back.
    async fn deleting(&self, _tx: &mut Tx, _user: Uuid) -> anyhow::Result<Option<AfterDeletion>> {
        Ok(None)
    }

    /// Whether `user` left anything others see (messages, comments, owned objects shared with
    /// others). The purge of never-verified accounts keeps those accounts.
    async fn has_activity(&self, _tx: &mut Tx, _user: Uuid) -> anyhow::Result<bool> {
        Ok(false)
    }
}

/// What a module does once an account's deletion has committed.
pub type AfterDeletion = Box<dyn FnOnce() + Send>;

/// The account hooks of every module, in module order, under each module's name. Accounts
/// holds one (it is built before the modules that register into it).
#[derive(Clone, Default)]
pub struct AccountHookSet(Arc<RwLock<Vec<NamedHooks>>>);

/// A module's name and its hooks.
pub type NamedHooks = (&'static str, Arc<dyn AccountHooks>);

impl AccountHookSet {
    /// The registered hooks.
    pub fn all(&self) -> Vec<NamedHooks> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn push(&self, module: &'static str, hooks: Arc<dyn AccountHooks>) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).push((module, hooks));
    }
}

/// A module's settings: a struct with defaults, read from the module's own table
/// (`[chat]` in `ferrobase.toml`, `FERROBASE_CHAT__*`). Use `#[serde(default, deny_unknown_fields)]`.
pub trait Settings: Default + serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static {
    /// Checks ranges and relations that the types alone do not (types are checked by parsing).
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
}

/// A module's settings, whatever their type: what start-up and `ferrobase config` need.
pub trait SettingsSpec: Send + Sync {
    /// The defaults, as a JSON object.
    fn defaults(&self) -> serde_json::Value;
    /// Parses and validates a given table.
    fn check(&self, table: &config::Value) -> Result<(), String>;
}

/// The [`SettingsSpec`] of a [`Settings`] type.
pub struct SettingsOf<T>(std::marker::PhantomData<fn() -> T>);

impl<T> SettingsOf<T> {
    /// The spec, as a constant a module can hand out by reference.
    pub const SPEC: Self = Self(std::marker::PhantomData);
}

impl<T: Settings> SettingsSpec for SettingsOf<T> {
    fn defaults(&self) -> serde_json::Value {
        serde_json::to_value(T::default()).unwrap_or_default()
    }

    fn check(&self, table: &config::Value) -> Result<(), String> {
        parse_settings::<T>(table).map(|_| ())
    }
}

fn parse_settings<T: Settings>(table: &config::Value) -> Result<T, String> {
    let settings: T = table.clone().try_deserialize().map_err(|e| e.to_string())?;
    settings.validate()?;
    Ok(settings)
}

/// A module of the product.
#[async_trait::async_trait]
pub trait Module: Send + Sync {
    /// The name used in `FERROBASE_MODULES`, metrics and the data export.
    fn name(&self) -> &'static str;

    /// This module's migrations (applied after the platform's and those of the modules before it).
    fn migrations(&self) -> &'static [Migration];

    /// True for a module served whatever `FERROBASE_MODULES` says (accounts: every other module
    /// stands on it).
    fn always_served(&self) -> bool {
        false
    }

    /// The notification kinds this module sends.
    fn notification_kinds(&self) -> &'static [NotificationKind] {
        &[]
    }

    /// This module's settings (`Some(&SettingsOf::<MySettings>::SPEC)`); `None` when it has
    /// none. Start-up and `ferrobase config` refuse a key it does not have and a value that does
    /// not parse or validate; the module reads its values with [`Kernel::settings`].
    fn settings(&self) -> Option<&'static dyn SettingsSpec> {
        None
    }

    /// Builds the module's services ([`Kernel::provide`]) from the platform and the services of
    /// the modules before it ([`Kernel::service`]), and registers what must exist even when the
    /// module is not served: outbox handlers, event subscribers, account hooks.
    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()>;

    /// Registers what the module serves: routes, realtime topics, gateway commands, scheduled
    /// jobs, layers. Not called when `FERROBASE_MODULES` leaves the module out.
    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()>;
}

type Wrap = Box<dyn FnOnce(Router) -> Router + Send>;

/// What the modules register into while the application is assembled.
pub struct Kernel {
    platform: Platform,
    services: axum::http::Extensions,
    sessions: Option<Arc<dyn SessionCheck>>,
    serving: Option<(Authenticator, Gateway)>,
    routes: OpenApiRouter,
    layers: Vec<Wrap>,
    commands: HashMap<String, Arc<dyn CommandHandler>>,
    handlers: Vec<(&'static str, Arc<dyn Handler>)>,
    subscribers: Vec<(&'static str, String, Arc<dyn Subscriber>)>,
    jobs: Vec<Arc<dyn Job>>,
    hooks: AccountHookSet,
    kinds: Vec<NotificationKind>,
    current: &'static str,
    grpc: tonic::service::RoutesBuilder,
    grpc_names: Vec<&'static str>,
    grpc_descriptors: Vec<&'static [u8]>,
    /// OpenAPI component schemas by name, with the module that first described each.
    schemas: HashMap<String, (&'static str, serde_json::Value)>,
    collisions: Vec<String>,
}

impl Kernel {
    /// The shared platform services.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// The calling module's settings: its table of the configuration over `T::default()`.
    /// Environment variables arrive as text; numbers and booleans are read from it.
    pub fn settings<T: Settings>(&self) -> anyhow::Result<T> {
        match self.platform.config.module_settings.get(self.current) {
            Some(table) => parse_settings(table)
                .map_err(|e| anyhow::anyhow!("the settings of module {} are not valid: {e}", self.current)),
            None => Ok(T::default()),
        }
    }

    /// Makes `service` available to the modules after this one (one value per type).
    pub fn provide<T: Clone + Send + Sync + 'static>(&mut self, service: T) {
        self.services.insert(service);
    }

    /// The service of type `T` that a module before this one provided.
    pub fn service<T: Clone + Send + Sync + 'static>(&self) -> anyhow::Result<T> {
        self.services.get::<T>().cloned().with_context(|| {
            format!("module {} needs {}, which no module before it provides", self.current, std::any::type_name::<T>())
        })
    }

    /// Names the checker of live sessions behind every access token (the accounts module).
    pub fn provide_sessions(&mut self, sessions: Arc<dyn SessionCheck>) {
        self.sessions = Some(sessions);
    }

    /// Every notification kind the modules declared (for the notifications module).
    pub fn notification_kinds(&self) -> &[NotificationKind] {
        &self.kinds
    }

    /// The registry of account hooks (for the accounts module, which calls them).
    pub fn account_hook_set(&self) -> AccountHookSet {
        self.hooks.clone()
    }

    /// Registers this module's account hooks.
    pub fn account_hooks(&mut self, hooks: Arc<dyn AccountHooks>) {
        self.hooks.push(self.current, hooks);
    }

    /// Registers the deliverer of outbox rows of `kind`.
    pub fn outbox_handler(&mut self, kind: &'static str, handler: Arc<dyn Handler>) {
        self.handlers.push((kind, handler));
    }

    /// Subscribes to domain events of `kind` (another module's, by its published name). The
    /// subscription is named after this module and `name`, which must stay stable: it keys
    /// the record of events already handled.
    pub fn subscribe(&mut self, kind: &'static str, name: &str, subscriber: Arc<dyn Subscriber>) {
        self.subscribers.push((kind, format!("{}.{name}", self.current), subscriber));
    }

    /// The token checker (available in [`Module::serve`]).
    pub fn auth(&self) -> anyhow::Result<Authenticator> {
        self.serving
            .as_ref()
            .map(|(auth, _)| auth.clone())
            .context("auth is available once every module is initialised")
    }

    /// The realtime gateway (available in [`Module::serve`]); its commands are those registered
    /// by the time the application is assembled.
    pub fn gateway(&self) -> anyhow::Result<Gateway> {
        self.serving
            .as_ref()
            .map(|(_, gw)| gw.clone())
            .context("the gateway is available once every module is initialised")
    }

    /// Adds HTTP routes (with their OpenAPI description). Two modules that describe different
    /// schemas under one component name are refused when the app is assembled: the merged
    /// document would describe one module's requests with the other's schema.
    pub fn routes(&mut self, routes: OpenApiRouter) {
        if let Some(components) = routes.get_openapi().components.as_ref() {
            for (name, schema) in &components.schemas {
                let schema = serde_json::to_value(schema).unwrap_or_default();
                match self.schemas.get(name) {
                    Some((owner, known)) if *known != schema => {
                        self.collisions.push(format!("{owner} and {} both describe {name:?}", self.current));
                    }
                    Some(_) => {}
                    None => {
                        self.schemas.insert(name.clone(), (self.current, schema));
                    }
                }
            }
        }
        let all = std::mem::take(&mut self.routes);
        self.routes = all.merge(routes);
    }

    /// Wraps the served routes, inside the shared middleware (request ids, CORS, limits): for
    /// transports such as socket.io that are tower layers rather than routes.
    pub fn layer(&mut self, wrap: impl FnOnce(Router) -> Router + Send + 'static) {
        self.layers.push(Box::new(wrap));
    }

    /// Makes this module the owner of the realtime topics starting with `prefix`.
    pub fn topic(&mut self, prefix: &str, authorizer: Arc<dyn TopicAuthorizer>) {
        self.platform.hub.register(prefix, authorizer);
    }

    /// Registers a gateway command (`{"type": name, …}` frames).
    pub fn command(&mut self, name: &str, handler: Arc<dyn CommandHandler>) -> anyhow::Result<()> {
        anyhow::ensure!(!self.commands.contains_key(name), "two modules register the gateway command {name:?}");
        self.commands.insert(name.to_string(), handler);
        Ok(())
    }

    /// Registers a scheduled job.
    pub fn job(&mut self, job: Arc<dyn Job>) {
        self.jobs.push(job);
    }

    /// Registers a gRPC service with the encoded descriptor set of its protos (for reflection);
    /// served on `FERROBASE_GRPC_BIND` with the health and reflection services.
    pub fn grpc<S>(&mut self, service: S, descriptor: &'static [u8])
    where
        S: tower::Service<
                axum::http::Request<tonic::body::Body>,
                Error = std::convert::Infallible,
                Response = axum::http::Response<tonic::body::Body>,
            > + tonic::server::NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.grpc_names.push(S::NAME);
        // Services whose protos share one descriptor set register it once.
        if !self.grpc_descriptors.contains(&descriptor) {
            self.grpc_descriptors.push(descriptor);
        }
        self.grpc.add_service(service);
    }
}

/// An assembled application, ready to serve.
pub struct Assembled {
    /// The HTTP application.
    pub router: Router,
    /// The shared services.
    pub platform: Platform,
    /// The background worker, not yet started.
    pub worker: Worker,
    /// Every module's services by type (the command line uses some directly).
    pub services: axum::http::Extensions,
    /// The gRPC services, when `FERROBASE_GRPC_BIND` is set.
    pub grpc: Option<tonic::service::Routes>,
}

/// Every migration of the platform and `modules`, in the order they are applied.
pub fn migrations(modules: &[&dyn Module]) -> Vec<&'static [Migration]> {
    std::iter::once(crate::MIGRATIONS).chain(modules.iter().map(|m| m.migrations())).collect()
}

/// Gives each loose setting (`FERROBASE_STUDIO_PROVIDER_URL`) to the module it names when that
/// module has the key (`studio`, `provider_url`); it wins over the module's table in the file,
/// and the two-underscore variable, when also given, wins over it. Refuses settings that no
/// module claims, settings tables that name no module with settings, and keys a module does
/// not have (a typo must not silently leave a default in place).
pub fn check_settings(config: &mut Config, modules: &[&dyn Module]) -> anyhow::Result<()> {
    let mut unknown = Vec::new();
    for (key, value) in std::mem::take(&mut config.loose_settings) {
        let owner = modules.iter().find_map(|m| {
            let rest = key.strip_prefix(m.name())?.strip_prefix('_')?;
            let defaults = m.settings()?.defaults();
            defaults.get(rest).is_some().then(|| (m.name(), rest.to_string()))
        });
        match owner {
            Some((module, setting)) => {
                if !config.env_module_settings.contains(&(module.to_string(), setting.clone())) {
                    config.set_module_setting(module, &setting, value);
                }
            }
            None => unknown.push(format!("FERROBASE_{}", key.to_uppercase())),
        }
    }
    if !unknown.is_empty() {
        anyhow::bail!("unknown setting(s): {}", unknown.join(", "));
    }
    for (section, table) in &config.module_settings {
        let upper = section.to_uppercase();
        let module = modules.iter().find(|m| m.name() == section.as_str());
        let Some(spec) = module.and_then(|m| m.settings()) else {
            anyhow::bail!(
                "settings were given for {section:?} (FERROBASE_{upper}__*), which is no module with settings"
            );
        };
        let defaults = spec.defaults();
        let known: Vec<&String> = defaults.as_object().map(|d| d.keys().collect()).unwrap_or_default();
        let given = table.clone().into_table().unwrap_or_default();
        let mut unknown: Vec<&String> = given.keys().filter(|k| !known.contains(k)).collect();
        if !unknown.is_empty() {
            unknown.sort();
            let names: Vec<String> =
                unknown.iter().map(|k| format!("FERROBASE_{upper}__{}", k.to_uppercase())).collect();
            anyhow::bail!("unknown setting(s) of module {section}: {} (it has {known:?})", names.join(", "));
        }
        spec.check(table).map_err(|e| anyhow::anyhow!("the settings of module {section} are not valid: {e}"))?;
    }
    Ok(())
}

/// Every module's settings as `ferrobase config` prints them: the given value, or the default.
/// Values of settings whose name speaks of a secret are hidden.
pub fn describe_settings(config: &Config, modules: &[&dyn Module]) -> String {
    let mut out = String::new();
    for module in modules {
        let Some(spec) = module.settings() else { continue };
        let given =
            config.module_settings.get(module.name()).and_then(|t| t.clone().into_table().ok()).unwrap_or_default();
        for (key, default) in spec.defaults().as_object().into_iter().flatten() {
            let value = given.get(key).map_or_else(|| default.to_string(), |v| v.to_string());
            let secret = ["secret", "password", "token", "key"].iter().any(|w| key.contains(w));
            let shown = if secret { "[redacted]".to_string() } else { value };
            let name = format!("{}__{}", module.name(), key).to_uppercase();
            out.push_str(&format!("FERROBASE_{name:<24} {shown}\n"));
        }
    }
    out
}

/// Connects, migrates, and assembles `modules` as configured. Refuses a `FERROBASE_MODULES`
/// entry that names no module in the list, and two modules of one name.
pub async fn assemble(mut config: Config, modules: &[&dyn Module]) -> anyhow::Result<Assembled> {
    let names: Vec<&str> = modules.iter().map(|m| m.name()).collect();
    for (i, name) in names.iter().enumerate() {
        anyhow::ensure!(!names[..i].contains(name), "two modules are named {name:?}");
    }
    if let Some(unknown) = config.module_list().into_iter().find(|m| !names.contains(&m.as_str())) {
        anyhow::bail!("FERROBASE_MODULES names an unknown module {unknown:?}; known: {}", names.join(", "));
    }
    check_settings(&mut config, modules)?;
    let platform = Platform::init(config, &migrations(modules)).await?;
    let mut kernel = Kernel {
        platform: platform.clone(),
        services: axum::http::Extensions::new(),
        sessions: None,
        serving: None,
        routes: OpenApiRouter::new(),
        layers: Vec::new(),
        commands: HashMap::new(),
        handlers: Vec::new(),
        subscribers: Vec::new(),
        jobs: Vec::new(),
        hooks: AccountHookSet::default(),
        kinds: modules.iter().flat_map(|m| m.notification_kinds().iter().copied()).collect(),
        current: "platform",
        schemas: HashMap::new(),
        collisions: Vec::new(),
        grpc: tonic::service::RoutesBuilder::default(),
        grpc_names: Vec::new(),
        grpc_descriptors: Vec::new(),
    };
    for module in modules {
        kernel.current = module.name();
        module.init(&mut kernel).await.with_context(|| format!("starting module {}", module.name()))?;
    }
    let sessions = kernel.sessions.take().context("no module checks sessions (the accounts module is missing)")?;
    let auth = Authenticator { keys: platform.keys.clone(), sessions };
    let commands = CommandTable::default();
    let gateway = Gateway {
        hub: platform.hub.clone(),
        auth: auth.clone(),
        commands: commands.clone(),
        rate_per_sec: platform.config.ws_messages_per_sec,
        rate_burst: platform.config.ws_message_burst,
        pacing: Arc::new(crate::realtime::gateway::FirehoseLoad::new(platform.config.ws_pacing_from())),
    };
    kernel.routes(crate::realtime::gateway::router(gateway.clone()));
    kernel.serving = Some((auth, gateway));
    for module in modules {
        if module.always_served() || platform.config.module_enabled(module.name()) {
            kernel.current = module.name();
            module.serve(&mut kernel).await.with_context(|| format!("serving module {}", module.name()))?;
        }
    }
    anyhow::ensure!(
        kernel.collisions.is_empty(),
        "OpenAPI component names collide (name them per module): {}",
        kernel.collisions.join("; ")
    );
    commands.fill(std::mem::take(&mut kernel.commands));
    let layers = std::mem::take(&mut kernel.layers);
    let auth = kernel.auth()?;
    let router = crate::http::finish_with(std::mem::take(&mut kernel.routes), &platform, auth, |routes| {
        layers.into_iter().fold(routes, |routes, wrap| wrap(routes))
    });
    let broker = (!platform.config.amqp_url.is_empty()).then(|| Broker::new(platform.config.amqp_url.expose()));
    let holder = platform.hub.instance().to_string();
    let mut relay = Relay::new(platform.db.clone(), holder.clone(), broker);
    for (kind, name, subscriber) in kernel.subscribers {
        relay.subscribe(kind, &name, subscriber);
    }
    platform.outbox.set_wanted(Wanted { all: relay.has_broker(), types: relay.subscribed_types().cloned().collect() });
    let mut worker = Worker::new(
        platform.db.clone(),
        platform.outbox.clone(),
        holder,
        Duration::from_secs(platform.config.jobs_interval_secs.max(1)),
    )
    .relay(relay)
    .handler(SEND_MAIL, Arc::new(MailHandler(platform.mailer.clone())))
    .handler(
        SEND_MAIL_ON_BEHALF,
        Arc::new(OnBehalfHandler { mailer: platform.mailer.clone(), limiter: platform.limiter.clone() }),
    )
    .handler(SEND_SMS, Arc::new(SmsHandler(platform.sms.clone())))
    .handler(DELETE_FILES, Arc::new(DeleteFilesHandler(platform.storage.clone())));
    for (kind, handler) in kernel.handlers {
        worker = worker.handler(kind, handler);
    }
    worker = worker.job(Arc::new(crate::idempotency::Cleanup(platform.db.clone())));
    worker = worker.job(Arc::new(crate::db::Analyze(platform.db.clone())));
    for job in kernel.jobs {
        worker = worker.job(job);
    }
    let grpc = if platform.config.grpc_bind.is_empty() {
        None
    } else {
        Some(crate::grpc::routes(kernel.grpc, &kernel.grpc_names, &kernel.grpc_descriptors).await?)
    };
    Ok(Assembled { router, platform, worker, services: kernel.services, grpc })
}
