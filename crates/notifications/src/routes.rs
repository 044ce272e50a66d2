//! HTTP routes under `/api/v1/notifications`: the caller's own inbox and preferences only.

use crate::model::{Kind, Notification, Preferences};
use crate::service::Notifications;
use axum::extract::{FromRef, State};
use platform::auth::{AuthUser, Authenticator};
use platform::extract::{Json, Path, Query};
use platform::pagination::{Page, PageQuery};
use platform::{ApiError, ApiResult};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// State of the notification routes.
#[derive(Clone)]
pub struct NotificationsState {
    /// The service.
    pub notifications: Notifications,
    /// Checks tokens.
    pub auth: Authenticator,
}

impl FromRef<NotificationsState> for Authenticator {
    fn from_ref(s: &NotificationsState) -> Self {
        s.auth.clone()
    }
}

/// The notification routes.
pub fn router(notifications: Notifications, auth: Authenticator) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(unread_count))
        .routes(routes!(read_notification))
        .routes(routes!(read_all_notifications))
        .routes(routes!(get_preferences, update_preferences))
        .with_state(NotificationsState { notifications, auth })
}

/// Inbox query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Only unread notifications.
    pub unread_only: Option<bool>,
    /// Page size, 1–100 (default 20).
    pub limit: Option<i64>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The unread count.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = notifications::UnreadCount)]
pub struct UnreadCount {
    /// Unread notifications.
    pub count: i64,
}

/// How many were marked read.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = notifications::Marked)]
pub struct Marked {
    /// Notifications that were unread.
    pub marked: u64,
}

/// A change to one kind's delivery.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = notifications::ChannelChange)]
#[serde(deny_unknown_fields)]
pub struct ChannelChange {
    /// Email this kind.
    pub email: Option<bool>,
    /// Always true; in-app delivery cannot be turned off.
    pub in_app: Option<bool>,
}

/// Changes per kind (keyed by the kind's name); kinds left out stay as they are.
#[derive(Debug, Deserialize, garde::Validate, ToSchema)]
#[schema(as = notifications::PreferencesChange)]
#[serde(transparent)]
pub struct PreferencesChange(#[garde(skip)] pub std::collections::BTreeMap<String, ChannelChange>);

impl PreferencesChange {
    /// The email switches to apply, or the field error for an unknown kind or an attempt to turn
    /// in-app off.
    fn changes(&self, known: &[Kind]) -> Result<Vec<(Kind, bool)>, ApiError> {
        let mut out = Vec::new();
        for (name, change) in &self.0 {
            let Some(kind) = known.iter().find(|k| k.name == name) else {
                return Err(ApiError::invalid_field(name, "no such kind of notification"));
            };
            if change.in_app == Some(false) {
                return Err(ApiError::invalid_field(
                    &format!("{name}.in_app"),
                    "in-app notifications cannot be turned off",
                ));
            }
            if let Some(email) = change.email {
                out.push((*kind, email));
            }
        }
        Ok(out)
    }
}

/// My notifications, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications", security(("bearer" = [])),
    params(InboxQuery), responses((status = 200, body = Page<Notification>)))]
async fn list_notifications(
    State(s): State<NotificationsState>,
    me: AuthUser,
    Query(q): Query<InboxQuery>,
) -> ApiResult<axum::Json<Page<Notification>>> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor };
    let (limit, cursor) = (page.limit()?, page.cursor_id()?);
    Ok(axum::Json(s.notifications.list(me.user_id, q.unread_only.unwrap_or(false), cursor, limit).await?))
}

/// How many of my notifications are unread.
#[utoipa::path(get, path = "/api/v1/notifications/unread-count", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = UnreadCount)))]
async fn unread_count(State(s): State<NotificationsState>, me: AuthUser) -> ApiResult<axum::Json<UnreadCount>> {
    Ok(axum::Json(UnreadCount { count: s.notifications.unread_count(me.user_id).await? }))
}

/// Mark one notification read.
#[utoipa::path(post, path = "/api/v1/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Notification id")), responses((status = 200, body = Notification)))]
async fn read_notification(
    State(s): State<NotificationsState>,
    me: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<Notification>> {
    Ok(axum::Json(s.notifications.mark_read(me.user_id, id).await?))
}

/// Mark all my notifications read.
#[utoipa::path(post, path = "/api/v1/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Marked)))]
async fn read_all_notifications(State(s): State<NotificationsState>, me: AuthUser) -> ApiResult<axum::Json<Marked>> {
    Ok(axum::Json(Marked { marked: s.notifications.mark_all_read(me.user_id).await? }))
}

/// How each kind of notification reaches me.
#[utoipa::path(get, path = "/api/v1/notifications/preferences", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Preferences)))]
async fn get_preferences(State(s): State<NotificationsState>, me: AuthUser) -> ApiResult<axum::Json<Preferences>> {
    Ok(axum::Json(s.notifications.preferences(me.user_id).await?))
}

/// Turn email on or off per kind (in-app is always on).
#[utoipa::path(patch, path = "/api/v1/notifications/preferences", tag = "notifications", security(("bearer" = [])),
    request_body = PreferencesChange, responses((status = 200, body = Preferences)))]
async fn update_preferences(
    State(s): State<NotificationsState>,
    me: AuthUser,
    Json(body): Json<PreferencesChange>,
) -> ApiResult<axum::Json<Preferences>> {
    let changes = body.changes(s.notifications.kinds())?;
    Ok(axum::Json(s.notifications.set_email(me.user_id, &changes).await?))
}
