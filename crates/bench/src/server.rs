//! Builds and runs the release `ferrobase` binary for a benchmark, on a fresh data dir.

use anyhow::Context;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process.
pub struct Server {
    pub addr: SocketAddr,
    pub ready_in: Duration,
    child: Child,
    binary: std::path::PathBuf,
    data: tempfile::TempDir,
}

fn free_port() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// The server binary: `FERROBASE_BENCH_BINARY` when set (a build made beforehand, measured
/// as it is), else a release build made now.
fn build_release() -> anyhow::Result<std::path::PathBuf> {
    if let Some(binary) = std::env::var_os("FERROBASE_BENCH_BINARY") {
        let binary = std::path::PathBuf::from(binary);
        anyhow::ensure!(binary.exists(), "FERROBASE_BENCH_BINARY: {} not found", binary.display());
        return Ok(binary);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "--release", "-p", "ferrobase", "--bin", "ferrobase"]);
    // `cargo run` gives this process the variables of the bench package (its name, manifest,
    // binary). Passed on, the inner build's crates would see them where a plain `cargo build`
    // sees none, and cargo would rebuild the server from scratch, and then again at the next
    // plain build. The user's own cargo settings (CARGO_HOME, CARGO_TARGET_DIR …) stay.
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            build.env_remove(&name);
        }
    }
    let status = build.status().context("running cargo build")?;
    anyhow::ensure!(status.success(), "cargo build --release failed");
    let me = std::env::current_exe()?;
    let binary = me.with_file_name("ferrobase");
    anyhow::ensure!(binary.exists(), "{} not found", binary.display());
    Ok(binary)
}

/// The variables `cargo run` sets for the program it runs (the Cargo book, "Environment
/// variables Cargo sets for crates").
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "CARGO_TARGET_TMPDIR"
        )
}

/// Starts the server with a clean environment; `FERROBASE_*` settings given to the benchmark
/// (say `FERROBASE_DB_MAX_CONNECTIONS=4`) are passed on, so configurations can be compared.
fn spawn(binary: &std::path::Path, data: &std::path::Path, addr: SocketAddr) -> anyhow::Result<Child> {
    let passed = std::env::vars().filter(|(k, _)| {
        k.starts_with("FERROBASE_") && !k.starts_with("FERROBASE_TEST_") && !k.starts_with("FERROBASE_BENCH_")
    });
    Ok(Command::new(binary)
        .arg("serve")
        .env_clear()
        .envs(passed)
        .env("FERROBASE_BIND", addr.to_string())
        .env("FERROBASE_DATA_DIR", data)
        .env("FERROBASE_LOG_LEVEL", "warn")
        .stdout(server_log()?)
        .spawn()?)
}

/// Where the server's log goes: the file named by `FERROBASE_BENCH_SERVER_LOG` (appended to),
/// to see what it warned of during a run, or nowhere.
fn server_log() -> anyhow::Result<Stdio> {
    match std::env::var_os("FERROBASE_BENCH_SERVER_LOG") {
        Some(path) => {
            let file = std::fs::OpenOptions::new().create(true).append(true).open(&path);
            Ok(file.with_context(|| format!("FERROBASE_BENCH_SERVER_LOG: {}", path.display()))?.into())
        }
        None => Ok(Stdio::null()),
    }
}

