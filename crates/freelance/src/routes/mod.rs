//! HTTP routes under `/api/v1/freelance`: parse, call [`Freelance`], answer.

mod clients;

pub use clients::{CreateClientRequest, UpdateClientRequest};

use crate::service::Freelance;
use axum::extract::FromRef;
use platform::auth::Authenticator;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// State of the freelance routes.
#[derive(Clone)]
pub struct FreelanceState {
    /// The service.
    pub freelance: Freelance,
    /// Checks tokens.
    pub auth: Authenticator,
}

impl FromRef<FreelanceState> for Authenticator {
    fn from_ref(s: &FreelanceState) -> Self {
        s.auth.clone()
    }
}

/// The freelance routes.
pub fn router(freelance: Freelance, auth: Authenticator) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(clients::list_clients, clients::create_client))
        .routes(routes!(clients::get_client, clients::update_client, clients::delete_client))
        .with_state(FreelanceState { freelance, auth })
}
