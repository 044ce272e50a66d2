//! HTTP routes under `/api/v1/chat`: parse, call [`Chat`], answer.

use crate::model::{Member, MemberRole, Message, Room, Visibility};
use crate::service::{Chat, Scope};
use axum::extract::ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection};
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use garde::Validate;
use platform::auth::{AuthUser, Authenticator, bearer_token};
use platform::extract::{Json, Path, Query};
use platform::http::created;
use platform::pagination::{Page, PageQuery};
use platform::realtime::{Gateway, Mode};
use platform::{ApiError, ApiResult};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// State of the chat routes, behind one `Arc`: axum clones a route's state for every request,
/// and cloning the parts one by one (a dozen reference counts, shared by both cores) was 2 % of
/// a cached history read (docs/benchmarks.md, eleventh session).
#[derive(Clone)]
pub struct ChatState(std::sync::Arc<ChatParts>);

impl std::ops::Deref for ChatState {
    type Target = ChatParts;

    fn deref(&self) -> &ChatParts {
        &self.0
    }
}

/// What the chat routes use.
pub struct ChatParts {
    /// The service.
    pub chat: Chat,
    /// Checks tokens.
    pub auth: Authenticator,
    /// Runs the per-room sockets.
    pub gateway: Gateway,
    /// The room sockets' shared frame translations.
    pub seeds: crate::realtime::SeedFrames,
}

impl FromRef<ChatState> for Authenticator {
    fn from_ref(s: &ChatState) -> Self {
        s.auth.clone()
    }
}

/// The chat routes.
pub fn router(chat: Chat, auth: Authenticator, gateway: Gateway) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_rooms, create_room))
        .routes(routes!(get_room, update_room, delete_room))
        .routes(routes!(join_room))
        .routes(routes!(leave_room))
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
        .routes(routes!(open_direct_room))
        .routes(routes!(list_messages, send_message))
        .routes(routes!(edit_message, delete_message))
        .routes(routes!(list_mentions))
        .routes(routes!(mark_read))
        .routes(routes!(room_socket))
        .with_state(ChatState(std::sync::Arc::new(ChatParts { chat, auth, gateway, seeds: Default::default() })))
}

/// New room.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = chat::CreateRoomRequest)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    /// 1–100 characters.
    #[garde(length(chars, min = 1, max = 100))]
    pub name: String,
    /// Up to 1000 characters.
    #[garde(inner(length(chars, max = 1000)))]
    pub description: Option<String>,
    /// `public` or `private`.
    #[garde(skip)]
    pub visibility: Visibility,
}

/// Room changes.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = chat::UpdateRoomRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateRoomRequest {
    /// 1–100 characters.
    #[garde(inner(length(chars, min = 1, max = 100)))]
    pub name: Option<String>,
    /// Up to 1000 characters.
    #[garde(inner(length(chars, max = 1000)))]
    pub description: Option<String>,
}

/// Which rooms to list.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[schema(as = chat::ScopeParam)]
#[serde(rename_all = "snake_case")]
pub enum ScopeParam {
    /// Rooms I am in.
    #[default]
    Joined,
    /// Public rooms.
    Public,
}

/// Room list query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoomsQuery {
    /// `joined` (default) or `public`.
    pub scope: Option<ScopeParam>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// History query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The previous page's `next_cursor`: the messages older than its last one.
    pub cursor: Option<String>,
    /// The same as `cursor` (the original chat app's name); give one or the other.
    pub before: Option<String>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
}

/// A new member.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = chat::AddMemberRequest)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    /// The user to add.
    #[garde(skip)]
    pub user_id: Uuid,
    /// `member` (default) or `admin`.
    #[garde(skip)]
    pub role: Option<MemberRole>,
}

/// A role change.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = chat::UpdateMemberRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// `member` or `admin`.
    #[garde(skip)]
    pub role: MemberRole,
}

/// The other user of a direct room.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = chat::DirectRequest)]
#[serde(deny_unknown_fields)]
pub struct DirectRequest {
    /// The other user.
    #[garde(skip)]
    pub user_id: Uuid,
}

