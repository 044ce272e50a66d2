//! Time tracking: one running timer per user, manual entries that never overlap, and the rate
//! each entry is billed at.
//!
//! Every write takes the owner's books lock first ([`store::books::lock`]) and checks overlap
//! inside that transaction, so two concurrent writes cannot both pass the check. An invoiced
//! entry no longer changes.

use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{Rate, RateSource, TimeEntry, TimeEntryRow, TimerState};
use crate::store::time::{self as store, EntryFields};
use crate::store::{books, clients};
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::{DbError, Ts};
use platform::money;
use std::collections::HashMap;
use uuid::Uuid;

/// The longest manual entry: a week. A longer span is a typo (a wrong month or year), and it
/// would block every other entry in it. A timer left running is not bound by it.
pub const MAX_ENTRY_HOURS: i64 = 7 * 24;

/// How far in the future an entry may end: clocks disagree a little, plans are not time worked.
const FUTURE_SLACK_MINUTES: i64 = 5;

/// The longest description.
const MAX_DESCRIPTION: usize = 1000;

/// The highest hourly rate of an entry, in whole units of its currency (as for clients).
const MAX_RATE: i64 = super::MAX_RATE;

/// A timer to start or an entry to record, as given.
#[derive(Debug, Clone, Default)]
pub struct EntryInput {
    /// A work project the caller is a member of.
    pub project_id: Option<Uuid>,
    /// A task of that project (the project follows from it when left out).
    pub task_id: Option<Uuid>,
    /// One of the caller's clients; defaults to the project's client.
    pub client_id: Option<Uuid>,
    pub description: Option<String>,
    /// Defaults to true.
    pub billable: Option<bool>,
    /// The entry's own rate (decimal string), over the project's and the client's.
    pub hourly_rate: Option<String>,
    /// The currency of `hourly_rate`; defaults to the project's, then the client's.
    pub currency: Option<String>,
    /// Manual entries only (the timer starts now).
    pub started_at: Option<Ts>,
    pub ended_at: Option<Ts>,
}

/// Entry changes: `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct EntryPatch {
    pub project_id: Option<Option<Uuid>>,
    pub task_id: Option<Option<Uuid>>,
    pub client_id: Option<Option<Uuid>>,
    pub description: Option<String>,
    pub billable: Option<bool>,
    /// The entry's own rate; `Some(None)` returns to the project's or client's.
    pub hourly_rate: Option<Option<String>>,
    pub currency: Option<Option<String>>,
    pub started_at: Option<Ts>,
    /// Setting it on the running timer stops it at that time.
    pub ended_at: Option<Ts>,
}

/// The project, task and client an entry points to, checked against the caller's access.
struct Links {
    project: Option<work::Project>,
    task_id: Option<Uuid>,
    client: Option<crate::model::ClientRow>,
}

/// The rate of a project, if it has one in a known currency.
fn project_rate(project: &work::Project) -> Option<Rate> {
    let (currency, exponent) = money::currency(project.currency.as_deref()?).ok()?;
    let minor = money::parse_amount(project.hourly_rate.as_deref()?, exponent).ok()?;
    Some(Rate { minor, currency, exponent, source: RateSource::Project })
}

/// The rate of a client, if it has one.
fn client_rate(client: &crate::model::ClientRow) -> Option<Rate> {
    let (currency, exponent) = money::currency(client.currency.as_deref()?).ok()?;
    Some(Rate { minor: client.hourly_rate_minor?, currency, exponent, source: RateSource::Client })
}

/// The entry's own rate.
pub(super) fn entry_rate(row: &TimeEntryRow) -> Option<Rate> {
    let (currency, exponent) = money::currency(row.currency.as_deref()?).ok()?;
    Some(Rate { minor: row.hourly_rate_minor?, currency, exponent, source: RateSource::Entry })
}

