//! How ticketing plugs into the platform: its routes, the `ticketing.event.` topics, the
//! `ferrobase.ticketing.v1.Tickets` gRPC service, its notification kinds, and its part of a
//! user's data export and departure.

use crate::service::{Departed, Ticketing};
use accounts::Accounts;
use notifications::Notifications;
use platform::db::Tx;
use platform::module::{AccountHooks, AfterDeletion, Kernel, Module, NotificationKind};
use std::sync::Arc;
use uuid::Uuid;

/// The ticketing module.
pub struct TicketingModule;

#[async_trait::async_trait]
impl Module for TicketingModule {
    fn name(&self) -> &'static str {
        "ticketing"
    }

    fn migrations(&self) -> &'static [platform::db::Migration] {
        crate::MIGRATIONS
    }

    fn notification_kinds(&self) -> &'static [NotificationKind] {
        crate::events::NOTIFICATION_KINDS
    }

    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let accounts: Accounts = kernel.service()?;
        let notifications: Notifications = kernel.service()?;
        let ticketing = Ticketing::new(kernel.platform().clone(), accounts, notifications);
        kernel.account_hooks(Arc::new(Hooks(ticketing.clone())));
        kernel.provide(ticketing);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let ticketing: Ticketing = kernel.service()?;
        let auth = kernel.auth()?;
        kernel.topic(crate::events::TOPIC_PREFIX, crate::events::topics(kernel.platform().db.clone()));
        kernel.grpc(crate::grpc::TicketsService::new(ticketing.clone(), auth.clone()), crate::grpc::pb::DESCRIPTOR);
        kernel.routes(crate::routes::router(ticketing, auth));
        Ok(())
    }
}

/// Ticketing's part in exporting and deleting an account.
struct Hooks(Ticketing);

#[async_trait::async_trait]
impl AccountHooks for Hooks {
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value> {
        Ok(self.0.export(user).await?)
    }

    async fn deleting(&self, tx: &mut Tx, user: Uuid) -> anyhow::Result<Option<AfterDeletion>> {
        let departed: Departed = self.0.user_departing(tx, user).await?;
        let ticketing = self.0.clone();
        Ok(Some(Box::new(move || ticketing.user_departed(&departed))))
    }

    async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> anyhow::Result<bool> {
        Ok(self.0.has_activity(tx, user).await?)
    }
}
