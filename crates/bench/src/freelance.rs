//! Freelance under load: the invoice list at 10 000 invoices (first page, a deep page, and a
//! status filter that matches few), and invoice PDFs rendered per second.

use crate::http_load::{self, LoadResult, Spec};
use crate::server::Server;
use std::time::Duration;

/// Invoices written before the list is measured.
const INVOICES: usize = 10_000;

/// Seeds one freelancer with `INVOICES` drafts of 5 lines (100 of them sent), then measures;
/// each result is named.
/// `settle` is a pause after seeding: PostgreSQL plans from statistics its autovacuum gathers
/// within a minute of a bulk load, and a list measured before that measures the planner's
/// guess over a table it believes nearly empty (a sort of every row instead of an index walk).
pub async fn run(
    server: &Server,
    connections: usize,
    duration: Duration,
    settle: Duration,
) -> anyhow::Result<Vec<(String, LoadResult)>> {
    let (_, token) = server.register("bench-freelancer@example.com").await?;
    let client = server
        .call(
            "POST",
            "/api/v1/freelance/clients",
            Some(&token),
            r#"{"name":"Bench Client GmbH","email":"ap@bench-client.example","currency":"EUR",
               "address":"Hauptstrasse 1\n10115 Berlin"}"#,
            201,
        )
        .await?;
    let client = client["id"].as_str().unwrap_or_default().to_string();
    let started = std::time::Instant::now();
    let mut ids = Vec::with_capacity(INVOICES);
    for i in 0..INVOICES {
        let lines: Vec<serde_json::Value> = (0..5)
            .map(|l| {
                serde_json::json!({"description": format!("Work item {l} of invoice {i}"), "quantity": "1.5",
                "unit_price": "95.00"})
            })
            .collect();
        let body = serde_json::json!({"client_id": client, "lines": lines, "taxes": [{"name": "VAT", "rate": "19"}]});
        let invoice = server.call("POST", "/api/v1/freelance/invoices", Some(&token), &body.to_string(), 201).await?;
        ids.push(invoice["id"].as_str().unwrap_or_default().to_string());
    }
    // 100 sent, spread over the list (the hourly sending limit allows 100).
    for id in ids.iter().step_by(INVOICES / 100) {
        server.call("POST", &format!("/api/v1/freelance/invoices/{id}/send"), Some(&token), "{}", 200).await?;
    }
    println!("seeded {INVOICES} invoices (100 sent) in {:?}", started.elapsed());
    tokio::time::sleep(settle).await;

    let deep = format!("/api/v1/freelance/invoices?limit=50&cursor={}", ids[100]);
    let pdf = format!("/api/v1/freelance/invoices/{}/pdf", ids[0]);
    let mut results = Vec::new();
    for (name, path) in [
        (format!("GET invoices, first 50 of {INVOICES}"), "/api/v1/freelance/invoices?limit=50".to_string()),
        (format!("GET invoices, 50 after the 9 900th of {INVOICES}"), deep),
        (
            format!("GET invoices?status=sent, 50 of 100 among {INVOICES}"),
            "/api/v1/freelance/invoices?status=sent&limit=50".into(),
        ),
        ("GET an invoice's PDF (5 lines, rendered each time)".to_string(), pdf),
    ] {
        let result = http_load::run(server.addr, &Spec::get(&path, Some(&token)), connections, duration).await?;
        results.push((name, result));
    }
    Ok(results)
}