/// Projects and clients looked up once per request, however many entries name them.
#[derive(Default)]
pub(super) struct Lookups {
    projects: HashMap<Uuid, Option<work::Project>>,
    clients: HashMap<Uuid, Option<crate::model::ClientRow>>,
}

impl Lookups {
    /// A project's name, when the caller still sees it.
    pub(super) fn project_name(&self, id: Uuid) -> Option<String> {
        self.projects.get(&id).cloned().flatten().map(|p| p.name)
    }

    /// A client's name.
    pub(super) fn client_name(&self, id: Uuid) -> Option<String> {
        self.clients.get(&id).cloned().flatten().map(|c| c.name)
    }

    /// The rate that applies to `row`: its own, else its project's, else its client's.
    pub(super) fn rate(&self, row: &TimeEntryRow) -> Option<Rate> {
        let project = row.project_id.and_then(|id| self.projects.get(&id).cloned().flatten());
        let client = row.client_id.and_then(|id| self.clients.get(&id).cloned().flatten());
        entry_rate(row)
            .or_else(|| project.as_ref().and_then(project_rate))
            .or_else(|| client.as_ref().and_then(client_rate))
    }
}

/// The entry's own rate and its currency, checked: a currency alone is refused, and a rate
/// without one takes the project's, then the client's.
fn own_rate(
    errors: &mut Vec<FieldError>,
    rate: Option<&str>,
    currency: Option<&str>,
    links: &Links,
) -> (Option<i64>, Option<String>) {
    let rate = rate.map(str::trim).filter(|r| !r.is_empty());
    let currency = currency.map(str::trim).filter(|c| !c.is_empty());
    let Some(rate) = rate else {
        if currency.is_some() {
            errors.push(FieldError::new("currency", "is the currency of hourly_rate; give both or neither"));
        }
        return (None, None);
    };
    let fallback = links
        .project
        .as_ref()
        .and_then(|p| p.currency.clone())
        .or_else(|| links.client.as_ref().and_then(|c| c.currency.clone()));
    let Some(code) = currency.map(str::to_string).or(fallback) else {
        errors.push(FieldError::new("currency", "is required with hourly_rate (the project and client have none)"));
        return (None, None);
    };
    let (code, exponent) = match money::currency(&code) {
        Ok(found) => found,
        Err(m) => {
            errors.push(FieldError::new("currency", m));
            return (None, None);
        }
    };
    match money::parse_amount(rate, exponent) {
        Ok(minor) if minor <= MAX_RATE * 10i64.pow(exponent) => (Some(minor), Some(code.to_string())),
        Ok(_) => {
            errors.push(FieldError::new("hourly_rate", format!("must be at most {MAX_RATE}")));
            (None, None)
        }
        Err(m) => {
            errors.push(FieldError::new("hourly_rate", m));
            (None, None)
        }
    }
}

/// Checks a manual span: it ends after it starts, lasts at most [`MAX_ENTRY_HOURS`], and is not
/// in the future.
fn check_span(errors: &mut Vec<FieldError>, started_at: Ts, ended_at: Ts, now: Ts) {
    if ended_at <= started_at {
        errors.push(FieldError::new("ended_at", "must be after started_at"));
    } else if ended_at.get() - started_at.get() > chrono::Duration::hours(MAX_ENTRY_HOURS) {
        errors.push(FieldError::new("ended_at", format!("must be at most {MAX_ENTRY_HOURS} hours after started_at")));
    }
    if ended_at > now.plus(chrono::Duration::minutes(FUTURE_SLACK_MINUTES)) {
        errors.push(FieldError::new("ended_at", "must not be in the future"));
    }
}

