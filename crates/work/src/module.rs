//! How work plugs into the platform: the `work.project.` topics, socket.io for task boards,
//! the due-date reminders (their lead time a setting), invitations accepted on verification, its notification kinds, and
//! its part of a user's data export.

use crate::jobs::{AcceptInvitations, DueReminders};
use crate::service::Work;
use accounts::Accounts;
use notifications::Notifications;
use platform::db::Tx;
use platform::module::{
    AccountHooks, AfterDeletion, Kernel, Module, NotificationKind, Settings, SettingsOf, SettingsSpec,
};
use std::sync::Arc;
use uuid::Uuid;

/// The work module.
pub struct WorkModule;

/// Longest reminder lead time: 30 days.
const MAX_REMINDER_HOURS: u32 = 30 * 24;

/// Work's settings (`[work]` in `ferrobase.toml`, or `FERROBASE_WORK__*`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkSettings {
    /// How many hours before a task's due date its assignee is reminded (1–720).
    pub due_reminder_hours: u32,
}

impl Settings for WorkSettings {
    fn validate(&self) -> Result<(), String> {
        if (1..=MAX_REMINDER_HOURS).contains(&self.due_reminder_hours) {
            Ok(())
        } else {
            Err(format!("due_reminder_hours must be between 1 and {MAX_REMINDER_HOURS}"))
        }
    }
}

impl Default for WorkSettings {
    fn default() -> Self {
        Self { due_reminder_hours: 24 }
    }
}

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

    fn settings(&self) -> Option<&'static dyn SettingsSpec> {
        Some(&SettingsOf::<WorkSettings>::SPEC)
    }

    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let accounts: Accounts = kernel.service()?;
        let notifications: Notifications = kernel.service()?;
        let work = Work::new(kernel.platform().clone(), accounts.clone(), notifications);
        // Invitations are accepted even while work is not served, so none is lost.
        kernel.subscribe(accounts::EMAIL_VERIFIED, "work.invitations", Arc::new(AcceptInvitations::new(work.clone())));
        kernel.account_hooks(Arc::new(Hooks(work.clone())));
        kernel.provide(work);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let work: Work = kernel.service()?;
        kernel.topic("work.project.", work.topics());
        kernel.routes(crate::routes::router(work.clone(), kernel.auth()?));
        let (socketio, _io) = crate::socketio::layer(kernel.gateway()?);
        kernel.layer(move |routes| routes.layer(socketio));
        let settings: WorkSettings = kernel.settings()?;
        let within = chrono::Duration::hours(i64::from(settings.due_reminder_hours));
        kernel.job(Arc::new(DueReminders { work, within }));
        Ok(())
    }
}

/// Work's part in exporting and deleting an account.
struct Hooks(Work);

#[async_trait::async_trait]
impl AccountHooks for Hooks {
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value> {
        Ok(self.0.export(user).await?)
    }

    async fn deleting(&self, tx: &mut Tx, user: Uuid) -> anyhow::Result<Option<AfterDeletion>> {
        let deleted_projects = self.0.user_departing(tx, user).await?;
        let work = self.0.clone();
        Ok(Some(Box::new(move || work.user_departed(&deleted_projects))))
    }

    async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> anyhow::Result<bool> {
        Ok(self.0.has_activity(tx, user).await?)
    }
}
