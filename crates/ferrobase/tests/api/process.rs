//! The `ferrobase` binary as a process: started in a directory with a clean environment, on a
//! free port, until ready (the command-line and crash tests use it).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_ferrobase");

/// The binary with a clean environment (no FERROBASE_* from the caller) in `dir`.
pub fn ferrobase(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `ferrobase serve` in `dir` on a free port with extra `env`, once `/health/ready` answers 200;
/// returns the process, its base URL and a client. Callers wait for the process.
#[allow(clippy::zombie_processes)]
pub async fn serve(dir: &Path, env: &[(&str, &str)], output: fn() -> Stdio) -> (Child, String, reqwest::Client) {
    let port = free_port();
    let mut cmd = ferrobase(dir);
    cmd.arg("serve")
        .env("FERROBASE_BIND", format!("127.0.0.1:{port}"))
        .env("FERROBASE_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .stdout(output())
        .stderr(output());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/health/ready")).send().await
            && r.status() == 200
        {
            return (child, base, http);
        }
        assert!(start.elapsed() < Duration::from_secs(30), "server never became ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
