//! HTTP routes of accounts under `/api/v1/auth`, `/api/v1/users` and `/api/v1/admin/users`:
//! parse, call [`Accounts`], answer. No rules live here.

mod admin;
mod auth;
mod avatar;
mod users;

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

/// State of the accounts routes, behind one `Arc`: axum clones a route's state for every
/// request, and one reference count is cheaper than the parts' dozen (docs/benchmarks.md,
/// eleventh session).
#[derive(Clone)]
pub struct AccountsState(std::sync::Arc<AccountsParts>);

impl std::ops::Deref for AccountsState {
    type Target = AccountsParts;

    fn deref(&self) -> &AccountsParts {
        &self.0
    }
}

/// What the accounts routes use.
pub struct AccountsParts {
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

impl FromRef<AccountsState> for Authenticator {
    fn from_ref(s: &AccountsState) -> Self {
        s.auth.clone()
    }
}

/// The accounts routes; `uploads` bounds avatar uploads.
pub fn router(accounts: Accounts, auth: Authenticator, uploads: Uploads) -> OpenApiRouter {
    OpenApiRouter::new()
        .merge(avatar::routes(&uploads))
        .merge(auth::routes())
        .merge(users::routes())
        .merge(admin::routes())
        .with_state(AccountsState(std::sync::Arc::new(AccountsParts { accounts, auth, uploads })))
}

fn client(ip: ClientIp, headers: &HeaderMap) -> ClientInfo {
    ClientInfo::new(ip, headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()))
}