/// A new message.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = chat::SendMessageRequest)]
#[serde(deny_unknown_fields)]
pub struct SendMessageRequest {
    /// 1–4000 characters.
    #[garde(length(chars, min = 1, max = 4000))]
    pub content: String,
    /// The client's own id for the message, echoed in the broadcast.
    #[garde(inner(length(chars, max = 100)))]
    pub client_id: Option<String>,
}

/// An edit.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = chat::EditMessageRequest)]
#[serde(deny_unknown_fields)]
pub struct EditMessageRequest {
    /// 1–4000 characters.
    #[garde(length(chars, min = 1, max = 4000))]
    pub content: String,
}

/// A read marker.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = chat::ReadRequest)]
#[serde(deny_unknown_fields)]
pub struct ReadRequest {
    /// The newest message read.
    #[garde(skip)]
    pub message_id: Uuid,
}

fn page(limit: Option<i64>, cursor: Option<String>) -> Result<(i64, Option<Uuid>), ApiError> {
    let q = PageQuery { limit, cursor };
    Ok((q.limit()?, q.cursor_id()?))
}

/// Rooms I am in, or public rooms.
#[utoipa::path(get, path = "/api/v1/chat/rooms", tag = "chat", security(("bearer" = [])), params(RoomsQuery),
    responses((status = 200, body = Page<Room>)))]
async fn list_rooms(State(s): State<ChatState>, me: AuthUser, Query(q): Query<RoomsQuery>) -> ApiResult<Response> {
    let (limit, cursor) = page(q.limit, q.cursor)?;
    let scope = match q.scope.unwrap_or_default() {
        ScopeParam::Joined => Scope::Joined,
        ScopeParam::Public => Scope::Public,
    };
    let json = s.chat.rooms_json(&me, scope, cursor, limit).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// Create a room; the caller owns it.
#[utoipa::path(post, path = "/api/v1/chat/rooms", tag = "chat", security(("bearer" = [])),
    request_body = CreateRoomRequest, responses((status = 201, body = Room)))]
async fn create_room(
    State(s): State<ChatState>,
    me: AuthUser,
    Json(body): Json<CreateRoomRequest>,
) -> ApiResult<Response> {
    let room = s.chat.create_room(&me, &body.name, body.description.as_deref().unwrap_or(""), body.visibility).await?;
    Ok(created(format!("/api/v1/chat/rooms/{}", room.id), room))
}

/// A room (members, or anyone for public rooms).
#[utoipa::path(get, path = "/api/v1/chat/rooms/{id}", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")), responses((status = 200, body = Room)))]
async fn get_room(State(s): State<ChatState>, me: AuthUser, Path(id): Path<Uuid>) -> ApiResult<axum::Json<Room>> {
    Ok(axum::Json(s.chat.get_room(&me, id).await?))
}

/// Rename or re-describe a room (owner or admin).
#[utoipa::path(patch, path = "/api/v1/chat/rooms/{id}", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")), request_body = UpdateRoomRequest,
    responses((status = 200, body = Room), (status = 403, description = "Not allowed", body = platform::error::Problem)))]
async fn update_room(
    State(s): State<ChatState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateRoomRequest>,
) -> ApiResult<axum::Json<Room>> {
    Ok(axum::Json(s.chat.update_room(&me, id, body.name.as_deref(), body.description.as_deref()).await?))
}

/// Delete a room (owner).
#[utoipa::path(delete, path = "/api/v1/chat/rooms/{id}", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not allowed", body = platform::error::Problem)))]
async fn delete_room(State(s): State<ChatState>, me: AuthUser, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    s.chat.delete_room(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Join a public room.
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/join", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")),
    responses((status = 200, body = Room), (status = 409, description = "already_member", body = platform::error::Problem)))]
async fn join_room(State(s): State<ChatState>, me: AuthUser, Path(id): Path<Uuid>) -> ApiResult<axum::Json<Room>> {
    Ok(axum::Json(s.chat.join(&me, id).await?))
}

/// Leave a room.
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/leave", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")),
    responses((status = 204, description = "Left"), (status = 409, description = "owner_cannot_leave or direct_room", body = platform::error::Problem)))]
