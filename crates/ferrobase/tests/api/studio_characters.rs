//! Studio characters over HTTP, on SQLite and (in CI) PostgreSQL: 3–5 photos checked by
//! content and stripped of their metadata, private to their owner (another user's id is 404,
//! and a link works only until it expires and only as signed), and files removed when the
//! character or the account goes.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use crate::avatars::{contains, fetch, files_under, jpeg_with_exif, png};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::{Resp, TestApp};

pub(crate) async fn upload_character(
    app: &TestApp,
    token: Option<&str>,
    name: Option<&str>,
    images: Vec<Vec<u8>>,
) -> Resp {
    let mut form = reqwest::multipart::Form::new();
    if let Some(name) = name {
        form = form.text("name", name.to_string());
    }
    for (i, bytes) in images.into_iter().enumerate() {
        let part =
            reqwest::multipart::Part::bytes(bytes).file_name(format!("p{i}.jpg")).mime_str("image/jpeg").unwrap();
        form = form.part("images", part);
    }
    let mut req = app.http.post(app.url("/api/v1/studio/characters")).multipart(form);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = TestApp::read(req.send().await.unwrap()).await;
    app.hold_to_contract(&Method::POST, "/api/v1/studio/characters", None, &resp);
    resp
}

pub(crate) fn three_photos() -> Vec<Vec<u8>> {
    vec![png(40, 30), png(30, 40), png(20, 20)]
}

/// The storage key inside a signed file link.
fn key_of(url: &str) -> String {
    let segment = url.split_once("/api/v1/files/").unwrap().1.split('?').next().unwrap();
    percent_encoding::percent_decode_str(segment).decode_utf8().unwrap().into_owned()
}

