//! Accounts use cases: registration, email verification and the one-time codes they send.

use super::*;

impl Accounts {
    /// Creates an email account, signs it in, and emails a verification code.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        name: &str,
        locale: Locale,
        client: &ClientInfo,
    ) -> Result<SessionTokens> {
        let mut errors = Vec::new();
        let email = EmailAddress::parse(email).map_err(|e| collect(&mut errors, e)).ok();
        let password = Password::parse(password, "password").map_err(|e| collect(&mut errors, e)).ok();
        let name = DisplayName::parse(name).map_err(|e| collect(&mut errors, e)).ok();
        let (Some(email), Some(password), Some(name)) = (email, password, name) else {
            return Err(AccountsError::Invalid(errors));
        };
        self.platform.limiter.hit(&format!("register-ip:{}", client.network), REGISTER_PER_IP).await?;
        if store::find_user_by_email(&self.platform.db, email.as_str()).await?.is_some() {
            return Err(AccountsError::EmailTaken);
        }
        let hash = self.platform.hasher.hash(password.as_str()).await?;
        let code = six_digit_code();
        let mut tx = self.platform.db.begin().await?;
        let user = store::insert_user(
            &mut tx,
            &NewUser {
                email: Some(email.as_str()),
                email_verified: false,
                phone: None,
                name: name.as_str(),
                password_hash: Some(&hash),
                role: Role::User.as_str(),
                locale: locale.as_str(),
            },
        )
        .await?;
        events::registered(&self.platform.outbox, &mut tx, &user).await?;
        let code_hash = self.code_hash(CodePurpose::VerifyEmail, email.as_str(), &code);
        store::insert_code(
            &mut tx,
            CodePurpose::VerifyEmail,
            email.as_str(),
            &code_hash,
            Ts::now().plus(EMAIL_CODE_TTL),
        )
        .await?;
        events::enqueue_code_mail(
            &self.platform.outbox,
            &mut tx,
            CodeMail::Verification,
            locale,
            email.as_str(),
            &code,
        )
        .await?;
        let tokens = self.start_session(&mut tx, &user, client).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(tokens)
    }

    /// Checks an emailed verification code and marks the address verified.
    pub async fn verify_email(&self, email: &str, code: &str, client: &ClientInfo) -> Result<User> {
        let email = EmailAddress::parse(email).map_err(|_| AccountsError::InvalidCode)?;
        let code_id = self.check_code(CodePurpose::VerifyEmail, email.as_str(), code, client).await?;
        let user =
            store::find_user_by_email(&self.platform.db, email.as_str()).await?.ok_or(AccountsError::InvalidCode)?;
        let mut tx = self.platform.db.begin().await?;
        if !store::consume_code(&mut tx, code_id).await? {
            return Err(AccountsError::InvalidCode);
        }
        let was_verified = user.email_verified;
        let user = store::mark_email_verified(&mut tx, user.id).await?;
        if !was_verified {
            events::email_verified(&self.platform.outbox, &mut tx, &user).await?;
        }
        tx.commit().await?;
        self.platform.outbox.wake();
        self.user_changed(user.id);
        Ok(User::from_row(user, &self.platform.config.public_url))
    }

    /// Sends a new verification code to an unverified address; silent otherwise.
    pub async fn resend_verification(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let email = EmailAddress::parse(email)?;
        self.limit_send(email.as_str(), client).await?;
        self.code_after_answer(CodePurpose::VerifyEmail, CodeMail::Verification, email, |u| !u.email_verified);
        Ok(())
    }

    /// Looks `email`'s account up and, if `wanted` says so, writes and mails it a code, after
    /// the caller has answered: the answer leaves before anything depends on whether the
    /// account exists (the time a known address spends writing its code, or waiting on a busy
    /// database, would tell it from an unknown one). A failure is logged; the person asks again.
    pub(super) fn code_after_answer(
        &self,
        purpose: CodePurpose,
        kind: CodeMail,
        email: EmailAddress,
        wanted: fn(&UserRow) -> bool,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            let sent = match store::find_user_by_email(&this.platform.db, email.as_str()).await {
                Ok(Some(user)) if wanted(&user) => this.send_email_code(purpose, kind, &user, email.as_str()).await,
                Ok(_) => Ok(()),
                Err(e) => Err(e.into()),
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, ?purpose, "sending a code failed");
            }
        });
    }

    pub(super) async fn send_email_code(
        &self,
        purpose: CodePurpose,
        kind: CodeMail,
        user: &UserRow,
        email: &str,
    ) -> Result<()> {
        let code = six_digit_code();
        let mut tx = self.platform.db.begin().await?;
        let hash = self.code_hash(purpose, email, &code);
        store::insert_code(&mut tx, purpose, email, &hash, Ts::now().plus(EMAIL_CODE_TTL)).await?;
        let locale = Locale::from_stored(&user.locale);
        events::enqueue_code_mail(&self.platform.outbox, &mut tx, kind, locale, email, &code).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(())
    }

    pub(super) async fn limit_send(&self, destination: &str, client: &ClientInfo) -> Result<()> {
        self.platform.limiter.hit(&format!("send-ip:{}", client.network), SENDS_PER_IP).await?;
        self.platform.limiter.hit(&format!("send-to:{destination}"), SENDS_PER_DESTINATION).await?;
        Ok(())
    }

    /// Counts an attempt on the live code and compares; the caller consumes it in its transaction.
    pub(super) async fn check_code(
        &self,
        purpose: CodePurpose,
        destination: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Uuid> {
        self.platform.limiter.hit(&format!("code-check-ip:{}", client.network), CODE_CHECKS_PER_IP).await?;
        // Per address and day, whether the address is known or not and however often a new
        // code was sent: a fresh code does not buy fresh guesses beyond this.
        // Keyed by the client's network too, so a stranger's guesses cannot lock the owner out;
        // a larger cap per address alone bounds what many networks together may try.
        let daily = format!("code-attempts:{}:{destination}:{}", purpose.as_str(), client.network);
        self.platform.limiter.hit(&daily, CODE_ATTEMPTS_PER_DAY).await?;
        let all = format!("code-attempts:{}:{destination}", purpose.as_str());
        self.platform.limiter.hit(&all, CODE_ATTEMPTS_PER_ADDRESS_PER_DAY).await?;
        let row = store::live_code(&self.platform.db, purpose, destination, Ts::now())
            .await?
            .ok_or(AccountsError::InvalidCode)?;
        // A code past its attempts answers like a wrong one (and like an unknown address), so
        // the answer never tells whether the address has an account.
        if !store::take_attempt(&self.platform.db, row.id, MAX_CODE_ATTEMPTS).await? {
            return Err(AccountsError::InvalidCode);
        }
        if !constant_time_eq(&row.code_hash, &self.code_hash(purpose, destination, code.trim())) {
            return Err(AccountsError::InvalidCode);
        }
        Ok(row.id)
    }
}
