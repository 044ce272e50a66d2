//! The native WebSocket gateway at `/api/v1/realtime`.
//!
//! Authentication: `Authorization: Bearer`, `?token=` (never logged: the request log keeps the
//! path only), or a first frame `{"type":"auth","token":…}` within 10 s. Client frames:
//! `auth`, `subscribe {topic}`, `unsubscribe {topic}`, `ping`, and module commands (`chat.send`
//! …); each may carry a `ref` that the `ack` or `error` answer echoes. Server frames: `event`,
//! `ack`, `error`, `pong`, `resync` (events were dropped for this slow connection), `reauth`
//! (the token expired: send a fresh `auth` within 5 s or the connection closes with 4001).
//! A malformed or unknown frame gets an `error` and the connection stays open. Frames are
//! limited to 64 KiB and messages to a per-connection rate (close code 1008).

use super::hub::{Connection, Frames, Hub};
use crate::auth::{AuthUser, Authenticator, bearer_token};
use crate::error::ApiError;
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{Query, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest frame or message a client may send.
pub const MAX_FRAME_BYTES: usize = 64 * 1024;
/// Time to authenticate by first frame.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to answer `reauth` with a fresh token.
pub const REAUTH_GRACE: Duration = Duration::from_secs(5);
/// Interval of server pings; two unanswered pings close the connection.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Close code for missing, invalid or expired authentication.
pub const CLOSE_UNAUTHORIZED: u16 = 4001;
/// Close code for policy violations (message rate).
pub const CLOSE_POLICY: u16 = 1008;

/// A module command sent over the gateway (`{"type":"chat.send", …}`).
#[async_trait::async_trait]
pub trait CommandHandler: Send + Sync {
    /// Runs the command for `user`; the value is sent back in the `ack` as `data`.
    async fn handle(&self, user: &AuthUser, frame: &Value) -> Result<Value, ApiError>;
}

/// The modules' commands by frame type: filled once, when the application is assembled (after
/// the routes that hold the gateway were built), and read-only from then on.
#[derive(Clone, Default)]
pub struct CommandTable(Arc<std::sync::OnceLock<HashMap<String, Arc<dyn CommandHandler>>>>);

impl CommandTable {
    /// Sets the commands; a second call changes nothing.
    pub fn fill(&self, commands: HashMap<String, Arc<dyn CommandHandler>>) {
        let _ = self.0.set(commands);
    }

    /// The handler of frames of type `kind`.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn CommandHandler>> {
        self.0.get().and_then(|commands| commands.get(kind))
    }
}

/// Everything the gateway needs.
#[derive(Clone)]
pub struct Gateway {
    /// The hub.
    pub hub: Hub,
    /// Checks tokens.
    pub auth: Authenticator,
    /// Module commands by frame type.
    pub commands: CommandTable,
    /// Messages per second a connection may send (sustained).
    pub rate_per_sec: f64,
    /// Messages a connection may send in a burst.
    pub rate_burst: f64,
    /// The instance's firehose load, which decides whether firehose connections are paced.
    pub pacing: Arc<FirehoseLoad>,
}

impl Gateway {
    /// Binds `conn` to `user`'s session, so that ending the session closes it, and tells whether
    /// the session is still live; when it is not, the connection is told its session ended (its
    /// loop closes it, as for any end). A session ended after its token was checked but before
    /// the binding found no connection to close: asked after binding, the check sees such an
    /// end (this instance drops its cached sessions before it tells connections), and an end
    /// after binding finds the connection. A check that could not be made (database down)
    /// keeps the connection, as the token check did. On another instance, an end whose
    /// "session ended" message overtakes its cache announcement can still be missed until the
    /// cached session expires (seconds).
    pub async fn bind_live(&self, conn: &Connection, user: &AuthUser) -> bool {
        self.hub.bind(conn, user);
        let live = !matches!(self.auth.sessions.check(user.user_id, user.session_id).await, Ok(None));
        if !live {
            conn.ended.notify_one();
        }
        live
    }
}

/// The gateway's route.
pub fn router(gateway: Gateway) -> OpenApiRouter {
    OpenApiRouter::new().routes(routes!(realtime)).with_state(gateway)
}

/// `?token=` for clients that cannot set headers.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenQuery {
    /// An access token (browsers cannot set headers on WebSocket requests).
    pub token: Option<String>,
}

/// Open the realtime WebSocket.
#[utoipa::path(get, path = "/api/v1/realtime", tag = "realtime", params(TokenQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = 426, description = "Not a WebSocket request", body = crate::error::Problem)))]
async fn realtime(
    State(gateway): State<Gateway>,
    parts: Parts,
    Query(query): Query<TokenQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|e| {
        ApiError::new(axum::http::StatusCode::UPGRADE_REQUIRED, "websocket_required", e.body_text())
            .with_header(axum::http::header::UPGRADE, axum::http::HeaderValue::from_static("websocket"))
    })?;
    let token = bearer_token(&parts).map(str::to_string).or(query.token);
    let user = match token {
        Some(token) => Some(gateway.auth.authenticate(&token).await?),
        None => None,
    };
    Ok(limits(ws).on_upgrade(move |socket| serve(gateway, socket, user, Mode::Native)).into_response())
}

/// Frame limits and buffer sizes for every socket of ours. The read buffer starts small (it
/// grows for large frames) because idle connections would otherwise hold 128 KiB each; writes
/// gather in a buffer of up to 16 KiB, flushed after each batch of queued events.
pub fn limits(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .read_buffer_size(1024)
        .write_buffer_size(16 * 1024)
}

/// A per-connection message budget: `burst` at once, refilled at `rate` per second.
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    /// A full bucket.
    pub fn full(burst: f64) -> Self {
        Self { tokens: burst, last: Instant::now() }
    }

    /// Takes one message from the budget; false when it is spent.
    pub fn take(&mut self, rate: f64, burst: f64) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Translates a client frame into a command frame (None: not understood).
pub type Inbound = Arc<dyn Fn(&Value) -> Option<Value> + Send + Sync>;
/// Translates a queue entry of hub event frames into the client's frames, in order, leaving out
/// those not for this client. Every subscriber of a topic is handed the same entry (one
/// allocation), so a translation can be done once per entry and shared.
pub type Outbound = Arc<dyn Fn(&Frames) -> Frames + Send + Sync>;

/// A socket that speaks a module's own frames on one topic (the seed-compatible chat room
/// socket), on the gateway's machinery: auth, heartbeat, reauth, limits.
#[derive(Clone)]
pub struct TopicSocket {
    /// The one topic the socket follows.
    pub topic: String,
    /// Turns a client frame into a command frame for [`Gateway::commands`] (None: unknown).
    pub inbound: Inbound,
    /// Turns a queue entry of hub event frames into the client's frames, leaving out those not
    /// for this client.
    pub outbound: Outbound,
}

/// What a connection speaks.
#[derive(Clone)]
pub enum Mode {
    /// The native protocol.
    Native,
    /// A module's socket on one topic.
    Topic(TopicSocket),
}

mod gate;
mod pace;
mod session;
mod write;

pub use pace::{FirehoseLoad, PACING_FROM_PER_CORE};
pub use session::serve;