async fn leave_room(State(s): State<ChatState>, me: AuthUser, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    s.chat.leave(&me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The members of a room (members only), a page at a time by user id.
#[utoipa::path(get, path = "/api/v1/chat/rooms/{id}/members", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id"), PageQuery),
    responses((status = 200, body = Page<Member>), (status = 403, description = "Not a member", body = platform::error::Problem)))]
async fn list_members(
    State(s): State<ChatState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<Page<Member>>> {
    let (limit, after) = page(q.limit, q.cursor)?;
    Ok(axum::Json(s.chat.members(&me, id, after, limit).await?))
}

/// Add someone to a room (owner or admin).
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/members", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")), request_body = AddMemberRequest,
    responses((status = 201, body = Member), (status = 403, description = "Not allowed", body = platform::error::Problem),
              (status = 409, description = "already_member or direct_room", body = platform::error::Problem)))]
async fn add_member(
    State(s): State<ChatState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AddMemberRequest>,
) -> ApiResult<Response> {
    let member = s.chat.add_member(&me, id, body.user_id, body.role.unwrap_or(MemberRole::Member)).await?;
    Ok(created(format!("/api/v1/chat/rooms/{id}/members/{}", member.user_id), member))
}

/// Change a member's role (owner).
#[utoipa::path(patch, path = "/api/v1/chat/rooms/{id}/members/{user_id}", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id"), ("user_id" = Uuid, Path, description = "Member")),
    request_body = UpdateMemberRequest,
    responses((status = 200, body = Member), (status = 403, description = "Not allowed", body = platform::error::Problem)))]
async fn update_member(
    State(s): State<ChatState>,
    me: AuthUser,
    Path((id, user)): Path<(Uuid, Uuid)>,
    Json(body): Json<UpdateMemberRequest>,
) -> ApiResult<axum::Json<Member>> {
    Ok(axum::Json(s.chat.set_role(&me, id, user, body.role).await?))
}

/// Remove a member (owner or admin), or leave (oneself).
#[utoipa::path(delete, path = "/api/v1/chat/rooms/{id}/members/{user_id}", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id"), ("user_id" = Uuid, Path, description = "Member")),
    responses((status = 204, description = "Removed"), (status = 403, description = "Not allowed", body = platform::error::Problem),
              (status = 409, description = "owner_cannot_leave or direct_room", body = platform::error::Problem)))]
async fn remove_member(
    State(s): State<ChatState>,
    me: AuthUser,
    Path((id, user)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    s.chat.remove_member(&me, id, user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The direct room of the caller and another user (created on first use; 201 then, 200 after).
#[utoipa::path(post, path = "/api/v1/chat/dms", tag = "chat", security(("bearer" = [])), request_body = DirectRequest,
    responses((status = 200, body = Room), (status = 201, body = Room)))]
async fn open_direct_room(
    State(s): State<ChatState>,
    me: AuthUser,
    Json(body): Json<DirectRequest>,
) -> ApiResult<Response> {
    let (room, was_created) = s.chat.direct(&me, body.user_id).await?;
    Ok(if was_created {
        created(format!("/api/v1/chat/rooms/{}", room.id), room)
    } else {
        axum::Json(room).into_response()
    })
}

/// Message history, newest first (members only).
#[utoipa::path(get, path = "/api/v1/chat/rooms/{id}/messages", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id"), HistoryQuery),
    responses((status = 200, body = Page<Message>), (status = 403, description = "Not a member", body = platform::error::Problem)))]
async fn list_messages(
    State(s): State<ChatState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Response> {
    let cursor = match (q.cursor, q.before) {
        (Some(_), Some(_)) => return Err(ApiError::invalid_field("cursor", "give `cursor` or `before`, not both")),
        (cursor, before) => cursor.or(before),
    };
    let (limit, before) = page(q.limit, cursor)?;
    let json = s.chat.history_json(&me, id, before, limit).await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], json).into_response())
}

/// Send a message (stored, then broadcast to the room).
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/messages", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")), request_body = SendMessageRequest,
    responses((status = 201, body = Message), (status = 403, description = "Not a member", body = platform::error::Problem)))]
async fn send_message(
    State(s): State<ChatState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<SendMessageRequest>,
) -> ApiResult<Response> {
    let message = s.chat.send(&me, id, &body.content, body.client_id.as_deref()).await?;
    Ok(created(format!("/api/v1/chat/rooms/{id}/messages/{}", message.id), message))
}

