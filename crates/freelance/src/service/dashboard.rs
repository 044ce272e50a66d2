//! The freelancer's dashboard: what is owed, what is late, what came in, per currency (amounts
//! in different currencies are never added), and the hours of the week.

use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{CurrencySummary, Dashboard, MonthRevenue};
use crate::store::invoices as store;
use chrono::Datelike;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::money;
use std::collections::BTreeMap;

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
        // currency → (outstanding, overdue, month → received), in 128 bits: no sum overflows.
        let mut sums: BTreeMap<String, (i128, i128, BTreeMap<String, i128>)> = BTreeMap::new();
        for row in store::balances(db, user.user_id).await? {
            let sum = sums.entry(row.currency).or_default();
            sum.0 += i128::from(row.minor);
            if row.overdue {
                sum.1 += i128::from(row.minor);
            }
        }
        for row in store::payments_since(db, user.user_id, first_month).await? {
            let Some(day) = row.day else { continue };
            let month = day.format("%Y-%m").to_string();
            *sums.entry(row.currency).or_default().2.entry(month).or_default() += i128::from(row.minor);
        }
        if let Some(code) = only {
            sums.retain(|c, _| c == code);
            sums.entry(code.to_string()).or_default();
        }
        let current = this_month.format("%Y-%m").to_string();
        let currencies = sums
            .into_iter()
            .map(|(code, (outstanding, overdue, received))| {
                let exponent = money::exponent(&code);
                let show = |minor: i128| money::format_amount(i64::try_from(minor).unwrap_or(i64::MAX), exponent);
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
