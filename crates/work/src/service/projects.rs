//! Projects and their members: create, read, edit, delete; add (or invite by email), change
//! roles, remove, leave; invitations turning into memberships when the address is verified.

use super::{Access, Result, Work};
use crate::error::WorkError;
use crate::events;
use crate::model::*;
use crate::store::{self, ProjectFields};
use chrono::NaiveDate;
use notifications::NewNotification;
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::{Ts, Tx};
use platform::money;
use platform::pagination::Page;
use serde_json::json;
use uuid::Uuid;

/// A new project's fields as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct ProjectInput {
    pub name: String,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub status: Option<ProjectStatus>,
    pub client_id: Option<Uuid>,
    pub hourly_rate: Option<String>,
    pub budget: Option<String>,
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
}

/// Changes to a project: `None` leaves a field, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub visibility: Option<Visibility>,
    pub status: Option<ProjectStatus>,
    pub client_id: Option<Option<Uuid>>,
    pub hourly_rate: Option<Option<String>>,
    pub budget: Option<Option<String>>,
    pub currency: Option<Option<String>>,
    pub starts_on: Option<Option<NaiveDate>>,
    pub ends_on: Option<Option<NaiveDate>>,
}

/// Whom to add: an account, or an email address (an invitation when no verified account has it).
#[derive(Debug, Clone)]
pub enum NewMember {
    User(Uuid),
    Email(String),
}

/// The outcome of adding someone.
#[derive(Debug, Clone)]
pub enum Added {
    Member(Member),
    Invited(Invitation),
}

/// Checks every field, collecting all errors.
fn checked(input: &ProjectInput) -> Result<ProjectFields> {
    let mut errors = Vec::new();
    let name = text(&input.name, 1, 100).map_err(|m| errors.push(FieldError::new("name", m))).unwrap_or_default();
    let description = text(input.description.as_deref().unwrap_or(""), 0, 5000)
        .map_err(|m| errors.push(FieldError::new("description", m)))
        .unwrap_or_default();
    let mut currency = None;
    let mut exponent = 2;
    if let Some(code) = &input.currency {
        match money::currency(code) {
            Ok((code, e)) => {
                currency = Some(code.to_string());
                exponent = e;
            }
            Err(m) => errors.push(FieldError::new("currency", m)),
        }
    }
    let mut amount = |field: &str, value: &Option<String>| -> Option<i64> {
        let value = value.as_ref()?;
        if input.currency.is_none() {
            errors.push(FieldError::new("currency", format!("is required with {field}")));
            return None;
        }
        money::parse_amount(value, exponent).map_err(|m| errors.push(FieldError::new(field, m))).ok()
    };
    let hourly_rate = amount("hourly_rate", &input.hourly_rate);
    let budget = amount("budget", &input.budget);
    for (field, day) in [("starts_on", input.starts_on), ("ends_on", input.ends_on)] {
        if day.is_some_and(|d| !Ts::date_in_range(d)) {
            errors.push(FieldError::new(field, "must be between 1970-01-01 and 9999-12-31"));
        }
    }
    if let (Some(start), Some(end)) = (input.starts_on, input.ends_on)
        && end < start
    {
        errors.push(FieldError::new("ends_on", "must not be before starts_on"));
    }
    if !errors.is_empty() {
        return Err(WorkError::Invalid(errors));
    }
    Ok(ProjectFields {
        name,
        description,
        visibility: input.visibility.unwrap_or(Visibility::Private).as_str(),
        status: input.status.unwrap_or(ProjectStatus::Active).as_str(),
        client_id: input.client_id,
        hourly_rate,
        budget,
        currency,
        starts_on: input.starts_on,
        ends_on: input.ends_on,
    })
}

impl Work {
    pub(crate) async fn project_as(&self, user: &AuthUser, id: Uuid) -> Result<Project> {
        store::project(&self.platform.db, user.user_id, id).await?.map(Project::from).ok_or(WorkError::NotFound)
    }

