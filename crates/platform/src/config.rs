//! Configuration: `FERROBASE_*` environment variables over an optional `ferrobase.toml`, over
//! defaults that give the embedded mode (SQLite and files under `./data`).
//!
//! Every setting has a safe default, so `ferrobase serve` with nothing set works. Secrets are
//! [`Secret`]s and URLs are redacted by [`Config::describe`], so printing the configuration is safe.

use crate::secret::{Secret, redact_url};
use config::Source as _;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The effective configuration of one process.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on (`FERROBASE_BIND`).
    pub bind: SocketAddr,
    /// Where the embedded mode keeps its database, files, mail and SMS (`FERROBASE_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means `sqlite://<data_dir>/ferrobase.db`.
    pub database_url: Secret,
    /// `redis://…`; empty means everything shared stays in process.
    pub redis_url: Secret,
    /// Prefix of every Redis key and channel, so several deployments (or tests) can share one Redis.
    pub redis_prefix: String,
    /// `amqp://…` (RabbitMQ); empty disables broker publishing.
    pub amqp_url: Secret,
    /// Address of the gRPC server (`FERROBASE_GRPC_BIND`); empty means no gRPC server.
    pub grpc_bind: String,
    /// `smtp://user:pass@host:port`, `smtps://…`, `file://DIR` or `log:`; empty means `file://<data_dir>/mail`.
    pub mail_url: Secret,
    /// The `From` header of outgoing mail.
    pub mail_from: String,
    /// `file://DIR` or `log:`; empty means `file://<data_dir>/sms`.
    pub sms_url: Secret,
    /// `file://DIR` or `s3://…`; empty means `file://<data_dir>/files`.
    pub storage_url: Secret,
    /// The URL users reach this server at, used in links inside mail.
    pub public_url: String,
    /// Comma-separated browser origins allowed by CORS; empty allows none.
    pub cors_origins: String,
    /// Comma-separated modules to serve; empty means all.
    pub modules: String,
    /// Token signing secret; empty means generate one and keep it in the data dir.
    pub jwt_secret: Secret,
    /// Bearer token `/metrics` asks for; empty means it answers only to this machine.
    pub metrics_token: Secret,
    /// `human` or `json`.
    pub log_format: String,
    /// A `tracing` filter such as `info` or `ferrobase=debug,info`.
    pub log_level: String,
    /// Comma-separated IPs of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: String,
    /// Largest JSON body in bytes.
    pub json_body_limit: usize,
    /// Largest upload body in bytes (also the largest single file).
    pub upload_body_limit: usize,
    /// Most pixels (width × height) of an uploaded image, checked from its header before decoding.
    pub upload_max_pixels: u64,
    /// Image decodings that may run at once; 0 means one per core.
    pub image_concurrency: usize,
    /// Lifetime of a signed URL to a private file, in seconds.
    pub file_url_ttl_secs: i64,
    /// Lifetime of an access token in seconds.
    pub access_token_ttl_secs: i64,
    /// Lifetime of a refresh token in days.
    pub refresh_token_ttl_days: i64,
    /// Most database connections per instance; 0 chooses (see [`Config::db_pool_size`]).
    pub db_max_connections: u32,
    /// Seconds between runs of the scheduled jobs.
    pub jobs_interval_secs: u64,
    /// Messages per second one WebSocket connection may send (sustained).
    pub ws_messages_per_sec: f64,
    /// Messages one WebSocket connection may send in a burst.
    pub ws_message_burst: f64,
    /// Frames per second, summed over the WebSocket connections that each receive 200 or more
    /// a second, from which those connections' writes are paced; 0 chooses
    /// [`crate::realtime::gateway::PACING_FROM_PER_CORE`] per core
    /// ([`Config::ws_pacing_from()`]).
    pub ws_pacing_from: u64,
    /// Each module's own settings, by module name: the `[chat]` table of `ferrobase.toml` or
    /// `FERROBASE_CHAT__DEFAULT_ROOMS=false`. Checked and read by the modules through
    /// [`crate::module::Kernel::settings`].
    #[serde(skip)]
    pub module_settings: std::collections::BTreeMap<String, config::Value>,
    /// Settings no platform setting claims, such as `FERROBASE_STUDIO_PROVIDER_URL` (one
    /// underscore): [`crate::module::check_settings`] gives each to the module it names
    /// (`studio`, key `provider_url`) or refuses it.
    #[serde(skip)]
    pub loose_settings: std::collections::BTreeMap<String, config::Value>,
    /// The module settings given as `FERROBASE_{MODULE}__{KEY}` variables, as (module, key):
    /// they win over the one-underscore form, which wins over the file.
    #[serde(skip)]
    pub env_module_settings: std::collections::BTreeSet<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: Secret::default(),
            redis_url: Secret::default(),
            redis_prefix: "ferrobase".into(),
            amqp_url: Secret::default(),
            grpc_bind: String::new(),
            mail_url: Secret::default(),
            mail_from: "ferrobase <no-reply@localhost>".into(),
            sms_url: Secret::default(),
            storage_url: Secret::default(),
            public_url: "http://127.0.0.1:8080".into(),
            cors_origins: String::new(),
            modules: String::new(),
            jwt_secret: Secret::default(),
            metrics_token: Secret::default(),
            log_format: "human".into(),
            log_level: "info".into(),
            trusted_proxies: String::new(),
            json_body_limit: 1024 * 1024,
            upload_body_limit: 10 * 1024 * 1024,
            upload_max_pixels: 40_000_000,
            image_concurrency: 0,
            file_url_ttl_secs: 15 * 60,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            db_max_connections: 0,
            jobs_interval_secs: 60,
            ws_messages_per_sec: 20.0,
            ws_message_burst: 60.0,
            ws_pacing_from: 0,
            module_settings: Default::default(),
            loose_settings: Default::default(),
            env_module_settings: Default::default(),
        }
    }
}

