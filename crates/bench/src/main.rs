//! `cargo run --release -p bench`: builds and starts the release server on a fresh data dir,
//! drives HTTP and WebSocket load at it with our own clients, and writes the report to
//! `target/bench/benchmarks.md` (`--update-docs`: to the tracked `docs/benchmarks.md`).
//! `--purchases` measures only ticket purchases (with exact seat accounting) and prints them;
//! `--freelance` measures only the invoice list at 10 000 invoices and invoice PDFs, and prints
//! them; `--studio` measures only the template catalogue at 10 000 templates and the memory of
//! character uploads, and prints them; `--fanout` runs only the WebSocket fan-out scenarios
//! (the transports side by side) and prints them; `--soak MINUTES` holds a steady mixed load for that long
//! and prints memory, database size and latency per minute (see `soak`);
//! the server's `FERROBASE_*` environment passes through, so `FERROBASE_DATABASE_URL` and
//! `FERROBASE_REDIS_URL` measure the scale-out mode.
//!
//! Every HTTP figure is printed beside a reference measured in the same run (the bare
//! `/health/live` route, the in-process limit), so numbers from different machines compare.

mod freelance;
mod http_load;
mod purchases;
mod raw_ws;
mod report;
mod server;
mod soak;
mod studio;
mod ws_load;

use std::time::Duration;
use ws_load::Receivers;

/// Settings from the command line:
/// `bench [--seconds N] [--connections N] [--out PATH | --update-docs] [--quick] [--purchases]
/// [--fanout] [--freelance | --studio [--settle SECONDS] | --soak MINUTES]`.
struct Args {
    seconds: u64,
    connections: usize,
    out: String,
    quick: bool,
    /// Only the ticket purchase measurement, printed (the report is left as it is).
    purchases_only: bool,
    /// Only the WebSocket fan-out scenarios (the transports side by side), printed.
    fanout_only: bool,
    /// Only the freelance measurements, printed.
    freelance_only: bool,
    /// Only the studio measurements, printed.
    studio_only: bool,
    /// Seconds to wait between seeding and measuring (`--settle`).
    settle: u64,
    /// Minutes of the steady mixed load (`--soak`), printed.
    soak: Option<u64>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args {
        seconds: 10,
        connections: 64,
        out: default_out(),
        quick: false,
        purchases_only: false,
        fanout_only: false,
        freelance_only: false,
        studio_only: false,
        settle: 0,
        soak: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => a.seconds = value()?.parse()?,
            "--connections" => a.connections = value()?.parse()?,
            "--out" => a.out = value()?,
            "--update-docs" => a.out = "docs/benchmarks.md".into(),
            "--quick" => a.quick = true,
            "--purchases" => a.purchases_only = true,
            "--fanout" => a.fanout_only = true,
            "--freelance" => a.freelance_only = true,
            "--studio" => a.studio_only = true,
            "--settle" => a.settle = value()?.parse()?,
            "--soak" => a.soak = Some(value()?.parse()?),
            other => anyhow::bail!(
                "unknown argument {other}; use --seconds, --connections, --out, --update-docs, --quick, --purchases, --fanout, \
                 --freelance, --studio, --settle, --soak"
            ),
        }
    }
    Ok(a)
}

/// Where the report goes unless asked: beside the build output, not over the tracked report.
fn default_out() -> String {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    format!("{target}/bench/benchmarks.md")
}

/// Open files the full run needs: its 10 000 idle connections (each a socket here and one in
/// the server, which raises its own limit to its hard limit), the fan-out's 2 000, and some to
/// spare.
const FILES_NEEDED: u64 = 12_500;