/// Edit one's own message.
#[utoipa::path(patch, path = "/api/v1/chat/rooms/{id}/messages/{message_id}", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id"), ("message_id" = Uuid, Path, description = "Message id")),
    request_body = EditMessageRequest,
    responses((status = 200, body = Message), (status = 403, description = "Not the author", body = platform::error::Problem)))]
async fn edit_message(
    State(s): State<ChatState>,
    me: AuthUser,
    Path((id, message)): Path<(Uuid, Uuid)>,
    Json(body): Json<EditMessageRequest>,
) -> ApiResult<axum::Json<Message>> {
    Ok(axum::Json(s.chat.edit(&me, id, message, &body.content).await?))
}

/// Delete a message (its author, or a room owner or admin).
#[utoipa::path(delete, path = "/api/v1/chat/rooms/{id}/messages/{message_id}", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id"), ("message_id" = Uuid, Path, description = "Message id")),
    responses((status = 204, description = "Deleted"), (status = 403, description = "Not allowed", body = platform::error::Problem)))]
async fn delete_message(
    State(s): State<ChatState>,
    me: AuthUser,
    Path((id, message)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    s.chat.delete_message(&me, id, message).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The users a message mentions.
#[utoipa::path(get, path = "/api/v1/chat/rooms/{id}/messages/{message_id}/mentions", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id"), ("message_id" = Uuid, Path, description = "Message id")),
    responses((status = 200, body = Vec<Uuid>), (status = 403, description = "Not a member", body = platform::error::Problem)))]
async fn list_mentions(
    State(s): State<ChatState>,
    me: AuthUser,
    Path((id, message)): Path<(Uuid, Uuid)>,
) -> ApiResult<axum::Json<Vec<Uuid>>> {
    Ok(axum::Json(s.chat.mentions(&me, id, message).await?))
}

/// Mark messages up to `message_id` as read.
#[utoipa::path(post, path = "/api/v1/chat/rooms/{id}/read", tag = "chat", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Room id")), request_body = ReadRequest,
    responses((status = 204, description = "Marked"), (status = 403, description = "Not a member", body = platform::error::Problem)))]
async fn mark_read(
    State(s): State<ChatState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ReadRequest>,
) -> ApiResult<StatusCode> {
    s.chat.mark_read(&me, id, body.message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Token for the per-room socket.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SocketQuery {
    /// An access token (or send `Authorization: Bearer`).
    pub token: Option<String>,
}

/// The seed-compatible room socket: send `{"type":"message","content"}`, receive every
/// member's messages as `{"type":"message", id, room_id, sender_id, sender_name, content, created_at}`.
#[utoipa::path(get, path = "/api/v1/chat/rooms/{id}/ws", tag = "chat", params(("id" = Uuid, Path, description = "Room id"), SocketQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
              (status = 403, description = "Not a member", body = platform::error::Problem),
              (status = 426, description = "Not a WebSocket request", body = platform::error::Problem)))]
async fn room_socket(
    State(s): State<ChatState>,
    parts: Parts,
    Path(id): Path<Uuid>,
    Query(q): Query<SocketQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let token = bearer_token(&parts).map(str::to_string).or(q.token).ok_or_else(|| {
        ApiError::unauthorized("unauthenticated", "Pass `?token=<access token>` or `Authorization: Bearer`.")
    })?;
    let user = s.auth.authenticate(&token).await?;
    if !s.chat.is_member(user.user_id, id).await? {
        // Reveal a room only to those who may see it.
        s.chat.get_room(&user, id).await?;
        return Err(ApiError::forbidden("forbidden", "Join the room first."));
    }
    let ws = ws.map_err(|e| ApiError::new(StatusCode::UPGRADE_REQUIRED, "websocket_required", e.body_text()))?;
    let (gateway, seeds) = (s.gateway.clone(), s.seeds.clone());
    Ok(platform::realtime::gateway::limits(ws)
        .on_upgrade(move |socket| {
            platform::realtime::gateway::serve(
                gateway,
                socket,
                Some(user),
                Mode::Topic(crate::realtime::room_socket(id, seeds)),
            )
        })
        .into_response())
}
