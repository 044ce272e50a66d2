//! Freelance: the business side of working alone or in a small studio: clients, time tracking,
//! invoices (exact money, numbering, PDFs, payments, reminders, recurrence, public links),
//! contracts, resumes and a dashboard.
//!
//! # What is whose
//!
//! A project's client, hourly rate, budget and currency are fields of the work module's project
//! (its members see them, its managers change them); freelance reads them through
//! [`work::Work`] as the caller. A time entry's rate is its own, else its project's, else its
//! client's; a project's `client_id` counts only when it names one of the caller's clients.
//!
//! # Who sees and does what
//!
//! Everything here is private to the user who created it: another user's client does not exist
//! for anyone else (404, as for an id that was never used), admins included. A freelancer's
//! books are not the platform's to read.

pub mod error;
pub mod jobs;
pub mod model;
mod module;
pub mod routes;
pub mod service;
mod store;

pub use error::FreelanceError;
pub use module::FreelanceModule;
pub use service::Freelance;

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] = platform::migrations!("freelance", 1 => "0001_clients.sql", 2 => "0002_time.sql", 3 => "0003_invoices.sql", 4 => "0004_contracts_resumes.sql");
