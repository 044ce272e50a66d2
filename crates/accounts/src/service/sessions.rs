//! Accounts use cases: sign-in, refresh-token rotation and session revocation.

use super::*;
use platform::http::ClientIp;

impl Accounts {
    /// Email and password sign-in.
    pub async fn login(&self, email: &str, password: &str, client: &ClientInfo) -> Result<SessionTokens> {
        self.platform.limiter.hit(&format!("login-ip:{}", client.network), LOGIN_PER_IP).await?;
        let normalised = email.trim().to_lowercase();
        let fail_key = format!("login-fail:{normalised}");
        // The attempt is counted before the hash is checked, so concurrent guesses cannot all
        // pass the limit before any of them has failed; a success clears the count.
        self.platform.limiter.hit(&fail_key, LOGIN_FAILURES).await?;
        let user = match EmailAddress::parse(&normalised) {
            Ok(e) => store::find_user_by_email(&self.platform.db, e.as_str()).await?,
            Err(_) => None,
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        if !self.platform.hasher.verify(password, hash).await? {
            return Err(AccountsError::InvalidCredentials);
        }
        let user = user.ok_or(AccountsError::InvalidCredentials)?;
        if user.disabled {
            return Err(AccountsError::AccountDisabled);
        }
        self.platform.limiter.clear(&fail_key).await;
        let mut tx = self.platform.db.begin().await?;
        let tokens = self.start_session(&mut tx, &user, client).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    pub(super) async fn start_session(
        &self,
        tx: &mut platform::db::Tx,
        user: &UserRow,
        client: &ClientInfo,
    ) -> Result<SessionTokens> {
        let expires = Ts::now().plus(self.refresh_ttl());
        let session =
            store::insert_session(tx, user.id, expires, client.user_agent.as_deref(), Some(&client.ip)).await?;
        self.tokens_for(tx, user.clone(), session).await
    }

    pub(super) async fn tokens_for(
        &self,
        tx: &mut platform::db::Tx,
        user: UserRow,
        session: Uuid,
    ) -> Result<SessionTokens> {
        let refresh = random_token();
        store::insert_refresh_token(tx, &sha256_hex(&refresh), session).await?;
        let access = self.platform.keys.issue(user.id, session, &user.role)?;
        Ok(SessionTokens {
            user: User::from_row(user, &self.platform.config.public_url),
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer".into(),
            expires_in: self.platform.keys.ttl_secs,
        })
    }

    /// Exchanges a refresh token for a new pair. A spent token means it was stolen or replayed:
    /// the whole session is revoked.
    pub async fn refresh(&self, refresh_token: &str, client: &ClientInfo) -> Result<SessionTokens> {
        let db = &self.platform.db;
        let hash = sha256_hex(refresh_token.trim());
        let row = store::find_refresh_token(db, &hash).await?.ok_or(AccountsError::InvalidRefreshToken)?;
        let now = Ts::now();
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(AccountsError::InvalidRefreshToken);
        }
        let user = store::find_user(db, row.user_id).await?.ok_or(AccountsError::InvalidRefreshToken)?;
        if user.disabled {
            return Err(AccountsError::AccountDisabled);
        }
        let mut tx = db.begin().await?;
        // The conditional update decides races: of two concurrent uses, exactly one spends it.
        if row.spent_at.is_some() || !store::spend_refresh_token(&mut tx, &hash).await? {
            // Two tabs of one browser refreshing at once: the one that lost gets tokens of
            // its own for the same session. Anything else is a replay: the session ends.
            // Same user agent and same network as the session, within seconds, once per token.
            let session_network = row.ip.as_deref().and_then(|ip| ip.parse().ok()).map(|ip| ClientIp(ip).network());
            let same_client =
                client.user_agent == row.user_agent && session_network.as_deref() == Some(&client.network);
            let once = || async {
                self.platform.limiter.hit(&format!("refresh-grace:{hash}"), REUSE_GRACE_USES).await.is_ok()
            };
            if same_client && within_reuse_grace(row.spent_at, now) && once().await {
                let tokens = self.tokens_for(&mut tx, user, row.session_id).await?;
                tx.commit().await?;
                return Ok(tokens);
            }
            store::revoke_session(&mut tx, row.user_id, row.session_id).await?;
            tx.commit().await?;
            self.ended(Ended::Session(row.session_id));
            tracing::warn!(session = %row.session_id, "refresh token reuse; session revoked");
            return Err(AccountsError::RefreshTokenReused);
        }
        store::touch_session(&mut tx, row.session_id, now.plus(self.refresh_ttl())).await?;
        let tokens = self.tokens_for(&mut tx, user, row.session_id).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Ends one session of the caller (its access tokens stop working at once).
    pub async fn revoke_session(&self, user: Uuid, session: Uuid) -> Result<()> {
        let mut tx = self.platform.db.begin().await?;
        if !store::revoke_session(&mut tx, user, session).await? {
            // Someone else's session (or none): nothing of theirs is touched.
            return Err(AccountsError::NotFound);
        }
        tx.commit().await?;
        self.ended(Ended::Session(session));
        Ok(())
    }

    /// Ends every session of the caller.
    pub async fn revoke_all(&self, user: Uuid) -> Result<()> {
        let mut tx = self.platform.db.begin().await?;
        store::revoke_all_sessions(&mut tx, user, None).await?;
        tx.commit().await?;
        self.ended(Ended::User { user, except: None });
        Ok(())
    }

    /// The caller's live sessions, the current one marked.
    pub async fn sessions(&self, user: Uuid, current: Uuid) -> Result<Vec<Session>> {
        let mut list = store::list_sessions(&self.platform.db, user, Ts::now()).await?;
        for s in &mut list {
            s.current = s.id == current;
        }
        Ok(list)
    }
}

/// A spent token's second use is forgiven once.
const REUSE_GRACE_USES: platform::ratelimit::Quota =
    platform::ratelimit::Quota::new(1, std::time::Duration::from_secs(60));

/// How long after a refresh token was spent its second use still counts as a race between two
/// tabs of one client rather than a replay.
pub(crate) const REUSE_GRACE: chrono::Duration = chrono::Duration::seconds(10);

/// Whether a token spent at `spent_at` (None: spent by a concurrent request just now) may be
/// used again at `now` by the same client.
fn within_reuse_grace(spent_at: Option<Ts>, now: Ts) -> bool {
    spent_at.is_none_or(|at| at > now.minus(REUSE_GRACE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_use_is_a_race_only_for_a_few_seconds() {
        let now = Ts::now();
        assert!(within_reuse_grace(None, now));
        assert!(within_reuse_grace(Some(now.minus(chrono::Duration::seconds(9))), now));
        assert!(!within_reuse_grace(Some(now.minus(chrono::Duration::seconds(10))), now));
        assert!(!within_reuse_grace(Some(now.minus(chrono::Duration::hours(1))), now));
    }
}
