//! Accounts use cases: sign-in with a one-time SMS code.

use super::*;

impl Accounts {
    /// Texts a sign-in code to a phone number.
    pub async fn send_phone_code(&self, phone: &str, client: &ClientInfo) -> Result<()> {
        let phone = PhoneNumber::parse(phone)?;
        self.limit_send(phone.as_str(), client).await?;
        let code = six_digit_code();
        let mut tx = self.platform.db.begin().await?;
        let hash = self.code_hash(CodePurpose::PhoneSignIn, phone.as_str(), &code);
        store::insert_code(&mut tx, CodePurpose::PhoneSignIn, phone.as_str(), &hash, Ts::now().plus(SMS_CODE_TTL))
            .await?;
        events::enqueue_sign_in_sms(&self.platform.outbox, &mut tx, phone.as_str(), &code).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(())
    }

    /// Checks a phone code and signs in, creating the account on first sign-in.
    pub async fn verify_phone(&self, phone: &str, code: &str, client: &ClientInfo) -> Result<SessionTokens> {
        let phone = PhoneNumber::parse(phone)?;
        let code_id = self.check_code(CodePurpose::PhoneSignIn, phone.as_str(), code, client).await?;
        let existing = store::find_user_by_phone(&self.platform.db, phone.as_str()).await?;
        if existing.as_ref().is_some_and(|u| u.disabled) {
            return Err(AccountsError::AccountDisabled);
        }
        let mut tx = self.platform.db.begin().await?;
        if !store::consume_code(&mut tx, code_id).await? {
            return Err(AccountsError::InvalidCode);
        }
        let user = match existing {
            Some(user) => user,
            None => {
                let digits = phone.as_str();
                let name = format!("User {}", &digits[digits.len().saturating_sub(4)..]);
                let new = NewUser {
                    email: None,
                    email_verified: false,
                    phone: Some(phone.as_str()),
                    name: &name,
                    password_hash: None,
                    role: Role::User.as_str(),
                    locale: Locale::En.as_str(),
                };
                let user = store::insert_user(&mut tx, &new).await?;
                events::registered(&self.platform.outbox, &mut tx, &user).await?;
                user
            }
        };
        let tokens = self.start_session(&mut tx, &user, client).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        Ok(tokens)
    }
}
