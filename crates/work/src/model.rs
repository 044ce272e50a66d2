//! Work's domain types: projects, roles, tasks, comments, activity, analytics, and the rules
//! their fields follow.

use chrono::NaiveDate;
use platform::db::Ts;
use platform::money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// Defines a string enum stored and serialised by its snake_case name.
macro_rules! named_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
        #[schema(as = work::$name)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &[$name] = &[$($name::$variant),+];

            /// The stored and serialised name.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// The value stored as `text` (the first one for unknown text, which only a newer
            /// build could have written).
            pub fn from_stored(text: &str) -> Self {
                Self::ALL.iter().copied().find(|v| v.as_str() == text).unwrap_or(Self::ALL[0])
            }
        }
    };
}

named_enum!(
    /// Who may see a project besides its members.
    Visibility {
        /// Members only; only owners and managers add members.
        Private = "private",
        /// Members only; any member (not guests) may add members and guests.
        Team = "team",
        /// Every signed-in user may read it (as a guest); members work in it.
        Public = "public",
    }
);

named_enum!(
    /// Where a project stands.
    ProjectStatus { Active = "active", OnHold = "on_hold", Completed = "completed", Archived = "archived" }
);

named_enum!(
    /// A member's role, weakest first (the order is the permission order).
    Role {
        /// Reads everything, changes nothing.
        Guest = "guest",
        /// Creates tasks, updates the tasks they created or are assigned, comments.
        Member = "member",
        /// Everything members do, on every task; edits the project; manages members below manager.
        Manager = "manager",
        /// Everything; deletes the project; appoints managers. Exactly one per project.
        Owner = "owner",
    }
);

named_enum!(
    /// Where a task stands.
    TaskStatus { Todo = "todo", InProgress = "in_progress", Review = "review", Done = "done" }
);

named_enum!(
    /// How urgent a task is (stored as its rank so that sorting follows urgency).
    Priority { Low = "low", Medium = "medium", High = "high", Urgent = "urgent" }
);

impl Priority {
    /// The stored rank, 0 (low) to 3 (urgent).
    pub fn rank(self) -> i32 {
        match self {
            Priority::Low => 0,
            Priority::Medium => 1,
            Priority::High => 2,
            Priority::Urgent => 3,
        }
    }

    /// The priority of a stored rank.
    pub fn from_rank(rank: i32) -> Self {
        match rank {
            i32::MIN..=0 => Priority::Low,
            1 => Priority::Medium,
            2 => Priority::High,
            _ => Priority::Urgent,
        }
    }
}

/// The topic of a project's live events.
pub fn project_topic(project: Uuid) -> String {
    format!("work.project.{project}")
}

/// A project as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::Project)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub visibility: Visibility,
    pub status: ProjectStatus,
    /// Null once the owner's account is deleted.
    pub owner_id: Option<Uuid>,
    /// The freelance client this project is for.
    pub client_id: Option<Uuid>,
    /// Decimal string in `currency`.
    pub hourly_rate: Option<String>,
    /// Decimal string in `currency`.
    pub budget: Option<String>,
    /// ISO 4217 code of `hourly_rate` and `budget`.
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    /// The caller's role; null when the caller reads a public project without being a member.
    pub role: Option<Role>,
    pub member_count: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A stored project with the caller's role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProjectRow {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub visibility: String,
    pub status: String,
    pub owner_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub hourly_rate: Option<i64>,
    pub budget: Option<i64>,
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub role: Option<String>,
    pub member_count: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl From<ProjectRow> for Project {
    fn from(r: ProjectRow) -> Self {
        let exponent = r.currency.as_deref().map_or(2, money::exponent);
        Self {
            id: r.id,
            name: r.name,
            description: r.description,
            visibility: Visibility::from_stored(&r.visibility),
            status: ProjectStatus::from_stored(&r.status),
            owner_id: r.owner_id,
            client_id: r.client_id,
            hourly_rate: r.hourly_rate.map(|m| money::format_amount(m, exponent)),
            budget: r.budget.map(|m| money::format_amount(m, exponent)),
            currency: r.currency,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            role: r.role.as_deref().map(Role::from_stored),
            member_count: r.member_count,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A project member.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::Member)]
pub struct Member {
    pub user_id: Uuid,
    /// Display name.
    pub name: String,
    pub role: Role,
    pub joined_at: Ts,
}

/// A stored membership.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub role: String,
    pub joined_at: Ts,
}