/// Raises this process's open-file limit to what the run needs (the usual soft limit is 1 024),
/// or explains what to change when the hard limit does not allow it.
fn raise_open_files(needed: u64) -> anyhow::Result<()> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    if soft >= needed {
        return Ok(());
    }
    anyhow::ensure!(
        hard >= needed,
        "the run opens up to {needed} files at once but this shell allows at most {hard}: raise the hard \
         limit (`ulimit -Hn {needed}` as root, or `nofile` in /etc/security/limits.conf), or run with --quick"
    );
    rlimit::Resource::NOFILE.set(needed, hard)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    raise_open_files(if args.quick { 3_000 } else { FILES_NEEDED })?;
    let server = server::Server::start().await?;
    let idle_rss = server.rss_kib()?;
    println!("server ready in {:?}, idle RSS {} KiB", server.ready_in, idle_rss);
    let duration = Duration::from_secs(args.seconds);
    let purchase_name = format!("POST ticket purchases, {} buyers, seats exact", args.connections);
    if let Some(minutes) = args.soak {
        let report = soak::run(&server, minutes).await?;
        println!("\n{report}\nserver peak RSS {} KiB", server.peak_rss_kib()?);
        return Ok(());
    }
    if args.purchases_only {
        let result = purchases::run(&server, args.connections, duration).await?;
        println!("{purchase_name}: {result}; server RSS {} KiB", server.rss_kib()?);
        return Ok(());
    }
    if args.freelance_only {
        let settle = Duration::from_secs(args.settle);
        for (name, result) in freelance::run(&server, args.connections, duration, settle).await? {
            println!("{name}: {result}; server RSS {} KiB", server.rss_kib()?);
        }
        return Ok(());
    }
    if args.studio_only {
        let settle = Duration::from_secs(args.settle);
        let (pages, _) = studio::run(&server, args.connections, duration, settle).await?;
        for (name, result) in pages {
            println!("{name}: {result}");
        }
        println!("server RSS {} KiB, peak {} KiB", server.rss_kib()?, server.peak_rss_kib()?);
        return Ok(());
    }
    let (_, token) = server.register("bench@example.com").await?;
    let (receiver_id, receiver_token) = server.register("bench-receiver@example.com").await?;
    let room = server.private_room(&token, "Bench", &receiver_id).await?;
    let project =
        server.call("POST", "/api/v1/work/projects", Some(&token), r#"{"name":"Bench board"}"#, 201).await?["id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    let member = serde_json::json!({ "user_id": receiver_id }).to_string();
    server.call("POST", &format!("/api/v1/work/projects/{project}/members"), Some(&token), &member, 201).await?;
    let target = ws_load::Target {
        addr: server.addr,
        receiver_token: &receiver_token,
        sender_token: &token,
        room: &room,
        project: &project,
    };
    if args.fanout_only {
        fanouts(&server, &target, args.quick, duration).await?;
        return Ok(());
    }
    for i in 0..1000 {
        let body = serde_json::json!({ "content": format!("history message {i}") }).to_string();
        server.call("POST", &format!("/api/v1/chat/rooms/{room}/messages"), Some(&token), &body, 201).await?;
    }
    for i in 0..1000 {
        let priority = ["low", "medium", "high", "urgent"][i % 4];
        let body = serde_json::json!({ "project_id": project, "title": format!("bench task {i}"),
            "priority": priority, "tags": [format!("t{}", i % 10)] })
        .to_string();
        server.call("POST", "/api/v1/work/tasks", Some(&token), &body, 201).await?;
    }
    let history = format!("/api/v1/chat/rooms/{room}/messages?limit=50");
    let board = format!("/api/v1/work/tasks?project_id={project}&sort=priority&limit=50");

    let mut rows = Vec::new();
    for (name, path, auth) in [
        ("GET /health/live (reference)", "/health/live", None),
        ("GET /api/v1/users/me (JWT + session + user read)", "/api/v1/users/me", Some(token.as_str())),
        ("GET chat history, 50 of 1 000 messages (SQLite)", history.as_str(), Some(token.as_str())),
        ("GET work tasks by priority, 50 of 1 000 with tags (SQLite)", board.as_str(), Some(token.as_str())),
    ] {
        let result = http_load::run(server.addr, &http_load::Spec::get(path, auth), args.connections, duration).await?;
        let rss = server.rss_kib()?;
        println!("{name}: {result}; server RSS {rss} KiB");
        rows.push(report::Row { name: name.to_string(), result, rss_kib: rss });
    }
    let result = purchases::run(&server, args.connections, duration).await?;
    let rss = server.rss_kib()?;
    println!("{purchase_name}: {result}; server RSS {rss} KiB");
    rows.push(report::Row { name: purchase_name, result, rss_kib: rss });

    let topic = format!("chat.room.{room}");
    let idle_count = if args.quick { 1_000 } else { 10_000 };
    let before = server.rss_kib()?;
    let idle = ws_load::open_receivers(server.addr, &receiver_token, &topic, idle_count).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib()?;
    let per_connection = (after.saturating_sub(before) as f64 * 1024.0) / idle_count as f64;
    println!("{idle_count} idle connections: {before} -> {after} KiB RSS, {per_connection:.0} bytes each");
    drop(idle);
    // Closing them keeps the server busy for a moment; the fan-out runs start after that.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let fanouts = fanouts(&server, &target, args.quick, duration).await?;

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
            idle_connections: idle_count,
            idle_bytes_per_connection: per_connection,
            fanouts,
        },
    )?;
    println!("wrote {}", args.out);
    Ok(())
}

