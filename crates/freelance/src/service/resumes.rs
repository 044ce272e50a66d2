//! Resumes: one document of sections per resume, checked whole, shown in one of five templates
//! as an HTML page or a PDF.

use super::checks::{required, text};
use super::pdf::{Block, TextDocument, render_text_blocking};
use super::{Freelance, Result};
use crate::error::FreelanceError;
use crate::model::{Resume, ResumeContent, ResumeTemplate};
use crate::store::resumes as store;
use platform::FieldError;
use platform::auth::AuthUser;
use platform::db::Ts;
use platform::mail::html_escape;
use platform::pagination::Page;
use uuid::Uuid;

/// A resume as given.
#[derive(Debug, Clone)]
pub struct ResumeInput {
    pub title: String,
    pub template: ResumeTemplate,
    pub content: ResumeContent,
}

/// Resume changes: a field left out stays; `content` replaces the whole document.
#[derive(Debug, Clone, Default)]
pub struct ResumePatch {
    pub title: Option<String>,
    pub template: Option<ResumeTemplate>,
    pub content: Option<ResumeContent>,
}

/// `2021` or `2021-03`.
fn period(errors: &mut Vec<FieldError>, name: &str, value: &Option<String>) -> Option<String> {
    // A value `text` refused is reported already.
    let value = text(errors, name, value.as_deref(), 7, false)?;
    let valid = match value.split_once('-') {
        None => value.len() == 4 && value.bytes().all(|b| b.is_ascii_digit()),
        Some((y, m)) => {
            y.len() == 4
                && y.bytes().all(|b| b.is_ascii_digit())
                && matches!(m.parse::<u8>(), Ok(1..=12))
                && m.len() == 2
        }
    };
    if !valid {
        errors.push(FieldError::new(name, "must be a year or a year and month, such as 2021 or 2021-03"));
    }
    Some(value)
}

/// Checks and normalises a resume's content, reporting every wrong field at once.
fn check_content(errors: &mut Vec<FieldError>, c: &ResumeContent) -> ResumeContent {
    let mut out = ResumeContent {
        full_name: required(errors, "content.full_name", &c.full_name, 200),
        headline: text(errors, "content.headline", c.headline.as_deref(), 200, false),
        email: text(errors, "content.email", c.email.as_deref(), 254, false),
        phone: text(errors, "content.phone", c.phone.as_deref(), 40, false),
        location: text(errors, "content.location", c.location.as_deref(), 200, false),
        website: text(errors, "content.website", c.website.as_deref(), 500, false),
        summary: text(errors, "content.summary", c.summary.as_deref(), 3000, true),
        ..ResumeContent::default()
    };
    if let Some(email) = &out.email
        && accounts::EmailAddress::parse(email).is_err()
    {
        errors.push(FieldError::new("content.email", "is not a valid email address"));
    }
    // Only web addresses: the page links to it, and `javascript:` must never be a link.
    if let Some(site) = &out.website
        && !(site.starts_with("https://") || site.starts_with("http://"))
    {
        errors.push(FieldError::new("content.website", "must start with https:// or http://"));
    }
    let limit = |errors: &mut Vec<FieldError>, name: &str, len: usize, max: usize| {
        if len > max {
            errors.push(FieldError::new(name, format!("must have at most {max} entries")));
        }
    };
    limit(errors, "content.experience", c.experience.len(), 50);
    limit(errors, "content.education", c.education.len(), 20);
    limit(errors, "content.skills", c.skills.len(), 100);
    limit(errors, "content.languages", c.languages.len(), 20);
    for (i, e) in c.experience.iter().take(50).enumerate() {
        let p = |f: &str| format!("content.experience[{i}].{f}");
        out.experience.push(crate::model::Experience {
            title: required(errors, &p("title"), &e.title, 200),
            organization: text(errors, &p("organization"), e.organization.as_deref(), 200, false),
            location: text(errors, &p("location"), e.location.as_deref(), 200, false),
            start: period(errors, &p("start"), &e.start),
            end: period(errors, &p("end"), &e.end),
            description: text(errors, &p("description"), e.description.as_deref(), 2000, true),
        });
    }
    for (i, e) in c.education.iter().take(20).enumerate() {
        let p = |f: &str| format!("content.education[{i}].{f}");
        out.education.push(crate::model::Education {
            degree: required(errors, &p("degree"), &e.degree, 200),
            school: text(errors, &p("school"), e.school.as_deref(), 200, false),
            start: period(errors, &p("start"), &e.start),
            end: period(errors, &p("end"), &e.end),
            description: text(errors, &p("description"), e.description.as_deref(), 2000, true),
        });
    }
    for (i, s) in c.skills.iter().take(100).enumerate() {
        out.skills.push(required(errors, &format!("content.skills[{i}]"), s, 60));
    }
    for (i, l) in c.languages.iter().take(20).enumerate() {
        out.languages.push(crate::model::Language {
            name: required(errors, &format!("content.languages[{i}].name"), &l.name, 60),
            level: text(errors, &format!("content.languages[{i}].level"), l.level.as_deref(), 60, false),
        });
    }
    out
}

