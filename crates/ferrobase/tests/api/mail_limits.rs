//! Issue #9 item 6: mail caused by someone else's action is bounded. An address gets at most
//! ten such mails an hour, whoever sends; a person sends at most fifty invitations an hour
//! (answered alike for addresses with and without accounts); a burst of notifications of one
//! kind becomes one mail, the rest wait in the inbox.

use serde_json::json;
use testkit::{Session, TestApp, mails_to};

async fn project(app: &TestApp, owner: &Session, name: &str) -> String {
    let r = app.post("/api/v1/work/projects", Some(&owner.access), json!({"name": name, "visibility": "private"}));
    r.await.expect(201).json["id"].as_str().unwrap().to_string()
}

async fn invite(app: &TestApp, by: &Session, project: &str, email: &str) -> testkit::Resp {
    let body = json!({"email": email, "role": "member"});
    app.post(&format!("/api/v1/work/projects/{project}/members"), Some(&by.access), body).await
}

async fn invitation_mail_is_bounded_per_address_and_sender(app: TestApp) {
    let owner = app.register("inviter@example.com").await;
    let mut projects = Vec::new();
    for i in 0..11 {
        let p = project(&app, &owner, &format!("Project {i}")).await;
        invite(&app, &owner, &p, "target@example.com").await.expect(202);
        projects.push(p);
    }
    // An address with an account, for the refusal below.
    app.register("other@example.com").await;
    app.outbox_idle().await;
    assert_eq!(mails_to(&app.mail_dir(), "target@example.com").len(), 10, "ten an hour to one address");
    // The eleventh invitation stands without a mail.
    let listed = app.get(&format!("/api/v1/work/projects/{}/invitations", projects[10]), Some(&owner.access)).await;
    assert!(listed.expect(200).text.contains("target@example.com"));

    // Fifty invitations an hour per sender; the fifty-first is refused whoever it is for.
    for i in 0..39 {
        invite(&app, &owner, &projects[0], &format!("guest{i}@example.com")).await.expect(202);
    }
    invite(&app, &owner, &projects[0], "one-more@example.com").await.expect_problem(429, "rate_limited");
    // The forty invitations of the first project come a page at a time.
    let path = format!("/api/v1/work/projects/{}/invitations?limit=25", projects[0]);
    let first = app.get(&path, Some(&owner.access)).await.expect(200);
    assert_eq!(first.json["items"].as_array().unwrap().len(), 25);
    let next = format!("{path}&cursor={}", first.json["next_cursor"].as_str().unwrap());
    let rest = app.get(&next, Some(&owner.access)).await.expect(200);
    assert_eq!(rest.json["items"].as_array().unwrap().len(), 15);
    assert!(rest.json["next_cursor"].is_null());
    invite(&app, &owner, &projects[0], "other@example.com").await.expect_problem(429, "rate_limited");
}

async fn a_burst_of_notifications_is_one_mail(app: TestApp) {
    let loud = app.register_verified("loud@example.com").await;
    let quiet = app.register_verified("quiet@example.com").await;
    let room = app.post("/api/v1/chat/rooms", Some(&loud.access), json!({"name": "Busy", "visibility": "public"}));
    let room = room.await.expect(201).json["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/chat/rooms/{room}/join"), Some(&quiet.access), json!({})).await.expect(200);
    for i in 0..5 {
        let body = json!({"content": format!("@quiet look at this, number {i}")});
        app.post(&format!("/api/v1/chat/rooms/{room}/messages"), Some(&loud.access), body).await.expect(201);
    }
    let inbox = app.get("/api/v1/notifications?limit=50", Some(&quiet.access)).await.expect(200);
    let mentions = inbox.json["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "chat_mention").count();
    assert_eq!(mentions, 5, "every mention is in the inbox");
    // Another kind still mails.
    let p = project(&app, &loud, "Together").await;
    let body = json!({"user_id": quiet.user_id, "role": "member"});
    app.post(&format!("/api/v1/work/projects/{p}/members"), Some(&loud.access), body).await.expect(201);
    app.outbox_idle().await;
    let mails = mails_to(&app.mail_dir(), "quiet@example.com");
    assert_eq!(
        mails.len(),
        3,
        "the code, one mention mail, the project: {:?}",
        mails.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let mention = mails.iter().find(|m| m.subject.contains("mentioned you")).expect("one mention mail");
    assert!(
        mention.text.contains("look at this, number") && mention.text.contains("wait in your inbox"),
        "{}",
        mention.text
    );
    assert!(mails.iter().any(|m| m.text.contains("Together")), "the project mail");
}

testkit::api_tests!(invitation_mail_is_bounded_per_address_and_sender, a_burst_of_notifications_is_one_mail);
