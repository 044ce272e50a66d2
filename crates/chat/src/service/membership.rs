//! Chat use cases: joining, leaving, members and their roles, and direct conversations.

use super::*;

impl Chat {
    pub(super) async fn member_out(&self, room: Uuid, user: Uuid, role: MemberRole, joined_at: Ts) -> Result<Member> {
        let name = self.accounts.user(user).await?.name;
        let member = Member { user_id: user, name, role, joined_at };
        events::publish(&self.platform.hub, room, events::MEMBER_JOINED, &member);
        Ok(member)
    }

    /// Joins a public room.
    pub async fn join(&self, user: &AuthUser, room: Uuid) -> Result<Room> {
        match store::room_visibility(&self.platform.db, room).await?.as_deref() {
            Some("public") => {}
            _ => return Err(ChatError::NotFound),
        }
        let mut tx = self.platform.db.begin().await?;
        store::add_member(&mut tx, room, user.user_id, MemberRole::Member.as_str()).await?;
        tx.commit().await?;
        self.member_changed(room, user.user_id);
        self.member_out(room, user.user_id, MemberRole::Member, Ts::now()).await?;
        self.room(user, room).await
    }

    /// Leaves a room.
    pub async fn leave(&self, user: &AuthUser, room: Uuid) -> Result<()> {
        let role = self.require_member(user, room).await.map_err(|_| ChatError::NotFound)?;
        if role == MemberRole::Owner {
            return Err(ChatError::OwnerCannotLeave);
        }
        if store::room_visibility(&self.platform.db, room).await?.as_deref() == Some("direct") {
            return Err(ChatError::DirectRoom);
        }
        self.remove(room, user.user_id).await
    }

    pub(super) async fn remove(&self, room: Uuid, target: Uuid) -> Result<()> {
        if !store::remove_member(&self.platform.db, room, target).await? {
            return Err(ChatError::NotFound);
        }
        self.member_changed(room, target);
        events::publish(
            &self.platform.hub,
            room,
            events::MEMBER_LEFT,
            &serde_json::json!({"room_id": room, "user_id": target}),
        );
        // Their open sockets stop receiving the room at once.
        self.platform.hub.revoke(&room_topic(room), target);
        Ok(())
    }

    /// The members of a room (members only).
    pub async fn members(&self, user: &AuthUser, room: Uuid, after: Option<Uuid>, limit: i64) -> Result<Page<Member>> {
        if !user.is_admin() {
            self.require_member(user, room).await?;
        }
        let rows = store::members(&self.platform.db, room, after, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.user_id);
        let ids: Vec<Uuid> = page.items.iter().map(|r| r.user_id).collect();
        let names = self.accounts.public_users(&ids).await?;
        let items = page
            .items
            .into_iter()
            .map(|r| Member {
                name: names.get(&r.user_id).map(|u| u.name.clone()).unwrap_or_default(),
                user_id: r.user_id,
                role: MemberRole::from_stored(&r.role),
                joined_at: r.joined_at,
            })
            .collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// Adds someone to a room (owner or admin; only the owner appoints admins).
    pub async fn add_member(&self, user: &AuthUser, room: Uuid, target: Uuid, role: MemberRole) -> Result<Member> {
        let mine = self.require_role(user, room, MemberRole::Admin).await?;
        if store::room_visibility(&self.platform.db, room).await?.as_deref() == Some("direct") {
            return Err(ChatError::DirectRoom);
        }
        if role == MemberRole::Owner || (role == MemberRole::Admin && mine != MemberRole::Owner) {
            return Err(ChatError::Forbidden("Only the owner appoints admins, and a room has one owner."));
        }
        self.accounts.user(target).await.map_err(|_| ChatError::field("user_id", "no such user"))?;
        let mut tx = self.platform.db.begin().await?;
        store::add_member(&mut tx, room, target, role.as_str()).await?;
        tx.commit().await?;
        self.member_changed(room, target);
        self.member_out(room, target, role, Ts::now()).await
    }

    /// Changes a member's role between member and admin (owner only).
    pub async fn set_role(&self, user: &AuthUser, room: Uuid, target: Uuid, role: MemberRole) -> Result<Member> {
        self.require_role(user, room, MemberRole::Owner).await?;
        if role == MemberRole::Owner {
            return Err(ChatError::field("role", "must be admin or member"));
        }
        let current = store::member_role(&self.platform.db, room, target).await?.ok_or(ChatError::NotFound)?;
        if MemberRole::from_stored(&current) == MemberRole::Owner {
            return Err(ChatError::Forbidden("The owner's role cannot be changed."));
        }
        store::set_member_role(&self.platform.db, room, target, role.as_str()).await?;
        self.member_changed(room, target);
        let row = store::member(&self.platform.db, room, target).await?.ok_or(ChatError::NotFound)?;
        let name =
            self.accounts.public_users(&[target]).await?.get(&target).map(|u| u.name.clone()).unwrap_or_default();
        Ok(Member { user_id: target, name, role: MemberRole::from_stored(&row.role), joined_at: row.joined_at })
    }

    /// Removes a member (owner: anyone else; admin: plain members); removing oneself is leaving.
    pub async fn remove_member(&self, user: &AuthUser, room: Uuid, target: Uuid) -> Result<()> {
        if target == user.user_id {
            return self.leave(user, room).await;
        }
        let mine = self.require_role(user, room, MemberRole::Admin).await?;
        let theirs = store::member_role(&self.platform.db, room, target).await?.ok_or(ChatError::NotFound)?;
        if MemberRole::from_stored(&theirs) >= mine {
            return Err(ChatError::Forbidden("You may only remove members below your own role."));
        }
        self.remove(room, target).await
    }

    /// The one direct room of the caller and `other`, created on first use.
    pub async fn direct(&self, user: &AuthUser, other: Uuid) -> Result<(Room, bool)> {
        if other == user.user_id {
            return Err(ChatError::field("user_id", "must be someone else"));
        }
        let peer = self.accounts.user(other).await.map_err(|_| ChatError::field("user_id", "no such user"))?;
        let me = self.accounts.user(user.user_id).await?;
        let key = direct_key(user.user_id, other);
        let mut tx = self.platform.db.begin().await?;
        let id = Uuid::now_v7();
        let new = NewRoom {
            id,
            name: &format!("{} & {}", me.name, peer.name),
            description: "",
            visibility: Visibility::Direct.as_str(),
            owner_id: None,
            unique_key: Some(&key),
        };
        let created = store::insert_room(&mut tx, &new).await?;
        let room = if created {
            store::add_member(&mut tx, id, user.user_id, MemberRole::Member.as_str()).await?;
            store::add_member(&mut tx, id, other, MemberRole::Member.as_str()).await?;
            events::room_created(&self.platform.outbox, &mut tx, &new).await?;
            id
        } else {
            store::room_id_by_key(&mut tx, &key).await?.ok_or(ChatError::NotFound)?
        };
        tx.commit().await?;
        if created {
            self.forget_room(room);
        }
        Ok((self.room(user, room).await?, created))
    }
}
