//! Reading a project as a whole: the activity feed, analytics (per project and per user), and
//! the CSV export.

use super::{Result, Work};
use crate::error::WorkError;
use crate::model::*;
use crate::store::{self, tasks::Facts};
use chrono::{Datelike, Duration, NaiveDate};
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::pagination::Page;
use serde_json::{Map, Value};
use uuid::Uuid;

/// Weeks of completions the analytics show.
const WEEKS: i64 = 8;

/// Analytics of a set of tasks, as of `now`.
pub fn analyse(facts: &[Facts], now: Ts) -> Analytics {
    let mut by_status: Map<String, Value> =
        TaskStatus::ALL.iter().map(|s| (s.as_str().to_string(), 0.into())).collect();
    let mut by_priority: Map<String, Value> =
        Priority::ALL.iter().map(|p| (p.as_str().to_string(), 0.into())).collect();
    let this_monday = {
        let today = now.get().date_naive();
        today - Duration::days(i64::from(today.weekday().num_days_from_monday()))
    };
    let first_week = this_monday - Duration::weeks(WEEKS - 1);
    let mut weeks = vec![0i64; WEEKS as usize];
    let mut cycles: Vec<f64> = Vec::new();
    let mut overdue = 0;
    let bump = |map: &mut Map<String, Value>, key: &str| {
        if let Some(v) = map.get_mut(key) {
            *v = (v.as_i64().unwrap_or(0) + 1).into();
        }
    };
    for (status, priority, due, created, completed) in facts {
        let status = TaskStatus::from_stored(status);
        bump(&mut by_status, status.as_str());
        bump(&mut by_priority, Priority::from_rank(*priority).as_str());
        if status != TaskStatus::Done && due.is_some_and(|d| d < now) {
            overdue += 1;
        }
        if let (TaskStatus::Done, Some(done)) = (status, completed) {
            cycles.push((done.get() - created.get()).num_seconds() as f64 / 3600.0);
            let day = done.get().date_naive();
            if day >= first_week {
                let index = ((day - first_week).num_days() / 7) as usize;
                if let Some(slot) = weeks.get_mut(index) {
                    *slot += 1;
                }
            }
        }
    }
    let round = |x: f64| (x * 100.0).round() / 100.0;
    let mean = (!cycles.is_empty()).then(|| round(cycles.iter().sum::<f64>() / cycles.len() as f64));
    cycles.sort_by(f64::total_cmp);
    let median = (!cycles.is_empty()).then(|| {
        let mid = cycles.len() / 2;
        round(if cycles.len().is_multiple_of(2) { (cycles[mid - 1] + cycles[mid]) / 2.0 } else { cycles[mid] })
    });
    Analytics {
        total: facts.len() as i64,
        by_status,
        by_priority,
        overdue,
        completed_per_week: weeks
            .into_iter()
            .enumerate()
            .map(|(i, completed)| WeekCount { week_start: week_start(first_week, i), completed })
            .collect(),
        mean_cycle_hours: mean,
        median_cycle_hours: median,
    }
}

fn week_start(first: NaiveDate, index: usize) -> NaiveDate {
    first + Duration::weeks(index as i64)
}

impl Work {
    /// A project's activity, newest first.
    pub async fn activity(
        &self,
        user: &AuthUser,
        project: Uuid,
        before: Option<Uuid>,
        limit: i64,
    ) -> Result<Page<Activity>> {
        // Invitees' addresses are for those who manage members, not for guests or, on public
        // projects, every signed-in user.
        let sees_addresses = self.access(user, project).await?.role >= Role::Manager;
        let rows = store::activity(&self.platform.db, project, before, limit + 1).await?;
        let page = Page::from_rows(rows, limit, |r| r.id);
        let actors: Vec<Uuid> = page.items.iter().filter_map(|r| r.actor_id).collect();
        let names = self.accounts.public_users(&actors).await?;
        let items = page
            .items
            .into_iter()
            .map(|r| Activity {
                actor_name: r.actor_id.and_then(|a| names.get(&a)).map(|u| u.name.clone()),
                id: r.id,
                actor_id: r.actor_id,
                action: r.action,
                subject_id: r.subject_id,
                details: {
                    let mut details = serde_json::from_str(&r.details).unwrap_or(Value::Null);
                    if !sees_addresses && let Some(map) = details.as_object_mut() {
                        map.remove("email");
                    }
                    details
                },
                created_at: r.created_at,
            })
            .collect();
        Ok(Page { items, next_cursor: page.next_cursor })
    }