/// The cores this process may use (its CPU quota or affinity, where set), 2 when that cannot
/// be read: what the defaults that scale with the machine are sized by.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// Two SQLite connections per core, 4 to 16.
fn sqlite_pool(cores: usize) -> u32 {
    u32::try_from(cores.saturating_mul(2)).unwrap_or(u32::MAX).clamp(4, 16)
}

/// A configuration that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Reads `ferrobase.toml` (if present, or the file named by `FERROBASE_CONFIG`) and then the
    /// `FERROBASE_*` environment variables, which win. A setting nobody knows is an error (a typo
    /// must not silently leave a default in place), except the variables of tests and tools.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var("FERROBASE_CONFIG").unwrap_or_else(|_| "ferrobase.toml".into());
        let built = config::Config::builder()
            .add_source(config::File::with_name(&file).required(false))
            // `FERROBASE_DATABASE_URL` is a platform setting; `FERROBASE_CHAT__DEFAULT_ROOMS` is
            // `default_rooms` in the chat module's table.
            .add_source(config::Environment::with_prefix("FERROBASE").prefix_separator("_").separator("__"))
            .build()
            .map_err(|e| ConfigError(e.to_string()))?;
        let known = Self::known_keys();
        let given = built.collect().map_err(|e| ConfigError(e.to_string()))?;
        // Tables belong to modules; `assemble` checks them against the modules' own settings.
        let mut module_settings = std::collections::BTreeMap::new();
        for (key, value) in &given {
            if !known.contains(key.as_str()) && value.clone().into_table().is_ok() {
                module_settings.insert(key.clone(), value.clone());
            }
        }
        // The modules decide whether they own what is left (see `loose_settings`).
        let loose: std::collections::BTreeMap<String, config::Value> = given
            .iter()
            .filter(|(k, _)| !known.contains(k.as_str()) && !Self::foreign_key(k) && !module_settings.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut config: Config = built.try_deserialize().map_err(|e| ConfigError(e.to_string()))?;
        config.module_settings = module_settings;
        config.loose_settings = loose;
        config.env_module_settings = std::env::vars()
            .filter_map(|(name, _)| {
                let (module, key) = name.strip_prefix("FERROBASE_")?.split_once("__")?;
                Some((module.to_lowercase(), key.to_lowercase()))
            })
            .collect();
        config.validate()?;
        Ok(config)
    }

    /// The names of all settings, lower-case without the prefix.
    fn known_keys() -> std::collections::BTreeSet<String> {
        match serde_json::to_value(Config::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Default::default(),
        }
    }

    /// `FERROBASE_*` variables that belong to tools, not to the server: the config file path,
    /// the test suites' service URLs, the CLI's admin password, CI helpers.
    fn foreign_key(key: &str) -> bool {
        key == "config" || key == "admin_password" || key == "venv" || key.starts_with("test_")
    }

    /// Sets one module setting, as `FERROBASE_{MODULE}__{KEY}=value` would (embedders and tests).
    pub fn set_module_setting(&mut self, module: &str, key: &str, value: impl Into<config::Value>) {
        let entry = self
            .module_settings
            .entry(module.to_string())
            .or_insert_with(|| config::Value::from(config::Map::<String, config::Value>::new()));
        let mut table = entry.clone().into_table().unwrap_or_default();
        table.insert(key.to_string(), value.into());
        *entry = config::Value::from(table);
    }

    /// Checks values whose mistakes would otherwise surface late.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(bad) = split_list(&self.trusted_proxies).into_iter().find(|e| parse_proxy(e).is_none()) {
            return Err(ConfigError(format!(
                "trusted_proxies: {bad:?} is neither an address nor a network (203.0.113.7, 10.42.0.0/16)"
            )));
        }
        match self.log_format.as_str() {
            "human" | "json" => {}
            other => return Err(ConfigError(format!("log_format must be human or json, not {other:?}"))),
        }
        if self.ws_messages_per_sec <= 0.0 || self.ws_message_burst < 1.0 {
            return Err(ConfigError("ws_messages_per_sec must be positive and ws_message_burst at least 1".into()));
        }
        if self.access_token_ttl_secs < 1 || self.refresh_token_ttl_days < 1 {
            return Err(ConfigError("token lifetimes must be positive".into()));
        }
        if self.upload_max_pixels < 1 || self.upload_body_limit < 1024 {
            return Err(ConfigError("upload_max_pixels must be positive and upload_body_limit at least 1024".into()));
        }
        if !(1..=crate::files::MAX_TTL_SECS).contains(&self.file_url_ttl_secs) {
            return Err(ConfigError(format!("file_url_ttl_secs must be between 1 and {}", crate::files::MAX_TTL_SECS)));
        }
        Ok(())
    }

    /// The database URL, with the embedded default filled in.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("ferrobase.db").display())
        } else {
            self.database_url.expose().to_string()
        }
    }

    /// The database pool size: the configured one, else 16 for PostgreSQL and two per core
    /// (4 to 16) for SQLite. A SQLite connection is a thread of its own with its own page and
    /// statement caches, and reads are bound by the cores, so connections beyond two per core
    /// cost memory (about 1.5 MiB each under load) and add no throughput.
    pub fn db_pool_size(&self) -> u32 {
        if self.db_max_connections > 0 {
            return self.db_max_connections;
        }
        if self.database_url().starts_with("sqlite:") { sqlite_pool(cores()) } else { 16 }
    }

    /// The firehose load from which firehose connections are paced: the configured one, else
    /// [`crate::realtime::gateway::PACING_FROM_PER_CORE`] per core. Writing each event as it
    /// comes costs the server and each client a write and a read per event; what a machine
    /// can afford scales with its cores.
    pub fn ws_pacing_from(&self) -> u64 {
        if self.ws_pacing_from > 0 {
            return self.ws_pacing_from;
        }
        crate::realtime::gateway::PACING_FROM_PER_CORE.saturating_mul(u64::try_from(cores()).unwrap_or(u64::MAX))
    }

    /// The mail URL, with the embedded default filled in.
    pub fn mail_url(&self) -> String {
        default_file_url(&self.mail_url, &self.data_dir, "mail")
    }

    /// The SMS URL, with the embedded default filled in.
    pub fn sms_url(&self) -> String {
        default_file_url(&self.sms_url, &self.data_dir, "sms")
    }

    /// The storage URL, with the embedded default filled in.
    pub fn storage_url(&self) -> String {
        default_file_url(&self.storage_url, &self.data_dir, "files")
    }

    /// Allowed CORS origins.
    pub fn cors_origin_list(&self) -> Vec<String> {
        split_list(&self.cors_origins)
    }

    /// Enabled modules; empty means all.
    pub fn module_list(&self) -> Vec<String> {
        split_list(&self.modules)
    }

    /// True when `name` is served.
    pub fn module_enabled(&self, name: &str) -> bool {
        let list = self.module_list();
        list.is_empty() || list.iter().any(|m| m == name)
    }

    /// A warning when links would point at the default public URL while the server listens on
    /// every interface (in a container, say): users could not follow them.
    pub fn public_url_warning(&self) -> Option<String> {
        (self.bind.ip().is_unspecified() && self.public_url == Config::default().public_url).then(|| {
            format!(
                "FERROBASE_PUBLIC_URL is not set: links in answers point at {}; set it to the address users reach",
                self.public_url
            )
        })
    }

    /// Trusted proxies: addresses or networks (`10.42.0.0/16`, the pods of an ingress
    /// controller). [`Config::validate`] refuses an entry that is neither.
    pub fn trusted_proxy_list(&self) -> Vec<ipnet::IpNet> {
        split_list(&self.trusted_proxies).iter().filter_map(|s| parse_proxy(s)).collect()
    }

    /// Where the signing secret comes from, for [`Config::describe`]: set, or generated into
    /// the data dir (already there, or at the first start).
    fn jwt_secret_source(&self) -> String {
        if !self.jwt_secret.is_empty() {
            return "[redacted]".into();
        }
        let path = self.data_dir.join("jwt-secret");
        if path.is_file() {
            format!("(unset: the generated one in {} is used)", path.display())
        } else {
            format!("(unset: one is generated into {} at the first start)", path.display())
        }
    }

    /// A human-readable listing of every effective setting, secrets hidden.
    pub fn describe(&self) -> String {
        let secret = |s: &Secret| if s.is_empty() { "(unset)".to_string() } else { "[redacted]".to_string() };
        let rows: Vec<(&str, String)> = vec![
            ("bind", self.bind.to_string()),
            ("data_dir", self.data_dir.display().to_string()),
            ("database_url", redact_url(&self.database_url())),
            (
                "redis_url",
                if self.redis_url.is_empty() { "(unset)".into() } else { redact_url(self.redis_url.expose()) },
            ),
            ("redis_prefix", self.redis_prefix.clone()),
            ("amqp_url", if self.amqp_url.is_empty() { "(unset)".into() } else { redact_url(self.amqp_url.expose()) }),
            ("grpc_bind", if self.grpc_bind.is_empty() { "(off)".into() } else { self.grpc_bind.clone() }),
            ("mail_url", redact_url(&self.mail_url())),
            ("mail_from", self.mail_from.clone()),
            ("sms_url", redact_url(&self.sms_url())),
            ("storage_url", redact_url(&self.storage_url())),
            ("public_url", self.public_url.clone()),
            ("cors_origins", self.cors_origins.clone()),
            ("modules", if self.modules.is_empty() { "(all)".into() } else { self.modules.clone() }),
            ("jwt_secret", self.jwt_secret_source()),
            (
                "metrics_token",
                if self.metrics_token.is_empty() {
                    "(unset: /metrics answers only to this machine)".into()
                } else {
                    secret(&self.metrics_token)
                },
            ),
            ("log_format", self.log_format.clone()),
            ("log_level", self.log_level.clone()),
            ("trusted_proxies", self.trusted_proxies.clone()),
            ("json_body_limit", self.json_body_limit.to_string()),
            ("upload_body_limit", self.upload_body_limit.to_string()),
            ("upload_max_pixels", self.upload_max_pixels.to_string()),
            ("image_concurrency", self.image_concurrency.to_string()),
            ("file_url_ttl_secs", self.file_url_ttl_secs.to_string()),
            ("access_token_ttl_secs", self.access_token_ttl_secs.to_string()),
            ("refresh_token_ttl_days", self.refresh_token_ttl_days.to_string()),
            ("db_max_connections", self.db_pool_size().to_string()),
            ("jobs_interval_secs", self.jobs_interval_secs.to_string()),
            ("ws_messages_per_sec", self.ws_messages_per_sec.to_string()),
            ("ws_message_burst", self.ws_message_burst.to_string()),
            ("ws_pacing_from", self.ws_pacing_from().to_string()),
        ];
        rows.into_iter().map(|(k, v)| format!("FERROBASE_{:<24} {v}\n", k.to_uppercase())).collect()
    }
}