/// An invitation to an email address, valid 14 days; its invitee accepts it (or becomes a member
/// on verifying the address, if they had no account).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::Invitation)]
pub struct Invitation {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub created_at: Ts,
}

/// An invitation as its invitee sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::InvitationForMe)]
pub struct InvitationForMe {
    pub id: Uuid,
    pub project_id: Uuid,
    pub project_name: String,
    pub role: Role,
    pub created_at: Ts,
    /// When it stops being valid (14 days after it was sent).
    pub expires_at: Ts,
}

/// A task as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::Task)]
pub struct Task {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: TaskStatus,
    pub priority: Priority,
    pub assignee_id: Option<Uuid>,
    /// Null once the creator's account is deleted.
    pub creator_id: Option<Uuid>,
    pub due_date: Option<Ts>,
    /// Set when the task enters `done`, cleared when it leaves.
    pub completed_at: Option<Ts>,
    pub tags: Vec<String>,
    /// Board order within the project (ascending).
    pub position: i64,
    /// Tasks that must be done first (same project).
    pub blocked_by: Vec<Uuid>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A stored task, without its tags and dependencies.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: i32,
    pub assignee_id: Option<Uuid>,
    pub creator_id: Option<Uuid>,
    pub due_date: Option<Ts>,
    pub completed_at: Option<Ts>,
    pub position: i64,
    /// JSON array (the `work_task_tags` rows are the searchable copy).
    pub tags: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TaskRow {
    /// The API form with its blockers.
    pub fn into_task(self, blocked_by: Vec<Uuid>) -> Task {
        Task {
            id: self.id,
            project_id: self.project_id,
            title: self.title,
            description: self.description,
            status: TaskStatus::from_stored(&self.status),
            priority: Priority::from_rank(self.priority),
            assignee_id: self.assignee_id,
            creator_id: self.creator_id,
            due_date: self.due_date,
            completed_at: self.completed_at,
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            position: self.position,
            blocked_by,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A comment on a task.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::Comment)]
pub struct Comment {
    pub id: Uuid,
    pub task_id: Uuid,
    pub project_id: Uuid,
    /// Null once the author's account was deleted (the comment stays, from "Deleted user").
    pub author_id: Option<Uuid>,
    /// The author's display name now.
    pub author_name: String,
    pub content: String,
    /// Project members the comment mentions by `@Name`.
    pub mentions: Vec<Uuid>,
    pub created_at: Ts,
    pub edited_at: Option<Ts>,
}

/// A stored comment with its task's project.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CommentRow {
    pub id: Uuid,
    pub task_id: Uuid,
    pub project_id: Uuid,
    pub author_id: Option<Uuid>,
    pub content: String,
    pub mentions: String,
    pub created_at: Ts,
    pub edited_at: Option<Ts>,
}

/// One entry of a project's activity feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::Activity)]
pub struct Activity {
    pub id: Uuid,
    /// Who did it (null for the system or a deleted account).
    pub actor_id: Option<Uuid>,
    pub actor_name: Option<String>,
    /// `project.created`, `task.updated`, `member.added` …
    pub action: String,
    /// The task, member or comment concerned.
    pub subject_id: Option<Uuid>,
    /// What changed (for updates: the changed fields).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    pub created_at: Ts,
}

/// A stored activity entry.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivityRow {
    pub id: Uuid,
    pub actor_id: Option<Uuid>,
    pub action: String,
    pub subject_id: Option<Uuid>,
    pub details: String,
    pub created_at: Ts,
}

