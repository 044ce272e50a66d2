//! Writes the benchmark report as Markdown.

use crate::http_load::LoadResult;
use crate::ws_load::{FanoutResult, Receivers};
use std::fmt::Write;
use std::time::Duration;

pub struct Row {
    pub name: String,
    pub result: LoadResult,
    pub rss_kib: u64,
}

pub struct Report {
    pub idle_connections: usize,
    pub idle_bytes_per_connection: f64,
    /// Each fan-out run with the CPU seconds the server and the load generator used during it.
    pub fanouts: Vec<(crate::ws_load::FanoutResult, f64, f64)>,
    pub connections: usize,
    pub seconds: u64,
    pub cold_ready: Duration,
    pub warm_ready: Duration,
    pub idle_rss_kib: u64,
    pub peak_rss_kib: u64,
    pub rows: Vec<Row>,
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores ({cpu})")
}

/// The heading under which the side-by-side results are kept.
const SIDE_BY_SIDE: &str = "## Side by side with the systems we replace";

/// Writes the report to `path`, keeping the side-by-side section of the file there.
pub fn write(path: &str, r: &Report) -> anyhow::Result<()> {
    let mut md = String::new();
    writeln!(md, "# Benchmarks\n")?;
    writeln!(
        md,
        "Written by `cargo run --release -p bench` (crates/bench), except the last section. Do not edit by hand; run it again.\n"
    )?;
    writeln!(md, "- Machine: {}; load generator and server on the same machine.", machine())?;
    writeln!(md, "- Server: release build, embedded default (SQLite in a fresh data dir), logs at `warn`.")?;
    writeln!(
        md,
        "- Load: {} keep-alive HTTP/1.1 connections, closed loop, {} s after a 2 s warm-up.\n",
        r.connections, r.seconds
    )?;
    writeln!(md, "## HTTP\n")?;
    writeln!(md, "| route | req/s | p50 ms | p99 ms | max ms | errors | server RSS after |")?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|")?;
    for row in &r.rows {
        let x = &row.result;
        writeln!(
            md,
            "| {} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {:.1} MiB |",
            row.name,
            x.rps(),
            x.p50_us as f64 / 1000.0,
            x.p99_us as f64 / 1000.0,
            x.max_us as f64 / 1000.0,
            x.errors,
            row.rss_kib as f64 / 1024.0
        )?;
    }
    if let [reference, users_me, ..] = r.rows.as_slice() {
        writeln!(
            md,
            "\n`/users/me` reaches {:.0} % of the reference throughput.",
            100.0 * users_me.result.rps() / reference.result.rps().max(1.0)
        )?;
    }
    if let Some(history) = r.rows.get(2) {
        writeln!(
            md,
            "\nTarget (BRIEF §6): authenticated read of 50 chat messages on SQLite ≥ 20 000 req/s with p99 ≤ 10 ms \
             at 64 connections; measured {:.0} req/s, p99 {:.2} ms.",
            history.result.rps(),
            history.result.p99_us as f64 / 1000.0
        )?;
    }
    writeln!(md, "\n## WebSocket fan-out\n")?;
    writeln!(
        md,
        "One chat room and one task board. Chat senders post `chat.send` frames on the gateway; task senders \
         create tasks over REST; each message or task carries its send time, and every receiver records the \
         delay. The receivers listen on the native gateway, on the room's seed-format socket (chat) or over \
         socket.io (task board), so the same events compare the transports. Delivered counts every frame that \
         arrived, against messages sent × connections.\n"
    )?;
    writeln!(
        md,
        "| receivers | connections | messages/s | sent | delivered / expected | deliveries/s | p50 ms | p99 ms \
         | max ms | CPU s server / load generator | target |"
    )?;
    writeln!(md, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")?;
    for (f, server_cpu, own_cpu) in &r.fanouts {
        writeln!(md, "{}", fanout_row(f, *server_cpu, *own_cpu))?;
    }
    writeln!(
        md,
        "\nThe CPU column is what each side used during the scenario (opening the connections, the {} s run and \
         the drain after it) on this 2-core machine: where the two together approach twice the wall time, the \
         machine was saturated and the load generator, which reads and times every delivery, competed with the \
         server for it.",
        r.seconds
    )?;
    writeln!(
        md,
        "\n{} idle authenticated connections, each subscribed to the room: {:.0} bytes of server memory each \
         (target ≤ 8 KiB).",
        r.idle_connections, r.idle_bytes_per_connection
    )?;
    writeln!(md, "\n## Process\n")?;
    writeln!(md, "| measure | value | target (BRIEF §6) |")?;
    writeln!(md, "|---|---:|---:|")?;
    writeln!(md, "| idle memory (RSS after start) | {:.1} MiB | ≤ 25 MiB |", r.idle_rss_kib as f64 / 1024.0)?;
    writeln!(md, "| peak memory during the run | {:.1} MiB | |", r.peak_rss_kib as f64 / 1024.0)?;
    writeln!(md, "| start to ready, new database (migrations run) | {} ms | |", r.cold_ready.as_millis())?;
    writeln!(md, "| start to ready, existing database | {} ms | ≤ 200 ms |", r.warm_ready.as_millis())?;
    if let Some(parent) = std::path::Path::new(path).parent() {
        std::fs::create_dir_all(parent)?;
    }
    // The side-by-side runs against the original systems are recorded by hand below this
    // heading (they need the peer built elsewhere); keep them.
    if let Ok(before) = std::fs::read_to_string(path)
        && let Some(at) = before.find(SIDE_BY_SIDE)
    {
        writeln!(md)?;
        md.push_str(&before[at..]);
    }
    std::fs::write(path, md)?;
    Ok(())
}

fn fanout_row(f: &FanoutResult, server_cpu: f64, own_cpu: f64) -> String {
    let target = match (f.receivers, f.connections, f.rate) {
        (Receivers::ChatGateway, 1_000, 100) => "all delivered, p99 ≤ 20 ms",
        (Receivers::ChatGateway, 2_000, 400) => "all delivered, p99 ≤ 100 ms",
        (Receivers::ChatRoomSocket, ..) => "the reference for the chat gateway",
        (Receivers::BoardSocketIo, ..) => "at least the board gateway's deliveries, p99 no worse",
        _ => "",
    };
    format!(
        "| {} | {} | {} | {} | {} / {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.1} / {:.1} | {} |",
        f.receivers.label(),
        f.connections,
        f.rate,
        f.sent,
        f.delivered,
        f.expected,
        f.delivered as f64 / f.seconds,
        f.p50_us as f64 / 1000.0,
        f.p99_us as f64 / 1000.0,
        f.max_us as f64 / 1000.0,
        server_cpu,
        own_cpu,
        target
    )
}
