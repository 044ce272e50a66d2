//! Invitations: by address always (whether or not an account has it), mailed at most once,
//! valid 14 days, accepted by proof of the address (verifying it, or accepting while signed in
//! with it), withdrawn by managers, declined by the invitee.

use super::{Result, Work};
use crate::error::WorkError;
use crate::events;
use crate::model::*;
use crate::store;
use notifications::NewNotification;
use platform::auth::AuthUser;
use platform::db::{Ts, Tx};
use platform::mail::{Mail, OnBehalf, html_escape};
use platform::outbox::SEND_MAIL_ON_BEHALF;
use platform::pagination::Page;
use serde_json::json;
use uuid::Uuid;

/// How long an invitation stays valid.
pub(crate) const INVITATION_TTL: chrono::Duration = chrono::Duration::days(14);
/// New invitations one person may send per hour (each may mail an address that never agreed to
/// hear from us).
pub(crate) const INVITATIONS_PER_SENDER: platform::ratelimit::Quota =
    platform::ratelimit::Quota::new(50, std::time::Duration::from_secs(3600));

impl Work {
    /// Pending invitations (owner and managers).
    pub async fn invitations(
        &self,
        user: &AuthUser,
        project: Uuid,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Invitation>> {
        self.require(user, project, Role::Manager).await?;
        let live_since = Ts::now().minus(INVITATION_TTL);
        let rows = store::invitations(&self.platform.db, project, live_since, after, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.0);
        let items = page
            .items
            .into_iter()
            .map(|(id, email, role, created_at)| Invitation { id, email, role: Role::from_stored(&role), created_at })
            .collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// Records an invitation and emails it (through the outbox).
    pub(super) async fn invite(&self, user: &AuthUser, project: Uuid, email: &str, role: Role) -> Result<Invitation> {
        let address = accounts::EmailAddress::parse(email)
            .map_err(|_| WorkError::field("email", "must be a valid email address"))?;
        let project_name = self.project_as(user, project).await?.name;
        // Every invitation counts, whether or not the address has an account, so the answer
        // never tells which.
        let key = format!("invite-from:{}", user.user_id);
        self.platform.limiter.hit(&key, INVITATIONS_PER_SENDER).await.map_err(WorkError::RateLimited)?;
        let inviter = self.name_of(user.user_id).await;
        let now = Ts::now();
        let invitee = self.accounts.verified_user_by_email(address.as_str()).await?;
        let mut recorded = Vec::new();
        let mut tx = self.platform.db.begin().await?;
        let (id, new) = store::upsert_invitation(
            &mut tx,
            project,
            address.as_str(),
            role.as_str(),
            user.user_id,
            now,
            now.minus(INVITATION_TTL),
        )
        .await?;
        let invitation = Invitation { id, email: address.as_str().to_string(), role, created_at: now };
        if !new {
            // Asking again changes the role at most: one mail per invitation.
            tx.commit().await?;
            return Ok(invitation);
        }
        store::log(&mut tx, project, Some(user.user_id), "member.invited", None, &json!({"email": address.as_str()}))
            .await?;
        if let Some(invitee) = invitee {
            // Someone with an account hears of it as a notification (mailed as their preferences
            // say); the invitation mail below is for addresses without one.
            if invitee.id != user.user_id {
                let note = NewNotification {
                    user_id: invitee.id,
                    actor: Some(user.user_id),
                    kind: crate::events::PROJECT_INVITATION,
                    title: format!("{inviter} invited you to {project_name}"),
                    body: format!("Join the project {project_name} as a {}, or decline.", role.as_str()),
                    data: json!({"project_id": project, "invitation_id": id}),
                };
                self.notify(&mut tx, &mut recorded, note).await?;
            }
            tx.commit().await?;
            self.notifications.announce(&recorded);
            return Ok(invitation);
        }
        let mail = Mail {
            to: address.as_str().to_string(),
            subject: format!("{inviter} invited you to {project_name} on ferrobase"),
            text: format!(
                "{inviter} invited you to join the project {project_name} as a {}.\n\n\
                 Sign up with this email address and verify it; you will then be a member.\n",
                role.as_str()
            ),
            html: format!(
                "<p>{} invited you to join the project <strong>{}</strong> as a {}.</p>\
                 <p>Sign up with this email address and verify it; you will then be a member.</p>",
                html_escape(&inviter),
                html_escape(&project_name),
                role.as_str()
            ),
            attachments: Vec::new(),
        };
        // The address never agreed to hear from us: one mail per invitation at most, and none
        // past the inviter's or the address's hourly budget (decided at delivery; the
        // invitation stands either way).
        let mail = OnBehalf { mail, sender: Some(user.user_id), coalesce: None };
        self.platform.outbox.enqueue(&mut tx, SEND_MAIL_ON_BEHALF, &mail).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.notifications.announce(&recorded);
        Ok(invitation)
    }

    /// Withdraws an invitation (owner and managers).
    pub async fn revoke_invitation(&self, user: &AuthUser, project: Uuid, id: Uuid) -> Result<()> {
        self.require(user, project, Role::Manager).await?;
        let mut tx = self.platform.db.begin().await?;
        if !store::delete_invitation(&mut tx, project, id).await? {
            return Err(WorkError::NotFound);
        }
        store::log(&mut tx, project, Some(user.user_id), "invitation.revoked", Some(id), &json!({})).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The caller's live invitations (to their verified address).
    pub async fn my_invitations(
        &self,
        user: &AuthUser,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<InvitationForMe>> {
        let Some(email) = self.verified_email(user).await? else {
            return Ok(Page { items: Vec::new(), next_cursor: None });
        };
        let live_since = Ts::now().minus(INVITATION_TTL);
        let rows = store::invitations_of(&self.platform.db, &email, live_since, after, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.0);
        let items = page
            .items
            .into_iter()
            .map(|(id, project_id, project_name, role, created_at)| InvitationForMe {
                id,
                project_id,
                project_name,
                role: Role::from_stored(&role),
                created_at,
                expires_at: created_at.plus(INVITATION_TTL),
            })
            .collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// Accepts one of the caller's invitations: they become a member with its role.
    pub async fn accept_invitation(&self, user: &AuthUser, id: Uuid) -> Result<Member> {
        let email = self.verified_email(user).await?.ok_or(WorkError::NotFound)?;
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        let joined = self.join_invited(&mut tx, user.user_id, &email, Some(id), None, now).await?;
        let Some((_, role)) = joined.first().copied() else { return Err(WorkError::NotFound) };
        tx.commit().await?;
        self.announce_joined(user.user_id, &joined, now).await;
        Ok(Member { user_id: user.user_id, name: self.name_of(user.user_id).await, role, joined_at: now })
    }

    /// Declines one of the caller's invitations.
    pub async fn decline_invitation(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        let email = self.verified_email(user).await?.ok_or(WorkError::NotFound)?;
        let mut tx = self.platform.db.begin().await?;
        let taken = store::take_invitations(&mut tx, &email, Ts::now().minus(INVITATION_TTL), Some(id), None).await?;
        if taken.is_empty() {
            return Err(WorkError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }

    async fn verified_email(&self, user: &AuthUser) -> Result<Option<String>> {
        let me = self.accounts.user(user.user_id).await?;
        Ok(me.email.filter(|_| me.email_verified))
    }

    /// Turns the live invitations of `email` (only `only`, when given) into memberships of
    /// `user`, inside `tx`; answers the projects joined. Accepting twice joins nothing twice.
    pub(crate) async fn join_invited(
        &self,
        tx: &mut Tx,
        user: Uuid,
        email: &str,
        only: Option<Uuid>,
        sent_by: Option<Ts>,
        now: Ts,
    ) -> Result<Vec<(Uuid, Role)>> {
        let invitations = store::take_invitations(tx, email, now.minus(INVITATION_TTL), only, sent_by).await?;
        let mut joined = Vec::new();
        for (project, role) in &invitations {
            if store::member_role_tx(tx, *project, user).await?.is_none() {
                store::add_member(tx, *project, user, role, now).await?;
                store::log(tx, *project, Some(user), "member.joined", Some(user), &json!({"role": role})).await?;
                joined.push((*project, Role::from_stored(role)));
            }
        }
        Ok(joined)
    }

    /// After the commit that joined `user` to projects: their access, and the projects' rooms.
    pub(crate) async fn announce_joined(&self, user: Uuid, joined: &[(Uuid, Role)], now: Ts) {
        for (project, _) in joined {
            self.access_changed(*project, Some(user));
        }
        if joined.is_empty() {
            return;
        }
        let name = self.name_of(user).await;
        for (project, role) in joined {
            let member = Member { user_id: user, name: name.clone(), role: *role, joined_at: now };
            events::publish(
                &self.platform.hub,
                *project,
                events::MEMBER_ADDED,
                &json!({"projectId": project, "member": member}),
            );
        }
    }
}
