//! HTTP routes of accounts under `/api/v1/auth`, `/api/v1/users` and `/api/v1/admin/users`:
//! parse, call [`Accounts`], answer. No rules live here.

use crate::model::{Locale, PublicUser, Role, Session, SessionTokens, User};
use crate::service::{Accounts, ClientInfo};
use axum::extract::{DefaultBodyLimit, FromRef, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use garde::Validate;
use platform::ApiResult;
use platform::auth::{AuthUser, Authenticator};
use platform::extract::{Json, Path, Query};
use platform::http::{ClientIp, created};
use platform::pagination::{Page, PageQuery};
use platform::upload::{Upload, UploadRules, Uploads};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// State of the accounts routes.
#[derive(Clone)]
pub struct AccountsState {
    /// The service.
    pub accounts: Accounts,
    /// Checks bearer tokens.
    pub auth: Authenticator,
    /// Upload limits.
    pub uploads: Uploads,
}

impl FromRef<AccountsState> for Uploads {
    fn from_ref(s: &AccountsState) -> Self {
        s.uploads.clone()
    }
}

/// An avatar upload takes one image in the `file` field.
pub struct AvatarRules;

impl UploadRules for AvatarRules {
    const FIELD: &'static str = "file";
}

impl FromRef<AccountsState> for Authenticator {
    fn from_ref(s: &AccountsState) -> Self {
        s.auth.clone()
    }
}

/// The accounts routes; `uploads` bounds avatar uploads.
pub fn router(accounts: Accounts, auth: Authenticator, uploads: Uploads) -> OpenApiRouter {
    let body_limit = uploads.body_limit::<AvatarRules>();
    let avatar_upload =
        OpenApiRouter::new().routes(routes!(upload_avatar, delete_avatar)).layer(DefaultBodyLimit::max(body_limit));
    OpenApiRouter::new()
        .merge(avatar_upload)
        .routes(routes!(get_avatar))
        .routes(routes!(register))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(forgot_password))
        .routes(routes!(verify_reset_code))
        .routes(routes!(reset_password))
        .routes(routes!(change_password))
        .routes(routes!(send_phone_code))
        .routes(routes!(verify_phone))
        .routes(routes!(get_me, update_me, delete_me))
        .routes(routes!(export_me))
        .routes(routes!(get_user))
        .routes(routes!(admin_list_users))
        .routes(routes!(admin_update_user))
        .with_state(AccountsState { accounts, auth, uploads })
}

fn client(ip: ClientIp, headers: &HeaderMap) -> ClientInfo {
    ClientInfo {
        ip: ip.0.to_string(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(300).collect()),
    }
}

/// Sign-up body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::RegisterRequest)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email address.
    #[garde(length(max = 254))]
    pub email: String,
    /// 10–128 characters.
    #[garde(length(chars, min = 10, max = 128))]
    pub password: String,
    /// Display name, 1–100 characters.
    #[garde(length(chars, min = 1, max = 100))]
    pub name: String,
    /// `en` (default) or `fa`: the language of mail sent to the user.
    #[garde(skip)]
    pub locale: Option<Locale>,
}

/// Email plus one-time code.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::EmailCodeRequest)]
#[serde(deny_unknown_fields)]
pub struct EmailCodeRequest {
    /// Email address.
    #[garde(length(max = 254))]
    pub email: String,
    /// The six-digit code.
    #[garde(length(min = 1, max = 16))]
    pub code: String,
}

/// Just an email address.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::EmailRequest)]
#[serde(deny_unknown_fields)]
pub struct EmailRequest {
    /// Email address.
    #[garde(length(max = 254))]
    pub email: String,
}

/// Sign-in body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::LoginRequest)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email address.
    #[garde(length(max = 254))]
    pub email: String,
    /// Password.
    #[garde(length(max = 1024))]
    pub password: String,
}

/// A refresh token.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::RefreshRequest)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last sign-in or refresh.
    #[garde(length(min = 1, max = 512))]
    pub refresh_token: String,
}

/// A reset token and the new password.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::ResetPasswordRequest)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// From `POST /auth/password/verify-code`.
    #[garde(length(min = 1, max = 512))]
    pub reset_token: String,
    /// 10–128 characters.
    #[garde(length(chars, min = 10, max = 128))]
    pub new_password: String,
}

