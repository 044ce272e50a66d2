//! All SQL of the freelance tables, written once for SQLite and PostgreSQL, one room per table
//! group.

pub mod books;
pub mod clients;
pub mod contracts;
pub mod invoices;
pub mod resumes;
pub mod time;
