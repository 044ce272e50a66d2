//! The studio catalogue over HTTP, on SQLite and (in CI) PostgreSQL: categories and templates
//! written by administrators only (every write route probed as a user and as nobody), public
//! browsing with every filter and both orders, views counted once an hour per viewer, and
//! favourites whose like counts stay exact under 200 concurrent toggles.

#![allow(clippy::unwrap_used)] // Tests fail loudly by design.

use crate::avatars::{fetch, png};
use reqwest::Method;
use serde_json::{Value, json};
use testkit::{PASSWORD, Resp, Session, TestApp};

/// An administrator (made by hand in the database, as the CLI would).
pub(crate) async fn admin(app: &TestApp, email: &str) -> Session {
    app.register(email).await;
    app.promote_to_admin(email).await
}

pub(crate) async fn template(app: &TestApp, admin: &Session, body: Value) -> Value {
    app.post("/api/v1/studio/templates", Some(&admin.access), body).await.expect(201).json
}

pub(crate) async fn put_image(app: &TestApp, token: &str, template: &str, bytes: Vec<u8>) -> Resp {
    let part = reqwest::multipart::Part::bytes(bytes).file_name("t.png").mime_str("image/png").unwrap();
    let form = reqwest::multipart::Form::new().part("image", part);
    let path = format!("/api/v1/studio/templates/{template}/image");
    let resp =
        TestApp::read(app.http.put(app.url(&path)).bearer_auth(token).multipart(form).send().await.unwrap()).await;
    app.hold_to_contract(&Method::PUT, &path, None, &resp);
    resp
}

fn titles(page: &Value) -> Vec<String> {
    page["items"].as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap().to_string()).collect()
}

