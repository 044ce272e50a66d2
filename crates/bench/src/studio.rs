//! The studio under load: the template catalogue at 10 000 templates (the newest page, words,
//! a category, trending, a tag signed in, and words that match one template, which reads
//! every row), and the memory one character upload in flight costs (three 12-megapixel
//! photos each, decoded, scaled and re-encoded on the bounded image workers).

use crate::http_load::{self, LoadResult, Spec};
use crate::server::{Server, status_field};
use bytes::Bytes;
use std::time::Duration;

/// Templates written before the catalogue is measured.
const TEMPLATES: usize = 10_000;
/// Categories they are spread over.
const CATEGORIES: usize = 20;
/// Words prompts are made of; one in ten templates has each.
const WORDS: [&str; 10] =
    ["dragon", "portrait", "neon", "forest", "retro", "ocean", "winter", "studio", "anime", "desert"];

/// Seeds the catalogue, measures its pages, then measures uploads; each result is named.
pub async fn run(
    server: &Server,
    connections: usize,
    duration: Duration,
    settle: Duration,
) -> anyhow::Result<(Vec<(String, LoadResult)>, Vec<String>)> {
    let admin = server.admin("bench-studio-admin@example.com").await?;
    let mut categories = Vec::new();
    for i in 0..CATEGORIES {
        let body = serde_json::json!({"name": format!("Category {i}")}).to_string();
        let c = server.call("POST", "/api/v1/studio/categories", Some(&admin), &body, 201).await?;
        categories.push(c["id"].as_str().unwrap_or_default().to_string());
    }
    let started = std::time::Instant::now();
    for i in 0..TEMPLATES {
        let word = WORDS[i % WORDS.len()];
        let style = ["cinematic", "watercolor", "photo"][i % 3];
        let body = serde_json::json!({
            "title": format!("Template {i}"),
            "prompt": format!("A {word} scene number {i}, detailed, soft light"),
            "style": style,
            "category_id": categories[i % CATEGORIES],
            "tags": [format!("t{}", i % 50), word],
            "is_trending": i % 20 == 0,
        });
        server.call("POST", "/api/v1/studio/templates", Some(&admin), &body.to_string(), 201).await?;
    }
    let rare = serde_json::json!({"title": "The one", "prompt": "a zebra xylophone quartet"}).to_string();
    server.call("POST", "/api/v1/studio/templates", Some(&admin), &rare, 201).await?;
    println!("seeded {TEMPLATES} templates in {:?}", started.elapsed());
    tokio::time::sleep(settle).await;

    let (_, user) = server.register("bench-studio-user@example.com").await?;
    let category = format!("/api/v1/studio/templates?category={}", categories[3]);
    let mut results = Vec::new();
    for (name, path, token) in [
        (format!("GET templates, newest 20 of {TEMPLATES}"), "/api/v1/studio/templates".to_string(), None),
        (
            format!("GET templates?q=dragon (1 in 10), 20 of {TEMPLATES}"),
            "/api/v1/studio/templates?q=dragon".into(),
            None,
        ),
        (format!("GET templates?category= (1 in 20), 20 of {TEMPLATES}"), category, None),
        (
            format!("GET templates?trending=true (1 in 20, by likes), 20 of {TEMPLATES}"),
            "/api/v1/studio/templates?trending=true".into(),
            None,
        ),
        (
            format!("GET templates?tag=t7 signed in (is_favorite), 20 of {TEMPLATES}"),
            "/api/v1/studio/templates?tag=t7".into(),
            Some(user.as_str()),
        ),
        (
            format!("GET templates?q=xylophone (1 of {TEMPLATES}: every row read)"),
            "/api/v1/studio/templates?q=xylophone".into(),
            None,
        ),
    ] {
        let result = http_load::run(server.addr, &Spec::get(&path, token), connections, duration).await?;
        results.push((name, result));
    }
    let uploads = upload_memory(server).await?;
    Ok((results, uploads))
}

/// A photo-like 4000×3000 JPEG (gradients and noise, so it compresses like a photo).
fn photo(seed: u32) -> Vec<u8> {
    let (w, h) = (4000, 3000);
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 32) as u8;
        image::Rgb([((x * 255) / w) as u8 ^ noise, ((y * 255) / h) as u8, (((x + y) / 31) % 256) as u8 ^ noise])
    });
    let mut out = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85);
    let _ = encoder.encode_image(&img);
    out
}

/// A `multipart/form-data` body with a name and `photos` as `images`.
fn character_form(photos: &[Bytes]) -> (String, Bytes) {
    let boundary = "ferrobase-bench-boundary-7f3a";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nBench character\r\n").as_bytes(),
    );
    for (i, photo) in photos.iter().enumerate() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"p{i}.jpg\"\r\n\
                 Content-Type: image/jpeg\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(photo);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), Bytes::from(body))
}

/// Waves of 1, 4 and 16 concurrent character uploads: the server's resident memory sampled
/// every 5 ms, its peak above the level before the wave, divided by the uploads in flight.
async fn upload_memory(server: &Server) -> anyhow::Result<Vec<String>> {
    let photos: Vec<Bytes> = (0..3).map(|i| Bytes::from(photo(i + 1))).collect();
    let megabytes = photos.iter().map(Bytes::len).sum::<usize>() as f64 / 1e6;
    let (content_type, body) = character_form(&photos);
    // Characters are limited to 30 an hour per user; each upload in a wave is another user's.
    let mut users = Vec::new();
    for i in 0..16 {
        users.push(server.register(&format!("bench-uploader{i}@example.com")).await?.1);
    }
    let mut lines = Vec::new();
    for concurrent in [1usize, 4, 16] {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = server.rss_kib()?;
        let pid = server.pid();
        let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let flag = sampling.clone();
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            while flag.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(status_field(pid, "VmRSS:").unwrap_or(0));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            peak
        });
        let started = std::time::Instant::now();
        let calls = users.iter().take(concurrent).map(|token| {
            let body = body.clone();
            let content_type = content_type.clone();
            async move {
                let r = http_load::request_with(
                    server.addr,
                    "POST",
                    "/api/v1/studio/characters",
                    Some(token),
                    Some((&content_type, body)),
                )
                .await?;
                anyhow::ensure!(r.0 == 201, "upload answered {}: {}", r.0, String::from_utf8_lossy(&r.1));
                Ok(())
            }
        });
        let outcomes = futures::future::join_all(calls).await;
        let elapsed = started.elapsed();
        sampling.store(false, std::sync::atomic::Ordering::Relaxed);
        let peak = sampler.await?;
        outcomes.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
        let per_upload = peak.saturating_sub(before) as f64 / 1024.0 / concurrent as f64;
        let line = format!(
            "{concurrent} concurrent character uploads (3 JPEGs of 4000×3000, {megabytes:.1} MB each upload): \
             RSS {before} KiB before, peak {peak} KiB, {per_upload:.1} MiB per upload in flight, all done in {elapsed:.2?}"
        );
        println!("{line}");
        lines.push(line);
    }
    Ok(lines)
}
