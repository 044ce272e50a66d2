//! Refunds: a buyer asks once per ticket, the event's organiser (or an admin) approves, which
//! voids the ticket and returns its seats, or rejects, finally. Each step tells the other side
//! through the notifications module (inbox, live on `user.{id}`, email), written in the
//! transaction of the step so that a decision is never made without its notice, nor a notice
//! sent for a decision that rolled back.

use super::sales::{buyer_only, known_shape, void_and_return};
use super::{Result, Ticketing, id_cursor, page};
use crate::error::TicketingError;
use crate::events::{
    REFUND_APPROVED_KIND, REFUND_DECLINED_KIND, REFUND_REQUESTED, REFUND_REQUESTED_KIND, REFUND_RESOLVED,
};
use crate::model::{Refund, RefundRow, RefundStatus, TicketStatus};
use crate::store::{self, refunds::Side};
use notifications::NewNotification;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::pagination::Page;
use uuid::Uuid;

/// Which refunds a list shows.
#[derive(Debug, Clone)]
pub struct RefundQuery {
    /// The organiser's side (requests they decide) rather than the buyer's.
    pub as_organizer: bool,
    pub status: Option<RefundStatus>,
    pub cursor: Option<String>,
    pub limit: i64,
}

/// A reason or message: 1–1 000 characters of text.
fn text(field: &str, value: &str) -> Result<String> {
    let value = value.trim();
    if !(1..=1000).contains(&value.chars().count()) || value.contains('\0') {
        return Err(TicketingError::field(field, "must be 1–1000 characters"));
    }
    Ok(value.to_string())
}

impl Ticketing {
    /// The buyer asks for a refund of a valid ticket (one request per ticket: `refund_exists`);
    /// the organiser is told.
    pub async fn request_refund(&self, user: &AuthUser, code: &str, reason: &str) -> Result<Refund> {
        let code = known_shape(code)?;
        let reason = text("reason", reason)?;
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let ticket = store::sales::ticket_by_code_in(&mut tx, code).await?.ok_or(TicketingError::NotFound)?;
        buyer_only(&ticket, user)?;
        if ticket.status != TicketStatus::Valid.as_str() {
            return Err(TicketingError::TicketVoid);
        }
        let row = store::refunds::insert_refund(
            &mut tx,
            Uuid::now_v7(),
            ticket.id,
            user.user_id,
            ticket.organizer_id,
            &reason,
            now,
        )
        .await?
        .ok_or(TicketingError::RefundExists)?;
        let payload = serde_json::json!({
            "refund_id": row.id, "ticket_id": ticket.id, "buyer_id": user.user_id, "organizer_id": ticket.organizer_id,
        });
        self.platform.outbox.event(&mut tx, REFUND_REQUESTED, &payload).await?;
        let notice = self
            .notifications
            .record(
                &mut tx,
                NewNotification {
                    user_id: ticket.organizer_id,
                    actor: Some(user.user_id),
                    kind: REFUND_REQUESTED_KIND,
                    title: "Refund requested".to_string(),
                    body: format!("A buyer asked for a refund of a ticket: \"{reason}\""),
                    data: serde_json::json!({ "refund_id": row.id, "ticket_id": ticket.id }),
                },
            )
            .await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.notifications.announce(&[notice]);
        Ok(row.into())
    }

    /// The caller's refunds on one side (as buyer, or as the organiser who decides), newest
    /// first: nobody sees another's.
    pub async fn refunds(&self, user: &AuthUser, query: &RefundQuery) -> Result<Page<Refund>> {
        let before = id_cursor(query.cursor.as_deref())?;
        let side = if query.as_organizer { Side::Organizer } else { Side::Buyer };
        let status = query.status.map(RefundStatus::as_str);
        let rows = store::refunds::list(&self.platform.db, user.user_id, side, status, before, query.limit).await?;
        Ok(page(rows, query.limit, |r| r.id.to_string(), Refund::from))
    }

    /// The organiser (or an admin) grants a pending request: the ticket is refunded and its
    /// seats return to sale (unless the buyer gave it back meanwhile); the buyer is told.
    pub async fn approve_refund(&self, user: &AuthUser, id: Uuid) -> Result<Refund> {
        self.resolve_refund(user, id, RefundStatus::Approved, None).await
    }

    /// The organiser (or an admin) declines a pending request, finally, with a message for the
    /// buyer.
    pub async fn reject_refund(&self, user: &AuthUser, id: Uuid, message: &str) -> Result<Refund> {
        let message = text("message", message)?;
        self.resolve_refund(user, id, RefundStatus::Rejected, Some(&message)).await
    }

    async fn resolve_refund(
        &self,
        user: &AuthUser,
        id: Uuid,
        to: RefundStatus,
        message: Option<&str>,
    ) -> Result<Refund> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let current = store::refunds::refund_in(&mut tx, id).await?.ok_or(TicketingError::NotFound)?;
        if current.organizer_id != user.user_id && !user.is_admin() {
            // The buyer sees their request but does not decide it; anyone else does not see it.
            return Err(if current.buyer_id == Some(user.user_id) {
                TicketingError::Forbidden
            } else {
                TicketingError::NotFound
            });
        }
        // The ticket's events first (an approval returns its seats), then the request: the one
        // order of locks.
        store::lock_ticket_events(&mut tx, current.ticket_id).await?;
        let row: RefundRow = store::refunds::resolve(&mut tx, id, to.as_str(), message, user.user_id, now)
            .await?
            .ok_or(TicketingError::RefundResolved)?;
        let seats = if to == RefundStatus::Approved {
            void_and_return(&mut tx, row.ticket_id, TicketStatus::Refunded, now).await?
        } else {
            Vec::new()
        };
        let payload = serde_json::json!({
            "refund_id": row.id, "ticket_id": row.ticket_id, "buyer_id": row.buyer_id,
            "organizer_id": row.organizer_id, "status": to,
        });
        self.platform.outbox.event(&mut tx, REFUND_RESOLVED, &payload).await?;
        let mut notices = Vec::new();
        if let Some(buyer) = row.buyer_id {
            let (kind, title, body) = match to {
                RefundStatus::Approved => (
                    REFUND_APPROVED_KIND,
                    "Refund Request Approved",
                    "Your refund request was approved; the ticket is refunded.".to_string(),
                ),
                _ => (
                    REFUND_DECLINED_KIND,
                    "Refund Request Declined",
                    format!("Your refund request was declined: \"{}\"", message.unwrap_or_default()),
                ),
            };
            notices.push(
                self.notifications
                    .record(
                        &mut tx,
                        NewNotification {
                            user_id: buyer,
                            actor: Some(user.user_id),
                            kind,
                            title: title.to_string(),
                            body,
                            data: serde_json::json!({ "refund_id": row.id, "ticket_id": row.ticket_id }),
                        },
                    )
                    .await?,
            );
        }
        tx.commit().await?;
        self.platform.outbox.wake();
        self.notifications.announce(&notices);
        self.seats.changed(&seats);
        Ok(row.into())
    }
}