/// `start – end` of an entry (`present` without an end).
fn dates(start: &Option<String>, end: &Option<String>) -> String {
    match (start, end) {
        (None, None) => String::new(),
        (Some(s), None) => format!("{s} – present"),
        (None, Some(e)) => e.clone(),
        (Some(s), Some(e)) => format!("{s} – {e}"),
    }
}

/// The contact line under the name.
fn contacts(c: &ResumeContent) -> Vec<String> {
    [&c.email, &c.phone, &c.location, &c.website].into_iter().flatten().cloned().collect()
}

/// A resume as an HTML page in its template, every value escaped.
fn page(resume: &Resume) -> String {
    let c = &resume.content;
    let t = resume.template;
    let e = |s: &str| html_escape(s);
    let (r, g, b) = t.accent();
    let heading = |s: &str| {
        let s = if t.upper_headings() { s.to_uppercase() } else { s.to_string() };
        format!("<h2>{}</h2>", e(&s))
    };
    let mut body = String::new();
    if let Some(summary) = &c.summary {
        body.push_str(&heading("Summary"));
        body.push_str(&format!("<p>{}</p>", e(summary).replace('\n', "<br>")));
    }
    if !c.experience.is_empty() {
        body.push_str(&heading("Experience"));
        for x in &c.experience {
            let at = [&x.organization, &x.location].into_iter().flatten().cloned().collect::<Vec<_>>().join(", ");
            body.push_str(&format!(
                "<div class=entry><div class=row><strong>{}</strong><span class=when>{}</span></div>{}{}</div>",
                e(&x.title),
                e(&dates(&x.start, &x.end)),
                if at.is_empty() { String::new() } else { format!("<div class=at>{}</div>", e(&at)) },
                x.description.as_deref().map(|d| format!("<p>{}</p>", e(d).replace('\n', "<br>"))).unwrap_or_default()
            ));
        }
    }
    if !c.education.is_empty() {
        body.push_str(&heading("Education"));
        for x in &c.education {
            body.push_str(&format!(
                "<div class=entry><div class=row><strong>{}</strong><span class=when>{}</span></div>{}{}</div>",
                e(&x.degree),
                e(&dates(&x.start, &x.end)),
                x.school.as_deref().map(|s| format!("<div class=at>{}</div>", e(s))).unwrap_or_default(),
                x.description.as_deref().map(|d| format!("<p>{}</p>", e(d).replace('\n', "<br>"))).unwrap_or_default()
            ));
        }
    }
    if !c.skills.is_empty() {
        body.push_str(&heading("Skills"));
        let items: String = c.skills.iter().map(|s| format!("<li>{}</li>", e(s))).collect();
        body.push_str(&format!("<ul class=tags>{items}</ul>"));
    }
    if !c.languages.is_empty() {
        body.push_str(&heading("Languages"));
        let items: String = c
            .languages
            .iter()
            .map(|l| {
                format!(
                    "<li>{}{}</li>",
                    e(&l.name),
                    l.level.as_deref().map(|v| format!(" ({})", e(v))).unwrap_or_default()
                )
            })
            .collect();
        body.push_str(&format!("<ul>{items}</ul>"));
    }
    let contact: Vec<String> = contacts(c)
        .iter()
        .map(|v| match &c.website {
            Some(site) if site == v => format!("<a href=\"{}\" rel=\"noopener nofollow\">{}</a>", e(v), e(v)),
            _ => e(v),
        })
        .collect();
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport \
         content=\"width=device-width, initial-scale=1\"><title>{name}</title><style>\
         body{{font:15px/1.5 {font};max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         h1{{color:rgb({r},{g},{b});margin-bottom:.2rem}}h2{{color:rgb({r},{g},{b});border-bottom:1px solid \
         rgba({r},{g},{b},.3);padding-bottom:.2rem;margin-top:1.6rem}}.row{{display:flex;justify-content:space-between;gap:1rem}}\
         .when,.at,.contact{{color:#666}}.entry{{margin:.6rem 0}}.tags{{display:flex;flex-wrap:wrap;gap:.4rem;\
         list-style:none;padding:0}}.tags li{{border:1px solid rgba({r},{g},{b},.4);border-radius:1rem;padding:0 .6rem}}\
         </style></head><body class=\"template-{template}\"><h1>{name}</h1>{headline}<p class=contact>{contact}</p>\
         {body}</body></html>",
        name = e(&c.full_name),
        font = t.font(),
        template = t.as_str(),
        headline = c.headline.as_deref().map(|h| format!("<p><strong>{}</strong></p>", e(h))).unwrap_or_default(),
        contact = contact.join(" · "),
    )
}

