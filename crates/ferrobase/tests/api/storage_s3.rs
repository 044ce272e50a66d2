//! The `s3://` storage end to end against an S3-compatible server the test starts (moto's,
//! named by `FERROBASE_TEST_MOTO_SERVER`; CI installs it): uploads land in the bucket under the
//! URL's prefix, signed links and public pictures are served from it, and deletions (through
//! the outbox) empty it again.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use crate::avatars::{fetch, png};
use crate::studio_characters::{three_photos, upload_character};
use platform::secret::Secret;
use std::time::Duration;
use testkit::{Backend, TestApp};

/// A child process stopped when dropped.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A moto server on a free port (stopped when dropped) and its address; None to skip.
async fn start_moto() -> Option<(Server, String)> {
    let Some(binary) = std::env::var("FERROBASE_TEST_MOTO_SERVER").ok().filter(|s| !s.is_empty()) else {
        assert!(!testkit::services_required(), "FERROBASE_TEST_MOTO_SERVER must be set");
        eprintln!("skipped: FERROBASE_TEST_MOTO_SERVER is not set");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Server(
        std::process::Command::new(binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start moto_server"),
    );
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client.get(&base).send().await.is_ok() {
            return Some((child, base));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("moto_server did not start");
}

/// The keys in `bucket` under `prefix` (ListObjectsV2; moto takes unsigned requests).
async fn keys(base: &str, bucket: &str, prefix: &str) -> Vec<String> {
    let xml = reqwest::get(format!("{base}/{bucket}?list-type=2&prefix={prefix}")).await.unwrap().text().await.unwrap();
    xml.split("<Key>").skip(1).map(|part| part.split("</Key>").next().unwrap().to_string()).collect()
}

async fn files_live_in_an_s3_bucket(backend: Backend) {
    let Some((_moto, base)) = start_moto().await else { return };
    let bucket = "ferrobase-files";
    let created = reqwest::Client::new().put(format!("{base}/{bucket}")).send().await.unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let url = format!("s3://test-key:test%2Fsecret@{bucket}/tenant-a?endpoint={base}&region=us-east-1&allow_http=true");
    let Some(app) = TestApp::spawn_with(backend, |c| c.storage_url = Secret::new(url)).await else { return };
    let me = app.register("s3-user@example.com").await;

    // A character's photos and thumbnails go to the bucket, under the prefix, and come back
    // through their signed links.
    let c = upload_character(&app, Some(&me.access), Some("Cloud"), three_photos()).await.expect(201).json;
    let stored = keys(&base, bucket, "tenant-a/").await;
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert!(stored.iter().all(|k| k.starts_with(&format!("tenant-a/studio/{}/characters/", me.user_id))), "{stored:?}");
    let (status, ct, body) = fetch(&app, c["images"][0]["url"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    assert_eq!(image::load_from_memory(&body).unwrap().width(), 40);

    // A public picture (an avatar) too.
    let part = reqwest::multipart::Part::bytes(png(50, 50)).file_name("a.png").mime_str("image/png").unwrap();
    let form = reqwest::multipart::Form::new().part("file", part);
    let resp =
        app.http.put(app.url("/api/v1/users/me/avatar")).bearer_auth(&me.access).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (status, _, body) = fetch(&app, &format!("/api/v1/users/{}/avatar", me.user_id)).await;
    assert_eq!((status, image::load_from_memory(&body).unwrap().width()), (200, 50));
    assert_eq!(keys(&base, bucket, "tenant-a/").await.len(), 8);

    // Deleting removes the objects.
    let path = format!("/api/v1/studio/characters/{}", c["id"].as_str().unwrap());
    app.delete(&path, Some(&me.access), None).await.expect(204);
    app.delete("/api/v1/users/me/avatar", Some(&me.access), None).await.expect(204);
    app.outbox_idle().await;
    assert_eq!(keys(&base, bucket, "tenant-a/").await, Vec::<String>::new());
    let (status, _, _) = fetch(&app, c["images"][0]["url"].as_str().unwrap()).await;
    assert_eq!(status, 404);
}

testkit::backend_tests!(files_live_in_an_s3_bucket);
