//! Avatars: upload checked by content, thumbnail generated, served publicly with the right type,
//! replaced and removed without leaving files behind.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::json;
use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::{PASSWORD, Resp, TestApp};

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

async fn upload(app: &TestApp, token: Option<&str>, bytes: Vec<u8>, field: &str) -> Resp {
    let part = reqwest::multipart::Part::bytes(bytes).file_name("picture.png").mime_str("image/png").unwrap();
    let form = reqwest::multipart::Form::new().part(field.to_string(), part);
    let mut req = app.http.put(app.url("/api/v1/users/me/avatar")).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    TestApp::read(req.send().await.unwrap()).await
}

async fn fetch(app: &TestApp, path: &str) -> (u16, String, Vec<u8>) {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    (status, ct, resp.bytes().await.unwrap().to_vec())
}

fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.path().is_dir() {
                out.extend(files_under(&e.path()));
            } else {
                out.push(e.path().display().to_string());
            }
        }
    }
    out
}

/// Waits until the user's avatar folder holds exactly `n` files (old ones are removed by the worker).
async fn expect_files(app: &TestApp, user: &str, n: usize) -> Vec<String> {
    let dir = app.config.data_dir.join("files/avatars").join(user);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files = files_under(&dir);
        if files.len() == n {
            return files;
        }
        assert!(Instant::now() < deadline, "expected {n} files, found {files:?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn avatars_are_checked_thumbnailed_and_served(app: TestApp) {
    let a = app.register("pic@example.com").await;
    let b = app.register("viewer@example.com").await;
    let original = png(640, 480);
    let r = upload(&app, Some(&a.access), original.clone(), "file").await.expect(200);
    let url = r.json["avatar_url"].as_str().unwrap().to_string();
    let thumb_url = r.json["avatar_thumbnail_url"].as_str().unwrap().to_string();

    let (status, ct, body) = fetch(&app, &url).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    assert_eq!(body, original, "the original is served unchanged");
    let (status, ct, body) = fetch(&app, &thumb_url).await;
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    let thumb = image::load_from_memory(&body).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (256, 256));

    let public = app.get(&format!("/api/v1/users/{}", a.user_id), Some(&b.access)).await.expect(200);
    assert_eq!(public.json["avatar_url"], url.as_str());
    assert!(public.json.get("email").is_none());
    expect_files(&app, &a.user_id, 2).await;

    // Replacing removes the old files once the change has committed.
    let r2 = upload(&app, Some(&a.access), png(100, 300), "file").await.expect(200);
    assert_ne!(r2.json["avatar_url"], url.as_str());
    expect_files(&app, &a.user_id, 2).await;
    app.delete("/api/v1/users/me/avatar", Some(&a.access), None).await.expect(204);
    expect_files(&app, &a.user_id, 0).await;
    assert_eq!(fetch(&app, &url).await.0, 404);
    let me = app.get("/api/v1/users/me", Some(&a.access)).await.expect(200);
    assert_eq!(me.json["avatar_url"], serde_json::Value::Null);
}

async fn bad_uploads_are_refused(app: TestApp) {
    let a = app.register("bad@example.com").await;
    upload(&app, None, png(10, 10), "file").await.expect_problem(401, "unauthenticated");
    upload(&app, Some(&a.access), b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec(), "file")
        .await
        .expect_problem(415, "unsupported_image_type");
    upload(&app, Some(&a.access), b"GIF89a\x01\x00\x01\x00".to_vec(), "file")
        .await
        .expect_problem(415, "unsupported_image_type");
    let mut broken = png(50, 50);
    broken.truncate(60);
    upload(&app, Some(&a.access), broken, "file").await.expect_problem(422, "invalid_image");
    upload(&app, Some(&a.access), png(10, 10), "photo").await.expect_problem(422, "validation_failed");
    let mut huge = png(10, 10);
    huge.resize(11 * 1024 * 1024, 0);
    let url = app.url("/api/v1/users/me/avatar");
    app.send_oversized(|c| {
        let part = reqwest::multipart::Part::bytes(huge.clone()).file_name("big.png").mime_str("image/png").unwrap();
        c.put(&url).bearer_auth(&a.access).multipart(reqwest::multipart::Form::new().part("file", part))
    })
    .await
    .expect_problem(413, "payload_too_large");
    let resp =
        app.http.put(app.url("/api/v1/users/me/avatar")).bearer_auth(&a.access).json(&json!({})).send().await.unwrap();
    assert_eq!(TestApp::read(resp).await.status / 100, 4);
    assert_eq!(fetch(&app, &format!("/api/v1/users/{}/avatar", a.user_id)).await.0, 404);
}

async fn deleting_the_account_removes_its_files(app: TestApp) {
    let a = app.register("gone@example.com").await;
    upload(&app, Some(&a.access), png(64, 64), "file").await.expect(200);
    expect_files(&app, &a.user_id, 2).await;
    app.delete("/api/v1/users/me", Some(&a.access), Some(json!({"password": PASSWORD}))).await.expect(204);
    expect_files(&app, &a.user_id, 0).await;
}

testkit::api_tests!(
    avatars_are_checked_thumbnailed_and_served,
    bad_uploads_are_refused,
    deleting_the_account_removes_its_files,
);