    /// Creates a project owned by the caller.
    pub async fn create_project(&self, user: &AuthUser, input: &ProjectInput) -> Result<Project> {
        let fields = checked(input)?;
        let id = Uuid::now_v7();
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        store::insert_project(&mut tx, id, user.user_id, &fields, now).await?;
        store::add_member(&mut tx, id, user.user_id, Role::Owner.as_str(), now).await?;
        store::log(&mut tx, id, Some(user.user_id), "project.created", None, &json!({"name": fields.name})).await?;
        tx.commit().await?;
        self.project_as(user, id).await
    }

    /// Projects the caller is a member of, and with `with_public` every public project too.
    pub async fn projects(
        &self,
        user: &AuthUser,
        with_public: bool,
        cursor: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Project>> {
        let rows = store::projects(&self.platform.db, user.user_id, with_public, cursor, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.id);
        Ok(Page { items: page.items.into_iter().map(Project::from).collect(), next_cursor: page.next_cursor })
    }

    /// A project the caller may see.
    pub async fn project(&self, user: &AuthUser, id: Uuid) -> Result<Project> {
        self.access(user, id).await?;
        self.project_as(user, id).await
    }

    /// Edits a project (owner or manager).
    pub async fn update_project(&self, user: &AuthUser, id: Uuid, patch: ProjectPatch) -> Result<Project> {
        self.require(user, id, Role::Manager).await?;
        let current = self.project_as(user, id).await?;
        let merged = ProjectInput {
            name: patch.name.clone().unwrap_or(current.name.clone()),
            description: Some(patch.description.clone().unwrap_or(current.description.clone())),
            visibility: Some(patch.visibility.unwrap_or(current.visibility)),
            status: Some(patch.status.unwrap_or(current.status)),
            client_id: patch.client_id.unwrap_or(current.client_id),
            hourly_rate: patch.hourly_rate.clone().unwrap_or(current.hourly_rate.clone()),
            budget: patch.budget.clone().unwrap_or(current.budget.clone()),
            currency: patch.currency.clone().unwrap_or(current.currency.clone()),
            starts_on: patch.starts_on.unwrap_or(current.starts_on),
            ends_on: patch.ends_on.unwrap_or(current.ends_on),
        };
        let fields = checked(&merged)?;
        let mut changed = Vec::new();
        for (name, set) in [
            ("name", patch.name.is_some()),
            ("description", patch.description.is_some()),
            ("visibility", patch.visibility.is_some()),
            ("status", patch.status.is_some()),
            ("client_id", patch.client_id.is_some()),
            ("hourly_rate", patch.hourly_rate.is_some()),
            ("budget", patch.budget.is_some()),
            ("currency", patch.currency.is_some()),
            ("starts_on", patch.starts_on.is_some()),
            ("ends_on", patch.ends_on.is_some()),
        ] {
            if set {
                changed.push(name);
            }
        }
        let mut tx = self.platform.db.begin().await?;
        store::update_project(&mut tx, id, &fields, Ts::now()).await?;
        store::log(&mut tx, id, Some(user.user_id), "project.updated", None, &json!({"changed": changed})).await?;
        tx.commit().await?;
        self.access_changed(id, None);
        if current.visibility == Visibility::Public && fields.visibility != Visibility::Public.as_str() {
            // Visitors' sockets stop receiving a project that is no longer public.
            let members = store::members(&self.platform.db, id).await?.into_iter().map(|m| m.user_id).collect();
            self.platform.hub.revoke_all_but(&project_topic(id), members);
        }
        let project = self.project_as(user, id).await?;
        events::publish(&self.platform.hub, id, events::PROJECT_UPDATED, &json!({"project": project}));
        Ok(project)
    }

    /// Deletes a project with its tasks and comments (owner).
    pub async fn delete_project(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        self.require(user, id, Role::Owner).await?;
        let mut tx = self.platform.db.begin().await?;
        if !self.remove_project(&mut tx, id).await? {
            return Err(WorkError::NotFound);
        }
        tx.commit().await?;
        self.platform.outbox.wake();
        self.project_removed(id);
        Ok(())
    }

    /// Deletes `project` inside `tx` with its domain event; false when there was no such project.
    pub(super) async fn remove_project(&self, tx: &mut Tx, project: Uuid) -> Result<bool> {
        if !store::delete_project(tx, project).await? {
            return Ok(false);
        }
        self.platform.outbox.event(tx, events::DOMAIN_PROJECT_DELETED, &json!({"project_id": project})).await?;
        Ok(true)
    }

    /// After a project's deletion committed: forgets cached access to it and tells its sockets.
    pub(super) fn project_removed(&self, project: Uuid) {
        self.access_changed(project, None);
        events::publish(&self.platform.hub, project, events::PROJECT_DELETED, &json!({"projectId": project}));
    }

    // --- members --------------------------------------------------------------------------------

    /// The members of a project (anyone who may read it), a page at a time by user id.
    pub async fn members(
        &self,
        user: &AuthUser,
        project: Uuid,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Member>> {
        self.access(user, project).await?;
        let rows = store::members_page(&self.platform.db, project, after, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.user_id);
        let ids: Vec<Uuid> = page.items.iter().map(|r| r.user_id).collect();
        let users = self.accounts.public_users(&ids).await?;
        let items = page
            .items
            .into_iter()
            .map(|r| Member {
                name: users.get(&r.user_id).map(|u| u.name.clone()).unwrap_or_default(),
                user_id: r.user_id,
                role: Role::from_stored(&r.role),
                joined_at: r.joined_at,
            })
            .collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// Checks that the caller may give `role` to a new or existing member.
    fn may_grant(access: Access, role: Role) -> Result<()> {
        let allowed = match role {
            Role::Owner => false,
            Role::Manager => access.role == Role::Owner,
            Role::Member | Role::Guest => {
                access.role >= Role::Manager || (access.visibility == Visibility::Team && access.role == Role::Member)
            }
        };
        if allowed {
            Ok(())
        } else if role == Role::Owner {
            Err(WorkError::field("role", "a project has one owner; transfer ownership by changing a member's role"))
        } else {
            Err(WorkError::Forbidden("Your role does not allow giving this role."))
        }
    }

    /// Adds an account, or invites an email address that no verified account has yet.
    pub async fn add_member(&self, user: &AuthUser, project: Uuid, who: NewMember, role: Role) -> Result<Added> {
        let access = self.access(user, project).await?;
        if access.role < Role::Member || (access.role == Role::Member && access.visibility != Visibility::Team) {
            return Err(WorkError::Forbidden("Only the project owner or a manager may add members."));
        }
        if role == Role::Owner {
            return Err(WorkError::field("role", "a project has one owner"));
        }
        Self::may_grant(access, role)?;
        let target = match who {
            NewMember::User(id) => {
                self.accounts.user(id).await.map_err(|_| WorkError::field("user_id", "no such user"))?;
                id
            }
            // By address it is always an invitation, whether or not an account has the address:
            // the answer must not tell which, and nobody joins a project without agreeing to.
            NewMember::Email(email) => return self.invite(user, project, &email, role).await.map(Added::Invited),
        };
        let now = Ts::now();
        let project_name = self.project_as(user, project).await?.name;
        let inviter = self.name_of(user.user_id).await;
        let mut recorded = Vec::new();
        let mut tx = self.platform.db.begin().await?;
        store::add_member(&mut tx, project, target, role.as_str(), now).await?;
        store::log(&mut tx, project, Some(user.user_id), "member.added", Some(target), &json!({"role": role})).await?;
        if target != user.user_id {
            let note = NewNotification {
                user_id: target,
                actor: Some(user.user_id),
                kind: crate::events::PROJECT_INVITATION,
                title: format!("{inviter} added you to {project_name}"),
                body: format!("You are now a {} of the project {project_name}.", role.as_str()),
                data: json!({"project_id": project}),
            };
            self.notify(&mut tx, &mut recorded, note).await?;
        }
        tx.commit().await?;
        self.access_changed(project, Some(target));
        self.notifications.announce(&recorded);
        let member = Member { user_id: target, name: self.name_of(target).await, role, joined_at: now };
        events::publish(
            &self.platform.hub,
            project,
            events::MEMBER_ADDED,
            &json!({"projectId": project, "member": member}),
        );
        Ok(Added::Member(member))
    }

    /// Changes a member's role. The owner may give any role (giving `owner` transfers the
    /// project and makes the old owner a manager); managers move members and guests between
    /// those two roles.
    pub async fn set_role(&self, user: &AuthUser, project: Uuid, target: Uuid, role: Role) -> Result<Member> {
        let access = self.require(user, project, Role::Manager).await?;
        let current = store::member_role(&self.platform.db, project, target).await?.ok_or(WorkError::NotFound)?;
        let current = Role::from_stored(&current);
        if current == Role::Owner {
            return Err(WorkError::Forbidden("The owner's role changes only by transferring ownership."));
        }
        if access.role < Role::Owner && (current == Role::Manager || role >= Role::Manager) {
            return Err(WorkError::Forbidden("Only the owner appoints or changes managers."));
        }
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        if role == Role::Owner {
            let owner = store::owner_of(&mut tx, project).await?;
            if let Some(owner) = owner {
                store::set_member_role(&mut tx, project, owner, Role::Manager.as_str()).await?;
            }
            store::set_owner(&mut tx, project, target).await?;
        }
        store::set_member_role(&mut tx, project, target, role.as_str()).await?;
        if role == Role::Guest {
            // Guests cannot work on tasks.
            store::unassign(&mut tx, project, target, now).await?;
        }
        store::log(&mut tx, project, Some(user.user_id), "member.role_changed", Some(target), &json!({"role": role}))
            .await?;
        tx.commit().await?;
        self.access_changed(project, None);
        let row = store::member(&self.platform.db, project, target).await?.ok_or(WorkError::NotFound)?;
        let member = Member {
            user_id: target,
            name: self.name_of(target).await,
            role: Role::from_stored(&row.role),
            joined_at: row.joined_at,
        };
        events::publish(
            &self.platform.hub,
            project,
            events::MEMBER_ADDED,
            &json!({"projectId": project, "member": member}),
        );
        Ok(member)
    }

    /// Removes a member (owner or manager; managers only members and guests), or leaves.
    pub async fn remove_member(&self, user: &AuthUser, project: Uuid, target: Uuid) -> Result<()> {
        let access = self.access(user, project).await?;
        let current = store::member_role(&self.platform.db, project, target).await?.ok_or(WorkError::NotFound)?;
        let current = Role::from_stored(&current);
        if current == Role::Owner {
            return Err(WorkError::OwnerStays);
        }
        let leaving = target == user.user_id;
        if !leaving {
            if access.role < Role::Manager {
                return Err(WorkError::Forbidden("Only the project owner or a manager may remove members."));
            }
            if current == Role::Manager && access.role < Role::Owner {
                return Err(WorkError::Forbidden("Only the owner removes managers."));
            }
        }
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        if !store::remove_member(&mut tx, project, target).await? {
            return Err(WorkError::NotFound);
        }
        store::unassign(&mut tx, project, target, now).await?;
        let action = if leaving { "member.left" } else { "member.removed" };
        store::log(&mut tx, project, Some(user.user_id), action, Some(target), &json!({})).await?;
        tx.commit().await?;
        self.access_changed(project, Some(target));
        events::publish(
            &self.platform.hub,
            project,
            events::MEMBER_REMOVED,
            &json!({"projectId": project, "userId": target}),
        );
        // Sockets the member opened before stop receiving the project now (unless the project
        // is public, which they may still read).
        if access.visibility != Visibility::Public {
            self.platform.hub.revoke(&project_topic(project), target);
        }
        Ok(())
    }
}
