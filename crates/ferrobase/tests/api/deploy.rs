//! What the deployment files (`Dockerfile`, `deploy/`) rely on: the container health check's
//! `ferrobase health`, and the Grafana dashboard's queries, which must name metrics a fresh
//! server exports.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::process::{ferrobase, free_port, serve, text};

#[tokio::test]
async fn health_answers_zero_only_while_the_server_is_ready() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, _) = serve(dir.path(), &[], Stdio::null).await;
    let bind = base.trim_start_matches("http://").to_string();
    let ready = ferrobase(dir.path()).arg("health").env("FERROBASE_BIND", &bind).output().unwrap();
    assert!(ready.status.success(), "{}", text(&ready));
    // An unspecified bind address (as in the container image) is asked on loopback.
    let port = bind.rsplit(':').next().unwrap();
    let any = ferrobase(dir.path()).arg("health").env("FERROBASE_BIND", format!("0.0.0.0:{port}")).output().unwrap();
    assert!(any.status.success(), "{}", text(&any));
    child.kill().unwrap();
    child.wait().unwrap();

    let nobody = format!("127.0.0.1:{}", free_port());
    let down = ferrobase(dir.path()).arg("health").env("FERROBASE_BIND", &nobody).output().unwrap();
    assert_eq!(down.status.code(), Some(1), "{}", text(&down));
    assert!(text(&down).contains("not ready"), "{}", text(&down));
}

/// Something that answers HTTP but not 200 is not ready either (a 503 while the database is
/// down, or another program on the port).
#[test]
fn health_refuses_an_answer_other_than_200() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut socket in listener.incoming().flatten() {
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request);
            let body = r#"{"status":"unavailable","database":"down"}"#;
            let answer = format!("HTTP/1.1 503 Service Unavailable\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            let _ = socket.write_all(answer.as_bytes());
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let out = ferrobase(dir.path()).arg("health").env("FERROBASE_BIND", &bind).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("503") && text(&out).contains("database"), "{}", text(&out));
}

/// The metric names a PromQL expression selects: identifiers followed by `{` or `[`.
fn selected_metrics(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let starts = (c.is_ascii_alphabetic() || c == '_' || c == ':') && (i == 0 || !is_name_char(chars[i - 1]));
        if !starts || (i > 0 && chars[i - 1] == '$') {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_name_char(chars[i]) {
            i += 1;
        }
        let mut next = i;
        while next < chars.len() && chars[next] == ' ' {
            next += 1;
        }
        if next < chars.len() && (chars[next] == '{' || chars[next] == '[') {
            names.push(chars[start..i].iter().collect());
        }
    }
    names
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

#[test]
fn the_metric_name_scanner_finds_selectors_only() {
    let expr = r#"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route!=""}[$__rate_interval]))) / max(outbox_rows{}) + foo_total [5m]"#;
    assert_eq!(selected_metrics(expr), ["http_request_duration_seconds_bucket", "outbox_rows", "foo_total"]);
}

#[tokio::test]
async fn the_dashboard_queries_only_metrics_a_fresh_server_exports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/grafana/dashboards/ferrobase.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut wanted = std::collections::BTreeSet::new();
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap();
            let names = selected_metrics(expr);
            assert!(!names.is_empty(), "{expr} selects no metric");
            wanted.extend(names);
        }
    }
    assert!(wanted.len() >= 10, "{wanted:?}");

    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, http) = serve(dir.path(), &[], Stdio::null).await;
    // One request, as any instance behind a load balancer has answered (health checks).
    http.get(format!("{base}/api/v1/chat/rooms")).send().await.unwrap();
    // The worker's first round (at start) sets the outbox gauge.
    let deadline = Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let exported = http.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let names: std::collections::BTreeSet<&str> =
            exported.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
        let missing: Vec<&String> = wanted.iter().filter(|m| !names.contains(m.as_str())).collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing.into_iter().cloned().collect::<Vec<_>>();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(missing.is_empty(), "the dashboard asks for metrics /metrics does not have: {missing:?}");
}
