//! Typed helpers for talking to a [`TestApp`] over HTTP.

use crate::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

/// A response, read completely.
#[derive(Debug)]
pub struct Resp {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body parsed as JSON (Null when empty or not JSON).
    pub json: Value,
    /// Raw body text.
    pub text: String,
}

impl Resp {
    /// The problem `code` of an error answer.
    pub fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or_default()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The fields a `validation_failed` problem names, sorted.
    pub fn error_fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = self.json["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        fields.sort();
        fields
    }

    /// Panics unless the status is `status`, showing the body.
    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        self
    }

    /// Panics unless this is a problem document with `status` and `code`.
    #[track_caller]
    pub fn expect_problem(self, status: u16, code: &str) -> Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        assert_eq!(self.header("content-type"), Some("application/problem+json"), "body: {}", self.text);
        assert_eq!(self.code(), code, "body: {}", self.text);
        self
    }
}

/// A signed-in user as a test sees it.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user id.
    pub user_id: String,
    /// The email (if any).
    pub email: String,
    /// Access token.
    pub access: String,
    /// Refresh token.
    pub refresh: String,
}

impl Session {
    /// From a session answer.
    pub fn from_json(v: &Value) -> Self {
        Self {
            user_id: v["user"]["id"].as_str().unwrap_or_default().to_string(),
            email: v["user"]["email"].as_str().unwrap_or_default().to_string(),
            access: v["access_token"].as_str().unwrap_or_default().to_string(),
            refresh: v["refresh_token"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// The password helpers use for every registered user.
pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// Sends a request; `body` as JSON when given; `token` as a bearer token when given.
    /// Answers of `/api/v1` routes are held to the served OpenAPI document ([`crate::contract`]).
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        let mut req = self.http.request(method.clone(), self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        let resp = Self::read(req.send().await.expect("request failed")).await;
        self.hold_to_contract(&method, path, body.as_ref(), &resp);
        resp
    }

    /// Panics when an answer of an `/api/v1` route (or a request the server accepted) departs
    /// from the served OpenAPI document.
    pub fn hold_to_contract(&self, method: &Method, path: &str, body: Option<&Value>, resp: &Resp) {
        // A link the app handed out is on its own address.
        let path = path.strip_prefix(self.base.as_str()).unwrap_or(path);
        if !path.starts_with("/api/v1/") || path.starts_with("/api/v1/openapi.json") {
            return;
        }
        // Documented on every operation, but never an answer a test may get, except the 503 of
        // a dependency a fault test cut off, and of a feature this server is not set up for.
        let unavailable = resp.status == 503 && matches!(resp.code(), "unavailable" | "generation_not_configured");
        assert!(resp.status < 500 || unavailable, "{method} {path} answered {}: {}", resp.status, resp.text);
        let content_type = resp.header("content-type").unwrap_or_default();
        let checked = self
            .contract
            .check_response(method.as_str(), path, resp.status, content_type, &resp.json)
            .and_then(|()| match body {
                Some(b) if (200..300).contains(&resp.status) => self.contract.check_request(method.as_str(), path, b),
                _ => Ok(()),
            });
        if let Err(why) = checked {
            panic!("OpenAPI contract broken: {why}");
        }
    }

    /// Reads a response completely.
    pub async fn read(resp: reqwest::Response) -> Resp {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, json, text }
    }

    /// GET.
    pub async fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.call(Method::GET, path, token, None).await
    }

    /// POST with a JSON body and an `Idempotency-Key`.
    pub async fn post_idempotent(&self, path: &str, token: &str, key: &str, body: Value) -> Resp {
        let req = self.http.post(self.url(path)).bearer_auth(token).header("idempotency-key", key).json(&body);
        let resp = Self::read(req.send().await.expect("request failed")).await;
        self.hold_to_contract(&Method::POST, path, Some(&body), &resp);
        resp
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::POST, path, token, Some(body)).await
    }

    /// PATCH with a JSON body.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    /// PUT, optionally with a JSON body.
    pub async fn put(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.call(Method::PUT, path, token, body).await
    }

    /// DELETE, optionally with a JSON body.
    pub async fn delete(&self, path: &str, token: Option<&str>, body: Option<Value>) -> Resp {
        self.call(Method::DELETE, path, token, body).await
    }

    /// Registers `email` with [`PASSWORD`]; panics unless it answers 201.
    pub async fn register(&self, email: &str) -> Session {
        let name = email.split('@').next().unwrap_or("user");
        let r = self
            .post("/api/v1/auth/register", None, json!({"email": email, "password": PASSWORD, "name": name}))
            .await
            .expect(201);
        Session::from_json(&r.json)
    }

    /// `count` users named `{prefix}{i}@example.com`, registered through the accounts service
    /// from `count` different addresses (the API allows 30 registrations an hour per address,
    /// and a test of many users is not a test of that limit).
    pub async fn many_users(&self, prefix: &str, count: usize) -> Vec<Session> {
        let mut sessions = Vec::with_capacity(count);
        for i in 0..count {
            let ip = std::net::IpAddr::from([10, 77, (i / 250) as u8, (i % 250) as u8 + 1]);
            let client = accounts::ClientInfo::new(platform::http::ClientIp(ip), Some("testkit"));
            let email = format!("{prefix}{i}@example.com");
            let tokens = self
                .accounts
                .register(&email, PASSWORD, &format!("{prefix}{i}"), accounts::Locale::En, &client)
                .await
                .expect("register through the service");
            sessions.push(Session::from_json(&serde_json::to_value(&tokens).expect("tokens as JSON")));
        }
        sessions
    }

    /// Registers `email` and verifies it with the emailed code (as a real user would).
    pub async fn register_verified(&self, email: &str) -> Session {
        let session = self.register(email).await;
        let mail = crate::files::read_mail(&self.mail_dir(), email, 1).await;
        let code = crate::files::code_in(&mail.text);
        let r = self.post("/api/v1/auth/email/verify", None, json!({"email": email, "code": code})).await;
        assert!(r.status < 300, "verifying {email}: {} {}", r.status, r.text);
        session
    }

    /// Makes the registered user `email` an administrator (in the database, as the CLI does;
    /// roles are never given through the API) and signs them in: the new session has the role.
    pub async fn promote_to_admin(&self, email: &str) -> Session {
        let db = self.db().await;
        platform::with_db!(&db, |pool| {
            sqlx::query("UPDATE users SET role = 'admin' WHERE email = $1").bind(email).execute(pool).await.map(|_| ())
        })
        .expect("promote to admin");
        Session::from_json(&self.login(email, PASSWORD).await.expect(200).json)
    }

    /// Signs in `email` with `password`.
    pub async fn login(&self, email: &str, password: &str) -> Resp {
        self.post("/api/v1/auth/login", None, json!({"email": email, "password": password})).await
    }
}

impl TestApp {
    /// Sends a request whose body the server will refuse before reading it all (413). The
    /// server answers and closes the connection early, so the client may fail while still
    /// writing (a broken pipe, a reset): that is the transport, not the server. Each try uses
    /// a fresh connection; the first answer that arrives is returned.
    pub async fn send_oversized(&self, build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder) -> Resp {
        let mut last_error = None;
        for _ in 0..10 {
            let client = reqwest::Client::builder().no_proxy().build().expect("http client");
            match build(&client).send().await {
                Ok(resp) => return Self::read(resp).await,
                Err(e) => last_error = Some(e),
            }
        }
        panic!("no answer to the oversized request: {last_error:?}");
    }
}