    /// Analytics of a project's tasks.
    pub async fn project_analytics(&self, user: &AuthUser, project: Uuid) -> Result<Analytics> {
        self.access(user, project).await?;
        let facts = store::tasks::facts(&self.platform.db, Some(project), None).await?;
        Ok(analyse(&facts, Ts::now()))
    }

    /// Analytics of the tasks assigned to the caller.
    pub async fn my_analytics(&self, user: &AuthUser) -> Result<Analytics> {
        let facts = store::tasks::facts(&self.platform.db, None, Some(user.user_id)).await?;
        Ok(analyse(&facts, Ts::now()))
    }

    /// Every task of a project as CSV (RFC 4180, header row, formulas neutralised).
    pub async fn export_csv(&self, user: &AuthUser, project: Uuid) -> Result<Vec<u8>> {
        self.access(user, project).await?;
        let rows = store::tasks::project_tasks(&self.platform.db, project).await?;
        let tasks = self.complete(rows).await?;
        let people: Vec<Uuid> = tasks.iter().filter_map(|t| t.assignee_id).collect();
        let names = self.accounts.public_users(&people).await?;
        let mut out = csv::Writer::from_writer(Vec::new());
        let header = [
            "id",
            "title",
            "status",
            "priority",
            "assignee_id",
            "assignee_name",
            "creator_id",
            "due_date",
            "completed_at",
            "tags",
            "position",
            "blocked_by",
            "created_at",
            "updated_at",
        ];
        let failed = |e: csv::Error| WorkError::Internal(platform::error::Internal::new(e));
        out.write_record(header).map_err(failed)?;
        let time = |t: Option<Ts>| t.map(Ts::to_rfc3339).unwrap_or_default();
        let id = |u: Option<Uuid>| u.map(|u| u.to_string()).unwrap_or_default();
        for t in &tasks {
            let assignee_name = t.assignee_id.and_then(|a| names.get(&a)).map(|u| u.name.clone()).unwrap_or_default();
            let blocked: Vec<String> = t.blocked_by.iter().map(Uuid::to_string).collect();
            out.write_record([
                t.id.to_string(),
                platform::text::csv_cell(&t.title),
                t.status.as_str().to_string(),
                t.priority.as_str().to_string(),
                id(t.assignee_id),
                platform::text::csv_cell(&assignee_name),
                id(t.creator_id),
                time(t.due_date),
                time(t.completed_at),
                platform::text::csv_cell(&t.tags.join(";")),
                t.position.to_string(),
                blocked.join(";"),
                t.created_at.to_rfc3339(),
                t.updated_at.to_rfc3339(),
            ])
            .map_err(failed)?;
        }
        out.into_inner().map_err(|e| WorkError::Internal(platform::error::Internal::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days_ago: i64, now: Ts) -> Ts {
        now.minus(Duration::days(days_ago))
    }

    #[test]
    fn analytics_count_statuses_overdue_weeks_and_cycle_times() {
        let now = Ts::now();
        let facts: Vec<Facts> = vec![
            ("todo".into(), 3, Some(at(1, now)), at(5, now), None),
            ("in_progress".into(), 1, Some(now.plus(Duration::days(1))), at(5, now), None),
            ("done".into(), 1, Some(at(1, now)), now.minus(Duration::hours(10)), Some(now)),
            ("done".into(), 0, None, now.minus(Duration::hours(30)), Some(now)),
        ];
        let a = analyse(&facts, now);
        assert_eq!(a.total, 4);
        assert_eq!(a.by_status["done"], 2);
        assert_eq!(a.by_status["review"], 0);
        assert_eq!(a.by_priority["urgent"], 1);
        assert_eq!(a.overdue, 1, "done tasks are never overdue");
        assert_eq!(a.completed_per_week.len(), 8);
        assert_eq!(a.completed_per_week.last().unwrap().completed, 2);
        assert_eq!(a.mean_cycle_hours, Some(20.0));
        assert_eq!(a.median_cycle_hours, Some(20.0));
        assert!(analyse(&[], now).mean_cycle_hours.is_none());
    }
}
