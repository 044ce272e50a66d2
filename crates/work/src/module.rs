//! How work plugs into the platform: the `work.project.` topics, socket.io for task boards,
//! the due-date reminders, invitations accepted on verification, its notification kinds, and
//! its part of a user's data export.

use crate::jobs::{AcceptInvitations, DueReminders};
use crate::service::Work;
use accounts::Accounts;
use notifications::Notifications;
use platform::module::{AccountHooks, Kernel, Module, NotificationKind};
use std::sync::Arc;
use uuid::Uuid;

/// The work module.
pub struct WorkModule;

#[async_trait::async_trait]
impl Module for WorkModule {
    fn name(&self) -> &'static str {
        "work"
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
        let work = Work::new(kernel.platform().clone(), accounts.clone(), notifications);
        // Invitations are accepted even while work is not served, so none is lost.
        accounts.observe(Arc::new(AcceptInvitations(work.clone())));
        kernel.account_hooks(Arc::new(Export(work.clone())));
        kernel.provide(work);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let work: Work = kernel.service()?;
        kernel.topic("work.project.", work.topics());
        kernel.routes(crate::routes::router(work.clone(), kernel.auth()?));
        let (socketio, _io) = crate::socketio::layer(kernel.gateway()?);
        kernel.layer(move |routes| routes.layer(socketio));
        kernel.job(Arc::new(DueReminders(work)));
        Ok(())
    }
}

struct Export(Work);

#[async_trait::async_trait]
impl AccountHooks for Export {
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value> {
        Ok(self.0.export(user).await?)
    }
}
