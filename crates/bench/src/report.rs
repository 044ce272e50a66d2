//! Writes the benchmark report as Markdown.

use crate::http_load::LoadResult;
use std::fmt::Write;
use std::time::Duration;

pub struct Row {
    pub name: String,
    pub result: LoadResult,
    pub rss_kib: u64,
}

pub struct Report {
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

pub fn write(path: &str, r: &Report) -> anyhow::Result<()> {
    let mut md = String::new();
    writeln!(md, "# Benchmarks\n")?;
    writeln!(md, "Written by `cargo run --release -p bench` (crates/bench). Do not edit by hand; run it again.\n")?;
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
    std::fs::write(path, md)?;
    Ok(())
}
