//! Studio: the backend of an image-template app. Users keep characters (a name and 3–5 private
//! photos), browse a catalogue of templates (categories, tags, text search, trending, popular)
//! and favourite them, and order image generations from an image provider, each paid with one
//! credit.
//!
//! # What is whose
//!
//! Characters and generations belong to their owner alone: another user's id answers 404, and
//! their images are reached only through expiring signed URLs handed to the owner. The
//! catalogue is public to read and written by administrators only (403 for everyone else).
//!
//! # Credits
//!
//! A generation reserves a credit when it is queued (none left: 402 `insufficient_credits`),
//! spends it when it succeeds and returns it when it fails or times out. The generation row is
//! the record: exactly one transition leaves `queued`/`running`, and the credit moves in the
//! same transaction, so a credit is never lost and never spent twice, whatever retries or
//! concurrent runs happen.

pub mod error;
pub mod jobs;
pub mod model;
mod module;
pub mod provider;
pub mod routes;
pub mod service;
mod settings;
mod store;

pub use error::StudioError;
pub use module::StudioModule;
pub use service::Studio;
pub use settings::StudioSettings;

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] = platform::migrations!("studio",
    1 => "0001_catalogue.sql", 2 => "0002_characters.sql", 3 => "0003_generations.sql");