/// The answer of `POST /auth/password/verify-code`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = accounts::ResetTokenResponse)]
pub struct ResetTokenResponse {
    /// Single use, valid 10 minutes.
    pub reset_token: String,
}

/// Password change body.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::ChangePasswordRequest)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password now.
    #[garde(length(max = 1024))]
    pub current_password: String,
    /// 10–128 characters.
    #[garde(length(chars, min = 10, max = 128))]
    pub new_password: String,
}

/// A phone number.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::PhoneRequest)]
#[serde(deny_unknown_fields)]
pub struct PhoneRequest {
    /// International format, e.g. `+1 415 555 0100`.
    #[garde(length(min = 1, max = 32))]
    pub phone: String,
}

/// Phone plus code.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::PhoneCodeRequest)]
#[serde(deny_unknown_fields)]
pub struct PhoneCodeRequest {
    /// International format.
    #[garde(length(min = 1, max = 32))]
    pub phone: String,
    /// The six-digit code.
    #[garde(length(min = 1, max = 16))]
    pub code: String,
}

/// Profile changes; absent fields stay as they are.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::UpdateMeRequest)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// Display name, 1–100 characters.
    #[garde(inner(length(chars, min = 1, max = 100)))]
    pub name: Option<String>,
    /// `en` or `fa`.
    #[garde(skip)]
    pub locale: Option<Locale>,
    /// Whether the name may be shown to others.
    #[garde(skip)]
    pub public_profile: Option<bool>,
}

/// Account deletion confirmation.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::DeleteMeRequest)]
#[serde(deny_unknown_fields)]
pub struct DeleteMeRequest {
    /// The password (not needed for accounts created by phone).
    #[garde(inner(length(max = 1024)))]
    pub password: Option<String>,
}

/// Admin changes to a user.
#[derive(Debug, Deserialize, Validate, ToSchema)]
#[schema(as = accounts::AdminUpdateRequest)]
#[serde(deny_unknown_fields)]
pub struct AdminUpdateRequest {
    /// New role.
    #[garde(skip)]
    pub role: Option<Role>,
    /// Disable or re-enable.
    #[garde(skip)]
    pub disabled: Option<bool>,
}

/// Which rendition of an avatar.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[schema(as = accounts::AvatarSize)]
#[serde(rename_all = "snake_case")]
pub enum AvatarSize {
    /// The uploaded picture.
    #[default]
    Original,
    /// The 256×256 JPEG thumbnail.
    Thumbnail,
}

/// Avatar query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AvatarQuery {
    /// `original` (default) or `thumbnail`.
    pub size: Option<AvatarSize>,
    /// Version from the avatar URL (for caches; any value is accepted).
    pub v: Option<String>,
}

/// An avatar upload (multipart/form-data).
#[derive(Debug, ToSchema)]
#[schema(as = accounts::AvatarUpload)]
#[allow(dead_code)] // Only describes the form for the OpenAPI document.
pub struct AvatarUpload {
    /// A JPEG, PNG or WebP image.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// Admin user search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminListQuery {
    /// Text to find in email or name.
    pub q: Option<String>,
    /// Page size, 1–100.
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({"status": "accepted"}))).into_response()
}

/// Create an account and sign in; a verification code is emailed.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = SessionTokens), (status = 409, description = "email_taken", body = platform::error::Problem)))]
async fn register(
    State(s): State<AccountsState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<Response> {
    let tokens = s
        .accounts
        .register(&body.email, &body.password, &body.name, body.locale.unwrap_or(Locale::En), &client(ip, &headers))
        .await?;
    Ok(created(format!("/api/v1/users/{}", tokens.user.id), tokens))
}

/// Verify the email address with the emailed code.
#[utoipa::path(post, path = "/api/v1/auth/email/verify", tag = "auth", request_body = EmailCodeRequest,
    responses((status = 200, body = User)))]
async fn verify_email(
    State(s): State<AccountsState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<EmailCodeRequest>,
) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(s.accounts.verify_email(&body.email, &body.code, &client(ip, &headers)).await?))
}

/// Send a new verification code (always 202).
#[utoipa::path(post, path = "/api/v1/auth/email/resend", tag = "auth", request_body = EmailRequest,
    responses((status = 202, description = "Accepted")))]
