//! Scheduled work: one reminder per task when it comes due (within 24 hours by default), and invitations
//! that turn into memberships when their address is verified.

use crate::service::Work;
use crate::store::tasks as store;
use async_trait::async_trait;
use notifications::NewNotification;
use platform::db::Ts;
use platform::outbox::Job;
use serde_json::json;
use uuid::Uuid;

/// Reminds assignees of tasks due within `within` (24 hours unless the work settings say
/// otherwise), once per task and due date. Each reminder is claimed with a conditional update
/// in the transaction that records it, so several instances running the job never send one
/// twice.
pub struct DueReminders {
    /// The service.
    pub work: Work,
    /// How far ahead a due date triggers its reminder.
    pub within: chrono::Duration,
}

#[async_trait]
impl Job for DueReminders {
    fn name(&self) -> &'static str {
        "work.due_reminders"
    }

    async fn run(&self) -> Result<(), String> {
        let work = &self.work;
        let now = Ts::now();
        let due =
            store::due_soon(&work.platform.db, now, now.plus(self.within), 500).await.map_err(|e| e.to_string())?;
        let mut sent = 0;
        for (task, project, title, assignee, due_at) in due {
            let mut tx = work.platform.db.begin().await.map_err(|e| e.to_string())?;
            if !store::claim_reminder(&mut tx, task, now).await.map_err(|e| e.to_string())? {
                continue;
            }
            let note = NewNotification {
                user_id: assignee,
                actor: None,
                kind: crate::events::TASK_DUE,
                title: format!("“{title}” is due soon"),
                body: format!("“{title}” is due {}.", due_at.get().format("%Y-%m-%d %H:%M UTC")),
                data: json!({"project_id": project, "task_id": task}),
            };
            let recorded = work.notifications.record(&mut tx, note).await.map_err(|e| e.to_string())?;
            tx.commit().await.map_err(|e| e.to_string())?;
            work.notifications.announce(&[recorded]);
            sent += 1;
        }
        if sent > 0 {
            tracing::info!(sent, "due-date reminders");
        }
        Ok(())
    }
}

/// Turns invitations into memberships once the invited address is verified: a subscriber of
/// `accounts.email.verified`, so it runs once per verification, in the relay's transaction, and
/// is retried (a crash between the verification and this loses nothing). Only invitations sent
/// before the verification are taken: one sent later waits for its invitee to accept it.
pub struct AcceptInvitations {
    work: Work,
    /// Joins to announce once the relay's transaction has committed, by event id.
    joined: std::sync::Mutex<std::collections::HashMap<Uuid, Joined>>,
}

/// A user, the projects they joined with their roles, and when.
type Joined = (Uuid, Vec<(Uuid, crate::model::Role)>, Ts);

impl AcceptInvitations {
    /// The subscriber over the service.
    pub fn new(work: Work) -> Self {
        Self { work, joined: std::sync::Mutex::default() }
    }
}

#[async_trait]
impl platform::events::Subscriber for AcceptInvitations {
    async fn handle(&self, tx: &mut platform::db::Tx, event: &platform::events::Envelope) -> anyhow::Result<()> {
        let user: Uuid = serde_json::from_value(event.data["user_id"].clone())?;
        let email = event.data["email"].as_str().ok_or_else(|| anyhow::anyhow!("no email in the event"))?;
        // The account may be gone by now: nothing to join, and nothing to retry.
        if self.work.accounts.user_in(tx, user).await.is_err() {
            return Ok(());
        }
        let now = Ts::now();
        let joined = self.work.join_invited(tx, user, email, None, Some(event.occurred_at), now).await?;
        if !joined.is_empty() {
            tracing::info!(%user, joined = joined.len(), "invitations accepted");
            self.joined.lock().unwrap_or_else(|p| p.into_inner()).insert(event.id, (user, joined, now));
        }
        Ok(())
    }

    async fn committed(&self, event: &platform::events::Envelope) {
        let done = self.joined.lock().unwrap_or_else(|p| p.into_inner()).remove(&event.id);
        if let Some((user, joined, now)) = done {
            self.work.announce_joined(user, &joined, now).await;
        }
    }
}
