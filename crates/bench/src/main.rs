//! `cargo run --release -p bench`: builds and starts the release server on a fresh data dir,
//! drives HTTP load at it with our own client, and writes `docs/benchmarks.md`.
//!
//! Every figure is printed beside a reference measured in the same run (the bare
//! `/health/live` route, the in-process limit), so numbers from different machines compare.

mod http_load;
mod report;
mod server;

use std::time::Duration;

/// Settings from the command line: `bench [--seconds N] [--connections N] [--out PATH]`.
struct Args {
    seconds: u64,
    connections: usize,
    out: String,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args { seconds: 10, connections: 64, out: "docs/benchmarks.md".into() };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse()?,
            "--connections" => a.connections = value()?.parse()?,
            "--out" => a.out = value()?,
            other => anyhow::bail!("unknown argument {other}; use --seconds, --connections, --out"),
        }
    }
    Ok(a)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let server = server::Server::start().await?;
    let idle_rss = server.rss_kib()?;
    println!("server ready in {:?}, idle RSS {} KiB", server.ready_in, idle_rss);
    let token = server.access_token().await?;
    let duration = Duration::from_secs(args.seconds);

    let mut rows = Vec::new();
    for (name, path, auth) in [
        ("GET /health/live (reference)", "/health/live", None),
        ("GET /api/v1/users/me (JWT + session check + DB read)", "/api/v1/users/me", Some(token.as_str())),
    ] {
        let result = http_load::run(server.addr, path, auth, args.connections, duration).await?;
        let rss = server.rss_kib()?;
        println!("{name}: {result}; server RSS {rss} KiB");
        rows.push(report::Row { name: name.to_string(), result, rss_kib: rss });
    }
    let peak = server.peak_rss_kib()?;
    let cold_ready = server.ready_in;
    let restart = server.restart_ready_time().await?;
    report::write(
        &args.out,
        &report::Report {
            connections: args.connections,
            seconds: args.seconds,
            cold_ready,
            warm_ready: restart,
            idle_rss_kib: idle_rss,
            peak_rss_kib: peak,
            rows,
        },
    )?;
    println!("wrote {}", args.out);
    Ok(())
}
