//! Accounts use cases: the profile, the avatar, the data export and account deletion.

use super::*;
use platform::module::AfterDeletion;

impl Accounts {
    /// Changes the caller's profile and returns it.
    pub async fn update_profile(
        &self,
        user: Uuid,
        name: Option<&str>,
        locale: Option<Locale>,
        public_profile: Option<bool>,
    ) -> Result<User> {
        let name = name.map(DisplayName::parse).transpose()?;
        let row = store::update_profile(
            &self.platform.db,
            user,
            name.as_ref().map(DisplayName::as_str),
            locale.map(Locale::as_str),
            public_profile,
        )
        .await?;
        self.user_changed(user);
        Ok(User::from_row(row, &self.platform.config.public_url))
    }

    /// Deletes the caller's account after checking the password (accounts without a password,
    /// created by phone, are confirmed by the signed-in session alone). Stored files are removed
    /// by the outbox once the deletion has committed.
    pub async fn delete_account(&self, user: Uuid, password: Option<&str>) -> Result<()> {
        let row = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        if row.password_hash.is_some() {
            self.require_password(&row, password.unwrap_or_default()).await?;
        }
        let mut tx = self.platform.db.begin().await?;
        let after = self.remove_user(&mut tx, user, row.avatar_key.as_deref(), false).await?;
        tx.commit().await?;
        self.removed(user, after.unwrap_or_default());
        Ok(())
    }

    /// Removes `user` inside `tx`: every module first hands on what others share with the user
    /// (rooms, projects) and keeps their conversations, then the row goes with its sessions,
    /// and the deletion event and the avatar files' removal are queued. Answers what the
    /// modules want done once it commits, or None (roll back) when nothing was removed: with
    /// `only_unverified`, if the account was verified meanwhile.
    pub(super) async fn remove_user(
        &self,
        tx: &mut platform::db::Tx,
        user: Uuid,
        avatar_key: Option<&str>,
        only_unverified: bool,
    ) -> Result<Option<Vec<AfterDeletion>>> {
        let mut after = Vec::new();
        for (module, hooks) in self.hooks.all() {
            after.extend(hooks.deleting(tx, user).await.map_err(|e| AccountsError::Hook(module, e))?);
        }
        let gone = if only_unverified {
            store::delete_unverified_user(tx, user).await?
        } else {
            store::delete_user(tx, user).await?
        };
        if !gone {
            return Ok(None);
        }
        events::deleted(&self.platform.outbox, tx, user).await?;
        self.forget_avatar_files(tx, avatar_key).await?;
        Ok(Some(after))
    }

    /// Removes one never-verified account unless it has activity; true when it went.
    async fn purge_one(&self, user: Uuid, avatar_key: Option<&str>) -> Result<bool> {
        let mut tx = self.platform.db.begin().await?;
        for (module, hooks) in self.hooks.all() {
            if hooks.has_activity(&mut tx, user).await.map_err(|e| AccountsError::Hook(module, e))? {
                return Ok(false); // dropping the transaction rolls it back
            }
        }
        let Some(after) = self.remove_user(&mut tx, user, avatar_key, true).await? else {
            return Ok(false);
        };
        tx.commit().await?;
        self.removed(user, after);
        Ok(true)
    }

    /// After a removal committed: end the user's connections, let the modules finish (announce
    /// what went, drop cached rows), and start the outbox on the queued work.
    fn removed(&self, user: Uuid, after: Vec<AfterDeletion>) {
        self.ended(Ended::User { user, except: None });
        for finish in after {
            finish();
        }
        self.platform.outbox.wake();
    }