/// The WebSocket fan-out scenarios, one after the other on `server`: the chat gateway and the
/// room socket at both loads, then the task board's native gateway and socket.io at the smaller.
/// Each result comes with the CPU seconds the server and this process used meanwhile.
async fn fanouts(
    server: &server::Server,
    target: &ws_load::Target<'_>,
    quick: bool,
    duration: Duration,
) -> anyhow::Result<Vec<(ws_load::FanoutResult, f64, f64)>> {
    let mut fanouts = Vec::new();
    let (small, large) = if quick { ((200, 50), None) } else { ((1_000, 100), Some((2_000, 400))) };
    // Each row beside the one it is held to (report::verdict): the chat gateway and the room
    // socket at both loads, the board's native gateway and socket.io.
    let mut scenarios = vec![(Receivers::ChatGateway, small), (Receivers::ChatRoomSocket, small)];
    scenarios.extend(large.into_iter().flat_map(|l| [(Receivers::ChatGateway, l), (Receivers::ChatRoomSocket, l)]));
    scenarios.extend([(Receivers::BoardGateway, small), (Receivers::BoardSocketIo, small)]);
    for (receivers, (connections, rate)) in scenarios {
        let (server_cpu, own_cpu) = (server.cpu_seconds()?, server::cpu_seconds("/proc/self/stat")?);
        let result = ws_load::fanout(target, receivers, connections, rate, duration).await?;
        let server_cpu = server.cpu_seconds()? - server_cpu;
        let own_cpu = server::cpu_seconds("/proc/self/stat")? - own_cpu;
        println!(
            "fan-out: {result}; CPU s server {server_cpu:.1}, load generator {own_cpu:.1}; RSS {} KiB",
            server.rss_kib()?
        );
        fanouts.push((result, server_cpu, own_cpu));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Ok(fanouts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_open_file_limit_is_raised_to_what_the_run_needs() {
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        let needed = hard.min(4_096);
        raise_open_files(needed).unwrap();
        assert!(rlimit::Resource::NOFILE.get().unwrap().0 >= needed);
        if hard < u64::MAX {
            let refused = raise_open_files(hard + 1).unwrap_err().to_string();
            assert!(refused.contains("ulimit -Hn"), "{refused}");
        }
    }

    #[test]
    fn the_report_goes_under_the_build_output_unless_asked() {
        let out = default_out();
        assert!(out.ends_with("/bench/benchmarks.md") && !out.starts_with("docs/"), "{out}");
    }
}
