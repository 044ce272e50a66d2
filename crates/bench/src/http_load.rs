//! A closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next
//! request when the previous answer arrives, for a fixed time after a short warm-up.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// What one run measured.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    /// Successful answers over the whole run, warm-up included (what a write changed).
    pub successes: u64,
}

impl LoadResult {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

impl fmt::Display for LoadResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} errors",
            self.rps(),
            self.p50_us as f64 / 1000.0,
            self.p99_us as f64 / 1000.0,
            self.max_us as f64 / 1000.0,
            self.errors
        )
    }
}

/// One request on a fresh connection (setup and readiness checks).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(u16, Bytes)> {
    let body = body.map(|b| ("application/json", Bytes::from(b.to_string())));
    request_with(addr, method, path, token, body).await
}

/// [`request`] with a body of any type: (content type, bytes).
pub async fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, Bytes)>,
) -> anyhow::Result<(u16, Bytes)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = Request::builder().method(method).uri(path).header("host", addr.to_string());
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some((content_type, bytes)) => req.header("content-type", content_type).body(Full::new(bytes))?,
        None => req.body(Full::new(Bytes::new()))?,
    };
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    Ok((status, resp.into_body().collect().await?.to_bytes()))
}

/// What the connections of a run send.
#[derive(Clone)]
pub struct Spec {
    /// `GET`, `POST` …
    pub method: hyper::Method,
    /// The path and query.
    pub path: String,
    /// Bearer tokens, given to the connections in turn (none: no token).
    pub tokens: Vec<String>,
    /// A JSON body, if any.
    pub body: Option<Bytes>,
    /// A fresh `Idempotency-Key` on each request (purchases require one).
    pub idempotency_key: bool,
}

impl Spec {
    /// A GET of `path`, with `token` if given.
    pub fn get(path: &str, token: Option<&str>) -> Self {
        Self {
            method: hyper::Method::GET,
            path: path.to_string(),
            tokens: token.map(|t| vec![t.to_string()]).unwrap_or_default(),
            body: None,
            idempotency_key: false,
        }
    }
}

/// One connection's loop: its histogram (after the warm-up), its failures (after the
/// warm-up), and its successes over the whole run, warm-up included.
async fn connection(
    addr: SocketAddr,
    spec: Spec,
    index: usize,
    warm_until: Instant,
    stop_at: Instant,
) -> anyhow::Result<(Histogram<u64>, u64, u64)> {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut errors, mut successes) = (0, 0);
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let host = addr.to_string();
    let auth = (!spec.tokens.is_empty()).then(|| format!("Bearer {}", spec.tokens[index % spec.tokens.len()]));
    for n in 0u64.. {
        let now = Instant::now();
        if now >= stop_at {
            break;
        }
        let mut req =
            Request::builder().method(spec.method.clone()).uri(spec.path.as_str()).header("host", host.as_str());
        if let Some(a) = &auth {
            req = req.header("authorization", a.as_str());
        }
        if spec.idempotency_key {
            req = req.header("idempotency-key", format!("bench-{index}-{n}"));
        }
        let req = match &spec.body {
            Some(body) => req.header("content-type", "application/json").body(Full::new(body.clone()))?,
            None => req.body(Full::new(Bytes::new()))?,
        };
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let ok = resp.status().is_success();
        resp.into_body().collect().await?;
        successes += u64::from(ok);
        if now >= warm_until {
            hist.record(now.elapsed().as_micros().max(1) as u64)?;
            errors += u64::from(!ok);
        }
    }
    Ok((hist, errors, successes))
}

/// Runs `connections` loops of `spec` for `duration` (after a 2 s warm-up).
pub async fn run(addr: SocketAddr, spec: &Spec, connections: usize, duration: Duration) -> anyhow::Result<LoadResult> {
    let warm_until = Instant::now() + Duration::from_secs(2);
    let stop_at = warm_until + duration;
    let tasks: Vec<_> =
        (0..connections).map(|i| tokio::spawn(connection(addr, spec.clone(), i, warm_until, stop_at))).collect();
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut errors, mut successes) = (0, 0);
    for t in tasks {
        let (h, e, ok) = t.await??;
        total.add(&h)?;
        errors += e;
        successes += ok;
    }
    Ok(LoadResult {
        requests: total.len(),
        errors,
        seconds: duration.as_secs_f64(),
        p50_us: total.value_at_quantile(0.50),
        p99_us: total.value_at_quantile(0.99),
        max_us: total.max(),
        successes,
    })
}