async fn resend_verification(
    State(s): State<AccountsState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<EmailRequest>,
) -> ApiResult<Response> {
    s.accounts.resend_verification(&body.email, &client(ip, &headers)).await?;
    Ok(accepted())
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = SessionTokens), (status = 403, description = "account_disabled", body = platform::error::Problem)))]
async fn login(
    State(s): State<AccountsState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<LoginRequest>,
) -> ApiResult<axum::Json<SessionTokens>> {
    Ok(axum::Json(s.accounts.login(&body.email, &body.password, &client(ip, &headers)).await?))
}

/// Exchange a refresh token for a new token pair (the old one is spent).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = SessionTokens), (status = 403, description = "account_disabled", body = platform::error::Problem)))]
async fn refresh(
    State(s): State<AccountsState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<axum::Json<SessionTokens>> {
    Ok(axum::Json(s.accounts.refresh(&body.refresh_token).await?))
}

/// End this session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Signed out")))]
async fn logout(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<StatusCode> {
    s.accounts.revoke_session(me.user_id, me.session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End every session of the caller.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204, description = "Signed out everywhere")))]
async fn logout_all(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<StatusCode> {
    s.accounts.revoke_all(me.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's live sessions.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Vec<Session>)))]
async fn list_sessions(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<axum::Json<Vec<Session>>> {
    Ok(axum::Json(s.accounts.sessions(me.user_id, me.session_id).await?))
}

/// End one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Session id")),
    responses((status = 204, description = "Revoked")))]
async fn revoke_session(State(s): State<AccountsState>, me: AuthUser, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    s.accounts.revoke_session(me.user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask for a password reset code (always 202).
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth", request_body = EmailRequest,
    responses((status = 202, description = "Accepted")))]
async fn forgot_password(
    State(s): State<AccountsState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<EmailRequest>,
) -> ApiResult<Response> {
    s.accounts.forgot_password(&body.email, &client(ip, &headers)).await?;
    Ok(accepted())
}

/// Exchange the emailed reset code for a reset token.
#[utoipa::path(post, path = "/api/v1/auth/password/verify-code", tag = "auth", request_body = EmailCodeRequest,
    responses((status = 200, body = ResetTokenResponse)))]
async fn verify_reset_code(
    State(s): State<AccountsState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<EmailCodeRequest>,
) -> ApiResult<axum::Json<ResetTokenResponse>> {
    let reset_token = s.accounts.verify_reset_code(&body.email, &body.code, &client(ip, &headers)).await?;
    Ok(axum::Json(ResetTokenResponse { reset_token }))
}

/// Set a new password with a reset token; every session ends.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = ResetPasswordRequest,
    responses((status = 204, description = "Password changed")))]
async fn reset_password(
    State(s): State<AccountsState>,
    Json(body): Json<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    s.accounts.reset_password(&body.reset_token, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password; other sessions end.
#[utoipa::path(post, path = "/api/v1/auth/password/change", tag = "auth", security(("bearer" = [])),
    request_body = ChangePasswordRequest, responses((status = 204, description = "Password changed")))]
async fn change_password(
    State(s): State<AccountsState>,
    me: AuthUser,
    Json(body): Json<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    s.accounts.change_password(me.user_id, me.session_id, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Text a sign-in code to a phone.
#[utoipa::path(post, path = "/api/v1/auth/phone/send-code", tag = "auth", request_body = PhoneRequest,
    responses((status = 202, description = "Accepted")))]
async fn send_phone_code(
    State(s): State<AccountsState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<PhoneRequest>,
) -> ApiResult<Response> {
    s.accounts.send_phone_code(&body.phone, &client(ip, &headers)).await?;
    Ok(accepted())
}

/// Sign in with a phone code (the account is created on first sign-in).
#[utoipa::path(post, path = "/api/v1/auth/phone/verify", tag = "auth", request_body = PhoneCodeRequest,
    responses((status = 200, body = SessionTokens), (status = 403, description = "account_disabled", body = platform::error::Problem)))]
