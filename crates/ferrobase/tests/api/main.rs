//! Every integration test of ferrobase in one binary, so a full run links once. Each module is
//! one area; the API suites run on SQLite and, when the services are configured, on PostgreSQL
//! + Redis + RabbitMQ (tests needing a service that is not configured show as ignored).

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

mod accounts_api;
mod avatars;
mod backup;
mod caching;
mod chat_api;
mod cli;
mod conventions;
mod crash;
mod db_statistics;
mod departures;
mod deploy;
mod events;
mod faults;
mod freelance_api;
mod freelance_documents;
mod freelance_invoices;
mod freelance_time;
mod grpc;
mod hardening;
mod http_shell;
mod kernel;
mod mail_limits;
mod mail_smtp;
mod notifications_api;
mod process;
mod realtime_control;
mod realtime_gateway;
mod scale_out;
mod schema_parity;
mod sms_twilio;
mod storage_s3;
mod studio_catalogue;
mod studio_characters;
mod studio_generations;
mod ticketing_api;
mod ticketing_door;
mod ticketing_sales;
mod work_api;
mod work_socketio;
