//! Profiles: a user's tier, credits and counts, and the administrators' changes to them.

use super::{Result, Studio};
use crate::error::StudioError;
use crate::model::{StudioProfile, Tier};
use crate::store;
use platform::auth::AuthUser;
use platform::db::Ts;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// An administrator's change to a user's plan.
#[derive(Debug, Deserialize, ToSchema, garde::Validate)]
#[schema(as = studio::PlanChange)]
#[serde(deny_unknown_fields)]
#[garde(allow_unvalidated)]
pub struct PlanChange {
    /// The new tier; the balance is raised to the tier's allowance if it is below.
    pub tier: Option<Tier>,
    /// Credits to add (1–100 000), after the tier's allowance.
    pub grant_credits: Option<i64>,
}

impl Studio {
    /// The credits a tier comes with.
    fn allowance(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Free => self.settings.free_credits,
            Tier::Pro => self.settings.pro_credits,
            Tier::Premium => self.settings.premium_credits,
        }
    }

    /// The caller's tier, credits and counts (a profile is made on first sight, with the free
    /// tier's credits).
    pub async fn profile(&self, user: Uuid) -> Result<StudioProfile> {
        let row = match store::profiles::find(&self.platform.db, user).await? {
            Some(row) => row,
            None => {
                let mut tx = self.platform.db.begin().await?;
                store::profiles::ensure(&mut tx, user, self.settings.free_credits, Ts::now()).await?;
                let row = store::profiles::find_tx(&mut tx, user).await?;
                tx.commit().await?;
                row
            }
        };
        let now = chrono::Utc::now();
        let month = chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&now), chrono::Datelike::month(&now), 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or_else(Ts::now, |d| Ts::from(d.and_utc()));
        let (total, this_month, reserved) = store::generations::counts(&self.platform.db, user, month).await?;
        let favorites = store::favorites::count(&self.platform.db, user).await?;
        Ok(StudioProfile {
            user_id: user,
            tier: Tier::parse(&row.tier),
            credits: row.credits,
            reserved_credits: reserved,
            generations_total: total,
            generations_this_month: this_month,
            favorites,
            updated_at: row.updated_at,
        })
    }

    /// Changes a user's tier or grants credits (administrators only).
    pub async fn change_plan(&self, admin: &AuthUser, user: Uuid, change: PlanChange) -> Result<StudioProfile> {
        Self::require_admin(admin)?;
        if change.tier.is_none() && change.grant_credits.is_none() {
            return Err(StudioError::field("tier", "give tier, grant_credits or both"));
        }
        if let Some(n) = change.grant_credits
            && !(1..=100_000).contains(&n)
        {
            return Err(StudioError::field("grant_credits", "must be between 1 and 100000"));
        }
        let now = Ts::now();
        let mut tx = self.platform.db.begin().await?;
        // A user that does not exist fails the profile's foreign key: 404.
        store::profiles::ensure(&mut tx, user, self.settings.free_credits, now).await?;
        if let Some(tier) = change.tier {
            store::profiles::set_tier(&mut tx, user, tier.as_str(), self.allowance(tier), now).await?;
        }
        if let Some(amount) = change.grant_credits
            && !store::profiles::grant(&mut tx, user, amount, now).await?
        {
            return Err(StudioError::field(
                "grant_credits",
                format!("a balance holds at most {} credits", store::profiles::MAX_CREDITS),
            ));
        }
        tx.commit().await?;
        self.profile(user).await
    }
}
