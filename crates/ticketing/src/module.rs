//! How ticketing plugs into the platform: its routes, and its part of a user's data export.

use crate::service::Ticketing;
use accounts::Accounts;
use platform::db::Tx;
use platform::module::{AccountHooks, Kernel, Module};
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

    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let accounts: Accounts = kernel.service()?;
        let ticketing = Ticketing::new(kernel.platform().clone(), accounts);
        kernel.account_hooks(Arc::new(Hooks(ticketing.clone())));
        kernel.provide(ticketing);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let ticketing: Ticketing = kernel.service()?;
        kernel.routes(crate::routes::router(ticketing, kernel.auth()?));
        Ok(())
    }
}

/// A user's events go with their account (nothing is sold yet that others hold).
struct Hooks(Ticketing);

#[async_trait::async_trait]
impl AccountHooks for Hooks {
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value> {
        Ok(self.0.export(user).await?)
    }

    async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> anyhow::Result<bool> {
        Ok(self.0.has_activity(tx, user).await?)
    }
}