async fn only_administrators_write_the_catalogue(app: TestApp) {
    let boss = admin(&app, "st-admin@example.com").await;
    let user = app.register("st-user@example.com").await;
    let cat = app
        .post("/api/v1/studio/categories", Some(&boss.access), json!({"name": "Portraits & Headshots"}))
        .await
        .expect(201);
    assert_eq!(cat.json["slug"], "portraits-headshots");
    let cat_id = cat.json["id"].as_str().unwrap().to_string();
    let t = template(&app, &boss, json!({"title": "Noir", "prompt": "a noir portrait", "category_id": cat_id})).await;
    let t_id = t["id"].as_str().unwrap().to_string();

    // Every write route, as a user (403) and as nobody (401); nothing changes.
    let writes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, "/api/v1/studio/categories".into(), Some(json!({"name": "X"}))),
        (Method::PATCH, format!("/api/v1/studio/categories/{cat_id}"), Some(json!({"name": "X"}))),
        (Method::DELETE, format!("/api/v1/studio/categories/{cat_id}"), None),
        (Method::POST, "/api/v1/studio/templates".into(), Some(json!({"title": "X", "prompt": "x"}))),
        (Method::PATCH, format!("/api/v1/studio/templates/{t_id}"), Some(json!({"title": "X"}))),
        (Method::DELETE, format!("/api/v1/studio/templates/{t_id}"), None),
        (Method::PATCH, format!("/api/v1/studio/users/{}", user.user_id), Some(json!({"tier": "premium"}))),
    ];
    for (method, path, body) in &writes {
        app.call(method.clone(), path, Some(&user.access), body.clone()).await.expect_problem(403, "admin_only");
        app.call(method.clone(), path, None, body.clone()).await.expect(401);
    }
    put_image(&app, &user.access, &t_id, png(64, 64)).await.expect_problem(403, "admin_only");
    // Refused before the body is read: a bad body or a non-image is still 403, not 422 or 415.
    app.post("/api/v1/studio/templates", Some(&user.access), json!({"title": 5}))
        .await
        .expect_problem(403, "admin_only");
    put_image(&app, &user.access, &t_id, b"not an image".to_vec()).await.expect_problem(403, "admin_only");
    let now = app.get(&format!("/api/v1/studio/templates/{t_id}"), None).await.expect(200).json;
    assert_eq!((now["title"].as_str(), now["image_url"].as_str()), (Some("Noir"), None));
    let me = app.get("/api/v1/studio/me", Some(&user.access)).await.expect(200).json;
    assert_eq!((me["tier"].as_str(), me["credits"].as_i64()), (Some("free"), Some(3)), "the tier did not change");

    // Categories: slugs unique, a category with templates is not deleted, an empty one is.
    app.post("/api/v1/studio/categories", Some(&boss.access), json!({"name": "Other", "slug": "portraits-headshots"}))
        .await
        .expect_problem(409, "slug_taken");
    app.post("/api/v1/studio/categories", Some(&boss.access), json!({"name": "Bad", "slug": "Not A Slug"}))
        .await
        .expect_problem(422, "validation_failed");
    app.delete(&format!("/api/v1/studio/categories/{cat_id}"), Some(&boss.access), None)
        .await
        .expect_problem(409, "category_not_empty");
    let empty = app
        .post("/api/v1/studio/categories", Some(&boss.access), json!({"name": "Empty", "position": -1}))
        .await
        .expect(201)
        .json;
    let listed = app.get("/api/v1/studio/categories", None).await.expect(200).json;
    assert_eq!(
        listed.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect::<Vec<_>>(),
        ["Empty", "Portraits & Headshots"]
    );
    let renamed = app
        .patch(
            &format!("/api/v1/studio/categories/{}", empty["id"].as_str().unwrap()),
            Some(&boss.access),
            json!({"name": "Still empty"}),
        )
        .await
        .expect(200)
        .json;
    assert_eq!(renamed["name"], "Still empty");
    app.delete(&format!("/api/v1/studio/categories/{}", empty["id"].as_str().unwrap()), Some(&boss.access), None)
        .await
        .expect(204);

    // Templates: checked fields, a category that exists, tags folded.
    for (body, field) in [
        (json!({"title": "", "prompt": "p"}), "title"),
        (json!({"title": "T", "prompt": " "}), "prompt"),
        (json!({"title": "T", "prompt": "p", "tags": ["two words"]}), "tags"),
        (json!({"title": "T", "prompt": "p", "tags": vec!["t"; 21]}), "tags"),
        (json!({"title": "T", "prompt": "p".repeat(4001)}), "prompt"),
        (json!({"title": "T", "prompt": "p", "category_id": uuid::Uuid::now_v7()}), "category_id"),
    ] {
        let r = app.post("/api/v1/studio/templates", Some(&boss.access), body.clone()).await;
        assert_eq!(r.expect_problem(422, "validation_failed").error_fields(), [field], "{body}");
    }
    let changed = app
        .patch(
            &format!("/api/v1/studio/templates/{t_id}"),
            Some(&boss.access),
            json!({"tags": ["Film", "film", "B-W"], "style": "grainy", "category_id": null}),
        )
        .await
        .expect(200)
        .json;
    assert_eq!(changed["tags"], json!(["film", "b-w"]));
    assert_eq!((changed["style"].as_str(), changed["category_id"].as_str()), (Some("grainy"), None));
    assert_eq!(changed["title"], "Noir", "a field left out stays");

    // The picture: checked by content, public, with a thumbnail; replacing it removes the old files.
    put_image(&app, &boss.access, &t_id, b"not an image at all".to_vec()).await.expect(415);
    let with_image = put_image(&app, &boss.access, &t_id, png(300, 200)).await.expect(200).json;
    let url = with_image["image_url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{}/api/v1/studio/templates/", app.config.public_url)), "{url}");
    let (status, ct, body) = fetch(&app, &url).await;
    assert_eq!((status, ct.as_str()), (200, "image/png"));
    assert_eq!(image::load_from_memory(&body).unwrap().width(), 300);
    let (status, ct, body) = fetch(&app, with_image["thumbnail_url"].as_str().unwrap()).await;
    assert_eq!((status, ct.as_str()), (200, "image/jpeg"));
    assert_eq!(image::load_from_memory(&body).unwrap().width(), 256);
    let files_before = crate::avatars::files_under(&app.config.data_dir.join("files"));
    assert_eq!(files_before.len(), 2, "{files_before:?}");
    put_image(&app, &boss.access, &t_id, png(100, 100)).await.expect(200);
    app.outbox_idle().await;
    let files_after = crate::avatars::files_under(&app.config.data_dir.join("files"));
    assert_eq!(files_after.len(), 2, "the old picture and thumbnail are gone: {files_after:?}");
    assert!(files_after.iter().all(|f| !files_before.contains(f)));

    // Deleting the template takes its favourites and files.
    app.put(&format!("/api/v1/studio/templates/{t_id}/favorite"), Some(&user.access), None).await.expect(200);
    app.delete(&format!("/api/v1/studio/templates/{t_id}"), Some(&boss.access), None).await.expect(204);
    app.get(&format!("/api/v1/studio/templates/{t_id}"), None).await.expect(404);
    app.outbox_idle().await;
    assert!(crate::avatars::files_under(&app.config.data_dir.join("files")).is_empty());
    let favs = app.get("/api/v1/studio/favorites", Some(&user.access)).await.expect(200).json;
    assert_eq!(favs["items"], json!([]));
    app.delete(&format!("/api/v1/studio/categories/{cat_id}"), Some(&boss.access), None).await.expect(204);
}

