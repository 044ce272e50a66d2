//! Freelance's data as stored and as the API shows it, one room per feature.

mod clients;
mod time;

pub use clients::{Client, ClientRow};
pub use time::{
    Amount, DaySummary, ProjectSummary, Rate, RateSource, TimeEntry, TimeEntryRow, TimerState, WeekSummary, amount_for,
};
