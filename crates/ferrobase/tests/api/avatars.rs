//! Avatars: upload checked by content, thumbnail generated, served publicly with the right type,
//! replaced and removed without leaving files behind.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use serde_json::json;
use std::io::Cursor;
use std::path::Path;
use std::time::{Duration, Instant};
use testkit::{PASSWORD, Resp, TestApp};

pub(crate) fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

/// A JPEG of `w`×`h` (left half red) carrying an EXIF segment with `orientation` and a GPS-looking
/// text, as phones write them.
pub(crate) fn jpeg_with_exif(w: u32, h: u32, orientation: u16) -> Vec<u8> {
    use image::ImageEncoder;
    let img = image::RgbImage::from_fn(w, h, |x, _| image::Rgb([if x < w / 2 { 255 } else { 0 }, 0, 0]));
    let mut plain = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut plain, 95)
        .write_image(&img, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    // TIFF, big-endian, one IFD entry: 0x0112 Orientation, SHORT, count 1.
    let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    tiff.extend_from_slice(b"GPS 59.3293N 18.0686E");
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(app1.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&app1);
    out.extend_from_slice(&plain[2..]);
    out
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn upload(app: &TestApp, token: Option<&str>, bytes: Vec<u8>, field: &str) -> Resp {
    let part = reqwest::multipart::Part::bytes(bytes).file_name("picture.png").mime_str("image/png").unwrap();
    let form = reqwest::multipart::Form::new().part(field.to_string(), part);
    let mut req = app.http.put(app.url("/api/v1/users/me/avatar")).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = TestApp::read(req.send().await.unwrap()).await;
    app.hold_to_contract(&reqwest::Method::PUT, "/api/v1/users/me/avatar", None, &resp);
    resp
}

pub(crate) async fn fetch(app: &TestApp, path: &str) -> (u16, String, Vec<u8>) {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap().to_vec();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let seen = testkit::Resp { status, headers, json, text: String::new() };
    app.hold_to_contract(&reqwest::Method::GET, path, None, &seen);
    (status, ct, body)
}

pub(crate) fn files_under(dir: &Path) -> Vec<String> {
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
    // Links are absolute, on the server's public URL (the test app's own address).
    assert!(url.starts_with(&format!("{}/api/v1/users/", app.config.public_url)), "{url}");
    assert!(thumb_url.starts_with(&app.config.public_url), "{thumb_url}");

    let (status, ct, body) = fetch(&app, &url).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    let served = image::load_from_memory(&body).unwrap();
    let sent = image::load_from_memory(&original).unwrap();
    assert_eq!(served.to_rgb8(), sent.to_rgb8(), "a PNG is re-encoded losslessly");
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

async fn stored_photos_lose_their_metadata_and_stay_upright(app: TestApp) {
    let a = app.register("gps@example.com").await;
    let photo = jpeg_with_exif(60, 30, 6);
    assert!(contains(&photo, b"Exif\0\0") && contains(&photo, b"GPS 59.3293N"));
    let r = upload(&app, Some(&a.access), photo, "file").await.expect(200);
    let (status, ct, body) = fetch(&app, r.json["avatar_url"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    assert!(!contains(&body, b"Exif"), "the EXIF segment is not served");
    assert!(!contains(&body, b"GPS 59.3293N"), "the location is not served");
    // Orientation 6 means "rotate 90° clockwise to view": the stored picture is upright, and
    // the red half that was on the left is now on top.
    let stored = image::load_from_memory(&body).unwrap().to_rgb8();
    assert_eq!(stored.dimensions(), (30, 60));
    assert!(stored.get_pixel(15, 5)[0] > 200 && stored.get_pixel(15, 55)[0] < 60);
    // The file on disk is the cleaned one, not the upload.
    for file in expect_files(&app, &a.user_id, 2).await {
        assert!(!contains(&std::fs::read(file).unwrap(), b"GPS 59.3293N"));
    }
}

async fn images_with_too_many_pixels_are_refused_from_their_header(app: TestApp) {
    let a = app.register("bomb@example.com").await;
    // A valid PNG whose header says 8000×8000: 64 megapixels, 256 MB once decoded. The header
    // is read, the pixels never are.
    let mut bomb = png(1, 1);
    bomb[16..20].copy_from_slice(&8_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&8_000u32.to_be_bytes());
    let crc = crc32fast::hash(&bomb[12..29]); // the IHDR chunk stays valid
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let r = upload(&app, Some(&a.access), bomb, "file").await.expect_problem(422, "image_too_large");
    assert_eq!(r.json["errors"][0]["field"], "file");
    assert!(r.json["errors"][0]["message"].as_str().unwrap().contains("8000×8000"));
    // Just under the limit (configured to 10 000 pixels here) passes.
    upload(&app, Some(&a.access), png(100, 100), "file").await.expect(200);
    upload(&app, Some(&a.access), png(101, 100), "file").await.expect_problem(422, "image_too_large");
    assert_eq!(fetch(&app, &format!("/api/v1/users/{}/avatar?size=thumbnail", a.user_id)).await.0, 200);
}

async fn private_files_need_a_valid_unexpired_link(app: TestApp) {
    let files = &app.files;
    files.storage.put("private/u1/report.pdf", b"%PDF-1.7 test".to_vec().into()).await.unwrap();
    let signed = files.urls.sign("private/u1/report.pdf");
    let resp = app.http.get(app.url(&signed.url)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/pdf");
    assert_eq!(resp.headers()["content-disposition"], "attachment");
    assert!(resp.headers()["cache-control"].to_str().unwrap().starts_with("private, max-age="));
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"%PDF-1.7 test");

    // Another key with this link's signature, a changed expiry, a changed signature: refused
    // before storage is read.
    let query = signed.url.split_once('?').unwrap().1;
    let other = format!("/api/v1/files/private%2Fu2%2Freport.pdf?{query}");
    app.get(&other, None).await.expect_problem(403, "invalid_file_link");
    let longer = signed.url.replace("expires=", "expires=9");
    app.get(&longer, None).await.expect_problem(403, "invalid_file_link");
    let flipped = if signed.url.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flipped}", &signed.url[..signed.url.len() - 1]);
    app.get(&tampered, None).await.expect_problem(403, "invalid_file_link");
    app.get("/api/v1/files/private%2Fu1%2Freport.pdf", None).await.expect_problem(400, "invalid_query");
    // An expired link.
    let old = files.urls.sign_for("private/u1/report.pdf", 60, chrono::Utc::now() - chrono::Duration::hours(1));
    app.get(&old.url, None).await.expect_problem(403, "file_link_expired");
    // A valid link to an object that is gone.
    files.storage.delete("private/u1/report.pdf").await.unwrap();
    app.get(&signed.url, None).await.expect_problem(404, "not_found");
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

/// Each avatar change decodes an image: they are counted per user before the decoding.
async fn avatar_changes_are_rate_limited(app: TestApp) {
    let a = app.register("often@example.com").await;
    let small = png(8, 8);
    for _ in 0..30 {
        upload(&app, Some(&a.access), small.clone(), "file").await.expect(200);
    }
    upload(&app, Some(&a.access), small.clone(), "file").await.expect_problem(429, "rate_limited");
    let b = app.register("other-user@example.com").await;
    upload(&app, Some(&b.access), small, "file").await.expect(200);
}

testkit::api_tests!(
    avatars_are_checked_thumbnailed_and_served,
    avatar_changes_are_rate_limited,
    stored_photos_lose_their_metadata_and_stay_upright,
    private_files_need_a_valid_unexpired_link,
    bad_uploads_are_refused,
    deleting_the_account_removes_its_files,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pixel_limit_holds() {
    let app = TestApp::spawn_with(testkit::Backend::Sqlite, |c| c.upload_max_pixels = 10_000).await.unwrap();
    images_with_too_many_pixels_are_refused_from_their_header(app).await;
}
