//! All SQL of the freelance tables, written once for SQLite and PostgreSQL: clients in their
//! own room.

pub mod clients;
