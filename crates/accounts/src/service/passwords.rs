//! Accounts use cases: forgotten, reset and changed passwords.

use super::*;

impl Accounts {
    /// Emails a reset code if the account exists; answers the same either way.
    pub async fn forgot_password(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let email = EmailAddress::parse(email)?;
        self.limit_send(email.as_str(), client).await?;
        self.code_after_answer(CodePurpose::PasswordReset, CodeMail::PasswordReset, email, |u| !u.disabled);
        Ok(())
    }

    /// Exchanges a reset code for a single-use reset token.
    pub async fn verify_reset_code(&self, email: &str, code: &str, client: &ClientInfo) -> Result<String> {
        let email = EmailAddress::parse(email).map_err(|_| AccountsError::InvalidCode)?;
        let code_id = self.check_code(CodePurpose::PasswordReset, email.as_str(), code, client).await?;
        let user =
            store::find_user_by_email(&self.platform.db, email.as_str()).await?.ok_or(AccountsError::InvalidCode)?;
        let token = random_token();
        let mut tx = self.platform.db.begin().await?;
        if !store::consume_code(&mut tx, code_id).await? {
            return Err(AccountsError::InvalidCode);
        }
        let expires = Ts::now().plus(RESET_TOKEN_TTL);
        store::insert_code(&mut tx, CodePurpose::ResetToken, &user.id.to_string(), &sha256_hex(&token), expires)
            .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Sets a new password with a reset token and ends every session of the user.
    pub async fn reset_password(&self, reset_token: &str, new_password: &str) -> Result<()> {
        let password = Password::parse(new_password, "new_password")?;
        let hash = self.platform.hasher.hash(password.as_str()).await?;
        let mut tx = self.platform.db.begin().await?;
        let row =
            store::live_code_by_hash(&mut tx, CodePurpose::ResetToken, &sha256_hex(reset_token.trim()), Ts::now())
                .await?
                .ok_or(AccountsError::InvalidResetToken)?;
        let user = Uuid::parse_str(&row.destination).map_err(|_| AccountsError::InvalidResetToken)?;
        if !store::consume_code(&mut tx, row.id).await? {
            return Err(AccountsError::InvalidResetToken);
        }
        store::set_password(&mut tx, user, &hash).await?;
        // The reset code went to this address, which proves the user controls it. Only a change
        // from unverified is an event: re-announcing would accept invitations without consent.
        let was_verified = store::find_user_in(&mut tx, user).await?.is_some_and(|u| u.email_verified);
        let verified = store::mark_email_verified(&mut tx, user).await?;
        if !was_verified {
            events::email_verified(&self.platform.outbox, &mut tx, &verified).await?;
        }
        store::revoke_all_sessions(&mut tx, user, None).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.ended(Ended::User { user, except: None });
        Ok(())
    }

    /// Changes the password of a signed-in user and ends their other sessions.
    pub async fn change_password(&self, user: Uuid, session: Uuid, current: &str, new_password: &str) -> Result<()> {
        let password = Password::parse(new_password, "new_password")?;
        let row = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        self.require_password(&row, current).await?;
        let hash = self.platform.hasher.hash(password.as_str()).await?;
        let mut tx = self.platform.db.begin().await?;
        store::set_password(&mut tx, user, &hash).await?;
        store::revoke_all_sessions(&mut tx, user, Some(session)).await?;
        tx.commit().await?;
        self.ended(Ended::User { user, except: Some(session) });
        Ok(())
    }

    pub(super) async fn require_password(&self, row: &UserRow, password: &str) -> Result<()> {
        // Counted before the hash is checked (as sign-in is), so concurrent guesses with a stolen
        // access token get no more than the limit checked; a right password clears the count.
        let key = format!("password-check:{}", row.id);
        self.platform.limiter.hit(&key, LOGIN_FAILURES).await?;
        if !self.platform.hasher.verify(password, row.password_hash.as_deref()).await? {
            return Err(AccountsError::WrongPassword);
        }
        self.platform.limiter.clear(&key).await;
        Ok(())
    }
}
