//! How notifications plug into the platform: the service is built for every kind the modules
//! declared, the inbox is part of the data export, and the routes are served when enabled.

use crate::service::Notifications;
use accounts::Accounts;
use platform::module::{AccountHooks, Kernel, Module};
use std::sync::Arc;
use uuid::Uuid;

/// The notifications module.
pub struct NotificationsModule;

#[async_trait::async_trait]
impl Module for NotificationsModule {
    fn name(&self) -> &'static str {
        "notifications"
    }

    fn migrations(&self) -> &'static [platform::db::Migration] {
        crate::MIGRATIONS
    }

    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        // Built even when not served: other modules record notifications all the same.
        let accounts: Accounts = kernel.service()?;
        let notifications = Notifications::new(kernel.platform().clone(), accounts, kernel.notification_kinds());
        kernel.account_hooks(Arc::new(Export(notifications.clone())));
        kernel.provide(notifications);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let notifications: Notifications = kernel.service()?;
        kernel.routes(crate::routes::router(notifications, kernel.auth()?));
        Ok(())
    }
}

struct Export(Notifications);

#[async_trait::async_trait]
impl AccountHooks for Export {
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value> {
        Ok(self.0.export(user).await?)
    }
}
