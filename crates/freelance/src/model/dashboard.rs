//! The dashboard as the API shows it: sums per currency, never across currencies.

use serde::Serialize;
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