async fn the_catalogue_filters_sorts_and_pages(app: TestApp) {
    let boss = admin(&app, "st-browse@example.com").await;
    let fan = app.register("st-fan@example.com").await;
    let cat =
        app.post("/api/v1/studio/categories", Some(&boss.access), json!({"name": "Fantasy"})).await.expect(201).json;
    let cat_id = cat["id"].as_str().unwrap();
    let mut ids = Vec::new();
    for i in 0..7 {
        let t = template(
            &app,
            &boss,
            json!({
                "title": format!("T{i}"),
                "prompt": if i % 2 == 0 { "a Dragon over the sea" } else { "a quiet café" },
                "category_id": if i < 3 { Some(cat_id) } else { None },
                "tags": if i % 3 == 0 { vec!["epic"] } else { vec!["calm"] },
                "is_trending": i >= 5,
            }),
        )
        .await;
        ids.push(t["id"].as_str().unwrap().to_string());
    }
    let list = |query: &str| {
        let app = &app;
        let path = format!("/api/v1/studio/templates{query}");
        async move { app.get(&path, None).await.expect(200).json }
    };
    assert_eq!(titles(&list("").await), ["T6", "T5", "T4", "T3", "T2", "T1", "T0"], "newest first");
    assert_eq!(titles(&list(&format!("?category={cat_id}")).await), ["T2", "T1", "T0"]);
    assert_eq!(titles(&list("?category=fantasy").await), ["T2", "T1", "T0"], "by slug too");
    assert_eq!(titles(&list("?category=nope").await), Vec::<String>::new());
    assert_eq!(titles(&list("?q=DRAGON").await), ["T6", "T4", "T2", "T0"], "case ignored");
    assert_eq!(titles(&list("?q=cafe").await), ["T5", "T3", "T1"], "accents ignored");
    assert_eq!(titles(&list("?q=100%25").await), Vec::<String>::new(), "wildcards are literal");
    assert_eq!(titles(&list("?tag=EPIC").await), ["T6", "T3", "T0"]);
    assert_eq!(titles(&list("?tag=epic&q=dragon&category=fantasy").await), ["T0"]);

    // Likes order `popular` and `trending`; pages of either order walk every row once.
    for (i, n) in [(1, 3), (4, 2), (6, 1), (5, 2)] {
        for k in 0..n {
            let who = app.register(&format!("st-liker{i}-{k}@example.com")).await;
            app.put(&format!("/api/v1/studio/templates/{}/favorite", ids[i]), Some(&who.access), None)
                .await
                .expect(200);
        }
    }
    assert_eq!(titles(&list("?sort=popular").await), ["T1", "T5", "T4", "T6", "T3", "T2", "T0"]);
    assert_eq!(titles(&list("?trending=true").await), ["T5", "T6"], "trending sorts by likes");
    assert_eq!(titles(&list("?trending=true&sort=newest").await), ["T6", "T5"]);
    for sort in ["newest", "popular"] {
        let mut seen = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = list(&format!("?sort={sort}&limit=2&cursor={cursor}")).await;
            seen.extend(titles(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => break,
            }
        }
        assert_eq!(seen, titles(&list(&format!("?sort={sort}")).await), "{sort}");
    }
    for bad in ["?limit=0", "?limit=101", "?cursor=garbage", "?sort=popular&cursor=1", "?sort=random", "?tag=a%20b"] {
        app.get(&format!("/api/v1/studio/templates{bad}"), None).await.expect(if bad == "?sort=random" {
            400
        } else {
            422
        });
    }

    // Signed in, each template says whether it is a favourite; anonymous, null.
    app.put(&format!("/api/v1/studio/templates/{}/favorite", ids[2]), Some(&fan.access), None).await.expect(200);
    let mine = app.get("/api/v1/studio/templates?limit=7", Some(&fan.access)).await.expect(200).json;
    let flags: Vec<bool> =
        mine["items"].as_array().unwrap().iter().map(|t| t["is_favorite"].as_bool().unwrap()).collect();
    assert_eq!(flags, [false, false, false, false, true, false, false]);
    assert!(list("").await["items"].as_array().unwrap().iter().all(|t| t["is_favorite"].is_null()));

    // Views: once an hour per viewer (a signed-in user, or an address).
    let path = format!("/api/v1/studio/templates/{}", ids[0]);
    assert_eq!(app.get(&path, Some(&fan.access)).await.expect(200).json["view_count"], 1);
    assert_eq!(app.get(&path, Some(&fan.access)).await.expect(200).json["view_count"], 1);
    assert_eq!(app.get(&path, None).await.expect(200).json["view_count"], 2);
    assert_eq!(app.get(&path, None).await.expect(200).json["view_count"], 2);
    let other = app.register("st-viewer@example.com").await;
    let seen = app.get(&path, Some(&other.access)).await.expect(200).json;
    assert_eq!((seen["view_count"].as_i64(), seen["is_favorite"].as_bool()), (Some(3), Some(false)));
}

