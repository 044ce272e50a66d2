//! Freelance: the business side of working alone or in a small studio. Clients now; time
//! tracking, invoices, contracts and resumes follow (issue #12).
//!
//! # Who sees and does what
//!
//! Everything here is private to the user who created it: another user's client does not exist
//! for anyone else (404, as for an id that was never used), admins included. A freelancer's
//! books are not the platform's to read.

pub mod error;
pub mod model;
mod module;
pub mod routes;
pub mod service;
mod store;

pub use error::FreelanceError;
pub use module::FreelanceModule;
pub use service::Freelance;

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] = platform::migrations!("freelance", 1 => "0001_clients.sql");
