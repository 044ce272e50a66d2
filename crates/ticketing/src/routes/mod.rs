//! HTTP routes under `/api/v1/ticketing`: parse, call [`Ticketing`], answer.

mod bundles;
mod events;
mod refunds;
mod tickets;

pub use bundles::{BundleRequest, UpdateBundleRequest};
pub use events::{CreateEventRequest, UpdateEventRequest};
pub use refunds::{RefundRequest, RejectRequest};
pub use tickets::{CheckInRequest, PurchaseRequest};

use crate::service::Ticketing;
use axum::extract::FromRef;
use platform::auth::Authenticator;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// State of the ticketing routes.
#[derive(Clone)]
pub struct TicketingState {
    /// The service.
    pub ticketing: Ticketing,
    /// Checks tokens.
    pub auth: Authenticator,
}

impl FromRef<TicketingState> for Authenticator {
    fn from_ref(s: &TicketingState) -> Self {
        s.auth.clone()
    }
}

/// The ticketing routes.
pub fn router(ticketing: Ticketing, auth: Authenticator) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(events::list_events, events::create_event))
        .routes(routes!(events::get_event, events::update_event, events::delete_event))
        .routes(routes!(events::publish_event))
        .routes(routes!(events::cancel_event))
        .routes(routes!(bundles::list_bundles, bundles::create_bundle))
        .routes(routes!(bundles::get_bundle, bundles::update_bundle, bundles::delete_bundle))
        .routes(routes!(bundles::add_bundle_event, bundles::remove_bundle_event))
        .routes(routes!(tickets::purchase))
        .routes(routes!(tickets::my_tickets))
        .routes(routes!(tickets::get_ticket))
        .routes(routes!(tickets::ticket_svg))
        .routes(routes!(tickets::ticket_png))
        .routes(routes!(tickets::cancel_ticket))
        .routes(routes!(tickets::attendees))
        .routes(routes!(tickets::attendees_csv))
        .routes(routes!(tickets::check_in))
        .routes(routes!(tickets::event_stats))
        .routes(routes!(refunds::request_refund))
        .routes(routes!(refunds::list_refunds))
        .routes(routes!(refunds::approve_refund))
        .routes(routes!(refunds::reject_refund))
        .with_state(TicketingState { ticketing, auth })
}
