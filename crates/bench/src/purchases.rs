//! Ticket purchases per second with exact seat accounting: buyers racing for one event's
//! seats, each purchase with its own `Idempotency-Key`, then the event's `seats_sold` checked
//! against the purchases that answered 201 (warm-up included). A mismatch fails the run.

use crate::http_load::{self, LoadResult, Spec};
use crate::server::Server;
use bytes::Bytes;
use std::time::Duration;

/// Buyers registered (the sign-up limit allows 30 an hour from one address); the connections
/// use them in turn.
const BUYERS: usize = 16;
/// The event's seats, the most an event may have. A run that sells them all (over 4 000
/// purchases a second for the 12 s) shows its later `sold_out` answers as errors.
const CAPACITY: u64 = 50_000;

/// Runs `connections` buyers against one event for `duration`; the result, and the seats the
/// event reports sold (equal to the result's successes, or the run fails).
pub async fn run(server: &Server, connections: usize, duration: Duration) -> anyhow::Result<LoadResult> {
    let organiser = server.register_verified("bench-organiser@example.com").await?;
    let starts = chrono::Utc::now() + chrono::Duration::days(30);
    let event = serde_json::json!({"name": "Bench night", "venue": "Hall", "starts_at": starts.to_rfc3339(),
        "ends_at": (starts + chrono::Duration::hours(3)).to_rfc3339(), "capacity": CAPACITY,
        "price": "25.00", "currency": "EUR"});
    let event = server.call("POST", "/api/v1/ticketing/events", Some(&organiser), &event.to_string(), 201).await?;
    let id = event["id"].as_str().unwrap_or_default().to_string();
    server.call("POST", &format!("/api/v1/ticketing/events/{id}/publish"), Some(&organiser), "{}", 200).await?;
    let mut tokens = Vec::with_capacity(BUYERS);
    for i in 0..BUYERS {
        // Buying needs a verified address, as organising does.
        tokens.push(server.register_verified(&format!("bench-buyer-{i}@example.com")).await?);
    }
    let spec = Spec {
        method: hyper::Method::POST,
        path: "/api/v1/ticketing/purchases".into(),
        tokens,
        body: Some(Bytes::from(serde_json::json!({"event_id": id, "quantity": 1}).to_string())),
        idempotency_key: true,
    };
    let result = http_load::run(server.addr, &spec, connections, duration).await?;
    let after = server.call("GET", &format!("/api/v1/ticketing/events/{id}"), None, "", 200).await?;
    let sold = after["seats_sold"].as_u64().unwrap_or_default();
    anyhow::ensure!(
        sold == result.successes.min(CAPACITY),
        "seat accounting is off: {sold} seats sold for {} purchases answered 201",
        result.successes
    );
    println!("purchases: {} answered 201, {sold} seats sold: exact", result.successes);
    Ok(result)
}
