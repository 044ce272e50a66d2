//! The shared kernel of ferrobase: configuration, database, errors as problem documents, auth,
//! rate limits, the outbox and its worker, mail, SMS, and the HTTP shell. Modules build on it
//! and never on each other's internals.

pub mod app;
pub mod auth;
pub mod backup;
pub mod cache;
pub mod config;
pub mod crypto;
pub mod db;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod grpc;
pub mod housekeeping;
pub mod http;
pub mod idempotency;
pub mod images;
pub mod logging;
pub mod mail;
pub mod module;
pub mod money;
pub mod outbox;
pub mod pagination;
pub mod password;
pub mod ratelimit;
pub mod realtime;
pub mod secret;
pub mod sms;
pub mod storage;
pub mod telemetry;
pub mod text;
pub mod upload;

pub use app::{Platform, PlatformParts, listen, serve};
pub use error::{ApiError, ApiResult, FieldError};

/// The platform's own migrations (the outbox).
pub const MIGRATIONS: &[db::Migration] =
    migrations!("platform", 1 => "0001_outbox.sql", 2 => "0002_events_and_leases.sql", 3 => "0003_idempotency.sql");
