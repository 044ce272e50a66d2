//! Re-checking connections: after a backplane gap (control messages may have been missed) and
//! when a socket re-authenticates, each subscription's owner is asked again, and the session
//! is checked, a few connections at a time.

use super::{Connection, Hub};
use crate::auth::{AuthUser, SessionCheck};
use std::sync::Arc;

/// Audits (session check plus one authorisation per topic) that run at once on an instance.
pub const AUDITS_AT_ONCE: usize = 4;
/// The pause before an audit that could not be completed is tried again.
const AUDIT_RETRY: std::time::Duration = std::time::Duration::from_secs(5);

impl Hub {
    /// Asks every authenticated connection here to re-check its session and subscriptions:
    /// called when this instance may have missed control messages (its backplane subscription
    /// was lost and is back), so that what was revoked meanwhile ends all the same.
    pub(in crate::realtime) fn audit_all(&self) {
        let bound = self.inner.bound.read().unwrap_or_else(|p| p.into_inner());
        for b in bound.values() {
            b.audit.notify_one();
        }
    }

    /// The audit of one connection after a backplane gap ([`Hub::audit_all`]): is its session
    /// still live, and may it keep each subscription? `None` when the session has ended (close
    /// the connection); otherwise the topics that ended. At most [`AUDITS_AT_ONCE`] run at once
    /// on an instance, so thousands of sockets re-checking together leave the database to the
    /// requests; a check that could not be made (database down) is asked again after a pause.
    pub async fn audit(
        &self,
        conn: &mut Connection,
        user: &AuthUser,
        sessions: &dyn SessionCheck,
    ) -> Option<Vec<Arc<str>>> {
        let _turn = self.inner.audits.acquire().await;
        let role = match sessions.check(user.user_id, user.session_id).await {
            Ok(None) => return None,
            Ok(Some(status)) => status.role,
            Err(e) => {
                tracing::warn!(error = %e, "could not re-check a realtime session; asking again later");
                self.audit_later(conn);
                return Some(Vec::new());
            }
        };
        let user = AuthUser { role, ..user.clone() };
        let (ended, unsure) = self.reauthorize_checked(conn, &user).await;
        if unsure {
            self.audit_later(conn);
        }
        Some(ended)
    }

    /// Re-arms `conn`'s audit after a pause (spread by connection so they do not return together).
    fn audit_later(&self, conn: &Connection) {
        let audit = conn.audit.clone();
        let pause = AUDIT_RETRY + std::time::Duration::from_millis(conn.id % 1000);
        tokio::spawn(async move {
            tokio::time::sleep(pause).await;
            audit.notify_one();
        });
    }

    /// Asks each topic's owner again whether `user` may stay subscribed, and ends (with an
    /// `unsubscribed` frame) every subscription of `conn` that is no longer allowed. Runs
    /// when a connection re-authenticates and after a backplane gap. An owner that cannot
    /// answer leaves the subscription in place. Returns the topics that ended.
    pub async fn reauthorize(&self, conn: &mut Connection, user: &AuthUser) -> Vec<Arc<str>> {
        self.reauthorize_checked(conn, user).await.0
    }

    /// Like [`Hub::reauthorize`], also telling whether some owner could not answer.
    async fn reauthorize_checked(&self, conn: &mut Connection, user: &AuthUser) -> (Vec<Arc<str>>, bool) {
        let mut unsure = false;
        let mut ended = Vec::new();
        let topics: Vec<Arc<str>> = conn.topics.iter().cloned().collect();
        for topic in topics {
            let allowed = match self.owner_of(&topic) {
                Some(owner) => owner.authorize(user, &topic).await,
                None => Ok(false),
            };
            match allowed {
                Ok(true) => {}
                Ok(false) => {
                    self.unsubscribe(conn, &topic);
                    let _ = conn.inlet.offer(&Arc::from([super::unsubscribed_frame(&topic)]));
                    ended.push(topic);
                }
                Err(e) => {
                    tracing::warn!(topic = %topic, error = %e.detail, "could not re-authorise a subscription");
                    unsure = true;
                }
            }
        }
        conn.user = Some(user.user_id);
        (ended, unsure)
    }
}
