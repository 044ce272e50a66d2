//! Accounts use cases: user administration and the first admin (CLI).

use super::*;

impl Accounts {
    /// Lists users, optionally matching `q` in email or name.
    pub async fn list_users(&self, q: Option<&str>, cursor: Option<Uuid>, limit: i64) -> Result<Page<User>> {
        let q = q.map(str::trim).filter(|q| !q.is_empty());
        let rows = store::list_users(&self.platform.db, q, cursor, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.id);
        Ok(Page {
            items: page.items.into_iter().map(|r| User::from_row(r, &self.platform.config.public_url)).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Changes a user's role or disabled flag; either change ends all their sessions.
    pub async fn admin_update(&self, target: Uuid, role: Option<Role>, disabled: Option<bool>) -> Result<User> {
        let before = store::find_user(&self.platform.db, target).await?.ok_or(AccountsError::NotFound)?;
        let mut tx = self.platform.db.begin().await?;
        let after = store::update_admin_fields(&mut tx, target, role.map(Role::as_str), disabled).await?;
        if after.role != before.role || (after.disabled && !before.disabled) {
            store::revoke_all_sessions(&mut tx, target, None).await?;
        }
        tx.commit().await?;
        if after.role != before.role || (after.disabled && !before.disabled) {
            self.ended(Ended::User { user: target, except: None });
        } else {
            self.sessions_changed(target);
        }
        Ok(User::from_row(after, &self.platform.config.public_url))
    }

    /// Creates a verified admin, or promotes (and re-passwords) an existing account. CLI only.
    pub async fn create_admin(&self, email: &str, password: &str) -> Result<User> {
        let email = EmailAddress::parse(email)?;
        let password = Password::parse(password, "password")?;
        let hash = self.platform.hasher.hash(password.as_str()).await?;
        let existing = store::find_user_by_email(&self.platform.db, email.as_str()).await?;
        let mut tx = self.platform.db.begin().await?;
        let user = match existing {
            Some(user) => {
                store::set_password(&mut tx, user.id, &hash).await?;
                let verified = store::mark_email_verified(&mut tx, user.id).await?;
                if !user.email_verified {
                    events::email_verified(&self.platform.outbox, &mut tx, &verified).await?;
                }
                store::revoke_all_sessions(&mut tx, user.id, None).await?;
                store::update_admin_fields(&mut tx, user.id, Some(Role::Admin.as_str()), Some(false)).await?
            }
            None => {
                let name = email.as_str().split('@').next().unwrap_or("admin").to_string();
                let new = NewUser {
                    email: Some(email.as_str()),
                    email_verified: true,
                    phone: None,
                    name: &name,
                    password_hash: Some(&hash),
                    role: Role::Admin.as_str(),
                    locale: Locale::En.as_str(),
                };
                let user = store::insert_user(&mut tx, &new).await?;
                events::registered(&self.platform.outbox, &mut tx, &user).await?;
                events::email_verified(&self.platform.outbox, &mut tx, &user).await?;
                user
            }
        };
        tx.commit().await?;
        self.platform.outbox.wake();
        self.ended(Ended::User { user: user.id, except: None });
        Ok(User::from_row(user, &self.platform.config.public_url))
    }
}