async fn verify_phone(
    State(s): State<AccountsState>,
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<PhoneCodeRequest>,
) -> ApiResult<axum::Json<SessionTokens>> {
    Ok(axum::Json(s.accounts.verify_phone(&body.phone, &body.code, &client(ip, &headers)).await?))
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = User)))]
async fn get_me(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<axum::Json<User>> {
    Ok(axum::Json(s.accounts.user(me.user_id).await?))
}

/// Change the caller's profile.
#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = UpdateMeRequest, responses((status = 200, body = User)))]
async fn update_me(
    State(s): State<AccountsState>,
    me: AuthUser,
    Json(body): Json<UpdateMeRequest>,
) -> ApiResult<axum::Json<User>> {
    let user = s.accounts.update_profile(me.user_id, body.name.as_deref(), body.locale, body.public_profile).await?;
    Ok(axum::Json(user))
}

/// Delete the caller's account.
#[utoipa::path(delete, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = DeleteMeRequest, responses((status = 204, description = "Deleted")))]
async fn delete_me(
    State(s): State<AccountsState>,
    me: AuthUser,
    Json(body): Json<DeleteMeRequest>,
) -> ApiResult<StatusCode> {
    s.accounts.delete_account(me.user_id, body.password.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Everything stored about the caller.
#[utoipa::path(get, path = "/api/v1/users/me/export", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Object)))]
async fn export_me(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<axum::Json<serde_json::Value>> {
    Ok(axum::Json(s.accounts.export(me.user_id, me.session_id).await?))
}

/// Another user's public profile.
#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")), responses((status = 200, body = PublicUser)))]
async fn get_user(
    State(s): State<AccountsState>,
    _me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<PublicUser>> {
    Ok(axum::Json(PublicUser::from(s.accounts.user(id).await?)))
}

/// Admin: list and search users.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])),
    params(AdminListQuery), responses((status = 200, body = Page<User>), (status = 403, description = "Not an admin", body = platform::error::Problem)))]
async fn admin_list_users(
    State(s): State<AccountsState>,
    me: AuthUser,
    Query(q): Query<AdminListQuery>,
) -> ApiResult<axum::Json<Page<User>>> {
    me.require_admin()?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    Ok(axum::Json(s.accounts.list_users(q.q.as_deref(), page.cursor_id()?, page.limit()?).await?))
}

/// Admin: change a user's role or disable them (their sessions end).
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")), request_body = AdminUpdateRequest,
    responses((status = 200, body = User), (status = 403, description = "Not an admin", body = platform::error::Problem)))]
async fn admin_update_user(
    State(s): State<AccountsState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AdminUpdateRequest>,
) -> ApiResult<axum::Json<User>> {
    me.require_admin()?;
    Ok(axum::Json(s.accounts.admin_update(id, body.role, body.disabled).await?))
}

/// Set the caller's avatar (JPEG, PNG or WebP; the type is checked by content).
#[utoipa::path(put, path = "/api/v1/users/me/avatar", tag = "users", security(("bearer" = [])),
    request_body(content = AvatarUpload, content_type = "multipart/form-data"),
    responses((status = 200, body = User),
        (status = 413, description = "Over the upload limit", body = platform::error::Problem),
        (status = 415, description = "Not an image we accept", body = platform::error::Problem),
        (status = 422, description = "Broken, or more pixels than we take", body = platform::error::Problem)))]
async fn upload_avatar(
    State(s): State<AccountsState>,
    me: AuthUser,
    upload: Upload<AvatarRules>,
) -> ApiResult<axum::Json<User>> {
    let Some(file) = upload.files.into_iter().next() else {
        return Err(platform::ApiError::invalid_field("file", "is required"));
    };
    Ok(axum::Json(s.accounts.set_avatar(me.user_id, file).await?))
}

/// Remove the caller's avatar.
#[utoipa::path(delete, path = "/api/v1/users/me/avatar", tag = "users", security(("bearer" = [])),
    responses((status = 204, description = "Removed")))]
async fn delete_avatar(State(s): State<AccountsState>, me: AuthUser) -> ApiResult<StatusCode> {
    s.accounts.delete_avatar(me.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's avatar picture (public, like the name).
#[utoipa::path(get, path = "/api/v1/users/{id}/avatar", tag = "users",
    params(("id" = Uuid, Path, description = "User id"), AvatarQuery),
    responses((status = 200, description = "The image", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp")))))]
async fn get_avatar(
    State(s): State<AccountsState>,
    Path(id): Path<Uuid>,
    Query(q): Query<AvatarQuery>,
) -> ApiResult<Response> {
    let thumbnail = matches!(q.size.unwrap_or_default(), AvatarSize::Thumbnail);
    let (bytes, content_type) = s.accounts.avatar(id, thumbnail).await?;
    Ok(([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], bytes).into_response())
}