impl Freelance {
    /// Resolves and checks the project, task and client an entry names. Another user's (or an
    /// unknown) project, task or client is an invalid field, the same as one never created.
    async fn links(
        &self,
        user: &AuthUser,
        errors: &mut Vec<FieldError>,
        project_id: Option<Uuid>,
        task_id: Option<Uuid>,
        client_id: Option<Uuid>,
    ) -> Result<Links> {
        let mut project_id = project_id;
        if let Some(task_id) = task_id {
            match self.work.task(user, task_id).await {
                Ok(task) if project_id.is_some_and(|p| p != task.project_id) => {
                    errors.push(FieldError::new("task_id", "is not a task of project_id"));
                }
                Ok(task) => project_id = Some(task.project_id),
                Err(work::WorkError::NotFound) => errors.push(FieldError::new("task_id", "is not a task you can see")),
                Err(e) => return Err(e.into()),
            }
        }
        let project = match project_id {
            None => None,
            Some(id) => match self.work.project(user, id).await {
                Ok(p) if p.role.is_some() => Some(p),
                Ok(_) | Err(work::WorkError::NotFound) => {
                    errors.push(FieldError::new("project_id", "is not a project you are a member of"));
                    None
                }
                Err(e) => return Err(e.into()),
            },
        };
        let client = match client_id {
            Some(id) => match clients::get(&self.platform.db, id, user.user_id).await {
                Ok(c) => Some(c),
                Err(DbError::NotFound) => {
                    errors.push(FieldError::new("client_id", "is not one of your clients"));
                    None
                }
                Err(e) => return Err(e.into()),
            },
            // The project's client, when it is one of the caller's (a project is shared; its
            // client field may name someone else's).
            None => match project.as_ref().and_then(|p| p.client_id) {
                Some(id) => match clients::get(&self.platform.db, id, user.user_id).await {
                    Ok(c) => Some(c),
                    Err(DbError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                },
                None => None,
            },
        };
        Ok(Links { project, task_id, client })
    }

    /// Looks up the projects and clients `rows` name, each once.
    pub(super) async fn lookups(&self, user: &AuthUser, rows: &[TimeEntryRow]) -> Result<Lookups> {
        let mut found = Lookups::default();
        for row in rows {
            if let Some(id) = row.project_id
                && !found.projects.contains_key(&id)
            {
                let project = match self.work.project(user, id).await {
                    Ok(p) => Some(p),
                    // Left the project, or it became private: its rate no longer applies.
                    Err(work::WorkError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                };
                found.projects.insert(id, project);
            }
            if let Some(id) = row.client_id
                && !found.clients.contains_key(&id)
            {
                let client = match clients::get(&self.platform.db, id, user.user_id).await {
                    Ok(c) => Some(c),
                    Err(DbError::NotFound) => None,
                    Err(e) => return Err(e.into()),
                };
                found.clients.insert(id, client);
            }
        }
        Ok(found)
    }

    /// `rows` as the API shows them, each with the rate that applies.
    pub(super) async fn entries_view(&self, user: &AuthUser, rows: Vec<TimeEntryRow>) -> Result<Vec<TimeEntry>> {
        let lookups = self.lookups(user, &rows).await?;
        let now = Ts::now();
        Ok(rows
            .into_iter()
            .map(|row| {
                let rate = lookups.rate(&row);
                TimeEntry::new(row, rate, now)
            })
            .collect())
    }

    async fn entry_view(&self, user: &AuthUser, row: TimeEntryRow) -> Result<TimeEntry> {
        self.entries_view(user, vec![row]).await?.pop().ok_or(FreelanceError::NotFound)
    }

    /// Checks `input` whole: the links, the text, the rate and (for manual entries) the span.
    async fn fields(&self, user: &AuthUser, input: &EntryInput, span: (Ts, Option<Ts>)) -> Result<EntryFields> {
        let mut errors = Vec::new();
        let links = self.links(user, &mut errors, input.project_id, input.task_id, input.client_id).await?;
        let description =
            super::checks::text(&mut errors, "description", input.description.as_deref(), MAX_DESCRIPTION, false)
                .unwrap_or_default();
        let (hourly_rate_minor, currency) =
            own_rate(&mut errors, input.hourly_rate.as_deref(), input.currency.as_deref(), &links);
        match span {
            (start, Some(end)) => check_span(&mut errors, start, end, Ts::now()),
            (start, None) if start > Ts::now().plus(chrono::Duration::minutes(FUTURE_SLACK_MINUTES)) => {
                errors.push(FieldError::new("started_at", "must not be in the future"));
            }
            (_, None) => {}
        }
        if !errors.is_empty() {
            return Err(FreelanceError::Invalid(errors));
        }
        Ok(EntryFields {
            project_id: links.project.map(|p| p.id),
            task_id: links.task_id,
            client_id: links.client.map(|c| c.id),
            description,
            started_at: span.0,
            ended_at: span.1,
            billable: input.billable.unwrap_or(true),
            hourly_rate_minor,
            currency,
        })
    }

    /// Starts the caller's timer now. 409 `timer_running` while one runs.
    pub async fn start_timer(&self, user: &AuthUser, input: &EntryInput) -> Result<TimeEntry> {
        let now = Ts::now();
        let fields = self.fields(user, input, (now, None)).await?;
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        if store::running_in(&mut tx, user.user_id).await?.is_some() {
            return Err(FreelanceError::TimerRunning);
        }
        if let Some(other) = store::overlapping(&mut tx, user.user_id, now, None, None).await? {
            return Err(FreelanceError::TimeOverlap(other));
        }
        let row = match store::insert(&mut tx, Uuid::now_v7(), user.user_id, &fields, now).await {
            Err(DbError::Unique(_)) => return Err(FreelanceError::TimerRunning),
            other => other?,
        };
        tx.commit().await?;
        self.entry_view(user, row).await
    }

    /// Stops the caller's timer now. 409 `timer_not_running` when none runs.
    pub async fn stop_timer(&self, user: &AuthUser) -> Result<TimeEntry> {
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        let running = store::running_in(&mut tx, user.user_id).await?.ok_or(FreelanceError::TimerNotRunning)?;
        let row = self.finish(&mut tx, user, running, now, now).await?;
        tx.commit().await?;
        self.entry_view(user, row).await
    }

    /// Ends `running` at `at` (a second after its start at the earliest: another instance's
    /// clock may be a little behind the one that started it).
    async fn finish(
        &self,
        tx: &mut platform::db::Tx,
        user: &AuthUser,
        running: TimeEntryRow,
        at: Ts,
        now: Ts,
    ) -> Result<TimeEntryRow> {
        let ended_at = at.max(running.started_at.plus(chrono::Duration::seconds(1)));
        let fields = EntryFields {
            project_id: running.project_id,
            task_id: running.task_id,
            client_id: running.client_id,
            description: running.description,
            started_at: running.started_at,
            ended_at: Some(ended_at),
            billable: running.billable,
            hourly_rate_minor: running.hourly_rate_minor,
            currency: running.currency,
        };
        Ok(store::update(tx, running.id, user.user_id, &fields, now).await?)
    }

    /// The caller's timer.
    pub async fn timer(&self, user: &AuthUser) -> Result<TimerState> {
        let entry = match store::running(&self.platform.db, user.user_id).await? {
            Some(row) => Some(self.entry_view(user, row).await?),
            None => None,
        };
        Ok(TimerState { running: entry.is_some(), entry })
    }

    /// Records time worked. 409 `time_overlap` when it shares time with another entry
    /// (the running timer lasts until it is stopped).
    pub async fn create_entry(&self, user: &AuthUser, input: &EntryInput) -> Result<TimeEntry> {
        let mut missing = Vec::new();
        if input.started_at.is_none() {
            missing.push(FieldError::new("started_at", "is required"));
        }
        if input.ended_at.is_none() {
            missing.push(FieldError::new("ended_at", "is required (start a timer for time still running)"));
        }
        let (Some(start), Some(end)) = (input.started_at, input.ended_at) else {
            return Err(FreelanceError::Invalid(missing));
        };
        let fields = self.fields(user, input, (start, Some(end))).await?;
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        if let Some(other) = store::overlapping(&mut tx, user.user_id, start, Some(end), None).await? {
            return Err(FreelanceError::TimeOverlap(other));
        }
        let row = store::insert(&mut tx, Uuid::now_v7(), user.user_id, &fields, now).await?;
        tx.commit().await?;
        self.entry_view(user, row).await
    }

    /// One of the caller's entries.
    pub async fn entry(&self, user: &AuthUser, id: Uuid) -> Result<TimeEntry> {
        let row = store::get(&self.platform.db, id, user.user_id).await?;
        self.entry_view(user, row).await
    }

    /// Changes an entry that is not invoiced (409 `entry_invoiced`), checking the result whole
    /// as a new entry would be.
    pub async fn update_entry(&self, user: &AuthUser, id: Uuid, patch: EntryPatch) -> Result<TimeEntry> {
        let current = store::get(&self.platform.db, id, user.user_id).await?;
        if current.invoiced_at.is_some() {
            return Err(FreelanceError::EntryInvoiced);
        }
        let own_rate = current.hourly_rate_minor.zip(current.currency.as_deref()).and_then(|(minor, code)| {
            money::currency(code).ok().map(|(code, e)| (money::format_amount(minor, e), code.to_string()))
        });
        let input = EntryInput {
            project_id: patch.project_id.unwrap_or(current.project_id),
            task_id: match (patch.task_id, patch.project_id) {
                (Some(task), _) => task,
                // A new project drops a task of the old one.
                (None, Some(project)) if project != current.project_id => None,
                (None, _) => current.task_id,
            },
            client_id: patch.client_id.unwrap_or(current.client_id),
            description: Some(patch.description.unwrap_or(current.description.clone())),
            billable: Some(patch.billable.unwrap_or(current.billable)),
            hourly_rate: patch.hourly_rate.clone().unwrap_or(own_rate.as_ref().map(|r| r.0.clone())),
            currency: match (patch.currency, &patch.hourly_rate) {
                (Some(currency), _) => currency,
                // A new rate without a currency takes the project's or client's, as on creation.
                (None, Some(_)) => None,
                (None, None) => own_rate.map(|r| r.1),
            },
            started_at: Some(patch.started_at.unwrap_or(current.started_at)),
            ended_at: patch.ended_at.or(current.ended_at),
        };
        let start = input.started_at.unwrap_or(current.started_at);
        let mut fields = self.fields(user, &input, (start, input.ended_at)).await?;
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, now).await?;
        // Read again under the lock: it may have been invoiced or stopped meanwhile.
        let locked = store::get_in(&mut tx, id, user.user_id).await?;
        if locked.invoiced_at.is_some() {
            return Err(FreelanceError::EntryInvoiced);
        }
        if locked.ended_at.is_some() && patch.ended_at.is_none() && fields.ended_at != locked.ended_at {
            // Stopped since it was read: keep the stop, and the span must still hold.
            fields.ended_at = locked.ended_at;
            if fields.ended_at.is_some_and(|end| end <= fields.started_at) {
                return Err(FreelanceError::field("started_at", "must be before the time the timer was stopped"));
            }
        }
        if let Some(other) =
            store::overlapping(&mut tx, user.user_id, fields.started_at, fields.ended_at, Some(id)).await?
        {
            return Err(FreelanceError::TimeOverlap(other));
        }
        let row = store::update(&mut tx, id, user.user_id, &fields, now).await?;
        tx.commit().await?;
        self.entry_view(user, row).await
    }

    /// Deletes an entry that is not invoiced (409 `entry_invoiced`).
    pub async fn delete_entry(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        let mut tx = self.platform.db.begin().await?;
        books::lock(&mut tx, user.user_id, Ts::now()).await?;
        let row = store::get_in(&mut tx, id, user.user_id).await?;
        if row.invoiced_at.is_some() {
            return Err(FreelanceError::EntryInvoiced);
        }
        store::delete(&mut tx, id, user.user_id).await?;
        tx.commit().await?;
        Ok(())
    }
}