/// A resume as a PDF text document in its template's colours.
fn document(resume: &Resume) -> TextDocument {
    let c = &resume.content;
    let mut blocks = Vec::new();
    if let Some(summary) = &c.summary {
        blocks.push(Block::Heading("Summary".into()));
        blocks.push(Block::Paragraph(summary.clone()));
    }
    if !c.experience.is_empty() {
        blocks.push(Block::Heading("Experience".into()));
        for x in &c.experience {
            let at = [&x.organization, &x.location].into_iter().flatten().cloned().collect::<Vec<_>>().join(", ");
            let title = if at.is_empty() { x.title.clone() } else { format!("{} — {at}", x.title) };
            blocks.push(Block::Entry {
                title,
                aside: dates(&x.start, &x.end),
                text: x.description.clone().unwrap_or_default(),
            });
        }
    }
    if !c.education.is_empty() {
        blocks.push(Block::Heading("Education".into()));
        for x in &c.education {
            let title = match &x.school {
                Some(s) => format!("{} — {s}", x.degree),
                None => x.degree.clone(),
            };
            blocks.push(Block::Entry {
                title,
                aside: dates(&x.start, &x.end),
                text: x.description.clone().unwrap_or_default(),
            });
        }
    }
    if !c.skills.is_empty() {
        blocks.push(Block::Heading("Skills".into()));
        blocks.push(Block::Paragraph(c.skills.join(" · ")));
    }
    if !c.languages.is_empty() {
        blocks.push(Block::Heading("Languages".into()));
        let langs: Vec<String> = c
            .languages
            .iter()
            .map(|l| match &l.level {
                Some(level) => format!("{} ({level})", l.name),
                None => l.name.clone(),
            })
            .collect();
        blocks.push(Block::Paragraph(langs.join(" · ")));
    }
    let mut subtitle: Vec<String> = c.headline.iter().cloned().collect();
    let contact = contacts(c);
    if !contact.is_empty() {
        subtitle.push(contact.join(" · "));
    }
    TextDocument {
        title: c.full_name.clone(),
        subtitle,
        blocks,
        accent: resume.template.accent(),
        upper_headings: resume.template.upper_headings(),
    }
}

