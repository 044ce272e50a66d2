//! Resumes: their content as one document of sections, and the templates that show it.

use platform::db::Ts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// How a resume looks (HTML and PDF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::ResumeTemplate)]
#[serde(rename_all = "snake_case")]
pub enum ResumeTemplate {
    Modern,
    Classic,
    Creative,
    Minimal,
    Executive,
}

impl ResumeTemplate {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Modern => "modern",
            Self::Classic => "classic",
            Self::Creative => "creative",
            Self::Minimal => "minimal",
            Self::Executive => "executive",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        match s {
            "classic" => Self::Classic,
            "creative" => Self::Creative,
            "minimal" => Self::Minimal,
            "executive" => Self::Executive,
            _ => Self::Modern,
        }
    }

    /// The accent colour of headings.
    pub fn accent(self) -> (u8, u8, u8) {
        match self {
            Self::Modern => (31, 95, 191),
            Self::Classic => (20, 20, 20),
            Self::Creative => (142, 36, 170),
            Self::Minimal => (110, 110, 110),
            Self::Executive => (18, 38, 74),
        }
    }

    /// Headings in capitals.
    pub fn upper_headings(self) -> bool {
        matches!(self, Self::Classic | Self::Executive)
    }

    /// The page's font stack.
    pub fn font(self) -> &'static str {
        match self {
            Self::Classic | Self::Executive => "Georgia, 'Times New Roman', serif",
            Self::Creative => "'Trebuchet MS', 'Segoe UI', sans-serif",
            Self::Modern | Self::Minimal => "system-ui, 'Segoe UI', Roboto, sans-serif",
        }
    }
}

/// A job or engagement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::ResumeExperience)]
#[serde(deny_unknown_fields)]
pub struct Experience {
    /// 1–200 characters.
    pub title: String,
    pub organization: Option<String>,
    pub location: Option<String>,
    /// `2021` or `2021-03`.
    pub start: Option<String>,
    /// `2023` or `2023-06`; null: to the present.
    pub end: Option<String>,
    /// Up to 2 000 characters, several lines.
    pub description: Option<String>,
}

/// A degree or course.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::ResumeEducation)]
#[serde(deny_unknown_fields)]
pub struct Education {
    /// 1–200 characters.
    pub degree: String,
    pub school: Option<String>,
    pub start: Option<String>,
    pub end: Option<String>,
    pub description: Option<String>,
}

/// A language and how well.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::ResumeLanguage)]
#[serde(deny_unknown_fields)]
pub struct Language {
    pub name: String,
    /// Free text (`native`, `C1`, `fluent`).
    pub level: Option<String>,
}

/// A resume's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = freelance::ResumeContent)]
#[serde(deny_unknown_fields)]
pub struct ResumeContent {
    /// 1–200 characters.
    pub full_name: String,
    /// One line under the name (`Backend engineer, Rust and PostgreSQL`).
    pub headline: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub location: Option<String>,
    /// An `https://` or `http://` address.
    pub website: Option<String>,
    /// Up to 3 000 characters.
    pub summary: Option<String>,
    /// Up to 50, newest first as given.
    #[serde(default)]
    pub experience: Vec<Experience>,
    /// Up to 20.
    #[serde(default)]
    pub education: Vec<Education>,
    /// Up to 100, each up to 60 characters.
    #[serde(default)]
    pub skills: Vec<String>,
    /// Up to 20.
    #[serde(default)]
    pub languages: Vec<Language>,
}

/// A resume as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResumeRow {
    pub id: Uuid,
    pub owner_id: Uuid,
    pub title: String,
    pub template: String,
    pub content: String,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// A resume of the caller's.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = freelance::Resume)]
pub struct Resume {
    pub id: Uuid,
    /// The caller's name for it (`Backend roles`).
    pub title: String,
    pub template: ResumeTemplate,
    pub content: ResumeContent,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl From<ResumeRow> for Resume {
    fn from(r: ResumeRow) -> Self {
        Self {
            id: r.id,
            title: r.title,
            template: ResumeTemplate::from_stored(&r.template),
            // Written by this module from a checked `ResumeContent`; read back the same way.
            content: serde_json::from_str(&r.content).unwrap_or_default(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}