async fn favourites_are_idempotent_and_exact(app: TestApp) {
    let boss = admin(&app, "st-fav-admin@example.com").await;
    let me = app.register("st-fav@example.com").await;
    let a = template(&app, &boss, json!({"title": "A", "prompt": "a"})).await;
    let b = template(&app, &boss, json!({"title": "B", "prompt": "b"})).await;
    let fav = |t: &Value| format!("/api/v1/studio/templates/{}/favorite", t["id"].as_str().unwrap());
    for _ in 0..2 {
        let r = app.put(&fav(&a), Some(&me.access), None).await.expect(200).json;
        assert_eq!((r["is_favorite"].as_bool(), r["like_count"].as_i64()), (Some(true), Some(1)));
    }
    let toggled = app.post(&format!("{}/toggle", fav(&b)), Some(&me.access), json!({})).await.expect(200).json;
    assert_eq!((toggled["is_favorite"].as_bool(), toggled["like_count"].as_i64()), (Some(true), Some(1)));
    let list = app.get("/api/v1/studio/favorites", Some(&me.access)).await.expect(200).json;
    assert_eq!(titles(&list), ["B", "A"], "most recently added first");
    let page = app.get("/api/v1/studio/favorites?limit=1", Some(&me.access)).await.expect(200).json;
    let next = page["next_cursor"].as_str().unwrap();
    let rest =
        app.get(&format!("/api/v1/studio/favorites?limit=1&cursor={next}"), Some(&me.access)).await.expect(200).json;
    assert_eq!((titles(&page), titles(&rest)), (vec!["B".to_string()], vec!["A".to_string()]));
    app.get("/api/v1/studio/favorites?cursor=nope", Some(&me.access)).await.expect_problem(422, "validation_failed");
    let toggled = app.post(&format!("{}/toggle", fav(&b)), Some(&me.access), json!({})).await.expect(200).json;
    assert_eq!((toggled["is_favorite"].as_bool(), toggled["like_count"].as_i64()), (Some(false), Some(0)));
    for _ in 0..2 {
        let r = app.delete(&fav(&a), Some(&me.access), None).await.expect(200).json;
        assert_eq!((r["is_favorite"].as_bool(), r["like_count"].as_i64()), (Some(false), Some(0)));
    }
    let profile = app.get("/api/v1/studio/me", Some(&me.access)).await.expect(200).json;
    assert_eq!(profile["favorites"], 0);
    let ghost = format!("/api/v1/studio/templates/{}/favorite", uuid::Uuid::now_v7());
    app.put(&ghost, Some(&me.access), None).await.expect(404);
    app.delete(&ghost, Some(&me.access), None).await.expect(404);
    app.post(&format!("{ghost}/toggle"), Some(&me.access), json!({})).await.expect(404);
    app.put(&fav(&a), None, None).await.expect(401);

    // 100 users toggle twice each, all at once: the count ends equal to the rows.
    let users = app.many_users("st-toggler", 100).await;
    let path = format!("{}/toggle", fav(&a));
    let calls = users.iter().flat_map(|u| [u, u]).map(|u| {
        let (app, path) = (&app, &path);
        async move { app.post(path, Some(&u.access), json!({})).await.status }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let db = app.db().await;
    let id: uuid::Uuid = a["id"].as_str().unwrap().parse().unwrap();
    let (rows, likes): (i64, i64) = platform::with_db!(&db, |pool| {
        sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM studio_favorites WHERE template_id = $1),
                    (SELECT like_count FROM studio_templates WHERE id = $1)",
        )
        .bind(id)
        .fetch_one(pool)
        .await
    })
    .unwrap();
    assert_eq!(likes, rows, "like_count equals the favourites");
    let shown = app.get(&format!("/api/v1/studio/templates/{id}"), None).await.expect(200).json;
    assert_eq!(shown["like_count"].as_i64(), Some(rows));

    // An account that goes takes its likes with it.
    let leaving = app.register("st-leaving@example.com").await;
    app.put(&fav(&b), Some(&leaving.access), None).await.expect(200);
    let before = app.put(&fav(&b), Some(&me.access), None).await.expect(200).json["like_count"].as_i64().unwrap();
    assert_eq!(before, 2);
    app.delete("/api/v1/users/me", Some(&leaving.access), Some(json!({"password": PASSWORD}))).await.expect(204);
    let after =
        app.get(&format!("/api/v1/studio/templates/{}", b["id"].as_str().unwrap()), None).await.expect(200).json;
    assert_eq!(after["like_count"], 1, "the departed user's like is gone");
}

testkit::api_tests!(
    only_administrators_write_the_catalogue,
    the_catalogue_filters_sorts_and_pages,
    favourites_are_idempotent_and_exact
);
