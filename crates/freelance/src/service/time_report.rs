//! Reading time back: the filtered list, its CSV export and the weekly summary.

use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{Amount, DaySummary, ProjectSummary, TimeEntry, TimeEntryRow, WeekSummary, amount_for};
use crate::store::time::{self as store, Filter};
use chrono::{Datelike, NaiveDate, TimeZone, Utc, Weekday};
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::money;
use platform::pagination::Page;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The most entries one CSV export holds: a bigger one is narrowed with `from` and `to`.
pub const MAX_CSV_ROWS: usize = 50_000;

/// What a list of entries is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct EntryQuery {
    pub project: Option<Uuid>,
    pub client: Option<Uuid>,
    /// Started at or after.
    pub from: Option<Ts>,
    /// Started before.
    pub to: Option<Ts>,
    pub billable: Option<bool>,
    pub invoiced: Option<bool>,
    pub cursor: Option<Uuid>,
    pub limit: i64,
}

/// Seconds as hours with two decimals (`5400` → `"1.50"`).
fn hours(seconds: i64) -> String {
    let hundredths = money::div_half_even(i128::from(seconds) * 100, 3600);
    money::format_amount(i64::try_from(hundredths).unwrap_or(i64::MAX), 2)
}

/// Per-currency sums in minor units, with each currency's exponent.
#[derive(Default)]
struct Sums(BTreeMap<&'static str, (i64, u32)>);

impl Sums {
    fn add(&mut self, currency: &'static str, exponent: u32, minor: i64) {
        let sum = self.0.entry(currency).or_insert((0, exponent));
        sum.0 = sum.0.saturating_add(minor);
    }

    fn amounts(&self) -> Vec<Amount> {
        self.0
            .iter()
            .map(|(code, (minor, exponent))| Amount {
                currency: code.to_string(),
                amount: money::format_amount(*minor, *exponent),
            })
            .collect()
    }
}

/// Parses `2026-W49` into the week's Monday.
fn parse_week(text: &str) -> Option<NaiveDate> {
    let (year, week) = text.trim().split_once("-W")?;
    let (year, week): (i32, u32) = (year.parse().ok()?, week.parse().ok()?);
    // Far enough from both ends of what a timestamp can hold.
    if !(1971..=9998).contains(&year) {
        return None;
    }
    NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
}

/// The instant a local day starts in `tz` (its first existing minute when midnight is skipped
/// by a clock change).
fn day_start(tz: chrono_tz::Tz, date: NaiveDate) -> Ts {
    let local =
        (0..=3).filter_map(|hour| date.and_hms_opt(hour, 0, 0)).find_map(|t| tz.from_local_datetime(&t).earliest());
    Ts::from(local.map_or_else(|| date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(), |l| l.with_timezone(&Utc)))
}

/// Whole seconds `[start, end)` shares with `[from, to)`.
fn shared(start: Ts, end: Ts, from: Ts, to: Ts) -> i64 {
    let (a, b) = (start.max(from), end.min(to));
    if b > a { (b.get() - a.get()).num_seconds() } else { 0 }
}

impl Freelance {
    /// The caller's entries, latest start first.
    pub async fn entries(&self, user: &AuthUser, query: &EntryQuery) -> Result<Page<TimeEntry>> {
        let rows = self.entry_rows(user, query, query.limit).await?;
        let page = Page::from_rows(rows, query.limit, |r| r.id);
        Ok(Page { items: self.entries_view(user, page.items).await?, next_cursor: page.next_cursor })
    }

    /// One page of rows (`limit + 1` at most) after `query.cursor`.
    async fn entry_rows(&self, user: &AuthUser, query: &EntryQuery, limit: i64) -> Result<Vec<TimeEntryRow>> {
        if let (Some(from), Some(to)) = (query.from, query.to)
            && to <= from
        {
            return Err(FreelanceError::field("to", "must be after from"));
        }
        let after = match query.cursor {
            None => None,
            Some(id) => match store::position(&self.platform.db, user.user_id, id).await? {
                Some(at) => Some((at, id)),
                None => return Err(FreelanceError::field("cursor", "is not a valid cursor")),
            },
        };
        let filter = Filter {
            owner: user.user_id,
            project: query.project,
            client: query.client,
            from: query.from,
            to: query.to,
            billable: query.billable,
            invoiced: query.invoiced,
            after,
            limit,
        };
        Ok(store::list(&self.platform.db, &filter).await?)
    }

    /// The caller's entries as CSV, latest first, at most [`MAX_CSV_ROWS`]: one row per entry
    /// with its project, client, hours, rate and amount. Text a spreadsheet would run as a
    /// formula is defused.
    pub async fn entries_csv(&self, user: &AuthUser, query: &EntryQuery) -> Result<Vec<u8>> {
        const PAGE: i64 = 1000;
        let mut rows = Vec::new();
        let mut query = EntryQuery { cursor: None, ..query.clone() };
        loop {
            let mut page = self.entry_rows(user, &query, PAGE).await?;
            let more = page.len() > PAGE as usize;
            page.truncate(PAGE as usize);
            query.cursor = page.last().map(|r| r.id);
            rows.extend(page);
            if rows.len() > MAX_CSV_ROWS {
                return Err(FreelanceError::field(
                    "to",
                    format!("the export holds at most {MAX_CSV_ROWS} entries; narrow it with from and to"),
                ));
            }
            if !more {
                break;
            }
        }
        let lookups = self.lookups(user, &rows).await?;
        let now = Ts::now();
        let failed = |e: csv::Error| FreelanceError::Internal(platform::error::Internal::new(e));
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record([
            "id",
            "started_at",
            "ended_at",
            "duration_seconds",
            "hours",
            "project_id",
            "project",
            "task_id",
            "client_id",
            "client",
            "description",
            "billable",
            "hourly_rate",
            "currency",
            "amount",
            "invoiced",
        ])
        .map_err(failed)?;
        for row in rows {
            let rate = lookups.rate(&row);
            let seconds = row.seconds(now);
            let text = |v: Option<String>| platform::text::csv_cell(&v.unwrap_or_default());
            let record = [
                row.id.to_string(),
                row.started_at.get().to_rfc3339(),
                row.ended_at.map(|t| t.get().to_rfc3339()).unwrap_or_default(),
                seconds.to_string(),
                hours(seconds),
                row.project_id.map(|p| p.to_string()).unwrap_or_default(),
                text(row.project_id.and_then(|p| lookups.project_name(p))),
                row.task_id.map(|t| t.to_string()).unwrap_or_default(),
                row.client_id.map(|c| c.to_string()).unwrap_or_default(),
                text(row.client_id.and_then(|c| lookups.client_name(c))),
                platform::text::csv_cell(&row.description),
                row.billable.to_string(),
                rate.map(|r| money::format_amount(r.minor, r.exponent)).unwrap_or_default(),
                rate.map(|r| r.currency.to_string()).unwrap_or_default(),
                rate.filter(|_| row.billable)
                    .map(|r| money::format_amount(amount_for(seconds, &r), r.exponent))
                    .unwrap_or_default(),
                row.invoiced_at.is_some().to_string(),
            ];
            out.write_record(&record).map_err(failed)?;
        }
        out.into_inner().map_err(|e| FreelanceError::Internal(platform::error::Internal::new(e.into_error())))
    }

    /// The caller's time in one ISO week (`2026-W49`; default the current one), cut into days
    /// in `time_zone` (IANA; default UTC): seconds per day and per project, and the billable
    /// amount per currency. The running timer counts until now; an entry across midnight or
    /// across the week's ends counts in each part.
    pub async fn week_summary(
        &self,
        user: &AuthUser,
        week: Option<&str>,
        time_zone: Option<&str>,
    ) -> Result<WeekSummary> {
        let tz: chrono_tz::Tz = match time_zone.map(str::trim).filter(|t| !t.is_empty()) {
            None => chrono_tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| FreelanceError::field("time_zone", "must be an IANA time zone such as Europe/Paris"))?,
        };
        let now = Ts::now();
        let monday = match week.map(str::trim).filter(|w| !w.is_empty()) {
            Some(text) => {
                parse_week(text).ok_or_else(|| FreelanceError::field("week", "must be an ISO week such as 2026-W49"))?
            }
            None => {
                let today = now.get().with_timezone(&tz).date_naive();
                today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()))
            }
        };
        let bounds: Vec<Ts> = (0..=7).map(|d| day_start(tz, monday + chrono::Duration::days(d))).collect();
        let (from, to) = (bounds[0], bounds[7]);
        let rows = store::within(&self.platform.db, user.user_id, from, to).await?;
        let lookups = self.lookups(user, &rows).await?;

        let mut days = [(0i64, 0i64); 7];
        let mut projects: BTreeMap<Option<Uuid>, (i64, i64, Sums)> = BTreeMap::new();
        let mut total = Sums::default();
        for row in &rows {
            let end = row.ended_at.unwrap_or(now).max(row.started_at);
            let mut seconds = 0;
            for (day, slot) in days.iter_mut().enumerate() {
                let part = shared(row.started_at, end, bounds[day], bounds[day + 1]);
                slot.0 += part;
                if row.billable {
                    slot.1 += part;
                }
                seconds += part;
            }
            let project = projects.entry(row.project_id).or_insert_with(|| (0, 0, Sums::default()));
            project.0 += seconds;
            if row.billable {
                project.1 += seconds;
                if let Some(rate) = lookups.rate(row) {
                    let minor = amount_for(seconds, &rate);
                    project.2.add(rate.currency, rate.exponent, minor);
                    total.add(rate.currency, rate.exponent, minor);
                }
            }
        }
        let mut projects: Vec<ProjectSummary> = projects
            .into_iter()
            .map(|(id, (seconds, billable_seconds, sums))| ProjectSummary {
                project_id: id,
                project_name: id.and_then(|p| lookups.project_name(p)),
                seconds,
                billable_seconds,
                hours: hours(seconds),
                amounts: sums.amounts(),
            })
            .collect();
        projects.sort_by(|a, b| b.seconds.cmp(&a.seconds).then(a.project_id.cmp(&b.project_id)));
        let seconds = days.iter().map(|d| d.0).sum();
        let iso = monday.iso_week();
        Ok(WeekSummary {
            week: format!("{}-W{:02}", iso.year(), iso.week()),
            time_zone: tz.name().to_string(),
            from,
            to,
            seconds,
            billable_seconds: days.iter().map(|d| d.1).sum(),
            hours: hours(seconds),
            days: days
                .iter()
                .enumerate()
                .map(|(i, (seconds, billable))| DaySummary {
                    date: monday + chrono::Duration::days(i as i64),
                    seconds: *seconds,
                    billable_seconds: *billable,
                    hours: hours(*seconds),
                })
                .collect(),
            projects,
            amounts: total.amounts(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_parse_and_far_out_years_are_refused() {
        assert_eq!(parse_week("2026-W49"), NaiveDate::from_ymd_opt(2026, 11, 30));
        assert_eq!(parse_week("2026-W01"), NaiveDate::from_ymd_opt(2025, 12, 29));
        assert_eq!(parse_week("2025-W53"), None, "2025 has 52 ISO weeks");
        assert_eq!(parse_week("2026-W53"), NaiveDate::from_ymd_opt(2026, 12, 28), "2026 starts on a Thursday: 53");
        for bad in ["2026-49", "W49", "99999-W01", "0001-W01", "2026-W0", "2026-Wx"] {
            assert_eq!(parse_week(bad), None, "{bad}");
        }
    }

    #[test]
    fn days_start_at_local_midnight_across_a_clock_change() {
        let paris: chrono_tz::Tz = "Europe/Paris".parse().unwrap_or(chrono_tz::UTC);
        // 2026-03-29: clocks go forward at 02:00; midnight exists and is UTC+1.
        let start = day_start(paris, NaiveDate::from_ymd_opt(2026, 3, 29).unwrap_or_default());
        assert_eq!(start.get().to_rfc3339(), "2026-03-28T23:00:00+00:00");
        // The next day starts at UTC+2: that Sunday lasted 23 hours.
        let next = day_start(paris, NaiveDate::from_ymd_opt(2026, 3, 30).unwrap_or_default());
        assert_eq!((next.get() - start.get()).num_hours(), 23);
    }

    #[test]
    fn hours_round_half_even_to_hundredths() {
        assert_eq!(hours(5400), "1.50");
        assert_eq!(hours(18), "0.00", "0.005 h rounds to the even 0.00");
        assert_eq!(hours(54), "0.02", "0.015 h rounds to the even 0.02");
        assert_eq!(hours(0), "0.00");
    }
}
