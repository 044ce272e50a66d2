//! The freelancer's dashboard: what is owed, what is late, what came in, per currency (amounts
//! in different currencies are never added), and the hours of the week.

use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::store::invoices as store;
use chrono::Datelike;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::money;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// One month's payments received.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::MonthRevenue)]
pub struct MonthRevenue {
    /// `2026-12`.
    pub month: String,
    pub amount: String,
}

/// The figures of one currency.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::CurrencySummary)]
pub struct CurrencySummary {
    pub currency: String,
    /// The balance of every issued, unpaid invoice.
    pub outstanding: String,
    /// The part of it that is overdue.
    pub overdue: String,
    /// Payments received this calendar month (UTC).
    pub paid_this_month: String,
    /// Payments received per month, the last 12 months, oldest first (this month last).
    pub revenue_by_month: Vec<MonthRevenue>,
}

/// The dashboard.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::Dashboard)]
pub struct Dashboard {
    /// One entry per currency with any invoice activity (or only `currency` when asked).
    pub currencies: Vec<CurrencySummary>,
    /// Seconds tracked this ISO week (UTC), running timer included.
    pub seconds_this_week: i64,
    pub hours_this_week: String,
}

impl Freelance {
    /// The caller's dashboard, for every currency or only `currency`.
    pub async fn dashboard(&self, user: &AuthUser, currency: Option<&str>) -> Result<Dashboard> {
        let only = match currency.map(str::trim).filter(|c| !c.is_empty()) {
            Some(code) => Some(money::currency(code).map_err(|m| FreelanceError::field("currency", m))?.0),
            None => None,
        };
        let db = &self.platform.db;
        let today = Ts::now().get().date_naive();
        let this_month = today.with_day(1).unwrap_or(today);
        let first_month = this_month.checked_sub_months(chrono::Months::new(11)).unwrap_or(this_month);
        let months: Vec<String> = (0..12)
            .filter_map(|i| first_month.checked_add_months(chrono::Months::new(i)))
            .map(|m| m.format("%Y-%m").to_string())
            .collect();
        // currency → (outstanding, overdue, month → received)
        let mut sums: BTreeMap<String, (i64, i64, BTreeMap<String, i64>)> = BTreeMap::new();
        for row in store::balances(db, user.user_id, false).await? {
            sums.entry(row.currency).or_default().0 += row.minor;
        }
        for row in store::balances(db, user.user_id, true).await? {
            sums.entry(row.currency).or_default().1 += row.minor;
        }
        for row in store::payments_since(db, user.user_id, first_month).await? {
            let month = row.paid_on.format("%Y-%m").to_string();
            *sums.entry(row.currency).or_default().2.entry(month).or_default() += row.minor;
        }
        if let Some(code) = only {
            sums.retain(|c, _| c == code);
            sums.entry(code.to_string()).or_default();
        }
        let current = this_month.format("%Y-%m").to_string();
        let currencies = sums
            .into_iter()
            .map(|(code, (outstanding, overdue, received))| {
                let exponent = money::currency(&code).map_or(2, |(_, e)| e);
                let show = |minor: i64| money::format_amount(minor, exponent);
                CurrencySummary {
                    outstanding: show(outstanding),
                    overdue: show(overdue),
                    paid_this_month: show(received.get(&current).copied().unwrap_or(0)),
                    revenue_by_month: months
                        .iter()
                        .map(|m| MonthRevenue { month: m.clone(), amount: show(received.get(m).copied().unwrap_or(0)) })
                        .collect(),
                    currency: code,
                }
            })
            .collect();
        let week = self.week_summary(user, None, None).await?;
        Ok(Dashboard { currencies, seconds_this_week: week.seconds, hours_this_week: week.hours })
    }
}