async fn characters_take_three_to_five_clean_photos(app: TestApp) {
    let me = app.register("ch-owner@example.com").await;
    // A phone photo carries EXIF (orientation 6: stored 80×40, shown 40×80) and a GPS text.
    let mut photos = three_photos();
    photos[0] = jpeg_with_exif(80, 40, 6);
    let made = upload_character(&app, Some(&me.access), Some("  Ada  "), photos).await.expect(201);
    assert!(made.header("location").unwrap().ends_with(made.json["id"].as_str().unwrap()));
    let c = made.json;
    assert_eq!(c["name"], "Ada");
    let images = c["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    assert_eq!((images[0]["width"].as_u64(), images[0]["height"].as_u64()), (Some(40), Some(80)), "turned upright");
    let link = images[0]["url"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/api/v1/files/", app.config.public_url)), "absolute: {link}");
    let (status, ct, body) = fetch(&app, link).await;
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    assert!(!contains(&body, b"Exif") && !contains(&body, b"GPS"), "metadata is gone");
    let (status, ct, body) = fetch(&app, images[1]["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    assert_eq!(image::load_from_memory(&body).unwrap().width(), 256);

    // Counts, types, sizes and the name are checked; nothing is stored for a refused one.
    let refused = [
        (Some("Two"), vec![png(8, 8), png(8, 8)], 422),
        (Some("Six"), vec![png(8, 8); 6], 422),
        (Some("Text"), vec![png(8, 8), png(8, 8), b"just text".to_vec()], 415),
        (None, three_photos(), 422),
        (Some(""), three_photos(), 422),
    ];
    for (name, images, status) in refused {
        let r = upload_character(&app, Some(&me.access), name, images).await;
        assert_eq!(r.status, status, "{name:?}: {}", r.text);
    }
    let mut huge = png(8, 8);
    huge.resize(11 * 1024 * 1024, 0);
    let url = app.url("/api/v1/studio/characters");
    app.send_oversized(|c| {
        let mut form = reqwest::multipart::Form::new().text("name", "Huge");
        for bytes in [png(8, 8), png(8, 8), huge.clone()] {
            form = form.part(
                "images",
                reqwest::multipart::Part::bytes(bytes).file_name("p.png").mime_str("image/png").unwrap(),
            );
        }
        c.post(&url).bearer_auth(&me.access).multipart(form)
    })
    .await
    .expect_problem(413, "payload_too_large");
    upload_character(&app, None, Some("Nobody"), three_photos()).await.expect(401);
    let names = |page: &Value| {
        page["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let page = app.get("/api/v1/studio/characters", Some(&me.access)).await.expect(200).json;
    assert_eq!(names(&page), ["Ada"]);
    assert_eq!(files_under(&app.config.data_dir.join("files")).len(), 6, "three photos and three thumbnails");

    // Newest first, in pages; renamed; its photos are untouched by a rename.
    let bea = upload_character(&app, Some(&me.access), Some("Bea"), three_photos()).await.expect(201).json;
    let first = app.get("/api/v1/studio/characters?limit=1", Some(&me.access)).await.expect(200).json;
    assert_eq!(names(&first), ["Bea"]);
    let next = first["next_cursor"].as_str().unwrap();
    let second =
        app.get(&format!("/api/v1/studio/characters?limit=1&cursor={next}"), Some(&me.access)).await.expect(200).json;
    assert_eq!((names(&second), second["next_cursor"].is_null()), (vec!["Ada".to_string()], true));
    let path = format!("/api/v1/studio/characters/{}", bea["id"].as_str().unwrap());
    let renamed = app.patch(&path, Some(&me.access), json!({"name": "Beatrice"})).await.expect(200).json;
    assert_eq!(renamed["name"], "Beatrice");
    assert_eq!(renamed["images"].as_array().unwrap().len(), 3);
    app.patch(&path, Some(&me.access), json!({"name": "x".repeat(101)})).await.expect_problem(422, "validation_failed");

    // Deleting removes its files (through the outbox); the other character's stay.
    app.delete(&path, Some(&me.access), None).await.expect(204);
    app.get(&path, Some(&me.access)).await.expect(404);
    app.outbox_idle().await;
    assert_eq!(files_under(&app.config.data_dir.join("files")).len(), 6);
    let (status, _, _) = fetch(&app, renamed["images"][0]["url"].as_str().unwrap()).await;
    assert_eq!(status, 404, "the link outlives nothing");
}

async fn characters_are_private(app: TestApp) {
    let owner = app.register("ch-private@example.com").await;
    let stranger = app.register("ch-stranger@example.com").await;
    let c = upload_character(&app, Some(&owner.access), Some("Mine"), three_photos()).await.expect(201).json;
    let path = format!("/api/v1/studio/characters/{}", c["id"].as_str().unwrap());
    app.get(&path, Some(&stranger.access)).await.expect(404);
    app.patch(&path, Some(&stranger.access), json!({"name": "Stolen"})).await.expect(404);
    app.delete(&path, Some(&stranger.access), None).await.expect(404);
    app.get(&path, None).await.expect(401);
    let theirs = app.get("/api/v1/studio/characters", Some(&stranger.access)).await.expect(200).json;
    assert_eq!(theirs["items"], json!([]));
    assert_eq!(app.get(&path, Some(&owner.access)).await.expect(200).json["name"], "Mine");

    // A link is the only way in: signed for that key, until it expires.
    let url = c["images"][0]["url"].as_str().unwrap();
    let key = key_of(url);
    assert!(key.contains(&owner.user_id.to_string()), "{key}");
    let (status, _, _) = fetch(&app, url.split('?').next().unwrap()).await;
    assert!(status == 400 || status == 422, "no signature: {status}");
    let forged = format!("{}&signature=00{}", url.split("&signature=").next().unwrap(), "0".repeat(62));
    let (status, _, body) = fetch(&app, &forged).await;
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let old = app.files.urls.sign_for(&key, 60, chrono::Utc::now() - chrono::Duration::hours(2));
    let (status, _, body) = fetch(&app, &old.url).await;
    assert_eq!(status, 403);
    assert_eq!(serde_json::from_slice::<Value>(&body).unwrap()["code"], "file_link_expired");
    let other_key = key_of(c["images"][1]["url"].as_str().unwrap());
    let sig = url.split("&signature=").nth(1).unwrap();
    let swapped = format!(
        "/api/v1/files/{}?{}",
        percent_encoding::utf8_percent_encode(&other_key, percent_encoding::NON_ALPHANUMERIC),
        url.split_once('?').unwrap().1
    );
    assert!(swapped.contains(sig));
    let (status, _, _) = fetch(&app, &swapped).await;
    assert_eq!(status, 403, "a signature is for one key");

    // Deleting the account removes every file it had.
    app.delete("/api/v1/users/me", Some(&owner.access), Some(json!({"password": testkit::PASSWORD}))).await.expect(204);
    app.outbox_idle().await;
    assert!(files_under(&app.config.data_dir.join("files")).is_empty());
    let (status, _, _) = fetch(&app, url).await;
    assert_eq!(status, 404);
}

testkit::api_tests!(characters_take_three_to_five_clean_photos, characters_are_private);
