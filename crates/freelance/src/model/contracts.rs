//! Contracts as stored and as the API shows them, and the moves between their statuses.

use chrono::NaiveDate;
use platform::db::Ts;
use platform::money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The kind of agreement a contract starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::ContractTemplate)]
#[serde(rename_all = "snake_case")]
pub enum ContractTemplate {
    Freelance,
    Employment,
    Partnership,
    Service,
    Nda,
}

impl ContractTemplate {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Freelance => "freelance",
            Self::Employment => "employment",
            Self::Partnership => "partnership",
            Self::Service => "service",
            Self::Nda => "nda",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "employment" => Self::Employment,
            "partnership" => Self::Partnership,
            "service" => Self::Service,
            "nda" => Self::Nda,
            _ => Self::Freelance,
        }
    }
}

/// Where a contract is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::ContractStatus)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    Draft,
    Sent,
    Signed,
    Active,
    Completed,
    Terminated,
}

impl ContractStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Sent => "sent",
            Self::Signed => "signed",
            Self::Active => "active",
            Self::Completed => "completed",
            Self::Terminated => "terminated",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "sent" => Self::Sent,
            "signed" => Self::Signed,
            "active" => Self::Active,
            "completed" => Self::Completed,
            "terminated" => Self::Terminated,
            _ => Self::Draft,
        }
    }

    /// The legal moves: forward one step at a time (`draft → sent → signed → active →
    /// completed`), or `terminated` from any step after the draft and before the end (a draft
    /// is deleted instead).
    pub fn can_become(self, next: Self) -> bool {
        use ContractStatus::*;
        matches!(
            (self, next),
            (Draft, Sent)
                | (Sent, Signed)
                | (Signed, Active)
                | (Active, Completed)
                | (Sent | Signed | Active, Terminated)
        )
    }
}

/// A contract as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContractRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub client_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub template: String,
    pub title: String,
    pub body: String,
    pub status: String,
    pub value_minor: Option<i64>,
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub sent_at: Option<Ts>,
    pub signed_at: Option<Ts>,
    pub activated_at: Option<Ts>,
    pub ended_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl ContractRow {
    pub fn status(&self) -> ContractStatus {
        ContractStatus::from_stored(&self.status)
    }
}

/// A contract of the caller's.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::Contract)]
pub struct Contract {
    pub id: Uuid,
    pub client_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub template: ContractTemplate,
    pub title: String,
    /// The text, its placeholders filled when it was written.
    pub body: String,
    pub status: ContractStatus,
    /// Decimal string in `currency`.
    pub value: Option<String>,
    pub currency: Option<String>,
    pub starts_on: Option<NaiveDate>,
    pub ends_on: Option<NaiveDate>,
    pub sent_at: Option<Ts>,
    pub signed_at: Option<Ts>,
    pub activated_at: Option<Ts>,
    /// When it was completed or terminated.
    pub ended_at: Option<Ts>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl From<ContractRow> for Contract {
    fn from(r: ContractRow) -> Self {
        let exponent = r.currency.as_deref().map_or(2, money::exponent);
        Self {
            id: r.id,
            client_id: r.client_id,
            project_id: r.project_id,
            template: ContractTemplate::from_stored(&r.template),
            status: ContractStatus::from_stored(&r.status),
            title: r.title,
            body: r.body,
            value: r.value_minor.map(|m| money::format_amount(m, exponent)),
            currency: r.currency,
            starts_on: r.starts_on,
            ends_on: r.ends_on,
            sent_at: r.sent_at,
            signed_at: r.signed_at,
            activated_at: r.activated_at,
            ended_at: r.ended_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContractStatus::*;

    #[test]
    fn only_legal_moves_are_allowed() {
        let all = [Draft, Sent, Signed, Active, Completed, Terminated];
        let legal = [
            (Draft, Sent),
            (Sent, Signed),
            (Signed, Active),
            (Active, Completed),
            (Sent, Terminated),
            (Signed, Terminated),
            (Active, Terminated),
        ];
        for from in all {
            for to in all {
                assert_eq!(from.can_become(to), legal.contains(&(from, to)), "{from:?} → {to:?}");
            }
        }
    }
}
