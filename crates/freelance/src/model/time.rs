//! Time entries as stored and as the API shows them, with the rate that applies to each and the
//! weekly summary.

use platform::db::Ts;
use platform::money;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A time entry as stored. `ended_at` is absent while it is the running timer.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TimeEntryRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub project_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub client_id: Option<Uuid>,
    pub description: String,
    pub started_at: Ts,
    pub ended_at: Option<Ts>,
    pub billable: bool,
    pub hourly_rate_minor: Option<i64>,
    pub currency: Option<String>,
    pub invoice_id: Option<Uuid>,
    pub invoiced_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TimeEntryRow {
    /// Whole seconds worked: until `now` while the timer runs.
    pub fn seconds(&self, now: Ts) -> i64 {
        let end = self.ended_at.unwrap_or(now).max(self.started_at);
        (end.get() - self.started_at.get()).num_seconds()
    }
}

/// Where an entry's hourly rate comes from: its own, else its project's, else its client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = freelance::RateSource)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    Entry,
    Project,
    Client,
}

/// An hourly rate in minor units of its currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub minor: i64,
    pub currency: &'static str,
    pub exponent: u32,
    pub source: RateSource,
}

/// `seconds` at `rate` in minor units, rounded half to even (the banker's rounding, so that the
/// roundings of many entries do not drift one way).
pub fn amount_for(seconds: i64, rate: &Rate) -> i64 {
    let exact = i128::from(seconds) * i128::from(rate.minor);
    i64::try_from(money::div_half_even(exact, 3600)).unwrap_or(i64::MAX)
}

/// A time entry of the caller's.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::TimeEntry)]
pub struct TimeEntry {
    pub id: Uuid,
    /// A project of the work module the caller is a member of.
    pub project_id: Option<Uuid>,
    /// A task of that project.
    pub task_id: Option<Uuid>,
    /// The client: given, or the project's when the entry was made.
    pub client_id: Option<Uuid>,
    pub description: String,
    pub started_at: Ts,
    /// Null while the timer runs.
    pub ended_at: Option<Ts>,
    /// True for the running timer.
    pub running: bool,
    /// Whole seconds, computed by the server (until now for the running timer).
    pub duration_seconds: i64,
    pub billable: bool,
    /// The hourly rate that applies (decimal string in `currency`); null when neither the
    /// entry, its project nor its client has one.
    pub hourly_rate: Option<String>,
    /// ISO 4217 code of `hourly_rate` and `amount`.
    pub currency: Option<String>,
    pub rate_source: Option<RateSource>,
    /// Duration × rate, rounded half to even to the currency's minor unit; null when the entry
    /// is not billable or has no rate.
    pub amount: Option<String>,
    /// True once the entry is on an invoice: it can no longer change.
    pub invoiced: bool,
    pub invoice_id: Option<Uuid>,
    pub invoiced_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl TimeEntry {
    /// The API's view of `row` with the rate that applies to it, at `now`.
    pub fn new(row: TimeEntryRow, rate: Option<Rate>, now: Ts) -> Self {
        let seconds = row.seconds(now);
        let amount = rate.filter(|_| row.billable).map(|r| money::format_amount(amount_for(seconds, &r), r.exponent));
        Self {
            id: row.id,
            project_id: row.project_id,
            task_id: row.task_id,
            client_id: row.client_id,
            description: row.description,
            started_at: row.started_at,
            ended_at: row.ended_at,
            running: row.ended_at.is_none(),
            duration_seconds: seconds,
            billable: row.billable,
            hourly_rate: rate.map(|r| money::format_amount(r.minor, r.exponent)),
            currency: rate.map(|r| r.currency.to_string()),
            rate_source: rate.map(|r| r.source),
            amount,
            invoiced: row.invoiced_at.is_some(),
            invoice_id: row.invoice_id,
            invoiced_at: row.invoiced_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The caller's timer.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::TimerState)]
pub struct TimerState {
    pub running: bool,
    /// The running entry; null when no timer runs.
    pub entry: Option<TimeEntry>,
}

/// A sum of money in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = freelance::Amount)]
pub struct Amount {
    /// ISO 4217 code.
    pub currency: String,
    /// Decimal string.
    pub amount: String,
}

/// One day of a week.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::DaySummary)]
pub struct DaySummary {
    /// The day in the summary's time zone.
    pub date: chrono::NaiveDate,
    pub seconds: i64,
    pub billable_seconds: i64,
    /// `seconds` in hours, two decimals.
    pub hours: String,
}

/// One project's time in a week (`project_id` null: time without a project).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::ProjectSummary)]
pub struct ProjectSummary {
    pub project_id: Option<Uuid>,
    /// Null without a project, or when the caller no longer sees it.
    pub project_name: Option<String>,
    pub seconds: i64,
    pub billable_seconds: i64,
    pub hours: String,
    /// The billable amount, one entry per currency (amounts in different currencies are never
    /// added together).
    pub amounts: Vec<Amount>,
}

/// The caller's time in one ISO week.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::WeekSummary)]
pub struct WeekSummary {
    /// ISO week, `2026-W49`.
    pub week: String,
    /// IANA time zone the days are cut in.
    pub time_zone: String,
    /// Monday 00:00 in that zone.
    pub from: Ts,
    /// The next Monday 00:00.
    pub to: Ts,
    pub seconds: i64,
    pub billable_seconds: i64,
    pub hours: String,
    /// Monday to Sunday.
    pub days: Vec<DaySummary>,
    /// Most time first.
    pub projects: Vec<ProjectSummary>,
    /// The week's billable amount per currency.
    pub amounts: Vec<Amount>,
}
