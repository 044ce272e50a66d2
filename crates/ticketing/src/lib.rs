//! Ticketing: events that organisers create, publish, change and cancel, listed publicly with
//! search and filters; bundles of events; purchases that never oversell; tickets with
//! unguessable codes and QR images; check-in at the door; refunds decided by the organiser;
//! the live seat count of each event; and the `ferrobase.ticketing.v1.Tickets` gRPC service
//! for door scanners.
//!
//! # Who sees and does what
//!
//! - Anyone, signed in or not, lists and reads published events, and cancelled ones that were
//!   published (their buyers must be able to look them up), and bundles whose events are all
//!   published.
//! - A draft (and an event cancelled before it was published) is seen only by its owner and
//!   admins; to everyone else it does not exist (404).
//! - Any user with a verified email address or phone number creates events and bundles; the
//!   owner and admins change, publish, cancel and delete them.
//! - Any signed-in user buys; a ticket is seen by its buyer, the event's organiser and admins,
//!   and by nobody else (404, as for a code that does not exist). Its code admits, so it is a
//!   secret: 128 random bits.
//! - The organiser (or an admin) checks tickets in, sees the door list, the CSV and the
//!   numbers, and decides refunds; a buyer asks for them and gives tickets back.
//!
//! # Seats
//!
//! `seats_sold` of an event is changed only by statements that check it against the capacity
//! (see [`service`]'s sales room), and the table's check refuses any count past it: whatever
//! races, nothing is oversold. Voiding a ticket (cancelled, refunded) returns its seats once.

pub mod error;
pub mod events;
pub mod grpc;
mod live;
pub mod model;
mod module;
mod qr;
pub mod routes;
pub mod service;
mod store;

pub use error::TicketingError;
pub use module::TicketingModule;
pub use service::Ticketing;

/// This module's migrations.
pub const MIGRATIONS: &[platform::db::Migration] =
    platform::migrations!("ticketing", 1 => "0001_ticketing.sql", 2 => "0002_tickets.sql");
