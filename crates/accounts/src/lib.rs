//! Accounts: sign-up and sign-in (email + password, or phone + SMS code), email verification,
//! password reset, rotating refresh sessions with theft detection, profiles, data export and
//! the admin user API.
//!
//! Other modules use [`Accounts`] (its public methods) and never the tables, which belong to
//! [`store`] alone.

pub mod error;
pub mod events;
pub mod grpc;
pub mod jobs;
pub mod model;
mod module;
pub mod routes;
pub mod service;
pub mod session_cache;
mod store;

pub use error::AccountsError;
pub use events::EMAIL_VERIFIED;
pub use model::{EmailAddress, Locale, PhoneNumber, Role, User};
pub use module::AccountsModule;
pub use routes::router;
pub use service::{Accounts, ClientInfo};

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] = platform::migrations!("accounts", 1 => "0001_accounts.sql", 2 => "0002_avatars.sql", 3 => "0003_name_index.sql",
    4 => "0004_cleanup_indexes.sql");