impl Freelance {
    fn resume_fields(&self, input: &ResumeInput) -> Result<(String, String)> {
        let mut errors = Vec::new();
        let title = required(&mut errors, "title", &input.title, 200);
        let content = check_content(&mut errors, &input.content);
        if !errors.is_empty() {
            return Err(FreelanceError::Invalid(errors));
        }
        let json = serde_json::to_string(&content).map_err(platform::error::Internal::new)?;
        Ok((title, json))
    }

    /// Writes a resume.
    pub async fn create_resume(&self, user: &AuthUser, input: &ResumeInput) -> Result<Resume> {
        let (title, content) = self.resume_fields(input)?;
        let row = store::insert(
            &self.platform.db,
            Uuid::now_v7(),
            user.user_id,
            &title,
            input.template.as_str(),
            &content,
            Ts::now(),
        )
        .await?;
        Ok(row.into())
    }

    /// One of the caller's resumes.
    pub async fn resume(&self, user: &AuthUser, id: Uuid) -> Result<Resume> {
        Ok(store::get(&self.platform.db, id, user.user_id).await?.into())
    }

    /// The caller's resumes, newest first.
    pub async fn resumes(&self, user: &AuthUser, cursor: Option<Uuid>, limit: i64) -> Result<Page<Resume>> {
        let rows = store::list(&self.platform.db, user.user_id, cursor, limit).await?;
        Ok(Page::from_rows(rows.into_iter().map(Resume::from).collect(), limit, |r| r.id))
    }

    /// Changes a resume: its title, template or whole content.
    pub async fn update_resume(&self, user: &AuthUser, id: Uuid, patch: ResumePatch) -> Result<Resume> {
        let current: Resume = store::get(&self.platform.db, id, user.user_id).await?.into();
        let input = ResumeInput {
            title: patch.title.unwrap_or(current.title),
            template: patch.template.unwrap_or(current.template),
            content: patch.content.unwrap_or(current.content),
        };
        let (title, content) = self.resume_fields(&input)?;
        let row =
            store::update(&self.platform.db, id, user.user_id, &title, input.template.as_str(), &content, Ts::now())
                .await?;
        Ok(row.into())
    }

    /// Deletes a resume.
    pub async fn delete_resume(&self, user: &AuthUser, id: Uuid) -> Result<()> {
        if store::delete(&self.platform.db, id, user.user_id).await? { Ok(()) } else { Err(FreelanceError::NotFound) }
    }

    /// The resume as an HTML page in its template.
    pub async fn resume_html(&self, user: &AuthUser, id: Uuid) -> Result<String> {
        Ok(page(&self.resume(user, id).await?))
    }

    /// The resume as a PDF in its template, and its file name.
    pub async fn resume_pdf(&self, user: &AuthUser, id: Uuid) -> Result<(Vec<u8>, String)> {
        let resume = self.resume(user, id).await?;
        let pdf =
            render_text_blocking(self.fonts()?, document(&resume)).await.map_err(platform::error::Internal::new)?;
        Ok((pdf, format!("resume-{id}.pdf")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_years_or_months() {
        for ok in ["2021", "2021-03", "1999-12"] {
            let mut errors = Vec::new();
            period(&mut errors, "p", &Some(ok.to_string()));
            assert!(errors.is_empty(), "{ok}");
        }
        for bad in ["21", "2021-13", "2021-3", "March 2021", "2021-00"] {
            let mut errors = Vec::new();
            period(&mut errors, "p", &Some(bad.to_string()));
            assert_eq!(errors.len(), 1, "{bad}");
        }
    }
}