fn default_file_url(value: &Secret, data_dir: &Path, sub: &str) -> String {
    if value.is_empty() { format!("file://{}", data_dir.join(sub).display()) } else { value.expose().to_string() }
}

fn parse_proxy(entry: &str) -> Option<ipnet::IpNet> {
    entry.parse::<ipnet::IpNet>().ok().or_else(|| entry.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from))
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_embedded_mode() {
        let c = Config::default();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url(), "sqlite://./data/ferrobase.db");
        assert_eq!(c.mail_url(), "file://./data/mail");
        assert_eq!(c.sms_url(), "file://./data/sms");
        assert!(c.module_enabled("accounts"));
    }

    #[test]
    fn describe_hides_secrets() {
        let c = Config {
            database_url: Secret::new("postgres://u:topsecret@h/db"),
            jwt_secret: Secret::new("abcdefsecretkey"),
            ..Config::default()
        };
        let text = c.describe();
        assert!(!text.contains("topsecret"), "{text}");
        assert!(!text.contains("abcdefsecretkey"), "{text}");
        assert!(text.contains("postgres://u:***@h/db"));
        assert!(!format!("{c:?}").contains("topsecret"));
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks_and_nothing_else() {
        let c = Config { trusted_proxies: " 10.42.0.0/16, 192.0.2.7 ,2001:db8::/32".into(), ..Config::default() };
        c.validate().unwrap();
        let list: Vec<String> = c.trusted_proxy_list().iter().map(ToString::to_string).collect();
        assert_eq!(list, ["10.42.0.0/16", "192.0.2.7/32", "2001:db8::/32"]);
        let typo = Config { trusted_proxies: "10.42.0.0/16, 10.0.0.300".into(), ..Config::default() };
        assert!(typo.validate().unwrap_err().0.contains("10.0.0.300"));
    }

    #[test]
    fn a_server_on_every_interface_with_the_default_public_url_is_warned() {
        let open = Config { bind: "0.0.0.0:8080".parse().unwrap(), ..Config::default() };
        assert!(open.public_url_warning().unwrap().contains("FERROBASE_PUBLIC_URL"));
        let named = Config { public_url: "https://api.example.org".into(), ..open.clone() };
        assert_eq!(named.public_url_warning(), None);
        assert_eq!(Config::default().public_url_warning(), None, "loopback: the default is right");
    }

    #[test]
    fn describe_says_where_a_generated_signing_secret_is() {
        let dir = tempfile::tempdir().unwrap();
        let c = Config { data_dir: dir.path().to_path_buf(), ..Config::default() };
        let line = |text: String| text.lines().find(|l| l.contains("JWT_SECRET")).unwrap().to_string();
        let before = line(c.describe());
        assert!(before.contains("generated into") && before.contains("jwt-secret"), "{before}");
        std::fs::write(dir.path().join("jwt-secret"), "x".repeat(40)).unwrap();
        let after = line(c.describe());
        assert!(after.contains("the generated one in") && !after.contains("xxxx"), "{after}");
        let set = Config { jwt_secret: Secret::new("y".repeat(40)), ..c };
        assert!(line(set.describe()).contains("[redacted]"));
    }

    #[test]
    fn the_pool_is_sized_for_the_backend_unless_configured() {
        let sizes: Vec<u32> = [1, 2, 3, 4, 8, 64].into_iter().map(sqlite_pool).collect();
        assert_eq!(sizes, [4, 4, 6, 8, 16, 16]);
        assert_eq!(Config::default().db_pool_size(), sqlite_pool(cores()));
        let pg = Config { database_url: Secret::new("postgres://u@h/db"), ..Config::default() };
        assert_eq!(pg.db_pool_size(), 16);
        let set = Config { db_max_connections: 7, ..pg };
        assert_eq!(set.db_pool_size(), 7);
        let shown = set.describe();
        let line = shown.lines().find(|l| l.starts_with("FERROBASE_DB_MAX_CONNECTIONS")).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some("7"), "{shown}");
    }

    #[test]
    fn firehoses_are_paced_from_a_load_per_core_unless_configured() {
        let per_core = crate::realtime::gateway::PACING_FROM_PER_CORE;
        assert_eq!(Config::default().ws_pacing_from(), per_core * cores() as u64);
        let set = Config { ws_pacing_from: 5000, ..Config::default() };
        assert_eq!(set.ws_pacing_from(), 5000);
        let shown = Config::default().describe();
        let line = shown.lines().find(|l| l.starts_with("FERROBASE_WS_PACING_FROM")).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some((per_core * cores() as u64).to_string().as_str()), "{shown}");
    }

    #[test]
    fn bad_log_format_is_refused() {
        let c = Config { log_format: "xml".into(), ..Config::default() };
        assert!(c.validate().is_err());
    }
}
