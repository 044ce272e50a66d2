//! `ferrobase.ticketing.v1.Tickets` over gRPC, for door scanners: read a ticket and check it
//! in with the operator's access token. The use cases are the REST routes' own, so who may do
//! what, and every refusal, are the same; failures map from the same domain errors
//! ([`platform::grpc::status`]).

use crate::model::Ticket;
use crate::service::Ticketing;
use platform::auth::{AuthUser, Authenticator};
use tonic::{Request, Response, Status};
use uuid::Uuid;

/// The generated protocol types, client and server.
#[allow(missing_docs, clippy::all, clippy::unwrap_used)]
pub mod pb {
    tonic::include_proto!("ferrobase.ticketing.v1");

    /// The encoded descriptor set of the protos (for the reflection service).
    pub const DESCRIPTOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ticketing_descriptor.bin"));
}

/// The largest request message: a code and an id.
pub const MAX_REQUEST_BYTES: usize = 4 * 1024;

/// The tickets service.
pub struct TicketsService {
    ticketing: Ticketing,
    auth: Authenticator,
}

impl TicketsService {
    /// The service over ticketing and the token checker.
    pub fn new(ticketing: Ticketing, auth: Authenticator) -> pb::tickets_server::TicketsServer<Self> {
        pb::tickets_server::TicketsServer::new(Self { ticketing, auth }).max_decoding_message_size(MAX_REQUEST_BYTES)
    }

    /// The caller, from `authorization: Bearer …` metadata.
    async fn caller<T>(&self, request: &Request<T>) -> Result<AuthUser, Status> {
        platform::grpc::caller(&self.auth, request).await
    }
}

fn ticket(t: Ticket) -> pb::Ticket {
    pb::Ticket {
        id: t.id.to_string(),
        code: t.code,
        buyer_id: t.buyer_id.map(|id| id.to_string()),
        event_id: t.event_id.map(|id| id.to_string()),
        bundle_id: t.bundle_id.map(|id| id.to_string()),
        status: t.status.as_str().to_string(),
        price: t.price,
        currency: t.currency,
        seats: t
            .seats
            .into_iter()
            .map(|s| pb::Seat {
                event_id: s.event_id.to_string(),
                starts_at: s.starts_at.to_rfc3339(),
                checked_in_at: s.checked_in_at.map(|at| at.to_rfc3339()),
            })
            .collect(),
    }
}

#[tonic::async_trait]
impl pb::tickets_server::Tickets for TicketsService {
    async fn get_ticket(
        &self,
        request: Request<pb::GetTicketRequest>,
    ) -> Result<Response<pb::GetTicketResponse>, Status> {
        let user = self.caller(&request).await?;
        let found = self.ticketing.ticket(&user, &request.get_ref().code).await;
        let found = found.map_err(|e| platform::grpc::status(&e))?;
        Ok(Response::new(pb::GetTicketResponse { ticket: Some(ticket(found)) }))
    }

    async fn check_in(&self, request: Request<pb::CheckInRequest>) -> Result<Response<pb::CheckInResponse>, Status> {
        let user = self.caller(&request).await?;
        let body = request.get_ref();
        let event = Uuid::parse_str(&body.event_id)
            .map_err(|_| Status::invalid_argument("validation_failed: event_id must be a UUID."))?;
        let (found, at) =
            self.ticketing.check_in(&user, event, &body.code).await.map_err(|e| platform::grpc::status(&e))?;
        Ok(Response::new(pb::CheckInResponse { ticket: Some(ticket(found)), checked_in_at: at.to_rfc3339() }))
    }
}
