//! Sign-up, sign-in, codes, sessions and passwords under `/api/v1/auth`.

use super::*;

/// This feature's routes.
pub(super) fn routes() -> OpenApiRouter<AccountsState> {
    OpenApiRouter::new()
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

/// The answer to requests whose outcome must not be told (is the address registered?).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = accounts::Accepted)]
pub struct Accepted {
    /// Always `accepted`.
    #[schema(example = "accepted")]
    pub status: &'static str,
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(Accepted { status: "accepted" })).into_response()
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
    responses((status = 202, description = "Accepted (whether or not the address is known)", body = Accepted)))]
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
    ip: ClientIp,
    headers: HeaderMap,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<axum::Json<SessionTokens>> {
    Ok(axum::Json(s.accounts.refresh(&body.refresh_token, &client(ip, &headers)).await?))
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
    responses((status = 202, description = "Accepted (whether or not the address is known)", body = Accepted)))]
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
    responses((status = 202, description = "Accepted (whether or not the address is known)", body = Accepted)))]
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