    /// Removes email accounts never verified and created before `before`, unless the account
    /// left something others see (a message, a comment, a shared project): those stay, as
    /// deleting them would rewrite other people's conversations. Returns how many went. Safe
    /// on several instances at once (each removal re-checks inside its transaction).
    pub async fn purge_unverified(&self, before: Ts) -> Result<u64> {
        let mut purged = 0;
        let mut after = None;
        loop {
            let batch = store::unverified_before(&self.platform.db, before, after, 100).await?;
            let Some(last) = batch.last() else { break };
            after = Some(last.0);
            for (user, avatar_key) in batch {
                // One account failing (a module's hook, a lost connection) must not stop the
                // purge of the others: it is logged and tried again on the next run.
                match self.purge_one(user, avatar_key.as_deref()).await {
                    Ok(true) => purged += 1,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(%user, error = %e, "purging an unverified account failed"),
                }
            }
        }
        Ok(purged)
    }

    pub(super) async fn forget_avatar_files(&self, tx: &mut platform::db::Tx, key: Option<&str>) -> Result<()> {
        if let Some(key) = key {
            let files = DeleteFiles { keys: vec![key.to_string(), avatar::thumbnail_key(key)] };
            self.platform.outbox.enqueue(tx, DELETE_FILES, &files).await?;
        }
        Ok(())
    }

    /// Replaces the caller's avatar with an uploaded image (its type and pixel count already
    /// checked by the upload extractor) and a generated thumbnail. The stored original is
    /// re-encoded upright without its metadata (EXIF, GPS). Files are written before the row
    /// points at them, so a reader never sees a key without its file; the previous files are
    /// removed after the commit.
    pub async fn set_avatar(&self, user: Uuid, file: platform::upload::Received) -> Result<User> {
        let before = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        // Counted before the decoding, the costly part.
        self.platform.limiter.hit(&format!("avatar:{user}"), AVATAR_UPLOADS).await?;
        let clean = self.platform.uploads.clean(file, avatar::MAX_SIDE, Some(avatar::THUMBNAIL_SIZE)).await??;
        let thumbnail = clean.thumbnail.unwrap_or_default();
        let key = avatar::new_key(user, clean.kind.extension());
        self.platform.storage.put(&key, clean.bytes.into()).await?;
        self.platform.storage.put(&avatar::thumbnail_key(&key), thumbnail.into()).await?;
        let mut tx = self.platform.db.begin().await?;
        let row = store::set_avatar(&mut tx, user, Some(&key)).await?;
        self.forget_avatar_files(&mut tx, before.avatar_key.as_deref()).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.user_changed(user);
        Ok(User::from_row(row, &self.platform.config.public_url))
    }

    /// Removes the caller's avatar.
    pub async fn delete_avatar(&self, user: Uuid) -> Result<User> {
        let before = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        let mut tx = self.platform.db.begin().await?;
        let row = store::set_avatar(&mut tx, user, None).await?;
        self.forget_avatar_files(&mut tx, before.avatar_key.as_deref()).await?;
        tx.commit().await?;
        self.platform.outbox.wake();
        self.user_changed(user);
        Ok(User::from_row(row, &self.platform.config.public_url))
    }

    /// A user's avatar (or its thumbnail) and its content type.
    pub async fn avatar(&self, user: Uuid, thumbnail: bool) -> Result<(bytes::Bytes, &'static str)> {
        let row = store::find_user(&self.platform.db, user).await?.ok_or(AccountsError::NotFound)?;
        let key = row.avatar_key.ok_or(AccountsError::NotFound)?;
        let (key, content_type) = if thumbnail {
            (avatar::thumbnail_key(&key), "image/jpeg")
        } else {
            (key.clone(), avatar::content_type(&key))
        };
        let bytes = self.platform.storage.get(&key).await?.ok_or(AccountsError::NotFound)?;
        Ok((bytes, content_type))
    }

    /// Everything stored about the caller: this module's part and every other module's, each
    /// under the module's name.
    pub async fn export(&self, user: Uuid, session: Uuid) -> Result<serde_json::Value> {
        let me = self.user(user).await?;
        let sessions = self.sessions(user, session).await?;
        let mut out = serde_json::json!({
            "exported_at": Ts::now(),
            "accounts": { "user": me, "sessions": sessions },
        });
        for (module, hooks) in self.hooks.all() {
            let part = hooks.export(user).await.map_err(|e| AccountsError::Hook(module, e))?;
            out[module] = part;
        }
        Ok(out)
    }
}
