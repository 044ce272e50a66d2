//! The notification use cases: record (inside another module's transaction), announce after
//! commit, and the inbox operations of the user.

use crate::error::NotificationsError;
use crate::events;
use crate::model::*;
use crate::store::{self, NewRow};
use accounts::Accounts;
use platform::Platform;
use platform::db::{Ts, Tx};
use platform::mail::OnBehalf;
use platform::outbox::SEND_MAIL_ON_BEHALF;
use platform::pagination::Page;
use uuid::Uuid;

type Result<T> = std::result::Result<T, NotificationsError>;

/// A notification written in a transaction, to announce once that transaction commits.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The recipient.
    pub user_id: Uuid,
    /// The inbox entry.
    pub notification: Notification,
    /// Whether an email was queued.
    pub emailed: bool,
}

/// The notifications service. Cheap to clone; other modules hold one.
#[derive(Clone)]
pub struct Notifications {
    platform: Platform,
    accounts: Accounts,
    kinds: std::sync::Arc<[Kind]>,
}

impl Notifications {
    /// The service over the platform, for the notification kinds the modules registered.
    pub fn new(platform: Platform, accounts: Accounts, kinds: &[Kind]) -> Self {
        Self { platform, accounts, kinds: kinds.into() }
    }

    /// The registered kinds.
    pub fn kinds(&self) -> &[Kind] {
        &self.kinds
    }

    /// Writes `new` into the recipient's inbox inside `tx` and, if they want this kind by email
    /// and have a verified address, queues the email in the same transaction. Call
    /// [`Notifications::announce`] after the commit.
    pub async fn record(&self, tx: &mut Tx, new: NewNotification) -> Result<Recorded> {
        let notification = Notification {
            id: Uuid::now_v7(),
            kind: new.kind.name.to_string(),
            title: new.title,
            body: new.body,
            data: new.data,
            read_at: None,
            created_at: Ts::now(),
        };
        let data = notification.data.to_string();
        let row = NewRow {
            id: notification.id,
            user_id: new.user_id,
            kind: new.kind.name,
            title: &notification.title,
            body: &notification.body,
            data: &data,
            created_at: notification.created_at,
        };
        store::insert(tx, &row).await?;
        let mut emailed = false;
        if store::email_wanted(tx, new.user_id, new.kind.name).await? {
            let user = self.accounts.user_in(tx, new.user_id).await?;
            // Only verified addresses of active accounts: an unverified one may belong to
            // someone else.
            if let (Some(to), true, false) = (user.email.as_deref(), user.email_verified, user.disabled) {
                // Coalescing and the mail budgets are decided at delivery, not in this
                // transaction (which must not wait on Redis).
                let mail = OnBehalf {
                    mail: events::mail(to, &notification),
                    sender: new.actor,
                    coalesce: Some(format!("{}:{}", new.user_id, new.kind.name)),
                };
                self.platform.outbox.enqueue(tx, SEND_MAIL_ON_BEHALF, &mail).await?;
                emailed = true;
            }
        }
        Ok(Recorded { user_id: new.user_id, notification, emailed })
    }

    /// After the commit of the transaction that recorded them: pushes each notification on its
    /// recipient's topic and wakes the mail worker.
    pub fn announce(&self, recorded: &[Recorded]) {
        for r in recorded {
            self.platform.hub.publish(&user_topic(r.user_id), events::CREATED, &r.notification);
        }
        if recorded.iter().any(|r| r.emailed) {
            self.platform.outbox.wake();
        }
    }

    /// The user's inbox, newest first.
    pub async fn list(
        &self,
        user: Uuid,
        unread_only: bool,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Notification>> {
        let rows = store::list(&self.platform.db, user, unread_only, before, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.id);
        Ok(Page {
            items: page.items.into_iter().map(|r| r.into_notification()).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// How many notifications are unread.
    pub async fn unread_count(&self, user: Uuid) -> Result<i64> {
        Ok(store::unread_count(&self.platform.db, user).await?)
    }

    /// Marks one notification read.
    pub async fn mark_read(&self, user: Uuid, id: Uuid) -> Result<Notification> {
        let row = store::mark_read(&self.platform.db, user, id).await?.ok_or(NotificationsError::NotFound)?;
        let notification = row.into_notification();
        self.platform.hub.publish(&user_topic(user), events::READ, &serde_json::json!({"ids": [id]}));
        Ok(notification)
    }

    /// Marks every notification read; how many changed.
    pub async fn mark_all_read(&self, user: Uuid) -> Result<u64> {
        let n = store::mark_all_read(&self.platform.db, user).await?;
        self.platform.hub.publish(&user_topic(user), events::READ, &serde_json::json!({"all": true}));
        Ok(n)
    }

    /// Delivery per kind.
    pub async fn preferences(&self, user: Uuid) -> Result<Preferences> {
        let off = store::email_off(&self.platform.db, user).await?;
        Ok(Preferences::from_email_off(&self.kinds, &off))
    }

    /// Turns email on or off per kind, in one transaction.
    pub async fn set_email(&self, user: Uuid, changes: &[(Kind, bool)]) -> Result<Preferences> {
        let mut tx = self.platform.db.begin().await?;
        for (kind, email) in changes {
            store::set_email(&mut tx, user, kind.name, *email).await?;
        }
        tx.commit().await?;
        self.preferences(user).await
    }

    /// Everything this module keeps about `user`, for the data export.
    pub async fn export(&self, user: Uuid) -> Result<serde_json::Value> {
        let inbox = store::list(&self.platform.db, user, false, None, i64::MAX).await?;
        let inbox: Vec<Notification> = inbox.into_iter().map(|r| r.into_notification()).collect();
        Ok(serde_json::json!({ "inbox": inbox, "preferences": self.preferences(user).await? }))
    }
}
