//! How chat plugs into the platform: the `chat.room.` topics, the `chat.send` and
//! `chat.typing` gateway commands, the default rooms (a setting), its notification kind, and
//! its part of a user's data export.

use crate::realtime::{SendCommand, TypingCommand};
use crate::service::Chat;
use accounts::Accounts;
use notifications::Notifications;
use platform::db::Tx;
use platform::module::{
    AccountHooks, AfterDeletion, Kernel, Module, NotificationKind, Settings, SettingsOf, SettingsSpec,
};
use std::sync::Arc;
use uuid::Uuid;

/// The chat module.
pub struct ChatModule;

/// Chat's settings (`[chat]` in `ferrobase.toml`, or `FERROBASE_CHAT__*`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChatSettings {
    /// Create the public rooms General, Random and Tech Talk on first start.
    pub default_rooms: bool,
}

impl Settings for ChatSettings {}

impl Default for ChatSettings {
    fn default() -> Self {
        Self { default_rooms: true }
    }
}

#[async_trait::async_trait]
impl Module for ChatModule {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn migrations(&self) -> &'static [platform::db::Migration] {
        crate::MIGRATIONS
    }

    fn notification_kinds(&self) -> &'static [NotificationKind] {
        &[crate::events::CHAT_MENTION]
    }

    fn settings(&self) -> Option<&'static dyn SettingsSpec> {
        Some(&SettingsOf::<ChatSettings>::SPEC)
    }

    async fn init(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let accounts: Accounts = kernel.service()?;
        let notifications: Notifications = kernel.service()?;
        let chat = Chat::new(kernel.platform().clone(), accounts, notifications);
        kernel.account_hooks(Arc::new(Hooks(chat.clone())));
        kernel.provide(chat);
        Ok(())
    }

    async fn serve(&self, kernel: &mut Kernel) -> anyhow::Result<()> {
        let chat: Chat = kernel.service()?;
        if kernel.settings::<ChatSettings>()?.default_rooms {
            chat.ensure_default_rooms().await.map_err(|e| anyhow::anyhow!("creating the default chat rooms: {e}"))?;
        }
        kernel.topic("chat.room.", chat.topics());
        kernel.command("chat.send", Arc::new(SendCommand(chat.clone())))?;
        kernel.command("chat.typing", Arc::new(TypingCommand(chat.clone())))?;
        kernel.routes(crate::routes::router(chat, kernel.auth()?, kernel.gateway()?));
        Ok(())
    }
}

/// Chat's part in exporting and deleting an account.
struct Hooks(Chat);

#[async_trait::async_trait]
impl AccountHooks for Hooks {
    async fn export(&self, user: Uuid) -> anyhow::Result<serde_json::Value> {
        Ok(self.0.export(user).await?)
    }

    async fn deleting(&self, tx: &mut Tx, user: Uuid) -> anyhow::Result<Option<AfterDeletion>> {
        let deleted_rooms = self.0.user_departing(tx, user).await?;
        let chat = self.0.clone();
        Ok(Some(Box::new(move || chat.user_departed(&deleted_rooms))))
    }

    async fn has_activity(&self, tx: &mut Tx, user: Uuid) -> anyhow::Result<bool> {
        Ok(self.0.has_activity(tx, user).await?)
    }
}
