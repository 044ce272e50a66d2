//! Ticketing: events that organisers create, publish, change and cancel, listed publicly with
//! search and filters. Purchases, bundles, tickets with QR codes, check-in and refunds build on
//! these events (issue #11); `seats_sold` is the count they will keep, and the table's check
//! already refuses any count past the capacity.
//!
//! # Who sees and does what
//!
//! - Anyone, signed in or not, lists and reads published events, and cancelled ones that were
//!   published (their buyers must be able to look them up).
//! - A draft (and an event cancelled before it was published) is seen only by its owner and
//!   admins; to everyone else it does not exist (404).
//! - Any user with a verified email address or phone number creates events; the owner and
//!   admins change, publish, cancel and delete them.

pub mod error;
pub mod events;
pub mod model;
mod module;
pub mod routes;
pub mod service;
mod store;

pub use error::TicketingError;
pub use module::TicketingModule;
pub use service::Ticketing;

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] = platform::migrations!("ticketing", 1 => "0001_ticketing.sql");