async fn wait_ready(addr: SocketAddr) -> anyhow::Result<Duration> {
    let start = Instant::now();
    loop {
        if let Ok((200, _)) = crate::http_load::request(addr, "GET", "/health/ready", None, None).await {
            return Ok(start.elapsed());
        }
        anyhow::ensure!(start.elapsed() < Duration::from_secs(30), "server did not become ready");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

impl Server {
    /// Builds the release binary and starts it on a fresh data dir (a cold start: migrations run).
    pub async fn start() -> anyhow::Result<Self> {
        let binary = build_release()?;
        let data = tempfile::tempdir()?;
        let addr = free_port()?;
        let child = spawn(&binary, data.path(), addr)?;
        let ready_in = wait_ready(addr).await?;
        Ok(Self { addr, ready_in, child, binary, data })
    }

    /// Resident memory of the server now.
    pub fn rss_kib(&self) -> anyhow::Result<u64> {
        status_field(self.child.id(), "VmRSS:")
    }

    /// CPU time (user + system) the server has used so far, in seconds.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        cpu_seconds(&format!("/proc/{}/stat", self.child.id()))
    }

    /// Peak resident memory of the server so far.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        status_field(self.child.id(), "VmHWM:")
    }

    /// Registers a user and returns (user id, access token).
    pub async fn register(&self, email: &str) -> anyhow::Result<(String, String)> {
        let body = serde_json::json!({"email": email, "password": "benchmark password", "name": "Bench"}).to_string();
        let v = self.call("POST", "/api/v1/auth/register", None, &body, 201).await?;
        let id = v["user"]["id"].as_str().context("no user id")?.to_string();
        Ok((id, v["access_token"].as_str().context("no access_token")?.to_string()))
    }

    /// Makes `email` an administrator with the server's own `admin create` command, on the
    /// same data dir and settings, and signs in: the access token.
    pub async fn admin(&self, email: &str) -> anyhow::Result<String> {
        let password = "benchmark admin password";
        let passed = std::env::vars().filter(|(k, _)| {
            k.starts_with("FERROBASE_") && !k.starts_with("FERROBASE_TEST_") && !k.starts_with("FERROBASE_BENCH_")
        });
        let out = Command::new(&self.binary)
            .args(["admin", "create", "--email", email, "--password", password])
            .env_clear()
            .envs(passed)
            .env("FERROBASE_DATA_DIR", self.data.path())
            .env("FERROBASE_LOG_LEVEL", "warn")
            .output()?;
        anyhow::ensure!(out.status.success(), "admin create: {}", String::from_utf8_lossy(&out.stderr));
        let body = serde_json::json!({"email": email, "password": password}).to_string();
        let v = self.call("POST", "/api/v1/auth/login", None, &body, 200).await?;
        Ok(v["access_token"].as_str().context("no access_token")?.to_string())
    }

    /// Creates a private room as `token`'s user with `member` in it; the room's id.
    pub async fn private_room(&self, token: &str, name: &str, member: &str) -> anyhow::Result<String> {
        let body = serde_json::json!({ "name": name, "visibility": "private" }).to_string();
        let room = self.call("POST", "/api/v1/chat/rooms", Some(token), &body, 201).await?["id"]
            .as_str()
            .context("no room id")?
            .to_string();
        let member = serde_json::json!({ "user_id": member }).to_string();
        self.call("POST", &format!("/api/v1/chat/rooms/{room}/members"), Some(token), &member, 201).await?;
        Ok(room)
    }

    /// The server's data directory (the SQLite database, mail, uploads).
    pub fn data_dir(&self) -> &std::path::Path {
        self.data.path()
    }

    /// The server's process id (for sampling its memory while a load runs).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Registers `email` and verifies it with the code the server wrote to its mail folder;
    /// the access token.
    pub async fn register_verified(&self, email: &str) -> anyhow::Result<String> {
        let (_, token) = self.register(email).await?;
        let mail_dir = self.data.path().join("mail");
        let started = Instant::now();
        let code = loop {
            let found = std::fs::read_dir(&mail_dir)
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .filter_map(|entry| std::fs::read_to_string(entry.path()).ok())
                .find(|mail| mail.contains(email))
                .and_then(|mail| six_digits(&mail));
            if let Some(code) = found {
                break code;
            }
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "no verification mail to {email}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let body = serde_json::json!({"email": email, "code": code}).to_string();
        let (status, bytes) =
            crate::http_load::request(self.addr, "POST", "/api/v1/auth/email/verify", None, Some(&body)).await?;
        anyhow::ensure!(status < 300, "verifying {email}: {status} {}", String::from_utf8_lossy(&bytes));
        Ok(token)
    }

    /// One JSON request that must answer `expect`; returns the body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: &str,
        expect: u16,
    ) -> anyhow::Result<serde_json::Value> {
        let (status, bytes) = crate::http_load::request(self.addr, method, path, token, Some(body)).await?;
        anyhow::ensure!(status == expect, "{method} {path} answered {status}: {}", String::from_utf8_lossy(&bytes));
        Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    /// Stops the server and starts it again on the same (now existing) database: start to ready.
    pub async fn restart_ready_time(mut self) -> anyhow::Result<Duration> {
        self.child.kill()?;
        self.child.wait()?;
        let addr = free_port()?;
        let started = Instant::now();
        self.child = spawn(&self.binary, self.data.path(), addr)?;
        wait_ready(addr).await?;
        let elapsed = started.elapsed();
        self.child.kill()?;
        self.child.wait()?;
        Ok(elapsed)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first run of exactly six digits in a mail: its code.
fn six_digits(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(5)).find_map(|i| {
        let run = &bytes[i..i + 6];
        let before = i.checked_sub(1).map(|j| bytes[j]);
        let after = bytes.get(i + 6).copied();
        let alone =
            !before.is_some_and(|b| b.is_ascii_alphanumeric()) && !after.is_some_and(|b| b.is_ascii_alphanumeric());
        (alone && run.iter().all(u8::is_ascii_digit)).then(|| String::from_utf8_lossy(run).into_owned())
    })
}

/// A field of `/proc/PID/status` in KiB (`VmRSS:` …).
pub fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(field)).context("field missing")?;
    Ok(line.split_whitespace().nth(1).context("no value")?.parse()?)
}

/// User + system CPU seconds of a process, from its `/proc/…/stat` (fields 14 and 15, in
/// clock ticks of 1/100 s on Linux).
pub fn cpu_seconds(stat_path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(stat_path)?;
    // The command name may contain spaces; fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 =
        fields.get(11).context("utime")?.parse::<f64>()? + fields.get(12).context("stime")?.parse::<f64>()?;
    Ok(ticks / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_build_drops_what_cargo_run_set_and_keeps_the_users_cargo_settings() {
        for set in [
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION",
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_BIN_NAME",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            assert!(set_by_cargo_run(set), "{set}");
        }
        for kept in ["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_BUILD_JOBS", "CARGO_PROFILE_RELEASE_LTO", "CARGO", "PATH"]
        {
            assert!(!set_by_cargo_run(kept), "{kept}");
        }
    }
}
