//! A user's studio profile: tier, credits and counts.

use platform::db::Ts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A subscription tier (recorded only: there are no payments).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = studio::Tier)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Free,
    Pro,
    Premium,
}

impl Tier {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Pro => "pro",
            Self::Premium => "premium",
        }
    }

    /// From its stored name.
    pub fn parse(s: &str) -> Self {
        match s {
            "pro" => Self::Pro,
            "premium" => Self::Premium,
            _ => Self::Free,
        }
    }
}

/// A profile as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProfileRow {
    pub user_id: Uuid,
    pub tier: String,
    pub credits: i64,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A user's tier, credits and activity.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = studio::StudioProfile)]
pub struct StudioProfile {
    pub user_id: Uuid,
    pub tier: Tier,
    /// Credits free to spend (one per generation).
    pub credits: i64,
    /// Credits held by generations still queued or running.
    pub reserved_credits: i64,
    /// Generations ever ordered.
    pub generations_total: i64,
    /// Generations ordered since the start of this month (UTC).
    pub generations_this_month: i64,
    /// Templates among the user's favourites.
    pub favorites: i64,
    pub updated_at: Ts,
}