/// Counts and timings over a set of tasks.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::Analytics)]
pub struct Analytics {
    /// Tasks counted.
    pub total: i64,
    /// Tasks per status (every status present, zeros included).
    #[schema(value_type = Object)]
    pub by_status: serde_json::Map<String, serde_json::Value>,
    /// Tasks per priority (every priority present).
    #[schema(value_type = Object)]
    pub by_priority: serde_json::Map<String, serde_json::Value>,
    /// Not done and past their due date.
    pub overdue: i64,
    /// Tasks completed in each of the last 8 weeks (Monday-based, oldest first).
    pub completed_per_week: Vec<WeekCount>,
    /// Mean hours from creation to completion of done tasks; null when none is done.
    pub mean_cycle_hours: Option<f64>,
    /// Median of the same.
    pub median_cycle_hours: Option<f64>,
}

/// Completions in one week.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = work::WeekCount)]
pub struct WeekCount {
    /// The Monday the week starts on.
    pub week_start: NaiveDate,
    pub completed: i64,
}

// --- field rules -----------------------------------------------------------------------------

/// A trimmed text of `min..=max` characters.
pub fn text(value: &str, min: usize, max: usize) -> Result<String, String> {
    let value = value.trim();
    let n = value.chars().count();
    if n < min || n > max {
        return Err(if min > 0 {
            format!("must be {min}–{max} characters")
        } else {
            format!("must be at most {max} characters")
        });
    }
    Ok(value.to_string())
}

/// Tags: trimmed, lowercased, 1–50 characters each, at most 20, without duplicates.
pub fn tags(values: &[String]) -> Result<Vec<String>, String> {
    if values.len() > 20 {
        return Err("at most 20 tags".into());
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let tag = v.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > 50 {
            return Err("each tag must be 1–50 characters".into());
        }
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    Ok(out)
}

/// True when adding the edges `task → blocked_by` to `edges` (task, blocker) closes a cycle:
/// some new blocker already (transitively) waits for `task`, or is `task` itself.
pub fn creates_cycle(task: Uuid, blocked_by: &[Uuid], edges: &[(Uuid, Uuid)]) -> bool {
    let mut stack: Vec<Uuid> = blocked_by.to_vec();
    let mut seen = std::collections::HashSet::new();
    while let Some(current) = stack.pop() {
        if current == task {
            return true;
        }
        if seen.insert(current) {
            stack.extend(edges.iter().filter(|(t, _)| *t == current).map(|(_, b)| *b));
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_by_power() {
        assert!(Role::Guest < Role::Member && Role::Member < Role::Manager && Role::Manager < Role::Owner);
        assert_eq!(Role::from_stored("manager"), Role::Manager);
        assert_eq!(serde_json::to_value(TaskStatus::InProgress).unwrap(), "in_progress");
    }

    #[test]
    fn priorities_round_trip_through_ranks() {
        for p in Priority::ALL {
            assert_eq!(Priority::from_rank(p.rank()), *p);
        }
    }

    #[test]
    fn cycles_are_found_transitively() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        // b waits for a, c waits for b.
        let edges = vec![(b, a), (c, b)];
        assert!(creates_cycle(a, &[c], &edges), "a → c → b → a");
        assert!(creates_cycle(a, &[a], &edges), "a task cannot block itself");
        assert!(!creates_cycle(c, &[a], &edges), "c → a is fine");
    }

    #[test]
    fn tags_are_normalised() {
        assert_eq!(tags(&[" Bug ".into(), "bug".into(), "UI".into()]).unwrap(), vec!["bug", "ui"]);
        assert!(tags(&["".into()]).is_err());
        assert!(tags(&vec!["x".to_string(); 21]).is_err());
    }
}
